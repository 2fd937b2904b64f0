#include "daemon/managed_device.hpp"

#include <gtest/gtest.h>

#include <future>

#include "emu/type3_device.hpp"

namespace cxlmgr::daemon {
namespace {

using namespace std::chrono_literals;

template <typename T>
struct Waiter {
    std::promise<Result<T>> promise;
    std::function<void(Result<T>)> callback() {
        return [this](Result<T> r) { promise.set_value(std::move(r)); };
    }
    Result<T> get() {
        auto f = promise.get_future();
        if (f.wait_for(20s) != std::future_status::ready) {
            return Error(Errc::Timeout, "test: no answer within 20 s");
        }
        return f.get();
    }
};

struct DeviceRig : ::testing::Test {
    Arbiter arbiter{2};
    std::shared_ptr<ManagedDevice> device;
    std::shared_ptr<emu::Type3Device> model;

    void open(emu::DeviceDescription desc, ManagedDeviceOptions options = {}) {
        DeviceSpec spec;
        spec.emulated = std::move(desc);
        auto opened = open_device(spec);
        ASSERT_TRUE(opened.ok()) << opened.error().describe();
        model = opened->emulator;
        Waiter<std::shared_ptr<ManagedDevice>> w;
        ManagedDevice::async_open(arbiter, std::move(opened).value(), options, w.callback());
        auto r = w.get();
        ASSERT_TRUE(r.ok()) << r.error().describe();
        device = *r;
    }
    void TearDown() override {
        if (device) {
            std::promise<void> drained;
            device->close([&] { drained.set_value(); });
            drained.get_future().wait();
        }
        arbiter.shutdown();
    }
};

struct ManagedDeviceTest : DeviceRig {
    void SetUp() override {
        auto desc = emu::default_device_description("emu0");
        desc.serial = 0xabcdef;
        open(desc);
    }
};

TEST_F(ManagedDeviceTest, OpensWithPropertiesFromTheDevice) {
    auto p = device->properties();
    EXPECT_EQ(p.name, "emu0");
    EXPECT_EQ(p.backend, "emulated");
    EXPECT_EQ(p.vendor_id, 0x8086);
    EXPECT_EQ(p.serial, 0xabcdefu);
    EXPECT_EQ(p.state, DeviceState::Online) << p.state_reason;
    EXPECT_EQ(p.payload_size, 2048u);
    EXPECT_EQ(p.firmware_revision, "EMU FW 1.0");
    ASSERT_TRUE(p.firmware.has_value());
    EXPECT_EQ(p.firmware->active_slot, 1);
    EXPECT_TRUE(device->has_cdat());
}

TEST_F(ManagedDeviceTest, IdentifyHealthAndRawCommands) {
    Waiter<IdentifyInfo> id;
    device->identify(id.callback());
    auto identity = id.get();
    ASSERT_TRUE(identity.ok()) << identity.error().describe();
    EXPECT_EQ(identity->total_capacity, emu::kCapacityUnit);
    EXPECT_EQ(identity->fw_revision, "EMU FW 1.0");

    Waiter<HealthInfo> health;
    device->health(health.callback());
    auto h = health.get();
    ASSERT_TRUE(h.ok()) << h.error().describe();
    EXPECT_EQ(h->temperature, emu::HealthInfo{}.temperature);

    Waiter<cxl::MailboxResponse> raw;
    device->command(0x4000, {}, raw.callback());
    auto r = raw.get();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->return_code, 0);
    EXPECT_GE(r->output.size(), 0x43u);

    Waiter<cxl::MailboxResponse> unknown;
    device->command(0xCAFE, {}, unknown.callback());
    auto u = unknown.get();
    ASSERT_TRUE(u.ok()) << "a non-success return code is an answer, not a transport error";
    EXPECT_EQ(u->return_code, 0x03);
}

TEST_F(ManagedDeviceTest, CdatIsReadOnceAndCached) {
    Waiter<std::shared_ptr<const CdatSnapshot>> first;
    device->cdat(false, first.callback());
    auto a = first.get();
    ASSERT_TRUE(a.ok()) << a.error().describe();
    EXPECT_EQ((*a)->raw.size(), (*a)->table.header.length);
    auto before = device->channel_report();
    Waiter<std::shared_ptr<const CdatSnapshot>> second;
    device->cdat(false, second.callback());
    auto b = second.get();
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(a->get(), b->get()) << "served from the cache";
    auto after = device->channel_report();
    ASSERT_EQ(before.size(), after.size());
    for (size_t i = 0; i < before.size(); ++i) {
        EXPECT_EQ(before[i].counters.submitted, after[i].counters.submitted) << before[i].name;
    }
}

TEST_F(ManagedDeviceTest, BadCdatChecksumIsADeviceErrorNamingTheFault) {
    model->arm_fault(emu::Fault::BadCdatChecksum, emu::FaultSet::kForever);
    Waiter<std::shared_ptr<const CdatSnapshot>> w;
    device->cdat(true, w.callback());
    auto r = w.get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceError);
    EXPECT_NE(r.error().message.find("checksum"), std::string::npos) << r.error().message;
    EXPECT_EQ(device->cached_cdat(), nullptr);
    model->clear_faults();
    Waiter<std::shared_ptr<const CdatSnapshot>> again;
    device->cdat(false, again.callback());
    EXPECT_TRUE(again.get().ok());
}

TEST_F(DeviceRig, StuckDoorbellFailsTheMailboxThenItRecovers) {
    auto desc = emu::default_device_description("stuck");
    desc.timing = {{"mailbox_timeout_fault_us", 300000}};
    ManagedDeviceOptions options;
    options.mailbox_config.doorbell_timeout = 100ms;
    open(desc, options);
    model->arm_fault(emu::Fault::MailboxTimeout);
    Waiter<IdentifyInfo> w;
    device->identify(w.callback());
    auto r = w.get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Timeout) << r.error().describe();
    EXPECT_EQ(device->properties().state, DeviceState::Failed);
    std::this_thread::sleep_for(400ms);  // the emulated doorbell clears after 300 ms
    Waiter<IdentifyInfo> later;
    device->identify(later.callback());
    auto ok = later.get();
    ASSERT_TRUE(ok.ok()) << ok.error().describe();
    EXPECT_EQ(device->properties().state, DeviceState::Online);
}

TEST_F(ManagedDeviceTest, SurpriseRemovalMarksTheDeviceGone) {
    model->arm_fault(emu::Fault::SurpriseRemoval, emu::FaultSet::kForever);
    Waiter<IdentifyInfo> w;
    device->identify(w.callback());
    auto r = w.get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::DeviceGone) << r.error().describe();
    EXPECT_EQ(device->properties().state, DeviceState::Gone);
}

TEST(RawCommandPolicy, OnlyReadingOpcodesPassWithoutAllowRawWrites) {
    EXPECT_TRUE(raw_command_is_read_only(0x4000));
    EXPECT_TRUE(raw_command_is_read_only(0x0200));
    EXPECT_FALSE(raw_command_is_read_only(0x0201));  // Transfer FW
    EXPECT_FALSE(raw_command_is_read_only(0x0202));  // Activate FW
    EXPECT_FALSE(raw_command_is_read_only(0x0101));  // Clear Event Records: the collector's
    EXPECT_FALSE(raw_command_is_read_only(0x4400));  // Sanitize
    EXPECT_FALSE(raw_command_is_read_only(0xC000));  // vendor: unknown effects
}

}  // namespace
}  // namespace cxlmgr::daemon
