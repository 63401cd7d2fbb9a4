// Smoke test against a live server: TKA_BASE_URL=http://127.0.0.1:8000 ctest --output-on-failure
// Exits 77 (ctest: skipped) without TKA_BASE_URL.
#include "check.h"

#include "TkaSdk/ApiClient.h"
#include "TkaSdk/ApiConfiguration.h"
#include "TkaSdk/Tka.h"
#include "TkaSdk/api/BeatsApi.h"
#include "TkaSdk/api/CommandsApi.h"
#include "TkaSdk/api/PicturesApi.h"
#include "TkaSdk/api/SequencesApi.h"
#include "TkaSdk/api/StatusApi.h"

#include <cstdlib>
#include <ctime>
#include <functional>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

using namespace tka::api;
using namespace tka::model;
using utility::conversions::to_string_t;
using utility::conversions::to_utf8string;

static std::string uuid4()
{
    static const char* hex = "0123456789abcdef";
    std::string s = "xxxxxxxx-xxxx-4xxx-8xxx-xxxxxxxxxxxx";
    for (auto& c : s)
        if (c == 'x') c = hex[std::rand() % 16];
    return s;
}

static std::shared_ptr<PositionName> position(PositionName::ePositionName value)
{
    auto p = std::make_shared<PositionName>();
    p->setValue(value);
    return p;
}

static std::shared_ptr<MotionInput> motion(MotionType::eMotionType type, Location::eLocation from, Location::eLocation to)
{
    auto m = std::make_shared<MotionInput>();
    auto t = std::make_shared<MotionType>();
    t->setValue(type);
    auto a = std::make_shared<Location>();
    a->setValue(from);
    auto b = std::make_shared<Location>();
    b->setValue(to);
    m->setMotionType(t);
    m->setStartLoc(a);
    m->setEndLoc(b);
    return m;
}

/// The bytes of a file answer (HttpContent wraps them in a stream).
static std::string bytesOf(const std::shared_ptr<HttpContent>& content)
{
    std::stringstream bytes;
    if (content && content->getData()) bytes << content->getData()->rdbuf();
    return bytes.str();
}

static std::shared_ptr<AddBeatRequest> addBeat(std::shared_ptr<BeatInput> beat)
{
    auto r = std::make_shared<AddBeatRequest>();
    r->setBeat(beat);
    return r;
}

/// The ApiException `call` throws (or fails the test if it throws none).
static std::shared_ptr<ApiException> errorOf(const std::function<void()>& call)
{
    try {
        call();
    } catch (const ApiException& e) {
        return std::make_shared<ApiException>(e);
    }
    ++failures;
    std::cerr << "expected an error answer\n";
    return nullptr;
}

