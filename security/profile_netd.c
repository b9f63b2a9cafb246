/* The sandbox of kuke-netd: network namespaces, CNI plugins, netlink. The most privileged helper:
 * it keeps uid 0 with CAP_NET_ADMIN and CAP_SYS_ADMIN only, and runs the CNI plugins (bridge,
 * host-local, loopback, portmap) and, through them, iptables.
 *
 * Why one filter, generous enough for the plugins, rather than a tight netd filter plus an
 * unfiltered plugin launcher: a seccomp filter survives fork and execve and can never be removed,
 * so whatever runs the plugins must either carry a filter that lets Go binaries and iptables work,
 * or carry none. A launcher forked before the filter would be an unfiltered uid-0 process taking
 * orders from netd — strictly worse than the plugins running under this filter. A launcher with
 * its own plugin filter would run exactly this allow-list, and netd, able to make it run plugins,
 * would gain nothing by lacking execve itself: under PR_SET_NO_NEW_PRIVS, with this bounding set
 * and this filter inherited, execve gives a process no right it did not have, only other code.
 * So netd's boundary is its own request validation (docs/DESIGN section 3) plus this one filter,
 * which still keeps out everything in the forbidden tables, new user namespaces, mounts of new
 * filesystems, and every socket family but unix and netlink (route and netfilter).
 *
 * Why uid 0 and not a user with the capabilities in the ambient set: the plugins are exec'd, and a
 * non-root process passes capabilities across execve only through the ambient set, which must stay
 * empty. For uid 0, execve gives the new program exactly the bounding set (NET_ADMIN, SYS_ADMIN),
 * whatever the file's capabilities. uid 0 still owns root's files (DAC as owner); the filter
 * denies chmod, chown and mknod, and the bounding set has no CAP_DAC_OVERRIDE, CAP_FOWNER or
 * CAP_CHOWN, so root-owned files it is not the owner-writer of stay out of reach. */
#include <asm/prctl.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/netlink.h>
#include <linux/prctl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include "security/profile.h"

/* Every clone flag that creates a namespace. netd's fork()s and the Go runtime's clones never set
 * one; new network namespaces come from unshare(CLONE_NEWNET) only. */
#define KK_CLONE_NAMESPACE_FLAGS                                                                             \
    (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |               \
     CLONE_NEWCGROUP)

/* Memory for netd and for what it execs: the plugins are static Go binaries, but iptables is
 * dynamically linked and ld.so maps its libraries executable, so unlike the other roles netd may
 * not refuse PROT_EXEC. */
static const struct kk_sys_rule netd_memory_rules[] = {
    KK_SYS(brk), KK_SYS(mmap), KK_SYS(mprotect), KK_SYS(munmap), KK_SYS(mremap), KK_SYS(madvise),
};
static const struct kk_sys_group netd_memory = KK_GROUP("memory, code of exec'd programs", netd_memory_rules);

/* Netlink: NETLINK_ROUTE for links, addresses and routes (libnl in netd, vishvananda/netlink in
 * the plugins) and NETLINK_NETFILTER for iptables-nft's rules and portmap's conntrack flushes.
 * No other protocol (no audit, no kobject uevents, no generic netlink families). Sending,
 * receiving and options on them are in the unix-socket and message groups. */
static const struct kk_sys_rule netd_netlink_rules[] = {
    KK_SYS_IF2(socket, KK_ARG_EQ(0, AF_NETLINK), KK_ARG_EQ(2, NETLINK_ROUTE)),
    KK_SYS_IF2(socket, KK_ARG_EQ(0, AF_NETLINK), KK_ARG_EQ(2, NETLINK_NETFILTER)),
};
static const struct kk_sys_group netd_netlink = KK_GROUP("netlink: route and netfilter", netd_netlink_rules);

/* A cell's network namespace: a child unshares CLONE_NEWNET (nothing else: no user namespace, no
 * mount namespace) and bind-mounts its /proc/self/ns/net onto the pin under /run/netns/ so `ip
 * netns` sees it; umount2 unpins it. setns only into a network namespace (netd enters a cell's to
 * open a netlink socket there and returns; the plugins enter it to configure eth0). mount only with
 * the exact flag word MS_BIND: no new filesystem, no remount, no move, no recursive bind, no
 * propagation change — making /run/netns a shared mount point (as iproute2 does) happens in
 * acquire, before the filter, so the filter need not allow it. statfs is how the plugins check
 * that a path is a namespace (nsfs); netd checks a pin with fstatfs. */
