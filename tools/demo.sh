#!/usr/bin/env bash
# The main job, on an emulated CXL Type-3 device: what the daemon finds on the device, and
# pciutils' own decode of the same config space. Called by scripts/demo.sh with the build dir.
set -euo pipefail
build=${1:-build/release}
cxlmgrd="$build/daemon/cxlmgrd"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "cxlmgrd --emulate 1 --probe: the device as the daemon finds it"
"$cxlmgrd" --emulate 1 --probe

step "lspci -F decodes the same config space (dumped by cxlmgrd --dump-config emu0)"
dump=$(mktemp)
trap 'rm -f "$dump"' EXIT
"$cxlmgrd" --emulate 1 --dump-config emu0 >"$dump"
lspci -F "$dump" -vvv 2>/dev/null | grep -E 'CXL|Serial|Data Object|Vendor=1e98|Block|DOE'
