/* sandbox_probe: enter a role's sandbox as the real helpers do, then try one thing, so that the
 * sandbox tests see what the kernel lets that role do.
 *
 *   sandbox_probe [--no-filter] ROLE PROBE [ARG...]
 *
 * Run as root, it drops to the role's account (kk_role_resolve_ids: create the accounts first with
 * kk_accounts_ensure); run as anyone else, it enters the role in place, as that user. --no-filter
 * stops before the seccomp filter (identity, capabilities, rlimits, no-new-privs only), to show the
 * kernel refusing what the filter would otherwise kill first.
 *
 * Exit status: 0 the operation worked; 10 it failed with EPERM, 11 EACCES, 13 ENOTTY, 14 ENOSYS,
 * 15 EXDEV, 16 EAFNOSUPPORT, 12 any other errno (printed); 2 setup or sandbox entry failed; 64 usage.
 * A system call the filter forbids ends the process with SIGSYS.
 *
 * Environment: KUKEON_PROBE_DIR, a directory the role's user may write (file, socket and mount
 * probes); KUKEON_PROBE_CONTAINERD, a containerd socket (grpc probe). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/netlink.h>
#include <linux/openat2.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cap-ng.h>
#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include "common/util.h"
#include "security/profile.h"

#if KK_SANITIZER_BUILD
#include <sanitizer/common_interface_defs.h>
#endif

extern char **environ;

enum {
    EXIT_WORKED = 0,
    EXIT_SETUP = 2,
    EXIT_EPERM = 10,
    EXIT_EACCES = 11,
    EXIT_OTHER = 12,
    EXIT_ENOTTY = 13,
    EXIT_ENOSYS = 14,
    EXIT_EXDEV = 15,
    EXIT_EAFNOSUPPORT = 16,
    EXIT_USAGE = 64,
};

struct probe_ctx {
    enum kk_role role;
    int argc; /* what follows the probe name */
    char **argv;
    const char *dir; /* KUKEON_PROBE_DIR */
    int dirfd;       /* opened before the sandbox, as cgd opens its cgroup root */
    int procfd;      /* /proc/self, for the status probe */
    int sock[2];     /* a socketpair made before the sandbox, like the helpers' fd 3 */
    int fd;          /* a role-specific descriptor acquired before the sandbox */
    pid_t parent;    /* getppid() before the sandbox: a process that is not us */
};

struct probe {
    const char *name;
    int (*setup)(struct probe_ctx *c); /* before the sandbox; returns 0 or -1 (message printed) */
    int (*run)(struct probe_ctx *c);   /* after it; returns 0 or an errno value */
};

static int fail_setup(const char *what)
{
    fprintf(stderr, "sandbox_probe: %s: %s\n", what, strerror(errno));
    return -1;
}

/* ---- setups ---------------------------------------------------------------------------------- */

