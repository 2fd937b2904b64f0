// Capability-chain headers read from one config space and laid over the reads of another.
//
// Why: Linux 6.1's vfio-pci virtualises the capability chain of the VFIO config region and links
// around every capability it has no handler for, DVSECs and DOE among them (the very structures
// cxlmgr looks for), although reads and writes at their offsets still reach the device (see
// docs/E2E.md "QEMU facts"). Capability headers and DVSEC identification registers are read-only in
// hardware, so serving just those bytes from the kernel's view (the sysfs `config` file) restores
// the true chain, while every other byte, including every register the daemon writes, still goes
// through the VFIO region.
#pragma once

#include <array>
#include <bitset>
#include <memory>

#include "pci/config_space.hpp"

namespace cxlmgr::pci {

class CapabilityChainOverlay {
public:
    // Walks the standard and extended lists of `truth` and keeps their header bytes: the
    // capabilities pointer (0x34), ID and next pointer of each capability, each extended
    // capability header, and DVSEC headers 1 and 2. Fails like the capability walker does.
    static Result<CapabilityChainOverlay> capture(ConfigSpace& truth);

    // Replaces the captured bytes within [offset, offset + width) of a value read elsewhere.
    [[nodiscard]] uint32_t apply(uint32_t offset, unsigned width, uint32_t value) const;
    [[nodiscard]] bool covers(uint32_t offset) const { return mask_.test(offset); }

private:
    Status keep(ConfigSpace& truth, uint32_t offset, unsigned length);

    std::array<uint8_t, kConfigSpaceExtendedSize> bytes_{};
    std::bitset<kConfigSpaceExtendedSize> mask_;
};

// A config space whose reads come from `base` with the overlay applied; writes go to `base`.
class OverlaidConfigSpace : public ConfigSpace {
public:
    OverlaidConfigSpace(std::unique_ptr<ConfigSpace> base, CapabilityChainOverlay overlay)
        : base_(std::move(base)), overlay_(std::move(overlay)) {}

    [[nodiscard]] uint32_t size() const override { return base_->size(); }
    [[nodiscard]] const DeviceIdentity& identity() const override { return base_->identity(); }

protected:
    Result<uint32_t> do_read(uint32_t offset, unsigned width) override;
    Status do_write(uint32_t offset, unsigned width, uint32_t value) override;

private:
    std::unique_ptr<ConfigSpace> base_;
    CapabilityChainOverlay overlay_;
};

}  // namespace cxlmgr::pci
