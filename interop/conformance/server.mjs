// The upstream for the MCP conformance suite's server scenarios (./run): an "everything" server
// written with the official TypeScript SDK (@modelcontextprotocol/sdk), offering exactly the
// fixture names the scenarios of @modelcontextprotocol/conformance ask for. The npm package ships
// only its CLI; its repository's reference server (examples/servers/typescript/everything-server.ts)
// is the model for the names and answers here, written against the SDK's low-level `Server` so
// that every list and result is exactly what the scenarios describe (no schema conversion).
//
//   node server.mjs --port 8123 [--run-id TOKEN]
//
// Stateful streamable HTTP at http://127.0.0.1:PORT/mcp: an `initialize` POST opens a session
// (its own Server + transport, an in-memory event store for resumability); an unknown session id
// gets 404, a non-initialize request without one 400; DELETE ends a session. The SDK's
// createMcpExpressApp rejects a non-loopback Host with 403 (DNS-rebinding protection).
//
// Fixtures (scenario -> name):
//   tools      test_simple_text, test_image_content, test_audio_content, test_embedded_resource,
//              test_multiple_content_types, test_tool_with_logging (3 notifications/message,
//              50 ms apart), test_tool_with_progress (0, 50, 100 of 100 under the caller's token),
//              test_error_handling (isError), test_sampling {prompt} (sampling/createMessage),
//              test_elicitation {message}, test_elicitation_sep1034_defaults,
//              test_elicitation_sep1330_enums (elicitation/create), test_reconnection (closes
//              its SSE stream mid-call), json_schema_2020_12_tool (raw 2020-12 inputSchema)
//   resources  test://static-text, test://static-binary, test://watched-resource (subscribable),
//              template test://template/{id}/data
//   prompts    test_simple_prompt, test_prompt_with_arguments {arg1, arg2},
//              test_prompt_with_embedded_resource {resourceUri}, test_prompt_with_image
//   also       logging/setLevel (the SDK's own handler), completion/complete, ping
// Sampling and elicitation are sent as requests *related to the tool call* (on its POST stream).

import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  CreateMessageResultSchema,
  ElicitResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  isInitializeRequest,
} from '@modelcontextprotocol/sdk/types.js';

import { memoryEventStore } from './event_store.mjs';

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string' },
    'run-id': { type: 'string' }, // only marks the process as this run's (./run scans /proc for it)
  },
});
if (!opts.port) {
  process.stderr.write('usage: server.mjs --port N [--run-id TOKEN]\n');
  process.exit(2);
}

