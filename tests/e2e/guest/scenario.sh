# The end-to-end scenario, run by /init inside the QEMU guest: cxlmgrd on the guest's own bus,
# driven with busctl and cxlmgrctl exactly as a user would, against QEMU 7.2's cxl-type3 devices:
#   0000:0d:00.0  QEMU's default CDAT (the device that must work throughout)
#   0000:0e:00.0  cdat=FILE with a bad checksum
#   0000:0f:00.0  cdat=FILE whose last entry overruns the header's table length
# Usage: scenario.sh sysfs|vfio. Expected values come from /e2e/expect (written by the host from
# QEMU's table layout, see make-cdat.py) and from docs/E2E.md "QEMU facts", quoted where used.
. /e2e/lib.sh
. /e2e/env

BACKEND=$1
GOOD=0000:0d:00.0
BADSUM=0000:0e:00.0
OVERRUN=0000:0f:00.0
GOOD_PATH=$(device_path $GOOD)
MiB=1048576

# ---- VFIO: modules and binding ---------------------------------------------------------------

vfio_setup() {
    # Dependency order (modinfo depends): vfio-pci needs vfio-pci-core, which needs vfio,
    # vfio_virqfd and irqbypass; vfio_iommu_type1 needs vfio.
    for m in irqbypass vfio vfio_virqfd vfio_iommu_type1 vfio-pci-core vfio-pci; do
        insmod "/lib/modules/$m.ko"
    done
    for dev in $GOOD $BADSUM $OVERRUN; do
        d=/sys/bus/pci/devices/$dev
        [ -e "$d/iommu_group" ] || fail "$dev has no IOMMU group (is intel-iommu on?)"
        echo vfio-pci >"$d/driver_override"
        echo "$dev" >/sys/bus/pci/drivers_probe
        [ "$(basename "$(readlink "$d/driver")")" = vfio-pci ] || fail "$dev did not bind to vfio-pci"
        group=$(basename "$(readlink "$d/iommu_group")")
        [ -c "/dev/vfio/$group" ] || fail "/dev/vfio/$group missing"
        note "$dev: vfio-pci, IOMMU group $group"
    done
}

# ---- bus and daemon ----------------------------------------------------------------------------

start_bus() {
    dbus-daemon --config-file=/e2e/bus.conf --fork --nopidfile
    wait_for 10 bus list || fail "dbus-daemon did not come up on $BUS"
    bus monitor >"$MONITOR_LOG" 2>&1 &
    MONITOR_PID=$!
}

write_config() {
    if [ "$BACKEND" = vfio ]; then
        # Discovery stays on: it must find the three devices and leave them to the vfio entries.
        cat >/etc/cxlmgrd.json <<EOF
{"devices": [{"backend": "vfio", "address": "$GOOD"},
             {"backend": "vfio", "address": "$BADSUM"},
             {"backend": "vfio", "address": "$OVERRUN"}],
 "discover": true}
EOF
    else
        echo '{"discover": true}' >/etc/cxlmgrd.json
    fi
}

start_daemon() {
    write_config
    cxlmgrd --config /etc/cxlmgrd.json --bus-address="$BUS" --state-dir /var/lib/cxlmgr \
        --log-level debug >"$DAEMON_LOG" 2>&1 &
    DAEMON_PID=$!
}

serving_or_gone() {
    bus get-property "$SERVICE" /org/cxlmgr1 org.cxlmgr1.Manager Version ||
        ! kill -0 "$DAEMON_PID" 2>/dev/null
}

daemon_ready() {
    # Generous: under TCG an ASan build with three devices takes a few seconds to start.
    wait_for 90 serving_or_gone || fail "cxlmgrd did not take $SERVICE within 90 s"
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "cxlmgrd exited: $(tail -n 20 "$DAEMON_LOG")"
    note "cxlmgrd PID $DAEMON_PID"
}

baseline() {
    # What one busctl round trip costs here, to read the other steps' times against.
    property /tmp/version /org/cxlmgr1 org.cxlmgr1.Manager Version
    note "Manager.Version = $(value /tmp/version v0)"
}

