/* The kukeond supervisor (root): prepares the socket directory, the API socket and the pid file,
 * starts the group — kuke-cgd, kuke-netd, kuke-ctrd, kuke-fetchd and the API worker — and restarts
 * all of it when any member dies. It never reads client input: the only bytes it reads from its children
 * are their stderr lines, which it relays labelled by the channel they came on. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/audit.h"
#include "common/derive.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/broker.h"
#include "ipc/launch.h"
#include "kukeond/ctl_reconcile.h"
#include "kukeond/journal.h"
#include "kukeond/kukeond.h"
#include "kukeond/notify.h"

/* The helpers come first, in the order of enum kk_ctl_helper (the API worker's sockets follow it). */
enum kd_member { KD_CGD = 0, KD_NETD, KD_CTRD, KD_FETCHD, KD_API, KD_NMEMBERS };
#define KD_NHELPERS KD_API

static const char *const kd_member_names[KD_NMEMBERS] = {"kuke-cgd", "kuke-netd", "kuke-ctrd", "kuke-fetchd",
                                                         "kukeond-api"};

struct kd_child {
    pid_t pid;
    int log_fd;       /* read end of the child's stdout+stderr pipe */
    int audit_fd;     /* helpers: read end of the audit pipe; one write per line, so lines never tear */
    char line[2048];  /* partial line from log_fd */
    size_t len;
};

struct kd_state {
    const struct kk_config *cfg;
    char self[PATH_MAX];                     /* this kukeond binary, exec'd as the API worker */
    char helper_path[KD_NHELPERS][PATH_MAX]; /* kuke-cgd, kuke-netd, kuke-ctrd, kuke-fetchd */
    int listen_fd;
    int config_fd;
    int sig_fd;
    char pid_file[PATH_MAX];
    struct kd_child child[KD_NMEMBERS];
    struct kk_audit audit[KD_NHELPERS]; /* the helpers' audit logs; the supervisor writes, rotates them */
    int broker_fd;       /* our end of kuke-ctrd's containerd connection broker (ipc/broker.h) */
    bool in_system_cell; /* moved into the system cell's cgroup (or that failed, said once) */
};

/* The cgroup v2 mount point, from /proc/self/mountinfo ("" when there is none). Mount points with
 * escaped characters are not expected for cgroup2 and are skipped. */
static void kd_cgroup2_mount(char *out, size_t size)
{
    out[0] = '\0';
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return;
    char line[4096];
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *sep = strstr(line, " - cgroup2 ");
        if (sep == NULL)
            continue;
        /* id parent major:minor root mountpoint ... */
        char root[PATH_MAX], point[PATH_MAX];
        if (sscanf(line, "%*s %*s %*s %4095s %4095s", root, point) == 2 && strchr(point, '\\') == NULL) {
            snprintf(out, size, "%s", point);
            break;
        }
    }
    fclose(f);
}

/* Move the group into the system cell's cgroup (DESIGN.md section 1) once the API worker has made it
 * (kukeond/ctl_reconcile.c): this process and every member, so members started later are born in
 * it. Until the cell exists (no kuke init yet, or no system hierarchy) it is tried again. */
static void kd_join_system_cell(struct kd_state *st)
{
    if (st->in_system_cell)
        return;
    const struct kk_config *cfg = st->cfg;
    struct kk_derive_config dcfg = {
        .run_path = cfg->run_path, .ns_suffix = cfg->ns_suffix, .cgroup_root = cfg->cgroup_root};
    struct kk_derive_names names = {KK_SYSTEM_REALM, KK_SYSTEM_SPACE, KK_SYSTEM_STACK, KK_SYSTEM_CELL, NULL};
    struct kk_derived d;
    struct kk_err err = {0};
    char mount[PATH_MAX], procs[PATH_MAX + KK_DERIVE_PATH_SIZE + 32];
    kd_cgroup2_mount(mount, sizeof(mount));
    if (mount[0] == '\0' || kk_derive(&names, &dcfg, &d, &err) < 0)
        return;
    if (snprintf(procs, sizeof(procs), "%s%s/cgroup.procs", mount, d.cgroup_path) >= (int)sizeof(procs))
        return;
    int fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return; /* not made yet */
    pid_t pids[1 + KD_NMEMBERS];
    int n = 0;
    pids[n++] = getpid();
    for (int m = 0; m < KD_NMEMBERS; m++)
        if (st->child[m].pid > 0)
            pids[n++] = st->child[m].pid;
    bool ok = true;
    for (int i = 0; i < n; i++) {
        char buf[32];
        int len = snprintf(buf, sizeof(buf), "%d\n", (int)pids[i]);
        if (write(fd, buf, (size_t)len) != len && errno != ESRCH) {
            kk_warn("moving pid %d into %s: %s", (int)pids[i], procs, strerror(errno));
            ok = false;
        }
    }
    close(fd);
    /* Tried once the cgroup is there: a refusal (a controller in its subtree_control, a host that
     * will not move us) is said above, not every 2 s. */
    st->in_system_cell = true;
    if (ok)
        kk_info("the group runs in the system cell's cgroup %s", d.cgroup_path);
}

