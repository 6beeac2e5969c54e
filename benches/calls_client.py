#!/usr/bin/env python3
"""A neutral client worker for `benches/calls.rs`: the same calls as the bench's own Rust
worker, made the way the issue measured them — Python, httpx, HTTP/1.1 keep-alive, one MCP
session per caller, as the official Python SDK's client does (it is built on httpx too).

Not run by hand: `BENCH_CLIENT=/path/to/python cargo bench --bench calls` starts it as each
client worker instead of the bench binary. That python needs httpx:

    python3 -m venv target/bench-venv && target/bench-venv/bin/pip install httpx==0.28.1
    BENCH_CLIENT=target/bench-venv/bin/python cargo bench --bench calls

The protocol with the coordinator is the Rust worker's: the spec `URL|KIND|CALLERS|CALLS|FRESH`
in `BENCH_CALLS_WORKER`; open the callers and warm each with 5 calls; print `ready`; wait for a
line; make the calls (every caller concurrently, its calls in sequence); print
`done ELAPSED_US LAT_US…`; wait for stdin to close, so the coordinator can read this process's
CPU while it idles. Every answer is checked: a wrong or failed answer ends the worker.
"""

import asyncio
import json
import os
import sys
import time

try:
    import httpx
except ImportError:
    raise SystemExit(f"{sys.executable} has no httpx: python3 -m venv target/bench-venv && "
                     "target/bench-venv/bin/pip install httpx==0.28.1, then BENCH_CLIENT=target/bench-venv/bin/python")

PROTOCOL = "2025-11-25"
MCP_HEADERS = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
}


def message_of(response, want_id):
    """The JSON-RPC message answering `want_id`, from a JSON or an event-stream body."""
    if response.status_code != 200:
        raise SystemExit(f"HTTP {response.status_code}: {response.text[:200]}")
    kind = response.headers.get("content-type", "").split(";")[0].strip()
    if kind == "application/json":
        return response.json()
    if kind == "text/event-stream":
        for line in response.text.splitlines():
            if line.startswith("data:") and line[5:].strip():  # not a priming event
                message = json.loads(line[5:])
                if message.get("id") == want_id:
                    return message
        raise SystemExit(f"no answer to {want_id} in the stream: {response.text[:200]}")
    raise SystemExit(f"unexpected content-type {kind!r}")


class Caller:
    """One agent: its own HTTP client (one kept-alive connection) and, on `/mcp`, its own
    session."""

    def __init__(self, url, kind, fresh):
        self.url, self.kind, self.fresh = url, kind, fresh
        self.headers = dict(MCP_HEADERS)
        if fresh:
            self.headers["connection"] = "close"
        self.http = httpx.AsyncClient(limits=httpx.Limits(max_connections=1), timeout=60)
        self.next_id = 0

    async def open(self):
        if self.kind != "mcp":
            return
        initialize = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
                      "params": {"protocolVersion": PROTOCOL, "capabilities": {},
                                 "clientInfo": {"name": "bench-calls-client", "version": "1"}}}
        r = await self.http.post(self.url, content=json.dumps(initialize), headers=self.headers)
        message_of(r, 0)
        self.headers["mcp-session-id"] = r.headers["mcp-session-id"]
        self.headers["mcp-protocol-version"] = PROTOCOL
        r = await self.http.post(self.url, headers=self.headers, content=json.dumps(
            {"jsonrpc": "2.0", "method": "notifications/initialized"}))
        if r.status_code != 202:
            raise SystemExit(f"notifications/initialized: HTTP {r.status_code}")

    async def call(self, n):
        text = f"call {n}"
        if self.kind == "api":
            r = await self.http.post(self.url, headers=self.headers, content=json.dumps(
                {"tool_name": "echo", "arguments": {"text": text}}))
            if r.status_code != 200 or text not in r.text:
                raise SystemExit(f"/api answered {r.status_code}: {r.text[:200]}")
            return
        self.next_id += 1
        request = {"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call",
                   "params": {"name": "echo", "arguments": {"text": text}}}
        r = await self.http.post(self.url, headers=self.headers, content=json.dumps(request))
        message = message_of(r, self.next_id)
        result = message.get("result") or {}
        if (result.get("structuredContent") or {}).get("text") != text:
            raise SystemExit(f"wrong answer: {message}")


async def timed(caller, calls):
    lat = []
    for i in range(calls):
        t = time.perf_counter_ns()
        await caller.call(100 + i)
        lat.append((time.perf_counter_ns() - t) // 1000)
    return lat


def main():
    url, kind, callers, calls, fresh = os.environ["BENCH_CALLS_WORKER"].split("|")
    callers, calls, fresh = int(callers), int(calls), fresh == "1"
    loop = asyncio.new_event_loop()

    async def setup():
        set_ = []
        for _ in range(callers):
            c = Caller(url, kind, fresh)
            await c.open()
            for i in range(5):
                await c.call(i)
            set_.append(c)
        return set_

    set_ = loop.run_until_complete(setup())
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.perf_counter_ns()

    async def run():
        return await asyncio.gather(*(timed(c, calls) for c in set_))

    lat = [l for per in loop.run_until_complete(run()) for l in per]
    elapsed = (time.perf_counter_ns() - start) // 1000
    print("done", elapsed, " ".join(map(str, lat)), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
