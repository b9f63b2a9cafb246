/* A space's network on disk: its /24 carved from podSubnetCIDR (lowest free, recorded in
 * network.json under netd's own state directory, released with it), and the conflist netd writes
 * itself to the CNI conf dir, rewritten whenever it is missing or differs from what it should be
 * (kukeon-reference.md section 8.1). Nothing here touches the run path: that is the API worker's,
 * which copies the conflist beside the space's document itself (docs/netd.md). */
#include "kuke-netd/netd.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/names.h"
#include "common/util.h"
#include "ipc/frame.h"

/* network.json and conflists are a few hundred bytes; anything near this is not ours. */
#define NETD_DOC_MAX (64u * 1024u)
/* Every space gets a /24: 253 cells and a gateway, as the Go implementation carves them. */
#define NETD_SPACE_PREFIX 24u
/* The most spaces a scan records: a /8 pod subnet holds 65536 /24s. */
#define NETD_MAX_SPACES 65536u

/* ---- addresses ---------------------------------------------------------------------------------- */

static uint32_t prefix_mask(unsigned prefix)
{
    return prefix == 0 ? 0 : ~(uint32_t)0 << (32 - prefix);
}

int netd_parse_cidr4(const char *text, struct netd_ipv4_net *out)
{
    char ip[NETD_IP_SIZE];
    const char *slash = strchr(text, '/');
    if (slash == NULL || (size_t)(slash - text) >= sizeof(ip))
        return -1;
    memcpy(ip, text, (size_t)(slash - text));
    ip[slash - text] = '\0';
    struct in_addr a;
    uint64_t prefix;
    if (inet_pton(AF_INET, ip, &a) != 1 || kk_parse_u64(slash + 1, 0, 32, &prefix) < 0)
        return -1;
    out->addr = ntohl(a.s_addr);
    out->prefix = (unsigned)prefix;
    return 0;
}

void netd_format_ip4(uint32_t addr, char *buf, size_t size)
{
    snprintf(buf, size, "%u.%u.%u.%u", (addr >> 24) & 0xffu, (addr >> 16) & 0xffu, (addr >> 8) & 0xffu,
             addr & 0xffu);
}

void netd_format_cidr4(const struct netd_ipv4_net *n, char *buf, size_t size)
{
    char ip[NETD_IP_SIZE];
    netd_format_ip4(n->addr, ip, sizeof(ip));
    snprintf(buf, size, "%s/%u", ip, n->prefix);
}

int netd_pod_subnet_check(const char *text, struct netd_ipv4_net *out, struct kk_err *err)
{
    struct netd_ipv4_net n;
    if (netd_parse_cidr4(text, &n) < 0)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "podSubnetCIDR \"%s\" is not an IPv4 network such as 10.88.0.0/16: fix it in the "
                        "kukeond configuration",
                        text);
    if (n.prefix < 8 || n.prefix > NETD_SPACE_PREFIX)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "podSubnetCIDR \"%s\" must be a /8 to a /24: every space takes a /24 of it", text);
    if ((n.addr & ~prefix_mask(n.prefix)) != 0)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "podSubnetCIDR \"%s\" has host bits set: write the network address of the /%u", text,
                        n.prefix);
    *out = n;
    return 0;
}

int netd_subnet_pick(const struct netd_ipv4_net *pod, const struct netd_ipv4_net *used, size_t n_used,
                     struct netd_ipv4_net *out, struct kk_err *err)
{
    uint32_t count = (uint32_t)1 << (NETD_SPACE_PREFIX - pod->prefix);
    for (uint32_t i = 0; i < count; i++) {
        uint32_t cand = pod->addr + (i << (32 - NETD_SPACE_PREFIX));
        bool taken = false;
        for (size_t k = 0; k < n_used && !taken; k++) {
            /* Overlap, not equality: a recorded subnet of another size still takes its room. */
            unsigned p = used[k].prefix < NETD_SPACE_PREFIX ? used[k].prefix : NETD_SPACE_PREFIX;
            taken = ((used[k].addr ^ cand) & prefix_mask(p)) == 0;
        }
        if (!taken) {
            out->addr = cand;
            out->prefix = NETD_SPACE_PREFIX;
            return 0;
        }
    }
    char shown[NETD_CIDR_SIZE];
    netd_format_cidr4(pod, shown, sizeof(shown));
    return kk_error(err, KK_ERR_UNAVAILABLE, 0,
                    "no free /24 left in podSubnetCIDR %s (all %u are recorded by spaces): delete a space or "
                    "configure a larger podSubnetCIDR",
                    shown, count);
}

