//! `att keys …`: API keys of a running att — create (the key alone on stdout, so that
//! `KEY=$(att keys create ci --role operator)` works), list, revoke.

use std::process::ExitCode;

use serde_json::json;

use super::Att;
use crate::cli::{KeysArgs, KeysCommand};

/// Runs one `att keys` command.
pub async fn keys(args: KeysArgs) -> ExitCode {
    match execute(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("att: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(args: KeysArgs) -> Result<(), String> {
    let att = Att::new(&args.remote)?;
    match args.command {
        KeysCommand::Create {
            name,
            role,
            expires,
        } => {
            let body = json!({"name": name, "role": role, "expires_in": expires});
            let created = att.success(att.post("/api/v1/keys").json(&body)).await?;
            let key = created["key"]
                .as_str()
                .ok_or("att answered without a key")?;
            println!("{key}");
            eprintln!(
                "key `{name}` ({role}) created; it is shown only now{}",
                created["expires_at"]
                    .as_str()
                    .map(|e| format!(", valid until {e}"))
                    .unwrap_or_default()
            );
        }
        KeysCommand::List => {
            let body = att.success(att.get("/api/v1/keys")).await?;
            println!(
                "{:<24} {:<9} {:<14} {:<26} STATE",
                "NAME", "ROLE", "ID", "EXPIRES"
            );
            for k in body["keys"].as_array().into_iter().flatten() {
                let text = |f: &str| k[f].as_str().unwrap_or("-").to_owned();
                let state = if k["revoked_at"].is_string() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:<24} {:<9} {:<14} {:<26} {state}",
                    text("name"),
                    text("role"),
                    text("id"),
                    text("expires_at")
                );
            }
        }
        KeysCommand::Revoke { name } => {
            att.success(att.delete(&format!("/api/v1/keys/{name}")))
                .await?;
            println!("revoked `{name}`");
        }
    }
    Ok(())
}
