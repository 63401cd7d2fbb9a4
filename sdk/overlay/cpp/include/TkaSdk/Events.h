// Hand-written (sdk/overlay/cpp): a typed client for the server's WebSocket event stream (`/ws`,
// asyncapi.yaml), with the behaviour of the TypeScript, Python and Rust helpers. Header-only; it
// needs cpprestsdk alone (not the generated API).
//
//     tka::events::EventStreamOptions options;
//     options.event_types = std::vector<std::string>{"sequence.*"};
//     tka::events::EventStream stream("http://127.0.0.1:8000", options);
//     auto hello = stream.connect();
//     for (;;) {
//         auto event = stream.nextEvent();             // reconnects and resumes on its own
//         std::cout << event.event_id << " " << event.event_type << "\n";
//     }
//
// It reconnects with exponential backoff, resumes after the last event id it has read (`?since=`),
// keeps its filters across reconnects (they are sent in the upgrade URL, so they apply to the
// replay too) and returns each event once, in `event_id` order.
//
// Threads. An EventStream is used by one thread at a time: it is not synchronised, except
// close(), which any thread may call at any time (a signal-handling thread, say); a call blocked
// in connect(), nextMessage(), nextEvent(), ping(), getStats() or setFilters() then throws
// StreamClosed. cpprestsdk delivers frames on its own threads; they only ever take a queue's lock.
#pragma once

#include <cpprest/http_client.h>
#include <cpprest/json.h>
#include <cpprest/uri_builder.h>
#include <cpprest/ws_client.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace tka::events {

/// An id in the server's durable event log (0 before the first event), at most 2^53 − 1.
using EventId = std::int64_t;
/// The client's correlation id of a request, echoed in the reply.
using MessageId = std::variant<std::int64_t, std::string>;

// -- errors -----------------------------------------------------------------------------------

/// Every error of this client.
class EventsError : public std::runtime_error
{
public:
    using std::runtime_error::runtime_error;
};

/// The stream is closed: by close(), or earlier by one of the errors that end it (ClosedByServer,
/// Rejected, GaveUp).
class StreamClosed : public EventsError
{
public:
    StreamClosed() : EventsError("the event stream is closed") {}
};

/// The server refused the upgrade with a 4xx (400 bad query, 401 bad token, 403 origin or host):
/// retrying cannot help. Ends the stream.
class Rejected : public EventsError
{
public:
    Rejected(int httpStatus, std::string responseBody)
        : EventsError("the server refused the upgrade: " + std::to_string(httpStatus) + " " + responseBody),
          status(httpStatus), body(std::move(responseBody))
    {
    }
    int status;
    std::string body;
};

/// The server closed with a code after which reconnecting cannot help (1008 policy: a missing or
/// wrong token; 1009 message too big). Ends the stream.
class ClosedByServer : public EventsError
{
public:
    ClosedByServer(int closeCode, std::string closeReason)
        : EventsError("the server closed the stream: " + std::to_string(closeCode) + " " + closeReason),
          code(closeCode), reason(std::move(closeReason))
    {
    }
    int code;
    std::string reason;
};

/// `max_attempts` failed connection attempts in a row. Ends the stream.
class GaveUp : public EventsError
{
public:
    GaveUp(unsigned failedAttempts, std::string lastFailure)
        : EventsError("gave up after " + std::to_string(failedAttempts) + " attempts: " + lastFailure),
          attempts(failedAttempts), last(std::move(lastFailure))
    {
    }
    unsigned attempts;
    std::string last;
};

/// The connection was lost while waiting for a reply (the next read reconnects and resumes).
class Disconnected : public EventsError
{
public:
    using EventsError::EventsError;
};

/// No reply (or no connection) within `request_timeout`.
class Timeout : public EventsError
{
public:
    using EventsError::EventsError;
};

/// A message of a known type did not match its schema, or a frame was not JSON. The stream stays
/// usable.
class DecodeError : public EventsError
{
public:
    using EventsError::EventsError;
};

/// A bad base URL or option.
class InvalidRequest : public EventsError
{
public:
    using EventsError::EventsError;
};

// -- server to client (asyncapi.yaml components/schemas) -----------------------------------------

/// The first message on every connection (`connection_established`).
struct ConnectionEstablished
{
    std::string client_id;
    std::int64_t protocol_version = 0;
    /// Without `since`: the stream starts after this id. With `since`: the newest event the server
    /// had delivered when the connection opened.
    EventId last_event_id = 0;
    /// Seconds of silence after which the server sends `heartbeat`.
    double heartbeat_interval = 0;
    std::string timestamp;
};

/// What happened (asyncapi.yaml `EventType`); `Unknown` for types newer than this SDK.
enum class EventType
{
    SequenceCreated,
    SequenceUpdated,
    SequenceDeleted,
    SequenceRestored,
    SequenceStartPositionSet,
    SequenceBeatAdded,
    SequenceBeatRemoved,
    SequenceBeatUpdated,
    SequenceCurrentChanged,
    MotionGenerated,
    CommandExecuted,
    CommandUndone,
    CommandRedone,
    Unknown,
};

inline EventType eventTypeOf(const std::string& name)
{
    static const std::pair<const char*, EventType> names[] = {
        {"sequence.created", EventType::SequenceCreated},
        {"sequence.updated", EventType::SequenceUpdated},
        {"sequence.deleted", EventType::SequenceDeleted},
        {"sequence.restored", EventType::SequenceRestored},
        {"sequence.start_position_set", EventType::SequenceStartPositionSet},
        {"sequence.beat_added", EventType::SequenceBeatAdded},
        {"sequence.beat_removed", EventType::SequenceBeatRemoved},
        {"sequence.beat_updated", EventType::SequenceBeatUpdated},
        {"sequence.current_changed", EventType::SequenceCurrentChanged},
        {"motion.generated", EventType::MotionGenerated},
        {"command.executed", EventType::CommandExecuted},
        {"command.undone", EventType::CommandUndone},
        {"command.redone", EventType::CommandRedone},
    };
    for (const auto& [text, type] : names)
    {
        if (name == text)
        {
            return type;
        }
    }
    return EventType::Unknown;
}