static int setup_dir(struct probe_ctx *c)
{
    if (c->dir == NULL) {
        fprintf(stderr, "sandbox_probe: set KUKEON_PROBE_DIR to a directory the role may write\n");
        return -1;
    }
    c->dirfd = open(c->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return c->dirfd < 0 ? fail_setup(c->dir) : 0;
}

static int setup_dir_path(struct probe_ctx *c)
{
    if (setup_dir(c) < 0)
        return -1;
    /* cgd's root is an O_PATH descriptor: nothing but a starting point for openat2. */
    close(c->dirfd);
    c->dirfd = open(c->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return c->dirfd < 0 ? fail_setup(c->dir) : 0;
}

static int setup_proc(struct probe_ctx *c)
{
    c->procfd = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
    return c->procfd < 0 ? fail_setup("/proc/self") : 0;
}

static int setup_socketpair(struct probe_ctx *c)
{
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, c->sock) < 0 ? fail_setup("socketpair") : 0;
}

static int setup_own_netns(struct probe_ctx *c)
{
    c->fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    return c->fd < 0 ? fail_setup("/proc/self/ns/net") : 0;
}

/* kuke-ctrd's way: connect to containerd as root, then hand the connected socket to the gRPC core
 * after the drop. */
static int setup_containerd(struct probe_ctx *c)
{
    const char *path = getenv("KUKEON_PROBE_CONTAINERD");
    if (path == NULL) {
        fprintf(stderr, "sandbox_probe: set KUKEON_PROBE_CONTAINERD to a containerd socket\n");
        return -1;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (kk_strlcpy(sa.sun_path, path, sizeof(sa.sun_path)) < 0) {
        fprintf(stderr, "sandbox_probe: socket path too long: %s\n", path);
        return -1;
    }
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return fail_setup(path);
    return 0;
}

/* ---- probes ---------------------------------------------------------------------------------- */

static int rc_of(long r)
{
    return r < 0 ? errno : 0;
}

/* Print the lines of /proc/self/status the tests check. cgd can open only through openat2. */
static int probe_status(struct probe_ctx *c)
{
    int fd;
    if (c->role == KK_ROLE_CGD) {
        struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
        fd = (int)syscall(SYS_openat2, c->procfd, "status", &how, sizeof(how));
    } else {
        fd = openat(c->procfd, "status", O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0)
        return errno;
    char buf[8192];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0)
            return errno;
        if (n == 0 || len + (size_t)n >= sizeof(buf) - 1) {
            len += (size_t)(n > 0 ? n : 0);
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    static const char *const keys[] = {"Uid:",    "Gid:",    "Groups:", "CapInh:",     "CapPrm:",
                                       "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:"};
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        for (size_t k = 0; k < KK_ARRAY_SIZE(keys); k++) {
            if (kk_str_has_prefix(line, keys[k]) && line[strlen(keys[k])] == '\t') {
                printf("%s\n", line);
                break;
            }
        }
    }
    return fflush(stdout) == 0 ? 0 : errno;
}

static int probe_write_stdout(struct probe_ctx *c)
{
    static const char msg[] = "sandbox_probe: write works\n";
    return rc_of(write(STDOUT_FILENO, msg, sizeof(msg) - 1));
}

static int probe_socket_family(int family, int type, int protocol)
{
    int fd = socket(family, type | SOCK_CLOEXEC, protocol);
    if (fd < 0)
        return errno;
    close(fd);
    return 0;
}

static int probe_socket_unix(struct probe_ctx *c)
{
    return probe_socket_family(AF_UNIX, SOCK_SEQPACKET, 0);
}

static int probe_socket_inet(struct probe_ctx *c)
{
    return probe_socket_family(AF_INET, SOCK_STREAM, 0);
}

static int probe_socket_inet6(struct probe_ctx *c)
{
    return probe_socket_family(AF_INET6, SOCK_DGRAM, 0);
}

static int probe_socket_packet(struct probe_ctx *c)
{
    return probe_socket_family(AF_PACKET, SOCK_RAW, 0);
}

static int probe_socket_netlink_audit(struct probe_ctx *c)
{
    return probe_socket_family(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT);
}

/* The API worker's life: a listening socket, a client, accept4, the caller's credentials, a
 * request and a reply. */
static int probe_unix_server(struct probe_ctx *c)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (kk_snprintf(sa.sun_path, sizeof(sa.sun_path), NULL, "socket path", "%s/probe.sock", c->dir) < 0)
        return ENAMETOOLONG;
    unlink(sa.sun_path);
    int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (srv < 0 || bind(srv, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(srv, 4) < 0)
        return errno;
    int cli = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cli < 0 || connect(cli, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return errno;
    int conn = accept4(srv, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0)
        return errno;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return errno;
    if (cred.pid != getpid())
        return EPROTO;
    if (send(cli, "{}", 2, MSG_NOSIGNAL) != 2)
        return errno;
    char buf[4];
    struct pollfd pfd = {.fd = conn, .events = POLLIN};
    if (poll(&pfd, 1, 5000) != 1 || recv(conn, buf, sizeof(buf), 0) != 2)
        return errno != 0 ? errno : EPROTO;
    close(conn);
    close(cli);
    close(srv);
    return rc_of(unlink(sa.sun_path));
}

/* A request on the inherited socketpair with a descriptor riding along, as kk_ipc does. */
static int probe_ipc(struct probe_ctx *c)
{
    char byte = 'r';
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof(u));
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    int passed = STDOUT_FILENO;
    memcpy(CMSG_DATA(cm), &passed, sizeof(int));
    if (sendmsg(c->sock[0], &msg, MSG_NOSIGNAL) != 1)
        return errno;
    memset(&u, 0, sizeof(u));
    msg.msg_controllen = sizeof(u.buf);
    if (recvmsg(c->sock[1], &msg, MSG_CMSG_CLOEXEC) != 1)
        return errno;
    cm = CMSG_FIRSTHDR(&msg);
    if (cm == NULL || cm->cmsg_type != SCM_RIGHTS)
        return EPROTO;
    int got;
    memcpy(&got, CMSG_DATA(cm), sizeof(int));
    return rc_of(close(got));
}

/* The API worker's state writes: temporary file, fsync, rename, fsync of the directory, flock,
 * a subdirectory listed and removed. */
static int probe_file_state(struct probe_ctx *c)
{
    int fd = openat(c->dirfd, "doc.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return errno;
    if (write(fd, "{}\n", 3) != 3 || fsync(fd) < 0 || flock(fd, LOCK_EX) < 0 || close(fd) < 0)
        return errno;
    if (renameat(c->dirfd, "doc.json.tmp", c->dirfd, "doc.json") < 0 || fsync(c->dirfd) < 0)
        return errno;
    char sub[512];
    if (kk_snprintf(sub, sizeof(sub), NULL, "path", "%s/sub", c->dir) < 0)
        return ENAMETOOLONG;
    if (mkdir(sub, 0750) < 0)
        return errno;
    struct stat st;
    if (stat(sub, &st) < 0)
        return errno;
    int dfd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno;
    char dents[1024];
    if (syscall(SYS_getdents64, dfd, dents, sizeof(dents)) < 0)
        return errno;
    close(dfd);
    if (rmdir(sub) < 0 || unlinkat(c->dirfd, "doc.json", 0) < 0)
        return errno;
    return 0;
}

static int probe_openat(struct probe_ctx *c)
{
    int fd = openat(AT_FDCWD, "/etc/hostname", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    return rc_of(close(fd));
}

static int probe_openat_write(struct probe_ctx *c)
{
    int fd = openat(c->dirfd, "written", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno;
    close(fd);
    return rc_of(unlinkat(c->dirfd, "written", 0));
}

/* kuke-cgd's way: everything relative to its root, through openat2 confined beneath it. */
static int probe_openat2_beneath(struct probe_ctx *c)
{
    const unsigned long long resolve =
        RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    if (mkdirat(c->dirfd, "kt-probe-child", 0755) < 0 && errno != EEXIST)
        return errno;
    struct open_how how = {.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC, .resolve = resolve};
    int child = (int)syscall(SYS_openat2, c->dirfd, "kt-probe-child", &how, sizeof(how));
    if (child < 0)
        return errno;
    char dents[2048];
    if (syscall(SYS_getdents64, child, dents, sizeof(dents)) < 0)
        return errno;
    /* In a cgroup, every directory has cgroup.procs; in a plain directory there is nothing to read. */
    struct open_how file_how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = resolve};
    int knob = (int)syscall(SYS_openat2, child, "cgroup.procs", &file_how, sizeof(file_how));
    if (knob >= 0) {
        char buf[64];
        if (read(knob, buf, sizeof(buf)) < 0)
            return errno;
        close(knob);
    }
    close(child);
    /* Escaping the root must fail, and fail with EXDEV (not be killed, not succeed). */
    int up = (int)syscall(SYS_openat2, c->dirfd, "..", &how, sizeof(how));
    if (up >= 0)
        return EPROTO;
    if (errno != EXDEV)
        return errno;
    return rc_of(unlinkat(c->dirfd, "kt-probe-child", AT_REMOVEDIR));
}

static int probe_unlink_file(struct probe_ctx *c)
{
    return rc_of(unlinkat(c->dirfd, "kt-no-such-file", 0));
}

static int probe_chmod(struct probe_ctx *c)
{
    return rc_of(fchmod(STDOUT_FILENO, 0600));
}

static int probe_execve(struct probe_ctx *c)
{
    char *const argv[] = {"true", NULL};
    execve("/bin/true", argv, environ);
    return errno;
}

/* Run a program inside the sandbox (the CNI plugins under netd's filter), stdin, stdout and the
 * environment passed through. */
static int probe_exec(struct probe_ctx *c)
{
    if (c->argc < 1)
        return EINVAL;
    execve(c->argv[0], c->argv, environ);
    return errno;
}

static int wait_child(pid_t pid)
{
    int status;
    if (pid < 0)
        return errno;
    if (waitpid(pid, &status, 0) < 0)
        return errno;
    if (WIFSIGNALED(status))
        return EINTR;
    return WEXITSTATUS(status) == 0 ? 0 : WEXITSTATUS(status);
}

static int probe_fork(struct probe_ctx *c)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    return wait_child(pid);
}

static void *thread_main(void *arg)
{
    return arg;
}

static int probe_thread(struct probe_ctx *c)
{
    pthread_t t;
    int rc = pthread_create(&t, NULL, thread_main, NULL);
    if (rc != 0)
        return rc;
    return pthread_join(t, NULL);
}

/* clone3's flags are in memory, out of a filter's sight: it must answer ENOSYS (so that libc falls
 * back to clone) where threads are allowed, and kill elsewhere. */
static int probe_clone3(struct probe_ctx *c)
{
    struct {
        unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
    } args = {.exit_signal = SIGCHLD};
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid == 0)
        _exit(0);
    if (pid < 0)
        return errno;
    return wait_child((pid_t)pid);
}

/* A child in a new mount namespace: netd's clones must not carry namespace flags. */
static int probe_clone_newns(struct probe_ctx *c)
{
    long pid = syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(0);
    if (pid < 0)
        return errno;
    return wait_child((pid_t)pid);
}

static int probe_unshare_user(struct probe_ctx *c)
{
    return rc_of(unshare(CLONE_NEWUSER));
}

static int probe_unshare_net(struct probe_ctx *c)
{
    return rc_of(unshare(CLONE_NEWNET));
}

static int probe_setns_any(struct probe_ctx *c)
{
    return rc_of(setns(c->fd, 0));
}

/* kuke-netd's way to make a cell's namespace: a child unshares a network namespace and bind-mounts
 * it onto a file; another child enters it through the pin; the pin is unmounted and removed. */
static int probe_netns_pin(struct probe_ctx *c)
{
    char pin[512];
    if (kk_snprintf(pin, sizeof(pin), NULL, "path", "%s/netns-pin", c->dir) < 0)
        return ENAMETOOLONG;
    int fd = openat(c->dirfd, "netns-pin", O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
    if (fd < 0)
        return errno;
    close(fd);
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWNET) < 0)
            _exit(1);
        _exit(mount("/proc/self/ns/net", pin, "none", MS_BIND, NULL) < 0 ? 2 : 0);
    }
    int rc = wait_child(pid);
    if (rc != 0)
        return rc;
    int ns = open(pin, O_RDONLY | O_CLOEXEC);
    if (ns < 0)
        return errno;
    pid = fork();
    if (pid == 0)
        _exit(setns(ns, CLONE_NEWNET) < 0 ? 3 : 0);
    rc = wait_child(pid);
    close(ns);
    if (umount2(pin, MNT_DETACH) < 0)
        return errno;
    if (unlinkat(c->dirfd, "netns-pin", 0) < 0)
        return errno;
    return rc;
}

