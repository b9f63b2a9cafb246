/* The sandbox of kuke-cgd: cgroup v2 writes beneath one delegated subtree. It runs as its own
 * unprivileged user kukeon-cgd, made owner of the subtree (cgroup v2 delegation by chown) by
 * kuke-cgd itself while still root, in its acquire step (kuke-cgd/delegate.c), so the kernel's own
 * permission checks bound it to that subtree; it holds no capability, cannot create a socket and
 * cannot open a path except through openat2. Its Landlock domain is entered in acquire too, before
 * this filter loads, so no landlock_* call is in the list. */
#include <fcntl.h>

#include "security/profile.h"

/* Its cgroup work, relative to the root directories it opened (O_PATH) before entering the sandbox
 * (the v2 root and, on a hybrid host, one per cgroup v1 hierarchy): every open is openat2 with
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV (kuke-cgd's code;
 * the filter cannot read struct open_how, so it makes openat2 the only open there is and leaves the
 * flags to the code and to DAC). mkdirat creates a layer's cgroup, and its directories in the v1
 * hierarchies; unlinkat only with AT_REMOVEDIR, since a cgroup is removed with rmdir and cgroupfs
 * has no file a helper should unlink; getdents64 (readdir over an fdopendir of an openat2
 * descriptor) lists a subtree's cgroups so that a delete can check all of them, then remove them
 * deepest first. */
static const struct kk_sys_rule cgd_cgroupfs_rules[] = {
    KK_SYS(openat2),
    KK_SYS(mkdirat),
    KK_SYS_IF(unlinkat, KK_ARG_EQ(2, AT_REMOVEDIR)),
    KK_SYS(getdents64),
};
static const struct kk_sys_group cgd_cgroupfs =
    KK_GROUP("cgroupfs beneath the delegated root", cgd_cgroupfs_rules);

static const struct kk_sys_group *const cgd_groups[] = {
    &kk_group_lifecycle,
    &kk_group_descriptor_io,
    &kk_group_fstat,
    &kk_group_memory_noexec,
    &kk_group_clock,
    &kk_group_libc_locks,
    &kk_group_self,
    /* One request socket (fd 3), served one request at a time; and a layer's cgroup.events, which
     * kernfs signals with POLLPRI, while a freeze, thaw or kill waits for the kernel to confirm. */
    &kk_group_poll,
    &kk_group_ipc_messages,
    &cgd_cgroupfs,
};

/* Beyond kk_forbidden_everywhere: no socket of any kind (it talks only over the inherited
 * socketpair), no open other than openat2, no path-form file calls that would bypass the
 * RESOLVE_BENEATH walk, no programs, threads, namespaces or mounts, no modes or owners (the
 * delegation is the supervisor's act, not its). */
static const char *const cgd_forbidden[] = {
    "socket",   "socketpair", "connect", "bind",      "listen", "accept",  "accept4",  "open",
    "openat",   "creat",      "mkdir",   "rmdir",     "unlink", "rename",  "renameat", "renameat2",
    "link",     "linkat",     "symlink", "symlinkat", "mknod",  "mknodat", "chmod",    "fchmod",
    "fchmodat", "chown",      "fchown",  "fchownat",  "lchown", "execve",  "execveat", "clone",
    "clone3",   "fork",       "vfork",   "unshare",   "setns",  "mount",   "umount2",  "truncate",
};

static const struct kk_rlimit_value cgd_rlimits[] = {
    /* Its root directories (the v2 root and at most 16 v1 roots), the request socket, the audit
     * pipe, stdio, and what one request holds: a knob file, or a delete's walk (one directory per
     * level, at most 16 levels, and two more per hierarchy at a time): under 50 in all. */
    {RLIMIT_NOFILE, 64},
    /* It never forks or starts a thread. */
    {RLIMIT_NPROC, 0},
    /* Its only regular file is the audit log, rotated by size well below this. */
    {RLIMIT_FSIZE, 64ULL << 20},
    {RLIMIT_CORE, 0},
};

const struct kk_role_profile kk_profile_cgd = {
    .role = KK_ROLE_CGD,
    .name = "cgd",
    .binary = "kuke-cgd",
    .user = "kukeon-cgd",
    .group = "kukeon-cgd",
    .keeps_root = false,
    /* No capability: writing cgroup files it owns needs none. */
    .caps = NULL,
    .n_caps = 0,
    .rlimits = cgd_rlimits,
    .n_rlimits = KK_ARRAY_SIZE(cgd_rlimits),
    .sandboxed = true,
    .groups = cgd_groups,
    .n_groups = KK_ARRAY_SIZE(cgd_groups),
    .forbidden = cgd_forbidden,
    .n_forbidden = KK_ARRAY_SIZE(cgd_forbidden),
};
