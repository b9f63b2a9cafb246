/* kuke in-process (see inproc.h). The helpers are started lazily, each the first time the controller
 * asks for it, exactly as the supervisor starts them (kk_helper_launch: fixed argv, empty
 * environment, request socket on fd 3, the sealed configuration on fd 4, the audit pipe on fd 5,
 * kuke-ctrd's connection broker on fd 6). A relay thread plays the supervisor's other parts: it
 * appends the helpers' audit lines to their audit logs, relays their stderr into kuke's log, and
 * answers kuke-ctrd's broker (connecting to containerd as root when kuke-ctrd must reconnect). The
 * main thread acts on the run path with the file identity of its owner (setfsuid), so a document
 * written in-process stays writable by the daemon; the relay thread keeps root's. */
#include "kuke/inproc.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/audit.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/broker.h"
#include "ipc/client.h"
#include "ipc/launch.h"
#include "kuke/client.h"
#include "kukeond/controller.h"
#include "kukeond/kukeond.h"

/* How long a stopping helper gets to write its last audit lines and exit. */
#define INPROC_STOP_MS 3000

struct inproc {
    bool ready;
    struct kk_ctl ctl;
    int config_fd;
    uid_t owner_uid; /* the run path's owner: the file identity of the main thread */
    gid_t owner_gid;
    struct kk_helper_proc proc[KK_CTL_HELPERS];
    int broker; /* our end of kuke-ctrd's broker socketpair, -1 when ctrd is not running */
    struct kk_audit audit[KK_CTL_HELPERS];
    bool audit_open[KK_CTL_HELPERS];
    char log_line[KK_CTL_HELPERS][2048];
    size_t log_len[KK_CTL_HELPERS];
    /* The relay thread and what it shares with the main thread (under lock). */
    pthread_t relay;
    bool relay_started;
    bool stopping;
    int wake[2];
    pthread_mutex_t lock;
};

