#include "dbus/firmware_interface.hpp"

#include "common/log.hpp"
#include "daemon/firmware_updates.hpp"
#include "dbus/job_object.hpp"
#include "dbus/object_paths.hpp"
#include "dbus/values.hpp"

namespace cxlmgr::dbus {

FirmwareInterface::FirmwareInterface(DeviceContext& context)
    : Firmware_adaptor(context.object),
      context_(context),
      shown_(context.device->properties().firmware) {}

std::vector<std::string> FirmwareInterface::update(const daemon::DeviceProperties& now) {
    std::vector<std::string> changed;
    cxl::FwInfo before = info();
    shown_ = now.firmware;
    cxl::FwInfo after = info();
    if (after.slot_count != before.slot_count) {
        changed.emplace_back("SlotCount");
    }
    if (after.active_slot != before.active_slot) {
        changed.emplace_back("ActiveSlot");
    }
    if (after.staged_slot != before.staged_slot) {
        changed.emplace_back("StagedSlot");
    }
    if (after.slot_revisions != before.slot_revisions) {
        changed.emplace_back("SlotRevisions");
    }
    if (after.online_activation != before.online_activation) {
        changed.emplace_back("OnlineActivation");
    }
    return changed;
}

Result<daemon::FirmwareJobSpec> FirmwareInterface::check_start(uint8_t slot, const Dict& options,
                                                               std::string_view method) {
    CXLMGR_CHECK(context_.authorize(Access::Manage, method));
    daemon::FirmwareJobSpec spec;
    for (const auto& [key, value] : options) {
        if (key != "activate") {
            return Error(Errc::InvalidArgument, "unknown option '" + key + "' (known: activate)");
        }
        if (!value.containsValueOfType<std::string>()) {
            return Error(Errc::InvalidArgument, "option 'activate' must be a string (s)");
        }
        auto text = value.get<std::string>();
        if (text != "none") {
            CXLMGR_ASSIGN(auto mode, daemon::parse_activate_mode(text));
            spec.activate = mode;
        }
    }
    // Before the image is opened: a refused target is reported whatever the path.
    CXLMGR_CHECK(context_.service.firmware_updates->check_target(context_.device, slot));
    spec.slot = slot;
    if (context_.service.firmware_updates->current(context_.name)) {
        return Error(Errc::Busy, "a firmware update is already running on " + context_.name + " (" +
                                     current_job_ + ")");
    }
    return spec;
}

Result<std::string> FirmwareInterface::start(UniqueFd image, daemon::FirmwareJobSpec spec) {
    CXLMGR_ASSIGN(auto source, daemon::ImageSource::from_fd(std::move(image),
                                                            context_.device->mailbox_executor(),
                                                            context_.service.image_limits));
    // The job holds the device from here, but runs only once its object is on the bus: a job
    // nobody could follow or cancel never starts. Returning early drops `pending`, which gives
    // the device back; nothing has reached it then, and no marker was written.
    CXLMGR_ASSIGN(auto pending, context_.service.firmware_updates->prepare(
                                    context_.device, std::move(source), spec));
    auto& jobs = *context_.service.jobs;
    const std::string path = jobs.reserve_path();
    CXLMGR_CHECK(jobs.add(path, device_object_path(context_.name), pending.job()));
    jobs.on_finished(path, [this, alive = context_.alive] {
        if (!alive.expired()) {
            set_current_job("/");
        }
    });
    set_current_job(path);
    // Logged before the job runs its first step, so a job that fails at once still reads in
    // order in the log (started, then failed).
    log::info(context_.name, ": firmware update starting as ", path);
    std::move(pending).start(jobs.reporter(path), jobs.reporter(path));
    return path;
}

void FirmwareInterface::set_current_job(std::string path) {
    if (path == current_job_) {
        return;
    }
    current_job_ = std::move(path);
    context_.object.emitPropertiesChangedSignal(INTERFACE_NAME,
                                                std::vector<std::string>{"CurrentJob"});
    context_.service.loop->kick();
}

void FirmwareInterface::StartUpdate(sdbus::Result<sdbus::ObjectPath>&& result, std::string path,
                                    uint8_t slot, Dict options) {
    auto spec = check_start(slot, options, "StartUpdate");
    if (!spec.ok()) {
        result.returnError(to_dbus_error(spec.error(), context_.name));
        return;
    }
    // Opened only after the caller was found allowed to update.
    auto fd = daemon::open_image_path(path);
    if (!fd.ok()) {
        result.returnError(to_dbus_error(fd.error(), context_.name));
        return;
    }
    auto job = start(std::move(fd).value(), *spec);
    if (!job.ok()) {
        result.returnError(to_dbus_error(job.error(), context_.name));
        return;
    }
    result.returnResults(sdbus::ObjectPath(*job));
}

void FirmwareInterface::StartUpdateFd(sdbus::Result<sdbus::ObjectPath>&& result,
                                      sdbus::UnixFd image, uint8_t slot, Dict options) {
    auto spec = check_start(slot, options, "StartUpdateFd");
    if (!spec.ok()) {
        result.returnError(to_dbus_error(spec.error(), context_.name));
        return;
    }
    auto job = start(UniqueFd(image.release()), *spec);
    if (!job.ok()) {
        result.returnError(to_dbus_error(job.error(), context_.name));
        return;
    }
    result.returnResults(sdbus::ObjectPath(*job));
}

void FirmwareInterface::Activate(sdbus::Result<>&& result, uint8_t slot, std::string mode) {
    if (auto allowed = context_.authorize(Access::Manage, "Activate"); !allowed.ok()) {
        result.returnError(to_dbus_error(allowed.error(), context_.name));
        return;
    }
    auto parsed = daemon::parse_activate_mode(mode);
    if (!parsed.ok()) {
        result.returnError(to_dbus_error(parsed.error(), context_.name));
        return;
    }
    if (auto allowed = context_.service.firmware_updates->check_activate(context_.device, slot);
        !allowed.ok()) {
        result.returnError(to_dbus_error(allowed.error(), context_.name));
        return;
    }
    auto done = context_.service.calls->defer<bool>(
        std::move(result), context_.subject(),
        [](bool&&) -> Result<std::tuple<>> { return std::tuple<>(); });
    daemon::activate_firmware(context_.device, *parsed, slot, [done](Status s) {
        done(s.ok() ? Result<bool>(true) : Result<bool>(s.error()));
    });
}

void FirmwareInterface::GetInfo(sdbus::Result<Dict>&& result) {
    context_.device->firmware_info(context_.service.calls->defer<daemon::FwInfo>(
        std::move(result), context_.subject(), [](daemon::FwInfo&& fw) -> Result<std::tuple<Dict>> {
            return std::tuple<Dict>(fw_info_to_dict(fw));
        }));
}

}  // namespace cxlmgr::dbus
