// A streamable HTTP front for `att mcp stdio`, so that the conformance suite — whose server mode
// speaks only streamable HTTP (`server --url URL`: the CLI validates a URL and its scenarios use
// the SDK's StreamableHTTPClientTransport and raw fetch; it has no way to spawn a process) — can
// drive att's stdio bridge. Written with the official TypeScript SDK's two transports and nothing
// else: each HTTP session (StreamableHTTPServerTransport, stateful, resumable) spawns its own
// `att mcp stdio --att-url ATT` (StdioClientTransport) and relays JSON-RPC messages both ways,
// unchanged.
//
//   node stdio_relay.mjs --port 8124 --att-bin path/to/att --att-url http://127.0.0.1:8300 [--run-id TOKEN]
//
// stdio has one stream per direction, so what HTTP knows — which POST a notification or a
// server-to-client request belongs to — is gone once a message has crossed `att mcp stdio`.
// The relay puts it back the way a desktop client's own transport would see it: a response
// goes with its request, `notifications/progress` with the request that gave its progress
// token, any other notification or request of att's with the newest request still in flight
// (or on the standalone GET stream when none is). So the scenarios that test HTTP itself (session
// ids, GET/DELETE, resumption, DNS rebinding) test this relay's SDK transport; the others test
// what att sends and answers through the bridge.

import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

import { memoryEventStore } from './event_store.mjs';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string' },
    'att-bin': { type: 'string' },
    'att-url': { type: 'string' },
    'run-id': { type: 'string' }, // only marks the process as this run's (./run scans /proc for it)
  },
});
if (!opts.port || !opts['att-bin'] || !opts['att-url']) {
  process.stderr.write('usage: stdio_relay.mjs --port N --att-bin PATH --att-url URL [--run-id TOKEN]\n');
  process.exit(2);
}

const log = (line) => process.stderr.write(`[stdio-relay pid ${process.pid}] ${line}\n`);
const MAX_SESSIONS = 64; // each is a child process
const eventStore = memoryEventStore();
const sessions = new Map(); // session id -> StreamableHTTPServerTransport

// Relays between one HTTP session and one `att mcp stdio` child.
function link(http, child) {
  const inFlight = new Map(); // id of a client request not yet answered -> its progress token
  http.onmessage = (message) => {
    if ('method' in message && 'id' in message) inFlight.set(message.id, message.params?._meta?.progressToken);
    child.send(message).catch((e) => log(`to att mcp stdio: ${e?.message ?? e}`));
  };
  child.onmessage = (message) => {
    let related;
    if (!('method' in message)) {
      related = message.id; // a response (the transport routes it by its id anyway)
      inFlight.delete(message.id);
    } else if (message.method === 'notifications/progress') {
      related = [...inFlight].find(([, token]) => token === message.params?.progressToken)?.[0];
    } else {
      related = [...inFlight.keys()].pop();
    }
    http
      .send(message, related === undefined ? undefined : { relatedRequestId: related })
      .catch((e) => log(`to the HTTP client: ${e?.message ?? e}`));
  };
  child.onerror = (e) => log(`att mcp stdio: ${e?.message ?? e}`);
  let closing = false;
  const closeBoth = () => {
    if (closing) return;
    closing = true;
    if (http.sessionId) sessions.delete(http.sessionId);
    http.close().catch(() => {});
    child.close().catch(() => {});
  };
  http.onclose = closeBoth;
  child.onclose = closeBoth;
}

const app = createMcpExpressApp({ host: '127.0.0.1' }); // 403 for a non-loopback Host
const jsonError = (res, status, code, message) => res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });

app.post('/mcp', async (req, res) => {
  try {
    const sid = req.headers['mcp-session-id'];
    let http = sid ? sessions.get(sid) : undefined;
    if (!http) {
      if (sid) return jsonError(res, 404, -32001, 'Session not found');
      if (!isInitializeRequest(req.body)) return jsonError(res, 400, -32000, 'Bad Request: no session');
      if (sessions.size >= MAX_SESSIONS) return jsonError(res, 503, -32000, 'Too many sessions');
      const child = new StdioClientTransport({
        command: opts['att-bin'],
        args: ['mcp', 'stdio', '--att-url', opts['att-url']],
        stderr: 'inherit',
      });
      http = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore,
        retryInterval: 1000,
        onsessioninitialized: (id) => sessions.set(id, http),
      });
      link(http, child);
      await child.start();
      await http.start();
    }
    await http.handleRequest(req, res, req.body);
  } catch (e) {
    log(`error: ${e?.stack ?? e}`);
    if (!res.headersSent) jsonError(res, 500, -32603, 'Internal server error');
  }
});

// GET (the standalone SSE stream, or a resumption with Last-Event-ID) and DELETE (end a session).
const sessionRoute = async (req, res) => {
  const sid = req.headers['mcp-session-id'];
  const http = sid && sessions.get(sid);
  if (!sid) return jsonError(res, 400, -32000, 'Bad Request: no session');
  if (!http) return jsonError(res, 404, -32001, 'Session not found');
  try {
    await http.handleRequest(req, res);
  } catch (e) {
    log(`error: ${e?.stack ?? e}`);
    if (!res.headersSent) jsonError(res, 500, -32603, 'Internal server error');
  }
};
app.get('/mcp', sessionRoute);
app.delete('/mcp', sessionRoute);

app.listen(Number(opts.port), '127.0.0.1', () => log(`listening on http://127.0.0.1:${opts.port}/mcp`));
const stop = async () => {
  await Promise.allSettled([...sessions.values()].map((t) => t.close()));
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
