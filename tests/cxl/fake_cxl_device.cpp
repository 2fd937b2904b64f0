#include "tests/cxl/fake_cxl_device.hpp"

#include <algorithm>

namespace cxlmgr::testing {
namespace {

constexpr uint64_t kPayloadRel = 0x20;

uint64_t all_ones(unsigned width) {
    return width >= 8 ? ~0ull : (1ull << (8 * width)) - 1;
}

}  // namespace

FakeCxlDevice::FakeCxlDevice(FakeLayout layout) : layout_(std::move(layout)) {
    if (layout_.caps.empty()) {
        const uint32_t payload = 1u << layout_.payload_log2;
        layout_.caps = {
            {0x0001, 2, FakeLayout::kDeviceStatusAt, 8},
            {0x4000, 1, FakeLayout::kMemdevStatusAt, 8},
            {0x0002, 1, FakeLayout::kMailboxAt, static_cast<uint32_t>(kPayloadRel + payload)},
        };
    }
    for (const auto& c : layout_.caps) {
        if (c.id == 0x0002) {
            mailbox_at_ = c.offset;
        } else if (c.id == 0x4000) {
            memdev_at_ = c.offset;
        }
    }
    build_config();
    build_bar();
}

void FakeCxlDevice::put(std::vector<uint8_t>& bytes, uint64_t offset, uint64_t value,
                        unsigned width) {
    for (unsigned i = 0; i < width; ++i) {
        bytes.at(offset + i) = static_cast<uint8_t>(value >> (8 * i));
    }
}

uint64_t FakeCxlDevice::get(const std::vector<uint8_t>& bytes, uint64_t offset,
                            unsigned width) const {
    uint64_t v = 0;
    for (unsigned i = 0; i < width; ++i) {
        v |= static_cast<uint64_t>(bytes.at(offset + i)) << (8 * i);
    }
    return v;
}

void FakeCxlDevice::build_config() {
    config_.assign(4096, 0);
    put(config_, 0, 0x0d938086, 4);
    put(config_, 0x06, 0, 2);  // no standard capability list
    put(config_, 0x08, 0x05021001, 4);
    constexpr uint32_t dv = 0x100;
    put(config_, dv, 0x0023 | (1u << 16), 4);  // DVSEC, version 1, end of list
    if (!layout_.has_locator) {
        // Another CXL DVSEC (the PCIe DVSEC for CXL Devices), so the walk has something to skip.
        put(config_, dv + 4, 0x1E98 | (1u << 16) | (0x38u << 20), 4);
        put(config_, dv + 8, 0x0000, 2);
        return;
    }
    auto entries = layout_.locator_entries;
    if (entries.empty()) {
        entries.push_back({static_cast<uint32_t>(layout_.bar | (0x03u << 8) |
                                                 (layout_.block_offset & 0xFFFF0000u)),
                           static_cast<uint32_t>(layout_.block_offset >> 32)});
    }
    const uint32_t length =
        layout_.locator_length.value_or(0x0C + 8 * static_cast<uint32_t>(entries.size()));
    put(config_, dv + 4, 0x1E98 | (length << 20), 4);
    put(config_, dv + 8, 0x0008, 2);
    for (size_t i = 0; i < entries.size(); ++i) {
        put(config_, dv + 0x0C + 8 * i, entries[i].first, 4);
        put(config_, dv + 0x10 + 8 * i, entries[i].second, 4);
    }
}

void FakeCxlDevice::build_bar() {
    bar_.assign(layout_.bar_size, 0);
    const uint64_t b = layout_.block_offset;
    if (b + 0x10 * (layout_.caps.size() + 1) > bar_.size()) {
        return;  // a block placed outside the BAR: nothing to write
    }
    const uint64_t array =
        layout_.array_register.value_or((1ull << 16) | (uint64_t{layout_.caps.size()} << 32));
    put(bar_, b, array, 8);
    for (size_t i = 0; i < layout_.caps.size(); ++i) {
        const auto& c = layout_.caps[i];
        const uint64_t h = b + 0x10 * (i + 1);
        put(bar_, h, c.id | (uint32_t{c.version} << 16), 4);
        put(bar_, h + 4, c.offset, 4);
        put(bar_, h + 8, c.length, 4);
    }
}

pci::DeviceIdentity FakeCxlDevice::identity() const {
    return pci::DeviceIdentity{0x8086, 0x0d93, 0x050210, ""};
}

uint32_t FakeCxlDevice::config_read(uint32_t offset, unsigned width) {
    std::lock_guard lock(mutex_);
    if (removed_) {
        return static_cast<uint32_t>(all_ones(width));
    }
    return static_cast<uint32_t>(get(config_, offset, width));
}

void FakeCxlDevice::config_write(uint32_t, unsigned, uint32_t) {}

uint64_t FakeCxlDevice::bar_size(unsigned bar) const {
    return bar == layout_.bar ? layout_.bar_size : 0;
}

uint64_t FakeCxlDevice::mmio_read(unsigned, uint64_t offset, unsigned width) {
    std::lock_guard lock(mutex_);
    if (removed_) {
        return all_ones(width);
    }
    const uint64_t mbox = mailbox_base();
    if (offset >= mbox && offset < mbox + kPayloadRel) {
        return read_mailbox(offset - mbox, width);
    }
    if (offset == layout_.block_offset + memdev_at_) {
        uint64_t v = layout_.memdev_status;
        if (not_ready_reads_ > 0) {
            --not_ready_reads_;
            v &= ~(1ull << 4);
        }
        return v & all_ones(width);
    }
    return get(bar_, offset, width);
}

void FakeCxlDevice::mmio_write(unsigned, uint64_t offset, unsigned width, uint64_t value) {
    std::lock_guard lock(mutex_);
    accesses_.push_back(MmioAccess{true, offset, width, value});
    if (removed_) {
        return;
    }
    const uint64_t mbox = mailbox_base();
    if (offset >= mbox && offset < mbox + kPayloadRel) {
        write_mailbox(offset - mbox, width, value);
        return;
    }
    put(bar_, offset, value, width);
}

uint64_t FakeCxlDevice::read_mailbox(uint64_t rel, unsigned width) {
    const uint32_t doorbell = (foreign_doorbell_ || pending_) ? 1u : 0u;
    if (rel == 0x04 && pending_ && pending_->busy_reads != FakeReaction::kForever) {
        if (pending_->busy_reads == 0) {
            complete();
            return control_;
        }
        --pending_->busy_reads;
    }
    if (rel == 0x18 && width == 8) {
        ++bg_reads_;
    }
    if (rel == 0x18 && bg_running_ && width == 8) {
        const FakeReaction& r = *pending_bg_;
        const uint16_t op = r.background_opcode.value_or(bg_opcode_);
        if (bg_step_ < r.background_percents.size()) {
            bg_status_ = op | (uint64_t{r.background_percents[bg_step_++]} << 16);
        } else if (!r.background_never_completes) {
            finish_background(r.return_code);
        }
    }
    const uint64_t regs[4] = {(1ull * layout_.payload_log2) | (uint64_t{control_ | doorbell} << 32),
                              command_, status_, bg_status_};
    const uint64_t q = regs[rel / 8];
    return width == 8 ? q : ((q >> (8 * (rel % 8))) & all_ones(width));
}

void FakeCxlDevice::write_mailbox(uint64_t rel, unsigned width, uint64_t value) {
    if (rel == 0x04 && width == 4) {
        const bool busy = foreign_doorbell_ || pending_;
        control_ = static_cast<uint32_t>(value) & ~1u;
        if ((value & 1) != 0 && !busy) {
            ring();
        }
        return;
    }
    if (rel == 0x08 && width == 8) {
        command_ = value;
    } else if (rel == 0x08 || rel == 0x0C) {
        const unsigned shift = rel == 0x08 ? 0 : 32;
        command_ = (command_ & ~(0xFFFFFFFFull << shift)) | ((value & 0xFFFFFFFFull) << shift);
    }
}

void FakeCxlDevice::ring() {
    const auto opcode = static_cast<uint16_t>(command_);
    const uint64_t length =
        std::min<uint64_t>((command_ >> 16) & 0x1FFFFF, uint64_t{1} << layout_.payload_log2);
    const auto begin = bar_.begin() + static_cast<std::ptrdiff_t>(mailbox_base() + kPayloadRel);
    last_input_.assign(begin, begin + static_cast<std::ptrdiff_t>(length));
    opcodes_.push_back(opcode);
    pending_ = handler_ ? handler_(opcode, last_input_) : FakeReaction{};
    if (pending_->busy_reads == 0) {
        complete();
    }
}

void FakeCxlDevice::complete() {
    FakeReaction r = std::move(*pending_);
    pending_.reset();
    if (!r.background_percents.empty() || r.background_never_completes || r.runs_in_background) {
        if (bg_running_) {
            status_ = (0x06ull << 32) | 1;  // Busy: one background operation at a time
            command_ &= 0xFFFF;
            return;
        }
        status_ = (0x01ull << 32) | 1;
        bg_opcode_ = static_cast<uint16_t>(command_);
        bg_status_ = bg_opcode_;
        command_ &= 0xFFFF;
        bg_running_ = true;
        bg_step_ = 0;
        pending_bg_ = std::move(r);
        return;
    }
    if (r.aborts_background && bg_running_) {
        finish_background(0x12);  // Aborted
    }
    std::copy(r.output.begin(), r.output.end(),
              bar_.begin() + static_cast<std::ptrdiff_t>(mailbox_base() + kPayloadRel));
    const uint64_t len = r.claimed_length.value_or(r.output.size());
    command_ = (command_ & 0xFFFF) | (len << 16);
    status_ = (uint64_t{r.return_code} << 32) | (bg_running_ ? 1 : 0);
}

void FakeCxlDevice::finish_background(uint16_t return_code) {
    const uint16_t op = pending_bg_->background_opcode.value_or(bg_opcode_);
    bg_status_ = op | (100ull << 16) | (uint64_t{return_code} << 32);
    status_ &= ~1ull;
    bg_running_ = false;
}

void FakeCxlDevice::start_background(uint16_t opcode, FakeReaction reaction) {
    std::lock_guard lock(mutex_);
    status_ |= 1;
    bg_opcode_ = opcode;
    bg_status_ = opcode;
    bg_running_ = true;
    bg_step_ = 0;
    pending_bg_ = std::move(reaction);
}

void FakeCxlDevice::end_background() {
    std::lock_guard lock(mutex_);
    if (bg_running_) {
        finish_background(pending_bg_->return_code);
    }
}

unsigned FakeCxlDevice::background_status_reads() const {
    std::lock_guard lock(mutex_);
    return bg_reads_;
}

void FakeCxlDevice::set_handler(Handler handler) {
    std::lock_guard lock(mutex_);
    handler_ = std::move(handler);
}

void FakeCxlDevice::set_foreign_doorbell(bool set) {
    std::lock_guard lock(mutex_);
    foreign_doorbell_ = set;
}

void FakeCxlDevice::release_doorbell() {
    std::lock_guard lock(mutex_);
    if (pending_) {
        complete();
    }
}

void FakeCxlDevice::set_removed(bool removed) {
    std::lock_guard lock(mutex_);
    removed_ = removed;
}

void FakeCxlDevice::set_memdev_status(uint64_t value) {
    std::lock_guard lock(mutex_);
    layout_.memdev_status = value;
}

void FakeCxlDevice::set_not_ready_reads(unsigned reads) {
    std::lock_guard lock(mutex_);
    not_ready_reads_ = reads;
}

std::vector<MmioAccess> FakeCxlDevice::accesses() const {
    std::lock_guard lock(mutex_);
    return accesses_;
}

void FakeCxlDevice::clear_accesses() {
    std::lock_guard lock(mutex_);
    accesses_.clear();
}

std::vector<uint16_t> FakeCxlDevice::opcodes_run() const {
    std::lock_guard lock(mutex_);
    return opcodes_;
}

Bytes FakeCxlDevice::last_input() const {
    std::lock_guard lock(mutex_);
    return last_input_;
}

}  // namespace cxlmgr::testing
