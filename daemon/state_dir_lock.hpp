// One daemon per state directory (docs/FIRMWARE-UPDATE.md "One daemon per state directory"):
// an exclusive flock on `<state-dir>/cxlmgrd.lock`, held for the life of the process. The
// state directory holds the crash markers of running firmware transfers and the event journal;
// a second daemon on the same directory would "recover" (abort, then delete the marker of) a
// transfer the first is still running. So the lock is taken before anything else reads or
// writes the directory, and a daemon that cannot take it leaves at once, touching nothing.
//
// The lock file holds the holder's pid (for the message a second daemon prints); the kernel
// drops the lock when the process ends, however it ends, so a stale file never blocks a start.
#pragma once

#include <filesystem>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace cxlmgr::daemon {

class StateDirLock {
public:
    // The directory must exist. Busy, naming the directory and the holder's pid when it can
    // be read, while another process holds the lock; IoError when the file cannot be opened.
    static Result<StateDirLock> acquire(const std::filesystem::path& dir);

    [[nodiscard]] static std::filesystem::path lock_path(const std::filesystem::path& dir);

private:
    explicit StateDirLock(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;  // the lock lives as long as this descriptor
};

}  // namespace cxlmgr::daemon