static long kd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A binary the supervisor executes as root must not be replaceable by anyone but root. */
static int kd_trusted_binary(const char *path, struct kk_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return kk_error(err, KK_ERR_NOT_FOUND, errno, "helper binary %s", path);
    if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return kk_error(err, KK_ERR_PERMISSION, 0,
                        "refusing to run %s: it must be a regular file owned by root and writable only by root",
                        path);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    if (stat(dirname(dir), &st) < 0 || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return kk_error(err, KK_ERR_PERMISSION, 0,
                        "refusing to run %s: its directory must be owned by root and writable only by root", path);
    return 0;
}

/* Helpers live in <prefix>/libexec/kukeon when installed, in <build>/libexec in the build tree. */
static int kd_find_helpers(struct kd_state *st, struct kk_err *err)
{
    ssize_t n = readlink("/proc/self/exe", st->self, sizeof(st->self) - 1);
    if (n < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "reading /proc/self/exe");
    st->self[n] = '\0';
    char bindir[PATH_MAX];
    snprintf(bindir, sizeof(bindir), "%s", st->self);
    dirname(bindir);
    static const char *const sub[] = {"../libexec/kukeon", "../libexec"};
    for (size_t s = 0; s < KK_ARRAY_SIZE(sub); s++) {
        char probe[PATH_MAX];
        if (kk_snprintf(probe, sizeof(probe), err, "helper path", "%s/%s/kuke-cgd", bindir, sub[s]) < 0)
            return -1;
        if (access(probe, X_OK) != 0)
            continue;
        for (int h = 0; h < KD_NHELPERS; h++) {
            char rel[PATH_MAX];
            if (kk_snprintf(rel, sizeof(rel), err, "helper path", "%s/%s/%s", bindir, sub[s], kd_member_names[h]) < 0)
                return -1;
            if (realpath(rel, st->helper_path[h]) == NULL)
                return kk_error(err, KK_ERR_NOT_FOUND, errno, "helper %s", rel);
            if (kd_trusted_binary(st->helper_path[h], err) < 0)
                return -1;
        }
        return kd_trusted_binary(st->self, err);
    }
    return kk_error(err, KK_ERR_NOT_FOUND, 0,
                    "helpers not found beside %s (looked in ../libexec/kukeon and ../libexec); reinstall Kukeon",
                    st->self);
}

static int kd_kukeon_gid(const struct kk_config *cfg, gid_t *gid, struct kk_err *err)
{
    if (cfg->socket_gid != 0) {
        *gid = cfg->socket_gid;
        return 0;
    }
    struct group *g = getgrnam("kukeon");
    if (g == NULL)
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "group kukeon does not exist: run 'kuke init' to create it");
    *gid = g->gr_gid;
    return 0;
}

