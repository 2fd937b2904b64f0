// Processes for whole-daemon tests and benchmarks, without GoogleTest so the benchmarks under
// bench/ can use it too: a private dbus-daemon with its own configuration, the real
// cxlmgrd on it, and a runner for client commands (busctl), optionally as the user nobody.
//
// Children are started with posix_spawn (the test process has threads: sd-bus, the daemon's
// clients) and waited for through pidfds, so every wait is an event with a bound, not a sleep.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace cxlmgr::testing {

using namespace std::chrono_literals;

// The outcome of a finished command.
struct CommandResult {
    int exit_code = -1;  // 128 + signal when killed by one
    std::string out;
    std::string err;
    bool timed_out = false;
    // "exit 1; stdout: ...; stderr: ..." for assertion messages.
    [[nodiscard]] std::string describe() const;
};

// Runs argv (argv[0] searched in PATH), collects stdout and stderr, and kills it when it runs
// longer than `timeout`.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = 60s);

// argv prefixed with setpriv so that it runs as nobody:nogroup without supplementary groups.
std::vector<std::string> as_nobody(std::vector<std::string> argv);

// A directory under /tmp removed with its contents on destruction. World-readable and
// traversable (0755) so a process running as nobody can reach a bus socket inside it.
class TempDir {
public:
    explicit TempDir(const std::string& prefix = "cxlmgr-it");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// A child process: started by spawn(), stopped (SIGKILL) and reaped on destruction unless it
// was waited for.
class ChildProcess {
public:
    ChildProcess() = default;
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    // stdout and stderr go to `log` (appended); `extra_fd`, when set, becomes the child's fd 3.
    void spawn(const std::vector<std::string>& argv, const std::filesystem::path& log,
               std::optional<int> extra_fd = std::nullopt);
    [[nodiscard]] pid_t pid() const { return pid_; }
    [[nodiscard]] bool running() const { return pid_ > 0 && !status_; }
    // Waits up to `timeout` for the exit; returns the exit code (128 + signal when killed by
    // one), nullopt if it is still running.
    std::optional<int> wait(std::chrono::milliseconds timeout);
    // Sends `signal` if the process has not been reaped yet.
    void signal(int signal) const;

private:
    pid_t pid_ = -1;
    int pidfd_ = -1;
    std::optional<int> status_;
};

// A private dbus-daemon of type session configured by a file of our own: it listens on a socket
// in a world-accessible directory and its policy lets any Unix user connect, send, receive and
// own names, so a test can call as nobody (the stock session configuration only admits the
// bus owner's uid). The daemon's own policy decisions are thus the daemon's, not the bus's.
//
// Limits: dbus-daemon's built-in defaults, or (SystemBus) those of the system bus, as Debian's
// /usr/share/dbus-1/system.conf states them (32 MiB messages, 127 MiB queued per connection,
// ...), written out so that a test does not depend on dbus-daemon's defaults: a reply larger
// than max_message_size makes the bus drop the sender's connection.
enum class BusLimits { Default, SystemBus };

class TestBus {
public:
    explicit TestBus(const std::filesystem::path& dir, BusLimits limits = BusLimits::Default);
    ~TestBus();
    TestBus(const TestBus&) = delete;
    TestBus& operator=(const TestBus&) = delete;
    [[nodiscard]] const std::string& address() const { return address_; }
    // Kills the bus (SIGKILL) and reaps it, as a dbus-daemon that crashed: for tests of what
    // its clients do then.
    void kill();

private:
    ChildProcess process_;
    std::string address_;
};

struct DaemonOptions {
    unsigned emulate = 1;
    std::optional<std::string> config_json;  // written to a file and passed as --config
    bool allow_raw_writes = false;
    std::string log_level = "info";
    std::vector<std::string> extra_args;
    // A command cxlmgrd's own argv is appended to, which must end by exec'ing it, so the child
    // is the daemon (its pid, its exit status): e.g. unshare for a namespace of its own.
    std::vector<std::string> wrapper;
    std::chrono::milliseconds ready_timeout = 10s;

    static DaemonOptions emulated(unsigned n) {
        DaemonOptions o;
        o.emulate = n;
        return o;
    }
    // Devices from a configuration file only (no --emulate).
    static DaemonOptions configured(std::string json) {
        DaemonOptions o;
        o.emulate = 0;
        o.config_json = std::move(json);
        return o;
    }
    DaemonOptions& raw_writes() {
        allow_raw_writes = true;
        return *this;
    }
};

// The real cxlmgrd (binary from CMake) on a bus, with a state directory and a log file (stdout
// and stderr, including any sanitizer report).
class DaemonProcess {
public:
    // Starts cxlmgrd and waits until it owns org.cxlmgr1; throws std::runtime_error, with the
    // log's tail in the message, when it exits first or the wait times out.
    DaemonProcess(const std::string& bus_address, const std::filesystem::path& work_dir,
                  const DaemonOptions& options);
    ~DaemonProcess() = default;

    // SIGTERM, then wait up to `timeout`: the exit code, nullopt if it did not exit in time.
    std::optional<int> terminate(std::chrono::milliseconds timeout = 10s);
    void kill();
    [[nodiscard]] pid_t pid() const { return process_.pid(); }
    [[nodiscard]] bool running() const { return process_.running(); }
    [[nodiscard]] ChildProcess& process() { return process_; }
    [[nodiscard]] const std::filesystem::path& log_path() const { return log_; }
    [[nodiscard]] std::string log() const;

private:
    std::filesystem::path log_;
    ChildProcess process_;
};

// True once `name` has an owner on the bus; waits for NameOwnerChanged up to `timeout`, and
// gives up early when `process` (if given) exits.
bool wait_for_name(const std::string& bus_address, const std::string& name,
                   std::chrono::milliseconds timeout, ChildProcess* process = nullptr);

// Whether `name` has an owner now.
bool name_has_owner(const std::string& bus_address, const std::string& name);

std::string read_file(const std::filesystem::path& path);

// The first line a child writes to `fd` (without its newline), waiting at most `timeout`; empty
// when none came. Closes `fd`. How a test learns the address dbus-daemon --print-address=FD
// writes once it listens.
std::string read_line(int fd, std::chrono::milliseconds timeout);

}  // namespace cxlmgr::testing
