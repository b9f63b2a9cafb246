/* The sandbox of the API worker (`kukeond api`): the process that parses what clients send, so
 * the one to assume compromised first. It holds no capability and runs as user kukeon; what it
 * may do is what a poll-driven JSON-RPC server with its state in files needs, nothing more. */
#include <sched.h>

#include "security/profile.h"

/* Its documents under the run path (/opt/kukeon, owned by kukeon), written by the state store
 * (kukeond/store.c, docs/state.md) atomically: a temporary file, fsync, rename, fsync of the
 * directory; one writer per document with flock on a sidecar; directories listed (getdents64) to
 * enumerate resources, read through fdopendir and rewinddir (fcntl F_GETFL/F_SETFD and lseek, in the
 * descriptor group). glibc on x86_64 calls the path forms (mkdir, rename, unlink, rmdir) directly,
 * so both those and the *at forms are here. DAC as kukeon is the confinement: outside the run path
 * and /run/kukeon it can write nothing a system account could not. No chown, link or mknod.
 *   dup       the store's sweep of temporary files a crashed writer left reads the directory
 *             through a duplicate of the descriptor it keeps (fdopendir takes ownership).
 *   fchmod    the modes of the reference (kukeon-reference.md 5.1) set after creation, so the
 *             umask does not decide them: documents and their locks 0644, the instance file 0640.
 *             Only those two modes: no setuid, setgid or world-writable file can be made.
 *   fchmodat  the same for the directories the store creates: 02750 (setgid, so children keep
 *             the kukeon group), the only mode allowed. */
static const struct kk_sys_rule api_file_state_rules[] = {
    KK_SYS(openat),
    KK_SYS(newfstatat),
    KK_SYS(statx),
    KK_SYS(getdents64),
    KK_SYS(mkdir),
    KK_SYS(mkdirat),
    KK_SYS(rename),
    KK_SYS(renameat),
    KK_SYS(renameat2),
    KK_SYS(unlink),
    KK_SYS(unlinkat),
    KK_SYS(rmdir),
    KK_SYS(fsync),
    KK_SYS(fdatasync),
    KK_SYS(ftruncate),
    KK_SYS(flock),
    KK_SYS(dup),
    KK_SYS_IF(fchmod, KK_ARG_EQ(1, 0644)),
    KK_SYS_IF(fchmod, KK_ARG_EQ(1, 0640)),
    KK_SYS_IF(fchmodat, KK_ARG_EQ(2, 02750)),
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

/* Its threads (kukeond/api.c): a few request workers and the reconcile loop, all started after the
 * filter is loaded. clone only as a thread: CLONE_THREAD with a shared address space and signal
 * handlers and no namespace flag, so neither a process nor a namespace can be made; clone3 answers
 * ENOSYS so glibc's pthread_create falls back to clone, whose flags the filter can read (clone3's
 * are in memory). The rest is what a new thread does: its robust futex list and rseq area. Its
 * locks are the futex calls of kk_group_libc_locks; a finished thread's stack is released with
 * madvise and munmap (kk_group_memory_noexec). */
static const struct kk_sys_rule api_threads_rules[] = {
    KK_SYS_CLONE_THREAD,
    {.name = "clone3", .nr = SCMP_SYS(clone3), .action = KK_SYS_ENOSYS},
    KK_SYS(set_robust_list),
    KK_SYS(rseq),
    /* glibc's qsort asks sysinfo for the machine's memory before it sorts a large array (a list of
     * 1,000 cells did, and died of SIGSYS). It reads counters only: uptime, load, memory sizes. */
    KK_SYS(sysinfo),
};
static const struct kk_sys_group api_threads =
    KK_GROUP("request workers, the reconcile loop, large sorts", api_threads_rules);

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
    &api_threads,
};

/* Beyond kk_forbidden_everywhere: it starts no program and no process (its threads are clone
 * with CLONE_THREAD only, above), so no fork, vfork or exec; no namespaces; no mounts; no file
 * owners, links or device nodes, and no mode change by path (chmod follows symlinks; the store's
 * fchmod and fchmodat above take only its own modes); and the path-confined openat2 is not its
 * business. */
static const char *const api_forbidden[] = {
    "execve",  "execveat", "fork",      "vfork",     "unshare", "setns",    "mount",
    "umount2", "chmod",    "fchmodat2", "chown",     "fchown",  "fchownat", "lchown",
    "link",    "linkat",   "symlink",   "symlinkat", "mknod",   "mknodat",
};

static const struct kk_rlimit_value api_rlimits[] = {
    /* Clients, the helpers' sockets and documents being written: a bound well above real use that
     * still stops a descriptor leak from starving the host. */
    {RLIMIT_NOFILE, 4096},
    /* Counts every task of user kukeon on the host: this worker's six threads (main, 4 workers,
     * reconcile), a worker of a restarting group still exiting, and other kukeond groups on the
     * same host (test runs start private ones side by side). A bound on a runaway, not a count of
     * what it needs; forking is the filter's to refuse. */
    {RLIMIT_NPROC, 256},
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
