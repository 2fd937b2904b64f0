#include "emu/cdat_builder.hpp"

#include <cctype>
#include <set>
#include <string>

namespace cxlmgr::emu {
namespace {

using nlohmann::json;

// CDAT structure type codes and fixed lengths (CDAT spec; docs/PROTOCOL.md "CDAT structures").
constexpr uint8_t kDsmas = 0, kDslbis = 1, kDsmscis = 2, kDsis = 3, kDsemts = 4, kSslbis = 5;
constexpr uint32_t kHeaderLen = 16;

class Writer {
public:
    void put(uint64_t value, unsigned width) {
        for (unsigned i = 0; i < width; ++i) {
            bytes.push_back(static_cast<uint8_t>(value >> (8 * i)));
        }
    }
    void zeros(unsigned n) { bytes.insert(bytes.end(), n, 0); }
    std::vector<uint8_t> bytes;
};

Error bad(size_t index, const std::string& what) {
    return Error(Errc::InvalidArgument, "emulated device description: cdat entries[" +
                                            std::to_string(index) + "]: " + what);
}

bool is_unsigned(const json& j) {
    return j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0);
}

// Reads an unsigned field (0 when absent) no larger than `max`.
Result<uint64_t> field(const json& e, size_t index, const char* key, uint64_t max) {
    auto it = e.find(key);
    if (it == e.end()) {
        return uint64_t{0};
    }
    if (!is_unsigned(*it)) {
        return bad(index, std::string("'") + key + "' must be a non-negative integer");
    }
    uint64_t v = it->get<uint64_t>();
    if (v > max) {
        return bad(index, std::string("'") + key + "' is out of range (" + std::to_string(v) + ")");
    }
    return v;
}

Status only_keys(const json& e, size_t index, std::initializer_list<const char*> keys) {
    std::set<std::string> allowed(keys.begin(), keys.end());
    allowed.insert("type");
    for (const auto& [key, value] : e.items()) {
        if (allowed.count(key) == 0) {
            return bad(index, "'" + key + "' is not a field of this entry type");
        }
    }
    return ok_status();
}

constexpr uint64_t k8 = 0xFF, k16 = 0xFFFF, k32 = 0xFFFFFFFF, k64 = UINT64_MAX;

// Appends one structure; returns its length.
Status encode_entry(const json& e, size_t index, Writer& w) {
    if (!e.is_object() || !e.contains("type") || !e["type"].is_string()) {
        return bad(index, "must be an object with a string \"type\"");
    }
    const std::string type = e["type"].get<std::string>();
    auto f = [&](const char* key, uint64_t max) { return field(e, index, key, max); };
    auto common = [&](uint8_t t, uint16_t len) {
        w.put(t, 1);
        w.zeros(1);
        w.put(len, 2);
    };
    if (type == "dsmas") {
        CXLMGR_CHECK(only_keys(e, index, {"dsmad_handle", "flags", "dpa_base", "dpa_length"}));
        CXLMGR_ASSIGN(auto handle, f("dsmad_handle", k8));
        CXLMGR_ASSIGN(auto flags, f("flags", k8));
        CXLMGR_ASSIGN(auto base, f("dpa_base", k64));
        CXLMGR_ASSIGN(auto length, f("dpa_length", k64));
        common(kDsmas, 24);
        w.put(handle, 1), w.put(flags, 1), w.zeros(2), w.put(base, 8), w.put(length, 8);
    } else if (type == "dslbis") {
        CXLMGR_CHECK(
            only_keys(e, index, {"handle", "flags", "data_type", "entry_base_unit", "entries"}));
        CXLMGR_ASSIGN(auto handle, f("handle", k8));
        CXLMGR_ASSIGN(auto flags, f("flags", k8));
        CXLMGR_ASSIGN(auto data_type, f("data_type", k8));
        CXLMGR_ASSIGN(auto unit, f("entry_base_unit", k64));
        uint64_t values[3] = {0, 0, 0};
        if (auto it = e.find("entries"); it != e.end()) {
            if (!it->is_array() || it->size() != 3) {
                return bad(index, "'entries' must be an array of 3 integers");
            }
            for (size_t i = 0; i < 3; ++i) {
                if (!is_unsigned((*it)[i]) || (*it)[i].get<uint64_t>() > k16) {
                    return bad(index, "'entries' values must be integers 0..65535");
                }
                values[i] = (*it)[i].get<uint64_t>();
            }
        }
        common(kDslbis, 24);
        w.put(handle, 1), w.put(flags, 1), w.put(data_type, 1), w.zeros(1), w.put(unit, 8);
        w.put(values[0], 2), w.put(values[1], 2), w.put(values[2], 2), w.zeros(2);
    } else if (type == "dsmscis") {
        CXLMGR_CHECK(only_keys(e, index, {"dsmas_handle", "side_cache_size", "cache_attributes"}));
        CXLMGR_ASSIGN(auto handle, f("dsmas_handle", k8));
        CXLMGR_ASSIGN(auto size, f("side_cache_size", k64));
        CXLMGR_ASSIGN(auto attrs, f("cache_attributes", k32));
        common(kDsmscis, 20);
        w.put(handle, 1), w.zeros(3), w.put(size, 8), w.put(attrs, 4);
    } else if (type == "dsis") {
        CXLMGR_CHECK(only_keys(e, index, {"flags", "handle"}));
        CXLMGR_ASSIGN(auto flags, f("flags", k8));
        CXLMGR_ASSIGN(auto handle, f("handle", k8));
        common(kDsis, 8);
        w.put(flags, 1), w.put(handle, 1), w.zeros(2);
    } else if (type == "dsemts") {
        CXLMGR_CHECK(only_keys(
            e, index, {"dsmas_handle", "efi_memory_type_attr", "dpa_offset", "dpa_length"}));
        CXLMGR_ASSIGN(auto handle, f("dsmas_handle", k8));
        CXLMGR_ASSIGN(auto efi, f("efi_memory_type_attr", k8));
        CXLMGR_ASSIGN(auto offset, f("dpa_offset", k64));
        CXLMGR_ASSIGN(auto length, f("dpa_length", k64));
        common(kDsemts, 24);
        w.put(handle, 1), w.put(efi, 1), w.zeros(2), w.put(offset, 8), w.put(length, 8);
    } else if (type == "sslbis") {
        CXLMGR_CHECK(only_keys(e, index, {"data_type", "entry_base_unit", "entries"}));
        CXLMGR_ASSIGN(auto data_type, f("data_type", k8));
        CXLMGR_ASSIGN(auto unit, f("entry_base_unit", k64));
        json entries = e.value("entries", json::array());
        if (!entries.is_array() || entries.size() > (0xFFFF - 16) / 8) {
            return bad(index, "'entries' must be an array of at most 8189 objects");
        }
        common(kSslbis, static_cast<uint16_t>(16 + 8 * entries.size()));
        w.put(data_type, 1), w.zeros(3), w.put(unit, 8);
        for (const auto& sslbe : entries) {
            if (!sslbe.is_object()) {
                return bad(index, "'entries' items must be objects");
            }
            CXLMGR_CHECK(
                only_keys(sslbe, index, {"port_x_id", "port_y_id", "latency_or_bandwidth"}));
            CXLMGR_ASSIGN(auto x, field(sslbe, index, "port_x_id", k16));
            CXLMGR_ASSIGN(auto y, field(sslbe, index, "port_y_id", k16));
            CXLMGR_ASSIGN(auto v, field(sslbe, index, "latency_or_bandwidth", k16));
            w.put(x, 2), w.put(y, 2), w.put(v, 2), w.zeros(2);
        }
    } else if (type == "unknown") {
        CXLMGR_CHECK(only_keys(e, index, {"type_id", "raw"}));
        CXLMGR_ASSIGN(auto type_id, f("type_id", k8));
        auto it = e.find("raw");
        if (it == e.end() || !it->is_array() || it->size() < 4 || it->size() > 0xFFFF) {
            return bad(index, "'raw' must be an array of 4..65535 bytes (the whole entry)");
        }
        std::vector<uint8_t> raw;
        for (const auto& b : *it) {
            if (!is_unsigned(b) || b.get<uint64_t>() > k8) {
                return bad(index, "'raw' items must be integers 0..255");
            }
            raw.push_back(static_cast<uint8_t>(b.get<uint64_t>()));
        }
        if (raw[0] != type_id || static_cast<size_t>(raw[2] | (raw[3] << 8)) != raw.size()) {
            return bad(index,
                       "'raw' must start with type_id and its own length (use raw_hex "
                       "for malformed tables)");
        }
        w.bytes.insert(w.bytes.end(), raw.begin(), raw.end());
    } else {
        return bad(index, "unknown type '" + type + "'");
    }
    return ok_status();
}

void finish_header(std::vector<uint8_t>& t) {
    auto length = static_cast<uint32_t>(t.size());
    for (unsigned i = 0; i < 4; ++i) {
        t[i] = static_cast<uint8_t>(length >> (8 * i));
    }
    t[5] = 0;
    uint8_t sum = 0;
    for (uint8_t b : t) {
        sum = static_cast<uint8_t>(sum + b);
    }
    t[5] = static_cast<uint8_t>(0x100 - sum);
}

// Splits a table into served entries by its length fields, tolerating garbage.
std::vector<std::pair<uint32_t, uint32_t>> split(const std::vector<uint8_t>& t) {
    std::vector<std::pair<uint32_t, uint32_t>> out{{0, kHeaderLen}};
    uint32_t off = kHeaderLen;
    const auto size = static_cast<uint32_t>(t.size());
    while (off < size) {
        uint32_t len = size - off >= 4 ? (t[off + 2] | (t[off + 3] << 8)) : 0;
        if (len < 4 || len > size - off) {
            len = size - off;
        }
        out.emplace_back(off, len);
        off += len;
    }
    return out;
}

Result<std::vector<uint8_t>> from_hex(const std::string& text) {
    std::vector<uint8_t> out;
    int high = -1;
    for (char c : text) {
        if (std::isspace(static_cast<unsigned char>(c))) {
            continue;
        }
        if (!std::isxdigit(static_cast<unsigned char>(c))) {
            return Error(Errc::InvalidArgument,
                         "emulated device description: cdat raw_hex has a non-hex character");
        }
        int v = std::stoi(std::string(1, c), nullptr, 16);
        if (high < 0) {
            high = v;
        } else {
            out.push_back(static_cast<uint8_t>(high << 4 | v));
            high = -1;
        }
    }
    if (high >= 0) {
        return Error(Errc::InvalidArgument,
                     "emulated device description: cdat raw_hex has an odd number of digits");
    }
    return out;
}

json default_entries(const DeviceDescription& d) {
    json entries = json::array();
    struct Region {
        uint64_t base, length;
        bool persistent;
    };
    std::vector<Region> regions;
    if (d.volatile_capacity) {
        regions.push_back({0, d.volatile_capacity, false});
    }
    if (d.persistent_capacity) {
        regions.push_back({d.volatile_capacity, d.persistent_capacity, true});
    }
    for (size_t h = 0; h < regions.size(); ++h) {
        const auto& r = regions[h];
        entries.push_back({{"type", "dsmas"},
                           {"dsmad_handle", h},
                           {"flags", r.persistent ? 0x04 : 0x00},
                           {"dpa_base", r.base},
                           {"dpa_length", r.length}});
        // data type: 1 read latency, 2 write latency (ps units), 4/5 read/write bandwidth (MB/s).
        const std::pair<int, int> lbis[] = {{1, 15}, {2, 18}, {4, 28}, {5, 24}};
        for (auto [data_type, value] : lbis) {
            entries.push_back({{"type", "dslbis"},
                               {"handle", h},
                               {"flags", 0},
                               {"data_type", data_type},
                               {"entry_base_unit", data_type <= 2 ? 10000 : 1000},
                               {"entries", {value, 0, 0}}});
        }
        entries.push_back({{"type", "dsemts"},
                           {"dsmas_handle", h},
                           {"efi_memory_type_attr", r.persistent ? 2 : 1},
                           {"dpa_offset", 0},
                           {"dpa_length", r.length}});
    }
    return entries;
}

}  // namespace

