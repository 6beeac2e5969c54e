//! A tool's one definition ([`ToolSpec`]): its name, what it does, the type of its arguments
//! and its handler. Everything else about a tool is derived from it — its entry in `/mcp`'s
//! tool list (the input schema comes from the argument type), the dispatch by name (JSON
//! parsed into the type, then the handler: [`AnyTool::call`]), and the HTTP routes, which
//! parse their body or query into the same type and run the same handler
//! ([`ToolSpec::run`]). A tool's name, schema and handler therefore cannot drift apart.
//!
//! Most tools work inside one project: their argument type is [`InProject<A>`], the project's
//! name beside the tool's own arguments `A`. On `/mcp` the project is the `project` argument
//! (added to `A`'s schema, required); over HTTP it is the path's `{name}`, and `A`
//! alone is the documented body.
//!
//! Arguments are parsed by [`parse_args`] on both surfaces, so a bad one is reported the same
//! way everywhere: the argument named, the message prefixed with it.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use rmcp::model::Tool;
use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::{Caller, Done, ToolError, ToolNames, Tools};
use crate::auth::Role;

/// A tool's handler: its parsed arguments in, what it produced out.
pub type Handler<A> =
    for<'a> fn(&'a Tools, A, &'a Caller) -> BoxFuture<'a, Result<Done, ToolError>>;

/// One tool, defined once (see the module header). Built by [`ToolSpec::new`] or
/// [`ToolSpec::in_project`] in a `static` beside its handler.
pub struct ToolSpec<A> {
    /// `att.<area>.<verb>`.
    pub name: &'static str,
    /// What it does (shown to MCP clients).
    pub description: &'static str,
    /// The role a caller needs (admin unless the tool says otherwise: a tool that forgets
    /// to say is not opened by accident).
    pub role: Role,
    parse: fn(Value) -> Result<A, ToolError>,
    schema: fn() -> Map<String, Value>,
    handler: Handler<A>,
}

impl<A: DeserializeOwned + JsonSchema> ToolSpec<A> {
    /// A tool whose arguments are `A` as they stand.
    pub const fn new(name: &'static str, description: &'static str, handler: Handler<A>) -> Self {
        Self {
            name,
            description,
            role: Role::Admin,
            parse: parse_args::<A>,
            schema: input_schema::<A>,
            handler,
        }
    }
}

impl<A: DeserializeOwned + JsonSchema> ToolSpec<InProject<A>> {
    /// A tool that works inside one project: `project` plus `A`.
    pub const fn in_project(
        name: &'static str,
        description: &'static str,
        handler: Handler<InProject<A>>,
    ) -> Self {
        Self {
            name,
            description,
            role: Role::Admin,
            parse: InProject::<A>::parse,
            schema: InProject::<A>::schema,
            handler,
        }
    }
}

impl<A> ToolSpec<A> {
    /// The same tool, needing `role`.
    pub const fn role(mut self, role: Role) -> Self {
        self.role = role;
        self
    }

    /// Runs the tool on arguments already parsed (the HTTP routes, the resources).
    pub fn run<'a>(
        &self,
        tools: &'a Tools,
        args: A,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Done, ToolError>> {
        (self.handler)(tools, args, caller)
    }
}

/// A tool whatever its argument type: what `/mcp` lists and calls by name.
pub trait AnyTool: Sync {
    /// `att.<area>.<verb>`.
    fn name(&self) -> &'static str;
    /// The role a caller needs.
    fn role(&self) -> Role;
    /// Its entry in the tool list, with its input schema, its name spelled as `names` says.
    fn listing(&self, names: ToolNames) -> Tool;
    /// Parses `args` (a JSON object; `null` for none) and runs the tool.
    fn call<'a>(
        &'a self,
        tools: &'a Tools,
        args: Value,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Done, ToolError>>;
}

impl<A> AnyTool for ToolSpec<A> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn role(&self) -> Role {
        self.role
    }

    fn listing(&self, names: ToolNames) -> Tool {
        Tool::new(
            names.spell(self.name),
            self.description,
            Arc::new((self.schema)()),
        )
    }

    fn call<'a>(
        &'a self,
        tools: &'a Tools,
        args: Value,
        caller: &'a Caller,
    ) -> BoxFuture<'a, Result<Done, ToolError>> {
        match (self.parse)(args) {
            Ok(args) => self.run(tools, args, caller),
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }
}

/// The arguments of a tool that works inside one project.
#[derive(Debug)]
pub struct InProject<A> {
    /// The project's name.
    pub project: String,
    /// The tool's own arguments.
    pub args: A,
}

impl<A> InProject<A> {
    /// `args` for the project called `project`.
    pub fn new(project: impl Into<String>, args: A) -> Self {
        Self {
            project: project.into(),
            args,
        }
    }
}

