// The Coherent Device Attribute Table (CDAT): decoded structures, the parser and validator, and
// the JSON rendering the D-Bus API (org.cxlmgr1.Cdat.Read) and cxlmgrctl show.
//
// JSON rendering (stable: it is API, see docs/API.md). An array with one object per entry, in
// table order, the header first. Every object has "type" and the structure's fields under their
// CDAT specification names in snake_case; integers are JSON numbers:
//   header:  length, revision, checksum, sequence
//   dsmas:   dsmad_handle, flags, dpa_base, dpa_length
//   dslbis:  handle, flags, data_type, entry_base_unit, entries (array of 3)
//   dsmscis: dsmas_handle, side_cache_size, cache_attributes
//   dsis:    flags, handle
//   dsemts:  dsmas_handle, efi_memory_type_attr, dpa_offset, dpa_length
//   sslbis:  data_type, entry_base_unit,
//            entries: [{port_x_id, port_y_id, latency_or_bandwidth}, ...]
//   unknown: type_id, raw (array of the entry's bytes, its 4-byte common header included)
// Entry numbers in error messages are indices into that array (the header is entry 0).
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <variant>
#include <vector>

#include "common/result.hpp"

namespace cxlmgr::doe {

inline constexpr uint32_t kCdatHeaderSize = 16;
// Far beyond any real table (QEMU's default is 160 bytes) and a bound for a runaway device.
inline constexpr uint32_t kCdatMaxLength = 1u << 20;

enum class CdatType : uint8_t {
    Dsmas = 0,
    Dslbis = 1,
    Dsmscis = 2,
    Dsis = 3,
    Dsemts = 4,
    Sslbis = 5,
};

struct CdatHeader {
    uint32_t length = 0;
    uint8_t revision = 0;
    uint8_t checksum = 0;
    uint32_t sequence = 0;
};

struct CdatDsmas {
    uint8_t dsmad_handle = 0;
    uint8_t flags = 0;
    uint64_t dpa_base = 0;
    uint64_t dpa_length = 0;
};

struct CdatDslbis {
    uint8_t handle = 0;
    uint8_t flags = 0;
    uint8_t data_type = 0;
    uint64_t entry_base_unit = 0;
    std::array<uint16_t, 3> entries{};
};

struct CdatDsmscis {
    uint8_t dsmas_handle = 0;
    uint64_t side_cache_size = 0;
    uint32_t cache_attributes = 0;
};

struct CdatDsis {
    uint8_t flags = 0;
    uint8_t handle = 0;
};

struct CdatDsemts {
    uint8_t dsmas_handle = 0;
    uint8_t efi_memory_type_attr = 0;
    uint64_t dpa_offset = 0;
    uint64_t dpa_length = 0;
};

struct CdatSslbe {
    uint16_t port_x_id = 0;
    uint16_t port_y_id = 0;
    uint16_t latency_or_bandwidth = 0;
};

struct CdatSslbis {
    uint8_t data_type = 0;
    uint64_t entry_base_unit = 0;
    std::vector<CdatSslbe> entries;
};

// A structure type this parser does not know, kept rather than dropped.
struct CdatUnknown {
    uint8_t type_id = 0;
    std::vector<uint8_t> raw;  // the whole entry, common header included
};

using CdatStructure =
    std::variant<CdatDsmas, CdatDslbis, CdatDsmscis, CdatDsis, CdatDsemts, CdatSslbis, CdatUnknown>;

struct CdatEntry {
    uint32_t offset = 0;  // byte offset in the table
    CdatStructure structure;
};

struct CdatTable {
    CdatHeader header;
    std::vector<CdatEntry> entries;  // after the header, in table order
};

// Validates and decodes a whole table: the header length equals the table size, the bytes sum
// to zero, every entry is at least its common header, has the exact length of its type (SSLBIS:
// 16 + 8n) and stays inside the table. Any fault is a DeviceError naming it and the entry
// number and offset; a table is either fully decoded or refused.
Result<CdatTable> parse_cdat(std::span<const uint8_t> table);

nlohmann::json cdat_to_json(const CdatTable& table);

// "dsmas", "unknown", ...: the "type" values of the rendering.
const char* cdat_structure_name(const CdatStructure& structure);

}  // namespace cxlmgr::doe
