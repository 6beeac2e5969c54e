"""An MCP client written with the official Python SDK (`mcp`), for att's interop script
(../check.py): it connects to att's own federated endpoint `/mcp` over streamable HTTP — or, with
--stdio ATT_BIN, spawns `ATT_BIN mcp stdio --att-url …` as a stdio server, the way desktop clients
do — and checks what an ordinary SDK client sees there. The counterpart of ../ts/client.mjs.

    python client.py --url http://127.0.0.1:8300/mcp --servers ts_stdio,py_stdio,ts_http,py_http \\
                     --ts ts_http --py py_stdio [--stdio path/to/att [--restart-dir DIR]] [--run-id TOKEN]

--servers: the upstreams registered with att (each offers NAME_echo, NAME_stats, the resource
interop://NAME/info, the prompt NAME_prompt and the tool progress_demo; see server.py);
--ts / --py: the TypeScript and the Python upstream whose tools, resource and prompt are called.
and --py's NAME_elicit is answered by the elicitation callback.
--restart-dir (with --stdio): instead, survive an att restart: call --py's echo, write DIR/called,
wait for DIR/restarted (check.py restarts att and writes it once the new att serves the upstream),
then the next call through the same `att mcp stdio` must succeed.

Prints one JSON object on stdout: {"sdk": "python", "version": …, "checks": [{ok, what, detail}]};
check.py prints one PASS/FAIL line per check. Exits 0 even when a check fails (the JSON says so);
any other exit status or output is a crash. Every wait is bounded.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import time
import traceback
from typing import Any

import anyio
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True)
parser.add_argument("--servers", required=True)
parser.add_argument("--ts", required=True)
parser.add_argument("--py", required=True)
parser.add_argument("--stdio")  # att's binary: reach /mcp through `att mcp stdio`
parser.add_argument("--restart-dir")  # with --stdio: the restart handshake with check.py
parser.add_argument("--run-id")  # only marks the process as this run's
opts = parser.parse_args()
SERVERS = opts.servers.split(",")
REQUEST_TIMEOUT = 20.0  # seconds, per request
NOTIFY_WAIT = 5.0  # seconds: how long a notification may trail the response it belongs to
RESTART_WAIT = 60.0  # seconds: how long check.py may take to restart att

checks: list[dict[str, Any]] = []


def check(ok: Any, what: str, detail: Any = None) -> bool:
    entry: dict[str, Any] = {"ok": bool(ok), "what": what}
    if not ok:
        entry["detail"] = detail
    checks.append(entry)
    return bool(ok)


def dump(model: Any) -> Any:
    """A result model as JSON-able data (for failure details)."""
    try:
        return model.model_dump(mode="json", by_alias=True, exclude_none=True)
    except Exception:
        return repr(model)


def err(e: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(e), e)).strip()[:600]


async def until(fn: Any, timeout: float = NOTIFY_WAIT) -> Any:
    """Polls fn (bounded) until it returns something truthy; returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() >= deadline:
            return value
        await anyio.sleep(0.05)


logs: list[types.LoggingMessageNotificationParams] = []


async def on_log(params: types.LoggingMessageNotificationParams) -> None:
    logs.append(params)


ELICIT_ANSWER = "42, from the Python client"
elicitations: list[types.ElicitRequestParams] = []


async def on_elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    """The elicitation callback: accepts with ELICIT_ANSWER (what a user would type)."""
    elicitations.append(params)
    return types.ElicitResult(action="accept", content={"answer": ELICIT_ANSWER})


async def on_message(message: Any) -> None:
    if isinstance(message, Exception):
        print(f"client: transport error: {message!r}", file=sys.stderr, flush=True)


def transport() -> Any:
    if opts.stdio:
        base = opts.url.removesuffix("/mcp")
        params = StdioServerParameters(command=opts.stdio, args=["mcp", "stdio", "--att-url", base])
        return stdio_client(params)
    return streamable_http_client(opts.url)


