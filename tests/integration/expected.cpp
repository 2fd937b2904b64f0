#include "tests/integration/expected.hpp"

#include <boost/asio/io_context.hpp>
#include <fstream>
#include <optional>
#include <stdexcept>

#include "cxl/mailbox.hpp"
#include "emu/cdat_builder.hpp"
#include "emu/firmware_image.hpp"
#include "emu/type3_device.hpp"
#include "pci/emulated_device.hpp"

namespace cxlmgr::testing {

namespace {

emu::DeviceDescription description_of(const nlohmann::json& device) {
    nlohmann::json d = device;
    d.erase("backend");
    auto parsed = emu::parse_device_description(d);
    if (!parsed.ok()) {
        throw std::runtime_error("bad device description: " + parsed.error().describe());
    }
    return *parsed;
}

uint64_t le(const ByteVector& b, size_t at, size_t n) {
    if (at + n > b.size()) {
        throw std::runtime_error("field at " + std::to_string(at) + " beyond " +
                                 std::to_string(b.size()) + " bytes");
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) {
        v |= uint64_t{b[at + i]} << (8 * i);
    }
    return v;
}

}  // namespace

nlohmann::json emulated_device(const std::string& name, const nlohmann::json& extra) {
    nlohmann::json d = extra;
    d["backend"] = "emulated";
    d["name"] = name;
    return d;
}

std::string daemon_config(const std::vector<nlohmann::json>& devices) {
    return nlohmann::json{{"devices", devices}}.dump();
}

void write_firmware_image(const std::filesystem::path& path, const std::string& revision,
                          uint64_t payload, bool corrupt) {
    emu::PatternFirmwareImage image(revision, payload);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    std::vector<uint8_t> piece(1 << 20);
    for (uint64_t off = 0; off < image.size(); off += piece.size()) {
        const auto n = static_cast<size_t>(std::min<uint64_t>(piece.size(), image.size() - off));
        image.read(off, std::span<uint8_t>(piece.data(), n));
        if (corrupt && off == 0) {
            piece[emu::kFirmwareHeaderSize + 10] ^= 0xff;
        }
        out.write(reinterpret_cast<const char*>(piece.data()), static_cast<std::streamsize>(n));
    }
    if (!out) {
        throw std::runtime_error("cannot write the firmware image " + path.string());
    }
}

ReferenceAnswer reference_command(const nlohmann::json& device, uint16_t opcode,
                                  const ByteVector& input) {
    auto model = emu::Type3Device::create(description_of(device));
    if (!model.ok()) {
        throw std::runtime_error(model.error().describe());
    }
    boost::asio::io_context io;
    auto mailbox =
        cxl::Mailbox::open(io.get_executor(), std::make_shared<pci::EmulatedDevice>(*model));
    if (!mailbox.ok()) {
        throw std::runtime_error(mailbox.error().describe());
    }
    std::optional<Result<cxl::MailboxResponse>> out;
    cxl::MailboxRequest request;
    request.opcode = opcode;
    request.input = input;
    (*mailbox)->async_command(std::move(request), {},
                              [&](Result<cxl::MailboxResponse> r) { out = std::move(r); });
    io.run();
    if (!out || !out->ok()) {
        throw std::runtime_error("reference command failed: " +
                                 (out ? out->error().describe() : std::string("no answer")));
    }
    return {(*out)->return_code, (*out)->output};
}

ByteVector reference_cdat(const nlohmann::json& device) {
    auto image = emu::build_cdat(description_of(device));
    if (!image.ok()) {
        throw std::runtime_error(image.error().describe());
    }
    return image->table;
}

nlohmann::json decode_identify(const ByteVector& b) {
    constexpr uint64_t kUnit = 256ull << 20;
    if (b.size() < 0x43) {
        throw std::runtime_error("Identify output of " + std::to_string(b.size()) + " bytes");
    }
    std::string fw(b.begin(), b.begin() + 16);
    fw = fw.substr(0, fw.find('\0'));
    return {
        {"fw_revision", fw},
        {"total_capacity", le(b, 0x10, 8) * kUnit},
        {"volatile_capacity", le(b, 0x18, 8) * kUnit},
        {"persistent_capacity", le(b, 0x20, 8) * kUnit},
        {"partition_align", le(b, 0x28, 8) * kUnit},
        {"info_event_log_size", le(b, 0x30, 2)},
        {"warning_event_log_size", le(b, 0x32, 2)},
        {"failure_event_log_size", le(b, 0x34, 2)},
        {"fatal_event_log_size", le(b, 0x36, 2)},
        {"lsa_size", le(b, 0x38, 4)},
        {"poison_list_max", le(b, 0x3C, 3)},
        {"inject_poison_limit", le(b, 0x3F, 2)},
        {"poison_caps", le(b, 0x41, 1)},
        {"qos_telemetry_caps", le(b, 0x42, 1)},
    };
}

nlohmann::json decode_health(const ByteVector& b) {
    if (b.size() < 0x12) {
        throw std::runtime_error("Health output of " + std::to_string(b.size()) + " bytes");
    }
    return {
        {"health_status", le(b, 0, 1)},
        {"media_status", le(b, 1, 1)},
        {"additional_status", le(b, 2, 1)},
        {"life_used", le(b, 3, 1)},
        {"temperature", static_cast<int16_t>(le(b, 4, 2))},
        {"dirty_shutdown_count", le(b, 6, 4)},
        {"corrected_volatile_errors", le(b, 0xA, 4)},
        {"corrected_persistent_errors", le(b, 0xE, 4)},
    };
}

nlohmann::json decode_cdat(const ByteVector& t) {
    if (t.size() < 16 || le(t, 0, 4) != t.size()) {
        throw std::runtime_error("CDAT header length does not match the table");
    }
    uint8_t sum = 0;
    for (uint8_t byte : t) {
        sum = static_cast<uint8_t>(sum + byte);
    }
    if (sum != 0) {
        throw std::runtime_error("CDAT checksum does not sum to zero");
    }
    nlohmann::json out = nlohmann::json::array();
    out.push_back({{"type", "header"},
                   {"length", le(t, 0, 4)},
                   {"revision", le(t, 4, 1)},
                   {"checksum", le(t, 5, 1)},
                   {"sequence", le(t, 12, 4)}});
    for (size_t at = 16; at < t.size();) {
        const uint64_t type = le(t, at, 1);
        const uint64_t length = le(t, at + 2, 2);
        if (length < 4 || at + length > t.size()) {
            throw std::runtime_error("CDAT entry at " + std::to_string(at) + " overruns");
        }
        auto f = [&](size_t off, size_t n) { return le(t, at + off, n); };
        nlohmann::json e;
        switch (type) {
            case 0:
                e = {{"type", "dsmas"},
                     {"dsmad_handle", f(4, 1)},
                     {"flags", f(5, 1)},
                     {"dpa_base", f(8, 8)},
                     {"dpa_length", f(16, 8)}};
                break;
            case 1:
                e = {{"type", "dslbis"},           {"handle", f(4, 1)},
                     {"flags", f(5, 1)},           {"data_type", f(6, 1)},
                     {"entry_base_unit", f(8, 8)}, {"entries", {f(16, 2), f(18, 2), f(20, 2)}}};
                break;
            case 2:
                e = {{"type", "dsmscis"},
                     {"dsmas_handle", f(4, 1)},
                     {"side_cache_size", f(8, 8)},
                     {"cache_attributes", f(16, 4)}};
                break;
            case 3:
                e = {{"type", "dsis"}, {"flags", f(4, 1)}, {"handle", f(5, 1)}};
                break;
            case 4:
                e = {{"type", "dsemts"},
                     {"dsmas_handle", f(4, 1)},
                     {"efi_memory_type_attr", f(5, 1)},
                     {"dpa_offset", f(8, 8)},
                     {"dpa_length", f(16, 8)}};
                break;
            case 5: {
                e = {{"type", "sslbis"},
                     {"data_type", f(4, 1)},
                     {"entry_base_unit", f(8, 8)},
                     {"entries", nlohmann::json::array()}};
                for (size_t s = 16; s + 8 <= length; s += 8) {
                    e["entries"].push_back({{"port_x_id", f(s, 2)},
                                            {"port_y_id", f(s + 2, 2)},
                                            {"latency_or_bandwidth", f(s + 4, 2)}});
                }
                break;
            }
            default:
                e = {{"type", "unknown"},
                     {"type_id", type},
                     {"raw", ByteVector(t.begin() + static_cast<long>(at),
                                        t.begin() + static_cast<long>(at + length))}};
        }
        out.push_back(std::move(e));
        at += length;
    }
    return out;
}

}  // namespace cxlmgr::testing

namespace cxlmgr::testing {

std::string field_mismatches(const nlohmann::json& expected, const nlohmann::json& got) {
    std::string out;
    if (!got.is_object()) {
        return "not an object: " + got.dump() + "\n";
    }
    for (const auto& [key, value] : expected.items()) {
        if (!got.contains(key)) {
            out += "missing " + key + " (expected " + value.dump() + ")\n";
        } else if (got[key] != value) {
            out += key + ": expected " + value.dump() + ", got " + got[key].dump() + "\n";
        }
    }
    return out;
}

nlohmann::json alpha_device() {
    return emulated_device("alpha", {{"serial", 0xA1B2C3D4E5ull},
                                     {"vendor_id", 0x1e98},
                                     {"device_id", 0x0c51},
                                     {"payload_size", 4096},
                                     {"volatile_capacity", 512ull << 20},
                                     {"persistent_capacity", 256ull << 20},
                                     {"lsa_size", 131072},
                                     {"fw_revision", "IT FW 2.1"}});
}

}  // namespace cxlmgr::testing
