"""The SDK clients through att: each spawns `att mcp stdio` as its stdio server (list, call
with progress and a log message, elicitation), and keeps it across a restart of its att
(SecondAtt, a second att of this script's own)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .common import *  # noqa: F403 — the shared helpers are this package's vocabulary


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
            check(False, f"{label}: finished within {CLIENT_TIMEOUT:.0f} s", "\n      ".join(read_lines(stderr_path)[-10:]))
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
            "\n      ".join(lines[-5:] + read_lines(stderr_path)[-10:]),
        )
        return
    info(f"{label}: {summary.get('sdk')} SDK {summary.get('version')}, {len(items)} checks in {took:.1f} s")
    for item in items:
        detail = item.get("detail")
        if not item.get("ok"):  # (att's warnings and errors are printed by ./run at the end)
            detail = {"client": detail, "client stderr": read_lines(stderr_path)[-5:]}
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
    return "\n      ".join(read_lines(WORK / "att-restart.log")[-10:])
