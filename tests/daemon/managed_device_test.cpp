#include "daemon/managed_device.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <mutex>

#include "common/coro.hpp"
#include "cxl/command_table.hpp"
#include "cxl/commands/health.hpp"
#include "cxl/commands/timestamp.hpp"
#include "cxl/return_code.hpp"
#include "emu/event_records.hpp"
#include "emu/type3_device.hpp"
#include "tests/daemon/emulated_device_rig.hpp"
#include "tests/support/eventually.hpp"

namespace cxlmgr::daemon {
namespace {

using namespace std::chrono_literals;
using cxlmgr::testing::eventually;

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

using DeviceRig = testing::EmulatedDeviceTest;

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
    device->command(cxl::opcode::kIdentifyMemoryDevice, {}, raw.callback());
    auto r = raw.get();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->return_code, 0);
    EXPECT_GE(r->output.size(), 0x43u);

    Waiter<cxl::MailboxResponse> unknown;
    device->command(0xCAFE, {}, unknown.callback());
    auto u = unknown.get();
    ASSERT_TRUE(u.ok()) << "a non-success return code is an answer, not a transport error";
    EXPECT_EQ(u->return_code, static_cast<uint16_t>(cxl::ReturnCode::Unsupported));
}

// The mailbox channel's submissions: what reached (or queued for) the device.
uint64_t mailbox_submissions(const ManagedDevice& device) {
    for (const auto& c : device.channel_report()) {
        if (c.name.ends_with("/mailbox")) {
            return c.counters.submitted;
        }
    }
    ADD_FAILURE() << "no mailbox channel";
    return 0;
}

TEST_F(ManagedDeviceTest, CallSendsATypedCommandAndParsesTheAnswer) {
    Waiter<cxl::HealthInfo> health;
    device->call(cxl::get_health_info(), TransactionOptions{}, health.callback());
    auto h = health.get();
    ASSERT_TRUE(h.ok()) << h.error().describe();
    const emu::HealthInfo defaults;  // what the emulated device reports unless told otherwise
    EXPECT_EQ(h->life_used, defaults.life_used);
    EXPECT_EQ(h->temperature, defaults.temperature);

    // The emulated device does not implement Get Partition Info: the return code becomes an
    // error naming the command.
    Waiter<cxl::Unit> partition;
    device->call(cxl::make_command<cxl::Unit>(cxl::command_spec(cxl::opcode::kGetPartitionInfo), {},
                                              cxl::decode_nothing),
                 TransactionOptions{}, partition.callback());
    auto p = partition.get();
    ASSERT_FALSE(p.ok());
    EXPECT_EQ(p.error().code, Errc::Unsupported) << p.error().describe();
    EXPECT_EQ(p.error().cxl_return_code,
              std::optional<uint16_t>(static_cast<uint16_t>(cxl::ReturnCode::Unsupported)));
    EXPECT_NE(p.error().message.find("Get Partition Info"), std::string::npos) << p.error().message;
}

// Named options: see co_call's note on brace-initialized temporaries under GCC 12.
Task<Result<uint64_t>> set_then_get_timestamp(std::shared_ptr<ManagedDevice> device, uint64_t now) {
    const TransactionOptions options;
    CXLMGR_CO_CHECK(co_await device->co_call(cxl::set_timestamp(now), options));
    co_return co_await device->co_call(cxl::get_timestamp(), options);
}

TEST_F(ManagedDeviceTest, CoCallAwaitsTypedCommandsInSequence) {
    constexpr uint64_t kNow = 1'700'000'000'000'000'000ull;
    Waiter<uint64_t> w;
    spawn(device->mailbox_executor(), set_then_get_timestamp(device, kNow), "test timestamps",
          w.callback());
    auto r = w.get();
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_GE(*r, kNow) << "the device clock runs on from what was set";
}

