// The emulated DOE responder at register level: what a host sees in the DOE capability's
// registers, dword by dword, with a clock the test moves by hand.
#include <gtest/gtest.h>

#include "emu/doe_responder.hpp"
#include "emu/type3_device.hpp"

namespace cxlmgr::emu {
namespace {

using namespace std::chrono_literals;

constexpr uint32_t kCtl = Type3Device::kDoeOffset + 0x08;
constexpr uint32_t kSts = Type3Device::kDoeOffset + 0x0C;
constexpr uint32_t kWmb = Type3Device::kDoeOffset + 0x10;
constexpr uint32_t kRmb = Type3Device::kDoeOffset + 0x14;
constexpr uint32_t kBusy = 1, kError = 4, kReady = 0x80000000u;
constexpr uint32_t kGo = 0x80000000u, kAbort = 1;

struct Host {
    std::chrono::steady_clock::time_point now{};
    std::shared_ptr<Type3Device> dev;

    explicit Host(DeviceDescription d = default_device_description("emu0")) {
        auto r = Type3Device::create(std::move(d), [this] { return now; });
        EXPECT_TRUE(r.ok()) << r.error().describe();
        if (r.ok())
            dev = *r;
    }
    uint32_t status() { return dev->config_read(kSts, 4); }
    void send(const std::vector<uint32_t>& dws) {
        for (auto dw : dws)
            dev->config_write(kWmb, 4, dw);
        dev->config_write(kCtl, 4, kGo);
    }
    // Reads dwords while Ready is set.
    std::vector<uint32_t> receive() {
        std::vector<uint32_t> out;
        while (status() & kReady) {
            out.push_back(dev->config_read(kRmb, 4));
            dev->config_write(kRmb, 4, 0);
        }
        return out;
    }
    std::vector<uint32_t> cdat_entry(uint16_t handle) {
        send({0x00021E98, 3, static_cast<uint32_t>(handle) << 16});
        return receive();
    }
};

TEST(DoeResponder, DiscoveryListsBothProtocolsThenAnOutOfRangeMarker) {
    Host h;
    EXPECT_EQ(h.status(), 0u);
    h.send({0x00000001, 3, 0});
    EXPECT_EQ(h.status(), kReady);
    EXPECT_EQ(h.receive(), (std::vector<uint32_t>{0x00000001, 3, 0x01000001}));
    EXPECT_EQ(h.status(), 0u) << "Ready clears after the last dword";
    h.send({0x00000001, 3, 1 | (2 << 8)});  // discovery version 2 is accepted too
    EXPECT_EQ(h.receive(), (std::vector<uint32_t>{0x00000001, 3, 0x00021E98}));
    h.send({0x00000001, 3, 2});
    EXPECT_EQ(h.receive(), (std::vector<uint32_t>{0x00000001, 3, 0x00FFFFFF}));
}

TEST(DoeResponder, CdatHandleChainServesTheBuiltTable) {
    Host h;
    const auto image = h.dev->with_parts([](DeviceContext&, RegisterBlock* doe, MailboxBlock*) {
        return static_cast<DoeResponder*>(doe)->cdat();
    });
    ASSERT_EQ(image.entries.size(), 7u);
    std::vector<uint8_t> assembled;
    uint32_t handle = 0;
    for (int guard = 0; guard < 10 && handle != 0xFFFF; ++guard) {
        auto rsp = h.cdat_entry(static_cast<uint16_t>(handle));
        ASSERT_GE(rsp.size(), 3u);
        EXPECT_EQ(rsp[0], 0x00021E98u);
        EXPECT_EQ(rsp[1], rsp.size());
        EXPECT_EQ(rsp[2] & 0xFFFF, 0u);
        for (size_t i = 3; i < rsp.size(); ++i) {
            for (int b = 0; b < 4; ++b)
                assembled.push_back(static_cast<uint8_t>(rsp[i] >> (8 * b)));
        }
        handle = rsp[2] >> 16;
    }
    EXPECT_EQ(handle, 0xFFFFu);
    EXPECT_EQ(assembled, image.table);
    EXPECT_EQ(assembled.size(), 160u);
    uint8_t sum = 0;
    for (auto b : assembled)
        sum = static_cast<uint8_t>(sum + b);
    EXPECT_EQ(sum, 0);
    // A handle past the table is refused with Error (QEMU 7.2 crashes instead).
    h.cdat_entry(7);
    EXPECT_EQ(h.status(), kError);
}

TEST(DoeResponder, ResponseDelayKeepsBusyUntilItPasses) {
    auto d = default_device_description("emu0");
    d.timing["doe_response_us"] = 100;
    Host h(d);
    h.send({0x00000001, 3, 0});
    EXPECT_EQ(h.status(), kBusy);
    h.now += 99us;
    EXPECT_EQ(h.status(), kBusy);
    EXPECT_EQ(h.dev->config_read(kRmb, 4), 0u);
    EXPECT_EQ(h.status(), kBusy | kError) << "reading with nothing ready is an error";
    h.dev->config_write(kCtl, 4, kAbort);
    h.send({0x00000001, 3, 0});
    h.now += 100us;
    EXPECT_EQ(h.status(), kReady);
    EXPECT_EQ(h.receive().size(), 3u);
}

TEST(DoeResponder, LengthMismatchIsSilentlyDiscarded) {
    Host h;
    h.send({0x00000001, 4, 0});  // says 4 dwords, 3 written
    h.now += 1s;
    EXPECT_EQ(h.status(), 0u);
    h.send({0x00000001, 2, 0});  // says 2 dwords, 3 written
    EXPECT_EQ(h.status(), 0u);
    h.send({0x00000001});  // no length at all
    EXPECT_EQ(h.status(), 0u);
    h.send({0x00000001, 3, 0});  // the mailbox still works
    EXPECT_EQ(h.receive().size(), 3u);
}

TEST(DoeResponder, OnlyDwordAccessesCount) {
    Host h;
    h.dev->config_write(kWmb, 2, 0x0001);  // dropped, as QEMU drops it
    h.dev->config_write(kWmb + 2, 2, 0x0000);
    h.send({3, 0});  // so only 2 of the 3 announced dwords arrived
    EXPECT_EQ(h.status(), 0u);
    h.send({0x00000001, 3, 0});
    EXPECT_EQ(h.dev->config_read(kSts + 3, 1), 0x80u) << "narrow status reads are served";
    EXPECT_EQ(h.dev->config_read(kRmb, 2), 0u) << "narrow mailbox reads are ignored";
    h.dev->config_write(kRmb, 2, 0);  // narrow ack ignored
    EXPECT_EQ(h.dev->config_read(kRmb, 4), 0x00000001u);
    EXPECT_EQ(h.dev->config_read(kCtl, 4), 0u);
    EXPECT_EQ(h.dev->config_read(kWmb, 4), 0u);
}

TEST(DoeResponder, UnknownProtocolSetsErrorUntilAbort) {
    Host h;
    h.send({0x00051234, 3, 0});
    EXPECT_EQ(h.status(), kError);
    h.send({0x00000001, 3, 0});  // Go is not accepted while Error is set
    EXPECT_EQ(h.status(), kError);
    h.dev->config_write(kCtl, 4, kAbort);
    EXPECT_EQ(h.status(), 0u);
    h.send({0x00000001, 3, 0});
    EXPECT_EQ(h.receive().size(), 3u);
}

TEST(DoeResponder, AbortDiscardsAResponseHalfRead) {
    Host h;
    h.send({0x00000001, 3, 0});
    h.dev->config_write(kRmb, 4, 0);
    h.dev->config_write(kCtl, 4, kAbort);
    EXPECT_EQ(h.status(), 0u);
    h.send({0x00000001, 3, 1});
    EXPECT_EQ(h.receive(), (std::vector<uint32_t>{0x00000001, 3, 0x00021E98}));
}

TEST(DoeResponder, BusyFaultHoldsUntilAbortsUseItUp) {
    Host h;
    h.dev->arm_fault(Fault::DoeBusy, 2);
    EXPECT_EQ(h.status(), kBusy);
    h.send({0x00000001, 3, 0});
    EXPECT_EQ(h.status(), kBusy) << "Go while Busy is not accepted";
    h.dev->config_write(kCtl, 4, kAbort);
    EXPECT_EQ(h.status(), kBusy);
    h.dev->config_write(kCtl, 4, kAbort);
    EXPECT_EQ(h.status(), 0u);
}

TEST(DoeResponder, ErrorFaultHitsTheNextExchangeOnly) {
    Host h;
    h.dev->arm_fault(Fault::DoeError);
    h.send({0x00000001, 3, 0});
    EXPECT_EQ(h.status(), kError);
    h.dev->config_write(kCtl, 4, kAbort);
    h.send({0x00000001, 3, 0});
    EXPECT_EQ(h.receive().size(), 3u);
}

TEST(DoeResponder, NeverReadyFaultStaysBusyUntilAbort) {
    Host h;
    h.dev->arm_fault(Fault::DoeNeverReady);
    h.send({0x00000001, 3, 0});
    h.now += 10s;
    EXPECT_EQ(h.status(), kBusy);
    h.dev->config_write(kCtl, 4, kAbort);
    EXPECT_EQ(h.status(), 0u);
    h.send({0x00000001, 3, 0});
    EXPECT_EQ(h.receive().size(), 3u);
}

TEST(DoeResponder, LengthLieServesLessThanItsHeaderSays) {
    Host h;
    h.dev->arm_fault(Fault::DoeLengthLie);
    h.send({0x00000001, 3, 0});
    auto rsp = h.receive();
    ASSERT_EQ(rsp.size(), 3u);
    EXPECT_EQ(rsp[1], 5u);
    EXPECT_EQ(h.status(), 0u);
    EXPECT_EQ(h.dev->config_read(kRmb, 4), 0u);
    EXPECT_EQ(h.status(), kError) << "reading past the end sets Error";
}

TEST(DoeResponder, CdatFaultsChecksumAndTruncation) {
    Host h;
    auto clean = h.cdat_entry(0);
    h.dev->arm_fault(Fault::BadCdatChecksum);
    auto bad = h.cdat_entry(0);
    ASSERT_EQ(bad.size(), clean.size());
    EXPECT_EQ((bad[4] >> 8) & 0xFF, ((clean[4] >> 8) + 1) & 0xFF);
    EXPECT_EQ(h.cdat_entry(0), clean) << "used up";

    auto entry = h.cdat_entry(1);
    ASSERT_EQ(entry.size(), 3u + 6u);
    h.dev->arm_fault(Fault::TruncatedCdatEntry);
    auto truncated = h.cdat_entry(1);
    ASSERT_EQ(truncated.size(), 3u + 5u);
    EXPECT_EQ(truncated[1], 8u) << "the DOE length is honest; the entry is short";
    EXPECT_EQ(truncated[3], entry[3]) << "its own length field still says 24";
}

TEST(DoeResponder, SurpriseRemovalReadsAllOnes) {
    Host h;
    h.dev->arm_fault(Fault::SurpriseRemoval);
    EXPECT_EQ(h.status(), 0xFFFFFFFFu);
}

TEST(DoeResponder, RawTablesAreServedVerbatimAndSplitByLength) {
    auto d = default_device_description("emu0");
    // Header (length 0x24, wrong checksum on purpose) + a 4-byte unknown entry + a zero-length one.
    d.cdat = {
        {"raw_hex",
         "24000000 01 00 000000000000 00000000  7f000400  01000000 00000000 00000000 00000000"}};
    Host h(d);
    const auto image = h.dev->with_parts([](DeviceContext&, RegisterBlock* doe, MailboxBlock*) {
        return static_cast<DoeResponder*>(doe)->cdat();
    });
    EXPECT_EQ(image.table.size(), 36u);
    using Entries = std::vector<std::pair<uint32_t, uint32_t>>;
    EXPECT_EQ(image.entries, (Entries{{0, 16}, {16, 4}, {20, 16}}));
}

TEST(DoeResponder, DescriptionErrorsNameTheKey) {
    auto expect_refused = [](nlohmann::json cdat, nlohmann::json timing, const std::string& what) {
        auto d = default_device_description("emu0");
        d.cdat = std::move(cdat);
        d.timing = std::move(timing);
        auto r = Type3Device::create(d);
        ASSERT_FALSE(r.ok()) << what;
        EXPECT_EQ(r.error().code, Errc::InvalidArgument);
        EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
    };
    auto obj = nlohmann::json::object();
    expect_refused({{"bogus", 1}}, obj, "cdat 'bogus' is not a known key");
    expect_refused({{"raw_hex", "12x4"}}, obj, "non-hex character");
    expect_refused({{"raw_hex", "123"}}, obj, "odd number of digits");
    expect_refused({{"raw_hex", "00"}}, obj, "16 bytes to 1 MiB");
    expect_refused({{"entries", {{{"type", "dsmas"}, {"dpa_size", 1}}}}}, obj,
                   "entries[0]: 'dpa_size' is not a field of this entry type");
    expect_refused({{"entries", {{{"type", "nope"}}}}}, obj, "entries[0]: unknown type 'nope'");
    expect_refused({{"entries", {{{"type", "dsis"}, {"flags", 256}}}}}, obj,
                   "'flags' is out of range");
    expect_refused({{"entries", {{{"type", "unknown"}, {"type_id", 9}, {"raw", {9, 0, 5, 0}}}}}},
                   obj, "'raw' must start with type_id and its own length");
    expect_refused(obj, {{"doe_response_us", -1}}, "'doe_response_us' must be an integer");
}

}  // namespace
}  // namespace cxlmgr::emu
