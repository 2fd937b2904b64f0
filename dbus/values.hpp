// The daemon's typed answers as the D-Bus values of the v1 contract: one converter per value
// type, straight to a{sv} (aa{sv} for the CDAT). The keys are the contract's (docs/DBUS.md
// "Values"), and so are their types, which never depend on a value:
//   unsigned fields           t   (whatever their width on the wire)
//   signed fields             x   (temperature, also when positive)
//   flags decoded from bits   b
//   names and UUIDs           s
//   undecoded device bytes    ay  (raw, component_id, correction_mask)
//   arrays                    at / as / aa{sv}, and av when empty (an empty array has no
//                             element type to show)
// Converting cannot fail: every value a decoder produces has a D-Bus rendering.
#pragma once

#include <sdbus-c++/Types.h>
#include <map>
#include <string>
#include <vector>

#include "daemon/device_values.hpp"
#include "daemon/event_values.hpp"

namespace cxlmgr::dbus {

using VariantDict = std::map<std::string, sdbus::Variant>;

// Device.Identify: fw_revision, total_capacity, volatile_capacity, persistent_capacity,
// partition_align (bytes), info/warning/failure/fatal_event_log_size, lsa_size,
// poison_list_max, inject_poison_limit, poison_caps, qos_telemetry_caps, and
// dc_event_log_size when the device reports it.
VariantDict identify_to_dict(const daemon::IdentifyInfo& info);

// Firmware.GetInfo: slot_count, active_slot, staged_slot, online_activation, slot_revisions.
VariantDict fw_info_to_dict(const daemon::FwInfo& info);

// Cdat.Read: the header, then one dict per entry in table order, each with "type" and the
// fields of its structure under their CDAT specification names in snake_case:
//   header:  length, revision, checksum, sequence
//   dsmas:   dsmad_handle, flags, dpa_base, dpa_length
//   dslbis:  handle, flags, data_type, entry_base_unit, entries (at, 3 elements)
//   dsmscis: dsmas_handle, side_cache_size, cache_attributes
//   dsis:    flags, handle
//   dsemts:  dsmas_handle, efi_memory_type_attr, dpa_offset, dpa_length
//   sslbis:  data_type, entry_base_unit,
//            entries (aa{sv}: port_x_id, port_y_id, latency_or_bandwidth)
//   unknown: type_id, raw (the entry's bytes, its 4-byte common header included)
std::vector<VariantDict> cdat_to_dicts(const daemon::CdatTable& table);

}  // namespace cxlmgr::dbus
