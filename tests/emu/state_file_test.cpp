// The device's state file: a device created from it continues where the previous one stopped
// (slots, an open transfer, a running background operation with its remaining time, event logs,
// health), a damaged file is a creation error, and writes are atomic.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "emu/device_state.hpp"
#include "mailbox_host.hpp"

namespace cxlmgr::emu::testing {
namespace {

using nlohmann::json;

constexpr uint8_t kInitiate = 1, kContinue = 2, kEnd = 3;
constexpr uint32_t kPart = 1920;
constexpr size_t kHandle = 0x14;  // record handle in the common event record header

std::vector<uint8_t> test_image(const std::string& revision) {
    std::vector<uint8_t> payload(10000);
    for (size_t i = 0; i < payload.size(); ++i) {
        payload[i] = static_cast<uint8_t>(i * 29 + 3);
    }
    return build_firmware_image(revision, payload);
}

struct StateFileTest : ::testing::Test {
    std::filesystem::path dir;
    std::string path;
    ManualClock clock;
    std::unique_ptr<MailboxHost> host;

    void SetUp() override {
        std::string tmpl = ::testing::TempDir() + "emu_state_XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        dir = tmpl;
        path = (dir / "emu0.state").string();
    }
    void TearDown() override {
        host.reset();
        std::filesystem::remove_all(dir);
    }

