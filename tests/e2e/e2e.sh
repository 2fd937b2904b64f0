#!/usr/bin/env bash
# End-to-end test against QEMU 7.2's CXL Type-3 device under Debian's 6.1 kernel (docs/E2E.md).
# Host side: fetches the kernel (cached), writes the CDAT files, builds the initramfs, boots QEMU
# (TCG, bounded by `timeout`) with three cxl-type3 devices, and judges the serial console: every
# expected step must report PASS, the daemon must exit 0, the guest must report exit 0. Any
# failure prints the whole console (which carries the daemon's log) and QEMU's stderr.
#
# Usage: e2e.sh sysfs|vfio CXLMGRD CXLMGRCTL WORK_DIR KERNEL_CACHE TIMER
# (TIMER: the build's cxlmgr_e2e_timer, tests/e2e/guest_timer.cpp)
# Exit: 0 pass, 1 fail, 77 skipped (the kernel package cannot be downloaded).
set -euo pipefail

backend=$1
cxlmgrd=$2
cxlmgrctl=$3
work=$4
kernel_cache=$5
timer=$6
here=$(cd "$(dirname "$0")" && pwd)
# One boot: ~3 s to the shell under TCG, then the scenario (its idle-CPU step alone is 5 s).
qemu_timeout=${CXLMGR_E2E_QEMU_TIMEOUT:-240}

# Every step the scenario must pass, in order (a step that never ran fails the test too).
steps=(daemon-ready busctl-baseline discover device-properties cdat-read-raw cdat-refresh
    cdat-read cdat-properties timings identify firmware-info supported-logs command-effects-log
    health-unsupported firmware-update-unsupported still-healthy events-empty events-subscribe
    idle-cpu bad-cdat-checksum cdat-overrun good-device-after-faults cxlmgrctl shutdown)
case "$backend" in
    sysfs) ;;
    vfio) steps=(vfio-bind "${steps[@]}") ;;
    *)
        echo "usage: e2e.sh sysfs|vfio CXLMGRD CXLMGRCTL WORK_DIR KERNEL_CACHE TIMER" >&2
        exit 2
        ;;
esac

for tool in qemu-system-x86_64 cpio xz python3 apt-get dpkg-deb timeout flock; do
    command -v "$tool" >/dev/null ||
        { echo "e2e: $tool is missing; run scripts/install-deps.sh" >&2; exit 1; }
done
[ -x /bin/busybox ] || { echo "e2e: /bin/busybox is missing (busybox-static)" >&2; exit 1; }

mkdir -p "$work"
t0=$(date +%s%N)
bash "$here/fetch-kernel.sh" "$kernel_cache" || exit $?
t1=$(date +%s%N)
python3 "$here/make-cdat.py" "$work/cdat"
bash "$here/make-initramfs.sh" "$work/initramfs.cpio" "$kernel_cache" "$work/cdat" "$cxlmgrd" \
    "$cxlmgrctl" "$timer"
t2=$(date +%s%N)

machine=q35,cxl=on
# no_timer_check: under TCG on a loaded host the kernel's check that the IO-APIC timer ticks can
# miss its window and panic ("timer doesn't work through Interrupt-remapped IO-APIC"); the
# emulated timer is known good, so the check only adds a way to fail (docs/E2E.md).
append="console=ttyS0 panic=-1 rdinit=/init quiet no_timer_check e2e.backend=$backend"
iommu=()
if [ "$backend" = vfio ]; then
    # docs/E2E.md "QEMU facts": VFIO in the guest needs a virtual IOMMU with interrupt remapping.
    machine+=",kernel-irqchip=split"
    # shellcheck disable=SC2054 # commas belong to QEMU's option syntax
    iommu=(-device intel-iommu,intremap=on,caching-mode=on)
    append+=" intel_iommu=on iommu=pt"
fi
# Three devices behind three root ports of one CXL host bridge; the kernel numbers their buses
# 0d, 0e, 0f. The memory backends must be multiples of 256 MiB (docs/E2E.md "QEMU facts").
# shellcheck disable=SC2054
devices=(-device pxb-cxl,bus_nr=12,bus=pcie.0,id=cxl.1)
cdat=("" ",cdat=$work/cdat/bad-checksum.bin" ",cdat=$work/cdat/overrun.bin")
for i in 0 1 2; do
    devices+=(-object "memory-backend-ram,id=cxl-mem$i,share=on,size=256M"
        -object "memory-backend-ram,id=cxl-lsa$i,share=on,size=1M"
        -device "cxl-rp,port=$i,bus=cxl.1,id=root_port$((13 + i)),chassis=0,slot=$((2 + i))"
        -device "cxl-type3,bus=root_port$((13 + i)),memdev=cxl-mem$i,lsa=cxl-lsa$i,id=cxl-pmem$i,sn=$((0x1234 + i))${cdat[$i]}")
done

console=$work/console.log
qemu_log=$work/qemu.log
rm -f "$console" "$qemu_log"
status=0
timeout --kill-after=10 "$qemu_timeout" qemu-system-x86_64 -accel tcg -cpu max -smp 1 \
    -M "$machine" -m 1G,maxmem=8G,slots=8 -nodefaults -display none -monitor none \
    -serial "file:$console" -no-reboot \
    -kernel "$kernel_cache/vmlinux" -initrd "$work/initramfs.cpio" -append "$append" \
    "${iommu[@]}" "${devices[@]}" -M cxl-fmw.0.targets.0=cxl.1,cxl-fmw.0.size=4G \
    </dev/null >"$qemu_log" 2>&1 || status=$?
t3=$(date +%s%N)

ms() { echo $((($2 - $1) / 1000000)); }
problems=()
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    problems+=("QEMU did not power off within ${qemu_timeout} s (killed by timeout)")
elif [ "$status" -ne 0 ]; then
    problems+=("QEMU exited with status $status")
fi
[ -f "$console" ] || touch "$console"
# The serial line ends lines with CR LF.
tr -d '\r' <"$console" >"$console.txt"
console=$console.txt
for s in "${steps[@]}"; do
    if ! grep -q "^E2E-STEP PASS $s (" "$console"; then
        if grep -q "^E2E-STEP FAIL $s (" "$console"; then
            problems+=("step $s failed")
        else
            problems+=("step $s never reported")
        fi
    fi
done
grep -q '^E2E-DAEMON-EXIT 0$' "$console" || problems+=("cxlmgrd did not exit 0 after SIGTERM")
grep -q '^E2E-SANITIZER' "$console" && problems+=("a sanitizer reported an error in cxlmgrd")
grep -q '^E2E-EXIT 0$' "$console" || problems+=("the guest did not report exit 0")

echo "== e2e $backend: $(cat "$kernel_cache/kernel-version")"
echo "kernel fetch $(ms "$t0" "$t1") ms, initramfs $(ms "$t1" "$t2") ms" \
    "($(du -m "$work/initramfs.cpio" | cut -f1) MB), QEMU run $(ms "$t2" "$t3") ms"
grep -E '^E2E-(BOOTED|STEP|NOTE|DAEMON-EXIT|EXIT)' "$console" || true
grep -i 'cdat' "$qemu_log" | sed 's/^/qemu: /' || true

if [ ${#problems[@]} -ne 0 ]; then
    echo
    echo "== FAILED:"
    printf '  %s\n' "${problems[@]}"
    echo "== guest console ($console):"
    cat "$console"
    echo "== QEMU stderr ($qemu_log):"
    cat "$qemu_log"
    exit 1
fi
echo "== e2e $backend: PASS (${#steps[@]} steps)"
