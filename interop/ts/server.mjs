// An upstream MCP server written with the official TypeScript SDK (@modelcontextprotocol/sdk),
// for att's interop script (../run). One program, two transports:
//
//   node server.mjs --name ts_stdio --transport stdio [--log FILE] [--run-id TOKEN]
//   node server.mjs --name ts_http  --transport http --port 8123 [--log FILE] [--run-id TOKEN]
//   node server.mjs --name ts_sse   --transport sse  --port 8125 [--log FILE] [--run-id TOKEN]
//
// With `sse` it is the SDK's legacy HTTP+SSE transport (SSEServerTransport, protocol
// 2024-11-05): `GET /sse` opens a session (its own McpServer) whose `endpoint` event names
// `/messages?sessionId=…`; a POST there for an unknown session is 404.
//
// Over HTTP it is a *stateful* streamable HTTP server: every `initialize` POST creates a session
// (its own McpServer + transport) and the answer carries `Mcp-Session-Id`; an unknown session id
// gets 404, as the spec requires, so a restarted process rejects the sessions of the old one.
//
// What it offers (NAME is --name):
//   tools      NAME_echo {text}   text "NAME: <text>" + structuredContent {server, text}
//              echo {text}        the same, under a name every interop server shares (routing by priority)
//              NAME_stats {}      structuredContent {server, pid, transport, initialize_count,
//                                 pre_init_notifications, session_id, client}
//              flip {}            adds the tool NAME_flipped and sends notifications/tools/list_changed
//              NAME_flipped {}    exists only after `flip`
//              progress_demo {}   sends notifications/progress 1/2, a notifications/message and progress
//                                 2/2 on the call's own channel, then answers "NAME: progress_demo done"
//                                 + structuredContent {server, progress_token} (the token att sent)
//   resource   interop://NAME/info
//   prompt     NAME_prompt {topic}
//
// Notifications before the initialize response: the SDK's own `initialize` handler is replaced by
// one that first sends `notifications/message` and `notifications/tools/list_changed` *related to
// the initialize request* (extra.sendNotification) and only then returns the SDK's result. On
// stdio they are written to stdout before the response; over HTTP they are events on the
// initialize POST's SSE stream before the result. Each time, a line saying so goes to stderr and
// to --log.

import { appendFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { InitializeRequestSchema, isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const { values: opts } = parseArgs({
  options: {
    name: { type: 'string' },
    transport: { type: 'string', default: 'stdio' },
    port: { type: 'string' },
    log: { type: 'string' },
    'run-id': { type: 'string' }, // only marks the process as this run's (../run scans /proc for it)
  },
});
const NAME = opts.name;
if (!NAME || !['stdio', 'http', 'sse'].includes(opts.transport)) {
  process.stderr.write('usage: server.mjs --name NAME --transport stdio|http|sse [--port N] [--log FILE]\n');
  process.exit(2);
}

// Process-wide counters (over HTTP they add up over every session of this process).
const state = { initializeCount: 0, preInitNotifications: 0, flipped: false, lastClient: null };
const servers = new Set(); // every live McpServer (one for stdio, one per session over HTTP)
const flippedOn = new WeakSet(); // the McpServers that already have NAME_flipped

function log(line) {
  const text = `[${NAME} pid ${process.pid}] ${line}`;
  process.stderr.write(text + '\n');
  if (opts.log) appendFileSync(opts.log, text + '\n');
}

const textResult = (text, structured) => ({
  content: [{ type: 'text', text }],
  ...(structured && { structuredContent: structured }),
});

const echoShape = { server: z.string(), text: z.string() };

function registerFlipped(server) {
  // registerTool on a connected McpServer makes the SDK send notifications/tools/list_changed
  // (over HTTP on the session's standalone GET stream, as the SDK does for any list change).
  flippedOn.add(server);
  server.registerTool(`${NAME}_flipped`, { description: `appears after ${NAME}'s flip` }, async () =>
    textResult(`${NAME}: flipped tool called`),
  );
}

// One McpServer with everything this upstream offers.
function buildServer() {
  const server = new McpServer(
    { name: `interop-${NAME}`, version: '1.0.0' },
    { capabilities: { logging: {} } },
  );

  server.registerTool(
    `${NAME}_echo`,
    { description: `echo through ${NAME}`, inputSchema: { text: z.string() }, outputSchema: echoShape },
    async ({ text }) => textResult(`${NAME}: ${text}`, { server: NAME, text }),
  );
  server.registerTool(
    'echo',
    { description: 'echo (offered by every interop server)', inputSchema: { text: z.string() }, outputSchema: echoShape },
    async ({ text }) => textResult(`${NAME}: ${text}`, { server: NAME, text }),
  );
  // (A tool without inputSchema gets only `extra`.)
  server.registerTool(`${NAME}_stats`, { description: `counters of ${NAME}` }, async (extra) => {
    const stats = {
      server: NAME,
      pid: process.pid,
      transport: opts.transport,
      initialize_count: state.initializeCount,
      pre_init_notifications: state.preInitNotifications,
      session_id: extra.sessionId ?? null,
      client: state.lastClient,
    };
    return textResult(JSON.stringify(stats), stats);
  });
  server.registerTool('flip', { description: `adds ${NAME}_flipped to the tool list` }, async () => {
    state.flipped = true;
    for (const s of servers) {
      if (!flippedOn.has(s)) registerFlipped(s);
    }
    return textResult(`${NAME}: flipped`, undefined);
  });
  if (state.flipped) registerFlipped(server);
  server.registerTool('progress_demo', { description: 'reports progress twice and logs once, then answers' }, async (extra) => {
    const token = extra._meta?.progressToken;
    const progress = (n) =>
      token === undefined
        ? undefined
        : extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken: token, progress: n, total: 2, message: `${NAME}: step ${n} of 2` },
          });
    await progress(1);
    await extra.sendNotification({
      method: 'notifications/message',
      params: { level: 'info', logger: NAME, data: `${NAME}: progress_demo log message` },
    });
    await progress(2);
    return textResult(`${NAME}: progress_demo done`, { server: NAME, progress_token: token ?? null });
  });

  server.registerResource(
    `${NAME}_info`,
    `interop://${NAME}/info`,
    { description: `about ${NAME}`, mimeType: 'text/plain' },
    async (uri) => ({ contents: [{ uri: uri.href, mimeType: 'text/plain', text: `resource of ${NAME}` }] }),
  );
  server.registerPrompt(
    `${NAME}_prompt`,
    { description: `a prompt of ${NAME}`, argsSchema: { topic: z.string() } },
    ({ topic }) => ({
      messages: [{ role: 'user', content: { type: 'text', text: `${NAME} prompt about ${topic}` } }],
    }),
  );

  // The hook: replace the SDK's initialize handler (Server._oninitialize builds the result) with
  // one that sends two notifications on the initialize request's own channel first.
  const inner = server.server;
  inner.setRequestHandler(InitializeRequestSchema, async (request, extra) => {
    state.initializeCount += 1;
    const n = state.initializeCount;
    const client = request.params.clientInfo?.name ?? '?';
    await extra.sendNotification({
      method: 'notifications/message',
      params: { level: 'info', logger: NAME, data: `${NAME}: hello before the initialize response (#${n})` },
    });
    await extra.sendNotification({ method: 'notifications/tools/list_changed' });
    state.preInitNotifications += 2;
    state.lastClient = client;
    log(
      `PRE-INIT: sent notifications/message and notifications/tools/list_changed before the initialize response ` +
        `(initialize #${n}, client ${client}, transport ${opts.transport})`,
    );
    return inner._oninitialize(request);
  });

  servers.add(server);
  return server;
}

