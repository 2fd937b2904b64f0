#include "cxl/register_map.hpp"

#include "cxl/wire.hpp"
#include "pci/capabilities.hpp"
#include "pci/registers.hpp"

namespace cxlmgr::cxl {
namespace {

constexpr uint32_t kLocatorEntriesStart = 0x0C;
constexpr uint32_t kLocatorEntrySize = 8;
constexpr uint64_t kCapArrayEntrySize = 0x10;
// Register widths the layers above use on each capability; a shorter capability is malformed.
constexpr uint64_t kMinDeviceStatusLength = 4;
constexpr uint64_t kMinMailboxLength = 0x20;
constexpr uint64_t kMinMemdevStatusLength = 8;

Error gone(const std::string& what) {
    return Error(Errc::DeviceGone, what + " reads all-ones (device absent or removed)");
}

std::string cap_label(uint16_t id) {
    std::string_view n = capability_name(id);
    return "capability " + hex(id, 4) + (n.empty() ? "" : " (" + std::string(n) + ")");
}

// Overflow-safe "[start, start + length) fits in size".
bool fits(uint64_t start, uint64_t length, uint64_t size) {
    return start <= size && length <= size - start;
}

Result<DeviceCapability> read_header(pci::MmioRegion& bar, uint64_t block, uint64_t index) {
    const uint64_t at = block + kCapArrayEntrySize * index;
    uint32_t dw0 = bar.read32(at);
    uint32_t dw1 = bar.read32(at + 4);
    uint32_t dw2 = bar.read32(at + 8);
    if (dw0 == 0xFFFFFFFFu && dw1 == 0xFFFFFFFFu) {
        return gone("device capability header " + std::to_string(index));
    }
    DeviceCapability cap;
    cap.id = static_cast<uint16_t>(dw0 & 0xFFFF);
    cap.version = static_cast<uint8_t>((dw0 >> 16) & 0xFF);
    cap.length = dw2;
    if (!fits(block + dw1, dw2, bar.size())) {
        return Error(Errc::DeviceError, cap_label(cap.id) + " at block offset " + hex(dw1) +
                                            " with length " + hex(dw2) + " overruns the BAR (" +
                                            hex(bar.size()) + " bytes, block at " + hex(block) +
                                            ")");
    }
    cap.offset = block + dw1;
    return cap;
}

Status check_required(const std::optional<DeviceCapability>& cap, uint16_t id, uint64_t min_len,
                      uint64_t alignment, Errc missing) {
    if (!cap) {
        return Error(missing, "the device register block has no " + cap_label(id));
    }
    if (cap->length < min_len) {
        return Error(Errc::DeviceError, cap_label(id) + " is " + hex(cap->length) +
                                            " bytes long, shorter than its " + hex(min_len) +
                                            " bytes of registers");
    }
    if (cap->offset % alignment != 0) {
        return Error(Errc::DeviceError, cap_label(id) + " at " + hex(cap->offset) +
                                            " is not aligned to its " + std::to_string(alignment) +
                                            "-byte registers");
    }
    return ok_status();
}

}  // namespace

std::string_view capability_name(uint16_t id) {
    switch (id) {
        case kCapDeviceStatus:
            return "Device Status";
        case kCapPrimaryMailbox:
            return "Primary Mailbox";
        case kCapSecondaryMailbox:
            return "Secondary Mailbox";
        case kCapMemoryDeviceStatus:
            return "Memory Device Status";
        default:
            return id >= 0x8000 ? "vendor specific" : std::string_view();
    }
}

Result<std::vector<RegisterBlockLocation>> read_register_locator(pci::ConfigSpace& config) {
    CXLMGR_ASSIGN(auto dvsecs, pci::list_dvsecs(config));
    const pci::Dvsec* locator = nullptr;
    for (const auto& d : dvsecs) {
        if (d.vendor == pci::kCxlVendorId && d.id == pci::kCxlDvsecRegisterLocator) {
            locator = &d;
            break;
        }
    }
    if (locator == nullptr) {
        return Error(Errc::NotFound,
                     "no CXL Register Locator DVSEC (vendor 0x1e98, ID 8) in config space");
    }
    if (locator->length < kLocatorEntriesStart) {
        return Error(Errc::DeviceError, "Register Locator DVSEC at " + hex(locator->offset) +
                                            " is " + hex(locator->length) +
                                            " bytes long, shorter than its 0xc-byte header");
    }
    // A partial trailing entry is ignored, as Linux does: only whole entries are defined.
    const uint32_t count = (locator->length - kLocatorEntriesStart) / kLocatorEntrySize;
    std::vector<RegisterBlockLocation> out;
    for (uint32_t i = 0; i < count; ++i) {
        const uint32_t at = locator->offset + kLocatorEntriesStart + i * kLocatorEntrySize;
        CXLMGR_ASSIGN(uint32_t lo, config.read32(at));
        CXLMGR_ASSIGN(uint32_t hi, config.read32(at + 4));
        if (lo == 0xFFFFFFFFu && hi == 0xFFFFFFFFu) {
            return gone("Register Locator entry " + std::to_string(i));
        }
        RegisterBlockLocation loc;
        loc.bir = static_cast<uint8_t>(lo & 0x7);
        loc.block_id = static_cast<uint8_t>((lo >> 8) & 0xFF);
        loc.offset = (static_cast<uint64_t>(hi) << 32) | (lo & 0xFFFF0000u);
        out.push_back(loc);
    }
    return out;
}

Result<DeviceRegisterMap> discover_device_registers(pci::PciDevice& device) {
    const std::string ctx = device.name();
    auto located = read_register_locator(device.config());
    if (!located.ok()) {
        Error e = std::move(located).error();
        if (e.code == Errc::NotFound) {
            e.code = Errc::Unsupported;
            e.message += ": not a CXL memory device, or its registers are hidden";
        }
        return e.with_context(ctx);
    }
    const RegisterBlockLocation* block = nullptr;
    for (const auto& loc : *located) {
        if (loc.block_id == kBlockMemoryDevice) {
            block = &loc;
            break;
        }
    }
    if (block == nullptr) {
        return Error(Errc::Unsupported,
                     ctx +
                         ": the Register Locator lists no CXL Memory Device register block "
                         "(block ID 3)");
    }
    if (block->bir >= pci::kBarCount) {
        return Error(Errc::DeviceError, ctx +
                                            ": the Register Locator places the memory device "
                                            "registers in BAR index " +
                                            std::to_string(block->bir) + ", which cannot exist");
    }
    auto bar_r = device.bar(block->bir);
    if (!bar_r.ok()) {
        return std::move(bar_r).error().with_context(ctx + ": memory device registers");
    }
    pci::MmioRegion& bar = **bar_r;
    const std::string where = "BAR" + std::to_string(block->bir) + " + " + hex(block->offset);
    if (!fits(block->offset, kCapArrayEntrySize, bar.size())) {
        return Error(Errc::DeviceError, ctx + ": memory device register block at " + where +
                                            " lies outside the BAR (" + hex(bar.size()) +
                                            " bytes)");
    }

    const uint64_t array = bar.read64(block->offset);
    if (array == ~0ull) {
        return gone(ctx + ": device capabilities array at " + where);
    }
    if ((array & 0xFFFF) != 0) {
        return Error(Errc::DeviceError, ctx + ": " + where +
                                            " does not start with a device capabilities array "
                                            "(capability ID " +
                                            hex(array & 0xFFFF) + ", expected 0)");
    }
    const uint64_t count = (array >> 32) & 0xFFFF;
    if (!fits(block->offset, kCapArrayEntrySize * (count + 1), bar.size())) {
        return Error(Errc::DeviceError, ctx + ": the device capabilities array at " + where +
                                            " claims " + std::to_string(count) +
                                            " entries, which run past the BAR (" + hex(bar.size()) +
                                            " bytes)");
    }

    DeviceRegisterMap map;
    map.bar = &bar;
    map.bar_index = block->bir;
    map.block_offset = block->offset;
    std::optional<DeviceCapability> status, mailbox, memdev;
    for (uint64_t n = 1; n <= count; ++n) {
        auto cap = read_header(bar, block->offset, n);
        if (!cap.ok()) {
            return std::move(cap).error().with_context(ctx);
        }
        map.capabilities.push_back(*cap);
        // The first instance of each wins; later duplicates are kept in the list only.
        auto take = [&](std::optional<DeviceCapability>& slot) {
            if (!slot) {
                slot = *cap;
            }
        };
        switch (cap->id) {
            case kCapDeviceStatus:
                take(status);
                break;
            case kCapPrimaryMailbox:
                take(mailbox);
                break;
            case kCapMemoryDeviceStatus:
                take(memdev);
                break;
            default:
                break;
        }
    }
    Status checks[] = {
        check_required(mailbox, kCapPrimaryMailbox, kMinMailboxLength, 8, Errc::Unsupported),
        check_required(status, kCapDeviceStatus, kMinDeviceStatusLength, 4, Errc::DeviceError),
        check_required(memdev, kCapMemoryDeviceStatus, kMinMemdevStatusLength, 8,
                       Errc::DeviceError),
    };
    for (auto& c : checks) {
        if (!c.ok()) {
            return std::move(c).error().with_context(ctx);
        }
    }
    map.device_status = *status;
    map.mailbox = *mailbox;
    map.memdev_status = *memdev;
    return map;
}

}  // namespace cxlmgr::cxl
