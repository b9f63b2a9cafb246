/* What netd does over netlink itself, with libnl-3: loopback up in a new namespace, the space's
 * bridge (made by netd and marked with an alias so it can later prove the bridge is its own), the
 * cell's host veth (renamed to its derived name and marked the same way), reading links and
 * addresses for status, and removing marked links that nothing uses any more. */
#include "kuke-netd/netd.h"

#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>

#include "common/log.h"
#include "common/names.h"
#include "common/util.h"
#include "ipc/frame.h"

int netd_nl_open(struct nl_sock **out, struct kk_err *err)
{
    *out = NULL;
    struct nl_sock *sk = nl_socket_alloc();
    if (sk == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "allocating a netlink socket");
    int rc = nl_connect(sk, NETLINK_ROUTE);
    if (rc < 0) {
        nl_socket_free(sk);
        return kk_error(err, KK_ERR_INTERNAL, 0, "opening a NETLINK_ROUTE socket: %s", nl_geterror(rc));
    }
    *out = sk;
    return 0;
}

void netd_nl_close(struct nl_sock *sk)
{
    if (sk != NULL)
        nl_socket_free(sk);
}

static void link_putp(struct rtnl_link **l)
{
    if (*l != NULL)
        rtnl_link_put(*l);
}
#define _cleanup_link_ __attribute__((cleanup(link_putp)))

int netd_link_set_up(struct nl_sock *sk, const char *name, struct kk_err *err)
{
    _cleanup_link_ struct rtnl_link *link = NULL;
    int rc = rtnl_link_get_kernel(sk, 0, name, &link);
    if (rc < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "finding link %s: %s", name, nl_geterror(rc));
    _cleanup_link_ struct rtnl_link *change = rtnl_link_alloc();
    if (change == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "setting %s up", name);
    rtnl_link_set_flags(change, IFF_UP);
    rc = rtnl_link_change(sk, link, change, 0);
    if (rc < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "setting link %s up: %s", name, nl_geterror(rc));
    return 0;
}

char netd_alias_prefix[32] = NETD_ALIAS_PREFIX;

void netd_alias_instance(const char *state_dir)
{
    if (strcmp(state_dir, "/var/lib/kukeon/netd") == 0)
        snprintf(netd_alias_prefix, sizeof(netd_alias_prefix), "%s", NETD_ALIAS_PREFIX);
    else
        snprintf(netd_alias_prefix, sizeof(netd_alias_prefix), "kukeon@%08x:",
                 (unsigned)kk_fnv1a32(state_dir, strlen(state_dir)));
}

int netd_bridge_alias(const struct kk_derived *d, char *buf, size_t size, struct kk_err *err)
{
    return kk_snprintf(buf, size, err, "bridge alias", "%s%s/%s", netd_alias_prefix, d->realm, d->space);
}

int netd_veth_alias(const struct kk_derived *d, char *buf, size_t size, struct kk_err *err)
{
    return kk_snprintf(buf, size, err, "veth alias", "%s%s/%s:%s", netd_alias_prefix, d->realm, d->space,
                       d->netns_name);
}

static void fill_info(struct rtnl_link *link, struct netd_link_info *info)
{
    memset(info, 0, sizeof(*info));
    info->ifindex = rtnl_link_get_ifindex(link);
    const char *kind = rtnl_link_get_type(link);
    kk_strlcpy(info->kind, kind != NULL ? kind : "", sizeof(info->kind));
    const char *alias = rtnl_link_get_ifalias(link);
    kk_strlcpy(info->alias, alias != NULL ? alias : "", sizeof(info->alias));
    struct nl_addr *mac = rtnl_link_get_addr(link);
    if (mac != NULL)
        nl_addr2str(mac, info->mac, sizeof(info->mac));
    info->up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
}

