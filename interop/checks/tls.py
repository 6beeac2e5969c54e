"""HTTPS upstreams: a CA made for the run (openssl), the Python SDK server behind TLS,
registered with `tls.ca_file`, without it (the unknown issuer named), and with mTLS."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from .common import *  # noqa: F403 — the shared helpers are this package's vocabulary


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
