/* kuke daemon start|stop|restart|status|logs: control the kukeond group as a background process
 * with a pid file beside its socket. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "kuke/client.h"
#include "kuke/cmds.h"

static void kuke_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int kuke_pid_file(const struct kuke_ctx *ctx, char *out, size_t size, struct kk_err *err)
{
    char sock[PATH_MAX];
    if (kuke_socket_path(ctx, sock, sizeof(sock), err) < 0)
        return -1;
    return kk_snprintf(out, size, err, "pid file path", "%s/kukeond.pid", dirname(sock));
}

/* The pid in the pid file, if that process is a kukeond; 0 if none runs. */
static pid_t kuke_running_pid(const struct kuke_ctx *ctx, struct kk_err *err)
{
    char pf[PATH_MAX];
    if (kuke_pid_file(ctx, pf, sizeof(pf), err) < 0)
        return -1;
    _cleanup_fclose_ FILE *f = fopen(pf, "re");
    if (f == NULL)
        return 0;
    char line[32] = "";
    if (fgets(line, sizeof(line), f) == NULL)
        return 0;
    line[strcspn(line, "\n")] = '\0';
    uint64_t pid;
    if (kk_parse_u64(line, 1, 4194304, &pid) < 0)
        return 0;
    char comm_path[64], comm[32] = "";
    snprintf(comm_path, sizeof(comm_path), "/proc/%d/comm", (int)pid);
    _cleanup_fclose_ FILE *c = fopen(comm_path, "re");
    if (c == NULL || fgets(comm, sizeof(comm), c) == NULL)
        return 0;
    comm[strcspn(comm, "\n")] = '\0';
    /* A stale pid file may name a recycled pid: only a kukeond counts. */
    return strcmp(comm, "kukeond") == 0 ? (pid_t)pid : 0;
}

static int kuke_ping(const struct kuke_ctx *ctx, char *version, size_t vsize)
{
    json_t *res = NULL;
    struct kk_err e = {0};
    if (kuke_call(ctx, "Ping", NULL, &res, &e) < 0)
        return -1;
    const char *v = json_string_value(json_object_get(res, "Version"));
    snprintf(version, vsize, "%s", v != NULL ? v : "unknown");
    json_decref(res);
    return 0;
}

static const char *kuke_log_dir(const struct kuke_ctx *ctx)
{
    return kuke_flag_or(ctx, "log-dir", "KUKEON_LOG_DIR", KUKEON_DEFAULT_LOG_DIR);
}

static int kuke_timeout_s(const struct kuke_ctx *ctx, int def, struct kk_err *err)
{
    const char *t = kuke_flag(ctx, "timeout");
    if (t == NULL)
        return def;
    char num[16];
    size_t n = strlen(t);
    if (n > 0 && t[n - 1] == 's')
        n--;
    uint64_t v;
    if (n == 0 || n >= sizeof(num))
        return kk_error(err, KK_ERR_INVALID, 0, "invalid --timeout \"%s\": use seconds, e.g. 10s", t);
    memcpy(num, t, n);
    num[n] = '\0';
    if (kk_parse_u64(num, 1, 3600, &v) < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "invalid --timeout \"%s\": use 1s to 3600s", t);
    return (int)v;
}

