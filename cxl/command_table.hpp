// The host's one table of mailbox commands: for every opcode the host knows, its specification
// name (which every message about the command uses), the input length rule, the minimum output
// length, what the command changes on the device (the raw command policy reads this), and, for
// background commands, how long a run is expected to take (the mailbox scales its completion
// polling to it) and how long it may take. Opcode numbers are spelled here and nowhere else on the
// host side; return codes live in cxl/return_code.hpp. The emulated device (emu/) keeps its own
// table on purpose: it is the other side of the wire. How to add a command: docs/COMMANDS.md.
//
// The table is constexpr, so a builder names its row at compile time (command_spec(), which
// fails to compile for an opcode without a row) and sizes elsewhere can be derived from it.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace cxlmgr::cxl {

// Opcodes: [15:8] command set, [7:0] command.
namespace opcode {
inline constexpr uint16_t kIdentify = 0x0001;  // generic component Identify (switch/LD CCIs)
inline constexpr uint16_t kBackgroundOperationStatus = 0x0002;
inline constexpr uint16_t kRequestAbortBackgroundOperation = 0x0005;
inline constexpr uint16_t kGetEventRecords = 0x0100;
inline constexpr uint16_t kClearEventRecords = 0x0101;
inline constexpr uint16_t kGetEventInterruptPolicy = 0x0102;
inline constexpr uint16_t kSetEventInterruptPolicy = 0x0103;
inline constexpr uint16_t kGetFwInfo = 0x0200;
inline constexpr uint16_t kTransferFw = 0x0201;
inline constexpr uint16_t kActivateFw = 0x0202;
inline constexpr uint16_t kGetTimestamp = 0x0300;
inline constexpr uint16_t kSetTimestamp = 0x0301;
inline constexpr uint16_t kGetSupportedLogs = 0x0400;
inline constexpr uint16_t kGetLog = 0x0401;
inline constexpr uint16_t kGetSupportedFeatures = 0x0500;
inline constexpr uint16_t kGetFeature = 0x0501;
inline constexpr uint16_t kSetFeature = 0x0502;
inline constexpr uint16_t kIdentifyMemoryDevice = 0x4000;
inline constexpr uint16_t kGetPartitionInfo = 0x4100;
inline constexpr uint16_t kGetLsa = 0x4102;
inline constexpr uint16_t kSetLsa = 0x4103;
inline constexpr uint16_t kGetHealthInfo = 0x4200;
inline constexpr uint16_t kGetAlertConfig = 0x4201;
inline constexpr uint16_t kSetAlertConfig = 0x4202;
inline constexpr uint16_t kGetShutdownState = 0x4203;
inline constexpr uint16_t kSetShutdownState = 0x4204;
inline constexpr uint16_t kGetPoisonList = 0x4300;
inline constexpr uint16_t kInjectPoison = 0x4301;
inline constexpr uint16_t kClearPoison = 0x4302;
inline constexpr uint16_t kGetScanMediaCapabilities = 0x4303;
inline constexpr uint16_t kScanMedia = 0x4304;
inline constexpr uint16_t kGetScanMediaResults = 0x4305;
inline constexpr uint16_t kSanitize = 0x4400;
inline constexpr uint16_t kSecureErase = 0x4401;
inline constexpr uint16_t kMediaOperations = 0x4402;
inline constexpr uint16_t kGetSecurityState = 0x4500;

// "Get Health Info" for a known opcode, empty otherwise.
std::string_view name(uint16_t opcode);
// "Get Health Info (0x4200)", or "command 0x1234" for an unknown opcode: for messages.
std::string describe(uint16_t opcode);
}  // namespace opcode

// How long the input payload must be.
enum class InputRule : uint8_t {
    None,      // no input
    Exactly,   // exactly `bytes`
    AtLeast,   // a `bytes`-long header, then variable data up to the payload size
    Variable,  // anything up to the payload size
};

struct InputLength {
    InputRule rule = InputRule::None;
    uint32_t bytes = 0;
};

inline constexpr InputLength kNoInput{InputRule::None, 0};
constexpr InputLength exactly(uint32_t bytes) {
    return {InputRule::Exactly, bytes};
}
constexpr InputLength at_least(uint32_t bytes) {
    return {InputRule::AtLeast, bytes};
}
inline constexpr InputLength kVariableInput{InputRule::Variable, 0};

