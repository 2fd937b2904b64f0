#include "cxl/opcodes.hpp"

#include "cxl/wire.hpp"

namespace cxlmgr::cxl::opcode {

std::string_view name(uint16_t op) {
    switch (op) {
        case kIdentify:
            return "Identify";
        case kBackgroundOperationStatus:
            return "Background Operation Status";
        case kRequestAbortBackgroundOperation:
            return "Request Abort Background Operation";
        case kGetEventRecords:
            return "Get Event Records";
        case kClearEventRecords:
            return "Clear Event Records";
        case kGetEventInterruptPolicy:
            return "Get Event Interrupt Policy";
        case kSetEventInterruptPolicy:
            return "Set Event Interrupt Policy";
        case kGetFwInfo:
            return "Get FW Info";
        case kTransferFw:
            return "Transfer FW";
        case kActivateFw:
            return "Activate FW";
        case kGetTimestamp:
            return "Get Timestamp";
        case kSetTimestamp:
            return "Set Timestamp";
        case kGetSupportedLogs:
            return "Get Supported Logs";
        case kGetLog:
            return "Get Log";
        case kIdentifyMemoryDevice:
            return "Identify Memory Device";
        case kGetPartitionInfo:
            return "Get Partition Info";
        case kGetLsa:
            return "Get LSA";
        case kSetLsa:
            return "Set LSA";
        case kGetHealthInfo:
            return "Get Health Info";
        case kGetAlertConfig:
            return "Get Alert Configuration";
        case kSetAlertConfig:
            return "Set Alert Configuration";
        case kGetShutdownState:
            return "Get Shutdown State";
        case kSetShutdownState:
            return "Set Shutdown State";
        case kGetPoisonList:
            return "Get Poison List";
        case kInjectPoison:
            return "Inject Poison";
        case kClearPoison:
            return "Clear Poison";
        case kSanitize:
            return "Sanitize";
        case kSecureErase:
            return "Secure Erase";
        default:
            return {};
    }
}

std::string describe(uint16_t op) {
    std::string_view n = name(op);
    if (n.empty()) {
        return "command " + hex(op, 4);
    }
    return std::string(n) + " (" + hex(op, 4) + ")";
}

}  // namespace cxlmgr::cxl::opcode
