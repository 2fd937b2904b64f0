// DeviceRegistry without D-Bus: emulated devices behind an injected opener (some of them
// standing for real devices at PCI addresses, which an injected discovery makes appear, vanish
// and return), a sink that records what it is told, and the shutdown's steps recorded through
// its hook, in the same log.
#include "daemon/device_registry.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cxl/commands/identify.hpp"
#include "daemon/event_hub.hpp"
#include "daemon/firmware_updates.hpp"
#include "emu/device_description.hpp"
#include "tests/support/eventually.hpp"

namespace cxlmgr::daemon {
namespace {

using namespace std::chrono_literals;
using cxlmgr::testing::eventually;

constexpr auto kBound = 60s;  // for things that happen; never reached unless broken

DeviceSpec emulated(const std::string& name, nlohmann::json timing = nlohmann::json::object()) {
    DeviceSpec spec;
    spec.backend = Backend::Emulated;
    spec.emulated = emu::default_device_description(name);
    spec.emulated.timing = std::move(timing);
    return spec;
}

// A device libpci would find at `address`; the test's opener makes an emulated one of it.
DeviceSpec real(const std::string& address) {
    DeviceSpec spec;
    spec.backend = Backend::Sysfs;
    spec.address = address;
    return spec;
}

// The name the opener gives the device standing for `address` ("0000:0a:00.0" -> "pci0a").
std::string name_at(const std::string& address) {
    return "pci" + address.substr(5, 2);
}

// Everything the registry tells, in order: "added X", "refused X", "removed X", "stopped",
// "step <ShutdownStep name>".
class Log {
public:
    void add(std::string entry) {
        std::lock_guard lock(mutex_);
        entries_.push_back(std::move(entry));
    }
    std::vector<std::string> entries() const {
        std::lock_guard lock(mutex_);
        return entries_;
    }
    // Entries starting with `prefix`, in order.
    std::vector<std::string> with(const std::string& prefix) const {
        std::vector<std::string> out;
        for (const auto& e : entries()) {
            if (e.rfind(prefix, 0) == 0) {
                out.push_back(e);
            }
        }
        return out;
    }
    std::string dump() const {
        std::string out;
        for (const auto& e : entries()) {
            out += "\n  " + e;
        }
        return out;
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::string> entries_;
};

// What dbus::Service does with the registry's calls, less the bus: it holds each device and
// starts its collector, as the Events interface does once the object is exported.
class RecordingSink : public DeviceSink {
public:
    explicit RecordingSink(Log& log) : log_(log) {}

    Status added(const RegisteredDevice& d) override {
        const std::string name = d.device->name();
        std::lock_guard lock(mutex_);
        if (refuse_.count(name) != 0) {
            log_.add("refused " + name);
            return Error(Errc::InvalidArgument, name + ": refused by the test");
        }
        if (on_added) {
            on_added(d);
        }
        log_.add("added " + name);
        shown_[name] = d;
        ever_[name].push_back(d.device);
        if (d.events) {
            collectors_.push_back(d.events);
            d.events->start();
        }
        return ok_status();
    }

    void removed(const std::string& name) override {
        std::lock_guard lock(mutex_);
        auto it = shown_.find(name);
        ASSERT_NE(it, shown_.end()) << name << " removed but never added";
        const auto& device = it->second.device;
        // Its work has drained: the channels are closed, so a command is refused at once, in
        // this thread, with DeviceGone.
        bool refused_now = false;
        device->mailbox_command(cxl::identify_memory_device().request, {},
                                [&](Result<cxl::MailboxResponse> r) {
                                    refused_now = !r.ok() && r.error().code == Errc::DeviceGone;
                                });
        state_at_removal_[name] = device->properties().state;
        drained_at_removal_[name] = refused_now;
        log_.add("removed " + name);
        shown_.erase(it);
    }

    void stopped() override { log_.add("stopped"); }

