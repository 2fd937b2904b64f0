#include "emu/event_logs.hpp"

#include <algorithm>

#include "emu/device_state.hpp"

namespace cxlmgr::emu {
namespace {

constexpr uint8_t kFlagOverflow = 1u << 0;
constexpr uint8_t kFlagMoreRecords = 1u << 1;
constexpr uint64_t kMaxCapacity = 4096;

}  // namespace

Result<EventLogs> EventLogs::create(const DeviceDescription& description) {
    EventLogs logs;
    for (const auto& [key, value] : description.events.items()) {
        if (key != "capacity") {
            return Error(Errc::InvalidArgument,
                         "emulated device description: 'events." + key + "' is not a known key");
        }
        if (!value.is_number_integer() || value.get<int64_t>() < 1 ||
            value.get<int64_t>() > static_cast<int64_t>(kMaxCapacity)) {
            return Error(Errc::InvalidArgument,
                         "emulated device description: 'events.capacity' must be 1.." +
                             std::to_string(kMaxCapacity));
        }
        logs.capacity_ = static_cast<uint16_t>(value.get<int64_t>());
    }
    return logs;
}

void EventLogs::add(EventLog log, EventRecord record, uint64_t device_time_ns) {
    Log& l = at(log);
    if (l.records.size() >= capacity_) {
        if (l.overflow_count == 0) {
            l.first_overflow_ns = device_time_ns;
        }
        ++l.overflow_count;
        l.last_overflow_ns = device_time_ns;
        return;
    }
    uint16_t handle = l.next_handle;
    // Handle 0 means "no record" (related handle, empty slot), so the counter skips it.
    l.next_handle = static_cast<uint16_t>(handle == 0xFFFF ? 1 : handle + 1);
    store_le(record, kRecordHandleOffset, handle, 2);
    l.records.push_back(record);
}

std::vector<uint8_t> EventLogs::get(EventLog log, size_t max_records) const {
    const Log& l = at(log);
    size_t n = std::min(max_records, l.records.size());
    std::vector<uint8_t> out(kGetHeaderSize + n * kEventRecordSize, 0);
    uint8_t flags = 0;
    if (l.overflow_count != 0) {
        flags |= kFlagOverflow;
    }
    if (l.records.size() > n) {
        flags |= kFlagMoreRecords;
    }
    out[0] = flags;
    store_le(out, 0x02, std::min<uint32_t>(l.overflow_count, 0xFFFF), 2);
    store_le(out, 0x04, l.first_overflow_ns, 8);
    store_le(out, 0x0C, l.last_overflow_ns, 8);
    store_le(out, 0x14, n, 2);
    for (size_t i = 0; i < n; ++i) {
        std::copy(l.records[i].begin(), l.records[i].end(),
                  out.begin() + static_cast<ptrdiff_t>(kGetHeaderSize + i * kEventRecordSize));
    }
    return out;
}

ReturnCode EventLogs::clear(EventLog log, bool clear_all, std::span<const uint16_t> handles) {
    Log& l = at(log);
    if (clear_all) {
        if (!handles.empty()) {
            return ReturnCode::InvalidInput;
        }
        l.records.clear();
    } else {
        // Records go oldest first: any handle out of that order would leave an older record
        // behind, so the whole request is refused before anything is removed.
        if (handles.size() > l.records.size()) {
            return ReturnCode::InvalidHandle;
        }
        for (size_t i = 0; i < handles.size(); ++i) {
            if (load_le(l.records[i], kRecordHandleOffset, 2) != handles[i]) {
                return ReturnCode::InvalidHandle;
            }
        }
        l.records.erase(l.records.begin(),
                        l.records.begin() + static_cast<ptrdiff_t>(handles.size()));
    }
    l.overflow_count = 0;
    l.first_overflow_ns = 0;
    l.last_overflow_ns = 0;
    return ReturnCode::Success;
}

uint32_t EventLogs::status_bits() const {
    uint32_t bits = 0;
    for (unsigned i = 0; i < kEventLogCount; ++i) {
        if (!logs_[i].records.empty()) {
            bits |= 1u << i;
        }
    }
    return bits;
}

ReturnCode EventLogs::set_policy(std::span<const uint8_t> settings) {
    if (settings.size() < kEventLogCount) {
        return ReturnCode::InvalidPayloadLength;
    }
    EventInterruptPolicy p;
    for (unsigned i = 0; i < kEventLogCount; ++i) {
        if ((settings[i] & 0x3u) == 3) {
            return ReturnCode::InvalidInput;
        }
        p.settings[i] = static_cast<uint8_t>(settings[i] & 0xF3u);  // [3:2] are reserved
    }
    policy_ = p;
    return ReturnCode::Success;
}

nlohmann::json EventLogs::save_state() const {
    nlohmann::json logs = nlohmann::json::array();
    for (const Log& l : logs_) {
        nlohmann::json records = nlohmann::json::array();
        for (const EventRecord& r : l.records) {
            records.push_back(state::bytes_hex(r));
        }
        logs.push_back({{"records", std::move(records)},
                        {"next_handle", l.next_handle},
                        {"overflow_count", l.overflow_count},
                        {"first_overflow_ns", l.first_overflow_ns},
                        {"last_overflow_ns", l.last_overflow_ns}});
    }
    return {{"logs", std::move(logs)}, {"policy", state::bytes_hex(policy_.settings)}};
}

Status EventLogs::restore_state(const nlohmann::json& j) {
    std::array<Log, kEventLogCount> logs;
    CXLMGR_ASSIGN(const nlohmann::json* saved, state::member(j, "logs"));
    if (!saved->is_array() || saved->size() != kEventLogCount) {
        return Error(Errc::InvalidArgument,
                     "'logs' must hold " + std::to_string(kEventLogCount) + " logs");
    }
    for (unsigned i = 0; i < kEventLogCount; ++i) {
        const nlohmann::json& s = (*saved)[i];
        Log& l = logs[i];
        auto restore = [&]() -> Status {
            CXLMGR_ASSIGN(const nlohmann::json* records, state::member(s, "records"));
            if (!records->is_array() || records->size() > capacity_) {
                return Error(Errc::InvalidArgument, "'records' must be an array of at most " +
                                                        std::to_string(capacity_) +
                                                        " records (events.capacity)");
            }
            for (size_t n = 0; n < records->size(); ++n) {
                CXLMGR_ASSIGN(auto bytes, state::decode_bytes((*records)[n],
                                                              "records[" + std::to_string(n) + "]",
                                                              kEventRecordSize));
                EventRecord r;
                std::copy(bytes.begin(), bytes.end(), r.begin());
                l.records.push_back(r);
            }
            CXLMGR_ASSIGN(uint64_t next, state::get_uint(s, "next_handle", 0xFFFF));
            l.next_handle = static_cast<uint16_t>(next);
            CXLMGR_ASSIGN(uint64_t count, state::get_uint(s, "overflow_count", UINT32_MAX));
            l.overflow_count = static_cast<uint32_t>(count);
            CXLMGR_ASSIGN(l.first_overflow_ns, state::get_uint(s, "first_overflow_ns"));
            CXLMGR_ASSIGN(l.last_overflow_ns, state::get_uint(s, "last_overflow_ns"));
            return ok_status();
        };
        if (auto st = restore(); !st.ok()) {
            return st.error().with_context("'logs[" + std::to_string(i) + "]'");
        }
    }
    CXLMGR_ASSIGN(auto policy, state::get_bytes(j, "policy", kEventLogCount));
    logs_ = std::move(logs);
    std::copy(policy.begin(), policy.end(), policy_.settings.begin());
    return ok_status();
}

}  // namespace cxlmgr::emu