discover() {
    call /tmp/list /org/cxlmgr1 org.cxlmgr1.Manager ListDevices
    expect /tmp/list v0#=3 "v0[0]=$GOOD_PATH" "v0[1]=$(device_path $BADSUM)" \
        "v0[2]=$(device_path $OVERRUN)"
    # Through libpci, with the sysfs backend; in the VFIO run the same discovery finds each device
    # and leaves it to its explicit vfio entry (hence three objects, not six).
    seen="discovered Intel Corporation Device 0d93"
    [ "$BACKEND" = vfio ] && seen="discovered, configured with the vfio backend"
    for dev in $GOOD $BADSUM $OVERRUN; do
        grep -q "$dev: $seen" "$DAEMON_LOG" || fail "libpci discovery did not report $dev: $seen"
    done
}

properties() {
    property /tmp/props "$GOOD_PATH" org.cxlmgr1.Device Name Address Backend VendorId DeviceId \
        SerialNumber State PayloadSize FirmwareRevision
    # docs/E2E.md "QEMU facts": 8086:0d93, sn=0x1234 (4660), 2 KiB payload. FirmwareRevision is the active
    # slot's revision from Get FW Info, which QEMU 7.2 spells "BWFW VERSION 0" (Identify says
    # "BWFW VERSION 00").
    expect /tmp/props "v0=$GOOD" "v1=$GOOD" "v2=$BACKEND" v3=32902 v4=3475 v5=4660 v6=online \
        v7=2048 "v8=BWFW VERSION 0"
}

# ---- CDAT --------------------------------------------------------------------------------------

cdat_read_raw() {
    call /tmp/raw "$GOOD_PATH" org.cxlmgr1.Cdat ReadRaw
    got=$(grep '^v0\[' /tmp/raw | sed 's/.*=//' | tr '\n' ' ' | sed 's/ $//')
    want=$(cat /e2e/expect/default-cdat.txt)
    [ "$got" = "$want" ] || fail "ReadRaw differs from QEMU's default table:
  got:  $got
  want: $want"
    note "ReadRaw: $(value /tmp/raw 'v0#') bytes, identical to QEMU's default table"
}

cdat_refresh() {
    # Refresh drops the daemon's cache: this is a full CDAT read over DOE, end to end.
    call /tmp/refresh "$GOOD_PATH" org.cxlmgr1.Cdat Refresh
}

cdat_read() {
    call /tmp/cdat "$GOOD_PATH" org.cxlmgr1.Cdat Read
    # docs/E2E.md "QEMU facts": header (revision 2, 160 bytes); DSMAS handle 0, non-volatile (flags bit 2),
    # DPA 0, 256 MiB; DSLBIS read/write latency 15 and 25 x 10000 ps, read/write bandwidth
    # 16 x 1000 MB/s, memory hierarchy 0 (flags), data types 1, 2, 4, 5 (HMAT); DSEMTS EFI
    # memory type 2 over the same 256 MiB.
    checksum=$(value /tmp/raw 'v0[5]')
    expect /tmp/cdat 'v0#=7' \
        'v0[0].type=header' 'v0[0].length=160' 'v0[0].revision=2' "v0[0].checksum=$checksum" \
        'v0[0].sequence=0' \
        'v0[1].type=dsmas' 'v0[1].dsmad_handle=0' 'v0[1].flags=4' 'v0[1].dpa_base=0' \
        "v0[1].dpa_length=$((256 * MiB))" \
        'v0[6].type=dsemts' 'v0[6].dsmas_handle=0' 'v0[6].efi_memory_type_attr=2' \
        'v0[6].dpa_offset=0' "v0[6].dpa_length=$((256 * MiB))"
    i=2
    for want in "1 10000 15" "2 10000 25" "4 1000 16" "5 1000 16"; do
        # shellcheck disable=SC2086 # split into its three words
        set -- $want
        expect /tmp/cdat "v0[$i].type=dslbis" "v0[$i].handle=0" "v0[$i].flags=0" \
            "v0[$i].data_type=$1" "v0[$i].entry_base_unit=$2" "v0[$i].entries#=3" \
            "v0[$i].entries[0]=$3" "v0[$i].entries[1]=0" "v0[$i].entries[2]=0"
        i=$((i + 1))
    done
}

cdat_properties() {
    property /tmp/cprops "$GOOD_PATH" org.cxlmgr1.Cdat Checksum Revision Length
    expect /tmp/cprops "v0=$(value /tmp/raw 'v0[5]')" v1=2 v2=160
}

# Mean wall time of N runs of a command, in ms.
time_calls() {
    n=$1
    shift
    t0=$(now_ms)
    i=0
    while [ "$i" -lt "$n" ]; do
        "$@" >/dev/null || return 1
        i=$((i + 1))
    done
    echo $((($(now_ms) - t0) / n))
}

