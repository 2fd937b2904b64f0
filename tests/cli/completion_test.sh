#!/usr/bin/env bash
# The bash completion of cxlmgrctl (completion/cxlmgrctl): COMPREPLY for command lines split the
# way readline splits them (at whitespace, and around the characters of COMP_WORDBREAKS such as
# ':' and '='), without the bash-completion package. DEVICE names come from a real cxlmgrd on a
# private bus, reached through the --bus-address or --session given on the line.
#
# usage: completion_test.sh COMPLETION_SCRIPT CXLMGRCTL CXLMGRD
set -uo pipefail

script=$1
ctl=$2
daemon=$3

work=$(mktemp -d)
bus_pid=""
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=/dev/null
source "$script" || { echo "FAIL: cannot source $script"; exit 1; }
[[ $(complete -p cxlmgrctl 2>/dev/null) == "complete -F _cxlmgrctl cxlmgrctl" ]] ||
  { echo "FAIL: the script does not register _cxlmgrctl for cxlmgrctl"; exit 1; }

COMP_WORDBREAKS=$' \t\n"\'@><=;|&(:'
failures=0

# Sets COMP_WORDS, COMP_CWORD, COMP_LINE and COMP_POINT as bash does for LINE with the cursor at
# its end (checked against an interactive bash 5.2: "a --x=on" is a, --x, =, on; "a 0000:0d:0"
# is a, 0000, :, 0d, :, 0; a trailing space adds an empty word).
split_line() {
  local line=$1 token rest run
  COMP_LINE=$line
  COMP_POINT=${#line}
  COMP_WORDS=()
  local -a tokens
  read -ra tokens <<<"$line"
  for token in "${tokens[@]}"; do
    rest=$token
    while [ -n "$rest" ]; do
      if [[ $rest == [=:]* ]]; then
        run=${rest%%[!=:]*}
      else
        run=${rest%%[=:]*}
      fi
      COMP_WORDS+=("$run")
      rest=${rest:${#run}}
    done
  done
  [[ $line == *[[:space:]] ]] && COMP_WORDS+=("")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
}

# expect LINE EXPECTED...: the completions offered for LINE, in any order, are exactly EXPECTED.
expect() {
  local line=$1
  shift
  split_line "$line"
  COMPREPLY=()
  local cword=$COMP_CWORD
  local prev=""
  ((cword > 0)) && prev=${COMP_WORDS[cword - 1]}
  _cxlmgrctl cxlmgrctl "${COMP_WORDS[cword]}" "$prev" 2>"$work/stderr"
  local got want
  got=$(printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ')
  want=$(printf '%s\n' "$@" | sed '/^$/d' | sort | tr '\n' ' ')
  if [ "$got" != "$want" ]; then
    echo "FAIL: '$line'"
    echo "      expected: $want"
    echo "      got:      $got"
    failures=$((failures + 1))
  elif [ -s "$work/stderr" ]; then
    echo "FAIL: '$line' printed on stderr: $(cat "$work/stderr")"
    failures=$((failures + 1))
  else
    echo "ok:   '$line' -> $got"
  fi
}

nobus="unix:path=$work/no-such-bus"

echo "== commands and subcommands"
expect "$ctl " cdat events fw health help info list
expect "$ctl f" fw
expect "$ctl h" health help
expect "$ctl help " cdat events fw health info list
expect "$ctl help fw " activate cancel info update
expect "$ctl help events w" watch
expect "$ctl help list " # nothing more
expect "$ctl -" --session --bus-address --json --help
expect "$ctl --session --json " cdat events fw health help info list
expect "$ctl --bus-address $nobus e" events
expect "$ctl --bus-address=$nobus he" health help
expect "$ctl --bus-address " # the address itself: nothing to offer
expect "$ctl fw " activate cancel info update
expect "$ctl fw a" activate
expect "$ctl events " list watch
expect "$ctl nonsense " # unknown command: nothing

echo "== options of each command"
expect "$ctl list -" --json --help
expect "$ctl cdat emu0 -" --raw --json --help
expect "$ctl fw update emu0 img --" --slot --activate --no-wait --json --help
expect "$ctl fw update --no" --no-wait
expect "$ctl fw activate emu0 -" --slot --mode --json --help
expect "$ctl events list -" --since --json --help
expect "$ctl events watch emu0 -" --log --since --json --help

echo "== option values"
expect "$ctl fw update emu0 img --activate " none online on-reset
expect "$ctl fw update emu0 img --activate o" online on-reset
expect "$ctl fw update emu0 img --activate=on" online on-reset
expect "$ctl fw update emu0 img --activate=" none online on-reset
expect "$ctl fw update --slot " 0 1 2 3 4
expect "$ctl fw activate emu0 --slot " 1 2 3 4
expect "$ctl fw activate emu0 --slot=" 1 2 3 4
expect "$ctl fw activate emu0 --mode " online on-reset
expect "$ctl fw activate emu0 --mode=on-" on-reset
expect "$ctl events watch --log " informational warning failure fatal
expect "$ctl events watch --log f" failure fatal
expect "$ctl events watch --log warning,f" warning,failure warning,fatal
expect "$ctl events watch emu0 --log=informational," \
  informational,warning informational,failure informational,fatal
expect "$ctl events watch --log=warning,fatal,i" warning,fatal,informational
expect "$ctl events list --since " # a number: nothing to offer
expect "$ctl --json fw update emu0 img --no-wait --activate n" none

echo "== files for IMAGE and --raw FILE"
mkdir "$work/files" "$work/files/sub"
touch "$work/files/fw-1.bin" "$work/files/fw-2.bin" "$work/files/notes.txt"
f=$work/files
expect "$ctl fw update emu0 $f/fw" "$f/fw-1.bin" "$f/fw-2.bin"
expect "$ctl fw update emu0 --slot 2 $f/s" "$f/sub"
expect "$ctl cdat emu0 --raw $f/n" "$f/notes.txt"
expect "$ctl cdat --raw=$f/fw-1" "$f/fw-1.bin"
expect "$ctl fw update emu0 $f/fw-1.bin " # no third argument
expect "$ctl fw update emu0 --bus-address $nobus $f/fw-" "$f/fw-1.bin" "$f/fw-2.bin"

echo "== DEVICE names: no daemon, no completions, no noise"
start=$SECONDS
expect "$ctl --bus-address=$nobus info "
expect "$ctl --bus-address $nobus fw update "
if ((SECONDS - start > 4)); then
  echo "FAIL: asking an absent daemon took $((SECONDS - start)) s"
  failures=$((failures + 1))
fi

echo "== DEVICE names from cxlmgrd on a private bus"
dbus-daemon --session --fork --nopidfile --print-address=1 --print-pid=1 >"$work/bus" ||
  { echo "FAIL: cannot start dbus-daemon"; exit 1; }
address=$(sed -n 1p "$work/bus")
bus_pid=$(sed -n 2p "$work/bus")
cat >"$work/config.json" <<'EOF'
{"devices": [{"backend": "emulated", "name": "emu0"},
             {"backend": "emulated", "name": "0000:0d:00.0", "serial": 13}]}
EOF
"$daemon" --bus-address="$address" --config "$work/config.json" --state-dir "$work/state" \
  --log-level warning 2>"$work/cxlmgrd.log" &
daemon_pid=$!
for _ in $(seq 200); do
  "$ctl" --bus-address="$address" list >/dev/null 2>&1 && break
  sleep 0.1
done
"$ctl" --bus-address="$address" list >/dev/null ||
  { echo "FAIL: cxlmgrd did not come up"; cat "$work/cxlmgrd.log"; exit 1; }

expect "$ctl --bus-address=$address info " emu0 0000:0d:00.0
expect "$ctl --bus-address $address fw update e" emu0
expect "$ctl --json --bus-address=$address cdat 0" 0000:0d:00.0
# readline replaces only what follows the last ':' of the word
expect "$ctl --bus-address=$address health 0000:0d:0" 00.0
expect "$ctl --bus-address=$address events watch emu0 " emu0 0000:0d:00.0
expect "$ctl --bus-address=$address events list emu0 " # one DEVICE only
expect "$ctl --bus-address=$address fw activate /org/cxlmgr1/devices/e" /org/cxlmgr1/devices/emu0
DBUS_SESSION_BUS_ADDRESS=$address expect "$ctl --session fw cancel " emu0 0000:0d:00.0
# global options may follow the command too
expect "$ctl info --bus-address=$address e" emu0
expect "$ctl events watch emu0 --bus-address $address --log fatal 0" 0000:0d:00.0
DBUS_SESSION_BUS_ADDRESS=$address expect "$ctl --session events watch --log warning e" emu0

kill -TERM "$daemon_pid" && wait "$daemon_pid"
daemon_pid=""
expect "$ctl --bus-address=$address info " # the daemon has gone

if ((failures > 0)); then
  echo "$failures completion case(s) failed"
  exit 1
fi
echo "all completion cases passed"
