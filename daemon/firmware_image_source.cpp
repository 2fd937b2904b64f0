#include "daemon/firmware_image_source.hpp"
#include "common/errno_text.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>

namespace cxlmgr::daemon {

namespace {

constexpr uint64_t kAlignment = 128;  // Transfer FW moves whole 128-byte units
// How often a pipe read looks at its cancel token and its stall deadline.
constexpr std::chrono::milliseconds kPipePoll{100};

}  // namespace

// One pipe read in progress; the descriptor lives here so the poll timer and the read can both
// be cancelled from the strand.
struct ImageSource::PipeRead {
    explicit PipeRead(boost::asio::any_io_executor ex, int fd) : stream(ex, fd), timer(ex) {}
    boost::asio::posix::stream_descriptor stream;
    boost::asio::steady_timer timer;
    std::vector<uint8_t> buffer;
    size_t wanted = 0;
    bool eof = false;
    bool reading = false;
    std::optional<Error> stop;  // why the poll timer cancelled the read
    std::chrono::steady_clock::time_point last_data;
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
        pipe_ = std::make_shared<PipeRead>(executor_, fd_.get());
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

void ImageSource::read(size_t n, CancelToken cancel, ReadCallback done) {
    if (pipe_) {
        read_pipe(n, std::move(cancel), std::move(done));
    } else {
        read_file(n, std::move(cancel), std::move(done));
    }
}

void ImageSource::read_file(size_t n, CancelToken cancel, ReadCallback done) {
    Result<std::vector<uint8_t>> result = std::vector<uint8_t>();
    if (cancel.cancelled()) {
        result = Error(Errc::Cancelled, "cancelled");
    } else {
        std::vector<uint8_t> out(static_cast<size_t>(std::min<uint64_t>(n, *size_ - offset_)));
        size_t got = 0;
        while (got < out.size()) {
            ssize_t r = ::pread(fd_.get(), out.data() + got, out.size() - got,
                                static_cast<off_t>(offset_ + got));
            if (r < 0 && errno == EINTR) {
                continue;
            }
            if (r < 0) {
                result = Error(Errc::IoError, "reading the image: " + errno_text(errno));
                break;
            }
            if (r == 0) {
                // The file shrank under the transfer: what was announced can no longer be sent.
                result = Error(Errc::IoError, "the image file shrank while it was being read");
                break;
            }
            got += static_cast<size_t>(r);
        }
        if (result.ok()) {
            offset_ += got;
            result = std::move(out);
        }
    }
    boost::asio::post(executor_,
                      [self = shared_from_this(), done = std::move(done),
                       result = std::move(result)]() mutable { done(std::move(result)); });
}

void ImageSource::read_pipe(size_t n, CancelToken cancel, ReadCallback done) {
    auto pipe = pipe_;
    pipe->buffer.assign(n, 0);
    pipe->wanted = 0;
    pipe->stop.reset();
    pipe->last_data = std::chrono::steady_clock::now();
    auto self = shared_from_this();
    auto finished = std::make_shared<bool>(false);
    auto shared_done = std::make_shared<ReadCallback>(std::move(done));
    auto complete = [self, pipe, finished, shared_done](Result<std::vector<uint8_t>> r) {
        if (*finished) {
            return;
        }
        *finished = true;
        pipe->timer.cancel();
        (*shared_done)(std::move(r));
    };
    // The poll: cancellation and stall detection, without any thread waiting on the pipe.
    auto poll = std::make_shared<std::function<void()>>();
    *poll = [self, pipe, cancel, finished, poll_weak = std::weak_ptr(poll)] {
        pipe->timer.expires_after(kPipePoll);
        pipe->timer.async_wait([self, pipe, cancel, finished,
                                poll_weak](const boost::system::error_code& ec) {
            if (ec || *finished) {
                return;
            }
            if (cancel.cancelled()) {
                pipe->stop = Error(Errc::Cancelled, "cancelled");
            } else if (std::chrono::steady_clock::now() - pipe->last_data >
                       self->limits_.read_timeout) {
                pipe->stop = Error(Errc::Timeout,
                                   "the image stopped arriving: nothing read for " +
                                       std::to_string(self->limits_.read_timeout.count()) + " ms");
            }
            if (pipe->stop) {
                boost::system::error_code ignored;
                pipe->stream.cancel(ignored);
                return;
            }
            if (auto p = poll_weak.lock()) {
                (*p)();
            }
        });
    };
    // The step: read what is there, until n bytes or the end.
    auto step = std::make_shared<std::function<void()>>();
    *step = [self, pipe, complete, poll, step_weak = std::weak_ptr(step)] {
        if (pipe->eof || pipe->wanted == pipe->buffer.size()) {
            pipe->buffer.resize(pipe->wanted);
            uint64_t total = self->offset_ + pipe->wanted;
            if (auto s = self->check_total(total, pipe->eof); !s.ok()) {
                complete(s.error());
                return;
            }
            self->offset_ = total;
            complete(std::move(pipe->buffer));
            return;
        }
        // The pending read's handler is what keeps the step (and through it the poll) alive.
        auto next = step_weak.lock();
        pipe->stream.async_read_some(
            boost::asio::buffer(pipe->buffer.data() + pipe->wanted,
                                pipe->buffer.size() - pipe->wanted),
            [self, pipe, complete, next](const boost::system::error_code& ec, size_t got) {
                if (ec == boost::asio::error::eof) {
                    pipe->eof = true;
                } else if (ec == boost::asio::error::operation_aborted && pipe->stop) {
                    complete(*pipe->stop);
                    return;
                } else if (ec) {
                    complete(Error(Errc::IoError, "reading the image: " + ec.message()));
                    return;
                }
                pipe->wanted += got;
                if (got > 0) {
                    pipe->last_data = std::chrono::steady_clock::now();
                }
                if (auto s = self->check_total(self->offset_ + pipe->wanted, false); !s.ok()) {
                    complete(s.error());
                    return;
                }
                if (next) {
                    (*next)();
                }
            });
    };
    // Until the first read is issued, this handler holds both closures.
    boost::asio::post(executor_, [step, poll, complete] {
        (*poll)();
        (*step)();
    });
}

Result<UniqueFd> open_image_path(const std::string& path) {
    if (path.empty() || path.front() != '/') {
        return Error(Errc::InvalidArgument, "the image path '" + path +
                                                "' is not absolute (the daemon has no working "
                                                "directory of yours)");
    }
    UniqueFd fd(
        ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
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
