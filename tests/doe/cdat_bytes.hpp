// Hand-built CDAT bytes for parser and reader tests (written here, not taken from either side).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace cxlmgr::testing {

struct CdatBytes {
    std::vector<uint8_t> b = std::vector<uint8_t>(16, 0);

    // Little-endian; widths past 8 pad with zeros (put(0, 12) is 12 zero bytes).
    CdatBytes& put(uint64_t v, unsigned width) {
        for (unsigned i = 0; i < width; ++i)
            b.push_back(i < 8 ? static_cast<uint8_t>(v >> (8 * i)) : 0);
        return *this;
    }
    CdatBytes& header(uint8_t type, uint16_t length) {
        return put(type, 1).put(0, 1).put(length, 2);
    }
    CdatBytes& dsmas(uint8_t handle, uint8_t flags, uint64_t base, uint64_t len) {
        return header(0, 24).put(handle, 1).put(flags, 1).put(0, 2).put(base, 8).put(len, 8);
    }
    CdatBytes& dslbis(uint8_t handle, uint8_t type, uint64_t unit, uint16_t e0) {
        return header(1, 24)
            .put(handle, 1)
            .put(0, 1)
            .put(type, 1)
            .put(0, 1)
            .put(unit, 8)
            .put(e0, 2)
            .put(0, 2)
            .put(0, 2)
            .put(0, 2);
    }
    // Fills length, revision, checksum (sequence 0 unless set before).
    std::vector<uint8_t> finish(uint8_t revision = 1, int checksum_delta = 0) {
        auto t = b;
        auto len = static_cast<uint32_t>(t.size());
        for (int i = 0; i < 4; ++i)
            t[i] = static_cast<uint8_t>(len >> (8 * i));
        t[4] = revision;
        t[5] = 0;
        uint8_t sum = 0;
        for (auto x : t)
            sum = static_cast<uint8_t>(sum + x);
        t[5] = static_cast<uint8_t>(-sum + checksum_delta);
        return t;
    }
};

inline std::string to_hex(const std::vector<uint8_t>& bytes) {
    std::string s;
    char buf[4];
    for (auto x : bytes) {
        std::snprintf(buf, sizeof buf, "%02x", x);
        s += buf;
    }
    return s;
}

}  // namespace cxlmgr::testing
