/* The identity, capability set, rlimits and seccomp allow-list of every process of the kukeond
 * group, in one place per role (see docs/security.md for the why of each entry). */
#ifndef KUKEON_SECURITY_SANDBOX_H
#define KUKEON_SECURITY_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"

enum kk_role {
    KK_ROLE_SUPERVISOR = 0, /* kukeond: root, spawns and watches the group, never reads client input */
    KK_ROLE_API,            /* kukeond api: user kukeon, no capabilities, serves kukeonv1 */
    KK_ROLE_CGD,            /* kuke-cgd: cgroup writes beneath a delegated subtree */
    KK_ROLE_NETD,           /* kuke-netd: netns, CNI, netlink */
    KK_ROLE_CTRD,           /* kuke-ctrd: containerd over gRPC */
    KK_ROLE_FETCHD,         /* kuke-fetchd: OCI registries over HTTPS, nothing local */
    KK_ROLE_COUNT,
};

const char *kk_role_name(enum kk_role role);
/* Parse a role name as kk_role_name prints it ("api", "cgd", "netd", "ctrd", "fetchd", "supervisor"). */
int kk_role_parse(const char *name, enum kk_role *out);

/* The system account a role runs as ("root", "kukeon", ...), and its group. */
const char *kk_role_user(enum kk_role role);
const char *kk_role_group(enum kk_role role);

/* Look up the uid/gid of the role's account (getpwnam/getgrnam), before any drop. Fails with a
 * message naming the missing account and the fix (`kuke init` creates them). */
int kk_role_resolve_ids(enum kk_role role, uid_t *uid, gid_t *gid, struct kk_err *err);

/* Enter the role's sandbox, in OpenSSH order, after the caller has acquired its resources and
 * before it reads its first request: drop supplementary groups, gid and uid to (uid, gid); keep
 * only the role's capabilities (effective, permitted and bounding; ambient and inheritable cleared);
 * prove the old identity cannot be regained; set rlimits; PR_SET_NO_NEW_PRIVS; load the role's
 * seccomp filter (default action: kill the process). No thread should exist yet: one that does gets
 * the filter too (SECCOMP_FILTER_FLAG_TSYNC), but it has run unconfined until then. */
int kk_sandbox_enter(enum kk_role role, uid_t uid, gid_t gid, struct kk_err *err);

/* Create the system accounts the roles run as, when missing: group and user `kukeon` (the API
 * worker; members of the group may use the CLI), `kukeon-cgd`, `kukeon-ctrd` and `kukeon-fetchd` (each
 * with its own group). System accounts, no home, no login shell, made with groupadd/useradd --system.
 * Idempotent; an existing account is left as it is. Needs root. `kuke init` calls it. */
int kk_accounts_ensure(struct kk_err *err);

#endif
