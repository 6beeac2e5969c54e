"""OAuth: upstreams behind an authorization server, and att's own `[auth.oidc]` in front of an
SDK client."""

from __future__ import annotations

import json
import subprocess
import urllib.request

from .common import *  # noqa: F403 — the shared helpers are this package's vocabulary


def run_oauth_client(att_url: str, issuer: str, tool: str) -> None:
    """py/oauth_client.py against an att with `[auth.oidc]`; its JSON checks become PASS/FAIL lines."""
    label = "Python client with the SDK's OAuth"
    argv = [args.python, str(HERE / "py" / "oauth_client.py"), "--url", f"{att_url}/mcp", "--issuer", issuer,
            "--tool", tool, "--run-id", args.run_id]
    stderr_path = WORK / "client-py-oauth.stderr"
    try:
        with open(stderr_path, "wb") as err:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, timeout=CLIENT_TIMEOUT)
    except subprocess.TimeoutExpired:
        check(False, f"{label}: finished within {CLIENT_TIMEOUT:.0f} s", "\n      ".join(read_lines(stderr_path)[-10:]))
        return
    lines = [x for x in proc.stdout.decode(errors="replace").splitlines() if x.strip()]
    try:
        items = json.loads(lines[-1])["checks"]
    except (IndexError, ValueError, KeyError, TypeError):
        check(False, f"{label}: printed a JSON summary (exit status {proc.returncode})", "\n      ".join(lines[-5:] + read_lines(stderr_path)[-10:]))
        return
    for item in items:
        detail = item.get("detail")
        if not item.get("ok"):
            detail = {"client": detail, "client stderr": read_lines(stderr_path)[-8:]}
        check(bool(item.get("ok")), f"{label}: {item.get('what')}", detail)
    if not items:
        check(False, f"{label}: reported no checks")


def check_oauth() -> None:
    """A second att whose /mcp is an OAuth protected resource (`[auth.oidc]`, the issuer's keys
    found by discovery), a test authorization server (py/auth_server.py), and the Python SDK's
    OAuth client: it finds the metadata from the 401, registers, gets a token with PKCE, and
    lists and calls an upstream tool through att with it."""
    section("OAuth: att as a protected resource, the Python SDK's OAuth client, a test authorization server")
    as_port, att_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{as_port}/issuer"
    with open(WORK / "auth_server.stderr", "ab") as out:
        auth_server = subprocess.Popen(
            [args.python, str(HERE / "py" / "auth_server.py"), "--port", str(as_port), "--role", "operator",
             "--run-id", args.run_id],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
        )
    upstream = HttpServer("py", "py_oauth_up")
    att_proc = None
    try:
        with open(WORK / "http-server-pids", "a") as f:
            f.write(f"{auth_server.pid}\n")
        if not check(poll(lambda: auth_server.poll() is None and port_open(as_port)), f"the test authorization server serves {issuer}"):
            return
        if not check(upstream.start(), f"py_oauth_up: serving on {upstream.url}"):
            return
        att_url = f"http://127.0.0.1:{att_port}"
        config = WORK / "oauth-att.toml"
        config.write_text(
            "[auth.oidc]\n"
            f'issuer = "{issuer}"\n'
            f'audience = "{att_url}/mcp"\n'
            "\n[[upstreams]]\n"
            'name = "py_oauth_up"\n'
            f'url = "{upstream.url}"\n'
        )
        data_dir = WORK / f"oauth-data-{args.run_id}"  # the run id marks att as this run's
        with open(WORK / "att-oauth.log", "ab") as log:
            att_proc = subprocess.Popen(
                [args.att_bin, "serve", "--listen", f"127.0.0.1:{att_port}", "--data-dir", str(data_dir), "--config", str(config)],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True,
            )
        with open(WORK / "http-server-pids", "a") as f:
            f.write(f"{att_proc.pid}\n")

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{att_url}/api/v1/health", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        if not check(poll(healthy), f"an att with [auth.oidc] serves {att_url}", "\n      ".join(read_lines(WORK / "att-oauth.log")[-10:])):
            return
        run_oauth_client(att_url, issuer, "py_oauth_up_echo")
        log = "\n".join(read_lines(WORK / "att-oauth.log"))
        check("fetched the issuer's signing keys" in log, "att found the issuer's keys by discovery (no jwks_url configured)",
              "\n      ".join(read_lines(WORK / "att-oauth.log")[-10:]))
        check("eyJ" not in log, "att's log holds no token")
    finally:
        if att_proc is not None and att_proc.poll() is None:
            att_proc.terminate()
            try:
                att_proc.wait(30)
            except subprocess.TimeoutExpired:
                att_proc.kill()
                att_proc.wait()
        upstream.stop()
        auth_server.terminate()
        auth_server.wait(10)
