/* DeleteRealm/Space/Stack and PurgeRealm/Space/Stack (kukeon-reference.md 2.5, 2.6, 3.9). A layer
 * with children is refused unless --cascade (children first, depth first) or --force (children left
 * as they are). Each delete is recorded before it acts — state Deleting — then the artifacts go in
 * reverse order of creation (the realm's containerd namespace and everything in it, the space's
 * network, the cgroup subtree), and the document last, so a crash at any point leaves a document that
 * says what is still to remove. Purge is the same walk made best-effort: every step is tried, a
 * failed one is noted and the next one runs, artifacts are removed even without a document, and
 * cgroup removal is retried while the last processes exit. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/cgd_client.h"
#include "ipc/ctrd_client.h"
#include "ipc/netd_client.h"
#include "kukeond/controller_internal.h"
#include "kukeond/ctl_cell.h"
#include "kukeond/ctl_regcred.h"

/* Purge retries a cgroup that is still busy (a process that was just killed has not exited yet). */
#define CTL_PURGE_CGROUP_TRIES    5
#define CTL_PURGE_CGROUP_PAUSE_MS 200

/* What one layer's delete removed, for the Result. */
struct ctl_removed {
    bool metadata, cgroup, ns, net;
};

int ctl_step(struct ctl_op *op, int rc, const char *what, struct kk_err *err)
{
    if (rc >= 0)
        return 0;
    if (op->purge) {
        ctl_purge_note(op, what, err);
        kk_err_clear(err);
        return 0;
    }
    return -1;
}

void ctl_pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int ctl_remove_namespace(struct ctl_op *op, const struct ctl_names *n, bool *removed,
                                struct kk_err *err)
{
    int sock = ctl_helper(op, KK_CTL_CTRD, "removing the containerd namespace", err);
    if (sock < 0)
        return -1;
    Kukeon__Ipc__Ctrd__NamespaceDeleteReply *r = NULL;
    if (kk_ctrd_ns_delete(sock, n->realm, &r, err) < 0)
        return kk_error_wrap(err, "containerd namespace of realm \"%s\"", n->realm);
    *removed = r->existed;
    if (r->containers + r->images + r->snapshots > 0)
        kk_info("realm %s: removed %u containers, %u images, %u snapshots with its containerd namespace",
                n->realm, r->containers, r->images, r->snapshots);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

/* The conflist's copy beside the space's document (ctl_create.c writes it) and any temporary file
 * a crashed writer of it left: after kuke-netd removed the network, so that a refused network
 * delete keeps the copy, and before the document, so that the space's directory can go with it.
 * 1 when there was a copy. */
static int ctl_remove_conflist_copy(struct ctl_op *op, const struct ctl_names *n, struct kk_err *err)
{
    static const char copy_name[] = "network.conflist", tmp_prefix[] = ".network.conflist-";
    struct kk_derive_names dn = ctl_dnames(n);
    struct kk_derived d;
    if (kk_derive(&dn, &op->ctl->dcfg, &d, err) < 0)
        return -1;
    int dfd = open(d.metadata_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0
                               : kk_error(err, KK_ERR_INTERNAL, errno, "opening the space's directory %s",
                                          d.metadata_dir);
    int existed = 0;
    if (unlinkat(dfd, copy_name, 0) == 0)
        existed = 1;
    else if (errno != ENOENT) {
        int e = errno;
        close(dfd);
        return kk_error(err, KK_ERR_INTERNAL, e, "removing %s/%s", d.metadata_dir, copy_name);
    }
    DIR *dir = fdopendir(dfd);
    if (dir == NULL) {
        close(dfd);
        return existed;
    }
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);
        if (strncmp(de->d_name, tmp_prefix, sizeof(tmp_prefix) - 1) == 0 && len > 4 &&
            strcmp(de->d_name + len - 4, ".tmp") == 0)
            unlinkat(dirfd(dir), de->d_name, 0);
    }
    closedir(dir);
    return existed;
}