static int probe_mount(struct probe_ctx *c)
{
    const char *target = c->dir != NULL ? c->dir : "/mnt";
    if (mount("kt-probe", target, "tmpfs", 0, NULL) < 0)
        return errno;
    umount2(target, MNT_DETACH);
    return 0;
}

/* libnl, as kuke-netd uses it: the host's links over rtnetlink. */
static int probe_netlink(struct probe_ctx *c)
{
    struct nl_sock *sk = nl_socket_alloc();
    if (sk == NULL)
        return ENOMEM;
    int rc = nl_connect(sk, NETLINK_ROUTE);
    if (rc < 0) {
        nl_socket_free(sk);
        return EPROTO;
    }
    struct nl_cache *links = NULL;
    rc = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
    int n = rc < 0 ? 0 : nl_cache_nitems(links);
    if (links != NULL)
        nl_cache_free(links);
    nl_socket_free(sk);
    return n > 0 ? 0 : EPROTO;
}

static int probe_ptrace(struct probe_ctx *c)
{
    return rc_of(ptrace(PTRACE_ATTACH, c->parent, NULL, NULL));
}

static int probe_bpf(struct probe_ctx *c)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
    if (fd < 0)
        return errno;
    close((int)fd);
    return 0;
}

static int probe_keyctl(struct probe_ctx *c)
{
    return rc_of(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
}

static int probe_io_uring_setup(struct probe_ctx *c)
{
    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    long fd = syscall(SYS_io_uring_setup, 4, &params);
    if (fd < 0)
        return errno;
    close((int)fd);
    return 0;
}

static int probe_userfaultfd(struct probe_ctx *c)
{
    long fd = syscall(SYS_userfaultfd, O_CLOEXEC);
    if (fd < 0)
        return errno;
    close((int)fd);
    return 0;
}

static int probe_init_module(struct probe_ctx *c)
{
    return rc_of(syscall(SYS_finit_module, -1, "", 0));
}

static int probe_kexec_load(struct probe_ctx *c)
{
    return rc_of(syscall(SYS_kexec_load, 0, 0, NULL, 0));
}

static int probe_setuid0(struct probe_ctx *c)
{
    return rc_of(setuid(0));
}

static int probe_setgid0(struct probe_ctx *c)
{
    return rc_of(setgid(0));
}

/* Take back a capability no role has. */
static int probe_capset_raise(struct probe_ctx *c)
{
    capng_clear(CAPNG_SELECT_ALL);
    if (capng_get_caps_process() != 0)
        return errno;
    capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_MODULE);
    errno = 0;
    if (capng_apply(CAPNG_SELECT_CAPS) != 0)
        return errno != 0 ? errno : EPERM;
    return 0;
}