/* ---- paths -------------------------------------------------------------------------------------- */

int netd_space_paths(const struct netd_ctx *c, const struct kk_derived *d, struct netd_space_paths *p,
                     struct kk_err *err)
{
    memset(p, 0, sizeof(*p));
    if (kk_strlcpy(p->realm_dir, d->realm, sizeof(p->realm_dir)) < 0 ||
        kk_snprintf(p->dir, sizeof(p->dir), err, "space dir", "%s/%s", d->realm, d->space) < 0 ||
        kk_snprintf(p->network_json, sizeof(p->network_json), err, "network.json path", "%s/network.json",
                    p->dir) < 0 ||
        kk_snprintf(p->ipam_rel, sizeof(p->ipam_rel), err, "IPAM dir", "%s/ipam", p->dir) < 0 ||
        kk_snprintf(p->cells_dir, sizeof(p->cells_dir), err, "cells dir", "%s/cells", p->dir) < 0 ||
        kk_snprintf(p->ipam_dir, sizeof(p->ipam_dir), err, "IPAM dir", "%s/%s", c->cfg.netd_state_dir,
                    p->ipam_rel) < 0 ||
        kk_snprintf(p->conflist, sizeof(p->conflist), err, "conflist path", "%s/%s.conflist",
                    c->cfg.cni_conf_dir, d->network_name) < 0)
        return kk_error_wrap(err, "space %s/%s", d->realm, d->space);
    return 0;
}

/* ---- conflist ----------------------------------------------------------------------------------- */

json_t *netd_conflist_build(const struct kk_derived *d, const struct netd_ipv4_net *subnet,
                            const char *ipam_dir, struct kk_err *err)
{
    char sub[NETD_CIDR_SIZE], gw[NETD_IP_SIZE];
    netd_format_cidr4(subnet, sub, sizeof(sub));
    netd_format_ip4(subnet->addr + 1, gw, sizeof(gw));
    /* The reference's conflist (section 8.1) plus what this implementation adds: host-local's data
     * in the space's own directory under netd's state dir (so a space's leases go with it, and a
     * collision of network names across realms cannot share a lease directory), an explicit gateway,
     * and portmap, which does nothing until a cell publishes ports. */
    json_t *j =
        json_pack("{s:s, s:s, s:[{s:s, s:s, s:b, s:b, s:{s:s, s:s, s:[[{s:s, s:s}]], s:[{s:s}]}}, "
                  "{s:s}, {s:s, s:{s:b}}]}",
                  "cniVersion", NETD_CNI_VERSION, "name", d->network_name, "plugins", "type", "bridge",
                  "bridge", d->bridge_name, "isGateway", 1, "ipMasq", 1, "ipam", "type", "host-local",
                  "dataDir", ipam_dir, "ranges", "subnet", sub, "gateway", gw, "routes", "dst", "0.0.0.0/0",
                  "type", "loopback", "type", "portmap", "capabilities", "portMappings", 1);
    if (j == NULL)
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "building the conflist of %s", d->network_name);
    return j;
}

int netd_conflist_subnet(const json_t *conflist, struct netd_ipv4_net *subnet, char *bridge, size_t size)
{
    const json_t *plugins = json_object_get(conflist, "plugins");
    const json_t *p;
    size_t i;
    json_array_foreach(plugins, i, p)
    {
        if (!json_is_string(json_object_get(p, "type")) ||
            strcmp(json_string_value(json_object_get(p, "type")), "bridge") != 0)
            continue;
        if (bridge != NULL) {
            const char *b = json_string_value(json_object_get(p, "bridge"));
            if (b == NULL || kk_strlcpy(bridge, b, size) < 0)
                return -1;
        }
        const json_t *ranges = json_object_get(json_object_get(p, "ipam"), "ranges");
        const char *s =
            json_string_value(json_object_get(json_array_get(json_array_get(ranges, 0), 0), "subnet"));
        if (s == NULL || netd_parse_cidr4(s, subnet) < 0)
            return -1;
        return 0;
    }
    return -1;
}

/* ---- network.json ------------------------------------------------------------------------------- */