// What a command changes, after the Command Effects Log's columns. A command with none of
// these only reads.
enum class Effect : uint16_t {
    Config = 1u << 0,      // configuration (immediately or after a reset)
    Data = 1u << 1,        // data or media contents
    Policy = 1u << 2,      // a policy (alerts, timestamps, shutdown state)
    Log = 1u << 3,         // a log's contents (clearing event records)
    Security = 1u << 4,    // security state
    Background = 1u << 5,  // may run as a background operation
};

class Effects {
public:
    constexpr Effects() = default;
    constexpr Effects(Effect e) : bits_(static_cast<uint16_t>(e)) {}  // NOLINT: a set of one
    [[nodiscard]] constexpr bool has(Effect e) const {
        return (bits_ & static_cast<uint16_t>(e)) != 0;
    }
    [[nodiscard]] constexpr bool none() const { return bits_ == 0; }
    [[nodiscard]] constexpr uint16_t bits() const { return bits_; }
    constexpr Effects operator|(Effects other) const { return Effects(bits_ | other.bits_); }
    constexpr bool operator==(const Effects&) const = default;

private:
    constexpr explicit Effects(unsigned bits) : bits_(static_cast<uint16_t>(bits)) {}
    uint16_t bits_ = 0;
};

constexpr Effects operator|(Effect a, Effect b) {
    return Effects(a) | Effects(b);
}

// The mailbox's default limit for a background operation; rows that need more say so.
inline constexpr std::chrono::milliseconds kDefaultBackgroundTimeout{30000};
// Linux gives each Transfer FW 30 x 1 s of background polling; slow flash parts need more.
inline constexpr std::chrono::milliseconds kFirmwareBackgroundTimeout{60000};
// Scan Media walks the whole media.
inline constexpr std::chrono::milliseconds kScanMediaBackgroundTimeout{std::chrono::minutes(30)};
// Sanitize and Media Operations overwrite every cell: hours on large devices.
inline constexpr std::chrono::milliseconds kMediaBackgroundTimeout{std::chrono::hours(4)};

// How long a background command is expected to run on a typical device: the mailbox derives its
// completion polling from it (background_poll_backoff in cxl/mailbox.hpp). Not a limit.
// One Transfer FW part (one payload of flash): milliseconds on fast parts, seconds on slow ones.
inline constexpr std::chrono::milliseconds kFirmwarePartExpected{5};
// Activate FW swaps slots (online) or only marks one for the next reset.
inline constexpr std::chrono::milliseconds kActivateExpected{100};
inline constexpr std::chrono::milliseconds kScanMediaExpected{std::chrono::seconds(10)};
inline constexpr std::chrono::milliseconds kMediaExpected{std::chrono::minutes(1)};

struct CommandSpec {
    uint16_t opcode = 0;
    std::string_view name;  // as the CXL specification spells it
    InputLength input;
    uint32_t min_output = 0;  // bytes a successful answer carries at least
    Effects effects;
    std::chrono::milliseconds background_timeout = kDefaultBackgroundTimeout;
    // Background commands only: how long a run usually takes (0: not a background command).
    std::chrono::milliseconds expected_duration{0};

    // No effect flag: the command only reads.
    [[nodiscard]] constexpr bool read_only() const { return effects.none(); }
};

