"""A minimal OAuth 2.1 authorization server for att's interop checks (../check.py): what an MCP
client needs to get an access token for att's /mcp, and what att needs to verify it. Not a real
server: it approves every request at once (no login page), keeps everything in memory, and
listens on 127.0.0.1 only.

    python auth_server.py --port 9000 --role operator [--run-id TOKEN]

The issuer is http://127.0.0.1:PORT/issuer (a path, so that no trailing-slash normalisation can
make two spellings of it). It serves, under the issuer:
  - metadata: /.well-known/oauth-authorization-server/issuer (RFC 8414) and
    /issuer/.well-known/openid-configuration (OpenID Connect Discovery; att finds its jwks_uri);
  - /issuer/register: dynamic client registration (RFC 7591), public clients;
  - /issuer/authorize: the authorization-code grant with PKCE (S256 only), answered with a 302 to
    the client's redirect_uri carrying code, state and iss (RFC 9207);
  - /issuer/token: the code for an access token — a JWT signed with ES256 (a P-256 key made at
    start), `aud` = the `resource` the client asked for (RFC 8707), `sub` = the client id,
    `att_role` = --role, valid 5 minutes;
  - /issuer/jwks: the public key as a JWK Set.
Prints `listening on PORT` once it serves; logs one line per request on stderr.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--role", default="operator")
parser.add_argument("--run-id")  # only marks the process as this run's
opts = parser.parse_args()

ISSUER = f"http://127.0.0.1:{opts.port}/issuer"
KEY = ec.generate_private_key(ec.SECP256R1())
KID = "interop-" + secrets.token_hex(4)
JWK = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key()))
JWK.update({"kid": KID, "use": "sig", "alg": "ES256"})

METADATA = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/authorize",
    "token_endpoint": f"{ISSUER}/token",
    "registration_endpoint": f"{ISSUER}/register",
    "jwks_uri": f"{ISSUER}/jwks",
    "response_types_supported": ["code"],
    "grant_types_supported": ["authorization_code"],
    "code_challenge_methods_supported": ["S256"],
    "token_endpoint_auth_methods_supported": ["none"],
    "authorization_response_iss_parameter_supported": True,
}

clients: dict[str, dict] = {}
codes: dict[str, dict] = {}  # code -> what the authorization request said


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt: str, *args) -> None:  # one line per request, on stderr
        sys.stderr.write(f"auth_server: {self.command} {urlparse(self.path).path} {fmt % args}\n")

    def answer(self, status: int, body: dict | None = None, headers: dict | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("content-type", "application/json")
            self.send_header("cache-control", "no-store")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def form(self) -> dict[str, str]:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
        if self.headers.get("content-type", "").startswith("application/json"):
            return json.loads(raw or "{}")
        return {k: v[0] for k, v in parse_qs(raw).items()}

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path in ("/.well-known/oauth-authorization-server/issuer", "/issuer/.well-known/openid-configuration"):
            return self.answer(200, METADATA)
        if url.path == "/issuer/jwks":
            return self.answer(200, {"keys": [JWK]})
        if url.path == "/issuer/authorize":
            return self.authorize({k: v[0] for k, v in parse_qs(url.query).items()})
        return self.answer(404, {"error": "not_found"})

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        if path == "/issuer/register":
            meta = self.form()
            client_id = "client-" + secrets.token_hex(6)
            clients[client_id] = meta
            return self.answer(
                201,
                {**meta, "client_id": client_id, "client_id_issued_at": int(time.time()), "token_endpoint_auth_method": "none"},
            )
        if path == "/issuer/token":
            return self.token(self.form())
        return self.answer(404, {"error": "not_found"})

    def authorize(self, q: dict[str, str]) -> None:
        client = clients.get(q.get("client_id", ""))
        if client is None or q.get("redirect_uri") not in client.get("redirect_uris", []):
            return self.answer(400, {"error": "invalid_request", "error_description": "unknown client or redirect_uri"})
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return self.answer(400, {"error": "invalid_request", "error_description": "code + PKCE S256 only"})
        code = secrets.token_urlsafe(16)
        codes[code] = q
        query = urlencode({"code": code, "state": q.get("state", ""), "iss": ISSUER})
        self.answer(302, None, {"location": f"{q['redirect_uri']}?{query}"})

    def token(self, f: dict[str, str]) -> None:
        asked = codes.pop(f.get("code", ""), None)
        if f.get("grant_type") != "authorization_code" or asked is None:
            return self.answer(400, {"error": "invalid_grant"})
        verifier = f.get("code_verifier", "")
        if b64url(hashlib.sha256(verifier.encode()).digest()) != asked["code_challenge"]:
            return self.answer(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
        if f.get("client_id") != asked["client_id"] or f.get("redirect_uri") != asked["redirect_uri"]:
            return self.answer(400, {"error": "invalid_grant", "error_description": "client or redirect_uri differ"})
        resource = f.get("resource") or asked.get("resource")
        if not resource:
            return self.answer(400, {"error": "invalid_target", "error_description": "no resource (RFC 8707)"})
        now = int(time.time())
        claims = {
            "iss": ISSUER, "aud": resource, "sub": asked["client_id"], "att_role": opts.role,
            "iat": now, "nbf": now, "exp": now + 300, "client_id": asked["client_id"],
        }
        token = jwt.encode(claims, KEY, algorithm="ES256", headers={"kid": KID, "typ": "at+jwt"})
        self.answer(200, {"access_token": token, "token_type": "Bearer", "expires_in": 300})


server = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
print(f"listening on {opts.port}", flush=True)
server.serve_forever()
