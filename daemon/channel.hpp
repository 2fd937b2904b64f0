// One arbitration channel: a DOE instance or a mailbox of one device. Every exchange with that
// channel, from every client, is a transaction submitted here. The channel guarantees:
//  - one transaction at a time in the foreground: a request/response pair is never interleaved;
//  - at most one background operation at a time, beside the foreground: a transaction that may
//    start one (TransactionOptions::background_slot) takes the channel's background slot when
//    it starts and keeps it until it finishes. Once its foreground part is over (the device
//    answered Background Command Started, run() calls Completion::foreground_done()), the
//    channel runs other transactions while the operation goes on; another background_slot
//    transaction waits in the queue (in its class, aging as any other) until the slot is free,
//    so it is never sent just to be refused as Busy. The submitter still hears of the
//    transaction once, when it finished. docs/DESIGN.md "Arbitration";
//  - sessions: the oldest open session of a kind (a whole CDAT read, a firmware transfer) holds
//    that kind; transactions of younger sessions of the same kind wait, while transactions
//    without a session (short commands from others) still get through between its steps;
//  - priority classes control > interactive > background > bulk, with aging: every
//    `aging_step` a transaction waits, it climbs one class, so nothing starves;
//  - deadlines (a queued transaction whose deadline passes is rejected with Timeout without
//    running) and cancellation (a cancelled queued transaction is rejected when it would start;
//    a running one sees its CancelToken at the transport's next step boundary);
//  - counters for diagnostics;
//  - close() rejects what is queued and reports drained once the foreground transaction and
//    the background operation, if any, have finished (ending the latter is its submitter's
//    business: see ManagedDevice::close).
// All state lives on the channel's strand; submit() may be called from any thread.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/cancel.hpp"
#include "common/result.hpp"

namespace cxlmgr::daemon {

using Clock = std::chrono::steady_clock;

enum class Priority : int { Control = 0, Interactive = 1, Background = 2, Bulk = 3 };

std::string_view priority_name(Priority priority);

class Channel;

// An open session; closes when the last handle goes (or on close()).
class Session {
public:
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    void close();
    [[nodiscard]] uint64_t id() const { return id_; }
    [[nodiscard]] const std::string& kind() const { return kind_; }

private:
    friend class Channel;
    Session(std::weak_ptr<Channel> channel, uint64_t id, std::string kind)
        : channel_(std::move(channel)), id_(id), kind_(std::move(kind)) {}
    std::weak_ptr<Channel> channel_;
    uint64_t id_;
    std::string kind_;
    std::atomic<bool> closed_{false};
};

struct TransactionOptions {
    Priority priority = Priority::Interactive;
    std::optional<Clock::time_point> deadline;  // to start by; nullopt = no limit
    CancelToken cancel;
    std::shared_ptr<Session> session;  // null = not part of a multi-step sequence
    std::string description;           // for logs
    // The transaction may start a background operation: it waits for the background slot and
    // holds it until it finishes (header comment).
    bool background_slot = false;
};

// How a running transaction reports to its channel; copies share one state, any thread.
class Completion {
public:
    // The foreground part is over: the channel runs other transactions from here on. Only for
    // a background_slot transaction (the slot stays taken until finished()); ignored (logged)
    // otherwise, and after the first call.
    void foreground_done() const;
    // Done (with the background operation, if any): exactly once; a second call is logged and
    // ignored.
    void finished(bool succeeded) const;
    void operator()(bool succeeded) const { finished(succeeded); }

private:
    friend class Channel;
    struct State;
    explicit Completion(std::shared_ptr<State> state) : state_(std::move(state)) {}
    std::shared_ptr<State> state_;
};

// run(cancel, completion): start the exchange; call completion.finished(succeeded) exactly once
// when done (a run taking a std::function<void(bool)> is given the Completion as that).
// reject(error): called instead of run when the transaction never starts.
struct Transaction {
    TransactionOptions options;
    std::function<void(CancelToken, Completion)> run;
    std::function<void(Error)> reject;
};

struct ChannelCounters {
    uint64_t submitted = 0;
    uint64_t completed = 0;        // ran and reported success
    uint64_t failed = 0;           // ran and reported failure
    uint64_t rejected = 0;         // never ran: deadline, cancel, channel closed
    uint64_t queued = 0;           // waiting now
    bool background_busy = false;  // a background operation holds the slot now
    uint64_t total_wait_us = 0;
    uint64_t max_wait_us = 0;
};

struct ChannelPolicy {
    std::chrono::milliseconds aging_step{50};
};

class Channel : public std::enable_shared_from_this<Channel> {
public:
    // executor: a strand (or any serial executor) on which transports of this channel run.
    static std::shared_ptr<Channel> create(std::string name, boost::asio::any_io_executor executor,
                                           ChannelPolicy policy = {});

