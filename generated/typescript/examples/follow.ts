// Print the events a tka server sends, one JSON line each, until Ctrl-C (Node 20, with `ws`):
//
//     npm run build:test && TKA_TOKEN=... node build-test/examples/follow.js http://127.0.0.1:8000
//
// A hello line on every (re)connect; the client reconnects and resumes by itself, so a server
// restart loses no event. (The live-events conformance scenario of every SDK runs this.)
import WebSocket from 'ws';

import { TKAEventsClient } from '../src/index';

const events = new TKAEventsClient({
    url: process.argv[2] ?? 'http://127.0.0.1:8000',
    token: process.env.TKA_TOKEN || undefined,
    webSocket: (url, headers) => new WebSocket(url, { headers }) as any,
    backoff: { initialDelayMs: 100, maxDelayMs: 2000 },
});
const print = (line: object) => process.stdout.write(JSON.stringify(line) + '\n');

events.onMessage('connection_established', (hello) =>
    print({ type: 'connection_established', last_event_id: hello.last_event_id }));
events.on('*', (e) => print({ type: 'event', event_id: e.event_id, event_type: e.event_type, sequence_id: e.sequence_id }));
events.onStateChange((state) => console.error(`connection: ${state}`));

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
        events.close();
        process.exit(0);
    });
}
events.connect().catch((e) => {
    console.error(`could not follow the events: ${e.message}`);
    process.exit(1);
});
