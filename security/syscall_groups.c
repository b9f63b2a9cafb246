/* System-call groups shared by several roles, each named by the purpose that justifies it, and
 * the table of calls no sandboxed role may ever make. Role-specific groups live in the role's
 * profile_<role>.c; which role lists which group is decided there. */
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "security/profile.h"

/* Ending the process (exit_group; exit for a thread), and the returns the kernel itself asks for:
 * from a signal handler, and the restart of a call a signal interrupted. */
static const struct kk_sys_rule lifecycle_rules[] = {
    KK_SYS(exit_group),
    KK_SYS(exit),
    KK_SYS(rt_sigreturn),
    KK_SYS(restart_syscall),
};
const struct kk_sys_group kk_group_lifecycle = KK_GROUP("ending the process, signal return", lifecycle_rules);

/* Reading and writing descriptors the process already holds: its request socket, the
 * configuration memfd (read with pread, see docs/architecture.md), its log pipe and audit log.
 * fcntl only for the descriptor flags (O_NONBLOCK, FD_CLOEXEC) and close-on-exec duplicates: no
 * leases, no F_SETOWN signals, no pipe resizing. isatty() in stdio asks TCGETS: it is told "not a
 * terminal" instead of being killed, and no other ioctl is reachable (TIOCSTI and device control
 * stay out). */
static const struct kk_sys_rule descriptor_io_rules[] = {
    KK_SYS(read),
    KK_SYS(write),
    KK_SYS(readv),
    KK_SYS(writev),
    KK_SYS(pread64),
    KK_SYS(pwrite64),
    KK_SYS(lseek),
    KK_SYS(close),
    KK_SYS(fstat),
    KK_SYS_IF(fcntl, KK_ARG_EQ(1, F_GETFD)),
    KK_SYS_IF(fcntl, KK_ARG_EQ(1, F_SETFD)),
    KK_SYS_IF(fcntl, KK_ARG_EQ(1, F_GETFL)),
    KK_SYS_IF(fcntl, KK_ARG_EQ(1, F_SETFL)),
    KK_SYS_IF(fcntl, KK_ARG_EQ(1, F_DUPFD_CLOEXEC)),
    {.name = "ioctl",
     .nr = SCMP_SYS(ioctl),
     .action = KK_SYS_ENOTTY,
     .n_args = 1,
     .args = {KK_ARG_EQ(1, TCGETS)}},
};
const struct kk_sys_group kk_group_descriptor_io =
    KK_GROUP("descriptors it already holds", descriptor_io_rules);

/* glibc's fstat() is newfstatat(fd, "", buf, AT_EMPTY_PATH); roles without path-based file access
 * get only that form. (AT_EMPTY_PATH with a non-empty path still resolves it: this keeps stat out
 * of casual use, it is not a confinement. The roles' confinement is DAC, openat2 and the missing
 * open calls.) */
static const struct kk_sys_rule fstat_rules[] = {
    KK_SYS_IF(newfstatat, KK_ARG_MASKED(3, AT_EMPTY_PATH, AT_EMPTY_PATH)),
};
const struct kk_sys_group kk_group_fstat = KK_GROUP("fstat as glibc makes it", fstat_rules);

/* malloc's heap and mappings, and thread stacks. No mapping may be made executable, new or
 * existing: nothing these roles run after the filter loads needs code it did not start with, so a
 * memory-corruption bug cannot stage shellcode through mmap/mprotect. */
static const struct kk_sys_rule memory_noexec_rules[] = {
    KK_SYS(brk),
    KK_SYS_IF(mmap, KK_ARG_MASKED(2, PROT_EXEC, 0)),
    KK_SYS_IF(mprotect, KK_ARG_MASKED(2, PROT_EXEC, 0)),
    KK_SYS(munmap),
    KK_SYS(mremap),
    KK_SYS(madvise),
};
const struct kk_sys_group kk_group_memory_noexec = KK_GROUP("memory, never executable", memory_noexec_rules);

/* Time stamps for log and audit lines, timeouts and back-off sleeps (the vDSO answers most clock
 * reads without a system call; these are its fallbacks). */