async def run() -> None:
    async with (
        transport() as (read, write),
        ClientSession(
            read,
            write,
            read_timeout_seconds=REQUEST_TIMEOUT,
            logging_callback=on_log,
            elicitation_callback=on_elicit,
            message_handler=on_message,
            client_info=types.Implementation(name="interop-py-client", version="1.0.0"),
        ) as session,
    ):
        # 1. initialize
        try:
            init = await session.initialize()
        except Exception as e:
            check(False, "initialize", err(e))
            return
        caps = init.capabilities
        check(
            init.server_info.name == "att" and caps.tools is not None,
            f"initialize: server {init.server_info.name} {init.server_info.version}, protocol "
            f"{init.protocol_version}, capabilities "
            f"{','.join(k for k, v in dump(caps).items() if v is not None) if isinstance(dump(caps), dict) else caps}",
            dump(init),
        )

        # 2. tools/list: every registered upstream's own tools
        names: set[str] = set()
        try:
            listed = await session.list_tools()
            names = {t.name for t in listed.tools}
        except Exception as e:
            check(False, "tools/list", err(e))
        wanted = [f"{s}_{suffix}" for s in SERVERS for suffix in ("echo", "stats")]
        missing = [n for n in wanted if n not in names]
        check(
            names and not missing,
            f"tools/list ({len(names)} tools) has {len(wanted)} per-server tools of {', '.join(SERVERS)}"
            + (f"; missing {', '.join(missing)}" if missing else ""),
            sorted(names),
        )

        # 3. a per-server tool of a TypeScript and of a Python upstream: text + structured content
        for server in (opts.ts, opts.py):
            text = f"hello {server} from the Python client"
            try:
                r = await session.call_tool(f"{server}_echo", {"text": text})
                got = r.content[0].text if r.content and isinstance(r.content[0], types.TextContent) else None
                check(
                    not r.is_error and got == f"{server}: {text}" and r.structured_content == {"server": server, "text": text},
                    f"tools/call {server}_echo: {got!r} + {r.structured_content}",
                    dump(r),
                )
            except Exception as e:
                check(False, f"tools/call {server}_echo", err(e))

        # 4. a resource and a prompt of each
        for server in (opts.ts, opts.py):
            uri = f"interop://{server}/info"
            try:
                r = await session.read_resource(uri)
                got = getattr(r.contents[0], "text", None) if r.contents else None
                check(got == f"resource of {server}", f"resources/read {uri}: {got!r}", dump(r))
            except Exception as e:
                check(False, f"resources/read {uri}", err(e))
            try:
                r = await session.get_prompt(f"{server}_prompt", {"topic": "the Python client"})
                content = r.messages[0].content if r.messages else None
                got = getattr(content, "text", None)
                check(
                    got == f"{server} prompt about the Python client",
                    f"prompts/get {server}_prompt: {got!r}",
                    dump(r),
                )
            except Exception as e:
                check(False, f"prompts/get {server}_prompt", err(e))

        # 5. progress_demo on each (as `<server>__progress_demo` if att prefixed it, else the
        #    shared name): the progress callback fires twice, the upstream's log message arrives.
        for server in (opts.ts, opts.py):
            exposed = f"{server}__progress_demo" if f"{server}__progress_demo" in names else "progress_demo"
            progress: list[list[float | None]] = []
            logs_before = len(logs)

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append([value, total])

            try:
                r = await session.call_tool(exposed, {}, progress_callback=on_progress)
                structured = r.structured_content or {}
                by = structured.get("server")
                got = r.content[0].text if r.content and isinstance(r.content[0], types.TextContent) else None
                check(
                    not r.is_error and got == f"{by}: progress_demo done" and (exposed == "progress_demo" or by == server),
                    f"tools/call {exposed}: answered by {by} (upstream got progress token "
                    f"{json.dumps(structured.get('progress_token'))})",
                    dump(r),
                )
                who = by or server
                await until(lambda: len(progress) >= 2)
                check(
                    progress == [[1, 2], [2, 2]],
                    f"{exposed}: progress callback got {json.dumps(progress)} (want [[1,2],[2,2]])",
                    {"progress": progress, "result": dump(r)},
                )
                want = f"{who}: progress_demo log message"
                seen = await until(lambda: next((m for m in logs[logs_before:] if m.data == want), None))
                check(
                    seen,
                    f"{exposed}: log message {want!r} "
                    + (
                        f"received (level {seen.level}, logger {seen.logger})"
                        if seen
                        else f"not received within {NOTIFY_WAIT:.0f} s"
                    ),
                    {"logs": [dump(m) for m in logs[logs_before:]]},
                )
            except Exception as e:
                check(
                    False,
                    f"tools/call {exposed} with a progress callback",
                    {"error": err(e), "progress": progress, "logs": [dump(m) for m in logs[logs_before:]]},
                )


        # 6. an upstream tool that asks for elicitation: the callback answers, the result has it
        tool = f"{opts.py}_elicit"
        try:
            r = await session.call_tool(tool, {})
            asked = elicitations[-1].message if elicitations else None
            check(
                not r.is_error
                and r.structured_content == {"server": opts.py, "action": "accept", "answer": ELICIT_ANSWER},
                f"tools/call {tool}: elicitation {asked!r} answered by the callback, result {r.structured_content}",
                dump(r),
            )
        except Exception as e:
            check(False, f"tools/call {tool} with an elicitation callback", err(e))