static int ctl_remove_network(struct ctl_op *op, const struct ctl_names *n, bool *removed, struct kk_err *err)
{
    int sock = ctl_helper(op, KK_CTL_NETD, "removing the space network", err);
    if (sock < 0)
        return -1;
    if (kk_netd_network_delete(sock, n->realm, n->space, removed, err) < 0)
        return kk_error_wrap(err, "network of space \"%s\" in realm \"%s\"", n->space, n->realm);
    int copy = ctl_remove_conflist_copy(op, n, err);
    if (copy < 0)
        return kk_error_wrap(err, "network of space \"%s\" in realm \"%s\"", n->space, n->realm);
    *removed = *removed || copy > 0;
    return 0;
}

static int ctl_remove_cgroup(struct ctl_op *op, const struct ctl_names *n, bool *removed, struct kk_err *err)
{
    int sock = ctl_helper(op, KK_CTL_CGD, "removing the cgroup", err);
    if (sock < 0)
        return -1;
    struct kk_derive_names dn = ctl_dnames(n);
    struct kk_cgd_deleted d;
    int tries = op->purge ? CTL_PURGE_CGROUP_TRIES : 1;
    for (int t = 0;; t++) {
        kk_err_clear(err);
        if (kk_cgd_delete(sock, &dn, &d, err) == 0)
            break;
        /* Only a refusal (busy) is worth waiting for; a broken helper is not. */
        if (t + 1 >= tries || err->kind != KK_ERR_DENIED) {
            char what[6 * KK_NAME_SIZE];
            ctl_describe(n, what, sizeof(what));
            return kk_error_wrap(err, "cgroup of %s", what);
        }
        ctl_pause_ms(CTL_PURGE_CGROUP_PAUSE_MS);
    }
    *removed = d.existed;
    return 0;
}

static int ctl_delete_layer(struct ctl_op *op, const struct ctl_names *n, bool force, bool cascade,
                            json_t *deleted, struct ctl_removed *rm, struct kk_err *err);

/* The children of n: with cascade, each is deleted first (and named in deleted as "space:<n>");
 * without, any child refuses the delete unless force. */
static int ctl_children_first(struct ctl_op *op, const struct ctl_names *n, bool exists, bool force,
                              bool cascade, json_t *deleted, struct kk_err *err)
{
    const struct ctl_layer *L = ctl_layer_of(n->depth);
    if (!exists || (!cascade && force))
        return 0;
    json_t *children = NULL;
    if (ctl_children(op, n, &children, err) < 0)
        return ctl_step(op, -1, "listing children", err);
    size_t count = json_array_size(children);
    if (!cascade) {
        json_decref(children);
        if (count == 0)
            return 0;
        return ctl_fail(
            op, CTL_KIND_HAS_DEPENDENCIES, err, KK_ERR_EXISTS,
            "resource has child resources: %s \"%s\" has %zu %s(s). Use --cascade to %s them or --force "
            "to skip validation",
            L->noun, ctl_name_at(n, n->depth), count, L->child_noun, op->purge ? "purge" : "delete");
    }
    size_t i;
    json_t *v;
    json_array_foreach(children, i, v)
    {
        const char *name = json_string_value(v);
        struct ctl_names c;
        if (ctl_names_child(n, name, &c, err) < 0) {
            json_decref(children);
            return -1;
        }
        char tag[KK_NAME_SIZE + 16];
        snprintf(tag, sizeof(tag), "%s:%s", L->child_noun, name);
        json_array_append_new(deleted, json_string(tag));
        struct ctl_removed crm = {0};
        json_t *ignored = json_array();
        int rc = c.depth == KK_KIND_CELL ? ctl_cell_delete_child(op, &c, err)
                                         : ctl_delete_layer(op, &c, force, cascade, ignored, &crm, err);
        json_decref(ignored);
        if (rc < 0) {
            kk_error_wrap(err, "failed to %s %s \"%s\"", op->purge ? "purge" : "delete", L->child_noun, name);
            if (ctl_step(op, -1, "child", err) < 0) {
                json_decref(children);
                return -1;
            }
        }
    }
    json_decref(children);
    return 0;
}