const log = (line) => process.stderr.write(`[conformance-upstream pid ${process.pid}] ${line}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const text = (t) => ({ type: 'text', text: t });

// A 1x1 red PNG and a minimal WAV (the reference server's).
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=';
const EMPTY = { type: 'object', properties: {} };

const TOOLS = [
  { name: 'test_simple_text', description: 'Tests simple text content response', inputSchema: EMPTY },
  { name: 'test_image_content', description: 'Tests image content response', inputSchema: EMPTY },
  { name: 'test_audio_content', description: 'Tests audio content response', inputSchema: EMPTY },
  { name: 'test_embedded_resource', description: 'Tests embedded resource content response', inputSchema: EMPTY },
  {
    name: 'test_multiple_content_types',
    description: 'Tests response with multiple content types (text, image, resource)',
    inputSchema: EMPTY,
  },
  { name: 'test_tool_with_logging', description: 'Tests tool that emits log messages during execution', inputSchema: EMPTY },
  { name: 'test_tool_with_progress', description: 'Tests tool that reports progress notifications', inputSchema: EMPTY },
  { name: 'test_error_handling', description: 'Tests error response handling', inputSchema: EMPTY },
  {
    name: 'test_sampling',
    description: 'Tests server-initiated sampling (LLM completion request)',
    inputSchema: {
      type: 'object',
      properties: { prompt: { type: 'string', description: 'The prompt to send to the LLM' } },
      required: ['prompt'],
    },
  },
  {
    name: 'test_elicitation',
    description: 'Tests server-initiated elicitation (user input request)',
    inputSchema: {
      type: 'object',
      properties: { message: { type: 'string', description: 'The message to show the user' } },
      required: ['message'],
    },
  },
  {
    name: 'test_elicitation_sep1034_defaults',
    description: 'Tests elicitation with default values per SEP-1034',
    inputSchema: EMPTY,
  },
  {
    name: 'test_elicitation_sep1330_enums',
    description: 'Tests elicitation with enum schema improvements per SEP-1330',
    inputSchema: EMPTY,
  },
  {
    name: 'test_reconnection',
    description: 'Tests SSE stream disconnection and client reconnection (SEP-1699): closes the stream mid-call',
    inputSchema: EMPTY,
  },
  {
    name: 'json_schema_2020_12_tool',
    description: 'Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)',
    inputSchema: {
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      $defs: { address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
      properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
      additionalProperties: false,
    },
  },
];

const RESOURCES = [
  {
    uri: 'test://static-text',
    name: 'static-text',
    title: 'Static Text Resource',
    description: 'A static text resource for testing',
    mimeType: 'text/plain',
  },
  {
    uri: 'test://static-binary',
    name: 'static-binary',
    title: 'Static Binary Resource',
    description: 'A static binary resource (image) for testing',
    mimeType: 'image/png',
  },
  {
    uri: 'test://watched-resource',
    name: 'watched-resource',
    title: 'Watched Resource',
    description: 'A resource clients can subscribe to',
    mimeType: 'text/plain',
  },
];
const TEMPLATE = /^test:\/\/template\/([^/]+)\/data$/;

const PROMPTS = [
  { name: 'test_simple_prompt', title: 'Simple Test Prompt', description: 'A simple prompt without arguments' },
  {
    name: 'test_prompt_with_arguments',
    title: 'Prompt With Arguments',
    description: 'A prompt with required arguments',
    arguments: [
      { name: 'arg1', description: 'First test argument', required: true },
      { name: 'arg2', description: 'Second test argument', required: true },
    ],
  },
  {
    name: 'test_prompt_with_embedded_resource',
    title: 'Prompt With Embedded Resource',
    description: 'A prompt that includes an embedded resource',
    arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
  },
  { name: 'test_prompt_with_image', title: 'Prompt With Image', description: 'A prompt that includes image content' },
];

const ELICIT_SEP1034 = {
  mode: 'form',
  message: 'Please review and update the form fields with defaults',
  requestedSchema: {
    type: 'object',
    properties: {
      name: { type: 'string', description: 'User name', default: 'John Doe' },
      age: { type: 'integer', description: 'User age', default: 30 },
      score: { type: 'number', description: 'User score', default: 95.5 },
      status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
      verified: { type: 'boolean', description: 'Verification status', default: true },
    },
    required: [],
  },
};

const ELICIT_SEP1330 = {
  mode: 'form',
  message: 'Please select options from the enum fields',
  requestedSchema: {
    type: 'object',
    properties: {
      untitledSingle: { type: 'string', description: 'Select one option', enum: ['option1', 'option2', 'option3'] },
      titledSingle: {
        type: 'string',
        description: 'Select one option with titles',
        oneOf: [
          { const: 'value1', title: 'First Option' },
          { const: 'value2', title: 'Second Option' },
          { const: 'value3', title: 'Third Option' },
        ],
      },
      legacyEnum: {
        type: 'string',
        description: 'Select one option (legacy)',
        enum: ['opt1', 'opt2', 'opt3'],
        enumNames: ['Option One', 'Option Two', 'Option Three'],
      },
      untitledMulti: {
        type: 'array',
        description: 'Select multiple options',
        minItems: 1,
        maxItems: 3,
        items: { type: 'string', enum: ['option1', 'option2', 'option3'] },
      },
      titledMulti: {
        type: 'array',
        description: 'Select multiple options with titles',
        minItems: 1,
        maxItems: 3,
        items: {
          anyOf: [
            { const: 'value1', title: 'First Choice' },
            { const: 'value2', title: 'Second Choice' },
            { const: 'value3', title: 'Third Choice' },
          ],
        },
      },
    },
    required: [],
  },
};

const transports = new Map(); // session id -> StreamableHTTPServerTransport

// Resumability (SEP-1699): every SSE event is stored and replayed after Last-Event-ID.
const eventStore = memoryEventStore();

// A server-to-client request (sampling, elicitation) related to the tool call; its failure
// (e.g. the client lacks the capability) becomes the tool's text, so the cause is visible.
async function askClient(extra, request, schema, render) {
  try {
    return { content: [text(render(await extra.sendRequest(request, schema)))] };
  } catch (e) {
    return { content: [text(`${request.method} failed: ${e?.message ?? e}`)] };
  }
}

async function callTool(name, args, extra) {
  switch (name) {
    case 'test_simple_text':
      return { content: [text('This is a simple text response for testing.')] };
    case 'test_image_content':
      return { content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] };
    case 'test_audio_content':
      return { content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] };
    case 'test_embedded_resource':
      return {
        content: [
          {
            type: 'resource',
            resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' },
          },
        ],
      };
    case 'test_multiple_content_types':
      return {
        content: [
          text('Multiple content types test:'),
          { type: 'image', data: PNG, mimeType: 'image/png' },
          {
            type: 'resource',
            resource: {
              uri: 'test://mixed-content-resource',
              mimeType: 'application/json',
              text: JSON.stringify({ test: 'data', value: 123 }),
            },
          },
        ],
      };
    case 'test_tool_with_logging': {
      const steps = ['Tool execution started', 'Tool processing data', 'Tool execution completed'];
      for (const [i, data] of steps.entries()) {
        if (i > 0) await sleep(50);
        await extra.sendNotification({
          method: 'notifications/message',
          params: { level: 'info', logger: 'conformance-test-server', data },
        });
      }
      return { content: [text('Tool with logging executed successfully')] };
    }
    case 'test_tool_with_progress': {
      const token = extra._meta?.progressToken;
      for (const [i, progress] of [0, 50, 100].entries()) {
        if (i > 0) await sleep(50);
        if (token !== undefined) {
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken: token, progress, total: 100, message: `Completed step ${progress} of 100` },
          });
        }
      }
      return { content: [text(String(token ?? 'no progress token'))] };
    }
    case 'test_error_handling':
      return { isError: true, content: [text('This tool intentionally returns an error for testing')] };
    case 'test_sampling':
      return askClient(
        extra,
        {
          method: 'sampling/createMessage',
          params: { messages: [{ role: 'user', content: text(String(args.prompt ?? '')) }], maxTokens: 100 },
        },
        CreateMessageResultSchema,
        (r) => `LLM response: ${r.content?.text ?? JSON.stringify(r.content)}`,
      );
    case 'test_elicitation':
      return askClient(
        extra,
        {
          method: 'elicitation/create',
          params: {
            mode: 'form',
            message: String(args.message ?? ''),
            requestedSchema: {
              type: 'object',
              properties: {
                username: { type: 'string', description: "User's response" },
                email: { type: 'string', description: "User's email address" },
              },
              required: ['username', 'email'],
            },
          },
        },
        ElicitResultSchema,
        (r) => `User response: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`,
      );
    case 'test_elicitation_sep1034_defaults':
    case 'test_elicitation_sep1330_enums':
      return askClient(
        extra,
        { method: 'elicitation/create', params: name.includes('1034') ? ELICIT_SEP1034 : ELICIT_SEP1330 },
        ElicitResultSchema,
        (r) => `Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`,
      );
    case 'test_reconnection':
      // Close this call's SSE stream; the answer goes to the event store, for the client's
      // reconnection (GET with Last-Event-ID) to pick up. The SDK offers closeSSEStream only to
      // clients that can resume (protocol >= 2025-11-25, which get a priming event id first);
      // for older ones the answer stays on the open stream.
      log(
        `test_reconnection ${extra.requestId}: ` +
          (extra.closeSSEStream ? 'closing its SSE stream' : 'the client cannot resume: stream kept open'),
      );
      extra.closeSSEStream?.();
      await sleep(100);
      return { content: [text('Reconnection test completed successfully.')] };
    case 'json_schema_2020_12_tool':
      return { content: [text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`)] };
    default:
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
  }
}

