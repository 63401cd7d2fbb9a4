// The events client (include/TkaSdk/Events.h) against a live server, like the Rust SDK's
// tests/events.rs: TKA_BASE_URL=http://127.0.0.1:8000 ctest -R events --output-on-failure
// (TKA_TOKEN when the server has a token). The decoding test always runs; without TKA_BASE_URL
// the live test is skipped and the program exits 77 (ctest: skipped).
#include "check.h"

#include "TkaSdk/ApiClient.h"
#include "TkaSdk/ApiConfiguration.h"
#include "TkaSdk/Events.h"
#include "TkaSdk/Tka.h"
#include "TkaSdk/api/BeatsApi.h"
#include "TkaSdk/api/SequencesApi.h"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

using namespace tka::api;
using namespace tka::model;
using namespace tka::events;
using namespace std::chrono_literals;
using utility::conversions::to_string_t;
using utility::conversions::to_utf8string;

/// A field of an event's data, as UTF-8 ("" when absent or not a string).
static std::string text(const web::json::value& object, const char* name)
{
    auto key = to_string_t(name);
    return object.has_string_field(key) ? to_utf8string(object.at(key).as_string()) : std::string();
}

template<typename T>
static const T* as(const ServerMessage& message)
{
    return std::get_if<T>(&message);
}

