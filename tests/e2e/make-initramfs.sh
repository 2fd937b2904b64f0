#!/usr/bin/env bash
# Builds the e2e guest's initramfs (an uncompressed newc cpio: the kernel unpacks it faster than
# it would decompress one under TCG):
#   busybox-static and its applet links; cxlmgrd, cxlmgrctl, cxlmgr_e2e_timer, dbus-daemon,
#   busctl and every shared library ldd lists for them (with the sanitizer build that includes
#   libasan and libubsan);
#   pci.ids for libpci's names; the vfio modules; /init, the scenario and its expected values.
#
# Usage: make-initramfs.sh OUT.cpio KERNEL_CACHE EXPECT_DIR CXLMGRD CXLMGRCTL TIMER
set -euo pipefail

out=$1
kernel_cache=$2
expect_dir=$3
cxlmgrd=$4
cxlmgrctl=$5
timer=$6
here=$(cd "$(dirname "$0")" && pwd)

root=$(mktemp -d "${out%/*}/initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,run,tmp,var/lib,lib/modules,e2e/expect,usr/share/misc}

busybox=/bin/busybox
if ldd "$busybox" >/dev/null 2>&1; then
    echo "make-initramfs: $busybox is dynamically linked; install busybox-static" >&2
    exit 1
fi
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done

# Copies a file to the same path under the root, following symlinks (ld.so and ldd agree on
# these paths, so the guest's loader finds each library where the host's did).
copy_same_path() {
    mkdir -p "$root$(dirname "$1")"
    cp -L "$1" "$root$1"
}

copy_libraries() {
    local lib
    # "libx.so => /path (addr)" and the loader's "/lib64/ld-linux-x86-64.so.2 (addr)".
    for lib in $(ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do
        [ -e "$root$lib" ] || copy_same_path "$lib"
    done
}

# Ours are copied without debug sections (an ASan Debug build is mostly DWARF); the symbol
# table stays, so a sanitizer report in the guest still names functions.
for bin in "$cxlmgrd" "$cxlmgrctl" "$timer"; do
    name=$(basename "$bin")
    if command -v strip >/dev/null; then
        strip --strip-debug -o "$root/bin/$name" "$bin"
    else
        cp "$bin" "$root/bin/$name"
    fi
    copy_libraries "$bin"
done
for tool in dbus-daemon busctl; do
    path=$(command -v "$tool") || { echo "make-initramfs: $tool not found" >&2; exit 1; }
    rm -f "$root/bin/$tool"  # not the busybox applet of the same name, should there be one
    cp -L "$path" "$root/bin/$tool"
    copy_libraries "$path"
done

if [ -f /usr/share/misc/pci.ids ]; then
    cp -L /usr/share/misc/pci.ids "$root/usr/share/misc/pci.ids"
fi
cp "$kernel_cache"/modules/*.ko "$root/lib/modules/"

echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"

install -m 0755 "$here/guest/init" "$root/init"
cp "$here/guest/scenario.sh" "$here/guest/lib.sh" "$here/guest/flatten.awk" \
    "$here/guest/call_times.awk" "$here/guest/bus.conf" "$root/e2e/"
cp "$expect_dir/default-cdat.txt" "$root/e2e/expect/"
# The sanitizer options CI runs the host's tests with hold for the guest's binaries too.
{
    echo "export ASAN_OPTIONS='${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}'"
    echo "export UBSAN_OPTIONS='${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}'"
} >"$root/e2e/env"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
echo "make-initramfs: $out, $(du -m "$out" | cut -f1) MB"