    // After close(), the transaction is rejected at once, in the caller's thread (the executor
    // may already be gone).
    void submit(Transaction transaction);

    // Typed convenience: op(cancel, deliver) starts the exchange and calls deliver(result)
    // once; callback gets the result (or the rejection) exactly once, on the channel's executor.
    template <typename T>
    void submit(TransactionOptions options,
                std::function<void(CancelToken, std::function<void(Result<T>)>)> op,
                std::function<void(Result<T>)> callback) {
        auto cb = std::make_shared<std::function<void(Result<T>)>>(std::move(callback));
        Transaction t;
        t.options = std::move(options);
        t.run = [op = std::move(op), cb](CancelToken cancel, Completion finished) {
            op(std::move(cancel), [cb, finished = std::move(finished)](Result<T> r) {
                finished(r.ok());  // counters are updated before the caller sees the result
                (*cb)(std::move(r));
            });
        };
        t.reject = [cb](Error e) { (*cb)(Result<T>(std::move(e))); };
        submit(std::move(t));
    }

    std::shared_ptr<Session> open_session(std::string kind);

    // Stops accepting work: queued transactions are rejected with `reason`, later submissions
    // too; on_drained runs (on the executor) once the running transaction and the background
    // operation, if any, have finished.
    void close(Error reason, std::function<void()> on_drained = {});

    [[nodiscard]] ChannelCounters counters() const;
    [[nodiscard]] const std::string& name() const { return name_; }
    [[nodiscard]] const boost::asio::any_io_executor& executor() const { return executor_; }

private:
    friend class Session;
    friend class Completion;
    struct Queued {
        uint64_t seq;
        Clock::time_point enqueued;
        Transaction transaction;
        std::shared_ptr<boost::asio::steady_timer> deadline_timer;
    };

    Channel(std::string name, boost::asio::any_io_executor executor, ChannelPolicy policy);
    void enqueue(Transaction transaction);
    void schedule();
    [[nodiscard]] bool eligible(const Queued& q) const;
    [[nodiscard]] int effective_rank(const Queued& q, Clock::time_point now) const;
    void reject(std::list<Queued>::iterator it, Error error);
    void expire(uint64_t seq);
    void session_closed(uint64_t id);
    void release(const std::shared_ptr<Completion::State>& state, bool finished);
    void drained_or_schedule();

    std::string name_;
    boost::asio::any_io_executor executor_;
    ChannelPolicy policy_;

    // Strand-only state.
    std::list<Queued> queue_;
    bool running_ = false;
    std::atomic<bool> background_busy_{false};  // written on the strand only
    std::optional<Error> closed_;
    std::function<void()> on_drained_;
    std::list<std::pair<uint64_t, std::string>> open_sessions_;  // (id, kind), oldest first
    uint64_t next_seq_ = 1;

    // Set synchronously by close(), read by submit() from any thread.
    mutable std::mutex close_mutex_;
    std::optional<Error> close_reason_;

    std::atomic<uint64_t> next_session_id_{1};
    std::atomic<uint64_t> submitted_{0}, completed_{0}, failed_{0}, rejected_{0}, queued_{0};
    std::atomic<uint64_t> total_wait_us_{0}, max_wait_us_{0};
};

}  // namespace cxlmgr::daemon
