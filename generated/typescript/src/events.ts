// Hand-written (sdk/overlay/typescript): a typed client for the WebSocket event stream (`/ws`),
// see asyncapi.yaml. It reconnects with exponential backoff, resumes from the last event id it
// saw (`?since=`), re-applies its filters after every reconnect, and calls every handler
// registered for an event type.

/** A domain event, in the order of the server's durable event log. */
export interface TKAEvent {
    type: 'event';
    event_id: number;
    event_type: string;
    timestamp: string;
    sequence_id: string | null;
    request_id: string | null;
    command_id: string | null;
    data: Record<string, unknown>;
}

export interface ConnectionEstablished {
    type: 'connection_established';
    client_id: string;
    protocol_version: string | number;
    last_event_id: number | null;
    heartbeat_interval: number;
    timestamp: string;
}

export interface ResyncRequired {
    type: 'resync_required';
    [key: string]: unknown;
}

/** The store behind the stream went away (`unavailable`) or came back (`available`). The
 * connection stays open through an outage; events committed meanwhile follow `available`. */
export interface StoreStatus {
    type: 'store_status';
    status: 'available' | 'unavailable';
    last_event_id: number;
    retry_after?: number;
    timestamp?: string;
}

export interface ServerError {
    type: 'error';
    code: string;
    message: string;
}

/** Any message from the server; `type` tells which. */
export interface ServerMessage {
    type: string;
    [key: string]: unknown;
}

export type EventHandler = (event: TKAEvent) => void;
export type MessageHandler = (message: ServerMessage) => void;
export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** The parts of the WHATWG WebSocket this client uses (browsers, Node 22+, or the `ws` package). */
export interface WebSocketLike {
    readonly readyState: number;
    onopen: ((ev: any) => void) | null;
    onmessage: ((ev: { data: any }) => void) | null;
    onclose: ((ev: { code: number; reason: string }) => void) | null;
    onerror: ((ev: any) => void) | null;
    send(data: string): void;
    close(code?: number, reason?: string): void;
}

export type WebSocketFactory = (url: string, headers: Record<string, string>) => WebSocketLike;

export interface BackoffOptions {
    initialDelayMs: number;
    maxDelayMs: number;
    factor: number;
    /** 0..1: each delay is randomly shortened by up to this fraction, so clients spread out. */
    jitter: number;
    /** Give up after this many failed attempts in a row (default: never). */
    maxAttempts?: number;
}

export interface TKAEventsOptions {
    /** Server origin (`http://127.0.0.1:8000`) or a full `ws://…/ws` URL. */
    url: string;
    /** Bearer token, when the server was started with one. */
    token?: string;
    /** Event types to receive: exact names or wildcards like `sequence.*`. Default: all. */
    eventTypes?: string[];
    /** Only events about these sequences. Default: all. */
    sequenceIds?: string[];
    /** Resume after this event id (replays what came after it). */
    since?: number;
    /** How to open a socket. Default: the global WebSocket (browsers, Node 22+), which cannot
     * send headers, so a token goes in an `auth` first message. On Node 20 pass
     * `(url, headers) => new (require('ws'))(url, { headers })`: the token goes in the header. */
    webSocket?: WebSocketFactory;
    backoff?: Partial<BackoffOptions>;
}

const DEFAULT_BACKOFF: BackoffOptions = { initialDelayMs: 250, maxDelayMs: 10_000, factor: 2, jitter: 0.2 };

/** Close codes after which reconnecting cannot help (asyncapi.yaml); every other close (1001 going
 * away, 1011, 1013 try again later, 4008 slow consumer...) reconnects and resumes. */
const FATAL_CLOSE_CODES = new Set([1008 /* policy violation, e.g. bad token */, 1009 /* too big */]);

function matches(pattern: string, eventType: string): boolean {
    if (pattern === '*' || pattern === eventType) return true;
    return pattern.endsWith('.*') && eventType.startsWith(pattern.slice(0, -1));
}

