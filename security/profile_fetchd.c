/* The sandbox of kuke-fetchd: images from OCI registries over HTTPS (docs/fetchd.md).
 *
 * Why a helper of its own: everything a registry sends is hostile input (TLS records, HTTP headers,
 * JSON manifests, token-service answers, blob bytes), parsed by libcurl, OpenSSL and our own code.
 * Put into kuke-ctrd, that parser would share a process with the containerd connection, which is
 * root-equivalent whatever the process's identity; put into the API worker, it would share one with
 * the store and every client's requests. Here it has the network and nothing local: its own user
 * kukeon-fetchd (its own group, NOT kukeon: it cannot read the run path, the store or the secrets),
 * no capability, no containerd socket, no API socket, no credentials of its own (a request brings
 * the realm's for that one registry and they are gone with the request), and no file it may write
 * but the one descriptor a FETCH request hands over. What it writes there is checked again by
 * kuke-ctrd, digest by digest, before containerd keeps any of it.
 *
 * What remains for a hijacked kuke-fetchd: it can connect to any host and port the machine can
 * reach (a registry named 127.0.0.1:5000 is allowed on purpose), send what it likes there, and write
 * garbage into the file it was handed (which kuke-ctrd then refuses). It cannot open a Unix socket
 * (containerd's, the API's, nscd's: socket(AF_UNIX) answers EAFNOSUPPORT), bind or listen, start a
 * program, write or create a file, or signal another process. */
#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "security/profile.h"

/* libcurl's threaded resolver runs getaddrinfo on a thread of its own, one per lookup. clone only as
 * a thread (as in profile_ctrd.c): CLONE_THREAD with a shared address space and signal handlers and
 * no namespace flag; clone3 answers ENOSYS so that glibc falls back to clone, whose flags the filter
 * can read. The rest is what a new thread does (robust futex list, rseq, its name, its CPU mask)
 * and what OpenSSL's and libcurl's spin-waits ask (sched_yield). */
static const struct kk_sys_rule fetchd_threads_rules[] = {
    KK_SYS_CLONE_THREAD,
    {.name = "clone3", .nr = SCMP_SYS(clone3), .action = KK_SYS_ENOSYS},
    KK_SYS(set_robust_list),
    KK_SYS(rseq),
    KK_SYS_IF(prctl, KK_ARG_EQ(0, PR_SET_NAME)),
    KK_SYS(sched_getaffinity),
    KK_SYS(sched_yield),
};
static const struct kk_sys_group fetchd_threads = KK_GROUP("resolver threads", fetchd_threads_rules);

/* libcurl wakes a waiting transfer, and its resolver thread tells the transfer that the lookup is
 * done, over a socketpair (an eventfd or a pipe in other builds). A socketpair reaches nothing
 * outside the process. */
static const struct kk_sys_rule fetchd_wakeups_rules[] = {
    KK_SYS_IF(socketpair, KK_ARG_EQ(0, AF_UNIX)),
    KK_SYS(eventfd2),
    KK_SYS(pipe2),
};
static const struct kk_sys_group fetchd_wakeups = KK_GROUP("libcurl wake-ups", fetchd_wakeups_rules);

/* The network: TCP to registries and token services, UDP to the name servers of /etc/resolv.conf
 * (glibc sends the A and AAAA queries together with sendmmsg; getaddrinfo's address sorting connects
 * a UDP socket to each answer to learn the source address, which sends nothing). Only IPv4 and IPv6
 * sockets are made. AF_UNIX answers EAFNOSUPPORT rather than killing: glibc tries nscd's socket
 * first and falls back to the files and DNS, and the same answer keeps containerd's and the API's
 * sockets out of reach. AF_NETLINK answers the same: getaddrinfo's AI_ADDRCONFIG probe then assumes
 * both families, which is harmless. Every other family kills. No bind, listen or accept: it serves
 * nothing on the network. */
static const struct kk_sys_rule fetchd_network_rules[] = {
    KK_SYS_IF(socket, KK_ARG_EQ(0, AF_INET)),
    KK_SYS_IF(socket, KK_ARG_EQ(0, AF_INET6)),
    {.name = "socket",
     .nr = SCMP_SYS(socket),
     .action = KK_SYS_EAFNOSUPPORT,
     .n_args = 1,
     .args = {KK_ARG_EQ(0, AF_UNIX)}},
    {.name = "socket",
     .nr = SCMP_SYS(socket),
     .action = KK_SYS_EAFNOSUPPORT,
     .n_args = 1,
     .args = {KK_ARG_EQ(0, AF_NETLINK)}},
    KK_SYS(connect),
    KK_SYS(sendmmsg),
    KK_SYS(getsockopt),
    KK_SYS(setsockopt),
    KK_SYS(getsockname),
    KK_SYS(getpeername),
    KK_SYS(shutdown),
    /* glibc's DNS client asks how many bytes a UDP answer holds before reading it (res_send). */
    KK_SYS_IF(ioctl, KK_ARG_EQ(1, FIONREAD)),
    /* getaddrinfo asks the host's name (gethostname is uname) to tell local names apart. */
    KK_SYS(uname),
};
static const struct kk_sys_group fetchd_network =
    KK_GROUP("registry connections and DNS", fetchd_network_rules);

