/* kuke-netd's parts and the state they share: space networks (subnets, conflists), cell network
 * namespaces (pins), CNI plugin runs, netlink work through libnl-3, and the KUKEON-FORWARD chain.
 * Every function takes names already validated and derived by common/derive.h; none takes a path,
 * an interface or a namespace from a request (DESIGN.md section 3). */
#ifndef KUKEON_NETD_NETD_H
#define KUKEON_NETD_NETD_H

#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/audit.h"
#include "common/config.h"
#include "common/derive.h"
#include "common/err.h"

#define NETD_NAME        "kuke-netd"
#define NETD_IFNAME      "eth0" /* the cell's end of its veth, always */
#define NETD_CNI_VERSION "1.0.0"
/* What a subnet or address looks like in text: "255.255.255.255/32" and the NUL. */
#define NETD_CIDR_SIZE 20
#define NETD_IP_SIZE   16
#define NETD_MAC_SIZE  18
/* Link aliases that mark what netd made (IFALIASZ is 256): "kukeon:<realm>/<space>" on a bridge,
 * "kukeon:<realm>/<space>:<netns name>" on a cell's host veth. */
#define NETD_ALIAS_PREFIX "kukeon:"
/* The alias prefix of this instance's links: NETD_ALIAS_PREFIX for the default netdStateDir,
 * "kukeon@<fnv1a32 of the state dir>:" for any other, so that two instances on one host (a test
 * daemon beside the installed one) never take each other's bridges and veths for their own, and
 * GC never removes the other's. Set once at start-up by netd_alias_instance. */
extern char netd_alias_prefix[32];
void netd_alias_instance(const char *state_dir);
#define NETD_ALIAS_SIZE   256
/* The longest a CNI plugin may run before it is killed (a hung plugin must not hang the group). */
#define NETD_PLUGIN_TIMEOUT_S 60
/* A plugin's stdout (its result or error) and stderr are small; more is cut, never waited for. */
#define NETD_PLUGIN_OUTPUT_MAX (64u * 1024u)

/* Where the CNI plugins are looked for, in order; the first directory holding every plugin a
 * conflist names wins. Fixed: never configurable from a request (or at all, from the API). */
extern const char *const netd_plugin_dirs[];
extern const size_t netd_plugin_dirs_count;
/* The only plugins netd runs, in conflist order. */
extern const char *const netd_plugins[];
extern const size_t netd_plugins_count;

/* An IPv4 network: address in host byte order and prefix length. */
struct netd_ipv4_net {
    uint32_t addr;
    unsigned prefix;
};

/* Where a file operation happens: paths relative to a directory netd holds open (fd: the state
 * directory, opened once before the sandbox), or absolute paths with fd AT_FDCWD (the CNI conf dir).
 * shown names fd's directory in messages ("" with AT_FDCWD). */
struct netd_dir {
    int fd;
    const char *shown;
};

struct netd_ctx {
    struct kk_config cfg;
    struct netd_dir state;        /* netdStateDir, held as an O_PATH descriptor (fd -1 until opened) */
    struct netd_dir abs;          /* absolute paths: {AT_FDCWD, ""} */
    struct kk_derive_config dcfg; /* points into cfg; netns dir is the default /run/netns */
    struct netd_ipv4_net pod;     /* podSubnetCIDR */
    char plugin_dir[64];          /* chosen at start, "" when no directory has every plugin */
    char iptables[32];            /* "/usr/sbin/iptables", "" when missing */
    int host_netns_fd;            /* netd's own (the host's) network namespace, for setns back */
    dev_t host_ns_dev;            /* and its identity, which no pin may have */
    ino_t host_ns_ino;
    dev_t init_ns_dev; /* PID 1's network namespace, when readable at start (0/0 otherwise) */
    ino_t init_ns_ino;
    int netns_dir_fd;   /* O_PATH of the netns dir, opened at start */
    struct nl_sock *nl; /* NETLINK_ROUTE in the host namespace */
    bool fw_asserted;   /* KUKEON-FORWARD checked by this process */
    unsigned plugin_timeout_s;
    uint32_t deny_reason; /* enum kk_ipc_deny_reason of the last netd_deny */
};

