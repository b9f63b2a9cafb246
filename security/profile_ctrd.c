/* The sandbox of kuke-ctrd: containerd over gRPC. It holds no capability; its own checks of every
 * request (namespaces, spec fields) are the boundary, because containerd does whatever its socket's
 * peer asks, and that is root-equivalent whatever this process's identity.
 *
 * Identity: its own unprivileged user kukeon-ctrd, with the containerd connection made before the
 * drop and handed to the gRPC core as a descriptor (grpc_channel_create_from_fd), rather than uid
 * 0 with an empty capability set. uid 0 without capabilities still owns every root-owned file: it
 * could rewrite /etc/shadow or chmod /etc/sudoers, write root-owned sysctls (kernel.core_pattern
 * runs a program as full root), and signal every root process. Landlock could take the file half
 * of that away where the kernel has it, but not the rest, and not on every host. A dedicated user
 * leaves the kernel's plain permission checks in force everywhere. When containerd restarts, the
 * descriptor dies with it; kuke-ctrd then asks the supervisor for a fresh one over its broker socket
 * (fd 6, ipc/broker.h): the supervisor connects as root to the socket of its own configuration and
 * passes the descriptor back, so kuke-ctrd never needs the right to connect by itself and lives on
 * (docs/ctrd.md). */
#include <fcntl.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/prctl.h>

#include "security/profile.h"

/* The gRPC core's threads (executor, timer manager, poller). clone only as a thread: CLONE_THREAD
 * with a shared address space and signal handlers, and no namespace flag; clone3 answers ENOSYS so
 * glibc's pthread_create falls back to clone, whose flags the filter can read (clone3's are in
 * memory). The rest is what a new thread does (robust futex list, rseq, its name), what the core
 * asks of the scheduler (CPU count, yielding while spinning, its own thread's policy through
 * pthread_getschedparam) and of the kernel (uname: the core
 * reads the kernel version to choose socket features). */
static const struct kk_sys_rule ctrd_threads_rules[] = {
    KK_SYS_CLONE_THREAD,
    {.name = "clone3", .nr = SCMP_SYS(clone3), .action = KK_SYS_ENOSYS},
    KK_SYS(set_robust_list),
    KK_SYS(rseq),
    KK_SYS_IF(prctl, KK_ARG_EQ(0, PR_SET_NAME)),
    KK_SYS(sched_getaffinity),
    KK_SYS(sched_yield),
    KK_SYS(sched_getparam),
    KK_SYS(sched_getscheduler),
    KK_SYS(uname),
};
static const struct kk_sys_group ctrd_threads = KK_GROUP("gRPC core threads", ctrd_threads_rules);

/* The gRPC core's poller wakes its threads with an eventfd (a pipe where eventfd is missing). */
static const struct kk_sys_rule ctrd_event_engine_rules[] = {
    KK_SYS(eventfd2),
    KK_SYS(pipe2),
};
static const struct kk_sys_group ctrd_event_engine =
    KK_GROUP("gRPC poller wake-ups", ctrd_event_engine_rules);

/* Read-only opens: what libc and the gRPC core read about the machine (CPU count under /sys, /proc
 * files). Never for writing, creating or truncating; openat2 stays out (its flags are out of the
 * filter's reach), and so does every other call that changes the filesystem. Its writes go to
 * containerd over gRPC and to the audit log it was handed. newfstatat also serves kuke-ctrd's own
 * checks before a container is made: no symlink on a bind source or on the path of the log file the
 * shim will open as root, and a device's numbers (kuke-ctrd/ctrd_task.c). The image tarball is read
 * with pread from the descriptor that came with the request (descriptor_io). */
static const struct kk_sys_rule ctrd_read_files_rules[] = {
    KK_SYS_IF(openat, KK_ARG_MASKED(2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY)),
    KK_SYS(newfstatat),
    KK_SYS(statx),
    KK_SYS(getdents64),
};
static const struct kk_sys_group ctrd_read_files = KK_GROUP("read-only files", ctrd_read_files_rules);