static const struct kk_sys_rule clock_rules[] = {
    KK_SYS(clock_gettime), KK_SYS(clock_getres), KK_SYS(gettimeofday),
    KK_SYS(time),          KK_SYS(nanosleep),    KK_SYS(clock_nanosleep),
};
const struct kk_sys_group kk_group_clock = KK_GROUP("clocks and sleeping", clock_rules);

/* libc (and gRPC, and the Go runtime) lock waits: futex wait and wake only, with or without the
 * private and realtime-clock flags (the mask keeps the command bits). Requeue, wake-op and the
 * priority-inheritance operations, the historically buggy corners of futex, stay out. */
#define KK_FUTEX_CMD_BITS 0x7f
static const struct kk_sys_rule libc_locks_rules[] = {
    KK_SYS_IF(futex, KK_ARG_MASKED(1, KK_FUTEX_CMD_BITS, FUTEX_WAIT)),
    KK_SYS_IF(futex, KK_ARG_MASKED(1, KK_FUTEX_CMD_BITS, FUTEX_WAKE)),
    KK_SYS_IF(futex, KK_ARG_MASKED(1, KK_FUTEX_CMD_BITS, FUTEX_WAIT_BITSET)),
    KK_SYS_IF(futex, KK_ARG_MASKED(1, KK_FUTEX_CMD_BITS, FUTEX_WAKE_BITSET)),
};
const struct kk_sys_group kk_group_libc_locks = KK_GROUP("futex wait and wake", libc_locks_rules);

/* Facts about itself, for its log and the DaemonStatus report (pid, uid, gid), random bytes for
 * hash seeds (jansson) and request ids, the signal mask and handlers libc's abort() resets, and
 * abort() itself: tgkill only at its own pid, so it cannot signal any other process. */
static const struct kk_sys_rule self_rules[] = {
    KK_SYS(getpid),       KK_SYS(gettid),
    KK_SYS(getuid),       KK_SYS(geteuid),
    KK_SYS(getgid),       KK_SYS(getegid),
    KK_SYS(getrandom),    KK_SYS(rt_sigprocmask),
    KK_SYS(rt_sigaction), {.name = "tgkill", .nr = SCMP_SYS(tgkill), .arg0_is_self_pid = true},
};
const struct kk_sys_group kk_group_self = KK_GROUP("itself: ids, randomness, abort", self_rules);

/* Waiting for its request socket (and a timeout) to be ready. */
static const struct kk_sys_rule poll_rules[] = {
    KK_SYS(poll),
    KK_SYS(ppoll),
};
const struct kk_sys_group kk_group_poll = KK_GROUP("waiting on a few descriptors", poll_rules);

/* Event loops over many descriptors (the API's clients, the gRPC core's poller). */
static const struct kk_sys_rule epoll_rules[] = {
    KK_SYS(epoll_create1), KK_SYS(epoll_ctl), KK_SYS(epoll_wait), KK_SYS(epoll_pwait), KK_SYS(epoll_pwait2),
};
const struct kk_sys_group kk_group_epoll = KK_GROUP("event loop", epoll_rules);

/* Requests and replies on sockets it was handed (the SOCK_SEQPACKET socketpair on fd 3), with
 * descriptors riding along as SCM_RIGHTS; send()/recv() are sendto/recvfrom in glibc. */
static const struct kk_sys_rule ipc_messages_rules[] = {
    KK_SYS(recvmsg),
    KK_SYS(sendmsg),
    KK_SYS(recvfrom),
    KK_SYS(sendto),
};
const struct kk_sys_group kk_group_ipc_messages =
    KK_GROUP("messages on inherited sockets", ipc_messages_rules);

/* Unix-domain sockets of its own. socket() and socketpair() only for AF_UNIX: any other family
 * (inet, inet6, netlink, packet, vsock, ...) kills the process, so a compromised process cannot
 * reach the network or the kernel's other socket code. The calls below act on sockets the process
 * already has, which are all AF_UNIX unless a role adds a family. */
static const struct kk_sys_rule unix_sockets_rules[] = {
    KK_SYS_IF(socket, KK_ARG_EQ(0, AF_UNIX)),
    KK_SYS_IF(socketpair, KK_ARG_EQ(0, AF_UNIX)),
    KK_SYS(bind),
    KK_SYS(listen),
    KK_SYS(connect),
    KK_SYS(accept),
    KK_SYS(accept4),
    KK_SYS(getsockopt),
    KK_SYS(setsockopt),
    KK_SYS(getsockname),
    KK_SYS(getpeername),
    KK_SYS(shutdown),
};
const struct kk_sys_group kk_group_unix_sockets = KK_GROUP("AF_UNIX sockets", unix_sockets_rules);

