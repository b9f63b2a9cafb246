/* kuke-netd's dispatch table and request handlers: validate the names, derive every host name with
 * common/derive.h, record the validated names for the audit line, run the operation, and answer.
 * A refusal (a bad name, a pin that is the host's namespace, a link netd did not make) is DENIED
 * with its reason and changes nothing; the serve loop writes the audit line of every decision. */
#include "kuke-netd/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/netd_client.h"

/* ---- context ---------------------------------------------------------------------------------- */

/* Whether path is dir or lies beneath it, trailing slashes aside. */
static bool path_within(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (strncmp(path, dir, n) != 0)
        return false;
    const char *rest = path + n;
    while (*rest == '/')
        rest++;
    return *rest == '\0' || path[n] == '/' || (n == 1 && dir[0] == '/');
}

/* netd's records must be its own: not in the run path (the API worker's, as user kukeon) nor in
 * the CNI conf dir (which other tools read and write), nor holding either. */
static int state_dir_check(const struct kk_config *cfg, struct kk_err *err)
{
    static const char *const hint = "configure a directory of root's of its own, such as the default "
                                    "/var/lib/kukeon/netd";
    const char *s = cfg->netd_state_dir;
    if (s[0] != '/' || path_within("/", s))
        return kk_error(err, KK_ERR_INVALID, 0,
                        "netdStateDir \"%s\" must be an absolute path other than /: %s", s, hint);
    if (path_within(s, cfg->run_path) || path_within(cfg->run_path, s))
        return kk_error(err, KK_ERR_INVALID, 0,
                        "netdStateDir %s overlaps runPath %s, which the API worker owns and kuke-netd must "
                        "not write: %s",
                        s, cfg->run_path, hint);
    if (path_within(s, cfg->cni_conf_dir) || path_within(cfg->cni_conf_dir, s))
        return kk_error(err, KK_ERR_INVALID, 0, "netdStateDir %s overlaps cniConfDir %s: %s", s,
                        cfg->cni_conf_dir, hint);
    return 0;
}

int netd_ctx_init(struct netd_ctx *c, const struct kk_config *cfg, struct kk_err *err)
{
    memset(c, 0, sizeof(*c));
    c->cfg = *cfg;
    c->state.fd = -1;
    c->state.shown = c->cfg.netd_state_dir;
    c->abs.fd = AT_FDCWD;
    c->abs.shown = "";
    c->host_netns_fd = -1;
    c->netns_dir_fd = -1;
    c->plugin_timeout_s = NETD_PLUGIN_TIMEOUT_S;
    c->dcfg.ns_suffix = c->cfg.ns_suffix;
    c->dcfg.cgroup_root = c->cfg.cgroup_root;
    c->dcfg.run_path = c->cfg.run_path;
    c->dcfg.netns_dir = NULL; /* /run/netns: where `ip netns` looks */
    if (kk_derive_config_check(&c->dcfg, err) < 0)
        return -1;
    if (c->cfg.cni_conf_dir[0] != '/')
        return kk_error(err, KK_ERR_INVALID, 0, "cniConfDir \"%s\" must be an absolute path",
                        c->cfg.cni_conf_dir);
    if (state_dir_check(&c->cfg, err) < 0)
        return -1;
    return netd_pod_subnet_check(c->cfg.pod_subnet_cidr, &c->pod, err);
}

