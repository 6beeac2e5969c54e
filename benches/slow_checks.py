"""`POST /api/v1/mcp/servers/health-check` with N healthy but slow upstreams (each answers a
ping after 500 ms): how long checking every server takes.
`python3 benches/slow_checks.py ATT_BINARY [N]` (a debug or release build of att)."""
import json, os, subprocess, sys, tempfile, threading, time, http.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, status, body=None, headers=()):
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        for k, v in headers: self.send_header(k, v)
        if body is not None: self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers(); self.wfile.write(data)
    def do_GET(self): self.reply(405)
    def do_DELETE(self): self.reply(200)
    def do_POST(self):
        msg = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        method, rid = msg.get("method"), msg.get("id")
        if rid is None: return self.reply(202)
        if method == "initialize":
            return self.reply(200, {"jsonrpc": "2.0", "id": rid, "result": {
                "protocolVersion": msg["params"]["protocolVersion"], "capabilities": {"tools": {}},
                "serverInfo": {"name": "hung", "version": "0"}}}, [("mcp-session-id", "s1")])
        if method == "tools/list":
            return self.reply(200, {"jsonrpc": "2.0", "id": rid, "result": {"tools": []}})
        if method == "ping":
            time.sleep(0.5)
            return self.reply(200, {"jsonrpc": "2.0", "id": rid, "result": {}})
        return self.reply(200, {"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "no"}})

srv = ThreadingHTTPServer(("127.0.0.1", 0), Upstream); srv.daemon_threads = True
threading.Thread(target=srv.serve_forever, daemon=True).start()
url = "http://127.0.0.1:%d/mcp" % srv.server_address[1]
binary, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 40
d = tempfile.mkdtemp()
env = {k: v for k, v in os.environ.items() if not k.startswith("ATT_")}
env["ATT_LOG_LEVEL"] = "error"
p = subprocess.Popen([binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", d + "/data"],
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
line = p.stdout.readline()
while "listening on" not in line: line = p.stdout.readline()
port = int(line.strip().rsplit(":", 1)[1])
def req(method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"content-type": "application/json"})
    r = c.getresponse(); return r.status, r.read()
for i in range(n):
    s, b = req("POST", "/api/v1/mcp/servers", {"name": "h%03d" % i, "url": url, "call_timeout": "5s"})
    assert s == 201, (s, b)
time.sleep(2)
t = time.time()
s, b = req("POST", "/api/v1/mcp/servers/health-check", {})
listed = len(json.loads(b).get("servers", [])) if s == 200 else 0
print("%s: %d upstreams answering a ping in 500 ms: health-check of every server -> %d (%d listed) in %.1f s"
      % (os.path.basename(binary), n, s, listed, time.time() - t))
p.terminate(); p.wait()
