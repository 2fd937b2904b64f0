// cxlmgrctl fw update: streams IMAGE to the daemon as a descriptor (StartUpdateFd), then follows
// the job until it ends.
//
// Race-free watching (docs/DBUS.md "Bus facts"): match rules for the jobs' PropertiesChanged and
// Finished are added BEFORE the job is started, and every report is kept by job path, so a job
// that ends before StartUpdateFd's reply arrives is still seen. Ctrl-C requests Job.Cancel and
// keeps waiting for the job to end (the daemon then aborts the device-side transfer).
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <mutex>

#include "tools/cxlmgrctl/client.hpp"
#include "tools/cxlmgrctl/commands.hpp"
#include "tools/cxlmgrctl/render.hpp"

namespace cxlmgrctl {

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void on_sigint(int) {
    g_interrupted.store(true);
}

struct JobView {
    std::string state = "queued";
    double progress = 0;
    uint64_t bytes_done = 0;
    uint64_t bytes_total = 0;
    std::string error;
    bool finished = false;
};

class Watcher {
public:
    void properties_changed(const std::string& path, const VariantMap& changed) {
        std::lock_guard lock(mutex_);
        auto& v = views_[path];
        apply(v, changed);
        cv_.notify_all();
    }
    void finished(const std::string& path, const std::string& state, const std::string& error) {
        std::lock_guard lock(mutex_);
        auto& v = views_[path];
        v.state = state;
        v.error = error;
        v.finished = true;
        cv_.notify_all();
    }
    // Waits up to `d` for a change; returns the view of `path`.
    JobView wait(const std::string& path, std::chrono::milliseconds d) {
        std::unique_lock lock(mutex_);
        cv_.wait_for(lock, d);
        return views_[path];
    }
    void set(const std::string& path, const VariantMap& all) {
        std::lock_guard lock(mutex_);
        apply(views_[path], all);
    }

private:
    static void apply(JobView& v, const VariantMap& changed) {
        if (v.finished) {
            return;  // the final report wins over an older read that arrives later
        }
        for (const auto& [name, value] : changed) {
            if (name == "State" && value.containsValueOfType<std::string>()) {
                v.state = value.get<std::string>();
            } else if (name == "Progress" && value.containsValueOfType<double>()) {
                v.progress = value.get<double>();
            } else if (name == "BytesDone" && value.containsValueOfType<uint64_t>()) {
                v.bytes_done = value.get<uint64_t>();
            } else if (name == "BytesTotal" && value.containsValueOfType<uint64_t>()) {
                v.bytes_total = value.get<uint64_t>();
            } else if (name == "Error" && value.containsValueOfType<std::string>()) {
                v.error = value.get<std::string>();
            }
        }
        if (v.state == "completed" || v.state == "failed" || v.state == "cancelled") {
            v.finished = true;
        }
    }

    std::mutex mutex_;
    std::condition_variable cv_;
    std::map<std::string, JobView> views_;
};

std::string mib(uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
    return buf;
}

class ProgressPrinter {
public:
    explicit ProgressPrinter(bool quiet) : quiet_(quiet), tty_(::isatty(STDOUT_FILENO) == 1) {}
    void show(const JobView& v) {
        if (quiet_) {
            return;
        }
        int percent = static_cast<int>(v.progress * 100);
        if (tty_) {
            constexpr int kWidth = 30;
            int filled = percent * kWidth / 100;
            std::printf("\r[%s%s] %3d%%  %s / %s  %-10s", std::string(filled, '#').c_str(),
                        std::string(kWidth - filled, '.').c_str(), percent,
                        mib(v.bytes_done).c_str(), mib(v.bytes_total).c_str(), v.state.c_str());
            std::fflush(stdout);
            drawn_ = true;
        } else if (percent != last_percent_ || v.state != last_state_) {
            std::printf("%s %d%% (%llu/%llu bytes)\n", v.state.c_str(), percent,
                        static_cast<unsigned long long>(v.bytes_done),
                        static_cast<unsigned long long>(v.bytes_total));
            std::fflush(stdout);
        }
        last_percent_ = percent;
        last_state_ = v.state;
    }
    void end() {
        if (drawn_) {
            std::printf("\n");
        }
    }

private:
    bool quiet_;
    bool tty_;
    bool drawn_ = false;
    int last_percent_ = -1;
    std::string last_state_;
};

}  // namespace