static int kd_prepare_socket(struct kd_state *st, struct kk_err *err)
{
    const struct kk_config *cfg = st->cfg;
    gid_t gid = 0;
    if (kd_kukeon_gid(cfg, &gid, err) < 0)
        return -1;
    char dir[KK_SOCKET_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", cfg->socket);
    dirname(dir);
    if (mkdir(dir, 02750) == 0) {
        if (chown(dir, 0, gid) < 0 || chmod(dir, 02750) < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "setting owner of %s", dir);
    } else if (errno != EEXIST) {
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating socket directory %s", dir);
    }
    if (kk_snprintf(st->pid_file, sizeof(st->pid_file), err, "pid file", "%s/kukeond.pid", dir) < 0)
        return -1;

    /* Refuse to take over a socket another live kukeond answers on. */
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (kk_strlcpy(sa.sun_path, cfg->socket, sizeof(sa.sun_path)) < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "socket path %s is too long", cfg->socket);
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        close(probe);
        return kk_error(err, KK_ERR_EXISTS, 0, "another kukeond is serving %s; stop it with 'kuke daemon stop'",
                        cfg->socket);
    }
    if (probe >= 0)
        close(probe);
    if (unlink(cfg->socket) < 0 && errno != ENOENT)
        return kk_error(err, KK_ERR_INTERNAL, errno, "removing stale socket %s", cfg->socket);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating the API socket");
    /* Bind under a umask that leaves no window in which others could connect. */
    mode_t old = umask(0177);
    int b = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (b < 0) {
        close(fd);
        return kk_error(err, KK_ERR_INTERNAL, errno, "binding %s", cfg->socket);
    }
    if (chown(cfg->socket, 0, gid) < 0 || chmod(cfg->socket, 0660) < 0 || listen(fd, 64) < 0) {
        close(fd);
        return kk_error(err, KK_ERR_INTERNAL, errno, "preparing %s", cfg->socket);
    }
    st->listen_fd = fd;

    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    char tmp[PATH_MAX + 8];
    if (kk_snprintf(tmp, sizeof(tmp), err, "pid file", "%s.tmp", st->pid_file) < 0)
        return -1;
    _cleanup_close_ int pf = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (pf < 0 || write(pf, pid, (size_t)n) != n || rename(tmp, st->pid_file) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "writing pid file %s", st->pid_file);
    return 0;
}

static int kd_config_memfd(struct kd_state *st, struct kk_err *err)
{
    st->config_fd = kk_config_memfd(st->cfg, err);
    return st->config_fd < 0 ? -1 : 0;
}

/* The audit files are the supervisor's: helpers only write lines into a pipe, so that a sandboxed
 * helper needs neither open() nor rename(), and rotation by size happens here. */
static int kd_open_audit_logs(struct kd_state *st, struct kk_err *err)
{
    for (int h = 0; h < KD_NHELPERS; h++) {
        char path[PATH_MAX];
        if (kk_snprintf(path, sizeof(path), err, "audit log path", "%s/%s.log", st->cfg->log_dir,
                        kd_member_names[h]) < 0)
            return -1;
        if (kk_audit_open(&st->audit[h], kd_member_names[h], path, KK_AUDIT_DEFAULT_MAX_BYTES, err) < 0)
            return -1;
    }
    return 0;
}

static void kd_relay_audit(struct kd_state *st, int h)
{
    struct kd_child *c = &st->child[h];
    for (;;) {
        char buf[KK_AUDIT_LINE_MAX * 2];
        ssize_t n = read(c->audit_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0 || errno != EAGAIN) {
                close(c->audit_fd);
                c->audit_fd = -1;
            }
            return;
        }
        struct kk_err err = {0};
        if (kk_audit_append(&st->audit[h], buf, (size_t)n, &err) < 0)
            kk_errorf("writing the audit log of %s: %s", kd_member_names[h], err.msg);
    }
}

static pid_t kd_spawn(struct kd_state *st, enum kd_member m, const char *path, const char *const argv[],
                      const int *fds, int nfds, struct kk_err *err)
{
    int log_fd = -1;
    pid_t pid = kk_spawn_with_fds(path, argv, fds, nfds, &log_fd, err);
    if (pid < 0)
        return kk_error_wrap(err, "starting %s", kd_member_names[m]);
    st->child[m].pid = pid;
    st->child[m].log_fd = log_fd;
    st->child[m].len = 0;
    return pid;
}

