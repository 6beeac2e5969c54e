//! The `mcpServers` JSON that MCP clients already keep (Claude Desktop, Cursor, Claude Code;
//! VS Code's `servers`), read into upstream specs for `att serve --mcp-config FILE`.
//!
//! Every kind of entry is imported: local servers (`command`, `args`, `env`, `cwd`) as stdio
//! upstreams, remote ones (`url`, `headers`; `"type": "http"`, or no type) as streamable
//! HTTP upstreams, and `"type": "sse"` ones as legacy HTTP+SSE upstreams. The transport is
//! read from `type` (Claude, Cursor, VS Code), else `transport` or `transportType` (older
//! Cline and some READMEs). `${VAR}`, `${env:VAR}` (VS Code) and `${VAR:-default}` in any string are
//! replaced from att's environment, so a token need not be written into the file.
//!
//! A remote entry may carry att's own `tls` table (`ca_file`, `client_cert`, `client_key`,
//! `insecure_skip_verify`: the table of the API and the configuration file, with `${VAR}`
//! expanded in its paths). Its files are read and checked here, as at a registration: an
//! entry whose CA is missing or whose key does not fit its certificate is skipped with the
//! field at fault, not found broken at its first call.
//!
//! A file holds entries for many clients, and att may not serve them all: an entry att cannot
//! use is skipped, with its name and the reason ([`Skipped`]), and the rest is imported. Only a
//! file that is not an `mcpServers` document at all is an error. Reasons never carry a value
//! from the entry (header and environment values are secrets), only names.

use serde_json::{Map, Value};

use super::spec::{SpecError, UpstreamSpec, bad};

/// What a file gave: the specs to run, and the entries left out.
#[derive(Debug, Default)]
pub struct McpImport {
    /// One per usable entry, in the file's order.
    pub specs: Vec<UpstreamSpec>,
    /// Entries left out, and why.
    pub skipped: Vec<Skipped>,
}

/// An entry att did not import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The entry's name in the file.
    pub name: String,
    /// Why, naming the field at fault.
    pub reason: String,
}

/// Keys of an entry att reads; the rest (`autoApprove`, `alwaysAllow`, …) is ignored.
const KEYS: [&str; 7] = ["url", "headers", "command", "args", "env", "cwd", "tls"];

/// Keys naming an entry's transport, the first present deciding.
const TRANSPORT_KEYS: [&str; 3] = ["type", "transport", "transportType"];

/// Reads an `mcpServers` document; `env` looks variables up (`std::env::var` in att).
pub fn from_mcp_servers_json(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<McpImport, SpecError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| bad("mcpServers", format!("not valid JSON: {e}")))?;
    let servers = doc
        .get("mcpServers")
        .or_else(|| doc.get("servers"))
        .and_then(Value::as_object)
        .ok_or_else(|| {
            bad(
                "mcpServers",
                "expected an object `{\"mcpServers\": {\"name\": {…}}}`",
            )
        })?;
    let mut import = McpImport::default();
    for (name, entry) in servers {
        match entry_spec(name, entry, env) {
            Ok(Some(spec)) => import.specs.push(spec),
            Ok(None) => {}
            Err(reason) => import.skipped.push(Skipped {
                name: name.clone(),
                reason,
            }),
        }
    }
    Ok(import)
}