int cmd_fw_update(Connector& connector, const Globals& g, const Args& args) {
    std::vector<std::string> positional;
    std::string activate = "none";
    int slot = 0;
    bool no_wait = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        auto value = [&](const std::string& name) -> std::optional<std::string> {
            if (a.rfind(name + "=", 0) == 0) {
                return a.substr(name.size() + 1);
            }
            if (a == name && i + 1 < args.size()) {
                return args[++i];
            }
            return std::nullopt;
        };
        if (a == "--no-wait") {
            no_wait = true;
        } else if (a.rfind("--slot", 0) == 0) {
            auto v = value("--slot");
            if (!v || v->empty() || v->find_first_not_of("0123456789") != std::string::npos ||
                std::stoi(*v) > 4) {
                return usage_error("--slot needs a number 0..4 (0: the first free slot)");
            }
            slot = std::stoi(*v);
        } else if (a.rfind("--activate", 0) == 0) {
            auto v = value("--activate");
            if (!v || (*v != "none" && *v != "online" && *v != "on-reset")) {
                return usage_error("--activate needs none, online or on-reset");
            }
            activate = *v;
        } else if (a.rfind("--", 0) == 0) {
            return usage_error("unknown option " + a);
        } else {
            positional.push_back(a);
        }
    }
    if (positional.size() != 2) {
        return usage_error("fw update needs a DEVICE and an IMAGE");
    }
    int fd = ::open(positional[1].c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        std::cerr << "cxlmgrctl: cannot open " << positional[1] << ": " << std::strerror(errno)
                  << "\n";
        return kExitFailed;
    }
    sdbus::UnixFd image(fd, sdbus::adopt_fd);
    sdbus::IConnection& bus = connector.get();

    // Subscribed before the job exists: nothing it reports can be missed.
    auto watcher = std::make_shared<Watcher>();
    auto props_slot = bus.addMatch(
        "type='signal',sender='org.cxlmgr1',interface='org.freedesktop.DBus.Properties',"
        "member='PropertiesChanged',arg0='org.cxlmgr1.Job'",
        [watcher](sdbus::Message& msg) {
            std::string iface;
            VariantMap changed;
            std::vector<std::string> invalidated;
            msg >> iface >> changed >> invalidated;
            watcher->properties_changed(msg.getPath(), changed);
        });
    auto finished_slot = bus.addMatch(
        "type='signal',sender='org.cxlmgr1',interface='org.cxlmgr1.Job',member='Finished'",
        [watcher](sdbus::Message& msg) {
            std::string state, error;
            msg >> state >> error;
            watcher->finished(msg.getPath(), state, error);
        });
    bus.enterEventLoopAsync();

    FirmwareProxy fw(bus, device_path(positional[0]));
    VariantMap options;
    options["activate"] = sdbus::Variant(activate);
    const std::string job = fw.StartUpdateFd(image, static_cast<uint8_t>(slot), options);
    if (no_wait) {
        if (g.json) {
            std::cout << nlohmann::json{{"job", job}}.dump() << "\n";
        } else {
            std::cout << job << "\n";
        }
        return kExitOk;
    }
    // The values the job had when its object appeared were announced with InterfacesAdded,
    // not as changes: read them once; the signals carry everything after.
    watcher->set(job, DeviceProxy(bus, job).GetAll(org::cxlmgr1::Job_proxy::INTERFACE_NAME));
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    ::sigaction(SIGINT, &sa, nullptr);

    ProgressPrinter printer(g.json);
    JobView view;
    bool cancel_sent = false;
    auto last_poll = std::chrono::steady_clock::now();
    while (true) {
        view = watcher->wait(job, std::chrono::milliseconds(200));
        if (g_interrupted.load() && !cancel_sent) {
            cancel_sent = true;
            if (!g.json) {
                std::cerr << "\ncxlmgrctl: cancelling " << job << " ...\n";
            }
            try {
                JobProxy(bus, job).Cancel();
            } catch (const sdbus::Error& e) {
                std::cerr << "cxlmgrctl: " << e.getMessage() << "\n";
            }
        }
        // Signals carry everything; a read now and then notices a daemon that went away.
        if (!view.finished &&
            std::chrono::steady_clock::now() - last_poll > std::chrono::seconds(2)) {
            last_poll = std::chrono::steady_clock::now();
            try {
                DeviceProxy props(bus, job);
                watcher->set(job, props.GetAll(org::cxlmgr1::Job_proxy::INTERFACE_NAME));
                view = watcher->wait(job, std::chrono::milliseconds(0));
            } catch (const sdbus::Error& e) {
                printer.end();
                bus.leaveEventLoop();
                return report(e);
            }
        }
        printer.show(view);
        if (view.finished) {
            break;
        }
    }
    printer.end();
    bus.leaveEventLoop();
    if (g.json) {
        std::cout << nlohmann::json{{"job", job},
                                    {"state", view.state},
                                    {"error", view.error},
                                    {"bytes", view.bytes_done}}
                         .dump()
                  << "\n";
    } else if (view.state == "completed") {
        std::cout << "firmware update completed (" << view.bytes_done << " bytes"
                  << (activate != "none" ? ", activated " + activate : "") << ")\n";
    } else {
        std::cerr << "cxlmgrctl: firmware update " << view.state
                  << (view.error.empty() ? "" : ": " + view.error) << "\n";
    }
    return view.state == "completed" ? kExitOk : kExitFailed;
}

}  // namespace cxlmgrctl
