// Feeds arbitrary bytes, as a device's mailbox output, through every command decoder and the
// JSON rendering of whatever decodes. A decoder must either refuse with a DeviceError that names
// what is wrong or return values consistent with the bytes; rendering must never throw (device
// strings reach JSON and D-Bus, which need valid UTF-8). The first two bytes also serve as a
// return code for the response parsers.
#include <cstddef>
#include <cstdint>
#include <span>

#include "cxl/commands/alert_config.hpp"
#include "cxl/commands/events.hpp"
#include "cxl/commands/features.hpp"
#include "cxl/commands/firmware.hpp"
#include "cxl/commands/health.hpp"
#include "cxl/commands/identify.hpp"
#include "cxl/commands/logs.hpp"
#include "cxl/commands/lsa.hpp"
#include "cxl/commands/partition.hpp"
#include "cxl/commands/poison.hpp"
#include "cxl/commands/security.hpp"
#include "cxl/commands/timestamp.hpp"
#include "cxl/event_record.hpp"
#include "cxl/return_code.hpp"

namespace {

using namespace cxlmgr;
using namespace cxlmgr::cxl;

template <typename T>
bool refused_properly(const Result<T>& r) {
    return r.error().code == Errc::DeviceError && !r.error().message.empty();
}

void check(bool condition) {
    if (!condition) {
        __builtin_trap();
    }
}

// The health, poison, sanitize and feature commands' decoders (issue 18).
void decode_care(ByteSpan in) {
    if (auto r = decode_alert_config(in); r.ok()) {
        (void)alert_config_to_json(*r).dump();
    } else {
        check(refused_properly(r));
    }
    if (auto r = decode_partition_info(in); r.ok()) {
        (void)partition_info_to_json(*r).dump();
    } else {
        check(refused_properly(r));
    }
    if (auto r = decode_security_state(in); r.ok()) {
        (void)security_state_to_json(*r).dump();
    } else {
        check(refused_properly(r));
    }
    if (auto r = decode_poison_list(in); r.ok()) {
        check(kPoisonListHeaderSize + r->records.size() * kMediaErrorRecordSize <= in.size());
        (void)poison_list_to_json(*r).dump();
    } else {
        check(refused_properly(r));
    }
    if (auto r = decode_scan_media_results(in); r.ok()) {
        check(kScanMediaResultsHeaderSize + r->records.size() * kMediaErrorRecordSize <= in.size());
        (void)scan_media_results_to_json(*r).dump();
    } else {
        check(refused_properly(r));
    }
    if (auto r = decode_scan_media_capabilities(in); !r.ok()) {
        check(refused_properly(r));
    }
    if (auto r = decode_supported_features(in); r.ok()) {
        check(kSupportedFeaturesHeaderSize + r->entries.size() * kFeatureEntrySize <= in.size());
        (void)supported_features_to_json(*r).dump();
    } else {
        check(refused_properly(r));
    }
    if (auto r = decode_patrol_scrub(in); r.ok()) {
        (void)patrol_scrub_to_json(*r).dump();
    } else {
        check(refused_properly(r));
    }
    const auto length = static_cast<uint32_t>(in.empty() ? 0 : in[0]);
    if (auto r = decode_lsa(in, length); r.ok()) {
        check(r->size() == length);
    } else {
        check(refused_properly(r));
    }
    if (auto r = decode_feature_data(in, static_cast<uint16_t>(length)); r.ok()) {
        check(r->size() == length);
    } else {
        check(refused_properly(r));
    }
}

void decode_all(ByteSpan in) {
    if (auto r = decode_identify(in); r.ok()) {
        check(in.size() >= kIdentifyOutputSize);
        check(r->total_capacity % kCapacityUnitBytes == 0);
        check(r->poison_list_max <= 0xFFFFFF);
        (void)identify_to_json(*r).dump();
    } else {
        check(refused_properly(r));
    }
    if (auto r = decode_health(in); r.ok()) {
        (void)health_to_json(*r).dump();
    } else {
        check(refused_properly(r));
    }
    if (auto r = decode_fw_info(in); r.ok()) {
        check(r->slot_revisions.size() == r->slot_count);
        check(r->active_slot >= 1 && r->active_slot <= r->slot_count);
        (void)fw_info_to_json(*r).dump();
    } else {
        check(refused_properly(r));
    }
    if (auto r = decode_event_records(in); r.ok()) {
        check(kEventRecordsHeaderSize + r->records.size() * kEventRecordSize <= in.size());
        for (const auto& rec : r->records) {
            check(rec.header.handle != 0);
        }
        (void)event_records_to_json(*r).dump();
    } else {
        check(refused_properly(r));
    }
    if (in.size() >= kEventRecordSize) {
        if (auto r = decode_event_record(in.first(kEventRecordSize)); r.ok()) {
            check(r->header.length == kEventRecordSize);
            (void)event_record_to_json(*r).dump();
        } else {
            check(refused_properly(r));
        }
    }
    if (auto r = decode_event_interrupt_policy(in); r.ok()) {
        (void)event_interrupt_policy_to_json(*r).dump();
        check(encode_event_interrupt_policy(*r).ok() || r->informational.mode == 3 ||
              r->warning.mode == 3 || r->failure.mode == 3 || r->fatal.mode == 3 ||
              (r->dynamic_capacity && r->dynamic_capacity->mode == 3));
    } else {
        check(refused_properly(r));
    }
    if (auto r = decode_supported_logs(in); r.ok()) {
        check(kSupportedLogsHeaderSize + r->size() * kSupportedLogEntrySize <= in.size());
        (void)supported_logs_to_json(*r).dump();
    } else {
        check(refused_properly(r));
    }
    if (auto r = decode_command_effects_log(in); r.ok()) {
        check(r->size() * kCelEntrySize == in.size());
        (void)command_effects_log_to_json(*r).dump();
    } else {
        check(refused_properly(r));
    }
    if (auto r = decode_timestamp(in); r.ok()) {
        (void)timestamp_to_json(*r).dump();
    } else {
        check(refused_properly(r));
    }
    decode_care(in);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const ByteSpan in(data, size);
    decode_all(in);
    if (size >= 2) {
        // The same bytes behind an arbitrary return code: a non-success code is always an error
        // carrying that code, never a decode.
        MailboxResponse response;
        response.return_code = static_cast<uint16_t>(data[0] | data[1] << 8);
        response.output.assign(data + 2, data + size);
        auto r = parse(identify_memory_device(), response);
        if (response.return_code != 0) {
            check(!r.ok() && r.error().cxl_return_code == response.return_code);
            check(!return_code_name(response.return_code).empty());
        }
        (void)parse(get_event_records(EventLog::Informational), response);
        (void)parse(get_fw_info(), response);
    }
    return 0;
}
