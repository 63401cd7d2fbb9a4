//! Hand-written (sdk/overlay/rust): a typed client for the server's WebSocket event stream
//! (`/ws`, asyncapi.yaml), with the behaviour of the TypeScript and Python helpers.
//!
//! ```no_run
//! # async fn run() -> Result<(), tka_sdk::events::EventsError> {
//! use tka_sdk::events::{EventStream, EventStreamOptions};
//! let options = EventStreamOptions { event_types: Some(vec!["sequence.*".into()]), ..Default::default() };
//! let mut stream = EventStream::new("http://127.0.0.1:8000", options);
//! let hello = stream.connect().await?;
//! loop {
//!     let event = stream.next_event().await?;          // reconnects and resumes on its own
//!     println!("{} {} {:?}", event.event_id, event.event_type, event.sequence_id);
//! }
//! # }
//! ```
//!
//! It reconnects with exponential backoff, resumes after the last event id it has read
//! (`?since=`), keeps its filters across reconnects (they are sent in the upgrade URL, so they
//! apply to the replay too) and returns each event once, in `event_id` order.
//!
//! Why tokio-tungstenite: the rest of the SDK is async on tokio (reqwest, `tokio::time` for
//! retries), so the stream is too: it runs on the same runtime as the REST calls, and a test or an
//! application can make REST changes and read their events in one task. It is built on rustls
//! (`rustls-tls-native-roots`), like reqwest here, so the SDK still needs no OpenSSL.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::header::{HeaderValue, AUTHORIZATION};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::models;

/// An id in the server's durable event log (0 before the first event), at most 2^53 − 1.
pub type EventId = i64;

// -- server to client ------------------------------------------------------------------------

/// The first message on every connection (`connection_established`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionEstablished {
    pub client_id: String,
    pub protocol_version: i64,
    /// Without `since`: the stream starts after this id. With `since`: the newest event the server
    /// had delivered when the connection opened.
    pub last_event_id: EventId,
    /// Seconds of silence after which the server sends `heartbeat`.
    pub heartbeat_interval: f64,
    pub timestamp: String,
}

/// One committed change (`event`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: EventId,
    /// `sequence.created`, `sequence.beat_added`, ... (see [`EventType`]); new types may be added.
    pub event_type: String,
    pub timestamp: String,
    pub sequence_id: Option<String>,
    pub request_id: Option<String>,
    pub command_id: Option<String>,
    pub data: EventData,
}

impl Event {
    /// The type as an enum ([`EventType::Unknown`] for types newer than this SDK).
    pub fn kind(&self) -> EventType {
        serde_json::from_value(Value::String(self.event_type.clone())).unwrap_or(EventType::Unknown)
    }
}

/// What happened (asyncapi.yaml `EventType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "sequence.created")]
    SequenceCreated,
    #[serde(rename = "sequence.updated")]
    SequenceUpdated,
    #[serde(rename = "sequence.deleted")]
    SequenceDeleted,
    #[serde(rename = "sequence.restored")]
    SequenceRestored,
    #[serde(rename = "sequence.start_position_set")]
    SequenceStartPositionSet,
    #[serde(rename = "sequence.beat_added")]
    SequenceBeatAdded,
    #[serde(rename = "sequence.beat_removed")]
    SequenceBeatRemoved,
    #[serde(rename = "sequence.beat_updated")]
    SequenceBeatUpdated,
    #[serde(rename = "sequence.current_changed")]
    SequenceCurrentChanged,
    #[serde(rename = "motion.generated")]
    MotionGenerated,
    #[serde(rename = "command.executed")]
    CommandExecuted,
    #[serde(rename = "command.undone")]
    CommandUndone,
    #[serde(rename = "command.redone")]
    CommandRedone,
    /// A type this SDK does not know yet.
    #[serde(other)]
    Unknown,
}

