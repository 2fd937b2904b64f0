#include "daemon/state_dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>

#include "common/errno_text.hpp"

namespace cxlmgr::daemon {

namespace {

// The pid the holder wrote, or "" when the file says nothing usable (the holder may be between
// taking the lock and writing its pid).
std::string holder_pid(int fd) {
    std::array<char, 32> buf{};
    ssize_t n = ::pread(fd, buf.data(), buf.size() - 1, 0);
    if (n <= 0) {
        return "";
    }
    std::string text(buf.data(), static_cast<size_t>(n));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
        text.pop_back();
    }
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) {
        return "";
    }
    return text;
}

}  // namespace

std::filesystem::path StateDirLock::lock_path(const std::filesystem::path& dir) {
    return dir / "cxlmgrd.lock";
}

Result<StateDirLock> StateDirLock::acquire(const std::filesystem::path& dir) {
    const auto path = lock_path(dir);
    // Not truncated on open: the holder's pid must still be readable by whoever fails to lock.
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd.valid()) {
        return Error(Errc::IoError, "cannot open the lock file " + path.string() +
                                        " of the state directory: " + errno_text(errno));
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        const int err = errno;
        if (err != EWOULDBLOCK) {
            return Error(Errc::IoError, "cannot lock " + path.string() + ": " + errno_text(err));
        }
        const std::string pid = holder_pid(fd.get());
        return Error(Errc::Busy, "the state directory " + dir.string() +
                                     " is in use by another cxlmgrd" +
                                     (pid.empty() ? "" : " (pid " + pid + ")") +
                                     "; only one daemon may run per state directory");
    }
    const std::string text = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd.get(), 0) != 0 ||
        ::pwrite(fd.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
        // A state directory that cannot take a few bytes cannot take a marker either.
        return Error(Errc::IoError, "cannot write " + path.string() + ": " + errno_text(errno));
    }
    return StateDirLock(std::move(fd));
}

}  // namespace cxlmgr::daemon