int netd_acquire(struct netd_ctx *c, struct kk_err *err)
{
    /* The state directory last, so netd's descriptors keep the order docs/netd.md lists: it is made
     * and proven root's here, as full root, and held open; the sandbox then needs no mkdir above it. */
    netd_alias_instance(c->cfg.netd_state_dir);
    if (netd_netns_init(c, err) < 0 || netd_nl_open(&c->nl, err) < 0 || netd_state_open(c, err) < 0)
        return -1;
    /* A plugin past its deadline dies with its runner (PR_SET_PDEATHSIG); as netd's orphan rather
     * than init's it is reaped here, not left a zombie on hosts whose init does not reap. Set before
     * the sandbox: the filter allows no other prctl. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "becoming the subreaper of the CNI plugins");
    struct kk_err perr;
    if (netd_cni_pick_dir(c->plugin_dir, sizeof(c->plugin_dir), &perr) < 0)
        kk_warn("%s; cells cannot be attached until then", perr.msg);
    netd_fw_pick_iptables(c->iptables, sizeof(c->iptables));
    return 0;
}

/* KUKEON-FORWARD is re-asserted by every netd process before its first network change (and on
 * every FORWARD_ENSURE, which the reconcile loop sends at start and on each tick), not in acquire:
 * iptables then runs inside the sandbox rather than as full root, and a netd that only ever answers
 * HELLO and STATUS leaves the host's rules alone. A host without iptables is warned about, not
 * refused: cells still reach each other over their bridge. */
static void fw_once(struct kk_ipc_request *req, struct netd_ctx *c)
{
    if (c->fw_asserted)
        return;
    struct kk_err ferr;
    int rc = netd_fw_ensure(c, &ferr);
    if (rc < 0) {
        kk_warn("KUKEON-FORWARD not asserted: %s", ferr.msg);
        kk_ipc_audit_name(req, "forward", "failed");
        return;
    }
    c->fw_asserted = true;
    kk_ipc_audit_name(req, "forward", rc > 0 ? "added" : "in-place");
}

/* ---- handlers ----------------------------------------------------------------------------------- */

/* Validate and derive; a bad name is DENIED (invalid-name) with derive's message. The names are
 * audited only once valid. */
static int take_names(struct kk_ipc_request *req, struct netd_ctx *c, const struct kk_derive_names *names,
                      struct kk_derived *d, struct kk_err *err)
{
    struct kk_err derr;
    if (kk_derive(names, &c->dcfg, d, &derr) < 0)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_NAME, "%s", derr.msg);
    kk_ipc_audit_name(req, "realm", d->realm);
    kk_ipc_audit_name(req, "space", d->space);
    if (d->depth >= KK_NAME_CELL) {
        kk_ipc_audit_name(req, "stack", d->stack);
        kk_ipc_audit_name(req, "cell", d->cell);
        kk_ipc_audit_name(req, "netns", d->netns_name);
    } else {
        kk_ipc_audit_name(req, "bridge", d->bridge_name);
    }
    return 0;
}

/* An operation's failure: DENIED with netd's reason, or the error as it is. */
static int op_failed(struct kk_ipc_request *req, struct netd_ctx *c, struct kk_err *err)
{
    if (err->kind != KK_ERR_DENIED)
        return -1;
    char msg[KK_ERR_MSG_MAX];
    kk_strlcpy(msg, err->msg, sizeof(msg));
    enum kk_ipc_deny_reason reason = c->deny_reason > 0 && c->deny_reason < KK_IPC_DENY_REASON_COUNT
                                         ? (enum kk_ipc_deny_reason)c->deny_reason
                                         : KK_IPC_DENY_STATE;
    return kk_ipc_deny(req, err, reason, "%s", msg);
}

/* Every space and cell request carries exactly the levels its type needs: none missing (derive
 * says which), none extra. */
static int space_names(struct kk_ipc_request *req, struct netd_ctx *c, const ProtobufCMessage *msg,
                       struct kk_derived *d, struct kk_err *err)
{
    const Kukeon__Ipc__NetdSpace *m = (const Kukeon__Ipc__NetdSpace *)msg;
    if (m->space == NULL || m->space[0] == '\0')
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_NAME, "space name is required");
    struct kk_derive_names names = {.realm = m->realm, .space = m->space};
    return take_names(req, c, &names, d, err);
}

static int cell_names(struct kk_ipc_request *req, struct netd_ctx *c, const ProtobufCMessage *msg,
                      struct kk_derived *d, struct kk_err *err)
{
    const Kukeon__Ipc__NetdCell *m = (const Kukeon__Ipc__NetdCell *)msg;
    if (m->cell == NULL || m->cell[0] == '\0')
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_NAME, "cell name is required");
    struct kk_derive_names names = {.realm = m->realm, .space = m->space, .stack = m->stack, .cell = m->cell};
    return take_names(req, c, &names, d, err);
}

static int handle_network_ensure(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                                 struct kk_err *err)
{
    struct netd_ctx *c = ctx;
    struct kk_derived d;
    if (space_names(req, c, msg, &d, err) < 0)
        return -1;
    fw_once(req, c);
    struct netd_network_info info;
    if (netd_op_network_ensure(c, &d, &info, err) < 0)
        return op_failed(req, c, err);
    struct netd_space_paths p;
    if (netd_space_paths(c, &d, &p, err) < 0)
        return -1;
    char subnet[NETD_CIDR_SIZE], gateway[NETD_IP_SIZE];
    netd_format_cidr4(&info.subnet, subnet, sizeof(subnet));
    netd_format_ip4(info.subnet.addr + 1, gateway, sizeof(gateway));
    kk_ipc_audit_name(req, "subnet", subnet);
    Kukeon__Ipc__NetdNetworkReply r = KUKEON__IPC__NETD_NETWORK_REPLY__INIT;
    r.network = d.network_name;
    r.bridge = d.bridge_name;
    r.subnet = subnet;
    r.gateway = gateway;
    r.conflist_path = p.conflist;
    /* The text goes back with the reply: the API worker keeps the run-path copy and may not be able
     * to read cniConfDir itself. */
    _cleanup_free_ char *conf_text = NULL;
    int rr = netd_read_file(&c->abs, p.conflist, 8000, &conf_text, NULL, err);
    if (rr < 0)
        return op_failed(req, c, err);
    if (rr == 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "conflist %s vanished right after it was written", p.conflist);
    r.conflist = conf_text;
    r.created = info.created;
    r.regenerated = info.regenerated;
    return kk_ipc_reply(req, &r.base, -1, err);
}

