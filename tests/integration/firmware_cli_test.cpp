// cxlmgrctl against the real daemon on a private bus: fw update (the descriptor variant) with
// activation, the plain progress lines and --json result, fw info, fw cancel, list/info/health,
// exit statuses (usage 2, failure 1, daemon unreachable 3), and Ctrl-C cancelling an update.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "emu/firmware_image.hpp"
#include "tests/integration/daemon_fixture.hpp"
#include "tests/integration/expected.hpp"

namespace cxlmgr::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class FirmwareCliTest : public DaemonTest {
protected:
    CommandResult ctl(std::vector<std::string> args) {
        args.insert(args.begin(), {CXLMGRCTL_PATH, "--bus-address=" + address()});
        return run_command(args, 60s);
    }
    void start_slow() {
        start_daemon(DaemonOptions::configured(daemon_config(
            {emulated_device("emu0", {{"timing", {{"fw_transfer_us_per_kib", 2000}}}})})));
    }
};

TEST_F(FirmwareCliTest, UpdateWithActivationThroughADescriptor) {
    start_slow();  // about 0.6 s of transfer: progress lines while it runs
    const auto image = work_dir() / "fw.bin";
    write_firmware_image(image, "EMU FW 2.0", 300000);
    auto r = ctl({"fw", "update", "emu0", image.string(), "--activate", "online"});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    // Not a terminal: plain progress lines, then the outcome.
    EXPECT_NE(r.out.find("running "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("firmware update completed"), std::string::npos) << r.out;
    auto info = ctl({"--json", "fw", "info", "emu0"});
    ASSERT_EQ(info.exit_code, 0) << info.describe();
    auto j = nlohmann::json::parse(info.out);
    EXPECT_EQ(j["active_slot"], 2) << j.dump();
    EXPECT_EQ(j["slot_revisions"][1], "EMU FW 2.0") << j.dump();
    EXPECT_EQ(j["current_job"], "/");
    auto dev = ctl({"--json", "info", "/org/cxlmgr1/devices/emu0"});
    ASSERT_EQ(dev.exit_code, 0) << dev.describe();
    auto d = nlohmann::json::parse(dev.out);
    EXPECT_EQ(d["FirmwareRevision"], "EMU FW 2.0");
    EXPECT_EQ(d["identify"]["fw_revision"], "EMU FW 2.0");
}

TEST_F(FirmwareCliTest, JsonResultAndFailureExitStatus) {
    start_daemon(DaemonOptions::emulated(1));
    const auto image = work_dir() / "fw.bin";
    write_firmware_image(image, "EMU FW 2.0", 5000);
    // Slot 1 is active: refused at the call (issue 14), no job.
    auto refused = ctl({"--json", "fw", "update", "emu0", image.string(), "--slot", "1"});
    EXPECT_EQ(refused.exit_code, 1) << refused.describe();
    EXPECT_NE(refused.err.find("org.cxlmgr1.Error.InvalidArgument"), std::string::npos)
        << refused.describe();
    // A job that fails: the device refuses a corrupted image at the end of the transfer.
    {
        std::fstream f(image, std::ios::in | std::ios::out | std::ios::binary);
        const auto at = static_cast<std::streamoff>(emu::kFirmwareHeaderSize + 10);
        f.seekg(at);
        const char byte = static_cast<char>(f.get());
        f.seekp(at);
        f.put(static_cast<char>(~byte));
    }
    auto r = ctl({"--json", "fw", "update", "emu0", image.string(), "--slot", "2"});
    EXPECT_EQ(r.exit_code, 1) << r.describe();
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["state"], "failed");
    EXPECT_NE(j["error"].get<std::string>().find("Verification"), std::string::npos) << j.dump();
}

