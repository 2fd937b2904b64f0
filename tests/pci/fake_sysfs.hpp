// A fake /sys/bus/pci tree in a temporary directory, shaped like the kernel's: per function a
// config file, the vendor/device/class/revision/irq attributes libpci reads, a resource table,
// resourceN files standing in for BARs, and driver / iommu_group symlinks.
#pragma once

#include <unistd.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace cxlmgr::testing {

namespace fs = std::filesystem;

struct FakeFunction {
    uint16_t vendor = 0x8086;
    uint16_t device = 0x0d93;
    uint32_t class_code = 0x050210;
    uint32_t config_size = 4096;
    uint16_t command = 0;
    std::array<uint64_t, 6> bar_sizes{};  // 0 = not implemented
    int io_bar = -1;                      // index of an I/O BAR, if any
    bool all_ones = false;                // config space of a device that stopped answering
    std::vector<std::pair<uint32_t, uint32_t>> dwords;  // extra config contents: offset, value
};

class FakeSysfs {
public:
    FakeSysfs() {
        char tmpl[] = "/tmp/cxlmgr-pci-test-XXXXXX";
        const char* made = ::mkdtemp(tmpl);
        if (made == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        base_ = made;
        fs::create_directories(devices());
    }
    ~FakeSysfs() {
        std::error_code ec;
        fs::remove_all(base_, ec);
    }
    FakeSysfs(const FakeSysfs&) = delete;
    FakeSysfs& operator=(const FakeSysfs&) = delete;

    [[nodiscard]] fs::path base() const { return base_; }
    [[nodiscard]] fs::path devices() const { return base_ / "bus" / "pci" / "devices"; }
    [[nodiscard]] fs::path lock_dir() const { return base_ / "run" / "cxlmgr"; }
    [[nodiscard]] fs::path dev_dir() const { return base_ / "dev" / "vfio"; }
    [[nodiscard]] fs::path dir(const std::string& bdf) const { return devices() / bdf; }

    fs::path add(const std::string& bdf, const FakeFunction& f = {}) {
        fs::path d = dir(bdf);
        fs::create_directories(d);
        std::vector<uint8_t> cfg(f.config_size, f.all_ones ? 0xFF : 0x00);
        if (!f.all_ones) {
            put32(cfg, 0x00, f.vendor | (uint32_t{f.device} << 16));
            put32(cfg, 0x04, f.command);
            put32(cfg, 0x08, (f.class_code << 8) | 0x01);  // revision 1
            for (unsigned i = 0; i < 6; ++i) {
                if (f.bar_sizes[i] != 0) {
                    put32(cfg, 0x10 + 4 * i, static_cast<int>(i) == f.io_bar ? 0x1 : 0x0);
                }
            }
            for (auto [off, v] : f.dwords) {
                put32(cfg, off, v);
            }
        }
        write_bytes(d / "config", cfg);
        write_text(d / "vendor", hex(f.vendor, 4) + "\n");
        write_text(d / "device", hex(f.device, 4) + "\n");
        write_text(d / "class", hex(f.class_code, 6) + "\n");
        write_text(d / "revision", "0x01\n");
        write_text(d / "irq", "0\n");
        std::string resource;
        uint64_t next = 0xfe000000;
        for (unsigned i = 0; i < 7; ++i) {
            uint64_t size = i < 6 ? f.bar_sizes[i] : 0;
            uint64_t start = size != 0 ? next : 0;
            uint64_t end = size != 0 ? next + size - 1 : 0;
            uint64_t flags = size == 0 ? 0 : (static_cast<int>(i) == f.io_bar ? 0x101 : 0x140204);
            next += size;
            resource += hex(start, 16) + " " + hex(end, 16) + " " + hex(flags, 16) + "\n";
            if (size != 0) {
                std::ofstream(d / ("resource" + std::to_string(i))).close();
                fs::resize_file(d / ("resource" + std::to_string(i)), size);
            }
        }
        write_text(d / "resource", resource);
        return d;
    }

    void bind(const std::string& bdf, const std::string& driver) {
        fs::create_symlink("../../../bus/pci/drivers/" + driver, dir(bdf) / "driver");
    }

    void set_iommu_group(const std::string& bdf, unsigned group) {
        fs::path g = base_ / "kernel" / "iommu_groups" / std::to_string(group);
        fs::create_directories(g / "devices");
        fs::create_symlink(g, dir(bdf) / "iommu_group");
        fs::create_symlink(dir(bdf), g / "devices" / bdf);
    }

    static std::vector<uint8_t> read_bytes(const fs::path& p) {
        std::ifstream in(p, std::ios::binary);
        return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    }
    static void write_bytes(const fs::path& p, const std::vector<uint8_t>& bytes) {
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()));
    }
    static void write_text(const fs::path& p, const std::string& text) {
        std::ofstream(p, std::ios::trunc) << text;
    }
    static uint32_t get32(const std::vector<uint8_t>& b, size_t off) {
        return b.at(off) | (b.at(off + 1) << 8) | (b.at(off + 2) << 16) |
               (uint32_t{b.at(off + 3)} << 24);
    }
    static void put32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
        for (unsigned i = 0; i < 4; ++i) {
            b.at(off + i) = static_cast<uint8_t>(v >> (8 * i));
        }
    }

private:
    static std::string hex(uint64_t v, int digits) {
        char buf[32];
        std::snprintf(buf, sizeof buf, "0x%0*llx", digits, static_cast<unsigned long long>(v));
        return buf;
    }

    fs::path base_;
};

}  // namespace cxlmgr::testing
