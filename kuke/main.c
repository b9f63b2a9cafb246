/* kuke: the Kukeon command line. The verb table is the whole surface; each verb's code lives in
 * kuke/cmd_<verb>.c. */
#include <stdio.h>

#include "kuke/cli.h"
#include "kuke/cmd_apply.h"
#include "kuke/cmds.h"
#include "kuke/inproc.h"
#include "kuke/service.h"
#include "kuke/terminal.h"

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
    {"no-daemon", 0, KUKE_OPT_BOOL, NULL, "init in this process (hierarchies too); do not start kukeond"},
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
    {"stack", 0, KUKE_OPT_STRING, NULL, "stack to look in; lists every stack when unset (default \"default\")"},
    {"cell", 0, KUKE_OPT_STRING, NULL, "containers: cell to look in; every cell when unset (default \"default\")"},
    {"no-daemon", 0, KUKE_OPT_BOOL, NULL, "run in this process instead of asking kukeond (root)"},
    {0},
};

static const struct kuke_opt kuke_create_realm_opts[] = {
    {"namespace", 0, KUKE_OPT_STRING, NULL, "containerd namespace (only <name>.<suffix> is accepted)"},
    {"allow", 0, KUKE_OPT_STRING, NULL,
     "policy, comma-separated, set once at creation: fields kuke-ctrd refuses that the realm's containers "
     "may use (privileged, cap-add, host-namespaces, host-paths, devices, hooks, runtime)"},
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

#define KUKE_OPT_STACK(verb)                                                                                 \
    {                                                                                                        \
        "stack", 0, KUKE_OPT_STRING, NULL, "stack " verb " (default \"default\")"                            \
    }
#define KUKE_DELETE_COMMON_OPTS                                                                              \
    {"cascade", 0, KUKE_OPT_BOOL, NULL, "delete the children first"},                                        \
        {"force", 0, KUKE_OPT_BOOL, NULL, "skip the children check (children are left as they are)"},        \
        KUKE_OPT_REALM("of the resource"), KUKE_OPT_SPACE("of the resource"), KUKE_OPT_STACK("of the cell")
static const struct kuke_opt kuke_delete_opts[] = {KUKE_DELETE_COMMON_OPTS, {0}};
/* kuke delete itself (no kind): delete -f FILE (kuke/cmd_apply.c). */
static const struct kuke_opt kuke_delete_file_opts[] = {
    {"file", 'f', KUKE_OPT_STRING, NULL, "manifest whose documents to delete (- reads stdin)"},
    {"output", 'o', KUKE_OPT_STRING, NULL, "output format: json, yaml (default: one line per document)"},
    KUKE_DELETE_COMMON_OPTS,
    {0},
};
static const struct kuke_opt kuke_apply_opts[] = {
    {"file", 'f', KUKE_OPT_STRING, NULL, "manifest to apply (- reads stdin); required"},
    {"output", 'o', KUKE_OPT_STRING, NULL, "output format: json, yaml (default: one line per document)"},
    {0},
};
static const struct kuke_opt kuke_purge_opts[] = {
    KUKE_DELETE_COMMON_OPTS,
    {"no-daemon", 0, KUKE_OPT_BOOL, NULL, "run in this process instead of asking kukeond (root)"},
    {0},
};

static const struct kuke_opt kuke_create_regcred_opts[] = {
    {"username", 0, KUKE_OPT_STRING, NULL, "user name to log in to the registry with (required)"},
    {"password-stdin", 0, KUKE_OPT_BOOL, NULL, "read the password from stdin (asked without echo on a terminal)"},
    {"from-file", 0, KUKE_OPT_STRING, NULL, "read the password from this file (one trailing newline is dropped)"},
    {"server", 0, KUKE_OPT_STRING, "docker.io", "registry host[:port] the credential is for"},
    {"insecure-skip-tls-verify", 0, KUKE_OPT_BOOL, NULL,
     "do not verify the registry's TLS certificate (a local registry with a self-signed one)"},
    {"no-daemon", 0, KUKE_OPT_BOOL, NULL, "run in this process instead of asking kukeond (root)"},
    {0},
};
static const struct kuke_opt kuke_create_cell_opts[] = {
    KUKE_OPT_REALM("of the cell"),
    KUKE_OPT_SPACE("of the cell"),
    KUKE_OPT_STACK("that will own the cell"),
    {"image", 0, KUKE_OPT_STRING, NULL, "image of the cell's one container \"main\" (attachable)"},
    {"command", 0, KUKE_OPT_STRING, "/bin/sh", "command of that container (split on spaces into command and args)"},
    {"from-blueprint", 0, KUKE_OPT_STRING, NULL, "not supported yet: use --image or kuke apply -f"},
    {"from-config", 0, KUKE_OPT_STRING, NULL, "not supported yet: use --image or kuke apply -f"},
    {"clone", 0, KUKE_OPT_STRING, NULL, "not supported yet: use --image or kuke apply -f"},
    {"ignore-disk-pressure", 0, KUKE_OPT_BOOL, NULL, "create even when the run path's disk is nearly full"},
    {0},
};
static const struct kuke_opt kuke_lifecycle_opts[] = {
    {"selector", 'l', KUKE_OPT_STRING, NULL, "act on every cell of the stack whose labels match (k=v, k!=v, k, !k)"},
    KUKE_OPT_REALM("of the cell"),
    KUKE_OPT_SPACE("of the cell"),
    KUKE_OPT_STACK("of the cell"),
    {0},
};
static const struct kuke_opt kuke_refresh_opts[] = {{0}};
static const struct kuke_opt kuke_image_opts[] = {
    KUKE_OPT_REALM("of the image"),
    {"from-docker", 0, KUKE_OPT_STRING, NULL, "not supported: docker save the image and load the archive"},
    {0},
};
static const struct kuke_opt kuke_image_pull_opts[] = {KUKE_OPT_REALM("to pull the image into"), {0}};
static const struct kuke_opt kuke_daemon_reset_opts[] = {
    {"timeout", 0, KUKE_OPT_STRING, NULL, "how long to wait for the daemon to stop, e.g. 10s"},
    {"purge-system", 0, KUKE_OPT_BOOL, NULL, "also purge the system realm kuke-system"},
    {0},
};
static const struct kuke_opt kuke_uninstall_opts[] = {
    {"yes", 'y', KUKE_OPT_BOOL, NULL, "do not ask for confirmation"},
    {"no-daemon", 0, KUKE_OPT_BOOL, NULL, "accepted for compatibility: uninstall always runs in-process"},
    {0},
};
static const struct kuke_opt kuke_autocomplete_opts[] = {{0}};

static const struct kuke_cmd kuke_image_cmds[] = {
    {"load",
     {0},
     "Import an OCI or docker-archive tarball into a realm",
     "kuke image load [tarball|-] [--realm R]",
     kuke_image_opts,
     kuke_cmd_image_load,
     NULL},
    {"pull",
     {0},
     "Pull an image from its registry into a realm, with the realm's registry credentials",
     "kuke image pull REF [--realm R]",
     kuke_image_pull_opts,
     kuke_cmd_image_pull,
     NULL},
    {"delete",
     {"rm", "remove"},
     "Remove an image from a realm",
     "kuke image delete REF [--realm R]",
     kuke_image_opts,
     kuke_cmd_image_rm,
     NULL},
    {"prune",
     {0},
     "Remove every image of a realm that no container uses",
     "kuke image prune [--realm R]",
     kuke_image_opts,
     kuke_cmd_image_prune,
     NULL},
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
     "kuke daemon stop [--timeout 15s]",
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
    {"reset",
     {0},
     "Stop kukeond and remove its socket, pid file and cell record",
     "kuke daemon reset [--purge-system] [--timeout 10s]",
     kuke_daemon_reset_opts,
     kuke_cmd_daemon_reset,
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
    {"cell",
     {"cells", "ce"},
     "Get or list cells",
     "kuke get cell [name] [--realm R] [--space S] [--stack T] [flags]",
     kuke_get_opts,
     kuke_cmd_get,
     NULL},
    {"container",
     {"containers", "co"},
     "Get or list containers",
     "kuke get container [name] [--realm R] [--space S] [--stack T] [--cell C] [flags]",
     kuke_get_opts,
     kuke_cmd_get,
     NULL},
    {"image",
     {"images", "img"},
     "List images (in-process, root): every realm unless --realm",
     "kuke get image [name] [--realm R] [flags]",
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
    {"cell",
     {"ce"},
     "Create a cell (stopped) with one container from an image",
     "kuke create cell [name] --image REF [--command CMD] [--realm R --space S --stack T]",
     kuke_create_cell_opts,
     kuke_cmd_create_cell,
     NULL},
    {"registry-credential",
     {"registry-cred", "regcred"},
     "Set a realm's credential for one registry (upserts spec.registryCredentials)",
     "kuke create registry-credential REALM --username U (--password-stdin | --from-file P) [--server H] "
     "[--insecure-skip-tls-verify]",
     kuke_create_regcred_opts,
     kuke_cmd_create_regcred,
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
    {"cell",
     {"ce"},
     "Delete a cell and its containers",
     "kuke delete cell NAME --realm R --space S --stack T",
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
    {"cell",
     {"ce"},
     "Purge a cell with comprehensive cleanup",
     "kuke purge cell NAME --realm R --space S --stack T",
     kuke_purge_opts,
     kuke_cmd_purge,
     NULL},
    {0},
};

static const struct kuke_opt kuke_status_opts[] = {
    {"json", 0, KUKE_OPT_BOOL, NULL, "print the checks as JSON"},
    {0},
};
static const struct kuke_cmd kuke_doctor_cmds[] = {
    {"cgroups",
     {0},
     "Check that cpu, memory, io and pids are available and delegated to the cgroup root",
     "kuke doctor cgroups [--cgroup-root /kukeon] [--json]",
     kuke_status_opts,
     kuke_cmd_doctor_cgroups,
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
     "Show realms, spaces, stacks, cells, containers and images",
     "kuke get <realm|space|stack|cell|container|image> [name] [flags]",
     kuke_get_opts,
     NULL,
     kuke_get_cmds},
    {"create",
     {"c"},
     "Create a realm, space, stack, cell or registry credential",
     "kuke create <realm|space|stack|cell|registry-credential> [name] [flags]",
     kuke_create_opts,
     NULL,
     kuke_create_cmds},
    {"apply",
     {0},
     "Apply a multi-document manifest: create what is missing, update what changed",
     "kuke apply -f <file|-> [-o json|yaml]",
     kuke_apply_opts,
     kuke_cmd_apply,
     NULL},
    {"delete",
     {"d"},
     "Delete a realm, space, stack or cell, or every document of a manifest",
     "kuke delete <realm|space|stack|cell> NAME [flags] | kuke delete -f <file|-> [--cascade] [--force] [-o json|yaml]",
     kuke_delete_file_opts,
     kuke_cmd_delete_file,
     kuke_delete_cmds},
    {"purge",
     {"p"},
     "Delete a realm, space, stack or cell, and everything a delete left behind",
     "kuke purge <realm|space|stack|cell> NAME [flags]",
     kuke_purge_opts,
     NULL,
     kuke_purge_cmds},
    {"daemon",
     {0},
     "Control the kukeond daemon group",
     "kuke daemon <start|stop|restart|status|logs|reset> [flags]",
     NULL,
     NULL,
     kuke_daemon_cmds},
    {"status",
     {0},
     "Check the daemon, the host and what is left over: OK, WARN or FAIL per check",
     "kuke status [--json] [-v]",
     kuke_status_opts,
     kuke_cmd_status,
     NULL},
    {"doctor",
     {0},
     "Diagnose the host, the daemon group's sandboxes, logs and orphaned objects",
     "kuke doctor [cgroups] [--json]",
     kuke_status_opts,
     kuke_cmd_doctor,
     kuke_doctor_cmds},
    {"__man",
     {0},
     "Write the manual pages kuke(1) and kuke-<verb>(1) into DIR (used by the build)",
     "kuke __man DIR",
     NULL,
     kuke_cmd_man,
     NULL},
    {"start",
     {"sta"},
     "Start a cell (root container first, then the others)",
     "kuke start NAME | -l SELECTOR [--realm R --space S --stack T]",
     kuke_lifecycle_opts,
     kuke_cmd_start,
     NULL},
    {"stop",
     {"sto"},
     "Stop a cell (SIGTERM, then SIGKILL after 5s); its containers are kept",
     "kuke stop NAME | -l SELECTOR [--realm R --space S --stack T]",
     kuke_lifecycle_opts,
     kuke_cmd_stop,
     NULL},
    {"kill",
     {"k"},
     "Kill a cell (SIGKILL); its containers are kept",
     "kuke kill NAME | -l SELECTOR [--realm R --space S --stack T]",
     kuke_lifecycle_opts,
     kuke_cmd_kill,
     NULL},
    {"restart",
     {"res"},
     "Restart a cell: stop then start a running cell, start a stopped one",
     "kuke restart NAME | -l SELECTOR [--realm R --space S --stack T]",
     kuke_lifecycle_opts,
     kuke_cmd_restart,
     NULL},
    {"attach",
     {"att"},
     "Attach this terminal to a cell's attachable container (detach with ^]^])",
     "kuke attach CELL [--container C] [--realm R --space S --stack T]",
     kuke_attach_opts,
     kuke_cmd_attach,
     NULL},
    {"log",
     {"logs"},
     "Print a container's output; -f follows it until interrupted",
     "kuke log CELL [--container C] [-f] [--realm R --space S --stack T]",
     kuke_log_opts,
     kuke_cmd_log,
     NULL},
    {"run",
     {0},
     "Create and start a cell (or start an existing one) and attach to it",
     "kuke run CELL | -f FILE | --image REF [--command C] [--name N] [-d] [--rm] [--env K=V] [--container C]",
     kuke_run_opts,
     kuke_cmd_run,
     NULL},
    {"refresh",
     {0},
     "Re-derive every resource's status from the host and record it",
     "kuke refresh",
     kuke_refresh_opts,
     kuke_cmd_refresh,
     NULL},
    {"image",
     {0},
     "Load, pull, remove and prune images (in-process, root)",
     "kuke image <load|pull|delete|prune> [flags]",
     NULL,
     NULL,
     kuke_image_cmds},
    {"uninstall",
     {0},
     "Remove every realm and everything Kukeon made on this host",
     "kuke uninstall [-y]",
     kuke_uninstall_opts,
     kuke_cmd_uninstall,
     NULL},
    {"autocomplete",
     {"completion"},
     "Print a shell completion script (bash, zsh or fish)",
     "kuke autocomplete bash|zsh|fish",
     kuke_autocomplete_opts,
     kuke_cmd_autocomplete,
     NULL},
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
    kuke_man_set_root(&kuke_root, kuke_global_opts);
    int rc = kuke_main(&kuke_root, kuke_global_opts, argc, argv);
    /* In-process mode started helpers: let them write their last audit lines and exit. */
    kuke_inproc_shutdown();
    return rc;
}
