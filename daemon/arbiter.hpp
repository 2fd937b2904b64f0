// The arbitration engine: a small fixed thread pool on which every channel (each DOE instance,
// each mailbox, of every device) runs on its own strand. Channels of different devices run in
// parallel; one channel never runs two transactions at once (channel.hpp).
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/channel.hpp"

namespace cxlmgr::daemon {

class Arbiter {
public:
    explicit Arbiter(unsigned threads = 2, ChannelPolicy policy = {});
    ~Arbiter();
    Arbiter(const Arbiter&) = delete;
    Arbiter& operator=(const Arbiter&) = delete;

    // A new channel with its own strand on the pool; DeviceGone after shutdown().
    Result<std::shared_ptr<Channel>> create_channel(std::string name);

    // Closes every channel (queued work is rejected with DeviceGone "daemon stopping"), waits
    // until the running transactions have finished, and joins the pool. Idempotent.
    void shutdown();

    struct ChannelReport {
        std::string name;
        ChannelCounters counters;
    };
    [[nodiscard]] std::vector<ChannelReport> report() const;

private:
    boost::asio::thread_pool pool_;
    ChannelPolicy policy_;
    mutable std::mutex mutex_;
    std::vector<std::weak_ptr<Channel>> channels_;
    bool shut_down_ = false;
};

}  // namespace cxlmgr::daemon
