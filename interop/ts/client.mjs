// An MCP client written with the official TypeScript SDK (@modelcontextprotocol/sdk), for att's
// interop script (../check.py): it connects to att's own federated endpoint `/mcp` over streamable
// HTTP — or, with --stdio ATT_BIN, spawns `ATT_BIN mcp stdio --att-url …` as a stdio server, the
// way desktop clients do — and checks what an ordinary SDK client sees there.
//
//   node client.mjs --url http://127.0.0.1:8300/mcp --servers ts_stdio,py_stdio,ts_http,py_http \
//                   --ts ts_stdio --py py_http [--stdio path/to/att [--restart-dir DIR]] [--run-id TOKEN]
//
// --servers: the upstreams registered with att (each offers NAME_echo, NAME_stats, the resource
// interop://NAME/info, the prompt NAME_prompt and the tool progress_demo; see server.mjs);
// --ts / --py: the TypeScript and the Python upstream whose tools, resource and prompt are called.
// and --py's NAME_elicit is answered by the elicitation handler.
// --restart-dir (with --stdio): instead, survive an att restart: call --ts's echo, write DIR/called,
// wait for DIR/restarted (check.py restarts att and writes it once the new att serves the
// upstream), then the next call through the same `att mcp stdio` must succeed.
//
// Prints one JSON object on stdout: {"sdk": "typescript", "version": …, "checks": [{ok, what,
// detail}]}; check.py prints one PASS/FAIL line per check. Exits 0 even when a check fails (the
// JSON says so); any other exit status or output is a crash. Every wait is bounded.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const { values: opts } = parseArgs({
  options: {
    url: { type: 'string' },
    servers: { type: 'string' },
    ts: { type: 'string' },
    py: { type: 'string' },
    stdio: { type: 'string' },
    'restart-dir': { type: 'string' }, // with --stdio: the restart handshake with check.py
    'run-id': { type: 'string' }, // only marks the process as this run's
  },
});
if (!opts.url || !opts.servers || !opts.ts || !opts.py) {
  process.stderr.write('usage: client.mjs --url URL --servers A,B,… --ts NAME --py NAME\n');
  process.exit(2);
}
const SERVERS = opts.servers.split(',');
const REQUEST_TIMEOUT = 20_000; // ms, per request
const NOTIFY_WAIT = 5_000; // ms: how long a notification may trail the response it belongs to
const RESTART_WAIT = 60_000; // ms: how long check.py may take to restart att

const sdkVersion = JSON.parse(
  readFileSync(new URL('./node_modules/@modelcontextprotocol/sdk/package.json', import.meta.url), 'utf8'),
).version;
const checks = [];
const check = (ok, what, detail) => {
  checks.push({ ok: Boolean(ok), what, ...(ok ? {} : { detail }) });
  return Boolean(ok);
};
const errText = (e) => (e && e.stack ? String(e.stack).split('\n').slice(0, 3).join(' | ') : String(e));

// Polls `fn` (bounded) until it returns something truthy.
async function until(fn, ms = NOTIFY_WAIT) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v || Date.now() >= deadline) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
}

const logs = []; // every notifications/message params received

const ELICIT_ANSWER = '42, from the TS client';
const elicitations = []; // every elicitation/create params received

const client = new Client(
  { name: 'interop-ts-client', version: '1.0.0' },
  { capabilities: { elicitation: {} } },
);
// The elicitation callback: accepts with ELICIT_ANSWER (what a user would type).
client.setRequestHandler(ElicitRequestSchema, (req) => {
  elicitations.push(req.params);
  return { action: 'accept', content: { answer: ELICIT_ANSWER } };
});
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
  logs.push(n.params);
});
client.onerror = (e) => process.stderr.write(`client error: ${errText(e)}\n`);
const transport = opts.stdio
  ? new StdioClientTransport({
      command: opts.stdio,
      args: ['mcp', 'stdio', '--att-url', opts.url.replace(/\/mcp$/, '')],
      stderr: 'inherit',
    })
  : new StreamableHTTPClientTransport(new URL(opts.url));

