# Helpers of the guest scenario (sourced by scenario.sh; busybox sh).
#
# A step is a shell function run in a subshell with `set -e`: the first failing command fails it.
# Its result goes to the serial console as one line the host parses:
#   E2E-STEP PASS|FAIL <name> (<ms> ms)
# followed, on failure, by what the step printed. `note` lines are printed in both cases.

BUS=unix:path=/run/e2e-bus
SERVICE=org.cxlmgr1
MONITOR_LOG=/tmp/monitor.log
# shellcheck disable=SC2034 # used by scenario.sh
DAEMON_LOG=/tmp/cxlmgrd.log
FAILED_STEPS=0

# Milliseconds since boot, from the kernel's high-resolution clock (busybox date has no %N).
now_ms() {
    awk '/^now at/ { printf "%d\n", $3 / 1000000; exit }' /proc/timer_list
}

step() {
    name=$1
    shift
    : >/tmp/step.notes
    t0=$(now_ms)
    (
        set -e
        "$@"
    ) >/tmp/step.out 2>&1
    rc=$?
    t1=$(now_ms)
    if [ "$rc" -eq 0 ]; then
        echo "E2E-STEP PASS $name ($((t1 - t0)) ms)"
    else
        FAILED_STEPS=$((FAILED_STEPS + 1))
        echo "E2E-STEP FAIL $name ($((t1 - t0)) ms)"
        sed 's/^/    | /' /tmp/step.out
    fi
    sed "s/^/E2E-NOTE $name: /" /tmp/step.notes
}

note() {
    echo "$*" >>/tmp/step.notes
}

fail() {
    echo "FAILED: $*" >&2
    return 1
}

# wait_for SECONDS COMMAND...: retries COMMAND every 0.1 s until it succeeds or SECONDS (of
# the guest's clock, not attempts: one busctl call can take a second under TCG) have passed.
wait_for() {
    deadline=$(($(now_ms) + $1 * 1000))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$(now_ms)" -lt "$deadline" ] || return 1
        sleep 0.1
    done
}

bus() {
    busctl --address="$BUS" --no-pager "$@"
}

ctl() {
    cxlmgrctl --bus-address="$BUS" "$@"
}

# The D-Bus object of a PCI address, as the contract spells it: 0000:0d:00.0 -> 0000_0d_00_0.
device_path() {
    echo "/org/cxlmgr1/devices/$(echo "$1" | tr ':.' '__')"
}

# call OUT busctl-call-args...: a successful busctl call, its output flattened into OUT.
call() {
    out=$1
    shift
    if ! bus call "$SERVICE" "$@" >"$out.raw" 2>"$out.err"; then
        cat "$out.err" >&2
        fail "busctl call $* failed"
    fi
    awk -f /e2e/flatten.awk "$out.raw" >"$out" || fail "cannot parse: $(cat "$out.raw")"
}

# property OUT PATH INTERFACE NAME...: properties, flattened (v0, v1, ... in the order asked).
property() {
    out=$1
    shift
    path=$1
    iface=$2
    shift 2
    bus get-property "$SERVICE" "$path" "$iface" "$@" >"$out.raw" 2>"$out.err" ||
        fail "get-property $iface $*: $(cat "$out.err")"
    # busctl prints one "SIG VALUE" line per property; flatten each and renumber.
    : >"$out"
    n=0
    while IFS= read -r line; do
        echo "$line" | awk -f /e2e/flatten.awk | sed "s/^v0/v$n/" >>"$out"
        n=$((n + 1))
    done <"$out.raw"
}

# expect FILE KEY=VALUE...: each line must be present exactly.
expect() {
    file=$1
    shift
    for kv in "$@"; do
        if ! grep -Fxq -- "$kv" "$file"; then
            got=$(value "$file" "${kv%%=*}")
            fail "expected $kv, got ${got:-nothing} (in $file)"
        fi
    done
}

# value FILE KEY: prints the value of KEY.
value() {
    grep -F -- "$2=" "$1" | while IFS= read -r line; do
        if [ "${line%%=*}" = "$2" ]; then
            echo "${line#*=}"
            break
        fi
    done
}

# expect_error NAME PATTERN busctl-call-args...: the call fails with the D-Bus error NAME and a
# message containing PATTERN. busctl prints only the message, so the name is taken from the bus
# monitor's record of the error reply.
expect_error() {
    name=$1
    pattern=$2
    shift 2
    if bus call "$SERVICE" "$@" >/tmp/err.out 2>/tmp/err.msg; then
        fail "busctl call $* succeeded, expected $name: $(cat /tmp/err.out)"
    fi
    grep -Fq -- "$pattern" /tmp/err.msg || fail "error message lacks '$pattern': $(cat /tmp/err.msg)"
    wait_for 5 monitor_saw_error "$name" "$pattern" ||
        fail "the bus monitor saw no $name reply with '$pattern' (busctl said: $(cat /tmp/err.msg))"
    note "$name: $(sed 's/^Call failed: //' /tmp/err.msg)"
}

monitor_saw_error() {
    grep -F "ErrorName=$1" "$MONITOR_LOG" | grep -Fq -- "$2"
}

# CPU time (user + system, in clock ticks) a process has used.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

sanitizer_report() {
    grep -E 'ERROR: (Address|Leak|Thread|Memory)Sanitizer|runtime error:' "$@"
}