static void messagesDecodeIntoTheirTypes()
{
    auto hello = parseServerMessage(std::string(
        R"({"type":"connection_established","client_id":"client_1","protocol_version":1,"last_event_id":0,"heartbeat_interval":25,"timestamp":"2025-01-15T09:32:10.123Z"})"));
    CHECK(as<ConnectionEstablished>(hello) && as<ConnectionEstablished>(hello)->client_id == "client_1");
    CHECK(as<ConnectionEstablished>(hello) && as<ConnectionEstablished>(hello)->heartbeat_interval == 25);
    CHECK(typeOf(hello) == "connection_established");

    auto generated = parseServerMessage(std::string(
        R"({"type":"event","event_id":7,"event_type":"motion.generated","timestamp":"t","sequence_id":null,"request_id":null,"command_id":"c","data":{"seed":3,"level":1,"command_type":"generate"}})"));
    auto event = as<Event>(generated);
    CHECK(event && event->event_id == 7 && event->kind() == EventType::MotionGenerated);
    CHECK(event && !event->sequence_id && !event->request_id && event->command_id == std::string("c"));
    CHECK(event && event->data.at(to_string_t("seed")).as_integer() == 3 && text(event->data, "command_type") == "generate");

    auto future = parseServerMessage(std::string(
        R"({"type":"event","event_id":8,"event_type":"palette.changed","timestamp":"t","sequence_id":"s","request_id":"r","command_id":null,"data":{}})"));
    CHECK(as<Event>(future) && as<Event>(future)->kind() == EventType::Unknown);
    CHECK(as<Event>(future) && as<Event>(future)->sequence_id == std::string("s"));

    auto status = parseServerMessage(std::string(
        R"({"type":"store_status","status":"unavailable","retry_after":5,"last_event_id":7,"timestamp":"t"})"));
    CHECK(as<StoreStatus>(status) && as<StoreStatus>(status)->status == StoreStatusValue::Unavailable);
    CHECK(as<StoreStatus>(status) && as<StoreStatus>(status)->retry_after == std::int64_t(5));
    auto back = parseServerMessage(std::string(R"({"type":"store_status","status":"available","last_event_id":7,"timestamp":"t"})"));
    CHECK(as<StoreStatus>(back) && as<StoreStatus>(back)->status == StoreStatusValue::Available && !as<StoreStatus>(back)->retry_after);

    auto resync = parseServerMessage(std::string(
        R"({"type":"resync_required","since":1,"reason":"expired","oldest_event_id":null,"last_event_id":9,"message":"m","timestamp":"t"})"));
    CHECK(as<ResyncRequired>(resync) && as<ResyncRequired>(resync)->last_event_id == 9);
    CHECK(as<ResyncRequired>(resync) && as<ResyncRequired>(resync)->reason == ResyncReason::Expired && !as<ResyncRequired>(resync)->oldest_event_id);

    auto error = parseServerMessage(std::string(
        R"({"type":"error","id":3,"code":"slow_consumer","message":"m","resume_since":4,"timestamp":"t"})"));
    CHECK(as<ServerError>(error) && as<ServerError>(error)->id == MessageId(std::int64_t(3)));
    CHECK(as<ServerError>(error) && as<ServerError>(error)->code == "slow_consumer" && as<ServerError>(error)->resume_since == std::int64_t(4));

    auto pong = parseServerMessage(std::string(R"({"type":"pong","id":"cpp-1","last_event_id":2,"timestamp":"t"})"));
    CHECK(as<Pong>(pong) && as<Pong>(pong)->id == MessageId(std::string("cpp-1")) && as<Pong>(pong)->last_event_id == 2);
    auto heartbeat = parseServerMessage(std::string(R"({"type":"heartbeat","last_event_id":2,"timestamp":"t"})"));
    CHECK(as<Heartbeat>(heartbeat) && as<Heartbeat>(heartbeat)->last_event_id == 2);
    auto stats = parseServerMessage(std::string(R"({"type":"stats","id":1,"data":{"active_connections":1},"timestamp":"t"})"));
    CHECK(as<Stats>(stats) && as<Stats>(stats)->data.at(to_string_t("active_connections")).as_integer() == 1);
    auto filters = parseServerMessage(std::string(
        R"({"type":"filters_updated","id":"f","event_types":["sequence.*"],"sequence_ids":[],"timestamp":"t"})"));
    CHECK(as<FiltersUpdated>(filters) && as<FiltersUpdated>(filters)->event_types == std::vector<std::string>{"sequence.*"});
    CHECK(as<FiltersUpdated>(filters) && as<FiltersUpdated>(filters)->sequence_ids.empty());
    auto resumed = parseServerMessage(std::string(R"({"type":"resumed","since":5,"timestamp":"t"})"));
    CHECK(as<Resumed>(resumed) && as<Resumed>(resumed)->since == 5 && !as<Resumed>(resumed)->id);

    auto other = parseServerMessage(std::string(R"({"type":"new_kind","x":1})"));
    CHECK(as<OtherMessage>(other) && typeOf(other) == "new_kind" && as<OtherMessage>(other)->json.at(to_string_t("x")).as_integer() == 1);

    // A known type that breaks its schema, and a frame that is not JSON: DecodeError.
    bool strict = false;
    try {
        parseServerMessage(std::string(R"({"type":"event","event_id":"seven"})"));
    } catch (const DecodeError& e) {
        strict = std::string(e.what()).find("event_id") != std::string::npos;
    }
    CHECK(strict);
    bool notJson = false;
    try {
        parseServerMessage(std::string("{nope"));
    } catch (const DecodeError&) {
        notJson = true;
    }
    CHECK(notJson);

    // What the client sends.
    CHECK(to_utf8string(messages::setFilters({"sequence.*"}, {}).serialize()) ==
          R"({"type":"set_filters","event_types":["sequence.*"],"sequence_ids":[]})");
    CHECK(to_utf8string(messages::ping(MessageId(std::string("p"))).serialize()) == R"({"type":"ping","id":"p"})");
    CHECK(to_utf8string(messages::resume(4, MessageId(std::int64_t(2))).serialize()) == R"({"type":"resume","id":2,"since":4})");

    // The upgrade URL: ws(s), /ws, since and the filters.
    EventStreamOptions options;
    options.event_types = std::vector<std::string>{"sequence.*"};
    options.sequence_ids = std::vector<std::string>{"abc"};
    options.since = 41;
    CHECK(EventStream("http://127.0.0.1:8000", options).url() ==
          "ws://127.0.0.1:8000/ws?since=41&event_type=sequence.*&sequence_id=abc");
    CHECK(EventStream("https://tka.example/base/").url() == "wss://tka.example/base/ws");
    CHECK(EventStream("ws://127.0.0.1:8000/ws").url() == "ws://127.0.0.1:8000/ws");
}

