// C++20 coroutines on Asio executors (Boost 1.74's awaitable) for the daemon's multi-step
// sequences: a device's opening, a firmware job, an event drain, reading an image. A sequence
// written as a coroutine reads like the protocol it follows; its cancellation checks sit at the
// protocol's step boundaries; and nothing blocks a thread while the hardware answers, because
// every wait is an awaited Asio operation (docs/DESIGN.md "Sequences").
//
// Rules for code using this header:
//  - Include this header, never <boost/asio/awaitable.hpp> directly (see the <utility> note).
//  - A coroutine runs on the executor it was spawned on (a strand: its state needs no lock) and
//    comes back to it after every await_callback, whatever thread delivered the result.
//  - Errors are values: a coroutine returns Result<T>/Status. An exception escaping one is a
//    bug; spawn() logs it and hands the caller an Internal error.
//  - Whoever spawns a coroutine keeps alive what it uses (it captures shared_ptrs by value; a
//    coroutine's reference parameters dangle once the caller returns).
//  - Never write a lambda inside a co_await expression (`co_await await_callback<T>([..] {..})`):
//    GCC 12 destroys such a temporary closure twice. Name it first and move it in.
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>; clang notices.
#include <utility>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>

#include "common/log.hpp"
#include "common/result.hpp"

namespace cxlmgr {

template <typename T>
using Task = boost::asio::awaitable<T>;

// Awaits a callback-style operation: start(deliver) begins it, and deliver(Result<T>) must be
// called exactly once, from any thread (also from inside start). The coroutine resumes from a
// handler posted to its own executor, never inside start or deliver, so a strand's guarantees
// hold across the await and a synchronous delivery cannot re-enter the coroutine.
template <typename T, typename Start>
Task<Result<T>> await_callback(Start start) {
    auto initiate = [start = std::move(start)](auto handler) mutable {
        auto executor = boost::asio::get_associated_executor(handler);
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        start(std::function<void(Result<T>)>([shared, executor](Result<T> r) {
            boost::asio::post(executor,
                              [shared, r = std::move(r)]() mutable { (*shared)(std::move(r)); });
        }));
    };
    co_return co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable),
                                                   void(Result<T>)>(std::move(initiate),
                                                                    boost::asio::use_awaitable);
}

// Waits `duration` on the coroutine's executor (a timer, no thread sleeps).
inline Task<void> sleep_for(std::chrono::steady_clock::duration duration) {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    timer.expires_after(duration);
    boost::system::error_code ec;
    co_await timer.async_wait(
        boost::asio::redirect_error(boost::asio::use_awaitable, ec));  // operation_aborted: fine
}

namespace detail {
inline Error escaped_exception(const std::string& what, const std::exception_ptr& e) {
    std::string text = "unknown exception";
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        text = ex.what();
    } catch (...) {  // NOLINT(bugprone-empty-catch): the text above says what we know
    }
    log::error(what, ": internal error: an exception escaped a coroutine: ", text);
    return Error(Errc::Internal, what + ": internal error: " + text);
}
}  // namespace detail

// Starts `task` on `executor`. `done` (optional) gets its result, on that executor, once it
// has finished. `what` names the sequence and its device, for the log line of a bug.
template <typename T, typename Executor>
void spawn(const Executor& executor, Task<Result<T>> task, std::string what,
           std::function<void(Result<T>)> done = {}) {
    // Exceptions are caught here rather than by co_spawn's handler, which Boost 1.74 calls with
    // a default-constructed result (Result has none).
    boost::asio::co_spawn(
        executor,
        [task = std::move(task), what = std::move(what),
         done = std::move(done)]() mutable -> Task<void> {
            Result<T> result = Error(Errc::Internal, what + ": never ran");
            try {
                result = co_await std::move(task);
            } catch (...) {
                result = detail::escaped_exception(what, std::current_exception());
            }
            if (done) {
                done(std::move(result));
            }
        },
        boost::asio::detached);
}

}  // namespace cxlmgr

// Inside a coroutine returning Result<T>/Status: like CXLMGR_CHECK and CXLMGR_ASSIGN
// (common/result.hpp), with co_return.
#define CXLMGR_CO_CHECK(expr)                                  \
    do {                                                       \
        auto cxlmgr_check_result_ = (expr);                    \
        if (!cxlmgr_check_result_.ok()) {                      \
            co_return std::move(cxlmgr_check_result_).error(); \
        }                                                      \
    } while (false)

#define CXLMGR_CO_ASSIGN(decl, expr) \
    CXLMGR_CO_ASSIGN_IMPL_(CXLMGR_CONCAT_(cxlmgr_co_r_, __LINE__), decl, expr)
#define CXLMGR_CO_ASSIGN_IMPL_(tmp, decl, expr) \
    auto tmp = (expr);                          \
    if (!tmp.ok()) {                            \
        co_return std::move(tmp).error();       \
    }                                           \
    decl = std::move(tmp).value()