    void refuse(const std::string& name) {
        std::lock_guard lock(mutex_);
        refuse_.insert(name);
    }
    std::shared_ptr<ManagedDevice> shown(const std::string& name) {
        std::lock_guard lock(mutex_);
        auto it = shown_.find(name);
        return it == shown_.end() ? nullptr : it->second.device;
    }
    std::vector<std::weak_ptr<ManagedDevice>> ever(const std::string& name) {
        std::lock_guard lock(mutex_);
        return ever_[name];
    }
    std::vector<std::weak_ptr<EventCollector>> collectors() {
        std::lock_guard lock(mutex_);
        return collectors_;
    }
    DeviceState state_at_removal(const std::string& name) {
        std::lock_guard lock(mutex_);
        return state_at_removal_.at(name);
    }
    bool drained_at_removal(const std::string& name) {
        std::lock_guard lock(mutex_);
        return drained_at_removal_.at(name);
    }

    std::function<void(const RegisteredDevice&)> on_added;

private:
    Log& log_;
    std::mutex mutex_;
    std::set<std::string> refuse_;
    std::map<std::string, RegisteredDevice> shown_;
    std::map<std::string, std::vector<std::weak_ptr<ManagedDevice>>> ever_;
    std::vector<std::weak_ptr<EventCollector>> collectors_;
    std::map<std::string, DeviceState> state_at_removal_;
    std::map<std::string, bool> drained_at_removal_;
};

template <typename T>
T wait(std::future<T>& f) {
    if (f.wait_for(kBound) != std::future_status::ready) {
        ADD_FAILURE() << "no answer within " << kBound.count() << " s";
        std::abort();  // the registry holds references to this frame: no way to go on
    }
    return f.get();
}

class RegistryTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("cxlmgr-registry-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        io_thread_ = std::thread([this] { io_.run(); });
    }

    void TearDown() override {
        if (registry_) {
            stop("test over");
        }
        registry_.reset();
        sink_.reset();
        if (release_journal_) {
            release_journal_();
        }
        hub_.reset();
        firmware_.reset();
        work_.reset();
        io_thread_.join();
        // Nothing the test made is held by anything left of the registry.
        for (const auto& [name, model] : models_) {
            EXPECT_EQ(model.use_count(), 1) << name << " is still held after the registry went";
        }
        std::filesystem::remove_all(dir_);
    }

    // The registry with an opener that records each device model and can fail a device or run
    // a hook (e.g. a shutdown) as it opens one, and a discovery of `present_`.
    void make_registry(bool with_events = true) {
        if (with_events) {
            auto hub = EventHub::open(dir_.string());
            ASSERT_TRUE(hub.ok()) << hub.error().describe();
            hub_ = *hub;
        }
        firmware_ = std::make_shared<FirmwareUpdates>(dir_);
        sink_ = std::make_shared<RecordingSink>(log_);
        DeviceRegistryOptions options;
        options.device.mailbox_config.doorbell_timeout = 1000ms;
        options.open = [this](const DeviceSpec& spec) -> Result<OpenedDevice> {
            DeviceSpec e = spec;
            if (spec.backend != Backend::Emulated) {
                const std::string name = name_at(spec.address);
                e = emulated(
                    name, timing_.count(name) != 0 ? timing_.at(name) : nlohmann::json::object());
            }
            if (on_open) {
                on_open(e.emulated.name);
            }
            if (fail_.count(e.emulated.name) != 0) {
                return Error(Errc::NotFound, e.emulated.name + ": no such device (test)");
            }
            auto opened = open_device(e);
            if (opened.ok()) {
                std::lock_guard lock(models_mutex_);
                models_[e.emulated.name + "#" + std::to_string(models_.size())] = opened->emulator;
            }
            return opened;
        };
        options.discover = [this]() -> Result<std::vector<DeviceSpec>> {
            std::lock_guard lock(present_mutex_);
            std::vector<DeviceSpec> found;
            for (const auto& address : present_) {
                found.push_back(real(address));
            }
            return found;
        };
        options.firmware = firmware_;
        options.events = hub_;
        options.on_shutdown_step = [this](ShutdownStep step) {
            log_.add("step " + std::string(shutdown_step_name(step)));
            if (on_step) {
                on_step(step);
            }
        };
        registry_ = DeviceRegistry::create(io_.get_executor(), sink_, std::move(options));
    }