TEST_F(ManagedDeviceTest, CallRefusesAnInputTheTableRefusesWithoutSendingIt) {
    const uint64_t before = mailbox_submissions(*device);

    auto short_set = cxl::set_timestamp(1);
    short_set.request.input.resize(3);
    Waiter<cxl::Unit> w;
    device->call(std::move(short_set), TransactionOptions{}, w.callback());
    auto r = w.get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::InvalidArgument);
    EXPECT_EQ(r.error().message, "emu0: Set Timestamp takes exactly 8 bytes of input, not 3");

    // The same through co_call, and an input past the payload size.
    auto big = cxl::make_command<cxl::Unit>(cxl::command_spec(cxl::opcode::kTransferFw),
                                            cxl::Bytes(device->properties().payload_size + 1),
                                            cxl::decode_nothing);
    Waiter<cxl::Unit> co;
    spawn(device->mailbox_executor(), device->co_call(std::move(big), TransactionOptions{}),
          "test transfer", co.callback());
    auto c = co.get();
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().code, Errc::InvalidArgument);
    EXPECT_NE(c.error().message.find("Transfer FW takes at most the 2048-byte payload size"),
              std::string::npos)
        << c.error().message;

    EXPECT_EQ(mailbox_submissions(*device), before) << "nothing reached the mailbox channel";
    EXPECT_EQ(device->properties().state, DeviceState::Online);
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
    // The command brings the mailbox back here, not supervision.
    options.supervision.first_probe = std::chrono::hours(1);
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

// What the properties listener announced: the state read at each notification. The listener
// holds it, so it outlives the test body (close() in TearDown announces too).
struct Announcements {
    std::mutex mutex;
    std::vector<std::pair<DeviceState, std::string>> seen;

    static std::shared_ptr<Announcements> listen(const std::shared_ptr<ManagedDevice>& device) {
        auto self = std::make_shared<Announcements>();
        std::weak_ptr<ManagedDevice> weak = device;
        device->set_properties_listener([self, weak] {
            if (auto d = weak.lock()) {
                auto p = d->properties();
                std::lock_guard lock(self->mutex);
                self->seen.emplace_back(p.state, p.state_reason);
            }
        });
        return self;
    }
    bool announced(DeviceState state) {
        std::lock_guard lock(mutex);
        return std::any_of(seen.begin(), seen.end(),
                           [state](const auto& s) { return s.first == state; });
    }
};

// Problem 5: after a doorbell timeout the mailbox used to stay out of service, and State
// failed, until somebody sent a command. Supervision probes the doorbell and brings it back.
TEST_F(DeviceRig, FailedMailboxComesBackByItself) {
    // The doorbell clears 2 s after the command, long after the 100 ms timeout: the state
    // read below is failed even on a busy machine.
    auto desc = emu::default_device_description("emu0");
    desc.timing = {{"mailbox_timeout_fault_us", 2000000}};
    ManagedDeviceOptions options;
    options.mailbox_config.doorbell_timeout = 100ms;
    open(desc, options);
    auto announcements = Announcements::listen(device);

    model->arm_fault(emu::Fault::MailboxTimeout);
    Waiter<IdentifyInfo> w;
    device->identify(w.callback());
    auto r = w.get();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Timeout) << r.error().describe();
    auto failed = device->properties();
    EXPECT_EQ(failed.state, DeviceState::Failed);
    EXPECT_EQ(failed.state_reason.rfind("emu0: the doorbell did not clear", 0), 0u)
        << failed.state_reason;
    model->clear_faults();

    // No command from here on: a probe sees the doorbell clear.
    ASSERT_TRUE(eventually([&] { return device->properties().state == DeviceState::Online; }))
        << device->properties().state_reason;
    EXPECT_EQ(device->properties().state_reason, "");
    EXPECT_TRUE(eventually([&] { return announcements->announced(DeviceState::Online); }));
    EXPECT_GE(device->supervision_probes(), 1u);

    Waiter<IdentifyInfo> again;
    device->identify(again.callback());
    auto ok = again.get();
    EXPECT_TRUE(ok.ok()) << ok.error().describe();
}

struct DeadDoeRig : DeviceRig {
    void SetUp() override {
        ManagedDeviceOptions options;
        options.doe_timeouts.busy = options.doe_timeouts.response = options.doe_timeouts.abort =
            50ms;
        open(emu::default_device_description("emu0"), options);
    }
    Result<std::shared_ptr<const CdatSnapshot>> read_cdat(bool refresh) {
        Waiter<std::shared_ptr<const CdatSnapshot>> w;
        device->cdat(refresh, w.callback());
        return w.get();
    }
};

