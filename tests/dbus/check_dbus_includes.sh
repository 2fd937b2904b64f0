#!/bin/bash
# dbus/ only translates (docs/DBUS.md "Layering"): it names what the daemon returns through the
# daemon's headers, so it includes daemon/, common/ and its own files, never the protocol layers
# (cxl/, doe/, pci/) or the emulated device (emu/). Prints every include that breaks the rule and
# fails; system and generated headers (<...>) are free, except the project's own folders.
set -euo pipefail
root=${1:?usage: check_dbus_includes.sh SOURCE_ROOT}
[[ -d $root/dbus ]] || { echo "no dbus/ under $root" >&2; exit 2; }

include='^[[:space:]]*#[[:space:]]*include[[:space:]]*'
# Quoted includes outside the allowed folders, and any include of a forbidden folder.
bad=$(
  grep -rnE --include='*.hpp' --include='*.cpp' --include='*.h' "${include}\"" "$root/dbus" |
    grep -vE '#[[:space:]]*include[[:space:]]*"(common|daemon|dbus)/' || true
  grep -rnE --include='*.hpp' --include='*.cpp' --include='*.h' \
    "${include}<(emu|doe|cxl|pci)/" "$root/dbus" || true
)
if [[ -n $bad ]]; then
  echo "dbus/ may include only daemon/, common/ and dbus/ headers; these do not:" >&2
  echo "$bad" | sed "s|^$root/||" >&2
  exit 1
fi
echo "dbus/ includes only daemon/, common/ and dbus/ headers"
