"""What every interop check shares: the command line (./run passes it to check.py, parsed
once here), PASS/FAIL reporting and the tally, bounded polls, att's HTTP API, the SDK servers'
processes (stdio command lines, the HTTP servers check.py starts itself), and the four SDK
upstreams the sections register. Standard library only."""

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

HERE = Path(__file__).resolve().parent.parent
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
    kind: str, name: str, transport: str, port: int | None = None, tls: tuple[Path, ...] | None = None
) -> list[str]:
    """The command line of one SDK server (kind: ts or py); `tls`: (certificate, key) files, and
    a third, the CA whose client certificates it demands (mTLS)."""
    prog = [args.node, TS_SERVER] if kind == "ts" else [args.python, PY_SERVER]
    argv = prog + ["--name", name, "--transport", transport, "--log", str(WORK / f"{name}.log")]
    if port is not None:
        argv += ["--port", str(port)]
    if tls is not None:
        argv += ["--ssl-certfile", str(tls[0]), "--ssl-keyfile", str(tls[1])]
        if len(tls) > 2:
            argv += ["--ssl-ca-certs", str(tls[2])]
    return argv + ["--run-id", args.run_id]


class HttpServer:
    """An HTTP SDK server process we own: started, restarted on the same port, stopped."""

    def __init__(self, kind: str, name: str, tls: tuple[Path, ...] | None = None, transport: str = "http"):
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


def check_failover(kind: str, tool: str, transport: str = "http", tls: tuple[Path, ...] | None = None,
                   register: dict | None = None, replicas: int = 2) -> None:
    """Two replicas of one SDK server (both `--name TOOL`, so both offer TOOL_echo), registered
    as TOOL_a and TOOL_b with `register`'s extra fields: the call goes to TOOL_a (preferred);
    TOOL_a's process is killed; every call after that is answered by TOOL_b, at once (no poll).
    Both are deleted and stopped at the end."""
    names = [f"{tool}_{x}" for x in "ab"[:replicas]]
    procs = {n: HttpServer(kind, tool, tls=tls, transport=transport) for n in names}
    try:
        for name, server in procs.items():
            if not check(server.start(), f"{name}: a replica of {tool} serving on {server.url}"):
                return
            status, v = api("POST", "/api/v1/mcp/servers", {"name": name, "url": server.url, **(register or {})})
            check(status == 201, f"{name}: registered", v)

        def call() -> tuple[int, Any]:
            return invoke_tool(f"{tool}_echo", {"text": "replica"}, [names[0]])

        v = poll(lambda: (lambda st, v: st == 200 and v.get("server") == names[0] and v)(*call()))
        check(bool(v) and v["result"]["structuredContent"] == {"server": tool, "text": "replica"},
              f"{tool}_echo through att answered by {names[0]} (preferred)", v or call()[1])
        procs[names[0]].proc.kill()  # SIGKILL: no goodbye on the wire
        procs[names[0]].proc.wait()
        answers = [call() for _ in range(3)]
        by = [v.get("server") if st == 200 else st for st, v in answers]
        check(by == [f"{tool}_b"] * 3,
              f"{names[0]} killed: the next 3 calls of {tool}_echo answered by {by}", [v for _, v in answers])
    finally:
        for name, server in procs.items():
            api("DELETE", f"/api/v1/mcp/servers/{name}")
            server.stop()


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


CLIENT_TIMEOUT = 90.0  # the limit of one SDK client's whole run


def read_lines(path: Path) -> list[str]:
    """`path`'s lines; none when it cannot be read."""
    try:
        return path.read_text(errors="replace").splitlines()
    except OSError:
        return []
