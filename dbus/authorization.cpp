#include "dbus/authorization.hpp"

#include <grp.h>

#include <sdbus-c++/Error.h>
#include <sdbus-c++/Message.h>
#include <algorithm>

namespace cxlmgr::dbus {
namespace {

std::string describe_group(gid_t gid) {
    std::vector<char> buffer(4096);
    group entry{};
    group* found = nullptr;
    if (getgrgid_r(gid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
        return "group " + std::string(found->gr_name) + " (gid " + std::to_string(gid) + ")";
    }
    return "group " + std::to_string(gid);
}

}  // namespace

Authorizer::Authorizer(std::optional<gid_t> authorized_gid, uid_t daemon_uid)
    : authorized_gid_(authorized_gid), daemon_uid_(daemon_uid) {
    if (authorized_gid_) {
        group_label_ = describe_group(*authorized_gid_);
    }
}

Status Authorizer::decide(uid_t uid, const std::function<Result<std::vector<gid_t>>()>& groups,
                          Access access, std::string_view action) const {
    if (uid == 0 || uid == daemon_uid_) {
        return ok_status();
    }
    const std::string who = "the caller (uid " + std::to_string(uid) + ")";
    if (access == Access::Privileged) {
        return Error(Errc::PermissionDenied,
                     std::string(action) + " requires root; " + who + " is not root");
    }
    if (!authorized_gid_) {
        return Error(Errc::PermissionDenied,
                     std::string(action) + " requires root; " + who +
                         " is not root and cxlmgrd has no authorized group configured");
    }
    auto gids = groups();
    if (!gids.ok()) {
        return Error(Errc::PermissionDenied,
                     std::string(action) + " requires root or membership of " + group_label_ +
                         ", and the groups of " + who +
                         " could not be determined: " + gids.error().message);
    }
    if (std::find(gids->begin(), gids->end(), *authorized_gid_) != gids->end()) {
        return ok_status();
    }
    return Error(Errc::PermissionDenied, std::string(action) + " requires root or membership of " +
                                             group_label_ + "; " + who + " is neither");
}

Status Authorizer::check(const sdbus::Message& message, Access access,
                         std::string_view action) const {
    // The credential queries are synchronous bus calls that throw sdbus::Error when the bus
    // cannot tell (the caller already left, say): that is a refusal, not a crash.
    uid_t uid = 0;
    try {
        uid = message.getCredsUid();
    } catch (const sdbus::Error& e) {
        return Error(Errc::PermissionDenied,
                     std::string(action) + " is refused: the caller could not be identified (" +
                         e.getMessage() + ")");
    }
    auto groups = [&message]() -> Result<std::vector<gid_t>> {
        try {
            std::vector<gid_t> gids = message.getCredsSupplementaryGids();
            gids.push_back(message.getCredsGid());
            return gids;
        } catch (const sdbus::Error& e) {
            return Error(Errc::PermissionDenied, e.getMessage());
        }
    };
    return decide(uid, groups, access, action);
}

}  // namespace cxlmgr::dbus