/// The facts of an event, by `event_type`; sequences and beats have their REST shapes. Fields an
/// event type does not have are `None`; anything else the server sends is in `other`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<Box<models::Sequence>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beat: Option<Box<models::Beat>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_beat: Option<Box<models::Beat>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_length: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beat_position: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_beats: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_position: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_beats: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beat_number: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_undo: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_redo: Option<bool>,
    /// Other facts (`motion.generated`'s `seed`, `level`, ..., and fields added later).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The client's correlation id, echoed in the reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum MessageId {
    Number(i64),
    Text(String),
}

/// Reply to `set_filters`: the filters now in force (empty lists: everything).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FiltersUpdated {
    #[serde(default)]
    pub id: Option<MessageId>,
    pub event_types: Vec<String>,
    pub sequence_ids: Vec<String>,
    pub timestamp: String,
}

/// Reply to `ping`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pong {
    #[serde(default)]
    pub id: Option<MessageId>,
    /// Every event up to here was sent on this connection or filtered out.
    pub last_event_id: EventId,
    pub timestamp: String,
}

/// Reply to `get_stats`: the data of `GET /api/websocket/stats`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    #[serde(default)]
    pub id: Option<MessageId>,
    pub data: Value,
    pub timestamp: String,
}

/// Sent after `heartbeat_interval` seconds with nothing else to send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub last_event_id: EventId,
    pub timestamp: String,
}

/// Reply to `resume`; the replayed events follow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resumed {
    #[serde(default)]
    pub id: Option<MessageId>,
    pub since: EventId,
    pub timestamp: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResyncReason {
    /// Events after `since` were pruned.
    Expired,
    /// `since` is newer than the log.
    Ahead,
}

/// The log cannot serve `since`: reload state over REST; the stream continues after
/// `last_event_id` (the client resumes from there on its next reconnect).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResyncRequired {
    pub since: EventId,
    pub reason: ResyncReason,
    pub oldest_event_id: Option<EventId>,
    pub last_event_id: EventId,
    pub message: String,
    pub timestamp: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreStatusValue {
    Available,
    Unavailable,
}

/// The server's store went away (the stream stays open; nothing is lost) or came back (the events
/// committed meanwhile follow).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreStatus {
    pub status: StoreStatusValue,
    /// With `unavailable`: seconds until the server next tries the store.
    #[serde(default)]
    pub retry_after: Option<i64>,
    pub last_event_id: EventId,
    pub timestamp: String,
}

/// A client message the server could not use, or the slow-consumer notice before close 4008.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ServerError {
    #[serde(default)]
    pub id: Option<MessageId>,
    /// `invalid_json`, `invalid_message`, `unknown_type`, `unsupported_data`,
    /// `already_authenticated`, `slow_consumer`, ... (a plain string: new codes may come).
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub resume_since: Option<EventId>,
    pub timestamp: String,
}

/// Any message from the server. `Other` holds a message of a type this SDK does not know.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    ConnectionEstablished(ConnectionEstablished),
    Event(Event),
    FiltersUpdated(FiltersUpdated),
    Pong(Pong),
    Stats(Stats),
    Heartbeat(Heartbeat),
    Resumed(Resumed),
    ResyncRequired(ResyncRequired),
    StoreStatus(StoreStatus),
    Error(ServerError),
    #[serde(skip)]
    Other(Value),
}

const KNOWN_TYPES: &[&str] = &[
    "connection_established", "event", "filters_updated", "pong", "stats", "heartbeat", "resumed",
    "resync_required", "store_status", "error",
];

impl ServerMessage {
    /// Decode one text frame: a known `type` must match its schema; an unknown one is `Other`.
    pub fn parse(text: &str) -> Result<ServerMessage, serde_json::Error> {
        let value: Value = serde_json::from_str(text)?;
        match value.get("type").and_then(Value::as_str) {
            Some(t) if KNOWN_TYPES.contains(&t) => serde_json::from_value(value),
            _ => Ok(ServerMessage::Other(value)),
        }
    }