static int kd_start_group(struct kd_state *st, struct kk_err *err)
{
    int api_end[KD_NHELPERS] = {-1, -1, -1, -1};
    int rc = -1;
    for (int h = 0; h < KD_NHELPERS; h++) {
        int sp[2];
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
            kk_error(err, KK_ERR_INTERNAL, errno, "creating the socketpair of %s", kd_member_names[h]);
            goto out;
        }
        int audit[2];
        if (pipe2(audit, O_CLOEXEC) < 0) {
            kk_error(err, KK_ERR_INTERNAL, errno, "creating the audit pipe of %s", kd_member_names[h]);
            close(sp[0]);
            close(sp[1]);
            goto out;
        }
        int broker[2] = {-1, -1};
        if (h == KD_CTRD && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, broker) < 0) {
            kk_error(err, KK_ERR_INTERNAL, errno, "creating the broker socketpair of kuke-ctrd");
            close(sp[0]);
            close(sp[1]);
            close(audit[0]);
            close(audit[1]);
            goto out;
        }
        const char *const argv[] = {kd_member_names[h], NULL};
        int fds[4] = {sp[1], st->config_fd, audit[1], broker[1]};
        pid_t pid = kd_spawn(st, (enum kd_member)h, st->helper_path[h], argv, fds, h == KD_CTRD ? 4 : 3, err);
        close(sp[1]);
        close(audit[1]);
        if (broker[1] >= 0)
            close(broker[1]);
        if (broker[0] >= 0) {
            if (pid < 0) {
                close(broker[0]);
            } else {
                fcntl(broker[0], F_SETFL, O_NONBLOCK);
                st->broker_fd = broker[0];
            }
        }
        if (pid < 0) {
            close(sp[0]);
            close(audit[0]);
            goto out;
        }
        fcntl(audit[0], F_SETFL, O_NONBLOCK);
        st->child[h].audit_fd = audit[0];
        api_end[h] = sp[0];
        kk_info("started %s pid=%d", kd_member_names[h], (int)pid);
    }
    const char *const argv[] = {"kukeond", "api", NULL};
    /* KD_FD_REQUEST, KD_FD_CONFIG, then KD_FD_API_CGD .. KD_FD_API_FETCHD (kukeond.h). */
    int fds[2 + KD_NHELPERS] = {st->listen_fd, st->config_fd, api_end[0], api_end[1], api_end[2], api_end[3]};
    pid_t pid = kd_spawn(st, KD_API, st->self, argv, fds, 2 + KD_NHELPERS, err);
    if (pid < 0)
        goto out;
    kk_info("started %s pid=%d", kd_member_names[KD_API], (int)pid);
    rc = 0;
out:
    for (int h = 0; h < KD_NHELPERS; h++)
        if (api_end[h] >= 0)
            close(api_end[h]);
    return rc;
}

static void kd_flush_line(struct kd_child *c, const char *name)
{
    if (c->len == 0)
        return;
    c->line[c->len] = '\0';
    char esc[sizeof(c->line) * 2];
    kk_log_escape(c->line, esc, sizeof(esc));
    /* The label comes from the pipe the bytes arrived on, never from what the line claims. */
    /* Under systemd each member's line is its own journal entry, named by the member. */
    if (!kd_journal_wanted() || kd_journal_relay_line(KD_JOURNAL_SOCKET, name, c->pid, esc) < 0)
        kk_log(KK_LOG_INFO, "[%s pid=%d] %s", name, (int)c->pid, esc);
    c->len = 0;
}

static void kd_relay(struct kd_child *c, const char *name)
{
    for (;;) {
        char buf[1024];
        ssize_t n = read(c->log_fd, buf, sizeof(buf));
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                kd_flush_line(c, name);
                close(c->log_fd);
                c->log_fd = -1;
            }
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                kd_flush_line(c, name);
            } else {
                c->line[c->len++] = buf[i];
                if (c->len == sizeof(c->line) - 1)
                    kd_flush_line(c, name);
            }
        }
    }
}

static void kd_log_exit(const char *name, pid_t pid, int status)
{
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
        kk_errorf("%s (pid %d) was killed by SIGSYS: sandbox violation (a system call outside its seccomp "
                  "allow-list); restarting the group",
                  name, (int)pid);
    else if (WIFSIGNALED(status))
        kk_warn("%s (pid %d) was killed by signal %d (%s); restarting the group", name, (int)pid, WTERMSIG(status),
                strsignal(WTERMSIG(status)));
    else
        kk_warn("%s (pid %d) exited with status %d; restarting the group", name, (int)pid, WEXITSTATUS(status));
}