static int parse_network_json(const char *path, const char *text, struct netd_ipv4_net *subnet,
                              struct kk_err *err)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    const char *s = json_string_value(json_object_get(j, "subnetCIDR"));
    int rc = 0;
    if (j == NULL || s == NULL || netd_parse_cidr4(s, subnet) < 0 || subnet->prefix != NETD_SPACE_PREFIX ||
        (subnet->addr & 0xffu) != 0)
        rc = kk_error(
            err, KK_ERR_INVALID, 0,
            "%s is corrupt (it must hold {\"version\":\"v1\",\"subnetCIDR\":\"<a /24>\"}): repair or "
            "remove it, then ensure the space's network again",
            path);
    json_decref(j);
    return rc;
}

int netd_space_read_subnet(struct netd_ctx *c, const struct netd_space_paths *p, struct netd_ipv4_net *subnet,
                           struct kk_err *err)
{
    _cleanup_free_ char *text = NULL;
    int rc = netd_read_file(&c->state, p->network_json, NETD_DOC_MAX, &text, NULL, err);
    if (rc <= 0)
        return rc;
    char shown[KK_DERIVE_PATH_SIZE + 300];
    netd_path_shown(&c->state, p->network_json, shown, sizeof(shown));
    return parse_network_json(shown, text, subnet, err) < 0 ? -1 : 1;
}

static int write_network_json(struct netd_ctx *c, const struct netd_space_paths *p,
                              const struct netd_ipv4_net *subnet, struct kk_err *err)
{
    char sub[NETD_CIDR_SIZE];
    netd_format_cidr4(subnet, sub, sizeof(sub));
    json_t *j = json_pack("{s:s, s:s}", "version", "v1", "subnetCIDR", sub);
    if (j == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "building the subnet record of %s", p->dir);
    char *text = netd_json_text(j, err);
    json_decref(j);
    if (text == NULL)
        return -1;
    int rc = netd_write_file_atomic(&c->state, p->network_json, text, strlen(text), 0600, err);
    free(text);
    return rc;
}

/* Every space's recorded subnet under <state>/<realm>/<space>/network.json, and whether another
 * space than d's uses d's network name (the a/b-c vs a-b/c collision of "<realm>-<space>"). */
struct subnet_scan {
    struct netd_ipv4_net *used;
    size_t n, cap;
    char other_space[2 * KK_NAME_SIZE]; /* "<realm>/<space>" of a space sharing d's network name */
};

static int scan_add(struct subnet_scan *s, const struct netd_ipv4_net *n, struct kk_err *err)
{
    if (s->n == s->cap) {
        size_t cap = s->cap == 0 ? 64 : s->cap * 2;
        if (cap > NETD_MAX_SPACES)
            return kk_error(err, KK_ERR_INTERNAL, 0, "more than %u spaces record a subnet", NETD_MAX_SPACES);
        struct netd_ipv4_net *u = realloc(s->used, cap * sizeof(*u));
        if (u == NULL)
            return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "scanning subnets");
        s->used = u;
        s->cap = cap;
    }
    s->used[s->n++] = *n;
    return 0;
}

/* Whether name in dir is a directory of a realm or space: a valid name (so never ".", "..", or a
 * hidden file such as the allocation lock) and a real directory, not a file or a link to one. */
static bool scan_is_level_dir(DIR *dir, const char *name)
{
    struct stat st;
    return kk_name_is_valid(name) && fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           S_ISDIR(st.st_mode);
}

static int scan_subnets(struct netd_ctx *c, const struct kk_derived *self, struct subnet_scan *s,
                        struct kk_err *err)
{
    DIR *realms = NULL;
    int rc = netd_open_dir(&c->state, ".", &realms, err);
    if (rc <= 0)
        return rc;
    rc = 0;
    struct dirent *r;
    while (rc == 0 && (r = readdir(realms)) != NULL) {
        if (!scan_is_level_dir(realms, r->d_name))
            continue;
        DIR *spaces = NULL;
        rc = netd_open_dir(&c->state, r->d_name, &spaces, err);
        if (rc < 0)
            break;
        if (rc == 0) /* gone meanwhile (the allocation lock is held, so not by another netd) */
            continue;
        rc = 0;
        struct dirent *sp;
        while (rc == 0 && (sp = readdir(spaces)) != NULL) {
            if (!scan_is_level_dir(spaces, sp->d_name))
                continue;
            struct kk_derive_names names = {.realm = r->d_name, .space = sp->d_name};
            struct kk_derived d;
            struct netd_space_paths p;
            struct kk_err ignored;
            if (kk_derive(&names, &c->dcfg, &d, &ignored) < 0 || netd_space_paths(c, &d, &p, &ignored) < 0)
                continue;
            if (strcmp(d.realm, self->realm) == 0 && strcmp(d.space, self->space) == 0)
                continue;
            struct netd_ipv4_net n;
            int have = netd_space_read_subnet(c, &p, &n, err);
            if (have < 0) {
                rc = -1;
                break;
            }
            if (have == 0)
                continue;
            rc = scan_add(s, &n, err);
            if (strcmp(d.network_name, self->network_name) == 0)
                snprintf(s->other_space, sizeof(s->other_space), "%s/%s", d.realm, d.space);
        }
        closedir(spaces);
    }
    closedir(realms);
    return rc < 0 ? -1 : 0;
}