/// One committed change (`event`).
struct Event
{
    EventId event_id = 0;
    /// `sequence.created`, `sequence.beat_added`, ... (see kind()); new types may be added.
    std::string event_type;
    std::string timestamp;
    std::optional<std::string> sequence_id;
    /// The X-Request-ID of the HTTP request that caused it.
    std::optional<std::string> request_id;
    std::optional<std::string> command_id;
    /// The facts of the event, by type (asyncapi.yaml `EventData`): a JSON object; `sequence`,
    /// `beat` and `removed_beat` have their REST shapes (tka::model::Sequence::fromJson reads them).
    web::json::value data = web::json::value::object();

    EventType kind() const { return eventTypeOf(event_type); }
};

/// Reply to `set_filters`: the filters now in force (empty lists: everything).
struct FiltersUpdated
{
    std::optional<MessageId> id;
    std::vector<std::string> event_types;
    std::vector<std::string> sequence_ids;
    std::string timestamp;
};

/// Reply to `ping`.
struct Pong
{
    std::optional<MessageId> id;
    /// Every event up to here was sent on this connection or filtered out.
    EventId last_event_id = 0;
    std::string timestamp;
};

/// Reply to `get_stats`: the data of `GET /api/websocket/stats` (openapi.yaml `WebsocketStats`).
struct Stats
{
    std::optional<MessageId> id;
    web::json::value data;
    std::string timestamp;
};

/// Sent after `heartbeat_interval` seconds with nothing else to send.
struct Heartbeat
{
    EventId last_event_id = 0;
    std::string timestamp;
};

/// Reply to `resume`; the replayed events follow.
struct Resumed
{
    std::optional<MessageId> id;
    EventId since = 0;
    std::string timestamp;
};

enum class ResyncReason
{
    Expired,  ///< events after `since` were pruned
    Ahead,    ///< `since` is newer than the log
    Unknown,  ///< a reason newer than this SDK
};

/// The log cannot serve `since`: reload state over REST; the stream continues after
/// `last_event_id` (a reconnect resumes from there).
struct ResyncRequired
{
    EventId since = 0;
    ResyncReason reason = ResyncReason::Unknown;
    std::optional<EventId> oldest_event_id;
    EventId last_event_id = 0;
    std::string message;
    std::string timestamp;
};

enum class StoreStatusValue
{
    Available,
    Unavailable,
    Unknown,  ///< a value newer than this SDK
};

/// The server's store went away (the stream stays open; nothing is lost) or came back (the events
/// committed meanwhile follow).
struct StoreStatus
{
    StoreStatusValue status = StoreStatusValue::Unknown;
    /// With `unavailable`: seconds until the server next tries the store.
    std::optional<std::int64_t> retry_after;
    EventId last_event_id = 0;
    std::string timestamp;
};

/// `error`: a client message the server could not use, or the slow-consumer notice before close 4008.
struct ServerError
{
    std::optional<MessageId> id;
    /// `invalid_json`, `invalid_message`, `unknown_type`, `unsupported_data`,
    /// `already_authenticated`, `slow_consumer`, ... (a plain string: new codes may come).
    std::string code;
    std::string message;
    std::optional<EventId> resume_since;
    std::string timestamp;
};

/// A message of a type this SDK does not know (or without a `type`), as it came.
struct OtherMessage
{
    std::string type;
    web::json::value json;
};

/// Any message from the server: std::get_if<Event>(&message), std::visit, ...
using ServerMessage = std::variant<ConnectionEstablished, Event, FiltersUpdated, Pong, Stats, Heartbeat, Resumed,
                                   ResyncRequired, StoreStatus, ServerError, OtherMessage>;

/// The server's error reply to a request (ping, get_stats, set_filters).
class ServerErrorReply : public EventsError
{
public:
    explicit ServerErrorReply(ServerError reply)
        : EventsError("server error " + reply.code + ": " + reply.message), error(std::move(reply))
    {
    }
    ServerError error;
};

namespace detail {

inline utility::string_t key(const char* name) { return utility::conversions::to_string_t(name); }

/// Reads the fields of one message strictly: a missing or mistyped required field is a DecodeError.
class Fields
{
public:
    Fields(const web::json::value& object, const char* type) : m_object(object), m_type(type) {}

    const web::json::value* find(const char* name) const
    {
        auto k = key(name);
        return m_object.has_field(k) ? &m_object.at(k) : nullptr;
    }

    const web::json::value& required(const char* name) const
    {
        auto value = find(name);
        if (!value)
        {
            fail(name, "missing");
        }
        return *value;
    }

    std::string string(const char* name) const
    {
        const auto& value = required(name);
        if (!value.is_string())
        {
            fail(name, "not a string");
        }
        return utility::conversions::to_utf8string(value.as_string());
    }

    /// Absent or null: nullopt.
    std::optional<std::string> nullableString(const char* name) const
    {
        auto value = find(name);
        if (!value || value->is_null())
        {
            return std::nullopt;
        }
        return string(name);
    }

    std::int64_t integer(const char* name) const
    {
        const auto& value = required(name);
        if (!value.is_number() || !value.is_integer() || !value.as_number().is_int64())
        {
            fail(name, "not an integer");
        }
        return value.as_number().to_int64();
    }

    std::optional<std::int64_t> nullableInteger(const char* name) const
    {
        auto value = find(name);
        if (!value || value->is_null())
        {
            return std::nullopt;
        }
        return integer(name);
    }

    double number(const char* name) const
    {
        const auto& value = required(name);
        if (!value.is_number())
        {
            fail(name, "not a number");
        }
        return value.as_double();
    }

