#include "emu/doe_responder.hpp"

namespace cxlmgr::emu {
namespace {

// Register offsets within the DOE capability and their bits (PCIe r6 7.9.24).
constexpr uint64_t kControl = 0x08;
constexpr uint64_t kStatus = 0x0C;
constexpr uint64_t kWriteMailbox = 0x10;
constexpr uint64_t kReadMailbox = 0x14;
constexpr uint32_t kAbort = 1u << 0;
constexpr uint32_t kGo = 1u << 31;
constexpr uint32_t kBusy = 1u << 0;
constexpr uint32_t kError = 1u << 2;
constexpr uint32_t kReady = 1u << 31;

constexpr uint32_t kMaxDwords = 1u << 18;  // a length field of 0 means this many

constexpr uint32_t kPciSigVendor = 0x0001;
constexpr uint32_t kCxlVendor = 0x1E98;
constexpr uint32_t kDiscoveryType = 0;
constexpr uint32_t kTableAccessType = 2;

constexpr uint32_t object_header(uint32_t vendor, uint32_t type) {
    return vendor | (type << 16);
}

// What Discovery reports, in index order.
constexpr std::pair<uint32_t, uint32_t> kProtocols[] = {
    {kPciSigVendor, kDiscoveryType},
    {kCxlVendor, kTableAccessType},
};

Result<std::chrono::microseconds> response_delay(const nlohmann::json& timing) {
    auto it = timing.find("doe_response_us");
    if (it == timing.end()) {
        return std::chrono::microseconds(0);
    }
    if (!(it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0)) ||
        it->get<uint64_t>() > 60'000'000) {
        return Error(Errc::InvalidArgument,
                     "emulated device description: timing "
                     "'doe_response_us' must be an integer 0..60000000");
    }
    return std::chrono::microseconds(it->get<uint64_t>());
}

}  // namespace

Result<std::unique_ptr<DoeResponder>> DoeResponder::create(DeviceContext& context) {
    CXLMGR_ASSIGN(auto cdat, build_cdat(context.description));
    CXLMGR_ASSIGN(auto delay, response_delay(context.description.timing));
    return std::unique_ptr<DoeResponder>(new DoeResponder(context, std::move(cdat), delay));
}

DoeResponder::DoeResponder(DeviceContext& context, CdatImage cdat, std::chrono::microseconds delay)
    : context_(context), cdat_(std::move(cdat)), delay_(delay) {}

void DoeResponder::advance() {
    if (phase_ == Phase::Processing && context_.now() >= ready_at_) {
        phase_ = Phase::Responding;
    }
}

uint32_t DoeResponder::status() {
    advance();
    uint32_t s = 0;
    if (phase_ == Phase::Processing || phase_ == Phase::NeverReady ||
        context_.faults.armed(Fault::DoeBusy)) {
        s |= kBusy;
    }
    if (error_) {
        s |= kError;
    }
    if (phase_ == Phase::Responding && served_ < response_.size()) {
        s |= kReady;
    }
    return s;
}

uint64_t DoeResponder::read(uint64_t offset, unsigned width) {
    if (width != 4) {
        // Narrow reads of Control/Status have no side effects; of the mailboxes they are ignored.
        uint64_t base = offset & ~uint64_t{3};
        if (width > 4 || (base != kControl && base != kStatus)) {
            return 0;
        }
        uint32_t v = base == kStatus ? status() : 0;
        return (v >> (8 * (offset - base))) & ((1ull << (8 * width)) - 1);
    }
    switch (offset) {
        case kControl:
            return 0;  // Abort and Go read as 0; no interrupt support
        case kStatus:
            return status();
        case kReadMailbox:
            advance();
            if (phase_ == Phase::Responding && served_ < response_.size()) {
                return response_[served_];
            }
            error_ = true;  // nothing to read: the host ran past the end of the object
            return 0;
        default:
            return 0;  // the Write mailbox reads as 0
    }
}

void DoeResponder::write(uint64_t offset, unsigned width, uint64_t value) {
    if (width != 4) {
        return;
    }
    auto v = static_cast<uint32_t>(value);
    switch (offset) {
        case kControl:
            if (v & kAbort) {
                abort();
            } else if (v & kGo) {
                go();
            }
            break;
        case kWriteMailbox:
            // Past the largest object the request can only be discarded; stop storing it.
            if (request_.size() <= kMaxDwords) {
                request_.push_back(v);
            }
            break;
        case kReadMailbox:
            advance();
            if (phase_ == Phase::Responding && served_ < response_.size()) {
                ++served_;
            }
            break;
        default:
            break;
    }
}