int netd_link_get(struct nl_sock *sk, const char *name, struct netd_link_info *info, struct kk_err *err)
{
    _cleanup_link_ struct rtnl_link *link = NULL;
    int rc = rtnl_link_get_kernel(sk, 0, name, &link);
    if (rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV)
        return 0;
    if (rc < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "reading link %s: %s", name, nl_geterror(rc));
    fill_info(link, info);
    /* Ports: the links whose master is this one. */
    struct nl_cache *cache = NULL;
    rc = rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache);
    if (rc < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "listing links: %s", nl_geterror(rc));
    for (struct nl_object *o = nl_cache_get_first(cache); o != NULL; o = nl_cache_get_next(o))
        if (rtnl_link_get_master((struct rtnl_link *)o) == info->ifindex)
            info->ports++;
    nl_cache_free(cache);
    return 1;
}

int netd_bridge_check_owned(struct netd_ctx *c, const struct kk_derived *d, struct netd_link_info *info,
                            struct kk_err *err)
{
    struct netd_link_info local;
    if (info == NULL)
        info = &local;
    int rc = netd_link_get(c->nl, d->bridge_name, info, err);
    if (rc <= 0)
        return rc;
    char alias[NETD_ALIAS_SIZE];
    if (netd_bridge_alias(d, alias, sizeof(alias), err) < 0)
        return -1;
    if (strcmp(info->kind, "bridge") != 0 || strcmp(info->alias, alias) != 0) {
        /* Kind and alias are whatever whoever made the link set: escaped before they are quoted. */
        char kind[4 * sizeof(info->kind)], shown[128];
        kk_log_escape(info->kind, kind, sizeof(kind));
        kk_log_escape(info->alias, shown, sizeof(shown));
        return netd_deny(
            c, err, KK_IPC_DENY_NOT_OWNED,
            "interface %s (kind \"%s\", alias \"%s\") is in the way of space %s/%s's bridge and was "
            "not made by kuke-netd: netd leaves it alone; remove it if it is stale",
            d->bridge_name, kind, shown, d->realm, d->space);
    }
    return 1;
}

int netd_bridge_ensure(struct netd_ctx *c, const struct kk_derived *d, struct kk_err *err)
{
    int rc = netd_bridge_check_owned(c, d, NULL, err);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    char alias[NETD_ALIAS_SIZE];
    if (netd_bridge_alias(d, alias, sizeof(alias), err) < 0)
        return -1;
    /* netd makes the bridge before the bridge plugin would, so that it is marked as netd's from the
     * start (the plugin uses a bridge that exists). The kernel ignores an alias in the request that
     * creates a link, so the mark is a second change. */
    _cleanup_link_ struct rtnl_link *br = rtnl_link_bridge_alloc();
    if (br == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "allocating bridge %s", d->bridge_name);
    rtnl_link_set_name(br, d->bridge_name);
    rc = rtnl_link_add(c->nl, br, NLM_F_CREATE | NLM_F_EXCL);
    if (rc < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "creating bridge %s of space %s/%s: %s", d->bridge_name,
                        d->realm, d->space, nl_geterror(rc));
    _cleanup_link_ struct rtnl_link *made = NULL;
    _cleanup_link_ struct rtnl_link *change = rtnl_link_alloc();
    rc = rtnl_link_get_kernel(c->nl, 0, d->bridge_name, &made);
    if (rc >= 0 && change != NULL) {
        rtnl_link_set_ifalias(change, alias);
        rtnl_link_set_flags(change, IFF_UP);
        rc = rtnl_link_change(c->nl, made, change, 0);
    }
    if (rc < 0 || change == NULL) {
        netd_link_delete(c->nl, d->bridge_name, NULL);
        return kk_error(err, KK_ERR_INTERNAL, 0, "marking bridge %s of space %s/%s: %s", d->bridge_name,
                        d->realm, d->space, rc < 0 ? nl_geterror(rc) : "out of memory");
    }
    return 1;
}

int netd_link_delete(struct nl_sock *sk, const char *name, struct kk_err *err)
{
    _cleanup_link_ struct rtnl_link *link = rtnl_link_alloc();
    if (link == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "deleting %s", name);
    rtnl_link_set_name(link, name);
    int rc = rtnl_link_delete(sk, link);
    if (rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV)
        return 0;
    if (rc < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "deleting link %s: %s", name, nl_geterror(rc));
    return 1;
}

