//! The test runner (WORKSPACE.md, "Test runner"): a project's test command run without a
//! shell, in the project directory, in a process group of its own, under a timeout that
//! kills the whole group (`returncode` 124, `timed_out`), its output kept (bounded) and
//! parsed — the partial output of a timed-out run too. Output is bounded twice: a line longer
//! than [`LINE_LIMIT`] is cut into lines of that length as it arrives (a program that never
//! prints a newline cannot grow one line without end), and only the last [`OUTPUT_LIMIT`]
//! bytes of lines are kept. The run's [`Identity`] is handed to the caller as soon as it
//! starts (to be recorded: a restarted att stops a run a killed one left behind with
//! [`att_runtime::process::stop_orphan`]); a run whose future is dropped takes its group with it.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::parse::{self, Counts, Runner};
use att_runtime::process::child::Program;
use att_runtime::process::{GroupGuard, Identity};

/// The output kept per run: its last bytes (the summary is at the end).
pub const OUTPUT_LIMIT: usize = 1024 * 1024;

/// The longest line kept whole; a longer one is cut into lines of this length.
pub const LINE_LIMIT: usize = 64 * 1024;

/// How a project's tests are run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCommand {
    /// The argument vector (no shell).
    pub argv: Vec<String>,
    /// Whose output it prints.
    pub runner: Runner,
    /// A JUnit XML report the command writes (relative to the project): read instead of the
    /// output when it is there after the run.
    #[serde(default)]
    pub junit: Option<String>,
    /// Extra environment variables for the run.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
}

impl TestCommand {
    /// What runs it in `root` with `filter` applied: its argv, colours off (the parsers read
    /// plain text), then its own environment.
    pub fn program(&self, root: &Path, filter: Option<&str>) -> Result<Program, RunError> {
        let argv = with_filter(self, filter)?;
        let program = Program::from_argv(&argv).ok_or(RunError::NoCommand)?;
        Ok(program
            .in_dir(root)
            .with_env([
                ("CARGO_TERM_COLOR", "never"),
                ("NO_COLOR", "1"),
                ("PY_COLORS", "0"),
            ])
            .with_env(self.env.clone()))
    }

    /// For `cargo` runs without a `CARGO_TARGET_DIR` of their own: builds go to `dir`, so a
    /// fresh checkout (a change's worktree, a CI clone) reuses the previous build.
    pub fn with_cargo_target(mut self, dir: &Path) -> Self {
        if self.argv.first().is_some_and(|p| p == "cargo") {
            self.env
                .entry("CARGO_TARGET_DIR".into())
                .or_insert_with(|| dir.display().to_string());
        }
        self
    }
}

/// The test command a project's files suggest, if any: `Cargo.toml` → `cargo test` (or
/// `cargo nextest run` with a `.config/nextest.toml`), pytest's files → `python3 -m pytest`,
/// `package.json` → `npm test`.
pub fn detect(root: &Path) -> Option<TestCommand> {
    let has = |f: &str| root.join(f).exists();
    let command = |argv: &[&str], runner| TestCommand {
        argv: argv.iter().map(|a| (*a).to_owned()).collect(),
        runner,
        junit: None,
        env: Default::default(),
    };
    if has("Cargo.toml") {
        return Some(if has(".config/nextest.toml") {
            command(&["cargo", "nextest", "run"], Runner::CargoNextest)
        } else {
            command(&["cargo", "test"], Runner::CargoTest)
        });
    }
    if [
        "pytest.ini",
        "pyproject.toml",
        "setup.cfg",
        "tox.ini",
        "conftest.py",
    ]
    .iter()
    .any(|f| has(f))
    {
        return Some(command(&["python3", "-m", "pytest"], Runner::Pytest));
    }
    if has("package.json") {
        return Some(command(&["npm", "test", "--silent"], Runner::Plain));
    }
    None
}

