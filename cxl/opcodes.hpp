// Mailbox command opcodes ([15:8] command set, [7:0] command) and their specification names,
// which every error message about a command uses.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cxlmgr::cxl::opcode {

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
inline constexpr uint16_t kSanitize = 0x4400;
inline constexpr uint16_t kSecureErase = 0x4401;

// "Get Health Info" for known opcodes, empty otherwise.
std::string_view name(uint16_t opcode);
// "Get Health Info (0x4200)", or "command 0x1234" for an unknown opcode: for messages.
std::string describe(uint16_t opcode);

}  // namespace cxlmgr::cxl::opcode