/* Delete (or purge) the layer at n and, by the rules above, its children. */
static int ctl_delete_layer(struct ctl_op *op, const struct ctl_names *n, bool force, bool cascade,
                            json_t *deleted, struct ctl_removed *rm, struct kk_err *err)
{
    json_t *doc = NULL;
    int exists = ctl_doc_get(op, n, &doc, NULL, err);
    if (exists < 0 && !op->purge)
        return -1;
    if (exists < 0) {
        /* A corrupt document does not stop a purge: the artifacts are removed, the file is kept. */
        ctl_purge_note(op, "reading the document", err);
        kk_err_clear(err);
        exists = 0;
    }
    if (exists == 0 && !op->purge)
        return ctl_not_found(op, n, err);

    if (ctl_children_first(op, n, exists == 1, force, cascade, deleted, err) < 0) {
        json_decref(doc);
        return -1;
    }
    if (exists == 1) {
        /* The intent: whoever looks (get, reconcile, a crash recovery) sees a delete under way. */
        json_t *st = ctl_status_copy(doc);
        int rc = st == NULL || json_object_set_new(st, "state", json_string("Deleting")) < 0
                     ? kk_error(err, KK_ERR_INTERNAL, 0, "out of memory")
                     : ctl_status_write(op, n, st, 0, NULL, err);
        json_decref(st);
        if (ctl_step(op, rc, "recording the delete", err) < 0) {
            json_decref(doc);
            return -1;
        }
    }
    json_decref(doc);

    bool gone = false;
    if (n->depth == KK_KIND_REALM &&
        ctl_step(op, ctl_remove_namespace(op, n, &gone, err), "containerd namespace", err) < 0)
        return -1;
    rm->ns = n->depth == KK_KIND_REALM;
    if (n->depth == KK_KIND_SPACE && ctl_step(op, ctl_remove_network(op, n, &gone, err), "network", err) < 0)
        return -1;
    rm->net = n->depth == KK_KIND_SPACE;
    if (ctl_step(op, ctl_remove_cgroup(op, n, &gone, err), "cgroup", err) < 0)
        return -1;
    rm->cgroup = true;
    /* The realm's registry passwords (kukeond/ctl_regcred.c), before the document: its directory
     * goes with it only when empty. */
    if (n->depth == KK_KIND_REALM &&
        ctl_step(op, ctl_regcred_remove(op, n->realm, err) < 0 ? -1 : 0, "registry credentials", err) < 0)
        return -1;
    if (exists == 1) {
        struct kk_derive_names dn = ctl_dnames(n);
        if (ctl_step(op, kk_store_delete(&op->ctl->store, &dn, NULL, err), "metadata", err) < 0)
            return -1;
        rm->metadata = true;
    }
    char what[6 * KK_NAME_SIZE];
    ctl_describe(n, what, sizeof(what));
    kk_info("%s %s", op->purge ? "purged" : "deleted", what);
    return exists;
}