/// A test run's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestOutcome {
    /// What ran.
    pub command: Vec<String>,
    /// Whose output was parsed.
    pub runner: Runner,
    /// The exit code (128 + the signal when killed by one; 124 when timed out).
    pub returncode: i32,
    /// It ran out of time and its process group was killed.
    pub timed_out: bool,
    /// The counts read from its output (or its JUnit report).
    #[serde(flatten)]
    pub counts: Counts,
    /// Wall time.
    pub duration_seconds: f64,
    /// The last [`OUTPUT_LIMIT`] bytes of stdout and stderr, interleaved by line.
    pub output: String,
    /// Earlier output was dropped.
    pub output_truncated: bool,
}

/// Why a run did not happen (the caller's mistake, or the command could not start).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunError {
    /// The filter could be read as an option, or the runner takes none.
    #[error("{0}")]
    BadFilter(String),
    /// The command is empty.
    #[error("the test command is empty")]
    NoCommand,
    /// The program could not start.
    #[error("the test command `{0}` could not start: {1}")]
    Start(String, String),
}

/// The argument vector with `filter` added the way `runner` takes it (refused when the filter
/// could be read as an option, or the runner takes none).
pub fn with_filter(command: &TestCommand, filter: Option<&str>) -> Result<Vec<String>, RunError> {
    let mut argv = command.argv.clone();
    let Some(filter) = filter.filter(|f| !f.is_empty()) else {
        return Ok(argv);
    };
    if filter.starts_with('-') {
        return Err(RunError::BadFilter(format!(
            "the filter `{filter}` starts with `-`: it would be read as an option"
        )));
    }
    match command.runner {
        Runner::CargoTest | Runner::CargoNextest => argv.push(filter.to_owned()),
        Runner::Pytest => argv.extend(["-k".to_owned(), filter.to_owned()]),
        Runner::Junit | Runner::Plain => {
            return Err(RunError::BadFilter(
                "this project's test command takes no filter".into(),
            ));
        }
    }
    Ok(argv)
}

/// Output lines, the oldest dropped beyond [`OUTPUT_LIMIT`] bytes.
#[derive(Default)]
struct Captured {
    text: std::collections::VecDeque<String>,
    bytes: usize,
    truncated: bool,
    /// Dropped lines that carry a per-binary summary (`test result: …`): a long cargo run
    /// prints one per test binary, and the counts need all of them.
    summaries: Vec<String>,
}

impl Captured {
    fn push(&mut self, line: String) {
        self.bytes += line.len() + 1;
        self.text.push_back(line);
        while self.bytes > OUTPUT_LIMIT {
            match self.text.pop_front() {
                Some(old) => {
                    self.bytes -= old.len() + 1;
                    self.truncated = true;
                    if old.contains("test result:") {
                        self.summaries.push(old);
                    }
                }
                None => break,
            }
        }
    }
}

/// Splits a byte stream into lines of at most [`LINE_LIMIT`] bytes (cut at a character
/// boundary when one is near), decoded leniently (a stray invalid byte must not stop the
/// reading, or the child would block on a full pipe).
#[derive(Default)]
struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// Takes `bytes`; answers the lines they complete.
    fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            let (body, ended) = match chunk.strip_suffix(b"\n") {
                Some(body) => (body, true),
                None => (chunk, false),
            };
            let mut body = body;
            while self.pending.len() + body.len() > LINE_LIMIT {
                let room = LINE_LIMIT - self.pending.len();
                let cut = char_boundary(body, room);
                self.pending.extend_from_slice(&body[..cut]);
                lines.push(self.take());
                body = &body[cut..];
            }
            self.pending.extend_from_slice(body);
            if ended {
                lines.push(self.take());
            }
        }
        lines
    }

    /// The last line, unterminated, if any.
    fn finish(mut self) -> Option<String> {
        (!self.pending.is_empty()).then(|| self.take())
    }

    fn take(&mut self) -> String {
        let line = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        line
    }
}

