#include "daemon/firmware_image_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>

#include "common/errno_text.hpp"

namespace cxlmgr::daemon {

namespace {

constexpr uint64_t kAlignment = 128;  // Transfer FW moves whole 128-byte units
// How often a pipe read that waits looks at its cancel token and its stall deadline.
constexpr std::chrono::milliseconds kPipePoll{100};

}  // namespace

// A pipe's descriptor as Asio sees it (non-blocking; it never closes fd_) and the timer that
// bounds each wait on it.
struct ImageSource::Pipe {
    Pipe(const boost::asio::any_io_executor& executor, int fd)
        : stream(executor, fd), timer(executor) {}
    boost::asio::posix::stream_descriptor stream;
    boost::asio::steady_timer timer;
    bool eof = false;
};

Result<std::shared_ptr<ImageSource>> ImageSource::from_fd(UniqueFd fd,
                                                          boost::asio::any_io_executor executor,
                                                          ImageLimits limits) {
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return Error(Errc::InvalidArgument,
                     "the image descriptor cannot be examined: " + errno_text(errno));
    }
    std::optional<uint64_t> size;
    if (S_ISREG(st.st_mode)) {
        auto bytes = static_cast<uint64_t>(st.st_size);
        if (bytes == 0) {
            return Error(Errc::InvalidArgument, "the image is empty");
        }
        if (bytes > limits.max_size) {
            return Error(Errc::InvalidArgument, "the image is " + std::to_string(bytes) +
                                                    " bytes, more than the limit of " +
                                                    std::to_string(limits.max_size));
        }
        if (bytes % kAlignment != 0) {
            return Error(Errc::InvalidArgument,
                         "the image is " + std::to_string(bytes) +
                             " bytes, not a multiple of 128 (Transfer FW moves 128-byte units)");
        }
        size = bytes;
    } else if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode)) {
        return Error(Errc::InvalidArgument,
                     "the image descriptor is neither a regular file nor a pipe or socket");
    }
    auto source =
        std::make_shared<ImageSource>(Private{}, std::move(fd), std::move(executor), limits, size);
    return source;
}

ImageSource::ImageSource(Private, UniqueFd fd, boost::asio::any_io_executor executor,
                         ImageLimits limits, std::optional<uint64_t> size)
    : fd_(std::move(fd)), executor_(std::move(executor)), limits_(limits), size_(size) {
    if (!size_) {
        // The stream descriptor uses fd_ but never closes it (released in the destructor).
        pipe_ = std::make_unique<Pipe>(executor_, fd_.get());
        boost::system::error_code ec;
        pipe_->stream.non_blocking(true, ec);  // failure shows on the first read
    }
}

ImageSource::~ImageSource() {
    if (pipe_) {
        // Deregisters from the reactor; fd_ closes the descriptor.
        (void)pipe_->stream.release();
    }
}

Status ImageSource::check_total(uint64_t total, bool at_end) const {
    if (total > limits_.max_size) {
        return Error(Errc::InvalidArgument, "the image is larger than the limit of " +
                                                std::to_string(limits_.max_size) + " bytes");
    }
    if (at_end && total == 0) {
        return Error(Errc::InvalidArgument, "the image is empty");
    }
    if (at_end && total % kAlignment != 0) {
        return Error(Errc::InvalidArgument,
                     "the image is " + std::to_string(total) +
                         " bytes, not a multiple of 128 (Transfer FW moves 128-byte units)");
    }
    return ok_status();
}

Task<Result<std::vector<uint8_t>>> ImageSource::read(size_t n, CancelToken cancel) {
    if (cancel.cancelled()) {
        co_return Error(Errc::Cancelled, "cancelled");
    }
    if (!pipe_) {
        co_return read_file(n);
    }
    co_return co_await read_pipe(n, std::move(cancel));
}

