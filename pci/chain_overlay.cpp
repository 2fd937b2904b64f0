#include "pci/chain_overlay.hpp"

#include "pci/capabilities.hpp"
#include "pci/registers.hpp"

namespace cxlmgr::pci {

Status CapabilityChainOverlay::keep(ConfigSpace& truth, uint32_t offset, unsigned length) {
    for (unsigned i = 0; i < length; ++i) {
        CXLMGR_ASSIGN(uint8_t byte, truth.read8(offset + i));
        bytes_[offset + i] = byte;
        mask_.set(offset + i);
    }
    return ok_status();
}

Result<CapabilityChainOverlay> CapabilityChainOverlay::capture(ConfigSpace& truth) {
    CapabilityChainOverlay overlay;
    CXLMGR_ASSIGN(auto caps, list_capabilities(truth));
    if (!caps.empty()) {
        CXLMGR_CHECK(overlay.keep(truth, kCfgCapabilitiesPointer, 1));
    }
    for (const auto& cap : caps) {
        CXLMGR_CHECK(overlay.keep(truth, cap.offset, 2));
    }
    if (truth.size() < kConfigSpaceExtendedSize) {
        return overlay;
    }
    // 0x100 is captured even when empty: vfio-pci rewrites it when it hides the first entry.
    CXLMGR_CHECK(overlay.keep(truth, kExtCapStart, 4));
    CXLMGR_ASSIGN(auto ext, list_ext_capabilities(truth));
    for (const auto& cap : ext) {
        CXLMGR_CHECK(overlay.keep(truth, cap.offset, 4));
        if (cap.id == kExtCapIdDvsec && cap.offset + kDvsecHeader2 + 2 <= truth.size()) {
            CXLMGR_CHECK(overlay.keep(truth, cap.offset + kDvsecHeader1, 4));
            CXLMGR_CHECK(overlay.keep(truth, cap.offset + kDvsecHeader2, 2));
        }
    }
    return overlay;
}

uint32_t CapabilityChainOverlay::apply(uint32_t offset, unsigned width, uint32_t value) const {
    for (unsigned i = 0; i < width && offset + i < mask_.size(); ++i) {
        if (mask_.test(offset + i)) {
            value &= ~(uint32_t{0xFF} << (8 * i));
            value |= uint32_t{bytes_[offset + i]} << (8 * i);
        }
    }
    return value;
}

Result<uint32_t> OverlaidConfigSpace::do_read(uint32_t offset, unsigned width) {
    uint32_t value = 0;
    switch (width) {
        case 1: {
            CXLMGR_ASSIGN(value, base_->read8(offset));
            break;
        }
        case 2: {
            CXLMGR_ASSIGN(value, base_->read16(offset));
            break;
        }
        default: {
            CXLMGR_ASSIGN(value, base_->read32(offset));
            break;
        }
    }
    return overlay_.apply(offset, width, value);
}

Status OverlaidConfigSpace::do_write(uint32_t offset, unsigned width, uint32_t value) {
    switch (width) {
        case 1:
            return base_->write8(offset, static_cast<uint8_t>(value));
        case 2:
            return base_->write16(offset, static_cast<uint16_t>(value));
        default:
            return base_->write32(offset, value);
    }
}

}  // namespace cxlmgr::pci
