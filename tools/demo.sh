#!/usr/bin/env bash
# The main job, on an emulated CXL Type-3 device: cxlmgrd on a private D-Bus, driven with busctl
# exactly as a user would. Called by scripts/demo.sh with the build directory.
set -euo pipefail
build=${1:-build/release}
cxlmgrd="$build/cxlmgrd/cxlmgrd"
cxlmgrctl_bin="$build/tools/cxlmgrctl/cxlmgrctl"
mkimage="$build/tools/cxlmgr-mkimage"
work=$(mktemp -d)
bus_pid=""
daemon_pid=""
watch_pid=""
cleanup() {
  [ -n "$watch_pid" ] && kill -INT "$watch_pid" 2>/dev/null && wait "$watch_pid" 2>/dev/null
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
ctl() {
  printf '$ cxlmgrctl --bus-address=$BUS %s\n' "$*"
  "$cxlmgrctl_bin" --bus-address="$address" "$@"
}
ctl list
bus call org.cxlmgr1 /org/cxlmgr1 org.cxlmgr1.Manager ListDevices
bus get-property org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Device Name State SerialNumber PayloadSize FirmwareRevision

step "Identify and Get Health Info through the arbiter"
bus call org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Device Identify
bus call org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Device GetHealth

step "CDAT read over DOE, decoded (and its header properties)"
ctl cdat emu0
bus call org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Cdat Read | fold -w 100
bus get-property org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Cdat Length Revision Checksum

step "Events: a watcher subscribes; events injected into the device's logs reach it"
"$cxlmgrctl_bin" --bus-address="$address" events watch >"$work/watch.out" 2>&1 &
watch_pid=$!
echo '$ cxlmgrctl --bus-address=$BUS events watch &'
# The watcher's subscription arms the device (interrupt policy, fast collection).
for _ in $(seq 100); do
  [ "$(busctl --address="$address" --list tree org.cxlmgr1 2>/dev/null | grep -c subscriptions/)" -gt 0 ] && break
  sleep 0.1
done
bus call org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Emulator InjectEvent 'ssa{sv}' \
  warning general-media 3 dpa t 0x40000 descriptor y 1 type y 0
bus call org.cxlmgr1 /org/cxlmgr1/devices/emu1 org.cxlmgr1.Emulator InjectEvent 'ssa{sv}' \
  failure dram 2 dpa t 0x8000 channel y 1
bus call org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Emulator InjectEvent 'ssa{sv}' \
  informational memory-module 0
for _ in $(seq 100); do
  [ "$(grep -c . "$work/watch.out" || true)" -ge 3 ] && break
  sleep 0.1
done
echo "--- what the watcher printed"
cat "$work/watch.out"
kill -INT "$watch_pid" && wait "$watch_pid" || true
watch_pid=""
echo "--- the same events, replayed from the daemon's journal"
ctl events list
echo "--- and over D-Bus: the first stored event of emu0 with every decoded field"
bus call org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Events GetEvents tu 0 1 | fold -w 100

step "Firmware update through busctl: a job object with progress, then online activation"
"$mkimage" "EMU FW 2.0" 4M "$work/fw-2.0.bin"
bus get-property org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Firmware SlotRevisions ActiveSlot
job=$(busctl --address="$address" call org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Firmware \
  StartUpdate 'sya{sv}' "$work/fw-2.0.bin" 0 1 activate s online | awk '{print $2}' | tr -d '"')
echo "\$ busctl --address=\$BUS call org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Firmware StartUpdate 'sya{sv}' fw-2.0.bin 0 1 activate s online"
echo "o \"$job\""
last=""
while :; do
  line=$(busctl --address="$address" get-property org.cxlmgr1 "$job" org.cxlmgr1.Job State Progress | tr '\n' ' ')
  [ "$line" != "$last" ] && echo "  $job State Progress: $line"
  last=$line
  case "$line" in *completed*|*failed*|*cancelled*) break ;; esac
  sleep 0.05
done
bus get-property org.cxlmgr1 "$job" org.cxlmgr1.Job State Error BytesDone BytesTotal
bus get-property org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Firmware SlotRevisions ActiveSlot
bus get-property org.cxlmgr1 /org/cxlmgr1/devices/emu0 org.cxlmgr1.Device FirmwareRevision

step "The same with cxlmgrctl on the other device: progress, then activation"
"$mkimage" "EMU FW 3.0" 2M "$work/fw-3.0.bin"
ctl fw update emu1 "$work/fw-3.0.bin" --slot 2
ctl fw activate emu1 --slot 2 --mode online
ctl fw info emu1

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
