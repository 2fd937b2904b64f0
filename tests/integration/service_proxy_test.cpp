// cxlmgrd driven with sdbus-c++ proxies generated from the contract's XML, as cxlmgrctl and
// other programs would: the generated signatures must match what the daemon exports, and the
// decoded answers must match the device description and independent decodes (expected.hpp).
#include <gtest/gtest.h>

#include "tests/integration/daemon_fixture.hpp"
#include "tests/integration/expected.hpp"

namespace cxlmgr::testing {
namespace {

using nlohmann::json;

class ProxyTest : public DaemonTest {
protected:
    void SetUp() override {
        DaemonTest::SetUp();
        // Two different devices: every answer must be the asked device's own.
        start_daemon(DaemonOptions::configured(daemon_config({alpha_device(), beta_device()})));
        conn_ = connect();
    }
    void TearDown() override {
        conn_.reset();
        DaemonTest::TearDown();
    }
    static json beta_device() {
        return emulated_device(
            "beta-1",
            {{"serial", 77}, {"volatile_capacity", 1ull << 30}, {"fw_revision", "BETA 0.9"}});
    }
    std::unique_ptr<sdbus::IConnection> conn_;
};

TEST_F(ProxyTest, ManagerListsDevicesSortedWithSanitizedIds) {
    ManagerProxy manager(*conn_, kRootPath);
    std::vector<sdbus::ObjectPath> devices = manager.ListDevices();
    // "beta-1" becomes "beta_1": every character outside [A-Za-z0-9_] is replaced.
    ASSERT_EQ(devices.size(), 2u);
    EXPECT_EQ(devices[0], device_path("alpha"));
    EXPECT_EQ(devices[1], device_path("beta_1"));
    EXPECT_FALSE(manager.Version().empty());
}

TEST_F(ProxyTest, DevicePropertiesMatchTheDescriptions) {
    const json a = alpha_device();
    DeviceProxy alpha(*conn_, device_path("alpha"));
    EXPECT_EQ(alpha.Name(), "alpha");
    EXPECT_EQ(alpha.Address(), "");
    EXPECT_EQ(alpha.Backend(), "emulated");
    EXPECT_EQ(alpha.VendorId(), a["vendor_id"].get<uint16_t>());
    EXPECT_EQ(alpha.DeviceId(), a["device_id"].get<uint16_t>());
    EXPECT_EQ(alpha.SerialNumber(), a["serial"].get<uint64_t>());
    EXPECT_EQ(alpha.State(), "online");
    EXPECT_EQ(alpha.PayloadSize(), a["payload_size"].get<uint32_t>());
    EXPECT_EQ(alpha.FirmwareRevision(), "IT FW 2.1");

    DeviceProxy beta(*conn_, device_path("beta_1"));
    EXPECT_EQ(beta.Name(), "beta-1");
    EXPECT_EQ(beta.SerialNumber(), 77u);
    EXPECT_EQ(beta.PayloadSize(), 2048u);  // the emulator's default
    EXPECT_EQ(beta.FirmwareRevision(), "BETA 0.9");
}

TEST_F(ProxyTest, IdentifyIsDecodedInBytes) {
    for (const json& d : {alpha_device(), beta_device()}) {
        const std::string name = d["name"];
        SCOPED_TRACE(name);
        DeviceProxy device(*conn_, device_path(name == "alpha" ? "alpha" : "beta_1"));
        json got = to_json(device.Identify());
        EXPECT_EQ(field_mismatches(decode_identify(reference_command(d, 0x4000).output), got), "")
            << got.dump();
        const uint64_t vol = d.value("volatile_capacity", 256ull << 20);
        const uint64_t pers = d.value("persistent_capacity", 0ull);
        EXPECT_EQ(got.value("volatile_capacity", json()), vol);
        EXPECT_EQ(got.value("persistent_capacity", json()), pers);
        EXPECT_EQ(got.value("total_capacity", json()), vol + pers);
        EXPECT_EQ(got.value("lsa_size", json()), d.value("lsa_size", 0));
        EXPECT_EQ(got.value("fw_revision", json()), d["fw_revision"]);
    }
}

TEST_F(ProxyTest, GetHealthMatchesTheDevice) {
    DeviceProxy device(*conn_, device_path("alpha"));
    json got = to_json(device.GetHealth());
    EXPECT_EQ(
        field_mismatches(decode_health(reference_command(alpha_device(), 0x4200).output), got), "")
        << got.dump();
}

TEST_F(ProxyTest, CdatReadMatchesAnIndependentDecodeOfReadRaw) {
    CdatProxy cdat(*conn_, device_path("alpha"));
    const ByteVector raw = cdat.ReadRaw();
    ASSERT_EQ(raw, reference_cdat(alpha_device()));
    const json decoded = decode_cdat(raw);
    json read = json::array();
    for (const auto& entry : cdat.Read()) {
        read.push_back(to_json(entry));
    }
    ASSERT_EQ(read.size(), decoded.size()) << read.dump();
    for (size_t i = 0; i < decoded.size(); ++i) {
        EXPECT_EQ(field_mismatches(decoded[i], read[i]), "") << "entry " << i;
    }
    // Two regions: one DSMAS each, the persistent one flagged non-volatile (bit 2).
    size_t dsmas = 0;
    for (const auto& e : read) {
        if (e["type"] == "dsmas") {
            ++dsmas;
        }
    }
    EXPECT_EQ(dsmas, 2u);
    EXPECT_EQ(cdat.Length(), raw.size());
    EXPECT_EQ(cdat.Revision(), raw.at(4));
    EXPECT_EQ(cdat.Checksum(), raw.at(5));
    // Refresh reads it again over DOE; the table is the same.
    cdat.Refresh();
    EXPECT_EQ(cdat.ReadRaw(), raw);
}

TEST_F(ProxyTest, RawCommandsAsRootReturnTheDevicesBytes) {
    for (const char* name : {"alpha", "beta_1"}) {
        SCOPED_TRACE(name);
        const json d = std::string(name) == "alpha" ? alpha_device() : beta_device();
        DeviceProxy device(*conn_, device_path(name));
        auto [rc, out] = device.Command(0x4000, {});
        EXPECT_EQ(rc, 0);
        EXPECT_EQ(out, reference_command(d, 0x4000).output);
        auto [hrc, hout] = device.Command(0x4200, {});
        EXPECT_EQ(hrc, 0);
        EXPECT_EQ(hout, reference_command(d, 0x4200).output);
    }
}

TEST_F(ProxyTest, DeviceReturnCodesAreAnswersNotErrors) {
    DeviceProxy device(*conn_, device_path("alpha"));
    // 0x4000 takes no input: Invalid Payload Length (0x16) from the device, passed through.
    auto [rc, out] = device.Command(0x4000, {1, 2, 3, 4});
    EXPECT_EQ(rc, reference_command(alpha_device(), 0x4000, {1, 2, 3, 4}).return_code);
    EXPECT_EQ(rc, 0x16);
    EXPECT_TRUE(out.empty());
}

TEST_F(ProxyTest, WrongTypesAndValuesAreInvalidArguments) {
    auto proxy = sdbus::createProxy(*conn_, kService, device_path("alpha"));
    // Command(s) instead of Command(q, ay): the bus library refuses the signature.
    std::string name = dbus_error_name([&] {
        proxy->callMethod("Command")
            .onInterface("org.cxlmgr1.Device")
            .withArguments(std::string("identify"));
    });
    EXPECT_TRUE(name == "org.freedesktop.DBus.Error.InvalidArgs" ||
                name == "org.cxlmgr1.Error.InvalidArgument")
        << name;
    // An input larger than the mailbox payload area cannot be sent.
    DeviceProxy device(*conn_, device_path("alpha"));
    name = dbus_error_name([&] { device.Command(0x4000, ByteVector(4096 + 1, 0)); });
    EXPECT_EQ(name, "org.cxlmgr1.Error.InvalidArgument");
    EmulatorProxy emulator(*conn_, device_path("alpha"));
    name = dbus_error_name([&] { emulator.InjectFault("no-such-fault", {}); });
    EXPECT_EQ(name, "org.cxlmgr1.Error.InvalidArgument");
    name = dbus_error_name([&] {
        emulator.InjectFault("mailbox-busy", {{"count", sdbus::Variant("three")}});
    });
    EXPECT_EQ(name, "org.cxlmgr1.Error.InvalidArgument");
    // No such device object.
    DeviceProxy missing(*conn_, device_path("gamma"));
    name = dbus_error_name([&] { missing.Identify(); });
    EXPECT_TRUE(name == "org.freedesktop.DBus.Error.UnknownObject" ||
                name == "org.freedesktop.DBus.Error.UnknownMethod")
        << name;
    EXPECT_EQ(device.State(), "online");
}

}  // namespace
}  // namespace cxlmgr::testing
