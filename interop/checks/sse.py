"""Legacy HTTP+SSE upstreams (protocol 2024-11-05): both SDKs' SSE server transports
registered with `"transport": "sse"`, called, killed and failed over from."""

from __future__ import annotations

from typing import Any

from .common import *  # noqa: F403 — the shared helpers are this package's vocabulary


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
    for kind in ("ts", "py"):
        section(f"legacy SSE failover: two replicas of one {kind} SSE server; one killed")
        check_failover(kind, f"{kind}_sse_replica", transport="sse", register={"transport": "sse"})
