// cxlmgrd as systemd sees it under cxlmgrd.service (Type=notify, WatchdogSec=): the test plays
// the service manager's side of the sd_notify protocol with a datagram socket of its own
// (NOTIFY_SOCKET), and asks for the watchdog the way systemd does (WATCHDOG_USEC, WATCHDOG_PID).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sdbus-c++/sdbus-c++.h>
#include <array>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "harness/daemon_harness.hpp"

#ifndef CXLMGRD_PATH
#error "CXLMGRD_PATH (the cxlmgrd binary) must be defined by the build"
#endif

namespace cxlmgr::testing {
namespace {

using Clock = std::chrono::steady_clock;

struct Notification {
    std::string text;  // "READY=1\nSTATUS=..."
    pid_t sender = -1;
    Clock::time_point at;

    [[nodiscard]] bool has(const std::string& line) const {
        size_t start = 0;
        while (start <= text.size()) {
            size_t end = text.find('\n', start);
            if (end == std::string::npos) {
                end = text.size();
            }
            if (text.compare(start, end - start, line) == 0) {
                return true;
            }
            start = end + 1;
        }
        return false;
    }
    [[nodiscard]] std::optional<std::string> value(const std::string& key) const {
        size_t pos = text.rfind(key + "=", 0) == 0 ? 0 : text.find("\n" + key + "=");
        if (pos == std::string::npos) {
            return std::nullopt;
        }
        pos = text.find('=', pos) + 1;
        return text.substr(pos, text.find('\n', pos) - pos);
    }
};

// The service manager's end: a datagram socket that learns each sender's pid from the kernel
// (SO_PASSCRED), as systemd does to apply NotifyAccess=main.
class NotifySocket {
public:
    explicit NotifySocket(const std::filesystem::path& path) : path_(path) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) {
            throw std::system_error(errno, std::generic_category(), "socket");
        }
        int one = 1;
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
        if (::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) != 0 ||
            ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
            int err = errno;
            ::close(fd_);
            throw std::system_error(err, std::generic_category(), "bind " + path.string());
        }
    }
    ~NotifySocket() { ::close(fd_); }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;

    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

    // The next datagram, or nullopt when none arrives within `timeout`.
    std::optional<Notification> receive(std::chrono::milliseconds timeout) {
        pollfd p{fd_, POLLIN, 0};
        int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
        if (n <= 0) {
            return std::nullopt;
        }
        std::array<char, 4096> buf{};
        iovec iov{buf.data(), buf.size()};
        alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(ucred))> control{};
        msghdr msg{};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.data();
        msg.msg_controllen = control.size();
        ssize_t r = ::recvmsg(fd_, &msg, MSG_DONTWAIT);
        if (r < 0) {
            return std::nullopt;
        }
        Notification out;
        out.at = Clock::now();
        out.text.assign(buf.data(), static_cast<size_t>(r));
        for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
                ucred cred{};
                std::memcpy(&cred, CMSG_DATA(c), sizeof(cred));
                out.sender = cred.pid;
            }
        }
        return out;
    }

    // Notifications until one satisfies `stop` (returned last) or `timeout` passes.
    std::vector<Notification> until(const std::function<bool(const Notification&)>& stop,
                                    std::chrono::milliseconds timeout) {
        std::vector<Notification> got;
        const auto deadline = Clock::now() + timeout;
        while (Clock::now() < deadline) {
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
            auto n = receive(std::max(left, std::chrono::milliseconds(1)));
            if (!n) {
                continue;
            }
            got.push_back(*n);
            if (stop(got.back())) {
                break;
            }
        }
        return got;
    }

private:
    std::filesystem::path path_;
    int fd_ = -1;
};

std::string describe(const std::vector<Notification>& got) {
    std::string out;
    for (const auto& n : got) {
        out += "[pid " + std::to_string(n.sender) + "] " + n.text + "\n";
    }
    return out.empty() ? "(nothing)" : out;
}

class NotifyTest : public ::testing::Test {
protected:
    void SetUp() override {
        bus_ = std::make_unique<TestBus>(dir_.path());
        notify_ = std::make_unique<NotifySocket>(dir_.path() / "notify");
    }

    void TearDown() override {
        if (::testing::Test::HasFailure()) {
            std::cerr << "cxlmgrd's log:\n" << read_file(dir_.path() / "cxlmgrd.log") << "\n";
        }
    }

