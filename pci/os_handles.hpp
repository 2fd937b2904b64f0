// Owning wrappers for the operating-system handles of the hardware backends, so that every error
// path of an open releases what it acquired. File descriptors and errno text are in common/.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <utility>

#include "common/errno_text.hpp"
#include "common/unique_fd.hpp"

namespace cxlmgr::pci {

class MemoryMapping {
public:
    MemoryMapping() = default;
    MemoryMapping(void* addr, size_t length) : addr_(addr), length_(length) {}
    MemoryMapping(MemoryMapping&& other) noexcept
        : addr_(std::exchange(other.addr_, nullptr)), length_(std::exchange(other.length_, 0)) {}
    MemoryMapping& operator=(MemoryMapping&& other) noexcept {
        if (this != &other) {
            release();
            addr_ = std::exchange(other.addr_, nullptr);
            length_ = std::exchange(other.length_, 0);
        }
        return *this;
    }
    MemoryMapping(const MemoryMapping&) = delete;
    MemoryMapping& operator=(const MemoryMapping&) = delete;
    ~MemoryMapping() { release(); }

    [[nodiscard]] void* get() const { return addr_; }
    [[nodiscard]] size_t length() const { return length_; }

private:
    void release() {
        if (addr_ != nullptr) {
            ::munmap(addr_, length_);
            addr_ = nullptr;
        }
    }

    void* addr_ = nullptr;
    size_t length_ = 0;
};

}  // namespace cxlmgr::pci