json_t *ctl_delete(struct ctl_op *op, const struct ctl_layer *L, const json_t *in, bool force, bool cascade,
                   struct kk_err *err)
{
    struct ctl_names n;
    if (ctl_names_from_doc(op, L, in, &n, err) < 0)
        return NULL;
    json_t *doc = NULL;
    int exists = ctl_doc_get(op, &n, &doc, NULL, err);
    if (exists < 0 && !op->purge)
        return NULL;
    if (exists <= 0) {
        struct kk_derive_names dn = ctl_dnames(&n);
        struct kk_err e = {0};
        doc = kk_doc_new(L->kind, &dn, &e);
        if (doc == NULL)
            return NULL;
    }
    json_t *deleted = json_array();
    struct ctl_removed rm = {0};
    int rc = deleted == NULL ? kk_error(err, KK_ERR_INTERNAL, 0, "out of memory")
                             : ctl_delete_layer(op, &n, force, cascade, deleted, &rm, err);
    if (rc < 0) {
        json_decref(doc);
        json_decref(deleted);
        /* "realm \"x\" not found" answers as it is; anything else says which delete failed, as the
         * reference does ("failed to delete realm: resource has child resources: ..."). */
        if (strcmp(op->kind, L->not_found) != 0)
            kk_error_wrap(err, "failed to %s %s", op->purge ? "purge" : "delete", L->noun);
        return NULL;
    }
    if (op->purge && op->n_failed > 0) {
        json_decref(doc);
        json_decref(deleted);
        ctl_fail(op, CTL_KIND_UNKNOWN, err, KK_ERR_UNAVAILABLE,
                 "purge of %s \"%s\" left %u step(s) undone: %s", L->noun, ctl_name_at(&n, n.depth),
                 op->n_failed, op->failures);
        return NULL;
    }
    if (rm.metadata)
        json_array_append_new(deleted, json_string("metadata"));
    if (rm.cgroup)
        json_array_append_new(deleted, json_string("cgroup"));
    if (rm.ns)
        json_array_append_new(deleted, json_string("namespace"));
    if (rm.net)
        json_array_append_new(deleted, json_string("network"));

    json_t *res = json_pack("{s:o}", L->title, doc);
    if (res == NULL) {
        json_decref(deleted);
        return NULL;
    }
    int set = 0;
    if (!op->purge) {
        set |= json_object_set_new(res, "MetadataDeleted", json_boolean(rm.metadata)) |
               json_object_set_new(res, "CgroupDeleted", json_boolean(rm.cgroup));
        if (L->kind == KK_KIND_REALM)
            set |= json_object_set_new(res, "ContainerdNamespaceDeleted", json_boolean(rm.ns));
        if (L->kind == KK_KIND_SPACE)
            set |= json_object_set_new(res, "CNINetworkDeleted", json_boolean(rm.net)) |
                   json_object_set_new(res, "SpaceName", json_string(n.space)) |
                   json_object_set_new(res, "RealmName", json_string(n.realm));
        if (L->kind == KK_KIND_STACK)
            set |= json_object_set_new(res, "StackName", json_string(n.stack)) |
                   json_object_set_new(res, "RealmName", json_string(n.realm)) |
                   json_object_set_new(res, "SpaceName", json_string(n.space));
        set |= json_object_set_new(res, "Deleted", deleted);
    } else {
        /* What purge does beyond a delete, named as the reference names it. */
        static const char *const extra[3][4] = {
            {"orphaned-containers", "cni-resources", "all-metadata", NULL},
            {"cni-network", "cni-cache", "orphaned-containers", "all-metadata"},
            {"cni-resources", "orphaned-containers", "all-metadata", NULL},
        };
        json_t *purged = json_array();
        for (int i = 0; i < 4 && extra[L->kind][i] != NULL; i++)
            json_array_append_new(purged, json_string(extra[L->kind][i]));
        if (L->kind == KK_KIND_REALM)
            set |= json_object_set_new(res, "RealmDeleted", json_boolean(rm.metadata));
        if (L->kind != KK_KIND_STACK)
            set |= json_object_set_new(res, "MetadataDeleted", json_boolean(rm.metadata)) |
                   json_object_set_new(res, "CgroupDeleted", json_boolean(rm.cgroup));
        if (L->kind == KK_KIND_SPACE)
            set |= json_object_set_new(res, "CNINetworkDeleted", json_boolean(rm.net));
        if (L->kind != KK_KIND_STACK)
            set |= json_object_set_new(res, "PurgeSucceeded", json_true()) |
                   json_object_set_new(res, "Force", json_boolean(force)) |
                   json_object_set_new(res, "Cascade", json_boolean(cascade));
        set |= json_object_set_new(res, "Deleted", deleted) | json_object_set_new(res, "Purged", purged);
    }
    if (set != 0) {
        json_decref(res);
        return NULL;
    }
    return res;
}
