// Where a firmware job reads its image from: a descriptor handed over by a client (StartUpdateFd)
// or opened by the daemon from a path (StartUpdate). The image is read chunk by chunk, never
// held whole.
//
// A regular file (or memfd) is read with pread: its size is known up front (and checked against
// the limits), and page-cache reads of a few KiB do not stall a thread. A pipe or socket is read
// non-blocking: while it holds nothing, the reading coroutine awaits an Asio wait on the
// descriptor, woken at least every poll interval to notice cancellation and a writer that
// stopped delivering (read_timeout without a byte). A stalled client never blocks a thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/cancel.hpp"
#include "common/coro.hpp"
#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace cxlmgr::daemon {

struct ImageLimits {
    // Larger than any real CXL device firmware package seen so far (tens of MiB), small enough
    // that a mistaken path (a disk image) is refused at once.
    uint64_t max_size = 256ull << 20;
    // How long a pipe may deliver nothing before the job fails.
    std::chrono::milliseconds read_timeout{30000};
};

class ImageSource : public std::enable_shared_from_this<ImageSource> {
    struct Private {};

public:
    // Takes the descriptor. Refuses what is neither a regular file nor a pipe/socket, an empty
    // file, one larger than the limit, or one whose size is not a multiple of 128 bytes
    // (Transfer FW moves whole 128-byte units).
    static Result<std::shared_ptr<ImageSource>> from_fd(UniqueFd fd,
                                                        boost::asio::any_io_executor executor,
                                                        ImageLimits limits);

    ImageSource(Private, UniqueFd fd, boost::asio::any_io_executor executor, ImageLimits limits,
                std::optional<uint64_t> size);
    ~ImageSource();

    // The image size when known up front (regular files); nullopt for pipes.
    [[nodiscard]] std::optional<uint64_t> size() const { return size_; }

    // Reads exactly n bytes, fewer only at the end of the image (an empty vector: nothing
    // left). Await it from a coroutine on the executor given to from_fd (the pipe's waits are
    // bound to it); the awaiting coroutine keeps this source alive. Errors: Cancelled (the
    // token, looked at before the read and at every wait), Timeout (a pipe stalled),
    // InvalidArgument (larger than the limit, not 128-byte aligned), IoError. One read at a time.
    Task<Result<std::vector<uint8_t>>> read(size_t n, CancelToken cancel);

private:
    struct Pipe;
    Result<std::vector<uint8_t>> read_file(size_t n);
    Task<Result<std::vector<uint8_t>>> read_pipe(size_t n, CancelToken cancel);
    Task<void> wait_readable();
    Status check_total(uint64_t total, bool at_end) const;

    UniqueFd fd_;
    boost::asio::any_io_executor executor_;
    ImageLimits limits_;
    std::optional<uint64_t> size_;
    uint64_t offset_ = 0;
    std::unique_ptr<Pipe> pipe_;  // pipes only
};

// StartUpdate's path: opened with O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_NONBLOCK (a FIFO planted at
// the path cannot block the open), then required to be a regular file. Errors name the path:
// NotFound (missing), InvalidArgument (relative path, symbolic link, directory, device, FIFO),
// PermissionDenied (unreadable), IoError (anything else).
Result<UniqueFd> open_image_path(const std::string& path);

}  // namespace cxlmgr::daemon
