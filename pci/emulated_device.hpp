// The emulated backend: a PciDevice whose config space and BARs are served by an in-process
// device model. Everything above pci/ cannot tell it from hardware, so every test of the
// protocol layers runs the same code that drives real devices.
#pragma once

#include <array>
#include <memory>
#include <optional>

#include "pci/pci_device.hpp"

namespace cxlmgr::pci {

// The device side of the wire. Implementations must be safe to call from several threads at
// once (the DOE and the mailbox of one device are driven by different channels).
class DeviceModel {
public:
    virtual ~DeviceModel() = default;

    [[nodiscard]] virtual std::string name() const = 0;
    [[nodiscard]] virtual DeviceIdentity identity() const = 0;
    [[nodiscard]] virtual uint32_t config_size() const = 0;
    // width 1, 2 or 4; offset aligned and inside config_size().
    virtual uint32_t config_read(uint32_t offset, unsigned width) = 0;
    virtual void config_write(uint32_t offset, unsigned width, uint32_t value) = 0;

    // 0 when the BAR is not implemented.
    [[nodiscard]] virtual uint64_t bar_size(unsigned bar) const = 0;
    // width 4 or 8; offset aligned and inside bar_size(bar).
    virtual uint64_t mmio_read(unsigned bar, uint64_t offset, unsigned width) = 0;
    virtual void mmio_write(unsigned bar, uint64_t offset, unsigned width, uint64_t value) = 0;
};

class EmulatedDevice : public PciDevice {
public:
    explicit EmulatedDevice(std::shared_ptr<DeviceModel> model);
    ~EmulatedDevice() override;

    ConfigSpace& config() override;
    Result<MmioRegion*> bar(unsigned index) override;
    [[nodiscard]] std::string_view backend() const override { return "emulated"; }
    [[nodiscard]] std::string name() const override;

    [[nodiscard]] const std::shared_ptr<DeviceModel>& model() const { return model_; }

private:
    class Config;
    class Bar;

    std::shared_ptr<DeviceModel> model_;
    std::unique_ptr<Config> config_;
    std::array<std::unique_ptr<Bar>, kBarCount> bars_;
};

}  // namespace cxlmgr::pci
