/* Realm namespaces in containerd: "<realm>.<suffix>", derived, never taken from a request; created with
 * the realm's policy recorded in its labels; deleted only after everything in it is gone. */
#include "kuke-ctrd/ctrd.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/names.h"
#include "common/util.h"

static const char *const ctrd_allow_names[CTRD_ALLOW_COUNT] = {
    "privileged", "cap-add", "host-namespaces", "host-paths", "devices", "hooks", "runtime",
};

const char *ctrd_allow_name(unsigned bit_index)
{
    return bit_index < CTRD_ALLOW_COUNT ? ctrd_allow_names[bit_index] : NULL;
}

int ctrd_allow_parse(const char *name, unsigned *bit)
{
    for (unsigned i = 0; i < CTRD_ALLOW_COUNT; i++)
        if (strcmp(name, ctrd_allow_names[i]) == 0) {
            *bit = 1u << i;
            return 0;
        }
    return -1;
}

/* Namespaces other tools own. Derivation can never produce them (the suffix is always appended), but
 * every namespace kuke-ctrd touches passes this check too, so a bug in derivation cannot reach them. */
static const char *const ctrd_foreign_namespaces[] = {"default", "moby", "k8s.io", "buildkit",
                                                      "plugins.moby"};

bool ctrd_ns_is_ours(const struct ctrd *c, const char *ns, char realm[KK_NAME_SIZE])
{
    if (ns == NULL)
        return false;
    for (size_t i = 0; i < KK_ARRAY_SIZE(ctrd_foreign_namespaces); i++)
        if (strcmp(ns, ctrd_foreign_namespaces[i]) == 0)
            return false;
    const char *suffix = c->cfg.ns_suffix[0] != '\0' ? c->cfg.ns_suffix : KK_DERIVE_NS_SUFFIX_DEFAULT;
    size_t n = strnlen(ns, KK_CTRD_ID_SIZE), sl = strlen(suffix);
    if (n >= KK_CTRD_ID_SIZE || n < sl + 2 || ns[n - sl - 1] != '.' || strcmp(ns + n - sl, suffix) != 0)
        return false;
    char r[KK_NAME_SIZE];
    size_t rl = n - sl - 1;
    if (rl >= sizeof(r))
        return false;
    memcpy(r, ns, rl);
    r[rl] = '\0';
    if (!kk_name_is_valid(r))
        return false;
    if (realm != NULL)
        memcpy(realm, r, rl + 1);
    return true;
}

int ctrd_ns_for_realm(const struct ctrd *c, const char *realm, char ns[KK_CTRD_ID_SIZE], bool *deny,
                      struct kk_err *err)
{
    *deny = true;
    struct kk_derive_names names = {.realm = realm};
    struct kk_derived d;
    if (kk_derive(&names, &c->dcfg, &d, err) < 0)
        return -1;
    if (!ctrd_ns_is_ours(c, d.ctrd_namespace, NULL))
        return kk_error(err, KK_ERR_DENIED, 0, "namespace \"%s\" is not a Kukeon realm namespace",
                        d.ctrd_namespace);
    memcpy(ns, d.ctrd_namespace, KK_CTRD_ID_SIZE);
    *deny = false;
    return 0;
}

/* ---- policy in labels ------------------------------------------------------------------------- */

static unsigned ctrd_policy_from_labels(Containerd__Services__Namespaces__V1__Namespace__LabelsEntry **labels,
                                        size_t n)
{
    unsigned allow = 0;
    size_t pl = strlen(CTRD_ALLOW_LABEL_PREFIX);
    for (size_t i = 0; i < n; i++) {
        unsigned bit;
        if (strncmp(labels[i]->key, CTRD_ALLOW_LABEL_PREFIX, pl) == 0 &&
            strcmp(labels[i]->value, "true") == 0 && ctrd_allow_parse(labels[i]->key + pl, &bit) == 0)
            allow |= bit;
    }
    return allow;
}

