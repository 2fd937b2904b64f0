// cxlmgrd's command line.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "common/result.hpp"

namespace cxlmgr::daemon {

struct Options {
    enum class Bus { System, Session, Address };
    enum class Mode { Service, Probe, DumpConfig, Help, Version };

    Mode mode = Mode::Service;
    Bus bus = Bus::System;
    std::string bus_address;
    std::optional<std::string> config_path;
    unsigned emulate = 0;
    std::string state_dir = "/var/lib/cxlmgr";
    bool allow_raw_writes = false;
    std::optional<log::Level> log_level;
    std::string dump_device;  // Mode::DumpConfig
};

Result<Options> parse_options(const std::vector<std::string>& args);
std::string usage();

}  // namespace cxlmgr::daemon