    std::vector<std::string> strings(const char* name) const
    {
        const auto& value = required(name);
        if (!value.is_array())
        {
            fail(name, "not an array");
        }
        std::vector<std::string> result;
        for (const auto& item : value.as_array())
        {
            if (!item.is_string())
            {
                fail(name, "not an array of strings");
            }
            result.push_back(utility::conversions::to_utf8string(item.as_string()));
        }
        return result;
    }

    web::json::value object(const char* name) const
    {
        const auto& value = required(name);
        if (!value.is_object())
        {
            fail(name, "not an object");
        }
        return value;
    }

    std::optional<MessageId> id() const
    {
        auto value = find("id");
        if (!value || value->is_null())
        {
            return std::nullopt;
        }
        if (value->is_string())
        {
            return MessageId(utility::conversions::to_utf8string(value->as_string()));
        }
        if (value->is_number() && value->is_integer() && value->as_number().is_int64())
        {
            return MessageId(value->as_number().to_int64());
        }
        fail("id", "neither an integer nor a string");
    }

private:
    [[noreturn]] void fail(const char* name, const char* what) const
    {
        throw DecodeError(std::string(m_type) + "." + name + ": " + what);
    }

    const web::json::value& m_object;
    const char* m_type;
};

inline web::json::value toJson(const MessageId& id)
{
    if (auto number = std::get_if<std::int64_t>(&id))
    {
        return web::json::value::number(*number);
    }
    return web::json::value::string(utility::conversions::to_string_t(std::get<std::string>(id)));
}

inline web::json::value toJson(const std::vector<std::string>& strings)
{
    auto array = web::json::value::array();
    for (std::size_t i = 0; i < strings.size(); ++i)
    {
        array[i] = web::json::value::string(utility::conversions::to_string_t(strings[i]));
    }
    return array;
}

/// `{"type": type}` (plus `id`), fields in the order they are added.
inline web::json::value request(const char* type, const std::optional<MessageId>& id)
{
    auto message = web::json::value::object(true);
    message[key("type")] = web::json::value::string(key(type));
    if (id)
    {
        message[key("id")] = toJson(*id);
    }
    return message;
}

} // namespace detail

/// Decode one message (a parsed JSON object): a known `type` must match its schema (else
/// DecodeError); any other is an OtherMessage.
inline ServerMessage parseServerMessage(const web::json::value& json)
{
    using detail::Fields;
    auto typeField = json.is_object() && json.has_field(detail::key("type")) ? &json.at(detail::key("type")) : nullptr;
    std::string type = typeField && typeField->is_string() ? utility::conversions::to_utf8string(typeField->as_string()) : "";
    Fields f(json, type.c_str());
    if (type == "connection_established")
    {
        return ConnectionEstablished{f.string("client_id"), f.integer("protocol_version"), f.integer("last_event_id"),
                                     f.number("heartbeat_interval"), f.string("timestamp")};
    }
    if (type == "event")
    {
        return Event{f.integer("event_id"), f.string("event_type"), f.string("timestamp"), f.nullableString("sequence_id"),
                     f.nullableString("request_id"), f.nullableString("command_id"), f.object("data")};
    }
    if (type == "filters_updated")
    {
        return FiltersUpdated{f.id(), f.strings("event_types"), f.strings("sequence_ids"), f.string("timestamp")};
    }
    if (type == "pong")
    {
        return Pong{f.id(), f.integer("last_event_id"), f.string("timestamp")};
    }
    if (type == "stats")
    {
        return Stats{f.id(), f.object("data"), f.string("timestamp")};
    }
    if (type == "heartbeat")
    {
        return Heartbeat{f.integer("last_event_id"), f.string("timestamp")};
    }
    if (type == "resumed")
    {
        return Resumed{f.id(), f.integer("since"), f.string("timestamp")};
    }
    if (type == "resync_required")
    {
        auto reason = f.string("reason");
        f.required("oldest_event_id");  // required, nullable
        return ResyncRequired{f.integer("since"),
                              reason == "expired" ? ResyncReason::Expired
                              : reason == "ahead" ? ResyncReason::Ahead
                                                  : ResyncReason::Unknown,
                              f.nullableInteger("oldest_event_id"), f.integer("last_event_id"), f.string("message"),
                              f.string("timestamp")};
    }
    if (type == "store_status")
    {
        auto status = f.string("status");
        return StoreStatus{status == "available"     ? StoreStatusValue::Available
                           : status == "unavailable" ? StoreStatusValue::Unavailable
                                                     : StoreStatusValue::Unknown,
                           f.nullableInteger("retry_after"), f.integer("last_event_id"), f.string("timestamp")};
    }
    if (type == "error")
    {
        return ServerError{f.id(), f.string("code"), f.string("message"), f.nullableInteger("resume_since"),
                           f.string("timestamp")};
    }
    return OtherMessage{type, json};
}

/// Decode one text frame (UTF-8 JSON); not JSON: DecodeError.
inline ServerMessage parseServerMessage(const std::string& text)
{
    web::json::value json;
    try
    {
        json = web::json::value::parse(utility::conversions::to_string_t(text));
    }
    catch (const web::json::json_exception& e)
    {
        throw DecodeError(std::string("not JSON: ") + e.what());
    }
    return parseServerMessage(json);
}

/// The message's `type` on the wire (an OtherMessage's own, possibly empty).
inline std::string typeOf(const ServerMessage& message)
{
    static const char* names[] = {"connection_established", "event", "filters_updated", "pong", "stats", "heartbeat",
                                  "resumed", "resync_required", "store_status", "error"};
    if (auto other = std::get_if<OtherMessage>(&message))
    {
        return other->type;
    }
    return names[message.index()];
}

// -- client to server ------------------------------------------------------------------------