static const struct kk_sys_rule netd_namespaces_rules[] = {
    KK_SYS_IF(unshare, KK_ARG_EQ(0, CLONE_NEWNET)),
    KK_SYS_IF(setns, KK_ARG_EQ(1, CLONE_NEWNET)),
    KK_SYS_IF(mount, KK_ARG_EQ(3, MS_BIND)),
    KK_SYS_IF(umount2, KK_ARG_EQ(1, MNT_DETACH)),
    KK_SYS(statfs),
    KK_SYS(fstatfs),
};
static const struct kk_sys_group netd_namespaces =
    KK_GROUP("network namespaces and their pins", netd_namespaces_rules);

/* Running the CNI plugins and, from them, iptables: fork/vfork-style clones without namespace
 * flags, execve, waiting; pipes for their stdin/stdout; clone3 answers ENOSYS so glibc falls back
 * to clone, whose flags the filter reads. What a freshly exec'd program does before main: ld.so's
 * TLS (arch_prctl ARCH_SET_FS, set_tid_address, set_robust_list, rseq), its stack limit
 * (prlimit64 of itself: pid 0), the Go runtime's thread clones, CPU count, signal stacks and
 * preemption signals (tgkill with SIGURG: a Go program signals its own threads, and its pid is
 * not netd's, so this one signal is allowed to any thread — SIGURG's default action is to be
 * ignored), uname, and iptables' select()-based wait for the xtables lock.
 * prctl only as PR_SET_PDEATHSIG: netd runs each plugin (and iptables) under a small runner child
 * (kuke-netd/cni.c); the runner asks to die with SIGKILL when netd does, and the plugin when its
 * runner does. The runner exits at the plugin's deadline, which is how a hung plugin is ended
 * without netd or the runner ever signalling another process (kill stays forbidden), and a plugin
 * never outlives the netd that started it. (netd's PR_SET_CHILD_SUBREAPER, so that it reaps those
 * orphans, is set in acquire, before the filter.) */
static const struct kk_sys_rule netd_processes_rules[] = {
    KK_SYS_IF(clone, KK_ARG_MASKED(0, KK_CLONE_NAMESPACE_FLAGS, 0)),
    {.name = "clone3", .nr = SCMP_SYS(clone3), .action = KK_SYS_ENOSYS},
    KK_SYS(execve),
    KK_SYS(wait4),
    KK_SYS(waitid),
    KK_SYS(pipe2),
    KK_SYS(dup),
    KK_SYS(dup2),
    KK_SYS(dup3),
    KK_SYS_IF(arch_prctl, KK_ARG_EQ(0, ARCH_SET_FS)),
    KK_SYS(set_tid_address),
    KK_SYS(set_robust_list),
    KK_SYS(rseq),
    KK_SYS_IF(prlimit64, KK_ARG_EQ(0, 0)),
    KK_SYS(getrlimit),
    KK_SYS(sched_getaffinity),
    KK_SYS(sched_yield),
    KK_SYS(sigaltstack),
    KK_SYS_IF(tgkill, KK_ARG_EQ(2, SIGURG)),
    KK_SYS(getppid),
    KK_SYS_IF(prctl, KK_ARG_EQ(0, PR_SET_PDEATHSIG)),
    KK_SYS(uname),
    KK_SYS(pselect6),
};
static const struct kk_sys_group netd_processes =
    KK_GROUP("running CNI plugins and iptables", netd_processes_rules);

/* Files: the conflists it writes to the CNI conf dir (/etc/cni/net.d, atomically), the subnet
 * records, cell records, host-local's leases and locks and the allocation lock (flock) in its own
 * state directory (netdStateDir, /var/lib/kukeon/netd: made 0700 and opened as an O_PATH
 * descriptor in acquire, before this filter; netd then works relative to that descriptor with the
 * *at forms — openat, newfstatat, mkdirat, renameat, unlinkat — and never in the run path, which is
 * the API worker's; docs/netd.md), iptables' /run/xtables.lock, the sysctls the bridge plugin sets
 * under /proc/sys/net, the namespace pins under /run/netns, and what ld.so and the Go runtime read.
 * The path forms (mkdir, rename, unlink, rmdir, access) stay for what netd execs: glibc on x86_64
 * calls them directly, and iptables is a glibc program. No chmod, chown, link or mknod. */
