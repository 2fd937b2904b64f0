#include "doe/cdat.hpp"

#include <cstdio>
#include <string>

namespace cxlmgr::doe {
namespace {

using nlohmann::json;

uint64_t le(std::span<const uint8_t> b, size_t off, unsigned width) {
    uint64_t v = 0;
    for (unsigned i = 0; i < width; ++i) {
        v |= static_cast<uint64_t>(b[off + i]) << (8 * i);
    }
    return v;
}
uint8_t u8(std::span<const uint8_t> b, size_t off) {
    return b[off];
}
uint16_t u16(std::span<const uint8_t> b, size_t off) {
    return static_cast<uint16_t>(le(b, off, 2));
}
uint32_t u32(std::span<const uint8_t> b, size_t off) {
    return static_cast<uint32_t>(le(b, off, 4));
}
uint64_t u64(std::span<const uint8_t> b, size_t off) {
    return le(b, off, 8);
}

std::string hex(uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", v);
    return buf;
}

Error bad_entry(size_t index, uint32_t offset, const std::string& what) {
    return Error(Errc::DeviceError, "malformed CDAT: entry " + std::to_string(index) +
                                        " at offset " + hex(offset) + ": " + what);
}

// Fixed lengths of the known structures; SSLBIS is variable (16 + 8n).
constexpr uint16_t kDsmasLength = 24;
constexpr uint16_t kDslbisLength = 24;
constexpr uint16_t kDsmscisLength = 20;
constexpr uint16_t kDsisLength = 8;
constexpr uint16_t kDsemtsLength = 24;
constexpr uint16_t kSslbisFixedLength = 16;
constexpr uint16_t kSslbeLength = 8;

struct KnownType {
    const char* name;
    uint16_t length;  // 0 for SSLBIS
};

std::optional<KnownType> known_type(uint8_t type) {
    switch (static_cast<CdatType>(type)) {
        case CdatType::Dsmas:
            return KnownType{"DSMAS", kDsmasLength};
        case CdatType::Dslbis:
            return KnownType{"DSLBIS", kDslbisLength};
        case CdatType::Dsmscis:
            return KnownType{"DSMSCIS", kDsmscisLength};
        case CdatType::Dsis:
            return KnownType{"DSIS", kDsisLength};
        case CdatType::Dsemts:
            return KnownType{"DSEMTS", kDsemtsLength};
        case CdatType::Sslbis:
            return KnownType{"SSLBIS", 0};
    }
    return std::nullopt;
}

// `e` is exactly the entry's bytes, its length already checked against its type.
CdatStructure decode(uint8_t type, std::span<const uint8_t> e) {
    switch (static_cast<CdatType>(type)) {
        case CdatType::Dsmas:
            return CdatDsmas{u8(e, 4), u8(e, 5), u64(e, 8), u64(e, 16)};
        case CdatType::Dslbis:
            return CdatDslbis{
                u8(e, 4), u8(e, 5), u8(e, 6), u64(e, 8), {u16(e, 16), u16(e, 18), u16(e, 20)}};
        case CdatType::Dsmscis:
            return CdatDsmscis{u8(e, 4), u64(e, 8), u32(e, 16)};
        case CdatType::Dsis:
            return CdatDsis{u8(e, 4), u8(e, 5)};
        case CdatType::Dsemts:
            return CdatDsemts{u8(e, 4), u8(e, 5), u64(e, 8), u64(e, 16)};
        case CdatType::Sslbis: {
            CdatSslbis s{u8(e, 4), u64(e, 8), {}};
            for (size_t off = kSslbisFixedLength; off + kSslbeLength <= e.size();
                 off += kSslbeLength) {
                s.entries.push_back({u16(e, off), u16(e, off + 2), u16(e, off + 4)});
            }
            return s;
        }
    }
    return CdatUnknown{type, std::vector<uint8_t>(e.begin(), e.end())};
}

}  // namespace

Result<CdatTable> parse_cdat(std::span<const uint8_t> table) {
    if (table.size() < kCdatHeaderSize) {
        return Error(Errc::DeviceError, "malformed CDAT: " + std::to_string(table.size()) +
                                            " bytes, shorter than the 16-byte header");
    }
    CdatTable out;
    out.header = CdatHeader{u32(table, 0), u8(table, 4), u8(table, 5), u32(table, 12)};
    if (out.header.length != table.size()) {
        return Error(Errc::DeviceError,
                     "malformed CDAT: the header says " + std::to_string(out.header.length) +
                         " bytes, the table has " + std::to_string(table.size()));
    }
    uint8_t sum = 0;
    for (uint8_t b : table) {
        sum = static_cast<uint8_t>(sum + b);
    }
    if (sum != 0) {
        return Error(Errc::DeviceError, "bad CDAT checksum: the bytes sum to " + hex(sum) +
                                            ", not 0 (header checksum byte " +
                                            hex(out.header.checksum) + ")");
    }
    size_t offset = kCdatHeaderSize;
    for (size_t index = 1; offset < table.size(); ++index) {
        const auto off32 = static_cast<uint32_t>(offset);
        if (table.size() - offset < 4) {
            return bad_entry(index, off32,
                             std::to_string(table.size() - offset) +
                                 " trailing bytes, too few for a structure header");
        }
        uint8_t type = u8(table, offset);
        uint16_t length = u16(table, offset + 2);
        if (length == 0) {
            return bad_entry(index, off32, "zero length (type " + std::to_string(type) + ")");
        }
        if (length < 4) {
            return bad_entry(index, off32,
                             "length " + std::to_string(length) + " is shorter than its header");
        }
        if (length > table.size() - offset) {
            return bad_entry(index, off32,
                             "length " + std::to_string(length) + " overruns the table (" +
                                 std::to_string(table.size() - offset) + " bytes left)");
        }
        if (auto known = known_type(type)) {
            bool fits = known->length != 0 ? length == known->length
                                           : length >= kSslbisFixedLength &&
                                                 (length - kSslbisFixedLength) % kSslbeLength == 0;
            if (!fits) {
                std::string expected =
                    known->length != 0 ? std::to_string(known->length) : std::string("16 + 8n");
                return bad_entry(index, off32,
                                 std::string(known->name) + " length " + std::to_string(length) +
                                     ", expected " + expected);
            }
        }
        out.entries.push_back({off32, decode(type, table.subspan(offset, length))});
        offset += length;
    }
    return out;
}

const char* cdat_structure_name(const CdatStructure& structure) {
    static constexpr const char* kNames[] = {"dsmas",  "dslbis", "dsmscis", "dsis",
                                             "dsemts", "sslbis", "unknown"};
    return kNames[structure.index()];
}

namespace {

struct ToJson {
    json operator()(const CdatDsmas& s) const {
        return {{"dsmad_handle", s.dsmad_handle},
                {"flags", s.flags},
                {"dpa_base", s.dpa_base},
                {"dpa_length", s.dpa_length}};
    }
    json operator()(const CdatDslbis& s) const {
        return {{"handle", s.handle},
                {"flags", s.flags},
                {"data_type", s.data_type},
                {"entry_base_unit", s.entry_base_unit},
                {"entries", s.entries}};
    }
    json operator()(const CdatDsmscis& s) const {
        return {{"dsmas_handle", s.dsmas_handle},
                {"side_cache_size", s.side_cache_size},
                {"cache_attributes", s.cache_attributes}};
    }
    json operator()(const CdatDsis& s) const { return {{"flags", s.flags}, {"handle", s.handle}}; }
    json operator()(const CdatDsemts& s) const {
        return {{"dsmas_handle", s.dsmas_handle},
                {"efi_memory_type_attr", s.efi_memory_type_attr},
                {"dpa_offset", s.dpa_offset},
                {"dpa_length", s.dpa_length}};
    }
    json operator()(const CdatSslbis& s) const {
        json entries = json::array();
        for (const auto& e : s.entries) {
            entries.push_back({{"port_x_id", e.port_x_id},
                               {"port_y_id", e.port_y_id},
                               {"latency_or_bandwidth", e.latency_or_bandwidth}});
        }
        return {{"data_type", s.data_type},
                {"entry_base_unit", s.entry_base_unit},
                {"entries", std::move(entries)}};
    }
    json operator()(const CdatUnknown& s) const { return {{"type_id", s.type_id}, {"raw", s.raw}}; }
};

}  // namespace

json cdat_to_json(const CdatTable& table) {
    json out = json::array();
    out.push_back({{"type", "header"},
                   {"length", table.header.length},
                   {"revision", table.header.revision},
                   {"checksum", table.header.checksum},
                   {"sequence", table.header.sequence}});
    for (const auto& entry : table.entries) {
        json j = std::visit(ToJson{}, entry.structure);
        j["type"] = cdat_structure_name(entry.structure);
        out.push_back(std::move(j));
    }
    return out;
}

}  // namespace cxlmgr::doe
