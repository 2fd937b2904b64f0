#include "dbus/pending_calls.hpp"

#include "common/log.hpp"

namespace cxlmgr::dbus {

std::optional<sdbus::MethodCall> current_call(sdbus::IObject& object) {
    const sdbus::Message* message = object.getCurrentlyProcessedMessage();
    if (message == nullptr) {
        return std::nullopt;
    }
    // sdbus-c++ runs a method handler with the call as a MethodCall.
    return *static_cast<const sdbus::MethodCall*>(message);
}
namespace {

std::string describe_duration(std::chrono::milliseconds d) {
    if (d.count() % 1000 == 0) {
        return std::to_string(d.count() / 1000) + " s";
    }
    return std::to_string(d.count()) + " ms";
}

void log_unsent(const std::string& subject, const sdbus::Error& e) {
    log::warning(subject, ": could not send a D-Bus reply: ", e.getName(), ": ", e.getMessage());
}

}  // namespace

PendingCalls::PendingCalls(boost::asio::io_context& io, std::shared_ptr<Dispatcher> dispatcher,
                           std::shared_ptr<BusLoop> loop, std::chrono::milliseconds guard)
    : io_(io), dispatcher_(std::move(dispatcher)), loop_(std::move(loop)), guard_(guard) {}

ReplyInFlight::~ReplyInFlight() {
    if (!reply_) {
        return;
    }
    // Still holding the message: not on the D-Bus thread's path (see the class comment).
    auto held = std::make_shared<Forgettable>(std::move(*reply_));
    reply_.reset();  // a moved-from message holds nothing to release
    Forgettable* raw = held.get();
    auto release = [held = std::move(held)] {};
    if (!dispatcher_->post(std::move(release))) {
        raw->forget();
    }
}

void ReplyInFlight::finish(bool send, const std::string& subject) {
    if (!reply_) {
        return;
    }
    if (send) {
        try {
            reply_->send();
        } catch (const sdbus::Error& e) {
            log_unsent(subject, e);
        }
    }
    reply_.reset();
}

uint64_t PendingCalls::add(std::unique_ptr<Entry> entry, CallSubject subject) {
    const uint64_t id = next_id_++;
    entry->subject = std::move(subject);
    entry->guard = std::make_unique<boost::asio::steady_timer>(io_, guard_);
    entry->guard->async_wait([weak = weak_from_this(), id](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self) {
            return;  // answered (the timer went with its entry) or service gone
        }
        auto taken = self->take(id);
        if (!taken) {
            return;
        }
        const std::string limit = describe_duration(self->guard_);
        log::error(taken->subject.name, ": a D-Bus call got no answer from the daemon within ",
                   limit, "; answering Timeout");
        self->deliver(*taken, to_dbus_error(Error(Errc::Timeout, "no answer within " + limit +
                                                                     "; the call was abandoned"),
                                            taken->subject.name));
        self->loop_->kick();
    });
    entries_.emplace(id, std::move(entry));
    return id;
}

std::unique_ptr<PendingCalls::Entry> PendingCalls::take(uint64_t id) {
    auto it = entries_.find(id);
    if (it == entries_.end()) {
        return nullptr;
    }
    auto entry = std::move(it->second);
    entries_.erase(it);
    entry->guard->cancel();
    return entry;
}

std::optional<sdbus::Error> PendingCalls::gone_error(const Entry& entry) const {
    if (!entry.subject.alive.expired()) {
        return std::nullopt;
    }
    return to_dbus_error(
        Error(Errc::DeviceGone, entry.subject.name + " was removed while the call was in progress"),
        entry.subject.name);
}

void PendingCalls::deliver(Entry& entry, const sdbus::Error& error) {
    try {
        entry.fail(error);
    } catch (const sdbus::Error& e) {
        log_send_failure(entry.subject.name, e);
    }
}

void PendingCalls::log_send_failure(const std::string& subject, const sdbus::Error& e) {
    log_unsent(subject, e);
}

void PendingCalls::fail_all(const sdbus::Error& error) {
    auto entries = std::move(entries_);
    entries_.clear();
    for (auto& [id, entry] : entries) {
        entry->guard->cancel();
        deliver(*entry, error);
    }
    loop_->kick();
}

}  // namespace cxlmgr::dbus
