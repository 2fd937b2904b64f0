#include "emu/faults.hpp"

#include <string>

namespace cxlmgr::emu {
namespace {

constexpr std::array<std::string_view, static_cast<unsigned>(Fault::kCount)> kNames = {
    "mailbox-timeout", "mailbox-busy",      "mailbox-length-lie",
    "doe-busy",        "doe-error",         "doe-never-ready",
    "doe-length-lie",  "bad-cdat-checksum", "truncated-cdat-entry",
    "fw-verify-fail",  "surprise-removal",  "sanitize-fail",
};

}  // namespace

std::string_view fault_name(Fault fault) {
    return kNames.at(static_cast<unsigned>(fault));
}

Result<Fault> parse_fault(std::string_view name) {
    for (unsigned i = 0; i < kNames.size(); ++i) {
        if (kNames[i] == name) {
            return static_cast<Fault>(i);
        }
    }
    std::string known;
    for (auto n : kNames) {
        known += known.empty() ? "" : ", ";
        known += n;
    }
    return Error(Errc::InvalidArgument,
                 "unknown fault '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace cxlmgr::emu
