// Faults an emulated device can be told to show: the names are the ones of
// org.cxlmgr1.Emulator.InjectFault, plus a few that only unit tests arm.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "common/result.hpp"

namespace cxlmgr::emu {

enum class Fault : unsigned {
    MailboxTimeout,      // "mailbox-timeout": the doorbell never clears
    MailboxBusy,         // "mailbox-busy": the doorbell is found set on entry (another agent)
    MailboxLengthLie,    // "mailbox-length-lie": the output length exceeds what was produced
    DoeBusy,             // "doe-busy": the DOE Busy bit is stuck
    DoeError,            // "doe-error": the DOE Error bit is set on the next exchange
    DoeNeverReady,       // "doe-never-ready": Data Object Ready never comes
    DoeLengthLie,        // "doe-length-lie": the response header's length is larger than the data
    BadCdatChecksum,     // "bad-cdat-checksum": the CDAT is served with a wrong checksum
    TruncatedCdatEntry,  // "truncated-cdat-entry": a CDAT entry is served shorter than it says
    FwVerifyFail,        // "fw-verify-fail": Transfer FW end fails verification
    SurpriseRemoval,     // "surprise-removal": every read returns all-ones, writes are dropped
    SanitizeFail,        // "sanitize-fail": the next Sanitize/Secure Erase ends in Internal Error
    kCount,
};

std::string_view fault_name(Fault fault);
Result<Fault> parse_fault(std::string_view name);

// Armed faults with remaining counts. Not thread-safe by itself: the device model holds its lock.
class FaultSet {
public:
    static constexpr uint32_t kForever = UINT32_MAX;

    void arm(Fault fault, uint32_t count = 1) { counts_[index(fault)] = count; }
    void clear() { counts_.fill(0); }
    [[nodiscard]] bool armed(Fault fault) const { return counts_[index(fault)] != 0; }
    // True if armed, using up one occurrence (kForever never runs out).
    bool consume(Fault fault) {
        uint32_t& c = counts_[index(fault)];
        if (c == 0) {
            return false;
        }
        if (c != kForever) {
            --c;
        }
        return true;
    }

private:
    static constexpr unsigned index(Fault f) { return static_cast<unsigned>(f); }
    std::array<uint32_t, static_cast<unsigned>(Fault::kCount)> counts_{};
};

}  // namespace cxlmgr::emu
