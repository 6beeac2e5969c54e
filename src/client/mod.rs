//! The `att` commands that talk to a running att over HTTP — `att mcp …` (`mcp`),
//! `att mcp stdio` (`stdio`: att's `/mcp` as a stdio server) and `att bootstrap …`
//! (`bootstrap`) — with readable output: a table for lists, pretty JSON
//! for results, the attempt trace when a call fails.
//!
//! Both speak through `Att`: one base URL, one optional token, and every answer read as
//! its status and its JSON body (an error body is the API's one shape, rendered by
//! `failure`).

mod bootstrap;
mod keys;
mod mcp;
mod stdio;

pub use bootstrap::bootstrap;
pub use keys::keys;
pub use mcp::run;
pub use stdio::stdio;

use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

/// A running att, as a command reaches it.
struct Att {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
}

/// The HTTP client of every command: the platform's roots plus `--ca-file`, presenting
/// `--client-cert`/`--client-key` to an att that asks for a client certificate. The files
/// are read and checked here, by the upstreams' code (`tls::client_config`); errors name
/// the flag.
fn http_client(remote: &crate::cli::Remote) -> Result<reqwest::Client, String> {
    let absolute = |flag: &str, path: &Option<std::path::PathBuf>| match path {
        Some(path) => std::path::absolute(path)
            .map(Some)
            .map_err(|e| format!("{flag} `{}`: {e}", path.display())),
        None => Ok(None),
    };
    if remote.client_cert.is_some() != remote.client_key.is_some() {
        return Err("--client-cert and --client-key go together: give both or neither".into());
    }
    let tls = att_gateway::upstream::tls::TlsSettings {
        ca_file: absolute("--ca-file", &remote.ca_file)?,
        client_cert: absolute("--client-cert", &remote.client_cert)?,
        client_key: absolute("--client-key", &remote.client_key)?,
        ..Default::default()
    };
    let config = att_gateway::upstream::tls::client_config(Some(&tls)).map_err(|e| {
        // `tls.ca_file` → `--ca-file`.
        let flag = e.field.trim_start_matches("tls.").replace('_', "-");
        format!("--{flag} {}", e.message)
    })?;
    reqwest::Client::builder()
        .tls_backend_preconfigured(config)
        // The audit log names the surface `cli` for these requests.
        .user_agent(format!(
            "{}{}",
            crate::auth::audit::CLI_AGENT,
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

impl Att {
    fn new(remote: &crate::cli::Remote) -> Result<Self, String> {
        Ok(Self {
            base: remote.att_url.trim_end_matches('/').to_owned(),
            token: remote.token.clone(),
            client: http_client(remote)?,
        })
    }

    /// The URL of `path` (from `/api/…`).
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.client.get(self.url(path))
    }

    fn post(&self, path: &str) -> RequestBuilder {
        self.client.post(self.url(path))
    }

    fn delete(&self, path: &str) -> RequestBuilder {
        self.client.delete(self.url(path))
    }

    /// Sends `req` with the token; the status and the JSON body (`null` when there is none).
    async fn send(&self, req: RequestBuilder) -> Result<(StatusCode, Value), String> {
        let req = match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        let r = req
            .send()
            .await
            .map_err(|e| format!("cannot reach att at {}: {e}", self.base))?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// Sends `req`; the body of a success, else the error text ([`failure`]).
    async fn success(&self, req: RequestBuilder) -> Result<Value, String> {
        let (status, body) = self.send(req).await?;
        if !status.is_success() {
            return Err(failure(status, &body));
        }
        Ok(body)
    }
}

/// The error text, with the attempt trace as a table when there is one.
fn failure(status: StatusCode, body: &Value) -> String {
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
