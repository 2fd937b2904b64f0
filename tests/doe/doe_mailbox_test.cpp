// The DOE transport against the emulated device (through pci::EmulatedDevice, finding the
// capability by walking the list), including every DOE fault the device can show.
#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>

#include "doe/doe_registers.hpp"
#include "tests/doe/doe_test_support.hpp"
#include "tests/doe/fake_doe_config.hpp"

namespace cxlmgr::testing {
namespace {

using emu::Fault;
using Clock = std::chrono::steady_clock;

::testing::AssertionResult has_error(const Result<doe::DoeResponse>& r, Errc code,
                                     const std::string& substring) {
    if (r.ok()) {
        return ::testing::AssertionFailure() << "expected an error, got success";
    }
    if (r.error().code != code || r.error().message.find(substring) == std::string::npos) {
        return ::testing::AssertionFailure() << "expected " << errc_name(code) << " containing '"
                                             << substring << "', got " << r.error().describe();
    }
    return ::testing::AssertionSuccess();
}

struct DoeMailboxTest : ::testing::Test {
    EmuDoe emu;
    void SetUp() override { ASSERT_EQ(emu.init(), ""); }

    void expect_usable() {
        EXPECT_FALSE(emu.mailbox->dead());
        EXPECT_FALSE(emu.mailbox->in_flight());
        auto r = emu.exchange(discovery_request(0));
        ASSERT_TRUE(r.ok()) << r.error().describe();
        EXPECT_EQ(r->payload.at(0), 0x01000001u);
    }
};

TEST_F(DoeMailboxTest, DiscoveryExchangeAndItsConfigAccesses) {
    auto r = emu.exchange(discovery_request(1));
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->protocol, doe::kProtocolDiscovery);
    ASSERT_EQ(r->payload.size(), 1u);
    EXPECT_EQ(r->payload[0], 0x1E98u | (2u << 16));  // CXL Table Access, next index 0
    // status on entry, one poll, 3 dwords, Ready before the last ack, status after;
    // 3 request dwords + Go, 3 acks.
    EXPECT_EQ(emu.config->reads, 7u);
    EXPECT_EQ(emu.config->writes, 7u);
    EXPECT_EQ(emu.config->abort_writes, 0u);
}

TEST_F(DoeMailboxTest, BusyStuckUntilAbortIsReportedAndTheMailboxStaysUsable) {
    emu.model->arm_fault(Fault::DoeBusy, 1);  // one Abort clears it
    auto start = Clock::now();
    auto r = emu.exchange(discovery_request(0));
    EXPECT_TRUE(has_error(r, Errc::Busy, "Busy stayed set for 50 ms before the request"));
    EXPECT_TRUE(has_error(r, Errc::Busy, "mailbox aborted and usable again"));
    EXPECT_TRUE(has_error(r, Errc::Busy, "DOE mailbox at 0x110"));
    EXPECT_GE(Clock::now() - start, 50ms);
    EXPECT_EQ(emu.config->abort_writes, 1u);
    expect_usable();
}

TEST_F(DoeMailboxTest, BusyStuckForeverKillsTheMailbox) {
    emu.model->arm_fault(Fault::DoeBusy, emu::FaultSet::kForever);
    auto r = emu.exchange(discovery_request(0));
    EXPECT_TRUE(has_error(r, Errc::Busy, "Busy stayed set for 50 ms"));
    EXPECT_TRUE(has_error(r, Errc::Busy, "the Abort did not complete within 50 ms"));
    EXPECT_TRUE(has_error(r, Errc::Busy, "mailbox marked dead"));
    EXPECT_TRUE(emu.mailbox->dead());
    ASSERT_TRUE(emu.mailbox->dead_reason().has_value());

    // Dead means every later exchange fails at once, without touching the device.
    emu.model->clear_faults();
    auto accesses = emu.config->reads + emu.config->writes;
    auto again = emu.exchange(discovery_request(0));
    EXPECT_TRUE(
        has_error(again, Errc::DeviceError, "DOE mailbox at 0x110 is dead after an earlier"));
    EXPECT_EQ(emu.config->reads + emu.config->writes, accesses);
}

// Dead is not forever: async_revive tries an Abort, and the mailbox serves exchanges again once
// one completes (the daemon's supervision calls it with backoff).
TEST_F(DoeMailboxTest, DeadMailboxIsRevivedOnceAnAbortCompletes) {
    auto revive = [&] {
        return emu.run<void>([&](auto cb) { emu.mailbox->async_revive(std::move(cb)); });
    };
    ASSERT_TRUE(revive().ok()) << "reviving a live mailbox has nothing to do";
    EXPECT_EQ(emu.config->abort_writes, 0u);

    emu.model->arm_fault(Fault::DoeBusy, emu::FaultSet::kForever);
    ASSERT_FALSE(emu.exchange(discovery_request(0)).ok());
    ASSERT_TRUE(emu.mailbox->dead());

    // Still stuck: the Abort does not complete, the mailbox stays dead with the reason.
    auto stuck = revive();
    ASSERT_FALSE(stuck.ok());
    EXPECT_NE(stuck.error().message.find("DOE mailbox at 0x110 stays dead: the Abort did not "
                                         "complete within 50 ms"),
              std::string::npos)
        << stuck.error().describe();
    EXPECT_TRUE(emu.mailbox->dead());
    EXPECT_FALSE(emu.mailbox->in_flight());

    emu.model->clear_faults();
    auto aborts = emu.config->abort_writes;
    auto revived = revive();
    ASSERT_TRUE(revived.ok()) << revived.error().describe();
    EXPECT_EQ(emu.config->abort_writes, aborts + 1);
    EXPECT_FALSE(emu.mailbox->dead_reason().has_value());
    expect_usable();
}

TEST_F(DoeMailboxTest, ErrorBitIsAbortedAndCleared) {
    emu.model->arm_fault(Fault::DoeError);
    auto r = emu.exchange(discovery_request(0));
    EXPECT_TRUE(has_error(r, Errc::DeviceError, "device set the Error bit"));
    EXPECT_TRUE(has_error(r, Errc::DeviceError, "mailbox aborted and usable again"));
    EXPECT_EQ(emu.config->abort_writes, 1u);
    expect_usable();
}

TEST_F(DoeMailboxTest, NeverReadyTimesOutAndAborts) {
    emu.model->arm_fault(Fault::DoeNeverReady);
    auto start = Clock::now();
    auto r = emu.exchange(discovery_request(0));
    auto elapsed = Clock::now() - start;
    EXPECT_TRUE(has_error(r, Errc::Timeout, "no Data Object Ready within 50 ms of Go"));
    EXPECT_TRUE(has_error(r, Errc::Timeout, "mailbox aborted and usable again"));
    EXPECT_GE(elapsed, 50ms);
    // Far above the limit, so a loaded machine cannot fail it; a hang would still show.
    EXPECT_LT(elapsed, 5s);
    EXPECT_EQ(emu.config->abort_writes, 1u);
    expect_usable();
}

TEST(DoeMailboxDefaults, NeverReadyWithTheDefaultOneSecondLimitPollsWithoutSpinning) {
    EmuDoe emu;
    ASSERT_EQ(emu.init(emu::default_device_description("emu0"), doe::DoeTimeouts{}), "");
    emu.model->arm_fault(Fault::DoeNeverReady);
    auto start = Clock::now();
    auto r = emu.exchange(discovery_request(0));
    auto elapsed = Clock::now() - start;
    EXPECT_TRUE(has_error(r, Errc::Timeout, "no Data Object Ready within 1000 ms of Go"));
    EXPECT_GE(elapsed, 1000ms);
    EXPECT_LT(elapsed, 5s);
    // Backoff from 10 us capped at 8 ms: ~10 ramp-up checks plus ~125 at the cap, never a spin.
    // A loaded machine fires the timers late and so reads less, never more: only the upper
    // bound is exact; the lower one says the wait kept checking at all.
    EXPECT_LT(emu.config->reads, 250u);
    EXPECT_GT(emu.config->reads, 10u);
    EXPECT_FALSE(emu.mailbox->dead());
}

TEST_F(DoeMailboxTest, ResponseShorterThanItsLengthIsMalformed) {
    emu.model->arm_fault(Fault::DoeLengthLie);
    auto request = discovery_request(0);
    request.max_response_dwords = 16;  // room for the lie: the data itself must expose it
    auto r = emu.exchange(request);
    EXPECT_TRUE(has_error(r, Errc::DeviceError, "malformed response"));
    EXPECT_TRUE(has_error(r, Errc::DeviceError, "the device ran out of data"));
    EXPECT_TRUE(has_error(r, Errc::DeviceError, "of the 5 its header announced"));
    EXPECT_EQ(emu.config->abort_writes, 1u);
    expect_usable();

    // With Discovery's exact 3-dword buffer the lie is already refused at the header.
    emu.model->arm_fault(Fault::DoeLengthLie);
    auto tight = emu.exchange(discovery_request(0));
    EXPECT_TRUE(has_error(tight, Errc::DeviceError, "oversized response: 5 dwords exceed the 3"));
    expect_usable();
}

TEST_F(DoeMailboxTest, OversizedResponseIsRefusedAndAborted) {
    // CDAT handle 1 is a 24-byte DSMAS: 2 + 1 + 6 = 9 dwords.
    doe::DoeRequest request{doe::kProtocolCdat, {doe::cdat_read_request(1)}, 5};
    auto r = emu.exchange(request);
    EXPECT_TRUE(has_error(r, Errc::DeviceError, "oversized response: 9 dwords exceed the 5-dword"));
    EXPECT_EQ(emu.config->abort_writes, 1u);
    expect_usable();
}

TEST_F(DoeMailboxTest, SurpriseRemovalIsDeviceGoneWithoutAbort) {
    emu.model->arm_fault(Fault::SurpriseRemoval, emu::FaultSet::kForever);
    auto r = emu.exchange(discovery_request(0));
    EXPECT_TRUE(has_error(r, Errc::DeviceGone, "all-ones"));
    EXPECT_EQ(emu.config->abort_writes, 0u);
    EXPECT_EQ(emu.config->writes, 0u);
    EXPECT_TRUE(emu.mailbox->dead());
    auto again = emu.exchange(discovery_request(0));
    EXPECT_TRUE(has_error(again, Errc::DeviceGone, "is dead"));
}

TEST_F(DoeMailboxTest, RemovalWhileWaitingStopsAtOnce) {
    ASSERT_EQ(emu.init(
                  [] {
                      auto d = emu::default_device_description("emu0");
                      d.timing["doe_response_us"] = 5000000;
                      return d;
                  }(),
                  [] {
                      auto t = fast_timeouts();
                      t.response = 10000ms;  // the removal, not the limit, must end the wait
                      return t;
                  }()),
              "");
    boost::asio::steady_timer pull(emu.io, 5ms);
    pull.async_wait([&](auto) { emu.model->arm_fault(Fault::SurpriseRemoval, 1); });
    auto start = Clock::now();
    auto r = emu.exchange(discovery_request(0));
    EXPECT_TRUE(has_error(r, Errc::DeviceGone, "all-ones"));
    // The response would take 5 s: ending well before it means the removal was seen while
    // waiting, however loaded the machine.
    EXPECT_LT(Clock::now() - start, 4s);
    EXPECT_EQ(emu.config->abort_writes, 0u);
    EXPECT_TRUE(emu.mailbox->dead());
}

TEST_F(DoeMailboxTest, SecondConcurrentExchangeFailsWithBusy) {
    std::optional<Result<doe::DoeResponse>> first, second;
    emu.mailbox->async_exchange(discovery_request(0), {}, [&](auto r) { first.emplace(r); });
    EXPECT_TRUE(emu.mailbox->in_flight());
    emu.mailbox->async_exchange(discovery_request(1), {}, [&](auto r) { second.emplace(r); });
    EXPECT_FALSE(second.has_value()) << "callbacks never run inline";
    emu.io.run();
    ASSERT_TRUE(first && second);
    EXPECT_TRUE(first->ok());
    EXPECT_TRUE(has_error(*second, Errc::Busy, "another exchange is in flight"));
    EXPECT_FALSE(emu.mailbox->in_flight());
}

TEST_F(DoeMailboxTest, CancelBeforeStartTouchesNothing) {
    CancelToken cancel;
    cancel.cancel();
    auto r = emu.exchange(discovery_request(0), cancel);
    EXPECT_TRUE(has_error(r, Errc::Cancelled, "before the request was sent"));
    EXPECT_EQ(emu.config->reads + emu.config->writes, 0u);
}

TEST_F(DoeMailboxTest, CancelWhileWaitingAbortsTheExchange) {
    auto desc = emu::default_device_description("emu0");
    desc.timing["doe_response_us"] = 5000000;
    auto timeouts = fast_timeouts();
    timeouts.response = 10000ms;
    ASSERT_EQ(emu.init(desc, timeouts), "");
    CancelToken cancel;
    boost::asio::steady_timer timer(emu.io, 5ms);
    timer.async_wait([&](auto) { cancel.cancel(); });
    auto start = Clock::now();
    auto r = emu.exchange(discovery_request(0), cancel);
    EXPECT_TRUE(has_error(r, Errc::Cancelled, "cancelled while waiting for the response"));
    EXPECT_LT(Clock::now() - start, 4s);  // the response would take 5 s
    EXPECT_EQ(emu.config->abort_writes, 1u);
    EXPECT_FALSE(emu.mailbox->dead());
    auto status = emu.device->config().read32(emu.mailbox->offset() + doe::kRegStatus);
    ASSERT_TRUE(status.ok());
    EXPECT_EQ(*status, 0u) << "the abort left the device idle";
}

TEST_F(DoeMailboxTest, SlowDeviceIsPolledWithBackoff) {
    auto desc = emu::default_device_description("emu0");
    desc.timing["doe_response_us"] = 5000;
    ASSERT_EQ(emu.init(desc), "");
    auto r = emu.exchange(discovery_request(0));
    ASSERT_TRUE(r.ok()) << r.error().describe();
    // 5 ms with checks at 10, 20, 40 ... us capped at 2 ms: about a dozen status reads.
    EXPECT_LT(emu.config->reads, 30u);
}

TEST_F(DoeMailboxTest, StaleResponseOnEntryIsAbortedFirst) {
    auto& cs = emu.device->config();
    uint32_t base = emu.mailbox->offset();
    ASSERT_TRUE(cs.write32(base + doe::kRegWriteMailbox, 0x00000001).ok());
    ASSERT_TRUE(cs.write32(base + doe::kRegWriteMailbox, 3).ok());
    ASSERT_TRUE(cs.write32(base + doe::kRegWriteMailbox, 1).ok());
    ASSERT_TRUE(cs.write32(base + doe::kRegControl, doe::kControlGo).ok());
    // Someone else's answer (index 1) is waiting; ours must not be confused with it.
    auto r = emu.exchange(discovery_request(0));
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->payload.at(0), 0x01000001u);
    EXPECT_EQ(emu.config->abort_writes, 1u);
}

