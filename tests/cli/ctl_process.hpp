// cxlmgrctl as a long-running child (`events watch`) for tests: stdout and stderr go to files of
// their own, so the JSON lines on stdout can be read while it runs and the messages on stderr
// never mix into them. Header-only: used by tests/cli and tests/integration alike.
#pragma once

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness/daemon_harness.hpp"

namespace cxlmgr::testing {

class CtlProcess {
public:
    // Runs argv (argv[0] the cxlmgrctl binary) with stdout in DIR/NAME.out, stderr in
    // DIR/NAME.err. `exec` keeps the pid: signals reach cxlmgrctl itself.
    CtlProcess(const std::filesystem::path& dir, const std::string& name,
               const std::vector<std::string>& argv)
        : out_(dir / (name + ".out")), err_(dir / (name + ".err")) {
        std::vector<std::string> sh = {"sh", "-c", "err=$1; shift; exec \"$@\" 2>\"$err\"", "sh",
                                       err_.string()};
        sh.insert(sh.end(), argv.begin(), argv.end());
        process_.spawn(sh, out_);
    }

    [[nodiscard]] std::string out() const { return read_file(out_); }
    [[nodiscard]] std::string err() const { return read_file(err_); }

    // The complete lines on stdout so far.
    [[nodiscard]] std::vector<std::string> lines() const {
        std::string text = out();
        std::vector<std::string> result;
        size_t start = 0;
        for (size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
            result.push_back(text.substr(start, nl - start));
            start = nl + 1;
        }
        return result;
    }

    // Waits until stdout has at least `n` complete lines (or the process ended); returns them.
    std::vector<std::string> wait_lines(size_t n, std::chrono::milliseconds timeout = 20s) {
        return wait_until([&](const std::vector<std::string>& l) { return l.size() >= n; },
                          timeout);
    }

    // Waits until stderr contains `needle`.
    bool wait_err(const std::string& needle, std::chrono::milliseconds timeout = 20s) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        while (err().find(needle) == std::string::npos) {
            if (std::chrono::steady_clock::now() > until || !process_.running()) {
                return err().find(needle) != std::string::npos;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return true;
    }

    template <typename Pred>
    std::vector<std::string> wait_until(Pred done, std::chrono::milliseconds timeout) {
        const auto until = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            auto l = lines();
            if (done(l) || std::chrono::steady_clock::now() > until || !running()) {
                return done(l) ? l : lines();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }

    [[nodiscard]] bool running() {
        process_.wait(std::chrono::milliseconds(0));
        return process_.running();
    }
    void signal(int sig) { process_.signal(sig); }
    std::optional<int> wait(std::chrono::milliseconds timeout) { return process_.wait(timeout); }
    [[nodiscard]] pid_t pid() const { return process_.pid(); }

    // "stdout: ...; stderr: ..." for assertion messages.
    [[nodiscard]] std::string describe() const {
        std::ostringstream s;
        s << "stdout: " << out() << "; stderr: " << err();
        return s.str();
    }

private:
    std::filesystem::path out_;
    std::filesystem::path err_;
    ChildProcess process_;
};

}  // namespace cxlmgr::testing