    // cxlmgrd as systemd would start it; `watchdog_pid` "self" stands for the daemon's own pid
    // (the shell that execs it learns it first, as systemd sets it between fork and exec).
    void start(std::chrono::microseconds watchdog, const std::string& watchdog_pid,
               unsigned devices) {
        std::filesystem::create_directories(dir_.path() / "state");
        std::vector<std::string> argv = {
            "env",
            "NOTIFY_SOCKET=" + notify_->path().string(),
            "WATCHDOG_USEC=" + std::to_string(watchdog.count()),
            "sh",
            "-c",
            watchdog_pid == "self" ? "WATCHDOG_PID=$$ exec \"$0\" \"$@\""
                                   : "WATCHDOG_PID=" + watchdog_pid + " exec \"$0\" \"$@\"",
            CXLMGRD_PATH,
            "--bus-address=" + bus_->address(),
            "--state-dir=" + (dir_.path() / "state").string(),
            "--emulate=" + std::to_string(devices)};
        daemon_.spawn(argv, dir_.path() / "cxlmgrd.log");
    }

    TempDir dir_{"cxlmgr-notify"};
    std::unique_ptr<TestBus> bus_;
    std::unique_ptr<NotifySocket> notify_;
    ChildProcess daemon_;
};

// Type=notify's promise: READY=1 comes from the main process once every device is exported and
// the name is owned; the watchdog is petted from then on at half the interval; SIGTERM is
// announced with STOPPING=1 and ends in a clean exit.
TEST_F(NotifyTest, ReadyOnceServingThenWatchdogThenStopping) {
    constexpr auto kWatchdog = std::chrono::milliseconds(2000);
    start(kWatchdog, "self", 2);

    auto got = notify_->until([](const Notification& n) { return n.has("READY=1"); },
                              std::chrono::seconds(60));
    ASSERT_FALSE(got.empty() || !got.back().has("READY=1")) << describe(got);
    const Notification ready = got.back();
    EXPECT_EQ(ready.sender, daemon_.pid()) << "NotifyAccess=main ignores other processes";
    // Ready means served: the name is owned and both devices are exported already.
    EXPECT_TRUE(name_has_owner(bus_->address(), "org.cxlmgr1"));
    auto devices = run_command({"busctl", "--address=" + bus_->address(), "call", "org.cxlmgr1",
                                "/org/cxlmgr1", "org.cxlmgr1.Manager", "ListDevices"});
    EXPECT_EQ(devices.out, "ao 2 \"/org/cxlmgr1/devices/emu0\" \"/org/cxlmgr1/devices/emu1\"\n")
        << devices.describe();
    EXPECT_EQ(ready.value("STATUS").value_or(""), "Serving 2 device(s)") << ready.text;

    // Five pets after READY, each well within the interval, none faster than half of it.
    std::vector<Notification> pets;
    for (const auto& n : got) {
        if (n.has("WATCHDOG=1")) {
            pets.push_back(n);
        }
    }
    auto more = notify_->until(
        [&pets](const Notification& n) {
            if (n.has("WATCHDOG=1")) {
                pets.push_back(n);
            }
            return pets.size() >= 6;
        },
        kWatchdog * 8);
    ASSERT_GE(pets.size(), 6u) << describe(got) << describe(more);
    for (size_t i = 1; i < pets.size(); ++i) {
        auto gap = pets[i].at - pets[i - 1].at;
        EXPECT_LT(gap, kWatchdog) << "pet " << i << " came too late for the watchdog";
        EXPECT_GT(gap, kWatchdog / 2 - std::chrono::milliseconds(100))
            << "pet " << i << " came sooner than half the interval";
        EXPECT_EQ(pets[i].sender, daemon_.pid());
    }

    daemon_.signal(SIGTERM);
    auto stopping = notify_->until([](const Notification& n) { return n.has("STOPPING=1"); },
                                   std::chrono::seconds(30));
    ASSERT_FALSE(stopping.empty() || !stopping.back().has("STOPPING=1")) << describe(stopping);
    EXPECT_EQ(daemon_.wait(std::chrono::seconds(30)), std::optional<int>(0));
}

// sd_watchdog_enabled() semantics: a WATCHDOG_USEC meant for another process (WATCHDOG_PID not
// ours, as a child of a watched service would inherit it) is not acted upon.
TEST_F(NotifyTest, WatchdogOfAnotherProcessIsNotPetted) {
    start(std::chrono::milliseconds(400), "1", 1);
    auto got = notify_->until([](const Notification& n) { return n.has("READY=1"); },
                              std::chrono::seconds(60));
    ASSERT_FALSE(got.empty() || !got.back().has("READY=1")) << describe(got);
    auto later =
        notify_->until([](const Notification&) { return false; }, std::chrono::milliseconds(1500));
    got.insert(got.end(), later.begin(), later.end());
    for (const auto& n : got) {
        EXPECT_FALSE(n.has("WATCHDOG=1")) << describe(got);
    }
    daemon_.signal(SIGTERM);
    EXPECT_EQ(daemon_.wait(std::chrono::seconds(30)), std::optional<int>(0));
}

}  // namespace
}  // namespace cxlmgr::testing