/// One entry: its spec, `None` when disabled, or why it cannot be used.
fn entry_spec(
    name: &str,
    entry: &Value,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<UpstreamSpec>, String> {
    let obj = entry.as_object().ok_or("expected an object")?;
    if obj.get("disabled").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    let mut wire = Map::new();
    wire.insert("name".into(), Value::String(name.to_owned()));
    let kind = TRANSPORT_KEYS
        .iter()
        .find_map(|key| Some((*key, obj.get(*key)?.as_str()?)));
    match kind {
        None | Some((_, "http" | "streamable-http" | "streamableHttp" | "stdio")) => {}
        Some((_, "sse")) => {
            wire.insert("transport".into(), Value::String("sse".into()));
        }
        Some((key, other)) => {
            return Err(format!(
                "`{key}`: unknown transport `{other}` (expected `http`, `sse` or `stdio`)"
            ));
        }
    }
    for key in KEYS {
        if let Some(v) = obj.get(key).filter(|v| !v.is_null()) {
            let v = expand_value(v, env).map_err(|e| format!("`{key}`: {e}"))?;
            wire.insert(key.into(), v);
        }
    }
    let spec: UpstreamSpec =
        serde_json::from_value(Value::Object(wire)).map_err(|e| e.to_string())?;
    super::tls::check(&spec).map_err(|e| e.to_string())?;
    Ok(Some(spec))
}

/// `v` with every string expanded ([`expand`]); keys are left as they are.
fn expand_value(v: &Value, env: &dyn Fn(&str) -> Option<String>) -> Result<Value, String> {
    Ok(match v {
        Value::String(s) => Value::String(expand(s, env)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|v| expand_value(v, env))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), expand_value(v, env)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// `${VAR}`, `${env:VAR}` and `${VAR:-default}` replaced; `$` elsewhere kept. An unset
/// variable without a default (VS Code's `${workspaceFolder}` is one: editor state), or a
/// reference that is no variable name (`${input:…}`: a VS Code prompt), is an error naming it.
pub fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let body_start = at + 2;
        let Some(len) = rest[body_start..].find('}') else {
            return Err("an unclosed `${`".into());
        };
        let body = &rest[body_start..body_start + len];
        let (var, default) = match body.split_once(":-") {
            Some((v, d)) => (v, Some(d)),
            None => (body, None),
        };
        let var = var.strip_prefix("env:").unwrap_or(var);
        let plain = !var.is_empty() && var.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !plain {
            return Err(format!(
                "`${{{body}}}` is not an environment variable att can read"
            ));
        }
        match (env(var), default) {
            (Some(value), _) => out.push_str(&value),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(format!("environment variable `{var}` is not set")),
        }
        rest = &rest[body_start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Transport;

    fn env(var: &str) -> Option<String> {
        match var {
            "TOKEN" => Some("t0k".into()),
            "HOME" => Some("/home/u".into()),
            _ => None,
        }
    }

    #[test]
    fn references_expand_from_the_environment_or_name_what_is_missing() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("plain", Ok("plain")),
            ("Bearer ${TOKEN}", Ok("Bearer t0k")),
            ("${env:HOME}/x", Ok("/home/u/x")),
            ("${NOPE:-fallback}", Ok("fallback")),
            ("${TOKEN:-fallback}", Ok("t0k")),
            ("$TOKEN and $$", Ok("$TOKEN and $$")),
            ("${TOKEN}${HOME}", Ok("t0k/home/u")),
            ("${NOPE}", Err("environment variable `NOPE` is not set")),
            (
                "${input:pat}",
                Err("`${input:pat}` is not an environment variable att can read"),
            ),
            (
                "${workspaceFolder}/x",
                Err("environment variable `workspaceFolder` is not set"),
            ),
            (
                "${}",
                Err("`${}` is not an environment variable att can read"),
            ),
            ("${TOKEN", Err("an unclosed `${`")),
        ];
        for (input, expected) in cases {
            let got = expand(input, &env);
            let got = got.as_deref().map_err(String::as_str);
            assert_eq!(got, *expected, "{input}");
        }
    }

    #[test]
    fn local_and_remote_entries_import_and_unusable_ones_are_skipped_with_a_reason() {
        let text = r#"{"mcpServers": {
            "files": {"command": "npx", "args": ["-y", "@mcp/fs", "${HOME}"], "env": {"A": "1"}, "autoApprove": []},
            "remote": {"type": "http", "url": "https://example.test/mcp", "headers": {"Authorization": "Bearer ${TOKEN}"}},
            "bare": {"url": "http://127.0.0.1:9/mcp"},
            "off": {"command": "x", "disabled": true},
            "old": {"type": "sse", "url": "http://h/sse", "headers": {"X-Key": "${TOKEN}"}},
            "cline": {"transportType": "sse", "url": "http://h/sse"},
            "local": {"type": "sse", "command": "srv"},
            "weird": {"type": "websocket", "url": "ws://h"},
            "unset": {"url": "https://h/mcp", "headers": {"Authorization": "Bearer ${GH_TOKEN}"}},
            "nothing": {"args": []},
            "bad name": {"command": "c"},
            "scalar": 3
        }}"#;
        let import = from_mcp_servers_json(text, &env).expect("a document");
        let names: Vec<&str> = import.specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["bare", "cline", "files", "old", "remote"]);
        for n in ["old", "cline"] {
            let sse = import.specs.iter().find(|s| s.name == n).unwrap();
            assert!(
                matches!(&sse.transport, Transport::Sse { url, .. } if url == "http://h/sse"),
                "{n}: {:?}",
                sse.transport
            );
        }
        let old = import.specs.iter().find(|s| s.name == "old").unwrap();
        assert!(
            matches!(&old.transport, Transport::Sse { headers, .. } if headers["X-Key"] == "t0k")
        );
        let remote = import.specs.iter().find(|s| s.name == "remote").unwrap();
        match &remote.transport {
            Transport::Http { url, headers } => {
                assert_eq!(url, "https://example.test/mcp");
                assert_eq!(headers["Authorization"], "Bearer t0k");
            }
            other => panic!("{other:?}"),
        }
        let files = import.specs.iter().find(|s| s.name == "files").unwrap();
        match &files.transport {
            Transport::Stdio { args, .. } => assert_eq!(args[2], "/home/u"),
            other => panic!("{other:?}"),
        }
        let skipped: Vec<&str> = import.skipped.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            skipped,
            ["bad name", "local", "nothing", "scalar", "unset", "weird"]
        );
        let reason = |n: &str| {
            &import
                .skipped
                .iter()
                .find(|s| s.name == n)
                .expect("skipped")
                .reason
        };
        assert!(
            reason("local").contains("`sse` need `url`"),
            "{}",
            reason("local")
        );
        assert!(
            reason("unset").contains("`GH_TOKEN` is not set"),
            "{}",
            reason("unset")
        );
        assert!(
            reason("unset").starts_with("`headers`"),
            "{}",
            reason("unset")
        );
        assert!(reason("weird").contains("websocket"), "{}", reason("weird"));
        assert!(
            reason("bad name").contains("bad name"),
            "{}",
            reason("bad name")
        );
        // No reason repeats a value from the file.
        assert!(import.skipped.iter().all(|s| !s.reason.contains("Bearer")));
    }

    #[test]
    fn a_tls_table_is_imported_with_its_paths_expanded_and_its_files_checked() {
        let dir = std::env::temp_dir().join(format!("att-mcp-servers-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("not.pem"), "no certificate here").expect("write");
        let certs = dir.display().to_string();
        let env = |var: &str| (var == "CERTS").then(|| certs.clone());
        let text = r#"{"mcpServers": {
            "open": {"url": "https://h/mcp", "tls": {"insecure_skip_verify": true}},
            "empty": {"url": "https://h/mcp", "tls": {}},
            "gone": {"url": "https://h/mcp", "tls": {"ca_file": "${CERTS}/missing.pem"}},
            "junk": {"url": "https://h/mcp", "tls": {"ca_file": "${CERTS}/not.pem"}},
            "relative": {"url": "https://h/mcp", "tls": {"ca_file": "ca.pem"}},
            "half": {"url": "https://h/mcp", "tls": {"client_cert": "${CERTS}/c.pem"}},
            "plain": {"url": "http://h/mcp", "tls": {"insecure_skip_verify": true}},
            "child": {"command": "srv", "tls": {"insecure_skip_verify": true}},
            "typo": {"url": "https://h/mcp", "tls": {"verify": false}}
        }}"#;
        let import = from_mcp_servers_json(text, &env).expect("a document");
        std::fs::remove_dir_all(&dir).expect("clean up");
        let names: Vec<&str> = import.specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["empty", "open"]);
        let open = &import.specs[1];
        assert!(open.tls.as_ref().is_some_and(|t| t.insecure_skip_verify));
        assert_eq!(import.specs[0].tls, None, "an empty table is no table");
        let reason = |n: &str| {
            import
                .skipped
                .iter()
                .find(|s| s.name == n)
                .map_or_else(|| format!("`{n}` was not skipped"), |s| s.reason.clone())
        };
        let missing = format!("{certs}/missing.pem");
        for (name, wants) in [
            (
                "gone",
                &["tls.ca_file", missing.as_str(), "cannot read"][..],
            ),
            ("junk", &["tls.ca_file", "no certificate"]),
            ("relative", &["tls.ca_file", "absolute"]),
            ("half", &["tls.client_key", "set both"]),
            ("plain", &["tls", "https://"]),
            ("child", &["tls", "not stdio"]),
            ("typo", &["verify"]),
        ] {
            let got = reason(name);
            assert!(wants.iter().all(|w| got.contains(w)), "{name}: {got}");
        }
    }

    #[test]
    fn vscode_servers_import_and_a_non_document_is_an_error() {
        let vscode = from_mcp_servers_json(
            r#"{"servers": {"x": {"type": "stdio", "command": "srv"}}}"#,
            &env,
        )
        .expect("converts");
        assert_eq!(vscode.specs.len(), 1);
        assert!(from_mcp_servers_json("[]", &env).is_err());
        assert!(from_mcp_servers_json("{", &env).is_err());
        assert!(from_mcp_servers_json(r#"{"mcpServers": 1}"#, &env).is_err());
    }
}
