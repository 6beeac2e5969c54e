//! `att mcp …`: a small HTTP client for a running att's gateway, with readable output — a
//! table for servers, pretty JSON for results, the attempt trace when a call fails.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli::{McpArgs, McpCommand};

/// Runs one `att mcp` command; prints to stdout/stderr and returns the exit code.
pub async fn run(args: McpArgs) -> ExitCode {
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
    let base = args.remote.att_url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::new();
    let send = |req: reqwest::RequestBuilder| {
        let req = match &args.remote.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        async move {
            let r = req.send().await.map_err(|e| {
                format!(
                    "cannot reach att at {base}: {e}",
                    base = args.remote.att_url
                )
            })?;
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            Ok::<_, String>((status, body))
        }
    };
    let api = |path: &str| format!("{base}/api/v1/mcp{path}");
    match args.command {
        McpCommand::Servers => {
            let (status, body) = send(client.get(api("/servers"))).await?;
            if !status.is_success() {
                return Err(failure(status, &body));
            }
            print_servers(&body);
        }
        McpCommand::Add {
            name,
            url,
            headers,
            command,
            args: argv,
            env,
            priority,
        } => {
            let mut spec = json!({"name": name});
            if let Some(u) = url {
                spec["url"] = json!(u);
                spec["headers"] = json!(pairs("header", &headers)?);
            }
            if let Some(c) = command {
                spec["command"] = json!(c);
                spec["args"] = json!(argv);
                spec["env"] = json!(pairs("env", &env)?);
            }
            if let Some(p) = priority {
                spec["priority"] = json!(p);
            }
            let (status, body) = send(client.post(api("/servers")).json(&spec)).await?;
            if !status.is_success() {
                return Err(failure(status, &body));
            }
            println!("registered `{}`", body["name"].as_str().unwrap_or("?"));
        }
        McpCommand::Remove { name } => {
            let (status, body) = send(client.delete(api(&format!("/servers/{name}")))).await?;
            if !status.is_success() {
                return Err(failure(status, &body));
            }
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
            let (status, body) = send(client.post(api("/invoke/tool")).json(&body)).await?;
            print_result(status, &body)?;
        }
        McpCommand::Read { uri, prefer } => {
            let body = json!({"uri": uri, "preferred_servers": prefer});
            let (status, body) = send(client.post(api("/invoke/resource")).json(&body)).await?;
            print_result(status, &body)?;
        }
    }
    Ok(())
}

fn print_result(status: reqwest::StatusCode, body: &Value) -> Result<(), String> {
    if !status.is_success() {
        return Err(failure(status, body));
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&body["result"]).unwrap_or_default()
    );
    eprintln!(
        "served by `{}` (request {})",
        body["server"].as_str().unwrap_or("?"),
        body["request_id"].as_str().unwrap_or("?")
    );
    Ok(())
}

/// The error text, with the attempt trace as a table when there is one.
fn failure(status: reqwest::StatusCode, body: &Value) -> String {
    let detail = &body["detail"];
    let mut out = match detail.get("message").and_then(Value::as_str) {
        Some(m) => format!("{status}: {m}"),
        None => format!(
            "{status}: {}",
            detail
                .as_str()
                .map_or_else(|| detail.to_string(), str::to_owned)
        ),
    };
    if let Some(field) = body["field"].as_str() {
        out.push_str(&format!(" (field `{field}`)"));
    }
    if let Some(attempts) = detail
        .get("attempts")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
    {
        out.push_str("\nattempts:\n");
        let rows: Vec<Vec<String>> = attempts
            .iter()
            .map(|a| {
                vec![
                    text(&a["server"]),
                    text(&a["stage"]),
                    if a["success"] == true {
                        "ok".into()
                    } else {
                        "failed".into()
                    },
                    text(&a["error_category"]),
                    format!("{} ms", a["elapsed_ms"]),
                    text(&a["error"]),
                ]
            })
            .collect();
        out.push_str(&table(
            &["SERVER", "STAGE", "RESULT", "CATEGORY", "TIME", "ERROR"],
            &rows,
        ));
    }
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
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
            let transport = if s.get("url").is_some() {
                "http"
            } else {
                "stdio"
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

fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count().min(60));
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>| {
        let mut l: String = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| {
                let c: String = c.chars().take(60).collect();
                format!("{c:<w$}")
            })
            .collect::<Vec<_>>()
            .join("  ");
        l.truncate(l.trim_end().len());
        l + "\n"
    };
    out.push_str(&line(headers.iter().map(|h| (*h).to_owned()).collect()));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

