// Times D-Bus calls to cxlmgrd from one long-lived client inside the e2e guest, so that neither
// process start (busctl's ~120 ms under TCG) nor bus connection set-up is in the figures.
//   cxlmgr_e2e_timer ADDRESS COUNT DEVICE_PATH CALL...
// CALL is one of
//   version             the Manager.Version property (answered from memory: the D-Bus baseline)
//   identify            Device.Identify (one mailbox command)
//   cdat-refresh        Cdat.Refresh (drops the cache and reads the whole CDAT over DOE)
//   cdat-read           Cdat.Read (the cached, decoded table)
//   cdat-refresh-read   Cdat.Refresh then Cdat.Read, timed as one
// Each CALL is made once untimed (warm-up), then COUNT times; one line per CALL:
//   CALL n=COUNT min=US p50=US max=US
// in microseconds of the monotonic clock. Exit 0; 1 when a call fails (its D-Bus error is
// printed); 2 on a usage error.
#include <sdbus-c++/sdbus-c++.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "tests/integration/proxies.hpp"

namespace {

using cxlmgr::testing::ManagerProxy;
// One object, two interfaces: Identify and the CDAT calls go through one proxy.
using DeviceProxy = cxlmgr::testing::Proxy<org::cxlmgr1::Device_proxy, org::cxlmgr1::Cdat_proxy>;

int usage() {
    std::cerr << "usage: cxlmgr_e2e_timer ADDRESS COUNT DEVICE_PATH "
                 "version|identify|cdat-refresh|cdat-read|cdat-refresh-read...\n";
    return 2;
}

int run(const std::string& address, unsigned count, const std::string& device_path,
        const std::vector<std::string>& calls) {
    auto conn = sdbus::createSessionBusConnectionWithAddress(address);
    ManagerProxy manager(*conn, "/org/cxlmgr1");
    DeviceProxy device(*conn, device_path);
    for (const std::string& name : calls) {
        std::function<void()> call;
        if (name == "version") {
            call = [&] {
                if (manager.Version().empty())
                    throw std::runtime_error("empty Manager.Version");
            };
        } else if (name == "identify") {
            call = [&] {
                if (device.Identify().empty())
                    throw std::runtime_error("empty Identify answer");
            };
        } else if (name == "cdat-refresh") {
            call = [&] { device.Refresh(); };
        } else if (name == "cdat-read") {
            call = [&] {
                if (device.Read().empty())
                    throw std::runtime_error("empty Cdat.Read answer");
            };
        } else if (name == "cdat-refresh-read") {
            call = [&] {
                device.Refresh();
                if (device.Read().empty())
                    throw std::runtime_error("empty Cdat.Read answer");
            };
        } else {
            std::cerr << "cxlmgr_e2e_timer: unknown call " << name << "\n";
            return 2;
        }
        call();  // warm-up: first-use costs (lazy set-up on either side) are not in the figures
        std::vector<int64_t> us;
        us.reserve(count);
        for (unsigned i = 0; i < count; ++i) {
            auto t0 = std::chrono::steady_clock::now();
            call();
            auto t1 = std::chrono::steady_clock::now();
            us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0).count());
        }
        std::sort(us.begin(), us.end());
        std::cout << name << " n=" << count << " min=" << us.front() << " p50=" << us[count / 2]
                  << " max=" << us.back() << "\n";
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() < 4)
        return usage();
    char* end = nullptr;
    unsigned long count = std::strtoul(args[1].c_str(), &end, 10);
    if (end == args[1].c_str() || *end != '\0' || count == 0 || count > 100000)
        return usage();
    try {
        return run(args[0], static_cast<unsigned>(count), args[2],
                   std::vector<std::string>(args.begin() + 3, args.end()));
    } catch (const sdbus::Error& e) {
        std::cout << "error " << e.getName() << "\n" << e.getMessage() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "cxlmgr_e2e_timer: " << e.what() << "\n";
        return 1;
    }
}
