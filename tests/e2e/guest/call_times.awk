# Reads `busctl monitor` output and prints, per (caller, method) to `service` with at least
# `min` calls, the time from the call to its reply as the bus monitor received them (the kernel's
# receive timestamps, in µs): the daemon's share of a call, without the client's.
#   awk -v min=20 -v service=org.cxlmgr1 -f call_times.awk MONITOR_LOG
# Output lines, in the order of each (caller, method)'s first call:
#   "MEMBER n=N min=US p50=US max=US" (MEMBER is Get for a property read).
function seconds(stamp, parts, hms) {
    # "Sat 2026-11-21 18:20:08.684483 UTC"
    split(stamp, parts, " ")
    split(parts[3], hms, ":")
    return hms[1] * 3600 + hms[2] * 60 + hms[3]
}
function field(name, i) {
    for (i = 1; i <= NF; i++) {
        if (index($i, name "=") == 1) {
            return substr($i, length(name) + 2)
        }
    }
    return ""
}
$2 ~ /^Type=/ && /Timestamp="/ {
    type = field("Type")
    cookie = field("Cookie")
    reply = field("ReplyCookie")
    stamp = $0
    sub(/.*Timestamp="/, "", stamp)
    sub(/".*/, "", stamp)
    t = seconds(stamp)
    header = 1
    next
}
header {
    header = 0
    sender = field("Sender")
    dest = field("Destination")
    if (type == "method_call" && dest == service) {
        start[sender, cookie] = t
        member[sender, cookie] = field("Member")
    } else if (type == "method_return" && ((dest, reply) in start)) {
        d = t - start[dest, reply]
        if (d < 0) d += 86400
        key = dest " " member[dest, reply]
        if (!(key in n)) order[++keys] = key
        n[key]++
        us[key, n[key]] = int(d * 1000000 + 0.5)
        delete start[dest, reply]
    }
}
END {
    for (o = 1; o <= keys; o++) {
        key = order[o]
        if (n[key] < min) continue
        # insertion sort of this key's samples
        for (i = 2; i <= n[key]; i++) {
            v = us[key, i]
            for (j = i - 1; j >= 1 && us[key, j] > v; j--) us[key, j + 1] = us[key, j]
            us[key, j + 1] = v
        }
        split(key, k, " ")
        printf "%s n=%d min=%d p50=%d max=%d\n", k[2], n[key], us[key, 1],
            us[key, int(n[key] / 2) + 1], us[key, n[key]]
    }
}
