#!/usr/bin/env python3
"""Where att's heap goes, by call site, under heaptrack: the bytes an idle HTTP upstream keeps
(`--upstreams N`), or the allocations a routed call makes (`--calls N`).

RSS (`cargo bench --bench memory`, `benches/calls.rs`) says how much; this says who. A real
`att serve` (release build) runs under `heaptrack`, with an `att-mcp-fixture` over HTTP as its
upstream(s):
- `--upstreams N`: N upstreams are registered (all on one fixture, as the memory bench does),
  each initialized and health-checked, then left idle for 3 s; att is stopped with SIGKILL,
  so what it had not freed is what it held while idle. Printed: KiB per upstream by site.
- `--calls N` (with `--path mcp|api`): the bench's own client worker (`benches/calls.rs`,
  keep-alive, one MCP session) makes N `echo` calls; att is stopped with SIGTERM. Printed:
  allocations per call by site.
A site is the allocating frame and the next `--depth` frames above it that are not the
allocator's or the standard library's plumbing (Box, Vec, Arc, task spawning …). Setup costs
are in the totals: use N large enough (200 upstreams, 5,000 calls) that they do not matter.

Needs heaptrack (Debian: `apt-get install heaptrack`) and release
builds (`cargo bench --bench calls --no-run`):
    python3 benches/heap.py --upstreams 300
    python3 benches/heap.py --calls 5000 --path mcp
"""

import argparse
import collections
import glob
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release")

# Frames that say nothing of who allocated: the allocator, containers, smart pointers, task
# spawning and polling, futures' plumbing (matched on the source file heaptrack names).
PLUMBING = re.compile(
    r"\((boxed|alloc|raw_vec|vec|slice|str|string|borrow|clone|into_iter|spec_from_iter"
    r"|spec_from_iter_nested|spec_extend|spec_from_elem|collect|iterator|map|mod|arc|rc"
    r"|bytes_mut|bytes|option|result|convert|fmt|function|ops|cell|mem|ptr|non_null|unique"
    r"|hash|lib|core|harness|raw|unsafe_cell|panicking|panic|unwind_safe|poll_fn|future"
    r"|instrument|into_future|pin|handle|list|spawn|current|local|scoped|context|block|chan"
    r"|bounded|unbounded|sync)\.rs\)|^0x|^malloc|^realloc|^calloc|^<unresolved")


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
    except OSError:
        return 0, None


def get(url):
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def until(what, fn, limit=120):
    deadline = time.time() + limit
    while time.time() < deadline:
        if fn():
            return
        time.sleep(0.2)
    raise SystemExit(f"{what}: not within {limit} s")


def att_pid(port):
    """The att process itself (heaptrack runs it as a child of its own script)."""
    for pid in subprocess.run(["pgrep", "-f", f"att serve --listen 127.0.0.1:{port}"],
                              capture_output=True, text=True).stdout.split():
        try:
            if os.readlink(f"/proc/{pid}/exe").endswith("/att"):
                return int(pid)
        except OSError:
            pass
    raise SystemExit("att is not running")