    fn reply_id(&self) -> Option<&MessageId> {
        match self {
            ServerMessage::FiltersUpdated(m) => m.id.as_ref(),
            ServerMessage::Pong(m) => m.id.as_ref(),
            ServerMessage::Stats(m) => m.id.as_ref(),
            ServerMessage::Resumed(m) => m.id.as_ref(),
            ServerMessage::Error(m) => m.id.as_ref(),
            _ => None,
        }
    }
}

// -- client to server ------------------------------------------------------------------------

/// The messages a client may send.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Replace this connection's filters; empty lists mean everything.
    SetFilters {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
        event_types: Vec<String>,
        sequence_ids: Vec<String>,
    },
    Ping {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
    },
    GetStats {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
    },
    /// Replay the events after `since` on this connection, then continue live.
    Resume {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
        since: EventId,
    },
    /// The token as a first message (for clients that cannot send headers; this one sends
    /// `Authorization` with the upgrade instead).
    Auth {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<MessageId>,
        token: String,
    },
}

// -- the client ------------------------------------------------------------------------------

/// How an [`EventStream`] connects and reconnects.
#[derive(Clone, Debug)]
pub struct EventStreamOptions {
    /// Bearer token, when the server was started with one (sent as `Authorization` with the upgrade).
    pub token: Option<String>,
    /// Connect to `/ws/{client_id}` (1-64 letters, digits or `. _ : -`) instead of `/ws`.
    pub client_id: Option<String>,
    /// Event types to receive: exact, `prefix.*` or `*`. `None`: all.
    pub event_types: Option<Vec<String>>,
    /// Only events about these sequences. `None`: all.
    pub sequence_ids: Option<Vec<String>>,
    /// Resume after this event id (the server replays what came after it).
    pub since: Option<EventId>,
    /// First delay before reconnecting after a failed attempt; doubles up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Give up after this many failed attempts in a row (`None`: never).
    pub max_attempts: Option<u32>,
    /// For the upgrade and the server's hello.
    pub connect_timeout: Duration,
}

impl Default for EventStreamOptions {
    fn default() -> Self {
        EventStreamOptions {
            token: None,
            client_id: None,
            event_types: None,
            sequence_ids: None,
            since: None,
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(10),
            max_attempts: None,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug)]
pub enum EventsError {
    /// The stream was closed by [`EventStream::close`].
    Closed,
    /// The server refused the upgrade (400 bad query, 401 bad token, 403 origin): retrying cannot help.
    Rejected { status: u16, body: String },
    /// The server closed with a code after which reconnecting cannot help (1008 policy, 1009 too big).
    ClosedByServer { code: u16, reason: String },
    /// `max_attempts` failed attempts in a row.
    GaveUp { attempts: u32, last: String },
    /// The connection was lost while waiting for a reply (the next read reconnects and resumes).
    Disconnected(String),
    /// The server answered a request with `error`.
    Server(ServerError),
    /// A message of a known type did not match its schema (or was not JSON). The stream stays
    /// usable; such a message cannot be returned typed.
    Decode(serde_json::Error),
    /// A bad URL or header value.
    InvalidRequest(String),
}

impl fmt::Display for EventsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventsError::Closed => write!(f, "the event stream is closed"),
            EventsError::Rejected { status, body } => write!(f, "the server refused the upgrade: {status} {body}"),
            EventsError::ClosedByServer { code, reason } => write!(f, "the server closed the stream: {code} {reason}"),
            EventsError::GaveUp { attempts, last } => write!(f, "gave up after {attempts} attempts: {last}"),
            EventsError::Disconnected(why) => write!(f, "disconnected: {why}"),
            EventsError::Server(e) => write!(f, "server error {}: {}", e.code, e.message),
            EventsError::Decode(e) => write!(f, "undecodable message: {e}"),
            EventsError::InvalidRequest(e) => write!(f, "invalid request: {e}"),
        }
    }
}

