#include "harness/daemon_harness.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sdbus-c++/sdbus-c++.h>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <system_error>

#ifndef CXLMGRD_PATH
#error "CXLMGRD_PATH (the cxlmgrd binary) must be defined by the build"
#endif

extern char** environ;

namespace cxlmgr::testing {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail_errno(const std::string& what) {
    throw std::system_error(errno, std::generic_category(), what);
}

int pidfd_open(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

int decode_status(int status) {
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return -1;
}

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
    std::vector<char*> out;
    out.reserve(argv.size() + 1);
    for (const auto& a : argv) {
        out.push_back(const_cast<char*>(a.c_str()));
    }
    out.push_back(nullptr);
    return out;
}

// Spawns argv with the given file actions; returns the pid.
pid_t spawn_with(const std::vector<std::string>& argv, posix_spawn_file_actions_t* actions) {
    auto args = c_argv(argv);
    pid_t pid = -1;
    int rc = posix_spawnp(&pid, args[0], actions, nullptr, args.data(), environ);
    if (rc != 0) {
        errno = rc;
        fail_errno("cannot start " + argv[0]);
    }
    return pid;
}

std::string tail(const std::string& text, size_t max = 4000) {
    return text.size() <= max ? text : "..." + text.substr(text.size() - max);
}

}  // namespace

std::string CommandResult::describe() const {
    std::ostringstream s;
    s << (timed_out ? "timed out; " : "") << "exit " << exit_code << "; stdout: " << out
      << "; stderr: " << err;
    return s.str();
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    std::array<int, 2> out_pipe{}, err_pipe{};
    if (pipe2(out_pipe.data(), O_CLOEXEC) != 0 || pipe2(err_pipe.data(), O_CLOEXEC) != 0) {
        fail_errno("pipe2");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
    pid_t pid = -1;
    try {
        pid = spawn_with(argv, &actions);
    } catch (...) {
        posix_spawn_file_actions_destroy(&actions);
        for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
            close(fd);
        }
        throw;
    }
    posix_spawn_file_actions_destroy(&actions);
    close(out_pipe[1]);
    close(err_pipe[1]);

    CommandResult result;
    const auto deadline = Clock::now() + timeout;
    std::array<pollfd, 2> fds{{{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}}};
    std::array<std::string*, 2> sinks{&result.out, &result.err};
    int open_fds = 2;
    while (open_fds > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            result.timed_out = true;
            ::kill(pid, SIGKILL);
            break;
        }
        int n = poll(fds.data(), fds.size(), static_cast<int>(left.count()));
        if (n < 0 && errno != EINTR) {
            fail_errno("poll");
        }
        for (size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
                continue;
            }
            std::array<char, 4096> buf{};
            ssize_t r = read(fds[i].fd, buf.data(), buf.size());
            if (r > 0) {
                sinks[i]->append(buf.data(), static_cast<size_t>(r));
            } else if (r == 0 || errno != EINTR) {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            }
        }
    }
    for (auto& p : fds) {
        if (p.fd >= 0) {
            close(p.fd);
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = decode_status(status);
    return result;
}

std::vector<std::string> as_nobody(std::vector<std::string> argv) {
    std::vector<std::string> out = {"setpriv", "--reuid=nobody", "--regid=nogroup",
                                    "--clear-groups"};
    out.insert(out.end(), argv.begin(), argv.end());
    return out;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string read_line(int fd, std::chrono::milliseconds timeout) {
    std::string line;
    pollfd pfd{fd, POLLIN, 0};
    const auto deadline = Clock::now() + timeout;
    while (line.find('\n') == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0 || poll(&pfd, 1, static_cast<int>(left.count())) <= 0) {
            break;
        }
        std::array<char, 256> buf{};
        ssize_t r = read(fd, buf.data(), buf.size());
        if (r <= 0) {
            break;
        }
        line.append(buf.data(), static_cast<size_t>(r));
    }
    close(fd);
    auto nl = line.find('\n');
    return nl == std::string::npos ? std::string() : line.substr(0, nl);
}

TempDir::TempDir(const std::string& prefix) {
    std::string templ = "/tmp/" + prefix + "-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) {
        fail_errno("mkdtemp");
    }
    path_ = templ;
    // mkdtemp makes it 0700; nobody must be able to reach the bus socket inside.
    if (chmod(path_.c_str(), 0755) != 0) {
        fail_errno("chmod " + path_.string());
    }
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

ChildProcess::~ChildProcess() {
    if (running()) {
        signal(SIGKILL);
        wait(10s);
    }
    if (pidfd_ >= 0) {
        close(pidfd_);
    }
}

void ChildProcess::spawn(const std::vector<std::string>& argv, const std::filesystem::path& log,
                         std::optional<int> extra_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (extra_fd) {
        posix_spawn_file_actions_adddup2(&actions, *extra_fd, 3);
    }
    try {
        pid_ = spawn_with(argv, &actions);
    } catch (...) {
        posix_spawn_file_actions_destroy(&actions);
        throw;
    }
    posix_spawn_file_actions_destroy(&actions);
    pidfd_ = pidfd_open(pid_);
    if (pidfd_ < 0) {
        fail_errno("pidfd_open");
    }
}

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
    if (status_ || pid_ <= 0) {
        return status_;
    }
    // The pidfd becomes readable when the process exits: an event, bounded by the timeout.
    pollfd p{pidfd_, POLLIN, 0};
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        int n = poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left.count())));
        if (n > 0) {
            break;
        }
        if (n == 0) {
            return std::nullopt;
        }
        if (errno != EINTR) {
            fail_errno("poll pidfd");
        }
    }
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0) {
        if (errno != EINTR) {
            fail_errno("waitpid");
        }
    }
    status_ = decode_status(status);
    return status_;
}

