#!/usr/bin/env python3
"""Context switches per routed call: how often att's threads (and the upstream's) sleep and
wake for one call, at 1 caller — the kernel's share of a call that instruction counts
(`benches/instructions.py`) leave out.

A real `att serve` routes the bench's own client worker's calls (`echo`, keep-alive, one MCP
session) to an `att-mcp-fixture`; the voluntary and involuntary context switches of every
thread of both processes are read from `/proc/PID/task/*/status` before and after, per thread
name.

Needs release builds (`cargo bench --bench calls --no-run`):
    python3 benches/wakeups.py [--workers N] [--calls 2000] [--att /path/to/another/att]
`--workers` sets att's `TOKIO_WORKER_THREADS` (default: tokio's, one per core); `--att` runs
another build of att (a base, for a before/after) against the same fixture and client.
"""

import argparse
import glob
import json
import os
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")
PORT = 18955


def switches(pid):
    """Context switches so far of each thread name of `pid`, and their sum."""
    by_name = {}
    for task in glob.glob(f"/proc/{pid}/task/*"):
        try:
            name = open(os.path.join(task, "comm")).read().strip()
            status = open(os.path.join(task, "status")).read()
        except OSError:
            continue  # the thread ended
        n = sum(int(line.split()[1]) for line in status.splitlines()
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")))
        by_name[name] = by_name.get(name, 0) + n
    return sum(by_name.values()), by_name


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status


def until(what, ok):
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if ok():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what}: not within 60 s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", help="att's TOKIO_WORKER_THREADS")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--att", default=os.path.join(RELEASE, "att"), help="the att binary")
    a = parser.parse_args()
    workers = [p for p in glob.glob(os.path.join(RELEASE, "deps", "calls-*")) if not p.endswith(".d")]
    if not workers:
        raise SystemExit("no bench worker: run `cargo bench --bench calls --no-run` first")
    worker = max(workers, key=os.path.getmtime)
    env = dict(os.environ, ATT_LOG_LEVEL="error")
    if a.workers:
        env["TOKIO_WORKER_THREADS"] = a.workers
    fixture = subprocess.Popen([os.path.join(RELEASE, "att-mcp-fixture"), "--http", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    att = subprocess.Popen([a.att, "serve", "--listen", f"127.0.0.1:{PORT}",
                            "--data-dir", tempfile.mkdtemp(prefix="att-wakeups-")],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        upstream = fixture.stdout.readline().strip().split(" on ")[1]
        base = f"http://127.0.0.1:{PORT}"
        until("att registers the upstream",
              lambda: post(f"{base}/api/v1/mcp/servers", {"name": "fx", "url": upstream}) == 201)
        until("echo is routable", lambda: post(f"{base}/api/v1/mcp/invoke/tool",
                                               {"tool_name": "echo", "arguments": {"text": "x"}}) == 200)
        print(f"1 caller × {a.calls} calls, keep-alive; context switches per call "
              f"(att's TOKIO_WORKER_THREADS: {a.workers or 'default'})\n")
        print("| path | att | att's threads | the upstream |")
        print("|---|---|---|---|")
        for kind, url in (("mcp", f"{base}/mcp"), ("api", f"{base}/api/v1/mcp/invoke/tool")):
            w = subprocess.Popen([worker], env=dict(os.environ, BENCH_CALLS_WORKER=f"{url}|{kind}|1|{a.calls}|0"),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            if w.stdout.readline().strip() != "ready":
                raise SystemExit("the worker did not get ready")
            (att0, threads0), (up0, _) = switches(att.pid), switches(fixture.pid)
            w.stdin.write("go\n")
            w.stdin.flush()
            w.stdout.readline()
            (att1, threads1), (up1, _) = switches(att.pid), switches(fixture.pid)
            w.stdin.close()
            w.wait()
            per = lambda before, after: (after - before) / a.calls
            busy = ", ".join(f"{name} {per(threads0.get(name, 0), n):.2f}" for name, n in sorted(threads1.items())
                             if per(threads0.get(name, 0), n) >= 0.05)
            print(f"| /{kind} | {per(att0, att1):.2f} | {busy} | {per(up0, up1):.2f} |")
    finally:
        att.terminate()
        fixture.kill()
        att.wait(timeout=30)


if __name__ == "__main__":
    main()
