// Every cxlmgrctl command's --json output, from the real cxlmgrd with emulated devices on a
// private bus, validated against its JSON Schema (tests/cli/schemas, docs/CLI.md) with
// python3-jsonschema; and proof that the schemas reject documents of a wrong shape, so a
// passing validation means something.
#include <set>
#include <thread>

#include "tests/cli/cli_fixture.hpp"
#include "tests/cli/ctl_process.hpp"
#include "tests/integration/expected.hpp"
#include "tests/support/eventually.hpp"

namespace cxlmgr::testing {
namespace {

using cxlmgr::testing::eventually;

using namespace std::chrono_literals;
using nlohmann::json;

class CliJsonTest : public CliTest {
protected:
    // Fires InjectEvent calls back to back over one connection (busctl would be too slow to
    // fill a small event log between two of the collector's polls).
    void inject_burst(const std::string& device, const std::string& log, const std::string& kind,
                      int count) {
        auto conn = connect();
        EmulatorProxy emulator(*conn, device_path(device));
        for (int i = 0; i < count; ++i) {
            emulator.InjectEvent(log, kind, {});
        }
    }
};

TEST_F(CliJsonTest, EveryCommandsJsonOutputMatchesItsSchema) {
    start_daemon(DaemonOptions::configured(daemon_config({
        emulated_device("emu0"),
        // A slow transfer, so that an update is still running when it is cancelled.
        emulated_device("emu1", {{"timing", {{"fw_transfer_us_per_kib", 2000}}}}),
        // A small event log that a burst overflows between two polls.
        emulated_device("emu2", {{"events", {{"capacity", 2}}}}),
    })));

    auto list = json_of("list", {"list"});
    ASSERT_EQ(list["devices"].size(), 3u) << list.dump();
    expect_invalid(
        "list",
        [&] {
            json d = list;
            d["devices"][0].erase("state");
            return d;
        }(),
        "a device without state");
    expect_invalid(
        "list",
        [&] {
            json d = list;
            d["devices"][0]["colour"] = "red";
            return d;
        }(),
        "an unknown key in a device");
    expect_invalid(
        "list",
        [&] {
            json d = list;
            d["devices"][1]["state"] = "sleepy";
            return d;
        }(),
        "a state the contract does not know");

    auto info = json_of("info", {"info", "emu0"});
    expect_invalid(
        "info",
        [&] {
            json d = info;
            d.erase("State");
            return d;
        }(),
        "no State");
    expect_invalid(
        "info",
        [&] {
            json d = info;
            d["identify"]["total_capacity"] = "256 MiB";
            return d;
        }(),
        "a capacity that is a string");

    auto health = json_of("health", {"health", "emu0"});
    expect_invalid(
        "health",
        [&] {
            json d = health;
            d.erase("temperature");
            return d;
        }(),
        "no temperature");

    auto cdat = json_of("cdat", {"cdat", "emu0"});
    ASSERT_GT(cdat["entries"].size(), 1u);
    expect_invalid(
        "cdat",
        [&] {
            json d = cdat;
            std::swap(d["entries"][0], d["entries"][1]);
            return d;
        }(),
        "the header not first");
    expect_invalid(
        "cdat",
        [&] {
            json d = cdat;
            // Every field of every structure type is required.
            std::string field;
            for (const auto& [key, value] : d["entries"][1].items()) {
                if (key != "type") {
                    field = key;
                    break;
                }
            }
            d["entries"][1].erase(field);
            return d;
        }(),
        "an entry without one of its fields");
    auto raw = json_of("cdat-raw", {"cdat", "emu0", "--raw", (work_dir() / "cdat.bin").string()});
    EXPECT_EQ(raw["bytes"], reference_cdat(emulated_device("emu0")).size());

    auto fw = json_of("fw-info", {"fw", "info", "emu0"});
    EXPECT_EQ(fw["current_job"], "/");
    expect_invalid(
        "fw-info",
        [&] {
            json d = fw;
            d["current_job"] = "jobs/1";
            return d;
        }(),
        "a job that is no object path");

    const auto image = make_image("EMU FW 2.0", "64K");
    auto update = json_of("fw-update", {"fw", "update", "emu0", image.string(), "--slot", "2"});
    EXPECT_EQ(update["state"], "completed") << update.dump();
    expect_invalid(
        "fw-update",
        [&] {
            json d = update;
            d["state"] = "exploded";
            return d;
        }(),
        "a job state the contract does not know");
    auto activated = json_of("fw-activate", {"fw", "activate", "emu0", "--slot", "2"});
    EXPECT_EQ(activated["firmware"]["ActiveSlot"], 2) << activated.dump();
    expect_invalid(
        "fw-activate",
        [&] {
            json d = activated;
            d["activated"] = 7;
            return d;
        }(),
        "slot 7");

    const auto big = make_image("EMU FW 3.0", "2M");
    auto started = json_of("fw-update", {"fw", "update", "emu1", big.string(), "--no-wait"});
    ASSERT_TRUE(started.contains("job")) << started.dump();
    auto cancelled = json_of("fw-cancel", {"fw", "cancel", "emu1"});
    EXPECT_EQ(cancelled["cancelled"], started["job"]);
    expect_invalid(
        "fw-cancel",
        [&] {
            json d = cancelled;
            d["when"] = "now";
            return d;
        }(),
        "an unknown key");

    // Events of every kind: four injected while a watch follows, an overflow from a burst.
    CtlProcess watch(work_dir(), "watch",
                     {CXLMGRCTL_PATH, "--bus-address=" + address(), "--json", "events", "watch",
                      "emu0", "emu2"});
    ASSERT_TRUE(watch.wait_err("watching")) << watch.describe();
    inject("emu0", "warning", "general-media", 0x1000);
    inject("emu0", "failure", "dram", 0x2000);
    inject("emu0", "informational", "memory-module", 0);
    inject("emu0", "fatal", "vendor", 0);
    auto lines = watch.wait_lines(4);
    ASSERT_EQ(lines.size(), 4u) << watch.describe();
    std::string text;
    for (const auto& l : lines) {
        text += l + "\n";
    }
    expect_valid("events-watch", text, /*lines=*/true);
    expect_invalid(
        "events-watch",
        [&] {
            json d = json::parse(lines[0]);
            d["kind"] = "gossip";
            return d;
        }(),
        "an unknown kind");
    expect_invalid(
        "events-watch",
        [&] {
            json d = json::parse(lines[0]);
            d["fields"].erase("dpa");
            return d;
        }(),
        "a general-media event without dpa");
    expect_invalid(
        "events-watch",
        [&] {
            json d = json::parse(lines[1]);
            d["seq"] = std::to_string(d["seq"].get<uint64_t>());
            return d;
        }(),
        "seq as a string");
    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait(10s), std::optional<int>(0)) << watch.describe();

