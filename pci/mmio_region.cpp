#include "pci/mmio_region.hpp"

#include <cstdio>
#include <stdexcept>

namespace cxlmgr::pci {

bool MmioRegion::contains(uint64_t offset, uint64_t length) const {
    return offset <= size() && length <= size() - offset;
}

void MmioRegion::check_access(uint64_t offset, unsigned width) const {
    if (offset % width != 0 || !contains(offset, width)) {
        char buf[128];
        std::snprintf(buf, sizeof buf, "MMIO access of %u bytes at 0x%llx (region of 0x%llx bytes)",
                      width, static_cast<unsigned long long>(offset),
                      static_cast<unsigned long long>(size()));
        throw std::out_of_range(buf);
    }
}

uint32_t MmioRegion::read32(uint64_t offset) {
    check_access(offset, 4);
    return do_read32(offset);
}

uint64_t MmioRegion::read64(uint64_t offset) {
    check_access(offset, 8);
    return do_read64(offset);
}

void MmioRegion::write32(uint64_t offset, uint32_t value) {
    check_access(offset, 4);
    do_write32(offset, value);
}

void MmioRegion::write64(uint64_t offset, uint64_t value) {
    check_access(offset, 8);
    do_write64(offset, value);
}

uint32_t MappedMmioRegion::do_read32(uint64_t offset) {
    return *reinterpret_cast<volatile uint32_t*>(base_ + offset);
}

uint64_t MappedMmioRegion::do_read64(uint64_t offset) {
    return *reinterpret_cast<volatile uint64_t*>(base_ + offset);
}

void MappedMmioRegion::do_write32(uint64_t offset, uint32_t value) {
    *reinterpret_cast<volatile uint32_t*>(base_ + offset) = value;
}

void MappedMmioRegion::do_write64(uint64_t offset, uint64_t value) {
    *reinterpret_cast<volatile uint64_t*>(base_ + offset) = value;
}

}  // namespace cxlmgr::pci
