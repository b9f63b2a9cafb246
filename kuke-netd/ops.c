/* The operations behind netd's requests. Each step is idempotent and recorded before it acts
 * (DESIGN.md section 4): a cell's record is written before CNI ADD and completed with the result
 * after, so a netd killed at any point is healed by the next request for the same cell: a complete
 * record that passes CNI CHECK is reported as it is, anything else is deleted (CNI DEL, stale IPAM
 * reservations) and made again. One address per cell, never two. */
#include "kuke-netd/netd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/frame.h"

#define NETD_RECORD_MAX (64u * 1024u)

/* The space-level derivation of a cell's names (its space's files live at the space's level). */
static int space_of(struct netd_ctx *c, const struct kk_derived *d, struct kk_derived *ds,
                    struct netd_space_paths *p, struct kk_err *err)
{
    struct kk_derive_names names = {.realm = d->realm, .space = d->space};
    if (kk_derive(&names, &c->dcfg, ds, err) < 0)
        return -1;
    return p != NULL ? netd_space_paths(c, ds, p, err) : 0;
}

static int record_path(const struct netd_space_paths *p, const struct kk_derived *d, char *buf, size_t size,
                       struct kk_err *err)
{
    return kk_snprintf(buf, size, err, "cell record", "%s/%s.json", p->cells_dir, d->netns_name);
}

/* A cell's record: 1 and *out (a new reference) when there is one. */
static int record_read(struct netd_ctx *c, const struct netd_space_paths *p, const struct kk_derived *d,
                       json_t **out, struct kk_err *err)
{
    *out = NULL;
    char path[KK_DERIVE_PATH_SIZE];
    if (record_path(p, d, path, sizeof(path), err) < 0)
        return -1;
    _cleanup_free_ char *text = NULL;
    int rc = netd_read_file(&c->state, path, NETD_RECORD_MAX, &text, NULL, err);
    if (rc <= 0)
        return rc;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    const char *cell = json_string_value(json_object_get(j, "cell"));
    const char *stack = json_string_value(json_object_get(j, "stack"));
    if (j == NULL || cell == NULL || stack == NULL || strcmp(cell, d->cell) != 0 ||
        strcmp(stack, d->stack) != 0) {
        /* Not this cell's (a hash collision, or a torn file): treated as no result, so the cell
         * is attached afresh and the record rewritten. */
        char shown[KK_DERIVE_PATH_SIZE + 300];
        kk_warn("cell record %s does not describe cell %s/%s/%s/%s; replacing it",
                netd_path_shown(&c->state, path, shown, sizeof(shown)), d->realm, d->space, d->stack,
                d->cell);
        json_decref(j);
        return 0;
    }
    *out = j;
    return 1;
}

