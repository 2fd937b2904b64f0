// The org.cxlmgr1 service in-process: a real Service on its own io_context thread, emulated
// devices behind the real daemon core, and a client using the generated proxies.
#include <gtest/gtest.h>

#include <numeric>

#include "emu/device_description.hpp"
#include "emu/faults.hpp"
#include "tests/dbus/service_fixture.hpp"

namespace cxlmgr::dbus::test {
namespace {

using ServiceTest = ServiceFixture;

TEST_F(ServiceTest, ListsDevicesSortedByNameWithTheirProperties) {
    ServiceOptions options;
    options.version = "9.8.7-test";
    start({"emu1", "emu0"}, options);
    EXPECT_EQ(root_->ListDevices(), (std::vector<sdbus::ObjectPath>{"/org/cxlmgr1/devices/emu0",
                                                                    "/org/cxlmgr1/devices/emu1"}));
    EXPECT_EQ(root_->Version(), "9.8.7-test");

    const auto description = emu::default_device_description("emu0");
    auto emu0 = device_client("emu0");
    EXPECT_EQ(emu0->Name(), "emu0");
    EXPECT_EQ(emu0->Address(), "");
    EXPECT_EQ(emu0->Backend(), "emulated");
    EXPECT_EQ(emu0->State(), "online");
    EXPECT_EQ(emu0->VendorId(), description.vendor_id);
    EXPECT_EQ(emu0->DeviceId(), description.device_id);
    EXPECT_EQ(emu0->SerialNumber(), description.serial);
    EXPECT_EQ(emu0->PayloadSize(), description.payload_size);
    EXPECT_EQ(emu0->FirmwareRevision(), description.fw_revision);

    // The ObjectManager shows both devices with the Device, Cdat and Emulator interfaces.
    auto objects = root_->GetManagedObjects();
    ASSERT_EQ(objects.size(), 2u);
    const auto& interfaces = objects.at(sdbus::ObjectPath("/org/cxlmgr1/devices/emu1"));
    EXPECT_EQ(interfaces.count("org.cxlmgr1.Device"), 1u);
    EXPECT_EQ(interfaces.count("org.cxlmgr1.Cdat"), 1u);
    EXPECT_EQ(interfaces.count("org.cxlmgr1.Emulator"), 1u);
    EXPECT_EQ(interfaces.at("org.cxlmgr1.Device").at("Name").get<std::string>(), "emu1");
}

TEST_F(ServiceTest, IdentifyAndHealthAreDecodedDictionaries) {
    start({"emu0"});
    auto emu0 = device_client("emu0");
    const auto description = emu::default_device_description("emu0");
    auto identity = emu0->Identify();
    EXPECT_EQ(identity.at("fw_revision").get<std::string>(), description.fw_revision);
    ASSERT_EQ(identity.at("total_capacity").peekValueType(), "t");
    EXPECT_EQ(identity.at("total_capacity").get<uint64_t>(), description.total_capacity());
    EXPECT_EQ(identity.at("volatile_capacity").get<uint64_t>(), description.volatile_capacity);

    auto health = emu0->GetHealth();
    EXPECT_EQ(health.count("temperature"), 1u);
    EXPECT_EQ(health.count("life_used"), 1u);
    EXPECT_EQ(health.at("media_status_name").peekValueType(), "s");
    EXPECT_TRUE(wait_pending(0));
}

TEST_F(ServiceTest, CdatReadRawAndReadAgree) {
    start({"emu0"});
    auto emu0 = device_client("emu0");
    auto raw = emu0->ReadRaw();
    ASSERT_GE(raw.size(), 16u);
    EXPECT_EQ(std::accumulate(raw.begin(), raw.end(), 0u) % 256, 0u) << "checksum";

    auto entries = emu0->Read();
    ASSERT_GE(entries.size(), 2u);
    EXPECT_EQ(entries[0].at("type").get<std::string>(), "header");
    EXPECT_EQ(entries[0].at("length").get<uint64_t>(), raw.size());
    bool dsmas = false;
    for (const auto& entry : entries) {
        if (entry.at("type").get<std::string>() == "dsmas") {
            dsmas = true;
            EXPECT_EQ(entry.at("dpa_length").peekValueType(), "t");
        }
    }
    EXPECT_TRUE(dsmas);
    // The header of the table just read is what the properties show.
    EXPECT_EQ(emu0->Length(), raw.size());
    EXPECT_EQ(emu0->Revision(), raw[4]);
    EXPECT_EQ(emu0->Checksum(), raw[5]);
}

TEST_F(ServiceTest, CdatPropertiesAreFilledInTheBackgroundAndAnnounced) {
    start({"emu0"});
    const auto raw = device_client("emu0")->ReadRaw();
    // A client watching a device that appears: exporting it starts the CDAT read, so
    // InterfacesAdded shows the Cdat properties as 0, and the read's result arrives as
    // PropertiesChanged.
    auto emu1 = device_client("emu1");
    auto device = open_device("emu1");
    ASSERT_TRUE(on_io([&] { return service_->add_device(device); }).ok());
    EXPECT_TRUE(root_->objects.wait_for("added /org/cxlmgr1/devices/emu1"));
    EXPECT_TRUE(root_->objects.wait_for("/org/cxlmgr1/devices/emu1 Cdat.Length=0"));
    EXPECT_TRUE(emu1->changes.wait_for("org.cxlmgr1.Cdat.Length=" + std::to_string(raw.size())));
    EXPECT_EQ(emu1->Length(), raw.size());
}

TEST_F(ServiceTest, AFailedCdatPrefetchIsRetriedByTheNextGet) {
    start({"emu0"});
    auto device = open_device("emu1");
    device->emulator()->arm_fault(emu::Fault::BadCdatChecksum);  // spoils the export's read
    ASSERT_TRUE(on_io([&] { return service_->add_device(device); }).ok());
    // Gets while that read runs start nothing; the first after its failure reads again.
    EXPECT_TRUE(wait_cdat_known("emu1"));
}

TEST_F(ServiceTest, InjectedDoeFaultsSurfaceAsContractErrors) {
    start({"emu0"});
    auto emu0 = device_client("emu0");
    emu0->InjectFault("bad-cdat-checksum", {});
    auto bad = error_of([&] { emu0->Refresh(); });
    EXPECT_EQ(bad.name, "org.cxlmgr1.Error.DeviceError");
    EXPECT_NE(bad.message.find("emu0"), std::string::npos) << bad.message;
    EXPECT_NE(bad.message.find("checksum"), std::string::npos) << bad.message;

    emu0->InjectFault("doe-busy", {});
    auto busy = error_of([&] { emu0->Refresh(); });
    // The DOE layer waits out the stuck Busy bit, aborts, and reports Busy.
    EXPECT_EQ(busy.name, "org.cxlmgr1.Error.Busy") << busy.message;
    EXPECT_NE(busy.message.find("emu0"), std::string::npos) << busy.message;

    // The fault fired (count 1 each): the next read succeeds.
    emu0->ClearFaults();
    auto ok = error_of([&] { emu0->Refresh(); });
    EXPECT_EQ(ok.name, "") << ok.message;
    EXPECT_TRUE(wait_pending(0));
}

TEST_F(ServiceTest, WrongEmulatorArgumentsAreInvalidArgument) {
    start({"emu0"});
    auto emu0 = device_client("emu0");
    const std::string invalid = "org.cxlmgr1.Error.InvalidArgument";
    auto unknown = error_of([&] { emu0->InjectFault("no-such-fault", {}); });
    EXPECT_EQ(unknown.name, invalid);
    EXPECT_NE(unknown.message.find("no-such-fault"), std::string::npos);
    EXPECT_NE(unknown.message.find("emu0"), std::string::npos);

    auto key = error_of([&] { emu0->InjectFault("doe-busy", {{"times", sdbus::Variant(2u)}}); });
    EXPECT_EQ(key.name, invalid);
    EXPECT_NE(key.message.find("'times'"), std::string::npos);
    EXPECT_EQ(error_of([&] {
                  emu0->InjectFault("doe-busy", {{"count", sdbus::Variant(std::string("2"))}});
              }).name,
              invalid);
    EXPECT_EQ(error_of([&] {
                  emu0->InjectFault("doe-busy", {{"count", sdbus::Variant(0u)}});
              }).name,
              invalid);
    EXPECT_EQ(error_of([&] {
                  emu0->InjectFault("doe-busy", {{"count", sdbus::Variant(2u)}});
              }).name,
              "");
    emu0->ClearFaults();

    EXPECT_EQ(error_of([&] { emu0->InjectEvent("loud", "dram", {}); }).name, invalid);
    EXPECT_EQ(error_of([&] { emu0->InjectEvent("warning", "toaster", {}); }).name, invalid);
    EXPECT_EQ(error_of([&] {
                  emu0->InjectEvent("warning", "dram", {{"no_such_field", sdbus::Variant(1u)}});
              }).name,
              invalid);
    EXPECT_EQ(error_of([&] {
                  emu0->InjectEvent("warning", "dram",
                                    {{"dpa", sdbus::Variant(sdbus::ObjectPath("/x"))}});
              }).name,
              invalid);
}

TEST_F(ServiceTest, RawCommandsPassReadingOpcodesOnly) {
    start({"emu0"});
    auto emu0 = device_client("emu0");
    auto [code, output] = emu0->Command(0x4000, {});
    EXPECT_EQ(code, 0);
    EXPECT_GE(output.size(), 0x43u);

    auto write = error_of([&] { emu0->Command(0x0201, {0, 0, 0, 0}); });  // Transfer FW
    EXPECT_EQ(write.name, "org.cxlmgr1.Error.PermissionDenied");
    EXPECT_NE(write.message.find("--allow-raw-writes"), std::string::npos) << write.message;
    EXPECT_NE(write.message.find("emu0"), std::string::npos) << write.message;
}

TEST_F(ServiceTest, InjectedEventsAreInTheDevicesLog) {
    start({"emu0"});
    auto emu0 = device_client("emu0");
    emu0->InjectEvent("warning", "general-media",
                      {{"dpa", sdbus::Variant(uint64_t{0x1000})},
                       {"transaction_type", sdbus::Variant(uint8_t{1})}});
    // Get Event Records (0x0100) for the warning log (1): one 128-byte record after the
    // 0x20-byte header, its count at 0x14.
    auto [code, output] = emu0->Command(0x0100, {1});
    EXPECT_EQ(code, 0);
    ASSERT_EQ(output.size(), 0x20u + 0x80u);
    EXPECT_EQ(output[0x14], 1);
}

TEST_F(ServiceTest, PropertyChangesAreAnnouncedOnlyForWhatChanged) {
    start({"emu0"});
    auto emu0 = device_client("emu0");
    ASSERT_EQ(emu0->State(), "online");
    devices_.at("emu0")->mark_gone("unplugged by the test");
    // StateReason is announced after State, in the same signal.
    EXPECT_TRUE(
        emu0->changes.wait_for("org.cxlmgr1.Device.StateReason=emu0: unplugged by the test"));
    EXPECT_EQ(emu0->State(), "gone");
    // Only State and its reason changed on org.cxlmgr1.Device. (The Cdat properties may be
    // announced too, by the background read that exporting the object started.)
    std::vector<std::string> device_changes;
    for (const auto& entry : emu0->changes.entries()) {
        if (entry.rfind("org.cxlmgr1.Device.", 0) == 0) {
            device_changes.push_back(entry);
        }
    }
    EXPECT_EQ(device_changes, (std::vector<std::string>{
                                  "org.cxlmgr1.Device.State=gone",
                                  "org.cxlmgr1.Device.StateReason=emu0: unplugged by the test"}));
    EXPECT_EQ(emu0->StateReason(), "emu0: unplugged by the test");
}

TEST_F(ServiceTest, RemovingADeviceEndsItsCallsInFlightWithDeviceGone) {
    start({"emu0", "emu1"});
    auto emu1 = device_client("emu1");
    emu1->InjectFault("mailbox-timeout", {});  // Identify now takes the 1 s doorbell deadline
    auto identify =
        std::async(std::launch::async, [&] { return error_of([&] { emu1->Identify(); }); });
    ASSERT_TRUE(wait_pending(1));
    ASSERT_TRUE(on_io([this] { return service_->remove_device("emu1"); }).ok());

    EXPECT_TRUE(root_->objects.wait_for("removed /org/cxlmgr1/devices/emu1"));
    EXPECT_EQ(root_->ListDevices(), (std::vector<sdbus::ObjectPath>{"/org/cxlmgr1/devices/emu0"}));
    auto gone = identify.get();
    EXPECT_EQ(gone.name, "org.cxlmgr1.Error.DeviceGone");
    EXPECT_NE(gone.message.find("emu1 was removed"), std::string::npos) << gone.message;
    EXPECT_TRUE(wait_pending(0));

    // The object is off the bus; the other device still answers; the name can come back.
    EXPECT_EQ(error_of([&] { emu1->Name(); }).name, "org.freedesktop.DBus.Error.UnknownObject");
    EXPECT_EQ(device_client("emu0")->Name(), "emu0");
    auto unknown = on_io([this] { return service_->remove_device("emu1"); });
    ASSERT_FALSE(unknown.ok());
    EXPECT_EQ(unknown.error().code, Errc::NotFound);
    auto reopened = open_device("emu1");
    auto again = on_io([&] { return service_->add_device(reopened); });
    EXPECT_TRUE(again.ok()) << again.error().message;
    EXPECT_TRUE(root_->objects.wait_for("added /org/cxlmgr1/devices/emu1"));
}

TEST_F(ServiceTest, AGuardEndsCallsTheDaemonNeverAnswers) {
    // The guard is shorter than the 1 s doorbell deadline here, as if a callback were lost.
    ServiceOptions options;
    options.call_guard = 200ms;
    start({"emu0"}, options);
    auto emu0 = device_client("emu0");
    emu0->InjectFault("mailbox-timeout", {});
    auto abandoned = error_of([&] { emu0->Identify(); });
    EXPECT_EQ(abandoned.name, "org.cxlmgr1.Error.Timeout");
    EXPECT_NE(abandoned.message.find("emu0: no answer within 200 ms"), std::string::npos)
        << abandoned.message;
    EXPECT_TRUE(wait_pending(0));
    // The daemon's late answer finds no call and is dropped; the device then reports its
    // mailbox failed.
    EXPECT_TRUE(emu0->changes.wait_for("org.cxlmgr1.Device.State=failed"));
}

TEST_F(ServiceTest, RefusesDuplicateNamesAndCollidingPaths) {
    start({"emu_0"});
    auto duplicate = on_io([this] { return service_->add_device(devices_.at("emu_0")); });
    ASSERT_FALSE(duplicate.ok());
    EXPECT_EQ(duplicate.error().code, Errc::InvalidArgument);
    auto other = open_device("emu.0");
    auto colliding = on_io([&] { return service_->add_device(other); });
    ASSERT_FALSE(colliding.ok());
    EXPECT_EQ(colliding.error().code, Errc::InvalidArgument);
    EXPECT_NE(colliding.error().message.find("/org/cxlmgr1/devices/emu_0"), std::string::npos)
        << colliding.error().message;
    EXPECT_EQ(root_->ListDevices(), (std::vector<sdbus::ObjectPath>{"/org/cxlmgr1/devices/emu_0"}));
}

TEST_F(ServiceTest, StoppingEndsPendingCallsAndReleasesTheName) {
    start({"emu0"});
    auto emu0 = device_client("emu0");
    emu0->InjectFault("mailbox-timeout", {});
    auto identify =
        std::async(std::launch::async, [&] { return error_of([&] { emu0->Identify(); }); });
    ASSERT_TRUE(wait_pending(1));
    on_io([this] {
        service_->release_name_and_stop();
        return 0;
    });
    auto stopped = identify.get();
    EXPECT_EQ(stopped.name, "org.cxlmgr1.Error.DeviceGone");
    EXPECT_NE(stopped.message.find("stopping"), std::string::npos) << stopped.message;
    EXPECT_TRUE(root_->objects.wait_for("removed /org/cxlmgr1/devices/emu0"));
}

TEST_F(ServiceTest, RescanRunsTheDaemonsHook) {
    start({"emu0"});
    EXPECT_EQ(error_of([&] { root_->Rescan(); }).name, "org.cxlmgr1.Error.Unsupported");

    std::atomic<int> rescans{0};
    on_io([&] {
        service_->set_rescan_hook([&](Service::RescanDone done) {
            // The daemon enumerates elsewhere and answers from another thread.
            ++rescans;
            std::thread([done = std::move(done), n = rescans.load()] {
                done(n == 1 ? ok_status() : Status(Error(Errc::IoError, "libpci failed")));
            }).detach();
        });
        return 0;
    });
    EXPECT_EQ(root_->Rescan(), (std::vector<sdbus::ObjectPath>{"/org/cxlmgr1/devices/emu0"}));
    auto failed = error_of([&] { root_->Rescan(); });
    EXPECT_EQ(failed.name, "org.cxlmgr1.Error.DeviceError");
    EXPECT_NE(failed.message.find("libpci failed"), std::string::npos);
    EXPECT_EQ(rescans, 2);
}

TEST_F(ServiceTest, ASecondDaemonCannotTakeTheName) {
    start({"emu0"});
    auto status = on_io([this] {
        ServiceOptions options;
        options.bus = ServiceOptions::Bus::Address;
        options.address = address_;
        auto second = Service::create(io_, options);
        if (!second.ok()) {
            return Status(second.error());
        }
        return (*second)->request_name();
    });
    ASSERT_FALSE(status.ok());
    EXPECT_EQ(status.error().code, Errc::Busy) << status.error().message;
}

}  // namespace
}  // namespace cxlmgr::dbus::test
