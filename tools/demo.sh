#!/usr/bin/env bash
# The main job, on an emulated CXL Type-3 device: cxlmgrd on a private D-Bus, driven with busctl
# exactly as a user would. Called by scripts/demo.sh with the build directory.
set -euo pipefail
build=${1:-build/release}
cxlmgrd="$build/daemon/cxlmgrd"
work=$(mktemp -d)
bus_pid=""
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "What the daemon finds on the device (cxlmgrd --emulate 1 --probe)"
"$cxlmgrd" --emulate 1 --probe

step "pciutils decodes the same config space (cxlmgrd --dump-config emu0 | lspci -F)"
"$cxlmgrd" --emulate 1 --dump-config emu0 >"$work/config.txt"
lspci -F "$work/config.txt" -vvv 2>/dev/null | grep -E 'CXL|Serial|Data Object|Vendor=1e98|Block' || true

step "A private bus and cxlmgrd serving two emulated devices on it"
dbus-daemon --session --fork --nopidfile --print-address=1 --print-pid=1 >"$work/bus"
address=$(sed -n 1p "$work/bus")
bus_pid=$(sed -n 2p "$work/bus")
"$cxlmgrd" --bus-address="$address" --emulate 2 --state-dir "$work/state" 2>"$work/cxlmgrd.log" &
daemon_pid=$!
for _ in $(seq 100); do
  busctl --address="$address" status org.cxlmgr1 >/dev/null 2>&1 && break
  sleep 0.1
done
# Shown as "busctl --address=$BUS ..." to keep the lines readable.
bus() {
  printf '$ busctl --address=$BUS %s\n' "$*"
  busctl --address="$address" "$@"
}
bus call org.cxlmgr1 /org/cxlmgr1 org.cxlmgr1.Manager ListDevices
bus get-property org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Device Name State SerialNumber PayloadSize FirmwareRevision

step "Identify and Get Health Info through the arbiter"
bus call org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Device Identify
bus call org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Device GetHealth

step "CDAT read over DOE, decoded (and its header properties)"
bus call org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Cdat Read | fold -w 100
bus get-property org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Cdat Length Revision Checksum

step "A raw mailbox command (Get FW Info, opcode 0x0200)"
bus call org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Device Command qay 0x0200 0

step "A faulty device: the CDAT checksum is wrong; the daemon names the fault and stays up"
bus call org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Emulator InjectFault 'sa{sv}' bad-cdat-checksum 0
bus call org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Cdat Refresh || true
step "...while the other device keeps answering"
bus get-property org.cxlmgr1 /org/cxlmgr1/devices/emu1 org.cxlmgr1.Cdat Length
bus call org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Emulator ClearFaults

step "SIGTERM: cxlmgrd releases the name, drains its channels and exits"
kill -TERM "$daemon_pid"
wait "$daemon_pid" && echo "cxlmgrd exited with status 0"
daemon_pid=""
echo "--- cxlmgrd's log"
cat "$work/cxlmgrd.log"