/* Read-only opens: the resolver's files (/etc/resolv.conf, /etc/hosts, /etc/nsswitch.conf, gai.conf,
 * which glibc re-reads when they change) and what OpenSSL reads from /dev/urandom or /proc where
 * getrandom is not enough. Never for writing, creating or truncating; openat2, whose flags the filter
 * cannot see, stays out. newfstatat: glibc checks whether resolv.conf changed. The CA bundle is read
 * into memory before the sandbox (fetchd_init). The only file written is the FETCH descriptor, with
 * write/pwrite (descriptor_io). */
static const struct kk_sys_rule fetchd_read_files_rules[] = {
    KK_SYS_IF(openat, KK_ARG_MASKED(2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY)),
    KK_SYS(newfstatat),
};
static const struct kk_sys_group fetchd_read_files = KK_GROUP("read-only files", fetchd_read_files_rules);

static const struct kk_sys_group *const fetchd_groups[] = {
    &kk_group_lifecycle,
    &kk_group_descriptor_io,
    &kk_group_memory_noexec,
    &kk_group_clock,
    &kk_group_libc_locks,
    &kk_group_self,
    &kk_group_poll,
    &kk_group_epoll,
    /* Its request socket (fd 3), and send/recv on its network sockets. */
    &kk_group_ipc_messages,
    &fetchd_network,
    &fetchd_wakeups,
    &fetchd_threads,
    &fetchd_read_files,
};

/* Beyond kk_forbidden_everywhere: no programs, no processes other than its threads, no namespaces
 * or mounts, no change to any file (openat is read-only and openat2 is out), no modes, owners, links
 * or nodes, and nothing that serves: no bind, listen or accept. */
/* clang-format off */
static const char *const fetchd_forbidden[] = {
    "execve",  "execveat", "fork",    "vfork",     "unshare",  "setns",     "mount",
    "umount2", "open",     "openat2", "creat",     "truncate", "mkdir",     "mkdirat",
    "rmdir",   "unlink",   "unlinkat", "rename",   "renameat", "renameat2", "link",
    "linkat",  "symlink",  "symlinkat", "mknod",   "mknodat",  "chmod",     "fchmod",
    "fchmodat", "chown",   "fchown",  "fchownat",  "lchown",
    /* it fetches; it serves nothing */
    "bind",    "listen",   "accept",  "accept4",
};
/* clang-format on */

static const struct kk_rlimit_value fetchd_rlimits[] = {
    /* Its request socket, the FETCH file, a few connections and resolver socketpairs. */
    {RLIMIT_NOFILE, 256},
    /* Counts the tasks of user kukeon-fetchd, which is this process alone: the resolver threads of
     * the transfer in progress, with room to spare. */
    {RLIMIT_NPROC, 64},
    /* The FETCH file holds a whole image; the bound is far above any image and still stops a runaway
     * writer before it fills a disk of any size. */
    {RLIMIT_FSIZE, 256ULL << 30},
    /* A core would hold the password of the request in progress. */
    {RLIMIT_CORE, 0},
};

const struct kk_role_profile kk_profile_fetchd = {
    .role = KK_ROLE_FETCHD,
    .name = "fetchd",
    .binary = "kuke-fetchd",
    .user = "kukeon-fetchd",
    /* Its own group, not kukeon: it has no business in the run path (the store, the realms'
     * secrets, the API socket). */
    .group = "kukeon-fetchd",
    .keeps_root = false,
    /* No capability: nothing it does is privileged. */
    .caps = NULL,
    .n_caps = 0,
    .rlimits = fetchd_rlimits,
    .n_rlimits = KK_ARRAY_SIZE(fetchd_rlimits),
    .sandboxed = true,
    .groups = fetchd_groups,
    .n_groups = KK_ARRAY_SIZE(fetchd_groups),
    .forbidden = fetchd_forbidden,
    .n_forbidden = KK_ARRAY_SIZE(fetchd_forbidden),
};
