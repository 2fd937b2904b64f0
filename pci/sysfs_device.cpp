#include "pci/sysfs_device.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <fstream>

#include "common/log.hpp"
#include "pci/registers.hpp"
#include "common/hex.hpp"

namespace cxlmgr::pci {
namespace fs = std::filesystem;

namespace {

// Linux include/linux/ioport.h: the resource type bits of the flags column of `resource`.
constexpr unsigned long long kIoResourceIo = 0x100;

// Without CAP_SYS_ADMIN the kernel serves only this much of a sysfs config file (more for CardBus
// bridges, which no CXL device is) and silently shortens reads beyond it.
constexpr uint32_t kUnprivilegedConfigBytes = 64;

bool is_hex(std::string_view s) {
    for (char c : s) {
        if (!std::isxdigit(static_cast<unsigned char>(c))) {
            return false;
        }
    }
    return !s.empty();
}

Errc open_errc(int err) {
    return (err == EACCES || err == EPERM) ? Errc::PermissionDenied : Errc::IoError;
}

// Creates the lock directory itself with 0755 (create_directories would apply the umask to 0777).
Status ensure_lock_dir(const fs::path& dir) {
    if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) {
        return ok_status();
    }
    if (errno == ENOENT) {
        std::error_code ec;
        fs::create_directories(dir.parent_path(), ec);
        if (!ec && (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST)) {
            return ok_status();
        }
    }
    int err = errno;
    return Error(open_errc(err),
                 "cannot create lock directory " + dir.string() + ": " + errno_text(err));
}

// One process drives one device: an exclusive flock on `<lock_dir>/<BDF>.lock`, held as long as
// the returned descriptor is open. The file is never deleted: unlinking it while another process
// is between open() and flock() would let two processes each lock a different file.
Result<UniqueFd> lock_device(const fs::path& lock_dir, const std::string& address) {
    CXLMGR_CHECK(ensure_lock_dir(lock_dir));
    fs::path path = lock_dir / (address + ".lock");
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd.valid()) {
        int err = errno;
        return Error(open_errc(err),
                     address + ": cannot open lock file " + path.string() + ": " + errno_text(err));
    }
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if (err != EWOULDBLOCK) {
            return Error(Errc::IoError,
                         address + ": cannot lock " + path.string() + ": " + errno_text(err));
        }
        char buf[32] = {};
        ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
        long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
        std::string holder = "another process";
        if (pid > 0 && pid == static_cast<long>(::getpid())) {
            holder = "this process (PID " + std::to_string(pid) + ") already";
        } else if (pid > 0) {
            holder = "another process (PID " + std::to_string(pid) + ")";
        }
        return Error(Errc::Busy, address + " is in use: " + holder +
                                     " holds the device (lock file " + path.string() + ")");
    }
    // The PID only makes the Busy message of a competitor more helpful; the flock is what counts,
    // so failing to record it is not worth failing the open for.
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd.get(), 0) != 0 ||
        ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
        log::warning(address, ": could not record PID in ", path.string(), ": ", errno_text(errno));
    }
    return fd;
}

bool device_present(const fs::path& device_dir) {
    std::error_code ec;
    return fs::exists(device_dir / "config", ec);
}

}  // namespace

Result<std::string> parse_pci_address(std::string_view address) {
    std::string text(address);
    // The domain is 4 hex digits on most machines; VMD and some hypervisors use wider ones.
    auto first = text.find(':');
    auto second = first == std::string::npos ? std::string::npos : text.find(':', first + 1);
    if (first != std::string::npos && second == std::string::npos) {
        text = "0000:" + text;
        first = 4;
        second = text.find(':', first + 1);
    }
    auto dot = text.find('.');
    auto bad = [&](const char* why) {
        return Error(Errc::InvalidArgument, "invalid PCI address \"" + std::string(address) +
                                                "\": " + why + " (expected DDDD:BB:DD.F)");
    };
    if (first == std::string::npos || second == std::string::npos || dot == std::string::npos ||
        dot < second) {
        return bad("wrong format");
    }
    std::string_view view(text);
    auto domain = view.substr(0, first);
    auto bus = view.substr(first + 1, second - first - 1);
    auto device = view.substr(second + 1, dot - second - 1);
    auto function = view.substr(dot + 1);
    if (domain.size() < 4 || domain.size() > 8 || bus.size() != 2 || device.size() != 2 ||
        function.size() != 1 || !is_hex(domain) || !is_hex(bus) || !is_hex(device)) {
        return bad("wrong format");
    }
    if (std::stoul(std::string(device), nullptr, 16) > 0x1F) {
        return bad("device number above 1f");
    }
    if (function[0] < '0' || function[0] > '7') {
        return bad("function number above 7");
    }
    for (char& c : text) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return text;
}

