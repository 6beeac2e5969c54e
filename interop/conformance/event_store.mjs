// Resumability (SEP-1699) for the SDK's StreamableHTTPServerTransport: every SSE event is kept in
// memory and replayed after the client's Last-Event-ID. Shared by the conformance upstream
// (server.mjs) and the stdio relay (stdio_relay.mjs); a run is short, so nothing is evicted.

import { randomUUID } from 'node:crypto';

export function memoryEventStore() {
  const events = new Map(); // event id -> { streamId, message }
  return {
    async storeEvent(streamId, message) {
      const id = `${streamId}::${Date.now()}_${randomUUID()}`;
      events.set(id, { streamId, message });
      return id;
    },
    async replayEventsAfter(lastEventId, { send }) {
      const streamId = lastEventId.split('::')[0];
      const later = [...events.entries()]
        .filter(([id, e]) => e.streamId === streamId && id > lastEventId)
        .sort(([a], [b]) => a.localeCompare(b));
      for (const [id, { message }] of later) {
        if (Object.keys(message).length > 0) await send(id, message);
      }
      return streamId;
    },
  };
}
