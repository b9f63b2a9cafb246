/* kuke: the Kukeon command line. The verb table is the whole surface; each verb's code lives in
 * kuke/cmd_<verb>.c. */
#include <stdio.h>

#include "kuke/cli.h"
#include "kuke/cmds.h"
#include "kuke/inproc.h"

/* Global flags. The daemon configuration keys among them (run path, containerd socket, cgroup root,
 * ...) are what `kuke daemon start` hands to kukeond and what kuke uses itself in-process. */
static const struct kuke_opt kuke_global_opts[] = {
    {"host", 0, KUKE_OPT_STRING, "unix:///run/kukeon/kukeond.sock", "kukeond address (env KUKEON_HOST)"},
    {"run-path", 0, KUKE_OPT_STRING, "/opt/kukeon", "run path; given explicitly, runs in-process"},
    {"configuration", 0, KUKE_OPT_STRING, "~/.kuke/kuke.yaml", "client configuration file"},
    {"containerd-socket", 0, KUKE_OPT_STRING, "/run/containerd/containerd.sock", "containerd socket"},
    {"log-level", 0, KUKE_OPT_STRING, "info", "log level: debug, info, warn, error"},
    {"verbose", 'v', KUKE_OPT_BOOL, NULL, "verbose output (log level debug)"},
    {"server-configuration", 0, KUKE_OPT_STRING, "/etc/kukeon/kukeond.yaml", "kukeond configuration file"},
    {"log-dir", 0, KUKE_OPT_STRING, "/var/log/kukeon", "directory of the daemon log and audit logs"},
    {"cgroup-root", 0, KUKE_OPT_STRING, "/kukeon", "cgroup root beneath the cgroup v2 mount"},
    {"containerd-namespace-suffix", 0, KUKE_OPT_STRING, "kukeon.io",
     "suffix of every realm's containerd namespace"},
    {"cni-conf-dir", 0, KUKE_OPT_STRING, "/etc/cni/net.d", "where the spaces' CNI conflists are written"},
    {"pod-subnet-cidr", 0, KUKE_OPT_STRING, "10.88.0.0/16", "range each space's /24 is taken from"},
    {"netd-state-dir", 0, KUKE_OPT_STRING, "/var/lib/kukeon/netd",
     "kuke-netd's own records (subnets, leases, cells): root's, outside the run path"},
    {0},
};

static const struct kuke_opt kuke_version_opts[] = {
    {"no-daemon", 0, KUKE_OPT_BOOL, NULL, "print the client version only"},
    {"strict", 0, KUKE_OPT_BOOL, NULL, "exit 1 when client and daemon versions differ"},
    {0},
};

static const struct kuke_opt kuke_daemon_opts[] = {
    {"timeout", 0, KUKE_OPT_STRING, NULL, "how long to wait, e.g. 10s"},
    {0},
};
static const struct kuke_opt kuke_daemon_logs_opts[] = {
    {"follow", 'f', KUKE_OPT_BOOL, NULL, "keep printing new lines until interrupted"},
    {0},
};
static const struct kuke_opt kuke_init_opts[] = {
    {"timeout", 0, KUKE_OPT_STRING, NULL, "how long to wait for the daemon, e.g. 10s"},
    {"no-daemon", 0, KUKE_OPT_BOOL, NULL, "prepare the host but do not start kukeond"},
    {0},
};

#define KUKE_OPT_REALM(verb)                                                                                 \
    {                                                                                                        \
        "realm", 0, KUKE_OPT_STRING, NULL, "realm " verb " (default \"default\")"                            \
    }
#define KUKE_OPT_SPACE(verb)                                                                                 \
    {                                                                                                        \
        "space", 0, KUKE_OPT_STRING, NULL, "space " verb " (default \"default\")"                            \
    }