static int record_write(struct netd_ctx *c, const struct netd_space_paths *p, const struct kk_derived *d,
                        const json_t *result, const char *host_veth, struct kk_err *err)
{
    char path[KK_DERIVE_PATH_SIZE];
    if (record_path(p, d, path, sizeof(path), err) < 0)
        return -1;
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "realm", d->realm, "space", d->space,
                          "stack", d->stack, "cell", d->cell, "containerId", d->ctrd_root_id, "netns",
                          d->netns_path, "hostVeth", host_veth != NULL ? host_veth : "");
    if (j == NULL || (result != NULL && json_object_set(j, "result", (json_t *)result) < 0)) {
        json_decref(j);
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "building cell record %s", path);
    }
    char *text = netd_json_text(j, err);
    json_decref(j);
    if (text == NULL)
        return -1;
    int rc = netd_write_file_atomic(&c->state, path, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

/* CNI DEL, tried a second time when the first fails. DEL may be repeated (the CNI spec), and one
 * failure heals itself: an ADD killed after the bridge plugin gave eth0 its address but before it
 * made the masquerade chain leaves a cell whose DEL removes eth0 and the lease and then fails to
 * remove the POSTROUTING rule that jumps to the missing chain (with iptables-nft that is exit 2,
 * "Chain ... does not exist", which the plugin's not-exist check, written for exit 1, does not
 * recognize). The second DEL finds no eth0, so there is no masquerade to tear down, and succeeds.
 * A failure that is not of that kind fails twice and is reported. */
static int cni_del(struct netd_ctx *c, const json_t *conf, const struct kk_derived *d, const char *netns,
                   const json_t *prev, struct kk_err *err)
{
    struct kk_err first = {0};
    if (netd_cni_run(c, NETD_CNI_DEL, conf, d->ctrd_root_id, netns, prev, NULL, &first) == 0)
        return 0;
    kk_warn("cell %s/%s/%s/%s: CNI DEL failed (%s); trying it again", d->realm, d->space, d->stack, d->cell,
            first.msg);
    return netd_cni_run(c, NETD_CNI_DEL, conf, d->ctrd_root_id, netns, prev, NULL, err);
}

/* The space's subnet, or KK_ERR_NOT_FOUND naming the fix. */
static int require_subnet(struct netd_ctx *c, const struct kk_derived *ds, const struct netd_space_paths *p,
                          struct netd_ipv4_net *subnet, struct kk_err *err)
{
    int rc = netd_space_read_subnet(c, p, subnet, err);
    if (rc < 0)
        return -1;
    char shown[KK_DERIVE_PATH_SIZE + 300];
    if (rc == 0)
        return kk_error(err, KK_ERR_NOT_FOUND, 0,
                        "space %s/%s has no network (no %s): create the space's network first", ds->realm,
                        ds->space, netd_path_shown(&c->state, p->network_json, shown, sizeof(shown)));
    return 0;
}

/* ---- spaces ----------------------------------------------------------------------------------- */

int netd_op_network_ensure(struct netd_ctx *c, const struct kk_derived *d, struct netd_network_info *info,
                           struct kk_err *err)
{
    /* A foreign link under the bridge's name is refused before anything is written. */
    if (netd_bridge_check_owned(c, d, NULL, err) < 0)
        return -1;
    if (netd_space_ensure_files(c, d, info, err) < 0)
        return -1;
    return netd_bridge_ensure(c, d, err) < 0 ? -1 : 0;
}

int netd_op_network_delete(struct netd_ctx *c, const struct kk_derived *d, bool *existed, struct kk_err *err)
{
    *existed = false;
    struct netd_space_paths p;
    if (netd_space_paths(c, d, &p, err) < 0)
        return -1;
    struct netd_link_info br;
    int have_bridge = netd_bridge_check_owned(c, d, &br, err);
    if (have_bridge < 0)
        return -1;
    int cells = netd_space_count_cells(c, &p, err);
    if (cells < 0)
        return -1;
    if (cells > 0)
        return netd_deny(
            c, err, KK_IPC_DENY_STATE,
            "space %s/%s still has %d cell%s attached to its network: delete the cells' networks first",
            d->realm, d->space, cells, cells == 1 ? "" : "s");
    if (have_bridge > 0 && br.ports > 0) {
        /* Ports without a cell record are host veths netd marked for cells that are gone: remove
         * them (gc), then count again; whatever is left is not netd's to pull off the bridge. */
        if (netd_link_gc(c, NULL, err) < 0 || (have_bridge = netd_bridge_check_owned(c, d, &br, err)) < 0)
            return -1;
    }
    if (have_bridge > 0 && br.ports > 0)
        return netd_deny(c, err, KK_IPC_DENY_STATE,
                         "bridge %s of space %s/%s still has %u port%s: delete the cells' networks first",
                         d->bridge_name, d->realm, d->space, br.ports, br.ports == 1 ? "" : "s");
    if (have_bridge > 0) {
        if (netd_link_delete(c->nl, d->bridge_name, err) < 0)
            return -1;
        *existed = true;
    }
    int rc = netd_space_remove_files(c, d, err);
    if (rc < 0)
        return -1;
    *existed = *existed || rc > 0;
    return 0;
}

/* ---- cells ------------------------------------------------------------------------------------ */

static int fill_result(const struct kk_derived *d, const json_t *result, struct netd_cell_result *out,
                       struct kk_err *err)
{
    if (netd_cni_result_parse(result, d->netns_path, &out->addr, err) < 0)
        return -1;
    return kk_strlcpy(out->netns_path, d->netns_path, sizeof(out->netns_path)) < 0
               ? kk_error(err, KK_ERR_INTERNAL, 0, "netns path too long")
               : 0;
}

int netd_op_cell_attach(struct netd_ctx *c, const struct kk_derived *d, struct netd_cell_result *out,
                        struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    struct kk_derived ds;
    struct netd_space_paths p;
    struct netd_ipv4_net subnet;
    if (space_of(c, d, &ds, &p, err) < 0 || require_subnet(c, &ds, &p, &subnet, err) < 0)
        return -1;
    /* Refusals first, so that a refused request changes nothing. */
    if (netd_bridge_check_owned(c, &ds, NULL, err) < 0)
        return -1;
    int pinfd;
    int have_ns = netd_netns_open(c, d, &pinfd, err);
    if (have_ns < 0)
        return -1;
    if (have_ns > 0)
        close(pinfd);

    /* The space's conflists and bridge, repaired if someone removed or changed them. */
    struct netd_network_info info;
    if (netd_space_ensure_files(c, &ds, &info, err) < 0 || netd_bridge_ensure(c, &ds, err) < 0)
        return -1;
    if (info.regenerated)
        kk_info("rewrote the conflist of space %s/%s", ds.realm, ds.space);
    json_t *conf = netd_conflist_build(&ds, &subnet, p.ipam_dir, err);
    if (conf == NULL)
        return -1;
    int rc = -1;
    json_t *record = NULL, *result = NULL;
    char path[KK_DERIVE_PATH_SIZE];
    int record_file = 0;
    if (netd_netns_ensure(c, d, err) < 0 || record_read(c, &p, d, &record, err) < 0 ||
        record_path(&p, d, path, sizeof(path), err) < 0 ||
        (record_file = netd_exists(&c->state, path, err)) < 0)
        goto out;

    const json_t *old = json_object_get(record, "result");
    if (old != NULL) {
        /* Attached before (perhaps the caller never saw the answer): the same attachment again, if
         * it is still whole. */
        struct kk_err cerr = {0};
        if (netd_cni_run(c, NETD_CNI_CHECK, conf, d->ctrd_root_id, d->netns_path, old, NULL, &cerr) == 0 &&
            fill_result(d, old, out, &cerr) == 0) {
            out->reused = true;
            rc = 0;
            goto out;
        }
        kk_warn("cell %s/%s/%s/%s: the recorded attachment fails CNI CHECK (%s); attaching it again",
                d->realm, d->space, d->stack, d->cell, cerr.msg);
    }
    /* Intent first: a record without a result says "an ADD may have begun". */
    if (record_write(c, &p, d, NULL, NULL, err) < 0)
        goto out;
    /* Whatever an earlier, unfinished attach left: eth0, the masquerade rule, IPAM reservations.
     * Without a record file there is none: an ADD only runs once the record says it may have begun,
     * and a delete unlinks the record last. The DEL chain (a plugin exec each, iptables for the
     * masquerade) is then skipped; it was a third of a cold attach. */
    if (record_file > 0 && cni_del(c, conf, d, d->netns_path, old, err) < 0)
        goto out;
    int purged = netd_ipam_purge(&c->state, p.ipam_rel, ds.network_name, d->ctrd_root_id, err);
    if (purged < 0)
        goto out;
    if (purged > 0)
        kk_info("removed %d stale IPAM reservation%s of %s", purged, purged == 1 ? "" : "s", d->ctrd_root_id);

    if (netd_cni_run(c, NETD_CNI_ADD, conf, d->ctrd_root_id, d->netns_path, NULL, &result, err) < 0)
        goto out;
    struct netd_cni_addr addr;
    if (netd_cni_result_parse(result, d->netns_path, &addr, err) < 0 ||
        netd_veth_claim(c, d, addr.host_veth, err) < 0 ||
        netd_cni_result_rename_host(result, addr.host_veth, d->veth_host, err) < 0 ||
        record_write(c, &p, d, result, d->veth_host, err) < 0 || fill_result(d, result, out, err) < 0) {
        struct kk_err derr = {0};
        if (netd_cni_run(c, NETD_CNI_DEL, conf, d->ctrd_root_id, d->netns_path, result, NULL, &derr) < 0)
            kk_warn("rolling back the attach of cell %s: %s", d->cell, derr.msg);
        goto out;
    }
    rc = 0;
out:
    json_decref(result);
    json_decref(record);
    json_decref(conf);
    return rc;
}

int netd_op_cell_check(struct netd_ctx *c, const struct kk_derived *d, struct netd_cell_result *out,
                       struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    struct kk_derived ds;
    struct netd_space_paths p;
    struct netd_ipv4_net subnet;
    if (space_of(c, d, &ds, &p, err) < 0 || require_subnet(c, &ds, &p, &subnet, err) < 0)
        return -1;
    int pinfd;
    int have_ns = netd_netns_open(c, d, &pinfd, err);
    if (have_ns < 0)
        return -1;
    if (have_ns > 0)
        close(pinfd);
    json_t *record = NULL;
    if (record_read(c, &p, d, &record, err) < 0)
        return -1;
    const json_t *res = json_object_get(record, "result");
    if (have_ns == 0 || res == NULL) {
        json_decref(record);
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "cell %s/%s/%s/%s is not attached to its space's network",
                        d->realm, d->space, d->stack, d->cell);
    }
    json_t *conf = netd_conflist_build(&ds, &subnet, p.ipam_dir, err);
    int rc = conf == NULL
                 ? -1
                 : netd_cni_run(c, NETD_CNI_CHECK, conf, d->ctrd_root_id, d->netns_path, res, NULL, err);
    if (rc == 0)
        rc = fill_result(d, res, out, err);
    json_decref(conf);
    json_decref(record);
    return rc;
}