// Sorted by opcode (checked at compile time below).
inline constexpr std::array kCommandTable = {
    // clang-format off
    //          opcode                                    name                                   input           min out  effects  background timeout, expected duration
    CommandSpec{opcode::kIdentify,                         "Identify",                           kNoInput,       0x12,    {}},
    CommandSpec{opcode::kBackgroundOperationStatus,        "Background Operation Status",        kNoInput,       8,       {}},
    // Stops whatever the operation was changing, part way through.
    CommandSpec{opcode::kRequestAbortBackgroundOperation,  "Request Abort Background Operation", kNoInput,       0,       Effect::Config | Effect::Data},
    // Reading does not remove records: Clear Event Records does.
    CommandSpec{opcode::kGetEventRecords,                  "Get Event Records",                  exactly(1),     0x20,    {}},
    CommandSpec{opcode::kClearEventRecords,                "Clear Event Records",                at_least(6),    0,       Effect::Log},
    CommandSpec{opcode::kGetEventInterruptPolicy,          "Get Event Interrupt Policy",         kNoInput,       4,       {}},
    // Four bytes in CXL 2.0, five with the r3.1 dynamic capacity log.
    CommandSpec{opcode::kSetEventInterruptPolicy,          "Set Event Interrupt Policy",         at_least(4),    0,       Effect::Config},
    CommandSpec{opcode::kGetFwInfo,                        "Get FW Info",                        kNoInput,       0x50,    {}},
    CommandSpec{opcode::kTransferFw,                       "Transfer FW",                        at_least(0x80), 0,       Effect::Config | Effect::Background, kFirmwareBackgroundTimeout, kFirmwarePartExpected},
    CommandSpec{opcode::kActivateFw,                       "Activate FW",                        exactly(2),     0,       Effect::Config | Effect::Background, kFirmwareBackgroundTimeout, kActivateExpected},
    CommandSpec{opcode::kGetTimestamp,                     "Get Timestamp",                      kNoInput,       8,       {}},
    CommandSpec{opcode::kSetTimestamp,                     "Set Timestamp",                      exactly(8),     0,       Effect::Policy},
    CommandSpec{opcode::kGetSupportedLogs,                 "Get Supported Logs",                 kNoInput,       8,       {}},
    // A log's tail is shorter than what was asked, down to nothing.
    CommandSpec{opcode::kGetLog,                           "Get Log",                            exactly(0x18),  0,       {}},
    CommandSpec{opcode::kGetSupportedFeatures,             "Get Supported Features",             exactly(8),     8,       {}},
    CommandSpec{opcode::kGetFeature,                       "Get Feature",                        exactly(0x15),  0,       {}},
    // What a feature changes depends on the feature: assume everything.
    CommandSpec{opcode::kSetFeature,                       "Set Feature",                        at_least(0x20), 0,       Effect::Config | Effect::Data | Effect::Policy | Effect::Log | Effect::Security},
    // 0x43 bytes in CXL 2.0; r3.1 appends the dynamic capacity event log size.
    CommandSpec{opcode::kIdentifyMemoryDevice,             "Identify Memory Device",             kNoInput,       0x43,    {}},
    CommandSpec{opcode::kGetPartitionInfo,                 "Get Partition Info",                 kNoInput,       0x20,    {}},
    CommandSpec{opcode::kGetLsa,                           "Get LSA",                            exactly(8),     0,       {}},
    CommandSpec{opcode::kSetLsa,                           "Set LSA",                            at_least(8),    0,       Effect::Config | Effect::Data},
    // The same 0x12-byte layout is embedded in Memory Module event records.
    CommandSpec{opcode::kGetHealthInfo,                    "Get Health Info",                    kNoInput,       0x12,    {}},
    CommandSpec{opcode::kGetAlertConfig,                   "Get Alert Configuration",            kNoInput,       0x10,    {}},
    CommandSpec{opcode::kSetAlertConfig,                   "Set Alert Configuration",            exactly(0x0C),  0,       Effect::Policy},
    CommandSpec{opcode::kGetShutdownState,                 "Get Shutdown State",                 kNoInput,       1,       {}},
    CommandSpec{opcode::kSetShutdownState,                 "Set Shutdown State",                 exactly(1),     0,       Effect::Policy},
    CommandSpec{opcode::kGetPoisonList,                    "Get Poison List",                    exactly(0x10),  0x20,    {}},
    CommandSpec{opcode::kInjectPoison,                     "Inject Poison",                      exactly(8),     0,       Effect::Data | Effect::Log},
    CommandSpec{opcode::kClearPoison,                      "Clear Poison",                       exactly(0x48),  0,       Effect::Data | Effect::Log},
    CommandSpec{opcode::kGetScanMediaCapabilities,         "Get Scan Media Capabilities",        exactly(0x10),  4,       {}},
    // Adds what it finds to the poison list.
    CommandSpec{opcode::kScanMedia,                        "Scan Media",                         exactly(0x11),  0,       Effect::Log | Effect::Background, kScanMediaBackgroundTimeout, kScanMediaExpected},
    CommandSpec{opcode::kGetScanMediaResults,              "Get Scan Media Results",             kNoInput,       0x20,    {}},
    CommandSpec{opcode::kSanitize,                         "Sanitize",                           kNoInput,       0,       Effect::Data | Effect::Security | Effect::Background, kMediaBackgroundTimeout, kMediaExpected},
    // Runs in the background on devices that take time to erase (QEMU 10 among them).
    CommandSpec{opcode::kSecureErase,                      "Secure Erase",                       kNoInput,       0,       Effect::Data | Effect::Security | Effect::Background, kMediaBackgroundTimeout, kMediaExpected},
    CommandSpec{opcode::kMediaOperations,                  "Media Operations",                   at_least(8),    0,       Effect::Data | Effect::Background, kMediaBackgroundTimeout, kMediaExpected},
    CommandSpec{opcode::kGetSecurityState,                 "Get Security State",                 kNoInput,       4,       {}},
    // clang-format on
};

