// Drives an sdbus-c++ 1.2.0 connection from a Boost.Asio io_context, so D-Bus callbacks run on
// the daemon's own loop and no library thread exists (the algorithm sdbusplus uses in OpenBMC
// daemons): wait for the bus fd and the bus's own timeout, then process pending messages in
// bounded batches and re-arm.
//
// sdbus-c++ 1.2.0 has no wake-up fd: a signal emitted, a deferred reply sent or a call made
// from outside a bus callback (a timer, a worker completion) sits in the output queue until the
// next incoming message. Whoever does that calls kick().
#pragma once

#include <sdbus-c++/IConnection.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <string>

namespace cxlmgr::dbus {

class BusLoop : public std::enable_shared_from_this<BusLoop> {
public:
    static std::shared_ptr<BusLoop> create(boost::asio::io_context& io,
                                           sdbus::IConnection& connection);
    ~BusLoop();

    void start();
    // Processes whatever is pending now and re-arms; call from the io_context's thread.
    void kick();
    // Stops waiting; the connection is left to its owner (the fd belongs to sd-bus).
    void stop();
    // Called (on the io_context's thread) when processing fails: the connection is broken and
    // the loop has stopped.
    void set_failure_handler(std::function<void(const std::string& why)> handler);

private:
    BusLoop(boost::asio::io_context& io, sdbus::IConnection& connection);
    void process();
    void arm();

    boost::asio::io_context& io_;
    sdbus::IConnection& connection_;
    boost::asio::posix::stream_descriptor descriptor_;
    boost::asio::steady_timer timer_;
    std::function<void(const std::string&)> on_failure_;
    bool stopped_ = false;
    bool fd_wait_pending_ = false;
    bool waiting_for_write_ = false;
    bool process_posted_ = false;
};

}  // namespace cxlmgr::dbus