/// Runs one `att bootstrap` command; prints to stdout/stderr and returns the exit code.
pub async fn bootstrap(args: crate::cli::BootstrapArgs) -> ExitCode {
    match execute_bootstrap(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("att: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Returns whether the command succeeded (a followed run: whether its release went live).
async fn execute_bootstrap(args: crate::cli::BootstrapArgs) -> Result<bool, String> {
    use crate::cli::BootstrapCommand;

    let base = args.remote.att_url.trim_end_matches('/').to_owned();
    let client = reqwest::Client::new();
    let token = args.remote.token.clone();
    let send = |req: reqwest::RequestBuilder| {
        let req = match &token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let base = base.clone();
        async move {
            let r = req
                .send()
                .await
                .map_err(|e| format!("cannot reach att at {base}: {e}"))?;
            let status = r.status();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            Ok::<_, String>((status, body))
        }
    };
    let api = |path: &str| format!("{base}/api/v1/bootstrap{path}");
    let started = match args.command {
        BootstrapCommand::Run {
            target,
            release,
            rollback_to,
            no_wait,
            watchdog_retries,
            watchdog_interval,
            health_interval,
            health_deadline,
        } => {
            let mut body = json!({"target": target});
            if let Some(r) = release {
                body["requested_release_id"] = json!(r);
            }
            if let Some(r) = rollback_to {
                body["rollback_release_id"] = json!(r);
            }
            if let Some(n) = watchdog_retries {
                body["restart_watchdog_retries"] = json!(n);
            }
            for (key, value) in [
                ("restart_watchdog_interval", watchdog_interval),
                ("health_check_interval", health_interval),
                ("health_deadline", health_deadline),
            ] {
                if let Some(v) = value {
                    body[key] = json!(v);
                }
            }
            let (status, body) = send(client.post(api("/runs")).json(&body)).await?;
            if !status.is_success() {
                return Err(failure(status, &body));
            }
            let id = body["run_id"].as_str().unwrap_or_default().to_owned();
            if no_wait {
                println!("{id}");
                return Ok(true);
            }
            id
        }
        BootstrapCommand::Rollback { target, release } => {
            let body = match release {
                Some(r) => json!({"release_id": r}),
                None => json!({}),
            };
            let url = api(&format!("/targets/{target}/rollback"));
            let (status, body) = send(client.post(url).json(&body)).await?;
            if !status.is_success() {
                return Err(failure(status, &body));
            }
            body["run_id"].as_str().unwrap_or_default().to_owned()
        }
        BootstrapCommand::Status { run: Some(id) } => {
            let (status, body) = send(client.get(api(&format!("/runs/{id}")))).await?;
            if !status.is_success() {
                return Err(failure(status, &body));
            }
            print_run(&body);
            return Ok(body["result"]["success"] == true);
        }
        BootstrapCommand::Status { run: None } => {
            let (status, body) = send(client.get(api("/runs?limit=20"))).await?;
            if !status.is_success() {
                return Err(failure(status, &body));
            }
            println!(
                "{:<28} {:<20} {:<12} {:<14} RELEASE",
                "RUN", "TARGET", "STATUS", "CREATED"
            );
            for r in body["runs"].as_array().into_iter().flatten() {
                println!(
                    "{:<28} {:<20} {:<12} {:<14} {}",
                    r["id"].as_str().unwrap_or("-"),
                    r["target"].as_str().unwrap_or("-"),
                    r["status"].as_str().unwrap_or("-"),
                    r["created_at"]
                        .as_str()
                        .unwrap_or("-")
                        .get(..19)
                        .unwrap_or("-"),
                    r["request"]["requested_release_id"].as_str().unwrap_or("-"),
                );
            }
            return Ok(true);
        }
        BootstrapCommand::Releases { target } => {
            let url = format!("{}?target={target}", api("/releases"));
            let (status, body) = send(client.get(url)).await?;
            if !status.is_success() {
                return Err(failure(status, &body));
            }
            println!(
                "{:<24} {:<12} {:<20} COMMAND",
                "RELEASE", "STATUS", "CREATED"
            );
            for r in body["releases"].as_array().into_iter().flatten() {
                println!(
                    "{:<24} {:<12} {:<20} {}",
                    r["id"].as_str().unwrap_or("-"),
                    r["status"].as_str().unwrap_or("-"),
                    r["created_at"]
                        .as_str()
                        .unwrap_or("-")
                        .get(..19)
                        .unwrap_or("-"),
                    r["command"].as_str().unwrap_or("-"),
                );
            }
            return Ok(true);
        }
    };
    // Follow the run: print each phase as it changes, until the run ends.
    println!("run {started}");
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    let mut build_seen = i64::MIN;
    loop {
        let (status, body) = send(client.get(api(&format!("/runs/{started}")))).await?;
        if !status.is_success() {
            return Err(failure(status, &body));
        }
        for p in body["phases"].as_array().into_iter().flatten() {
            let (phase, state) = (
                p["phase"].as_str().unwrap_or_default().to_owned(),
                p["status"].as_str().unwrap_or_default().to_owned(),
            );
            if state != "pending" && shown.get(&phase) != Some(&state) {
                let message = p["message"]
                    .as_str()
                    .map(|m| format!("  ({m})"))
                    .unwrap_or_default();
                println!("  {phase:<18} {state}{message}");
                shown.insert(phase, state);
            }
        }
        if shown.get("build").is_some_and(|s| s == "running") {
            // The build's newest output lines, as the pipeline reports them.
            let url = format!(
                "{base}/api/v1/events?kind=bootstrap.build_output&correlation_id={started}"
            );
            if let Ok((status, events)) = send(client.get(url)).await
                && status.is_success()
            {
                let mut fresh: Vec<&Value> = events["events"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|e| e["id"].as_i64().is_some_and(|id| id > build_seen))
                    .collect();
                fresh.sort_by_key(|e| e["id"].as_i64());
                for e in fresh {
                    build_seen = e["id"].as_i64().unwrap_or(build_seen);
                    if let Some(line) = e["data"]["lines"].as_array().and_then(|l| l.last()) {
                        println!("    | {}", line.as_str().unwrap_or_default());
                    }
                }
            }
        }
        if body["status"] != "running" {
            print_run_result(&body);
            return Ok(body["result"]["success"] == true);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

fn print_run(run: &Value) {
    println!(
        "run {} — {} — {}",
        run["id"].as_str().unwrap_or("-"),
        run["target"].as_str().unwrap_or("-"),
        run["status"].as_str().unwrap_or("-")
    );
    for p in run["phases"].as_array().into_iter().flatten() {
        let message = p["message"]
            .as_str()
            .map(|m| format!("  ({m})"))
            .unwrap_or_default();
        println!(
            "  {:<18} {}{message}",
            p["phase"].as_str().unwrap_or("-"),
            p["status"].as_str().unwrap_or("-")
        );
    }
    print_run_result(run);
}

fn print_run_result(run: &Value) {
    let r = &run["result"];
    println!(
        "{}: release {} {}",
        run["status"].as_str().unwrap_or("-"),
        r["deployed_release_id"].as_str().unwrap_or("-"),
        if r["success"] == true {
            "is live"
        } else {
            "did not go live"
        }
    );
    if r["rollback_policy_status"] != "not_evaluated" {
        println!(
            "rollback: {} ({}){}",
            r["rollback_policy_status"].as_str().unwrap_or("-"),
            r["rollback_policy_reason"].as_str().unwrap_or("-"),
            match r["rollback_succeeded"].as_bool() {
                Some(true) => format!(
                    " — back on {}",
                    r["rollback_target_release_id"].as_str().unwrap_or("-")
                ),
                Some(false) => " — the rollback failed; the target is failed".to_owned(),
                None => String::new(),
            }
        );
    }
}
