"""Memory per idle MCP session: RSS of a real `att serve` and of an `att-mcp-fixture` (rmcp's
server, the baseline) before and after N clients each open a session (initialize +
initialized) and go idle. The same measurement as `benches/memory.rs`'s second table, without
a Rust build: it drives already-built binaries.

    python3 benches/idle_sessions.py ATT_BINARY FIXTURE_BINARY [N=10000]

`BENCH_WRAP` runs att under a profiler, e.g. `BENCH_WRAP="heaptrack -o /tmp/att-sessions"`
(`heaptrack_print` then names the allocations the sessions hold: see todo/perf.md). The
numbers with a profiler attached are not the table's.
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time


def start(argv, env=None):
    # A process group of its own: stopping it stops a profiler's child too.
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
                         start_new_session=True)
    # The first line naming a URL (a profiler may print lines of its own first).
    line = ""
    while "http://" not in line:
        line = p.stdout.readline()
        if not line:
            raise SystemExit(f"{argv[0]} exited before it listened")
    url = line.strip().rsplit(" ", 1)[-1]
    return p, url


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def open_sessions(url, n):
    host, _, path = url.removeprefix("http://").partition("/")
    conn = http.client.HTTPConnection(host)
    init = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "idle", "version": "0"}}})
    note = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})
    head = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    for _ in range(n):
        conn.request("POST", "/" + path, init, head)
        r = conn.getresponse()
        sid = r.getheader("mcp-session-id")
        r.read()
        assert r.status == 200 and sid, (r.status, sid)
        conn.request("POST", "/" + path, note, {**head, "mcp-session-id": sid, "mcp-protocol-version": "2025-11-25"})
        r = conn.getresponse()
        r.read()
        assert r.status < 300, r.status


def main():
    att_bin, fixture_bin = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    env = {**os.environ, "ATT_LOG_LEVEL": "error", "ATT_HTTP__MCP_MAX_SESSIONS": "100000",
           "ATT_HTTP__MCP_MAX_SESSIONS_PER_CLIENT": "100000", "ATT_HTTP__MCP_MAX_SESSIONS_PER_PRINCIPAL": "100000",
           "ATT_HTTP__MAX_CONNECTIONS": "4096"}
    with tempfile.TemporaryDirectory() as d:
        fixture, fx_url = start([fixture_bin, "--http", "127.0.0.1:0", "--name", "idle"])
        wrap = os.environ.get("BENCH_WRAP", "").split()
        att, att_url = start(wrap + [att_bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", d + "/data"], env)
        try:
            time.sleep(1)
            rows = []
            for name, proc, url in (("att /mcp", att, att_url + "/mcp"), ("fixture (rmcp server, baseline)", fixture, fx_url)):
                before = rss_kib(proc.pid)
                open_sessions(url, n)
                time.sleep(2)
                after = rss_kib(proc.pid)
                rows.append((name, before, after, (after - before) / n))
            print(f"| server | RSS before KiB | RSS with {n} idle sessions KiB | per session KiB |")
            print("|---|---|---|---|")
            for name, b, a, per in rows:
                print(f"| {name} | {b} | {a} | {per:.1f} |")
        finally:
            os.killpg(att.pid, signal.SIGTERM)
            fixture.kill()
            att.wait()
            fixture.wait()


if __name__ == "__main__":
    main()