    Status start(std::vector<DeviceSpec> specs) {
        std::promise<Status> p;
        auto f = p.get_future();
        registry_->start(std::move(specs), [&p](Status s) { p.set_value(std::move(s)); });
        return wait(f);
    }
    Status rescan() {
        std::promise<Status> p;
        auto f = p.get_future();
        registry_->rescan([&p](Status s) { p.set_value(std::move(s)); });
        return wait(f);
    }
    void stop(const std::string& why) {
        std::promise<void> p;
        auto f = p.get_future();
        registry_->shutdown(why, [&p] { p.set_value(); });
        wait(f);
    }
    void set_present(std::set<std::string> addresses) {
        std::lock_guard lock(present_mutex_);
        present_ = std::move(addresses);
    }
    std::vector<std::string> served() {
        std::promise<std::vector<std::string>> p;
        auto f = p.get_future();
        boost::asio::post(io_, [&] {
            std::vector<std::string> names;
            for (const auto& d : registry_->devices()) {
                names.push_back(d->name());
            }
            p.set_value(names);
        });
        return wait(f);
    }

    // The shutdown as the log shows it, each device's removal as "removed *".
    std::vector<std::string> shutdown_order() {
        std::vector<std::string> out;
        bool in_shutdown = false;
        for (const auto& e : log_.entries()) {
            in_shutdown |= e.rfind("step ", 0) == 0;
            if (!in_shutdown) {
                continue;
            }
            std::string entry = e.rfind("removed ", 0) == 0 ? "removed *" : e;
            if (out.empty() || out.back() != entry || entry != "removed *") {
                out.push_back(entry);
            }
        }
        return out;
    }
    static std::vector<std::string> expected_order(bool with_removals) {
        std::vector<std::string> order = {
            "step finishing device opens in progress", "step ending firmware transfers",
            "step stopping event collection",          "step finishing event journal work",
            "step draining device channels",           "step removing the devices"};
        if (with_removals) {
            order.emplace_back("removed *");
        }
        for (const char* e : {"stopped", "step stopping the device threads", "step stopped"}) {
            order.emplace_back(e);
        }
        return order;
    }