/// The argument every tool inside a project shares.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ProjectArg {
    /// The project's name.
    project: String,
}

impl<A: DeserializeOwned + JsonSchema> InProject<A> {
    /// Splits `project` off a JSON object and parses the rest as `A` (its errors first, as a
    /// single struct would report them; then a missing or mistyped `project`).
    fn parse(args: Value) -> Result<Self, ToolError> {
        let mut args = if args.is_null() { json!({}) } else { args };
        let project = args.as_object_mut().and_then(|m| m.remove("project"));
        let own = parse_args::<A>(args)?;
        let ProjectArg { project } = parse_args(match project {
            Some(p) => json!({ "project": p }),
            None => json!({}),
        })?;
        Ok(Self { project, args: own })
    }

    /// `A`'s schema with `project` added to its properties, and first among the required.
    fn schema() -> Map<String, Value> {
        let mut own = input_schema::<A>();
        let shared = input_schema::<ProjectArg>();
        let mut properties = shared
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(Value::Object(p)) = own.remove("properties") {
            properties.extend(p);
        }
        let mut required = vec![json!("project")];
        if let Some(Value::Array(r)) = own.remove("required") {
            required.extend(r);
        }
        own.insert("properties".into(), Value::Object(properties));
        own.insert("required".into(), Value::Array(required));
        own
    }
}

/// `T`'s JSON schema as an MCP input schema: an object, without `$schema` and `title`.
fn input_schema<T: JsonSchema>() -> Map<String, Value> {
    let mut v = serde_json::to_value(schemars::schema_for!(T)).unwrap_or_else(|_| json!({}));
    if let Some(o) = v.as_object_mut() {
        o.remove("$schema");
        o.remove("title");
        o.entry("type").or_insert_with(|| json!("object"));
    }
    v.as_object().cloned().unwrap_or_default()
}

/// Parses a tool's arguments (`null`: none); a mismatch names the argument.
pub fn parse_args<T: DeserializeOwned>(v: Value) -> Result<T, ToolError> {
    let v = if v.is_null() { json!({}) } else { v };
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let field = crate::http::extract::field_of(&path, &message);
        let message = match &field {
            Some(f) if !message.contains(&format!("`{f}`")) => format!("`{f}`: {message}"),
            _ => message,
        };
        ToolError::Invalid { field, message }
    })
}

#[cfg(test)]
mod tests {
    use super::super::args::{CommitArgs, ReadArgs};
    use super::*;

    #[test]
    fn bad_arguments_name_the_argument() {
        let e = parse_args::<ReadArgs>(json!({"path": 3})).expect_err("bad");
        assert!(
            matches!(e, ToolError::Invalid { field: Some(ref f), .. } if f == "path"),
            "{e:?}"
        );
        let e = parse_args::<ReadArgs>(json!({"path": "a", "extra": 1})).expect_err("bad");
        assert!(e.message().contains("extra"), "{e:?}");
    }

    #[test]
    fn a_tool_inside_a_project_takes_the_project_beside_its_own_arguments() {
        let a = InProject::<ReadArgs>::parse(json!({"project": "p", "path": "a", "limit": 3}))
            .expect("parsed");
        assert_eq!(
            (a.project.as_str(), a.args.path.as_str(), a.args.limit),
            ("p", "a", Some(3))
        );
        let invalid = |v: Value| match InProject::<ReadArgs>::parse(v) {
            Err(ToolError::Invalid { field, message }) => (field, message),
            other => panic!("expected invalid arguments, got {other:?}"),
        };
        assert_eq!(
            invalid(json!({"path": "a"})),
            (Some("project".into()), "missing field `project`".into())
        );
        assert_eq!(
            invalid(json!({"project": 3, "path": "a"})).0,
            Some("project".into())
        );
        // The tool's own arguments are checked first, like one struct's fields would be.
        assert_eq!(invalid(json!({"path": 3})).0, Some("path".into()));
        assert!(
            invalid(json!({"project": "p", "path": "a", "extra": 1}))
                .1
                .contains("extra")
        );
        assert_eq!(invalid(json!("p")).0, None);
    }

    #[test]
    fn the_schema_of_a_tool_inside_a_project_requires_the_project_first() {
        let s = InProject::<CommitArgs>::schema();
        assert_eq!(s.get("type"), Some(&json!("object")));
        assert_eq!(s.get("required"), Some(&json!(["project", "message"])));
        let properties = s
            .get("properties")
            .and_then(Value::as_object)
            .expect("props");
        assert_eq!(properties["project"]["type"], "string");
        assert!(properties.contains_key("paths"));
        assert_eq!(s.get("additionalProperties"), Some(&json!(false)));
    }
}
