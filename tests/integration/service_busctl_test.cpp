// cxlmgrd driven with busctl, as an administrator or a script would: the names, signatures and
// values of the contract (docs/API.md) as busctl prints them. Expected values come from the
// device description the test wrote and from expected.hpp, never from cxlmgrd's own code.
#include <gtest/gtest.h>

#include "tests/integration/daemon_fixture.hpp"
#include "tests/integration/expected.hpp"

namespace cxlmgr::testing {
namespace {

using nlohmann::json;

class BusctlTest : public DaemonTest {
protected:
    // The single out argument of a call (busctl prints every out argument in "data").
    json call1(const std::string& path, const std::string& iface, const std::string& method,
               const std::vector<std::string>& args = {}) {
        std::vector<std::string> a = {"call", kService, path, iface, method};
        a.insert(a.end(), args.begin(), args.end());
        json r = busctl_json(a);
        if (r.is_null() || !r["data"].is_array() || r["data"].empty()) {
            ADD_FAILURE() << method << " printed " << r.dump();
            return nullptr;
        }
        return r["data"][0];
    }
    json property(const std::string& path, const std::string& iface, const std::string& name,
                  std::string* type = nullptr) {
        json r = busctl_json({"get-property", kService, path, iface, name});
        if (type != nullptr && r.is_object()) {
            *type = r.value("type", "");
        }
        return r.is_object() ? r["data"] : json();
    }
};

TEST_F(BusctlTest, ListDevicesNamesEveryEmulatedDeviceSorted) {
    start_daemon(DaemonOptions::emulated(3));
    // The plain rendering too: what a shell script would parse.
    auto plain = busctl({"call", kService, kRootPath, "org.cxlmgr1.Manager", "ListDevices"});
    ASSERT_EQ(plain.exit_code, 0) << plain.describe();
    EXPECT_EQ(plain.out,
              "ao 3 \"/org/cxlmgr1/devices/emu0\" \"/org/cxlmgr1/devices/emu1\" "
              "\"/org/cxlmgr1/devices/emu2\"\n");
    json version = property(kRootPath, "org.cxlmgr1.Manager", "Version");
    EXPECT_TRUE(version.is_string() && !version.get<std::string>().empty()) << version;
}

TEST_F(BusctlTest, DeviceObjectOffersTheContractInterfaces) {
    start_daemon(DaemonOptions::emulated(1));
    auto r = busctl({"introspect", "--list", kService, device_path("emu0")});
    ASSERT_EQ(r.exit_code, 0) << r.describe();
    for (const char* iface :
         {"org.cxlmgr1.Device", "org.cxlmgr1.Cdat", "org.cxlmgr1.Emulator", "Identify", "GetHealth",
          "Command", "ReadRaw", "InjectFault", "ClearFaults", "SerialNumber", "PayloadSize"}) {
        EXPECT_NE(r.out.find(iface), std::string::npos) << iface << " missing from\n" << r.out;
    }
}

TEST_F(BusctlTest, EveryDevicePropertyHasTheDescribedValueAndType) {
    start_daemon(DaemonOptions::configured(daemon_config({alpha_device()})));
    const std::string path = device_path("alpha");
    const json d = alpha_device();
    const std::vector<std::tuple<std::string, std::string, json>> expected = {
        {"Name", "s", "alpha"},
        {"Address", "s", ""},
        {"Backend", "s", "emulated"},
        {"VendorId", "q", d["vendor_id"]},
        {"DeviceId", "q", d["device_id"]},
        {"SerialNumber", "t", d["serial"]},
        {"State", "s", "online"},
        {"PayloadSize", "u", d["payload_size"]},
        {"FirmwareRevision", "s", d["fw_revision"]},
    };
    for (const auto& [name, type, value] : expected) {
        std::string got_type;
        json got = property(path, "org.cxlmgr1.Device", name, &got_type);
        EXPECT_EQ(got_type, type) << name;
        EXPECT_EQ(got, value) << name;
    }
}

TEST_F(BusctlTest, IdentifyAndGetHealthDecodeTheDevicesAnswers) {
    start_daemon(DaemonOptions::configured(daemon_config({alpha_device()})));
    const std::string path = device_path("alpha");
    json identify = unwrap_busctl(call1(path, "org.cxlmgr1.Device", "Identify"));
    json expected = decode_identify(reference_command(alpha_device(), 0x4000).output);
    EXPECT_EQ(field_mismatches(expected, identify), "") << identify.dump();
    // Spot checks straight from the description: capacities are bytes.
    EXPECT_EQ(identify.value("total_capacity", json()), (512ull + 256ull) << 20);
    EXPECT_EQ(identify.value("fw_revision", json()), "IT FW 2.1");

    json health = unwrap_busctl(call1(path, "org.cxlmgr1.Device", "GetHealth"));
    json expected_health = decode_health(reference_command(alpha_device(), 0x4200).output);
    EXPECT_EQ(field_mismatches(expected_health, health), "") << health.dump();
    EXPECT_EQ(health.value("life_used", json()), 3);  // the emulator's documented start
    EXPECT_EQ(health.value("temperature", json()), 35);
}

TEST_F(BusctlTest, CdatReadMatchesAnIndependentDecodeOfReadRaw) {
    start_daemon(DaemonOptions::configured(daemon_config({alpha_device()})));
    const std::string path = device_path("alpha");
    json raw = call1(path, "org.cxlmgr1.Cdat", "ReadRaw");
    ASSERT_TRUE(raw.is_array()) << raw;
    const auto bytes = raw.get<ByteVector>();
    EXPECT_EQ(bytes, reference_cdat(alpha_device())) << "ReadRaw is not the table served";
    json decoded = decode_cdat(bytes);
    json read = unwrap_busctl(call1(path, "org.cxlmgr1.Cdat", "Read"));
    ASSERT_TRUE(read.is_array()) << read;
    ASSERT_EQ(read.size(), decoded.size()) << read.dump();
    for (size_t i = 0; i < decoded.size(); ++i) {
        EXPECT_EQ(field_mismatches(decoded[i], read[i]), "") << "entry " << i;
    }
    EXPECT_EQ(property(path, "org.cxlmgr1.Cdat", "Length"), bytes.size());
    EXPECT_EQ(property(path, "org.cxlmgr1.Cdat", "Revision"), bytes.at(4));
    EXPECT_EQ(property(path, "org.cxlmgr1.Cdat", "Checksum"), bytes.at(5));
}

TEST_F(BusctlTest, RawIdentifyCommandAsRootReturnsTheIdentifyBytes) {
    start_daemon(DaemonOptions::configured(daemon_config({alpha_device()})));
    json r = busctl_json({"call", kService, device_path("alpha"), "org.cxlmgr1.Device", "Command",
                          "qay", "16384", "0"});
    ASSERT_TRUE(r.is_object()) << r;
    EXPECT_EQ(r["type"], "qay");
    ASSERT_EQ(r["data"].size(), 2u) << r;
    EXPECT_EQ(r["data"][0], 0) << "return code";
    EXPECT_EQ(r["data"][1].get<ByteVector>(), reference_command(alpha_device(), 0x4000).output);
}

TEST_F(BusctlTest, WrongArgumentTypesAndValuesAreRefused) {
    start_daemon(DaemonOptions::emulated(1));
    const std::string path = device_path("emu0");
    // Wrong signature: refused by the bus library before any daemon logic.
    auto r = busctl({"call", kService, path, "org.cxlmgr1.Device", "Command", "s", "identify"});
    EXPECT_NE(r.exit_code, 0) << r.describe();
    // Right types, wrong values.
    r = busctl({"call", kService, path, "org.cxlmgr1.Emulator", "InjectFault", "sa{sv}",
                "no-such-fault", "0"});
    EXPECT_NE(r.exit_code, 0) << r.describe();
    r = busctl({"call", kService, device_path("nosuchdevice"), "org.cxlmgr1.Device", "Identify"});
    EXPECT_NE(r.exit_code, 0) << r.describe();
    // The daemon is still there and answering.
    auto ok = busctl({"call", kService, path, "org.cxlmgr1.Device", "Identify"});
    EXPECT_EQ(ok.exit_code, 0) << ok.describe();
}

}  // namespace
}  // namespace cxlmgr::testing