/* get: every kind takes the same flags (scope flags filter lists, and name the scope of one). */
static const struct kuke_opt kuke_get_opts[] = {
    {"output", 'o', KUKE_OPT_STRING, "table", "output format: table, wide, yaml, json (env KUKE_GET_OUTPUT)"},
    {"selector", 'l', KUKE_OPT_STRING, NULL,
     "label query: k=v, k==v, k!=v, k (exists), !k (absent), comma-separated AND"},
    KUKE_OPT_REALM("to look in; lists every realm when unset"),
    KUKE_OPT_SPACE("to look in; lists every space when unset"),
    {"no-daemon", 0, KUKE_OPT_BOOL, NULL, "run in this process instead of asking kukeond (root)"},
    {0},
};

static const struct kuke_opt kuke_create_realm_opts[] = {
    {"namespace", 0, KUKE_OPT_STRING, NULL, "containerd namespace (only <name>.<suffix> is accepted)"},
    {0},
};
static const struct kuke_opt kuke_create_space_opts[] = {KUKE_OPT_REALM("that will own the space"), {0}};
static const struct kuke_opt kuke_create_stack_opts[] = {
    KUKE_OPT_REALM("of the space"), KUKE_OPT_SPACE("that will own the stack"), {0}};
static const struct kuke_opt kuke_create_opts[] = {
    {"namespace", 0, KUKE_OPT_STRING, NULL, "realm: containerd namespace"},
    KUKE_OPT_REALM("of the resource"),
    KUKE_OPT_SPACE("of the resource"),
    {0},
};

#define KUKE_DELETE_COMMON_OPTS                                                                              \
    {"cascade", 0, KUKE_OPT_BOOL, NULL, "delete the children first"},                                        \
        {"force", 0, KUKE_OPT_BOOL, NULL, "skip the children check (children are left as they are)"},        \
        KUKE_OPT_REALM("of the resource"), KUKE_OPT_SPACE("of the resource")
static const struct kuke_opt kuke_delete_opts[] = {KUKE_DELETE_COMMON_OPTS, {0}};
static const struct kuke_opt kuke_purge_opts[] = {
    KUKE_DELETE_COMMON_OPTS,
    {"no-daemon", 0, KUKE_OPT_BOOL, NULL, "run in this process instead of asking kukeond (root)"},
    {0},
};

static const struct kuke_cmd kuke_daemon_cmds[] = {
    {"start",
     {0},
     "Start the kukeond daemon group in the background",
     "kuke daemon start [flags]",
     kuke_daemon_opts,
     kuke_cmd_daemon_start,
     NULL},
    {"stop",
     {0},
     "Stop the kukeond daemon group",
     "kuke daemon stop [--timeout 10s]",
     kuke_daemon_opts,
     kuke_cmd_daemon_stop,
     NULL},
    {"restart",
     {0},
     "Stop, then start the kukeond daemon group",
     "kuke daemon restart [flags]",
     kuke_daemon_opts,
     kuke_cmd_daemon_restart,
     NULL},
    {"status",
     {0},
     "Show whether kukeond runs, and each process of its group",
     "kuke daemon status",
     kuke_daemon_opts,
     kuke_cmd_daemon_status,
     NULL},
    {"logs",
     {"log"},
     "Print the daemon group's log",
     "kuke daemon logs [-f]",
     kuke_daemon_logs_opts,
     kuke_cmd_daemon_logs,
     NULL},
    {0},
};

static const struct kuke_cmd kuke_get_cmds[] = {
    {"realm",
     {"realms", "r"},
     "Get or list realms",
     "kuke get realm [name] [flags]",
     kuke_get_opts,
     kuke_cmd_get,
     NULL},
    {"space",
     {"spaces", "sp"},
     "Get or list spaces",
     "kuke get space [name] [--realm R] [flags]",
     kuke_get_opts,
     kuke_cmd_get,
     NULL},
    {"stack",
     {"stacks", "st"},
     "Get or list stacks",
     "kuke get stack [name] [--realm R] [--space S] [flags]",
     kuke_get_opts,
     kuke_cmd_get,
     NULL},
    {0},
};