export class TKAEventsClient {
    private readonly options: TKAEventsOptions;
    private readonly backoff: BackoffOptions;
    private readonly eventHandlers = new Map<string, Set<EventHandler>>();
    private readonly messageHandlers = new Map<string, Set<MessageHandler>>();
    private readonly stateHandlers = new Set<(state: ConnectionState) => void>();
    private socket: WebSocketLike | undefined;
    private filters: string[] | undefined;
    private sequenceIds: string[] | undefined;
    private lastId: number | undefined;
    private storeUp = true;
    private attempts = 0;
    private timer: ReturnType<typeof setTimeout> | undefined;
    private stopped = false;
    private currentState: ConnectionState = 'closed';
    private firstHello: { resolve: (m: ConnectionEstablished) => void; reject: (e: Error) => void } | undefined;

    constructor(options: TKAEventsOptions) {
        this.options = options;
        this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
        this.filters = options.eventTypes;
        this.sequenceIds = options.sequenceIds;
        this.lastId = options.since;
    }

    /** The id of the last event delivered to the handlers (what a reconnect resumes after). */
    get lastEventId(): number | undefined {
        return this.lastId;
    }

    /** False between a `store_status: unavailable` and the next `available`: the server cannot
     * read its event log, so no events arrive (none is lost either). */
    get storeAvailable(): boolean {
        return this.storeUp;
    }

    get state(): ConnectionState {
        return this.currentState;
    }

    /** Call `handler` for every event whose type matches `eventType` (exact, `sequence.*` or `*`).
     * Several handlers per type are fine. Returns a function that removes the handler. */
    on(eventType: string, handler: EventHandler): () => void {
        return this.add(this.eventHandlers, eventType, handler);
    }

    /** Call `handler` for every server message of this `type` (`connection_established`,
     * `resync_required`, `store_status`, `filters_updated`, `pong`, `stats`, `error`, `heartbeat`, ...). */
    onMessage(type: string, handler: MessageHandler): () => void {
        return this.add(this.messageHandlers, type, handler);
    }

    onStateChange(handler: (state: ConnectionState) => void): () => void {
        this.stateHandlers.add(handler);
        return () => this.stateHandlers.delete(handler);
    }

    /** Open the stream; resolves with the server's hello. Reconnects on its own until close(). */
    connect(): Promise<ConnectionEstablished> {
        this.stopped = false;
        return new Promise((resolve, reject) => {
            this.firstHello = { resolve, reject };
            this.open();
        });
    }

    /** Receive only these event types (and, if given, sequences) from now on; remembered across
     * reconnects. */
    setFilters(eventTypes: string[], sequenceIds?: string[]): void {
        this.filters = [...eventTypes];
        if (sequenceIds !== undefined) this.sequenceIds = [...sequenceIds];
        this.sendFilters();
    }

    private sendFilters(): void {
        if (this.filters === undefined && this.sequenceIds === undefined) return;
        this.send({ type: 'set_filters', event_types: this.filters ?? [], sequence_ids: this.sequenceIds ?? [] });
    }

    /** Send a raw protocol message (`ping`, `get_stats`, ...) if connected. */
    send(message: Record<string, unknown>): boolean {
        if (this.socket && this.socket.readyState === 1) {
            this.socket.send(JSON.stringify(message));
            return true;
        }
        return false;
    }

    close(): void {
        this.stopped = true;
        if (this.timer) clearTimeout(this.timer);
        this.timer = undefined;
        const socket = this.socket;
        this.socket = undefined;
        socket?.close(1000, 'client closed');
        this.setState('closed');
        this.firstHello?.reject(new Error('closed before the server said hello'));
        this.firstHello = undefined;
    }

    private add<H>(map: Map<string, Set<H>>, key: string, handler: H): () => void {
        let set = map.get(key);
        if (!set) map.set(key, (set = new Set()));
        set.add(handler);
        return () => set!.delete(handler);
    }

    private setState(state: ConnectionState): void {
        if (state === this.currentState) return;
        this.currentState = state;
        for (const handler of this.stateHandlers) handler(state);
    }

    private url(): string {
        let base = this.options.url.replace(/^http/, 'ws').replace(/\/+$/, '');
        if (!/\/ws(\/[^/?]+)?(\?|$)/.test(base)) base += '/ws';
        if (this.lastId === undefined) return base;
        return `${base}${base.includes('?') ? '&' : '?'}since=${this.lastId}`;
    }

