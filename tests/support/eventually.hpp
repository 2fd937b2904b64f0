// Waiting for something another process or thread makes true, without a fixed sleep: the
// condition is checked every `step` until it holds or `timeout` has passed (then once more, so
// a condition that became true at the deadline still counts).
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace cxlmgr::testing {

inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10),
                       std::chrono::milliseconds step = std::chrono::milliseconds(20)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        if (condition()) {
            return true;
        }
        std::this_thread::sleep_for(step);
    }
    return condition();
}

}  // namespace cxlmgr::testing
