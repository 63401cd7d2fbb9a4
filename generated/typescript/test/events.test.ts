// TKAEventsClient: protocol behaviour against a scripted in-process server (always), and the real
// stream of a live server (TKA_BASE_URL, when it serves /ws).
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

import { TKAClient, TKAEvent, TKAEventsClient, WebSocketFactory } from '../src/index';

const nodeWebSocket: WebSocketFactory = (url, headers) => new WebSocket(url, { headers }) as any;

function waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve, reject) => {
        const tick = () => {
            if (predicate()) return resolve();
            if (Date.now() > deadline) return reject(new Error('timed out'));
            setTimeout(tick, 10);
        };
        tick();
    });
}

test('reconnects with backoff, resumes after the last event id and re-applies filters', { timeout: 30_000 }, async () => {
    const urls: string[] = [];
    const filterMessages: unknown[] = [];
    let connections = 0;
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    server.on('connection', (socket, request) => {
        connections += 1;
        urls.push(request.url ?? '');
        socket.send(JSON.stringify({ type: 'connection_established', client_id: `c${connections}`,
            protocol_version: 1, last_event_id: 0, heartbeat_interval: 30, timestamp: new Date().toISOString() }));
        socket.on('message', (raw) => {
            const message = JSON.parse(String(raw));
            if (message.type !== 'set_filters') return;
            filterMessages.push(message.event_types);
            socket.send(JSON.stringify({ type: 'filters_updated', event_types: message.event_types }));
            const event = (id: number, type: string) => JSON.stringify({ type: 'event', event_id: id, event_type: type,
                timestamp: new Date().toISOString(), sequence_id: 's', request_id: 'r', command_id: 'c', data: {} });
            if (connections === 1) {
                socket.send(event(1, 'sequence.created'));
                socket.send(event(2, 'command.executed'));
                socket.close(1001, 'going away');   // the server restarts
            } else {
                socket.send(event(2, 'command.executed'));  // a replay overlapping what was delivered
                socket.send(event(3, 'sequence.updated'));
            }
        });
    });
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as AddressInfo).port;

    const client = new TKAEventsClient({ url: `http://127.0.0.1:${port}`, webSocket: nodeWebSocket,
        eventTypes: ['sequence.*', 'command.executed'], backoff: { initialDelayMs: 20, maxDelayMs: 100 } });
    const all: number[] = [];
    const sequenceEvents: string[] = [];
    const states: string[] = [];
    client.on('*', (e: TKAEvent) => all.push(e.event_id));
    client.on('sequence.*', (e) => sequenceEvents.push(e.event_type));
    client.on('sequence.*', (e) => sequenceEvents.push(`again ${e.event_type}`));  // several handlers
    client.onStateChange((s) => states.push(s));
    const hello = await client.connect();
    assert.equal(hello.client_id, 'c1');
    await waitFor(() => all.length === 3);
    client.close();
    server.close();

    assert.deepEqual(all, [1, 2, 3]);                                   // each id once, in order
    assert.deepEqual(sequenceEvents, ['sequence.created', 'again sequence.created',
        'sequence.updated', 'again sequence.updated']);
    assert.equal(urls[0], '/ws');
    assert.equal(urls[1], '/ws?since=2');                               // resumed after the last id
    assert.deepEqual(filterMessages, [['sequence.*', 'command.executed'], ['sequence.*', 'command.executed']]);
    assert.deepEqual(states, ['connecting', 'open', 'reconnecting', 'open', 'closed']);
    assert.equal(client.lastEventId, 3);
});

test('store_status: storeAvailable follows the notices, the connection and the event ids stay', { timeout: 30_000 }, async () => {
    const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    server.on('connection', (socket) => {
        socket.send(JSON.stringify({ type: 'connection_established', client_id: 'c', protocol_version: 1,
            last_event_id: 7, heartbeat_interval: 30, timestamp: new Date().toISOString() }));
        socket.on('message', () => {
            socket.send(JSON.stringify({ type: 'store_status', status: 'unavailable', retry_after: 5, last_event_id: 7 }));
            setTimeout(() => {
                socket.send(JSON.stringify({ type: 'store_status', status: 'available', last_event_id: 7 }));
                socket.send(JSON.stringify({ type: 'event', event_id: 8, event_type: 'sequence.created',
                    timestamp: new Date().toISOString(), sequence_id: 's', request_id: null, command_id: 'c', data: {} }));
            }, 50);
        });
    });
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as AddressInfo).port;
    const client = new TKAEventsClient({ url: `http://127.0.0.1:${port}`, webSocket: nodeWebSocket, eventTypes: ['*'] });
    const seen: string[] = [];
    client.onMessage('store_status', (m) => seen.push(`${m.status}:${client.storeAvailable}`));
    const events: number[] = [];
    client.on('*', (e) => events.push(e.event_id));
    await client.connect();
    assert.equal(client.storeAvailable, true);
    await waitFor(() => events.length === 1);
    client.close();
    server.close();
    assert.deepEqual(seen, ['unavailable:false', 'available:true']);
    assert.deepEqual(events, [8]);
    assert.equal(client.lastEventId, 8);
});

const baseUrl = process.env.TKA_BASE_URL;

async function serverHasEventStream(url: string): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = new WebSocket(url.replace(/^http/, 'ws') + '/ws');
        socket.on('open', () => { socket.close(); resolve(true); });
        socket.on('error', () => resolve(false));
    });
}

test('live: events of this SDK\'s own changes arrive, and a reconnect resumes', { timeout: 60_000 }, async (t) => {
    if (!baseUrl) return t.skip('set TKA_BASE_URL to a running tka server');
    if (!(await serverHasEventStream(baseUrl))) {
        return t.skip('the server has no /ws event stream yet (issue 4, WebSocket events)');
    }
    const tka = new TKAClient({ baseUrl });
    const received: TKAEvent[] = [];
    const events = new TKAEventsClient({ url: baseUrl, webSocket: nodeWebSocket, eventTypes: ['sequence.*'] });
    let resumed: TKAEventsClient | undefined;
    try {
        events.on('*', (e) => received.push(e));
        await events.connect();
        const created = await tka.sequences.createSequence({ createSequenceRequest: { name: 'events', startPosition: 'alpha1' } });
        const id = created.data!.id;
        await waitFor(() => received.some((e) => e.sequence_id === id), 15_000);
        assert.equal(received.find((e) => e.sequence_id === id)!.event_type, 'sequence.created');
        events.close();

        // While disconnected, a beat is added; resuming from the last id replays it.
        const seen = events.lastEventId!;
        await tka.beats.addBeat({ sequenceId: id, addBeatRequest: { beat: { letter: 'A' } } });
        resumed = new TKAEventsClient({ url: baseUrl, webSocket: nodeWebSocket, since: seen });
        const replayed: TKAEvent[] = [];
        resumed.on('*', (e) => replayed.push(e));
        await resumed.connect();
        await waitFor(() => replayed.some((e) => e.sequence_id === id && e.event_type === 'sequence.beat_added'), 15_000);
        assert.ok(replayed.every((e) => e.event_id > seen));
        await tka.sequences.deleteSequence({ sequenceId: id });
    } finally {
        events.close();
        resumed?.close();
    }
});