TEST_F(DoeMailboxTest, StaleErrorOnEntryIsAbortedFirst) {
    auto& cs = emu.device->config();
    uint32_t base = emu.mailbox->offset();
    // Someone sent a request for a protocol the device does not speak: Error is left set.
    ASSERT_TRUE(cs.write32(base + doe::kRegWriteMailbox, 0x00051234).ok());
    ASSERT_TRUE(cs.write32(base + doe::kRegWriteMailbox, 2).ok());
    ASSERT_TRUE(cs.write32(base + doe::kRegControl, doe::kControlGo).ok());
    ASSERT_EQ(*cs.read32(base + doe::kRegStatus), doe::kStatusError);
    auto r = emu.exchange(discovery_request(0));
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(emu.config->abort_writes, 1u);
}

TEST_F(DoeMailboxTest, ConfigReadFailureOnEntryPropagatesWithoutAbort) {
    emu.config->fail_at = 0;
    auto r = emu.exchange(discovery_request(0));
    EXPECT_TRUE(has_error(r, Errc::IoError, "injected config read failure"));
    EXPECT_EQ(emu.config->abort_writes, 0u);
    EXPECT_FALSE(emu.mailbox->dead());
}

TEST_F(DoeMailboxTest, ConfigWriteFailureWhileSendingAborts) {
    emu.config->fail_at = 2;  // entry status read, DW0 write, then the DW1 write fails
    auto r = emu.exchange(discovery_request(0));
    EXPECT_TRUE(has_error(r, Errc::IoError, "sending the request: injected config write failure"));
    EXPECT_EQ(emu.config->abort_writes, 1u);
    emu.config->fail_at.reset();
    expect_usable();
}

