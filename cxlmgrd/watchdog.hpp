// systemd's watchdog (WatchdogSec= in cxlmgrd.service), petted by a timer on the main
// io_context. That loop runs the D-Bus connection and every device completion handed back to it,
// so a handler that blocks it also stops the pets, and systemd kills and restarts the daemon
// (Restart=on-failure) rather than leaving a process that holds the devices and answers nobody.
// A thread of its own would keep petting a wedged loop: the very case the watchdog is for.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>

namespace cxlmgr {

class Watchdog {
public:
    explicit Watchdog(boost::asio::io_context& io) : timer_(io) {}

    // Starts petting when the service manager asked this process for it (WATCHDOG_USEC, and
    // WATCHDOG_PID naming this process if set); otherwise does nothing.
    void start();

private:
    void pet();

    boost::asio::steady_timer timer_;
    std::chrono::microseconds period_{0};
};

}  // namespace cxlmgr