int kuke_daemon_start(struct kuke_ctx *ctx, bool quiet_if_running, struct kk_err *err)
{
    if (geteuid() != 0)
        return kk_error(err, KK_ERR_PERMISSION, 0,
                        "starting kukeond needs root: run 'sudo kuke daemon start'");
    char sock[PATH_MAX], version[64];
    if (kuke_socket_path(ctx, sock, sizeof(sock), err) < 0)
        return -1;
    pid_t running = kuke_running_pid(ctx, err);
    if (running < 0)
        return -1;
    if (running > 0 && kuke_ping(ctx, version, sizeof(version)) == 0) {
        if (!quiet_if_running)
            printf("kukeond is already running (pid %d, unix://%s)\n", (int)running, sock);
        return 0;
    }
    char dir[PATH_MAX], kukeond[PATH_MAX + 16], logfile[PATH_MAX + 16];
    if (kuke_self_dir(dir, sizeof(dir), err) < 0 ||
        kk_snprintf(kukeond, sizeof(kukeond), err, "kukeond path", "%s/kukeond", dir) < 0)
        return -1;
    if (access(kukeond, X_OK) != 0)
        return kk_error(err, KK_ERR_NOT_FOUND, errno,
                        "kukeond not found beside kuke at %s (reinstall Kukeon)", kukeond);
    const char *log_dir = kuke_log_dir(ctx);
    if (mkdir(log_dir, 0750) < 0 && errno != EEXIST)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating log directory %s", log_dir);
    if (kk_snprintf(logfile, sizeof(logfile), err, "log file path", "%s/kukeond.log", log_dir) < 0)
        return -1;

    const char *argv[32];
    int n = 0;
    argv[n++] = "kukeond";
    const char *cfg = kuke_flag(ctx, "server-configuration");
    if (cfg != NULL) {
        argv[n++] = "--configuration";
        argv[n++] = cfg;
    }
    argv[n++] = "serve";
    argv[n++] = "--socket";
    argv[n++] = sock;
    argv[n++] = "--log-dir";
    argv[n++] = log_dir;
    /* The daemon configuration given on kuke's command line, passed on as kukeond's own flags. */
    static const char *const pass[] = {
        "run-path",        "containerd-socket",           "log-level",     "cgroup-root", "cni-conf-dir",
        "pod-subnet-cidr", "containerd-namespace-suffix", "netd-state-dir"};
    for (size_t i = 0; i < KK_ARRAY_SIZE(pass); i++) {
        const char *v = kuke_flag(ctx, pass[i]);
        if (v != NULL) {
            static char flagbuf[KK_ARRAY_SIZE(pass)][32];
            snprintf(flagbuf[i], sizeof(flagbuf[i]), "--%s", pass[i]);
            argv[n++] = flagbuf[i];
            argv[n++] = v;
        }
    }
    argv[n] = NULL;

    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "forking kukeond");
    if (pid == 0) {
        setsid();
        int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int out = open(logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
            _exit(127);
        execv(kukeond, (char *const *)argv);
        _exit(127);
    }
    int timeout = kuke_timeout_s(ctx, 30, err);
    if (timeout < 0)
        return -1;
    for (int waited = 0; waited < timeout * 1000; waited += 200) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid)
            return kk_error(err, KK_ERR_UNAVAILABLE, 0,
                            "kukeond exited during start-up (%s %d); see %s or 'kuke daemon logs'",
                            WIFEXITED(status) ? "status" : "signal",
                            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), logfile);
        if (kuke_ping(ctx, version, sizeof(version)) == 0) {
            printf("kukeond is ready (unix://%s, pid %d)\n", sock, (int)pid);
            return 0;
        }
        kuke_sleep_ms(200);
    }
    return kk_error(err, KK_ERR_UNAVAILABLE, 0, "kukeond did not answer on %s within %ds; see %s", sock,
                    timeout, logfile);
}

int kuke_cmd_daemon_start(struct kuke_ctx *ctx, struct kk_err *err)
{
    return kuke_daemon_start(ctx, false, err);
}

static int kuke_daemon_stop_pid(struct kuke_ctx *ctx, bool quiet, struct kk_err *err)
{
    if (geteuid() != 0)
        return kk_error(err, KK_ERR_PERMISSION, 0,
                        "stopping kukeond needs root: run 'sudo kuke daemon stop'");
    pid_t pid = kuke_running_pid(ctx, err);
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (!quiet)
            printf("kukeond is not running\n");
        return 0;
    }
    /* The supervisor may take 9 s for the API worker (a write in progress finishes) and 3 s more
     * for the helpers. */
    int timeout = kuke_timeout_s(ctx, 15, err);
    if (timeout < 0)
        return -1;
    if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
        return kk_error(err, KK_ERR_PERMISSION, errno, "signalling kukeond (pid %d)", (int)pid);
    for (int waited = 0; waited < timeout * 1000; waited += 100) {
        if (kill(pid, 0) < 0 && errno == ESRCH) {
            printf("Stopped kukeond (pid %d)\n", (int)pid);
            return 0;
        }
        kuke_sleep_ms(100);
    }
    /* The children die with it: each has PR_SET_PDEATHSIG. */
    kill(pid, SIGKILL);
    printf("Killed kukeond (pid %d) after %ds without stopping\n", (int)pid, timeout);
    return 0;
}

