// Builds the CDAT an emulated device serves over DOE Table Access, from the "cdat" section of its
// description (DeviceDescription::cdat). Written independently of doe/cdat.*: it is the other
// side of the wire.
//
// Accepted forms of the section:
//   {}                      the default table (below)
//   {"revision": 1, "sequence": 0, "entries": [ {...}, ... ]}
//       entries use the names of the driver's JSON rendering (doe/cdat.hpp): "type" is one of
//       "header", "dsmas", "dslbis", "dsmscis", "dsis", "dsemts", "sslbis", "unknown", fields as
//       there; omitted fields are 0. A leading "header" entry may carry revision and sequence;
//       its length and checksum are recomputed, so a rendering can be fed back in. "unknown"
//       entries give type_id and raw (the whole entry, common header included). The header's
//       length and checksum are always computed.
//   {"raw_hex": "..."}      a table served verbatim (whitespace ignored), checksum and all, so
//       malformed tables can be served. It is split into entries by walking the length fields;
//       where a length is unusable (< 4 or past the end) the rest becomes one last entry.
// Default: header revision 1; per memory region (volatile first, then persistent) a DSMAS
// (handle 0, 1; non-volatile flag for persistent), four DSLBIS for that handle (read/write
// latency 150/180 ns, read/write bandwidth 28/24 GB/s) and a DSEMTS (EFI memory type 1,
// EFI_MEMORY_SP, for volatile; 2 for persistent): 160 bytes for one region, as QEMU's.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "emu/device_description.hpp"

namespace cxlmgr::emu {

struct CdatImage {
    std::vector<uint8_t> table;
    // (offset, length) of each entry as served by entry handle; [0] is the 16-byte header.
    std::vector<std::pair<uint32_t, uint32_t>> entries;
};

Result<CdatImage> build_cdat(const DeviceDescription& description);

}  // namespace cxlmgr::emu
