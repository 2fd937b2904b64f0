// The cxlmgrctl commands. Each returns the exit status; D-Bus errors are reported by the
// caller (main.cpp), usage errors here with kExitUsage.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cxlmgrctl {

class Connector;

struct Globals {
    bool json = false;
};

using Args = std::vector<std::string>;
using Handler = int (*)(Connector&, const Globals&, const Args&);

int cmd_list(Connector& connector, const Globals& g, const Args& args);
int cmd_info(Connector& connector, const Globals& g, const Args& args);
int cmd_health(Connector& connector, const Globals& g, const Args& args);
int cmd_cdat(Connector& connector, const Globals& g, const Args& args);
int cmd_fw_info(Connector& connector, const Globals& g, const Args& args);
int cmd_fw_activate(Connector& connector, const Globals& g, const Args& args);
int cmd_fw_cancel(Connector& connector, const Globals& g, const Args& args);
// fw_update.cpp
int cmd_fw_update(Connector& connector, const Globals& g, const Args& args);
// events.cpp, events_watch.cpp
int cmd_events_list(Connector& connector, const Globals& g, const Args& args);
int cmd_events_watch(Connector& connector, const Globals& g, const Args& args);

// "cxlmgrctl: <why>", the current command's usage line and where its help is, on stderr;
// returns kExitUsage.
int usage_error(const std::string& why);

// The object on stdout: one line of JSON with --json, "key: value" lines otherwise.
void emit(const Globals& g, const nlohmann::json& object);

// Options of the form --name VALUE or --name=VALUE (`with_value`) or --name (`flags`);
// positional arguments in order. `error` names the first unknown or incomplete option.
struct Parsed {
    std::vector<std::string> positional;
    std::map<std::string, std::string> options;
    std::string error;
};
Parsed parse(const Args& args, const std::vector<std::string>& with_value,
             const std::vector<std::string>& flags = {});

// A decimal number without sign that fits in uint64_t.
bool parse_u64(const std::string& text, uint64_t& value);

}  // namespace cxlmgrctl
