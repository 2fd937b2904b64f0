#include "cxl/mailbox.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>

#include "common/log.hpp"
#include "cxl/command_table.hpp"
#include "cxl/mailbox_registers.hpp"
#include "cxl/return_code.hpp"

namespace cxlmgr::cxl {

using namespace detail;

struct Mailbox::Op {
    MailboxRequest request;
    CancelToken cancel;
    Callback done;
    unsigned percent = 0;
    Clock::time_point background_deadline{};
    bool abort_requested = false;  // the caller asked the device to end the operation
};

Mailbox::Mailbox(Private, boost::asio::any_io_executor executor,
                 std::shared_ptr<pci::PciDevice> device, DeviceRegisterMap map,
                 MailboxConfig config, uint32_t payload_size)
    : executor_(std::move(executor)),
      device_(std::move(device)),
      map_(std::move(map)),
      bar_(*map_.bar),
      config_(config),
      name_(device_->name()),
      payload_size_(payload_size) {
    // A background operation left by a previous owner (or a daemon that crashed) is tracked like
    // one of ours whose following ended: background commands are refused until it is over.
    const uint64_t status = bar_.read64(reg(mbox_reg::kStatus));
    if (status != ~0ull && (status & kStatusBackgroundOperation) != 0) {
        const uint64_t bg = bar_.read64(reg(mbox_reg::kBackgroundStatus));
        background_ = Background{field16(bg, 0), false};
        log::warning(name_, ": ", opcode::describe(field16(bg, 0)),
                     " is running in the background (", (bg >> 16) & 0x7F,
                     "% done), left by a previous owner of the mailbox");
    }
}

Backoff background_poll_backoff(std::chrono::microseconds expected) {
    using std::chrono::microseconds;
    if (expected.count() <= 0) {
        expected = std::chrono::milliseconds(100);
    }
    const microseconds first =
        std::clamp<microseconds>(expected / 50, microseconds(50), std::chrono::milliseconds(20));
    const microseconds cap = std::clamp<microseconds>(expected / 4, std::chrono::milliseconds(2),
                                                      std::chrono::seconds(1));
    return Backoff{first, std::max(first, cap), 2};
}

uint32_t Mailbox::payload_size() const {
    std::lock_guard lock(mutex_);
    return payload_size_;
}

bool Mailbox::in_flight() const {
    std::lock_guard lock(mutex_);
    return in_flight_;
}

std::optional<uint16_t> Mailbox::background_opcode() const {
    std::lock_guard lock(mutex_);
    return background_ ? std::optional<uint16_t>(background_->opcode) : std::nullopt;
}

Result<bool> Mailbox::background_running() {
    const uint64_t status = bar_.read64(reg(mbox_reg::kStatus));
    if (status == ~0ull) {
        return gone("the mailbox Status register");
    }
    return (status & kStatusBackgroundOperation) != 0;
}

std::optional<Error> Mailbox::failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
}

Error Mailbox::gone(const std::string& what) const {
    return Error(Errc::DeviceGone, name_ + ": " + what + " reads all-ones (device removed?)");
}

Status Mailbox::begin(const MailboxRequest& request) {
    std::lock_guard lock(mutex_);
    if (failure_) {
        return Error(Errc::DeviceError, name_ +
                                            ": the mailbox is out of service since an "
                                            "earlier command failed (" +
                                            failure_->message + "); reset it first");
    }
    if (in_flight_) {
        return Error(Errc::Busy, name_ + ": " + opcode::describe(in_flight_opcode_) +
                                     " is still in flight on this mailbox");
    }
    if (background_ && command_may_run_in_background(request.opcode)) {
        // One not followed any more (cancelled, timed out, found at open) may have ended since.
        const uint64_t status = bar_.read64(reg(mbox_reg::kStatus));
        if (!background_->followed && status != ~0ull &&
            (status & kStatusBackgroundOperation) == 0) {
            background_.reset();
        } else {
            return Error(Errc::Busy, name_ + ": " + opcode::describe(background_->opcode) +
                                         " is still running in the background on this mailbox; " +
                                         opcode::describe(request.opcode) + " not sent");
        }
    }
    if (request.input.size() > payload_size_) {
        return Error(Errc::InvalidArgument,
                     name_ + ": " + opcode::describe(request.opcode) + " input of " +
                         std::to_string(request.input.size()) + " bytes exceeds the " +
                         std::to_string(payload_size_) + "-byte mailbox payload");
    }
    in_flight_ = true;
    in_flight_opcode_ = request.opcode;
    return ok_status();
}