/* Whether ns exists. Namespaces.Get cannot say: containerd 1.6 answers it for any name, with no labels. */
static int ctrd_ns_exists(struct ctrd_conn *conn, const char *ns, bool *exists, struct kk_err *err)
{
    Containerd__Services__Namespaces__V1__ListNamespacesRequest req =
        CONTAINERD__SERVICES__NAMESPACES__V1__LIST_NAMESPACES_REQUEST__INIT;
    Containerd__Services__Namespaces__V1__ListNamespacesResponse *r = NULL;
    if (ctrd_unary(conn, CTRD_SVC_NAMESPACES, "List", NULL, NULL, &req.base, (ProtobufCMessage **)&r,
                   CTRD_TIMEOUT_DEFAULT_MS, err) < 0)
        return -1;
    *exists = false;
    for (size_t i = 0; i < r->n_namespaces && !*exists; i++)
        *exists = r->namespaces[i]->name != NULL && strcmp(r->namespaces[i]->name, ns) == 0;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

/* Namespaces.Get, with NOT_FOUND for a namespace that does not exist. */
static int ctrd_ns_get(struct ctrd *c, const char *ns,
                       Containerd__Services__Namespaces__V1__GetNamespaceResponse **out, struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    bool exists;
    if (ctrd_ns_exists(conn, ns, &exists, err) < 0)
        return -1;
    if (!exists)
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "namespace %s does not exist", ns);
    Containerd__Services__Namespaces__V1__GetNamespaceRequest req =
        CONTAINERD__SERVICES__NAMESPACES__V1__GET_NAMESPACE_REQUEST__INIT;
    req.name = (char *)ns;
    ProtobufCMessage *reply = NULL;
    if (ctrd_unary(conn, CTRD_SVC_NAMESPACES, "Get", NULL, NULL, &req.base, &reply, CTRD_TIMEOUT_DEFAULT_MS,
                   err) < 0)
        return -1;
    *out = (void *)reply;
    if ((*out)->namespace_ == NULL) {
        protobuf_c_message_free_unpacked(reply, NULL);
        return kk_error(err, KK_ERR_INTERNAL, 0, "Namespaces.Get %s: empty reply", ns);
    }
    return 0;
}

