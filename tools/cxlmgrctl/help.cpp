#include "tools/cxlmgrctl/help.hpp"

#include <algorithm>

namespace cxlmgrctl {

namespace {

std::string g_current;

const char* const kGlobal =
    "Global options (before or after the command):\n"
    "  --session            use the session bus (default: the system bus)\n"
    "  --bus-address=ADDR   use the bus at ADDR (unix:path=/run/test/bus)\n"
    "  --json               machine-readable output: one JSON object (one line per event for\n"
    "                       `events watch`); docs/CLI.md describes each shape\n"
    "  -h, --help           this text; `cxlmgrctl COMMAND --help` for one command\n";

const char* const kExit =
    "Exit status: 0 success, 1 the operation failed, 2 usage error, 3 cxlmgrd could not be\n"
    "reached (not running on the bus, or it did not answer).\n";

const char* const kDevice =
    "DEVICE is a device name (emu0, 0000:0d:00.0) or an object path "
    "(/org/cxlmgr1/devices/emu0).\n";

// One line per command whose name starts with `prefix`: "  SYNOPSIS   summary", the summary
// on a line of its own when the synopsis is long.
void list_commands(std::ostream& out, const std::string& prefix) {
    constexpr size_t kColumn = 41;
    for (const auto& h : command_helps()) {
        if (h.name.rfind(prefix, 0) != 0) {
            continue;
        }
        std::string line = "  " + h.synopsis;
        if (line.size() + 2 > kColumn) {
            out << line << "\n" << std::string(kColumn, ' ') << h.summary << "\n";
        } else {
            out << line << std::string(kColumn - line.size(), ' ') << h.summary << "\n";
        }
    }
}

}  // namespace

const std::vector<CommandHelp>& command_helps() {
    static const std::vector<CommandHelp> helps = {
        {"list", "list", "devices and their state",
         "One line per managed device: name, state, backend, firmware revision.\n"},
        {"info", "info DEVICE", "identity, health, firmware slots",
         "The Device properties, the decoded Identify and Get Health Info outputs and the\n"
         "Firmware properties of one device.\n"},
        {"cdat", "cdat DEVICE [--raw FILE]", "decoded CDAT (or the raw table to FILE)",
         "  --raw FILE   write the table as read over DOE (header included) to FILE instead\n"
         "               of decoding it\n"},
        {"health", "health DEVICE", "decoded Get Health Info",
         "Health status, media status, life used, temperature, error counters.\n"},
        {"fw info", "fw info DEVICE", "firmware slots and the running update job",
         "Slot count, active and staged slot, each slot's revision, online activation\n"
         "support, and the job object of an update in progress (\"/\" when none).\n"},
        {"fw update",
         "fw update DEVICE IMAGE [--slot N] [--activate none|online|on-reset] [--no-wait]",
         "stream IMAGE into a firmware slot",
         "  --slot N        slot 1..4; 0 or absent: the first slot neither active nor staged\n"
         "  --activate M    after the transfer: none (default), online or on-reset\n"
         "  --no-wait       print the job object and return at once\n"
         "Shows a progress bar on a terminal and plain progress lines otherwise (none with\n"
         "--json). Ctrl-C cancels the job and waits until the daemon has aborted the transfer.\n"
         "Exit status 1 when the job ends failed or cancelled.\n"},
        {"fw activate", "fw activate DEVICE --slot N [--mode online|on-reset]",
         "make a slot's firmware the running one",
         "  --slot N        slot 1..4 (required)\n"
         "  --mode M        online (default) or on-reset\n"},
        {"fw cancel", "fw cancel DEVICE", "cancel the firmware update running on DEVICE",
         "Requests Job.Cancel; the daemon aborts the device-side transfer at the next chunk.\n"
         "Exit status 1 when no update is running.\n"},
        {"events list", "events list [DEVICE] [--since SEQ]", "stored events, oldest first",
         "  --since SEQ     only events with a sequence number greater than SEQ\n"
         "Without DEVICE: the events of every device, merged in sequence order. Sequence\n"
         "numbers are daemon-wide and keep growing across daemon restarts.\n"
         "Each line: SEQ TIME DEVICE LOG KIND followed by the record's key fields.\n"},
        {"events watch", "events watch [DEVICE...] [--log LOG,...] [--since SEQ]",
         "subscribe and print events as they come",
         "  --log LOG,...   only these logs: informational, warning, failure, fatal\n"
         "  --since SEQ     first print the stored events after SEQ, then follow\n"
         "Without DEVICE: every device, including devices that appear later. Without\n"
         "--since, only events that arrive after the watch started are printed. Events are\n"
         "printed once each, in sequence order per device. When cxlmgrd goes away (a restart)\n"
         "the watch says so on stderr, waits for it to come back, subscribes again and\n"
         "prints what happened in between. Ctrl-C (SIGINT) or SIGTERM ends it with status 0.\n"},
    };
    return helps;
}

const CommandHelp* find_command(const std::string& name) {
    const auto& helps = command_helps();
    auto it = std::find_if(helps.begin(), helps.end(),
                           [&](const CommandHelp& h) { return h.name == name; });
    return it == helps.end() ? nullptr : &*it;
}

bool is_group(const std::string& name) {
    return name == "fw" || name == "events";
}

void print_overview(std::ostream& out) {
    out << "usage: cxlmgrctl [--session | --bus-address=ADDR] [--json] COMMAND ...\n\n"
        << "Commands:\n";
    list_commands(out, "");
    out << "\n" << kDevice << "\n" << kGlobal << "\n" << kExit;
}

bool print_help(std::ostream& out, const std::vector<std::string>& words) {
    // The longest prefix of `words` that names a command.
    for (size_t n = std::min<size_t>(words.size(), 2); n > 0; --n) {
        std::string name;
        for (size_t i = 0; i < n; ++i) {
            name += (i ? " " : "") + words[i];
        }
        if (const CommandHelp* h = find_command(name)) {
            out << "usage: cxlmgrctl [GLOBAL OPTIONS] " << h->synopsis << "\n\n"
                << h->summary << ".\n\n"
                << h->details;
            if (h->synopsis.find("DEVICE") != std::string::npos) {
                out << kDevice;
            }
            out << "\n" << kGlobal << "\n" << kExit;
            return true;
        }
        if (n == 1 && is_group(name)) {
            out << "usage: cxlmgrctl [GLOBAL OPTIONS] " << name << " COMMAND ...\n\n";
            list_commands(out, name + " ");
            out << "\n`cxlmgrctl " << name << " COMMAND --help` describes one.\n";
            return true;
        }
    }
    return false;
}

void set_current_command(const std::string& name) {
    g_current = name;
}

const std::string& current_command() {
    return g_current;
}

}  // namespace cxlmgrctl
