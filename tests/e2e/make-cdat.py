#!/usr/bin/env python3
"""Writes the CDAT tables of the e2e test into DIR.

default-cdat.txt  QEMU 7.2's built-in table for a 256 MiB persistent memdev, as decimal bytes:
                  what the guest expects ReadRaw to return. Built here from the layout QEMU uses
                  (cxl_type3.c, ct3_build_cdat_entries_for_mr; docs/E2E.md "QEMU facts"), not read
                  from the device, so a misread byte cannot agree with itself.
bad-checksum.bin  the same table with its checksum byte off by one (for cdat=FILE).
overrun.bin       the same entries under a header whose length ends 8 bytes into the last
                  entry; the bytes still sum to zero, so the overrun is the only fault.

QEMU's cdat=FILE loader asserts on an entry whose length does not fit its type and refuses a
file an entry runs past, so the overrun has to be against the header's length, not the file's.
"""
import struct
import sys
from pathlib import Path

MIB = 1 << 20
CDAT_DSMAS, CDAT_DSLBIS, CDAT_DSEMTS = 0, 1, 4
DSMAS_FLAG_NV = 1 << 2
# ACPI HMAT data types: read latency, write latency, read bandwidth, write bandwidth.
HMAT_READ_LATENCY, HMAT_WRITE_LATENCY, HMAT_READ_BW, HMAT_WRITE_BW = 1, 2, 4, 5


def entry(kind, body):
    return struct.pack("<BBH", kind, 0, 4 + len(body)) + body


def entries(size, handle=0):
    dsmas = entry(CDAT_DSMAS, struct.pack("<BBHQQ", handle, DSMAS_FLAG_NV, 0, 0, size))
    dslbis = [
        entry(CDAT_DSLBIS, struct.pack("<BBBBQHHHH", handle, 0, data_type, 0, unit, value, 0, 0, 0))
        for data_type, unit, value in (
            (HMAT_READ_LATENCY, 10000, 15),  # 150 ns
            (HMAT_WRITE_LATENCY, 10000, 25),  # 250 ns
            (HMAT_READ_BW, 1000, 16),  # 16 GB/s
            (HMAT_WRITE_BW, 1000, 16),
        )
    ]
    dsemts = entry(CDAT_DSEMTS, struct.pack("<BBHQQ", handle, 2, 0, 0, size))
    return dsmas + b"".join(dslbis) + dsemts


def table(body, length=None, revision=2, checksum_delta=0):
    length = 16 + len(body) if length is None else length
    header = bytearray(struct.pack("<IBB6sI", length, revision, 0, bytes(6), 0))
    whole = bytes(header) + body
    header[5] = (-sum(whole) + checksum_delta) & 0xFF
    return bytes(header) + body


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    body = entries(256 * MIB)
    default = table(body)
    assert len(default) == 160 and sum(default) % 256 == 0
    (out / "default-cdat.txt").write_text(" ".join(str(b) for b in default) + "\n")
    (out / "bad-checksum.bin").write_bytes(table(body, checksum_delta=1))
    overrun = table(body, length=len(default) - 8)
    assert sum(overrun) % 256 == 0
    (out / "overrun.bin").write_bytes(overrun)


if __name__ == "__main__":
    main()