Status Mailbox::ring(uint16_t opcode, ByteSpan input) {
    const uint32_t control = bar_.read32(reg(mbox_reg::kControl));
    if (control == 0xFFFFFFFFu) {
        return gone("the mailbox Control register");
    }
    if ((control & kControlDoorbell) != 0) {
        return Error(Errc::Busy, name_ + ": mailbox in use by another agent (doorbell set before " +
                                     opcode::describe(opcode) + ")");
    }
    // Whole qwords, then a dword, then the last 1-3 bytes packed into a zero-padded dword: the
    // payload area is a power of two of at least 256 bytes, so the padding stays inside it.
    const uint64_t base = reg(mbox_reg::kPayload);
    size_t i = 0;
    for (; i + 8 <= input.size(); i += 8) {
        bar_.write64(base + i, load_le(input, i, 8));
    }
    if (i + 4 <= input.size()) {
        bar_.write32(base + i, static_cast<uint32_t>(load_le(input, i, 4)));
        i += 4;
    }
    if (i < input.size()) {
        bar_.write32(base + i, static_cast<uint32_t>(load_le(input, i, input.size() - i)));
    }
    // One 64-bit store: devices (QEMU among them) ignore a Command register written in halves.
    bar_.write64(reg(mbox_reg::kCommand),
                 static_cast<uint64_t>(opcode) | (static_cast<uint64_t>(input.size()) << 16));
    bar_.write32(reg(mbox_reg::kControl), control | kControlDoorbell);
    return ok_status();
}

void Mailbox::async_command(MailboxRequest request, CancelToken cancel, Callback done) {
    auto op = std::make_shared<Op>(Op{std::move(request), std::move(cancel), std::move(done)});
    Status s = begin(op->request);
    if (s.ok()) {
        s = ring(op->request.opcode, op->request.input);
        if (!s.ok()) {
            std::lock_guard lock(mutex_);
            in_flight_ = false;
        }
    }
    if (!s.ok()) {
        boost::asio::post(executor_, [op, e = std::move(s).error()] { op->done(e); });
        return;
    }
    wait_doorbell(op, op->request.opcode, [self = shared_from_this(), op](Result<uint64_t> st) {
        if (!st.ok()) {
            self->finish(op, std::move(st).error());
            return;
        }
        self->on_status(op, *st);
    });
}

void Mailbox::wait_doorbell(std::shared_ptr<Op> op, uint16_t opcode, StatusNext next) {
    auto self = shared_from_this();
    auto check = [self]() -> Result<bool> {
        const uint32_t control = self->bar_.read32(self->reg(mbox_reg::kControl));
        if (control == 0xFFFFFFFFu) {
            return self->gone("the mailbox Control register");
        }
        return (control & kControlDoorbell) == 0;
    };
    auto done = [self, op, opcode, next = std::move(next)](Status s) {
        if (s.ok()) {
            const uint64_t status = self->bar_.read64(self->reg(mbox_reg::kStatus));
            if (status == ~0ull) {
                next(self->gone("the mailbox Status register"));
                return;
            }
            next(status);
            return;
        }
        Error e = std::move(s).error();
        if (e.code == Errc::Timeout) {
            e.message = self->name_ + ": the doorbell did not clear within " +
                        ms(self->config_.doorbell_timeout) + " for " + opcode::describe(opcode);
            const uint64_t memdev = self->bar_.read64(self->map_.memdev_status.offset);
            const MemdevStatus m = decode_memdev_status(memdev);
            if (memdev == ~0ull) {
                e.message += " (Memory Device Status reads all-ones)";
            } else if (m.fatal || m.fw_halt) {
                e.message += std::string(" (device reports") + (m.fatal ? " fatal error" : "") +
                             (m.fw_halt ? " firmware halt" : "") + ")";
            }
            log::error(e.message, "; mailbox taken out of service");
            std::lock_guard lock(self->mutex_);
            self->failure_ = e;
        }
        next(e);
    };
    // The doorbell phase ignores the caller's token: the device already has the command, and
    // the mailbox cannot be used again until it answers.
    async_poll(executor_, config_.doorbell_backoff, Clock::now() + config_.doorbell_timeout,
               CancelToken{}, std::move(check), std::move(done));
}

