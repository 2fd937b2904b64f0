#include "cxl/command_table.hpp"

#include "common/hex.hpp"

namespace cxlmgr::cxl {

namespace opcode {

std::string_view name(uint16_t op) {
    const CommandSpec* spec = find_command(op);
    return spec != nullptr ? spec->name : std::string_view();
}

std::string describe(uint16_t op) {
    const CommandSpec* spec = find_command(op);
    if (spec == nullptr) {
        return "command " + hex(op, 4);
    }
    return std::string(spec->name) + " (" + hex(op, 4) + ")";
}

}  // namespace opcode

std::string describe_input(const InputLength& input) {
    switch (input.rule) {
        case InputRule::None:
            return "none";
        case InputRule::Exactly:
            return "exactly " + std::to_string(input.bytes) + " bytes";
        case InputRule::AtLeast:
            return "at least " + std::to_string(input.bytes) + " bytes";
        case InputRule::Variable:
            return "variable";
    }
    return "unknown";
}

Status check_input(const CommandSpec& spec, size_t input_size, uint32_t payload_size) {
    const std::string got = std::to_string(input_size);
    auto refuse = [&](const std::string& rule) {
        return Error(Errc::InvalidArgument,
                     std::string(spec.name) + " takes " + rule + ", not " + got);
    };
    switch (spec.input.rule) {
        case InputRule::None:
            if (input_size != 0) {
                return refuse("no input bytes");
            }
            return ok_status();
        case InputRule::Exactly:
            if (input_size != spec.input.bytes) {
                return refuse("exactly " + std::to_string(spec.input.bytes) + " bytes of input");
            }
            break;
        case InputRule::AtLeast:
            if (input_size < spec.input.bytes) {
                return refuse("at least " + std::to_string(spec.input.bytes) + " bytes of input");
            }
            break;
        case InputRule::Variable:
            break;
    }
    if (payload_size != 0 && input_size > payload_size) {
        return refuse("at most the " + std::to_string(payload_size) +
                      "-byte payload size of input");
    }
    return ok_status();
}

}  // namespace cxlmgr::cxl
