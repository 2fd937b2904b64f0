// The cxlmgrctl commands. Each returns the exit status; D-Bus errors are reported by the
// caller (main.cpp), usage errors here with kExitUsage.
#pragma once

#include <sdbus-c++/IConnection.h>

#include <string>
#include <vector>

namespace cxlmgrctl {

struct Globals {
    bool json = false;
};

using Args = std::vector<std::string>;

int cmd_list(sdbus::IConnection& bus, const Globals& g, const Args& args);
int cmd_info(sdbus::IConnection& bus, const Globals& g, const Args& args);
int cmd_health(sdbus::IConnection& bus, const Globals& g, const Args& args);
int cmd_cdat(sdbus::IConnection& bus, const Globals& g, const Args& args);
int cmd_fw(sdbus::IConnection& bus, const Globals& g, const Args& args);
// fw update (fw_update.cpp)
int cmd_fw_update(sdbus::IConnection& bus, const Globals& g, const Args& args);

int usage_error(const std::string& why);

}  // namespace cxlmgrctl