int main()
{
    const char* base = std::getenv("TKA_BASE_URL");
    if (!base) {
        std::cout << "skipped: set TKA_BASE_URL to a running tka server\n";
        return 77;
    }
    std::srand(static_cast<unsigned>(std::time(nullptr)));
    auto config = std::make_shared<ApiConfiguration>();
    config->setBaseUrl(to_string_t(base));
    auto client = std::make_shared<ApiClient>(config);
    tka::LastResponse last(client);
    StatusApi status(client);
    SequencesApi sequences(client);
    BeatsApi beats(client);
    CommandsApi commands(client);
    PicturesApi pictures(client);
    const boost::none_t none = boost::none;

    try {
        CHECK(status.getStatus(none).get()->getStatus()->getValue() == ServiceStatus::eServiceStatus::RUNNING);

        // Create with an Idempotency-Key, twice: the second answer replays the first.
        auto create = std::make_shared<CreateSequenceRequest>();
        create->setName(to_string_t("C++ smoke"));
        create->setStartPosition(position(PositionName::ePositionName::ALPHA1));
        auto key = to_string_t(uuid4());
        auto first = sequences.createSequence(create, none, key).get();
        auto second = sequences.createSequence(create, none, key).get();
        CHECK(last.header(to_string_t("Idempotent-Replayed")) == to_string_t("true"));
        auto id = first->getData()->getId();
        CHECK(second->getData()->getId() == id);

        // Read it with its ETag; a stale If-Match is a 412 with the problem body parsed.
        auto read = sequences.getSequence(id, none).get();
        auto etag = last.header(to_string_t("ETag"));
        CHECK(etag == to_string_t("\"" + std::to_string(read->getData()->getVersion()) + "\""));
        auto rename = std::make_shared<UpdateSequenceRequest>();
        rename->setName(to_string_t("C++ smoke 2"));
        sequences.updateSequence(id, rename, none, etag).get();
        auto stale = errorOf([&] { sequences.updateSequence(id, rename, none, etag).get(); });
        if (stale) {
            CHECK(stale->error_code().value() == 412);
            auto problem = tka::problemOf(*stale);
            CHECK(problem && problem->getErrorCode() == to_string_t("precondition_failed"));
            CHECK(problem && problem->getStatus() == 412);
            CHECK(problem && problem->getInstance() == to_string_t("/api/sequences/") + id);
        }

        // A beat by letter, one by explicit motions, and a blank one.
        auto byLetter = std::make_shared<BeatInput>();
        byLetter->setLetter(to_string_t("A"));
        auto seq = beats.addBeat(id, addBeat(byLetter), none, none, none).get()->getData();
        CHECK(seq->getEndPosition() && seq->getEndPosition()->getValue() == PositionName::ePositionName::ALPHA3);
        auto byMotions = std::make_shared<BeatInput>();
        byMotions->setBlueMotion(motion(MotionType::eMotionType::PRO, Location::eLocation::W, Location::eLocation::N));
        byMotions->setRedMotion(motion(MotionType::eMotionType::PRO, Location::eLocation::E, Location::eLocation::S));
        seq = beats.addBeat(id, addBeat(byMotions), none, to_string_t(uuid4()), none).get()->getData();
        CHECK(seq->getBeats().size() == 2);
        CHECK(seq->getBeats()[1]->getLetter() == to_string_t("A"));
        CHECK(seq->getBeats()[1]->getBlueMotion()->getPropRotDir()->getValue() == RotationDirection::eRotationDirection::CW);
        auto blank = std::make_shared<BeatInput>();
        blank->setIsBlank(true);
        seq = beats.addBeat(id, addBeat(blank), none, none, none).get()->getData();
        CHECK(seq->getBeats().size() == 3);
        CHECK(seq->getBeats()[2]->letterIsNull());            // null arrives as null
        CHECK(seq->getBeats()[2]->blueMotionIsNull());

        // Undo the blank beat, redo it.
        auto scope = std::make_shared<UndoRedoRequest>();
        scope->setSequenceId(id);
        auto undone = commands.undo(none, none, scope).get();
        CHECK(undone->getData()->getBeats().size() == 2);
        CHECK(undone->isCanRedo());
        auto redone = commands.redo(none, none, scope).get();
        CHECK(redone->getData()->getBeats().size() == 3);

        // Pictures: HttpContent holding the bytes; ETag through LastResponse. A 304 is not an error
        // (only >= 400 throws): it returns an empty HttpContent and LastResponse says 304.
        auto sheet = bytesOf(pictures.getSequenceImageSvg(id, none, none, none).get());
        CHECK(last.status() == 200);
        CHECK(sheet.rfind("<svg", 0) == 0 && sheet.find("class=\"beat\"") != std::string::npos);
        auto pictureEtag = last.header(to_string_t("ETag"));
        CHECK(!pictureEtag.empty());
        auto notModified = bytesOf(pictures.getSequenceImageSvg(id, none, none, pictureEtag).get());
        CHECK(last.status() == 304 && notModified.empty());
        auto png = bytesOf(pictures.getSequenceImagePng(id, none, 64, none).get());
        CHECK(png.rfind(std::string("\x89PNG\r\n\x1a\n", 8), 0) == 0);
        auto beat = bytesOf(pictures.getBeatImageSvg(id, 1, none, none, none).get());
        CHECK(beat.rfind("<svg", 0) == 0);

        // Sending null: clear the start position of a sequence without beats.
        auto bare = std::make_shared<CreateSequenceRequest>();
        bare->setName(to_string_t("bare"));
        bare->setStartPosition(position(PositionName::ePositionName::BETA5));
        auto bareId = sequences.createSequence(bare, none, none).get()->getData()->getId();
        auto clear = std::make_shared<UpdateSequenceRequest>();
        clear->setStartPositionNull();
        auto cleared = sequences.updateSequence(bareId, clear, none, none).get()->getData();
        CHECK(cleared->startPositionIsNull());
        CHECK(cleared->startPositionBeatIsNull());

        // A 404 with its problem body.
        auto missing = errorOf([&] { sequences.getSequence(to_string_t(uuid4()), none).get(); });
        if (missing) {
            CHECK(missing->error_code().value() == 404);
            auto problem = tka::problemOf(*missing);
            CHECK(problem && problem->getErrorCode() == to_string_t("not_found"));
        }

        // Pagination.
        auto page1 = sequences.listSequences(none, 1, 1).get();
        CHECK(page1->getData().size() == 1);
        CHECK(page1->getTotalItems() >= 2 && page1->isHasNext());
        auto page2 = sequences.listSequences(none, 2, 1).get();
        CHECK(page2->isHasPrevious());
        CHECK(page2->getData()[0]->getId() != page1->getData()[0]->getId());

        // Delete; then it is gone.
        CHECK(sequences.deleteSequence(id, none, none).get()->getData()->getId() == id);
        auto gone = errorOf([&] { sequences.getSequence(id, none).get(); });
        CHECK(gone && gone->error_code().value() == 404);
        sequences.deleteSequence(bareId, none, none).get();
    } catch (const ApiException& e) {
        auto problem = tka::problemOf(e);
        std::cerr << "unexpected error answer " << e.error_code().value() << ": "
                  << (problem ? to_utf8string(problem->getDetail()) : std::string(e.what())) << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "unexpected exception: " << e.what() << "\n";
        return 1;
    }
    std::cout << (failures == 0 ? "smoke test passed\n" : "smoke test FAILED\n");
    return failures == 0 ? 0 : 1;
}