int netd_veth_claim(struct netd_ctx *c, const struct kk_derived *d, const char *current, struct kk_err *err)
{
    char alias[NETD_ALIAS_SIZE];
    if (netd_veth_alias(d, alias, sizeof(alias), err) < 0)
        return -1;
    if (strcmp(current, d->veth_host) != 0) {
        /* A link already holding the derived name is a leftover of this same cell (the name is the
         * cell's hash) when it carries the cell's mark; anything else is not netd's to remove. */
        struct netd_link_info old;
        int rc = netd_link_get(c->nl, d->veth_host, &old, err);
        if (rc < 0)
            return -1;
        if (rc > 0) {
            if (strcmp(old.alias, alias) != 0)
                return netd_deny(c, err, KK_IPC_DENY_NOT_OWNED,
                                 "interface %s, the host veth name of cell %s, exists and was not made by "
                                 "kuke-netd: remove it",
                                 d->veth_host, d->cell);
            if (netd_link_delete(c->nl, d->veth_host, err) < 0)
                return -1;
        }
    }
    _cleanup_link_ struct rtnl_link *link = NULL;
    int rc = rtnl_link_get_kernel(c->nl, 0, current, &link);
    if (rc < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "finding host veth %s of cell %s: %s", current, d->cell,
                        nl_geterror(rc));
    _cleanup_link_ struct rtnl_link *change = rtnl_link_alloc();
    if (change == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "renaming %s", current);
    if (strcmp(current, d->veth_host) != 0)
        rtnl_link_set_name(change, d->veth_host);
    rtnl_link_set_ifalias(change, alias);
    rc = rtnl_link_change(c->nl, link, change, 0);
    if (rc == -NLE_BUSY) {
        /* Kernels that refuse to rename a link that is up: down, rename, up. */
        _cleanup_link_ struct rtnl_link *down = rtnl_link_alloc();
        if (down == NULL)
            return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "renaming %s", current);
        rtnl_link_unset_flags(down, IFF_UP);
        rc = rtnl_link_change(c->nl, link, down, 0);
        if (rc >= 0)
            rc = rtnl_link_change(c->nl, link, change, 0);
        if (rc >= 0)
            rc = netd_link_set_up(c->nl, d->veth_host, err) < 0 ? -NLE_FAILURE : 0;
    }
    if (rc < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "renaming host veth %s of cell %s to %s: %s", current,
                        d->cell, d->veth_host, nl_geterror(rc));
    return 0;
}

json_t *netd_links_read(struct nl_sock *sk, struct kk_err *err)
{
    struct nl_cache *links = NULL, *addrs = NULL;
    int rc = rtnl_link_alloc_cache(sk, AF_UNSPEC, &links);
    if (rc >= 0)
        rc = rtnl_addr_alloc_cache(sk, &addrs);
    json_t *out = json_array();
    for (struct nl_object *o = rc >= 0 && out != NULL ? nl_cache_get_first(links) : NULL; o != NULL;
         o = nl_cache_get_next(o)) {
        struct rtnl_link *l = (struct rtnl_link *)o;
        struct netd_link_info info;
        fill_info(l, &info);
        const char *name = rtnl_link_get_name(l);
        json_t *a = json_array();
        for (struct nl_object *ao = nl_cache_get_first(addrs); ao != NULL && a != NULL;
             ao = nl_cache_get_next(ao)) {
            struct rtnl_addr *addr = (struct rtnl_addr *)ao;
            if (rtnl_addr_get_ifindex(addr) != info.ifindex || rtnl_addr_get_family(addr) != AF_INET)
                continue;
            char text[64];
            nl_addr2str(rtnl_addr_get_local(addr), text, sizeof(text));
            json_array_append_new(a, json_string(text));
        }
        json_array_append_new(out,
                              json_pack("{s:s, s:s, s:b, s:o}", "name", name != NULL ? name : "", "mac",
                                        info.mac, "up", info.up, "addresses", a != NULL ? a : json_array()));
    }
    if (links != NULL)
        nl_cache_free(links);
    if (addrs != NULL)
        nl_cache_free(addrs);
    if (rc < 0 || out == NULL) {
        json_decref(out);
        kk_error(err, KK_ERR_INTERNAL, 0, "reading links and addresses: %s",
                 rc < 0 ? nl_geterror(rc) : "out of memory");
        return NULL;
    }
    return out;
}

