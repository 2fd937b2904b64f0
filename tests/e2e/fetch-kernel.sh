#!/usr/bin/env bash
# Fetches Debian 12's current 6.1 kernel package with `apt-get download` (never installing it on
# this machine), unpacks the files it needs (as `dpkg -x` would) and keeps what the e2e guest needs in CACHE:
#   CACHE/vmlinux             the uncompressed kernel (QEMU boots it with -kernel, ~3 s faster
#                             than the bzImage through SeaBIOS)
#   CACHE/modules/*.ko        vfio-pci and its dependencies, uncompressed
#   CACHE/kernel-version      the package it came from
# A second run finds the cache and does nothing. Exits 77 (ctest's SKIP_RETURN_CODE) when the
# package cannot be downloaded, so an offline machine reports the test skipped, not passed.
#
# Usage: fetch-kernel.sh CACHE
set -euo pipefail

cache=$1
mkdir -p "$cache"
# Both backends' tests may start at once: one downloads, the other waits for the cache.
exec 9>"$cache/.lock"
flock 9

# vfio-pci's dependency closure in 6.1 (modinfo -F depends): vfio-pci -> vfio-pci-core, vfio;
# vfio-pci-core -> vfio, vfio_virqfd, irqbypass; vfio_iommu_type1 -> vfio.
modules=(irqbypass vfio vfio_virqfd vfio_iommu_type1 vfio-pci-core vfio-pci)

complete() {
    [ -s "$cache/vmlinux" ] && [ -s "$cache/kernel-version" ] || return 1
    for m in "${modules[@]}"; do
        [ -s "$cache/modules/$m.ko" ] || return 1
    done
}

if complete; then
    echo "fetch-kernel: cached $(cat "$cache/kernel-version")"
    exit 0
fi

skip() {
    echo "fetch-kernel: SKIP: $*" >&2
    exit 77
}

# The package the linux-image-amd64 metapackage points at is the current 6.1 build.
find_package() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-6\.1\.0-[0-9]+-amd64$/ { print $2; exit }'
}
package=$(find_package || true)
if [ -z "$package" ] && [ "$(id -u)" -eq 0 ]; then
    # A fresh machine may never have fetched the package lists (apt-cache then knows nothing).
    echo "fetch-kernel: no linux-image-amd64 in the package lists; running apt-get update"
    apt-get update -qq >/dev/null 2>&1 || true
    package=$(find_package || true)
fi
[ -n "$package" ] || skip "apt-cache knows no linux-image-6.1.0-*-amd64 (no package lists; as root, apt-get update)"

work="$cache/download"
rm -rf "$work"
mkdir -p "$work"
echo "fetch-kernel: apt-get download $package"
if ! (cd "$work" && apt-get download "$package" >download.log 2>&1); then
    cat "$work/download.log" >&2
    rm -rf "$work"
    skip "cannot download $package from the Debian archive (offline?)"
fi
deb=$(ls "$work"/*.deb)
# `dpkg -x` restricted to the members needed: the whole package unpacks to 400 MB, which takes
# half a minute on a busy disk; the kernel image and vfio modules take a few seconds.
mkdir -p "$work/root"
dpkg-deb --fsys-tarfile "$deb" |
    tar -x -C "$work/root" --wildcards './boot/vmlinuz-*' './lib/modules/*/kernel/drivers/vfio/*' \
        './lib/modules/*/kernel/virt/lib/*'

version=$(ls "$work/root/lib/modules")
bzimage="$work/root/boot/vmlinuz-$version"
[ -f "$bzimage" ] || { echo "fetch-kernel: $deb has no $bzimage" >&2; exit 1; }
# The bzImage carries vmlinux as an xz stream after the real-mode setup and decompressor: find
# the stream's magic (FD 37 7A 58 5A 00) and unpack only that stream.
offset=$(LC_ALL=C grep -obUaP '\xFD7zXZ\x00' "$bzimage" | awk -F: 'NR == 1 { print $1 }')
[ -n "$offset" ] || { echo "fetch-kernel: no xz stream in $bzimage" >&2; exit 1; }
# xz stops reading at the stream's end, which kills tail with SIGPIPE: that is expected.
{ tail -c "+$((offset + 1))" "$bzimage" || true; } | xz -dc --single-stream >"$work/vmlinux"
[ "$(head -c 4 "$work/vmlinux" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
    { echo "fetch-kernel: the stream in $bzimage is not an ELF kernel" >&2; exit 1; }

mkdir -p "$work/modules"
for m in "${modules[@]}"; do
    found=$(find "$work/root/lib/modules/$version" \( -name "$m.ko" -o -name "$m.ko.xz" \) -print -quit)
    [ -n "$found" ] || { echo "fetch-kernel: $package has no module $m" >&2; exit 1; }
    case "$found" in
        # busybox insmod loads plain ELF only.
        *.xz) xz -dc "$found" >"$work/modules/$m.ko" ;;
        *) cp "$found" "$work/modules/$m.ko" ;;
    esac
done

rm -rf "$cache/modules"
mv "$work/modules" "$cache/modules"
mv "$work/vmlinux" "$cache/vmlinux"
echo "$package $(dpkg-deb -f "$deb" Version) ($version)" >"$cache/kernel-version"
rm -rf "$work"  # the unpacked package is 400 MB; only the above is needed
echo "fetch-kernel: cached $(cat "$cache/kernel-version")"
