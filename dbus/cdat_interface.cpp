#include "dbus/cdat_interface.hpp"

#include "common/log.hpp"
#include "dbus/values.hpp"

namespace cxlmgr::dbus {

namespace {
using Dict = std::map<std::string, sdbus::Variant>;
}

CdatInterface::CdatInterface(DeviceContext& context)
    : Cdat_adaptor(context.object), context_(context) {}

void CdatInterface::ReadRaw(sdbus::Result<std::vector<uint8_t>>&& result) {
    context_.device->cdat(
        false, context_.service.calls->defer<Snapshot>(
                   std::move(result), context_.subject(),
                   [this](Snapshot&& snapshot) -> Result<std::tuple<std::vector<uint8_t>>> {
                       show(snapshot);
                       return std::tuple<std::vector<uint8_t>>(snapshot->raw);
                   }));
}

void CdatInterface::Read(sdbus::Result<std::vector<Dict>>&& result) {
    context_.device->cdat(
        false, context_.service.calls->defer<Snapshot>(
                   std::move(result), context_.subject(),
                   [this](Snapshot&& snapshot) -> Result<std::tuple<std::vector<Dict>>> {
                       show(snapshot);
                       return std::tuple<std::vector<Dict>>(cdat_to_dicts(snapshot->table));
                   }));
}

void CdatInterface::Refresh(sdbus::Result<>&& result) {
    context_.device->cdat(true, context_.service.calls->defer<Snapshot>(
                                    std::move(result), context_.subject(),
                                    [this](Snapshot&& snapshot) -> Result<std::tuple<>> {
                                        show(snapshot);
                                        return std::tuple<>();
                                    }));
}

uint8_t CdatInterface::Checksum() {
    read_in_background();
    return header_ ? header_->checksum : 0;
}

uint8_t CdatInterface::Revision() {
    read_in_background();
    return header_ ? header_->revision : 0;
}

uint32_t CdatInterface::Length() {
    read_in_background();
    return header_ ? header_->length : 0;
}

void CdatInterface::read_in_background() {
    if (header_ || background_read_) {
        return;
    }
    background_read_ = true;
    // `this` is used only once the object was found still on the bus, which means its parts
    // still exist (they are destroyed only after the object was removed).
    context_.device->cdat(false, context_.on_dbus_thread_if_alive([this](Result<Snapshot> r) {
        background_read_ = false;
        if (r.ok()) {
            show(*r);
        } else {
            log::info(context_.name,
                      ": CDAT not read for the Cdat properties: ", r.error().message);
        }
    }));
}

void CdatInterface::show(const Snapshot& snapshot) {
    const daemon::CdatHeader& now = snapshot->table.header;
    std::vector<std::string> changed;
    if (!header_ || header_->checksum != now.checksum) {
        changed.emplace_back("Checksum");
    }
    if (!header_ || header_->revision != now.revision) {
        changed.emplace_back("Revision");
    }
    if (!header_ || header_->length != now.length) {
        changed.emplace_back("Length");
    }
    header_ = now;
    if (!changed.empty()) {
        context_.object.emitPropertiesChangedSignal(INTERFACE_NAME, changed);
        context_.service.loop->kick();
    }
}

}  // namespace cxlmgr::dbus
