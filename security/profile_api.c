/* The sandbox of the API worker (`kukeond api`): the process that parses what clients send, so
 * the one to assume compromised first. It holds no capability and runs as user kukeon; what it
 * may do is what a poll-driven JSON-RPC server with its state in files needs, nothing more. */
#include "security/profile.h"

/* Its documents under the run path (/opt/kukeon, owned by kukeon), written atomically: a temporary
 * file, fsync, rename, fsync of the directory; one writer per document with flock; directories
 * listed to enumerate resources. glibc on x86_64 calls the path forms (mkdir, rename, unlink,
 * rmdir) directly, so both those and the *at forms are here. DAC as kukeon is the confinement:
 * outside the run path and /run/kukeon it can write nothing a system account could not. No chmod,
 * chown, link or mknod: modes come from the creating open and the umask. */
static const struct kk_sys_rule api_file_state_rules[] = {
    KK_SYS(openat),    KK_SYS(newfstatat), KK_SYS(statx),     KK_SYS(getdents64),
    KK_SYS(mkdir),     KK_SYS(mkdirat),    KK_SYS(rename),    KK_SYS(renameat),
    KK_SYS(renameat2), KK_SYS(unlink),     KK_SYS(unlinkat),  KK_SYS(rmdir),
    KK_SYS(fsync),     KK_SYS(fdatasync),  KK_SYS(ftruncate), KK_SYS(flock),
};
static const struct kk_sys_group api_file_state =
    KK_GROUP("state documents under the run path", api_file_state_rules);

/* Its event loop also waits on the reconcile interval (timerfd), on SIGTERM from the supervisor
 * (signalfd) and on wake-ups between its own parts (eventfd), as descriptors. */
static const struct kk_sys_rule api_event_fds_rules[] = {
    KK_SYS(timerfd_create), KK_SYS(timerfd_settime), KK_SYS(timerfd_gettime),
    KK_SYS(signalfd4),      KK_SYS(eventfd2),
};
static const struct kk_sys_group api_event_fds =
    KK_GROUP("timers and signals as descriptors", api_event_fds_rules);

static const struct kk_sys_group *const api_groups[] = {
    &kk_group_lifecycle,
    &kk_group_descriptor_io,
    &kk_group_memory_noexec,
    &kk_group_clock,
    &kk_group_libc_locks,
    &kk_group_self,
    &kk_group_poll,
    &kk_group_epoll,
    /* Clients on the listening socket the supervisor hands it (fd 3), the helpers' socketpairs
     * (fds 5-7), SO_PEERCRED/SO_PEERGROUPS of each caller, and unix sockets of its own for attach
     * and log streams. No other family: the API never talks to the network. */
    &kk_group_ipc_messages,
    &kk_group_unix_sockets,
    &api_file_state,
    &api_event_fds,
};

/* Beyond kk_forbidden_everywhere: it starts no program and no thread (a single-threaded event
 * loop), so no clone, fork or exec; no namespaces; no mounts; no file modes, owners, links or
 * device nodes; and the path-confined openat2 is not its business. */
static const char *const api_forbidden[] = {
    "execve", "execveat", "clone",  "clone3",  "fork",      "vfork", "unshare", "setns",
    "mount",  "umount2",  "chmod",  "fchmod",  "fchmodat",  "chown", "fchown",  "fchownat",
    "lchown", "link",     "linkat", "symlink", "symlinkat", "mknod", "mknodat",
};

static const struct kk_rlimit_value api_rlimits[] = {
    /* Clients, the helpers' sockets and documents being written: a bound well above real use that
     * still stops a descriptor leak from starving the host. */
    {RLIMIT_NOFILE, 4096},
    /* It never forks or starts a thread; with 0, a hole in the filter would still not give it one. */
    {RLIMIT_NPROC, 0},
    /* State documents are small; 1 GiB stops a runaway write long before the disk is full. */
    {RLIMIT_FSIZE, 1ULL << 30},
    /* A core file would hold clients' requests and tokens. */
    {RLIMIT_CORE, 0},
};

const struct kk_role_profile kk_profile_api = {
    .role = KK_ROLE_API,
    .name = "api",
    .binary = "kukeond api",
    .user = "kukeon",
    .group = "kukeon",
    .keeps_root = false,
    /* No capability at all: it reaches everything privileged through the helpers. */
    .caps = NULL,
    .n_caps = 0,
    .rlimits = api_rlimits,
    .n_rlimits = KK_ARRAY_SIZE(api_rlimits),
    .sandboxed = true,
    .groups = api_groups,
    .n_groups = KK_ARRAY_SIZE(api_groups),
    .forbidden = api_forbidden,
    .n_forbidden = KK_ARRAY_SIZE(api_forbidden),
};