int ctrd_ns_policy(struct ctrd *c, const char *ns, unsigned *allow, struct kk_err *err)
{
    Containerd__Services__Namespaces__V1__GetNamespaceResponse *r = NULL;
    if (ctrd_ns_get(c, ns, &r, err) < 0)
        return -1;
    *allow = ctrd_policy_from_labels(r->namespace_->labels, r->namespace_->n_labels);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

static void ctrd_allow_list(unsigned allow, Kukeon__Ipc__Ctrd__NamespaceInfo *out)
{
    out->allow = calloc(CTRD_ALLOW_COUNT, sizeof(char *));
    out->n_allow = 0;
    if (out->allow == NULL)
        return;
    for (unsigned i = 0; i < CTRD_ALLOW_COUNT; i++)
        if (allow & (1u << i))
            out->allow[out->n_allow++] = (char *)ctrd_allow_names[i];
}

int ctrd_ns_ensure(struct ctrd *c, const char *realm, unsigned allow, const struct ctrd_labels *extra,
                   Kukeon__Ipc__Ctrd__NamespaceInfo *out, bool *policy_conflict, struct kk_err *err)
{
    *policy_conflict = false;
    char ns[KK_CTRD_ID_SIZE];
    bool deny;
    if (ctrd_ns_for_realm(c, realm, ns, &deny, err) < 0)
        return -1;
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    out->realm = strdup(realm);
    out->ns = strdup(ns);

    for (int attempt = 0; attempt < 2; attempt++) {
        Containerd__Services__Namespaces__V1__GetNamespaceResponse *r = NULL;
        struct kk_err gerr;
        if (ctrd_ns_get(c, ns, &r, &gerr) == 0) {
            unsigned recorded = ctrd_policy_from_labels(r->namespace_->labels, r->namespace_->n_labels);
            protobuf_c_message_free_unpacked(&r->base, NULL);
            ctrd_allow_list(recorded, out);
            if (recorded != allow) {
                *policy_conflict = true;
                return kk_error(
                    err, KK_ERR_DENIED, 0,
                    "realm \"%s\" already has a policy recorded in namespace %s; a policy is set "
                    "once, when the realm is created (delete and recreate the realm to change it)",
                    realm, ns);
            }
            return 0;
        }
        if (gerr.kind != KK_ERR_NOT_FOUND) {
            *err = gerr;
            return -1;
        }
        struct ctrd_labels labels = {0};
        if (ctrd_labels_add(&labels, CTRD_NS_OWNER_LABEL, realm, err) < 0)
            return -1;
        for (unsigned i = 0; i < CTRD_ALLOW_COUNT; i++) {
            if (!(allow & (1u << i)))
                continue;
            char key[128];
            if (kk_snprintf(key, sizeof(key), err, "policy label", "%s%s", CTRD_ALLOW_LABEL_PREFIX,
                            ctrd_allow_names[i]) < 0 ||
                ctrd_labels_add(&labels, key, "true", err) < 0)
                return -1;
        }
        for (size_t i = 0; extra != NULL && i < extra->n; i++)
            if (ctrd_labels_add(&labels, extra->key[i], extra->value[i], err) < 0)
                return -1;
        struct ctrd_label_entries e;
        Containerd__Services__Namespaces__V1__Namespace n =
            CONTAINERD__SERVICES__NAMESPACES__V1__NAMESPACE__INIT;
        n.name = ns;
        n.labels = ctrd_label_entries(
            &e, &labels, &containerd__services__namespaces__v1__namespace__labels_entry__descriptor);
        n.n_labels = labels.n;
        Containerd__Services__Namespaces__V1__CreateNamespaceRequest req =
            CONTAINERD__SERVICES__NAMESPACES__V1__CREATE_NAMESPACE_REQUEST__INIT;
        req.namespace_ = &n;
        struct kk_err cerr;
        /* Create publishes an event into the namespace it acts on, so it carries that namespace. */
        if (ctrd_unary(conn, CTRD_SVC_NAMESPACES, "Create", ns, NULL, &req.base, NULL,
                       CTRD_TIMEOUT_DEFAULT_MS, &cerr) == 0) {
            out->created = true;
            ctrd_allow_list(allow, out);
            return 0;
        }
        if (cerr.kind != KK_ERR_EXISTS) { /* else: created under us; read what was recorded */
            *err = cerr;
            return -1;
        }
    }
    return kk_error(err, KK_ERR_INTERNAL, 0, "namespace %s: created and gone again while ensuring it", ns);
}

/* ---- delete ----------------------------------------------------------------------------------- */

struct ctrd_snap_list {
    size_t n, cap;
    char (*name)[160];
    char (*parent)[160];
};

static int ctrd_snap_take(const ProtobufCMessage *msg, void *opaque, struct kk_err *err)
{
    const Containerd__Services__Snapshots__V1__ListSnapshotsResponse *r = (const void *)msg;
    struct ctrd_snap_list *l = opaque;
    for (size_t i = 0; i < r->n_info; i++) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? 2 * l->cap : 64;
            if (cap > 65536)
                return kk_error(err, KK_ERR_INTERNAL, 0, "more than 65536 snapshots");
            void *a = realloc(l->name, cap * sizeof(*l->name));
            if (a == NULL)
                return kk_error(err, KK_ERR_INTERNAL, 0, "out of memory listing snapshots");
            l->name = a;
            void *b = realloc(l->parent, cap * sizeof(*l->parent));
            if (b == NULL)
                return kk_error(err, KK_ERR_INTERNAL, 0, "out of memory listing snapshots");
            l->parent = b;
            l->cap = cap;
        }
        kk_strlcpy(l->name[l->n], r->info[i]->name, sizeof(l->name[0]));
        kk_strlcpy(l->parent[l->n], r->info[i]->parent != NULL ? r->info[i]->parent : "",
                   sizeof(l->parent[0]));
        l->n++;
    }
    return CTRD_STREAM_CONTINUE;
}

/* Remove every snapshot, leaves first: a committed snapshot with children refuses removal. containerd's
 * garbage collector may be removing some of them at the same time, and a child it is removing can
 * still block its parent for a moment: a pass that removes nothing is retried a few times. */
