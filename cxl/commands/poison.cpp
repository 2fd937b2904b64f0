#include "cxl/commands/poison.hpp"

#include <algorithm>

namespace cxlmgr::cxl {
namespace {

constexpr const CommandSpec& kGetListSpec = command_spec(opcode::kGetPoisonList);
constexpr const CommandSpec& kInjectSpec = command_spec(opcode::kInjectPoison);
constexpr const CommandSpec& kClearSpec = command_spec(opcode::kClearPoison);
constexpr const CommandSpec& kCapsSpec = command_spec(opcode::kGetScanMediaCapabilities);
constexpr const CommandSpec& kScanSpec = command_spec(opcode::kScanMedia);
constexpr const CommandSpec& kResultsSpec = command_spec(opcode::kGetScanMediaResults);

constexpr uint64_t kAddressMask = ~(kPoisonGranule - 1);
constexpr uint8_t kSourceMask = 0x7;

Status check_dpa(const CommandSpec& spec, uint64_t dpa) {
    if (dpa % kPoisonGranule != 0) {
        return Error(Errc::InvalidArgument,
                     std::string(spec.name) + ": DPA " + hex(dpa) + " is not 64-byte aligned");
    }
    return ok_status();
}

Status check_range(const CommandSpec& spec, DpaRange r) {
    CXLMGR_CHECK(check_dpa(spec, r.dpa));
    if (r.length == 0 || r.length % kPoisonGranule != 0 || r.dpa + r.length < r.dpa) {
        return Error(Errc::InvalidArgument,
                     std::string(spec.name) + ": length " + hex(r.length) +
                         " must be a non-zero multiple of 64 bytes that does not wrap");
    }
    return ok_status();
}

// The 16-byte range header the list and scan commands share: DPA, then length in 64-byte units.
Bytes range_input(const CommandSpec& spec, DpaRange r) {
    Bytes in(spec.input.bytes, 0);
    store_le(in, 0, r.dpa, 8);
    store_le(in, 8, r.length / kPoisonGranule, 8);
    return in;
}

// `count` records from `offset`, named after `spec` when they do not fit.
Result<std::vector<MediaErrorRecord>> decode_records(ByteSpan out, size_t offset, size_t count,
                                                     const CommandSpec& spec) {
    const size_t room = (out.size() - offset) / kMediaErrorRecordSize;
    if (count > room) {
        return Error(Errc::DeviceError, std::string(spec.name) + " reports " +
                                            std::to_string(count) + " records, but its " +
                                            std::to_string(out.size()) + " bytes of output hold " +
                                            std::to_string(room));
    }
    std::vector<MediaErrorRecord> records;
    records.reserve(count);
    for (size_t i = 0; i < count; ++i) {
        const size_t at = offset + i * kMediaErrorRecordSize;
        const uint64_t address = u64_at(out, at);
        records.push_back({address & kAddressMask, static_cast<uint8_t>(address & kSourceMask),
                           uint64_t{u32_at(out, at + 8)} * kPoisonGranule});
    }
    return records;
}

nlohmann::json records_to_json(const std::vector<MediaErrorRecord>& records) {
    nlohmann::json a = nlohmann::json::array();
    for (const auto& r : records) {
        a.push_back({{"dpa", r.dpa},
                     {"length", r.length},
                     {"source", r.source},
                     {"source_name", poison_source_name(r.source)}});
    }
    return a;
}

}  // namespace

std::string_view poison_source_name(uint8_t source) {
    switch (static_cast<PoisonSource>(source)) {
        case PoisonSource::Unknown:
            return "unknown";
        case PoisonSource::External:
            return "external";
        case PoisonSource::Internal:
            return "internal";
        case PoisonSource::Injected:
            return "injected";
        case PoisonSource::Vendor:
            return "vendor";
    }
    return "reserved";
}

Result<Command<PoisonList>> get_poison_list(DpaRange range) {
    CXLMGR_CHECK(check_range(kGetListSpec, range));
    return make_command<PoisonList>(kGetListSpec, range_input(kGetListSpec, range),
                                    decode_poison_list);
}

Result<Command<PoisonList>> get_poison_list_continuation(DpaRange range,
                                                         const PoisonList& previous) {
    if (!previous.more) {
        return Error(Errc::InvalidArgument,
                     std::string(kGetListSpec.name) +
                         ": the previous answer had no more records to continue with");
    }
    return get_poison_list(range);
}

Result<PoisonList> decode_poison_list(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, kPoisonListHeaderSize, kGetListSpec.name));
    PoisonList list;
    const uint8_t flags = u8_at(out, 0);
    list.more = (flags & kPoisonMoreRecords) != 0;
    list.overflow = (flags & kPoisonOverflow) != 0;
    list.scan_media_in_progress = (flags & kPoisonScanInProgress) != 0;
    if (list.overflow) {
        list.overflow_timestamp = u64_at(out, 2);
    }
    CXLMGR_ASSIGN(list.records,
                  decode_records(out, kPoisonListHeaderSize, u16_at(out, 0x0A), kGetListSpec));
    return list;
}

