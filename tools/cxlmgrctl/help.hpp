// cxlmgrctl's usage texts: the overview (`cxlmgrctl --help`), one page per command
// (`cxlmgrctl fw update --help`, `cxlmgrctl help fw update`) and per group (`cxlmgrctl fw
// --help`). docs/CLI.md says the same at length; the two are kept in step by hand.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace cxlmgrctl {

struct CommandHelp {
    std::string name;      // "fw update"
    std::string synopsis;  // "fw update DEVICE IMAGE [--slot N] ..."
    std::string summary;   // one line
    std::string details;   // options and output, several lines
};

// Every command, in the order of the overview.
const std::vector<CommandHelp>& command_helps();

// The command named exactly `name` ("fw update"), or nullptr.
const CommandHelp* find_command(const std::string& name);

// Whether `name` is a group of commands ("fw", "events").
bool is_group(const std::string& name);

// The overview: global options, every command's synopsis, exit statuses.
void print_overview(std::ostream& out);

// The help of the longest command or group that `words` start with; false (nothing printed)
// when they name none.
bool print_help(std::ostream& out, const std::vector<std::string>& words);

// The command being run, for usage errors ("" before one is chosen).
void set_current_command(const std::string& name);
const std::string& current_command();

}  // namespace cxlmgrctl