void DoeResponder::abort() {
    request_.clear();
    response_.clear();
    served_ = 0;
    error_ = false;
    phase_ = Phase::Idle;
    context_.faults.consume(Fault::DoeBusy);
}

void DoeResponder::go() {
    std::vector<uint32_t> request = std::move(request_);
    request_.clear();
    advance();
    if ((status() & kBusy) || error_) {
        return;  // a Go while busy or in error is not accepted; the requester must abort
    }
    response_.clear();
    served_ = 0;
    phase_ = Phase::Idle;
    if (context_.faults.consume(Fault::DoeError)) {
        error_ = true;
        return;
    }
    if (request.size() < 2) {
        return;
    }
    uint32_t length = request[1] & (kMaxDwords - 1);
    if (length == 0) {
        length = kMaxDwords;
    }
    if (length != request.size()) {
        return;  // PCIe r6 6.30.1: silently discarded
    }
    std::vector<uint32_t> response = answer(request);
    if (response.empty()) {
        error_ = true;
        return;
    }
    if (context_.faults.consume(Fault::DoeLengthLie)) {
        response[1] = (response[1] + 2) & (kMaxDwords - 1);
    }
    response_ = std::move(response);
    if (context_.faults.consume(Fault::DoeNeverReady)) {
        phase_ = Phase::NeverReady;
        return;
    }
    phase_ = Phase::Processing;
    ready_at_ = context_.now() + delay_;
}

std::vector<uint32_t> DoeResponder::answer(const std::vector<uint32_t>& request) {
    uint32_t vendor = request[0] & 0xFFFF;
    uint32_t type = (request[0] >> 16) & 0xFF;
    if (vendor == kPciSigVendor && type == kDiscoveryType) {
        return answer_discovery(request);
    }
    if (vendor == kCxlVendor && type == kTableAccessType) {
        return answer_cdat(request);
    }
    return {};
}

std::vector<uint32_t> DoeResponder::answer_discovery(const std::vector<uint32_t>& request) {
    if (request.size() != 3) {
        return {};
    }
    uint32_t index = request[2] & 0xFF;
    uint32_t count = std::size(kProtocols);
    // An index past the table gets vendor 0xFFFF, type 0xFF, as QEMU answers.
    uint32_t vendor = 0xFFFF, type = 0xFF, next = 0;
    if (index < count) {
        vendor = kProtocols[index].first;
        type = kProtocols[index].second;
        next = index + 1 < count ? index + 1 : 0;
    }
    return {object_header(kPciSigVendor, kDiscoveryType), 3, vendor | (type << 16) | (next << 24)};
}

std::vector<uint32_t> DoeResponder::answer_cdat(const std::vector<uint32_t>& request) {
    if (request.size() != 3) {
        return {};
    }
    uint32_t code = request[2] & 0xFF;
    uint32_t table_type = (request[2] >> 8) & 0xFF;
    uint32_t handle = request[2] >> 16;
    const auto& entries = cdat_.entries;
    if (code != 0 || table_type != 0 || handle >= entries.size()) {
        return {};
    }
    auto [offset, length] = entries[handle];
    std::vector<uint8_t> bytes(cdat_.table.begin() + offset, cdat_.table.begin() + offset + length);
    if (handle == 0 && bytes.size() > 5 && context_.faults.consume(Fault::BadCdatChecksum)) {
        bytes[5] = static_cast<uint8_t>(bytes[5] + 1);
    }
    uint32_t truncate_handle = entries.size() > 1 ? 1 : 0;
    if (handle == truncate_handle && context_.faults.consume(Fault::TruncatedCdatEntry)) {
        bytes.resize(bytes.size() > 4 ? bytes.size() - 4 : 0);
    }
    uint32_t next = handle + 1 < entries.size() ? handle + 1 : 0xFFFF;
    std::vector<uint32_t> response{object_header(kCxlVendor, kTableAccessType), 0, next << 16};
    for (size_t i = 0; i < bytes.size(); i += 4) {
        uint32_t dw = 0;
        for (size_t b = 0; b < 4 && i + b < bytes.size(); ++b) {
            dw |= static_cast<uint32_t>(bytes[i + b]) << (8 * b);
        }
        response.push_back(dw);
    }
    response[1] = static_cast<uint32_t>(response.size()) & (kMaxDwords - 1);
    return response;
}

}  // namespace cxlmgr::emu