function readResource(uri) {
  switch (uri) {
    case 'test://static-text':
      return [{ uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }];
    case 'test://static-binary':
      return [{ uri, mimeType: 'image/png', blob: PNG }];
    case 'test://watched-resource':
      return [{ uri, mimeType: 'text/plain', text: 'Watched resource content' }];
  }
  const m = TEMPLATE.exec(uri);
  if (m) {
    const id = decodeURIComponent(m[1]);
    return [{ uri, mimeType: 'application/json', text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }];
  }
  throw new McpError(-32002, `Resource not found: ${uri}`);
}

function getPrompt(name, args) {
  switch (name) {
    case 'test_simple_prompt':
      return { messages: [{ role: 'user', content: text('This is a simple prompt for testing.') }] };
    case 'test_prompt_with_arguments':
      return {
        messages: [{ role: 'user', content: text(`Prompt with arguments: arg1='${args.arg1}', arg2='${args.arg2}'`) }],
      };
    case 'test_prompt_with_embedded_resource':
      return {
        messages: [
          {
            role: 'user',
            content: {
              type: 'resource',
              resource: { uri: args.resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' },
            },
          },
          { role: 'user', content: text('Please process the embedded resource above.') },
        ],
      };
    case 'test_prompt_with_image':
      return {
        messages: [
          { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
          { role: 'user', content: text('Please analyze the image above.') },
        ],
      };
    default:
      throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
  }
}

function buildServer() {
  const server = new Server(
    { name: 'mcp-conformance-test-server', version: '1.0.0' },
    {
      capabilities: {
        tools: { listChanged: true },
        resources: { subscribe: true, listChanged: true },
        prompts: { listChanged: true },
        logging: {}, // the SDK answers logging/setLevel itself
        completions: {},
      },
    },
  );
  const subscriptions = new Set();

  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (req, extra) =>
    callTool(req.params.name, req.params.arguments ?? {}, { ...extra, _meta: req.params._meta }),
  );
  server.setRequestHandler(ListResourcesRequestSchema, async () => ({ resources: RESOURCES }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, async () => ({
    resourceTemplates: [
      {
        uriTemplate: 'test://template/{id}/data',
        name: 'template',
        title: 'Resource Template',
        description: 'A resource template with parameter substitution',
        mimeType: 'application/json',
      },
    ],
  }));
  server.setRequestHandler(ReadResourceRequestSchema, async (req) => ({ contents: readResource(req.params.uri) }));
  server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    subscriptions.add(req.params.uri);
    return {};
  });
  server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    subscriptions.delete(req.params.uri);
    return {};
  });
  server.setRequestHandler(ListPromptsRequestSchema, async () => ({ prompts: PROMPTS }));
  server.setRequestHandler(GetPromptRequestSchema, async (req) => getPrompt(req.params.name, req.params.arguments ?? {}));
  server.setRequestHandler(CompleteRequestSchema, async (req) => {
    const prefix = req.params.argument?.value ?? '';
    const values = ['test-alpha', 'test-beta', 'other'].filter((v) => v.startsWith(prefix));
    return { completion: { values, total: values.length, hasMore: false } };
  });
  return server;
}