/* Split "kukeon:<realm>/<space>[:<netns>]" into validated names; -1 when it is not netd's shape. */
static int parse_alias(const char *alias, char *realm, char *space, char *netns, size_t netns_size)
{
    if (!kk_str_has_prefix(alias, netd_alias_prefix))
        return -1;
    const char *p = alias + strlen(netd_alias_prefix);
    const char *slash = strchr(p, '/');
    if (slash == NULL || (size_t)(slash - p) >= KK_NAME_SIZE)
        return -1;
    memcpy(realm, p, (size_t)(slash - p));
    realm[slash - p] = '\0';
    const char *colon = strchr(slash + 1, ':');
    size_t slen = colon != NULL ? (size_t)(colon - slash - 1) : strlen(slash + 1);
    if (slen >= KK_NAME_SIZE)
        return -1;
    memcpy(space, slash + 1, slen);
    space[slen] = '\0';
    netns[0] = '\0';
    if (colon != NULL && kk_strlcpy(netns, colon + 1, netns_size) < 0)
        return -1;
    return kk_name_is_valid(realm) && kk_name_is_valid(space) ? 0 : -1;
}

int netd_link_gc(struct netd_ctx *c, json_t *removed, struct kk_err *err)
{
    struct nl_cache *cache = NULL;
    int rc = rtnl_link_alloc_cache(c->nl, AF_UNSPEC, &cache);
    if (rc < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "listing links: %s", nl_geterror(rc));
    /* Collect first, remove after: the cache is not touched while links go away. */
    char doomed[64][IFNAMSIZ];
    size_t n = 0;
    for (struct nl_object *o = nl_cache_get_first(cache); o != NULL && n < KK_ARRAY_SIZE(doomed);
         o = nl_cache_get_next(o)) {
        struct rtnl_link *l = (struct rtnl_link *)o;
        struct netd_link_info info;
        fill_info(l, &info);
        char realm[KK_NAME_SIZE], space[KK_NAME_SIZE], netns[KK_NETNS_NAME_SIZE];
        if (parse_alias(info.alias, realm, space, netns, sizeof(netns)) < 0)
            continue;
        struct kk_derive_names names = {.realm = realm, .space = space};
        struct kk_derived d;
        struct netd_space_paths p;
        struct kk_err ignored;
        if (kk_derive(&names, &c->dcfg, &d, &ignored) < 0 || netd_space_paths(c, &d, &p, &ignored) < 0)
            continue;
        const char *name = rtnl_link_get_name(l);
        if (name == NULL)
            continue;
        bool unused = false;
        if (netns[0] == '\0' && strcmp(info.kind, "bridge") == 0 && strcmp(name, d.bridge_name) == 0) {
            /* A bridge is used while its space has a network record or any port. */
            unsigned ports = 0;
            for (struct nl_object *q = nl_cache_get_first(cache); q != NULL; q = nl_cache_get_next(q))
                if (rtnl_link_get_master((struct rtnl_link *)q) == info.ifindex)
                    ports++;
            unused = ports == 0 && netd_exists(&c->state, p.network_json, &ignored) == 0;
        } else if (netns[0] != '\0' && strcmp(info.kind, "veth") == 0) {
            /* A host veth is used while its cell has a record. */
            char record[KK_DERIVE_PATH_SIZE];
            if (kk_snprintf(record, sizeof(record), &ignored, "cell record", "%s/%s.json", p.cells_dir,
                            netns) < 0)
                continue;
            unused = netd_exists(&c->state, record, &ignored) == 0;
        }
        if (unused)
            kk_strlcpy(doomed[n++], name, IFNAMSIZ);
    }
    nl_cache_free(cache);
    for (size_t i = 0; i < n; i++) {
        rc = netd_link_delete(c->nl, doomed[i], err);
        if (rc < 0)
            return -1;
        if (rc > 0 && removed != NULL)
            json_array_append_new(removed, json_string(doomed[i]));
    }
    return (int)n;
}
