/* The Landlock wall of kuke-cgd, raised at the end of acquire (as root, so no no-new-privs is needed
 * yet; the domain survives the identity drop): whatever a bug made the code do, the kernel lets it
 * write files, create and remove directories only beneath the directories it holds, execute
 * nothing, make no TCP connection, reach no abstract unix socket and signal no process outside.
 *
 * Reads are not handled, on purpose: after acquire the helper runtime still looks up the account
 * (NSS reads /etc/passwd and /etc/group), libcap-ng reads /proc/self/status, and the sanitizer
 * runtime reads /proc/self/maps for its reports. Reading is bounded by the unprivileged uid (DAC)
 * and by the seccomp filter, which leaves openat2 as the only open there is. */
#include <errno.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"
#include "kuke-cgd/cgd.h"

/* Debian 12's headers stop at ABI 2; the numbers are the kernel's uapi, fixed forever. */
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14) /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP    (1ULL << 0) /* ABI 4 */
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1)
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define LANDLOCK_SCOPE_SIGNAL               (1ULL << 1)
#endif

/* struct landlock_ruleset_attr as of ABI 6; the size passed tells the kernel how much of it to read. */
struct cgd_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

int cgd_landlock_apply(struct cgd_ctx *ctx, struct kk_err *err)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    if (abi < 0) {
        int e = errno;
        snprintf(ctx->landlock, sizeof(ctx->landlock), "unavailable (%s): %s", strerror(e),
                 e == EOPNOTSUPP ? "Landlock is built in but not enabled (lsm= boot parameter)"
                                 : "this kernel has no Landlock");
        return 0;
    }

    struct cgd_ruleset_attr attr = {
        .handled_access_fs =
            LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
            LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |
            LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |
            LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM,
    };
    size_t attr_size = sizeof(attr.handled_access_fs);
    if (abi >= 2)
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
    if (abi >= 4) {
        attr.handled_access_net = LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
        attr_size = offsetof(struct cgd_ruleset_attr, scoped);
    }
    if (abi >= 5)
        attr.handled_access_fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    if (abi >= 6) {
        attr.scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
        attr_size = sizeof(attr);
    }

    _cleanup_close_ int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
    if (ruleset < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating the Landlock ruleset (ABI %ld)", abi);

    /* The v2 root: write knob files, create and remove cgroups. */
    struct landlock_path_beneath_attr rule = {
        .allowed_access =
            LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR,
        .parent_fd = ctx->root_fd,
    };
    if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "Landlock rule for %s%s", ctx->mount, ctx->root);
    /* The v1 roots: directories only; kuke-cgd never writes a v1 file. */
    for (size_t i = 0; i < ctx->n_v1; i++) {
        if (ctx->v1[i].fd < 0)
            continue;
        rule.allowed_access = LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR;
        rule.parent_fd = ctx->v1[i].fd;
        if (syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "Landlock rule for %s%s", ctx->v1[i].m.point,
                            ctx->root);
    }
    /* Unprivileged (a test running kuke-cgd as its own user), restrict_self needs no-new-privs;
     * kk_sandbox_enter sets it anyway a moment later. */
    if (geteuid() != 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "setting no-new-privs for Landlock");
    if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "entering the Landlock domain");
    snprintf(ctx->landlock, sizeof(ctx->landlock), "abi %ld: writes beneath the cgroup roots only%s%s", abi,
             abi >= 4 ? ", no TCP" : "", abi >= 6 ? ", no outside signals or abstract sockets" : "");
    return 0;
}
