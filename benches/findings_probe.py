"""Black-box probes of issue 13's findings against att binaries, for a before/after:
`python3 benches/findings_probe.py OLD_ATT NEW_ATT` (release builds). Each row: the finding,
the status att answered, and what leaked (a file created, a secret echoed, a JSON-RPC code)."""
import json, os, subprocess, sys, tempfile, time, http.client, socket

def start(binary, env_extra=None, token=None):
    d = tempfile.mkdtemp()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATT_")}
    env["ATT_LOG_LEVEL"] = "error"
    if token: env["ATT_API_TOKEN"] = token
    env.update(env_extra or {})
    p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", d + "/data"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=d, text=True)
    line = p.stdout.readline()
    while line and "listening on" not in line:
        line = p.stdout.readline()
    if not line:
        return p, None, d, p.stderr.read()
    port = int(line.strip().rsplit(":", 1)[1])
    return p, port, d, None

def req(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    h = {"content-type": "application/json"}
    h.update(headers or {})
    c.request(method, path, body=body if isinstance(body, (str, bytes, type(None))) else json.dumps(body), headers=h)
    r = c.getresponse()
    return r.status, r.read().decode(errors="replace")

def probes(binary):
    out = []
    p, port, d, err = start(binary)
    # 1. DNS rebinding: attacker Host/Origin reaches /api and runs a command.
    s, _ = req(port, "POST", "/api/v1/mcp/servers",
               {"name": "rb", "command": "sh", "args": ["-c", "touch pwned"]},
               {"Host": "attacker.example:%d" % port, "Origin": "http://attacker.example:%d" % port})
    time.sleep(1.0)
    out.append(("1 rebinding POST /api/v1/mcp/servers", s, os.path.exists(os.path.join(d, "pwned"))))
    # low: URL with port 99999 / CRLF
    s, _ = req(port, "POST", "/api/v1/mcp/servers", {"name": "badurl", "url": "http://127.0.0.1:99999/mcp"})
    out.append(("low url port 99999", s, None))
    # 11: secrets echoed
    s, b = req(port, "POST", "/api/v1/mcp/servers", {"name": "sec", "url": "http://127.0.0.1:9/mcp",
               "headers": {"Authorization": "Bearer ghp_SECRET123"}})
    out.append(("11 header secret echoed", s, "ghp_SECRET123" in b))
    # low: malformed JSON-RPC on /mcp
    s, b = req(port, "POST", "/mcp", "{not json", {"accept": "application/json, text/event-stream"})
    out.append(("low /mcp not JSON", s, "-32700" in b))
    # low: DELETE unknown session
    s, _ = req(port, "DELETE", "/mcp", None, {"mcp-session-id": "nope", "mcp-protocol-version": "2025-11-25"})
    out.append(("low DELETE /mcp unknown session", s, None))
    # low: too-long path
    s, _ = req(port, "POST", "/api/v1/projects", {"name": "p", "path": d + "/p"})
    s, _ = req(port, "GET", "/api/v1/projects/p/file?path=" + "a" * 5000)
    out.append(("low too-long path", s, None))
    p.terminate(); p.wait()
    # low: lowercase bearer
    p, port, d, err = start(binary, token="tok-0123456789abcdef")
    s, _ = req(port, "GET", "/api/v1/mcp/servers", None, {"Authorization": "bearer tok-0123456789abcdef"})
    out.append(("low lowercase bearer", s, None))
    p.terminate(); p.wait()
    # low: ATT_URL in the environment
    p, port, d, err = start(binary, env_extra={"ATT_URL": "http://127.0.0.1:1"})
    out.append(("low serve with ATT_URL set", "starts" if port else "refused", (err or "").strip()[:80]))
    if port: p.terminate(); p.wait()
    return out

for b in sys.argv[1:]:
    print("==", b)
    for row in probes(b):
        print(*row, sep=" | ")