/// The messages a client may send (for EventStream::send; the stream's own methods use them).
namespace messages {

/// Replace this connection's filters; empty lists mean everything.
inline web::json::value setFilters(const std::vector<std::string>& eventTypes, const std::vector<std::string>& sequenceIds,
                                   const std::optional<MessageId>& id = std::nullopt)
{
    auto message = detail::request("set_filters", id);
    message[detail::key("event_types")] = detail::toJson(eventTypes);
    message[detail::key("sequence_ids")] = detail::toJson(sequenceIds);
    return message;
}

inline web::json::value ping(const std::optional<MessageId>& id = std::nullopt) { return detail::request("ping", id); }

inline web::json::value getStats(const std::optional<MessageId>& id = std::nullopt)
{
    return detail::request("get_stats", id);
}

/// Replay the events after `since` on this connection, then continue live.
inline web::json::value resume(EventId since, const std::optional<MessageId>& id = std::nullopt)
{
    auto message = detail::request("resume", id);
    message[detail::key("since")] = web::json::value::number(since);
    return message;
}

/// The token as the first message, for clients that cannot send headers (EventStream sends
/// `Authorization` with the upgrade instead).
inline web::json::value auth(const std::string& token, const std::optional<MessageId>& id = std::nullopt)
{
    auto message = detail::request("auth", id);
    message[detail::key("token")] = web::json::value::string(utility::conversions::to_string_t(token));
    return message;
}

} // namespace messages

// -- the client ------------------------------------------------------------------------------

/// How an EventStream connects and reconnects.
struct EventStreamOptions
{
    /// Bearer token, when the server has one (sent as `Authorization` with the upgrade).
    std::optional<std::string> token;
    /// Connect to `/ws/{client_id}` (1-64 letters, digits or `. _ : -`) instead of `/ws`.
    std::optional<std::string> client_id;
    /// Event types to receive: exact, `prefix.*` or `*`. nullopt: all.
    std::optional<std::vector<std::string>> event_types;
    /// Only events about these sequences. nullopt: all.
    std::optional<std::vector<std::string>> sequence_ids;
    /// Resume after this event id (the server replays what came after it).
    std::optional<EventId> since;
    /// First delay before reconnecting after a failed attempt; doubles up to backoff_max (each
    /// delay up to 20% shorter at random, so that many clients do not come back at once).
    std::chrono::milliseconds backoff_initial{250};
    std::chrono::milliseconds backoff_max{10000};
    /// Give up (GaveUp) after this many failed attempts in a row; nullopt: never.
    std::optional<unsigned> max_attempts;
    /// For the upgrade and the server's hello.
    std::chrono::milliseconds connect_timeout{10000};
    /// For the reply to ping, get_stats and set_filters (and the connection they may wait for).
    std::chrono::milliseconds request_timeout{10000};
};

namespace detail {

using Clock = std::chrono::steady_clock;

/// What cpprestsdk's threads hand to the stream: the frames and the end of each connection
/// attempt, tagged with the attempt; the stream takes only those of its current attempt.
class Inbox
{
public:
    struct Item
    {
        enum class Kind
        {
            Text,
            Closed,
        };
        Kind kind = Kind::Text;
        std::uint64_t attempt = 0;
        std::string text;       // Text
        int code = 0;           // Closed: the close code (1006: no close frame; the error says why)
        std::string reason;     // Closed
        std::error_code error;  // Closed
    };

    void push(Item item)
    {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            if (item.attempt != m_attempt || m_closed)
            {
                return;
            }
            m_items.push_back(std::move(item));
        }
        m_changed.notify_all();
    }

    /// Start a new attempt: whatever the previous one left unread is dropped.
    std::uint64_t nextAttempt()
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_items.clear();
        return ++m_attempt;
    }

    /// Forget the current attempt (dropConnection): its unread items, and those still to come.
    void abandon()
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_items.clear();
        ++m_attempt;
    }

    void close()
    {
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_closed = true;
        }
        m_changed.notify_all();
    }

    bool closed() const
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        return m_closed;
    }

    /// The next item, or nullopt at `until` or once closed.
    std::optional<Item> pop(Clock::time_point until)
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_changed.wait_until(lock, until, [this] { return m_closed || !m_items.empty(); });
        if (m_closed || m_items.empty())
        {
            return std::nullopt;
        }
        auto item = std::move(m_items.front());
        m_items.pop_front();
        return item;
    }

    /// Sleep until `until`, or less once closed.
    void sleepUntil(Clock::time_point until)
    {
        std::unique_lock<std::mutex> lock(m_mutex);
        m_changed.wait_until(lock, until, [this] { return m_closed; });
    }

private:
    mutable std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<Item> m_items;
    std::uint64_t m_attempt = 0;
    bool m_closed = false;
};

/// pplx terminates the process when a task's exception is never looked at: look, and let go.
inline void observe(const pplx::task<void>& task)
{
    task.then([](pplx::task<void> done) {
        try
        {
            done.get();
        }
        catch (...)
        {
        }
    });
}

} // namespace detail

/// The event stream: read it with nextEvent() or nextMessage(); both reconnect and resume on
/// their own. See the top of this file for threads.
class EventStream
{
public:
    using Clock = detail::Clock;

    /// `baseUrl`: the server's origin (`http://127.0.0.1:8000`, `https://...`) or a `ws://…/ws` URL.
    explicit EventStream(std::string baseUrl, EventStreamOptions options = {})
        : m_baseUrl(std::move(baseUrl)), m_options(std::move(options)), m_lastEventId(m_options.since),
          m_random(std::random_device{}())
    {
    }

    EventStream(const EventStream&) = delete;
    EventStream& operator=(const EventStream&) = delete;

    /// Closes the connection (1000) and waits for cpprestsdk to let go of it: the close handshake
    /// with a live server, at most websocketpp's 5 s timeouts with a silent one.
    ~EventStream()
    {
        close();
        std::vector<Retired> retired;
        {
            std::lock_guard<std::mutex> lock(m_clientMutex);
            retired.swap(m_retired);
        }
        retired.clear();  // destructors wait for the close, outside the lock
    }

