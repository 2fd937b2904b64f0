// A minimal host for the emulated mailbox, written from the specification only: it finds the
// mailbox through the Register Locator DVSEC and the CXL Device Capabilities Array and drives
// the registers with 32- and 64-bit MMIO, the way the real driver must. It shares nothing with
// the model or with cxl/ (a shared misreading would hide on both sides). Time is a manual
// clock the tests advance.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <vector>

#include "emu/firmware_image.hpp"
#include "emu/type3_device.hpp"
#include "pci/capabilities.hpp"
#include "pci/registers.hpp"

namespace cxlmgr::emu::testing {

using namespace std::chrono_literals;

class ManualClock {
public:
    [[nodiscard]] EmuClock fn() const {
        auto now = now_;
        return [now] {
            return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(now->load()));
        };
    }
    void advance(std::chrono::nanoseconds d) { *now_ += d.count(); }

private:
    std::shared_ptr<std::atomic<int64_t>> now_ =
        std::make_shared<std::atomic<int64_t>>(int64_t{1'000'000'000});
};

// Opcodes and return codes, as the host's own constants.
inline constexpr uint16_t kOpAbortBackground = 0x0005;
inline constexpr uint16_t kOpBgStatus = 0x0002, kOpGetEvents = 0x0100, kOpClearEvents = 0x0101,
                          kOpGetPolicy = 0x0102, kOpSetPolicy = 0x0103, kOpGetFwInfo = 0x0200,
                          kOpTransferFw = 0x0201, kOpActivateFw = 0x0202, kOpGetTimestamp = 0x0300,
                          kOpSetTimestamp = 0x0301, kOpGetSupportedLogs = 0x0400,
                          kOpGetLog = 0x0401, kOpIdentify = 0x4000, kOpHealth = 0x4200;
inline constexpr uint16_t kRcSuccess = 0x00, kRcBgStarted = 0x01, kRcInvalidInput = 0x02,
                          kRcUnsupported = 0x03, kRcInternal = 0x04, kRcBusy = 0x06,
                          kRcFwInProgress = 0x08, kRcFwOutOfOrder = 0x09, kRcFwVerify = 0x0A,
                          kRcInvalidSlot = 0x0B, kRcInvalidHandle = 0x0E, kRcAborted = 0x12,
                          kRcInvalidPayloadLength = 0x16, kRcInvalidLog = 0x17,
                          kRcRequestAbortNotSupported = 0x20;
// Command Effects Log effect bits.
inline constexpr uint16_t kEffectBackground = 1u << 6, kEffectAbortSupported = 1u << 8;
inline constexpr uint16_t kNoCompletion = 0xFFFF;

inline uint64_t le(std::span<const uint8_t> b, size_t off, unsigned width) {
    uint64_t v = 0;
    for (unsigned i = 0; i < width; ++i) {
        v |= uint64_t{b[off + i]} << (8 * i);
    }
    return v;
}

inline void put(std::vector<uint8_t>& b, size_t off, uint64_t v, unsigned width) {
    if (b.size() < off + width) {
        b.resize(off + width, 0);
    }
    for (unsigned i = 0; i < width; ++i) {
        b[off + i] = static_cast<uint8_t>(v >> (8 * i));
    }
}

struct Response {
    uint16_t rc = kNoCompletion;
    std::vector<uint8_t> out;
    uint32_t out_length = 0;  // as the Command register reported it
};

class MailboxHost {
public:
    // The device with `description` merged over the defaults, on `clock`.
    MailboxHost(const nlohmann::json& description, ManualClock& clock) : clock_(clock) {
        nlohmann::json d = {{"name", "emu-test"}};
        d.merge_patch(description);
        auto desc = parse_device_description(d);
        if (!desc.ok()) {
            create_error_ = desc.error().describe();
            return;
        }
        auto model = Type3Device::create(*desc, clock.fn());
        if (!model.ok()) {
            create_error_ = model.error().describe();
            return;
        }
        model_ = *model;
        device_ = std::make_unique<pci::EmulatedDevice>(model_);
    }

    [[nodiscard]] const std::string& create_error() const { return create_error_; }
    Type3Device& model() { return *model_; }

    // Register Locator -> memory device block -> capability array -> mailbox, status, memdev.
    ::testing::AssertionResult discover() {
        if (!model_) {
            return ::testing::AssertionFailure() << "no device: " << create_error_;
        }
        auto& cs = device_->config();
        auto rl = pci::find_dvsec(cs, pci::kCxlVendorId, pci::kCxlDvsecRegisterLocator);
        if (!rl.ok() || !rl->has_value()) {
            return ::testing::AssertionFailure() << "no Register Locator DVSEC";
        }
        uint32_t base = **rl;
        uint32_t length = (*cs.read32(base + pci::kDvsecHeader1) >> 20) & 0xFFF;
        for (uint32_t e = 0x0C; e + 8 <= length; e += 8) {
            uint32_t lo = *cs.read32(base + e);
            uint32_t hi = *cs.read32(base + e + 4);
            if (((lo >> 8) & 0xFF) != 3) {
                continue;
            }
            auto bar = device_->bar(lo & 0x7);
            if (!bar.ok()) {
                return ::testing::AssertionFailure() << "memdev block BAR missing";
            }
            bar_ = *bar;
            block_ = (uint64_t{hi} << 32) | (lo & 0xFFFF0000u);
        }
        if (bar_ == nullptr) {
            return ::testing::AssertionFailure() << "no memory device register block";
        }
        uint64_t array = bar_->read64(block_);
        uint32_t count = static_cast<uint32_t>((array >> 32) & 0xFFFF);
        for (uint32_t i = 1; i <= count; ++i) {
            uint64_t h = block_ + 0x10 * i;
            uint16_t id = bar_->read32(h) & 0xFFFF;
            uint64_t off = block_ + bar_->read32(h + 4);
            if (id == 0x0001) {
                status_ = off;
            } else if (id == 0x0002) {
                mailbox_ = off;
                mailbox_length_ = bar_->read32(h + 8);
            } else if (id == 0x4000) {
                memdev_ = off;
            }
        }
        if (mailbox_ == 0 || status_ == 0 || memdev_ == 0) {
            return ::testing::AssertionFailure() << "a mandatory device capability is missing";
        }
        payload_size_ = 1u << (caps() & 0x1F);
        return ::testing::AssertionSuccess();
    }

    [[nodiscard]] uint64_t mailbox_offset() const { return mailbox_; }
    [[nodiscard]] uint32_t mailbox_length() const { return mailbox_length_; }
    [[nodiscard]] uint32_t payload_size() const { return payload_size_; }
    pci::MmioRegion& bar() { return *bar_; }

    uint32_t caps() { return bar_->read32(mailbox_); }
    uint32_t control() { return bar_->read32(mailbox_ + 0x04); }
    bool doorbell() { return (control() & 1) != 0; }
    uint64_t command() { return bar_->read64(mailbox_ + 0x08); }
    uint64_t status() { return bar_->read64(mailbox_ + 0x10); }
    uint64_t bg_status() { return bar_->read64(mailbox_ + 0x18); }
    uint16_t return_code() { return static_cast<uint16_t>(status() >> 32); }
    uint32_t out_length() { return static_cast<uint32_t>((command() >> 16) & 0x1FFFFF); }
    uint8_t bg_percent() { return static_cast<uint8_t>((bg_status() >> 16) & 0x7F); }
    uint16_t bg_return_code() { return static_cast<uint16_t>(bg_status() >> 32); }
    bool bg_running() { return (status() & 1) != 0; }
    uint32_t event_status() { return bar_->read32(status_); }
    uint64_t memdev_status() { return bar_->read64(memdev_); }

    void write_payload(std::span<const uint8_t> in) {
        for (size_t off = 0; off < in.size(); off += 4) {
            uint32_t v = 0;
            for (size_t i = 0; i < 4 && off + i < in.size(); ++i) {
                v |= uint32_t{in[off + i]} << (8 * i);
            }
            bar_->write32(mailbox_ + 0x20 + off, v);
        }
    }
    std::vector<uint8_t> read_payload(size_t n) {
        std::vector<uint8_t> out(n);
        for (size_t off = 0; off < n; off += 4) {
            uint32_t v = bar_->read32(mailbox_ + 0x20 + off);
            for (size_t i = 0; i < 4 && off + i < n; ++i) {
                out[off + i] = static_cast<uint8_t>(v >> (8 * i));
            }
        }
        return out;
    }
    void write_command(uint16_t opcode, uint32_t length) {
        bar_->write64(mailbox_ + 0x08, opcode | (uint64_t{length} << 16));
    }
    void ring() { bar_->write32(mailbox_ + 0x04, control() | 1u); }

    // Waits for the doorbell, advancing the clock by `step` per poll.
    bool wait_doorbell(std::chrono::nanoseconds step = 0ns, int max_polls = 1000) {
        for (int i = 0; i < max_polls; ++i) {
            if (!doorbell()) {
                return true;
            }
            clock_.advance(step);
        }
        return !doorbell();
    }

    // One command: payload, Command (one 64-bit store), doorbell, wait, read the answer.
    Response exec(uint16_t opcode, const std::vector<uint8_t>& in = {},
                  std::chrono::nanoseconds step = 0ns) {
        Response r;
        if (doorbell()) {
            ADD_FAILURE() << "doorbell set on entry";
            return r;
        }
        if (in.size() > payload_size_) {
            ADD_FAILURE() << "input of " << in.size() << " bytes exceeds the payload size";
            return r;
        }
        write_payload(in);
        write_command(opcode, static_cast<uint32_t>(in.size()));
        ring();
        if (!wait_doorbell(step)) {
            ADD_FAILURE() << "doorbell never cleared";
            return r;
        }
        r.rc = return_code();
        r.out_length = out_length();
        r.out = read_payload(std::min<uint32_t>(r.out_length, payload_size_));
        return r;
    }

    // One Transfer FW command (offset in bytes); the immediate return code.
    uint16_t transfer_fw(uint8_t action, uint8_t slot, uint32_t offset_bytes,
                         std::span<const uint8_t> data) {
        std::vector<uint8_t> in(0x80, 0);
        in[0] = action;
        in[1] = slot;
        put(in, 4, offset_bytes / 128, 4);
        in.insert(in.end(), data.begin(), data.end());
        return exec(kOpTransferFw, in).rc;
    }

    // The Command Effects Log as opcode -> effects (Get Supported Logs, then Get Log).
    std::map<uint16_t, uint16_t> command_effects() {
        static const uint8_t kCel[16] = {0x0d, 0xa9, 0xc0, 0xb5, 0xbf, 0x41, 0x4b, 0x78,
                                         0x8f, 0x79, 0x96, 0xb1, 0x62, 0x3b, 0x3f, 0x17};
        std::map<uint16_t, uint16_t> effects;
        auto logs = exec(kOpGetSupportedLogs);
        if (logs.rc != kRcSuccess) {
            ADD_FAILURE() << "Get Supported Logs failed";
            return effects;
        }
        auto size = static_cast<uint32_t>(le(logs.out, 24, 4));
        for (uint32_t off = 0; off < size;) {
            uint32_t n = std::min<uint32_t>(size - off, payload_size_ & ~3u);
            std::vector<uint8_t> in(std::begin(kCel), std::end(kCel));
            put(in, 16, off, 4);
            put(in, 20, n, 4);
            auto part = exec(kOpGetLog, in);
            if (part.rc != kRcSuccess) {
                ADD_FAILURE() << "Get Log failed";
                return effects;
            }
            for (uint32_t i = 0; i + 4 <= part.out.size(); i += 4) {
                effects[static_cast<uint16_t>(le(part.out, i, 2))] =
                    static_cast<uint16_t>(le(part.out, i + 2, 2));
            }
            off += n;
        }
        return effects;
    }

    // Follows a background operation to the end; its return code, or kNoCompletion.
    uint16_t wait_background(std::chrono::nanoseconds step = 1ms, int max_polls = 100000) {
        for (int i = 0; i < max_polls && bg_running(); ++i) {
            clock_.advance(step);
        }
        if (bg_running()) {
            return kNoCompletion;
        }
        return bg_return_code();
    }

private:
    ManualClock& clock_;
    std::string create_error_;
    std::shared_ptr<Type3Device> model_;
    std::unique_ptr<pci::EmulatedDevice> device_;
    pci::MmioRegion* bar_ = nullptr;
    uint64_t block_ = 0;
    uint64_t mailbox_ = 0;
    uint32_t mailbox_length_ = 0;
    uint64_t status_ = 0;
    uint64_t memdev_ = 0;
    uint32_t payload_size_ = 0;
};

}  // namespace cxlmgr::emu::testing
