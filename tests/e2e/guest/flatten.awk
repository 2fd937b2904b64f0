# Turns busctl's text output ("aa{sv} 2 5 \"type\" s \"header\" ...") into one "path=value" line
# per leaf, so the scenario can check single fields with grep -x instead of matching whole
# outputs. Top-level values are v0, v1, ...; array elements [i]; dict entries .key; every array
# also gives "path#=count". Example: busctl call ... Cdat Read | awk -f flatten.awk gives
#   v0#=7  v0[0].type=header  v0[0].length=160  ...  v0[2].entries[0]=15
# Runs under busybox awk (no gawk extensions).

function next_token(    c, tok) {
    while (pos <= len && substr(text, pos, 1) == " ") {
        pos++
    }
    if (pos > len) {
        failed = 1
        return ""
    }
    c = substr(text, pos, 1)
    if (c != "\"") {
        tok = ""
        while (pos <= len && substr(text, pos, 1) != " ") {
            tok = tok substr(text, pos, 1)
            pos++
        }
        return tok
    }
    # A C-quoted string: may hold spaces and \" or \\ escapes.
    pos++
    tok = ""
    while (pos <= len) {
        c = substr(text, pos, 1)
        if (c == "\\" && pos < len) {
            tok = tok substr(text, pos + 1, 1)
            pos += 2
            continue
        }
        pos++
        if (c == "\"") {
            return tok
        }
        tok = tok c
    }
    failed = 1
    return tok
}

# Length of the first complete type in signature s (e.g. "a{sv}u" -> 5).
function type_len(s,    c, depth, i) {
    c = substr(s, 1, 1)
    if (c == "a") {
        return 1 + type_len(substr(s, 2))
    }
    if (c == "(" || c == "{") {
        depth = 0
        for (i = 1; i <= length(s); i++) {
            c = substr(s, i, 1)
            if (c == "(" || c == "{") depth++
            if (c == ")" || c == "}") depth--
            if (depth == 0) return i
        }
        failed = 1
        return length(s)
    }
    return 1
}

function value(sig, path,    c, n, i, elem, inner, key, first, rest) {
    if (failed) return
    c = substr(sig, 1, 1)
    if (c == "v") {
        value(next_token(), path)
    } else if (c == "a") {
        elem = substr(sig, 2)
        n = next_token() + 0
        print path "#=" n
        for (i = 0; i < n && !failed; i++) {
            if (substr(elem, 1, 1) == "{") {
                inner = substr(elem, 2, length(elem) - 2)
                key = next_token()
                value(substr(inner, 2), path "." key)
            } else {
                value(elem, path "[" i "]")
            }
        }
    } else if (c == "(") {
        inner = substr(sig, 2, length(sig) - 2)
        for (i = 0; inner != "" && !failed; i++) {
            first = substr(inner, 1, type_len(inner))
            inner = substr(inner, length(first) + 1)
            value(first, path "." i)
        }
    } else {
        print path "=" next_token()
    }
}

{ text = text (NR > 1 ? " " : "") $0 }

END {
    # A method without output (Cdat.Refresh) prints nothing: no values, not an error.
    if (text ~ /^ *$/) {
        exit 0
    }
    len = length(text)
    pos = 1
    failed = 0
    rest = next_token()
    for (i = 0; rest != "" && !failed; i++) {
        first = substr(rest, 1, type_len(rest))
        rest = substr(rest, length(first) + 1)
        value(first, "v" i)
    }
    if (failed) {
        print "flatten.awk: could not parse busctl output" > "/dev/stderr"
        exit 1
    }
}