Result<Command<Unit>> inject_poison(uint64_t dpa) {
    CXLMGR_CHECK(check_dpa(kInjectSpec, dpa));
    Bytes in(kInjectSpec.input.bytes, 0);
    store_le(in, 0, dpa, 8);
    return make_command<Unit>(kInjectSpec, std::move(in), decode_nothing);
}

Result<Command<Unit>> clear_poison(uint64_t dpa, ByteSpan data) {
    CXLMGR_CHECK(check_dpa(kClearSpec, dpa));
    if (!data.empty() && data.size() != kClearPoisonDataSize) {
        return Error(Errc::InvalidArgument, std::string(kClearSpec.name) +
                                                ": the write data is 64 bytes, not " +
                                                std::to_string(data.size()));
    }
    Bytes in(kClearSpec.input.bytes, 0);
    store_le(in, 0, dpa, 8);
    std::copy(data.begin(), data.end(), in.begin() + 8);
    return make_command<Unit>(kClearSpec, std::move(in), decode_nothing);
}

Result<Command<ScanMediaCapabilities>> get_scan_media_capabilities(DpaRange range) {
    CXLMGR_CHECK(check_range(kCapsSpec, range));
    return make_command<ScanMediaCapabilities>(kCapsSpec, range_input(kCapsSpec, range),
                                               decode_scan_media_capabilities);
}

Result<ScanMediaCapabilities> decode_scan_media_capabilities(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, kCapsSpec.min_output, kCapsSpec.name));
    return ScanMediaCapabilities{u32_at(out, 0)};
}

Result<Command<Unit>> scan_media(DpaRange range, bool no_event_log) {
    CXLMGR_CHECK(check_range(kScanSpec, range));
    Bytes in = range_input(kScanSpec, range);
    in[0x10] = no_event_log ? 1 : 0;
    return make_command<Unit>(kScanSpec, std::move(in), decode_nothing);
}

Command<ScanMediaResults> get_scan_media_results() {
    return make_command<ScanMediaResults>(kResultsSpec, {}, decode_scan_media_results);
}

Result<ScanMediaResults> decode_scan_media_results(ByteSpan out) {
    CXLMGR_CHECK(check_min_length(out, kScanMediaResultsHeaderSize, kResultsSpec.name));
    ScanMediaResults r;
    const uint64_t units = u64_at(out, 8);
    if (units > UINT64_MAX / kPoisonGranule) {
        return Error(Errc::DeviceError, std::string(kResultsSpec.name) +
                                            " reports a restart length of " + hex(units) +
                                            " x 64 bytes, which overflows 64 bits");
    }
    r.restart_dpa = u64_at(out, 0) & kAddressMask;
    r.restart_length = units * kPoisonGranule;
    const uint8_t flags = u8_at(out, 0x10);
    r.more = (flags & kScanMoreRecords) != 0;
    r.stopped_prematurely = (flags & kScanStoppedPrematurely) != 0;
    CXLMGR_ASSIGN(r.records, decode_records(out, kScanMediaResultsHeaderSize, u16_at(out, 0x12),
                                            kResultsSpec));
    return r;
}

nlohmann::json poison_list_to_json(const PoisonList& l) {
    nlohmann::json j = {{"more", l.more},
                        {"overflow", l.overflow},
                        {"scan_media_in_progress", l.scan_media_in_progress},
                        {"records", records_to_json(l.records)}};
    if (l.overflow_timestamp) {
        j["overflow_timestamp"] = *l.overflow_timestamp;
    }
    return j;
}

nlohmann::json scan_media_results_to_json(const ScanMediaResults& r) {
    return {{"restart_dpa", r.restart_dpa},
            {"restart_length", r.restart_length},
            {"more", r.more},
            {"stopped_prematurely", r.stopped_prematurely},
            {"records", records_to_json(r.records)}};
}

}  // namespace cxlmgr::cxl
