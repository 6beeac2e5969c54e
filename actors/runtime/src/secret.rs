//! What att shows of a secret: the values of environment variables and headers a caller
//! gave (tokens, passwords) are kept as given where they are used and stored, and replaced
//! by [`REDACTED`] in every API answer, event and log line; their names stay visible.
//!
//! In att's configuration file a value may also be `{ from_env = "GITHUB_TOKEN" }`: read
//! from att's environment when the file is loaded, so the file holds no secret
//! ([`values`], used as `deserialize_with` by the specs). An API registration may not say
//! it ([`names_from_env`]): a caller must not read att's environment into a header it sends
//! somewhere.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// Seals secrets in files att writes itself (a service's state file), and opens them: att's
/// store key (`att::store::seal::Seal`), behind a port so that the actors need no crypto.
pub trait Sealer: Send + Sync + std::fmt::Debug {
    /// `plain`, sealed for the field `aad` names.
    fn seal(&self, aad: &str, plain: &str) -> Result<String, String>;
    /// The plain text of `text` sealed for `aad` (a value never sealed comes back as it is).
    fn open(&self, aad: &str, text: &str) -> Result<String, String>;
}

/// A value as given: the text, or the environment variable that holds it.
#[derive(Deserialize)]
#[serde(untagged)]
enum Given {
    Text(String),
    FromEnv { from_env: String },
}

/// Reads a map whose values are text or `{ from_env = "NAME" }` (resolved now; an unset
/// variable is an error naming it).
pub fn values<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let given = BTreeMap::<String, Given>::deserialize(d)?;
    given
        .into_iter()
        .map(|(k, v)| match v {
            Given::Text(t) => Ok((k, t)),
            Given::FromEnv { from_env } => match std::env::var(&from_env) {
                Ok(t) => Ok((k, t)),
                Err(_) => Err(serde::de::Error::custom(format!(
                    "`{k}`: the environment variable `{from_env}` (from_env) is not set"
                ))),
            },
        })
        .collect()
}

/// Reads one value given as text or `{ from_env = "NAME" }` (resolved now).
pub fn value<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Given::deserialize(d)? {
        Given::Text(t) => Ok(t),
        Given::FromEnv { from_env } => std::env::var(&from_env).map_err(|_| {
            serde::de::Error::custom(format!(
                "the environment variable `{from_env}` (from_env) is not set"
            ))
        }),
    }
}

/// [`values`] for an optional map.
pub fn opt_values<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    values(d).map(Some)
}

/// Where in a JSON document a `headers` or `env` value, or a `client_secret`, says
/// `from_env` (its path), if anywhere.
pub fn names_from_env(doc: &serde_json::Value) -> Option<String> {
    fn walk(v: &serde_json::Value, path: &str) -> Option<String> {
        let serde_json::Value::Object(map) = v else {
            return None;
        };
        for (k, child) in map {
            let here = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if let serde_json::Value::Object(values) = child
                && matches!(k.as_str(), "headers" | "env")
                && let Some((name, _)) = values.iter().find(|(_, v)| v.get("from_env").is_some())
            {
                return Some(format!("{here}.{name}"));
            }
            if k == "client_secret" && child.get("from_env").is_some() {
                return Some(here);
            }
            if let Some(found) = walk(child, &here) {
                return Some(found);
            }
        }
        None
    }
    walk(doc, "")
}

/// What att shows in place of a secret value.
pub const REDACTED: &str = "•••";

/// `values` with every value replaced by [`REDACTED`] (the names stay).
pub fn hide_values(values: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    values
        .keys()
        .map(|k| (k.clone(), REDACTED.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_and_values_go() {
        let given = BTreeMap::from([
            ("TOKEN".to_owned(), "ghp_secret".to_owned()),
            ("EMPTY".to_owned(), String::new()),
        ]);
        let shown = hide_values(&given);
        assert_eq!(shown.keys().collect::<Vec<_>>(), ["EMPTY", "TOKEN"]);
        assert!(shown.values().all(|v| v == REDACTED));
        assert!(hide_values(&BTreeMap::new()).is_empty());
    }

    #[derive(Debug, serde::Deserialize)]
    struct Spec {
        #[serde(default, deserialize_with = "values")]
        env: BTreeMap<String, String>,
    }

    #[test]
    fn values_come_as_text_or_from_atts_environment() {
        // PATH is set wherever tests run; the other never is.
        let path = std::env::var("PATH").expect("PATH");
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "env": {"PLAIN": "x", "FROM": {"from_env": "PATH"}}
        }))
        .expect("spec");
        assert_eq!(spec.env["PLAIN"], "x");
        assert_eq!(spec.env["FROM"], path);
        let e = serde_json::from_value::<Spec>(serde_json::json!({
            "env": {"T": {"from_env": "ATT_TEST_NEVER_SET_7f3a"}}
        }))
        .expect_err("unset");
        assert!(e.to_string().contains("ATT_TEST_NEVER_SET_7f3a"), "{e}");
        assert!(serde_json::from_value::<Spec>(serde_json::json!({"env": {"T": 1}})).is_err());
    }

    #[test]
    fn from_env_is_found_in_any_headers_or_env_map() {
        use serde_json::json;
        let cases = [
            (json!({"headers": {"A": "x"}}), None),
            (
                json!({"headers": {"A": {"from_env": "X"}}}),
                Some("headers.A"),
            ),
            (
                json!({"build": {"env": {"K": {"from_env": "X"}}}}),
                Some("build.env.K"),
            ),
            (json!({"args": [{"from_env": "X"}]}), None),
            (json!({"from_env": "X"}), None),
            (
                json!({"oauth": {"client_secret": {"from_env": "X"}}}),
                Some("oauth.client_secret"),
            ),
        ];
        for (doc, expected) in cases {
            assert_eq!(names_from_env(&doc).as_deref(), expected, "{doc}");
        }
    }
}
