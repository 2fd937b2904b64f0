// The emulated device's DOE instance: the registers at 0x08..0x17 of its DOE capability, serving
// Discovery and CDAT Table Access. Written from the PCIe/CXL specifications independently of
// doe/ (no shared constants or encoders): it is the other side of the wire.
//
// Behaviour, per the specification rather than QEMU's shortcuts:
//  - only dword accesses to the mailboxes count (others are ignored, as QEMU does); Control and
//    Status also answer narrower reads;
//  - Go takes the dwords written since the last Go/Abort; a request whose DW1 length differs from
//    the dwords written is silently discarded (no Ready, PCIe r6 6.30.1); a request the
//    responder cannot serve (unknown protocol, bad payload) sets Error;
//  - the answer is ready timing["doe_response_us"] (default 0) after Go; meanwhile Busy is set
//    and Ready is not. The model has no threads: state advances lazily from context.now() when
//    the host reads a register;
//  - reading the Read mailbox with no data left sets Error and returns 0;
//  - Abort clears Busy, Error and Ready and discards both buffers.
// Faults (context.faults): DoeBusy keeps Busy set while armed, each Abort uses up one count;
// DoeError sets Error instead of answering the next request; DoeNeverReady accepts the next Go
// and never answers; DoeLengthLie makes the next response's length field 2 dwords longer than
// its data; BadCdatChecksum serves the next CDAT header with its checksum byte off by one;
// TruncatedCdatEntry serves the next read of the first structure (handle 1) 4 bytes short.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/result.hpp"
#include "emu/cdat_builder.hpp"
#include "emu/register_block.hpp"

namespace cxlmgr::emu {

class DoeResponder : public RegisterBlock {
public:
    // Builds the CDAT from context.description.cdat and reads timing["doe_response_us"].
    // `context` must outlive the responder (the device owns both).
    static Result<std::unique_ptr<DoeResponder>> create(DeviceContext& context);

    // offset is relative to the DOE capability (0x08..0x17).
    uint64_t read(uint64_t offset, unsigned width) override;
    void write(uint64_t offset, unsigned width, uint64_t value) override;

    [[nodiscard]] const CdatImage& cdat() const { return cdat_; }

private:
    enum class Phase { Idle, Processing, NeverReady, Responding };

    DoeResponder(DeviceContext& context, CdatImage cdat, std::chrono::microseconds delay);
    void advance();
    uint32_t status();
    void go();
    void abort();
    // Empty when the request cannot be served (the caller sets Error).
    std::vector<uint32_t> answer(const std::vector<uint32_t>& request);
    std::vector<uint32_t> answer_discovery(const std::vector<uint32_t>& request);
    std::vector<uint32_t> answer_cdat(const std::vector<uint32_t>& request);

    DeviceContext& context_;
    CdatImage cdat_;
    std::chrono::microseconds delay_;

    Phase phase_ = Phase::Idle;
    std::chrono::steady_clock::time_point ready_at_{};
    bool error_ = false;
    std::vector<uint32_t> request_;
    std::vector<uint32_t> response_;
    size_t served_ = 0;
};

}  // namespace cxlmgr::emu
