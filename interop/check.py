"""The interop checks: att against upstream MCP servers built with the official TypeScript and
Python SDKs, over stdio and over streamable HTTP. Driven by ./run (which installs the SDKs,
builds and starts att); standard library only.

Prints one line per check (PASS/FAIL + what), leaves the tally in WORK/results for ./run
(which adds its shutdown checks and prints the closing `N passed, N failed` line), and exits 1
on any failure. It starts (and restarts) the two HTTP SDK servers itself, their pids listed in
WORK/http-server-pids; ./run stops them after att. att starts the two stdio ones. For the
restart of `att mcp stdio`'s att it runs a second att of its own (SecondAtt), stopped and started
again between two calls, and stopped before it returns. Every wait is a bounded poll, never a
fixed sleep.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ap = argparse.ArgumentParser()
ap.add_argument("--att", required=True, help="att base URL, e.g. http://127.0.0.1:8300")
ap.add_argument("--att-bin", required=True, help="att's binary, spawned as `att mcp stdio` by the SDK clients")
ap.add_argument("--att-log", required=True, help="att's stderr, quoted in failures")
ap.add_argument("--work", required=True, help="a temp dir for logs and the pid file")
ap.add_argument("--run-id", required=True, help="a token every SDK server gets on its command line")
ap.add_argument("--node", required=True)
ap.add_argument("--python", required=True, help="the venv's python (with the mcp SDK)")
args = ap.parse_args()

HERE = Path(__file__).resolve().parent
WORK = Path(args.work)
TS_SERVER = str(HERE / "ts" / "server.mjs")
PY_SERVER = str(HERE / "py" / "server.py")
TIMEOUT = 30.0  # the overall limit of every poll

# ---- reporting ------------------------------------------------------------------------------

results = {"passed": 0, "failed": 0}


def check(ok: bool, what: str, detail: Any = None) -> bool:
    """Prints one PASS/FAIL line; a failure shows `detail` (a response, a log excerpt)."""
    if ok:
        results["passed"] += 1
        print(f"PASS  {what}", flush=True)
    else:
        results["failed"] += 1
        text = detail if isinstance(detail, str) else json.dumps(detail)
        if text and len(text) > 1500:
            text = text[:1500] + "…"
        print(f"FAIL  {what}" + (f"\n      {text}" if text else ""), flush=True)
    return ok


def info(text: str) -> None:
    print(f"      {text}", flush=True)


def poll(fn: Callable[[], Any], timeout: float = TIMEOUT, interval: float = 0.1) -> Any:
    """Calls fn until it returns something truthy or `timeout` passes; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def att_log_lines(*needles: str, limit: int = 12) -> str:
    """The last att log lines that mention any of `needles` (for failure details)."""
    try:
        lines = Path(args.att_log).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in lines]  # att colours its log
    hits = [line[:300] for line in lines if any(n in line for n in needles)]
    return "\n      ".join(hits[-limit:])


# ---- att's HTTP API ---------------------------------------------------------------------------