TEST_F(DoeMailboxTest, RequestLongerThanTheMaximumIsRefused) {
    doe::DoeRequest request{doe::kProtocolDiscovery, std::vector<uint32_t>(doe::kMaxObjectDwords),
                            8};
    auto r = emu.exchange(request);
    EXPECT_TRUE(has_error(r, Errc::InvalidArgument, "exceeds the 2^18-dword maximum"));
    EXPECT_EQ(emu.config->writes, 0u);
}

TEST(DoeMailboxCreate, RefusesWhatIsNotADoeCapability) {
    EmuDoe emu;
    ASSERT_EQ(emu.init(), "");
    auto not_doe = doe::DoeMailbox::create("emu0", emu.io.get_executor(), emu.config, 0x100);
    ASSERT_FALSE(not_doe.ok());
    EXPECT_EQ(not_doe.error().code, Errc::NotFound);
    EXPECT_NE(not_doe.error().message.find("not DOE"), std::string::npos);
    auto misaligned = doe::DoeMailbox::create("emu0", emu.io.get_executor(), emu.config, 0x112);
    ASSERT_FALSE(misaligned.ok());
    EXPECT_EQ(misaligned.error().code, Errc::InvalidArgument);
    EXPECT_EQ(emu.mailbox->capability_version(), 1);
}