std::optional<std::string> sysfs_link_name(const fs::path& device_dir, const char* link) {
    std::error_code ec;
    fs::path path = device_dir / link;
    if (fs::symlink_status(path, ec).type() == fs::file_type::not_found) {
        return std::nullopt;
    }
    fs::path target = fs::read_symlink(path, ec);
    if (ec) {
        // Present but not a readable link: still report it, since its presence is what matters.
        return std::string("(unreadable ") + link + ")";
    }
    return target.filename().string();
}

// ---- SysfsConfigSpace ----------------------------------------------------------------------

SysfsConfigSpace::SysfsConfigSpace(UniqueFd fd, uint32_t size, fs::path device_dir,
                                   std::string address, bool read_only)
    : fd_(std::move(fd)), size_(size), device_dir_(std::move(device_dir)), read_only_(read_only) {
    identity_.address = std::move(address);
}

Result<std::unique_ptr<SysfsConfigSpace>> SysfsConfigSpace::open(fs::path device_dir,
                                                                 std::string address,
                                                                 bool read_only) {
    fs::path path = device_dir / "config";
    UniqueFd fd(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!fd.valid()) {
        int err = errno;
        if (err == ENOENT) {
            return Error(Errc::DeviceGone,
                         address + ": " + path.string() + " does not exist (device removed?)");
        }
        return Error(open_errc(err), address + ": cannot open " + path.string() +
                                         (read_only ? "" : " for writing") + ": " +
                                         errno_text(err));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        int err = errno;
        return Error(Errc::IoError, address + ": fstat " + path.string() + ": " + errno_text(err));
    }
    if (st.st_size < static_cast<off_t>(kConfigSpaceLegacySize)) {
        return Error(Errc::IoError, address + ": " + path.string() + " is " +
                                        std::to_string(st.st_size) +
                                        " bytes; a config space has 256 or 4096");
    }
    uint32_t size = st.st_size >= static_cast<off_t>(kConfigSpaceExtendedSize)
                        ? kConfigSpaceExtendedSize
                        : kConfigSpaceLegacySize;
    std::unique_ptr<SysfsConfigSpace> cs(
        new SysfsConfigSpace(std::move(fd), size, std::move(device_dir), address, read_only));
    auto identity = read_identity(*cs, address);
    if (!identity.ok()) {
        return identity.error().with_context(address);
    }
    cs->identity_ = std::move(identity).value();
    return cs;
}

Error SysfsConfigSpace::access_error(const char* op, uint32_t offset, unsigned width, ssize_t done,
                                     int err) const {
    std::string prefix = identity_.address + ": config " + op + " of " + std::to_string(width) +
                         " bytes at " + hex(offset) + ": ";
    if (err == ENODEV || err == EIO || !device_present(device_dir_)) {
        return Error(Errc::DeviceGone, prefix + (err != 0 ? errno_text(err) : "short transfer") +
                                           "; the device was removed or stopped responding");
    }
    if (err == EACCES || err == EPERM) {
        return Error(Errc::PermissionDenied, prefix + errno_text(err));
    }
    if (err != 0) {
        return Error(Errc::IoError, prefix + errno_text(err));
    }
    std::string got = "the kernel transferred " + std::to_string(done < 0 ? 0 : done) + " of " +
                      std::to_string(width) + " bytes";
    if (std::string_view(op) == "read" && offset + width > kUnprivilegedConfigBytes) {
        return Error(Errc::PermissionDenied,
                     prefix + got +
                         ": config space beyond the first 64 bytes is readable only with "
                         "CAP_SYS_ADMIN (run the daemon as root)");
    }
    return Error(Errc::IoError, prefix + got);
}