Result<std::vector<uint8_t>> ImageSource::read_file(size_t n) {
    std::vector<uint8_t> out(static_cast<size_t>(std::min<uint64_t>(n, *size_ - offset_)));
    size_t got = 0;
    while (got < out.size()) {
        ssize_t r = ::pread(fd_.get(), out.data() + got, out.size() - got,
                            static_cast<off_t>(offset_ + got));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return Error(Errc::IoError, "reading the image: " + errno_text(errno));
        }
        if (r == 0) {
            // The file shrank under the transfer: what was announced can no longer be sent.
            return Error(Errc::IoError, "the image file shrank while it was being read");
        }
        got += static_cast<size_t>(r);
    }
    offset_ += got;
    return out;
}

Task<Result<std::vector<uint8_t>>> ImageSource::read_pipe(size_t n, CancelToken cancel) {
    std::vector<uint8_t> buffer(n);
    size_t got = 0;
    auto last_data = std::chrono::steady_clock::now();
    while (got < n && !pipe_->eof) {
        boost::system::error_code ec;
        const size_t r =
            pipe_->stream.read_some(boost::asio::buffer(buffer.data() + got, n - got), ec);
        if (ec == boost::asio::error::eof) {
            pipe_->eof = true;
            break;
        }
        if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again) {
            if (cancel.cancelled()) {
                co_return Error(Errc::Cancelled, "cancelled");
            }
            if (std::chrono::steady_clock::now() - last_data > limits_.read_timeout) {
                co_return Error(Errc::Timeout, "the image stopped arriving: nothing read for " +
                                                   std::to_string(limits_.read_timeout.count()) +
                                                   " ms");
            }
            co_await wait_readable();
            continue;
        }
        if (ec) {
            co_return Error(Errc::IoError, "reading the image: " + ec.message());
        }
        got += r;
        last_data = std::chrono::steady_clock::now();
        CXLMGR_CO_CHECK(check_total(offset_ + got, false));
    }
    buffer.resize(got);
    CXLMGR_CO_CHECK(check_total(offset_ + got, pipe_->eof));
    offset_ += got;
    co_return buffer;
}

Task<void> ImageSource::wait_readable() {
    // Asio 1.74 cannot await "readable or timed out" at once: the timer ends the wait by
    // cancelling it. A timer handler already queued when the wait ended anyway at most wakes
    // the next wait early, which only costs one more look at the pipe.
    pipe_->timer.expires_after(kPipePoll);
    pipe_->timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) {
            boost::system::error_code ignored;
            self->pipe_->stream.cancel(ignored);
        }
    });
    boost::system::error_code ec;  // operation_aborted when the timer ended the wait: fine
    co_await pipe_->stream.async_wait(boost::asio::posix::descriptor_base::wait_read,
                                      boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    pipe_->timer.cancel();
}

Result<UniqueFd> open_image_path(const std::string& path) {
    if (path.empty() || path.front() != '/') {
        return Error(Errc::InvalidArgument, "the image path '" + path +
                                                "' is not absolute (the daemon has no working "
                                                "directory of yours)");
    }
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!fd.valid()) {
        int e = errno;
        switch (e) {
            case ENOENT:
                // The systemd unit gives the daemon a private /tmp and hides /home, so a path
                // that exists for the caller may not exist for the daemon: say so.
                return Error(Errc::NotFound,
                             "the image " + path +
                                 " does not exist as cxlmgrd sees the file system (under its "
                                 "service, /tmp and /var/tmp are private and /home is hidden; "
                                 "StartUpdateFd or cxlmgrctl pass the file itself)");
            case ELOOP:
                return Error(
                    Errc::InvalidArgument,
                    "the image " + path + " is a symbolic link; give the path of the file itself");
            case EACCES:
            case EPERM:
                return Error(Errc::PermissionDenied, "the image " + path + " is not readable");
            default:
                return Error(Errc::IoError, "cannot open the image " + path + ": " + errno_text(e));
        }
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        return Error(Errc::IoError, "cannot examine the image " + path + ": " + errno_text(errno));
    }
    if (S_ISDIR(st.st_mode)) {
        return Error(Errc::InvalidArgument, "the image " + path + " is a directory");
    }
    if (!S_ISREG(st.st_mode)) {
        return Error(Errc::InvalidArgument, "the image " + path + " is not a regular file");
    }
    return fd;
}

}  // namespace cxlmgr::daemon