TEST(DoeResponseHeader, Validation) {
    using doe::check_response_header;
    auto ok = check_response_header(0x00000001, 3, doe::kProtocolDiscovery, 3);
    ASSERT_TRUE(ok.ok());
    EXPECT_EQ(*ok, 3u);
    auto wrong = check_response_header(0x00021E98, 3, doe::kProtocolDiscovery, 3);
    ASSERT_FALSE(wrong.ok());
    EXPECT_NE(wrong.error().message.find("protocol 1e98:02 answers a request for 0001:00"),
              std::string::npos);
    auto short_len = check_response_header(0x00000001, 1, doe::kProtocolDiscovery, 3);
    ASSERT_FALSE(short_len.ok());
    EXPECT_NE(short_len.error().message.find("shorter than the 2-dword header"), std::string::npos);
    // 0 encodes 2^18 dwords; reserved bits above the length are ignored.
    auto max = check_response_header(0x00000001, 0xFFFC0000u, doe::kProtocolDiscovery, 1u << 18);
    ASSERT_TRUE(max.ok());
    EXPECT_EQ(*max, 1u << 18);
    auto big = check_response_header(0x00000001, 0, doe::kProtocolDiscovery, 100);
    ASSERT_FALSE(big.ok());
    EXPECT_NE(big.error().message.find("262144 dwords exceed the 100-dword buffer"),
              std::string::npos);
}

