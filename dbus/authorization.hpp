// Who may call the methods that change something (Device.Command, the Emulator methods,
// Manager.Rescan): checked by the daemon itself for every call, in addition to the bus policy
// (which a custom-address bus does not enforce, see docs/DBUS.md "Bus facts").
//
// Privileged callers are root and the user the daemon runs as (under the system bus that is
// root; a `cxlmgrd --session` started by a user for demos is managed by that user, who could
// do anything the daemon does anyway). "Manage" access also admits members of the configured
// group, judged by the caller's primary and supplementary groups as the bus reports them.
// Read-only methods and properties are open to everyone and never query credentials.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace sdbus {
class Message;
}

namespace cxlmgr::dbus {

enum class Access {
    Manage,      // root, the daemon's user, or a member of the authorized group
    Privileged,  // root or the daemon's user only (Device.Command)
};

class Authorizer {
public:
    Authorizer(std::optional<gid_t> authorized_gid, uid_t daemon_uid);

    // Checks the sender of `message` (the call being processed). `action` names what is
    // attempted in the refusal ("InjectFault on emu0").
    [[nodiscard]] Status check(const sdbus::Message& message, Access access,
                               std::string_view action) const;

    // The decision itself, with the groups fetched only when needed; for tests.
    [[nodiscard]] Status decide(uid_t uid,
                                const std::function<Result<std::vector<gid_t>>()>& groups,
                                Access access, std::string_view action) const;

private:
    std::optional<gid_t> authorized_gid_;
    uid_t daemon_uid_;
    std::string group_label_;  // "group cxl (gid 990)", resolved once: NSS lookups may block
};

}  // namespace cxlmgr::dbus