/// Where to cut `bytes` at or before `at` without splitting a UTF-8 character (at `at` when
/// no boundary is within a character's length: not UTF-8 there anyway).
fn char_boundary(bytes: &[u8], at: usize) -> usize {
    let at = at.min(bytes.len());
    (at.saturating_sub(3)..=at)
        .rev()
        .find(|&i| i == bytes.len() || (bytes[i] & 0xC0) != 0x80)
        .unwrap_or(at)
}

/// Reads `stream` to its end, line by line ([`LineSplitter`]), telling `sink` and keeping
/// each line in `captured`.
async fn capture(
    mut stream: Box<dyn AsyncRead + Send + Unpin>,
    captured: Arc<Mutex<Captured>>,
    sink: Option<LineSink>,
) {
    let mut splitter = LineSplitter::default();
    let mut buf = vec![0u8; 16 * 1024];
    let keep = |line: String| {
        if let Some(sink) = &sink {
            sink(&line);
        }
        captured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    };
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => splitter.feed(&buf[..n]).into_iter().for_each(&keep),
        }
    }
    if let Some(last) = splitter.finish() {
        keep(last);
    }
}

/// Hears each output line of a run as it comes (for progress).
pub type LineSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Runs `command` (with `filter`) in `root` under `timeout`.
pub async fn run(
    root: &Path,
    command: &TestCommand,
    filter: Option<&str>,
    timeout: Duration,
) -> Result<TestOutcome, RunError> {
    run_with(root, command, filter, timeout, None, None).await
}

/// Hears who the run is (its pid leads the run's process group) once it has started.
pub type Started = Box<dyn FnOnce(Identity) + Send>;

/// [`run`], telling `lines` each output line as it comes and `on_start` who the run is.
pub async fn run_with(
    root: &Path,
    command: &TestCommand,
    filter: Option<&str>,
    timeout: Duration,
    lines: Option<LineSink>,
    on_start: Option<Started>,
) -> Result<TestOutcome, RunError> {
    let program = command.program(root, filter)?;
    let started = Instant::now();
    let instance = att_runtime::process::new_instance();
    let mut child = program
        .command(&instance)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| RunError::Start(program.program.clone(), e.to_string()))?;
    let group = child.id().map(|pid| {
        if let Some(tell) = on_start {
            tell(Identity::of(pid, &instance));
        }
        GroupGuard::new(pid)
    });
    let kill_group = || {
        if let Some(g) = &group {
            g.kill();
        }
    };
    let captured = Arc::new(Mutex::new(Captured::default()));
    let readers = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
    ]
    .into_iter()
    .flatten()
    .map(|stream| tokio::spawn(capture(stream, captured.clone(), lines.clone())))
    .collect::<Vec<_>>();
    let (returncode, timed_out) = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => {
            use std::os::unix::process::ExitStatusExt;
            let code = status.ok().map_or(-1, |s| {
                s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
            });
            (code, false)
        }
        Err(_) => {
            kill_group();
            let _ = child.wait().await;
            (124, true)
        }
    };
    // Whatever the run left behind in its group goes too, so the pipes close.
    kill_group();
    for reader in readers {
        let _ = tokio::time::timeout(Duration::from_secs(2), reader).await;
    }
    let (output, output_truncated, parsed) = {
        let c = captured.lock().unwrap_or_else(|p| p.into_inner());
        let text: Vec<&str> = c.text.iter().map(String::as_str).collect();
        let output = text.join("\n");
        let mut parsed = c.summaries.join("\n");
        if !parsed.is_empty() {
            parsed.push('\n');
        }
        parsed.push_str(&output);
        (output, c.truncated, parsed)
    };
    let report = match command.junit.clone() {
        Some(path) => {
            let root = root.to_owned();
            tokio::task::spawn_blocking(move || read_report(&root, &path))
                .await
                .ok()
                .flatten()
        }
        None => None,
    };
    let (runner, counts) = match report {
        Some(xml) => (Runner::Junit, parse::parse_junit(&xml)),
        None => (command.runner, parse::parse(command.runner, &parsed)),
    };
    Ok(TestOutcome {
        command: program.argv(),
        runner,
        returncode,
        timed_out,
        counts,
        duration_seconds: started.elapsed().as_secs_f64(),
        output,
        output_truncated,
    })
}