#define CTRD_SNAP_PASSES 200
#define CTRD_SNAP_STALLS 30
static int ctrd_ns_remove_snapshots(struct ctrd_conn *conn, const char *ns, uint32_t *count,
                                    struct kk_err *err)
{
    int stalls = 0;
    for (int pass = 0; pass < CTRD_SNAP_PASSES; pass++) {
        struct ctrd_snap_list l = {0};
        Containerd__Services__Snapshots__V1__ListSnapshotsRequest req =
            CONTAINERD__SERVICES__SNAPSHOTS__V1__LIST_SNAPSHOTS_REQUEST__INIT;
        req.snapshotter = CTRD_SNAPSHOTTER;
        int rc = ctrd_server_stream(conn, CTRD_SVC_SNAPSHOTS, "List", ns, NULL, &req.base, ctrd_snap_take, &l,
                                    CTRD_TIMEOUT_DEFAULT_MS, err);
        size_t removed = 0, n = l.n;
        for (size_t i = 0; rc == 0 && i < l.n; i++) {
            bool has_child = false;
            for (size_t j = 0; j < l.n && !has_child; j++)
                has_child = strcmp(l.parent[j], l.name[i]) == 0;
            if (has_child)
                continue;
            Containerd__Services__Snapshots__V1__RemoveSnapshotRequest rm =
                CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
            rm.snapshotter = CTRD_SNAPSHOTTER;
            rm.key = l.name[i];
            struct kk_err rerr;
            if (ctrd_unary(conn, CTRD_SVC_SNAPSHOTS, "Remove", ns, NULL, &rm.base, NULL, CTRD_TIMEOUT_LONG_MS,
                           &rerr) == 0 ||
                rerr.kind == KK_ERR_NOT_FOUND) {
                removed++;
                (*count)++;
            } else {
                kk_warn("removing snapshot %s in %s: %s", l.name[i], ns, rerr.msg);
            }
        }
        free(l.name);
        free(l.parent);
        if (rc < 0)
            return -1;
        if (n == 0)
            return 0;
        if (removed == 0 && ++stalls > CTRD_SNAP_STALLS)
            return kk_error(err, KK_ERR_INTERNAL, 0, "namespace %s: %zu snapshots cannot be removed", ns, n);
        if (removed == 0) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    return kk_error(err, KK_ERR_INTERNAL, 0, "namespace %s: snapshots remain after removing layer by layer",
                    ns);
}

struct ctrd_digest_list {
    size_t n, cap;
    char (*digest)[CTRD_DIGEST_SIZE];
};

static int ctrd_content_take(const ProtobufCMessage *msg, void *opaque, struct kk_err *err)
{
    const Containerd__Services__Content__V1__ListContentResponse *r = (const void *)msg;
    struct ctrd_digest_list *l = opaque;
    for (size_t i = 0; i < r->n_info; i++) {
        if (l->n == l->cap) {
            size_t cap = l->cap ? 2 * l->cap : 64;
            if (cap > 1u << 20)
                return kk_error(err, KK_ERR_INTERNAL, 0, "too many blobs");
            void *a = realloc(l->digest, cap * sizeof(*l->digest));
            if (a == NULL)
                return kk_error(err, KK_ERR_INTERNAL, 0, "out of memory listing content");
            l->digest = a;
            l->cap = cap;
        }
        kk_strlcpy(l->digest[l->n++], r->info[i]->digest, CTRD_DIGEST_SIZE);
    }
    return CTRD_STREAM_CONTINUE;
}

static int ctrd_ns_kill_tasks(struct ctrd_conn *conn, const char *ns, struct kk_err *err)
{
    Containerd__Services__Tasks__V1__ListTasksRequest lreq =
        CONTAINERD__SERVICES__TASKS__V1__LIST_TASKS_REQUEST__INIT;
    Containerd__Services__Tasks__V1__ListTasksResponse *tasks = NULL;
    if (ctrd_unary(conn, CTRD_SVC_TASKS, "List", ns, NULL, &lreq.base, (ProtobufCMessage **)&tasks,
                   CTRD_TIMEOUT_DEFAULT_MS, err) < 0)
        return -1;
    int ret = 0;
    for (size_t i = 0; i < tasks->n_tasks && ret == 0; i++) {
        /* Tasks.List fills in the process id (the container's id for its init process), not always
         * container_id. */
        const Containerd__V1__Types__Process *p = tasks->tasks[i];
        const char *id = p->container_id != NULL && p->container_id[0] != '\0' ? p->container_id : p->id;
        if (tasks->tasks[i]->status != CONTAINERD__V1__TYPES__STATUS__STOPPED) {
            Containerd__Services__Tasks__V1__KillRequest k =
                CONTAINERD__SERVICES__TASKS__V1__KILL_REQUEST__INIT;
            k.container_id = (char *)id;
            k.signal = SIGKILL;
            k.all = true;
            struct kk_err kerr;
            if (ctrd_unary(conn, CTRD_SVC_TASKS, "Kill", ns, NULL, &k.base, NULL, CTRD_TIMEOUT_DEFAULT_MS,
                           &kerr) == 0) {
                Containerd__Services__Tasks__V1__WaitRequest w =
                    CONTAINERD__SERVICES__TASKS__V1__WAIT_REQUEST__INIT;
                w.container_id = (char *)id;
                ctrd_unary(conn, CTRD_SVC_TASKS, "Wait", ns, NULL, &w.base, NULL, 10000, &kerr);
            }
        }
        Containerd__Services__Tasks__V1__DeleteTaskRequest d =
            CONTAINERD__SERVICES__TASKS__V1__DELETE_TASK_REQUEST__INIT;
        d.container_id = (char *)id;
        struct kk_err derr;
        if (ctrd_unary(conn, CTRD_SVC_TASKS, "Delete", ns, NULL, &d.base, NULL, CTRD_TIMEOUT_LONG_MS, &derr) <
                0 &&
            derr.kind != KK_ERR_NOT_FOUND) {
            *err = derr;
            ret = -1;
        }
    }
    protobuf_c_message_free_unpacked(&tasks->base, NULL);
    return ret;
}

/* One removal of a namespace's purge, rc and derr as it returned: counted when done; a record
 * already gone (NOT_FOUND) is no failure; any other error is copied to err and gives -1. */
static int ctrd_purge_count(int rc, const struct kk_err *derr, uint32_t *count, struct kk_err *err)
{
    if (rc == 0)
        (*count)++;
    else if (derr->kind != KK_ERR_NOT_FOUND) {
        *err = *derr;
        return -1;
    }
    return 0;
}

int ctrd_ns_delete(struct ctrd *c, const char *realm, Kukeon__Ipc__Ctrd__NamespaceDeleteReply *out,
                   struct kk_err *err)
{
    char ns[KK_CTRD_ID_SIZE];
    bool deny;
    if (ctrd_ns_for_realm(c, realm, ns, &deny, err) < 0)
        return -1;
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    Containerd__Services__Namespaces__V1__GetNamespaceResponse *r = NULL;
    struct kk_err gerr;
    if (ctrd_ns_get(c, ns, &r, &gerr) < 0) {
        if (gerr.kind == KK_ERR_NOT_FOUND)
            return 0;
        *err = gerr;
        return -1;
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    out->existed = true;

    /* Tasks first (a running task holds its container and snapshot), then the records that hold
     * content, then what is left. */
    if (ctrd_ns_kill_tasks(conn, ns, err) < 0)
        return kk_error_wrap(err, "deleting the tasks of namespace %s", ns);

    Containerd__Services__Containers__V1__ListContainersResponse *cl = NULL;
    if (ctrd_containers_of(conn, ns, &cl, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < cl->n_containers; i++) {
        Containerd__Services__Containers__V1__DeleteContainerRequest d =
            CONTAINERD__SERVICES__CONTAINERS__V1__DELETE_CONTAINER_REQUEST__INIT;
        d.id = cl->containers[i]->id;
        struct kk_err derr;
        rc = ctrd_purge_count(ctrd_unary(conn, CTRD_SVC_CONTAINERS, "Delete", ns, NULL, &d.base, NULL,
                                         CTRD_TIMEOUT_DEFAULT_MS, &derr),
                              &derr, &out->containers, err);
    }
    protobuf_c_message_free_unpacked(&cl->base, NULL);
    if (rc < 0)
        return -1;

    Containerd__Services__Images__V1__ListImagesResponse *il = NULL;
    if (ctrd_images_of(conn, ns, &il, err) < 0)
        return -1;
    for (size_t i = 0; rc == 0 && i < il->n_images; i++) {
        struct kk_err derr;
        rc = ctrd_purge_count(ctrd_image_remove(c, ns, il->images[i]->name, false, &derr), &derr,
                              &out->images, err);
    }
    protobuf_c_message_free_unpacked(&il->base, NULL);
    if (rc < 0)
        return -1;

    Containerd__Services__Leases__V1__ListRequest llreq =
        CONTAINERD__SERVICES__LEASES__V1__LIST_REQUEST__INIT;
    Containerd__Services__Leases__V1__ListResponse *ll = NULL;
    if (ctrd_unary(conn, CTRD_SVC_LEASES, "List", ns, NULL, &llreq.base, (ProtobufCMessage **)&ll,
                   CTRD_TIMEOUT_DEFAULT_MS, err) < 0)
        return -1;
    for (size_t i = 0; rc == 0 && i < ll->n_leases; i++) {
        struct kk_err derr;
        rc = ctrd_purge_count(ctrd_lease_delete(c, ns, ll->leases[i]->id, false, &derr), &derr, &out->leases,
                              err);
    }
    protobuf_c_message_free_unpacked(&ll->base, NULL);
    if (rc < 0)
        return -1;

    /* Let containerd's garbage collector take what the records held, synchronously: deleting a
     * lease with sync set runs a collection before it answers. */
    char gc_lease[96];
    struct kk_err gcerr;
    if (ctrd_lease_create(c, ns, "gc", gc_lease, sizeof(gc_lease), &gcerr) < 0 ||
        ctrd_lease_delete(c, ns, gc_lease, true, &gcerr) < 0)
        kk_warn("collecting garbage in %s: %s", ns, gcerr.msg);
    if (ctrd_ns_remove_snapshots(conn, ns, &out->snapshots, err) < 0)
        return -1;

    struct ctrd_digest_list blobs = {0};
    Containerd__Services__Content__V1__ListContentRequest ctreq =
        CONTAINERD__SERVICES__CONTENT__V1__LIST_CONTENT_REQUEST__INIT;
    if (ctrd_server_stream(conn, CTRD_SVC_CONTENT, "List", ns, NULL, &ctreq.base, ctrd_content_take, &blobs,
                           CTRD_TIMEOUT_DEFAULT_MS, err) < 0) {
        free(blobs.digest);
        return -1;
    }
    for (size_t i = 0; i < blobs.n; i++) {
        Containerd__Services__Content__V1__DeleteContentRequest d =
            CONTAINERD__SERVICES__CONTENT__V1__DELETE_CONTENT_REQUEST__INIT;
        d.digest = blobs.digest[i];
        struct kk_err derr;
        if (ctrd_unary(conn, CTRD_SVC_CONTENT, "Delete", ns, NULL, &d.base, NULL, CTRD_TIMEOUT_DEFAULT_MS,
                       &derr) == 0)
            out->blobs++;
        else if (derr.kind != KK_ERR_NOT_FOUND) {
            free(blobs.digest);
            *err = derr;
            return -1;
        }
    }
    free(blobs.digest);

    Containerd__Services__Namespaces__V1__DeleteNamespaceRequest dreq =
        CONTAINERD__SERVICES__NAMESPACES__V1__DELETE_NAMESPACE_REQUEST__INIT;
    dreq.name = ns;
    if (ctrd_unary(conn, CTRD_SVC_NAMESPACES, "Delete", ns, NULL, &dreq.base, NULL, CTRD_TIMEOUT_LONG_MS,
                   err) < 0)
        return kk_error_wrap(err,
                             "namespace %s still holds something after its containers, images, leases, "
                             "snapshots and content were removed",
                             ns);
    return 0;
}

/* ---- list ------------------------------------------------------------------------------------- */

int ctrd_ns_list(struct ctrd *c, Kukeon__Ipc__Ctrd__NamespaceListReply *out, struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    Containerd__Services__Namespaces__V1__ListNamespacesRequest req =
        CONTAINERD__SERVICES__NAMESPACES__V1__LIST_NAMESPACES_REQUEST__INIT;
    Containerd__Services__Namespaces__V1__ListNamespacesResponse *r = NULL;
    if (ctrd_unary(conn, CTRD_SVC_NAMESPACES, "List", NULL, NULL, &req.base, (ProtobufCMessage **)&r,
                   CTRD_TIMEOUT_DEFAULT_MS, err) < 0)
        return -1;
    out->namespaces = calloc(r->n_namespaces + 1, sizeof(*out->namespaces));
    if (out->namespaces == NULL) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return kk_error(err, KK_ERR_INTERNAL, 0, "out of memory listing namespaces");
    }
    for (size_t i = 0; i < r->n_namespaces; i++) {
        char realm[KK_NAME_SIZE];
        const Containerd__Services__Namespaces__V1__Namespace *n = r->namespaces[i];
        if (!ctrd_ns_is_ours(c, n->name, realm))
            continue;
        Kukeon__Ipc__Ctrd__NamespaceInfo *info = calloc(1, sizeof(*info));
        if (info == NULL)
            break;
        kukeon__ipc__ctrd__namespace_info__init(info);
        info->realm = strdup(realm);
        info->ns = strdup(n->name);
        ctrd_allow_list(ctrd_policy_from_labels(n->labels, n->n_labels), info);
        out->namespaces[out->n_namespaces++] = info;
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

void ctrd_ns_list_free(Kukeon__Ipc__Ctrd__NamespaceListReply *out)
{
    for (size_t i = 0; i < out->n_namespaces; i++) {
        free(out->namespaces[i]->realm);
        free(out->namespaces[i]->ns);
        free(out->namespaces[i]->allow);
        free(out->namespaces[i]);
    }
    free(out->namespaces);
    out->namespaces = NULL;
    out->n_namespaces = 0;
}