static const struct kk_sys_rule netd_files_rules[] = {
    KK_SYS(openat),     KK_SYS(newfstatat), KK_SYS(statx),     KK_SYS(getdents64), KK_SYS(readlink),
    KK_SYS(readlinkat), KK_SYS(access),     KK_SYS(faccessat), KK_SYS(faccessat2), KK_SYS(mkdir),
    KK_SYS(mkdirat),    KK_SYS(unlink),     KK_SYS(unlinkat),  KK_SYS(rmdir),      KK_SYS(rename),
    KK_SYS(renameat),   KK_SYS(renameat2),  KK_SYS(flock),     KK_SYS(fsync),      KK_SYS(fdatasync),
    KK_SYS(ftruncate),  KK_SYS(getcwd),
};
static const struct kk_sys_group netd_files = KK_GROUP("conflists, leases, locks, sysctls", netd_files_rules);

static const struct kk_sys_group *const netd_groups[] = {
    &kk_group_lifecycle,
    &kk_group_descriptor_io,
    &netd_memory,
    &kk_group_clock,
    &kk_group_libc_locks,
    &kk_group_self,
    &kk_group_poll,
    &kk_group_epoll,
    /* Its request socket and unix sockets of its own (a socketpair to the child that pins a
     * namespace). No inet or inet6 socket: the plugins configure addresses over netlink and never
     * open one, and netd itself has no business on the network. */
    &kk_group_ipc_messages,
    &kk_group_unix_sockets,
    &netd_netlink,
    &netd_namespaces,
    &netd_processes,
    &netd_files,
};

/* Beyond kk_forbidden_everywhere: nothing that changes modes, owners or links (uid 0 owns root's
 * files, see above), no device nodes, no other way to run a program. */
static const char *const netd_forbidden[] = {
    "chmod", "fchmod", "fchmodat",  "chown",     "fchown", "fchownat", "lchown",
    "link",  "linkat", "symlink",   "symlinkat", "mknod",  "mknodat",  "execveat",
    "vfork", "fork",   "open_tree", "truncate",  "creat",
};

/* CAP_NET_ADMIN: links, addresses, routes, bridges, veths, iptables/nftables rules, netns sysctls.
 * CAP_SYS_ADMIN: unshare(CLONE_NEWNET), setns into a cell's namespace, and the bind mount that pins
 * it (no capability short of SYS_ADMIN allows any of the three).
 * Not CAP_NET_RAW: Debian's iptables is iptables-nft, which programs rules over netlink with
 * NET_ADMIN alone (iptables-legacy would need a raw socket), and these plugins (1.1.x) open no raw
 * or packet socket; the filter would kill a packet socket anyway. */
static const int netd_caps[] = {CAP_NET_ADMIN, CAP_SYS_ADMIN};

static const struct kk_rlimit_value netd_rlimits[] = {
    /* netd's sockets and the plugins' netlink sockets and pipes; Go programs raise their soft
     * limit to this hard one. */
    {RLIMIT_NOFILE, 1024},
    /* Conflists, leases and locks are tiny. */
    {RLIMIT_FSIZE, 64ULL << 20},
    {RLIMIT_CORE, 0},
    /* No RLIMIT_NPROC: the kernel does not apply it to uid 0, and it would count every root
     * process on the host. */
};

const struct kk_role_profile kk_profile_netd = {
    .role = KK_ROLE_NETD,
    .name = "netd",
    .binary = "kuke-netd",
    .user = "root",
    .group = "root",
    .keeps_root = true,
    .caps = netd_caps,
    .n_caps = KK_ARRAY_SIZE(netd_caps),
    .rlimits = netd_rlimits,
    .n_rlimits = KK_ARRAY_SIZE(netd_rlimits),
    .sandboxed = true,
    .groups = netd_groups,
    .n_groups = KK_ARRAY_SIZE(netd_groups),
    .forbidden = netd_forbidden,
    .n_forbidden = KK_ARRAY_SIZE(netd_forbidden),
};