int netd_op_cell_delete(struct netd_ctx *c, const struct kk_derived *d, bool *existed, struct kk_err *err)
{
    *existed = false;
    struct kk_derived ds;
    struct netd_space_paths p;
    if (space_of(c, d, &ds, &p, err) < 0)
        return -1;
    int pinfd;
    int have_ns = netd_netns_open(c, d, &pinfd, err);
    if (have_ns < 0)
        return -1; /* a pin that is not netd's (the host's namespace, a link) is left alone */
    if (have_ns > 0)
        close(pinfd);
    json_t *record = NULL;
    int have_record = record_read(c, &p, d, &record, err);
    if (have_record < 0)
        return -1;
    char path[KK_DERIVE_PATH_SIZE];
    if (record_path(&p, d, path, sizeof(path), err) < 0) {
        json_decref(record);
        return -1;
    }
    int record_file = netd_exists(&c->state, path, err);
    if (record_file < 0) {
        json_decref(record);
        return -1;
    }
    struct netd_ipv4_net subnet;
    int have_net = netd_space_read_subnet(c, &p, &subnet, err);
    int rc = have_net < 0 ? -1 : 0;
    if (rc == 0 && have_net > 0 && record_file == 0) {
        /* Never attached, or detached already (the record goes last): no plugin has anything of
         * this cell's; only an IPAM reservation of another runtime's could be left, and purged. */
        rc = netd_ipam_purge(&c->state, p.ipam_rel, ds.network_name, d->ctrd_root_id, err) < 0 ? -1 : 0;
    } else if (rc == 0 && have_net > 0) {
        /* CNI DEL with what ADD recorded; with no namespace left, only IPAM is released (CNI_NETNS
         * empty is the protocol's way to say so). */
        json_t *conf = netd_conflist_build(&ds, &subnet, p.ipam_dir, err);
        rc = conf == NULL ? -1
                          : cni_del(c, conf, d, have_ns > 0 ? d->netns_path : "",
                                    json_object_get(record, "result"), err);
        json_decref(conf);
        if (rc == 0) {
            int purged = netd_ipam_purge(&c->state, p.ipam_rel, ds.network_name, d->ctrd_root_id, err);
            rc = purged < 0 ? -1 : 0;
        }
    }
    json_decref(record);
    if (rc < 0)
        return -1;
    /* The host veth normally went with eth0; one left (eth0 moved or renamed inside) is removed
     * when it carries this cell's mark. */
    struct netd_link_info veth;
    char alias[NETD_ALIAS_SIZE];
    int have_veth = netd_link_get(c->nl, d->veth_host, &veth, err);
    if (have_veth < 0 || netd_veth_alias(d, alias, sizeof(alias), err) < 0)
        return -1;
    if (have_veth > 0 && strcmp(veth.alias, alias) == 0 && netd_link_delete(c->nl, d->veth_host, err) < 0)
        return -1;
    if (have_ns > 0 && netd_netns_remove(c, d, err) < 0)
        return -1;
    if (record_file > 0 && netd_unlink(&c->state, path, err) < 0)
        return -1;
    *existed = have_ns > 0 || record_file > 0;
    return 0;
}

