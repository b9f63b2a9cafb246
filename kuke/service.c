/* kuke_service_start (see service.h): systemd when it runs, the background daemon otherwise. */
#include "kuke/service.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kuke/client.h"
#include "kuke/cmds.h"

bool kuke_systemd_running(void)
{
    struct stat st;
    return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

int kuke_run_quiet(char *const argv[], bool show_output)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return 127;
    if (pid == 0) {
        if (!show_output) {
            int null = open("/dev/null", O_RDWR | O_CLOEXEC);
            if (null >= 0) {
                dup2(null, STDOUT_FILENO);
                dup2(null, STDERR_FILENO);
            }
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool kuke_systemd_unit_installed(void)
{
    /* `systemctl cat` succeeds only for a unit file systemd has loaded or can load. */
    char *const argv[] = {"systemctl", "cat", "--", KUKEON_SYSTEMD_UNIT, NULL};
    return kuke_run_quiet(argv, false) == 0;
}

/* Flags that point kuke at a daemon other than the one the unit runs (its configuration comes from
 * /etc/kukeon/kukeond.yaml only). */
static bool kuke_private_daemon(const struct kuke_ctx *ctx)
{
    static const char *const private_flags[] = {
        "host",
        "run-path",
        "containerd-socket",
        "server-configuration",
        "log-dir",
        "cgroup-root",
        "containerd-namespace-suffix",
        "cni-conf-dir",
        "pod-subnet-cidr",
        "netd-state-dir",
    };
    for (size_t i = 0; i < sizeof(private_flags) / sizeof(private_flags[0]); i++)
        if (kuke_flag(ctx, private_flags[i]) != NULL)
            return true;
    return false;
}

int kuke_service_start(struct kuke_ctx *ctx, bool *used_systemd, struct kk_err *err)
{
    *used_systemd = false;
    const char *why = NULL;
    if (!kuke_systemd_running())
        why = "systemd is not running on this host";
    else if (kuke_private_daemon(ctx))
        why = "this daemon's configuration is given on the command line, not by the unit";
    else if (!kuke_systemd_unit_installed())
        why = "kukeond.service is not installed (make install or the kukeon package installs it)";
    if (why != NULL) {
        printf("Starting kukeond directly (kuke daemon start): %s\n", why);
        fflush(stdout);
        return kuke_daemon_start(ctx, false, err);
    }
    if (geteuid() != 0)
        return kk_error(err, KK_ERR_PERMISSION, 0,
                        "enabling kukeond.service needs root: run 'sudo systemctl enable --now kukeond'");
    /* A daemon started by hand holds the socket: a second supervisor from systemd would fight it. */
    char *const active[] = {"systemctl", "is-active", "--quiet", KUKEON_SYSTEMD_UNIT, NULL};
    json_t *res = NULL;
    struct kk_err perr = {0};
    if (kuke_run_quiet(active, false) != 0 && kuke_call(ctx, "Ping", NULL, &res, &perr) == 0) {
        json_decref(res);
        printf("kukeond already runs outside systemd (kuke daemon start); to hand it to systemd: sudo kuke "
               "daemon stop && sudo systemctl enable --now kukeond\n");
        return 0;
    }
    /* Type=notify: `systemctl start` returns once the API answers a Ping, or fails. */
    char *const enable[] = {"systemctl", "enable", "--now", "--quiet", KUKEON_SYSTEMD_UNIT, NULL};
    int rc = kuke_run_quiet(enable, true);
    if (rc != 0)
        return kk_error(err, KK_ERR_UNAVAILABLE, 0,
                        "systemctl enable --now %s failed (exit %d): see 'systemctl status kukeond' and "
                        "'journalctl -u kukeond'",
                        KUKEON_SYSTEMD_UNIT, rc);
    *used_systemd = true;
    printf("kukeond started by systemd (%s enabled: it starts again at boot)\n", KUKEON_SYSTEMD_UNIT);
    /* Type=notify already waited for a Ping; this says so the way `kuke daemon start` does, and
     * catches a unit whose ExecStart serves another socket than this kuke dials. */
    char sock[PATH_MAX];
    if (kuke_socket_path(ctx, sock, sizeof(sock), err) < 0)
        return -1;
    for (int i = 0; i < 150; i++) {
        json_t *pong = NULL;
        struct kk_err ping_err = {0};
        if (kuke_call(ctx, "Ping", NULL, &pong, &ping_err) == 0) {
            json_decref(pong);
            printf("kukeond is ready (unix://%s)\n", sock);
            return 0;
        }
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return kk_error(err, KK_ERR_UNAVAILABLE, 0,
                    "systemd started %s but nothing answers on %s within 30s: see 'journalctl -u kukeond'",
                    KUKEON_SYSTEMD_UNIT, sock);
}
