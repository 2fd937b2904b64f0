#include "emu/mailbox_model.hpp"

#include <algorithm>
#include <stdexcept>

namespace cxlmgr::emu {
namespace {

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
    return std::unique_ptr<MailboxModel>(new MailboxModel(context, timing, std::move(commands)));
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
        background_ = Background{
            true, opcode, at, at + out.background->duration, std::move(out.background->finish),
            0,    true};
    }
}

void MailboxModel::complete_background() {
    ReturnCode rc = background_.finish ? background_.finish() : ReturnCode::InternalError;
    background_.return_code = static_cast<uint16_t>(rc);
    background_.running = false;
    background_.finish = nullptr;
}

BackgroundStatus MailboxModel::background_status(TimePoint now) const {
    BackgroundStatus s;
    if (!background_.ever_ran) {
        return s;
    }
    s.opcode = background_.opcode;
    if (!background_.running) {
        s.percent = 100;
        s.return_code = background_.return_code;
        return s;
    }
    s.running = true;
    auto total = background_.end - background_.start;
    auto elapsed = now - background_.start;
    // 100% is reported only together with the final return code.
    s.percent = total.count() <= 0
                    ? 99
                    : static_cast<uint8_t>(std::min<int64_t>(99, elapsed * 100 / total));
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
    return commands_->inject_event(log, kind, fields, context_.now());
}

bool MailboxModel::firmware_transfer_open() {
    TimePoint now = context_.now();
    advance(now);
    return commands_->firmware_transfer_open(now);
}

}  // namespace cxlmgr::emu