void Mailbox::on_status(std::shared_ptr<Op> op, uint64_t status) {
    MailboxResponse r;
    r.opcode = op->request.opcode;
    r.return_code = field16(status, 32);
    r.vendor_status = field16(status, 48);
    if (r.return_code == static_cast<uint16_t>(ReturnCode::BackgroundCommandStarted)) {
        std::optional<uint16_t> running;
        {
            std::lock_guard lock(mutex_);
            if (background_) {
                running = background_->opcode;
            } else {
                // The foreground phase is over: the doorbell is clear, other commands may go.
                in_flight_ = false;
                background_ = Background{r.opcode, true};
            }
        }
        if (running) {
            // begin() refused this opcode while one runs, unless the table says it never runs
            // in the background: the device broke the protocol (or the table is wrong).
            finish(op, Error(Errc::DeviceError, name_ + ": " + opcode::describe(r.opcode) +
                                                    " answered Background Command Started "
                                                    "while " +
                                                    opcode::describe(*running) +
                                                    " runs in the background"));
            return;
        }
        // A short operation (a small Transfer FW part takes microseconds) is often over by
        // now: it then ends here as one transaction, without handing the channel to others and
        // taking it back, a round of thread hops per part (docs/BENCHMARKS.md, issue 14).
        const uint64_t settled = bar_.read64(reg(mbox_reg::kStatus));
        if (settled != ~0ull && (settled & kStatusBackgroundOperation) == 0) {
            on_background_done(std::move(op), ok_status());
            return;
        }
        if (op->request.options.on_background_started) {
            op->request.options.on_background_started();
        }
        op->background_deadline = Clock::now() + op->request.options.background_timeout;
        CancelToken cancel = op->cancel;
        follow_background(std::move(op), std::move(cancel));
        return;
    }
    if (r.return_code == static_cast<uint16_t>(ReturnCode::Success)) {
        auto out = read_output(r.opcode);
        if (!out.ok()) {
            finish(op, std::move(out).error());
            return;
        }
        r.output = std::move(*out);
    }
    finish(op, std::move(r));
}

void Mailbox::follow_background(std::shared_ptr<Op> op, CancelToken cancel) {
    auto self = shared_from_this();
    auto check = [self, op]() -> Result<bool> {
        // The percentage first: read after Status, a completion between the two reads would
        // be noticed one (backed-off) check late.
        const uint64_t bg = self->bar_.read64(self->reg(mbox_reg::kBackgroundStatus));
        const uint64_t status = self->bar_.read64(self->reg(mbox_reg::kStatus));
        if (status == ~0ull || bg == ~0ull) {
            return self->gone("the mailbox background status");
        }
        const unsigned percent = std::min(100u, static_cast<unsigned>((bg >> 16) & 0x7F));
        if (percent != op->percent) {
            op->percent = percent;
            if (op->request.options.on_progress) {
                op->request.options.on_progress(percent);
            }
        }
        return (status & kStatusBackgroundOperation) == 0;  // not 100%: an abort ends below it
    };
    async_poll(executor_, background_poll_backoff(op->request.options.expected_duration),
               op->background_deadline, std::move(cancel), std::move(check),
               [self, op](Status s) { self->on_background_done(op, std::move(s)); });
}