if (opts.transport === 'stdio') {
  const server = buildServer();
  const transport = new StdioServerTransport();
  // When stdin ends (the client is gone) nothing keeps Node's event loop alive: it exits.
  await server.connect(transport);
  log('serving on stdio');
} else if (opts.transport === 'sse') {
  const port = Number(opts.port);
  const transports = new Map(); // session id -> SSEServerTransport
  const httpServer = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://localhost');
      if (req.method === 'GET' && url.pathname === '/sse') {
        const server = buildServer();
        const t = new SSEServerTransport('/messages', res);
        transports.set(t.sessionId, t);
        t.onclose = () => {
          transports.delete(t.sessionId);
          servers.delete(server);
          log(`sse session ${t.sessionId} closed (${transports.size} open)`);
        };
        await server.connect(t);
        log(`sse session ${t.sessionId} opened (${transports.size} open)`);
      } else if (req.method === 'POST' && url.pathname === '/messages') {
        const t = transports.get(url.searchParams.get('sessionId'));
        if (!t) {
          res.writeHead(404).end('unknown session');
          return;
        }
        await t.handlePostMessage(req, res);
      } else {
        res.writeHead(404).end();
      }
    } catch (e) {
      log(`error: ${e?.stack ?? e}`);
      if (!res.headersSent) res.writeHead(500).end();
    }
  });
  httpServer.listen(port, '127.0.0.1', () => log(`listening on http://127.0.0.1:${port}/sse`));
  process.on('SIGTERM', () => {
    log('stopping');
    process.exit(0);
  });
} else {
  const port = Number(opts.port);
  const transports = new Map(); // session id -> transport

  const httpServer = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://localhost');
      if (url.pathname !== '/mcp') {
        res.writeHead(404).end();
        return;
      }
      let body;
      if (req.method === 'POST') {
        const chunks = [];
        for await (const c of req) chunks.push(c);
        body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
      }
      const sid = req.headers['mcp-session-id'];
      let transport = sid ? transports.get(sid) : undefined;
      if (!transport) {
        if (sid) {
          // A session this process does not know (e.g. it was restarted): 404, as the spec says.
          log(`unknown session ${sid}: 404`);
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
          return;
        }
        if (req.method !== 'POST' || !isInitializeRequest(body)) {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: no session' }, id: null }));
          return;
        }
        // A new session: its own transport and McpServer.
        const server = buildServer();
        transport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => {
            transports.set(id, transport);
            log(`session ${id} opened (${transports.size} open)`);
          },
        });
        const t = transport;
        t.onclose = () => {
          if (t.sessionId) transports.delete(t.sessionId);
          servers.delete(server);
          log(`session ${t.sessionId} closed (${transports.size} open)`);
        };
        await server.connect(t);
      }
      await transport.handleRequest(req, res, body);
    } catch (e) {
      log(`error: ${e?.stack ?? e}`);
      if (!res.headersSent) res.writeHead(500).end();
    }
  });
  httpServer.listen(port, '127.0.0.1', () => log(`listening on http://127.0.0.1:${port}/mcp`));
  const stop = () => {
    log('stopping');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
