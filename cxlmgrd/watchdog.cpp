#include "cxlmgrd/watchdog.hpp"

#include <systemd/sd-daemon.h>

#include "common/errno_text.hpp"
#include "common/log.hpp"

namespace cxlmgr {

void Watchdog::start() {
    uint64_t usec = 0;
    // 0: keep the variables; unsetenv would race with getenv on the threads already running.
    int enabled = sd_watchdog_enabled(0, &usec);
    if (enabled < 0) {
        log::warning("ignoring the systemd watchdog settings: ", errno_text(-enabled));
        return;
    }
    if (enabled == 0) {
        return;
    }
    // Half the interval: a late wake-up of up to half an interval is still in time.
    period_ = std::chrono::microseconds(usec / 2);
    log::info("systemd watchdog: ", usec / 1000, " ms, petted every ", usec / 2000, " ms");
    pet();
}

void Watchdog::pet() {
    sd_notify(0, "WATCHDOG=1");
    timer_.expires_after(period_);
    // The timer is ours: destroying it (after the loop stopped) drops this handler unrun.
    timer_.async_wait([this](const boost::system::error_code& ec) {
        if (!ec) {
            pet();
        }
    });
}

}  // namespace cxlmgr
