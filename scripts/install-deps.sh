#!/usr/bin/env bash
# Installs what cxlmgr needs to build, test and run its demo, from Debian 12's archive.
# Idempotent: packages already present are not touched, and apt is not called at all when
# nothing is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libboost-dev libpci-dev pciutils nlohmann-json3-dev
  libsdbus-c++-dev libsdbus-c++-bin libsystemd-dev
  libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  dbus dbus-daemon
  # man pages are written in scdoc; the CLI's --json output is checked against JSON Schema files
  scdoc python3-jsonschema man-db
  # end-to-end tests boot QEMU's CXL Type-3 device under a Debian 6.1 kernel (tests/e2e)
  qemu-system-x86 busybox-static cpio xz-utils
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "install-deps: missing packages (${missing[*]}) and not root; run as root" >&2
    exit 1
  fi
fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