int kuke_cmd_daemon_stop(struct kuke_ctx *ctx, struct kk_err *err)
{
    return kuke_daemon_stop_pid(ctx, false, err);
}

int kuke_cmd_daemon_restart(struct kuke_ctx *ctx, struct kk_err *err)
{
    if (kuke_daemon_stop_pid(ctx, true, err) < 0)
        return -1;
    return kuke_daemon_start(ctx, false, err);
}

int kuke_cmd_daemon_status(struct kuke_ctx *ctx, struct kk_err *err)
{
    char sock[PATH_MAX], version[64];
    if (kuke_socket_path(ctx, sock, sizeof(sock), err) < 0)
        return -1;
    pid_t pid = kuke_running_pid(ctx, err);
    if (pid < 0)
        return -1;
    json_t *res = NULL;
    struct kk_err perr = {0};
    if (kuke_call(ctx, "DaemonStatus", NULL, &res, &perr) < 0) {
        if (pid > 0)
            return kk_error(err, KK_ERR_UNAVAILABLE, 0, "kukeond (pid %d) does not answer on %s: %s",
                            (int)pid, sock, perr.msg);
        return kk_error(err, KK_ERR_UNAVAILABLE, 0, "kukeond is not running: %s", perr.msg);
    }
    const char *v = json_string_value(json_object_get(res, "Version"));
    snprintf(version, sizeof(version), "%s", v != NULL ? v : "unknown");
    printf("kukeond: running (version %s, socket unix://%s", version, sock);
    if (pid > 0)
        printf(", pid %d", (int)pid);
    printf(")\n");
    json_t *procs = json_object_get(res, "Processes");
    size_t i;
    json_t *p;
    printf("%-12s  %-8s  %-8s  %-8s  %s\n", "PROCESS", "PID", "UID", "GID", "STATE");
    printf("%-12s  %-8s  %-8s  %-8s  %s\n", "------------", "--------", "--------", "--------", "-----");
    json_array_foreach(procs, i, p)
    {
        printf("%-12s  %-8lld  %-8lld  %-8lld  %s\n", json_string_value(json_object_get(p, "Name")),
               (long long)json_integer_value(json_object_get(p, "Pid")),
               (long long)json_integer_value(json_object_get(p, "Uid")),
               (long long)json_integer_value(json_object_get(p, "Gid")),
               json_string_value(json_object_get(p, "State")));
    }
    json_decref(res);
    return 0;
}

static volatile sig_atomic_t kuke_logs_stop;
static void kuke_logs_on_signal(int sig)
{
    (void)sig;
    kuke_logs_stop = 1;
}

int kuke_cmd_daemon_logs(struct kuke_ctx *ctx, struct kk_err *err)
{
    char logfile[PATH_MAX];
    if (kk_snprintf(logfile, sizeof(logfile), err, "log file path", "%s/kukeond.log", kuke_log_dir(ctx)) < 0)
        return -1;
    _cleanup_close_ int fd = open(logfile, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kk_error(err, KK_ERR_NOT_FOUND, errno,
                        "kukeond has no log at %s (has the daemon been started?)", logfile);
    bool follow = kuke_flag_bool(ctx, "follow");
    signal(SIGINT, kuke_logs_on_signal);
    signal(SIGTERM, kuke_logs_on_signal);
    char buf[8192];
    while (!kuke_logs_stop) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "reading %s", logfile);
        if (n == 0) {
            if (!follow)
                break;
            kuke_sleep_ms(200);
            continue;
        }
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
            break;
        fflush(stdout);
    }
    return 0;
}
