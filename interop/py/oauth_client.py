"""An MCP client of the official Python SDK (`mcp`) using the SDK's own OAuth support
(`mcp.client.auth.OAuthClientProvider`: authorization code + PKCE, dynamic client
registration) against an att whose /mcp is an OAuth protected resource (`[auth.oidc]`), for
att's interop script (../check.py). The authorization server is ./auth_server.py.

    python oauth_client.py --url http://127.0.0.1:8300/mcp --issuer http://127.0.0.1:9000/issuer \\
                           --tool NAME [--run-id TOKEN]

What a person would do in a browser is driven here: the redirect handler GETs the authorization
URL and reads the code from the 302 the test server answers (it approves at once); the callback
handler hands the code, state and iss back to the SDK. Everything else — the 401, reading
WWW-Authenticate, the protected-resource metadata, the server metadata, registration, the token
exchange, retrying with the token — is the SDK's.

Prints one JSON object on stdout: {"sdk": "python", "version": …, "checks": [{ok, what, detail}]}.
Exits 0 even when a check fails (the JSON says so). Every wait is bounded.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
import traceback
from typing import Any
from urllib.parse import parse_qs, urlparse

import anyio
import httpx2
import mcp_types as types
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider, TokenStorage
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True)
parser.add_argument("--issuer", required=True)
parser.add_argument("--tool", required=True, help="an upstream tool to call through att")
parser.add_argument("--run-id")  # only marks the process as this run's
opts = parser.parse_args()
TIMEOUT = 20.0
# Never connected to: the redirect handler reads the code from the authorization server's 302.
REDIRECT_URI = "http://127.0.0.1:9/callback"

checks: list[dict[str, Any]] = []


def check(ok: Any, what: str, detail: Any = None) -> bool:
    entry: dict[str, Any] = {"ok": bool(ok), "what": what}
    if not ok:
        entry["detail"] = detail
    checks.append(entry)
    return bool(ok)


class Memory(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


redirected: dict[str, str | None] = {}


async def on_redirect(authorization_url: str) -> None:
    """The user's browser: GET the authorization URL, read the redirect the server answers."""
    async with httpx2.AsyncClient(follow_redirects=False, timeout=TIMEOUT) as http:
        r = await http.get(authorization_url)
    location = r.headers.get("location", "")
    q = parse_qs(urlparse(location).query)
    redirected.update(code=q.get("code", [None])[0], state=q.get("state", [None])[0], iss=q.get("iss", [None])[0])
    redirected["authorization_url"] = authorization_url


async def on_callback() -> AuthorizationCodeResult:
    return AuthorizationCodeResult(code=redirected.get("code") or "", state=redirected.get("state"), iss=redirected.get("iss"))


async def unauthenticated_answer() -> None:
    """What att answers a client that has no token yet: 401 naming its metadata."""
    async with httpx2.AsyncClient(timeout=TIMEOUT) as http:
        r = await http.post(
            opts.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "probe", "version": "0"}}},
            headers={"accept": "application/json, text/event-stream"},
        )
        challenge = r.headers.get("www-authenticate", "")
        base = opts.url.removesuffix("/mcp")
        metadata_url = f"{base}/.well-known/oauth-protected-resource/mcp"
        check(
            r.status_code == 401 and f'resource_metadata="{metadata_url}"' in challenge,
            f"without a token: {r.status_code}, WWW-Authenticate names {metadata_url}",
            {"status": r.status_code, "www-authenticate": challenge},
        )
        m = await http.get(metadata_url)
        doc = m.json() if m.status_code == 200 else {}
        check(
            doc.get("resource") == opts.url and doc.get("authorization_servers") == [opts.issuer],
            "the protected-resource metadata names /mcp and the test issuer, without a credential",
            {"status": m.status_code, "body": m.text[:500]},
        )


async def run() -> None:
    await unauthenticated_answer()
    storage = Memory()
    provider = OAuthClientProvider(
        server_url=opts.url,
        client_metadata=OAuthClientMetadata(
            client_name="att interop (Python SDK)",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=on_redirect,
        callback_handler=on_callback,
    )
    async with (
        httpx2.AsyncClient(auth=provider, timeout=TIMEOUT) as http,
        streamable_http_client(opts.url, http_client=http) as (read, write),
        ClientSession(
            read,
            write,
            read_timeout_seconds=TIMEOUT,
            client_info=types.Implementation(name="interop-py-oauth-client", version="1.0.0"),
        ) as session,
    ):
        try:
            init = await session.initialize()
        except Exception as e:
            check(False, "initialize through the SDK's OAuth flow", f"{type(e).__name__}: {e}")
            return
        prm = provider.context.protected_resource_metadata
        check(
            prm is not None and str(prm.resource).rstrip("/") == opts.url,
            "the SDK read att's protected-resource metadata (from the 401's WWW-Authenticate)",
            str(prm),
        )
        asm = provider.context.oauth_metadata
        check(asm is not None and str(asm.issuer) == opts.issuer, "and the issuer's metadata", str(asm))
        check(
            storage.client is not None and "code_challenge=" in (redirected.get("authorization_url") or ""),
            "registered itself and got a code with PKCE (S256)",
            redirected.get("authorization_url"),
        )
        check(
            storage.tokens is not None and storage.tokens.token_type.lower() == "bearer",
            "got an access token for att's /mcp (resource indicator)",
            None,
        )
        check(init.server_info.name == "att", f"initialize with the token: server {init.server_info.name}", None)
        try:
            listed = await session.list_tools()
            names = {t.name for t in listed.tools}
        except Exception as e:
            names = set()
            check(False, "tools/list", f"{type(e).__name__}: {e}")
        check(opts.tool in names, f"tools/list with the token includes {opts.tool}", sorted(names))
        try:
            result = await session.call_tool(opts.tool, {"text": "through oauth"})
            text = " ".join(getattr(c, "text", "") for c in result.content)
            check(not result.is_error and "through oauth" in text, f"tools/call {opts.tool} with the token: {text[:80]}", text)
        except Exception as e:
            check(False, f"tools/call {opts.tool}", f"{type(e).__name__}: {e}")


def main() -> None:
    try:
        anyio.run(_bounded)
    except Exception as e:  # a crash is a failed check, reported in the JSON
        check(False, f"the OAuth client crashed: {type(e).__name__}: {e}", traceback.format_exc()[-1500:])
    print(json.dumps({"sdk": "python", "version": importlib.metadata.version("mcp"), "checks": checks}))


async def _bounded() -> None:
    with anyio.fail_after(60):
        await run()


if __name__ == "__main__":
    main()
    sys.exit(0)