static int probe_mmap_exec(struct probe_ctx *c)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return errno;
    munmap(p, 4096);
    return 0;
}

static int probe_mprotect_exec(struct probe_ctx *c)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return errno;
    int rc = rc_of(mprotect(p, 4096, PROT_READ | PROT_EXEC));
    munmap(p, 4096);
    return rc;
}

static int probe_kill_other(struct probe_ctx *c)
{
    return rc_of(kill(c->parent, 0));
}

static int probe_tgkill_other(struct probe_ctx *c)
{
    return rc_of(syscall(SYS_tgkill, c->parent, c->parent, 0));
}

/* abort() signals itself with tgkill: it must die of SIGABRT, not of SIGSYS. */
static int probe_abort(struct probe_ctx *c)
{
    abort();
}

static int probe_ioctl_tty(struct probe_ctx *c)
{
    struct termios t;
    return rc_of(ioctl(STDOUT_FILENO, TCGETS, &t));
}

static int probe_ioctl_other(struct probe_ctx *c)
{
    int n;
    return rc_of(ioctl(STDOUT_FILENO, FIONREAD, &n));
}

/* i386 (int 0x80) and x32 system calls: the filter knows only x86_64 and must kill both. */
/* Typing into a terminal's input queue: the classic way out of a sandbox that shares a tty. */
static int probe_ioctl_tiocsti(struct probe_ctx *c)
{
    char ch = '\n';
    return rc_of(ioctl(STDOUT_FILENO, TIOCSTI, &ch));
}

