//! The `self` target's side of `att launch`: the control protocol between a running att and
//! the launcher that runs it (BOOTSTRAP.md, "Self-upgrade").
//!
//! One request per connection on the launcher's Unix socket: a JSON line in, a JSON line
//! out. A run for `self` asks the launcher to `start` the new release beside the running one
//! (the candidate: it has its own probe listener and does not serve the shared socket yet),
//! to `watch` it, and — once the health gate passed against its probe address — to `promote`
//! it (it starts accepting on the shared socket, the old att is stopped gracefully, then the
//! candidate starts the services and concludes runs) or to `abort` it (the old one serves on).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A request to the launcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Start `program` as the candidate for release `release`.
    Start {
        /// The att binary of the release.
        program: String,
        /// The release id.
        release: String,
    },
    /// The candidate must stay up for `probes` probes `interval_ms` apart.
    Watch {
        /// Probes.
        probes: u32,
        /// Between probes.
        interval_ms: u64,
    },
    /// Switch to the candidate.
    Promote,
    /// Stop the candidate; the running att serves on.
    Abort,
}

/// The launcher's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Reply {
    /// Whether the request did what it asked.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `start`: the candidate's pid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// `start`: the candidate's probe address (`127.0.0.1:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probe: Option<String>,
    /// `watch`: `runtime_healthy`, or how the candidate ended (`process_exited:3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Reply {
    /// A success.
    pub fn ok() -> Self {
        Self {
            ok: true,
            ..Self::default()
        }
    }

    /// A refusal.
    pub fn error(why: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(why.into()),
            ..Self::default()
        }
    }
}

/// The launcher as seen from the att it runs.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// Its control socket.
    pub control: PathBuf,
    /// The release this att runs (`None`: the binary the launcher started first).
    pub release: Option<String>,
}

impl Launcher {
    /// Sends `request`; waits up to `limit` for the answer.
    pub async fn call(&self, request: &Request, limit: Duration) -> Result<Reply, String> {
        tokio::time::timeout(limit, call(&self.control, request))
            .await
            .map_err(|_| "the launcher did not answer in time".to_owned())?
    }
}

async fn call(control: &Path, request: &Request) -> Result<Reply, String> {
    let why = |e: std::io::Error| format!("the launcher at `{}`: {e}", control.display());
    let mut stream = tokio::net::UnixStream::connect(control)
        .await
        .map_err(why)?;
    let mut line = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    line.push(b'\n');
    stream.write_all(&line).await.map_err(why)?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .await
        .map_err(why)?;
    serde_json::from_str(&answer).map_err(|e| {
        format!(
            "the launcher's answer `{}` is not valid: {e}",
            answer.trim()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_json_lines() {
        let r = Request::Start {
            program: "/a/att".into(),
            release: "abc".into(),
        };
        let text = serde_json::to_string(&r).expect("json");
        assert_eq!(text, r#"{"op":"start","program":"/a/att","release":"abc"}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).expect("back"), r);
        let bad = serde_json::from_str::<Request>(r#"{"op":"reboot"}"#);
        assert!(bad.is_err());
    }
}