/* Reap what has exited. Returns true if any member of the group died. */
static bool kd_reap(struct kd_state *st, bool stopping)
{
    bool died = false;
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        for (int m = 0; m < KD_NMEMBERS; m++) {
            if (st->child[m].pid != pid)
                continue;
            if (st->child[m].log_fd >= 0)
                kd_relay(&st->child[m], kd_member_names[m]);
            if (m < KD_NHELPERS && st->child[m].audit_fd >= 0)
                kd_relay_audit(st, m);
            if (!stopping)
                kd_log_exit(kd_member_names[m], pid, status);
            else if (!(WIFSIGNALED(status) && (WTERMSIG(status) == SIGTERM || WTERMSIG(status) == SIGKILL)))
                /* A member that ended on its own while the group was being stopped still says why. */
                kk_info("%s (pid %d) %s %d while the group stopped", kd_member_names[m], (int)pid,
                        WIFEXITED(status) ? "exited with status" : "was killed by signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            st->child[m].pid = 0;
            died = true;
        }
    }
    return died;
}

static bool kd_any_alive(const struct kd_state *st)
{
    for (int m = 0; m < KD_NMEMBERS; m++)
        if (st->child[m].pid > 0)
            return true;
    return false;
}

/* The API worker's grace at a stop: it lets the write in progress finish first (kukeond/api.c
 * KD_DRAIN_S, 8 s), and that write needs the helpers, so they are stopped after it. */
#define KD_API_GRACE_MS 9000

/* Stop every member: the API worker first (SIGTERM, its grace: it finishes the write in progress
 * with the helpers still there), then the helpers (SIGTERM, a grace period), then SIGKILL to any
 * left; wait for each by pid. */
static void kd_stop_group(struct kd_state *st)
{
    if (st->child[KD_API].pid > 0) {
        kill(st->child[KD_API].pid, SIGTERM);
        long api_deadline = kd_now_ms() + KD_API_GRACE_MS;
        while (st->child[KD_API].pid > 0 && kd_now_ms() < api_deadline) {
            kd_reap(st, true);
            if (st->child[KD_API].pid > 0)
                poll(NULL, 0, 20);
        }
    }
    for (int m = 0; m < KD_NMEMBERS; m++)
        if (st->child[m].pid > 0)
            kill(st->child[m].pid, SIGTERM);
    long deadline = kd_now_ms() + 3000;
    while (kd_any_alive(st) && kd_now_ms() < deadline) {
        kd_reap(st, true);
        if (kd_any_alive(st))
            poll(NULL, 0, 20);
    }
    for (int m = 0; m < KD_NMEMBERS; m++) {
        if (st->child[m].pid > 0) {
            kill(st->child[m].pid, SIGKILL);
            waitpid(st->child[m].pid, NULL, 0);
            st->child[m].pid = 0;
        }
    }
    for (int m = 0; m < KD_NMEMBERS; m++) {
        if (st->child[m].log_fd >= 0) {
            kd_relay(&st->child[m], kd_member_names[m]);
            if (st->child[m].log_fd >= 0)
                close(st->child[m].log_fd);
            st->child[m].log_fd = -1;
        }
        if (m < KD_NHELPERS && st->child[m].audit_fd >= 0) {
            kd_relay_audit(st, m);
            if (st->child[m].audit_fd >= 0)
                close(st->child[m].audit_fd);
            st->child[m].audit_fd = -1;
        }
    }
    if (st->broker_fd >= 0) {
        close(st->broker_fd);
        st->broker_fd = -1;
    }
}

