#include "daemon/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "daemon/device_factory.hpp"
#include "tests/pci/fake_sysfs.hpp"

namespace cxlmgr::daemon {
namespace {

using nlohmann::json;

TEST(Config, ParsesEveryBackend) {
    auto config = parse_config(json::parse(R"({
        "devices": [
            {"backend": "sysfs", "address": "0000:0d:00.0"},
            {"backend": "vfio", "address": "0000:0e:00.0"},
            {"backend": "emulated", "name": "lab", "serial": 7, "payload_size": 512}
        ],
        "discover": true
    })"));
    ASSERT_TRUE(config.ok()) << config.error().describe();
    ASSERT_EQ(config->devices.size(), 3u);
    EXPECT_EQ(config->devices[0].backend, Backend::Sysfs);
    EXPECT_EQ(config->devices[0].address, "0000:0d:00.0");
    EXPECT_EQ(config->devices[1].backend, Backend::Vfio);
    EXPECT_EQ(config->devices[2].emulated.name, "lab");
    EXPECT_EQ(config->devices[2].emulated.payload_size, 512u);
    EXPECT_TRUE(config->discover);
}

TEST(Config, EventCollectionSettings) {
    auto defaults = parse_config(json::object());
    ASSERT_TRUE(defaults.ok());
    EXPECT_EQ(defaults->events_fast_poll, std::chrono::milliseconds(5));
    EXPECT_EQ(defaults->events_slow_poll, std::chrono::milliseconds(2000));
    EXPECT_EQ(defaults->events_journal_max_events, 100000u);
    auto config = parse_config(json::parse(
        R"({"events": {"fast_poll_ms": 2, "slow_poll_ms": 10000, "journal_max_events": 500}})"));
    ASSERT_TRUE(config.ok()) << config.error().describe();
    EXPECT_EQ(config->events_fast_poll, std::chrono::milliseconds(2));
    EXPECT_EQ(config->events_slow_poll, std::chrono::milliseconds(10000));
    EXPECT_EQ(config->events_journal_max_events, 500u);
}

TEST(Config, ErrorsNameTheProblem) {
    struct Case {
        const char* json;
        const char* expected;
    };
    const Case cases[] = {
        {R"([])", "JSON object"},
        {R"({"devcies": []})", "devcies"},
        {R"({"devices": {}})", "must be an array"},
        {R"({"devices": [{"address": "0000:0d:00.0"}]})", "devices[0]"},
        {R"({"devices": [{"backend": "pcie"}]})", "unknown backend \"pcie\""},
        {R"({"devices": [{"backend": "sysfs"}]})", "needs \"address\""},
        {R"({"devices": [{"backend": "sysfs", "address": "0000:0d:00.0", "serial": 1}]})",
         "unknown key \"serial\""},
        {R"({"devices": [{"backend": "emulated", "payload_size": 100}]})", "payload_size"},
        {R"({"devices": [{"backend": "emulated", "name": "a"}, {"backend": "emulated", "name": "a"}]})",
         "listed twice"},
        {R"({"discover": "yes"})", "discover"},
        {R"({"events": []})", "events: must be an object"},
        {R"({"events": {"fast_poll_ms": 0}})", "events.fast_poll_ms: must be a positive"},
        {R"({"events": {"slow_poll_ms": 7200000}})", "at most 3600000"},
        {R"({"events": {"fast_poll_ms": 3000}})", "fast_poll_ms must not be longer"},
        {R"({"events": {"fast_pol_ms": 3}})", "\"events.fast_pol_ms\""},
    };
    for (const auto& c : cases) {
        auto r = parse_config(json::parse(c.json));
        ASSERT_FALSE(r.ok()) << c.json;
        EXPECT_EQ(r.error().code, Errc::InvalidArgument) << c.json;
        EXPECT_NE(r.error().message.find(c.expected), std::string::npos)
            << c.json << " -> " << r.error().message;
    }
}

TEST(Config, LoadReportsMissingAndMalformedFiles) {
    auto missing = load_config("/nonexistent/cxlmgrd.json");
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, Errc::NotFound);

