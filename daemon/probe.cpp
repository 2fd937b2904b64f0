#include "daemon/probe.hpp"

#include <cstdio>
#include <string>

#include "pci/capabilities.hpp"
#include "pci/registers.hpp"
#include "common/hex.hpp"

namespace cxlmgr::daemon {
namespace {

const char* capability_name(uint8_t id) {
    switch (id) {
        case 0x01:
            return "Power Management";
        case 0x05:
            return "MSI";
        case 0x09:
            return "Vendor Specific";
        case 0x10:
            return "PCI Express";
        case 0x11:
            return "MSI-X";
        default:
            return "unknown";
    }
}

const char* ext_capability_name(uint16_t id) {
    switch (id) {
        case 0x0001:
            return "Advanced Error Reporting";
        case 0x0003:
            return "Device Serial Number";
        case 0x000B:
            return "Vendor-Specific";
        case 0x0010:
            return "SR-IOV";
        case 0x0019:
            return "Secondary PCI Express";
        case 0x0023:
            return "Designated Vendor-Specific";
        case 0x0025:
            return "Data Link Feature";
        case 0x002E:
            return "Data Object Exchange";
        default:
            return "unknown";
    }
}

const char* cxl_dvsec_name(uint16_t id) {
    switch (id) {
        case 0x0000:
            return "CXL Device";
        case 0x0002:
            return "Non-CXL Function Map";
        case 0x0003:
            return "CXL Port Extensions";
        case 0x0004:
            return "GPF (port)";
        case 0x0005:
            return "GPF (device)";
        case 0x0007:
            return "Flex Bus Port";
        case 0x0008:
            return "Register Locator";
        case 0x0009:
            return "MLD";
        default:
            return "unknown";
    }
}

const char* register_block_name(unsigned id) {
    switch (id) {
        case 0:
            return "empty";
        case 1:
            return "component registers";
        case 2:
            return "BAR virtualization ACL";
        case 3:
            return "CXL memory device registers";
        case 4:
            return "CPMU";
        case 0xFF:
            return "vendor specific";
        default:
            return "reserved";
    }
}

Status print_register_locator(pci::ConfigSpace& cs, const pci::Dvsec& d, std::ostream& out) {
    for (uint32_t e = d.offset + 0x0C; e + 8 <= d.offset + d.length; e += 8) {
        CXLMGR_ASSIGN(uint32_t lo, cs.read32(e));
        CXLMGR_ASSIGN(uint32_t hi, cs.read32(e + 4));
        unsigned block = (lo >> 8) & 0xFF;
        uint64_t offset = (uint64_t{hi} << 32) | (lo & 0xFFFF0000u);
        out << "      block: BAR" << (lo & 7) << " + 0x" << hex_digits(offset) << ": "
            << register_block_name(block) << "\n";
    }
    return ok_status();
}

}  // namespace

Status print_probe_report(pci::PciDevice& device, std::ostream& out) {
    pci::ConfigSpace& cs = device.config();
    const auto& id = cs.identity();
    out << device.name() << " (" << device.backend() << ")\n";
    out << "  id " << hex_digits(id.vendor_id, 4) << ":" << hex_digits(id.device_id, 4) << "  class "
        << hex_digits(id.class_code, 6) << "  config space " << cs.size() << " bytes\n";

    CXLMGR_ASSIGN(auto caps, pci::list_capabilities(cs));
    for (const auto& c : caps) {
        out << "  capability [" << hex_digits(c.offset, 2) << "] " << capability_name(c.id) << "\n";
    }
    CXLMGR_ASSIGN(auto ext, pci::list_ext_capabilities(cs));
    CXLMGR_ASSIGN(auto dvsecs, pci::list_dvsecs(cs));
    for (const auto& c : ext) {
        out << "  extended capability [" << hex_digits(c.offset, 3) << " v" << int{c.version} << "] "
            << ext_capability_name(c.id);
        if (c.id == pci::kExtCapIdSerialNumber) {
            CXLMGR_ASSIGN(uint32_t lo, cs.read32(c.offset + 4));
            CXLMGR_ASSIGN(uint32_t hi, cs.read32(c.offset + 8));
            out << " " << hex_digits((uint64_t{hi} << 32) | lo, 16);
        }
        out << "\n";
        for (const auto& d : dvsecs) {
            if (d.offset != c.offset) {
                continue;
            }
            bool cxl = d.vendor == pci::kCxlVendorId;
            out << "    vendor " << hex_digits(d.vendor, 4) << " id " << d.id << " rev " << int{d.revision}
                << " length " << d.length << (cxl ? std::string(": ") + cxl_dvsec_name(d.id) : "")
                << "\n";
            if (cxl && d.id == pci::kCxlDvsecRegisterLocator) {
                CXLMGR_CHECK(print_register_locator(cs, d, out));
            }
        }
    }
    for (unsigned bar = 0; bar < pci::kBarCount; ++bar) {
        auto region = device.bar(bar);
        if (region.ok()) {
            out << "  BAR" << bar << ": " << (*region)->size() << " bytes\n";
        }
    }
    return ok_status();
}

}  // namespace cxlmgr::daemon