static int handle_network_delete(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                                 struct kk_err *err)
{
    struct netd_ctx *c = ctx;
    struct kk_derived d;
    if (space_names(req, c, msg, &d, err) < 0)
        return -1;
    bool existed;
    if (netd_op_network_delete(c, &d, &existed, err) < 0)
        return op_failed(req, c, err);
    Kukeon__Ipc__NetdNetworkReply r = KUKEON__IPC__NETD_NETWORK_REPLY__INIT;
    r.network = d.network_name;
    r.bridge = d.bridge_name;
    r.existed = existed;
    return kk_ipc_reply(req, &r.base, -1, err);
}

static int reply_cell(struct kk_ipc_request *req, const struct netd_cell_result *res, json_t *links,
                      struct kk_err *err)
{
    Kukeon__Ipc__NetdCellReply r = KUKEON__IPC__NETD_CELL_REPLY__INIT;
    r.netns_path = (char *)res->netns_path;
    r.interface = res->addr.address[0] != '\0' ? NETD_IFNAME : "";
    r.address = (char *)res->addr.address;
    r.gateway = (char *)res->addr.gateway;
    r.mac = (char *)res->addr.mac;
    r.host_veth = (char *)res->addr.host_veth;
    r.reused = res->reused;
    size_t n = json_array_size(links);
    if (n > KK_NETD_LINKS_MAX)
        n = KK_NETD_LINKS_MAX;
    Kukeon__Ipc__NetdLink lk[KK_NETD_LINKS_MAX];
    Kukeon__Ipc__NetdLink *lp[KK_NETD_LINKS_MAX];
    char *addrs[KK_NETD_LINKS_MAX][KK_NETD_ADDRS_MAX];
    for (size_t i = 0; i < n; i++) {
        const json_t *l = json_array_get(links, i);
        kukeon__ipc__netd_link__init(&lk[i]);
        lk[i].name = (char *)json_string_value(json_object_get(l, "name"));
        lk[i].mac = (char *)json_string_value(json_object_get(l, "mac"));
        lk[i].up = json_is_true(json_object_get(l, "up"));
        const json_t *a = json_object_get(l, "addresses");
        size_t na = json_array_size(a);
        if (na > KK_NETD_ADDRS_MAX)
            na = KK_NETD_ADDRS_MAX;
        for (size_t k = 0; k < na; k++)
            addrs[i][k] = (char *)json_string_value(json_array_get(a, k));
        lk[i].n_addresses = na;
        lk[i].addresses = addrs[i];
        lp[i] = &lk[i];
    }
    r.n_links = n;
    r.links = lp;
    return kk_ipc_reply(req, &r.base, -1, err);
}

enum cell_op { CELL_ATTACH, CELL_CHECK, CELL_STATUS, CELL_DELETE };

/* Every cell request: the names, the operation, its audit names and the reply. */
static int handle_cell(struct kk_ipc_request *req, const ProtobufCMessage *msg, struct netd_ctx *c,
                       enum cell_op op, struct kk_err *err)
{
    struct kk_derived d;
    if (cell_names(req, c, msg, &d, err) < 0)
        return -1;
    struct netd_cell_result res;
    json_t *links = NULL;
    bool existed = false;
    int rc;
    switch (op) {
    case CELL_ATTACH:
        fw_once(req, c);
        rc = netd_op_cell_attach(c, &d, &res, err);
        break;
    case CELL_CHECK:
        rc = netd_op_cell_check(c, &d, &res, err);
        break;
    case CELL_STATUS:
        rc = netd_op_cell_status(c, &d, &res, &links, err);
        break;
    default: /* CELL_DELETE */
        rc = netd_op_cell_delete(c, &d, &existed, err);
        break;
    }
    if (rc < 0)
        return op_failed(req, c, err);
    if (op == CELL_DELETE) {
        kk_ipc_audit_name(req, "existed", existed ? "yes" : "no");
        Kukeon__Ipc__NetdCellDeleteReply r = KUKEON__IPC__NETD_CELL_DELETE_REPLY__INIT;
        r.existed = existed;
        return kk_ipc_reply(req, &r.base, -1, err);
    }
    if (op != CELL_STATUS)
        kk_ipc_audit_name(req, "address", res.addr.address);
    if (op == CELL_ATTACH)
        kk_ipc_audit_name(req, "veth", res.addr.host_veth);
    rc = reply_cell(req, &res, links, err);
    json_decref(links);
    return rc;
}