def api(method: str, path: str, body: Any = None, base: str | None = None) -> tuple[int, dict]:
    """One request to att (`base`: another att); returns (status, the JSON object it answered,
    or {"_body": …})."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request((base or args.att) + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=90) as r:
            status, raw, headers = r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        status, raw, headers = e.code, e.read(), e.headers
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, parsed if isinstance(parsed, dict) else {"_body": parsed}


def invoke_tool(tool: str, arguments: dict | None = None, prefer: list[str] | None = None) -> tuple[int, Any]:
    return api(
        "POST",
        "/api/v1/mcp/invoke/tool",
        {"tool_name": tool, "arguments": arguments or {}, "preferred_servers": prefer or []},
    )


def stats(name: str) -> tuple[int, Any]:
    """NAME_stats through att: (200, its structuredContent) or (status, the whole answer)."""
    status, v = invoke_tool(f"{name}_stats", prefer=[name])
    structured = v.get("result", {}).get("structuredContent") if status == 200 else None
    if isinstance(structured, dict):
        return status, structured
    return (status if status != 200 else 0), v  # 0: answered, but without stats


def catalog(kind: str, base: str | None = None) -> dict[str, list[str]]:
    """GET /api/v1/mcp/{tools,resources,prompts}: name -> servers offering it."""
    status, v = api("GET", f"/api/v1/mcp/{kind}", base=base)
    if status != 200:
        return {}
    return {item["name"]: item["servers"] for item in v["items"]}


# ---- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def alive(pid: int) -> bool:
    """Whether pid is a running process (a zombie counts as gone: it runs no code)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def our_processes(*needles: str) -> list[tuple[int, str]]:
    """Live processes whose command line has the run id and every needle."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if args.run_id in cmd and all(n in cmd for n in needles) and alive(int(entry.name)):
            found.append((int(entry.name), cmd.strip()))
    return found


def server_argv(
    kind: str, name: str, transport: str, port: int | None = None, tls: tuple[Path, Path] | None = None
) -> list[str]:
    """The command line of one SDK server (kind: ts or py); `tls`: (certificate, key) files."""
    prog = [args.node, TS_SERVER] if kind == "ts" else [args.python, PY_SERVER]
    argv = prog + ["--name", name, "--transport", transport, "--log", str(WORK / f"{name}.log")]
    if port is not None:
        argv += ["--port", str(port)]
    if tls is not None:
        argv += ["--ssl-certfile", str(tls[0]), "--ssl-keyfile", str(tls[1])]
    return argv + ["--run-id", args.run_id]


class HttpServer:
    """An HTTP SDK server process we own: started, restarted on the same port, stopped."""

    def __init__(self, kind: str, name: str, tls: tuple[Path, Path] | None = None, transport: str = "http"):
        self.kind, self.name, self.port, self.tls, self.transport = kind, name, free_port(), tls, transport
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/{'sse' if self.transport == 'sse' else 'mcp'}"

    def start(self) -> bool:
        with open(WORK / f"{self.name}.stderr", "ab") as out:
            self.proc = subprocess.Popen(
                server_argv(self.kind, self.name, self.transport, self.port, self.tls),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )
        with open(WORK / "http-server-pids", "a") as f:  # ./run's trap kills these if we die
            f.write(f"{self.proc.pid}\n")
        return bool(poll(lambda: self.proc.poll() is None and port_open(self.port)))

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ---- speaking MCP directly to a server (to see the bytes att sees) ----------------------------

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "interop-check", "version": "0"},
    },
}


def messages_until_init_response_stdio(kind: str, name: str) -> list[dict]:
    """Starts the stdio server, sends initialize, returns every message up to the response."""
    proc = subprocess.Popen(
        server_argv(kind, f"{name}_direct", "stdio"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    seen: list[dict] = []
    try:
        proc.stdin.write((json.dumps(INIT) + "\n").encode())
        proc.stdin.flush()
        deadline, buf = time.monotonic() + TIMEOUT, b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if not ready:
                continue
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    seen.append(json.loads(line))
                    if seen[-1].get("id") == 1:
                        return seen
        return seen
    finally:
        proc.stdin.close()  # EOF: the server exits
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def messages_until_init_response_http(url: str) -> list[dict]:
    """POSTs initialize, reads the SSE stream up to the response, then deletes the session."""
    req = urllib.request.Request(url, data=json.dumps(INIT).encode(), method="POST")
    req.add_header("content-type", "application/json")
    req.add_header("accept", "application/json, text/event-stream")
    seen: list[dict] = []
    with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
        session = r.headers.get("mcp-session-id")
        if "text/event-stream" not in r.headers.get("content-type", ""):
            return [json.loads(r.read())]
        for raw in r:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("data:"):
                seen.append(json.loads(line[5:].strip()))
                if seen[-1].get("id") == 1:
                    break
    if session:
        req = urllib.request.Request(url, method="DELETE", headers={"mcp-session-id": session})
        try:
            urllib.request.urlopen(req, timeout=10).close()
        except urllib.error.HTTPError:
            pass
    return seen


def direct_post_status(url: str, session_id: str) -> int:
    """The HTTP status a server gives a ping on `session_id` (404: it does not know it)."""
    req = urllib.request.Request(
        url,
        data=json.dumps({"jsonrpc": "2.0", "id": 9, "method": "ping"}).encode(),
        method="POST",
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-session-id": session_id,
            "mcp-protocol-version": "2025-11-25",
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def notified_before_response(seen: list[dict]) -> bool:
    """Whether notifications/message and tools/list_changed came before the initialize result."""
    if not seen or seen[-1].get("id") != 1 or "result" not in seen[-1]:
        return False
    before = [m.get("method") for m in seen[:-1]]
    return "notifications/message" in before and "notifications/tools/list_changed" in before


# ---- the checks -------------------------------------------------------------------------------

# (name, SDK, transport, priority): lower priority is tried first for the shared `echo`.
SERVERS = [
    ("ts_stdio", "ts", "stdio", 10),
    ("py_stdio", "py", "stdio", 20),
    ("ts_http", "ts", "http", 30),
    ("py_http", "py", "http", 40),
]
NAMES = [s[0] for s in SERVERS]
HTTP = {"ts_http": HttpServer("ts", "ts_http"), "py_http": HttpServer("py", "py_http")}


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def check_wire_order() -> None:
    """Speaks MCP to each server directly: the notifications really precede the initialize result."""
    section("the SDK servers on their own: notifications before the initialize response")
    for name, kind, transport, _ in SERVERS:
        if transport == "http":
            check(HTTP[name].start(), f"{name}: started on {HTTP[name].url}")
            seen = messages_until_init_response_http(HTTP[name].url)
        else:
            seen = messages_until_init_response_stdio(kind, name)
        check(
            notified_before_response(seen),
            f"{name}: wire order is {[m.get('method') or 'initialize result' for m in seen]}",
            seen,
        )


def check_registration() -> None:
    """Registers the four servers; each must become healthy, initialized, with its catalog."""
    section("registration and health")
    for name, kind, transport, priority in SERVERS:
        body: dict[str, Any] = {"name": name, "priority": priority}
        if transport == "http":
            body["url"] = HTTP[name].url
        else:
            argv = server_argv(kind, name, "stdio")
            body.update(command=argv[0], args=argv[1:], cwd=str(HERE / kind))
        status, v = api("POST", "/api/v1/mcp/servers", body)
        check(status == 201 and v.get("source") == "api", f"{name}: registered ({transport}, priority {priority})", v)

    def ready(name: str) -> Any:
        status, v = api("GET", f"/api/v1/mcp/servers/{name}")
        s = (v.get("state") or {}) if status == 200 else {}
        tools = (s.get("catalog") or {}).get("tools") or 0
        return v if s.get("status") == "healthy" and s.get("initialized") and tools >= 4 else None

    for name in NAMES:
        v = poll(lambda: ready(name))
        detail = v or api("GET", f"/api/v1/mcp/servers/{name}")[1]
        check(bool(v), f"{name}: healthy and initialized, catalog fetched", detail)
        if v:
            info(f"protocol {v['state'].get('protocol_version')}, catalog {v['state'].get('catalog')}")


def check_pre_init_via_att() -> None:
    """The servers' own logs and counters show att's handshake met the early notifications."""
    section("att initialized every server although it sent notifications first")
    for name in NAMES:
        log = WORK / f"{name}.log"
        line = poll(lambda: next((x for x in _read(log) if "PRE-INIT" in x and "client att" in x), None))
        check(bool(line), f"{name}: server log says it notified att before answering initialize", _read(log)[-5:])
        if line:
            info(line)
        status, st = stats(name)
        check(
            status == 200 and st.get("client") == "att" and st.get("pre_init_notifications", 0) >= 2,
            f"{name}: serves calls after that handshake (stats: {st.get('initialize_count') if status == 200 else status} "
            f"initialize, {st.get('pre_init_notifications') if status == 200 else '?'} early notifications)",
            st,
        )


def check_own_tools() -> None:
    """Each server's own tool is routed to it; text and structured content arrive unchanged."""
    section("distinct tools route to their own server, with text and structured content")
    for name in NAMES:
        text = f"hello {name}"
        status, v = invoke_tool(f"{name}_echo", {"text": text})
        result = v.get("result", {}) if status == 200 else {}
        content = result.get("content") or [{}]
        check(
            status == 200
            and v.get("server") == name
            and content[0].get("text") == f"{name}: {text}"
            and result.get("structuredContent") == {"server": name, "text": text},
            f"{name}_echo answered by {v.get('server') if status == 200 else status}: "
            f"{content[0].get('text')!r} + {result.get('structuredContent')}",
            v,
        )