    auto path =
        std::filesystem::temp_directory_path() / ("cxlmgr-config-" + std::to_string(getpid()));
    std::ofstream(path) << "{\"devices\": [ // comments are allowed\n]}";
    EXPECT_TRUE(load_config(path).ok());
    std::ofstream(path) << "{\"devices\": [";
    auto broken = load_config(path);
    ASSERT_FALSE(broken.ok());
    EXPECT_NE(broken.error().message.find("not valid JSON"), std::string::npos);
    std::filesystem::remove(path);
}

TEST(Config, DefaultEmulatedDevicesGetFreeNames) {
    auto config =
        parse_config(json::parse(R"({"devices": [{"backend": "emulated", "name": "emu1"}]})"));
    ASSERT_TRUE(config.ok());
    add_default_emulated_devices(*config, 3);
    ASSERT_EQ(config->devices.size(), 4u);
    EXPECT_EQ(config->devices[1].emulated.name, "emu0");
    EXPECT_EQ(config->devices[2].emulated.name, "emu2");
    EXPECT_EQ(config->devices[3].emulated.name, "emu3");
    EXPECT_NE(config->devices[1].emulated.serial, config->devices[2].emulated.serial);
}

TEST(DeviceFactory, OpensEmulatedDevices) {
    DaemonConfig config;
    add_default_emulated_devices(config, 1);
    auto opened = open_device(config.devices[0]);
    ASSERT_TRUE(opened.ok()) << opened.error().describe();
    EXPECT_EQ(opened->device->backend(), "emulated");
    EXPECT_EQ(opened->device->name(), "emu0");
    ASSERT_NE(opened->emulator, nullptr);
}

}  // namespace
}  // namespace cxlmgr::daemon

namespace cxlmgr::daemon {
namespace {

TEST(DeviceFactory, SysfsErrorsComeThroughUnchanged) {
    DeviceSpec spec;
    spec.backend = Backend::Sysfs;
    spec.address = "not-an-address";
    auto opened = open_device(spec);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().code, Errc::InvalidArgument);
    spec.address = "ffff:ff:1f.7";
    opened = open_device(spec);
    ASSERT_FALSE(opened.ok());
    EXPECT_EQ(opened.error().code, Errc::NotFound);
    spec.backend = Backend::Vfio;
    EXPECT_FALSE(open_device(spec).ok());
}

TEST(DeviceFactory, DiscoveryAddsOnlyCxlMemoryDevices) {
    // This machine's real PCI tree: whatever libpci finds must be CXL memory devices only.
    DaemonConfig config;
    auto found = pci::enumerate_cxl_memory_devices();
    if (!found.ok()) {
        GTEST_SKIP() << "no PCI sysfs here: " << found.error().message;
    }
    ASSERT_TRUE(add_discovered_devices(config).ok());
    EXPECT_EQ(config.devices.size(), found->size());
    for (const auto& spec : config.devices) {
        EXPECT_EQ(spec.backend, Backend::Sysfs);
    }
}

// What the e2e VFIO run does: "discover": true next to explicit vfio entries. Discovery must
// leave a configured device to its entry (one device, still vfio) and add only the others.
TEST(DeviceFactory, DiscoveryKeepsTheConfiguredBackendAndAddsTheRest) {
    cxlmgr::testing::FakeSysfs fake;
    fake.add("0000:0d:00.0", {});
    fake.add("0000:0e:00.0", {});
    DaemonConfig config;
    DeviceSpec vfio;
    vfio.backend = Backend::Vfio;
    vfio.address = "0000:0d:00.0";
    config.devices.push_back(vfio);
    pci::EnumerateOptions opts;
    opts.sysfs_root = fake.devices();
    ASSERT_TRUE(add_discovered_devices(config, opts).ok());
    ASSERT_EQ(config.devices.size(), 2u);
    EXPECT_EQ(config.devices[0].address, "0000:0d:00.0");
    EXPECT_EQ(config.devices[0].backend, Backend::Vfio);
    EXPECT_EQ(config.devices[1].address, "0000:0e:00.0");
    EXPECT_EQ(config.devices[1].backend, Backend::Sysfs);
}

}  // namespace
}  // namespace cxlmgr::daemon
