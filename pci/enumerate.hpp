// Listing the PCI functions of the machine (libpci over sysfs), and the CXL memory devices among
// them (class 0x0502, programming interface 0x10).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace cxlmgr::pci {

struct PciFunctionInfo {
    std::string address;  // "DDDD:BB:DD.F"
    uint16_t vendor_id = 0;
    uint16_t device_id = 0;
    uint32_t class_code = 0;            // base class << 16 | subclass << 8 | programming interface
    std::string vendor_name;            // from pci.ids, else "Vendor xxxx"
    std::string device_name;            // from pci.ids, else "Device xxxx"
    std::optional<std::string> driver;  // the bound kernel driver
    std::optional<unsigned> iommu_group;  // absent without an IOMMU

    [[nodiscard]] bool is_cxl_memory_device() const;
};

struct EnumerateOptions {
    // Must end in "devices": libpci is pointed at its parent (its "sysfs.path" parameter).
    std::filesystem::path sysfs_root = "/sys/bus/pci/devices";
    // Empty: libpci's default pci.ids and udev's hwdb. Set: only this file (deterministic names).
    std::filesystem::path pci_ids;
    // Where udev keeps its hwdb (systemd's search list). When none exists, names come from
    // pci.ids alone: libpci 3.9 asks udev for a hwdb on every name pci.ids lacks and, when there
    // is none, leaks the udev context each time (seen in the QEMU e2e guest, which has no udev;
    // a daemon rescanning such a machine would grow without bound).
    std::vector<std::filesystem::path> hwdb_files = {
        "/etc/systemd/hwdb/hwdb.bin", "/etc/udev/hwdb.bin",     "/usr/lib/systemd/hwdb/hwdb.bin",
        "/lib/systemd/hwdb/hwdb.bin", "/usr/lib/udev/hwdb.bin", "/lib/udev/hwdb.bin"};
};

// Every function, sorted by address. NotFound when sysfs_root does not exist; IoError carrying
// libpci's message when libpci fails.
Result<std::vector<PciFunctionInfo>> enumerate_all(const EnumerateOptions& opts = {});
// The functions with class code 0x050210 (CXL memory device), sorted by address.
Result<std::vector<PciFunctionInfo>> enumerate_cxl_memory_devices(
    const EnumerateOptions& opts = {});

}  // namespace cxlmgr::pci