    std::filesystem::path dir_;
    boost::asio::io_context io_;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{
        io_.get_executor()};
    std::thread io_thread_;
    Log log_;
    std::shared_ptr<EventHub> hub_;
    std::shared_ptr<FirmwareUpdates> firmware_;
    std::shared_ptr<RecordingSink> sink_;
    std::shared_ptr<DeviceRegistry> registry_;
    std::set<std::string> fail_;
    std::map<std::string, nlohmann::json> timing_;    // of the devices standing for real ones
    std::function<void(const std::string&)> on_open;  // on the registry's executor
    std::function<void(ShutdownStep)> on_step;        // likewise
    std::function<void()> release_journal_;
    std::mutex models_mutex_;
    std::map<std::string, std::shared_ptr<emu::Type3Device>> models_;
    std::mutex present_mutex_;
    std::set<std::string> present_;
};

// All devices open side by side, yet are exported in the order asked for: emu0, made slow,
// opens last and still comes first. Each is recovered before it is exported: emu1's transfer
// marker (a crash mid-update) is gone by the time the sink sees emu1.
TEST_F(RegistryTest, OpensEveryDeviceAndExportsThemInOrder) {
    make_registry();
    const auto marker = firmware_->marker_path("emu1");
    std::ofstream(marker) << "device emu1\nslot 2\n";
    bool marker_at_export = true;
    sink_->on_added = [&](const RegisteredDevice& d) {
        if (d.device->name() == "emu1") {
            marker_at_export = std::filesystem::exists(marker);
        }
    };
    ASSERT_TRUE(start({emulated("emu0", {{"mailbox_latency_us", 150000}}), emulated("emu1"),
                       emulated("emu2"), emulated("emu3")})
                    .ok());
    EXPECT_EQ(log_.with("added "),
              (std::vector<std::string>{"added emu0", "added emu1", "added emu2", "added emu3"}))
        << log_.dump();
    EXPECT_FALSE(marker_at_export) << "emu1 was exported before its transfer was recovered";
    EXPECT_EQ(served(), (std::vector<std::string>{"emu0", "emu1", "emu2", "emu3"}));
    for (const char* name : {"emu0", "emu1", "emu2", "emu3"}) {
        auto device = sink_->shown(name);
        ASSERT_NE(device, nullptr) << name;
        EXPECT_EQ(device->properties().state, DeviceState::Online) << name;
    }
}

// A device whose transport cannot be opened, and one the sink refuses, are reported and
// skipped; the others are served. The refused one is closed again.
TEST_F(RegistryTest, DevicesThatCannotBeOpenedOrExportedAreSkipped) {
    make_registry();
    fail_.insert("emu1");
    sink_->refuse("emu2");
    ASSERT_TRUE(
        start({emulated("emu0"), emulated("emu1"), emulated("emu2"), emulated("emu3")}).ok());
    EXPECT_EQ(log_.with("added "), (std::vector<std::string>{"added emu0", "added emu3"}))
        << log_.dump();
    EXPECT_EQ(log_.with("refused "), std::vector<std::string>{"refused emu2"});
    EXPECT_EQ(served(), (std::vector<std::string>{"emu0", "emu3"}));
    // emu2 was opened, then closed and let go of: only the test still holds its model.
    EXPECT_TRUE(eventually([&] {
        std::lock_guard lock(models_mutex_);
        for (const auto& [key, model] : models_) {
            if (key.rfind("emu2#", 0) == 0 && model.use_count() != 1) {
                return false;
            }
        }
        return true;
    })) << "the refused device was not let go of";
}

// Issue 13, problem 2: a device that vanishes from the bus becomes gone and, once its work has
// drained, leaves the sink; when it returns it is opened again, as a new device. New devices
// are added; emulated ones stay whatever the discovery says.
TEST_F(RegistryTest, RescanAddsRemovesAfterDrainAndReopensADeviceThatReturns) {
    make_registry();
    const std::string a = "0000:0a:00.0";
    const std::string b = "0000:0b:00.0";
    // Slow enough that a command is still in flight when the device vanishes.
    timing_["pci0a"] = {{"mailbox_latency_us", 300000}};
    set_present({a});
    ASSERT_TRUE(start({emulated("emu0"), real(a)}).ok());
    EXPECT_EQ(served(), (std::vector<std::string>{"emu0", "pci0a"}));

    // A new device.
    set_present({a, b});
    ASSERT_TRUE(rescan().ok());
    EXPECT_EQ(served(), (std::vector<std::string>{"emu0", "pci0a", "pci0b"}));

    // pci0a vanishes with a command in flight: the removal waits for it.
    auto first = sink_->shown("pci0a");
    ASSERT_NE(first, nullptr);
    std::promise<Result<cxl::MailboxResponse>> in_flight;
    auto in_flight_done = in_flight.get_future();
    first->mailbox_command(cxl::identify_memory_device().request, {},
                           [&](Result<cxl::MailboxResponse> r) { in_flight.set_value(r); });
    set_present({b});
    ASSERT_TRUE(rescan().ok());
    ASSERT_EQ(in_flight_done.wait_for(0s), std::future_status::ready)
        << "pci0a left before the command in flight on it had finished";
    EXPECT_EQ(log_.with("removed "), std::vector<std::string>{"removed pci0a"}) << log_.dump();
    EXPECT_EQ(sink_->state_at_removal("pci0a"), DeviceState::Gone);
    EXPECT_TRUE(sink_->drained_at_removal("pci0a"))
        << "pci0a left the sink while its channels still took work";
    EXPECT_EQ(served(), (std::vector<std::string>{"emu0", "pci0b"}));
    first.reset();

    // It returns: a new ManagedDevice, and the old one is let go of.
    set_present({a, b});
    ASSERT_TRUE(rescan().ok());
    EXPECT_EQ(served(), (std::vector<std::string>{"emu0", "pci0b", "pci0a"}));
    auto again = sink_->ever("pci0a");
    ASSERT_EQ(again.size(), 2u) << "pci0a was not opened again" << log_.dump();
    EXPECT_TRUE(eventually([&] { return again[0].expired(); }))
        << "the device that vanished is still held";
    auto second = sink_->shown("pci0a");
    ASSERT_NE(second, nullptr);
    EXPECT_EQ(second->properties().state, DeviceState::Online);

    // Nothing changed: nothing happens.
    const auto before = log_.entries().size();
    ASSERT_TRUE(rescan().ok());
    EXPECT_EQ(log_.entries().size(), before) << log_.dump();
}

// Without a discovery function there is nothing to rescan with.
TEST_F(RegistryTest, RescanWithoutDiscoveryIsUnsupported) {
    make_registry(false);
    {
        DeviceRegistryOptions options;
        registry_ = DeviceRegistry::create(io_.get_executor(), sink_, std::move(options));
    }
    ASSERT_TRUE(start({emulated("emu0")}).ok());
    auto r = rescan();
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Unsupported);
}

// The ways out of the daemon, as the registry sees them. Each must run the one shutdown, in its
// one order, and leave nothing running (TearDown: every device model let go of).
enum class ExitPath { Signal, NameRefused, DuringOpens, DuringRescan };

class ExitPathTest : public RegistryTest, public ::testing::WithParamInterface<ExitPath> {};

TEST_P(ExitPathTest, RunsTheOneShutdownOrderAndLeavesNothingRunning) {
    make_registry();
    const std::string a = "0000:0a:00.0";
    std::promise<void> over;
    auto over_f = over.get_future();
    auto shut_down = [this, &over](const std::string& why) {
        registry_->shutdown(why, [&over] { over.set_value(); });
    };
    Status started = ok_status();
    switch (GetParam()) {
        case ExitPath::Signal:
            ASSERT_TRUE(start({emulated("emu0"), emulated("emu1")}).ok());
            shut_down("signal 15");
            break;
        case ExitPath::NameRefused: {
            // What cxlmgrd does when request_name fails: the shutdown, from start's callback.
            std::promise<Status> p;
            auto f = p.get_future();
            registry_->start({emulated("emu0"), emulated("emu1")}, [&](Status s) {
                shut_down("cannot take the name org.cxlmgr1");
                p.set_value(std::move(s));
            });
            started = wait(f);
            ASSERT_TRUE(started.ok());
            break;
        }
        case ExitPath::DuringOpens:
            // From the first open: every open is in flight, none has finished.
            on_open = [&, once = true](const std::string&) mutable {
                if (std::exchange(once, false)) {
                    shut_down("signal 15");
                }
            };
            started = start({emulated("emu0"), emulated("emu1"), emulated("emu2")});
            EXPECT_EQ(started.ok() ? Errc::Internal : started.error().code, Errc::DeviceGone);
            EXPECT_TRUE(log_.with("added ").empty()) << log_.dump();
            break;
        case ExitPath::DuringRescan: {
            ASSERT_TRUE(start({emulated("emu0")}).ok());
            set_present({a});
            // A fatal error (the bus lost, say) while the rescan opens pci0a.
            on_open = [&](const std::string& name) {
                if (name == name_at(a)) {
                    shut_down("the D-Bus connection failed");
                }
            };
            auto r = rescan();
            EXPECT_EQ(r.ok() ? Errc::Internal : r.error().code, Errc::DeviceGone);
            EXPECT_EQ(log_.with("added "), std::vector<std::string>{"added emu0"}) << log_.dump();
            break;
        }
    }
    wait(over_f);
    const bool removals = GetParam() != ExitPath::DuringOpens;
    EXPECT_EQ(shutdown_order(), expected_order(removals)) << log_.dump();
    if (removals) {
        std::vector<std::string> added;
        for (const auto& e : log_.with("added ")) {
            added.push_back("removed " + e.substr(6));
        }
        EXPECT_EQ(log_.with("removed "), added) << "every device shown leaves";
    }
    // Nothing is accepted any more.
    auto r = rescan();
    EXPECT_EQ(r.ok() ? Errc::Internal : r.error().code, Errc::DeviceGone);
    // A second shutdown finds it over.
    stop("again");
    EXPECT_EQ(shutdown_order(), expected_order(removals)) << log_.dump();
    for (const auto& c : sink_->collectors()) {
        EXPECT_TRUE(eventually([&] { return c.expired(); }, 5s)) << "a collector is still held";
    }
}

INSTANTIATE_TEST_SUITE_P(Paths, ExitPathTest,
                         ::testing::Values(ExitPath::Signal, ExitPath::NameRefused,
                                           ExitPath::DuringOpens, ExitPath::DuringRescan),
                         [](const ::testing::TestParamInfo<ExitPath>& path) -> std::string {
                             switch (path.param) {
                                 case ExitPath::Signal:
                                     return "Signal";
                                 case ExitPath::NameRefused:
                                     return "NameRefused";
                                 case ExitPath::DuringOpens:
                                     return "DuringOpens";
                                 case ExitPath::DuringRescan:
                                     return "DuringRescan";
                             }
                             return "?";
                         });

// Issue 13, problem 1: cxlmgrd could not take its name, and its shutdown stopped and destroyed
// the arbiter's pool while the event journal thread still held work of the collectors just
// started (their start-up journal read). That work then posted to the pool's strands and
// destroyed collector timers of a pool that was gone: a heap-use-after-free under load. Here
// the journal thread is held up while the devices are exported and the name path runs; the
// pool must not stop before the journal thread has done everything given to it before.
TEST_F(RegistryTest, NameRefusedShutdownWaitsForTheJournalBeforeThePoolStops) {
    make_registry();
    // The journal thread is held from before the first collector starts.
    auto release = std::make_shared<std::promise<void>>();
    std::shared_future<void> released = release->get_future().share();
    auto once = std::make_shared<std::once_flag>();
    release_journal_ = [release, once] { std::call_once(*once, [&] { release->set_value(); }); };
    boost::asio::post(hub_->journal_executor(), [released] { released.wait(); });

    std::atomic<bool> journal_caught_up{false};
    std::atomic<bool> journal_step{false};
    std::atomic<bool> caught_up_when_pool_stopped{false};
    on_step = [&](ShutdownStep step) {
        // Collectors: stopping a collector waits for its journal work too (the held journal
        // thread holds it there); EventJournal: the registry's own wait for the journal thread.
        journal_step =
            journal_step || step == ShutdownStep::Collectors || step == ShutdownStep::EventJournal;
        if (step == ShutdownStep::Pool) {
            caught_up_when_pool_stopped = journal_caught_up.load();
        }
    };
    std::promise<void> over;
    auto over_f = over.get_future();
    std::promise<Status> p;
    auto f = p.get_future();
    registry_->start({emulated("emu0"), emulated("emu1"), emulated("emu2")}, [&](Status s) {
        // Behind the collectors' start-up work, which the sink's added() gave the journal.
        boost::asio::post(hub_->journal_executor(), [&] { journal_caught_up = true; });
        registry_->shutdown("cannot take the name org.cxlmgr1", [&over] { over.set_value(); });
        p.set_value(std::move(s));
    });
    ASSERT_TRUE(wait(f).ok());
    // The journal thread goes on once the shutdown waits for it, or once the shutdown is over
    // without having waited (the bug). The grace period only gives a shutdown that goes on
    // regardless the time to reach the pool first; a correct one waits for the release anyway.
    ASSERT_TRUE(eventually(
        [&] { return journal_step || over_f.wait_for(0s) == std::future_status::ready; }, kBound));
    std::this_thread::sleep_for(300ms);
    release_journal_();
    wait(over_f);
    EXPECT_EQ(sink_->collectors().size(), 3u);
    EXPECT_TRUE(caught_up_when_pool_stopped)
        << "the pool stopped while the journal thread still held the collectors' work";
    EXPECT_EQ(shutdown_order(), expected_order(true)) << log_.dump();
}

}  // namespace
}  // namespace cxlmgr::daemon
