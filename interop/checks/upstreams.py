"""The SDK servers as att's upstreams: what att sees on the wire (a server's notice before it
answers `initialize`), registration, att's own tools beside them, the federated catalog,
resources and prompts, list changes, HTTP sessions and keep-alive, priority routing and
deletion."""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .common import *  # noqa: F403 — the shared helpers are this package's vocabulary


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
        line = poll(lambda: next((x for x in read_lines(log) if "PRE-INIT" in x and "client att" in x), None))
        check(bool(line), f"{name}: server log says it notified att before answering initialize", read_lines(log)[-5:])
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
