// org.cxlmgr1.Cdat on a device object with a DOE instance serving CDAT.
//
// Checksum, Revision and Length come from the header of the last table read successfully. A
// property Get never waits for the device: until a table has been read the properties are 0,
// and such a Get starts one background read (never more than one at a time) whose success is
// announced with PropertiesChanged. ReadRaw, Read and Refresh update them as well. The first
// read starts when the object is exported (prefetch()); a failed one is tried again at the next
// Get.
#pragma once

#include <dbus/generated/Cdat_adaptor.h>
#include <optional>

#include "daemon/device_values.hpp"
#include "dbus/service_context.hpp"

namespace cxlmgr::dbus {

class CdatInterface final : public org::cxlmgr1::Cdat_adaptor {
public:
    explicit CdatInterface(DeviceContext& context);
    virtual ~CdatInterface() = default;

    // Starts the background read that fills the properties, unless one runs or they are known.
    void prefetch() { read_in_background(); }

private:
    using Snapshot = std::shared_ptr<const daemon::CdatSnapshot>;

    void ReadRaw(sdbus::Result<std::vector<uint8_t>>&& result) override;
    void Read(sdbus::Result<std::vector<std::map<std::string, sdbus::Variant>>>&& result) override;
    void Refresh(sdbus::Result<>&& result) override;
    uint8_t Checksum() override;
    uint8_t Revision() override;
    uint32_t Length() override;

    // D-Bus thread: remembers the header of a table read successfully; announces changes.
    void show(const Snapshot& snapshot);
    void read_in_background();

    DeviceContext& context_;
    std::optional<daemon::CdatHeader> header_;
    bool background_read_ = false;
};

}  // namespace cxlmgr::dbus