    private open(): void {
        this.setState(this.attempts === 0 ? 'connecting' : 'reconnecting');
        const headers: Record<string, string> = {};
        if (this.options.token) headers['Authorization'] = `Bearer ${this.options.token}`;
        const factory = this.options.webSocket ?? defaultWebSocketFactory;
        let socket: WebSocketLike;
        try {
            // The global WebSocket cannot send headers: the token goes in the first message.
            socket = factory(this.url(), this.options.webSocket ? headers : {});
        } catch (e) {
            this.scheduleReconnect(e instanceof Error ? e : new Error(String(e)));
            return;
        }
        this.socket = socket;
        if (this.options.token && !this.options.webSocket) {
            socket.onopen = () => socket.send(JSON.stringify({ type: 'auth', token: this.options.token }));
        }
        socket.onmessage = (ev) => this.receive(String(ev.data));
        socket.onerror = () => { /* a close follows; reconnecting is decided there */ };
        socket.onclose = (ev) => {
            if (this.socket !== socket) return;
            this.socket = undefined;
            if (this.stopped) return;
            if (FATAL_CLOSE_CODES.has(ev.code)) {
                this.stopped = true;
                this.setState('closed');
                this.firstHello?.reject(new Error(`server closed the stream: ${ev.code} ${ev.reason}`));
                this.firstHello = undefined;
                return;
            }
            this.scheduleReconnect(new Error(`closed: ${ev.code} ${ev.reason}`));
        };
    }

    private scheduleReconnect(cause: Error): void {
        this.attempts += 1;
        const { initialDelayMs, maxDelayMs, factor, jitter, maxAttempts } = this.backoff;
        if (maxAttempts !== undefined && this.attempts > maxAttempts) {
            this.stopped = true;
            this.setState('closed');
            this.firstHello?.reject(cause);
            this.firstHello = undefined;
            return;
        }
        this.setState('reconnecting');
        const delay = Math.min(maxDelayMs, initialDelayMs * factor ** (this.attempts - 1));
        this.timer = setTimeout(() => {
            this.timer = undefined;
            if (!this.stopped) this.open();
        }, delay * (1 - Math.random() * jitter));
    }

    private receive(text: string): void {
        let message: ServerMessage;
        try {
            message = JSON.parse(text);
        } catch {
            return;
        }
        if (message.type === 'resync_required' && typeof message.last_event_id === 'number') {
            this.lastId = message.last_event_id;   // the stream continues after it; reload over REST
        }
        if (message.type === 'store_status') {
            this.storeUp = (message as unknown as StoreStatus).status !== 'unavailable';
        }
        if (message.type === 'connection_established') {
            this.attempts = 0;
            this.setState('open');
            // Without `since` the stream starts after the hello's last_event_id: a reconnect must
            // resume from there, or the events between the two connections would be lost.
            const hello = message as unknown as ConnectionEstablished;
            if (this.lastId === undefined && typeof hello.last_event_id === 'number') this.lastId = hello.last_event_id;
            this.sendFilters();
            this.firstHello?.resolve(message as unknown as ConnectionEstablished);
            this.firstHello = undefined;
        } else if (message.type === 'event') {
            const event = message as unknown as TKAEvent;
            // A replay may overlap what was already delivered: deliver each id once.
            if (this.lastId !== undefined && event.event_id <= this.lastId) return;
            this.lastId = event.event_id;
            for (const [pattern, handlers] of this.eventHandlers) {
                if (matches(pattern, event.event_type)) for (const handler of handlers) handler(event);
            }
        }
        for (const handler of this.messageHandlers.get(message.type) ?? []) handler(message);
        for (const handler of this.messageHandlers.get('*') ?? []) handler(message);
    }
}

function defaultWebSocketFactory(url: string, _headers: Record<string, string>): WebSocketLike {
    const Ctor = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
    if (!Ctor) {
        throw new Error('no global WebSocket (Node < 22): pass options.webSocket, e.g. with the ws package');
    }
    return new Ctor(url);
}