timings() {
    # The time of each call itself: one long-lived sdbus-c++ client (cxlmgr_e2e_timer,
    # tests/e2e/guest_timer.cpp) on one connection, a warm-up call, then 20 timed calls; min,
    # p50 and max in microseconds. Manager.Version is answered from memory: the D-Bus baseline.
    # One client per kind of call, so the daemon's CPU time (clock ticks of 10 ms) can be
    # charged to it: 21 calls, plus the client's connection and proxies.
    for what in version identify cdat-refresh cdat-read cdat-refresh-read; do
        before=$(cpu_ticks "$DAEMON_PID")
        cxlmgr_e2e_timer "$BUS" 20 "$GOOD_PATH" "$what" >/tmp/timer.out 2>&1 ||
            fail "cxlmgr_e2e_timer $what: $(cat /tmp/timer.out)"
        used=$(($(cpu_ticks "$DAEMON_PID") - before))
        grep -q "^$what n=20 min=[0-9]* p50=[0-9]* max=[0-9]*$" /tmp/timer.out ||
            fail "cxlmgr_e2e_timer printed: $(cat /tmp/timer.out)"
        note "one client, per call (us): $(cat /tmp/timer.out);" \
            "cxlmgrd CPU $((used * 10000 / 21)) us per call"
    done
    # Each busctl call is a process start plus a connection plus a round trip: under TCG the
    # start dominates; the baseline tells that cost apart from the device's work.
    base=$(time_calls 10 bus get-property "$SERVICE" /org/cxlmgr1 org.cxlmgr1.Manager Version)
    identify=$(time_calls 10 bus call "$SERVICE" "$GOOD_PATH" org.cxlmgr1.Device Identify)
    refresh=$(time_calls 10 bus call "$SERVICE" "$GOOD_PATH" org.cxlmgr1.Cdat Refresh)
    note "busctl mean of 10, process start included: Manager.Version $base ms," \
        "Device.Identify $identify ms, Cdat.Refresh (whole CDAT over DOE, 7 exchanges) $refresh ms"
    # The daemon's share: call to reply as the bus monitor saw them, for each client's calls (21,
    # the warm-up included), in the order above: Get is Manager.Version, the last Refresh and
    # Read are those of cdat-refresh-read.
    wait_for 10 monitor_timed Identify || fail "the bus monitor did not see the client's calls"
    monitor_timed '' | while read -r member figures; do
        note "bus monitor, call to reply (us): $member $figures"
    done
}

monitor_timed() {
    awk -v min=20 -v service="$SERVICE" -f /e2e/call_times.awk "$MONITOR_LOG" >/tmp/daemon.times
    [ -z "$1" ] || grep -q "^$1 " /tmp/daemon.times
    cat /tmp/daemon.times
}

# ---- mailbox -----------------------------------------------------------------------------------

identify() {
    call /tmp/identify "$GOOD_PATH" org.cxlmgr1.Device Identify
    # QEMU 7.2: persistent memory only (the 256 MiB memdev), LSA 1 MiB, 256 poison records.
    expect /tmp/identify "v0.fw_revision=BWFW VERSION 00" \
        "v0.total_capacity=$((256 * MiB))" "v0.persistent_capacity=$((256 * MiB))" \
        v0.volatile_capacity=0 "v0.lsa_size=$MiB"
    note "$(grep -v '#=' /tmp/identify | sed 's/^v0\.//' | tr '\n' ' ')"
}

firmware_info() {
    call /tmp/fwinfo "$GOOD_PATH" org.cxlmgr1.Firmware GetInfo
    note "$(grep -v '#=' /tmp/fwinfo | sed 's/^v0\.//' | tr '\n' ' ')"
    property /tmp/fwprops "$GOOD_PATH" org.cxlmgr1.Firmware SlotCount ActiveSlot SlotRevisions
    # QEMU 7.2 Get FW Info: 2 slots, slot 1 active, holding "BWFW VERSION 0".
    expect /tmp/fwprops v0=2 v1=1 "v2[0]=BWFW VERSION 0"
}