def sites(folded, per, depth, top, unit):
    """Prints the `top` sites of a heaptrack flame graph file, each cost divided by `per`."""
    counts, total = collections.Counter(), 0
    for line in open(folded):
        frames, _, cost = line.rstrip("\n").rpartition(" ")
        frames, cost = frames.rstrip(";").split(";"), int(cost)
        total += cost
        picked = []
        for frame in reversed(frames):
            if not PLUMBING.search(frame):
                picked.append(frame)
            if len(picked) >= depth:
                break
        counts[" <- ".join(picked)] += cost
    print(f"total: {total / per:,.1f} {unit}\n")
    print(f"| {unit} | site (allocating frame first) |")
    print("|---|---|")
    for site, cost in counts.most_common(top):
        print(f"| {cost / per:,.2f} | {site[:300]} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--upstreams", type=int, help="idle upstreams to register")
    parser.add_argument("--calls", type=int, help="routed calls to make")
    parser.add_argument("--path", choices=["mcp", "api"], default="mcp")
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--top", type=int, default=30)
    a = parser.parse_args()
    if (a.upstreams is None) == (a.calls is None):
        raise SystemExit("give one of --upstreams N and --calls N")
    scratch = tempfile.mkdtemp(prefix="att-heap-")
    port = 18700 + os.getpid() % 200
    fixture = subprocess.Popen([os.path.join(RELEASE, "att-mcp-fixture"), "--http", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    upstream = fixture.stdout.readline().strip().split(" on ")[1]
    out = os.path.join(scratch, "att")
    att = subprocess.Popen(
        ["heaptrack", "-o", out, os.path.join(RELEASE, "att"), "serve",
         "--listen", f"127.0.0.1:{port}", "--data-dir", os.path.join(scratch, "data")],
        env=dict(os.environ, ATT_LOG_LEVEL="error", ATT_GATEWAY__MAX_UPSTREAMS="100000"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        if a.upstreams is not None:
            until("att is up", lambda: post(f"{base}/api/v1/mcp/servers",
                                             {"name": "u0", "url": upstream})[0] == 201)
            for i in range(1, a.upstreams):
                status, _ = post(f"{base}/api/v1/mcp/servers", {"name": f"u{i}", "url": upstream})
                if status != 201:
                    raise SystemExit(f"registering u{i}: HTTP {status}")

            def ready():
                servers = get(f"{base}/api/v1/mcp/servers")["servers"]
                return sum(1 for s in servers if s["state"]["initialized"]
                           and s["state"].get("last_checked_at")) == a.upstreams

            until("every upstream initialized and checked", ready, limit=600)
            time.sleep(3)
            os.kill(att_pid(port), signal.SIGKILL)
        else:
            until("att is up", lambda: post(f"{base}/api/v1/mcp/servers",
                                             {"name": "fx", "url": upstream})[0] == 201)
            until("echo is routable", lambda: post(f"{base}/api/v1/mcp/invoke/tool",
                                                   {"tool_name": "echo", "arguments": {"text": "x"}})[0] == 200)
            workers = [p for p in glob.glob(os.path.join(RELEASE, "deps", "calls-*")) if not p.endswith(".d")]
            if not workers:
                raise SystemExit("no bench worker: run `cargo bench --bench calls --no-run` first")
            url = f"{base}/mcp" if a.path == "mcp" else f"{base}/api/v1/mcp/invoke/tool"
            worker = subprocess.Popen(
                [max(workers, key=os.path.getmtime)],
                env=dict(os.environ, BENCH_CALLS_WORKER=f"{url}|{a.path}|1|{a.calls}|0"),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            if worker.stdout.readline().strip() != "ready":
                raise SystemExit("the worker did not get ready")
            worker.stdin.write("go\n")
            worker.stdin.flush()
            if not worker.stdout.readline().startswith("done"):
                raise SystemExit("the worker did not finish")
            worker.stdin.close()
            worker.wait()
            os.kill(att_pid(port), signal.SIGTERM)
        att.wait(timeout=300)
    finally:
        fixture.kill()
        if att.poll() is None:
            att.kill()
    recorded = glob.glob(out + "*")
    if not recorded:
        raise SystemExit("heaptrack wrote nothing")
    cost = "leaked" if a.upstreams is not None else "allocations"
    folded = os.path.join(scratch, "folded")
    subprocess.run(["heaptrack_print", "-f", recorded[0], "--flamegraph-cost-type", cost,
                    "-F", folded], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if a.upstreams is not None:
        print(f"{a.upstreams} idle HTTP upstreams: heap att held at the end, per upstream "
              f"(with att's own start-up)\n")
        sites(folded, a.upstreams * 1024, a.depth, a.top, "KiB per upstream")
    else:
        print(f"{a.calls} calls on /{a.path}, 1 caller, keep-alive: allocations per call "
              f"(with att's own start-up)\n")
        sites(folded, a.calls, a.depth, a.top, "allocations per call")


if __name__ == "__main__":
    main()