    /// The id of the last event read from the server (what a reconnect resumes after).
    std::optional<EventId> lastEventId() const { return m_lastEventId; }

    /// False between a `store_status: unavailable` and the next `available`: the server cannot
    /// read its event log, so no events arrive (none is lost either).
    bool storeAvailable() const { return m_storeAvailable; }

    /// The hello of the current (or last) connection.
    const std::optional<ConnectionEstablished>& hello() const { return m_hello; }

    bool isConnected() const { return m_phase == Phase::Open; }

    /// The upgrade URL: `ws://host/ws[/client_id]?since=…&event_type=…&sequence_id=…`. The filters
    /// go in the URL so that they apply to the replay as well.
    std::string url() const
    {
        try
        {
            web::uri base(utility::conversions::to_string_t(m_baseUrl));
            web::uri_builder builder(base);
            auto scheme = utility::conversions::to_utf8string(base.scheme());
            builder.set_scheme(utility::conversions::to_string_t(scheme == "http" ? "ws" : scheme == "https" ? "wss" : scheme));
            auto path = utility::conversions::to_utf8string(base.path());
            while (!path.empty() && path.back() == '/')
            {
                path.pop_back();
            }
            bool named = path.find("/ws/") != std::string::npos;
            if (!named && !(path.size() >= 3 && path.compare(path.size() - 3, 3, "/ws") == 0))
            {
                path += "/ws";
                if (m_options.client_id)
                {
                    path += "/" + *m_options.client_id;
                }
            }
            builder.set_path(utility::conversions::to_string_t(path));
            if (m_lastEventId)
            {
                builder.append_query(detail::key("since"), *m_lastEventId);
            }
            for (const auto& type : m_options.event_types.value_or(std::vector<std::string>{}))
            {
                builder.append_query(detail::key("event_type"), type);
            }
            for (const auto& id : m_options.sequence_ids.value_or(std::vector<std::string>{}))
            {
                builder.append_query(detail::key("sequence_id"), id);
            }
            return utility::conversions::to_utf8string(builder.to_string());
        }
        catch (const std::exception& e)  // web::uri_exception: not a URL
        {
            throw InvalidRequest("bad base URL " + m_baseUrl + ": " + e.what());
        }
    }

    /// Open the stream (retrying with backoff, max_attempts) and return the server's hello; at
    /// once when already connected.
    ConnectionEstablished connect()
    {
        while (m_phase != Phase::Open)
        {
            auto step = receive(Clock::now() + kForever);
            if (step.kind == Step::Kind::Message && !std::holds_alternative<ConnectionEstablished>(*step.message))
            {
                m_pending.push_back(std::move(*step.message));
            }
        }
        return *m_hello;
    }

    /// The next message from the server: events once each, in order; replies; heartbeats; the
    /// hello of each reconnect (connect() returns the first). Reconnects and resumes when the
    /// connection is lost. nullopt when nothing came within `timeout` (a reconnect in progress
    /// carries on at the next call).
    std::optional<ServerMessage> nextMessage(std::chrono::milliseconds timeout)
    {
        auto deadline = Clock::now() + timeout;
        for (;;)
        {
            if (!m_pending.empty())
            {
                auto message = std::move(m_pending.front());
                m_pending.pop_front();
                return message;
            }
            auto step = receive(deadline);
            switch (step.kind)
            {
                case Step::Kind::Message: return std::move(step.message);
                case Step::Kind::Timeout: return std::nullopt;
                case Step::Kind::Lost: break;  // the next receive reconnects
            }
        }
    }

    ServerMessage nextMessage()
    {
        for (;;)
        {
            if (auto message = nextMessage(kForever))
            {
                return std::move(*message);
            }
        }
    }

    /// The next event (other messages are read and passed over), or nullopt when none came
    /// within `timeout`.
    std::optional<Event> nextEvent(std::chrono::milliseconds timeout)
    {
        auto deadline = Clock::now() + timeout;
        for (;;)
        {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            auto message = nextMessage(std::max(left, std::chrono::milliseconds(0)));
            if (!message)
            {
                return std::nullopt;
            }
            if (auto event = std::get_if<Event>(&*message))
            {
                return std::move(*event);
            }
        }
    }

    Event nextEvent()
    {
        for (;;)
        {
            if (auto event = nextEvent(kForever))
            {
                return std::move(*event);
            }
        }
    }

    /// Receive only these event types (exact, `prefix.*` or `*`; empty: all) and, if given, these
    /// sequences (empty: all), from now on and after every reconnect. Connected: waits for the
    /// server's `filters_updated` and returns it; not connected: nullopt (the next connection
    /// opens with them).
    std::optional<FiltersUpdated> setFilters(std::vector<std::string> eventTypes,
                                             std::optional<std::vector<std::string>> sequenceIds = std::nullopt)
    {
        m_options.event_types = std::move(eventTypes);
        if (sequenceIds)
        {
            m_options.sequence_ids = std::move(sequenceIds);
        }
        if (m_phase == Phase::Connecting)
        {
            restartAttempt();  // its URL carries the old filters
        }
        if (m_phase != Phase::Open)
        {
            return std::nullopt;
        }
        auto id = nextRequestId();
        auto reply = request(messages::setFilters(*m_options.event_types,
                                                  m_options.sequence_ids.value_or(std::vector<std::string>{}), id),
                             id);
        return expect<FiltersUpdated>(std::move(reply));
    }

    /// `ping`, and the server's `pong` (connecting first if needed).
    Pong ping()
    {
        auto id = nextRequestId();
        return expect<Pong>(request(messages::ping(id), id));
    }