/* ---- sanitizer runtime (SANITIZE=address,undefined builds only) ------------------------------
 * Not part of any product profile: compiled in only when the sanitizers are, and added to every
 * sandboxed role's filter by kk_sandbox_build_filter, so that `make check SANITIZE=...` tests the
 * real filters and a sanitizer report made inside a sandbox comes out whole instead of dying of
 * SIGSYS half-way. LeakSanitizer's exit-time scan stops the world with a ptrace-ing clone, which no
 * filter here will allow (and which a non-dumpable process after the uid change could not do
 * anyway): kk_sandbox_drop_identity runs that scan early, before the drop, and the runtime then
 * skips it at exit; leaks made inside the sandbox go unreported. What a report needs afterwards:
 *   open/openat, read-only     /proc/self/maps (the runtime's own open is the legacy open), the
 *                              executable and libraries for symbolizing (libbacktrace uses openat)
 *   newfstatat, readlink       the runtime's binary name (/proc/self/exe) and debug-file lookups
 *   pipe2                      UBSan tests whether memory is readable by writing it into a pipe
 *   sched_yield                the runtime's spin locks
 *   sigaltstack                ASan gives every new thread an alternate signal stack (ctrd's threads)
 *   sched_getaffinity          ASan's thread start reads the thread's CPU mask (the API worker's threads)
 * Its memory (mmap/munmap, never executable) is already in every role's memory group. */
#if KK_SANITIZER_BUILD
static const struct kk_sys_rule sanitizer_runtime_rules[] = {
    KK_SYS_IF(open, KK_ARG_MASKED(1, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY)),
    KK_SYS_IF(openat, KK_ARG_MASKED(2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY)),
    KK_SYS(newfstatat),
    KK_SYS(readlink),
    KK_SYS(pipe2),
    KK_SYS(sched_yield),
    KK_SYS(sigaltstack),
    KK_SYS(sched_getaffinity),
};
const struct kk_sys_group kk_group_sanitizer_runtime =
    KK_GROUP("sanitizer runtime (sanitizer builds only)", sanitizer_runtime_rules);
#else
const struct kk_sys_group kk_group_sanitizer_runtime = {.purpose = "sanitizer runtime (not built)"};
#endif

/* Never in any sandboxed role's allow-list, whatever its needs: debugging and memory access to
 * other processes, the kernel's large and often-exploited interfaces (bpf, io_uring, perf, keys,
 * userfaultfd), changing the kernel or the machine (modules, kexec, reboot, swap, clocks,
 * accounting), mounting outside the one bind form netd has, changing root, changing identity or
 * capabilities after the drop (the drop is final), a second seccomp filter's ways to confuse
 * tools, signals to other processes, and ioctl beyond the TCGETS answer above. */
/* One row per reason. */
/* clang-format off */
const char *const kk_forbidden_everywhere[] = {
    /* other processes' memory and descriptors */
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    /* large, often-exploited kernel interfaces */
    "bpf", "io_uring_setup", "io_uring_enter", "io_uring_register", "perf_event_open", "userfaultfd",
    "keyctl", "add_key", "request_key",
    /* changing the kernel or the machine */
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
    "swapon", "swapoff", "acct", "syslog", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "quotactl",
    /* mounts and roots: the new mount API would bypass netd's mount-flag checks */
    "fsopen", "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr", "pivot_root",
    "chroot", "open_by_handle_at", "name_to_handle_at",
    /* identity and capabilities: the drop is final */
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid",
    "setfsgid", "capset",
    /* a process that may change its own filter or execution domain confuses every tool */
    "seccomp", "personality", "iopl", "ioperm", "modify_ldt",
    /* signals to other processes */
    "kill", "tkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal",
    /* obsolete */
    "vhangup", "uselib", "lookup_dcookie",
};
/* clang-format on */
const size_t kk_forbidden_everywhere_count = KK_ARRAY_SIZE(kk_forbidden_everywhere);