    // The description of every device in a test: 1-hour parts unless a test says otherwise, so
    // that wall-clock time passing between two devices (a few ms) cannot finish a part.
    json description(json extra = json::object()) {
        json d = {{"state_file", path},
                  {"timing",
                   {{"fw_transfer_us_per_kib", 0},
                    {"background_us", {{"transfer-fw", int64_t{3600} * 1000000}}}}}};
        d.merge_patch(extra);
        return d;
    }
    // Destroys the device (as a SIGKILLed daemon would lose it) and creates a new one from the
    // same description on a fresh clock: steady_clock values do not carry over.
    void restart(json extra = json::object()) {
        host.reset();
        clock = ManualClock{};
        clock.advance(std::chrono::hours(100));
        host = std::make_unique<MailboxHost>(description(std::move(extra)), clock);
        ASSERT_TRUE(host->discover());
    }
    std::span<const uint8_t> piece(const std::vector<uint8_t>& image, uint32_t offset) {
        return std::span(image).subspan(offset, std::min<size_t>(kPart, image.size() - offset));
    }
    std::vector<uint8_t> fw_info() { return host->exec(kOpGetFwInfo).out; }
    std::string slot_revision(unsigned slot) {
        auto info = fw_info();
        const auto* p = reinterpret_cast<const char*>(&info[0x10 * slot]);
        return std::string(p, strnlen(p, 16));
    }
    json file() {
        std::ifstream in(path);
        return json::parse(in);
    }
    void write_file(const std::string& text) {
        std::ofstream out(path, std::ios::trunc);
        out << text;
    }
};

TEST_F(StateFileTest, AFreshDeviceWritesItsStateAtCreation) {
    ASSERT_FALSE(std::filesystem::exists(path));
    restart();
    json s = file();
    EXPECT_EQ(s["format"], "cxlmgr-emu-state");
    EXPECT_EQ(s["version"], 1);
    EXPECT_EQ(s["firmware"]["active"], 1);
    EXPECT_TRUE(s["firmware"]["transfer"].is_null());
    EXPECT_TRUE(s["background"].is_null());
}

TEST_F(StateFileTest, SlotsOutliveTheDevice) {
    restart({{"timing", {{"background_us", {{"transfer-fw", 0}}}}}});
    auto image = test_image("SAVED FW 2.0");
    for (uint32_t off = 0; off < image.size(); off += kPart) {
        bool last = off + kPart >= image.size();
        ASSERT_EQ(host->transfer_fw(off == 0 ? kInitiate : (last ? kEnd : kContinue), last ? 2 : 0,
                                    off, piece(image, off)),
                  kRcBgStarted);
        ASSERT_EQ(host->wait_background(), kRcSuccess);
    }
    ASSERT_EQ(host->exec(kOpActivateFw, {1, 2}).rc, kRcSuccess);  // staged for the next reset
    auto before = fw_info();

    restart();
    EXPECT_EQ(fw_info(), before);
    EXPECT_EQ(slot_revision(2), "SAVED FW 2.0");
    EXPECT_EQ(fw_info()[1], 1 | (2 << 3)) << "slot 1 active, slot 2 staged";
}

TEST_F(StateFileTest, AnOpenTransferContinuesInTheNextDevice) {
    restart({{"timing", {{"background_us", {{"transfer-fw", 0}}}}}});
    auto image = test_image("RESUMED 3.0");
    ASSERT_EQ(host->transfer_fw(kInitiate, 0, 0, piece(image, 0)), kRcBgStarted);
    ASSERT_EQ(host->wait_background(), kRcSuccess);
    ASSERT_EQ(host->transfer_fw(kContinue, 0, kPart, piece(image, kPart)), kRcBgStarted);
    ASSERT_EQ(host->wait_background(), kRcSuccess);

    restart({{"timing", {{"background_us", {{"transfer-fw", 0}}}}}});
    EXPECT_TRUE(host->model().firmware_transfer_open());
    EXPECT_EQ(host->transfer_fw(kInitiate, 0, 0, piece(image, 0)), kRcFwInProgress);
    // The image's running check carried over: the rest completes a valid image.
    for (uint32_t off = 2 * kPart; off < image.size(); off += kPart) {
        bool last = off + kPart >= image.size();
        ASSERT_EQ(host->transfer_fw(last ? kEnd : kContinue, last ? 2 : 0, off, piece(image, off)),
                  kRcBgStarted);
        ASSERT_EQ(host->wait_background(), kRcSuccess);
    }
    EXPECT_EQ(slot_revision(2), "RESUMED 3.0");
}

TEST_F(StateFileTest, ARunningPartKeepsRunningWithItsRemainingTime) {
    restart();
    auto image = test_image("RUNNING 4.0");
    ASSERT_EQ(host->transfer_fw(kInitiate, 0, 0, piece(image, 0)), kRcBgStarted);
    ASSERT_EQ(host->wait_background(std::chrono::hours(1)), kRcSuccess);
    ASSERT_EQ(host->transfer_fw(kContinue, 0, kPart, piece(image, kPart)), kRcBgStarted);
    clock.advance(std::chrono::minutes(30));
    // A command that changes something saves the state: 30 minutes remain then.
    ASSERT_EQ(host->exec(kOpSetPolicy, {0, 0, 0, 0}).rc, kRcSuccess);

    restart();
    EXPECT_TRUE(host->bg_running());
    EXPECT_EQ(host->bg_status() & 0xFFFF, kOpTransferFw);
    // 30 of 60 minutes, plus the few ms of wall-clock time between the two devices.
    EXPECT_EQ(host->bg_percent(), 50);
    EXPECT_EQ(host->transfer_fw(kContinue, 0, 2 * kPart, piece(image, 2 * kPart)), kRcBusy);
    EXPECT_EQ(host->exec(kOpIdentify).rc, kRcSuccess);
    clock.advance(std::chrono::minutes(29));
    EXPECT_TRUE(host->bg_running());
    clock.advance(std::chrono::minutes(1));
    EXPECT_FALSE(host->bg_running());
    EXPECT_EQ(host->bg_return_code(), kRcSuccess);
    EXPECT_EQ(host->bg_percent(), 100);
    EXPECT_TRUE(host->model().firmware_transfer_open());
}

TEST_F(StateFileTest, ARunningPartCanBeAbortedByTheNextDevice) {
    restart();
    auto image = test_image("RUNNING 4.0");
    ASSERT_EQ(host->transfer_fw(kInitiate, 0, 0, piece(image, 0)), kRcBgStarted);
    ASSERT_EQ(host->wait_background(std::chrono::hours(1)), kRcSuccess);
    ASSERT_EQ(host->transfer_fw(kContinue, 0, kPart, piece(image, kPart)), kRcBgStarted);

    restart();
    ASSERT_TRUE(host->bg_running());
    EXPECT_EQ(host->exec(kOpAbortBackground).rc, kRcSuccess);
    EXPECT_FALSE(host->bg_running());
    EXPECT_EQ(host->bg_return_code(), kRcAborted);
    // The transfer is open before the aborted part; the host may end it with Transfer FW abort.
    EXPECT_TRUE(host->model().firmware_transfer_open());
    EXPECT_EQ(host->transfer_fw(4, 0, 0, {}), kRcSuccess);
    EXPECT_FALSE(host->model().firmware_transfer_open());

    restart();
    EXPECT_FALSE(host->bg_running());
    EXPECT_EQ(host->bg_return_code(), kRcAborted) << "the last result is kept too";
    EXPECT_FALSE(host->model().firmware_transfer_open());
}

TEST_F(StateFileTest, AnEndPartRunningAtTheCrashInstallsInTheNextDevice) {
    restart({{"timing", {{"background_us", {{"transfer-fw", 0}}}}}});
    auto image = test_image("AFTER CRASH");
    uint32_t end = static_cast<uint32_t>((image.size() - 1) / kPart * kPart);
    for (uint32_t off = 0; off < end; off += kPart) {
        ASSERT_EQ(host->transfer_fw(off == 0 ? kInitiate : kContinue, 0, off, piece(image, off)),
                  kRcBgStarted);
        ASSERT_EQ(host->wait_background(), kRcSuccess);
    }
    restart();  // 1-hour parts from here on
    ASSERT_EQ(host->transfer_fw(kEnd, 2, end, piece(image, end)), kRcBgStarted);

    restart();
    ASSERT_TRUE(host->bg_running());
    EXPECT_EQ(slot_revision(2), "");
    EXPECT_EQ(host->wait_background(std::chrono::minutes(1)), kRcSuccess);
    EXPECT_EQ(slot_revision(2), "AFTER CRASH");
}

TEST_F(StateFileTest, TimeWithoutAnyDeviceCountsAgainstTheRemainingTime) {
    restart();
    auto image = test_image("AGED 1.0");
    ASSERT_EQ(host->transfer_fw(kInitiate, 0, 0, piece(image, 0)), kRcBgStarted);
    host.reset();
    // As if the file had been written two hours ago: the part ended while nobody modelled it.
    json s = file();
    s["saved_at_unix_ns"] = s["saved_at_unix_ns"].get<int64_t>() - int64_t{7200} * 1000000000;
    write_file(s.dump());

    restart();
    EXPECT_FALSE(host->bg_running());
    EXPECT_EQ(host->bg_return_code(), kRcSuccess);
    EXPECT_EQ(host->bg_percent(), 100);
    // Two hours is also past the 30 s gap: the transfer was dropped.
    EXPECT_FALSE(host->model().firmware_transfer_open());
}

TEST_F(StateFileTest, EventLogsAndHealthOutliveTheDevice) {
    restart({{"events", {{"capacity", 2}}}});
    auto inject = [&](EventLog log, EventKind kind, const json& fields) {
        auto st = host->model().inject_event(log, kind, fields);
        ASSERT_TRUE(st.ok()) << st.error().describe();
    };
    inject(EventLog::Warning, EventKind::GeneralMedia, {{"dpa", 0x1000}});
    inject(EventLog::Warning, EventKind::GeneralMedia, {{"dpa", 0x2000}});
    inject(EventLog::Warning, EventKind::GeneralMedia, {{"dpa", 0x3000}});  // overflow
    inject(EventLog::Fatal, EventKind::MemoryModule, {{"life_used", 77}});
    ASSERT_EQ(host->exec(kOpSetPolicy, {1, 1, 2, 0}).rc, kRcSuccess);
    auto warning = host->exec(kOpGetEvents, {1});
    auto fatal = host->exec(kOpGetEvents, {3});
    auto health = host->exec(kOpHealth);
    uint32_t status = host->event_status();

    restart({{"events", {{"capacity", 2}}}});
    EXPECT_EQ(host->exec(kOpGetEvents, {1}).out, warning.out) << "records, overflow, timestamps";
    EXPECT_EQ(host->exec(kOpGetEvents, {3}).out, fatal.out);
    EXPECT_EQ(host->exec(kOpHealth).out, health.out);
    EXPECT_EQ(host->exec(kOpHealth).out[3], 77);
    EXPECT_EQ(host->event_status(), status);
    EXPECT_EQ(host->exec(kOpGetPolicy).out, (std::vector<uint8_t>{1, 1, 2, 0}));
    EXPECT_EQ(host->model().event_interrupt_policy().mode(EventLog::Failure), 2);

    // Handles continue where they stopped.
    std::vector<uint8_t> clear = {3, 0, 1, 0, 0, 0};
    put(clear, 6, le(fatal.out, 0x20 + kHandle, 2), 2);
    ASSERT_EQ(host->exec(kOpClearEvents, clear).rc, kRcSuccess);
    inject(EventLog::Fatal, EventKind::MemoryModule, json::object());
    auto next = host->exec(kOpGetEvents, {3});
    EXPECT_EQ(le(next.out, 0x20 + kHandle, 2), le(fatal.out, 0x20 + kHandle, 2) + 1);
}

TEST_F(StateFileTest, ADamagedFileIsACreationErrorNamingTheFile) {
    struct Case {
        std::string text;
        std::string says;
    };
    restart();
    json good = file();
    host.reset();
    json wrong_slots = good;
    wrong_slots["firmware"]["slots"] = 2;
    json no_events = good;
    no_events.erase("events");
    json orphan_run = good;
    orphan_run["background"] = {
        {"running", true}, {"opcode", 0x0201}, {"total_ns", 10}, {"remaining_ns", 5}};
    json bad_record = good;
    bad_record["events"]["logs"][0]["records"] = {"zz"};
    for (const Case& c :
         {Case{"{\"format\": \"cxlmgr-emu-st", "not valid JSON"}, Case{"", "not valid JSON"},
          Case{"[1, 2]", "not a JSON object"},
          Case{"{\"format\": \"other\", \"version\": 1}", "not a version 1"},
          Case{wrong_slots.dump(), "'slots'"}, Case{no_events.dump(), "'events'"},
          Case{orphan_run.dump(), "'background' runs"}, Case{bad_record.dump(), "records[0]"}}) {
        write_file(c.text);
        MailboxHost h(description(), clock);
        EXPECT_NE(h.create_error().find(path), std::string::npos) << h.create_error();
        EXPECT_NE(h.create_error().find(c.says), std::string::npos)
            << c.says << " -> " << h.create_error();
        std::ifstream in(path);
        std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        EXPECT_EQ(kept, c.text) << "a damaged file is left alone for inspection";
    }
}

TEST_F(StateFileTest, AnUnwritableLocationIsACreationError) {
    path = (dir / "missing" / "emu0.state").string();
    MailboxHost h(description(), clock);
    EXPECT_NE(h.create_error().find(path), std::string::npos) << h.create_error();
    EXPECT_FALSE(std::filesystem::exists(dir / "missing"));
}

TEST_F(StateFileTest, AFailedWriteLeavesTheOldFileAndNoTemporaryFile) {
    // A directory where the file should be: the rename fails after the temporary file was
    // written, the worst moment.
    std::filesystem::create_directory(path);
    auto st = state::save(path, json{{"a", 1}});
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message.find(path), std::string::npos) << st.error().message;
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    EXPECT_TRUE(std::filesystem::is_directory(path));