static int probe_abi_i386(struct probe_ctx *c)
{
    long ret = 20; /* getpid on i386 */
    __asm__ volatile("int $0x80" : "+a"(ret) : : "memory");
    return ret < 0 ? (int)-ret : 0;
}

static int probe_abi_x32(struct probe_ctx *c)
{
    return rc_of(syscall(0x40000000L | 39L)); /* __X32_SYSCALL_BIT | getpid */
}

/* ---- kuke-fetchd's life: out to the network, nothing local ---------------------------------------- */

/* A TCP listener on 127.0.0.1 made before the drop, for the connect probe: the registry stand-in. */
static int setup_tcp_listener(struct probe_ctx *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0 || bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(c->fd, 4) < 0)
        return fail_setup("a TCP listener on 127.0.0.1");
    return 0;
}

/* Connect to it and send a few bytes (the kernel completes the handshake from the backlog; nobody
 * needs to accept). */
static int probe_inet_connect(struct probe_ctx *c)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    if (getsockname(c->fd, (struct sockaddr *)&sa, &len) < 0)
        return errno;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, len) < 0)
        return errno;
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
        send(fd, "GET", 3, MSG_NOSIGNAL) != 3)
        return errno;
    return rc_of(close(fd));
}

/* getaddrinfo as libcurl's resolver thread calls it: /etc/hosts and the resolver files read-only,
 * nscd asked first (refused for fetchd, so glibc falls back), the answers sorted by connecting UDP
 * sockets. ARG: a host name (default localhost); a name that is not in /etc/hosts goes to the name
 * servers of /etc/resolv.conf over UDP. */
