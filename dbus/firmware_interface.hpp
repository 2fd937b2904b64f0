// org.cxlmgr1.Firmware on a device object: slot properties (from the device's last Get FW
// Info), CurrentJob, StartUpdate/StartUpdateFd (which create a job object and return at once),
// Activate and GetInfo. Starting and activating need Manage access (root, the daemon's user or
// the authorized group); one update per device at a time (Busy).
#pragma once

#include <dbus/generated/Firmware_adaptor.h>
#include <optional>
#include <string>
#include <vector>

#include "daemon/firmware_job.hpp"
#include "dbus/service_context.hpp"
#include "common/unique_fd.hpp"

namespace cxlmgr::dbus {

class FirmwareInterface final : public org::cxlmgr1::Firmware_adaptor {
public:
    explicit FirmwareInterface(DeviceContext& context);
    virtual ~FirmwareInterface() = default;

    // Shows `now`; returns the names of the properties whose value changed.
    std::vector<std::string> update(const daemon::DeviceProperties& now);

private:
    using Dict = std::map<std::string, sdbus::Variant>;

    void StartUpdate(sdbus::Result<sdbus::ObjectPath>&& result, std::string path, uint8_t slot,
                     Dict options) override;
    void StartUpdateFd(sdbus::Result<sdbus::ObjectPath>&& result, sdbus::UnixFd image, uint8_t slot,
                       Dict options) override;
    void Activate(sdbus::Result<>&& result, uint8_t slot, std::string mode) override;
    void GetInfo(sdbus::Result<Dict>&& result) override;

    uint8_t SlotCount() override { return info().slot_count; }
    uint8_t ActiveSlot() override { return info().active_slot; }
    uint8_t StagedSlot() override { return info().staged_slot; }
    std::vector<std::string> SlotRevisions() override { return info().slot_revisions; }
    bool OnlineActivation() override { return info().online_activation; }
    sdbus::ObjectPath CurrentJob() override { return current_job_; }

    // The checks common to both variants; then the job from `image`.
    Result<daemon::FirmwareJobSpec> check_start(uint8_t slot, const Dict& options,
                                                std::string_view method);
    Result<std::string> start(UniqueFd image, daemon::FirmwareJobSpec spec);
    void set_current_job(std::string path);
    [[nodiscard]] cxl::FwInfo info() const { return shown_.value_or(cxl::FwInfo{}); }

    DeviceContext& context_;
    std::optional<cxl::FwInfo> shown_;
    std::string current_job_ = "/";
};

}  // namespace cxlmgr::dbus
