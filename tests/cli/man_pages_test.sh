#!/usr/bin/env bash
# Checks of the generated man pages (docs/man), so they cannot silently go stale:
#
#   render DIR                     every page renders without a groff or man warning, and fits
#                                  an 80-column terminal
#   daemon-options DIR CXLMGRD     cxlmgrd.8's OPTIONS are exactly `cxlmgrd --help`'s options,
#                                  and cxlmgrd accepts each one the page documents
#   ctl-commands DIR CXLMGRCTL     cxlmgrctl.1's COMMANDS are exactly the commands of
#                                  `cxlmgrctl --help`; every option of the help texts (the
#                                  general one and each command's) is documented, and every
#                                  option documented appears in them
#   config DIR CXLMGRD SOURCE_DIR  cxlmgrd.json.5 (and README.md) name every key the
#                                  configuration parsers know; its ERRORS are exactly what
#                                  cxlmgrd prints for the matching mistakes; its EXAMPLES are
#                                  accepted
set -uo pipefail

mode=$1
dir=$2
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
finish() {
  if ((failures > 0)); then
    echo "$failures check(s) failed"
    exit 1
  fi
  echo "all checks passed"
  exit 0
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Roff as scdoc writes it, made plain: no font changes, no zero-width escapes, real minus signs
# and apostrophes.
clean() {
  sed -e 's/\\f[BIRP]//g' -e 's/\\&//g' -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" \
    -e "s/\\\\\\*(Aq/'/g" -e 's/\\e/\\/g'
}

# The lines of section $2 of page $1 (between `.SH NAME` and the next .SH).
section() {
  awk -v name="$2" '
    /^\.SH / { title = substr($0, 5); gsub(/"/, "", title); inside = (title == name); next }
    inside { print }' "$1"
}

# The items of a definition list in section $2 of page $1: the text lines scdoc puts right
# before an indented block (.RS), nested ones included.
items() {
  section "$1" "$2" | awk '/^\.RS/ && prev !~ /^\./ && prev != "" { print prev } { prev = $0 }' |
    clean
}

# The literal blocks (.nf ... .fi) of section $2 of page $1, blocks separated by a line "--".
literals() {
  section "$1" "$2" | awk '/^\.fi/ { inside = 0; print "--"; next }
                           inside && !/^\.RS/ && !/^\.RE/ { print }
                           /^\.nf/ { inside = 1 }' | clean
}

# COMMAND [SUBCOMMAND] from a synopsis line: "fw update DEVICE IMAGE [--slot N]" -> "fw update".
command_of() {
  awk '{ c = $1; if ($2 ~ /^[a-z][a-z-]*$/) c = c " " $2; print c }'
}

need_page() {
  [ -s "$dir/$1" ] || { echo "FAIL: $dir/$1 was not generated"; exit 1; }
}

case $mode in
render)
  for page in cxlmgrd.8 cxlmgrctl.1 cxlmgrd.json.5; do
    need_page "$page"
    if ! groff -ww -man -z "$dir/$page" 2>"$work/groff.err" || [ -s "$work/groff.err" ]; then
      fail "$page: groff -ww reports: $(cat "$work/groff.err")"
    fi
    if ! LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l -Tutf8 "$dir/$page" >/dev/null \
      2>"$work/man.err" || [ -s "$work/man.err" ]; then
      fail "$page: man --warnings reports: $(cat "$work/man.err")"
    fi
    # What a reader sees on an 80-column terminal: no line runs over (rendered as ASCII, so
    # that a byte is a column).
    LC_ALL=C MANWIDTH=80 man -l "$dir/$page" 2>/dev/null |
      col -bx >"$work/page.txt"
    [ "$(wc -l <"$work/page.txt")" -gt 20 ] || fail "$page: renders to almost nothing"
    awk -v page="$page" 'length($0) > 80 { printf "FAIL: %s: line wider than 80 columns: %s\n", page, $0; bad = 1 }
                         END { exit bad }' "$work/page.txt" || failures=$((failures + 1))
  done
  finish
  ;;

daemon-options)
  daemon=$3
  need_page cxlmgrd.8
  "$daemon" --help >"$work/help" || { echo "FAIL: cxlmgrd --help failed"; exit 1; }
  # Option lines: indented, starting with '-'; the description follows two or more spaces.
  grep -E '^[[:space:]]+-' "$work/help" | sed -E 's/^[[:space:]]+//; s/[[:space:]]{2,}.*//' |
    grep -oE '(^|[[:space:],])--?[a-z][a-z-]*' | tr -d ' ,' | sort -u >"$work/help.opts"
  if [ "$(wc -l <"$work/help.opts")" -lt 8 ]; then
    echo "FAIL: found only $(wc -l <"$work/help.opts") options in cxlmgrd --help:"
    cat "$work/help"
    exit 1
  fi
  items "$dir/cxlmgrd.8" OPTIONS >"$work/items"
  grep -oE '(^|[[:space:],])--?[a-z][a-z-]*' "$work/items" | tr -d ' ,' | sort -u >"$work/page.opts"
  while read -r opt; do
    grep -qxF -- "$opt" "$work/page.opts" || fail "cxlmgrd --help lists $opt; cxlmgrd.8 OPTIONS does not"
  done <"$work/help.opts"
  # Each documented option, with a value of the kind its placeholder names, then --help:
  # cxlmgrd parses the whole line, so an option it does not know fails with status 2.
  while read -r opt; do
    line=$(grep -E -- "(^|[[:space:],])$opt([=[:space:],]|\$)" "$work/items" | head -n 1)
    placeholder=$(sed -nE "s/.*${opt}[= ]([A-Z][A-Z_]*).*/\1/p" <<<"$line")
    args=("$opt")
    case $placeholder in
      "") ;;
      N) args+=(1) ;;
      LEVEL) args+=(info) ;;
      ADDR) args+=("unix:path=$work/no-bus") ;;
      *) args+=("$work/$placeholder") ;;
    esac
    if ! "$daemon" "${args[@]}" --help >/dev/null 2>"$work/err"; then
      fail "cxlmgrd.8 documents '${args[*]}'; cxlmgrd refuses it: $(head -n 1 "$work/err")"
    else
      echo "ok:   ${args[*]}"
    fi
  done <"$work/page.opts"
  finish
  ;;

