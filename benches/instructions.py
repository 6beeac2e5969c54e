#!/usr/bin/env python3
"""Instructions per routed call, counted by callgrind: att's per `/api` and `/mcp` call against
the upstream's per direct call, the same calls as `cargo bench --bench calls` makes.

CPU time per call on a shared 2-core machine moves by ±15% from one round to the next; the
instructions a process executes for the same calls do not (callgrind counts them, whatever
else the machine does), so a change of a few percent shows here when the timed bench cannot
tell it from noise. It counts user-space instructions only: the kernel's share (wake-ups,
sockets) is the timed bench's to show.

Each process runs under `valgrind --tool=callgrind`; its counters are zeroed once the bench's
client worker has opened and warmed its callers (`callgrind_control -z`), so the count is the
calls' alone, and written when the process ends (SIGTERM).

Needs release builds of att, the fixture and the bench's worker:
    cargo bench --bench calls --no-run
    python3 benches/instructions.py [--base /path/to/an/older/att] [--callers 8] [--calls 100]
"""

import argparse
import glob
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")


def worker_binary():
    found = [p for p in glob.glob(os.path.join(RELEASE, "deps", "calls-*")) if not p.endswith(".d")]
    if not found:
        raise SystemExit("no bench worker: run `cargo bench --bench calls --no-run` first")
    return max(found, key=os.path.getmtime)


def total_ir(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise SystemExit(f"{path}: no totals")


def counted(process, out, url, kind, callers, calls):
    """Zeroes `process`'s counters after the worker is warm, makes the calls, ends the process;
    its instructions per call."""
    worker = subprocess.Popen(
        [worker_binary()],
        env=dict(os.environ, BENCH_CALLS_WORKER=f"{url}|{kind}|{callers}|{calls}|0"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    if worker.stdout.readline().strip() != "ready":
        raise SystemExit("the worker did not get ready")
    subprocess.run(["callgrind_control", "-z", str(process.pid)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker.stdin.write("go\n")
    worker.stdin.flush()
    worker.stdout.readline()
    worker.stdin.close()
    worker.wait()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=300)
    return total_ir(out) / (callers * calls)


def under_callgrind(args, out, **kw):
    return subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *args], **kw)


def fixture(out=None):
    args = [os.path.join(RELEASE, "att-mcp-fixture"), "--http", "127.0.0.1:0"]
    if out:
        process = under_callgrind(args, out, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    else:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = process.stdout.readline().strip().split(" on ")[1]
    return process, url


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status


def att_calls(binary, kind, upstream, callers, calls, scratch, port):
    out = os.path.join(scratch, f"att-{port}.cg")
    data = os.path.join(scratch, f"data-{port}")
    process = under_callgrind(
        [binary, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", data], out,
        env=dict(os.environ, ATT_LOG_LEVEL="error"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while True:
        try:
            post(f"{base}/api/v1/mcp/servers", {"name": "fx", "url": upstream})
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.5)
    while True:
        try:
            if post(f"{base}/api/v1/mcp/invoke/tool",
                    {"tool_name": "echo", "arguments": {"text": "x"}}) == 200:
                break
        except OSError:
            pass
        if time.time() > deadline:
            raise SystemExit("echo never became routable")
        time.sleep(0.2)
    url = f"{base}/mcp" if kind == "mcp" else f"{base}/api/v1/mcp/invoke/tool"
    return counted(process, out, url, kind, callers, calls)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", help="an older att binary, counted beside this one")
    parser.add_argument("--callers", type=int, default=8)
    parser.add_argument("--calls", type=int, default=100, help="per caller")
    a = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="att-instructions-")
    upstream_alone, url = fixture(os.path.join(scratch, "fixture.cg"))
    direct = counted(upstream_alone, os.path.join(scratch, "fixture.cg"), url, "mcp", a.callers, a.calls)
    print(f"{a.callers} callers × {a.calls} calls, keep-alive, one MCP session per caller; "
          f"instructions per call (callgrind, user space)\n")
    print("| att | path | att Ir per call | ÷ upstream's Ir per direct call |")
    print("|---|---|---|---|")
    print(f"| — | direct (the upstream alone) | {direct:,.0f} | 1 |")
    binaries = [("this", os.path.join(RELEASE, "att"))]
    if a.base:
        binaries.append(("base", a.base))
    port = 18300 + os.getpid() % 500
    for label, binary in binaries:
        for kind in ("api", "mcp"):
            upstream, url = fixture()
            try:
                ir = att_calls(binary, kind, url, a.callers, a.calls, scratch, port)
            finally:
                upstream.kill()
            port += 1
            print(f"| {label} | /{kind} | {ir:,.0f} | {ir / direct:.2f} |")


if __name__ == "__main__":
    main()