Result<uint32_t> SysfsConfigSpace::do_read(uint32_t offset, unsigned width) {
    uint8_t buf[4] = {};
    ssize_t n;
    do {
        n = ::pread(fd_.get(), buf, width, offset);
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(width)) {
        return access_error("read", offset, width, n, n < 0 ? errno : 0);
    }
    // Config space is little-endian whatever the host.
    uint32_t v = 0;
    for (unsigned i = 0; i < width; ++i) {
        v |= uint32_t{buf[i]} << (8 * i);
    }
    return v;
}

Status SysfsConfigSpace::do_write(uint32_t offset, unsigned width, uint32_t value) {
    if (read_only_) {
        return Error(
            Errc::PermissionDenied,
            identity_.address + ": opened read-only; config write at " + hex(offset) + " refused");
    }
    uint8_t buf[4];
    for (unsigned i = 0; i < width; ++i) {
        buf[i] = static_cast<uint8_t>(value >> (8 * i));
    }
    ssize_t n;
    do {
        n = ::pwrite(fd_.get(), buf, width, offset);
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(width)) {
        return access_error("write", offset, width, n, n < 0 ? errno : 0);
    }
    return ok_status();
}

// ---- SysfsDevice ---------------------------------------------------------------------------

struct SysfsDevice::MappedBar {
    MappedBar(MemoryMapping m, uint64_t size)
        : mapping(std::move(m)), region(mapping.get(), size) {}
    MemoryMapping mapping;
    MappedMmioRegion region;
};

SysfsDevice::SysfsDevice(std::string address, fs::path device_dir, bool read_only, UniqueFd lock,
                         std::unique_ptr<SysfsConfigSpace> config)
    : address_(std::move(address)),
      device_dir_(std::move(device_dir)),
      read_only_(read_only),
      lock_(std::move(lock)),
      config_(std::move(config)) {}

Result<FunctionDir> find_function_dir(const fs::path& sysfs_root, std::string_view address) {
    CXLMGR_ASSIGN(std::string bdf, parse_pci_address(address));
    fs::path dir = sysfs_root / bdf;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
        return Error(Errc::NotFound,
                     "no PCI function " + bdf + " (" + dir.string() + " does not exist)");
    }
    return FunctionDir{std::move(bdf), std::move(dir)};
}

SysfsDevice::~SysfsDevice() = default;

Result<std::unique_ptr<SysfsDevice>> SysfsDevice::open(std::string address, SysfsOptions opts) {
    CXLMGR_ASSIGN(FunctionDir function, find_function_dir(opts.sysfs_root, address));
    std::string bdf = std::move(function.bdf);
    fs::path dir = std::move(function.dir);
    if (auto driver = sysfs_link_name(dir, "driver")) {
        fs::path unbind = opts.sysfs_root.parent_path() / "drivers" / *driver / "unbind";
        return Error(Errc::Busy, bdf + " is bound to kernel driver " + *driver +
                                     ", which owns its DOE and mailbox; unbind it first (echo " +
                                     bdf + " > " + unbind.string() +
                                     "), or bind it to vfio-pci and use the vfio backend");
    }
    CXLMGR_ASSIGN(UniqueFd lock, lock_device(opts.lock_dir, bdf));
    CXLMGR_ASSIGN(auto config, SysfsConfigSpace::open(dir, bdf, opts.read_only));
    return std::unique_ptr<SysfsDevice>(
        new SysfsDevice(bdf, std::move(dir), opts.read_only, std::move(lock), std::move(config)));
}

Result<MmioRegion*> SysfsDevice::bar(unsigned index) {
    if (index >= kBarCount) {
        return Error(Errc::NotFound, address_ + ": BAR " + std::to_string(index) +
                                         " does not exist (BARs are 0-5)");
    }
    if (read_only_) {
        return Error(Errc::PermissionDenied,
                     address_ + ": opened read-only; BAR " + std::to_string(index) + " not mapped");
    }
    std::lock_guard<std::mutex> guard(bars_mutex_);
    if (!bars_[index]) {
        CXLMGR_ASSIGN(bars_[index], map_bar(index));
    }
    return static_cast<MmioRegion*>(&bars_[index]->region);
}

