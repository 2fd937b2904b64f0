// The text of an errno value, safe on any thread.
#pragma once

#include <cstring>
#include <string>

namespace cxlmgr {

// strerror() is not thread-safe; the GNU strerror_r may return a static string instead of
// filling the buffer, hence the use of its return value.
inline std::string errno_text(int err) {
    char buf[128];
    return ::strerror_r(err, buf, sizeof buf);
}

}  // namespace cxlmgr