const app = createMcpExpressApp({ host: '127.0.0.1' }); // 403 for a non-loopback Host

const jsonError = (res, status, code, message) => res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });

app.post('/mcp', async (req, res) => {
  try {
    const sid = req.headers['mcp-session-id'];
    let transport = sid ? transports.get(sid) : undefined;
    if (!transport) {
      if (sid) return jsonError(res, 404, -32001, 'Session not found');
      if (!isInitializeRequest(req.body)) return jsonError(res, 400, -32000, 'Bad Request: no session');
      const server = buildServer();
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore,
        retryInterval: 1000,
        onsessioninitialized: (id) => transports.set(id, transport),
      });
      const t = transport;
      t.onclose = () => {
        if (t.sessionId) transports.delete(t.sessionId);
      };
      await server.connect(t);
    }
    await transport.handleRequest(req, res, req.body);
  } catch (e) {
    log(`error: ${e?.stack ?? e}`);
    if (!res.headersSent) jsonError(res, 500, -32603, 'Internal server error');
  }
});

// GET (the standalone SSE stream, or a resumption with Last-Event-ID) and DELETE (end a session).
const sessionRoute = async (req, res) => {
  const sid = req.headers['mcp-session-id'];
  const transport = sid && transports.get(sid);
  if (!sid) return jsonError(res, 400, -32000, 'Bad Request: no session');
  if (!transport) return jsonError(res, 404, -32001, 'Session not found');
  try {
    await transport.handleRequest(req, res);
  } catch (e) {
    log(`error: ${e?.stack ?? e}`);
    if (!res.headersSent) jsonError(res, 500, -32603, 'Internal server error');
  }
};
app.get('/mcp', sessionRoute);
app.delete('/mcp', sessionRoute);

app.listen(Number(opts.port), '127.0.0.1', () => log(`listening on http://127.0.0.1:${opts.port}/mcp`));
const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
