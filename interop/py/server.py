"""An upstream MCP server written with the official Python SDK (`mcp`), for att's interop script.

One program, three transports:

    python server.py --name py_stdio --transport stdio [--log FILE] [--run-id TOKEN]
    python server.py --name py_http  --transport http --port 8124 [--log FILE] [--run-id TOKEN]
    python server.py --name py_sse   --transport sse  --port 8125 [--log FILE] [--run-id TOKEN]

With --ssl-certfile/--ssl-keyfile it serves HTTPS (uvicorn's TLS); with --ssl-ca-certs as well,
it demands a client certificate signed by that CA (mTLS: `ssl.CERT_REQUIRED`).

With `sse` it is the SDK's legacy HTTP+SSE app (`MCPServer.sse_app()`, protocol 2024-11-05):
`GET /sse` opens a session's event stream, whose `endpoint` event names `/messages/?session_id=…`.

Over HTTP it is the SDK's *stateful* streamable HTTP app (`MCPServer.streamable_http_app()`):
every `initialize` opens a session whose id comes back as `Mcp-Session-Id`, and an unknown
session id gets 404 (so a restarted process rejects the old process's sessions).

What it offers (NAME is --name), the same as ../ts/server.mjs:
  tools      NAME_echo {text}   text "NAME: <text>" + structuredContent {server, text}
             echo {text}        the same, under a name every interop server shares
             NAME_stats {}      structuredContent {server, pid, transport, initialize_count,
                                pre_init_notifications, session_id, client}
             flip {}            adds the tool NAME_flipped and sends notifications/tools/list_changed
             NAME_flipped {}    exists only after `flip`
             progress_demo {}   sends notifications/progress 1/2, a notifications/message and progress
                                2/2 on the call's own channel, then answers "NAME: progress_demo done"
                                + structuredContent {server, progress_token} (the token att sent)
             NAME_elicit {}     asks its client (elicitation/create, schema {answer: string}) and
                                answers structuredContent {server, action, answer}
  resource   interop://NAME/info
  prompt     NAME_prompt {topic}

Notifications before the initialize response: a server middleware (the SDK's documented way to
observe `initialize`, which cannot be overridden as a handler) sends `notifications/message` and
`notifications/tools/list_changed` on the initialize request's own channel
(`related_request_id`), then lets the SDK build the result. On stdio they are written to stdout
before the response; over HTTP they are events on the initialize POST's SSE stream before the
result. Each time, a line saying so goes to stderr and to --log.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from typing import Annotated, Any

import anyio
import mcp_types as types
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from pydantic import BaseModel

parser = argparse.ArgumentParser()
parser.add_argument("--name", required=True)
parser.add_argument("--transport", choices=["stdio", "http", "sse"], default="stdio")
parser.add_argument("--port", type=int)
parser.add_argument("--ssl-certfile")  # with --ssl-keyfile: serve HTTPS (uvicorn's own TLS)
parser.add_argument("--ssl-keyfile")
parser.add_argument("--ssl-ca-certs")  # with the two above: require a client certificate it signed
parser.add_argument("--log")
parser.add_argument("--run-id")  # only marks the process as this run's (../run scans /proc for it)
opts = parser.parse_args()
NAME: str = opts.name

# Process-wide counters (over HTTP they add up over every session of this process).
state: dict[str, Any] = {"initialize_count": 0, "pre_init_notifications": 0, "client": None}


def log(line: str) -> None:
    text = f"[{NAME} pid {os.getpid()}] {line}"
    print(text, file=sys.stderr, flush=True)
    if opts.log:
        with open(opts.log, "a", encoding="utf-8") as f:
            f.write(text + "\n")


async def pre_init_notifier(ctx: Any, call_next: Any) -> Any:
    """Server middleware: on `initialize`, notify first (on the request's channel), then answer."""
    if ctx.method == "initialize" and ctx.request_id is not None:
        state["initialize_count"] += 1
        n = state["initialize_count"]
        client = ((ctx.params or {}).get("clientInfo") or {}).get("name", "?")
        await ctx.session.send_notification(
            types.LoggingMessageNotification(
                params=types.LoggingMessageNotificationParams(
                    level="info", logger=NAME, data=f"{NAME}: hello before the initialize response (#{n})"
                )
            ),
            related_request_id=ctx.request_id,
        )
        await ctx.session.send_notification(types.ToolListChangedNotification(), related_request_id=ctx.request_id)
        state["pre_init_notifications"] += 2
        state["client"] = client
        log(
            "PRE-INIT: sent notifications/message and notifications/tools/list_changed before the initialize "
            f"response (initialize #{n}, client {client}, transport {opts.transport})"
        )
    return await call_next(ctx)


mcp = MCPServer(f"interop-{NAME}", version="1.0.0", middleware=[pre_init_notifier])


class EchoOut(BaseModel):
    server: str
    text: str


def echo_result(text: str) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=f"{NAME}: {text}")],
        structured_content={"server": NAME, "text": text},
    )


