// cxlmgrd: the one owner of CXL memory devices' DOE and mailboxes on a server.
#include <getopt.h>

#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include "common/log.hpp"
#include "daemon/config.hpp"
#include "daemon/device_factory.hpp"
#include "daemon/probe.hpp"
#include "pci/config_dump.hpp"

namespace {

using namespace cxlmgr;

constexpr int kExitUsage = 2;

void usage(std::ostream& out) {
    out << "Usage: cxlmgrd [OPTIONS]\n"
           "Manage CXL memory devices: DOE, CDAT, mailbox, firmware update and events.\n\n"
           "  --config FILE        JSON configuration (devices to manage, discovery)\n"
           "  --emulate N          add N emulated CXL Type-3 devices (emu0, emu1, ...)\n"
           "  --probe              open every configured device, report what is found, exit\n"
           "  --dump-config NAME   print NAME's config space as `lspci -xxxx` does, exit\n"
           "                       (feed it to `lspci -F FILE -vvv`)\n"
           "  --log-level LEVEL    debug, info, warning or error (default info)\n"
           "  --help               show this help\n"
           "  --version            show the version\n";
}

struct Options {
    std::optional<std::string> config_path;
    unsigned emulate = 0;
    bool probe = false;
    std::optional<std::string> dump_config;
};

Result<Options> parse_options(int argc, char** argv) {
    enum { kConfig = 1, kEmulate, kProbe, kDump, kLogLevel, kHelp, kVersion };
    static const option long_options[] = {
        {"config", required_argument, nullptr, kConfig},
        {"emulate", required_argument, nullptr, kEmulate},
        {"probe", no_argument, nullptr, kProbe},
        {"dump-config", required_argument, nullptr, kDump},
        {"log-level", required_argument, nullptr, kLogLevel},
        {"help", no_argument, nullptr, kHelp},
        {"version", no_argument, nullptr, kVersion},
        {nullptr, 0, nullptr, 0},
    };
    Options opts;
    opterr = 0;
    int c = 0;
    while ((c = getopt_long(argc, argv, "", long_options, nullptr)) != -1) {
        switch (c) {
            case kConfig:
                opts.config_path = optarg;
                break;
            case kEmulate: {
                char* end = nullptr;
                unsigned long n = std::strtoul(optarg, &end, 10);
                if (end == optarg || *end != '\0' || n > 4096) {
                    return Error(Errc::InvalidArgument, "--emulate takes a number from 0 to 4096");
                }
                opts.emulate = static_cast<unsigned>(n);
                break;
            }
            case kProbe:
                opts.probe = true;
                break;
            case kDump:
                opts.dump_config = optarg;
                break;
            case kLogLevel: {
                CXLMGR_ASSIGN(auto level, log::parse_level(optarg));
                log::set_level(level);
                break;
            }
            case kHelp:
                usage(std::cout);
                std::exit(0);
            case kVersion:
                std::cout << "cxlmgrd " << CXLMGR_VERSION << "\n";
                std::exit(0);
            default:
                return Error(Errc::InvalidArgument, std::string("unknown or incomplete option '") +
                                                        argv[optind - 1] + "'");
        }
    }
    if (optind < argc) {
        return Error(Errc::InvalidArgument,
                     std::string("unexpected argument '") + argv[optind] + "'");
    }
    return opts;
}

int run(const Options& opts) {
    daemon::DaemonConfig config;
    if (opts.config_path) {
        auto loaded = daemon::load_config(*opts.config_path);
        if (!loaded.ok()) {
            log::error(loaded.error().message);
            return kExitUsage;
        }
        config = std::move(loaded).value();
    }
    daemon::add_default_emulated_devices(config, opts.emulate);
    if (config.discover) {
        auto discovered = daemon::add_discovered_devices(config);
        if (!discovered.ok()) {
            log::error("discovery failed: ", discovered.error().message);
            return 1;
        }
    }
    if (!opts.probe && !opts.dump_config) {
        log::error("the D-Bus service is not part of this build yet; use --probe or --dump-config");
        return kExitUsage;
    }
    int status = 0;
    bool dumped = false;
    for (const auto& spec : config.devices) {
        auto opened = daemon::open_device(spec);
        std::string name =
            spec.backend == daemon::Backend::Emulated ? spec.emulated.name : spec.address;
        if (!opened.ok()) {
            log::error(name, ": ", opened.error().message);
            status = 1;
            continue;
        }
        pci::PciDevice& device = *opened->device;
        if (opts.dump_config) {
            if (name != *opts.dump_config) {
                continue;
            }
            std::string address = spec.address.empty() ? "0000:00:00.0" : spec.address;
            auto dump = pci::dump_config_lspci(device.config(), address, "cxlmgrd " + name);
            if (!dump.ok()) {
                log::error(name, ": ", dump.error().message);
                return 1;
            }
            std::cout << *dump;
            dumped = true;
            continue;
        }
        auto report = daemon::print_probe_report(device, std::cout);
        if (!report.ok()) {
            log::error(name, ": ", report.error().message);
            status = 1;
        }
    }
    if (opts.dump_config && !dumped) {
        log::error("no configured device is named '", *opts.dump_config, "'");
        return 1;
    }
    if (config.devices.empty()) {
        log::warning("no devices configured (use --config or --emulate)");
    }
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    auto opts = parse_options(argc, argv);
    if (!opts.ok()) {
        std::cerr << "cxlmgrd: " << opts.error().message << "\n";
        usage(std::cerr);
        return kExitUsage;
    }
    return run(*opts);
}