def check_federated_catalog() -> None:
    """GET /tools lists every tool with the servers offering it."""
    section("federated catalog")
    tools = catalog("tools")
    for name in NAMES:
        check(
            tools.get(f"{name}_echo") == [name] and tools.get(f"{name}_stats") == [name],
            f"/tools lists {name}_echo and {name}_stats from {name}",
            tools,
        )
    check(
        sorted(tools.get("echo", [])) == sorted(NAMES), f"/tools lists echo from all four: {tools.get('echo')}", tools
    )
    check(
        sorted(tools.get("flip", [])) == sorted(NAMES), f"/tools lists flip from all four: {tools.get('flip')}", tools
    )


def check_resources_and_prompts() -> None:
    """Each server's resource reads and its prompt gets, through att."""
    section("resources and prompts")
    resources, prompts = catalog("resources"), catalog("prompts")
    for name in NAMES:
        uri = f"interop://{name}/info"
        check(resources.get(uri) == [name], f"/resources lists {uri}", resources)
        status, v = api("POST", "/api/v1/mcp/invoke/resource", {"uri": uri})
        contents = (v.get("result", {}).get("contents") or [{}]) if status == 200 else [{}]
        check(
            status == 200 and v.get("server") == name and contents[0].get("text") == f"resource of {name}",
            f"read {uri}: {contents[0].get('text')!r}",
            v,
        )
        check(prompts.get(f"{name}_prompt") == [name], f"/prompts lists {name}_prompt", prompts)
        status, v = api(
            "POST", "/api/v1/mcp/invoke/prompt", {"name": f"{name}_prompt", "arguments": {"topic": "interop"}}
        )
        messages = (v.get("result", {}).get("messages") or [{}]) if status == 200 else [{}]
        text = (messages[0].get("content") or {}).get("text")
        check(
            status == 200 and v.get("server") == name and text == f"{name} prompt about interop",
            f"get {name}_prompt: {text!r}",
            v,
        )


