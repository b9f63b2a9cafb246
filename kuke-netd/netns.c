/* The cells' network namespaces: netd makes each one itself (a child unshares CLONE_NEWNET, brings
 * loopback up and bind-mounts its namespace onto the pin), pins it under the netns dir as iproute2
 * does so that `ip netns` lists it, and proves before every use that a pin is a network namespace
 * and not the host's (by device and inode, not by name). */
#include "kuke-netd/netd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/frame.h"

int netd_netns_init(struct netd_ctx *c, struct kk_err *err)
{
    const char *dir = c->dcfg.netns_dir != NULL ? c->dcfg.netns_dir : KK_DERIVE_NETNS_DIR_DEFAULT;
    if (netd_mkdir_p(&c->abs, dir, 0755, err) < 0)
        return -1;
    /* As `ip netns add`: the pins' directory is a shared mount point, so a pin made now also shows in
     * mount namespaces that were copied from this one earlier (containerd's shims, systemd units). */
    if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) < 0) {
        if (errno != EINVAL || mount(dir, dir, "none", MS_BIND | MS_REC, NULL) < 0 ||
            mount("", dir, "none", MS_SHARED | MS_REC, NULL) < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "making %s a shared mount point", dir);
    }
    c->netns_dir_fd = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (c->netns_dir_fd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening %s", dir);

    c->host_netns_fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (c->host_netns_fd < 0 || fstat(c->host_netns_fd, &st) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening netd's own network namespace");
    c->host_ns_dev = st.st_dev;
    c->host_ns_ino = st.st_ino;
    /* PID 1's too, while netd still has the capabilities to look (it is the same namespace unless
     * netd itself was started in another). */
    if (stat("/proc/1/ns/net", &st) == 0) {
        c->init_ns_dev = st.st_dev;
        c->init_ns_ino = st.st_ino;
    }
    return 0;
}

static bool is_host_ns(const struct netd_ctx *c, const struct stat *st)
{
    return (st->st_dev == c->host_ns_dev && st->st_ino == c->host_ns_ino) ||
           (c->init_ns_ino != 0 && st->st_dev == c->init_ns_dev && st->st_ino == c->init_ns_ino);
}

int netd_netns_open(struct netd_ctx *c, const struct kk_derived *d, int *fd, struct kk_err *err)
{
    *fd = -1;
    int f = openat(c->netns_dir_fd, d->netns_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (f < 0) {
        if (errno == ENOENT)
            return 0;
        if (errno == ELOOP)
            return netd_deny(c, err, KK_IPC_DENY_OUTSIDE_ROOT,
                             "netns pin %s of cell %s is a symbolic link, which netd never makes: remove it",
                             d->netns_path, d->cell);
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening netns pin %s", d->netns_path);
    }
    struct statfs sfs;
    struct stat st;
    if (fstatfs(f, &sfs) < 0 || fstat(f, &st) < 0) {
        int e = errno;
        close(f);
        return kk_error(err, KK_ERR_INTERNAL, e, "inspecting netns pin %s", d->netns_path);
    }
    if (sfs.f_type != NSFS_MAGIC) {
        close(f);
        /* An empty file is a pin netd created but never mounted (it died in between): not a
         * namespace yet, and safe to make again. */
        if (S_ISREG(st.st_mode) && st.st_size == 0 && st.st_uid == 0) {
            if (unlinkat(c->netns_dir_fd, d->netns_name, 0) < 0 && errno != ENOENT)
                return kk_error(err, KK_ERR_INTERNAL, errno, "removing the unmounted pin %s", d->netns_path);
            return 0;
        }
        return netd_deny(c, err, KK_IPC_DENY_NOT_OWNED,
                         "%s is not a network namespace netd pinned for cell %s: remove it", d->netns_path,
                         d->cell);
    }
    if (is_host_ns(c, &st)) {
        close(f);
        return netd_deny(c, err, KK_IPC_DENY_OUTSIDE_ROOT,
                         "%s is the host's own network namespace (inode %llu): netd never acts on it; remove "
                         "that mount",
                         d->netns_path, (unsigned long long)st.st_ino);
    }
    *fd = f;
    return 1;
}

/* The child that makes the namespace: unshare, loopback up, pin. Its one-line error goes back over
 * the pipe; it never returns. */
static void __attribute__((noreturn)) netns_child(const char *path, int errfd)
{
    struct kk_err err = {0};
    struct nl_sock *sk = NULL;
    if (unshare(CLONE_NEWNET) < 0) {
        kk_error(&err, KK_ERR_INTERNAL, errno, "unshare(CLONE_NEWNET)");
    } else if (netd_nl_open(&sk, &err) < 0 || netd_link_set_up(sk, "lo", &err) < 0) {
        kk_error_wrap(&err, "bringing loopback up in the new namespace");
    } else if (mount("/proc/self/ns/net", path, "none", MS_BIND, NULL) < 0) {
        kk_error(&err, KK_ERR_INTERNAL, errno, "bind-mounting the new namespace onto %s", path);
    }
    if (sk != NULL)
        netd_nl_close(sk);
    if (err.msg[0] != '\0') {
        size_t n = strnlen(err.msg, sizeof(err.msg));
        ssize_t w = write(errfd, err.msg, n);
        (void)w;
        _exit(1);
    }
    _exit(0);
}

int netd_netns_ensure(struct netd_ctx *c, const struct kk_derived *d, struct kk_err *err)
{
    int fd;
    int rc = netd_netns_open(c, d, &fd, err);
    if (rc < 0)
        return -1;
    if (rc > 0) {
        close(fd);
        return 0;
    }
    /* iproute2's pin: an empty file, mode 0, that the namespace is bind-mounted onto. */
    int pin = openat(c->netns_dir_fd, d->netns_name, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0);
    if (pin < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating netns pin %s", d->netns_path);
    close(pin);

    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        int e = errno;
        unlinkat(c->netns_dir_fd, d->netns_name, 0);
        return kk_error(err, KK_ERR_INTERNAL, e, "creating a pipe for the netns child");
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pipefd[0]);
        netns_child(d->netns_path, pipefd[1]);
    }
    int fork_errno = errno;
    close(pipefd[1]);
    char msg[KK_ERR_MSG_MAX];
    size_t n = 0;
    if (pid > 0) {
        for (;;) {
            ssize_t r = read(pipefd[0], msg + n, sizeof(msg) - 1 - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            n += (size_t)r;
            if (n == sizeof(msg) - 1)
                break;
        }
    }
    msg[n] = '\0';
    close(pipefd[0]);
    int status = 0;
    if (pid < 0) {
        unlinkat(c->netns_dir_fd, d->netns_name, 0);
        return kk_error(err, KK_ERR_INTERNAL, fork_errno, "starting the child that makes %s", d->netns_path);
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            break;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        umount2(d->netns_path, MNT_DETACH);
        unlinkat(c->netns_dir_fd, d->netns_name, 0);
        return kk_error(err, KK_ERR_INTERNAL, 0, "making network namespace %s for cell %s: %s", d->netns_path,
                        d->cell, n > 0 ? msg : "the child failed without a message");
    }
    /* Prove what was made before anyone uses it. */
    rc = netd_netns_open(c, d, &fd, err);
    if (rc <= 0)
        return rc < 0 ? -1
                      : kk_error(err, KK_ERR_INTERNAL, 0, "netns pin %s vanished after it was made",
                                 d->netns_path);
    close(fd);
    return 1;
}

int netd_netns_remove(struct netd_ctx *c, const struct kk_derived *d, struct kk_err *err)
{
    int fd;
    int rc = netd_netns_open(c, d, &fd, err);
    if (rc <= 0)
        return rc;
    close(fd);
    /* Detached: a process still inside (a cell's pause container being stopped) keeps the namespace
     * alive on its own; the pin only stops naming it. */
    if (umount2(d->netns_path, MNT_DETACH) < 0 && errno != EINVAL)
        return kk_error(err, KK_ERR_INTERNAL, errno, "unmounting netns pin %s", d->netns_path);
    if (unlinkat(c->netns_dir_fd, d->netns_name, 0) < 0 && errno != ENOENT)
        return kk_error(err, KK_ERR_INTERNAL, errno, "removing netns pin %s", d->netns_path);
    return 1;
}

int netd_nl_socket_in(struct netd_ctx *c, int nsfd, struct nl_sock **out, struct kk_err *err)
{
    *out = NULL;
    if (setns(nsfd, CLONE_NEWNET) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "entering a cell's network namespace");
    /* A netlink socket stays bound to the namespace it was created in, so netd need only stand in
     * the cell's namespace for the socket() call. */
    int rc = netd_nl_open(out, err);
    if (setns(c->host_netns_fd, CLONE_NEWNET) < 0) {
        /* Fail-stop: netd must never go on serving from inside a cell's namespace. */
        kk_errorf("cannot return to the host network namespace: %s; ending", strerror(errno));
        abort();
    }
    return rc;
}