async function run() {
  // 1. initialize
  try {
    await client.connect(transport, { timeout: REQUEST_TIMEOUT });
  } catch (e) {
    check(false, 'initialize', errText(e));
    return;
  }
  const info = client.getServerVersion();
  const caps = client.getServerCapabilities();
  check(
    info?.name === 'att' && (opts.stdio || transport.sessionId) && caps?.tools,
    `initialize: server ${info?.name} ${info?.version}, protocol ${transport.protocolVersion ?? 'negotiated'}, ` +
      (opts.stdio ? 'over `att mcp stdio`' : `session id ${transport.sessionId ? 'given' : 'missing'}`) +
      `, capabilities ${Object.keys(caps ?? {}).join(',')}`,
    { info, caps, sessionId: transport.sessionId },
  );

  // 2. tools/list: every registered upstream's own tools, and progress_demo of both SDKs
  let tools = [];
  try {
    tools = (await client.listTools(undefined, { timeout: REQUEST_TIMEOUT })).tools;
  } catch (e) {
    check(false, 'tools/list', errText(e));
  }
  const names = new Set(tools.map((t) => t.name));
  const wanted = SERVERS.flatMap((s) => [`${s}_echo`, `${s}_stats`]);
  const missing = wanted.filter((n) => !names.has(n));
  check(
    tools.length && missing.length === 0,
    `tools/list (${tools.length} tools) has ${wanted.length} per-server tools of ${SERVERS.join(', ')}` +
      (missing.length ? `; missing ${missing.join(', ')}` : ''),
    [...names].sort(),
  );

  // 3. a per-server tool of a TypeScript and of a Python upstream: text + structured content
  for (const server of [opts.ts, opts.py]) {
    const text = `hello ${server} from the TS client`;
    try {
      const r = await client.callTool(
        { name: `${server}_echo`, arguments: { text } },
        undefined,
        { timeout: REQUEST_TIMEOUT },
      );
      const got = r.content?.[0]?.text;
      check(
        !r.isError &&
          got === `${server}: ${text}` &&
          JSON.stringify(r.structuredContent) === JSON.stringify({ server, text }),
        `tools/call ${server}_echo: ${JSON.stringify(got)} + ${JSON.stringify(r.structuredContent)}`,
        r,
      );
    } catch (e) {
      check(false, `tools/call ${server}_echo`, errText(e));
    }
  }

  // 4. a resource and a prompt of each
  for (const server of [opts.ts, opts.py]) {
    const uri = `interop://${server}/info`;
    try {
      const r = await client.readResource({ uri }, { timeout: REQUEST_TIMEOUT });
      const got = r.contents?.[0]?.text;
      check(got === `resource of ${server}`, `resources/read ${uri}: ${JSON.stringify(got)}`, r);
    } catch (e) {
      check(false, `resources/read ${uri}`, errText(e));
    }
    try {
      const r = await client.getPrompt(
        { name: `${server}_prompt`, arguments: { topic: 'the TS client' } },
        { timeout: REQUEST_TIMEOUT },
      );
      const got = r.messages?.[0]?.content?.text;
      check(got === `${server} prompt about the TS client`, `prompts/get ${server}_prompt: ${JSON.stringify(got)}`, r);
    } catch (e) {
      check(false, `prompts/get ${server}_prompt`, errText(e));
    }
  }

  // 5. progress_demo on each (as `<server>__progress_demo` if att prefixed it, else the shared
  //    name): the progress callback fires twice, the upstream's log message arrives.
  for (const server of [opts.ts, opts.py]) {
    const exposed = names.has(`${server}__progress_demo`) ? `${server}__progress_demo` : 'progress_demo';
    const progress = [];
    const logsBefore = logs.length;
    try {
      const r = await client.callTool({ name: exposed, arguments: {} }, undefined, {
        timeout: REQUEST_TIMEOUT,
        onprogress: (p) => progress.push([p.progress, p.total]),
      });
      const answeredBy = r.structuredContent?.server;
      check(
        !r.isError && r.content?.[0]?.text === `${answeredBy}: progress_demo done` &&
          (exposed === 'progress_demo' || answeredBy === server),
        `tools/call ${exposed}: answered by ${answeredBy} (upstream got progress token ` +
          `${JSON.stringify(r.structuredContent?.progress_token)})`,
        r,
      );
      const who = answeredBy ?? server;
      await until(() => progress.length >= 2);
      check(
        JSON.stringify(progress) === JSON.stringify([[1, 2], [2, 2]]),
        `${exposed}: progress callback got ${JSON.stringify(progress)} (want [[1,2],[2,2]])`,
        { progress, result: r },
      );
      const wantLog = `${who}: progress_demo log message`;
      const seen = await until(() => logs.slice(logsBefore).find((l) => l.data === wantLog));
      check(
        seen,
        `${exposed}: log message ${JSON.stringify(seen?.data ?? wantLog)} ${seen ? `received (level ${seen.level}, logger ${seen.logger})` : `not received within ${NOTIFY_WAIT / 1000} s`}`,
        { logs: logs.slice(logsBefore) },
      );
    } catch (e) {
      check(false, `tools/call ${exposed} with a progress callback`, { error: errText(e), progress, logs: logs.slice(logsBefore) });
    }
  }

  // 6. an upstream tool that asks for elicitation: the handler answers, the result has it
  const tool = `${opts.py}_elicit`;
  try {
    const r = await client.callTool({ name: tool, arguments: {} }, undefined, { timeout: REQUEST_TIMEOUT });
    const sc = r.structuredContent;
    check(
      !r.isError && sc?.server === opts.py && sc?.action === 'accept' && sc?.answer === ELICIT_ANSWER,
      `tools/call ${tool}: elicitation ${JSON.stringify(elicitations.at(-1)?.message)} answered by the handler, ` +
        `result ${JSON.stringify(r.structuredContent)}`,
      r,
    );
  } catch (e) {
    check(false, `tools/call ${tool} with an elicitation handler`, errText(e));
  }
}