TEST(DoeMailboxFake, ResponseForAnotherProtocolIsAbortedAndReported) {
    boost::asio::io_context io;
    auto fake = std::make_shared<FakeDoeConfig>([](const std::vector<uint32_t>&) {
        return std::vector<uint32_t>{0x00021E98, 3, 0};
    });
    auto mb = doe::DoeMailbox::create("fake", io.get_executor(), fake, FakeDoeConfig::kDoe,
                                      fast_timeouts());
    ASSERT_TRUE(mb.ok());
    std::optional<Result<doe::DoeResponse>> out;
    (*mb)->async_exchange(discovery_request(0), {}, [&](auto r) { out.emplace(r); });
    io.run();
    ASSERT_TRUE(out.has_value());
    EXPECT_TRUE(
        has_error(*out, Errc::DeviceError, "protocol 1e98:02 answers a request for 0001:00"));
    EXPECT_EQ(fake->aborts, 1u);
}

TEST(DoeMailboxFake, ExtraDataAfterTheAnnouncedLengthIsMalformed) {
    boost::asio::io_context io;
    auto fake = std::make_shared<FakeDoeConfig>([](const std::vector<uint32_t>&) {
        return std::vector<uint32_t>{0x00000001, 3, 0x01000001, 0xDEAD};
    });
    auto mb = doe::DoeMailbox::create("fake", io.get_executor(), fake, FakeDoeConfig::kDoe,
                                      fast_timeouts());
    ASSERT_TRUE(mb.ok());
    std::optional<Result<doe::DoeResponse>> out;
    (*mb)->async_exchange(discovery_request(0), {}, [&](auto r) { out.emplace(r); });
    io.run();
    ASSERT_TRUE(out.has_value());
    EXPECT_TRUE(has_error(*out, Errc::DeviceError, "more data than the 3 dwords"));
    EXPECT_EQ(fake->aborts, 1u);
}

}  // namespace
}  // namespace cxlmgr::testing
