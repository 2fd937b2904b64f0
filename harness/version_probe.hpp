// Another client's view of cxlmgrd's D-Bus thread while something else keeps it busy (issue 15):
// a thread that reads org.cxlmgr1.Manager.Version on its own connection, every 2 ms, until
// stopped, and records each round trip. A property Get is answered by the D-Bus thread alone,
// so its latency is how long that thread made everyone wait.
#pragma once

#include <sdbus-c++/IConnection.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

namespace cxlmgr::testing {

class VersionProbe {
public:
    explicit VersionProbe(std::unique_ptr<sdbus::IConnection> connection);
    ~VersionProbe();
    VersionProbe(const VersionProbe&) = delete;
    VersionProbe& operator=(const VersionProbe&) = delete;

    // Joins the thread; the figures below are complete afterwards.
    void stop();
    [[nodiscard]] const std::vector<double>& latencies_ms() const { return latencies_ms_; }
    [[nodiscard]] size_t failures() const { return failures_; }

private:
    void run();
    std::unique_ptr<sdbus::IConnection> connection_;
    std::atomic<bool> stop_{false};
    std::vector<double> latencies_ms_;
    size_t failures_ = 0;
    std::thread thread_;
};

// A process's peak resident set (VmHWM of /proc/PID/status) in bytes; nullopt when unreadable.
std::optional<uint64_t> peak_rss(pid_t pid);

}  // namespace cxlmgr::testing