int kukeond_supervise(const struct kk_config *cfg, struct kk_err *err)
{
    struct kd_state st = {.cfg = cfg, .listen_fd = -1, .config_fd = -1, .sig_fd = -1, .broker_fd = -1};
    for (int m = 0; m < KD_NMEMBERS; m++)
        st.child[m].log_fd = st.child[m].audit_fd = -1;

    if (mkdir(cfg->log_dir, 0750) < 0 && errno != EEXIST)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating log directory %s", cfg->log_dir), 1;
    if (kd_find_helpers(&st, err) < 0 || kd_config_memfd(&st, err) < 0 || kd_open_audit_logs(&st, err) < 0)
        return 1;

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGPIPE);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    st.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (st.sig_fd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating the signal fd"), 1;

    if (kd_prepare_socket(&st, err) < 0)
        return 1;
    kk_info("kukeond %s supervising; API socket %s (pid file %s)", KUKEON_VERSION, cfg->socket, st.pid_file);

    int exit_code = 0;
    long backoff_ms = 250, restart_at = 0, started_at = 0;
    bool running = false, stopping = false, notified = false;
    while (!stopping) {
        if (!running && kd_now_ms() >= restart_at) {
            if (kd_start_group(&st, err) < 0) {
                kk_errorf("starting the group failed: %s", err->msg);
                kd_stop_group(&st);
                exit_code = 1;
                break;
            }
            running = true;
            started_at = kd_now_ms();
            /* systemd (Type=notify): READY=1 once the API answers a Ping; a no-op elsewhere. */
            if (!notified) {
                kd_sd_notify_ready_async(cfg->socket, 60000);
                notified = true;
            }
        }
        struct pollfd pfd[2 + 2 * KD_NMEMBERS];
        int map[2 + 2 * KD_NMEMBERS];
        int n = 0;
        pfd[n] = (struct pollfd){.fd = st.sig_fd, .events = POLLIN};
        map[n++] = -1;
        for (int m = 0; m < KD_NMEMBERS; m++) {
            if (st.child[m].log_fd >= 0) {
                pfd[n] = (struct pollfd){.fd = st.child[m].log_fd, .events = POLLIN};
                map[n++] = m;
            }
            if (m < KD_NHELPERS && st.child[m].audit_fd >= 0) {
                pfd[n] = (struct pollfd){.fd = st.child[m].audit_fd, .events = POLLIN};
                map[n++] = 100 + m;
            }
        }
        if (st.broker_fd >= 0) {
            pfd[n] = (struct pollfd){.fd = st.broker_fd, .events = POLLIN};
            map[n++] = 200;
        }
        /* While the group is not in its cell yet, look again every 2 s. */
        if (running)
            kd_join_system_cell(&st);
        int timeout = running ? (st.in_system_cell ? -1 : 2000) : (int)(restart_at - kd_now_ms());
        if (timeout < -1)
            timeout = 0;
        if (poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR) {
            kk_error(err, KK_ERR_INTERNAL, errno, "poll");
            exit_code = 1;
            break;
        }
        for (int i = 1; i < n; i++) {
            if (pfd[i].revents == 0)
                continue;
            if (map[i] == 200) {
                struct kk_err berr = {0};
                if (kk_broker_serve_one(st.broker_fd, cfg->containerd_socket, &berr) < 0) {
                    /* The channel only ever carries one byte: anything else means ctrd is not itself. */
                    kk_errorf("broker channel of kuke-ctrd: %s; closing it", berr.msg);
                    close(st.broker_fd);
                    st.broker_fd = -1;
                } else {
                    kk_info("gave kuke-ctrd a new connection to %s", cfg->containerd_socket);
                }
            } else if (map[i] >= 100) {
                if (st.child[map[i] - 100].audit_fd >= 0)
                    kd_relay_audit(&st, map[i] - 100);
            } else if (st.child[map[i]].log_fd >= 0) {
                kd_relay(&st.child[map[i]], kd_member_names[map[i]]);
            }
        }
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(st.sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
                    kk_info("received %s: stopping the group", strsignal((int)si.ssi_signo));
                    kd_sd_notify("STOPPING=1");
                    stopping = true;
                }
            }
            if (!stopping && running && kd_reap(&st, false)) {
                /* Fail-stop: one member down means the whole group restarts, so that no member
                 * keeps state about a peer that is gone. */
                kd_stop_group(&st);
                running = false;
                /* A group that ran a while failed afresh: start the backoff over. */
                if (kd_now_ms() - started_at > 10000)
                    backoff_ms = 250;
                restart_at = kd_now_ms() + backoff_ms;
                kk_info("restarting the group in %ld ms", backoff_ms);
                backoff_ms = backoff_ms * 2 > 5000 ? 5000 : backoff_ms * 2;
            } else if (!running) {
                kd_reap(&st, true);
            }
        }
    }
    kd_stop_group(&st);
    close(st.listen_fd);
    unlink(cfg->socket);
    unlink(st.pid_file);
    close(st.config_fd);
    close(st.sig_fd);
    for (int h = 0; h < KD_NHELPERS; h++)
        kk_audit_close(&st.audit[h]);
    kk_info("kukeond stopped");
    return exit_code;
}