async def run_across_restart() -> None:
    """Through `att mcp stdio`: a call, att restarted behind the bridge, the next call."""
    from pathlib import Path

    marks = Path(opts.restart_dir)
    tool = f"{opts.py}_echo"

    async def echo(session: ClientSession, text: str, when: str) -> bool:
        try:
            r = await session.call_tool(tool, {"text": text})
        except Exception as e:
            return check(False, f"{when}: tools/call {tool}", err(e))
        return check(
            not r.is_error and r.structured_content == {"server": opts.py, "text": text},
            f"{when}: tools/call {tool}: {r.structured_content}",
            dump(r),
        )

    async with (
        transport() as (read, write),
        ClientSession(read, write, read_timeout_seconds=REQUEST_TIMEOUT, message_handler=on_message) as session,
    ):
        await session.initialize()
        if not await echo(session, "before the restart", "before att restarts"):
            return
        (marks / "called").write_text("1")
        deadline = time.monotonic() + RESTART_WAIT
        while not (marks / "restarted").exists():
            if time.monotonic() > deadline:
                check(False, f"check.py restarted att within {RESTART_WAIT:.0f} s")
                return
            await anyio.sleep(0.1)
        await echo(session, "after the restart", "the first call after att restarted (same bridge, new att)")
        try:
            names = {t.name for t in (await session.list_tools()).tools}
            check(tool in names, f"tools/list after the restart ({len(names)} tools) has {tool}", sorted(names))
        except Exception as e:
            check(False, "tools/list after the restart", err(e))


def api(method: str, path: str, body: Any = None) -> Any:
    """att's REST API (the base of --url), for what an MCP client cannot do: register a server."""
    import urllib.request

    base = opts.url.removesuffix("/mcp")
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as r:
        text = r.read()
        return json.loads(text) if text else None


async def run_modern() -> None:
    """The 2026-07-28 protocol: `server/discover` instead of `initialize` (mode "auto" probes it),
    results with `resultType`, and list changes through `subscriptions/listen`."""
    from mcp.client.client import Client

    async with Client(opts.url, mode="auto", read_timeout_seconds=REQUEST_TIMEOUT) as client:
        info, caps = client.server_info, client.server_capabilities
        check(
            client.protocol_version == "2026-07-28" and info is not None and info.name == "att" and caps.tools,
            f"2026-07-28: discovered server {info.name if info else None}, protocol {client.protocol_version}, "
            f"tools capability {caps.tools}",
            {"info": dump(info), "caps": dump(caps)},
        )
        tool = f"{opts.py}_echo"
        listed = {t.name for t in (await client.list_tools()).tools}
        r = await client.call_tool(tool, {"text": "modern"})
        check(
            tool in listed and not r.is_error and r.structured_content == {"server": opts.py, "text": "modern"},
            f"2026-07-28: tools/list ({len(listed)} tools) and tools/call {tool}: {r.structured_content}",
            dump(r),
        )
        # A new upstream changes the federated tool list; the listening client hears of it.
        probe = "modern_probe"
        servers = api("GET", "/api/v1/mcp/servers")["servers"]
        url = next((s.get("url") for s in servers if s["name"] == opts.py and s.get("url")), None)
        url = url or next(s["url"] for s in servers if s.get("url"))
        async with client.listen(tools_list_changed=True) as sub:
            try:
                api("POST", "/api/v1/mcp/servers", {"name": probe, "url": url})
                event = None
                with anyio.move_on_after(10):
                    async for event in sub:
                        break
                check(
                    event is not None and sub.honored.tools_list_changed,
                    f"2026-07-28: subscriptions/listen (honored {dump(sub.honored)}) heard "
                    f"{type(event).__name__ if event else 'nothing within 10 s'} when a server was added",
                    dump(event),
                )
            finally:
                api("DELETE", f"/api/v1/mcp/servers/{probe}")


def main() -> int:
    try:
        if opts.restart_dir:
            anyio.run(run_across_restart)
        else:
            anyio.run(run)
        if not opts.stdio:
            anyio.run(run_modern)
    except BaseException as e:  # an exception group from the transport's task group, a crash
        traceback.print_exc()
        check(False, "the Python client crashed", err(e))
    out = {
        "sdk": "python",
        "version": importlib.metadata.version("mcp"),
        "checks": checks,
    }
    print(json.dumps(out, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