namespace detail {
constexpr bool strictly_increasing() {
    for (size_t i = 1; i < kCommandTable.size(); ++i) {
        if (kCommandTable[i - 1].opcode >= kCommandTable[i].opcode) {
            return false;
        }
    }
    return true;
}
}  // namespace detail
static_assert(detail::strictly_increasing(), "kCommandTable must be sorted by opcode, unique");

namespace detail {
constexpr bool background_rows_expect_a_duration() {
    for (const auto& spec : kCommandTable) {
        if (spec.effects.has(Effect::Background) != (spec.expected_duration.count() > 0)) {
            return false;
        }
    }
    return true;
}
}  // namespace detail
static_assert(detail::background_rows_expect_a_duration(),
              "exactly the rows with Effect::Background give an expected duration");

namespace detail {
// The index of `opcode`'s row, kCommandTable.size() when it has none. An index rather than a
// pointer so that command_spec() works in constant evaluation (GCC 12 will not compare a
// pointer into the table with null there).
constexpr size_t row_index(uint16_t opcode) {
    const auto* it =
        std::lower_bound(kCommandTable.begin(), kCommandTable.end(), opcode,
                         [](const CommandSpec& spec, uint16_t op) { return spec.opcode < op; });
    const auto index = static_cast<size_t>(it - kCommandTable.begin());
    return index < kCommandTable.size() && kCommandTable[index].opcode == opcode
               ? index
               : kCommandTable.size();
}
}  // namespace detail

// The row of `opcode`, or null for an opcode the host does not know (vendor commands).
constexpr const CommandSpec* find_command(uint16_t opcode) {
    const size_t index = detail::row_index(opcode);
    return index < kCommandTable.size() ? &kCommandTable[index] : nullptr;
}

// The row of a known opcode, found at compile time: an opcode without a row does not compile.
consteval const CommandSpec& command_spec(uint16_t opcode) {
    const size_t index = detail::row_index(opcode);
    if (index == kCommandTable.size()) {
        throw std::logic_error("opcode without a row in kCommandTable");
    }
    return kCommandTable[index];
}

// Whether the command may run as a background operation. An unknown (vendor) opcode may: the
// host cannot tell, so it is arbitrated like one.
constexpr bool command_may_run_in_background(uint16_t opcode) {
    const size_t index = detail::row_index(opcode);
    return index == kCommandTable.size() || kCommandTable[index].effects.has(Effect::Background);
}

// The raw command policy: a known opcode with no effect flag only reads. An unknown (vendor)
// opcode's effects are unknown, so it is not read-only.
constexpr bool command_is_read_only(uint16_t opcode) {
    const size_t index = detail::row_index(opcode);
    return index < kCommandTable.size() && kCommandTable[index].read_only();
}

// Checks `input_size` against the row's input rule and, when payload_size is not 0, against
// the payload size. InvalidArgument naming the command, e.g. "Set Timestamp takes exactly 8
// bytes of input, not 3".
Status check_input(const CommandSpec& spec, size_t input_size, uint32_t payload_size);

// "none", "exactly 8 bytes", "at least 128 bytes", "variable": for messages and documents.
std::string describe_input(const InputLength& input);

}  // namespace cxlmgr::cxl
