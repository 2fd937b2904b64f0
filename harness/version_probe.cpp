#include "harness/version_probe.hpp"

#include <sdbus-c++/IProxy.h>

#include <chrono>
#include <fstream>
#include <string>

namespace cxlmgr::testing {

VersionProbe::VersionProbe(std::unique_ptr<sdbus::IConnection> connection)
    : connection_(std::move(connection)), thread_([this] { run(); }) {}

VersionProbe::~VersionProbe() {
    stop();
}

void VersionProbe::stop() {
    stop_ = true;
    if (thread_.joinable()) {
        thread_.join();
    }
}

void VersionProbe::run() {
    auto proxy = sdbus::createProxy(*connection_, "org.cxlmgr1", "/org/cxlmgr1");
    while (!stop_) {
        const auto start = std::chrono::steady_clock::now();
        try {
            (void)proxy->getProperty("Version").onInterface("org.cxlmgr1.Manager");
            latencies_ms_.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                    .count());
        } catch (const sdbus::Error&) {
            ++failures_;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
}

std::optional<uint64_t> peak_rss(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmHWM:", 0) == 0) {
            return std::stoull(line.substr(6)) * 1024;  // "VmHWM:   1234 kB"
        }
    }
    return std::nullopt;
}

}  // namespace cxlmgr::testing
