// A config space over a plain byte array, for hand-building malformed capability lists.
#pragma once

#include <cstring>
#include <vector>

#include "pci/config_space.hpp"

namespace cxlmgr::testing {

class ByteConfigSpace : public pci::ConfigSpace {
public:
    explicit ByteConfigSpace(uint32_t size = pci::kConfigSpaceExtendedSize) : bytes_(size, 0) {}

    void put8(uint32_t off, uint8_t v) { bytes_.at(off) = v; }
    void put16(uint32_t off, uint16_t v) { put(off, v, 2); }
    void put32(uint32_t off, uint32_t v) { put(off, v, 4); }
    void fill(uint8_t v) { std::memset(bytes_.data(), v, bytes_.size()); }

    [[nodiscard]] uint32_t size() const override { return static_cast<uint32_t>(bytes_.size()); }
    [[nodiscard]] const pci::DeviceIdentity& identity() const override { return identity_; }

protected:
    Result<uint32_t> do_read(uint32_t offset, unsigned width) override {
        uint32_t v = 0;
        for (unsigned i = 0; i < width; ++i) {
            v |= static_cast<uint32_t>(bytes_.at(offset + i)) << (8 * i);
        }
        return v;
    }
    Status do_write(uint32_t offset, unsigned width, uint32_t value) override {
        put(offset, value, width);
        return ok_status();
    }

private:
    void put(uint32_t off, uint32_t v, unsigned width) {
        for (unsigned i = 0; i < width; ++i) {
            bytes_.at(off + i) = static_cast<uint8_t>(v >> (8 * i));
        }
    }

    std::vector<uint8_t> bytes_;
    pci::DeviceIdentity identity_{0x1234, 0x5678, 0x050210, "test"};
};

}  // namespace cxlmgr::testing
