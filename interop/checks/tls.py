"""HTTPS upstreams: a CA made for the run (openssl), the Python SDK server behind TLS,
registered with `tls.ca_file` (routed; two replicas, one killed, the other takes the calls),
without it (the unknown issuer named), and demanding a client certificate (mTLS)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from .common import *  # noqa: F403 — the shared helpers are this package's vocabulary


def make_test_pki(where: Path) -> tuple[Path, Path, Path]:
    """A CA made for this run, a certificate for 127.0.0.1 signed by it and a client certificate
    (`client.pem`, `client.key`) signed by it too (openssl); the CA's, the server's and the
    server key's files."""
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
    client_ext = where / "client.ext"
    client_ext.write_text("extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n")
    subprocess.run(
        ["openssl", "req", *ec, "-keyout", where / "client.key", "-out", where / "client.csr", "-subj", "/CN=att"],
        **quiet,
    )
    subprocess.run(
        ["openssl", "x509", "-req", "-in", where / "client.csr", "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", where / "client.pem", "-days", "2", "-extfile", client_ext],
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

    error = last_error("py_https_untrusted", "unknown issuer")
    check(bool(error), f"without the CA att names the failure: {error or 'no such error'}", att_log_lines("py_https"))
    for name in ["py_https", "py_https_untrusted"]:
        api("DELETE", f"/api/v1/mcp/servers/{name}")
    server.stop()
    section("HTTPS failover: two replicas of one Python SDK server, both with tls.ca_file; one killed")
    check_failover("py", "py_tls", tls=(cert, key), register={"tls": {"ca_file": str(ca)}})
    check_mtls_upstream(ca, cert, key)


def last_error(name: str, needle: str) -> Any:
    """NAME's last error once it names `needle` (polled), else a falsy value."""

    def named() -> Any:
        _, v = api("GET", f"/api/v1/mcp/servers/{name}")
        error = (v.get("state") or {}).get("last_error") or ""
        return needle in error and error

    return poll(named)


def check_mtls_upstream(ca: Path, cert: Path, key: Path) -> None:
    """The Python SDK under uvicorn demanding a client certificate signed by the test CA
    (`ssl_cert_reqs=CERT_REQUIRED`): registered with `tls.client_cert`/`client_key` it answers;
    registered without them, att names the refusal."""
    section("an HTTPS upstream requiring mTLS: the Python SDK under uvicorn with ssl_cert_reqs=CERT_REQUIRED")
    server = HttpServer("py", "py_mtls", tls=(cert, key, ca))
    if not check(server.start(), f"py_mtls: serving HTTPS on {server.url}, a client certificate required"):
        return
    pki = ca.parent
    with_cert = {"ca_file": str(ca), "client_cert": str(pki / "client.pem"), "client_key": str(pki / "client.key")}
    for name, tls in [("py_mtls", with_cert), ("py_mtls_nocert", {"ca_file": str(ca)})]:
        status, v = api("POST", "/api/v1/mcp/servers", {"name": name, "url": server.url, "tls": tls})
        check(status == 201, f"{name}: registered with tls {sorted(tls)}", v)

    def answered() -> Any:
        status, v = invoke_tool("py_mtls_echo", {"text": "mutual"}, ["py_mtls"])
        return status == 200 and v.get("server") == "py_mtls" and v

    v = poll(answered)
    check(
        bool(v) and v["result"]["structuredContent"] == {"server": "py_mtls", "text": "mutual"},
        "py_mtls_echo through att answered by py_mtls, att presenting the client certificate",
        v or invoke_tool("py_mtls_echo", {"text": "mutual"}, ["py_mtls"])[1],
    )
    # OpenSSL under TLS 1.3 refuses the missing certificate only after att's Finished: att
    # names it all the same (its own probe handshake sees the CertificateRequest).
    error = last_error("py_mtls_nocert", "client certificate required")
    _, v = api("GET", "/api/v1/mcp/servers/py_mtls_nocert")
    state = v.get("state") or {}
    check(
        bool(error) and not state.get("initialized") and state.get("last_error_category") == "tls",
        f"without the client certificate att names the failure: {error or 'no such error'}",
        v,
    )
    for name in ["py_mtls", "py_mtls_nocert"]:
        api("DELETE", f"/api/v1/mcp/servers/{name}")
    server.stop()
