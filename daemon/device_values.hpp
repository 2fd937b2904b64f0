// The typed values the daemon answers with (ManagedDevice, EventCollector), named here so that
// the layers above (dbus/) name them through the daemon and include nothing from cxl/commands/
// or doe/ themselves. They are the decoders' own types: the daemon hands on what the device
// said, decoded once, and each layer above renders it in its own terms (docs/DBUS.md "Values").
#pragma once

#include "cxl/commands/events.hpp"
#include "cxl/commands/firmware.hpp"
#include "cxl/commands/health.hpp"
#include "cxl/commands/identify.hpp"
#include "cxl/event_record.hpp"
#include "cxl/mailbox.hpp"
#include "doe/cdat.hpp"

namespace cxlmgr::daemon {

// Identify Memory Device, capacities in bytes.
using IdentifyInfo = cxl::IdentifyInfo;

// Get Health Info and what its bits and codes mean.
using HealthInfo = cxl::HealthInfo;
using cxl::additional_status_level_name;
using cxl::kHealthCapacityDegraded;
using cxl::kHealthMaintenanceNeeded;
using cxl::kHealthPerformanceDegraded;
using cxl::kHealthReplacementNeeded;
using cxl::media_status_name;

// Get FW Info, and the activation modes of Activate FW ("online", "on-reset").
using FwInfo = cxl::FwInfo;
using ActivateMode = cxl::ActivateMode;
using cxl::kMaxFwSlots;
using cxl::parse_activate_mode;

// A raw mailbox command's answer (Device.Command).
using MailboxResponse = cxl::MailboxResponse;

// The CDAT as decoded: the header and one structure per entry.
using CdatTable = doe::CdatTable;
using CdatHeader = doe::CdatHeader;
using CdatDsmas = doe::CdatDsmas;
using CdatDslbis = doe::CdatDslbis;
using CdatDsmscis = doe::CdatDsmscis;
using CdatDsis = doe::CdatDsis;
using CdatDsemts = doe::CdatDsemts;
using CdatSslbis = doe::CdatSslbis;
using CdatUnknown = doe::CdatUnknown;
using doe::cdat_structure_name;

// Event logs and records.
using EventLog = cxl::EventLog;
using cxl::event_log_name;
using EventRecord = cxl::EventRecord;
using EventRecordHeader = cxl::EventRecordHeader;
using MediaEventFields = cxl::MediaEventFields;
using GeneralMediaEvent = cxl::GeneralMediaEvent;
using DramEvent = cxl::DramEvent;
using MemoryModuleEvent = cxl::MemoryModuleEvent;
using cxl::event_severity_name;
using cxl::kEventFlagHardwareReplacementNeeded;
using cxl::kEventFlagMaintenanceNeeded;
using cxl::kEventFlagPerformanceDegraded;
using cxl::kEventFlagPermanent;

}  // namespace cxlmgr::daemon
