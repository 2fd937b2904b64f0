// A cancellation request shared between whoever may cancel (a D-Bus caller, daemon shutdown) and
// the operation that observes it at its next step boundary. Never a lock held across a step.
#pragma once

#include <atomic>
#include <memory>

namespace cxlmgr {

class CancelToken {
public:
    CancelToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}

    void cancel() const { flag_->store(true, std::memory_order_release); }
    [[nodiscard]] bool cancelled() const { return flag_->load(std::memory_order_acquire); }

private:
    std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace cxlmgr
