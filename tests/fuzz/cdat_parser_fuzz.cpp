// Fuzzes the CDAT validator/decoder and its JSON rendering: any byte string must be either
// refused with DeviceError or decoded into entries that exactly tile the table.
#include <cstddef>
#include <cstdint>
#include <span>

#include "doe/cdat.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto table = cxlmgr::doe::parse_cdat(std::span<const uint8_t>(data, size));
    if (!table.ok()) {
        if (table.error().code != cxlmgr::Errc::DeviceError || table.error().message.empty()) {
            __builtin_trap();
        }
        return 0;
    }
    if (table->header.length != size) {
        __builtin_trap();
    }
    uint32_t previous = 0;
    for (const auto& entry : table->entries) {
        if (entry.offset < cxlmgr::doe::kCdatHeaderSize || entry.offset <= previous ||
            entry.offset >= size) {
            __builtin_trap();
        }
        previous = entry.offset;
    }
    auto json = cxlmgr::doe::cdat_to_json(*table);
    if (json.size() != table->entries.size() + 1) {
        __builtin_trap();
    }
    (void)json.dump();
    return 0;
}
