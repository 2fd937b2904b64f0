// A memory-mapped BAR. Device registers care about access width (a 64-bit register written as
// two halves, or a byte store to a 32-bit register, misbehaves on real device models), so the
// only accesses are explicit, naturally aligned 32- and 64-bit loads and stores.
//
// MMIO cannot fail the way a system call can: a removed device reads as all-ones. An offset
// outside the region or misaligned is a caller bug (register offsets are validated against the
// BAR size when the register blocks are discovered) and throws std::out_of_range.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cxlmgr::pci {

class MmioRegion {
public:
    virtual ~MmioRegion() = default;

    [[nodiscard]] virtual uint64_t size() const = 0;

    uint32_t read32(uint64_t offset);
    uint64_t read64(uint64_t offset);
    void write32(uint64_t offset, uint32_t value);
    void write64(uint64_t offset, uint64_t value);

    // True when [offset, offset + length) lies inside the region.
    [[nodiscard]] bool contains(uint64_t offset, uint64_t length) const;

protected:
    virtual uint32_t do_read32(uint64_t offset) = 0;
    virtual uint64_t do_read64(uint64_t offset) = 0;
    virtual void do_write32(uint64_t offset, uint32_t value) = 0;
    virtual void do_write64(uint64_t offset, uint64_t value) = 0;

private:
    void check_access(uint64_t offset, unsigned width) const;
};

// A region backed by a mapping in this process (sysfs resourceN or a VFIO region mmap): every
// access is a single volatile load or store of the stated width. It does not own the mapping.
class MappedMmioRegion : public MmioRegion {
public:
    MappedMmioRegion(volatile void* base, uint64_t size)
        : base_(static_cast<volatile std::byte*>(base)), size_(size) {}

    [[nodiscard]] uint64_t size() const override { return size_; }

protected:
    uint32_t do_read32(uint64_t offset) override;
    uint64_t do_read64(uint64_t offset) override;
    void do_write32(uint64_t offset, uint32_t value) override;
    void do_write64(uint64_t offset, uint64_t value) override;

private:
    volatile std::byte* base_;
    uint64_t size_;
};

}  // namespace cxlmgr::pci
