// Deferred D-Bus replies (Method.Async=server) answered from daemon callbacks.
//
// Daemon callbacks arrive on pool threads, while sd-bus objects (and the sdbus::Result holding
// a call message) may only be touched on the D-Bus thread, the one running the io_context the
// BusLoop drives. So the Result never leaves the D-Bus thread: it waits here under an id, the
// callback handed to the daemon carries only that id and the outcome, hops to the D-Bus thread
// (Dispatcher) and is matched there. A reply is then flushed with BusLoop::kick().
//
// Every pending call ends exactly once: with the daemon's answer; with DeviceGone when its
// device object was removed meanwhile; with Timeout when the guard expires (transports have
// deadlines, so this only catches a lost callback; the late answer is then dropped); or with
// the error given to fail_all() when the service stops.
#pragma once

#include <sdbus-c++/Error.h>
#include <sdbus-c++/MethodResult.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>

#include "common/result.hpp"
#include "dbus/bus_loop.hpp"
#include "dbus/errors.hpp"

namespace cxlmgr::dbus {

// Posts work to the D-Bus thread from any thread. Closed when the service goes, after which
// posts are dropped (so a late pool callback never touches a destroyed io_context's owner).
class Dispatcher {
public:
    explicit Dispatcher(boost::asio::io_context& io) : io_(io) {}

    template <typename F>
    void post(F&& f) {
        std::lock_guard lock(mutex_);
        if (!closed_) {
            boost::asio::post(io_, std::forward<F>(f));
        }
    }
    void close() {
        std::lock_guard lock(mutex_);
        closed_ = true;
    }

private:
    std::mutex mutex_;
    boost::asio::io_context& io_;
    bool closed_ = false;
};

// What a call concerns: a name for messages and a token that expires when its object is
// removed from the bus (then the call ends with DeviceGone).
struct CallSubject {
    std::string name;
    std::weak_ptr<const void> alive;
};

class PendingCalls : public std::enable_shared_from_this<PendingCalls> {
public:
    PendingCalls(boost::asio::io_context& io, std::shared_ptr<Dispatcher> dispatcher,
                 std::shared_ptr<BusLoop> loop, std::chrono::milliseconds guard);

    // D-Bus thread. Keeps `result` and returns the completion to hand to the daemon; it may be
    // called from any thread, once. `convert` turns the daemon's value into the reply's values
    // (Result<std::tuple<Out...>>); it runs on the D-Bus thread and only while the subject is
    // alive, so it may touch the object that started the call.
    template <typename T, typename... Out, typename Convert>
    std::function<void(Result<T>)> defer(sdbus::Result<Out...>&& result, CallSubject subject,
                                         Convert convert) {
        const uint64_t id = next_id_++;
        auto entry = std::make_unique<Typed<Out...>>(std::move(result));
        entry->subject = std::move(subject);
        add(id, std::move(entry));
        return [weak = weak_from_this(), dispatcher = dispatcher_, id,
                convert = std::move(convert)](Result<T> outcome) {
            dispatcher->post([weak, id, convert, outcome = std::move(outcome)]() mutable {
                auto self = weak.lock();
                if (!self) {
                    return;
                }
                auto taken = self->take(id);
                if (!taken) {
                    return;  // already answered (guard expired, service stopping)
                }
                auto& typed = static_cast<Typed<Out...>&>(*taken);
                if (auto gone = self->gone_error(*taken)) {
                    self->deliver(typed, *gone);
                } else if (!outcome.ok()) {
                    self->deliver(typed, to_dbus_error(outcome.error(), taken->subject.name));
                } else {
                    auto reply = convert(std::move(outcome).value());
                    if (!reply.ok()) {
                        self->deliver(typed, to_dbus_error(reply.error(), taken->subject.name));
                    } else {
                        self->deliver_values(typed, *reply);
                    }
                }
                self->loop_->kick();
            });
        };
    }

    // D-Bus thread: ends every pending call with `error` (service stopping).
    void fail_all(const sdbus::Error& error);
    [[nodiscard]] size_t size() const { return entries_.size(); }

private:
    struct Entry {
        virtual ~Entry() = default;
        virtual void fail(const sdbus::Error& error) = 0;
        CallSubject subject;
        std::unique_ptr<boost::asio::steady_timer> guard;
    };
    template <typename... Out>
    struct Typed final : Entry {
        explicit Typed(sdbus::Result<Out...>&& r) : result(std::move(r)) {}
        void fail(const sdbus::Error& error) override { result.returnError(error); }
        sdbus::Result<Out...> result;
    };

    void add(uint64_t id, std::unique_ptr<Entry> entry);
    std::unique_ptr<Entry> take(uint64_t id);
    [[nodiscard]] std::optional<sdbus::Error> gone_error(const Entry& entry) const;
    // Sending a reply throws sdbus::Error only when our own connection is broken; that is
    // logged (the BusLoop notices the broken connection) and the call is over either way.
    void deliver(Entry& entry, const sdbus::Error& error);
    template <typename... Out>
    void deliver_values(Typed<Out...>& entry, const std::tuple<Out...>& values) {
        try {
            std::apply([&entry](const Out&... v) { entry.result.returnResults(v...); }, values);
        } catch (const sdbus::Error& e) {
            log_send_failure(entry.subject.name, e);
        }
    }
    static void log_send_failure(const std::string& subject, const sdbus::Error& e);

    boost::asio::io_context& io_;
    std::shared_ptr<Dispatcher> dispatcher_;
    std::shared_ptr<BusLoop> loop_;
    std::chrono::milliseconds guard_;
    uint64_t next_id_ = 1;
    std::unordered_map<uint64_t, std::unique_ptr<Entry>> entries_;
};

}  // namespace cxlmgr::dbus