static const struct kuke_cmd kuke_create_cmds[] = {
    {"realm",
     {"r"},
     "Create or reconcile a realm",
     "kuke create realm [name] [flags]",
     kuke_create_realm_opts,
     kuke_cmd_create,
     NULL},
    {"space",
     {"sp"},
     "Create or reconcile a space within a realm",
     "kuke create space [name] --realm R",
     kuke_create_space_opts,
     kuke_cmd_create,
     NULL},
    {"stack",
     {"st"},
     "Create or reconcile a stack within a space",
     "kuke create stack [name] --realm R --space S",
     kuke_create_stack_opts,
     kuke_cmd_create,
     NULL},
    {0},
};

static const struct kuke_cmd kuke_delete_cmds[] = {
    {"realm",
     {"r"},
     "Delete a realm",
     "kuke delete realm NAME [--cascade] [--force]",
     kuke_delete_opts,
     kuke_cmd_delete,
     NULL},
    {"space",
     {"sp"},
     "Delete a space",
     "kuke delete space NAME --realm R [--cascade] [--force]",
     kuke_delete_opts,
     kuke_cmd_delete,
     NULL},
    {"stack",
     {"st"},
     "Delete a stack",
     "kuke delete stack NAME --realm R --space S [--cascade] [--force]",
     kuke_delete_opts,
     kuke_cmd_delete,
     NULL},
    {0},
};

static const struct kuke_cmd kuke_purge_cmds[] = {
    {"realm",
     {"r"},
     "Purge a realm with comprehensive cleanup",
     "kuke purge realm NAME [--cascade] [--force]",
     kuke_purge_opts,
     kuke_cmd_purge,
     NULL},
    {"space",
     {"sp"},
     "Purge a space with comprehensive cleanup",
     "kuke purge space NAME --realm R [flags]",
     kuke_purge_opts,
     kuke_cmd_purge,
     NULL},
    {"stack",
     {"st"},
     "Purge a stack with comprehensive cleanup",
     "kuke purge stack NAME --realm R --space S",
     kuke_purge_opts,
     kuke_cmd_purge,
     NULL},
    {0},
};

static const struct kuke_cmd kuke_cmds[] = {
    {"init",
     {0},
     "Prepare this host for Kukeon and start the daemon",
     "kuke init [flags]",
     kuke_init_opts,
     kuke_cmd_init,
     NULL},
    {"get",
     {"g"},
     "Show realms, spaces and stacks",
     "kuke get <realm|space|stack> [name] [flags]",
     kuke_get_opts,
     NULL,
     kuke_get_cmds},
    {"create",
     {"c"},
     "Create a realm, space or stack",
     "kuke create <realm|space|stack> [name] [flags]",
     kuke_create_opts,
     NULL,
     kuke_create_cmds},
    {"delete",
     {"d"},
     "Delete a realm, space or stack",
     "kuke delete <realm|space|stack> NAME [flags]",
     kuke_delete_opts,
     NULL,
     kuke_delete_cmds},
    {"purge",
     {"p"},
     "Delete a realm, space or stack, and everything a delete left behind",
     "kuke purge <realm|space|stack> NAME [flags]",
     kuke_purge_opts,
     NULL,
     kuke_purge_cmds},
    {"daemon",
     {0},
     "Control the kukeond daemon group",
     "kuke daemon <start|stop|restart|status|logs> [flags]",
     NULL,
     NULL,
     kuke_daemon_cmds},
    {"version",
     {0},
     "Print the client and daemon versions",
     "kuke version [--no-daemon] [--strict]",
     kuke_version_opts,
     kuke_cmd_version,
     NULL},
    {0},
};

static const struct kuke_cmd kuke_root = {
    "kuke",
    {0},
    "kuke drives Kukeon: containers in a Realm → Space → Stack → Cell → Container hierarchy",
    "kuke <command> [flags]",
    NULL,
    NULL,
    kuke_cmds,
};

int main(int argc, char **argv)
{
    int rc = kuke_main(&kuke_root, kuke_global_opts, argc, argv);
    /* In-process mode started helpers: let them write their last audit lines and exit. */
    kuke_inproc_shutdown();
    return rc;
}