/* Whether sub overlaps a subnet in used[0..n). */
static bool subnet_taken(const struct netd_ipv4_net *sub, const struct netd_ipv4_net *used, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        unsigned p = used[k].prefix < sub->prefix ? used[k].prefix : sub->prefix;
        if (((used[k].addr ^ sub->addr) & prefix_mask(p)) == 0)
            return true;
    }
    return false;
}

/* ---- ensure and remove --------------------------------------------------------------------------- */

/* The allocation lock: one subnet scan-and-record at a time, also against kuke run in-process next
 * to a daemon (both netds share the state directory). A name no realm can have ('.' first), so the
 * scan never mistakes it for one. */
static int lock_allocations(struct netd_ctx *c, int *fd, struct kk_err *err)
{
    static const char lock_name[] = ".network.lock";
    char shown[KK_DERIVE_PATH_SIZE + 300];
    netd_path_shown(&c->state, lock_name, shown, sizeof(shown));
    *fd = openat(c->state.fd, lock_name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (*fd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening %s", shown);
    while (flock(*fd, LOCK_EX) < 0) {
        if (errno != EINTR)
            return kk_error(err, KK_ERR_INTERNAL, errno, "locking %s", shown);
    }
    return 0;
}

/* Make path hold exactly want (compared as JSON): a missing, unparsable or different file is
 * rewritten. 1 when it was written. Something that is not a regular file is reported, never
 * written through. */
static int ensure_json_file(const struct netd_dir *at, const char *path, const json_t *want, mode_t mode,
                            struct kk_err *err)
{
    _cleanup_free_ char *have = NULL;
    int rc = netd_read_file(at, path, NETD_DOC_MAX, &have, NULL, err);
    if (rc < 0)
        return -1;
    if (rc > 0) {
        json_t *j = json_loads(have, 0, NULL);
        bool same = j != NULL && json_equal(j, (json_t *)want);
        json_decref(j);
        if (same)
            return 0;
    }
    _cleanup_free_ char *text = netd_json_text(want, err);
    if (text == NULL || netd_write_file_atomic(at, path, text, strlen(text), mode, err) < 0)
        return -1;
    return 1;
}

/* The subnet of the space's conflist in the CNI conf dir (root's, written by netd), when it is this
 * space's (its bridge) and holds a /24: the reference's second source after the record. */
static int conflist_subnet_of(struct netd_ctx *c, const struct kk_derived *d,
                              const struct netd_space_paths *p, struct netd_ipv4_net *sub)
{
    _cleanup_free_ char *text = NULL;
    struct kk_err ignored;
    if (netd_read_file(&c->abs, p->conflist, NETD_DOC_MAX, &text, NULL, &ignored) <= 0)
        return 0;
    json_t *j = json_loads(text, 0, NULL);
    char bridge[KK_IFNAME_SIZE] = "";
    bool ok = j != NULL && netd_conflist_subnet(j, sub, bridge, sizeof(bridge)) == 0 &&
              strcmp(bridge, d->bridge_name) == 0 && sub->prefix == NETD_SPACE_PREFIX &&
              (sub->addr & 0xffu) == 0;
    json_decref(j);
    return ok ? 1 : 0;
}

int netd_space_ensure_files(struct netd_ctx *c, const struct kk_derived *d, struct netd_network_info *info,
                            struct kk_err *err)
{
    memset(info, 0, sizeof(*info));
    struct netd_space_paths p;
    if (netd_space_paths(c, d, &p, err) < 0)
        return -1;
    /* The lock also covers making and removing the space's directories, so that a netd removing a
     * realm's last space cannot take the realm's directory from under another one adding a space. */
    _cleanup_close_ int lock = -1;
    if (lock_allocations(c, &lock, err) < 0)
        return -1;
    if (netd_mkdir_p(&c->state, p.ipam_rel, 0700, err) < 0 ||
        netd_mkdir_p(&c->state, p.cells_dir, 0700, err) < 0 ||
        netd_mkdir_p(&c->abs, c->cfg.cni_conf_dir, 0755, err) < 0)
        return kk_error_wrap(err, "network of space %s/%s", d->realm, d->space);
    struct subnet_scan scan = {0};
    int rc = scan_subnets(c, d, &scan, err);
    if (rc == 0 && scan.other_space[0] != '\0')
        rc = kk_error(
            err, KK_ERR_EXISTS, 0,
            "space %s/%s and space %s both map to network \"%s\" and conflist %s: rename one of them "
            "(a realm/space name pair must not join to another pair's \"<realm>-<space>\")",
            d->realm, d->space, scan.other_space, d->network_name, p.conflist);
    if (rc == 0) {
        /* Precedence (reference 8.1): the record, then the subnet of the space's conflist (netd's
         * own, in the CNI conf dir; never the run path's copy, which a less trusted process owns),
         * then a new /24. */
        int have = netd_space_read_subnet(c, &p, &info->subnet, err);
        if (have < 0) {
            rc = -1;
        } else if (have == 0) {
            struct netd_ipv4_net sub;
            if (conflist_subnet_of(c, d, &p, &sub) > 0 && !subnet_taken(&sub, scan.used, scan.n)) {
                info->subnet = sub;
            } else {
                rc = netd_subnet_pick(&c->pod, scan.used, scan.n, &info->subnet, err);
                info->created = rc == 0;
            }
            if (rc == 0)
                rc = write_network_json(c, &p, &info->subnet, err);
        }
    }
    free(scan.used);
    if (rc < 0)
        return -1;

    json_t *conf = netd_conflist_build(d, &info->subnet, p.ipam_dir, err);
    if (conf == NULL)
        return -1;
    int w = ensure_json_file(&c->abs, p.conflist, conf, 0644, err);
    json_decref(conf);
    if (w < 0)
        return kk_error_wrap(err, "conflist of space %s/%s", d->realm, d->space);
    info->regenerated = w > 0;
    return 0;
}

int netd_space_remove_files(struct netd_ctx *c, const struct kk_derived *d, struct kk_err *err)
{
    struct netd_space_paths p;
    _cleanup_close_ int lock = -1;
    if (netd_space_paths(c, d, &p, err) < 0 || lock_allocations(c, &lock, err) < 0)
        return -1;
    int existed = 0, rc;
    /* The shared conf dir's file goes only when it is this space's (its bridge is this space's):
     * a same-named conflist of a colliding space is not ours to remove. */
    _cleanup_free_ char *text = NULL;
    struct kk_err ignored;
    if (netd_read_file(&c->abs, p.conflist, NETD_DOC_MAX, &text, NULL, &ignored) > 0) {
        json_t *j = json_loads(text, 0, NULL);
        struct netd_ipv4_net sub;
        char bridge[KK_IFNAME_SIZE] = "";
        bool ours = j == NULL || netd_conflist_subnet(j, &sub, bridge, sizeof(bridge)) < 0 ||
                    strcmp(bridge, d->bridge_name) == 0;
        json_decref(j);
        if (ours) {
            if ((rc = netd_unlink(&c->abs, p.conflist, err)) < 0)
                return -1;
            existed |= rc;
        }
    }
    if ((rc = netd_remove_tree(&c->state, p.ipam_rel, err)) < 0)
        return -1;
    existed |= rc;
    if ((rc = netd_remove_tree(&c->state, p.cells_dir, err)) < 0)
        return -1;
    existed |= rc;
    /* The record last: until it goes, a retry knows there is a space network to finish removing.
     * Then the space's and realm's directories, when nothing else is left in them. */
    if ((rc = netd_unlink(&c->state, p.network_json, err)) < 0)
        return -1;
    existed |= rc;
    if (netd_rmdir_empty(&c->state, p.dir, err) < 0 || netd_rmdir_empty(&c->state, p.realm_dir, err) < 0)
        return -1;
    return existed;
}

int netd_space_count_cells(struct netd_ctx *c, const struct netd_space_paths *p, struct kk_err *err)
{
    DIR *dir = NULL;
    int rc = netd_open_dir(&c->state, p->cells_dir, &dir, err);
    if (rc <= 0)
        return rc;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len > 5 && strcmp(de->d_name + len - 5, ".json") == 0 && de->d_name[0] != '.')
            n++;
    }
    closedir(dir);
    return n;
}