void ChildProcess::signal(int sig) const {
    if (running()) {
        ::kill(pid_, sig);
    }
}

void TestBus::kill() {
    process_.signal(SIGKILL);
    process_.wait(10s);
}

namespace {

// system.conf's list, with the values it names as dbus-daemon's for the system bus.
constexpr const char* kSystemBusLimits = R"(
  <limit name="max_incoming_bytes">133169152</limit>
  <limit name="max_incoming_unix_fds">64</limit>
  <limit name="max_outgoing_bytes">133169152</limit>
  <limit name="max_outgoing_unix_fds">64</limit>
  <limit name="max_message_size">33554432</limit>
  <limit name="max_message_unix_fds">16</limit>
  <limit name="service_start_timeout">25000</limit>
  <limit name="auth_timeout">5000</limit>
  <limit name="pending_fd_timeout">150000</limit>
  <limit name="max_completed_connections">2048</limit>
  <limit name="max_incomplete_connections">64</limit>
  <limit name="max_connections_per_user">256</limit>
  <limit name="max_pending_service_starts">512</limit>
  <limit name="max_names_per_connection">512</limit>
  <limit name="max_match_rules_per_connection">512</limit>
  <limit name="max_replies_per_connection">128</limit>
)";

}  // namespace

TestBus::TestBus(const std::filesystem::path& dir, BusLimits limits) {
    const auto socket = dir / "bus";
    const auto config = dir / "bus.conf";
    {
        std::ofstream out(config);
        out << R"(<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=)"
            << socket.string() << R"(</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <!-- Without this only the bus owner's uid may connect. -->
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>)"
            << (limits == BusLimits::SystemBus ? kSystemBusLimits : "\n") << R"(</busconfig>
)";
        if (!out) {
            throw std::runtime_error("cannot write " + config.string());
        }
    }
    // --print-address writes the address once the bus listens: reading it is the readiness wait.
    std::array<int, 2> p{};
    if (pipe2(p.data(), O_CLOEXEC) != 0) {
        fail_errno("pipe2");
    }
    try {
        process_.spawn({"dbus-daemon", "--config-file=" + config.string(), "--nofork",
                        "--nopidfile", "--print-address=3"},
                       dir / "dbus-daemon.log", p[1]);
    } catch (...) {
        close(p[0]);
        close(p[1]);
        throw;
    }
    close(p[1]);
    address_ = read_line(p[0], 10s);
    if (address_.empty()) {
        throw std::runtime_error("dbus-daemon did not report its address: " +
                                 read_file(dir / "dbus-daemon.log"));
    }
    // Connecting needs write permission on the socket; the umask may have taken it.
    if (chmod(socket.c_str(), 0777) != 0) {
        fail_errno("chmod " + socket.string());
    }
}

