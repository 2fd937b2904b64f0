#include "daemon/arbiter.hpp"

#include <boost/asio/strand.hpp>
#include <future>

namespace cxlmgr::daemon {

Arbiter::Arbiter(unsigned threads, ChannelPolicy policy) : pool_(threads), policy_(policy) {}

Arbiter::~Arbiter() {
    shutdown();
}

Result<std::shared_ptr<Channel>> Arbiter::create_channel(std::string name) {
    std::lock_guard lock(mutex_);
    if (shut_down_) {
        return Error(Errc::DeviceGone, "the daemon is stopping: no new channel for " + name);
    }
    auto channel = Channel::create(std::move(name), boost::asio::make_strand(pool_), policy_);
    std::erase_if(channels_, [](const auto& w) { return w.expired(); });
    channels_.push_back(channel);
    return channel;
}

void Arbiter::shutdown() {
    std::vector<std::shared_ptr<Channel>> live;
    {
        std::lock_guard lock(mutex_);
        if (shut_down_) {
            return;
        }
        shut_down_ = true;
        for (const auto& w : channels_) {
            if (auto c = w.lock()) {
                live.push_back(std::move(c));
            }
        }
    }
    std::vector<std::future<void>> drained;
    for (const auto& channel : live) {
        auto done = std::make_shared<std::promise<void>>();
        drained.push_back(done->get_future());
        channel->close(Error(Errc::DeviceGone, "the daemon is stopping"),
                       [done] { done->set_value(); });
    }
    // Transports bound their own waits (doorbell 2 s, DOE 1 s + abort 1 s; a background
    // operation its background timeout, and devices are closed before this, which asks the
    // device to abort one where it can), so this ends.
    for (auto& f : drained) {
        f.wait();
    }
    pool_.join();
}

std::vector<Arbiter::ChannelReport> Arbiter::report() const {
    std::lock_guard lock(mutex_);
    std::vector<ChannelReport> out;
    for (const auto& w : channels_) {
        if (auto c = w.lock()) {
            out.push_back({c->name(), c->counters()});
        }
    }
    return out;
}

}  // namespace cxlmgr::daemon
