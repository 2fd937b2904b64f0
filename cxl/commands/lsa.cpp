#include "cxl/commands/lsa.hpp"

namespace cxlmgr::cxl {
namespace {

constexpr const CommandSpec& kGetSpec = command_spec(opcode::kGetLsa);
constexpr const CommandSpec& kSetSpec = command_spec(opcode::kSetLsa);

Error refuse(const CommandSpec& spec, const std::string& why) {
    return Error(Errc::InvalidArgument, std::string(spec.name) + ": " + why);
}

}  // namespace

Result<Command<Bytes>> get_lsa(uint32_t offset, uint32_t length, uint32_t payload_size) {
    if (length == 0 || length > payload_size) {
        return refuse(kGetSpec, "the length must be 1 to the " + std::to_string(payload_size) +
                                    "-byte payload size, not " + std::to_string(length));
    }
    if (uint64_t{offset} + length > (uint64_t{1} << 32)) {
        return refuse(kGetSpec, "offset " + hex(offset) + " + length " + std::to_string(length) +
                                    " is past the 32-bit label storage area");
    }
    Bytes in(kGetLsaInputSize, 0);
    store_le(in, 0, offset, 4);
    store_le(in, 4, length, 4);
    return make_command<Bytes>(kGetSpec, std::move(in),
                               [length](ByteSpan out) { return decode_lsa(out, length); });
}

Result<Bytes> decode_lsa(ByteSpan out, uint32_t length) {
    CXLMGR_CHECK(check_min_length(out, length, kGetSpec.name));
    return Bytes(out.begin(), out.begin() + length);
}

Result<Command<Unit>> set_lsa(uint32_t offset, ByteSpan data, uint32_t payload_size) {
    if (data.empty() || data.size() > set_lsa_max_data(payload_size)) {
        return refuse(kSetSpec, "the data must be 1 to " +
                                    std::to_string(set_lsa_max_data(payload_size)) +
                                    " bytes with a " + std::to_string(payload_size) +
                                    "-byte payload, not " + std::to_string(data.size()));
    }
    if (uint64_t{offset} + data.size() > (uint64_t{1} << 32)) {
        return refuse(kSetSpec, "offset " + hex(offset) + " + " + std::to_string(data.size()) +
                                    " bytes is past the 32-bit label storage area");
    }
    Bytes in(kSetLsaHeaderSize + data.size(), 0);
    store_le(in, 0, offset, 4);
    std::copy(data.begin(), data.end(), in.begin() + kSetLsaHeaderSize);
    return make_command<Unit>(kSetSpec, std::move(in), decode_nothing);
}

}  // namespace cxlmgr::cxl