    inject_burst("emu2", "informational", "vendor", 6);
    std::set<std::string> kinds;
    json events;
    ASSERT_TRUE(eventually([&] {
        events = json_of("events-list", {"events", "list"});
        kinds.clear();
        for (const auto& e : events["events"]) {
            kinds.insert(e["kind"].get<std::string>());
        }
        return kinds.count("overflow") == 1;
    })) << events.dump();
    EXPECT_EQ(kinds, (std::set<std::string>{"general-media", "dram", "memory-module", "vendor",
                                            "overflow"}));
    expect_invalid(
        "events-list",
        [&] {
            json d = events;
            d["events"][0].erase("device");
            return d;
        }(),
        "an event without its device");
    expect_invalid(
        "events-list",
        [&] {
            json d = events;
            for (auto& e : d["events"]) {
                if (e["kind"] == "overflow") {
                    e["fields"].erase("count");
                }
            }
            return d;
        }(),
        "an overflow without its count");
}

// The validator itself: a wrong document is refused with status 1 and a reason, a broken input
// with status 2, never a silent pass.
TEST_F(CliJsonTest, ValidatorRefusesWrongDocuments) {
    expect_invalid("list", json::object(), "no devices");
    expect_invalid("list", json::array(), "an array at the top");
    expect_invalid("list", {{"devices", json::array()}, {"extra", 1}}, "an unknown top-level key");
    expect_invalid("events-list", {{"events", {{{"seq", 1}}}}}, "an event with a seq only");
    auto r = validate("list", "{\"devices\": [");
    EXPECT_EQ(r.exit_code, 1) << r.describe();
    EXPECT_NE(r.err.find("not JSON"), std::string::npos) << r.describe();
    r = validate("events-watch", "", /*lines=*/true);
    EXPECT_EQ(r.exit_code, 1) << "no line at all is no valid watch output: " << r.describe();
    r = validate("no-such-command", "{}");
    EXPECT_EQ(r.exit_code, 2) << r.describe();
    expect_valid("list", R"({"devices": []})");
}

}  // namespace
}  // namespace cxlmgr::testing