// Through `att mcp stdio`: a call, att restarted behind the bridge, the next call.
async function runAcrossRestart() {
  const marks = opts['restart-dir'];
  const tool = `${opts.ts}_echo`;
  const echo = async (text, when) => {
    try {
      const r = await client.callTool({ name: tool, arguments: { text } }, undefined, { timeout: REQUEST_TIMEOUT });
      const sc = r.structuredContent;
      return check(
        !r.isError && sc?.server === opts.ts && sc?.text === text,
        `${when}: tools/call ${tool}: ${JSON.stringify(sc)}`,
        r,
      );
    } catch (e) {
      return check(false, `${when}: tools/call ${tool}`, errText(e));
    }
  };
  await client.connect(transport, { timeout: REQUEST_TIMEOUT });
  if (!(await echo('before the restart', 'before att restarts'))) return;
  writeFileSync(join(marks, 'called'), '1');
  const deadline = Date.now() + RESTART_WAIT;
  while (!existsSync(join(marks, 'restarted'))) {
    if (Date.now() > deadline) {
      check(false, `check.py restarted att within ${RESTART_WAIT / 1000} s`);
      return;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await echo('after the restart', 'the first call after att restarted (same bridge, new att)');
  try {
    const names = (await client.listTools(undefined, { timeout: REQUEST_TIMEOUT })).tools.map((t) => t.name);
    check(names.includes(tool), `tools/list after the restart (${names.length} tools) has ${tool}`, names.sort());
  } catch (e) {
    check(false, 'tools/list after the restart', errText(e));
  }
}

let crashed = null;
try {
  await (opts['restart-dir'] ? runAcrossRestart() : run());
} catch (e) {
  crashed = errText(e);
  check(false, 'the TS client crashed', crashed);
}
try {
  if (transport.sessionId) await transport.terminateSession(); // DELETE: att drops the session
  await client.close();
} catch (e) {
  process.stderr.write(`closing: ${errText(e)}\n`);
}
process.stdout.write(
  JSON.stringify({ sdk: 'typescript', version: sdkVersion, checks }) + '\n',
);
process.exit(0);
