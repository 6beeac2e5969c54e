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
    # 2: a planted temporary-file symlink turns a write into an overwrite outside.
    pid = json.loads(req(port, "GET", "/api/v1/health")[1]).get("pid", p.pid)
    repo = os.path.join(d, "repo"); os.makedirs(repo)
    subprocess.run(["git", "init", "-q", repo], check=True)
    victim = os.path.join(d, "victim"); open(victim, "w").write("intact")
    os.symlink(victim, os.path.join(repo, ".notes.txt.att-write-%d" % pid))
    req(port, "POST", "/api/v1/projects", {"name": "sym", "path": repo})
    s, _ = req(port, "PUT", "/api/v1/projects/sym/file", {"path": "notes.txt", "content": "owned"})
    out.append(("2 write through a planted temporary", s, open(victim).read() != "intact"))
    # 3: `<repo>/.git` registered as a project.
    s, _ = req(port, "POST", "/api/v1/projects", {"name": "gitdir", "path": repo + "/.git"})
    out.append(("3 .git as a project", s, None))
    # 4: an absurd duration.
    s, _ = req(port, "POST", "/api/v1/mcp/servers", {"name": "dur", "url": "http://127.0.0.1:9/mcp",
               "max_init_age": "99999999999h"})
    out.append(("4 max_init_age 99999999999h", s, None))
    # 6: 50 rounds of 4 parallel writes to one file.
    import concurrent.futures as cf
    bad = mixed = 0
    with cf.ThreadPoolExecutor(4) as ex:
        for r in range(50):
            bodies = [("w%d-" % i) * 2000 for i in range(4)]
            st = list(ex.map(lambda b: req(port, "PUT", "/api/v1/projects/sym/file",
                                           {"path": "race.txt", "content": b})[0], bodies))
            bad += sum(1 for x in st if x >= 300)
            mixed += open(os.path.join(repo, "race.txt")).read() not in bodies
    out.append(("6 4 parallel writes x 50: failed / mixed files", bad, mixed))
    # 7: a stdio child in its handshake survives DELETE.
    s, _ = req(port, "GET", "/api/v1/projects/sym/file?path=" + "a" * 5000)
    out.append(("low too-long path", s, None))
    tag = "sleep 29%d" % os.getpid()
    req(port, "POST", "/api/v1/mcp/servers", {"name": "hs", "command": "sh",
        "args": ["-c", "exec " + tag]})
    time.sleep(1.0)
    s, _ = req(port, "DELETE", "/api/v1/mcp/servers/hs")
    time.sleep(1.0)
    alive = subprocess.run(["pgrep", "-f", tag], capture_output=True).returncode == 0
    subprocess.run(["pkill", "-f", tag])
    out.append(("7 handshake child after DELETE: alive", s, alive))
    # 10: a FIFO read.
    os.mkfifo(os.path.join(repo, "fifo"))
    try:
        s, _ = req(port, "GET", "/api/v1/projects/sym/file?path=fifo&limit=10")
    except Exception as e:
        s = "no answer (%s)" % type(e).__name__
    out.append(("10 read of a FIFO", s, None))
    # 8: 1,100 /mcp sessions from one address.
    codes = {}
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "p", "version": "0"}}}
    for _ in range(1100):
        st, _ = req(port, "POST", "/mcp", init, {"accept": "application/json, text/event-stream"})
        codes[st] = codes.get(st, 0) + 1
    out.append(("8 1,100 /mcp sessions from one address", codes, None))
    # 5: resuming the event stream after 1,500 events.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    ids = []
    for i in range(1500):
        c.request("POST", "/api/v1/events", body=json.dumps({"kind": "probe.mark", "data": {"i": i}}),
                  headers={"content-type": "application/json"})
        r = c.getresponse(); ids.append(json.loads(r.read())["id"])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(("GET /api/v1/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: %d\r\n\r\n"
                  % (ids[0] - 1)).encode())
    seen, buf, until = set(), b"", time.time() + 15
    while time.time() < until and not set(ids) <= seen:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
        for line in buf.split(b"\n"):
            if line.startswith(b"id:"):
                try: seen.add(int(line[3:].strip()))
                except ValueError: pass
        buf = buf[buf.rfind(b"\n") + 1:]
    sock.close()
    out.append(("5 resume after 1,500 events: missing", len(set(ids) - seen), None))
    # 8: a slowloris socket (headers never finished) is closed after `header_read_timeout`.
    sock = socket.create_connection(("127.0.0.1", port), timeout=40)
    sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    start_t = time.time()
    try:
        closed = sock.recv(1024) == b""
    except (socket.timeout, ConnectionResetError) as e:
        closed = isinstance(e, ConnectionResetError)
    out.append(("8 slowloris socket closed within 40 s", closed, "%.0f s" % (time.time() - start_t)))
    sock.close()
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