    /// `get_stats`: this server worker's connection statistics.
    Stats getStats()
    {
        auto id = nextRequestId();
        return expect<Stats>(request(messages::getStats(id), id));
    }

    /// Send a raw protocol message (messages::...); replies arrive through nextMessage().
    /// Not connected: Disconnected.
    void send(const web::json::value& message)
    {
        if (m_inbox->closed())
        {
            throw StreamClosed();
        }
        std::lock_guard<std::mutex> lock(m_clientMutex);
        if (!m_client || m_phase != Phase::Open)
        {
            throw Disconnected("not connected");
        }
        web::websockets::client::websocket_outgoing_message frame;
        frame.set_utf8_message(utility::conversions::to_utf8string(message.serialize()));
        // A failed send needs no answer here: the connection's end arrives through the close handler.
        detail::observe(m_client->send(frame));
    }

    /// Let go of the connection, as a network failure would: what it had not yet handed over is
    /// dropped, and the stream stays usable: the next read reconnects and resumes after
    /// lastEventId(). (cpprestsdk cannot drop a socket without a close frame: this one closes
    /// with 1001 and does not wait.)
    void dropConnection()
    {
        m_inbox->abandon();
        retire(web::websockets::client::websocket_close_status::going_away, "connection dropped");
        m_phase = Phase::Idle;
        m_retryAt = Clock::now();
    }

    /// Close the stream (1000) for good: later calls throw StreamClosed. Any thread may call it,
    /// at any time; a call blocked in another thread wakes and throws StreamClosed.
    void close()
    {
        m_inbox->close();
        retire(web::websockets::client::websocket_close_status::normal, "client closed");
    }

private:
    static constexpr std::chrono::hours kForever{24 * 365};
    static bool fatalCloseCode(int code) { return code == 1008 || code == 1009; }

    enum class Phase
    {
        Idle,        ///< no connection; the next attempt at m_retryAt
        Connecting,  ///< upgrading, or waiting for the hello (until m_attemptDeadline)
        Open,
    };

    struct Step
    {
        enum class Kind
        {
            Message,  ///< a message to hand over (already deduplicated)
            Timeout,  ///< the deadline passed
            Lost,     ///< the open connection ended (the next receive reconnects)
        } kind;
        std::optional<ServerMessage> message;
    };

    /// A client on its way out: kept until its close has finished, since destroying a
    /// websocket_callback_client waits for that (and must not happen on its own threads).
    struct Retired
    {
        std::unique_ptr<web::websockets::client::websocket_callback_client> client;
        pplx::task<void> closed;
    };

    /// One step: connect when it is time, then hand over the next message of the connection.
    Step receive(Clock::time_point deadline)
    {
        for (;;)
        {
            if (m_inbox->closed())
            {
                throw StreamClosed();
            }
            reap();
            auto now = Clock::now();
            if (m_phase == Phase::Idle)
            {
                if (now < m_retryAt)
                {
                    if (now >= deadline)
                    {
                        return {Step::Kind::Timeout, std::nullopt};
                    }
                    m_inbox->sleepUntil(std::min(deadline, m_retryAt));
                    continue;
                }
                startAttempt();
                continue;
            }
            auto until = std::min(deadline, m_phase == Phase::Connecting ? m_attemptDeadline : staleAt());
            auto item = m_inbox->pop(until);
            now = Clock::now();
            if (!item)
            {
                if (m_inbox->closed())
                {
                    continue;
                }
                if (m_phase == Phase::Connecting && now >= m_attemptDeadline)
                {
                    failAttempt("no hello within " + std::to_string(m_options.connect_timeout.count()) + " ms");
                    continue;
                }
                if (m_phase == Phase::Open && now >= staleAt())
                {
                    // Not even a heartbeat for twice its interval: the network is gone without a word.
                    retire(web::websockets::client::websocket_close_status::going_away, "no heartbeat");
                    m_phase = Phase::Idle;
                    m_retryAt = now;
                    return {Step::Kind::Lost, std::nullopt};
                }
                if (now >= deadline)
                {
                    return {Step::Kind::Timeout, std::nullopt};
                }
                continue;
            }
            if (item->kind == detail::Inbox::Item::Kind::Closed)
            {
                bool wasOpen = m_phase == Phase::Open;
                retire(web::websockets::client::websocket_close_status::normal, "");
                m_phase = Phase::Idle;
                if (fatalCloseCode(item->code))
                {
                    m_inbox->close();
                    throw ClosedByServer(item->code, item->reason);
                }
                if (wasOpen)
                {
                    m_retryAt = now;  // reconnect at once; backoff only after failed attempts
                    return {Step::Kind::Lost, std::nullopt};
                }
                if (refusedUpgrade(item->error))
                {
                    if (auto rejection = probeRejection())
                    {
                        m_inbox->close();
                        throw Rejected(rejection->first, rejection->second);
                    }
                }
                failAttempt(describe(*item));
                continue;
            }
            m_lastHeard = now;
            if (m_phase == Phase::Connecting)
            {
                std::optional<ServerMessage> message;
                try
                {
                    message = parseServerMessage(item->text);
                }
                catch (const DecodeError&)
                {
                    continue;  // nothing useful before the hello
                }
                if (auto hello = std::get_if<ConnectionEstablished>(&*message))
                {
                    opened(*hello);
                    return {Step::Kind::Message, std::move(message)};
                }
                m_early.push_back(std::move(*message));
                continue;
            }
            if (auto message = handle(parseServerMessage(item->text)))
            {
                return {Step::Kind::Message, std::move(message)};
            }
        }
    }

