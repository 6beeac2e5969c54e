//! The routed call against its physical cost, measured the way MCP clients call: the same
//! `tools/call` (fixture `echo`) made directly to an `att-mcp-fixture` process and through a
//! real `att serve` process (its `/mcp`, and `POST /api/v1/mcp/invoke/tool`), in one run.
//!
//! Three kinds of process, each measured on its own: the clients (this bench binary started
//! again as workers, so the client is not the limit: 1 process at 1 caller, 4 at 32 callers),
//! att, and the upstream. Every caller has its own HTTP client and, on MCP paths, its own
//! session (initialize once, then calls), as the official SDK clients do. Per run: p50 and p99
//! latency over all calls, calls/s, and the CPU per call of each process (utime + stime from
//! `/proc/PID/stat`, read while the workers wait before and after their calls).
//!
//! Table 1: keep-alive clients (one connection per caller). Table 2: a new connection per
//! call (the old `benches/gateway.rs` client's way). Then the ratios, direct vs att.
//!
//! Run: `cargo bench --bench calls` (numbers go to todo/perf.md). `BENCH_ROUNDS` (default 2),
//! `BENCH_CALLS` (calls per caller at 1 caller, default 2000; at 32 callers a tenth),
//! `BENCH_KEEPALIVE_ONLY=1` (table 1 alone), `BENCH_ATT_BASE=/path/to/an/older/att` (a second
//! att process from that binary, routing to the same upstream: its paths are measured in the
//! same rounds, marked `(base)`, for a before/after in one run), `BENCH_ONLY_32=1` (skip the
//! 1-caller rows), `BENCH_ONLY_PATH=/api` or `/mcp` (the direct path and att's paths through
//! that door alone: a profile of att then sees one kind of call), `BENCH_CLIENT=/path/to/python`
//! (the client workers are `benches/calls_client.py` on that python, which needs httpx: the
//! neutral client the issue measured with — Python, httpx, keep-alive, a session per caller).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

#[path = "common/caller.rs"]
mod caller;

use caller::{Caller, Kind};

/// When set, this process is a client worker: `URL|KIND|CALLERS|CALLS|FRESH`.
const WORKER: &str = "BENCH_CALLS_WORKER";

fn main() {
    att_gateway::upstream::tls::install_crypto_provider();
    if let Ok(spec) = std::env::var(WORKER) {
        worker(&spec);
        return;
    }
    coordinator();
}

// ---- the client worker ------------------------------------------------------------------

