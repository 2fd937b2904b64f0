#include "emu/mailbox_model.hpp"

#include <algorithm>
#include <stdexcept>

#include "common/hex.hpp"
#include "common/log.hpp"
#include "emu/device_state.hpp"

namespace cxlmgr::emu {
namespace {

using std::chrono::duration_cast;
using std::chrono::nanoseconds;

constexpr uint64_t kRegCapabilities = 0x00;
constexpr uint64_t kRegControl = 0x04;
constexpr uint64_t kRegCommandLow = 0x08;
constexpr uint64_t kRegCommandHigh = 0x0C;
constexpr uint64_t kRegStatusLow = 0x10;
constexpr uint64_t kRegStatusHigh = 0x14;
constexpr uint64_t kRegBgStatusLow = 0x18;
constexpr uint64_t kRegBgStatusHigh = 0x1C;

constexpr uint32_t kControlDoorbell = 1u << 0;
constexpr unsigned kLengthShift = 16;
constexpr uint64_t kLengthMask = 0x1FFFFF;  // Command [36:16]
constexpr uint64_t kLengthLieExcess = 64;

uint32_t payload_size_exponent(uint32_t size) {
    uint32_t n = 0;
    while ((1u << n) < size) {
        ++n;
    }
    return n;
}

}  // namespace

Result<std::unique_ptr<MailboxModel>> MailboxModel::create(DeviceContext& context) {
    CXLMGR_ASSIGN(auto timing, MailboxTiming::parse(context.description.timing));
    CXLMGR_ASSIGN(auto commands, CommandSet::create(context, timing));
    std::unique_ptr<MailboxModel> model(new MailboxModel(context, timing, std::move(commands)));
    const std::string& path = context.description.state_file;
    if (path.empty()) {
        return model;
    }
    TimePoint now = context.now();
    CXLMGR_ASSIGN(auto saved, state::load(path));
    if (saved) {
        if (auto st = model->restore(*saved, now); !st.ok()) {
            return Error(Errc::InvalidArgument, "emulated device state file '" + path +
                                                    "' is unusable: " + st.error().message);
        }
    }
    // Written at once, so that a state file that cannot be written fails the creation instead
    // of the first command that changes something.
    CXLMGR_CHECK(model->save(now));
    return model;
}

MailboxModel::MailboxModel(DeviceContext& context, const MailboxTiming& timing,
                           std::unique_ptr<CommandSet> commands)
    : context_(context), timing_(timing), commands_(std::move(commands)) {
    capabilities_ = payload_size_exponent(context_.description.payload_size) & 0x1Fu;
    payload_.assign(context_.description.payload_size, 0);
}

uint64_t MailboxModel::read(uint64_t offset, unsigned width) {
    TimePoint now = context_.now();
    enter(now);
    if (offset < kPayloadOffset) {
        if (width == 4) {
            return read_register(offset, now);
        }
        if (width == 8) {
            uint64_t lo = read_register(offset, now);
            return lo | (uint64_t{read_register(offset + 4, now)} << 32);
        }
        return 0;
    }
    uint64_t p = offset - kPayloadOffset;
    if (width == 0 || width > 8 || p + width > payload_.size()) {
        return 0;
    }
    return load_le(payload_, p, width);
}

void MailboxModel::write(uint64_t offset, unsigned width, uint64_t value) {
    TimePoint now = context_.now();
    enter(now);
    if (offset < kPayloadOffset) {
        if (width == 4) {
            write_register(offset, static_cast<uint32_t>(value), now);
        } else if (width == 8) {
            write_register(offset, static_cast<uint32_t>(value), now);
            write_register(offset + 4, static_cast<uint32_t>(value >> 32), now);
        }
        return;
    }
    uint64_t p = offset - kPayloadOffset;
    if (doorbell_ != Doorbell::Idle || width == 0 || width > 8 || p + width > payload_.size()) {
        return;
    }
    store_le(payload_, p, value, width);
}

void MailboxModel::enter(TimePoint now) {
    advance(now);
    if (doorbell_ == Doorbell::Idle && context_.faults.consume(Fault::MailboxBusy)) {
        doorbell_ = Doorbell::ForeignBusy;
        doorbell_until_ = now + timing_.busy_fault;
    }
}

void MailboxModel::advance(TimePoint now) {
    // Completions happen in time order: a background operation that ended before a command
    // completed must no longer make that command Busy.
    for (;;) {
        bool command_due = doorbell_ != Doorbell::Idle && doorbell_until_ <= now;
        bool background_due = background_.running && background_.end <= now;
        if (!command_due && !background_due) {
            return;
        }
        if (background_due && (!command_due || background_.end <= doorbell_until_)) {
            complete_background();
            continue;
        }
        Doorbell was = doorbell_;
        doorbell_ = Doorbell::Idle;
        if (was == Doorbell::Running) {
            complete_command(doorbell_until_);
        } else if (was == Doorbell::Hung) {
            return_code_ = static_cast<uint16_t>(ReturnCode::InternalError);
            command_ &= ~(kLengthMask << kLengthShift);
        }
    }
}

void MailboxModel::complete_command(TimePoint at) {
    auto opcode = static_cast<uint16_t>(command_ & 0xFFFFu);
    uint64_t length = (command_ >> kLengthShift) & kLengthMask;
    CommandOutcome out;
    if (length > payload_.size()) {
        out.rc = ReturnCode::InvalidPayloadLength;
    } else {
        auto effects = commands_->effects(opcode);
        if (effects && (*effects & effect::kBackgroundOperation) != 0 && background_.running) {
            out.rc = ReturnCode::Busy;
        } else {
            out = commands_->execute(opcode, std::span(payload_).first(length), at,
                                     background_status(at));
        }
    }
    if (out.abort_background && background_.running) {
        abort_background(at);
    }
    if (out.output.size() > payload_.size()) {
        throw std::logic_error("emulated mailbox: a handler produced more than the payload size");
    }
    bool ok = out.rc == ReturnCode::Success || out.rc == ReturnCode::BackgroundStarted;
    uint64_t out_length = ok ? out.output.size() : 0;
    if (ok) {
        std::copy(out.output.begin(), out.output.end(), payload_.begin());
    }
    if (context_.faults.consume(Fault::MailboxLengthLie)) {
        out_length = payload_.size() + kLengthLieExcess;
    }
    command_ = (command_ & ~(kLengthMask << kLengthShift)) | (out_length << kLengthShift);
    return_code_ = static_cast<uint16_t>(out.rc);
    if (out.rc == ReturnCode::BackgroundStarted && out.background) {
        background_ = Background{true, opcode, at, at + out.background->duration, 0, 0, true};
    }
    // Commands without effects only read; a failed command changes nothing (a transfer dropped
    // for its gap is dropped again by time in the next process).
    auto effects = commands_->effects(opcode);
    if (ok && effects && *effects != 0) {
        save_logged(at);
    }
}

void MailboxModel::complete_background() {
    ReturnCode rc = commands_->finish_background();
    background_.return_code = static_cast<uint16_t>(rc);
    background_.final_percent = 100;
    background_.running = false;
    save_logged(background_.end);
}

void MailboxModel::abort_background(TimePoint at) {
    background_.final_percent = running_percent(at);
    commands_->abort_background(background_.final_percent);
    background_.return_code = static_cast<uint16_t>(ReturnCode::Aborted);
    background_.running = false;
}

uint8_t MailboxModel::running_percent(TimePoint now) const {
    auto total = background_.end - background_.start;
    auto elapsed = now - background_.start;
    // 100% is reported only together with the final return code.
    return total.count() <= 0 ? 99
                              : static_cast<uint8_t>(std::min<int64_t>(99, elapsed * 100 / total));
}

BackgroundStatus MailboxModel::background_status(TimePoint now) const {
    BackgroundStatus s;
    if (!background_.ever_ran) {
        return s;
    }
    s.opcode = background_.opcode;
    if (!background_.running) {
        s.percent = background_.final_percent;
        s.return_code = background_.return_code;
        return s;
    }
    s.running = true;
    s.percent = running_percent(now);
    return s;
}

uint32_t MailboxModel::read_register(uint64_t offset, TimePoint now) {
    switch (offset) {
        case kRegCapabilities:
            return capabilities_;
        case kRegControl:
            return doorbell_ != Doorbell::Idle ? kControlDoorbell : 0;
        case kRegCommandLow:
            return static_cast<uint32_t>(command_);
        case kRegCommandHigh:
            return static_cast<uint32_t>(command_ >> 32);
        case kRegStatusLow:
            return background_.running ? 1u : 0u;
        case kRegStatusHigh:
            return return_code_;  // Status [47:32]
        case kRegBgStatusLow: {
            auto s = background_status(now);
            return s.opcode | (uint32_t{s.percent} << 16);
        }
        case kRegBgStatusHigh:
            return background_status(now).return_code;
        default:
            return 0;
    }
}

void MailboxModel::write_register(uint64_t offset, uint32_t value, TimePoint now) {
    switch (offset) {
        case kRegControl:
            if ((value & kControlDoorbell) != 0 && doorbell_ == Doorbell::Idle) {
                if (context_.faults.consume(Fault::MailboxTimeout)) {
                    doorbell_ = Doorbell::Hung;
                    doorbell_until_ = now + timing_.timeout_fault;
                } else {
                    doorbell_ = Doorbell::Running;
                    doorbell_until_ = now + timing_.latency;
                }
            }
            return;
        case kRegCommandLow:
            if (doorbell_ == Doorbell::Idle) {
                command_ = (command_ & 0xFFFFFFFF00000000ull) | value;
            }
            return;
        case kRegCommandHigh:
            if (doorbell_ == Doorbell::Idle) {
                command_ = (command_ & 0xFFFFFFFFull) | (uint64_t{value} << 32);
            }
            return;
        default:
            return;  // read-only
    }
}

Status MailboxModel::inject_event(EventLog log, EventKind kind, const nlohmann::json& fields) {
    TimePoint now = context_.now();
    advance(now);
    CXLMGR_CHECK(commands_->inject_event(log, kind, fields, now));
    // The record is in the log either way; the caller learns that it may not outlive us.
    return save(now);
}

bool MailboxModel::firmware_transfer_open() {
    TimePoint now = context_.now();
    advance(now);
    return commands_->firmware_transfer_open(now);
}

// The state file (emu/device_state.hpp). Durations are saved relative to `now`; the wall clock
// of the save lets the next process age them by the time no process held the device.
nlohmann::json MailboxModel::state(TimePoint now) const {
    nlohmann::json s = {{"format", state::kFormat},
                        {"version", state::kVersion},
                        {"device", context_.description.name},
                        {"saved_at_unix_ns", state::unix_now_ns()}};
    commands_->save_state(s, now);
    if (background_.running) {
        s["background"] = {
            {"running", true},
            {"opcode", background_.opcode},
            {"total_ns", duration_cast<nanoseconds>(background_.end - background_.start).count()},
            {"remaining_ns",
             std::max<int64_t>(0, duration_cast<nanoseconds>(background_.end - now).count())}};
    } else if (background_.ever_ran) {
        s["background"] = {{"running", false},
                           {"opcode", background_.opcode},
                           {"return_code", background_.return_code},
                           {"percent", background_.final_percent}};
    } else {
        s["background"] = nullptr;
    }
    return s;
}

Status MailboxModel::restore(const nlohmann::json& s, TimePoint now) {
    CXLMGR_ASSIGN(std::string format, state::get_string(s, "format"));
    CXLMGR_ASSIGN(uint64_t version, state::get_uint(s, "version"));
    if (format != state::kFormat || version != state::kVersion) {
        return Error(Errc::InvalidArgument, "not a version " + std::to_string(state::kVersion) +
                                                " '" + std::string(state::kFormat) + "' file");
    }
    CXLMGR_ASSIGN(int64_t saved_at, state::get_int(s, "saved_at_unix_ns"));
    auto aged = nanoseconds(std::max<int64_t>(0, state::unix_now_ns() - saved_at));
    CXLMGR_CHECK(commands_->restore_state(s, now, aged));

    Background b;
    CXLMGR_ASSIGN(const nlohmann::json* bg, state::member(s, "background"));
    if (!bg->is_null()) {
        auto read = [&]() -> Status {
            CXLMGR_ASSIGN(b.running, state::get_bool(*bg, "running"));
            CXLMGR_ASSIGN(uint64_t opcode, state::get_uint(*bg, "opcode", UINT16_MAX));
            b.opcode = static_cast<uint16_t>(opcode);
            b.ever_ran = true;
            if (b.running) {
                auto effects = commands_->effects(b.opcode);
                if (!effects || (*effects & effect::kBackgroundOperation) == 0) {
                    return Error(Errc::InvalidArgument,
                                 "'opcode' " + hex(b.opcode, 4) +
                                     " is not a background command of this device");
                }
                CXLMGR_ASSIGN(uint64_t total, state::get_uint(*bg, "total_ns", INT64_MAX));
                CXLMGR_ASSIGN(uint64_t remaining, state::get_uint(*bg, "remaining_ns", total));
                auto left = std::max<nanoseconds>(nanoseconds(remaining) - aged, nanoseconds(0));
                b.end = now + left;
                b.start = b.end - nanoseconds(total);
            } else {
                CXLMGR_ASSIGN(uint64_t rc, state::get_uint(*bg, "return_code", UINT16_MAX));
                CXLMGR_ASSIGN(uint64_t percent, state::get_uint(*bg, "percent", 100));
                b.return_code = static_cast<uint16_t>(rc);
                b.final_percent = static_cast<uint8_t>(percent);
            }
            return ok_status();
        };
        if (auto st = read(); !st.ok()) {
            return st.error().with_context("'background'");
        }
    }
    if (b.running != commands_->background_pending()) {
        return Error(Errc::InvalidArgument,
                     b.running ? "'background' runs but the firmware has no work in flight"
                               : "the firmware has work in flight but 'background' is not running");
    }
    background_ = b;
    return ok_status();
}

Status MailboxModel::save(TimePoint now) {
    const std::string& path = context_.description.state_file;
    if (path.empty()) {
        return ok_status();
    }
    return state::save(path, state(now));
}

void MailboxModel::save_logged(TimePoint now) {
    if (auto st = save(now); !st.ok()) {
        log::error(context_.description.name,
                   ": the emulated device's state was not saved: ", st.error().describe());
    }
}

}  // namespace cxlmgr::emu