    void startAttempt()
    {
        using namespace web::websockets::client;
        auto target = url();  // InvalidRequest: fatal
        web::uri uri;
        try
        {
            uri = web::uri(utility::conversions::to_string_t(target));
        }
        catch (const std::exception& e)
        {
            throw InvalidRequest("bad URL " + target + ": " + e.what());
        }
        websocket_client_config config;
        if (m_options.token)
        {
            config.headers().add(detail::key("Authorization"), utility::conversions::to_string_t("Bearer " + *m_options.token));
        }
        auto client = std::make_unique<websocket_callback_client>(config);
        auto attempt = m_inbox->nextAttempt();
        std::weak_ptr<detail::Inbox> inbox = m_inbox;
        // Both run on cpprestsdk's threads: they take the inbox's lock and nothing else.
        client->set_message_handler([inbox, attempt](const websocket_incoming_message& frame) {
            auto queue = inbox.lock();
            if (!queue || frame.message_type() != websocket_message_type::text_message)
            {
                return;  // binary frames are not part of the protocol
            }
            detail::Inbox::Item item;
            item.attempt = attempt;
            item.text = frame.extract_string().get();  // the body is in memory already
            queue->push(std::move(item));
        });
        // Called once per connection, when it ends or fails to open (the code is 1006 when no
        // close frame came: refused, reset, a non-101 answer to the upgrade; the error says which).
        client->set_close_handler([inbox, attempt](websocket_close_status status, const utility::string_t& reason,
                                                   const std::error_code& error) {
            if (auto queue = inbox.lock())
            {
                detail::Inbox::Item item;
                item.kind = detail::Inbox::Item::Kind::Closed;
                item.attempt = attempt;
                item.code = static_cast<int>(status);
                item.reason = utility::conversions::to_utf8string(reason);
                item.error = error;
                queue->push(std::move(item));
            }
        });
        std::lock_guard<std::mutex> lock(m_clientMutex);
        if (m_inbox->closed())
        {
            return;  // close() came from another thread meanwhile
        }
        try
        {
            detail::observe(client->connect(uri));  // its failure also reaches the close handler
        }
        catch (const std::exception& e)  // a scheme other than ws/wss
        {
            throw InvalidRequest("bad URL " + target + ": " + e.what());
        }
        m_client = std::move(client);
        m_phase = Phase::Connecting;
        m_attemptDeadline = Clock::now() + m_options.connect_timeout;
    }

    void opened(const ConnectionEstablished& hello)
    {
        m_phase = Phase::Open;
        m_failures = 0;
        m_hello = hello;
        // Without `since` the stream starts after the hello's last_event_id: a reconnect must
        // resume from there, or the events between the two connections would be lost.
        if (!m_lastEventId)
        {
            m_lastEventId = hello.last_event_id;
        }
        for (auto& message : m_early)
        {
            if (auto kept = handle(std::move(message)))
            {
                m_pending.push_back(std::move(*kept));
            }
        }
        m_early.clear();
    }

    /// Track the stream's state; drop events already read (a replay may overlap them).
    std::optional<ServerMessage> handle(ServerMessage message)
    {
        if (auto event = std::get_if<Event>(&message))
        {
            if (m_lastEventId && event->event_id <= *m_lastEventId)
            {
                return std::nullopt;
            }
            m_lastEventId = event->event_id;
        }
        else if (auto resync = std::get_if<ResyncRequired>(&message))
        {
            m_lastEventId = resync->last_event_id;  // the stream continues after it; reload over REST
        }
        else if (auto status = std::get_if<StoreStatus>(&message))
        {
            m_storeAvailable = status->status != StoreStatusValue::Unavailable;
        }
        return message;
    }

    void failAttempt(const std::string& why)
    {
        retire(web::websockets::client::websocket_close_status::going_away, "no hello");
        m_phase = Phase::Idle;
        ++m_failures;
        if (m_options.max_attempts && m_failures >= *m_options.max_attempts)
        {
            m_inbox->close();
            throw GaveUp(m_failures, why);
        }
        auto exponent = std::min(m_failures - 1, 16u);
        auto delay = std::min<std::chrono::milliseconds>(m_options.backoff_initial * (std::int64_t{1} << exponent),
                                                         m_options.backoff_max);
        auto jitter = std::uniform_real_distribution<double>(0.8, 1.0)(m_random);
        m_retryAt = Clock::now() + std::chrono::duration_cast<Clock::duration>(delay * jitter);
    }

    void restartAttempt()
    {
        m_inbox->abandon();
        retire(web::websockets::client::websocket_close_status::normal, "filters changed");
        m_phase = Phase::Idle;
        m_retryAt = Clock::now();
    }

    /// Close the current client without waiting (a no-op when it has closed already) and keep it
    /// until it has.
    void retire(web::websockets::client::websocket_close_status status, const char* reason)
    {
        std::lock_guard<std::mutex> lock(m_clientMutex);
        if (!m_client)
        {
            return;
        }
        auto closed = m_client->close(status, detail::key(reason));
        detail::observe(closed);
        m_retired.push_back({std::move(m_client), closed});
    }

    /// Destroy the retired clients whose close has finished (their destructors then return at once).
    void reap()
    {
        std::vector<Retired> done;
        {
            std::lock_guard<std::mutex> lock(m_clientMutex);
            auto finished = std::stable_partition(m_retired.begin(), m_retired.end(),
                                                  [](const Retired& r) { return !r.closed.is_done(); });
            std::move(finished, m_retired.end(), std::back_inserter(done));
            m_retired.erase(finished, m_retired.end());
        }
    }

