// A private dbus-daemon for one test: started on construction, killed on destruction.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace cxlmgr::testing {

class PrivateBus {
public:
    PrivateBus() {
        // --fork makes the address and PID lines appear once the bus listens.
        FILE* out =
            popen("dbus-daemon --session --fork --nopidfile --print-address=1 --print-pid=1", "r");
        if (out == nullptr) {
            throw std::runtime_error("cannot start dbus-daemon");
        }
        std::array<char, 512> line{};
        if (fgets(line.data(), line.size(), out) != nullptr) {
            address_ = trim(line.data());
        }
        if (fgets(line.data(), line.size(), out) != nullptr) {
            pid_ = std::stoi(trim(line.data()));
        }
        pclose(out);
        if (address_.empty() || pid_ <= 0) {
            throw std::runtime_error("dbus-daemon did not report its address and PID");
        }
    }
    ~PrivateBus() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
        }
    }
    PrivateBus(const PrivateBus&) = delete;
    PrivateBus& operator=(const PrivateBus&) = delete;

    [[nodiscard]] const std::string& address() const { return address_; }

private:
    static std::string trim(std::string s) {
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
            s.pop_back();
        }
        return s;
    }
    std::string address_;
    pid_t pid_ = -1;
};

}  // namespace cxlmgr::testing
