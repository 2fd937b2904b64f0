// One D-Bus call to cxlmgrd with sdbus-c++, for tests that need to call as another user (run
// under setpriv) and see the error's name, which busctl does not print.
//   it_client ADDRESS identify PATH
//   it_client ADDRESS get-property PATH INTERFACE PROPERTY     (prints the value as JSON)
//   it_client ADDRESS command PATH OPCODE [HEXBYTES]           (OPCODE as 0x4000 or decimal)
//   it_client ADDRESS inject-fault PATH FAULT
//   it_client ADDRESS clear-faults PATH
// Prints "ok" and the answer as JSON, exit 0; or "error NAME" and the message, exit 1;
// usage errors exit 2.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "tests/integration/proxies.hpp"

namespace {

using namespace cxlmgr::testing;

std::vector<uint8_t> parse_hex(const std::string& hex) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
        out.push_back(static_cast<uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
    }
    return out;
}

int run(const std::vector<std::string>& a) {
    auto conn = sdbus::createSessionBusConnectionWithAddress(a.at(0));
    const std::string& op = a.at(1);
    const std::string& path = a.at(2);
    nlohmann::json answer;
    if (op == "identify") {
        DeviceProxy device(*conn, path);
        answer = to_json(device.Identify());
    } else if (op == "get-property") {
        auto proxy = sdbus::createProxy(*conn, "org.cxlmgr1", path);
        sdbus::Variant v = proxy->getProperty(a.at(4)).onInterface(a.at(3));
        answer = to_json(v);
    } else if (op == "command") {
        DeviceProxy device(*conn, path);
        auto opcode = static_cast<uint16_t>(std::stoul(a.at(3), nullptr, 0));
        auto [rc, out] = device.Command(opcode, parse_hex(a.size() > 4 ? a[4] : ""));
        answer = {{"return_code", rc}, {"output", out}};
    } else if (op == "inject-fault") {
        EmulatorProxy emulator(*conn, path);
        emulator.InjectFault(a.at(3), {});
    } else if (op == "clear-faults") {
        EmulatorProxy emulator(*conn, path);
        emulator.ClearFaults();
    } else {
        std::cerr << "it_client: unknown operation " << op << "\n";
        return 2;
    }
    std::cout << "ok\n" << answer.dump() << "\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() < 3) {
        std::cerr << "usage: it_client ADDRESS OPERATION PATH [ARGS...]\n";
        return 2;
    }
    try {
        return run(args);
    } catch (const sdbus::Error& e) {
        std::cout << "error " << e.getName() << "\n" << e.getMessage() << "\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "it_client: " << e.what() << "\n";
        return 2;
    }
}