TEST_F(FirmwareCliTest, CancelFromAnotherCallAndFromCtrlC) {
    start_slow();
    const auto image = work_dir() / "fw.bin";
    write_firmware_image(image, "EMU FW 3.0", 2 << 20);
    auto started = ctl({"fw", "update", "emu0", image.string(), "--no-wait"});
    ASSERT_EQ(started.exit_code, 0) << started.describe();
    EXPECT_EQ(started.out, "/org/cxlmgr1/jobs/1\n");
    auto busy = ctl({"fw", "update", "emu0", image.string(), "--no-wait"});
    EXPECT_EQ(busy.exit_code, 1);
    EXPECT_NE(busy.err.find("org.cxlmgr1.Error.Busy"), std::string::npos) << busy.describe();
    auto cancel = ctl({"fw", "cancel", "emu0"});
    EXPECT_EQ(cancel.exit_code, 0) << cancel.describe();

    // Ctrl-C: SIGINT to a running `fw update` cancels the job and waits for it to end.
    auto until = std::chrono::steady_clock::now() + 20s;
    while (ctl({"--json", "fw", "info", "emu0"}).out.find("\"current_job\":\"/\"") ==
               std::string::npos &&
           std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(50ms);
    }
    std::promise<CommandResult> result;
    std::thread runner([&] { result.set_value(ctl({"fw", "update", "emu0", image.string()})); });
    // Once the job runs, cxlmgrctl has its reply and installs its SIGINT handler right after.
    until = std::chrono::steady_clock::now() + 20s;
    while (ctl({"--json", "fw", "info", "emu0"}).out.find("\"current_job\":\"/\"") !=
               std::string::npos &&
           std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(50ms);
    }
    std::this_thread::sleep_for(500ms);
    // The child is the only cxlmgrctl this test started: find it by its parent (us).
    auto list = run_command({"pgrep", "-P", std::to_string(::getpid()), "-f", "cxlmgrctl"});
    ASSERT_EQ(list.exit_code, 0) << list.describe();
    ::kill(std::stoi(list.out), SIGINT);
    auto r = result.get_future().get();
    runner.join();
    EXPECT_EQ(r.exit_code, 1) << r.describe();
    EXPECT_NE(r.err.find("cancelling"), std::string::npos) << r.describe();
    EXPECT_NE(r.err.find("firmware update cancelled"), std::string::npos) << r.describe();
    auto info = nlohmann::json::parse(ctl({"--json", "fw", "info", "emu0"}).out);
    EXPECT_EQ(info["slot_revisions"][1], "") << info.dump();
}

TEST_F(FirmwareCliTest, ListHealthUsageAndUnreachable) {
    start_daemon(DaemonOptions::emulated(2));
    auto list = ctl({"--json", "list"});
    ASSERT_EQ(list.exit_code, 0) << list.describe();
    auto j = nlohmann::json::parse(list.out);
    ASSERT_EQ(j["devices"].size(), 2u);
    EXPECT_EQ(j["devices"][0]["name"], "emu0");
    auto health = ctl({"health", "emu1"});
    EXPECT_EQ(health.exit_code, 0) << health.describe();
    const auto raw = work_dir() / "cdat.bin";
    auto cdat = ctl({"cdat", "emu0", "--raw", raw.string()});
    EXPECT_EQ(cdat.exit_code, 0) << cdat.describe();
    EXPECT_EQ(fs::file_size(raw), reference_cdat(emulated_device("emu0")).size());
    auto decoded = ctl({"--json", "cdat", "emu0"});
    ASSERT_EQ(decoded.exit_code, 0) << decoded.describe();
    EXPECT_EQ(nlohmann::json::parse(decoded.out)["entries"][0]["type"], "header");
    // Activating a slot with nothing in it is the device's refusal: status 1, code named.
    auto empty = ctl({"fw", "activate", "emu0", "--slot", "3"});
    EXPECT_EQ(empty.exit_code, 1) << empty.describe();
    EXPECT_NE(empty.err.find("org.cxlmgr1.Error.DeviceError"), std::string::npos)
        << empty.describe();
    EXPECT_EQ(ctl({"fw", "activate", "emu0"}).exit_code, 2);
    EXPECT_EQ(ctl({"frobnicate"}).exit_code, 2);
    EXPECT_EQ(ctl({"info", "nosuchdevice"}).exit_code, 1);
    stop_daemon();
    auto gone = ctl({"list"});
    EXPECT_EQ(gone.exit_code, 3) << gone.describe();
}

}  // namespace
}  // namespace cxlmgr::testing
