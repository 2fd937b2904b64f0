#include "emu/device_state.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "common/errno_text.hpp"
#include "common/unique_fd.hpp"

namespace cxlmgr::emu::state {
namespace {

using nlohmann::json;

Error io_error(const std::string& what, int err) {
    return Error(Errc::IoError, what + ": " + errno_text(err));
}

std::string directory_of(const std::string& path) {
    auto slash = path.rfind('/');
    if (slash == std::string::npos) {
        return ".";
    }
    return slash == 0 ? "/" : path.substr(0, slash);
}

Status write_all(int fd, std::string_view data, const std::string& name) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return io_error("cannot write " + name, errno);
        }
        data.remove_prefix(static_cast<size_t>(n));
    }
    return ok_status();
}

Error field_error(std::string_view key, std::string_view why) {
    return Error(Errc::InvalidArgument, "'" + std::string(key) + "' " + std::string(why));
}

}  // namespace

Result<std::optional<json>> load(const std::string& path) {
    std::string name = "emulated device state file '" + path + "'";
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) {
        if (errno == ENOENT) {
            return std::optional<json>();
        }
        return io_error(name + " cannot be opened", errno);
    }
    std::string text;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return io_error(name + " cannot be read", errno);
        }
        if (n == 0) {
            break;
        }
        text.append(buf, static_cast<size_t>(n));
    }
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
        return Error(Errc::InvalidArgument, name + " is not valid JSON (truncated or damaged)");
    }
    if (!j.is_object()) {
        return Error(Errc::InvalidArgument, name + " is not a JSON object");
    }
    return std::optional<json>(std::move(j));
}

Status save(const std::string& path, const json& state) {
    std::string tmp = path + ".tmp";
    std::string text = state.dump(1) + "\n";
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd.valid()) {
        return io_error("emulated device state file: cannot create '" + tmp + "'", errno);
    }
    Status st = write_all(fd.get(), text, "'" + tmp + "'");
    if (st.ok() && ::fsync(fd.get()) != 0) {
        st = io_error("cannot fsync '" + tmp + "'", errno);
    }
    if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
        st = io_error("cannot rename '" + tmp + "' to '" + path + "'", errno);
    }
    if (!st.ok()) {
        ::unlink(tmp.c_str());  // the old state stays as it was
        return st.error().with_context("emulated device state file");
    }
    // The rename is durable only once the directory is on disk.
    UniqueFd dir(::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid() || ::fsync(dir.get()) != 0) {
        return io_error("emulated device state file: cannot fsync the directory of '" + path + "'",
                        errno);
    }
    return ok_status();
}

int64_t unix_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Result<const json*> member(const json& object, std::string_view key) {
    if (!object.is_object()) {
        return Error(Errc::InvalidArgument,
                     "an object was expected where '" + std::string(key) + "' should be");
    }
    auto it = object.find(key);
    if (it == object.end()) {
        return field_error(key, "is missing");
    }
    return &*it;
}

Result<uint64_t> get_uint(const json& object, std::string_view key, uint64_t max) {
    CXLMGR_ASSIGN(const json* v, member(object, key));
    if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<int64_t>() >= 0)) {
        return field_error(key, "must be a non-negative integer");
    }
    if (v->get<uint64_t>() > max) {
        return field_error(key, "must be at most " + std::to_string(max));
    }
    return v->get<uint64_t>();
}

Result<int64_t> get_int(const json& object, std::string_view key) {
    CXLMGR_ASSIGN(const json* v, member(object, key));
    if (!v->is_number_integer() ||
        (v->is_number_unsigned() && v->get<uint64_t>() > uint64_t{INT64_MAX})) {
        return field_error(key, "must be an integer");
    }
    return v->get<int64_t>();
}

Result<bool> get_bool(const json& object, std::string_view key) {
    CXLMGR_ASSIGN(const json* v, member(object, key));
    if (!v->is_boolean()) {
        return field_error(key, "must be true or false");
    }
    return v->get<bool>();
}

Result<std::string> get_string(const json& object, std::string_view key) {
    CXLMGR_ASSIGN(const json* v, member(object, key));
    if (!v->is_string()) {
        return field_error(key, "must be a string");
    }
    return v->get<std::string>();
}

std::string bytes_hex(std::span<const uint8_t> bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s;
    s.reserve(2 * bytes.size());
    for (uint8_t b : bytes) {
        s.push_back(kDigits[b >> 4]);
        s.push_back(kDigits[b & 0xFu]);
    }
    return s;
}

Result<std::vector<uint8_t>> decode_bytes(const json& value, std::string_view what,
                                          std::optional<size_t> exact_size) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        return -1;
    };
    if (!value.is_string() || value.get_ref<const std::string&>().size() % 2 != 0) {
        return field_error(what, "must be a string of lowercase hex, two digits per byte");
    }
    const std::string& text = value.get_ref<const std::string&>();
    std::vector<uint8_t> out(text.size() / 2);
    for (size_t i = 0; i < out.size(); ++i) {
        int hi = nibble(text[2 * i]);
        int lo = nibble(text[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return field_error(what, "must be a string of lowercase hex, two digits per byte");
        }
        out[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    if (exact_size && out.size() != *exact_size) {
        return field_error(what, "must hold " + std::to_string(*exact_size) + " bytes");
    }
    return out;
}

Result<std::vector<uint8_t>> get_bytes(const json& object, std::string_view key,
                                       std::optional<size_t> exact_size) {
    CXLMGR_ASSIGN(const json* v, member(object, key));
    return decode_bytes(*v, key, exact_size);
}

}  // namespace cxlmgr::emu::state