/// Opens the callers, warms them, says `ready`, waits for a line, makes the calls, prints
/// `done ELAPSED_US LAT_US…`, then waits for stdin to close (so its CPU can be read).
fn worker(spec: &str) {
    let parts: Vec<&str> = spec.split('|').collect();
    let [url, kind, callers, calls, fresh] = parts[..] else {
        panic!("bad worker spec {spec}")
    };
    let kind = if kind == "api" { Kind::Api } else { Kind::Mcp };
    let (callers, calls): (usize, usize) = (
        callers.parse().expect("callers"),
        calls.parse().expect("calls"),
    );
    let fresh = fresh == "1";
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let set: Vec<Caller> = rt.block_on(async {
        let mut set = Vec::with_capacity(callers);
        for _ in 0..callers {
            let c = Caller::open(url, kind, fresh).await;
            for i in 0..5 {
                c.call(i).await;
            }
            set.push(c);
        }
        set
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").expect("stdout");
    out.flush().expect("stdout");
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    stdin.read_line(&mut line).expect("go");
    let start = Instant::now();
    let lat: Vec<u32> = rt.block_on(async {
        let tasks = set.iter().map(|c| async move {
            let mut lat = Vec::with_capacity(calls);
            for i in 0..calls {
                let t = Instant::now();
                c.call(100 + i as u64).await;
                lat.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            lat
        });
        futures_util::future::join_all(tasks)
            .await
            .into_iter()
            .flatten()
            .collect()
    });
    let elapsed = start.elapsed().as_micros();
    let mut text = format!("done {elapsed}");
    for l in lat {
        text.push(' ');
        text.push_str(&l.to_string());
    }
    writeln!(out, "{text}").expect("stdout");
    out.flush().expect("stdout");
    line.clear();
    let _ = stdin.read_line(&mut line);
}

// ---- the coordinator --------------------------------------------------------------------

/// CPU time (utime + stime) of `pid` so far, in µs.
fn cpu_micros(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // Fields after the command name (which may hold spaces) start at state (field 3).
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap_or(100);
    ticks * 1_000_000 / hz
}

/// Starts `cmd`, returns it and the URL it prints on its first stdout line (last word).
fn start(cmd: &mut Command) -> (Child, String) {
    let mut child = cmd.stdout(Stdio::piped()).spawn().expect("starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("prints its address");
    let url = line.trim().rsplit(' ').next().expect("url").to_owned();
    (child, url)
}

/// What one configuration measured.
struct Run {
    p50: f64,
    p99: f64,
    per_sec: f64,
    /// CPU per call in µs: clients (all workers), att, upstream.
    cpu: [f64; 3],
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<std::process::ChildStdout>,
}

/// `callers` callers over `processes` worker processes, `calls` each, to `url`.
fn measure(
    url: &str,
    kind: Kind,
    callers: usize,
    calls: usize,
    fresh: bool,
    att: u32,
    upstream: u32,
) -> Run {
    let processes = if callers == 1 { 1 } else { 4 };
    let kind_s = if kind == Kind::Api { "api" } else { "mcp" };
    let mut workers: Vec<Worker> = (0..processes)
        .map(|_| {
            let spec = format!(
                "{url}|{kind_s}|{}|{calls}|{}",
                callers / processes,
                u8::from(fresh)
            );
            let mut child = client_command()
                .env(WORKER, spec)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("worker");
            let stdin = child.stdin.take().expect("stdin");
            let stdout = BufReader::new(child.stdout.take().expect("stdout"));
            Worker {
                child,
                stdin,
                stdout,
            }
        })
        .collect();
    for w in &mut workers {
        let mut line = String::new();
        w.stdout.read_line(&mut line).expect("ready");
        assert_eq!(line.trim(), "ready", "worker said {line:?}");
    }
    let clients = |ws: &[Worker]| ws.iter().map(|w| cpu_micros(w.child.id())).sum::<u64>();
    let before = [clients(&workers), cpu_micros(att), cpu_micros(upstream)];
    for w in &mut workers {
        writeln!(w.stdin, "go").expect("go");
        w.stdin.flush().expect("go");
    }
    let mut lat: Vec<u32> = Vec::with_capacity(callers * calls);
    let mut slowest = 0u128;
    for w in &mut workers {
        let mut line = String::new();
        w.stdout.read_line(&mut line).expect("done");
        let mut words = line.split_whitespace();
        assert_eq!(words.next(), Some("done"), "worker said {line:?}");
        slowest = slowest.max(words.next().and_then(|e| e.parse().ok()).expect("elapsed"));
        lat.extend(words.map(|l| l.parse::<u32>().expect("latency")));
    }
    let after = [clients(&workers), cpu_micros(att), cpu_micros(upstream)];
    for mut w in workers {
        drop(w.stdin);
        let _ = w.child.wait();
    }
    lat.sort_unstable();
    let n = lat.len();
    let pct = |p: usize| f64::from(lat[(n * p / 100).min(n - 1)]);
    let per_call = |i: usize| (after[i] - before[i]) as f64 / n as f64;
    Run {
        p50: pct(50),
        p99: pct(99),
        per_sec: n as f64 / (slowest as f64 / 1e6),
        cpu: [per_call(0), per_call(1), per_call(2)],
    }
}

/// A client worker: this binary again, or with `BENCH_CLIENT=/path/to/python` the neutral
/// Python client (`benches/calls_client.py`: httpx, as the issue measured).
fn client_command() -> Command {
    match std::env::var_os("BENCH_CLIENT") {
        Some(python) => {
            let mut c = Command::new(python);
            c.arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/benches/calls_client.py"
            ));
            c
        }
        None => Command::new(std::env::current_exe().expect("exe")),
    }
}

fn coordinator() {
    let rounds: usize = env_or("BENCH_ROUNDS", 2);
    let calls: usize = env_or("BENCH_CALLS", 2000);
    let (mut fixture, direct) = start(
        Command::new(env!("CARGO_BIN_EXE_att-mcp-fixture"))
            .stderr(Stdio::null())
            .args(["--http", "127.0.0.1:0", "--name", "fx"]),
    );
    let data = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let base = std::env::var_os("BENCH_ATT_BASE");
    let mut atts: Vec<(Child, String, &str)> = Vec::new();
    for (i, (binary, label)) in [
        (
            Some(std::ffi::OsString::from(env!("CARGO_BIN_EXE_att"))),
            "",
        ),
        (base, " (base)"),
    ]
    .into_iter()
    .enumerate()
    {
        let Some(binary) = binary else { continue };
        let (att, att_url) = start(
            Command::new(binary)
                .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
                .arg(data.path().join(format!("data{i}")))
                .env("ATT_LOG_LEVEL", "error"),
        );
        rt.block_on(register(&att_url, &direct));
        atts.push((att, att_url, label));
    }
    let fx_pid = fixture.id();
    // (name, url, kind, the att process on the path)
    let mut paths = vec![("direct".to_owned(), direct.clone(), Kind::Mcp, 0)];
    for (att, url, label) in &atts {
        paths.push((
            format!("att /mcp{label}"),
            format!("{url}/mcp"),
            Kind::Mcp,
            att.id(),
        ));
        paths.push((
            format!("att /api{label}"),
            format!("{url}/api/v1/mcp/invoke/tool"),
            Kind::Api,
            att.id(),
        ));
    }
    if let Ok(door) = std::env::var("BENCH_ONLY_PATH") {
        paths.retain(|(name, ..)| name == "direct" || name.contains(door.as_str()));
    }
    let only_32 = std::env::var_os("BENCH_ONLY_32").is_some();
    println!("Other processes may share the machine; CPU per call does not depend on that.");
    match std::env::var_os("BENCH_CLIENT") {
        Some(python) => println!(
            "Clients: benches/calls_client.py on {} (httpx).",
            python.to_string_lossy()
        ),
        None => println!("Clients: this bench's own Rust workers (reqwest)."),
    }
    let tables = [
        (false, "keep-alive clients, one MCP session per caller"),
        (true, "a new connection per call"),
    ];
    // `BENCH_KEEPALIVE_ONLY=1`: the first table alone (for a profile).
    let only_first = std::env::var_os("BENCH_KEEPALIVE_ONLY").is_some();
    for (fresh, title) in tables.into_iter().take(if only_first { 1 } else { 2 }) {
        println!("\n### {title}\n");
        println!(
            "| round | callers | path | p50 µs | p99 µs | calls/s | client CPU µs/call | att CPU µs/call | upstream CPU µs/call |"
        );
        println!("|---|---|---|---|---|---|---|---|---|");
        let mut ratios = Vec::new();
        for round in 1..=rounds {
            for callers in [1usize, 32] {
                if only_32 && callers == 1 {
                    continue;
                }
                let per_caller = if callers == 1 {
                    calls
                } else {
                    (calls / 10).max(10)
                };
                let runs: Vec<Run> = paths
                    .iter()
                    .map(|(name, url, kind, att_pid)| {
                        // The direct path's "att" is the first att, idle meanwhile.
                        let att_pid = if *att_pid == 0 { atts[0].0.id() } else { *att_pid };
                        let r = measure(url, *kind, callers, per_caller, fresh, att_pid, fx_pid);
                        println!(
                            "| {round} | {callers} | {name} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} | {:.1} |",
                            r.p50, r.p99, r.per_sec, r.cpu[0], r.cpu[1], r.cpu[2]
                        );
                        r
                    })
                    .collect();
                ratios.push((round, callers, runs));
            }
        }
        println!(
            "\nRatios against direct in the same round (issue 17 targets: att CPU ≤ 2× upstream's per direct call; 1 caller adds ≤ 0.5 direct p50s; 32 callers ≥ 70% of direct calls/s, p99 ≤ 2× direct):\n"
        );
        println!(
            "| round | callers | path | att CPU ÷ upstream CPU (direct) | adds × direct p50 | calls/s vs direct | p99 ÷ direct p99 |"
        );
        println!("|---|---|---|---|---|---|---|");
        for (round, callers, runs) in &ratios {
            let d = &runs[0];
            for (i, r) in runs.iter().enumerate().skip(1) {
                println!(
                    "| {round} | {callers} | {} | {:.2} | {:.2} | {:.0}% | {:.2} |",
                    paths[i].0,
                    r.cpu[1] / d.cpu[2],
                    (r.p50 - d.p50) / d.p50,
                    100.0 * r.per_sec / d.per_sec,
                    r.p99 / d.p99
                );
            }
        }
    }
    for (mut att, _, _) in atts {
        // SAFETY: SIGTERM to an att process this bench started.
        unsafe {
            libc::kill(att.id() as i32, libc::SIGTERM);
        }
        let _ = att.wait();
    }
    let _ = fixture.kill();
    let _ = fixture.wait();
}

/// Registers the upstream `direct` with the att at `att_url` and waits until `echo` routes.
async fn register(att_url: &str, direct: &str) {
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{att_url}/api/v1/mcp/servers"))
        .json(&json!({"name": "fx", "url": direct}))
        .send()
        .await
        .expect("register");
    assert_eq!(r.status(), 201);
    for attempt in 0.. {
        let r = http
            .post(format!("{att_url}/api/v1/mcp/invoke/tool"))
            .json(&json!({"tool_name": "echo", "arguments": {"text": "x"}}))
            .send()
            .await
            .expect("invoke");
        if r.status() == 200 {
            break;
        }
        assert!(attempt < 500, "echo never became routable: {}", r.status());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