int netd_op_cell_status(struct netd_ctx *c, const struct kk_derived *d, struct netd_cell_result *out,
                        json_t **links, struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    *links = NULL;
    struct kk_derived ds;
    struct netd_space_paths p;
    if (space_of(c, d, &ds, &p, err) < 0)
        return -1;
    int pinfd;
    int have_ns = netd_netns_open(c, d, &pinfd, err);
    if (have_ns < 0)
        return -1;
    if (have_ns == 0)
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "cell %s/%s/%s/%s has no network namespace (%s)", d->realm,
                        d->space, d->stack, d->cell, d->netns_path);
    struct nl_sock *sk = NULL;
    int rc = netd_nl_socket_in(c, pinfd, &sk, err);
    close(pinfd);
    if (rc < 0)
        return -1;
    *links = netd_links_read(sk, err);
    netd_nl_close(sk);
    if (*links == NULL)
        return -1;
    json_t *record = NULL;
    if (record_read(c, &p, d, &record, err) < 0) {
        json_decref(*links);
        *links = NULL;
        return -1;
    }
    const json_t *res = json_object_get(record, "result");
    struct kk_err ignored;
    if (res == NULL || fill_result(d, res, out, &ignored) < 0)
        kk_strlcpy(out->netns_path, d->netns_path, sizeof(out->netns_path));
    json_decref(record);
    return 0;
}
