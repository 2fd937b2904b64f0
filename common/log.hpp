// Leveled logging to stderr, one line per message. Under systemd, journald stores stderr and the
// "<N>" prefix (sd-daemon(3) priority) sets each line's priority.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace cxlmgr::log {

enum class Level { Debug = 0, Info = 1, Warning = 2, Error = 3 };

void set_level(Level level);
Level level();
Result<Level> parse_level(std::string_view name);
// journald prefixes ("<7>") instead of a timestamp: set when stderr is the journal.
void set_journal_prefixes(bool enabled);

bool enabled(Level level);
void write(Level level, std::string_view message);

template <typename... Args>
void emit(Level lvl, const Args&... args) {
    if (!enabled(lvl)) {
        return;
    }
    std::ostringstream out;
    (out << ... << args);
    write(lvl, out.str());
}

template <typename... Args>
void debug(const Args&... args) {
    emit(Level::Debug, args...);
}
template <typename... Args>
void info(const Args&... args) {
    emit(Level::Info, args...);
}
template <typename... Args>
void warning(const Args&... args) {
    emit(Level::Warning, args...);
}
template <typename... Args>
void error(const Args&... args) {
    emit(Level::Error, args...);
}

}  // namespace cxlmgr::log