static struct inproc ip = {
    .config_fd = -1, .broker = -1, .wake = {-1, -1}, .lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- mode and configuration ---------------------------------------------------------------------- */

static int env_bool(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return -1;
    return strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ? 1 : 0;
}

bool kuke_inproc_wanted(const struct kuke_ctx *ctx)
{
    const char *flag = kuke_flag(ctx, "no-daemon");
    if (flag != NULL)
        return strcmp(flag, "false") != 0;
    int env = env_bool("KUKEON_NO_DAEMON");
    if (env >= 0)
        return env == 1;
    return kuke_flag_or(ctx, "run-path", "KUKEON_RUN_PATH", NULL) != NULL;
}

/* The environment kukeond reads (kukeond/main.c), so that both see one configuration. */
static const struct {
    const char *env;
    const char *key;
} inproc_env_keys[] = {
    {"KUKEON_RUN_PATH", "runPath"},       {"KUKEON_CONTAINERD_SOCKET", "containerdSocket"},
    {"KUKEON_LOG_LEVEL", "logLevel"},     {"KUKEON_NAMESPACE_SUFFIX", "containerdNamespaceSuffix"},
    {"KUKEON_CGROUP_ROOT", "cgroupRoot"}, {"KUKEON_POD_SUBNET_CIDR", "podSubnetCIDR"},
    {"KUKEON_LOG_DIR", "logDir"},
};

/* kuke's flags that are daemon configuration keys (the flag names are the keys' kebab forms). */
static const char *const inproc_flag_keys[] = {
    "run-path",    "containerd-socket", "log-level", "containerd-namespace-suffix",
    "cgroup-root", "pod-subnet-cidr",   "log-dir",   "cni-conf-dir", "netd-state-dir",
};

int kuke_server_config(const struct kuke_ctx *ctx, struct kk_config *cfg, struct kk_err *err)
{
    kk_config_defaults(cfg);
    const char *path = kuke_flag_or(ctx, "server-configuration", "KUKEOND_CONFIGURATION", NULL);
    if (kukeond_config_load_yaml(cfg, path != NULL ? path : KUKEON_DEFAULT_SERVER_CONFIG, path != NULL, err) <
        0)
        return -1;
    for (size_t i = 0; i < KK_ARRAY_SIZE(inproc_env_keys); i++) {
        const char *v = getenv(inproc_env_keys[i].env);
        if (v != NULL && *v != '\0' &&
            kk_config_set(cfg, inproc_env_keys[i].key, v, inproc_env_keys[i].env, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < KK_ARRAY_SIZE(inproc_flag_keys); i++) {
        const char *v = kuke_flag(ctx, inproc_flag_keys[i]);
        char source[64];
        snprintf(source, sizeof(source), "flag --%s", inproc_flag_keys[i]);
        if (v != NULL && kk_config_set(cfg, inproc_flag_keys[i], v, source, err) < 0)
            return -1;
    }
    if (kuke_flag_bool(ctx, "verbose"))
        cfg->log_level = KK_LOG_DEBUG;
    return 0;
}

/* ---- file identity ------------------------------------------------------------------------------- */

void kuke_fs_become(uid_t uid, gid_t gid)
{
    /* Group first: once the fsuid is not root, changing the fsgid is no longer allowed. */
    setfsgid(gid);
    setfsuid(uid);
}

void kuke_fs_restore(void)
{
    setfsuid(0);
    setfsgid(0);
}

/* ---- the relay thread ---------------------------------------------------------------------------- */

static void relay_log_line(int h)
{
    if (ip.log_len[h] == 0)
        return;
    ip.log_line[h][ip.log_len[h]] = '\0';
    char esc[sizeof(ip.log_line[h]) * 2];
    kk_log_escape(ip.log_line[h], esc, sizeof(esc));
    /* A helper's own lines carry their level in the text; kuke shows them with -v. */
    kk_debug("[%s] %s", kk_ctl_helper_name((enum kk_ctl_helper)h), esc);
    ip.log_len[h] = 0;
}

/* Read what is there; close the descriptor at EOF. Called with the lock held. */
static void relay_read(int h, bool audit)
{
    int *fd = audit ? &ip.proc[h].audit_fd : &ip.proc[h].log_fd;
    for (;;) {
        char buf[KK_AUDIT_LINE_MAX * 2];
        ssize_t n = read(*fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            if (!audit)
                relay_log_line(h);
            close(*fd);
            *fd = -1;
            return;
        }
        if (audit) {
            struct kk_err err = {0};
            if (ip.audit_open[h] && kk_audit_append(&ip.audit[h], buf, (size_t)n, &err) < 0)
                kk_warn("audit log of %s: %s", kk_ctl_helper_name((enum kk_ctl_helper)h), err.msg);
            continue;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                relay_log_line(h);
            } else {
                ip.log_line[h][ip.log_len[h]++] = buf[i];
                if (ip.log_len[h] == sizeof(ip.log_line[h]) - 1)
                    relay_log_line(h);
            }
        }
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *relay_main(void *arg)
{
    (void)arg;
    int64_t deadline = -1;
    for (;;) {
        struct pollfd pfd[2 + 2 * KK_CTL_HELPERS];
        int who[2 + 2 * KK_CTL_HELPERS];
        nfds_t n = 0;
        pthread_mutex_lock(&ip.lock);
        pfd[n] = (struct pollfd){.fd = ip.wake[0], .events = POLLIN};
        who[n++] = -1;
        if (ip.broker >= 0) {
            pfd[n] = (struct pollfd){.fd = ip.broker, .events = POLLIN};
            who[n++] = -2;
        }
        bool open_pipes = false;
        for (int h = 0; h < KK_CTL_HELPERS; h++) {
            if (ip.proc[h].audit_fd >= 0) {
                pfd[n] = (struct pollfd){.fd = ip.proc[h].audit_fd, .events = POLLIN};
                who[n++] = h;
                open_pipes = true;
            }
            if (ip.proc[h].log_fd >= 0) {
                pfd[n] = (struct pollfd){.fd = ip.proc[h].log_fd, .events = POLLIN};
                who[n++] = 100 + h;
                open_pipes = true;
            }
        }
        bool stopping = ip.stopping;
        pthread_mutex_unlock(&ip.lock);
        /* Stopping: run until every helper has closed its pipes (its last audit line is in), or the
         * deadline, after which the main thread kills what is left. */
        if (stopping && deadline < 0)
            deadline = now_ms() + INPROC_STOP_MS;
        if (stopping && (!open_pipes || now_ms() >= deadline))
            return NULL;
        int timeout = stopping ? (int)(deadline - now_ms()) : -1;
        if (poll(pfd, n, timeout < 0 && stopping ? 0 : timeout) < 0 && errno != EINTR)
            return NULL;
        pthread_mutex_lock(&ip.lock);
        for (nfds_t i = 0; i < n; i++) {
            if (pfd[i].revents == 0)
                continue;
            if (who[i] == -1) {
                char drain[64];
                while (read(ip.wake[0], drain, sizeof(drain)) > 0)
                    ;
            } else if (who[i] == -2) {
                struct kk_err err = {0};
                if (kk_broker_serve_one(ip.broker, ip.ctl.cfg.containerd_socket, &err) < 0) {
                    /* kuke-ctrd closes it when it exits: worth a word only while it should run. */
                    kk_log(ip.stopping ? KK_LOG_DEBUG : KK_LOG_WARN,
                           "broker channel of kuke-ctrd: %s; closing it", err.msg);
                    close(ip.broker);
                    ip.broker = -1;
                }
            } else if (who[i] >= 100) {
                if (ip.proc[who[i] - 100].log_fd >= 0)
                    relay_read(who[i] - 100, false);
            } else if (ip.proc[who[i]].audit_fd >= 0) {
                relay_read(who[i], true);
            }
        }
        pthread_mutex_unlock(&ip.lock);
    }
}

static void relay_wake(void)
{
    if (ip.wake[1] >= 0) {
        char b = 1;
        ssize_t w = write(ip.wake[1], &b, 1);
        (void)w;
    }
}

/* ---- helpers ------------------------------------------------------------------------------------- */

/* A binary run as root must not be replaceable by anyone but root (as the supervisor checks). */
static int trusted_binary(const char *path, struct kk_err *err)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return kk_error(err, KK_ERR_NOT_FOUND, errno, "helper binary %s", path);
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    struct stat dst;
    if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0 ||
        stat(dirname(dir), &dst) < 0 || dst.st_uid != 0 || (dst.st_mode & (S_IWGRP | S_IWOTH)) != 0)
        return kk_error(
            err, KK_ERR_PERMISSION, 0,
            "refusing to run %s: it and its directory must be owned by root and writable only by root", path);
    return 0;
}

/* Helpers live in <prefix>/libexec/kukeon when installed, in <build>/libexec in the build tree. */
static int helper_path(enum kk_ctl_helper h, char *out, size_t size, struct kk_err *err)
{
    char bindir[PATH_MAX];
    if (kuke_self_dir(bindir, sizeof(bindir), err) < 0)
        return -1;
    static const char *const sub[] = {"../libexec/kukeon", "../libexec"};
    for (size_t s = 0; s < KK_ARRAY_SIZE(sub); s++) {
        char rel[PATH_MAX + 64];
        if (kk_snprintf(rel, sizeof(rel), err, "helper path", "%s/%s/%s", bindir, sub[s],
                        kk_ctl_helper_name(h)) < 0)
            return -1;
        if (access(rel, X_OK) != 0)
            continue;
        if (realpath(rel, out) == NULL || strlen(out) >= size)
            return kk_error(err, KK_ERR_NOT_FOUND, errno, "helper %s", rel);
        return trusted_binary(out, err);
    }
    return kk_error(
        err, KK_ERR_NOT_FOUND, 0,
        "%s not found beside kuke (looked in %s/../libexec/kukeon and ../libexec); reinstall Kukeon",
        kk_ctl_helper_name(h), bindir);
}

static int launch_helper(enum kk_ctl_helper h, struct kk_err *err)
{
    char path[PATH_MAX];
    if (helper_path(h, path, sizeof(path), err) < 0)
        return -1;
    int broker[2] = {-1, -1};
    if (h == KK_CTL_CTRD && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, broker) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating the broker socketpair of kuke-ctrd");
    struct kk_helper_proc p;
    int rc = kk_helper_launch(path, ip.config_fd, broker[1], true, &p, err);
    if (broker[1] >= 0)
        close(broker[1]);
    if (rc < 0) {
        if (broker[0] >= 0)
            close(broker[0]);
        return -1;
    }
    fcntl(p.log_fd, F_SETFL, O_NONBLOCK);
    pthread_mutex_lock(&ip.lock);
    ip.proc[h] = p;
    if (broker[0] >= 0) {
        fcntl(broker[0], F_SETFL, O_NONBLOCK);
        ip.broker = broker[0];
    }
    pthread_mutex_unlock(&ip.lock);
    relay_wake();
    char name[64];
    if (kk_ipc_hello(p.sock, "api", name, sizeof(name), err) < 0)
        return kk_error_wrap(err, "starting %s (see its lines with -v)", kk_ctl_helper_name(h));
    kk_debug("started %s pid=%d", name, (int)p.pid);
    ip.ctl.sock[h] = p.sock;
    return 0;
}

/* The controller's connect callback: start helper h now. As root: the helpers are started with
 * root's file identity, as the supervisor starts them, and the relay thread is created with it. */
static int inproc_connect(struct kk_ctl *ctl, enum kk_ctl_helper h, struct kk_err *err)
{
    (void)ctl;
    if (ip.proc[h].pid > 0)
        return kk_error(err, KK_ERR_UNAVAILABLE, 0, "%s stopped answering; run the command again",
                        kk_ctl_helper_name(h));
    kuke_fs_restore();
    int rc = 0;
    if (!ip.relay_started) {
        if (pthread_create(&ip.relay, NULL, relay_main, NULL) != 0)
            rc = kk_error(err, KK_ERR_INTERNAL, errno, "starting the helpers' relay thread");
        else
            ip.relay_started = true;
    }
    if (rc == 0)
        rc = launch_helper(h, err);
    kuke_fs_become(ip.owner_uid, ip.owner_gid);
    return rc;
}

/* ---- the controller ------------------------------------------------------------------------------ */

static int inproc_start(const struct kuke_ctx *ctx, struct kk_err *err)
{
    if (geteuid() != 0)
        return kk_error(
            err, KK_ERR_PERMISSION, 0,
            "in-process mode (KUKEON_NO_DAEMON=true, --no-daemon or an explicit --run-path) starts the "
            "privileged helpers itself and needs root: run it with sudo, or use the daemon");
    struct kk_config cfg;
    if (kuke_server_config(ctx, &cfg, err) < 0 || kk_ctl_init(&ip.ctl, &cfg, err) < 0)
        return -1;
    ip.ctl.connect = inproc_connect;
    for (int h = 0; h < KK_CTL_HELPERS; h++) {
        ip.proc[h].sock = ip.proc[h].audit_fd = ip.proc[h].log_fd = -1;
        ip.proc[h].pid = 0;
    }
    if ((ip.config_fd = kk_config_memfd(&cfg, err)) < 0)
        return -1;
    if (pipe2(ip.wake, O_CLOEXEC | O_NONBLOCK) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating a pipe");
    /* The helpers' audit logs, as the supervisor keeps them (common/audit.h): this process owns the
     * files while it runs. */
    if (mkdir(cfg.log_dir, 0750) < 0 && errno != EEXIST)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating log directory %s", cfg.log_dir);
    for (int h = 0; h < KK_CTL_HELPERS; h++) {
        char path[PATH_MAX];
        if (kk_snprintf(path, sizeof(path), err, "audit log path", "%s/%s.log", cfg.log_dir,
                        kk_ctl_helper_name((enum kk_ctl_helper)h)) < 0 ||
            kk_audit_open(&ip.audit[h], kk_ctl_helper_name((enum kk_ctl_helper)h), path,
                          KK_AUDIT_DEFAULT_MAX_BYTES, err) < 0)
            return -1;
        ip.audit_open[h] = true;
    }
    /* Files in the run path belong to its owner (kuke init gives it to the kukeon user). A run path
     * that is not there yet is reported by the first request that needs it. */
    struct stat st;
    ip.owner_uid = 0;
    ip.owner_gid = 0;
    if (stat(cfg.run_path, &st) == 0) {
        ip.owner_uid = st.st_uid;
        ip.owner_gid = st.st_gid;
    }
    kuke_fs_become(ip.owner_uid, ip.owner_gid);
    ip.ready = true;
    return 0;
}

int kuke_inproc_call(const struct kuke_ctx *ctx, const char *method, json_t *args, json_t **reply,
                     struct kk_err *err)
{
    *reply = NULL;
    if (!ip.ready && inproc_start(ctx, err) < 0)
        return -1;
    json_t *r = kk_ctl_call(&ip.ctl, method, args);
    if (r == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: not a method of this kuke (or out of memory)", method);
    *reply = r;
    return 0;
}

int kuke_inproc_helper(const struct kuke_ctx *ctx, int h, struct kk_config *cfg, struct kk_err *err)
{
    if (!ip.ready && inproc_start(ctx, err) < 0)
        return -1;
    if (cfg != NULL)
        *cfg = ip.ctl.cfg;
    return kk_ctl_helper(&ip.ctl, (enum kk_ctl_helper)h, err);
}

void kuke_inproc_shutdown(void)
{
    if (!ip.ready && ip.config_fd < 0)
        return;
    kuke_fs_restore();
    /* Closing a helper's socket is its signal to finish: it writes its last lines and exits. */
    pthread_mutex_lock(&ip.lock);
    for (int h = 0; h < KK_CTL_HELPERS; h++) {
        if (ip.proc[h].sock >= 0) {
            close(ip.proc[h].sock);
            ip.proc[h].sock = -1;
        }
        ip.ctl.sock[h] = -1;
    }
    ip.stopping = true;
    pthread_mutex_unlock(&ip.lock);
    relay_wake();
    if (ip.relay_started)
        pthread_join(ip.relay, NULL);
    ip.relay_started = false;
    for (int h = 0; h < KK_CTL_HELPERS; h++) {
        if (ip.proc[h].pid > 0) {
            int status = kk_helper_stop(&ip.proc[h], 1000);
            if (status != 0)
                kk_debug("%s ended with status %d", kk_ctl_helper_name((enum kk_ctl_helper)h), status);
        }
        if (ip.audit_open[h])
            kk_audit_close(&ip.audit[h]);
        ip.audit_open[h] = false;
    }
    if (ip.broker >= 0)
        close(ip.broker);
    ip.broker = -1;
    for (int i = 0; i < 2; i++)
        if (ip.wake[i] >= 0)
            close(ip.wake[i]);
    ip.wake[0] = ip.wake[1] = -1;
    if (ip.config_fd >= 0)
        close(ip.config_fd);
    ip.config_fd = -1;
    ip.ready = false;
}