ctl-commands)
  ctl=$3
  need_page cxlmgrctl.1
  "$ctl" --help >"$work/help" || { echo "FAIL: cxlmgrctl --help failed"; exit 1; }
  # Command lines: indented a little (a summary continued on its own line is indented far),
  # starting with a lower-case word; the description, if any, follows two or more spaces.
  grep -E '^ {1,8}[a-z]' "$work/help" | sed -E 's/^[[:space:]]+//; s/[[:space:]]{2,}.*//' |
    command_of | sort -u >"$work/help.commands"
  if [ "$(wc -l <"$work/help.commands")" -lt 5 ]; then
    echo "FAIL: found only these commands in cxlmgrctl --help:"
    cat "$work/help"
    exit 1
  fi
  cp "$work/help" "$work/all-help"
  # Each command's own help, where it has one (it must not need the daemon to print it).
  while read -r command; do
    # shellcheck disable=SC2086
    if timeout 20 "$ctl" --bus-address="unix:path=$work/no-bus" $command --help \
      >"$work/command-help" 2>/dev/null; then
      cat "$work/command-help" >>"$work/all-help"
    fi
  done <"$work/help.commands"
  grep -oE -- '--[a-z][a-z-]*' "$work/all-help" | sort -u >"$work/help.opts"

  items "$dir/cxlmgrctl.1" COMMANDS >"$work/command-items"
  grep -E '^[a-z]' "$work/command-items" | command_of | sort -u >"$work/page.commands"
  items "$dir/cxlmgrctl.1" OPTIONS >"$work/option-items"
  cat "$work/command-items" "$work/option-items" | grep -oE -- '--[a-z][a-z-]*' |
    sort -u >"$work/page.opts"

  while read -r command; do
    grep -qxF "$command" "$work/page.commands" ||
      fail "cxlmgrctl --help lists '$command'; cxlmgrctl.1 COMMANDS does not"
  done <"$work/help.commands"
  while read -r command; do
    grep -qxF "$command" "$work/help.commands" ||
      fail "cxlmgrctl.1 documents '$command'; cxlmgrctl --help does not list it"
  done <"$work/page.commands"
  while read -r opt; do
    grep -qxF -- "$opt" "$work/page.opts" ||
      fail "cxlmgrctl's help mentions $opt; cxlmgrctl.1 documents it nowhere in OPTIONS or COMMANDS"
  done <"$work/help.opts"
  while read -r opt; do
    grep -qxF -- "$opt" "$work/help.opts" ||
      fail "cxlmgrctl.1 documents $opt; no help text of cxlmgrctl mentions it"
  done <"$work/page.opts"
  echo "commands: $(tr '\n' ',' <"$work/help.commands")"
  echo "options:  $(tr '\n' ' ' <"$work/help.opts")"
  finish
  ;;

