#include "daemon/channel.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <exception>

#include "common/log.hpp"

namespace cxlmgr::daemon {

std::string_view priority_name(Priority priority) {
    switch (priority) {
        case Priority::Control:
            return "control";
        case Priority::Interactive:
            return "interactive";
        case Priority::Background:
            return "background";
        case Priority::Bulk:
            return "bulk";
    }
    return "?";
}

// Strand-only except `reported`, which any thread may race to set.
struct Completion::State {
    std::weak_ptr<Channel> channel;
    std::string description;
    bool background_slot = false;
    std::atomic<bool> reported{false};  // finished() was called
    std::atomic<bool> foreground_reported{false};
    bool foreground_released = false;  // strand: running_ no longer this transaction's
    bool done = false;                 // strand: fully released
};

void Completion::foreground_done() const {
    auto channel = state_->channel.lock();
    if (!channel) {
        return;
    }
    if (!state_->background_slot) {
        log::error(channel->name(), ": ", state_->description,
                   " reported a background operation without holding the background slot "
                   "(ignored)");
        return;
    }
    if (state_->foreground_reported.exchange(true)) {
        return;
    }
    boost::asio::post(channel->executor(),
                      [channel, state = state_] { channel->release(state, false); });
}

void Completion::finished(bool succeeded) const {
    auto channel = state_->channel.lock();
    if (state_->reported.exchange(true)) {
        if (channel) {
            log::error(channel->name(), ": a transaction reported completion twice (ignored)");
        }
        return;
    }
    if (!channel) {
        return;
    }
    (succeeded ? channel->completed_ : channel->failed_).fetch_add(1, std::memory_order_relaxed);
    // Always hop through the executor: a transport completing inline must not re-enter.
    boost::asio::post(channel->executor(),
                      [channel, state = state_] { channel->release(state, true); });
}

Session::~Session() {
    close();
}

void Session::close() {
    if (closed_.exchange(true)) {
        return;
    }
    if (auto channel = channel_.lock()) {
        boost::asio::post(channel->executor(),
                          [channel, id = id_] { channel->session_closed(id); });
    }
}

std::shared_ptr<Channel> Channel::create(std::string name, boost::asio::any_io_executor executor,
                                         ChannelPolicy policy) {
    return std::shared_ptr<Channel>(new Channel(std::move(name), std::move(executor), policy));
}

Channel::Channel(std::string name, boost::asio::any_io_executor executor, ChannelPolicy policy)
    : name_(std::move(name)), executor_(std::move(executor)), policy_(policy) {}

std::shared_ptr<Session> Channel::open_session(std::string kind) {
    uint64_t id = next_session_id_.fetch_add(1);
    std::shared_ptr<Session> session(new Session(weak_from_this(), id, kind));
    boost::asio::post(executor_, [self = shared_from_this(), id, kind = std::move(kind)] {
        self->open_sessions_.emplace_back(id, kind);
    });
    return session;
}

void Channel::session_closed(uint64_t id) {
    open_sessions_.remove_if([id](const auto& s) { return s.first == id; });
    schedule();
}

void Channel::submit(Transaction transaction) {
    submitted_.fetch_add(1, std::memory_order_relaxed);
    {
        std::unique_lock lock(close_mutex_);
        if (close_reason_) {
            Error reason = *close_reason_;
            lock.unlock();
            rejected_.fetch_add(1, std::memory_order_relaxed);
            transaction.reject(std::move(reason));
            return;
        }
    }
    boost::asio::post(executor_, [self = shared_from_this(), t = std::move(transaction)]() mutable {
        self->enqueue(std::move(t));
    });
}

void Channel::enqueue(Transaction transaction) {
    if (closed_) {
        rejected_.fetch_add(1, std::memory_order_relaxed);
        transaction.reject(*closed_);
        return;
    }
    Queued q{next_seq_++, Clock::now(), std::move(transaction), nullptr};
    if (q.transaction.options.deadline) {
        q.deadline_timer = std::make_shared<boost::asio::steady_timer>(executor_);
        q.deadline_timer->expires_at(*q.transaction.options.deadline);
        q.deadline_timer->async_wait(
            [self = shared_from_this(), seq = q.seq](const boost::system::error_code& ec) {
                if (!ec) {
                    self->expire(seq);
                }
            });
    }
    queue_.push_back(std::move(q));
    queued_.fetch_add(1, std::memory_order_relaxed);
    schedule();
}

void Channel::reject(std::list<Queued>::iterator it, Error error) {
    Transaction t = std::move(it->transaction);
    if (it->deadline_timer) {
        it->deadline_timer->cancel();
    }
    queue_.erase(it);
    queued_.fetch_sub(1, std::memory_order_relaxed);
    rejected_.fetch_add(1, std::memory_order_relaxed);
    log::debug(name_, ": ", t.options.description, " not started: ", error.message);
    t.reject(std::move(error));
}

void Channel::expire(uint64_t seq) {
    auto it =
        std::find_if(queue_.begin(), queue_.end(), [seq](const Queued& q) { return q.seq == seq; });
    if (it != queue_.end()) {
        reject(it,
               Error(Errc::Timeout, name_ + ": the deadline passed while waiting for the channel"));
    }
}

bool Channel::eligible(const Queued& q) const {
    if (q.transaction.options.background_slot && background_busy_) {
        return false;  // never sent only to be refused as Busy: it waits for the slot
    }
    const auto& session = q.transaction.options.session;
    if (!session) {
        return true;
    }
    for (const auto& [id, kind] : open_sessions_) {
        if (kind == session->kind()) {
            return id == session->id();  // the oldest open session of this kind holds it
        }
    }
    return true;  // its session is already closed: nothing to wait for
}

int Channel::effective_rank(const Queued& q, Clock::time_point now) const {
    int rank = static_cast<int>(q.transaction.options.priority);
    if (policy_.aging_step.count() > 0) {
        rank -= static_cast<int>((now - q.enqueued) / policy_.aging_step);
    }
    return std::max(rank, 0);
}

void Channel::schedule() {
    if (running_ || closed_) {
        return;
    }
    auto now = Clock::now();
    auto best = queue_.end();
    for (auto it = queue_.begin(); it != queue_.end();) {
        const auto& opts = it->transaction.options;
        if (opts.cancel.cancelled()) {
            auto next = std::next(it);
            reject(it, Error(Errc::Cancelled, "cancelled before it started"));
            it = next;
            continue;
        }
        if (opts.deadline && now >= *opts.deadline) {
            auto next = std::next(it);
            reject(it, Error(Errc::Timeout,
                             name_ + ": the deadline passed while waiting for the channel"));
            it = next;
            continue;
        }
        if (eligible(*it) &&
            (best == queue_.end() || effective_rank(*it, now) < effective_rank(*best, now))) {
            best = it;  // ties keep the older (earlier in the list) transaction
        }
        ++it;
    }
    if (best == queue_.end()) {
        return;
    }
    Queued q = std::move(*best);
    queue_.erase(best);
    queued_.fetch_sub(1, std::memory_order_relaxed);
    if (q.deadline_timer) {
        q.deadline_timer->cancel();
    }
    auto wait_us = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(now - q.enqueued).count());
    total_wait_us_.fetch_add(wait_us, std::memory_order_relaxed);
    uint64_t prev = max_wait_us_.load(std::memory_order_relaxed);
    while (wait_us > prev && !max_wait_us_.compare_exchange_weak(prev, wait_us)) {
    }

