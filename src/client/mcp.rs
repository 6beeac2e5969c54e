//! `att mcp …`: the gateway of a running att — its servers as a table, registering and
//! removing one, calling a tool or reading a resource through it.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::{Att, table, text};
use crate::cli::{McpArgs, McpCommand};

/// Runs one `att mcp` command; prints to stdout/stderr and returns the exit code.
pub async fn run(args: McpArgs) -> ExitCode {
    if let McpCommand::Stdio { profile } = &args.command {
        return super::stdio(&args.remote, profile.as_deref()).await;
    }
    match execute(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("att: {message}");
            ExitCode::FAILURE
        }
    }
}

fn pairs(field: &str, items: &[String]) -> Result<BTreeMap<String, String>, String> {
    items
        .iter()
        .map(|i| {
            i.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| format!("--{field} `{i}`: expected NAME=VALUE"))
        })
        .collect()
}

async fn execute(args: McpArgs) -> Result<(), String> {
    let att = Att::new(&args.remote)?;
    match args.command {
        McpCommand::Stdio { .. } => return Err("`att mcp stdio` runs on its own".into()),
        McpCommand::Servers => {
            let body = att.success(att.get("/api/v1/mcp/servers")).await?;
            print_servers(&body);
        }
        McpCommand::Add {
            name,
            url,
            transport,
            headers,
            command,
            args: argv,
            env,
            priority,
            tls_ca_file,
            tls_client_cert,
            tls_client_key,
            tls_insecure_skip_verify,
        } => {
            let mut spec = json!({"name": name});
            if let Some(u) = url {
                spec["url"] = json!(u);
                spec["headers"] = json!(pairs("header", &headers)?);
            }
            if let Some(t) = transport {
                spec["transport"] = json!(t);
            }
            if let Some(c) = command {
                spec["command"] = json!(c);
                spec["args"] = json!(argv);
                spec["env"] = json!(pairs("env", &env)?);
            }
            if let Some(p) = priority {
                spec["priority"] = json!(p);
            }
            // Paths as att will read them: absolute, from here.
            let absolute = |p: Option<std::path::PathBuf>| -> Result<Option<String>, String> {
                p.map(|p| {
                    std::path::absolute(&p)
                        .map(|a| a.display().to_string())
                        .map_err(|e| format!("`{}`: {e}", p.display()))
                })
                .transpose()
            };
            let mut tls = serde_json::Map::new();
            for (key, path) in [
                ("ca_file", absolute(tls_ca_file)?),
                ("client_cert", absolute(tls_client_cert)?),
                ("client_key", absolute(tls_client_key)?),
            ] {
                if let Some(p) = path {
                    tls.insert(key.into(), json!(p));
                }
            }
            if tls_insecure_skip_verify {
                tls.insert("insecure_skip_verify".into(), json!(true));
            }
            if !tls.is_empty() {
                spec["tls"] = Value::Object(tls);
            }
            let request = att.post("/api/v1/mcp/servers").json(&spec);
            let body = att.success(request).await?;
            println!("registered `{}`", body["name"].as_str().unwrap_or("?"));
        }
        McpCommand::Remove { name } => {
            att.success(att.delete(&format!("/api/v1/mcp/servers/{name}")))
                .await?;
            println!("removed `{name}`");
        }
        McpCommand::Call {
            tool,
            args: raw,
            prefer,
        } => {
            let arguments: Value =
                serde_json::from_str(&raw).map_err(|e| format!("--args is not valid JSON: {e}"))?;
            if !arguments.is_object() {
                return Err("--args must be a JSON object".into());
            }
            let body =
                json!({"tool_name": tool, "arguments": arguments, "preferred_servers": prefer});
            let request = att.post("/api/v1/mcp/invoke/tool").json(&body);
            print_result(&att.success(request).await?);
        }
        McpCommand::Read { uri, prefer } => {
            let body = json!({"uri": uri, "preferred_servers": prefer});
            let request = att.post("/api/v1/mcp/invoke/resource").json(&body);
            print_result(&att.success(request).await?);
        }
    }
    Ok(())
}

/// A routed call's result (stdout) and which server gave it (stderr).
fn print_result(body: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(&body["result"]).unwrap_or_default()
    );
    eprintln!(
        "served by `{}` (request {})",
        body["server"].as_str().unwrap_or("?"),
        body["request_id"].as_str().unwrap_or("?")
    );
}

fn print_servers(body: &Value) {
    let rows: Vec<Vec<String>> = body["servers"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let target = s
                .get("url")
                .map(text)
                .unwrap_or_else(|| text(&s["command"]));
            let transport = match (s.get("transport").and_then(Value::as_str), s.get("url")) {
                (Some(t), _) => t,
                (None, Some(_)) => "http",
                (None, None) => "stdio",
            };
            vec![
                text(&s["name"]),
                text(&s["state"]["status"]),
                transport.into(),
                target,
                text(&s["priority"]),
                text(&s["state"]["retry_count"]),
                text(&s["state"]["catalog"]["tools"]),
                text(&s["state"]["last_error"]),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "NAME",
                "STATUS",
                "TRANSPORT",
                "TARGET",
                "PRIORITY",
                "RETRIES",
                "TOOLS",
                "LAST ERROR"
            ],
            &rows
        )
    );
}
