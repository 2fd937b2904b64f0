#include "emu/type3_device.hpp"

#include <algorithm>

#include "emu/doe_responder.hpp"
#include "emu/mailbox_model.hpp"
#include "pci/registers.hpp"

namespace cxlmgr::emu {
namespace {

using namespace cxlmgr::pci;

void put_le(std::vector<uint8_t>& bytes, uint64_t offset, uint64_t value, unsigned width) {
    for (unsigned i = 0; i < width; ++i) {
        bytes.at(offset + i) = static_cast<uint8_t>(value >> (8 * i));
    }
}

uint64_t get_le(const std::vector<uint8_t>& bytes, uint64_t offset, unsigned width) {
    uint64_t v = 0;
    for (unsigned i = 0; i < width; ++i) {
        v |= static_cast<uint64_t>(bytes.at(offset + i)) << (8 * i);
    }
    return v;
}

uint64_t all_ones(unsigned width) {
    return width >= 8 ? ~0ull : (1ull << (8 * width)) - 1;
}

uint32_t ext_cap_header(uint16_t id, uint8_t version, uint32_t next) {
    return id | (static_cast<uint32_t>(version) << 16) | (next << 20);
}

uint64_t next_power_of_two(uint64_t v) {
    uint64_t p = 1;
    while (p < v) {
        p <<= 1;
    }
    return p;
}

constexpr uint32_t kBar0Address = 0xfe800000;  // cosmetic: what lspci prints
constexpr uint32_t kBar2Address = 0xfe900000;

// Device register block layout (offsets in BAR2).
constexpr uint16_t kCapIdDeviceStatus = 0x0001;
constexpr uint16_t kCapIdPrimaryMailbox = 0x0002;
constexpr uint16_t kCapIdMemdevStatus = 0x4000;

// Memory Device Status bits.
constexpr uint64_t kMemdevMediaReady = 1ull << 2;  // [3:2] = 01b
constexpr uint64_t kMemdevMailboxReady = 1ull << 4;

}  // namespace

Result<std::shared_ptr<Type3Device>> Type3Device::create(DeviceDescription description,
                                                         EmuClock clock) {
    if (!clock) {
        clock = [] { return std::chrono::steady_clock::now(); };
    }
    std::shared_ptr<Type3Device> dev(new Type3Device(std::move(description), std::move(clock)));
    // Parts are created here; each validates its own section of the description.
    // [doe-responder]
    CXLMGR_ASSIGN(dev->doe_, DoeResponder::create(dev->context_));
    // [mailbox-model]
    CXLMGR_ASSIGN(dev->mailbox_, MailboxModel::create(dev->context_));
    return dev;
}

Type3Device::Type3Device(DeviceDescription description, EmuClock clock)
    : context_{std::move(description), FaultSet{}, std::move(clock)} {
    build_config_space();
    build_device_registers();
    build_component_registers();
}

Type3Device::~Type3Device() = default;

std::string Type3Device::name() const {
    return context_.description.name;
}

pci::DeviceIdentity Type3Device::identity() const {
    const auto& d = context_.description;
    return pci::DeviceIdentity{d.vendor_id, d.device_id, kClassCxlMemory, ""};
}

uint64_t Type3Device::mailbox_window_size() const {
    return kMailboxRegistersSize + context_.description.payload_size;
}

void Type3Device::build_config_space() {
    const auto& d = context_.description;
    config_.assign(kConfigSize, 0);
    config_wmask_.assign(kConfigSize, 0);
    auto& c = config_;

    put_le(c, kCfgVendorId, d.vendor_id, 2);
    put_le(c, kCfgVendorId + 2, d.device_id, 2);
    put_le(c, kCfgStatus, kStatusCapabilitiesList, 2);
    put_le(c, kCfgClassRevision, (kClassCxlMemory << 8) | d.revision, 4);
    put_le(c, kCfgHeaderType, 0x00, 1);
    put_le(c, kCfgCommand, 0, 2);
    put_le(config_wmask_, kCfgCommand, kCommandMemorySpace | kCommandBusMaster, 2);

    // BAR0/1: component registers; BAR2/3: device registers. Both 64-bit memory BARs; the
    // writable bits make BAR sizing (write all-ones, read back) report the sizes.
    auto place_bar = [&](unsigned bar, uint32_t address, uint64_t size) {
        uint32_t off = kCfgBar0 + 4 * bar;
        put_le(c, off, address | kBarMemory64, 4);
        put_le(c, off + 4, 0, 4);
        put_le(config_wmask_, off, static_cast<uint32_t>(~(size - 1)) & 0xFFFFFFF0u, 4);
        put_le(config_wmask_, off + 4, 0xFFFFFFFFu, 4);
    };
    device_bar_size_ =
        std::max<uint64_t>(4096, next_power_of_two(kMailboxOffset + mailbox_window_size()));
    place_bar(kComponentBar, kBar0Address, kComponentBarSize);
    place_bar(kDeviceBar, kBar2Address, device_bar_size_);
    put_le(c, kCfgSubsystemVendorId, d.subsystem_vendor_id, 2);
    put_le(c, kCfgSubsystemVendorId + 2, d.subsystem_id, 2);
    put_le(c, kCfgCapabilitiesPointer, kPcieCapOffset, 1);
    put_le(c, kCfgInterruptPin, 1, 1);

    // PCI Express capability (version 2, endpoint), the only standard capability.
    put_le(c, kPcieCapOffset, kCapIdPcie, 1);
    put_le(c, kPcieCapOffset + 1, 0, 1);       // end of the list
    put_le(c, kPcieCapOffset + 2, 0x0002, 2);  // capability version 2, device type 0 (endpoint)
    put_le(c, kPcieCapOffset + 4, 0x00008000 | 0x2, 4);  // DevCap: role-based error, 512 B MPS
    put_le(c, kPcieCapOffset + 0x0C, 0x00000000 | (0x10 << 4) | 0x4, 4);  // LinkCap: x16 16 GT/s
    put_le(c, kPcieCapOffset + 0x12, (0x10 << 4) | 0x4, 2);               // LinkSta: x16 16 GT/s
    put_le(config_wmask_, kPcieCapOffset + 0x08, 0x7FFF, 2);              // DevCtl

    // Extended capabilities: DSN -> DOE -> CXL Device DVSEC -> Register Locator DVSEC.
    put_le(c, kDsnOffset, ext_cap_header(kExtCapIdSerialNumber, 1, kDoeOffset), 4);
    put_le(c, kDsnOffset + 4, d.serial, 8);

    put_le(c, kDoeOffset, ext_cap_header(kExtCapIdDoe, 1, kCxlDeviceDvsecOffset), 4);
    put_le(c, kDoeOffset + 4, 0, 4);  // DOE Capabilities: no interrupt support

    constexpr uint32_t kCxlDeviceDvsecLength = 0x38;
    uint32_t dv = kCxlDeviceDvsecOffset;
    put_le(c, dv, ext_cap_header(kExtCapIdDvsec, 1, kRegisterLocatorOffset), 4);
    put_le(c, dv + kDvsecHeader1, kCxlVendorId | (1u << 16) | (kCxlDeviceDvsecLength << 20), 4);
    put_le(c, dv + kDvsecHeader2, kCxlDvsecDevice, 2);
    put_le(c, dv + 0x0A, (1u << 2) | (1u << 4), 2);  // CXL Capability: Mem_Capable, HDM_Count=1
    put_le(c, dv + 0x0C, 1u << 2, 2);                // CXL Control: Mem_Enable
    put_le(config_wmask_, dv + 0x0C, 1u << 2, 2);
    uint64_t range_size = d.total_capacity();
    put_le(c, dv + 0x18, range_size >> 32, 4);  // Range 1 Size High
    // Range 1 Size Low: [31:28] size, bit0 Memory_Info_Valid, bit1 Memory_Active,
    // [4:2] Media_Type 010b (CXL), [7:5] Memory_Class 010b (CXL).
    put_le(c, dv + 0x1C, (range_size & 0xF0000000u) | 0x1 | 0x2 | (0x2 << 2) | (0x2 << 5), 4);

    constexpr uint32_t kLocatorEntries = 2;
    constexpr uint32_t kLocatorLength = 0x0C + 8 * kLocatorEntries;
    uint32_t rl = kRegisterLocatorOffset;
    put_le(c, rl, ext_cap_header(kExtCapIdDvsec, 1, 0), 4);
    put_le(c, rl + kDvsecHeader1, kCxlVendorId | (0u << 16) | (kLocatorLength << 20), 4);
    put_le(c, rl + kDvsecHeader2, kCxlDvsecRegisterLocator, 2);
    // Register Block entries: BIR [2:0], Block Identifier [15:8], offset [31:16] (+ high dword).
    put_le(c, rl + 0x0C, kComponentBar | (0x01u << 8), 4);  // component registers at BAR0 + 0
    put_le(c, rl + 0x10, 0, 4);
    put_le(c, rl + 0x14, kDeviceBar | (0x03u << 8), 4);  // memory device registers at BAR2 + 0
    put_le(c, rl + 0x18, 0, 4);
}

void Type3Device::build_device_registers() {
    device_regs_.assign(kMailboxOffset, 0);
    auto& r = device_regs_;
    constexpr uint64_t kCapCount = 3;
    // Capabilities Array Register: ID 0, version 1, count [47:32].
    put_le(r, 0, 0x0000 | (1ull << 16) | (kCapCount << 32), 8);
    struct Header {
        uint16_t id;
        uint8_t version;
        uint32_t offset;
        uint32_t length;
    };
    const Header headers[kCapCount] = {
        {kCapIdDeviceStatus, 2, static_cast<uint32_t>(kDeviceStatusOffset), 8},
        {kCapIdPrimaryMailbox, 1, static_cast<uint32_t>(kMailboxOffset),
         static_cast<uint32_t>(mailbox_window_size())},
        {kCapIdMemdevStatus, 1, static_cast<uint32_t>(kMemdevStatusOffset), 8},
    };
    for (uint64_t i = 0; i < kCapCount; ++i) {
        uint64_t h = 0x10 * (i + 1);
        put_le(r, h, headers[i].id | (static_cast<uint32_t>(headers[i].version) << 16), 4);
        put_le(r, h + 4, headers[i].offset, 4);
        put_le(r, h + 8, headers[i].length, 4);
    }
}

void Type3Device::build_component_registers() {
    component_regs_.assign(kComponentBarSize, 0);
    // CXL.cache/mem registers at +0x1000: CXL Capability Header with an empty array
    // (ID 1, version 1, CXL.cache/mem version 1, array size 0).
    put_le(component_regs_, 0x1000, 0x0001 | (1u << 16) | (1u << 20), 4);
}

uint32_t Type3Device::config_read(uint32_t offset, unsigned width) {
    std::lock_guard lock(mutex_);
    if (context_.faults.armed(Fault::SurpriseRemoval)) {
        return static_cast<uint32_t>(all_ones(width));
    }
    if (doe_ && offset >= kDoeOffset + 8 && offset < kDoeOffset + kDoeSize) {
        return static_cast<uint32_t>(doe_->read(offset - kDoeOffset, width));
    }
    return static_cast<uint32_t>(get_le(config_, offset, width));
}

void Type3Device::config_write(uint32_t offset, unsigned width, uint32_t value) {
    std::lock_guard lock(mutex_);
    if (context_.faults.armed(Fault::SurpriseRemoval)) {
        return;
    }
    if (doe_ && offset >= kDoeOffset + 8 && offset < kDoeOffset + kDoeSize) {
        doe_->write(offset - kDoeOffset, width, value);
        return;
    }
    for (unsigned i = 0; i < width; ++i) {
        uint8_t mask = config_wmask_.at(offset + i);
        uint8_t byte = static_cast<uint8_t>(value >> (8 * i));
        config_[offset + i] = static_cast<uint8_t>((config_[offset + i] & ~mask) | (byte & mask));
    }
}

uint64_t Type3Device::bar_size(unsigned bar) const {
    if (bar == kComponentBar) {
        return kComponentBarSize;
    }
    if (bar == kDeviceBar) {
        return device_bar_size_;
    }
    return 0;
}

uint64_t Type3Device::device_register_read(uint64_t offset, unsigned width) {
    if (offset >= kMailboxOffset && offset < kMailboxOffset + mailbox_window_size()) {
        return mailbox_ ? mailbox_->read(offset - kMailboxOffset, width) : 0;
    }
    if (offset >= kDeviceStatusOffset && offset < kDeviceStatusOffset + 8) {
        uint64_t status = mailbox_ ? mailbox_->event_status() : 0;
        return (status >> (8 * (offset - kDeviceStatusOffset))) & all_ones(width);
    }
    if (offset >= kMemdevStatusOffset && offset < kMemdevStatusOffset + 8) {
        uint64_t status = kMemdevMediaReady | kMemdevMailboxReady;
        if (mailbox_) {
            status |= mailbox_->memdev_status_bits();
        }
        return (status >> (8 * (offset - kMemdevStatusOffset))) & all_ones(width);
    }
    if (offset + width <= device_regs_.size()) {
        return get_le(device_regs_, offset, width);
    }
    return 0;  // reserved space reads as zero
}

uint64_t Type3Device::mmio_read(unsigned bar, uint64_t offset, unsigned width) {
    std::lock_guard lock(mutex_);
    if (context_.faults.armed(Fault::SurpriseRemoval)) {
        return all_ones(width);
    }
    if (bar == kComponentBar) {
        return get_le(component_regs_, offset, width);
    }
    return device_register_read(offset, width);
}

void Type3Device::mmio_write(unsigned bar, uint64_t offset, unsigned width, uint64_t value) {
    std::lock_guard lock(mutex_);
    if (context_.faults.armed(Fault::SurpriseRemoval) || bar != kDeviceBar) {
        return;  // component registers are not writable in this model
    }
    if (mailbox_ && offset >= kMailboxOffset && offset < kMailboxOffset + mailbox_window_size()) {
        mailbox_->write(offset - kMailboxOffset, width, value);
    }
}

void Type3Device::arm_fault(Fault fault, uint32_t count) {
    std::lock_guard lock(mutex_);
    context_.faults.arm(fault, count);
}

void Type3Device::clear_faults() {
    std::lock_guard lock(mutex_);
    context_.faults.clear();
}

// The mailbox is always a MailboxModel once create() succeeded; the member has the seam's type
// (register_block.hpp) because the frame's register paths need nothing more.
Status Type3Device::inject_event(EventLog log, EventKind kind, const nlohmann::json& fields) {
    std::lock_guard lock(mutex_);
    auto* mailbox = dynamic_cast<MailboxModel*>(mailbox_.get());
    if (mailbox == nullptr) {
        return Error(Errc::Unsupported, name() + ": this device has no mailbox model");
    }
    return mailbox->inject_event(log, kind, fields);
}

EventInterruptPolicy Type3Device::event_interrupt_policy() {
    std::lock_guard lock(mutex_);
    auto* mailbox = dynamic_cast<MailboxModel*>(mailbox_.get());
    return mailbox != nullptr ? mailbox->event_interrupt_policy() : EventInterruptPolicy{};
}

bool Type3Device::firmware_transfer_open() {
    std::lock_guard lock(mutex_);
    auto* mailbox = dynamic_cast<MailboxModel*>(mailbox_.get());
    return mailbox != nullptr && mailbox->firmware_transfer_open();
}

}  // namespace cxlmgr::emu
