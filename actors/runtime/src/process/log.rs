//! A log file that rotates by size, where a child's stdout and stderr go line by line: what
//! `GET …/logs` pages through and what a failed build or release quotes from its tail.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

/// A log file that rotates by size: `name.log` is current, `name.log.1` … `name.log.N` older.
#[derive(Debug)]
pub struct RotatingLog {
    path: PathBuf,
    max_bytes: u64,
    keep: usize,
    state: Mutex<Option<(tokio::fs::File, u64)>>,
}

impl RotatingLog {
    /// A log at `path` rotated past `max_bytes`, keeping `keep` older files.
    pub fn new(path: impl Into<PathBuf>, max_bytes: u64, keep: usize) -> Self {
        Self {
            path: path.into(),
            max_bytes: max_bytes.max(1),
            keep,
            state: Mutex::new(None),
        }
    }

    /// The current file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rotated(&self, n: usize) -> PathBuf {
        let mut p = self.path.clone().into_os_string();
        p.push(format!(".{n}"));
        PathBuf::from(p)
    }

    /// Appends one line (a newline is added), rotating first when it would overflow.
    pub async fn append(&self, line: &str) -> std::io::Result<()> {
        let mut state = self.state.lock().await;
        if state.is_none() {
            if let Some(dir) = self.path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await?;
            let len = file.metadata().await?.len();
            *state = Some((file, len));
        }
        let Some((file, len)) = state.as_mut() else {
            return Ok(());
        };
        let bytes = line.len() as u64 + 1;
        if *len > 0 && *len + bytes > self.max_bytes {
            file.flush().await?;
            for n in (1..self.keep).rev() {
                let _ = tokio::fs::rename(self.rotated(n), self.rotated(n + 1)).await;
            }
            if self.keep > 0 {
                tokio::fs::rename(&self.path, self.rotated(1)).await?;
            }
            *file = tokio::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&self.path)
                .await?;
            *len = 0;
        }
        file.write_all(format!("{line}\n").as_bytes()).await?;
        *len += bytes;
        Ok(())
    }

    /// The last `n` lines, oldest first, across the current file and the rotated ones.
    pub async fn tail(&self, n: usize) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        let mut files = vec![self.path.clone()];
        files.extend((1..=self.keep).map(|i| self.rotated(i)));
        for file in files {
            if lines.len() >= n {
                break;
            }
            let Ok(text) = tokio::fs::read_to_string(&file).await else {
                continue;
            };
            let mut older: Vec<String> = text.lines().map(str::to_owned).collect();
            let want = n - lines.len();
            if older.len() > want {
                older.drain(..older.len() - want);
            }
            older.append(&mut lines);
            lines = older;
        }
        lines
    }
}
