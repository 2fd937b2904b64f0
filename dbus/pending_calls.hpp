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
//
// defer_written() is the variant for a reply whose body the daemon side writes (GetEvents'
// pages, docs/DBUS.md "Threading and lifetimes"): the D-Bus thread creates the reply message,
// the completion writes into it on the daemon's thread, and the D-Bus thread sends it. The
// message is moved, never copied, between the two threads, and is only ever released on the
// D-Bus thread (or, once the service is stopping, deliberately not released at all), because
// an sd-bus message's reference count, and the bus reference each one holds, are not atomic.
#pragma once

#include <sdbus-c++/Error.h>
#include <sdbus-c++/IObject.h>
#include <sdbus-c++/MethodResult.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
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

    // False (and `f` untouched) once closed.
    template <typename F>
    bool post(F&& f) {
        std::lock_guard lock(mutex_);
        if (closed_) {
            return false;
        }
        boost::asio::post(io_, std::forward<F>(f));
        return true;
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

// A reply message in flight between the D-Bus thread and a daemon thread (defer_written). It
// may be destroyed on any thread: if it still holds its message then (the daemon dropped the
// completion unrun, or the hop back was refused), the message is handed to the D-Bus thread to
// be released there; once the Dispatcher is closed (the service is going, perhaps its
// connection with it), it is forgotten unreleased: a deliberate leak at shutdown rather than a
// release racing the bus, or touching a connection that is gone.
class ReplyInFlight {
public:
    ReplyInFlight(sdbus::MethodReply reply, std::shared_ptr<Dispatcher> dispatcher)
        : reply_(std::in_place, std::move(reply)), dispatcher_(std::move(dispatcher)) {}
    ReplyInFlight(const ReplyInFlight&) = delete;
    ReplyInFlight& operator=(const ReplyInFlight&) = delete;
    ~ReplyInFlight();

    // The thread that holds the box exclusively (the daemon's while writing, then the D-Bus
    // thread's).
    sdbus::Message& message() { return *reply_; }
    // D-Bus thread: sends (or, with `send` false, drops) the message and releases it.
    void finish(bool send, const std::string& subject);

private:
    // Gives access to the message pointer so that it can be forgotten without a release.
    struct Forgettable final : sdbus::MethodReply {
        explicit Forgettable(sdbus::MethodReply&& r) : sdbus::MethodReply(std::move(r)) {}
        void forget() { msg_ = nullptr; }
    };
    std::optional<Forgettable> reply_;
    std::shared_ptr<Dispatcher> dispatcher_;
};

// The call the object's method handler is processing, as the MethodCall sdbus-c++ hands the
// handler (a reply for defer_written is created from it). D-Bus thread, inside a method's
// handler; nullopt anywhere else.
std::optional<sdbus::MethodCall> current_call(sdbus::IObject& object);

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
        const uint64_t id =
            add(std::make_unique<Typed<Out...>>(std::move(result)), std::move(subject));
        return [weak = weak_from_this(), dispatcher = dispatcher_, id,
                convert = std::move(convert)](Result<T> outcome) {
            dispatcher->post([weak, id, convert, outcome = std::move(outcome)]() mutable {
                if (auto self = weak.lock()) {
                    self->finish(id, [&](Entry& entry) -> std::optional<Error> {
                        if (!outcome.ok()) {
                            return std::move(outcome).error();
                        }
                        auto reply = convert(std::move(outcome).value());
                        if (!reply.ok()) {
                            return std::move(reply).error();
                        }
                        self->deliver_values(static_cast<Typed<Out...>&>(entry), *reply);
                        return std::nullopt;
                    });
                }
            });
        };
    }

    // D-Bus thread, inside the method's handler. Like defer, but the reply's body is written
    // by the completion on the thread that calls it: `write(sdbus::Message&, T&&) -> Status`
    // appends the reply's values to `reply` (created from the call being handled). Only the
    // sending happens on the D-Bus thread. Errors (the daemon's, write's, DeviceGone, Timeout,
    // stopping) answer through `result` as with defer, and the written reply is then dropped.
    template <typename T, typename... Out, typename Write>
    std::function<void(Result<T>)> defer_written(sdbus::Result<Out...>&& result,
                                                 CallSubject subject, sdbus::MethodReply reply,
                                                 Write write) {
        const uint64_t id =
            add(std::make_unique<Typed<Out...>>(std::move(result)), std::move(subject));
        auto box = std::make_shared<ReplyInFlight>(std::move(reply), dispatcher_);
        return [weak = weak_from_this(), dispatcher = dispatcher_, id, box = std::move(box),
                write = std::move(write)](Result<T> outcome) {
            Status written = outcome.ok()
                                 ? write_reply(write, box->message(), std::move(outcome).value())
                                 : Status(std::move(outcome).error());
            // From here on the box is the D-Bus thread's (the post orders the writes before).
            dispatcher->post([weak, id, box, written = std::move(written)] {
                auto self = weak.lock();
                if (!self) {
                    return;  // the box's last owner hands its message back
                }
                bool sent = false;
                self->finish(id, [&](Entry& entry) -> std::optional<Error> {
                    if (!written.ok()) {
                        return written.error();
                    }
                    box->finish(true, entry.subject.name);
                    sent = true;
                    return std::nullopt;
                });
                if (!sent) {
                    box->finish(false, "");  // answered otherwise: released here
                }
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

    // Keeps the entry under a new id, with its guard.
    uint64_t add(std::unique_ptr<Entry> entry, CallSubject subject);
    std::unique_ptr<Entry> take(uint64_t id);
    // D-Bus thread: ends call `id` unless it has ended already (guard, fail_all): with
    // DeviceGone if its subject went, else as `answer(Entry&)` does: it answers and returns
    // nothing, or returns the error to answer with. The one place a completion ends a call.
    template <typename Answer>
    void finish(uint64_t id, Answer&& answer) {
        auto taken = take(id);
        if (!taken) {
            return;  // already answered (guard expired, service stopping)
        }
        if (auto gone = gone_error(*taken)) {
            deliver(*taken, *gone);
        } else if (std::optional<Error> failed = answer(*taken)) {
            deliver(*taken, to_dbus_error(*failed, taken->subject.name));
        }
        loop_->kick();
    }
    template <typename Write, typename V>
    static Status write_reply(Write& write, sdbus::Message& reply, V&& value) {
        try {
            return write(reply, std::forward<V>(value));
        } catch (const sdbus::Error& e) {
            return Error(Errc::Internal, "the reply could not be written: " + e.getMessage());
        }
    }
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
