//! `att bootstrap …`: the release pipeline of a running att — start a run or a rollback
//! and follow it phase by phase (with the build's newest output), show runs and releases.

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::Att;
use crate::cli::{BootstrapArgs, BootstrapCommand};

/// Runs one `att bootstrap` command; prints to stdout/stderr and returns the exit code.
pub async fn bootstrap(args: BootstrapArgs) -> ExitCode {
    match execute(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("att: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Returns whether the command succeeded (a followed run: whether its release went live).
async fn execute(args: BootstrapArgs) -> Result<bool, String> {
    let att = Att::new(&args.remote)?;
    let run = match &args.command {
        BootstrapCommand::Run { no_wait, .. } => {
            let request = att.post("/api/v1/bootstrap/runs");
            let id = started(&att, request.json(&run_request(&args.command))).await?;
            if *no_wait {
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
            let request = att.post(&format!("/api/v1/bootstrap/targets/{target}/rollback"));
            started(&att, request.json(&body)).await?
        }
        BootstrapCommand::Status { run: Some(id) } => {
            let run = att
                .success(att.get(&format!("/api/v1/bootstrap/runs/{id}")))
                .await?;
            print_run(&run);
            return Ok(run["result"]["success"] == true);
        }
        BootstrapCommand::Status { run: None } => {
            let body = att
                .success(att.get("/api/v1/bootstrap/runs?limit=20"))
                .await?;
            print_runs(&body);
            return Ok(true);
        }
        BootstrapCommand::Releases { target } => {
            let path = format!("/api/v1/bootstrap/releases?target={target}");
            print_releases(&att.success(att.get(&path)).await?);
            return Ok(true);
        }
    };
    follow(&att, &run).await
}

/// The body of `POST /runs` for `att bootstrap run` (only the options given).
fn run_request(command: &BootstrapCommand) -> Value {
    let BootstrapCommand::Run {
        target,
        release,
        rollback_to,
        watchdog_retries,
        watchdog_interval,
        health_interval,
        health_deadline,
        ..
    } = command
    else {
        return Value::Null;
    };
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
    body
}

/// Sends a request that starts a run; the run's id.
async fn started(att: &Att, request: reqwest::RequestBuilder) -> Result<String, String> {
    let body = att.success(request).await?;
    Ok(body["run_id"].as_str().unwrap_or_default().to_owned())
}

/// Follows run `id`: prints each phase as it changes (and the build's newest output lines)
/// until the run ends; whether its release went live.
async fn follow(att: &Att, id: &str) -> Result<bool, String> {
    println!("run {id}");
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    let mut build_seen = i64::MIN;
    let mut guarding_said = false;
    loop {
        let run = att
            .success(att.get(&format!("/api/v1/bootstrap/runs/{id}")))
            .await?;
        print_changed_phases(&run, &mut shown);
        if shown.get("build").is_some_and(|s| s == "running") {
            build_seen = print_build_output(att, id, build_seen).await;
        }
        if run["status"] == "guarding" && !guarding_said {
            guarding_said = true;
            println!(
                "guarding until {} (end early: POST /api/v1/bootstrap/runs/{id}/promote)",
                run["result"]["guard_until"].as_str().unwrap_or("?")
            );
        }
        if run["status"] != "running" && run["status"] != "guarding" {
            print_run_result(&run);
            return Ok(run["result"]["success"] == true);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Prints the phases whose status is not the one `shown` last, and records them.
fn print_changed_phases(run: &Value, shown: &mut BTreeMap<String, String>) {
    for p in run["phases"].as_array().into_iter().flatten() {
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
}

/// Prints the last line of each build-output event of run `id` newer than event `seen`, as
/// the pipeline reports them; the newest event id printed. Output is best effort: a failed
/// read prints nothing.
async fn print_build_output(att: &Att, id: &str, seen: i64) -> i64 {
    let path = format!("/api/v1/events?kind=bootstrap.build_output&correlation_id={id}");
    let Ok((status, events)) = att.send(att.get(&path)).await else {
        return seen;
    };
    if !status.is_success() {
        return seen;
    }
    let mut fresh: Vec<&Value> = events["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["id"].as_i64().is_some_and(|id| id > seen))
        .collect();
    fresh.sort_by_key(|e| e["id"].as_i64());
    let mut newest = seen;
    for e in fresh {
        newest = e["id"].as_i64().unwrap_or(newest);
        if let Some(line) = e["data"]["lines"].as_array().and_then(|l| l.last()) {
            println!("    | {}", line.as_str().unwrap_or_default());
        }
    }
    newest
}

/// The newest runs, one line each.
fn print_runs(body: &Value) {
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
}

/// A target's releases, one line each.
fn print_releases(body: &Value) {
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