void Mailbox::on_background_done(std::shared_ptr<Op> op, Status status) {
    const std::string what = name_ + ": " + opcode::describe(op->request.opcode);
    if (!status.ok()) {
        Error e = std::move(status).error();
        const std::string progress = std::to_string(op->percent) + "% done";
        if (e.code == Errc::Timeout) {
            e.message = what + " did not complete in the background within " +
                        ms(op->request.options.background_timeout) + " (" + progress + ")";
        } else if (e.code == Errc::Cancelled) {
            if (!op->abort_requested && op->request.options.on_cancel_in_background &&
                op->request.options.on_cancel_in_background()) {
                // Followed on to its end, which the abort brings soon: the slot it holds in the
                // daemon's channel is freed only once the device is done with it.
                op->abort_requested = true;
                follow_background(std::move(op), CancelToken{});
                return;
            }
            e.message = what + " was cancelled while running in the background (" + progress +
                        "); the device may still complete it";
        }
        // Still running on the device as far as we know: it stays tracked.
        finish_background(op, e.code != Errc::Timeout && e.code != Errc::Cancelled, std::move(e));
        return;
    }
    const uint64_t bg = bar_.read64(reg(mbox_reg::kBackgroundStatus));
    if (bg == ~0ull) {
        finish_background(op, false, gone("the mailbox background status"));
        return;
    }
    if (field16(bg, 0) != op->request.opcode) {
        finish_background(op, true,
                          Error(Errc::DeviceError, what +
                                                       " completed, but the background status "
                                                       "reports opcode " +
                                                       hex(field16(bg, 0), 4)));
        return;
    }
    MailboxResponse r;
    r.opcode = op->request.opcode;
    r.background = true;
    r.percent = op->percent;
    r.return_code = field16(bg, 32);
    r.vendor_status = field16(bg, 48);
    if (op->abort_requested && r.return_code != static_cast<uint16_t>(ReturnCode::Success)) {
        finish_background(op, true,
                          Error(Errc::Cancelled, what +
                                                     " was cancelled while running in the "
                                                     "background and ended, after Request Abort "
                                                     "Background Operation, with " +
                                                     describe_return_code(r.return_code) + " (" +
                                                     std::to_string(r.percent) + "% done)"));
        return;
    }
    finish_background(op, true, std::move(r));
}

Result<Bytes> Mailbox::read_output(uint16_t opcode) {
    const uint64_t command = bar_.read64(reg(mbox_reg::kCommand));
    if (command == ~0ull) {
        return gone("the mailbox Command register");
    }
    const uint64_t length = (command >> 16) & kCommandLengthMask;
    const uint32_t payload = payload_size();
    if (length > payload) {
        return Error(Errc::DeviceError, name_ + ": " + opcode::describe(opcode) +
                                            " output length lie: the device "
                                            "claims " +
                                            std::to_string(length) +
                                            " output bytes, but its payload area "
                                            "holds only " +
                                            std::to_string(payload));
    }
    Bytes out(length);
    const uint64_t base = reg(mbox_reg::kPayload);
    size_t i = 0;
    for (; i + 8 <= length; i += 8) {
        store_le(out, i, bar_.read64(base + i), 8);
    }
    if (i + 4 <= length) {
        store_le(out, i, bar_.read32(base + i), 4);
        i += 4;
    }
    if (i < length) {
        store_le(out, i, bar_.read32(base + i), static_cast<unsigned>(length - i));
    }
    return out;
}

void Mailbox::finish(const std::shared_ptr<Op>& op, Result<MailboxResponse> result) {
    {
        std::lock_guard lock(mutex_);
        in_flight_ = false;
    }
    op->done(std::move(result));
}

void Mailbox::finish_background(const std::shared_ptr<Op>& op, bool ended,
                                Result<MailboxResponse> result) {
    {
        std::lock_guard lock(mutex_);
        if (ended) {
            background_.reset();
        } else if (background_) {
            background_->followed = false;
        }
    }
    op->done(std::move(result));
}

void Mailbox::async_wait_background_idle(std::chrono::steady_clock::time_point deadline,
                                         std::chrono::milliseconds expected, CancelToken cancel,
                                         std::function<void(Status)> done) {
    auto self = shared_from_this();
    auto check = [self]() -> Result<bool> {
        CXLMGR_ASSIGN(const bool running, self->background_running());
        if (!running) {
            std::lock_guard lock(self->mutex_);
            if (self->background_ && !self->background_->followed) {
                self->background_.reset();
            }
        }
        return !running;
    };
    async_poll(executor_, background_poll_backoff(expected), deadline, std::move(cancel),
               std::move(check), std::move(done));
}

}  // namespace cxlmgr::cxl
