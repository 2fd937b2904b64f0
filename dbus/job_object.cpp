#include "dbus/job_object.hpp"

#include <sdbus-c++/Error.h>

#include "common/log.hpp"
#include "dbus/errors.hpp"
#include "dbus/service_context.hpp"

namespace cxlmgr::dbus {

namespace {

uint64_t now_us_since_epoch() {
    using namespace std::chrono;
    return static_cast<uint64_t>(
        duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace

JobObject::JobObject(ServiceContext& service, std::string path, std::string device_path,
                     std::shared_ptr<daemon::FirmwareJob> job)
    : AdaptorInterfaces(service.connection, path),
      service_(service),
      path_(std::move(path)),
      device_path_(std::move(device_path)),
      job_(std::move(job)),
      shown_(job_->status()),
      started_at_us_(now_us_since_epoch()) {
    registerAdaptor();
    getObject().emitInterfacesAddedSignal();
}

JobObject::~JobObject() {
    unregisterAdaptor();
}

std::string JobObject::State() {
    return std::string(daemon::job_state_name(shown_.state));
}

bool JobObject::update(const daemon::JobStatus& now) {
    if (finished_) {
        return false;  // reports after the end (none are sent) would change nothing
    }
    std::vector<std::string> changed;
    if (now.state != shown_.state) {
        changed.emplace_back("State");
        if (now.cancelable() != shown_.cancelable()) {
            changed.emplace_back("Cancelable");
        }
    }
    if (now.progress() != shown_.progress()) {
        changed.emplace_back("Progress");
    }
    if (now.bytes_done != shown_.bytes_done) {
        changed.emplace_back("BytesDone");
    }
    if (now.bytes_total != shown_.bytes_total) {
        changed.emplace_back("BytesTotal");
    }
    if (now.error != shown_.error) {
        changed.emplace_back("Error");
    }
    shown_ = now;
    if (!changed.empty()) {
        getObject().emitPropertiesChangedSignal(INTERFACE_NAME, changed);
    }
    if (daemon::job_state_final(now.state)) {
        finished_ = true;
        emitFinished(State(), shown_.error);
        return true;
    }
    return false;
}

void JobObject::Cancel() {
    const sdbus::Message* message = getObject().getCurrentlyProcessedMessage();
    if (message == nullptr) {
        throw make_dbus_error(Errc::Internal, "authorization outside of a method call");
    }
    auto allowed = service_.authorizer.check(*message, Access::Manage, "Cancel on " + path_);
    if (!allowed.ok()) {
        throw to_dbus_error(allowed.error(), path_);
    }
    if (finished_) {
        throw make_dbus_error(Errc::NotCancellable,
                              path_ + ": the job has ended (" + State() + ")");
    }
    auto cancelled = job_->cancel();
    if (!cancelled.ok()) {
        throw to_dbus_error(cancelled.error(), path_);
    }
    log::info(job_->device()->name(), ": cancel requested for ", path_);
}

void JobObject::announce_removal() {
    try {
        getObject().emitInterfacesRemovedSignal();
    } catch (const sdbus::Error& e) {
        // Only a broken connection makes the emission fail; the object goes regardless.
        log::warning(path_, ": InterfacesRemoved not sent: ", e.getMessage());
    }
}

JobObjects::JobObjects(ServiceContext& service, std::chrono::milliseconds linger)
    : service_(service), linger_(linger) {}

JobObjects::~JobObjects() {
    clear();
}

std::string JobObjects::reserve_path() {
    return "/org/cxlmgr1/jobs/" + std::to_string(next_++);
}

Status JobObjects::add(const std::string& path, const std::string& device_path,
                       std::shared_ptr<daemon::FirmwareJob> job) {
    try {
        // Made before it is put in the table: a failed export leaves no entry behind.
        auto object = std::make_unique<JobObject>(service_, path, device_path, std::move(job));
        objects_[path] = std::move(object);
    } catch (const sdbus::Error& e) {
        return cxlmgr::Error(Errc::Internal, "cannot export " + path + ": " + e.getMessage());
    }
    service_.loop->kick();
    return ok_status();
}

std::function<void(const daemon::JobStatus&)> JobObjects::reporter(const std::string& path) {
    return [weak = weak_from_this(), dispatcher = service_.dispatcher,
            path](const daemon::JobStatus& status) {
        dispatcher->post([weak, path, status] {
            if (auto self = weak.lock()) {
                self->show(path, status);
            }
        });
    };
}

void JobObjects::on_finished(const std::string& path, std::function<void()> done) {
    finished_hooks_[path] = std::move(done);
}

void JobObjects::show(const std::string& path, const daemon::JobStatus& status) {
    auto it = objects_.find(path);
    if (it == objects_.end()) {
        return;
    }
    if (it->second->update(status)) {
        if (auto hook = finished_hooks_.find(path); hook != finished_hooks_.end()) {
            auto done = std::move(hook->second);
            finished_hooks_.erase(hook);
            if (done) {
                done();
            }
        }
        remove_later(path);
    }
    service_.loop->kick();
}

void JobObjects::remove_later(const std::string& path) {
    auto timer = std::make_unique<boost::asio::steady_timer>(service_.io, linger_);
    timer->async_wait([weak = weak_from_this(), path](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self) {
            return;
        }
        auto it = self->objects_.find(path);
        if (it != self->objects_.end()) {
            it->second->announce_removal();
            self->objects_.erase(it);
        }
        self->timers_.erase(path);
        self->service_.loop->kick();
    });
    timers_[path] = std::move(timer);
}

void JobObjects::clear() {
    timers_.clear();
    finished_hooks_.clear();
    objects_.clear();
}

}  // namespace cxlmgr::dbus
