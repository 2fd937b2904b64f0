// An emulated CXL Type-3 memory device: the other side of the wire. It follows the CXL and PCIe
// specifications (not QEMU's shortcuts) and shares no protocol code with the drivers in doe/
// and cxl/, so a bug on one side cannot hide the same bug on the other.
//
// Frame (this file): config space with the PCIe capability, Device Serial Number, DOE, the CXL
// Device DVSEC and the Register Locator DVSEC; BAR0 with the component registers; BAR2 with the
// CXL device register block (capability array, device status, primary mailbox, memory device
// status) at the offsets the Register Locator and the capability headers advertise.
// Behaviour lives in parts: the DOE responder and the mailbox model (register_block.hpp).
#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "emu/event_logs.hpp"
#include "emu/register_block.hpp"
#include "pci/emulated_device.hpp"

namespace cxlmgr::emu {

class Type3Device : public pci::DeviceModel, public std::enable_shared_from_this<Type3Device> {
public:
    static Result<std::shared_ptr<Type3Device>> create(DeviceDescription description,
                                                       EmuClock clock = {});
    ~Type3Device() override;

    // pci::DeviceModel
    [[nodiscard]] std::string name() const override;
    [[nodiscard]] pci::DeviceIdentity identity() const override;
    [[nodiscard]] uint32_t config_size() const override { return kConfigSize; }
    uint32_t config_read(uint32_t offset, unsigned width) override;
    void config_write(uint32_t offset, unsigned width, uint32_t value) override;
    [[nodiscard]] uint64_t bar_size(unsigned bar) const override;
    uint64_t mmio_read(unsigned bar, uint64_t offset, unsigned width) override;
    void mmio_write(unsigned bar, uint64_t offset, unsigned width, uint64_t value) override;

    // Emulator control, safe from any thread.
    void arm_fault(Fault fault, uint32_t count = 1);
    void clear_faults();
    [[nodiscard]] const DeviceDescription& description() const { return context_.description; }

    // Adds a record to an event log, as org.cxlmgr1.Emulator.InjectEvent does (field names in
    // event_records.hpp); InvalidArgument for unknown or out-of-range fields.
    Status inject_event(EventLog log, EventKind kind, const nlohmann::json& fields);
    // The event interrupt policy the host last set (all zero until it sets one).
    [[nodiscard]] EventInterruptPolicy event_interrupt_policy();
    // True while a multi-part firmware transfer is open (the state a host must abort).
    [[nodiscard]] bool firmware_transfer_open();

    // Runs f(context, doe, mailbox) under the device lock; for the emulator's own control paths
    // (event injection, tests) that need the parts' state. doe and mailbox may be null.
    template <typename F>
    auto with_parts(F&& f) {
        std::lock_guard lock(mutex_);
        return f(context_, doe_.get(), mailbox_.get());
    }

    // Where the frame puts things. Drivers must not use these (they discover the layout);
    // tests of the frame and the parts do.
    static constexpr uint32_t kConfigSize = 4096;
    static constexpr uint32_t kPcieCapOffset = 0x40;
    static constexpr uint32_t kDsnOffset = 0x100;
    static constexpr uint32_t kDoeOffset = 0x110;
    static constexpr uint32_t kDoeSize = 0x18;
    static constexpr uint32_t kCxlDeviceDvsecOffset = 0x130;
    static constexpr uint32_t kRegisterLocatorOffset = 0x168;
    static constexpr unsigned kComponentBar = 0;
    static constexpr unsigned kDeviceBar = 2;
    static constexpr uint64_t kComponentBarSize = 64 * 1024;
    static constexpr uint64_t kDeviceStatusOffset = 0x100;
    static constexpr uint64_t kMemdevStatusOffset = 0x180;
    static constexpr uint64_t kMailboxOffset = 0x200;
    static constexpr uint64_t kMailboxRegistersSize = 0x20;  // payload follows

private:
    explicit Type3Device(DeviceDescription description, EmuClock clock);
    void build_config_space();
    void build_device_registers();
    void build_component_registers();
    [[nodiscard]] uint64_t mailbox_window_size() const;
    uint64_t device_register_read(uint64_t offset, unsigned width);

    mutable std::mutex mutex_;
    DeviceContext context_;
    std::vector<uint8_t> config_;        // register contents
    std::vector<uint8_t> config_wmask_;  // bits the host may change
    std::vector<uint8_t> component_regs_;
    std::vector<uint8_t> device_regs_;  // capability array and headers (read-only)
    uint64_t device_bar_size_ = 0;
    std::unique_ptr<RegisterBlock> doe_;
    std::unique_ptr<MailboxBlock> mailbox_;
};

}  // namespace cxlmgr::emu
