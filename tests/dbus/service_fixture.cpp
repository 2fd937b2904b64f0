#include "tests/dbus/service_fixture.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "daemon/device_factory.hpp"
#include "dbus/object_paths.hpp"
#include "emu/device_description.hpp"

namespace cxlmgr::dbus::test {

std::string render(const sdbus::Variant& value) {
    const std::string sig = value.peekValueType();
    if (sig == "s") {
        return value.get<std::string>();
    }
    if (sig == "y") {
        return std::to_string(value.get<uint8_t>());
    }
    if (sig == "q") {
        return std::to_string(value.get<uint16_t>());
    }
    if (sig == "u") {
        return std::to_string(value.get<uint32_t>());
    }
    if (sig == "t") {
        return std::to_string(value.get<uint64_t>());
    }
    return "<" + sig + ">";
}

void DeviceClient::onPropertiesChanged(const std::string& interface, const Dict& changed,
                                       const std::vector<std::string>& invalidated) {
    for (const auto& [name, value] : changed) {
        changes.add(interface + "." + name + "=" + render(value));
    }
    for (const auto& name : invalidated) {
        changes.add(interface + "." + name + " invalidated");
    }
}

void RootClient::onInterfacesAdded(const sdbus::ObjectPath& path,
                                   const std::map<std::string, Dict>& interfaces) {
    objects.add("added " + path);
    if (auto cdat = interfaces.find("org.cxlmgr1.Cdat"); cdat != interfaces.end()) {
        for (const auto& [name, value] : cdat->second) {
            objects.add(path + " Cdat." + name + "=" + render(value));
        }
    }
}

void RootClient::onInterfacesRemoved(const sdbus::ObjectPath& path,
                                     const std::vector<std::string>& /*interfaces*/) {
    objects.add("removed " + path);
}

CallError error_of(const std::function<void()>& call) {
    try {
        call();
    } catch (const sdbus::Error& e) {  // how a proxy reports a D-Bus error reply
        return {e.getName(), e.getMessage()};
    }
    return {};
}

ServiceFixture::ServiceFixture() {
    work_.emplace(io_.get_executor());
    io_thread_ = std::thread([this] { io_.run(); });
}

ServiceFixture::~ServiceFixture() {
    stop();
}

void ServiceFixture::stop() {
    // Clients first (a proxy dropped mid-call loses its reply), then the service on its own
    // thread, then the devices: the order of docs/DESIGN.md "Lifetimes" turned around for clients.
    root_.reset();
    if (client_) {
        client_->leaveEventLoop();
        client_.reset();
    }
    if (service_) {
        on_io([this] {
            service_->release_name_and_stop();
            service_.reset();
            return 0;
        });
    }
    work_.reset();
    io_thread_.join();
    arbiter_.shutdown();
    devices_.clear();
}

std::shared_ptr<daemon::ManagedDevice> ServiceFixture::open_device(const std::string& name) {
    daemon::DeviceSpec spec;
    spec.backend = daemon::Backend::Emulated;
    spec.emulated = emu::default_device_description(name);
    auto opened = daemon::open_device(spec);
    if (!opened.ok()) {
        throw std::runtime_error(name + ": " + opened.error().message);
    }
    daemon::ManagedDeviceOptions options;
    // Short transport deadlines keep the fault tests quick.
    options.mailbox_config.doorbell_timeout = 1000ms;
    std::promise<Result<std::shared_ptr<daemon::ManagedDevice>>> promise;
    auto future = promise.get_future();
    daemon::ManagedDevice::async_open(
        arbiter_, std::move(opened).value(), options,
        [&promise](Result<std::shared_ptr<daemon::ManagedDevice>> r) { promise.set_value(r); });
    auto device = future.get();
    if (!device.ok()) {
        throw std::runtime_error(name + ": " + device.error().message);
    }
    return *device;
}

void ServiceFixture::start(std::vector<std::string> names, ServiceOptions options, BusKind bus) {
    if (bus == BusKind::Private) {
        private_bus_ = std::make_unique<cxlmgr::testing::PrivateBus>();
        address_ = private_bus_->address();
    } else {
        open_bus_ = std::make_unique<OpenBus>();
        address_ = open_bus_->address();
    }
    for (const auto& name : names) {
        devices_[name] = open_device(name);
    }
    options.bus = ServiceOptions::Bus::Address;
    options.address = address_;
    auto status = on_io([&]() -> Status {
        auto created = Service::create(io_, options);
        if (!created.ok()) {
            return created.error();
        }
        service_ = std::move(created).value();
        for (const auto& name : names) {
            CXLMGR_CHECK(service_->add_device(devices_.at(name)));
        }
        return service_->request_name();
    });
    if (!status.ok()) {
        throw std::runtime_error(status.error().describe());
    }
    client_ = sdbus::createSessionBusConnectionWithAddress(address_);
    client_->enterEventLoopAsync();
    root_ = std::make_unique<RootClient>(*client_);
    // Exporting a device starts a background CDAT read (for the Cdat properties). Tests start
    // once it is done, so a one-shot fault they arm is never used up by it.
    for (const auto& name : names) {
        if (!wait_cdat_known(name)) {
            throw std::runtime_error(name + ": the Cdat properties stayed 0");
        }
    }
}

bool ServiceFixture::wait_cdat_known(const std::string& name) {
    auto client = device_client(name);
    for (int i = 0; i < 500; ++i) {
        if (client->Length() != 0) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

std::unique_ptr<DeviceClient> ServiceFixture::device_client(const std::string& name) {
    return std::make_unique<DeviceClient>(*client_, device_object_path(name));
}

bool ServiceFixture::wait_pending(size_t n, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        if (on_io([this] { return service_->pending_call_count(); }) == n) {
            return true;
        }
        std::this_thread::sleep_for(10ms);
    }
    return false;
}

namespace {

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
        s.pop_back();
    }
    return s;
}

}  // namespace

OpenBus::OpenBus() {
    std::array<char, 64> name{};
    std::snprintf(name.data(), name.size(), "/tmp/cxlmgr-open-bus-XXXXXX");
    int fd = mkstemp(name.data());
    if (fd < 0) {
        throw std::runtime_error("cannot create the bus configuration file");
    }
    close(fd);
    config_path_ = name.data();
    // A session-like bus whose policy admits every user (the default admits only its owner).
    std::ofstream(config_path_) << R"(<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
)";
    const std::string command = "dbus-daemon --config-file=" + config_path_ +
                                " --fork --nopidfile --print-address=1 --print-pid=1";
    FILE* out = popen(command.c_str(), "r");
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

OpenBus::~OpenBus() {
    if (pid_ > 0) {
        kill(pid_, SIGTERM);
    }
    unlink(config_path_.c_str());
}

CommandOutcome gdbus_call_as_nobody(const std::string& address, std::optional<gid_t> group,
                                    const std::string& path, const std::string& method,
                                    const std::string& arguments) {
    std::ostringstream command;
    command << "setpriv --reuid=65534 --regid=65534 "
            << (group ? "--groups=" + std::to_string(*group) : std::string("--clear-groups"))
            << " gdbus call --address '" << address << "' --dest org.cxlmgr1 --object-path " << path
            << " --method " << method << " " << arguments << " 2>&1";
    FILE* out = popen(command.str().c_str(), "r");
    if (out == nullptr) {
        return {};
    }
    CommandOutcome outcome;
    std::array<char, 512> chunk{};
    while (fgets(chunk.data(), chunk.size(), out) != nullptr) {
        outcome.output += chunk.data();
    }
    int status = pclose(out);
    outcome.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return outcome;
}

}  // namespace cxlmgr::dbus::test