# Get Supported Logs (0x0400) through Device.Command: one entry, the Command Effects Log.
supported_logs() {
    call /tmp/logs "$GOOD_PATH" org.cxlmgr1.Device Command qay 1024 0
    expect /tmp/logs v0=0
    bytes=$(grep '^v1\[' /tmp/logs | sed 's/.*=//' | tr '\n' ' ')
    # shellcheck disable=SC2086 # one positional parameter per byte
    set -- $bytes
    [ "$#" -ge 8 ] || fail "Get Supported Logs returned $# bytes"
    entries=$(($1 | ($2 << 8)))
    [ "$entries" -ge 1 ] || fail "no supported log"
    # Entry 0 from byte 8: the CEL UUID 0da9c0b5-bf41-4b78-8f79-96b1623b3f17, then the size.
    shift 8
    # shellcheck disable=SC2046 # one printf argument per byte
    uuid=$(printf '%02x' $(echo "$@" | cut -d' ' -f1-16))
    [ "$uuid" = 0da9c0b5bf414b788f7996b1623b3f17 ] || fail "log 0 is $uuid, not the CEL"
    shift 16
    CEL_SIZE=$(($1 | ($2 << 8) | ($3 << 16) | ($4 << 24)))
    echo "$CEL_SIZE" >/tmp/cel_size
    note "$entries supported log(s); CEL: $CEL_SIZE bytes ($((CEL_SIZE / 4)) entries)"
}

# Get Log (0x0401) of the CEL: the opcodes QEMU 7.2 implements, and not Get Health Info.
command_effects_log() {
    size=$(cat /tmp/cel_size)
    # Input: the CEL UUID (0da9c0b5-..., bytes in decimal), offset 0, length (little-endian).
    uuid="13 169 192 181 191 65 75 120 143 121 150 177 98 59 63 23"
    # shellcheck disable=SC2086 # one busctl argument per byte
    call /tmp/cel "$GOOD_PATH" org.cxlmgr1.Device Command qay 1025 24 $uuid 0 0 0 0 \
        $((size & 255)) $((size >> 8 & 255)) 0 0
    expect /tmp/cel v0=0 "v1#=$size"
    grep '^v1\[' /tmp/cel | sed 's/.*=//' |
        awk '{ b[NR % 4] = $1 } NR % 4 == 2 { printf "%04x\n", b[1] + 256 * b[2] }' |
        sort -u >/tmp/cel_opcodes
    for op in 0100 0101 0102 0103 0200 0300 0301 0400 0401 4000 4100 4102 4103; do
        grep -qx $op /tmp/cel_opcodes || fail "CEL lacks opcode 0x$op"
    done
    ! grep -qx 4200 /tmp/cel_opcodes || fail "CEL lists Get Health Info (0x4200)"
    note "CEL: $((size / 4)) entries, $(wc -l </tmp/cel_opcodes) distinct opcodes: $(tr '\n' ' ' </tmp/cel_opcodes)"
}

health_unsupported() {
    expect_error org.cxlmgr1.Error.Unsupported "not supported" "$GOOD_PATH" org.cxlmgr1.Device \
        GetHealth
    if ctl health $GOOD >/tmp/ctl.out 2>&1; then
        fail "cxlmgrctl health succeeded: $(cat /tmp/ctl.out)"
    else
        rc=$?
    fi
    [ "$rc" -eq 1 ] || fail "cxlmgrctl health exited $rc, not 1: $(cat /tmp/ctl.out)"
    grep -Fq '(org.cxlmgr1.Error.Unsupported)' /tmp/ctl.out ||
        fail "cxlmgrctl health did not name Unsupported: $(cat /tmp/ctl.out)"
}

firmware_update_unsupported() {
    dd if=/dev/urandom of=/tmp/fw.bin bs=4096 count=16 2>/dev/null
    job=$(bus call "$SERVICE" "$GOOD_PATH" org.cxlmgr1.Firmware StartUpdate 'sya{sv}' \
        /tmp/fw.bin 0 0 2>/tmp/fw.err) || job=
    if [ -z "$job" ]; then
        # Refused up front: must still be Unsupported.
        grep -Fq "not supported" /tmp/fw.err || fail "StartUpdate: $(cat /tmp/fw.err)"
        wait_for 5 monitor_saw_error org.cxlmgr1.Error.Unsupported "not supported" ||
            fail "StartUpdate failed without Unsupported: $(cat /tmp/fw.err)"
        note "StartUpdate refused: $(cat /tmp/fw.err)"
    else
        job=$(echo "$job" | sed 's/^o "\(.*\)"$/\1/')
        wait_for 30 job_ended "$job" || fail "job $job did not end"
        property /tmp/job "$job" org.cxlmgr1.Job State Error
        expect /tmp/job v0=failed
        grep -q '^v1=.*not supported' /tmp/job || fail "job error: $(value /tmp/job v1)"
        note "job $job: $(value /tmp/job v1)"
    fi
    if ctl fw update $GOOD /tmp/fw.bin >/tmp/ctl.out 2>&1; then
        fail "cxlmgrctl fw update succeeded: $(cat /tmp/ctl.out)"
    fi
    grep -q 'not supported' /tmp/ctl.out || fail "cxlmgrctl fw update: $(cat /tmp/ctl.out)"
    note "cxlmgrctl fw update: $(tail -n 1 /tmp/ctl.out)"
}

