#include "pci/enumerate.hpp"

#include <algorithm>
#include <cctype>
#include <csetjmp>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "common/log.hpp"
#include "pci/registers.hpp"
#include "pci/sysfs_device.hpp"

// libpci's header: /usr/include/x86_64-linux-gnu/pci/pci.h on Debian (multiarch include dir).
// The project root is on the include path and has a pci/ folder of its own, so a project file
// named pci/pci.h would shadow it: none may ever exist. The headers pci.h pulls in ("config.h",
// "header.h", "types.h") are included with quotes and so resolve next to pci.h first.
// pci.h has no extern "C" guard of its own.
extern "C" {
#include <pci/pci.h>
}

namespace cxlmgr::pci {
namespace fs = std::filesystem;

namespace {

// What the libpci part of a scan hands back: plain data only (see scan_guarded).
struct RawFunction {
    int domain;
    unsigned bus, dev, func;
    uint16_t vendor_id, device_id;
    uint32_t class_code;
    char vendor_name[128];  // empty when the ID database has no entry
    char device_name[256];
};

struct Scan {
    std::jmp_buf env;
    char error[512];
    pci_access* pacc;
};

// libpci reports errors through a callback that takes no user pointer.
thread_local Scan* t_scan = nullptr;

// libpci declares its error callback noreturn and carries on after it as if the process had
// exited (dereferencing the NULL it just failed to get, for instance). The only way to survive
// it is to leave libpci's frames with longjmp, back into scan_guarded.
__attribute__((noreturn, format(printf, 1, 2))) void on_libpci_error(char* fmt, ...) {
    Scan* scan = t_scan;
    if (scan == nullptr) {
        std::abort();  // libpci is only ever called from scan_guarded, which sets t_scan
    }
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(scan->error, sizeof scan->error, fmt, ap);
    va_end(ap);
    std::longjmp(scan->env, 1);
}

__attribute__((format(printf, 1, 2))) void on_libpci_warning(char* fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    log::warning("libpci: ", buf);
}

void copy_name(char (&dst)[128], const char* src) {
    std::snprintf(dst, sizeof dst, "%s", src);
}
void copy_name(char (&dst)[256], const char* src) {
    std::snprintf(dst, sizeof dst, "%s", src);
}

// Every call into libpci happens here. longjmp back into this frame is defined only because no
// object with a non-trivial destructor is alive in it or in the (C) frames it abandons: results
// go into the caller's vector, and the caller's ScanGuard frees the pci_access either way.
// Limitation: when libpci fails half-way through a step, whatever that step had allocated and
// not yet linked into pci_access (a pci_dev, an open DIR) is lost.
bool scan_guarded(Scan& scan, char* bus_dir, char* ids_file, bool use_hwdb,
                  std::vector<RawFunction>* out) {
    if (setjmp(scan.env) != 0) {
        return false;
    }
    scan.pacc = pci_alloc();
    scan.pacc->error = on_libpci_error;
    scan.pacc->warning = on_libpci_warning;
    scan.pacc->method = PCI_ACCESS_SYS_BUS_PCI;
    pci_set_param(scan.pacc, const_cast<char*>("sysfs.path"), bus_dir);
    if (ids_file != nullptr) {
        pci_set_name_list_path(scan.pacc, ids_file, 0);
    }
    pci_init(scan.pacc);
    pci_scan_bus(scan.pacc);
    const int lookup =
        PCI_LOOKUP_NO_NUMBERS | (ids_file != nullptr || !use_hwdb ? PCI_LOOKUP_NO_HWDB : 0);
    for (pci_dev* d = scan.pacc->devices; d != nullptr; d = d->next) {
        int known = pci_fill_info(d, PCI_FILL_IDENT | PCI_FILL_CLASS | PCI_FILL_CLASS_EXT);
        RawFunction raw{};
        raw.domain = d->domain;
        raw.bus = d->bus;
        raw.dev = d->dev;
        raw.func = d->func;
        raw.vendor_id = d->vendor_id;
        raw.device_id = d->device_id;
        // PCI_FILL_CLASS is base class and subclass only; the programming interface tells a CXL
        // memory device (0x10) from other CXL memory controllers.
        uint8_t prog_if =
            (known & PCI_FILL_CLASS_EXT) != 0 ? d->prog_if : pci_read_byte(d, PCI_CLASS_PROG);
        raw.class_code = (uint32_t{d->device_class} << 8) | prog_if;
        char buf[256];
        if (const char* n = pci_lookup_name(scan.pacc, buf, sizeof buf, PCI_LOOKUP_VENDOR | lookup,
                                            d->vendor_id)) {
            copy_name(raw.vendor_name, n);
        }
        if (const char* n = pci_lookup_name(scan.pacc, buf, sizeof buf, PCI_LOOKUP_DEVICE | lookup,
                                            d->vendor_id, d->device_id)) {
            copy_name(raw.device_name, n);
        }
        out->push_back(raw);
    }
    return true;
}

class ScanGuard {
public:
    explicit ScanGuard(Scan& scan) : scan_(scan) { t_scan = &scan_; }
    ~ScanGuard() {
        if (scan_.pacc != nullptr) {
            pci_cleanup(scan_.pacc);
            scan_.pacc = nullptr;
        }
        t_scan = nullptr;
    }
    ScanGuard(const ScanGuard&) = delete;
    ScanGuard& operator=(const ScanGuard&) = delete;

private:
    Scan& scan_;
};

bool hwdb_installed(const std::vector<fs::path>& files) {
    std::error_code ec;
    return std::any_of(files.begin(), files.end(),
                       [&](const fs::path& f) { return fs::is_regular_file(f, ec); });
}

std::string id_fallback(const char* what, uint16_t id) {
    char buf[16];
    std::snprintf(buf, sizeof buf, " %04x", id);
    return what + std::string(buf);
}

std::optional<unsigned> parse_group(const std::optional<std::string>& name) {
    if (!name || name->empty() || name->size() > 9 ||
        !std::all_of(name->begin(), name->end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
        return std::nullopt;
    }
    return static_cast<unsigned>(std::stoul(*name));
}

}  // namespace

bool PciFunctionInfo::is_cxl_memory_device() const {
    return class_code == kClassCxlMemory;
}

Result<std::vector<PciFunctionInfo>> enumerate_all(const EnumerateOptions& opts) {
    fs::path root = opts.sysfs_root.lexically_normal();
    if (!root.has_filename()) {
        root = root.parent_path();  // a trailing slash
    }
    if (root.filename() != "devices") {
        return Error(Errc::InvalidArgument,
                     "PCI sysfs root " + opts.sysfs_root.string() + " does not end in \"devices\"");
    }
    std::error_code ec;
    if (!fs::exists(root, ec)) {
        return Error(Errc::NotFound,
                     "cannot enumerate PCI devices: " + root.string() + " does not exist");
    }
    std::string bus_dir = root.parent_path().string();
    std::string ids_file = opts.pci_ids.string();

    std::vector<RawFunction> raw;
    Scan scan{};
    bool ok;
    {
        ScanGuard guard(scan);
        ok = scan_guarded(scan, bus_dir.data(), ids_file.empty() ? nullptr : ids_file.data(),
                          hwdb_installed(opts.hwdb_files), &raw);
    }
    if (!ok) {
        return Error(Errc::IoError,
                     "libpci could not enumerate " + root.string() + ": " + scan.error);
    }

    std::vector<PciFunctionInfo> out;
    out.reserve(raw.size());
    for (const RawFunction& r : raw) {
        char address[32];
        std::snprintf(address, sizeof address, "%04x:%02x:%02x.%u", r.domain, r.bus, r.dev, r.func);
        PciFunctionInfo info;
        info.address = address;
        info.vendor_id = r.vendor_id;
        info.device_id = r.device_id;
        info.class_code = r.class_code;
        info.vendor_name =
            r.vendor_name[0] != 0 ? r.vendor_name : id_fallback("Vendor", r.vendor_id);
        info.device_name =
            r.device_name[0] != 0 ? r.device_name : id_fallback("Device", r.device_id);
        fs::path dir = root / info.address;
        info.driver = sysfs_link_name(dir, "driver");
        info.iommu_group = parse_group(sysfs_link_name(dir, "iommu_group"));
        out.push_back(std::move(info));
    }
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.address < b.address; });
    return out;
}

Result<std::vector<PciFunctionInfo>> enumerate_cxl_memory_devices(const EnumerateOptions& opts) {
    CXLMGR_ASSIGN(auto all, enumerate_all(opts));
    std::vector<PciFunctionInfo> cxl;
    std::copy_if(all.begin(), all.end(), std::back_inserter(cxl),
                 [](const PciFunctionInfo& f) { return f.is_cxl_memory_device(); });
    return cxl;
}

}  // namespace cxlmgr::pci