Result<CdatImage> build_cdat(const DeviceDescription& d) {
    const json& section = d.cdat;
    if (!section.is_object()) {
        return Error(Errc::InvalidArgument, "emulated device description: cdat must be an object");
    }
    for (const auto& [key, value] : section.items()) {
        if (key != "raw_hex" && key != "revision" && key != "sequence" && key != "entries") {
            return Error(Errc::InvalidArgument,
                         "emulated device description: cdat '" + key + "' is not a known key");
        }
    }
    CdatImage image;
    if (auto it = section.find("raw_hex"); it != section.end()) {
        if (section.size() != 1 || !it->is_string()) {
            return Error(Errc::InvalidArgument,
                         "emulated device description: cdat raw_hex must "
                         "be a string and the only key");
        }
        CXLMGR_ASSIGN(image.table, from_hex(it->get<std::string>()));
        if (image.table.size() < kHeaderLen || image.table.size() > (1u << 20)) {
            return Error(Errc::InvalidArgument,
                         "emulated device description: cdat raw_hex must be 16 bytes to 1 MiB");
        }
        image.entries = split(image.table);
        return image;
    }
    CXLMGR_ASSIGN(uint64_t revision, field(section, 0, "revision", k8));
    CXLMGR_ASSIGN(uint64_t sequence, field(section, 0, "sequence", k32));
    if (!section.contains("revision")) {
        revision = 1;
    }
    json entries = section.contains("entries") ? section["entries"] : default_entries(d);
    if (!entries.is_array()) {
        return Error(Errc::InvalidArgument,
                     "emulated device description: cdat entries must be an array");
    }
    Writer w;
    w.zeros(kHeaderLen);
    image.entries.emplace_back(0, kHeaderLen);
    for (size_t i = 0; i < entries.size(); ++i) {
        const json& e = entries[i];
        if (e.is_object() && e.value("type", "") == "header") {
            if (i != 0) {
                return bad(i, "a header may only be the first entry");
            }
            CXLMGR_CHECK(only_keys(e, i, {"length", "revision", "checksum", "sequence"}));
            CXLMGR_ASSIGN(revision, field(e, i, "revision", k8));
            CXLMGR_ASSIGN(sequence, field(e, i, "sequence", k32));
            continue;
        }
        auto start = static_cast<uint32_t>(w.bytes.size());
        CXLMGR_CHECK(encode_entry(e, i, w));
        image.entries.emplace_back(start, static_cast<uint32_t>(w.bytes.size()) - start);
        if (w.bytes.size() > (1u << 20)) {
            return Error(Errc::InvalidArgument, "emulated device description: cdat exceeds 1 MiB");
        }
    }
    image.table = std::move(w.bytes);
    image.table[4] = static_cast<uint8_t>(revision);
    for (unsigned i = 0; i < 4; ++i) {
        image.table[12 + i] = static_cast<uint8_t>(sequence >> (8 * i));
    }
    finish_header(image.table);
    return image;
}

}  // namespace cxlmgr::emu