    /// Send `message` and read until the reply carrying `id`; other messages are kept for
    /// nextMessage(). An `error` reply is ServerErrorReply.
    ServerMessage request(const web::json::value& message, const MessageId& id)
    {
        auto deadline = Clock::now() + m_options.request_timeout;
        while (m_phase != Phase::Open)
        {
            auto step = receive(deadline);
            if (step.kind == Step::Kind::Timeout)
            {
                throw Timeout("not connected within " + std::to_string(m_options.request_timeout.count()) + " ms");
            }
            if (step.kind == Step::Kind::Message)
            {
                m_pending.push_back(std::move(*step.message));  // the hello of the connection, too
            }
        }
        send(message);
        for (;;)
        {
            auto step = receive(deadline);
            if (step.kind == Step::Kind::Timeout)
            {
                throw Timeout("no reply within " + std::to_string(m_options.request_timeout.count()) + " ms");
            }
            if (step.kind == Step::Kind::Lost)
            {
                throw Disconnected("the connection ended before the reply");
            }
            if (replyId(*step.message) == id)
            {
                if (auto error = std::get_if<ServerError>(&*step.message))
                {
                    throw ServerErrorReply(std::move(*error));
                }
                return std::move(*step.message);
            }
            m_pending.push_back(std::move(*step.message));
        }
    }

    static std::optional<MessageId> replyId(const ServerMessage& message)
    {
        return std::visit(
            [](const auto& m) -> std::optional<MessageId> {
                if constexpr (std::is_same_v<std::decay_t<decltype(m)>, FiltersUpdated> ||
                              std::is_same_v<std::decay_t<decltype(m)>, Pong> ||
                              std::is_same_v<std::decay_t<decltype(m)>, Stats> ||
                              std::is_same_v<std::decay_t<decltype(m)>, Resumed> ||
                              std::is_same_v<std::decay_t<decltype(m)>, ServerError>)
                {
                    return m.id;
                }
                return std::nullopt;
            },
            message);
    }

    template<typename Reply>
    static Reply expect(ServerMessage message)
    {
        if (auto reply = std::get_if<Reply>(&message))
        {
            return std::move(*reply);
        }
        throw DecodeError("unexpected reply " + typeOf(message));
    }

    MessageId nextRequestId() { return MessageId("cpp-" + std::to_string(++m_requestId)); }

    /// When the open connection counts as dead: twice the heartbeat interval without a frame
    /// (plus connect_timeout of slack).
    Clock::time_point staleAt() const
    {
        if (!m_hello || m_hello->heartbeat_interval <= 0)
        {
            return Clock::now() + kForever;
        }
        auto silence = std::chrono::duration<double>(2 * m_hello->heartbeat_interval);
        return m_lastHeard + std::chrono::duration_cast<Clock::duration>(silence) + m_options.connect_timeout;
    }

    /// websocketpp's "Invalid HTTP status": the server answered the upgrade with something other
    /// than 101 (cpprestsdk does not say what).
    static bool refusedUpgrade(const std::error_code& error)
    {
        return error.value() == 20 && std::string(error.category().name()) == "websocketpp.processor";
    }

    /// cpprestsdk hides the status that refused an upgrade: ask again over HTTP with the same
    /// headers. A 4xx other than 408 and 429 (bad query, token, origin) is final: (status, body).
    std::optional<std::pair<int, std::string>> probeRejection() const
    {
        try
        {
            web::uri target(utility::conversions::to_string_t(url()));
            auto scheme = utility::conversions::to_utf8string(target.scheme());
            web::uri_builder origin;
            origin.set_scheme(utility::conversions::to_string_t(scheme == "wss" ? "https" : "http")).set_host(target.host());
            if (target.port() > 0)
            {
                origin.set_port(target.port());
            }
            web::http::client::http_client_config config;
            config.set_timeout(std::min(m_options.connect_timeout, std::chrono::milliseconds(5000)));
            web::http::client::http_client client(origin.to_uri(), config);
            web::http::http_request request(web::http::methods::GET);
            request.set_request_uri(target.resource());
            auto& headers = request.headers();
            headers.add(detail::key("Connection"), detail::key("Upgrade"));
            headers.add(detail::key("Upgrade"), detail::key("websocket"));
            headers.add(detail::key("Sec-WebSocket-Version"), detail::key("13"));
            headers.add(detail::key("Sec-WebSocket-Key"), detail::key("dGthIHByb2JlIG9mIGEgMTAx"));
            if (m_options.token)
            {
                headers.add(detail::key("Authorization"), utility::conversions::to_string_t("Bearer " + *m_options.token));
            }
            pplx::cancellation_token_source cancel;
            auto response = client.request(request, cancel.get_token()).get();
            int status = response.status_code();
            if (status < 400 || status >= 500 || status == 408 || status == 429)
            {
                cancel.cancel();  // e.g. a 101 this time: do not keep that socket
                return std::nullopt;
            }
            return std::make_pair(status, response.extract_utf8string(true).get());
        }
        catch (const std::exception&)
        {
            return std::nullopt;
        }
    }

    static std::string describe(const detail::Inbox::Item& item)
    {
        std::string text = "closed " + std::to_string(item.code);
        if (!item.reason.empty())
        {
            text += " " + item.reason;
        }
        if (item.error)
        {
            text += " (" + std::string(item.error.category().name()) + " " + std::to_string(item.error.value()) + ": " +
                    item.error.message() + ")";
        }
        return text;
    }

    std::string m_baseUrl;
    EventStreamOptions m_options;
    std::shared_ptr<detail::Inbox> m_inbox = std::make_shared<detail::Inbox>();

    // Guards the clients against close() from another thread; never held while waiting.
    std::mutex m_clientMutex;
    std::unique_ptr<web::websockets::client::websocket_callback_client> m_client;
    std::vector<Retired> m_retired;

    // The reading thread's own.
    Phase m_phase = Phase::Idle;
    Clock::time_point m_retryAt{};
    Clock::time_point m_attemptDeadline{};
    Clock::time_point m_lastHeard{};
    unsigned m_failures = 0;
    std::optional<EventId> m_lastEventId;
    bool m_storeAvailable = true;
    std::optional<ConnectionEstablished> m_hello;
    std::deque<ServerMessage> m_pending;  // read while waiting for a reply, or before a hello
    std::vector<ServerMessage> m_early;   // arrived before the hello
    std::int64_t m_requestId = 0;
    std::mt19937 m_random;
};

} // namespace tka::events
