/* kuke: the Kukeon command line. The verb table is the whole surface; each verb's code lives in
 * kuke/cmd_<verb>.c. */
#include <stdio.h>

#include "kuke/cli.h"
#include "kuke/cmds.h"

static const struct kuke_opt kuke_global_opts[] = {
    {"host", 0, KUKE_OPT_STRING, "unix:///run/kukeon/kukeond.sock", "kukeond address (env KUKEON_HOST)"},
    {"run-path", 0, KUKE_OPT_STRING, "/opt/kukeon", "run path; given explicitly, runs in-process"},
    {"configuration", 0, KUKE_OPT_STRING, "~/.kuke/kuke.yaml", "client configuration file"},
    {"containerd-socket", 0, KUKE_OPT_STRING, "/run/containerd/containerd.sock", "containerd socket"},
    {"log-level", 0, KUKE_OPT_STRING, "info", "log level: debug, info, warn, error"},
    {"verbose", 'v', KUKE_OPT_BOOL, NULL, "verbose output (log level debug)"},
    {0},
};

static const struct kuke_opt kuke_version_opts[] = {
    {"no-daemon", 0, KUKE_OPT_BOOL, NULL, "print the client version only"},
    {"strict", 0, KUKE_OPT_BOOL, NULL, "exit 1 when client and daemon versions differ"},
    {0},
};

#define KUKE_DAEMON_COMMON_OPTS                                                                              \
    {"server-configuration", 0, KUKE_OPT_STRING, "/etc/kukeon/kukeond.yaml", "kukeond configuration file"},  \
        {"log-dir", 0, KUKE_OPT_STRING, "/var/log/kukeon", "directory of the daemon log and audit logs"},     \
        {"timeout", 0, KUKE_OPT_STRING, NULL, "how long to wait, e.g. 10s"},                                   \
        {"cgroup-root", 0, KUKE_OPT_STRING, "/kukeon", "cgroup root beneath the cgroup v2 mount"}

static const struct kuke_opt kuke_daemon_opts[] = {KUKE_DAEMON_COMMON_OPTS, {0}};
static const struct kuke_opt kuke_daemon_logs_opts[] = {
    {"follow", 'f', KUKE_OPT_BOOL, NULL, "keep printing new lines until interrupted"},
    {"log-dir", 0, KUKE_OPT_STRING, "/var/log/kukeon", "directory of the daemon log"},
    {0},
};
static const struct kuke_opt kuke_init_opts[] = {
    KUKE_DAEMON_COMMON_OPTS,
    {"no-daemon", 0, KUKE_OPT_BOOL, NULL, "prepare the host but do not start kukeond"},
    {0},
};

static const struct kuke_cmd kuke_daemon_cmds[] = {
    {"start", {0}, "Start the kukeond daemon group in the background", "kuke daemon start [flags]",
     kuke_daemon_opts, kuke_cmd_daemon_start, NULL},
    {"stop", {0}, "Stop the kukeond daemon group", "kuke daemon stop [--timeout 10s]", kuke_daemon_opts,
     kuke_cmd_daemon_stop, NULL},
    {"restart", {0}, "Stop, then start the kukeond daemon group", "kuke daemon restart [flags]",
     kuke_daemon_opts, kuke_cmd_daemon_restart, NULL},
    {"status", {0}, "Show whether kukeond runs, and each process of its group", "kuke daemon status",
     kuke_daemon_opts, kuke_cmd_daemon_status, NULL},
    {"logs", {"log"}, "Print the daemon group's log", "kuke daemon logs [-f]", kuke_daemon_logs_opts,
     kuke_cmd_daemon_logs, NULL},
    {0},
};

static const struct kuke_cmd kuke_cmds[] = {
    {"init", {0}, "Prepare this host for Kukeon and start the daemon", "kuke init [flags]", kuke_init_opts,
     kuke_cmd_init, NULL},
    {"daemon", {0}, "Control the kukeond daemon group", "kuke daemon <start|stop|restart|status|logs> [flags]",
     NULL, NULL, kuke_daemon_cmds},
    {"version", {0}, "Print the client and daemon versions", "kuke version [--no-daemon] [--strict]",
     kuke_version_opts, kuke_cmd_version, NULL},
    {0},
};

static const struct kuke_cmd kuke_root = {
    "kuke", {0}, "kuke drives Kukeon: containers in a Realm → Space → Stack → Cell → Container hierarchy",
    "kuke <command> [flags]", NULL, NULL, kuke_cmds,
};

int main(int argc, char **argv)
{
    return kuke_main(&kuke_root, kuke_global_opts, argc, argv);
}
