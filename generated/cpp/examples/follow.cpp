// tka_follow <base_url>: follow the server's event stream with tka::events::EventStream, all
// events, reconnecting for ever (backoff 100 ms doubling to 2 s) and resuming with ?since=.
// TKA_TOKEN, when set, is the bearer token.
//
// stdout: one JSON object per line, flushed at once, and nothing else:
//   {"type":"connection_established","last_event_id":N}                      on every hello
//   {"type":"event","event_id":N,"event_type":"...","sequence_id":"..."|null}  for each event
// Diagnostics go to stderr. SIGTERM or SIGINT: exit 0.
#include "TkaSdk/Events.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

using namespace tka::events;
using utility::conversions::to_string_t;
using utility::conversions::to_utf8string;

namespace {

void printLine(const web::json::value& line)
{
    std::cout << to_utf8string(line.serialize()) << std::endl;  // endl flushes
}

void printHello(const ConnectionEstablished& hello)
{
    auto line = web::json::value::object(true);
    line[to_string_t("type")] = web::json::value::string(to_string_t("connection_established"));
    line[to_string_t("last_event_id")] = web::json::value::number(hello.last_event_id);
    printLine(line);
    std::cerr << "tka_follow: connected as " << hello.client_id << ", last_event_id " << hello.last_event_id << std::endl;
}

void printEvent(const Event& event)
{
    auto line = web::json::value::object(true);
    line[to_string_t("type")] = web::json::value::string(to_string_t("event"));
    line[to_string_t("event_id")] = web::json::value::number(event.event_id);
    line[to_string_t("event_type")] = web::json::value::string(to_string_t(event.event_type));
    line[to_string_t("sequence_id")] =
        event.sequence_id ? web::json::value::string(to_string_t(*event.sequence_id)) : web::json::value::null();
    printLine(line);
}

} // namespace

int main(int argc, char** argv)
{
    if (argc != 2) {
        std::cerr << "usage: tka_follow <base_url>   (TKA_TOKEN: bearer token)\n";
        return 2;
    }
    // Signals are taken by a thread of our own (sigwait), which closes the stream: close() is the
    // one EventStream method any thread may call, and it wakes the reading thread. Blocked here,
    // before any thread starts, so that cpprestsdk's threads inherit the mask.
    sigset_t stopSignals;
    sigemptyset(&stopSignals);
    sigaddset(&stopSignals, SIGTERM);
    sigaddset(&stopSignals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stopSignals, nullptr);

    EventStreamOptions options;
    if (const char* token = std::getenv("TKA_TOKEN"); token && *token) {
        options.token = token;
    }
    options.backoff_initial = std::chrono::milliseconds(100);
    options.backoff_max = std::chrono::seconds(2);
    EventStream stream(argv[1], options);

    std::atomic<bool> stopping{false};
    std::thread signals([&] {
        int signal = 0;
        sigwait(&stopSignals, &signal);
        stopping = true;
        stream.close();
    });

    int status = 0;
    try {
        printHello(stream.connect());
        for (;;) {
            try {
                auto message = stream.nextMessage();
                if (auto event = std::get_if<Event>(&message)) {
                    printEvent(*event);
                } else if (auto hello = std::get_if<ConnectionEstablished>(&message)) {
                    printHello(*hello);
                } else if (auto resync = std::get_if<ResyncRequired>(&message)) {
                    std::cerr << "tka_follow: resync required (" << resync->message << "), continuing after "
                              << resync->last_event_id << std::endl;
                } else if (auto store = std::get_if<StoreStatus>(&message)) {
                    std::cerr << "tka_follow: store "
                              << (store->status == StoreStatusValue::Unavailable ? "unavailable" : "available") << std::endl;
                }
            } catch (const DecodeError& e) {
                std::cerr << "tka_follow: skipped a message: " << e.what() << std::endl;
            }
        }
    } catch (const StreamClosed&) {
        if (!stopping) {
            std::cerr << "tka_follow: the stream closed" << std::endl;
            status = 1;
        }
    } catch (const std::exception& e) {  // a fatal close code, a refused upgrade, a bad URL
        std::cerr << "tka_follow: " << e.what() << std::endl;
        status = 1;
    }
    if (!stopping) {
        pthread_kill(signals.native_handle(), SIGTERM);  // ends its sigwait
    }
    signals.join();
    return status;
}