    running_ = true;
    Transaction& t = q.transaction;
    auto state = std::make_shared<Completion::State>();
    state->channel = weak_from_this();
    state->description = t.options.description;
    state->background_slot = t.options.background_slot;
    if (state->background_slot) {
        background_busy_ = true;
    }
    try {
        t.run(t.options.cancel, Completion(state));
    } catch (const std::exception& e) {
        // A broken invariant inside a transport: the transaction fails, the daemon goes on.
        log::error(name_, ": ", t.options.description,
                   " failed with an internal error: ", e.what());
        if (!state->reported.exchange(true)) {
            failed_.fetch_add(1, std::memory_order_relaxed);
            t.reject(Error(Errc::Internal, std::string("internal error: ") + e.what()));
            boost::asio::post(executor_,
                              [self = shared_from_this(), state] { self->release(state, true); });
        }
    }
}

void Channel::release(const std::shared_ptr<Completion::State>& state, bool finished) {
    if (state->done) {
        return;
    }
    if (!state->foreground_released) {
        state->foreground_released = true;
        running_ = false;
    }
    if (finished) {
        state->done = true;
        if (state->background_slot) {
            background_busy_ = false;
        }
    }
    drained_or_schedule();
}

void Channel::drained_or_schedule() {
    if (closed_) {
        if (!running_ && !background_busy_ && on_drained_) {
            auto drained = std::move(on_drained_);
            on_drained_ = nullptr;
            drained();
        }
        return;
    }
    schedule();
}

void Channel::close(Error reason, std::function<void()> on_drained) {
    {
        std::lock_guard lock(close_mutex_);
        if (!close_reason_) {
            close_reason_ = reason;
        }
    }
    boost::asio::post(executor_, [self = shared_from_this(), reason = std::move(reason),
                                  on_drained = std::move(on_drained)]() mutable {
        if (self->closed_) {
            if (on_drained) {
                on_drained();
            }
            return;
        }
        self->closed_ = reason;
        while (!self->queue_.empty()) {
            self->reject(self->queue_.begin(), reason);
        }
        if (!self->running_ && !self->background_busy_) {
            if (on_drained) {
                on_drained();
            }
            return;
        }
        self->on_drained_ = std::move(on_drained);
    });
}

ChannelCounters Channel::counters() const {
    ChannelCounters c;
    c.submitted = submitted_.load();
    c.completed = completed_.load();
    c.failed = failed_.load();
    c.rejected = rejected_.load();
    c.queued = queued_.load();
    c.background_busy = background_busy_.load();
    c.total_wait_us = total_wait_us_.load();
    c.max_wait_us = max_wait_us_.load();
    return c;
}

}  // namespace cxlmgr::daemon