/* Its sockets are all handed to it: the request socket (3), the broker socket (6) and every containerd
 * connection, which the supervisor's broker connects as root and passes over (ipc/broker.h). The gRPC
 * core sets options on a connection and asks its addresses; nothing here binds, listens, accepts or
 * connects: a new connection is the supervisor's to make, so a hijacked kuke-ctrd cannot reach another
 * socket, not even an AF_UNIX one. socket() and socketpair() stay, AF_UNIX only: an unconnected socket
 * reaches nothing, and the sandbox tests create one to prove the family filter. */
static const struct kk_sys_rule ctrd_sockets_rules[] = {
    KK_SYS_IF(socket, KK_ARG_EQ(0, AF_UNIX)),
    KK_SYS_IF(socketpair, KK_ARG_EQ(0, AF_UNIX)),
    KK_SYS(getsockopt),
    KK_SYS(setsockopt),
    KK_SYS(getsockname),
    KK_SYS(getpeername),
    KK_SYS(shutdown),
};
static const struct kk_sys_group ctrd_sockets = KK_GROUP("sockets it was handed", ctrd_sockets_rules);

static const struct kk_sys_group *const ctrd_groups[] = {
    &kk_group_lifecycle,
    &kk_group_descriptor_io,
    &kk_group_memory_noexec,
    &kk_group_clock,
    &kk_group_libc_locks,
    &kk_group_self,
    &kk_group_poll,
    &kk_group_epoll,
    /* Its request socket (fd 3), the broker (fd 6) and the containerd connections. */
    &kk_group_ipc_messages,
    &ctrd_sockets,
    &ctrd_threads,
    &ctrd_event_engine,
    &ctrd_read_files,
};

/* Beyond kk_forbidden_everywhere: no programs (containerd and its shims start them), no processes
 * other than its threads, no namespaces or mounts, no change to any file (openat is read-only and
 * openat2, whose flags the filter cannot see, is out), no modes, owners, links or nodes, and no
 * connection of its own making. */
/* clang-format off */
static const char *const ctrd_forbidden[] = {
    "execve",  "execveat", "fork",    "vfork",     "unshare",  "setns",     "mount",
    "umount2", "open",     "openat2", "creat",     "truncate", "ftruncate", "mkdir",
    "mkdirat", "rmdir",    "unlink",  "unlinkat",  "rename",   "renameat",  "renameat2",
    "link",    "linkat",   "symlink", "symlinkat", "mknod",    "mknodat",   "chmod",
    "fchmod",  "fchmodat", "chown",   "fchown",    "fchownat", "lchown",
    /* no connection of its own making: containerd's come from the supervisor's broker */
    "connect", "bind",     "listen",  "accept",    "accept4",
};
/* clang-format on */

static const struct kk_rlimit_value ctrd_rlimits[] = {
    /* The containerd connection, its request socket, the gRPC core's eventfds and epoll set. */
    {RLIMIT_NOFILE, 1024},
    /* Counts the tasks of user kukeon-ctrd, which is this process alone: a bound on the gRPC
     * core's threads (a few per CPU) with room to spare. */
    {RLIMIT_NPROC, 256},
    /* Its only regular file is the audit log. */
    {RLIMIT_FSIZE, 64ULL << 20},
    {RLIMIT_CORE, 0},
};

const struct kk_role_profile kk_profile_ctrd = {
    .role = KK_ROLE_CTRD,
    .name = "ctrd",
    .binary = "kuke-ctrd",
    .user = "kukeon-ctrd",
    /* Group kukeon: the run path is 2750 kukeon:kukeon, and kuke-ctrd walks it (read-only) to check
     * that a container's log path and binds resolve beneath the realm's directory with no symlink.
     * The group gives read and search there and nothing else: kuke-ctrd writes no file of it. */
    .group = "kukeon",
    .keeps_root = false,
    /* No capability: containerd's socket was opened before the drop; nothing else it does is
     * privileged. */
    .caps = NULL,
    .n_caps = 0,
    .rlimits = ctrd_rlimits,
    .n_rlimits = KK_ARRAY_SIZE(ctrd_rlimits),
    .sandboxed = true,
    .groups = ctrd_groups,
    .n_groups = KK_ARRAY_SIZE(ctrd_groups),
    .forbidden = ctrd_forbidden,
    .n_forbidden = KK_ARRAY_SIZE(ctrd_forbidden),
};