/* Refuse: err gets KK_ERR_DENIED and the message, c->deny_reason the wire reason. Returns -1. */
int netd_deny(struct netd_ctx *c, struct kk_err *err, uint32_t reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* ---- util.c: files ------------------------------------------------------------------------------ */
/* Every function takes a place (struct netd_dir) and a path: relative to the state directory's
 * descriptor, so that renaming the path after netd opened it changes nothing, or absolute (the CNI
 * conf dir). The last component is never followed when it is a symbolic link. */

/* How messages name path: "<shown>/<path>", or path itself when absolute. */
const char *netd_path_shown(const struct netd_dir *at, const char *path, char *buf, size_t size);
/* Write data to path atomically and durably (temp file in the same directory, fsync, rename, fsync
 * the directory), mode as given. */
int netd_write_file_atomic(const struct netd_dir *at, const char *path, const char *data, size_t len,
                           mode_t mode, struct kk_err *err);
/* Read at most max bytes of a regular file into a new NUL-terminated buffer.
 * 0 with *out NULL when the file does not exist. */
int netd_read_file(const struct netd_dir *at, const char *path, size_t max, char **out, size_t *len,
                   struct kk_err *err);
/* mkdir -p of path (mode for what it creates); every component must be a directory, not a link. */
int netd_mkdir_p(const struct netd_dir *at, const char *path, mode_t mode, struct kk_err *err);
/* unlink path; missing is fine. 1 when something was removed, 0 when not. */
int netd_unlink(const struct netd_dir *at, const char *path, struct kk_err *err);
/* rmdir path when it is empty; missing or not empty is fine. 1 when it was removed. */
int netd_rmdir_empty(const struct netd_dir *at, const char *path, struct kk_err *err);
/* Whether path exists (as anything, links not followed): 1, 0, or -1 on another error. */
int netd_exists(const struct netd_dir *at, const char *path, struct kk_err *err);
/* Open directory path (not a link) for listing: 1 and *out, 0 when it does not exist. */
int netd_open_dir(const struct netd_dir *at, const char *path, DIR **out, struct kk_err *err);
/* Remove a directory tree netd made (regular files and directories only, no links followed).
 * 1 when there was one, 0 when not. */
int netd_remove_tree(const struct netd_dir *at, const char *path, struct kk_err *err);
/* JSON to text, deterministic (sorted keys, 2-space indent, trailing newline), into a new buffer. */
char *netd_json_text(const json_t *j, struct kk_err *err);
/* Make (0700) and open netdStateDir: every component from / down opened without following links,
 * owned by root (or netd's own uid) and writable by nobody else; held in c->state. Before the
 * sandbox (acquire), and by unit tests. */
int netd_state_open(struct netd_ctx *c, struct kk_err *err);
/* Close what netd_state_open opened (tests). */
void netd_state_close(struct netd_ctx *c);

/* ---- space.c: subnets, network.json, conflists ------------------------------------------------- */
int netd_parse_cidr4(const char *text, struct netd_ipv4_net *out);
void netd_format_cidr4(const struct netd_ipv4_net *n, char *buf, size_t size);
void netd_format_ip4(uint32_t addr, char *buf, size_t size);
/* Check podSubnetCIDR: an IPv4 network (address aligned to its prefix) of /8 to /24. */
int netd_pod_subnet_check(const char *text, struct netd_ipv4_net *out, struct kk_err *err);
/* The lowest /24 of pod not in used[0..n_used). -1 with a message naming the range when full. */
int netd_subnet_pick(const struct netd_ipv4_net *pod, const struct netd_ipv4_net *used, size_t n_used,
                     struct netd_ipv4_net *out, struct kk_err *err);

/* Paths of a space's files. Relative ones are beneath the state directory (c->state), keyed by the
 * validated realm and space names, which hold no '/' and are never "." or "..". */
struct netd_space_paths {
    char realm_dir[KK_DERIVE_PATH_SIZE];    /* "<realm>" */
    char dir[KK_DERIVE_PATH_SIZE];          /* "<realm>/<space>" */
    char network_json[KK_DERIVE_PATH_SIZE]; /* "<dir>/network.json": the subnet record */
    char ipam_rel[KK_DERIVE_PATH_SIZE];     /* "<dir>/ipam" */
    char cells_dir[KK_DERIVE_PATH_SIZE];    /* "<dir>/cells": one record per attached cell */
    char ipam_dir[KK_DERIVE_PATH_SIZE];     /* "<netdStateDir>/<dir>/ipam": absolute, host-local's
                                             * dataDir in the conflist (the plugin opens it by path) */
    char conflist[KK_DERIVE_PATH_SIZE];     /* "<cniConfDir>/<realm>-<space>.conflist": absolute */
};
int netd_space_paths(const struct netd_ctx *c, const struct kk_derived *d, struct netd_space_paths *p,
                     struct kk_err *err);
/* The conflist netd writes for a space with this subnet (a new reference). */
json_t *netd_conflist_build(const struct kk_derived *d, const struct netd_ipv4_net *subnet,
                            const char *ipam_dir, struct kk_err *err);
/* The subnet a conflist's bridge plugin gives host-local, and its bridge name (bridge may be NULL). */
int netd_conflist_subnet(const json_t *conflist, struct netd_ipv4_net *subnet, char *bridge, size_t size);

struct netd_network_info {
    struct netd_ipv4_net subnet;
    bool created;     /* allocated now */
    bool regenerated; /* a conflist was missing or wrong and was rewritten */
};
/* Read the space's subnet record. 1 and *subnet when there is one, 0 when not. */
int netd_space_read_subnet(struct netd_ctx *c, const struct netd_space_paths *p, struct netd_ipv4_net *subnet,
                           struct kk_err *err);
/* Create or repair the space's subnet record and its conflist (not the bridge). */
int netd_space_ensure_files(struct netd_ctx *c, const struct kk_derived *d, struct netd_network_info *info,
                            struct kk_err *err);
/* Remove the space's conflist, leases and cell records and, last, its subnet record and its (then
 * empty) directories. 1 if any existed. */
int netd_space_remove_files(struct netd_ctx *c, const struct kk_derived *d, struct kk_err *err);
/* Number of cell records of the space (attached or being attached). */
int netd_space_count_cells(struct netd_ctx *c, const struct netd_space_paths *p, struct kk_err *err);

/* ---- netns.c: the cells' network namespaces ----------------------------------------------------- */
/* Open the netns dir (creating it and making it a shared mount point, as iproute2 does) and record
 * the host's namespace identity. Before the sandbox. */
int netd_netns_init(struct netd_ctx *c, struct kk_err *err);
/* Open the cell's pin (O_RDONLY, no link followed) and prove it is a network namespace that is not
 * the host's. 1 and *fd, 0 when there is no pin; -1 with err KK_ERR_DENIED (netd_deny) when the pin
 * is something else. */
int netd_netns_open(struct netd_ctx *c, const struct kk_derived *d, int *fd, struct kk_err *err);
/* Create the cell's namespace with loopback up and pin it; 1 when made, 0 when it was there. */
int netd_netns_ensure(struct netd_ctx *c, const struct kk_derived *d, struct kk_err *err);
/* Unpin and remove the pin file; 1 when there was one. */
int netd_netns_remove(struct netd_ctx *c, const struct kk_derived *d, struct kk_err *err);
/* A NETLINK_ROUTE socket bound to the namespace behind nsfd (netd enters it and comes back). */
int netd_nl_socket_in(struct netd_ctx *c, int nsfd, struct nl_sock **out, struct kk_err *err);

/* ---- link.c: libnl ----------------------------------------------------------------------------- */
int netd_nl_open(struct nl_sock **out, struct kk_err *err);
void netd_nl_close(struct nl_sock *sk);
int netd_link_set_up(struct nl_sock *sk, const char *name, struct kk_err *err);
/* Alias strings. */
int netd_bridge_alias(const struct kk_derived *d, char *buf, size_t size, struct kk_err *err);
int netd_veth_alias(const struct kk_derived *d, char *buf, size_t size, struct kk_err *err);
/* Link by name: 0 absent, 1 present; kind ("bridge", "veth", ...), alias and ports (links with
 * this one as master) when asked. */
struct netd_link_info {
    int ifindex;
    char kind[16];
    char alias[NETD_ALIAS_SIZE];
    char mac[NETD_MAC_SIZE];
    unsigned ports;
    bool up;
};
int netd_link_get(struct nl_sock *sk, const char *name, struct netd_link_info *info, struct kk_err *err);
/* The space's bridge: absent, or a bridge carrying the space's alias. Anything else under the
 * derived name is not netd's: -1, KK_ERR_DENIED. */
int netd_bridge_check_owned(struct netd_ctx *c, const struct kk_derived *d, struct netd_link_info *info,
                            struct kk_err *err);
int netd_bridge_ensure(struct netd_ctx *c, const struct kk_derived *d, struct kk_err *err);
int netd_link_delete(struct nl_sock *sk, const char *name, struct kk_err *err);
/* Rename the host end of a cell's veth to the derived name and mark it with the cell's alias. */
int netd_veth_claim(struct netd_ctx *c, const struct kk_derived *d, const char *current, struct kk_err *err);
/* Read every link of the namespace behind sk with its IPv4 addresses, as JSON array of objects
 * {name, mac, up, addresses[]}. */
json_t *netd_links_read(struct nl_sock *sk, struct kk_err *err);
/* Remove bridges and veths netd made that nothing uses; names removed are appended to removed. */
int netd_link_gc(struct netd_ctx *c, json_t *removed, struct kk_err *err);

/* ---- cni.c: running the plugins ------------------------------------------------------------------ */
/* The first plugin dir holding every plugin, or -1 with a message naming the package to install. */
int netd_cni_pick_dir(char *buf, size_t size, struct kk_err *err);
enum netd_cni_cmd { NETD_CNI_ADD, NETD_CNI_CHECK, NETD_CNI_DEL };
/* Run the conflist's chain for the cell as libcni would: ADD in order, each plugin getting the one
 * before's result as prevResult; CHECK and DEL with prev (the recorded ADD result, may be NULL for
 * DEL), DEL in reverse order. netns may be "" for DEL (the namespace is gone). ADD returns the
 * final result (a new reference) in *result. */
int netd_cni_run(struct netd_ctx *c, enum netd_cni_cmd cmd, const json_t *conflist, const char *container_id,
                 const char *netns, const json_t *prev, json_t **result, struct kk_err *err);
/* Run a program under netd's runner: stdin_data in, stdout into a new buffer (cut at
 * NETD_PLUGIN_OUTPUT_MAX), stderr into errbuf, *code its exit code (124: killed at the deadline,
 * 125: killed by a signal, 127: could not start). -1 only when it could not be run at all. */
int netd_run_program(struct netd_ctx *c, const char *path, char *const argv[], char *const envp[],
                     const char *stdin_data, char **stdout_data, char *errbuf, size_t errsize, int *code,
                     struct kk_err *err);
/* Reap children that ended and that nobody waits for (see netd_acquire's subreaper). */
void netd_reap_strays(void);
/* Run one plugin binary (exposed for tests). */
int netd_cni_exec(struct netd_ctx *c, const char *plugin, const char *command, const char *container_id,
                  const char *netns, const char *ifname, const char *stdin_data, char **stdout_data,
                  struct kk_err *err);
/* The cell's address, gateway and MAC from a CNI result for eth0. */
struct netd_cni_addr {
    char address[NETD_CIDR_SIZE];
    char gateway[NETD_IP_SIZE];
    char mac[NETD_MAC_SIZE];
    char host_veth[16];
};
int netd_cni_result_parse(const json_t *result, const char *netns, struct netd_cni_addr *out,
                          struct kk_err *err);
/* Replace the host veth's name in a result (after netd renamed it). */
int netd_cni_result_rename_host(json_t *result, const char *from, const char *to, struct kk_err *err);
/* Remove host-local reservations of container_id under the space's IPAM dir (ipam_dir in at: what a
 * DEL that never ran left behind). Returns how many were removed. */
int netd_ipam_purge(const struct netd_dir *at, const char *ipam_dir, const char *network,
                    const char *container_id, struct kk_err *err);
/* How many addresses host-local holds for the network. */
int netd_ipam_count(const struct netd_dir *at, const char *ipam_dir, const char *network, struct kk_err *err);

/* ---- fw.c: KUKEON-FORWARD ----------------------------------------------------------------------- */
/* The first iptables binary found ("" when none). */
void netd_fw_pick_iptables(char *buf, size_t size);
/* Create the chain and its rules and the jump from FORWARD, each only when missing. 1 when something
 * was added, 0 when all was in place; iptables missing is reported as an error the caller may
 * downgrade to a warning. */
int netd_fw_ensure(struct netd_ctx *c, struct kk_err *err);
/* Run iptables with argv (after the program name); exit status, or -1 when it could not run. */
int netd_fw_iptables(struct netd_ctx *c, const char *const *args, struct kk_err *err);

/* ---- ops.c: the operations behind the requests --------------------------------------------------- */
struct netd_cell_result {
    struct netd_cni_addr addr;
    char netns_path[KK_DERIVE_PATH_SIZE];
    bool reused;
};
int netd_op_network_ensure(struct netd_ctx *c, const struct kk_derived *d, struct netd_network_info *info,
                           struct kk_err *err);
int netd_op_network_delete(struct netd_ctx *c, const struct kk_derived *d, bool *existed, struct kk_err *err);
int netd_op_cell_attach(struct netd_ctx *c, const struct kk_derived *d, struct netd_cell_result *out,
                        struct kk_err *err);
int netd_op_cell_check(struct netd_ctx *c, const struct kk_derived *d, struct netd_cell_result *out,
                       struct kk_err *err);
int netd_op_cell_delete(struct netd_ctx *c, const struct kk_derived *d, bool *existed, struct kk_err *err);
/* STATUS: links of the cell's namespace (a new JSON array). */
int netd_op_cell_status(struct netd_ctx *c, const struct kk_derived *d, struct netd_cell_result *out,
                        json_t **links, struct kk_err *err);

/* Set up the context from the configuration (no system state touched): used by main's acquire and
 * by unit tests. Refuses a netdStateDir that is "/" or overlaps the run path or the CNI conf dir. */
int netd_ctx_init(struct netd_ctx *c, const struct kk_config *cfg, struct kk_err *err);
/* Everything acquire does before the sandbox: netns dir, host identity, netlink socket, the state
 * directory, plugin dir and iptables found. */
int netd_acquire(struct netd_ctx *c, struct kk_err *err);

#endif
