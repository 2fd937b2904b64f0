#include "common/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace cxlmgr::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::Info)};
std::atomic<bool> g_journal{false};
std::mutex g_write_mutex;

const char* level_tag(Level level) {
    switch (level) {
        case Level::Debug:
            return "debug";
        case Level::Info:
            return "info";
        case Level::Warning:
            return "warning";
        case Level::Error:
            return "error";
    }
    return "?";
}

int syslog_priority(Level level) {
    switch (level) {
        case Level::Debug:
            return 7;
        case Level::Info:
            return 6;
        case Level::Warning:
            return 4;
        case Level::Error:
            return 3;
    }
    return 6;
}

}  // namespace

void set_level(Level level) {
    g_level.store(static_cast<int>(level));
}
Level level() {
    return static_cast<Level>(g_level.load());
}
void set_journal_prefixes(bool enabled) {
    g_journal.store(enabled);
}
bool enabled(Level lvl) {
    return static_cast<int>(lvl) >= g_level.load(std::memory_order_relaxed);
}

Result<Level> parse_level(std::string_view name) {
    if (name == "debug")
        return Level::Debug;
    if (name == "info")
        return Level::Info;
    if (name == "warning" || name == "warn")
        return Level::Warning;
    if (name == "error")
        return Level::Error;
    return Error(Errc::InvalidArgument,
                 "unknown log level '" + std::string(name) + "' (use debug, info, warning, error)");
}

void write(Level lvl, std::string_view message) {
    std::lock_guard lock(g_write_mutex);
    if (g_journal.load()) {
        std::fprintf(stderr, "<%d>%.*s\n", syslog_priority(lvl), static_cast<int>(message.size()),
                     message.data());
        return;
    }
    auto now = std::chrono::system_clock::now();
    std::time_t secs = std::chrono::system_clock::to_time_t(now);
    auto millis =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%H:%M:%S", &tm);
    std::fprintf(stderr, "%s.%03lld %s: %.*s\n", stamp, static_cast<long long>(millis),
                 level_tag(lvl), static_cast<int>(message.size()), message.data());
}

}  // namespace cxlmgr::log
