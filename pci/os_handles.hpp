// Owning wrappers for the operating-system handles of the hardware backends (file descriptors
// and memory mappings), so that every error path of an open releases what it acquired.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>

namespace cxlmgr::pci {

class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) {
            reset(std::exchange(other.fd_, -1));
        }
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    [[nodiscard]] int get() const { return fd_; }
    [[nodiscard]] bool valid() const { return fd_ >= 0; }
    void reset(int fd = -1) {
        if (fd_ >= 0) {
            // close() errors cannot be acted on (the descriptor is gone either way).
            ::close(fd_);
        }
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

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

// strerror() is not thread-safe; the GNU strerror_r may return a static string instead of
// filling the buffer, hence the use of its return value.
inline std::string errno_text(int err) {
    char buf[128];
    return ::strerror_r(err, buf, sizeof buf);
}

}  // namespace cxlmgr::pci