job_ended() {
    state=$(bus get-property "$SERVICE" "$1" org.cxlmgr1.Job State) || return 1
    case "$state" in
        *completed* | *failed* | *cancelled*) return 0 ;;
    esac
    return 1
}

still_healthy() {
    kill -0 "$DAEMON_PID" || fail "cxlmgrd exited"
    property /tmp/state "$GOOD_PATH" org.cxlmgr1.Device State
    expect /tmp/state v0=online
    call /tmp/identify2 "$GOOD_PATH" org.cxlmgr1.Device Identify
    expect /tmp/identify2 "v0.fw_revision=BWFW VERSION 00"
}

# ---- events ------------------------------------------------------------------------------------

events_empty() {
    call /tmp/events "$GOOD_PATH" org.cxlmgr1.Events GetEvents tu 0 100
    expect /tmp/events 'v0#=0'
    property /tmp/overflows "$GOOD_PATH" org.cxlmgr1.Events Overflows
    expect /tmp/overflows v0=0
}

events_subscribe() {
    # The subscription ends when busctl leaves the bus: the device is armed (Set Event Interrupt
    # Policy), polled fast, then disarmed again.
    call /tmp/sub "$GOOD_PATH" org.cxlmgr1.Events Subscribe 'a{sv}' 0
    wait_for 10 grep -q "$GOOD: last subscriber gone" "$DAEMON_LOG" ||
        fail "the subscription was not released"
    grep -q "$GOOD: first subscriber: event sources armed" "$DAEMON_LOG" ||
        fail "the device was not armed"
}

idle_cpu() {
    # Collectors poll every device's Event Status (slow polling, nobody subscribed now): the
    # daemon must stay near idle. 5 s at 100 ticks/s; 25 ticks is 5 % of one CPU.
    before=$(cpu_ticks "$DAEMON_PID")
    sleep 5
    after=$(cpu_ticks "$DAEMON_PID")
    used=$((after - before))
    note "cxlmgrd used $used ticks (1/100 s) of CPU in 5 s idle"
    [ "$used" -le 25 ] || fail "cxlmgrd used $used ticks in 5 s: busy looping?"
    if grep -E 'event collection|Get Event Records|Clear Event' "$DAEMON_LOG" |
        grep -iE 'warn|error|fail'; then
        fail "the event collector logged failures"
    fi
}

# ---- malformed CDAT on the other two devices --------------------------------------------------

bad_checksum() {
    expect_error org.cxlmgr1.Error.DeviceError "checksum" "$(device_path $BADSUM)" \
        org.cxlmgr1.Cdat Read
    expect_error org.cxlmgr1.Error.DeviceError "checksum" "$(device_path $BADSUM)" \
        org.cxlmgr1.Cdat ReadRaw
}

overrun() {
    expect_error org.cxlmgr1.Error.DeviceError "past the header's table length" \
        "$(device_path $OVERRUN)" org.cxlmgr1.Cdat Read
}

good_after_faults() {
    call /tmp/cdat2 "$GOOD_PATH" org.cxlmgr1.Cdat Read
    expect /tmp/cdat2 'v0#=7' 'v0[1].type=dsmas' "v0[1].dpa_length=$((256 * MiB))"
    call /tmp/identify3 "$GOOD_PATH" org.cxlmgr1.Device Identify
    expect /tmp/identify3 "v0.fw_revision=BWFW VERSION 00"
    # The faulty devices' mailboxes are fine; only their tables are refused.
    call /tmp/identify4 "$(device_path $BADSUM)" org.cxlmgr1.Device Identify
    expect /tmp/identify4 "v0.lsa_size=$MiB"
}