def check_list_changed() -> None:
    """`flip` adds a tool and notifies; att refetches the catalog and can call the new tool."""
    section("tools/list_changed: flip adds a tool, att picks it up")
    for name in NAMES:
        status, v = invoke_tool("flip", prefer=[name])
        check(status == 200 and v.get("server") == name, f"{name}: flip", v)
        started = time.monotonic()
        listed = poll(lambda: catalog("tools").get(f"{name}_flipped") == [name])
        check(
            listed,
            f"{name}: {name}_flipped appears in /tools"
            + (f" after {time.monotonic() - started:.1f} s" if listed else f" (not within {TIMEOUT:.0f} s)"),
            att_log_lines(name),
        )
        status, v = invoke_tool(f"{name}_flipped")
        content = (v.get("result", {}).get("content") or [{}]) if status == 200 else [{}]
        check(
            status == 200 and v.get("server") == name and content[0].get("text") == f"{name}: flipped tool called",
            f"{name}: {name}_flipped can be called",
            v,
        )


def check_http_sessions() -> None:
    """One session for many calls; invalidation opens one new session; a restarted server."""
    section("HTTP sessions: reuse, invalidation, a restarted server")
    for name in ("ts_http", "py_http"):
        runs = [stats(name) for _ in range(3)]
        ok = all(s == 200 for s, _ in runs)
        sessions = {st.get("session_id") for _, st in runs} if ok else set()
        counts = {st.get("initialize_count") for _, st in runs} if ok else set()
        check(
            ok and len(sessions) == 1 and None not in sessions and len(counts) == 1,
            f"{name}: 3 calls share one session {sessions} (initialize count {counts})",
            runs,
        )
        if not ok:
            continue
        (session0,), (count0,) = sessions, counts
        status, v = api("POST", f"/api/v1/mcp/servers/{name}/session/invalidate", {})
        check(
            status == 200 and v["state"]["initialized"] is False,
            f"{name}: session/invalidate → initialized=false",
            v,
        )
        status, st = stats(name)
        check(
            status == 200 and st["initialize_count"] == count0 + 1 and st["session_id"] not in (None, session0),
            f"{name}: next call opened a new session (initialize count {count0} → "
            f"{st.get('initialize_count') if status == 200 else status})",
            st,
        )
        status2, st2 = stats(name)
        check(
            status == status2 == 200
            and st2["session_id"] == st["session_id"]
            and st2["initialize_count"] == count0 + 1,
            f"{name}: and the call after reuses it",
            st2,
        )

        # Restart the server process on the same port: its sessions are gone.
        server, old_session, old_pid = HTTP[name], st2.get("session_id"), st2.get("pid")
        server.stop()
        check(server.start(), f"{name}: restarted on the same port (pid {old_pid} → {server.proc.pid})")
        status = direct_post_status(server.url, old_session) if old_session else 0
        check(status == 404, f"{name}: the new process answers the old session id with {status}")
        status, st = stats(name)
        check(
            status == 200 and st.get("pid") == server.proc.pid and st.get("initialize_count") == 1,
            f"{name}: the first call through att after the restart succeeds on a new session",
            {"status": status, "body": st},
        )
        # A forgotten session is no fault of the server's: no failure is counted.
        status, v = api("GET", f"/api/v1/mcp/servers/{name}")
        state = v.get("state") or {}
        check(
            status == 200 and state.get("status") == "healthy" and state.get("retry_count") == 0,
            f"{name}: still healthy, no failure counted (status {state.get('status')}, "
            f"retries {state.get('retry_count')}, handshakes {state.get('handshakes')})",
            state,
        )