Status SysfsDevice::enable_memory_decoding() {
    CXLMGR_ASSIGN(uint16_t command, config_->read16(kCfgCommand));
    if ((command & kCommandMemorySpace) != 0) {
        return ok_status();
    }
    log::info(address_, ": enabling memory decoding (Command register was ", hex(command), ")");
    return config_->write16(kCfgCommand, static_cast<uint16_t>(command | kCommandMemorySpace));
}

Result<std::unique_ptr<SysfsDevice::MappedBar>> SysfsDevice::map_bar(unsigned index) {
    const std::string what = address_ + ": BAR " + std::to_string(index);
    uint64_t size = 0;
    bool size_known = false;
    std::ifstream resource(device_dir_ / "resource");
    if (resource) {
        // One "start end flags" line per resource, BARs first; a missing line is an absent BAR.
        std::string line;
        bool have_line = true;
        for (unsigned i = 0; i <= index && have_line; ++i) {
            have_line = static_cast<bool>(std::getline(resource, line));
        }
        unsigned long long start = 0, end = 0, flags = 0;
        if (have_line && std::sscanf(line.c_str(), "%llx %llx %llx", &start, &end, &flags) != 3) {
            return Error(Errc::IoError, what + ": malformed line in " +
                                            (device_dir_ / "resource").string() + ": " + line);
        }
        if ((flags & kIoResourceIo) != 0) {
            return Error(Errc::NotFound, what + " is an I/O BAR; only memory BARs can be mapped");
        }
        if (end <= start) {
            return Error(Errc::NotFound, what + " is not implemented");
        }
        size = end - start + 1;
        size_known = true;
    } else if (!device_present(device_dir_)) {
        return Error(Errc::DeviceGone, what + ": " + device_dir_.string() + " has disappeared");
    }

    fs::path path = device_dir_ / ("resource" + std::to_string(index));
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_SYNC | O_CLOEXEC));
    if (!fd.valid()) {
        int err = errno;
        if (err == ENOENT && !device_present(device_dir_)) {
            return Error(Errc::DeviceGone, what + ": " + device_dir_.string() + " has disappeared");
        }
        if (err == ENOENT) {
            return Error(Errc::NotFound, what + ": " + path.string() +
                                             " does not exist (the kernel offers no mapping)");
        }
        return Error(open_errc(err),
                     what + ": cannot open " + path.string() + ": " + errno_text(err));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        int err = errno;
        return Error(Errc::IoError, what + ": fstat " + path.string() + ": " + errno_text(err));
    }
    uint64_t file_size = static_cast<uint64_t>(st.st_size);
    if (!size_known) {
        size = file_size;
    }
    if (size == 0) {
        return Error(Errc::NotFound, what + " is not implemented");
    }
    // sysfs sizes resourceN as the BAR; a smaller file would fault (SIGBUS) past its end.
    if (file_size != 0 && file_size < size) {
        return Error(Errc::IoError, what + ": " + path.string() + " has " + hex(file_size) +
                                        " bytes but the BAR has " + hex(size));
    }
    CXLMGR_CHECK(enable_memory_decoding());
    void* addr = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (addr == MAP_FAILED) {
        int err = errno;
        if (err == ENODEV) {
            return Error(Errc::DeviceGone,
                         what + ": mmap " + path.string() + ": " + errno_text(err));
        }
        return Error(open_errc(err),
                     what + ": mmap of " + hex(size) + " bytes of " + path.string() + ": " +
                         errno_text(err) +
                         (open_errc(err) == Errc::PermissionDenied
                              ? " (kernel lockdown or CONFIG_IO_STRICT_DEVMEM forbids it)"
                              : ""));
    }
    // The mapping keeps its own reference to the file; the descriptor is not needed any more.
    return std::make_unique<MappedBar>(MemoryMapping(addr, size), size);
}

}  // namespace cxlmgr::pci
