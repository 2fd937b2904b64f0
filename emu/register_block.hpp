// The seams between the emulated Type-3 device's frame (config space, BARs, capability layout:
// type3_device.cpp) and the parts with behaviour (DOE responder, mailbox). Each part sees only
// offsets relative to its own register window and is called with the device lock held, so parts
// need no locking of their own.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>

#include "emu/device_description.hpp"
#include "emu/faults.hpp"

namespace cxlmgr::emu {

using EmuClock = std::function<std::chrono::steady_clock::time_point()>;

// What every part of the device may use. Lives as long as the device.
struct DeviceContext {
    DeviceDescription description;
    FaultSet faults;
    EmuClock now;
};

class RegisterBlock {
public:
    virtual ~RegisterBlock() = default;
    // offset is relative to the block; width is 1, 2, 4 or 8 (whatever the host used: a block
    // that only honours some widths decides what the others do, as hardware would).
    virtual uint64_t read(uint64_t offset, unsigned width) = 0;
    virtual void write(uint64_t offset, unsigned width, uint64_t value) = 0;
};

// The mailbox also owns the state the device status registers report.
class MailboxBlock : public RegisterBlock {
public:
    // Device Status capability, Event Status register: bit n set = event log n has records.
    [[nodiscard]] virtual uint32_t event_status() const = 0;
    // Memory Device Status bits this part decides (FW halt bit1; everything else is the frame's).
    [[nodiscard]] virtual uint64_t memdev_status_bits() const = 0;
};

}  // namespace cxlmgr::emu