static std::shared_ptr<AddBeatRequest> letter(const char* value)
{
    auto beat = std::make_shared<BeatInput>();
    beat->setLetter(to_string_t(value));
    auto request = std::make_shared<AddBeatRequest>();
    request->setBeat(beat);
    return request;
}

static std::shared_ptr<UpdateSequenceRequest> rename(const char* name)
{
    auto request = std::make_shared<UpdateSequenceRequest>();
    request->setName(to_string_t(name));
    return request;
}

static Event nextEvent(EventStream& stream)
{
    auto event = stream.nextEvent(15s);
    if (!event) {
        throw std::runtime_error("no event within 15 s");
    }
    return *event;
}

static void liveEventsArriveInOrderAndAReconnectResumesWithoutGapOrDuplicate(const std::string& base, const char* token)
{
    const boost::none_t none = boost::none;
    auto config = std::make_shared<ApiConfiguration>();
    config->setBaseUrl(to_string_t(base));
    if (token) {
        config->getDefaultHeaders()[to_string_t("Authorization")] = to_string_t(std::string("Bearer ") + token);
    }
    auto client = std::make_shared<ApiClient>(config);
    SequencesApi sequences(client);
    BeatsApi beats(client);

    auto create = std::make_shared<CreateSequenceRequest>();
    create->setName(to_string_t("C++ events"));
    auto alpha1 = std::make_shared<PositionName>();
    alpha1->setValue(PositionName::ePositionName::ALPHA1);
    create->setStartPosition(alpha1);
    auto id = sequences.createSequence(create, none, none).get()->getData()->getId();
    auto sequenceId = to_utf8string(id);

    // Subscribe to this sequence's sequence.* events (other tests may change other sequences).
    EventStreamOptions options;
    if (token) options.token = token;
    options.event_types = std::vector<std::string>{"*"};
    options.backoff_initial = 50ms;
    EventStream stream(base, options);
    auto hello = stream.connect();
    CHECK(hello.protocol_version == 1);
    CHECK(hello.client_id.rfind("client_", 0) == 0);
    CHECK(stream.lastEventId() == hello.last_event_id);
    auto filters = stream.setFilters({"sequence.*"}, std::vector<std::string>{sequenceId});
    CHECK(filters && filters->event_types == std::vector<std::string>{"sequence.*"});
    CHECK(filters && filters->sequence_ids == std::vector<std::string>{sequenceId});
    CHECK(stream.url().find("event_type=sequence.*") != std::string::npos);
    CHECK(stream.url().find("sequence_id=" + sequenceId) != std::string::npos);

    // Three changes over REST, three events in order.
    beats.addBeat(id, letter("A"), none, none, none).get();
    sequences.updateSequence(id, rename("C++ events 2"), none, none).get();
    beats.addBeat(id, letter("B"), none, none, none).get();
    std::vector<Event> first{nextEvent(stream), nextEvent(stream), nextEvent(stream)};
    CHECK(first[0].kind() == EventType::SequenceBeatAdded);
    CHECK(first[1].kind() == EventType::SequenceUpdated);
    CHECK(first[2].kind() == EventType::SequenceBeatAdded);
    CHECK(first[0].event_id > hello.last_event_id);
    CHECK(first[0].event_id < first[1].event_id && first[1].event_id < first[2].event_id);
    for (const auto& event : first) CHECK(event.sequence_id == sequenceId);
    CHECK(first[0].data.at(to_string_t("total_beats")).as_integer() == 1);
    CHECK(text(first[0].data.at(to_string_t("beat")), "letter") == "A");
    CHECK(text(first[1].data.at(to_string_t("sequence")), "name") == "C++ events 2");
    CHECK(first[2].data.at(to_string_t("sequence")).at(to_string_t("beats")).as_array().size() == 2);
    // The data parses into the generated models.
    Sequence sequence;
    CHECK(sequence.fromJson(first[2].data.at(to_string_t("sequence"))) && sequence.getBeats().size() == 2);
    CHECK(stream.lastEventId() == first[2].event_id);

    // ping: the server has sent everything up to the last event.
    auto pong = stream.ping();
    CHECK(pong.last_event_id >= first[2].event_id);
    CHECK(pong.id && std::holds_alternative<std::string>(*pong.id));
    auto stats = stream.getStats();
    CHECK(stats.data.is_object());
    CHECK(stream.storeAvailable());

    // Cut the connection; two changes while it is down.
    stream.dropConnection();
    CHECK(!stream.isConnected());
    beats.addBeat(id, letter("C"), none, none, none).get();
    sequences.updateSequence(id, rename("C++ events 3"), none, none).get();

    // The next read reconnects with ?since= and the filters: a new hello, then exactly those two.
    auto again = stream.nextMessage(15s);
    CHECK(again && as<ConnectionEstablished>(*again));
    if (again && as<ConnectionEstablished>(*again)) {
        CHECK(as<ConnectionEstablished>(*again)->client_id != hello.client_id);
    } else {
        std::cerr << "expected the hello of the reconnect, got " << (again ? typeOf(*again) : "nothing") << "\n";
    }
    std::vector<Event> second{nextEvent(stream), nextEvent(stream)};
    CHECK(second[0].kind() == EventType::SequenceBeatAdded && second[1].kind() == EventType::SequenceUpdated);
    CHECK(text(second[0].data.at(to_string_t("beat")), "letter") == "C");
    CHECK(first[2].event_id < second[0].event_id && second[0].event_id < second[1].event_id);
    CHECK(!stream.nextEvent(500ms));  // no duplicate, nothing else

    // The filters survived the reconnect: a change to another sequence is not delivered.
    auto other = std::make_shared<CreateSequenceRequest>();
    other->setName(to_string_t("C++ events other"));
    auto otherId = sequences.createSequence(other, none, none).get()->getData()->getId();
    sequences.deleteSequence(id, none, none).get();
    auto deleted = nextEvent(stream);
    CHECK(deleted.kind() == EventType::SequenceDeleted);
    CHECK(deleted.sequence_id == sequenceId);

    stream.close();
    bool closed = false;
    try {
        stream.nextMessage(1s);
    } catch (const StreamClosed&) {
        closed = true;
    }
    CHECK(closed);
    sequences.deleteSequence(otherId, none, none).get();
}

int main()
{
    try {
        messagesDecodeIntoTheirTypes();
    } catch (const std::exception& e) {
        std::cerr << "decoding test: unexpected exception: " << e.what() << "\n";
        return 1;
    }
    if (failures) {
        std::cout << "events decoding test FAILED\n";
        return 1;
    }
    const char* base = std::getenv("TKA_BASE_URL");
    if (!base) {
        std::cout << "decoding test passed; live test skipped: set TKA_BASE_URL to a running tka server\n";
        return 77;
    }
    try {
        liveEventsArriveInOrderAndAReconnectResumesWithoutGapOrDuplicate(base, std::getenv("TKA_TOKEN"));
    } catch (const ApiException& e) {
        auto problem = tka::problemOf(e);
        std::cerr << "unexpected error answer " << e.error_code().value() << ": "
                  << (problem ? to_utf8string(problem->getDetail()) : std::string(e.what())) << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "unexpected exception: " << e.what() << "\n";
        return 1;
    }
    std::cout << (failures == 0 ? "events test passed\n" : "events test FAILED\n");
    return failures == 0 ? 0 : 1;
}