# ---- cxlmgrctl ---------------------------------------------------------------------------------

cli() {
    ctl list >/tmp/ctl.list
    for dev in $GOOD $BADSUM $OVERRUN; do
        grep -q "$dev" /tmp/ctl.list || fail "cxlmgrctl list lacks $dev: $(cat /tmp/ctl.list)"
    done
    ctl cdat $GOOD >/tmp/ctl.cdat
    grep -qi dsmas /tmp/ctl.cdat || fail "cxlmgrctl cdat: $(cat /tmp/ctl.cdat)"
    ctl cdat $GOOD --raw /tmp/ctl.raw
    [ "$(od -An -v -tu1 /tmp/ctl.raw | tr -s ' \n' '  ' | sed 's/^ //; s/ $//')" = \
        "$(cat /e2e/expect/default-cdat.txt)" ] || fail "cxlmgrctl cdat --raw differs"
    ctl fw info $GOOD >/tmp/ctl.fw
    grep -q 'BWFW VERSION 0' /tmp/ctl.fw || fail "cxlmgrctl fw info: $(cat /tmp/ctl.fw)"
    # `info` shows identity, health and firmware; QEMU 7.2 has no Get Health Info, so health is
    # null while the rest of the report stands.
    ctl --json info $GOOD >/tmp/ctl.info 2>&1 || fail "cxlmgrctl --json info: $(cat /tmp/ctl.info)"
    grep -q '"BWFW VERSION 00"' /tmp/ctl.info || fail "cxlmgrctl --json info: $(cat /tmp/ctl.info)"
    grep -q '"health":null' /tmp/ctl.info || fail "cxlmgrctl --json info health: $(cat /tmp/ctl.info)"
    rc=0
    ctl cdat $BADSUM >/tmp/ctl.bad 2>&1 || rc=$?
    if [ "$rc" -ne 1 ] || ! grep -q 'checksum.*(org.cxlmgr1.Error.DeviceError)' /tmp/ctl.bad; then
        fail "cxlmgrctl cdat $BADSUM exited $rc: $(cat /tmp/ctl.bad)"
    fi
    note "$(cat /tmp/ctl.bad)"
}

# ---- shutdown ----------------------------------------------------------------------------------

shutdown_daemon() {
    kill -TERM "$DAEMON_PID"
    i=0
    while kill -0 "$DAEMON_PID" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -lt 300 ] || fail "cxlmgrd still running 30 s after SIGTERM"
        sleep 0.1
    done
}

# ---- the run -----------------------------------------------------------------------------------

echo "E2E-SCENARIO backend=$BACKEND"
if [ "$BACKEND" = vfio ]; then
    step vfio-bind vfio_setup
fi
start_bus
start_daemon
step daemon-ready daemon_ready
step busctl-baseline baseline
step discover discover
step device-properties properties
step cdat-read-raw cdat_read_raw
step cdat-refresh cdat_refresh
step cdat-read cdat_read
step cdat-properties cdat_properties
step timings timings
step identify identify
step firmware-info firmware_info
step supported-logs supported_logs
step command-effects-log command_effects_log
step health-unsupported health_unsupported
step firmware-update-unsupported firmware_update_unsupported
step still-healthy still_healthy
step events-empty events_empty
step events-subscribe events_subscribe
step idle-cpu idle_cpu
step bad-cdat-checksum bad_checksum
step cdat-overrun overrun
step good-device-after-faults good_after_faults
step cxlmgrctl cli
step shutdown shutdown_daemon
wait "$DAEMON_PID"
daemon_rc=$?
echo "E2E-DAEMON-EXIT $daemon_rc"
[ "$daemon_rc" -eq 0 ] || FAILED_STEPS=$((FAILED_STEPS + 1))
if sanitizer_report "$DAEMON_LOG" >/dev/null; then
    echo "E2E-SANITIZER report in the daemon log"
    FAILED_STEPS=$((FAILED_STEPS + 1))
fi
kill "$MONITOR_PID" 2>/dev/null

echo "E2E-LOG-BEGIN cxlmgrd"
cat "$DAEMON_LOG"
echo "E2E-LOG-END cxlmgrd"
if [ "$FAILED_STEPS" -ne 0 ]; then
    echo "E2E-LOG-BEGIN dmesg"
    dmesg | tail -n 80
    echo "E2E-LOG-END dmesg"
fi
[ "$FAILED_STEPS" -eq 0 ]