impl std::error::Error for EventsError {}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Close codes after which reconnecting cannot help (asyncapi.yaml); every other close (1001 going
/// away, 1011, 1013 try again later, 4008 slow consumer, a dropped connection) reconnects and resumes.
const FATAL_CLOSE_CODES: &[u16] = &[1008, 1009];

/// Why a connection ended.
enum Lost {
    Fatal(u16, String),
    Retry(String),
    /// Not lost: a message of a known type did not match its schema (the socket stays open).
    Decode(serde_json::Error),
}

/// The event stream: read it with [`next_event`](Self::next_event) or
/// [`next_message`](Self::next_message); both reconnect and resume on their own.
pub struct EventStream {
    base_url: String,
    options: EventStreamOptions,
    socket: Option<Socket>,
    last_event_id: Option<EventId>,
    store_available: bool,
    hello: Option<ConnectionEstablished>,
    pending: VecDeque<ServerMessage>,
    next_request_id: i64,
    closed: bool,
    attempts: u32,
}

impl EventStream {
    /// `base_url`: the server's origin (`http://127.0.0.1:8000`) or a `ws://…/ws` URL.
    pub fn new(base_url: impl Into<String>, options: EventStreamOptions) -> Self {
        let last_event_id = options.since;
        EventStream {
            base_url: base_url.into(),
            options,
            socket: None,
            last_event_id,
            store_available: true,
            hello: None,
            pending: VecDeque::new(),
            next_request_id: 0,
            closed: false,
            attempts: 0,
        }
    }

    /// The id of the last event read from the server (what a reconnect resumes after).
    pub fn last_event_id(&self) -> Option<EventId> {
        self.last_event_id
    }

    /// False between a `store_status: unavailable` and the next `available`: the server cannot
    /// read its event log, so no events arrive (none is lost either).
    pub fn store_available(&self) -> bool {
        self.store_available
    }

    /// The hello of the current (or last) connection.
    pub fn hello(&self) -> Option<&ConnectionEstablished> {
        self.hello.as_ref()
    }

    pub fn is_connected(&self) -> bool {
        self.socket.is_some()
    }

    /// The upgrade URL: `ws://host/ws[/client_id]?since=…&event_type=…&sequence_id=…`. The filters
    /// go in the URL so that they apply to the replay as well.
    pub fn url(&self) -> Result<String, EventsError> {
        let mut url = url::Url::parse(&self.base_url).map_err(|e| EventsError::InvalidRequest(e.to_string()))?;
        let scheme = match url.scheme() {
            "http" => "ws",
            "https" => "wss",
            other => other,
        }
        .to_owned();
        url.set_scheme(&scheme).map_err(|_| EventsError::InvalidRequest(format!("scheme {scheme}")))?;
        let path = url.path().trim_end_matches('/').to_owned();
        if !(path.ends_with("/ws") || path.contains("/ws/")) {
            let id = self.options.client_id.as_ref().map(|id| format!("/{id}")).unwrap_or_default();
            url.set_path(&format!("{path}/ws{id}"));
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(since) = self.last_event_id {
                query.append_pair("since", &since.to_string());
            }
            for t in self.options.event_types.iter().flatten() {
                query.append_pair("event_type", t);
            }
            for s in self.options.sequence_ids.iter().flatten() {
                query.append_pair("sequence_id", s);
            }
        }
        let mut text = String::from(url);
        if text.ends_with('?') {
            text.pop();
        }
        Ok(text)
    }

    /// Open the stream (retrying with backoff) and return the server's hello.
    pub async fn connect(&mut self) -> Result<ConnectionEstablished, EventsError> {
        if self.closed {
            return Err(EventsError::Closed);
        }
        self.ensure_connected().await?;
        Ok(self.hello.clone().expect("a hello after connecting"))
    }

    /// The next message from the server (events once each, in order; replies; heartbeats; the hello
    /// of each reconnect). Reconnects and resumes when the connection is lost. Cancel-safe: it may
    /// be wrapped in `tokio::time::timeout`.
    pub async fn next_message(&mut self) -> Result<ServerMessage, EventsError> {
        loop {
            if let Some(message) = self.pending.pop_front() {
                return Ok(message);
            }
            if self.closed {
                return Err(EventsError::Closed);
            }
            let reconnecting = self.socket.is_none();
            self.ensure_connected().await?;
            if reconnecting {
                if let Some(hello) = self.hello.clone() {
                    return Ok(ServerMessage::ConnectionEstablished(hello));
                }
            }
            match self.read().await {
                Ok(Some(message)) => return Ok(message),
                Ok(None) => continue,
                Err(Lost::Retry(_)) => continue,
                Err(Lost::Decode(e)) => return Err(EventsError::Decode(e)),
                Err(Lost::Fatal(code, reason)) => {
                    self.closed = true;
                    return Err(EventsError::ClosedByServer { code, reason });
                }
            }
        }
    }

    /// The next event (other messages are read and passed over; see [`next_message`](Self::next_message)).
    pub async fn next_event(&mut self) -> Result<Event, EventsError> {
        loop {
            if let ServerMessage::Event(event) = self.next_message().await? {
                return Ok(event);
            }
        }
    }

    /// The next event, or `None` if none came within `timeout`.
    pub async fn next_event_timeout(&mut self, timeout: Duration) -> Result<Option<Event>, EventsError> {
        match tokio::time::timeout(timeout, self.next_event()).await {
            Ok(result) => result.map(Some),
            Err(_) => Ok(None),
        }
    }

    /// Receive only these event types (exact, `prefix.*` or `*`) and, if given, sequences, from
    /// now on and after every reconnect. Connected: waits for the server's `filters_updated`.
    pub async fn set_filters(
        &mut self,
        event_types: Vec<String>,
        sequence_ids: Option<Vec<String>>,
    ) -> Result<Option<FiltersUpdated>, EventsError> {
        self.options.event_types = Some(event_types.clone());
        if sequence_ids.is_some() {
            self.options.sequence_ids = sequence_ids;
        }
        if self.socket.is_none() {
            return Ok(None);
        }
        let id = self.request_id();
        let message = ClientMessage::SetFilters {
            id: Some(id.clone()),
            event_types,
            sequence_ids: self.options.sequence_ids.clone().unwrap_or_default(),
        };
        match self.request(&message, id).await? {
            ServerMessage::FiltersUpdated(reply) => Ok(Some(reply)),
            other => Err(EventsError::Disconnected(format!("unexpected reply {other:?}"))),
        }
    }

    /// `ping`, and the server's `pong` (connecting first if needed).
    pub async fn ping(&mut self) -> Result<Pong, EventsError> {
        self.ensure_connected().await?;
        let id = self.request_id();
        match self.request(&ClientMessage::Ping { id: Some(id.clone()) }, id).await? {
            ServerMessage::Pong(pong) => Ok(pong),
            other => Err(EventsError::Disconnected(format!("unexpected reply {other:?}"))),
        }
    }

    /// `get_stats`: this server worker's connection statistics.
    pub async fn get_stats(&mut self) -> Result<Stats, EventsError> {
        self.ensure_connected().await?;
        let id = self.request_id();
        match self.request(&ClientMessage::GetStats { id: Some(id.clone()) }, id).await? {
            ServerMessage::Stats(stats) => Ok(stats),
            other => Err(EventsError::Disconnected(format!("unexpected reply {other:?}"))),
        }
    }

    /// Send a raw protocol message; replies arrive through [`next_message`](Self::next_message).
    pub async fn send(&mut self, message: &ClientMessage) -> Result<(), EventsError> {
        let text = serde_json::to_string(message).map_err(EventsError::Decode)?;
        let Some(socket) = self.socket.as_mut() else {
            return Err(EventsError::Disconnected("not connected".into()));
        };
        if let Err(e) = socket.send(Message::text(text)).await {
            self.socket = None;
            return Err(EventsError::Disconnected(e.to_string()));
        }
        Ok(())
    }

    /// Drop the connection without a close handshake, as a network failure would. The stream
    /// stays usable: the next read reconnects and resumes after [`last_event_id`](Self::last_event_id).
    pub fn drop_connection(&mut self) {
        self.socket = None;
    }

    /// Close the connection (1000) for good.
    pub async fn close(&mut self) {
        self.closed = true;
        if let Some(mut socket) = self.socket.take() {
            let frame = CloseFrame { code: CloseCode::Normal, reason: "client closed".into() };
            let _ = socket.close(Some(frame)).await;
        }
    }

    // -- internals ---------------------------------------------------------------------------

    fn request_id(&mut self) -> MessageId {
        self.next_request_id += 1;
        MessageId::Text(format!("rust-{}", self.next_request_id))
    }

    /// Send `message` and read until the reply carrying `id`; other messages are kept for
    /// `next_message`. An `error` reply is `EventsError::Server`.
    async fn request(&mut self, message: &ClientMessage, id: MessageId) -> Result<ServerMessage, EventsError> {
        self.send(message).await?;
        loop {
            match self.read().await {
                Ok(Some(reply)) if reply.reply_id() == Some(&id) => {
                    return match reply {
                        ServerMessage::Error(e) => Err(EventsError::Server(e)),
                        reply => Ok(reply),
                    };
                }
                Ok(Some(other)) => self.pending.push_back(other),
                Ok(None) => {}
                Err(Lost::Retry(why)) => return Err(EventsError::Disconnected(why)),
                Err(Lost::Decode(e)) => return Err(EventsError::Decode(e)),
                Err(Lost::Fatal(code, reason)) => {
                    self.closed = true;
                    return Err(EventsError::ClosedByServer { code, reason });
                }
            }
        }
    }

    /// Connect unless connected, with backoff between failed attempts.
    async fn ensure_connected(&mut self) -> Result<(), EventsError> {
        while self.socket.is_none() {
            if self.closed {
                return Err(EventsError::Closed);
            }
            match self.open().await {
                Ok(()) => self.attempts = 0,
                Err(OpenError::Fatal(e)) => {
                    self.closed = true;
                    return Err(e);
                }
                Err(OpenError::Retry(why)) => {
                    self.attempts += 1;
                    if let Some(max) = self.options.max_attempts {
                        if self.attempts >= max {
                            self.closed = true;
                            return Err(EventsError::GaveUp { attempts: self.attempts, last: why });
                        }
                    }
                    tokio::time::sleep(self.backoff(self.attempts)).await;
                }
            }
        }
        Ok(())
    }

    fn backoff(&self, attempts: u32) -> Duration {
        let exp = self.options.backoff_initial.saturating_mul(1u32 << (attempts - 1).min(16));
        let delay = exp.min(self.options.backoff_max);
        // Up to 20% shorter, so that many clients do not come back at the same instant.
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        delay.mul_f64(1.0 - 0.2 * f64::from(nanos % 1000) / 1000.0)
    }

    /// One connection attempt: the upgrade (with `since` and the filters), then the hello.
    async fn open(&mut self) -> Result<(), OpenError> {
        let url = self.url().map_err(OpenError::Fatal)?;
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| OpenError::Fatal(EventsError::InvalidRequest(e.to_string())))?;
        if let Some(token) = &self.options.token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|e| OpenError::Fatal(EventsError::InvalidRequest(e.to_string())))?;
            request.headers_mut().insert(AUTHORIZATION, value);
        }
        let timeout = self.options.connect_timeout;
        let attempt = async {
            let (mut socket, _) = match tokio_tungstenite::connect_async(request).await {
                Ok(ok) => ok,
                Err(tungstenite::Error::Http(response)) => {
                    let status = response.status().as_u16();
                    let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).into_owned();
                    // 4xx: a bad query, token or origin; 5xx and 429: try again later.
                    return Err(if (400..500).contains(&status) && status != 429 {
                        OpenError::Fatal(EventsError::Rejected { status, body })
                    } else {
                        OpenError::Retry(format!("{status} {body}"))
                    });
                }
                Err(e) => return Err(OpenError::Retry(e.to_string())),
            };
            // Until the hello: anything else is kept for next_message.
            let mut early = Vec::new();
            loop {
                match read_socket(&mut socket).await {
                    Ok(Some(Ok(ServerMessage::ConnectionEstablished(hello)))) => return Ok((socket, hello, early)),
                    Ok(Some(Ok(other))) => early.push(other),
                    Ok(Some(Err(_))) | Ok(None) => {}
                    Err(Lost::Fatal(code, reason)) => {
                        return Err(OpenError::Fatal(EventsError::ClosedByServer { code, reason }))
                    }
                    Err(Lost::Retry(why)) => return Err(OpenError::Retry(why)),
                    Err(Lost::Decode(_)) => {}
                }
            }
        };
        let (socket, hello, early) = match tokio::time::timeout(timeout, attempt).await {
            Ok(result) => result?,
            Err(_) => return Err(OpenError::Retry(format!("no hello within {timeout:?}"))),
        };
        // Without `since` the stream starts after the hello's last_event_id: a reconnect must
        // resume from there, or the events between the two connections would be lost.
        if self.last_event_id.is_none() {
            self.last_event_id = Some(hello.last_event_id);
        }
        self.hello = Some(hello);
        self.socket = Some(socket);
        for message in early {
            if let Some(message) = self.handle(message) {
                self.pending.push_back(message);
            }
        }
        Ok(())
    }

    /// Read one message from the current connection. `Ok(None)`: nothing to return (a control
    /// frame, a duplicate event). On a lost connection the socket is dropped.
    async fn read(&mut self) -> Result<Option<ServerMessage>, Lost> {
        let Some(socket) = self.socket.as_mut() else {
            return Err(Lost::Retry("not connected".into()));
        };
        match read_socket(socket).await {
            Ok(Some(Ok(message))) => Ok(self.handle(message)),
            Ok(Some(Err(e))) => Err(Lost::Decode(e)),
            Ok(None) => Ok(None),
            Err(lost) => {
                self.socket = None;
                Err(lost)
            }
        }
    }

    /// Track the stream's state; drop events already read (a replay may overlap them).
    fn handle(&mut self, message: ServerMessage) -> Option<ServerMessage> {
        match &message {
            ServerMessage::Event(event) => {
                if matches!(self.last_event_id, Some(last) if event.event_id <= last) {
                    return None;
                }
                self.last_event_id = Some(event.event_id);
            }
            // The stream continues after it; reload state over REST.
            ServerMessage::ResyncRequired(m) => self.last_event_id = Some(m.last_event_id),
            ServerMessage::StoreStatus(m) => self.store_available = m.status != StoreStatusValue::Unavailable,
            _ => {}
        }
        Some(message)
    }
}

enum OpenError {
    Fatal(EventsError),
    Retry(String),
}

/// `Ok(Some(Ok(message)))` a decoded text frame, `Ok(Some(Err(_)))` an undecodable one,
/// `Ok(None)` a control or binary frame, `Err` the connection ended.
async fn read_socket(socket: &mut Socket) -> Result<Option<Result<ServerMessage, serde_json::Error>>, Lost> {
    match socket.next().await {
        Some(Ok(Message::Text(text))) => Ok(Some(ServerMessage::parse(text.as_str()))),
        Some(Ok(Message::Close(frame))) => {
            let (code, reason) = frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new()));
            if FATAL_CLOSE_CODES.contains(&code) {
                Err(Lost::Fatal(code, reason))
            } else {
                Err(Lost::Retry(format!("closed: {code} {reason}")))
            }
        }
        Some(Ok(_)) => Ok(None),
        Some(Err(e)) => Err(Lost::Retry(e.to_string())),
        None => Err(Lost::Retry("connection ended".into())),
    }
}