static int probe_resolve(struct probe_ctx *c)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    const char *host = c->argc > 0 ? c->argv[0] : "localhost";
    int rc = getaddrinfo(host, "443", &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "sandbox_probe: getaddrinfo(%s): %s\n", host, gai_strerror(rc));
        return rc == EAI_SYSTEM ? errno : EPROTO;
    }
    freeaddrinfo(res);
    return 0;
}

static int probe_inet_bind(struct probe_ctx *c)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return errno;
    return rc_of(close(fd));
}

/* listen() on an unbound socket binds it to an ephemeral port: a server without bind. */
static int probe_inet_listen(struct probe_ctx *c)
{
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || listen(fd, 1) < 0)
        return errno;
    return rc_of(close(fd));
}

/* A Unix socket of its own, to connect to containerd's (or any) socket path. */
static int probe_unix_connect(struct probe_ctx *c)
{
    const char *path = getenv("KUKEON_PROBE_CONTAINERD");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    kk_strlcpy(sa.sun_path, path != NULL && path[0] != '\0' ? path : "/run/containerd/containerd.sock",
               sizeof(sa.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return errno;
    return rc_of(close(fd));
}

static int probe_socket_netlink_route(struct probe_ctx *c)
{
    return probe_socket_family(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
}

/* A connected pair made after the drop: libcurl's wake-ups. */
static int probe_socketpair(struct probe_ctx *c)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return errno;
    if (write(sv[0], "w", 1) != 1)
        return errno;
    close(sv[0]);
    return rc_of(close(sv[1]));
}

/* A file opened for writing before the drop, as a FETCH request hands one over: written, sized. */
static int setup_handed_file(struct probe_ctx *c)
{
    if (setup_dir(c) < 0)
        return -1;
    c->fd = openat(c->dirfd, "handed", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    return c->fd < 0 ? fail_setup("handed file") : 0;
}

static int probe_write_handed(struct probe_ctx *c)
{
    struct stat st;
    if (write(c->fd, "oci-layout", 10) != 10 || pwrite(c->fd, "OCI", 3, 0) != 3 || fstat(c->fd, &st) < 0)
        return errno;
    return st.st_size == 10 ? 0 : EPROTO;
}

/* kuke-ctrd's way: the gRPC core over the containerd connection made before the drop, one unary
 * call (Version; its request is the empty message, so no protobuf code is needed here). */
static int probe_grpc(struct probe_ctx *c)
{
    grpc_init();
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch = grpc_channel_create_from_fd("containerd", c->fd, creds, NULL);
    grpc_channel_credentials_release(creds);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_seconds(20, GPR_TIMESPAN));
    grpc_slice method = grpc_slice_from_static_string("/containerd.services.version.v1.Version/Version");
    grpc_call *call =
        grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, method, NULL, deadline, NULL);
    grpc_slice empty = grpc_empty_slice();
    grpc_byte_buffer *request = grpc_raw_byte_buffer_create(&empty, 1);
    grpc_byte_buffer *reply = NULL;
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_status_code status = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();
    grpc_op ops[6];
    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = request;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &reply;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    ops[5].data.recv_status_on_client.status = &status;
    ops[5].data.recv_status_on_client.status_details = &details;
    int rc = EPROTO;
    if (grpc_call_start_batch(call, ops, KK_ARRAY_SIZE(ops), (void *)1, NULL) == GRPC_CALL_OK) {
        grpc_event ev = grpc_completion_queue_next(cq, deadline, NULL);
        if (ev.type == GRPC_OP_COMPLETE && ev.success && status == GRPC_STATUS_OK && reply != NULL) {
            printf("sandbox_probe: containerd answered Version (%zu bytes)\n",
                   grpc_byte_buffer_length(reply));
            rc = 0;
        } else {
            fprintf(stderr, "sandbox_probe: Version call: event %d success %d status %d\n", (int)ev.type,
                    ev.success, (int)status);
        }
    }
    grpc_byte_buffer_destroy(request);
    if (reply != NULL)
        grpc_byte_buffer_destroy(reply);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_call_unref(call);
    grpc_channel_destroy(ch);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
    grpc_shutdown();
    fflush(stdout);
    return rc;
}

/* A symbolized stack trace from inside the sandbox: what a sanitizer report needs must be allowed
 * (sanitizer builds; elsewhere it does nothing). */
static int probe_sanitizer_report(struct probe_ctx *c)
{
#if KK_SANITIZER_BUILD
    __sanitizer_print_stack_trace();
#endif
    return 0;
}

/* A real sanitizer error inside the sandbox: the report must come out and the process end with the
 * sanitizer's exit status (1), not die of SIGSYS half-way through the report. Sanitizer builds
 * only: elsewhere this would be undefined behaviour, so it does nothing. */
static int probe_sanitizer_error(struct probe_ctx *c)
{
#if KK_SANITIZER_BUILD
    /* Through a volatile pointer, so the compiler cannot see the use after free coming. */
    static char *volatile freed;
    freed = malloc(8);
    if (freed == NULL)
        return ENOMEM;
    free(freed);
    return freed[0] == 0 ? EPROTO : EIO; /* heap-use-after-free, on purpose: the report ends it */
#else
    return 0;
#endif
}

static const struct probe probes[] = {
    {"status", setup_proc, probe_status},
    {"write_stdout", NULL, probe_write_stdout},
    {"socket_unix", NULL, probe_socket_unix},
    {"socket_inet", NULL, probe_socket_inet},
    {"socket_inet6", NULL, probe_socket_inet6},
    {"socket_packet", NULL, probe_socket_packet},
    {"socket_netlink_audit", NULL, probe_socket_netlink_audit},
    {"unix_server", setup_dir, probe_unix_server},
    {"ipc", setup_socketpair, probe_ipc},
    {"file_state", setup_dir, probe_file_state},
    {"openat", NULL, probe_openat},
    {"openat_write", setup_dir, probe_openat_write},
    {"openat2_beneath", setup_dir_path, probe_openat2_beneath},
    {"unlink_file", setup_dir_path, probe_unlink_file},
    {"chmod", NULL, probe_chmod},
    {"execve", NULL, probe_execve},
    {"exec", NULL, probe_exec},
    {"fork", NULL, probe_fork},
    {"thread", NULL, probe_thread},
    {"clone3", NULL, probe_clone3},
    {"clone_newns", NULL, probe_clone_newns},
    {"unshare_user", NULL, probe_unshare_user},
    {"unshare_net", NULL, probe_unshare_net},
    {"setns_any", setup_own_netns, probe_setns_any},
    {"netns_pin", setup_dir, probe_netns_pin},
    {"mount", NULL, probe_mount},
    {"netlink", NULL, probe_netlink},
    {"ptrace", NULL, probe_ptrace},
    {"bpf", NULL, probe_bpf},
    {"keyctl", NULL, probe_keyctl},
    {"io_uring_setup", NULL, probe_io_uring_setup},
    {"userfaultfd", NULL, probe_userfaultfd},
    {"init_module", NULL, probe_init_module},
    {"kexec_load", NULL, probe_kexec_load},
    {"setuid0", NULL, probe_setuid0},
    {"setgid0", NULL, probe_setgid0},
    {"capset_raise", NULL, probe_capset_raise},
    {"mmap_exec", NULL, probe_mmap_exec},
    {"mprotect_exec", NULL, probe_mprotect_exec},
    {"kill_other", NULL, probe_kill_other},
    {"tgkill_other", NULL, probe_tgkill_other},
    {"abort", NULL, probe_abort},
    {"ioctl_tty", NULL, probe_ioctl_tty},
    {"ioctl_other", NULL, probe_ioctl_other},
    {"ioctl_tiocsti", NULL, probe_ioctl_tiocsti},
    {"abi_i386", NULL, probe_abi_i386},
    {"abi_x32", NULL, probe_abi_x32},
    {"grpc", setup_containerd, probe_grpc},
    {"inet_connect", setup_tcp_listener, probe_inet_connect},
    {"resolve", NULL, probe_resolve},
    {"inet_bind", NULL, probe_inet_bind},
    {"inet_listen", NULL, probe_inet_listen},
    {"unix_connect", NULL, probe_unix_connect},
    {"socket_netlink_route", NULL, probe_socket_netlink_route},
    {"socketpair", NULL, probe_socketpair},
    {"write_handed", setup_handed_file, probe_write_handed},
    {"sanitizer_report", NULL, probe_sanitizer_report},
    {"sanitizer_error", NULL, probe_sanitizer_error},
};

static int exit_code_of(int rc)
{
    switch (rc) {
    case 0:
        return EXIT_WORKED;
    case EPERM:
        return EXIT_EPERM;
    case EACCES:
        return EXIT_EACCES;
    case ENOTTY:
        return EXIT_ENOTTY;
    case ENOSYS:
        return EXIT_ENOSYS;
    case EXDEV:
        return EXIT_EXDEV;
    case EAFNOSUPPORT:
        return EXIT_EAFNOSUPPORT;
    default:
        return EXIT_OTHER;
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: sandbox_probe [--no-filter] ROLE PROBE [ARG...]\nprobes:");
    for (size_t i = 0; i < KK_ARRAY_SIZE(probes); i++)
        fprintf(stderr, " %s", probes[i].name);
    fprintf(stderr, "\n");
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    int argi = 1;
    bool filter = true;
    if (argi < argc && strcmp(argv[argi], "--no-filter") == 0) {
        filter = false;
        argi++;
    }
    if (argc - argi < 2)
        return usage();
    struct probe_ctx c = {.dirfd = -1, .procfd = -1, .sock = {-1, -1}, .fd = -1};
    if (kk_role_parse(argv[argi], &c.role) < 0) {
        fprintf(stderr, "sandbox_probe: unknown role \"%s\"\n", argv[argi]);
        return usage();
    }
    const struct probe *probe = NULL;
    for (size_t i = 0; i < KK_ARRAY_SIZE(probes); i++)
        if (strcmp(argv[argi + 1], probes[i].name) == 0)
            probe = &probes[i];
    if (probe == NULL) {
        fprintf(stderr, "sandbox_probe: unknown probe \"%s\"\n", argv[argi + 1]);
        return usage();
    }
    c.argc = argc - argi - 2;
    c.argv = argv + argi + 2;
    c.dir = getenv("KUKEON_PROBE_DIR");
    c.parent = getppid();

    /* Acquire, then drop: the same order as the helpers. */
    if (probe->setup != NULL && probe->setup(&c) < 0)
        return EXIT_SETUP;
    struct kk_err err = {0};
    uid_t uid = getuid();
    gid_t gid = getgid();
    if (geteuid() == 0 && kk_role_resolve_ids(c.role, &uid, &gid, &err) < 0) {
        fprintf(stderr, "sandbox_probe: %s\n", err.msg);
        return EXIT_SETUP;
    }
    int rc;
    if (filter)
        rc = kk_sandbox_enter(c.role, uid, gid, &err);
    else
        rc = (kk_sandbox_drop_identity(c.role, uid, gid, &err) < 0 ||
              kk_sandbox_prove_drop(c.role, uid, gid, &err) < 0 || kk_sandbox_limit(c.role, &err) < 0)
                 ? -1
                 : 0;
    if (rc < 0) {
        fprintf(stderr, "sandbox_probe: %s\n", err.msg);
        return EXIT_SETUP;
    }
    rc = probe->run(&c);
    if (rc != 0)
        fprintf(stderr, "sandbox_probe: %s %s: %s\n", kk_role_name(c.role), probe->name, strerror(rc));
    return exit_code_of(rc);
}