class CountingProxy:
    """A TCP proxy on 127.0.0.1 to `port` that counts the connections it accepts (threads)."""

    def __init__(self, port: int):
        import threading

        self.target, self.accepted = port, 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                inbound, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                outbound = socket.create_connection(("127.0.0.1", self.target), timeout=10)
            except OSError:
                inbound.close()
                continue
            for s in (inbound, outbound):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(None)
            for a, b in ((inbound, outbound), (outbound, inbound)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


def check_keepalive() -> None:
    """Sequential calls through att reuse its connection to an SDK server (keep-alive), with
    no stall: a counting proxy between att and each HTTP SDK server counts the connections."""
    section("keep-alive to the SDK servers: sequential calls share a connection")
    calls = 30
    for name in ("ts_http", "py_http"):
        proxy = CountingProxy(HTTP[name].port)
        kept = f"{name}_kept"
        status, v = api("POST", "/api/v1/mcp/servers", {"name": kept, "url": f"http://127.0.0.1:{proxy.port}/mcp", "priority": 95})
        check(status == 201, f"{kept}: registered through a counting proxy", v)

        def answered() -> Any:
            status, v = invoke_tool("echo", {"text": "kept"}, [kept])
            return status == 200 and v.get("server") == kept and v

        poll(answered)
        before, took, ok = proxy.accepted, [], True
        for i in range(calls):
            t = time.monotonic()
            status, v = invoke_tool("echo", {"text": f"k{i}"}, [kept])
            took.append(time.monotonic() - t)
            ok = ok and status == 200 and v.get("server") == kept
        opened = proxy.accepted - before
        took.sort()
        # No call stalls (a delayed-ACK stall would put the p50 at ~40 ms). The TS server ends
        # each response's SSE stream with the response, so every call reuses a connection;
        # the Python SDK's server ends it later than the next call starts, so a call often
        # finds no idle connection and opens one (measured: 10–22 of 30; todo/perf.md).
        reuse = opened <= 2 if name == "ts_http" else opened <= calls
        check(
            ok and reuse and took[len(took) // 2] < 0.02,
            f"{kept}: {calls} calls through att opened {opened} connection(s) to {name} "
            f"(p50 {took[len(took) // 2] * 1000:.1f} ms, max {took[-1] * 1000:.1f} ms)",
        )
        status, _ = api("DELETE", f"/api/v1/mcp/servers/{kept}")
        check(status == 204, f"{kept}: deleted")
        proxy.close()


CLIENT_TIMEOUT = 90.0  # the limit of one SDK client's whole run


def run_sdk_client(
    kind: str,
    ts_server: str,
    py_server: str,
    stdio: bool = False,
    att: str | None = None,
    restart: tuple[Path, Callable[[], None]] | None = None,
) -> None:
    """Runs one SDK client (ts/client.mjs or py/client.py) against att's /mcp (`att`: another
    att) — over HTTP, or with `stdio` through `att mcp stdio` spawned by the client; its JSON
    summary's checks become PASS/FAIL lines. With `restart` (a directory and a function), the
    client runs its restart handshake: when it writes DIR/called, the function restarts att,
    and DIR/restarted tells the client to go on."""
    label = {"ts": "TS client", "py": "Python client"}[kind] + (" via att mcp stdio" if stdio else "")
    prog = [args.node, str(HERE / "ts" / "client.mjs")] if kind == "ts" else [args.python, str(HERE / "py" / "client.py")]
    argv = prog + ["--url", f"{att or args.att}/mcp", "--servers", ",".join(NAMES), "--ts", ts_server, "--py", py_server]
    if stdio:
        argv += ["--stdio", args.att_bin]
    if restart:
        argv += ["--restart-dir", str(restart[0])]
        label += " across an att restart"
    argv += ["--run-id", args.run_id]
    suffix = ("-stdio" if stdio else "") + ("-restart" if restart else "")
    stderr_path = WORK / f"client-{kind}{suffix}.stderr"
    started = time.monotonic()
    with open(stderr_path, "wb") as err:
        # Its stdout is one JSON line at the end: the pipe cannot fill while it runs.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        restarted = False
        while proc.poll() is None and time.monotonic() - started < CLIENT_TIMEOUT:
            if restart and not restarted and (restart[0] / "called").exists():
                restart[1]()
                (restart[0] / "restarted").write_text("1")
                restarted = True
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            check(False, f"{label}: finished within {CLIENT_TIMEOUT:.0f} s", "\n      ".join(_read(stderr_path)[-10:]))
            return
        out = proc.stdout.read() if proc.stdout else b""
    took = time.monotonic() - started
    lines = [x for x in out.decode(errors="replace").splitlines() if x.strip()]
    try:
        summary = json.loads(lines[-1])
        items = summary["checks"]
    except (IndexError, ValueError, KeyError, TypeError):
        check(
            False,
            f"{label}: printed a JSON summary (exit status {proc.returncode} after {took:.1f} s)",
            "\n      ".join(lines[-5:] + _read(stderr_path)[-10:]),
        )
        return
    info(f"{label}: {summary.get('sdk')} SDK {summary.get('version')}, {len(items)} checks in {took:.1f} s")
    for item in items:
        detail = item.get("detail")
        if not item.get("ok"):  # (att's warnings and errors are printed by ./run at the end)
            detail = {"client": detail, "client stderr": _read(stderr_path)[-5:]}
        check(bool(item.get("ok")), f"{label}: {item.get('what')}", detail)
    if not items:
        check(False, f"{label}: reported no checks", summary)


def check_sdk_clients() -> None:
    """SDK clients on att's own MCP endpoint: list, call, read, get, progress and logging."""
    section("att's own /mcp endpoint, used by MCP clients of the TypeScript and Python SDKs (HTTP and att mcp stdio)")
    listed = poll(lambda: all(f"{n}_echo" in catalog("tools") for n in NAMES))
    check(listed, "all four upstreams' tools are in the federated catalog", catalog("tools"))
    run_sdk_client("ts", "ts_stdio", "py_http")
    run_sdk_client("py", "ts_http", "py_stdio")
    # The same clients spawning `att mcp stdio`, as desktop clients do.
    run_sdk_client("ts", "ts_http", "py_stdio", stdio=True)
    run_sdk_client("py", "ts_stdio", "py_http", stdio=True)


class SecondAtt:
    """An att of this check's own (its port, its data dir, its log), which it stops and starts
    again on the same address. The data dir's path carries the run id, so ./run's last resort
    finds the process if this script dies."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data = WORK / f"restart-data-{args.run_id}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> bool:
        with open(WORK / "att-restart.log", "ab") as out:
            self.proc = subprocess.Popen(
                [args.att_bin, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        def up() -> bool:
            try:
                return self.proc.poll() is None and api("GET", "/api/v1/health", base=self.base)[0] == 200
            except OSError:  # not listening yet
                return False

        return bool(poll(up))

    def stop(self) -> int | None:
        """SIGTERM, then (bounded) its exit status."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.terminate()
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def check_stdio_bridge_across_restart() -> None:
    """Each SDK client keeps its `att mcp stdio` while the att behind it restarts: a second att
    (its own port and data dir, the two HTTP upstreams registered) is stopped with SIGTERM and
    started again on the same address between two calls; the next call must succeed."""
    section("att mcp stdio: the SDK clients' next call succeeds on a restarted att")
    att = SecondAtt()
    ups = ("ts_http", "py_http")

    def routes() -> bool:
        tools = catalog("tools", base=att.base)
        return all(f"{n}_echo" in tools for n in ups)

    try:
        if not check(att.start(), f"a second att is up at {att.base}", att_log_tail()):
            return
        for name in ups:
            status, v = api("POST", "/api/v1/mcp/servers", {"name": name, "url": HTTP[name].url}, base=att.base)
            check(status == 201, f"registered {name} with the second att ({status})", v)
        if not check(poll(routes), "the second att lists both upstreams' tools", catalog("tools", base=att.base)):
            return
        for kind in ("ts", "py"):
            marks = WORK / f"restart-{kind}"
            marks.mkdir(exist_ok=True)

            def restart(kind: str = kind) -> None:
                old = att.proc.pid if att.proc else None
                code = att.stop()
                up = att.start() and poll(routes)
                check(
                    code == 0 and up,
                    f"{kind}: att stopped (exit status {code}) and started again on {att.base} "
                    f"(pid {old} → {att.proc.pid if att.proc else None}), both upstreams restored from its store",
                    att_log_tail(),
                )

            run_sdk_client(kind, "ts_http", "py_http", stdio=True, att=att.base, restart=(marks, restart))
    finally:
        att.stop()


def att_log_tail() -> str:
    return "\n      ".join(_read(WORK / "att-restart.log")[-10:])


def check_priority_and_delete() -> None:
    """The shared `echo` goes by priority; deleting stdio servers kills their processes."""
    section("priority routing of the shared `echo`, and deleting stdio servers")
    order = [n for n, *_ in sorted(SERVERS, key=lambda s: s[3])]
    for name in order[:2]:
        status, v = invoke_tool("echo", {"text": "who"})
        check(
            status == 200 and v.get("server") == name and v["result"]["structuredContent"]["server"] == name,
            f"echo goes to {name} (priority {SERVERS[NAMES.index(name)][3]}): answered by "
            f"{v.get('server') if status == 200 else status}",
            v,
        )
        status, st = stats(name)
        pid = st.get("pid") if status == 200 else None
        status, _ = api("DELETE", f"/api/v1/mcp/servers/{name}")
        check(status == 204, f"DELETE {name} → {status}")
        gone = pid is not None and poll(lambda: not alive(pid))
        check(gone, f"{name}: its process (pid {pid}) is gone", our_processes(f"--name {name} "))
        reaped = pid is not None and poll(lambda: not Path(f"/proc/{pid}").exists(), timeout=5)
        check(reaped, f"{name}: and reaped by att (no zombie left)")
        check(
            poll(lambda: not our_processes(f"--name {name} "), timeout=5),
            f"{name}: no process with its command line remains",
            our_processes(f"--name {name} "),
        )
        check(api("GET", f"/api/v1/mcp/servers/{name}")[0] == 404, f"{name}: forgotten (GET → 404)")
    status, v = invoke_tool("echo", {"text": "who"})
    check(
        status == 200 and v.get("server") == order[2],
        f"echo now goes to {order[2]}: answered by {v.get('server') if status == 200 else status}",
        v,
    )


def check_legacy_sse() -> None:
    """The SDKs' legacy HTTP+SSE servers (protocol 2024-11-05) as upstreams: registered with
    `"transport": "sse"`, in the catalog, called through att, and called again after their
    process restarts (the event stream ends; att opens a new session)."""
    section("legacy HTTP+SSE upstreams: the SDKs' SSE server transports")
    for kind in ("ts", "py"):
        name = f"{kind}_sse"
        server = HttpServer(kind, name, transport="sse")
        if not check(server.start(), f"{name}: serving the legacy SSE transport on {server.url}"):
            continue
        body = {"name": name, "url": server.url, "transport": "sse", "priority": 90}
        status, v = api("POST", "/api/v1/mcp/servers", body)
        check(status == 201 and v.get("transport") == "sse", f"{name}: registered with transport sse", v)

        def ready() -> Any:
            _, v = api("GET", f"/api/v1/mcp/servers/{name}")
            s = v.get("state") or {}
            return s.get("initialized") and ((s.get("catalog") or {}).get("tools") or 0) >= 4 and v

        v = poll(ready)
        check(bool(v), f"{name}: initialized, catalog fetched", v or api("GET", f"/api/v1/mcp/servers/{name}")[1])
        if v:
            info(f"protocol {v['state'].get('protocol_version')}, catalog {v['state'].get('catalog')}")
        check(f"{name}_echo" in catalog("tools"), f"{name}: {name}_echo is in GET /api/v1/mcp/tools")

        def echoed() -> Any:
            status, v = invoke_tool(f"{name}_echo", {"text": "legacy"})
            return status == 200 and v.get("server") == name and v

        v = poll(echoed, timeout=10)
        check(
            bool(v) and v["result"].get("structuredContent") == {"server": name, "text": "legacy"},
            f"{name}_echo through att answered by {name}",
            v or invoke_tool(f"{name}_echo", {"text": "legacy"})[1],
        )
        status, before = stats(name)
        server.stop()
        if not check(server.start(), f"{name}: restarted on the same port"):
            continue
        after = poll(lambda: (lambda s, st: s == 200 and st.get("pid") != before.get("pid") and st)(*stats(name)))
        check(
            bool(after) and status == 200,
            f"{name}: called again after the restart (pid {before.get('pid')} → {after and after.get('pid')}, "
            f"{after and after.get('initialize_count')} initialize in the new process)",
            after or stats(name)[1],
        )
        status, _ = api("DELETE", f"/api/v1/mcp/servers/{name}")
        check(status == 204, f"DELETE {name} → {status}")
        server.stop()


def make_test_pki(where: Path) -> tuple[Path, Path, Path]:
    """A CA made for this run and a certificate for 127.0.0.1 signed by it (openssl); the CA's,
    the server's and the server key's files."""
    where.mkdir(parents=True, exist_ok=True)
    ca, ca_key = where / "ca.pem", where / "ca.key"
    cert, key, csr, ext = where / "server.pem", where / "server.key", where / "server.csr", where / "server.ext"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    quiet = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "timeout": 30}
    subprocess.run(
        ["openssl", "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=att interop test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        **quiet,
    )
    subprocess.run(["openssl", "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"], **quiet)
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    subprocess.run(
        ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
        **quiet,
    )
    return ca, cert, key


def check_https_upstream() -> None:
    """The Python SDK under uvicorn serving HTTPS with a test CA's certificate: registered with
    `tls.ca_file` it is called through att; registered without it, att names the unknown issuer."""
    section("an HTTPS upstream: the Python SDK under uvicorn, with a certificate from a test CA")
    ca, cert, key = make_test_pki(WORK / "pki")
    server = HttpServer("py", "py_https", tls=(cert, key))
    if not check(server.start(), f"py_https: serving HTTPS on {server.url}"):
        return
    status, v = api("POST", "/api/v1/mcp/servers", {"name": "py_https", "url": server.url, "tls": {"ca_file": str(ca)}})
    check(status == 201, "py_https: registered with tls.ca_file", v)

    def answered() -> Any:
        status, v = invoke_tool("echo", {"text": "over tls"}, ["py_https"])
        return status == 200 and v.get("server") == "py_https" and v

    v = poll(answered)
    check(bool(v) and v["result"]["structuredContent"]["server"] == "py_https", "echo through att answered by py_https over HTTPS", v)
    status, v = api("POST", "/api/v1/mcp/servers", {"name": "py_https_untrusted", "url": server.url})
    check(status == 201, "py_https_untrusted: the same server registered without its CA", v)

    def named() -> Any:
        _, v = api("GET", "/api/v1/mcp/servers/py_https_untrusted")
        error = (v.get("state") or {}).get("last_error") or ""
        return "unknown issuer" in error and error

    error = poll(named)
    check(bool(error), f"without the CA att names the failure: {error or 'no such error'}", att_log_lines("py_https"))
    for name in ["py_https", "py_https_untrusted"]:
        api("DELETE", f"/api/v1/mcp/servers/{name}")
    server.stop()


def run_oauth_client(att_url: str, issuer: str, tool: str) -> None:
    """py/oauth_client.py against an att with `[auth.oidc]`; its JSON checks become PASS/FAIL lines."""
    label = "Python client with the SDK's OAuth"
    argv = [args.python, str(HERE / "py" / "oauth_client.py"), "--url", f"{att_url}/mcp", "--issuer", issuer,
            "--tool", tool, "--run-id", args.run_id]
    stderr_path = WORK / "client-py-oauth.stderr"
    try:
        with open(stderr_path, "wb") as err:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, timeout=CLIENT_TIMEOUT)
    except subprocess.TimeoutExpired:
        check(False, f"{label}: finished within {CLIENT_TIMEOUT:.0f} s", "\n      ".join(_read(stderr_path)[-10:]))
        return
    lines = [x for x in proc.stdout.decode(errors="replace").splitlines() if x.strip()]
    try:
        items = json.loads(lines[-1])["checks"]
    except (IndexError, ValueError, KeyError, TypeError):
        check(False, f"{label}: printed a JSON summary (exit status {proc.returncode})", "\n      ".join(lines[-5:] + _read(stderr_path)[-10:]))
        return
    for item in items:
        detail = item.get("detail")
        if not item.get("ok"):
            detail = {"client": detail, "client stderr": _read(stderr_path)[-8:]}
        check(bool(item.get("ok")), f"{label}: {item.get('what')}", detail)
    if not items:
        check(False, f"{label}: reported no checks")


def check_oauth() -> None:
    """A second att whose /mcp is an OAuth protected resource (`[auth.oidc]`, the issuer's keys
    found by discovery), a test authorization server (py/auth_server.py), and the Python SDK's
    OAuth client: it finds the metadata from the 401, registers, gets a token with PKCE, and
    lists and calls an upstream tool through att with it."""
    section("OAuth: att as a protected resource, the Python SDK's OAuth client, a test authorization server")
    as_port, att_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{as_port}/issuer"
    with open(WORK / "auth_server.stderr", "ab") as out:
        auth_server = subprocess.Popen(
            [args.python, str(HERE / "py" / "auth_server.py"), "--port", str(as_port), "--role", "operator",
             "--run-id", args.run_id],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
        )
    upstream = HttpServer("py", "py_oauth_up")
    att_proc = None
    try:
        with open(WORK / "http-server-pids", "a") as f:
            f.write(f"{auth_server.pid}\n")
        if not check(poll(lambda: auth_server.poll() is None and port_open(as_port)), f"the test authorization server serves {issuer}"):
            return
        if not check(upstream.start(), f"py_oauth_up: serving on {upstream.url}"):
            return
        att_url = f"http://127.0.0.1:{att_port}"
        config = WORK / "oauth-att.toml"
        config.write_text(
            "[auth.oidc]\n"
            f'issuer = "{issuer}"\n'
            f'audience = "{att_url}/mcp"\n'
            "\n[[upstreams]]\n"
            'name = "py_oauth_up"\n'
            f'url = "{upstream.url}"\n'
        )
        data_dir = WORK / f"oauth-data-{args.run_id}"  # the run id marks att as this run's
        with open(WORK / "att-oauth.log", "ab") as log:
            att_proc = subprocess.Popen(
                [args.att_bin, "serve", "--listen", f"127.0.0.1:{att_port}", "--data-dir", str(data_dir), "--config", str(config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
            )
        with open(WORK / "http-server-pids", "a") as f:
            f.write(f"{att_proc.pid}\n")

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{att_url}/api/v1/health", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        if not check(poll(healthy), f"an att with [auth.oidc] serves {att_url}", "\n      ".join(_read(WORK / "att-oauth.log")[-10:])):
            return
        run_oauth_client(att_url, issuer, "py_oauth_up_echo")
        log = "\n".join(_read(WORK / "att-oauth.log"))
        check("fetched the issuer's signing keys" in log, "att found the issuer's keys by discovery (no jwks_url configured)",
              "\n      ".join(_read(WORK / "att-oauth.log")[-10:]))
        check("eyJ" not in log, "att's log holds no token")
    finally:
        if att_proc is not None and att_proc.poll() is None:
            att_proc.terminate()
            try:
                att_proc.wait(30)
            except subprocess.TimeoutExpired:
                att_proc.kill()
                att_proc.wait()
        upstream.stop()
        auth_server.terminate()
        auth_server.wait(10)


def run_checks() -> None:
    """Every section in order: each builds on the state the ones before left."""
    check_wire_order()
    check_registration()
    check_pre_init_via_att()
    check_own_tools()
    check_federated_catalog()
    check_resources_and_prompts()
    check_list_changed()
    check_http_sessions()
    check_keepalive()
    check_sdk_clients()
    check_stdio_bridge_across_restart()
    check_priority_and_delete()
    check_https_upstream()
    check_legacy_sse()
    check_oauth()


def _read(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except OSError:
        return []


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        run_checks()
    except Exception as e:  # a crash in the checks is a failure, never a silent pass
        import traceback

        traceback.print_exc()
        check(False, f"the checks crashed: {e!r}")
    # The HTTP servers are left running: ./run stops att first (so that it closes its sessions
    # on live servers), then them (their pids are in WORK/http-server-pids).
    # ./run adds its own checks and prints the closing tally line.
    (WORK / "results").write_text(f"{results['passed']} {results['failed']}\n")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
