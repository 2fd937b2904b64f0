#include "daemon/options.hpp"

#include <cstdlib>

namespace cxlmgr::daemon {
namespace {

Error usage_error(const std::string& what) {
    return Error(Errc::InvalidArgument, what);
}

// "--name=value" or "--name value".
struct ArgReader {
    const std::vector<std::string>& args;
    size_t i = 0;

    Result<std::string> value(const std::string& arg, const std::string& name) {
        if (arg.size() > name.size() && arg[name.size()] == '=') {
            return arg.substr(name.size() + 1);
        }
        if (i + 1 >= args.size()) {
            return usage_error(name + " needs a value");
        }
        return args[++i];
    }
};

bool matches(const std::string& arg, const std::string& name) {
    return arg == name || (arg.size() > name.size() && arg.compare(0, name.size(), name) == 0 &&
                           arg[name.size()] == '=');
}

}  // namespace

std::string usage() {
    return "Usage: cxlmgrd [OPTIONS]\n"
           "Manage CXL memory devices: DOE, CDAT, mailbox, firmware update and events, over\n"
           "D-Bus as org.cxlmgr1.\n\n"
           "  --system               serve on the system bus (default)\n"
           "  --session              serve on the session bus\n"
           "  --bus-address=ADDR     serve on the bus at ADDR (e.g. unix:path=/run/bus)\n"
           "  --config FILE          JSON configuration: devices, discovery, authorized group\n"
           "  --emulate N            add N emulated CXL Type-3 devices (emu0, emu1, ...)\n"
           "  --state-dir DIR        durable state (default /var/lib/cxlmgr)\n"
           "  --allow-raw-writes     let Device.Command send opcodes that change the device\n"
           "  --log-level LEVEL      debug, info, warning or error (default info)\n"
           "  --probe                open every configured device, report what is found, exit\n"
           "  --dump-config NAME     print NAME's config space as `lspci -xxxx` does, exit\n"
           "  --help, --version\n";
}

Result<Options> parse_options(const std::vector<std::string>& args) {
    Options opts;
    ArgReader reader{args};
    for (reader.i = 0; reader.i < args.size(); ++reader.i) {
        const std::string& arg = args[reader.i];
        if (arg == "--help" || arg == "-h") {
            opts.mode = Options::Mode::Help;
        } else if (arg == "--version") {
            opts.mode = Options::Mode::Version;
        } else if (arg == "--system") {
            opts.bus = Options::Bus::System;
        } else if (arg == "--session") {
            opts.bus = Options::Bus::Session;
        } else if (matches(arg, "--bus-address")) {
            CXLMGR_ASSIGN(opts.bus_address, reader.value(arg, "--bus-address"));
            if (opts.bus_address.empty()) {
                return usage_error("--bus-address needs an address");
            }
            opts.bus = Options::Bus::Address;
        } else if (matches(arg, "--config")) {
            CXLMGR_ASSIGN(opts.config_path, reader.value(arg, "--config"));
        } else if (matches(arg, "--emulate")) {
            CXLMGR_ASSIGN(std::string n, reader.value(arg, "--emulate"));
            char* end = nullptr;
            unsigned long count = std::strtoul(n.c_str(), &end, 10);
            if (n.empty() || *end != '\0' || count > 4096) {
                return usage_error("--emulate takes a number from 0 to 4096, not '" + n + "'");
            }
            opts.emulate = static_cast<unsigned>(count);
        } else if (matches(arg, "--state-dir")) {
            CXLMGR_ASSIGN(opts.state_dir, reader.value(arg, "--state-dir"));
        } else if (arg == "--allow-raw-writes") {
            opts.allow_raw_writes = true;
        } else if (matches(arg, "--log-level")) {
            CXLMGR_ASSIGN(std::string level, reader.value(arg, "--log-level"));
            CXLMGR_ASSIGN(opts.log_level, log::parse_level(level));
        } else if (arg == "--probe") {
            opts.mode = Options::Mode::Probe;
        } else if (matches(arg, "--dump-config")) {
            CXLMGR_ASSIGN(opts.dump_device, reader.value(arg, "--dump-config"));
            opts.mode = Options::Mode::DumpConfig;
        } else {
            return usage_error("unknown option '" + arg + "'");
        }
    }
    return opts;
}

}  // namespace cxlmgr::daemon