def own_echo(text: str) -> Annotated[types.CallToolResult, EchoOut]:
    return echo_result(text)


def shared_echo(text: str) -> Annotated[types.CallToolResult, EchoOut]:
    return echo_result(text)


def stats(ctx: Context) -> types.CallToolResult:
    headers = ctx.headers or {}
    out = {
        "server": NAME,
        "pid": os.getpid(),
        "transport": opts.transport,
        "initialize_count": state["initialize_count"],
        "pre_init_notifications": state["pre_init_notifications"],
        "session_id": headers.get("mcp-session-id"),
        "client": state["client"],
    }
    return types.CallToolResult(content=[types.TextContent(type="text", text=str(out))], structured_content=out)


def flipped() -> str:
    return f"{NAME}: flipped tool called"


async def flip(ctx: Context) -> str:
    if f"{NAME}_flipped" not in {t.name for t in await mcp.list_tools()}:
        mcp.add_tool(flipped, name=f"{NAME}_flipped", description=f"appears after {NAME}'s flip")
    # The SDK's list-changed notification for handshake-era clients (standalone channel).
    await ctx.session.send_tool_list_changed()
    return f"{NAME}: flipped"


async def progress_demo(ctx: Context) -> types.CallToolResult:
    meta = ctx.request_context.meta or {}
    token = meta.get("progress_token", meta.get("progressToken"))
    await ctx.report_progress(1, 2, f"{NAME}: step 1 of 2")  # a no-op without a progress token
    with warnings.catch_warnings():  # logging is deprecated from 2026-07-28; att speaks 2025-11-25
        warnings.simplefilter("ignore")
        await ctx.log("info", f"{NAME}: progress_demo log message", logger_name=NAME)
    await ctx.report_progress(2, 2, f"{NAME}: step 2 of 2")
    out = {"server": NAME, "progress_token": token}
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=f"{NAME}: progress_demo done")], structured_content=out
    )


class Answer(BaseModel):
    answer: str


async def elicit(ctx: Context) -> types.CallToolResult:
    r = await ctx.elicit(f"{NAME} asks: what is your answer?", schema=Answer)
    out = {"server": NAME, "action": r.action, "answer": r.data.answer if r.action == "accept" else None}
    return types.CallToolResult(content=[types.TextContent(type="text", text=str(out))], structured_content=out)


mcp.add_tool(own_echo, name=f"{NAME}_echo", description=f"echo through {NAME}")
mcp.add_tool(shared_echo, name="echo", description="echo (offered by every interop server)")
mcp.add_tool(stats, name=f"{NAME}_stats", description=f"counters of {NAME}")
mcp.add_tool(flip, name="flip", description=f"adds {NAME}_flipped to the tool list")
mcp.add_tool(elicit, name=f"{NAME}_elicit", description="asks the client for an answer (elicitation)")
mcp.add_tool(progress_demo, name="progress_demo", description="reports progress twice and logs once, then answers")


@mcp.resource(f"interop://{NAME}/info", name=f"{NAME}_info", mime_type="text/plain")
def info() -> str:
    return f"resource of {NAME}"


@mcp.prompt(name=f"{NAME}_prompt", description=f"a prompt of {NAME}")
def prompt(topic: str) -> str:
    return f"{NAME} prompt about {topic}"


if opts.transport == "stdio":
    log("serving on stdio")
    anyio.run(mcp.run_stdio_async)
else:
    import ssl

    import uvicorn

    app = mcp.sse_app() if opts.transport == "sse" else mcp.streamable_http_app()
    scheme = "https" if opts.ssl_certfile else "http"
    log(f"listening on {scheme}://127.0.0.1:{opts.port}/{'sse' if opts.transport == 'sse' else 'mcp'}")
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=opts.port,
        log_level="warning",
        ssl_certfile=opts.ssl_certfile,
        ssl_keyfile=opts.ssl_keyfile,
        ssl_ca_certs=opts.ssl_ca_certs,
        ssl_cert_reqs=ssl.CERT_REQUIRED if opts.ssl_ca_certs else ssl.CERT_NONE,
    )