    std::string file_path = (dir / "f.state").string();
    ASSERT_TRUE(state::save(file_path, json{{"a", 1}}).ok());
    ASSERT_TRUE(state::save(file_path, json{{"a", 2}}).ok());
    auto loaded = state::load(file_path);
    ASSERT_TRUE(loaded.ok());
    ASSERT_TRUE(loaded->has_value());
    EXPECT_EQ((**loaded)["a"], 2);
    EXPECT_FALSE(std::filesystem::exists(file_path + ".tmp"));
}

TEST_F(StateFileTest, WithoutTheKeyNothingIsWritten) {
    MailboxHost h(json::object(), clock);
    ASSERT_TRUE(h.discover());
    EXPECT_TRUE(std::filesystem::is_empty(dir));
    MailboxHost empty({{"state_file", ""}}, clock);
    EXPECT_NE(empty.create_error().find("'state_file'"), std::string::npos);
}

constexpr uint16_t kOpInjectPoison = 0x4301, kOpGetPoisonList = 0x4300, kOpSanitize = 0x4400,
                   kOpSetLsa = 0x4103, kOpGetLsa = 0x4102, kOpSetAlertConfig = 0x4202,
                   kOpGetAlertConfig = 0x4201;

TEST_F(StateFileTest, ARunningSanitizeKeepsRunningInTheNextDevice) {
    const json timing = {{"timing", {{"background_us", {{"sanitize", int64_t{3600} * 1000000}}}}}};
    restart(timing);
    ASSERT_EQ(host->exec(kOpSanitize).rc, kRcBgStarted);
    clock.advance(std::chrono::minutes(30));
    ASSERT_EQ(host->exec(kOpSetPolicy, {0, 0, 0, 0}).rc, kRcSuccess);  // saves: 30 min left

    restart(timing);
    EXPECT_TRUE(host->bg_running());
    EXPECT_EQ(host->bg_status() & 0xFFFF, kOpSanitize);
    EXPECT_EQ(host->bg_percent(), 50);
    EXPECT_EQ(host->exec(kOpSanitize).rc, kRcBusy);
    clock.advance(std::chrono::minutes(30));
    EXPECT_FALSE(host->bg_running());
    EXPECT_EQ(host->bg_return_code(), kRcSuccess);
    EXPECT_EQ(host->bg_percent(), 100);
}

TEST_F(StateFileTest, PoisonLabelsAndAlertsOutliveTheDevice) {
    const json extra = {{"lsa_size", 64}};
    restart(extra);
    std::vector<uint8_t> dpa(8, 0);
    put(dpa, 0, 0x4000, 8);
    ASSERT_EQ(host->exec(kOpInjectPoison, dpa).rc, kRcSuccess);
    ASSERT_EQ(host->exec(kOpSetLsa, {4, 0, 0, 0, 0, 0, 0, 0, 0xAB, 0xCD}).rc, kRcSuccess);
    // Life used warning at 50%, enabled.
    ASSERT_EQ(host->exec(kOpSetAlertConfig, {1, 1, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0}).rc, kRcSuccess);

    restart(extra);
    std::vector<uint8_t> range(16, 0);
    put(range, 8, 0x10000 / 64, 8);
    auto list = host->exec(kOpGetPoisonList, range);
    ASSERT_EQ(list.rc, kRcSuccess);
    ASSERT_EQ(le(list.out, 0x0A, 2), 1u);
    EXPECT_EQ(le(list.out, 0x20, 8) & ~uint64_t{0x3F}, 0x4000u);
    auto lsa = host->exec(kOpGetLsa, {4, 0, 0, 0, 2, 0, 0, 0});
    ASSERT_EQ(lsa.rc, kRcSuccess);
    EXPECT_EQ(lsa.out, (std::vector<uint8_t>{0xAB, 0xCD}));
    auto alerts = host->exec(kOpGetAlertConfig);
    ASSERT_EQ(alerts.rc, kRcSuccess);
    EXPECT_EQ(alerts.out[0], 1);
    EXPECT_EQ(alerts.out[3], 50);
}

TEST_F(StateFileTest, AMediaOperationThatIsNotOneIsRefused) {
    restart();
    json state = file();
    state["media"]["in_flight"] = {{"opcode", 0x4000}, {"dpa", 0}, {"length", 0}};
    write_file(state.dump());
    MailboxHost next(description(), clock);
    EXPECT_NE(next.create_error().find("'media': 'in_flight' names opcode 16384"),
              std::string::npos)
        << next.create_error();
}

}  // namespace
}  // namespace cxlmgr::emu::testing