// Problem 5: a DOE mailbox marked dead used to fail every CDAT call until the daemon restarted,
// while State said online. Now State is degraded with the reason, and the DOE comes back.
TEST_F(DeadDoeRig, DeadDoeDegradesTheDeviceUntilItComesBackByItself) {
    auto announcements = Announcements::listen(device);
    model->arm_fault(emu::Fault::DoeBusy, emu::FaultSet::kForever);
    auto r = read_cdat(true);
    ASSERT_FALSE(r.ok());
    auto p = device->properties();
    EXPECT_EQ(p.state, DeviceState::Degraded);
    EXPECT_EQ(p.state_reason.rfind("emu0: CDAT unavailable: DOE mailbox at 0x110 is dead (", 0), 0u)
        << p.state_reason;
    EXPECT_TRUE(announcements->announced(DeviceState::Degraded));
    // Busy stays stuck: every probe's Abort fails, the device stays degraded.
    ASSERT_TRUE(eventually([&] { return device->supervision_probes() >= 2; }));
    EXPECT_EQ(device->properties().state, DeviceState::Degraded);
    EXPECT_FALSE(read_cdat(true).ok());

    model->clear_faults();
    ASSERT_TRUE(eventually([&] { return device->properties().state == DeviceState::Online; }))
        << device->properties().state_reason;
    EXPECT_EQ(device->properties().state_reason, "");
    EXPECT_TRUE(eventually([&] { return announcements->announced(DeviceState::Online); }));
    auto table = read_cdat(true);
    ASSERT_TRUE(table.ok()) << table.error().describe();
    EXPECT_EQ((*table)->raw.size(), (*table)->table.header.length);
}

// The brief's sequence: doe-busy twice (the exchange's Abort uses up one, so it dies), then
// the faults cleared: CDAT is readable again without a restart.
TEST_F(DeadDoeRig, CdatIsReadableAgainAfterTheFaultsAreCleared) {
    model->arm_fault(emu::Fault::DoeBusy, 2);
    ASSERT_FALSE(read_cdat(true).ok());
    model->clear_faults();
    ASSERT_TRUE(eventually([&] { return device->properties().state == DeviceState::Online; }))
        << device->properties().state_reason;
    auto table = read_cdat(true);
    EXPECT_TRUE(table.ok()) << table.error().describe();
}

// close() is where supervision ends: a supervision wait of an hour must not hold up the pool
// (the arbiter's shutdown joins it), and a probe in flight is drained before `drained` runs.
TEST_F(DeviceRig, CloseEndsAPendingSupervisionWait) {
    ManagedDeviceOptions options;
    options.doe_timeouts.busy = options.doe_timeouts.response = options.doe_timeouts.abort = 50ms;
    options.supervision.first_probe = std::chrono::hours(1);
    open(emu::default_device_description("emu0"), options);
    model->arm_fault(emu::Fault::DoeBusy, emu::FaultSet::kForever);
    Waiter<std::shared_ptr<const CdatSnapshot>> w;
    device->cdat(true, w.callback());
    ASSERT_FALSE(w.get().ok());
    ASSERT_EQ(device->properties().state, DeviceState::Degraded);

    std::promise<void> drained;
    device->close([&] { drained.set_value(); });
    ASSERT_EQ(drained.get_future().wait_for(20s), std::future_status::ready);
    EXPECT_EQ(device->properties().state, DeviceState::Gone);
    device.reset();
    auto shutdown = std::async(std::launch::async, [this] { arbiter.shutdown(); });
    EXPECT_EQ(shutdown.wait_for(20s), std::future_status::ready)
        << "something of the closed device is still pending on the pool";
}

TEST_F(DeviceRig, CloseWhileProbingDrainsTheProbe) {
    ManagedDeviceOptions options;
    options.doe_timeouts.busy = options.doe_timeouts.response = options.doe_timeouts.abort = 50ms;
    options.supervision.first_probe = 1ms;
    options.supervision.max_interval = 1ms;
    open(emu::default_device_description("emu0"), options);
    model->arm_fault(emu::Fault::DoeBusy, emu::FaultSet::kForever);
    Waiter<std::shared_ptr<const CdatSnapshot>> w;
    device->cdat(true, w.callback());
    ASSERT_FALSE(w.get().ok());
    // Each probe is a 50 ms Abort that fails: one is in flight most of the time.
    ASSERT_TRUE(eventually([&] { return device->supervision_probes() >= 3; }));

    std::promise<void> drained;
    device->close([&] { drained.set_value(); });
    ASSERT_EQ(drained.get_future().wait_for(20s), std::future_status::ready);
    const auto probes = device->supervision_probes();
    auto shutdown = std::async(std::launch::async, [this] { arbiter.shutdown(); });
    ASSERT_EQ(shutdown.wait_for(20s), std::future_status::ready);
    EXPECT_EQ(device->supervision_probes(), probes) << "a probe ran after close() drained";
    EXPECT_EQ(device->properties().state, DeviceState::Gone);
    device.reset();
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

}  // namespace
}  // namespace cxlmgr::daemon