config)
  daemon=$3
  source_dir=$4
  page=$dir/cxlmgrd.json.5
  need_page cxlmgrd.json.5
  # The keys the parsers compare against.
  grep -oE '\b(key|fkey|ekey) [!=]= "[a-z_]+"' "$source_dir/daemon/config.cpp" |
    grep -oE '"[a-z_]+"' | tr -d '"' | sort -u >"$work/keys"
  n_daemon=$(wc -l <"$work/keys")
  sed -n '/kKnown = {/,/};/p' "$source_dir/emu/device_description.cpp" |
    grep -oE '"[a-z_]+"' | tr -d '"' | sort -u >"$work/emu-keys"
  n_emu=$(wc -l <"$work/emu-keys")
  if ((n_daemon < 8 || n_emu < 15)); then
    echo "FAIL: found only $n_daemon keys in daemon/config.cpp and $n_emu in" \
      "emu/device_description.cpp: has the parsing code changed shape?"
    exit 1
  fi
  while read -r key; do
    grep -qF "\\fB$key\\fR" "$page" || fail "cxlmgrd.json.5 does not document the key $key"
    grep -qF "\`$key\`" "$source_dir/README.md" || fail "README.md does not document the key $key"
  done < <(sort -u "$work/keys" "$work/emu-keys")

  # Each mistake, and the line cxlmgrd prints for it (the page shows the file as cxlmgrd.json).
  config=$work/cxlmgrd.json
  run() { # run CONFIG_TEXT (MISSING: no file): exit status of cxlmgrd --config, messages in $work/out
    rm -f "$config"
    [ "$1" = MISSING ] || printf '%s\n' "$1" >"$config"
    JOURNAL_STREAM=1 "$daemon" --config "$config" --dump-config no-such-device \
      >/dev/null 2>"$work/err"
    local status=$?
    sed -E 's/^<[0-9]>//' "$work/err" | sed "s#$config#cxlmgrd.json#g" >"$work/out"
    return $status
  }
  : >"$work/produced"
  while IFS= read -r bad; do
    run "$bad"
    status=$?
    if [ "$status" != 2 ]; then
      fail "cxlmgrd accepted (status $status) the invalid configuration $bad"
    fi
    cat "$work/out" >>"$work/produced"
  done <<'EOF'
MISSING
{"devices": [}
{"devices": [{"backend": "sysfs", "address": "0000:0d:00.0"}], "discovr": true}
{"devices": [{"backend": "pci", "address": "0000:0d:00.0"}]}
{"devices": [{"backend": "vfio"}]}
{"devices": [{"backend": "sysfs", "address": "0000:0d:00.0"}, {"backend": "sysfs", "address": "0000:0d:00.0"}]}
{"firmware": {"read_timeout_ms": 0}}
{"devices": [{"backend": "emulated", "name": "emu0", "payload_size": 3000}]}
EOF
  # One message per line; an indented line continues the one before (folded to fit the page).
  literals "$page" ERRORS | grep -v '^--$' | sed '/^[[:space:]]*$/d' |
    awk '/^[[:space:]]/ { sub(/^[[:space:]]+/, ""); line = line " " $0; next }
         { if (NR > 1) print line; line = $0 }
         END { if (NR > 0) print line }' >"$work/documented"
  [ -s "$work/documented" ] || fail "cxlmgrd.json.5 has no ERRORS examples"
  while IFS= read -r line; do
    grep -qxF -- "$line" "$work/documented" ||
      fail "cxlmgrd prints '$line'; cxlmgrd.json.5 ERRORS does not show it"
  done <"$work/produced"
  while IFS= read -r line; do
    grep -qxF -- "$line" "$work/produced" ||
      fail "cxlmgrd.json.5 ERRORS shows '$line'; cxlmgrd prints no such line for the test's mistakes"
  done <"$work/documented"

  # The examples: the file is valid (only then does cxlmgrd look for the device to dump).
  literals "$page" EXAMPLES | awk -v out="$work/example" '
      /^--$/ { if (text ~ /^[[:space:]]*\{/) { n++; f = out n ".json"; printf "%s", text > f; close(f) } text = ""; next }
      { text = text $0 "\n" }
      END { print n + 0 }' >"$work/count"
  if [ "$(cat "$work/count")" -lt 2 ]; then
    fail "cxlmgrd.json.5 EXAMPLES: found $(cat "$work/count") JSON examples, expected at least 2"
  fi
  for example in "$work"/example*.json; do
    [ -e "$example" ] || continue
    run "$(cat "$example")"
    status=$?
    if [ "$status" != 1 ] || ! grep -q "no configured device is named 'no-such-device'" "$work/out"; then
      fail "cxlmgrd.json.5 example $(basename "$example") is refused (status $status): $(cat "$work/out")"
      cat "$example"
    else
      echo "ok:   example $(basename "$example") is a valid configuration"
    fi
  done
  finish
  ;;

*)
  echo "usage: $0 render|daemon-options|ctl-commands|config DIR ..." >&2
  exit 2
  ;;
esac
