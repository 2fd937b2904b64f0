// The emulated device's state file (description key "state_file"; docs/EMULATED-DEVICE.md "State
// file"): what a device keeps so that it outlives the process that models it, as a real device
// outlives a crashed daemon. Each part writes and reads its own piece (firmware slots, event
// logs, the background operation); this file holds the file handling and the JSON helpers they
// share.
//
// Writes are atomic: the whole state goes to a temporary file in the same directory, is
// fsynced, renamed over the old file, and the directory is fsynced. A reader therefore sees
// either the old state or the new one, never a mixture, whatever moment the process dies at.
//
// Times: steady_clock does not survive a process, so the file stores durations relative to
// the moment it was written ("saved_at_unix_ns", wall clock) and a loading device rebuilds
// them against its own clock, less the wall-clock time that passed in between (the device kept
// running while no process modelled it).
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace cxlmgr::emu::state {

inline constexpr std::string_view kFormat = "cxlmgr-emu-state";
inline constexpr int kVersion = 1;

// The file's contents, or nullopt when it does not exist (a fresh device). A file that exists but
// cannot be read or is not a JSON object is an error naming the file and the problem.
Result<std::optional<nlohmann::json>> load(const std::string& path);

// Replaces the file with `state` atomically (temporary file, fsync, rename, directory fsync).
// On failure the old file is intact and no temporary file is left behind.
Status save(const std::string& path, const nlohmann::json& state);

// Wall-clock nanoseconds since the Unix epoch, for "saved_at_unix_ns".
int64_t unix_now_ns();

// Field readers for the parts' restore code: each error names the field.
Result<const nlohmann::json*> member(const nlohmann::json& object, std::string_view key);
Result<uint64_t> get_uint(const nlohmann::json& object, std::string_view key,
                          uint64_t max = UINT64_MAX);
Result<int64_t> get_int(const nlohmann::json& object, std::string_view key);
Result<bool> get_bool(const nlohmann::json& object, std::string_view key);
Result<std::string> get_string(const nlohmann::json& object, std::string_view key);

// Byte strings as lowercase hex.
std::string bytes_hex(std::span<const uint8_t> bytes);
// `value` itself (an array element, say), named `what` in errors.
Result<std::vector<uint8_t>> decode_bytes(const nlohmann::json& value, std::string_view what,
                                          std::optional<size_t> exact_size = std::nullopt);
Result<std::vector<uint8_t>> get_bytes(const nlohmann::json& object, std::string_view key,
                                       std::optional<size_t> exact_size = std::nullopt);

}  // namespace cxlmgr::emu::state
