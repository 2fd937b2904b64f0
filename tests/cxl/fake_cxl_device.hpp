// A scriptable CXL device model for host-side tests: a hand-built config space (Register Locator
// DVSEC) and device register BAR (capability array, mailbox) whose layout a test can break, and
// a mailbox whose answers a test scripts per command (return codes, output length lies, a
// doorbell that never clears, background progress). It records every MMIO access so tests can
// check access widths.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "pci/emulated_device.hpp"

namespace cxlmgr::testing {

using Bytes = std::vector<uint8_t>;

struct FakeCap {
    uint16_t id = 0;
    uint8_t version = 1;
    uint32_t offset = 0;  // from the block start
    uint32_t length = 0;
};

struct FakeLayout {
    unsigned bar = 2;
    uint64_t bar_size = 0x4000;
    uint64_t block_offset = 0;
    unsigned payload_log2 = 11;  // 2048 bytes
    bool has_locator = true;
    // Raw Register Locator entries (low, high dword); empty = one memdev entry for bar/block.
    std::vector<std::pair<uint32_t, uint32_t>> locator_entries;
    std::optional<uint32_t> locator_length;  // DVSEC length override
    // Empty = Device Status @0x100 (8), Memory Device Status @0x180 (8), mailbox @0x200.
    std::vector<FakeCap> caps;
    std::optional<uint64_t> array_register;          // capabilities array register override
    uint64_t memdev_status = (1u << 2) | (1u << 4);  // media ready, mailbox ready

    static constexpr uint32_t kDeviceStatusAt = 0x100;
    static constexpr uint32_t kMemdevStatusAt = 0x180;
    static constexpr uint32_t kMailboxAt = 0x200;
};

// How the scripted device answers one command.
struct FakeReaction {
    static constexpr unsigned kForever = ~0u;

    static FakeReaction answer(uint16_t code, Bytes out = {}) {
        FakeReaction r;
        r.return_code = code;
        r.output = std::move(out);
        return r;
    }

    uint16_t return_code = 0;
    Bytes output;
    std::optional<uint64_t> claimed_length;  // Command [36:16] override (a lie)
    unsigned busy_reads = 0;                 // Control reads that still show the doorbell set
    // Non-empty: the command answers Background Command Started, then each BG Command Status
    // read reports the next percentage; after the last one the operation completes (100%,
    // Status bit0 clear) with return_code and output.
    // The device answers the foreground part with Status bit 0 kept set while a background
    // operation runs, as CXL devices do. A background command while one runs answers Busy.
    std::vector<unsigned> background_percents;
    bool runs_in_background = false;  // background even with no percentage steps
    bool background_never_completes = false;
    // Request Abort Background Operation: ends the running operation now, with Aborted.
    bool aborts_background = false;
    std::optional<uint16_t> background_opcode;  // BG status opcode override
};

struct MmioAccess {
    bool write = false;
    uint64_t offset = 0;
    unsigned width = 0;
    uint64_t value = 0;
};

class FakeCxlDevice : public pci::DeviceModel {
public:
    using Handler = std::function<FakeReaction(uint16_t opcode, const Bytes& input)>;

    explicit FakeCxlDevice(FakeLayout layout = {});

    [[nodiscard]] std::string name() const override { return "fake0"; }
    [[nodiscard]] pci::DeviceIdentity identity() const override;
    [[nodiscard]] uint32_t config_size() const override { return 4096; }
    uint32_t config_read(uint32_t offset, unsigned width) override;
    void config_write(uint32_t offset, unsigned width, uint32_t value) override;
    [[nodiscard]] uint64_t bar_size(unsigned bar) const override;
    uint64_t mmio_read(unsigned bar, uint64_t offset, unsigned width) override;
    void mmio_write(unsigned bar, uint64_t offset, unsigned width, uint64_t value) override;

    void set_handler(Handler handler);
    // The doorbell reads set although no command of ours runs (another agent owns it).
    void set_foreign_doorbell(bool set);
    // Ends a doorbell that was scripted to stay set forever (as if the device finally answered).
    void release_doorbell();
    void set_removed(bool removed);
    void set_memdev_status(uint64_t value);
    // Memory Device Status reads report "not ready" this many more times.
    void set_not_ready_reads(unsigned reads);
    // A background operation of `opcode` already running (e.g. left by a previous owner),
    // followed through `reaction` like one the mailbox started.
    void start_background(uint16_t opcode, FakeReaction reaction);
    // Ends the running background operation now with its reaction's return code.
    void end_background();
    // Reads of the BG Command Status register so far.
    [[nodiscard]] unsigned background_status_reads() const;

    [[nodiscard]] std::vector<MmioAccess> accesses() const;
    void clear_accesses();
    [[nodiscard]] std::vector<uint16_t> opcodes_run() const;
    [[nodiscard]] Bytes last_input() const;

    [[nodiscard]] uint64_t mailbox_base() const { return layout_.block_offset + mailbox_at_; }

private:
    void build_config();
    void build_bar();
    uint64_t read_mailbox(uint64_t rel, unsigned width);
    void write_mailbox(uint64_t rel, unsigned width, uint64_t value);
    void ring();
    void complete();
    void put(std::vector<uint8_t>& bytes, uint64_t offset, uint64_t value, unsigned width);
    uint64_t get(const std::vector<uint8_t>& bytes, uint64_t offset, unsigned width) const;

    mutable std::mutex mutex_;
    FakeLayout layout_;
    uint64_t mailbox_at_ = FakeLayout::kMailboxAt;  // from the block start
    uint64_t memdev_at_ = FakeLayout::kMemdevStatusAt;
    std::vector<uint8_t> config_;
    std::vector<uint8_t> bar_;
    Handler handler_;
    std::vector<MmioAccess> accesses_;
    std::vector<uint16_t> opcodes_;
    Bytes last_input_;
    bool removed_ = false;
    unsigned not_ready_reads_ = 0;

    // Mailbox state.
    uint32_t control_ = 0;
    uint64_t command_ = 0;
    uint64_t status_ = 0;
    uint64_t bg_status_ = 0;
    bool foreign_doorbell_ = false;
    std::optional<FakeReaction> pending_;     // answered when the doorbell clears
    std::optional<FakeReaction> pending_bg_;  // the background operation being run
    size_t bg_step_ = 0;
    bool bg_running_ = false;
    uint16_t bg_opcode_ = 0;
    unsigned bg_reads_ = 0;
    void finish_background(uint16_t return_code);
};

}  // namespace cxlmgr::testing
