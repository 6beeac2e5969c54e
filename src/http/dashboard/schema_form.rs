//! A form from a tool's JSON Schema (`inputSchema`), and the tool's arguments from that
//! form's fields: the "try it" of the gateway page.
//!
//! Each top-level property is one field, named `arg.<property>`: a `string` is a text box
//! (a `select` when it has an `enum`), a `number`/`integer` a number box, a `boolean` a
//! checkbox, anything else (objects, arrays, unions) a text area holding JSON. Back from the
//! form, an empty optional field is left out, an empty required one is an error naming it,
//! and each value is converted by its property's type. Pure functions, table-tested.

use maud::{Markup, html};
use serde_json::{Map, Value};

/// How one property is entered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Text,
    Choice(Vec<String>),
    Integer,
    Number,
    Boolean,
    Json,
}

/// One field of the form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub input: Input,
    pub required: bool,
    pub description: Option<String>,
}

/// A field that could not be turned into an argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `arguments.<property>`.
    pub field: String,
    pub message: String,
}

/// Properties shown at most (a schema with more is shown in part).
const MAX_FIELDS: usize = 64;

/// The fields of `schema`, in the schema's order.
pub fn fields(schema: &Value) -> Vec<Field> {
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = schema["properties"].as_object() else {
        return Vec::new();
    };
    props
        .iter()
        .take(MAX_FIELDS)
        .map(|(name, p)| {
            let input = match (p["type"].as_str(), p["enum"].as_array()) {
                (Some("string"), Some(choices)) => Input::Choice(
                    choices
                        .iter()
                        .filter_map(|c| c.as_str().map(str::to_owned))
                        .collect(),
                ),
                (Some("string"), None) => Input::Text,
                (Some("integer"), _) => Input::Integer,
                (Some("number"), _) => Input::Number,
                (Some("boolean"), _) => Input::Boolean,
                _ => Input::Json,
            };
            Field {
                name: name.clone(),
                input,
                required: required.contains(&name.as_str()),
                description: p["description"].as_str().map(str::to_owned),
            }
        })
        .collect()
}

/// The form's inputs for `fields`.
pub fn render(fields: &[Field]) -> Markup {
    html! {
        @for f in fields {
            @let id = format!("arg-{}", f.name);
            @let name = format!("arg.{}", f.name);
            label for=(id) {
                code { (f.name) } @if f.required { " (required)" }
                @if let Some(d) = &f.description { span.muted { " — " (d) } }
            }
            @match &f.input {
                Input::Text => { input #(id) name=(name) required[f.required] maxlength="65536"; }
                Input::Choice(choices) => {
                    select #(id) name=(name) required[f.required] {
                        @if !f.required { option value="" { "—" } }
                        @for c in choices { option value=(c) { (c) } }
                    }
                }
                Input::Integer => { input #(id) type="number" step="1" name=(name) required[f.required]; }
                Input::Number => { input #(id) type="number" step="any" name=(name) required[f.required]; }
                Input::Boolean => { input #(id) type="checkbox" name=(name) value="true"; }
                Input::Json => { textarea #(id) name=(name) rows="3" required[f.required] placeholder="JSON" maxlength="65536" {} }
            }
        }
    }
}

/// The tool's arguments from the form's `fields` (`arg.<property>` = text).
pub fn arguments(
    schema: &Value,
    form: &[(String, String)],
) -> Result<Map<String, Value>, FieldError> {
    let mut out = Map::new();
    for f in fields(schema) {
        let key = format!("arg.{}", f.name);
        let text = form
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str());
        let err = |message: String| FieldError {
            field: format!("arguments.{}", f.name),
            message,
        };
        if f.input == Input::Boolean {
            // An unticked checkbox sends nothing: false.
            out.insert(f.name.clone(), Value::Bool(text == Some("true")));
            continue;
        }
        let text = text.unwrap_or_default().trim();
        if text.is_empty() {
            if f.required {
                return Err(err("is required".into()));
            }
            continue;
        }
        let value = match f.input {
            Input::Text | Input::Choice(_) => Value::String(text.to_owned()),
            Input::Integer => text
                .parse::<i64>()
                .map(Value::from)
                .map_err(|_| err(format!("`{text}` is not an integer")))?,
            Input::Number => text
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| err(format!("`{text}` is not a number")))?,
            Input::Json => serde_json::from_str(text).map_err(|e| err(format!("not JSON: {e}")))?,
            Input::Boolean => unreachable!("handled above"),
        };
        out.insert(f.name, value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "what to echo"},
                "mode": {"type": "string", "enum": ["a", "b"]},
                "count": {"type": "integer"},
                "ratio": {"type": "number"},
                "loud": {"type": "boolean"},
                "extra": {"type": "object"}
            },
            "required": ["text"]
        })
    }

    #[test]
    fn each_property_type_gets_its_input() {
        let f = fields(&schema());
        let mut inputs: Vec<(&str, &Input, bool)> = f
            .iter()
            .map(|f| (f.name.as_str(), &f.input, f.required))
            .collect();
        // The schema's order (or the map's sorted one, without `preserve_order`).
        inputs.sort_by_key(|i| i.0);
        let choice = Input::Choice(vec!["a".into(), "b".into()]);
        assert_eq!(
            inputs,
            [
                ("count", &Input::Integer, false),
                ("extra", &Input::Json, false),
                ("loud", &Input::Boolean, false),
                ("mode", &choice, false),
                ("ratio", &Input::Number, false),
                ("text", &Input::Text, true),
            ]
        );
        assert!(fields(&json!({"type": "object"})).is_empty());
    }

    #[test]
    fn form_values_become_typed_arguments_or_name_the_bad_field() {
        let form = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        type Form = Vec<(String, String)>;
        let cases: Vec<(Form, Result<Value, &str>)> = vec![
            (
                form(&[("arg.text", "hi")]),
                Ok(json!({"text": "hi", "loud": false})),
            ),
            (
                form(&[
                    ("arg.text", " hi "),
                    ("arg.count", "3"),
                    ("arg.ratio", "0.5"),
                    ("arg.loud", "true"),
                    ("arg.extra", "{\"k\": [1]}"),
                    ("arg.mode", "b"),
                ]),
                Ok(
                    json!({"text": "hi", "count": 3, "ratio": 0.5, "loud": true, "extra": {"k": [1]}, "mode": "b"}),
                ),
            ),
            (form(&[("arg.count", "3")]), Err("arguments.text")),
            (
                form(&[("arg.text", "x"), ("arg.count", "3.5")]),
                Err("arguments.count"),
            ),
            (
                form(&[("arg.text", "x"), ("arg.ratio", "NaN")]),
                Err("arguments.ratio"),
            ),
            (
                form(&[("arg.text", "x"), ("arg.extra", "{")]),
                Err("arguments.extra"),
            ),
        ];
        for (form, expected) in cases {
            let got = arguments(&schema(), &form);
            match expected {
                Ok(v) => assert_eq!(got.map(Value::Object), Ok(v), "{form:?}"),
                Err(field) => {
                    assert_eq!(got.map_err(|e| e.field), Err(field.to_owned()), "{form:?}")
                }
            }
        }
    }
}