TestBus::~TestBus() {
    process_.signal(SIGTERM);
    if (!process_.wait(5s)) {
        process_.signal(SIGKILL);
        process_.wait(5s);
    }
}

bool name_has_owner(const std::string& bus_address, const std::string& name) {
    auto conn = sdbus::createSessionBusConnectionWithAddress(bus_address);
    auto proxy = sdbus::createProxy(*conn, "org.freedesktop.DBus", "/org/freedesktop/DBus");
    bool owned = false;
    proxy->callMethod("NameHasOwner")
        .onInterface("org.freedesktop.DBus")
        .withArguments(name)
        .storeResultsTo(owned);
    return owned;
}

bool wait_for_name(const std::string& bus_address, const std::string& name,
                   std::chrono::milliseconds timeout, ChildProcess* process) {
    auto conn = sdbus::createSessionBusConnectionWithAddress(bus_address);
    auto proxy = sdbus::createProxy(*conn, "org.freedesktop.DBus", "/org/freedesktop/DBus");
    std::mutex mutex;
    std::condition_variable cv;
    bool owned = false;
    // Subscribe first, then ask: an owner that appears in between is seen either way.
    proxy->uponSignal("NameOwnerChanged")
        .onInterface("org.freedesktop.DBus")
        .call([&](const std::string& n, const std::string&, const std::string& new_owner) {
            if (n == name && !new_owner.empty()) {
                std::lock_guard lock(mutex);
                owned = true;
                cv.notify_all();
            }
        });
    proxy->finishRegistration();
    conn->enterEventLoopAsync();
    bool has = false;
    proxy->callMethod("NameHasOwner")
        .onInterface("org.freedesktop.DBus")
        .withArguments(name)
        .storeResultsTo(has);
    const auto deadline = Clock::now() + timeout;
    std::unique_lock lock(mutex);
    owned = owned || has;
    while (!owned && Clock::now() < deadline) {
        // Wake now and then only to notice a process that died before taking the name.
        cv.wait_for(lock, 100ms);
        if (process != nullptr && !owned) {
            lock.unlock();
            bool exited = process->wait(0ms).has_value();
            lock.lock();
            if (exited) {
                break;
            }
        }
    }
    bool result = owned;
    lock.unlock();
    conn->leaveEventLoop();
    return result;
}

DaemonProcess::DaemonProcess(const std::string& bus_address, const std::filesystem::path& work_dir,
                             const DaemonOptions& options)
    : log_(work_dir / "cxlmgrd.log") {
    const auto state_dir = work_dir / "state";
    std::filesystem::create_directories(state_dir);
    std::vector<std::string> argv = {CXLMGRD_PATH, "--bus-address=" + bus_address,
                                     "--state-dir=" + state_dir.string(),
                                     "--log-level=" + options.log_level};
    if (options.emulate > 0) {
        argv.push_back("--emulate=" + std::to_string(options.emulate));
    }
    if (options.config_json) {
        const auto config = work_dir / "cxlmgrd.json";
        std::ofstream(config) << *options.config_json;
        argv.push_back("--config=" + config.string());
    }
    if (options.allow_raw_writes) {
        argv.emplace_back("--allow-raw-writes");
    }
    argv.insert(argv.end(), options.extra_args.begin(), options.extra_args.end());
    argv.insert(argv.begin(), options.wrapper.begin(), options.wrapper.end());
    process_.spawn(argv, log_);
    if (!wait_for_name(bus_address, "org.cxlmgr1", options.ready_timeout, &process_)) {
        std::string why = process_.running()
                              ? "did not own org.cxlmgr1 within " +
                                    std::to_string(options.ready_timeout.count()) + " ms"
                              : "exited with status " + std::to_string(*process_.wait(0ms)) +
                                    " before owning org.cxlmgr1";
        process_.signal(SIGKILL);
        process_.wait(10s);
        throw std::runtime_error("cxlmgrd " + why + "; its log:\n" + tail(log()));
    }
}

std::optional<int> DaemonProcess::terminate(std::chrono::milliseconds timeout) {
    process_.signal(SIGTERM);
    return process_.wait(timeout);
}

void DaemonProcess::kill() {
    process_.signal(SIGKILL);
    process_.wait(10s);
}

std::string DaemonProcess::log() const {
    return read_file(log_);
}

}  // namespace cxlmgr::testing