/// The largest JUnit report read; a bigger one is not used (the output is parsed instead).
const REPORT_LIMIT: usize = 64 * 1024 * 1024;

/// The JUnit report at `path` in the project, when it is a whole regular text file (read like
/// any caller's path: contained, through the open root, never a FIFO).
fn read_report(root: &Path, path: &str) -> Option<String> {
    let report = crate::code::read(root, path, REPORT_LIMIT).ok()?;
    (!report.truncated).then_some(report.content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, runner: Runner) -> TestCommand {
        TestCommand {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            runner,
            junit: None,
            env: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_plain_run_is_parsed_and_its_exit_code_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let c = sh("echo 'Tests: 3 passed, 1 failed'; exit 1", Runner::Plain);
        let r = run(dir.path(), &c, None, Duration::from_secs(30))
            .await
            .expect("run");
        assert_eq!((r.returncode, r.timed_out), (1, false));
        assert_eq!((r.counts.passed, r.counts.failed), (3, 1), "{r:?}");
        assert!(r.output.contains("3 passed"));
    }

    #[tokio::test]
    async fn a_timeout_kills_the_group_and_keeps_the_partial_output() {
        let dir = tempfile::tempdir().expect("dir");
        let marker = dir.path().join("grandchild.pid");
        let script = format!(
            "sleep 60 & echo $! > {}; echo '2 passed, 1 failed'; wait",
            marker.display()
        );
        let r = run(
            dir.path(),
            &sh(&script, Runner::Plain),
            None,
            Duration::from_millis(500),
        )
        .await
        .expect("run");
        assert_eq!((r.returncode, r.timed_out), (124, true));
        assert_eq!((r.counts.passed, r.counts.failed), (2, 1), "{r:?}");
        let pid: u32 = std::fs::read_to_string(&marker)
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid");
        // The grandchild dies with its group (reaped by init: at most a zombie remains).
        assert!(
            att_runtime::process::wait_gone(pid, Duration::from_secs(10)).await,
            "the grandchild {pid} outlived the run"
        );
    }

    #[tokio::test]
    async fn output_without_newlines_is_cut_into_bounded_lines_and_the_cut_is_said() {
        let dir = tempfile::tempdir().expect("dir");
        let c = sh("head -c 5000000 /dev/zero | tr '\\0' a", Runner::Plain);
        let r = run(dir.path(), &c, None, Duration::from_secs(60))
            .await
            .expect("run");
        assert_eq!(
            (r.returncode, r.timed_out),
            (0, false),
            "{}",
            r.output.len()
        );
        assert!(r.output_truncated, "the run says its output was cut");
        assert!(r.output.len() <= OUTPUT_LIMIT, "{}", r.output.len());
        // The newest output is kept, in lines no longer than the line limit.
        assert!(
            r.output.len() >= OUTPUT_LIMIT - LINE_LIMIT,
            "{}",
            r.output.len()
        );
        assert!(r.output.lines().all(|l| l.len() <= LINE_LIMIT));
        assert!(r.output.chars().all(|c| c == 'a' || c == '\n'));
    }

    #[test]
    fn long_lines_are_cut_at_character_boundaries_and_bad_bytes_do_not_stop_the_reading() {
        let mut s = LineSplitter::default();
        let mut lines = s.feed(b"one\ntw");
        lines.extend(s.feed(b"o\n\xff\xfe bad\n"));
        assert_eq!(lines, ["one", "two", "\u{fffd}\u{fffd} bad"]);
        // A 3-byte character straddling the limit goes whole to the next line.
        let mut long = vec![b'x'; LINE_LIMIT - 1];
        long.extend("€€".as_bytes());
        let lines = s.feed(&long);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].len(), LINE_LIMIT - 1);
        assert_eq!(s.finish().as_deref(), Some("€€"));
    }

    #[tokio::test]
    async fn filters_that_look_like_options_are_refused_and_missing_programs_reported() {
        let dir = tempfile::tempdir().expect("dir");
        let cargo = TestCommand {
            argv: vec!["cargo".into(), "test".into()],
            runner: Runner::CargoTest,
            junit: None,
            env: Default::default(),
        };
        let e = run(
            dir.path(),
            &cargo,
            Some("--exec=rm"),
            Duration::from_secs(5),
        )
        .await
        .expect_err("option-like filter");
        assert!(matches!(e, RunError::BadFilter(_)), "{e}");
        assert_eq!(
            with_filter(&cargo, Some("parser")).expect("argv"),
            ["cargo", "test", "parser"]
        );
        let pytest = TestCommand {
            argv: vec!["python3".into(), "-m".into(), "pytest".into()],
            runner: Runner::Pytest,
            junit: None,
            env: Default::default(),
        };
        assert_eq!(
            with_filter(&pytest, Some("slow")).expect("argv"),
            ["python3", "-m", "pytest", "-k", "slow"]
        );
        let missing = TestCommand {
            argv: vec!["/nonexistent/runner".into()],
            runner: Runner::Plain,
            junit: None,
            env: Default::default(),
        };
        let e = run(dir.path(), &missing, None, Duration::from_secs(5))
            .await
            .expect_err("missing program");
        assert!(e.to_string().contains("could not start"), "{e}");
    }

    #[tokio::test]
    async fn a_real_cargo_crate_is_detected_run_and_counted() {
        let dir = tempfile::tempdir().expect("dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("src")).expect("src");
        std::fs::write(
            root.join("Cargo.toml"),
            "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n[workspace]\n",
        )
        .expect("manifest");
        std::fs::write(
            root.join("src/lib.rs"),
            "#[cfg(test)] mod t {\n #[test] fn a() {}\n #[test] fn b() {}\n #[test] fn c() { assert_eq!(1, 2) }\n #[test] #[ignore] fn d() {}\n}\n",
        )
        .expect("lib");
        let command = detect(root).expect("detected");
        assert_eq!(command.argv, ["cargo", "test"]);
        let r = run(root, &command, None, Duration::from_secs(300))
            .await
            .expect("run");
        assert_ne!(r.returncode, 0, "{}", r.output);
        assert_eq!(
            (r.counts.passed, r.counts.failed, r.counts.skipped),
            (2, 1, 1),
            "{}",
            r.output
        );
        let r = run(root, &command, Some("a"), Duration::from_secs(300))
            .await
            .expect("run");
        assert_eq!((r.returncode, r.counts.passed, r.counts.failed), (0, 1, 0));
    }

    #[tokio::test]
    async fn a_command_gets_its_environment_and_cargo_a_shared_target_dir() {
        let dir = tempfile::tempdir().expect("dir");
        let mut c = sh("echo \"$COUNT passed, 0 failed\"", Runner::Plain);
        c.env.insert("COUNT".into(), "4".into());
        let r = run(dir.path(), &c, None, Duration::from_secs(30))
            .await
            .expect("run");
        assert_eq!(r.counts.passed, 4, "{r:?}");
        let target = dir.path().join("target");
        assert!(
            !c.clone()
                .with_cargo_target(&target)
                .env
                .contains_key("CARGO_TARGET_DIR")
        );
        let cargo = detect_cargo();
        let shared = cargo.clone().with_cargo_target(&target);
        assert_eq!(
            shared.env.get("CARGO_TARGET_DIR").map(String::as_str),
            Some(target.to_str().expect("utf-8"))
        );
        let mut own = cargo;
        own.env.insert("CARGO_TARGET_DIR".into(), "/mine".into());
        assert_eq!(
            own.with_cargo_target(&target).env["CARGO_TARGET_DIR"],
            "/mine"
        );
    }

    fn detect_cargo() -> TestCommand {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("Cargo.toml"), "[package]\n").expect("toml");
        detect(dir.path()).expect("cargo")
    }
}