static int handle_cell_attach(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                              struct kk_err *err)
{
    return handle_cell(req, msg, ctx, CELL_ATTACH, err);
}

static int handle_cell_check(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                             struct kk_err *err)
{
    return handle_cell(req, msg, ctx, CELL_CHECK, err);
}

static int handle_cell_status(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                              struct kk_err *err)
{
    return handle_cell(req, msg, ctx, CELL_STATUS, err);
}

static int handle_cell_delete(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                              struct kk_err *err)
{
    return handle_cell(req, msg, ctx, CELL_DELETE, err);
}

static int handle_forward_ensure(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                                 struct kk_err *err)
{
    struct netd_ctx *c = ctx;
    int rc = netd_fw_ensure(c, err);
    if (rc < 0)
        return -1;
    c->fw_asserted = true;
    kk_ipc_audit_name(req, "chain", "KUKEON-FORWARD");
    kk_ipc_audit_name(req, "changed", rc > 0 ? "yes" : "no");
    return 0;
}

static int handle_gc(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx, struct kk_err *err)
{
    struct netd_ctx *c = ctx;
    json_t *removed = json_array();
    if (removed == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "gc");
    if (netd_link_gc(c, removed, err) < 0) {
        json_decref(removed);
        return -1;
    }
    size_t n = json_array_size(removed);
    char *names[64];
    if (n > KK_ARRAY_SIZE(names))
        n = KK_ARRAY_SIZE(names);
    for (size_t i = 0; i < n; i++) {
        names[i] = (char *)json_string_value(json_array_get(removed, i));
        kk_ipc_audit_name(req, "removed", names[i]);
    }
    Kukeon__Ipc__NetdGcReply r = KUKEON__IPC__NETD_GC_REPLY__INIT;
    r.n_removed = n;
    r.removed = names;
    int rc = kk_ipc_reply(req, &r.base, -1, err);
    json_decref(removed);
    return rc;
}

const struct kk_ipc_dispatch netd_table[] = {
    {KK_NETD_NETWORK_ENSURE, "network.ensure", KK_IPC_PERMIT, false, &kukeon__ipc__netd_space__descriptor,
     handle_network_ensure},
    {KK_NETD_NETWORK_DELETE, "network.delete", KK_IPC_PERMIT, false, &kukeon__ipc__netd_space__descriptor,
     handle_network_delete},
    {KK_NETD_CELL_ATTACH, "cell.attach", KK_IPC_PERMIT, false, &kukeon__ipc__netd_cell__descriptor,
     handle_cell_attach},
    {KK_NETD_CELL_CHECK, "cell.check", KK_IPC_PERMIT, false, &kukeon__ipc__netd_cell__descriptor,
     handle_cell_check},
    {KK_NETD_CELL_DELETE, "cell.delete", KK_IPC_PERMIT, false, &kukeon__ipc__netd_cell__descriptor,
     handle_cell_delete},
    {KK_NETD_CELL_STATUS, "cell.status", KK_IPC_PERMIT, false, &kukeon__ipc__netd_cell__descriptor,
     handle_cell_status},
    {KK_NETD_FORWARD_ENSURE, "forward.ensure", KK_IPC_PERMIT, false, &kukeon__ipc__netd_empty__descriptor,
     handle_forward_ensure},
    {KK_NETD_GC, "gc", KK_IPC_PERMIT, false, &kukeon__ipc__netd_empty__descriptor, handle_gc},
};
const size_t netd_table_size = KK_ARRAY_SIZE(netd_table);

int netd_status(struct kk_ipc_status_details *d, void *ctx, struct kk_err *err)
{
    struct netd_ctx *c = ctx;
    char pod[NETD_CIDR_SIZE];
    netd_format_cidr4(&c->pod, pod, sizeof(pod));
    if (kk_ipc_status_add(d, "cni_plugin_dir", c->plugin_dir[0] ? c->plugin_dir : "(none)", err) < 0 ||
        kk_ipc_status_add(d, "cni_conf_dir", c->cfg.cni_conf_dir, err) < 0 ||
        kk_ipc_status_add(d, "state_dir", c->cfg.netd_state_dir, err) < 0 ||
        kk_ipc_status_add(d, "netns_dir", KK_DERIVE_NETNS_DIR_DEFAULT, err) < 0 ||
        kk_ipc_status_add(d, "pod_subnet", pod, err) < 0 ||
        kk_ipc_status_add(d, "iptables", c->iptables[0] ? c->iptables : "(none)", err) < 0)
        return -1;
    return 0;
}
