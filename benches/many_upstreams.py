#!/usr/bin/env python3
"""Many unreachable upstreams: what they cost an idle att.

Starts `att serve` (the binary given, default target/release/att) on a free port with a temp
data dir, registers N streamable-HTTP upstreams that nobody answers
(`http://127.0.0.1:9/mcp`), lets it settle, then measures:

- the time of `GET /api/v1/mcp/servers` (median of 3; its status),
- the time of one `DELETE /api/v1/mcp/servers/{name}`,
- att's CPU while idle over 30 s (utime + stime from /proc/PID/stat),
- what att writes to its log (stderr) per second over the same 30 s,
- att's resident memory (VmRSS) before the upstreams and after the idle period.

    python3 benches/many_upstreams.py [--att PATH] [--count 5000] [--settle 10] [--idle 30]

`--settle` is how long att is left alone after the last registration before the idle
measurement starts (the first minutes of failures are denser: checks back off from 1 s to
the health interval, failures are logged, then their repeats less and less often).

The limit on upstreams (`[gateway] max_upstreams`) is raised to the count through
`ATT_GATEWAY__MAX_UPSTREAMS`; an att that does not know the key is started without it.
Only the standard library is used.
"""

import argparse
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    # After the comm: state is field 3; utime and stime are fields 14 and 15.
    return int(rest[11]) + int(rest[12])


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def request(method, url, body=None, timeout=300):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            payload = r.read()
            return r.status, time.monotonic() - t0, payload
    except urllib.error.HTTPError as e:
        return e.code, time.monotonic() - t0, e.read()


def start(att, data, port, extra_env):
    log = open(os.path.join(data, "att.stderr"), "wb")
    env = dict(os.environ, **extra_env)
    env.pop("RUST_LOG", None)
    proc = subprocess.Popen(
        [att, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", os.path.join(data, "d")],
        stdout=subprocess.PIPE,
        stderr=log,
        env=env,
    )
    line = proc.stdout.readline().decode()
    if not line.startswith("att listening on"):
        proc.wait(timeout=10)
        return None
    return proc


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--att", default="target/release/att")
    p.add_argument("--count", type=int, default=5000)
    p.add_argument("--idle", type=int, default=30)
    p.add_argument("--settle", type=int, default=10)
    a = p.parse_args()

    with tempfile.TemporaryDirectory() as data:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        proc = start(a.att, data, port, {"ATT_GATEWAY__MAX_UPSTREAMS": str(a.count)})
        if proc is None:
            proc = start(a.att, data, port, {})
        if proc is None:
            sys.exit("att did not start")
        try:
            rss0 = rss_mb(proc.pid)
            t0 = time.monotonic()

            def register(i):
                body = {"name": f"u{i:05}", "url": "http://127.0.0.1:9/mcp"}
                return request("POST", f"{base}/api/v1/mcp/servers", body)[0]

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(register, range(a.count)))
            took = time.monotonic() - t0
            created = sum(1 for c in codes if c == 201)
            print(f"registered {created}/{a.count} in {took:.1f} s "
                  f"(other statuses: {sorted(set(c for c in codes if c != 201))})")

            time.sleep(a.settle)  # let the first checks of every upstream fail
            stderr = os.path.join(data, "att.stderr")
            ticks0, bytes0, w0 = cpu_ticks(proc.pid), os.path.getsize(stderr), time.monotonic()
            time.sleep(a.idle)
            ticks1, bytes1, w1 = cpu_ticks(proc.pid), os.path.getsize(stderr), time.monotonic()
            cpu = (ticks1 - ticks0) / CLK_TCK / (w1 - w0) * 100
            log_rate = (bytes1 - bytes0) / (w1 - w0)
            rss1 = rss_mb(proc.pid)

            lists = []
            for _ in range(3):
                status, secs, body = request("GET", f"{base}/api/v1/mcp/servers")
                listed = len(json.loads(body).get("servers", [])) if status == 200 else 0
                lists.append((secs, status, listed))
            lists.sort()
            secs, status, listed = lists[1]
            dstatus, dsecs, _ = request("DELETE", f"{base}/api/v1/mcp/servers/u00000")

            print(f"| GET /api/v1/mcp/servers | {secs:.2f} s ({status}, {listed} listed) |")
            print(f"| DELETE one | {dsecs:.2f} s ({dstatus}) |")
            print(f"| idle CPU over {a.idle} s, {a.settle} s after the last registration | {cpu:.0f}% of a core |")
            print(f"| log written meanwhile | {log_rate / 1024:.1f} KiB/s |")
            print(f"| RSS before → after | {rss0:.0f} → {rss1:.0f} MB |")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
