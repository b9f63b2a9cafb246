/* kuke-ctrd's dispatch table and request handlers: validate every name and value of a request, derive
 * what it acts on, refuse (DENIED, with the reason) what the confinement forbids, and only then call
 * containerd. The serve loop writes the one audit line per decision with the names recorded here. */
#include "kuke-ctrd/ctrd.h"

#include <stdlib.h>
#include <string.h>

#include "common/names.h"
#include "common/util.h"

#define CTRD(ctx) ((struct ctrd *)(ctx))

/* The realm of a request, validated, and its namespace; a bad name is refused, not an error. */
static int ctrd_req_realm(struct kk_ipc_request *req, struct ctrd *c, const char *realm,
                          char ns[KK_CTRD_ID_SIZE], struct kk_err *err)
{
    bool deny;
    struct kk_err e;
    if (ctrd_ns_for_realm(c, realm, ns, &deny, &e) < 0)
        return kk_ipc_deny(req, err,
                           e.kind == KK_ERR_DENIED ? KK_IPC_DENY_NOT_OWNED : KK_IPC_DENY_INVALID_NAME, "%s",
                           e.msg);
    kk_ipc_audit_name(req, "realm", realm);
    kk_ipc_audit_name(req, "ns", ns);
    return 0;
}

/* A write into a realm needs its namespace to exist: containerd would otherwise create it silently,
 * without the realm's policy. Returns the recorded policy. */
static int ctrd_req_policy(struct ctrd *c, const char *ns, unsigned *allow, struct kk_err *err)
{
    if (ctrd_ns_policy(c, ns, allow, err) < 0) {
        if (err->kind == KK_ERR_NOT_FOUND)
            return kk_error(err, KK_ERR_NOT_FOUND, 0, "namespace %s does not exist; create the realm first",
                            ns);
        return -1;
    }
    return 0;
}

static int ctrd_req_container(struct kk_ipc_request *req, struct ctrd *c, const Kukeon__Ipc__Ctrd__Ref *ref,
                              struct kk_derived *d, struct kk_err *err)
{
    struct kk_err e;
    if (ctrd_ref_container(c, ref, d, &e) < 0)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_NAME, "%s", e.msg);
    if (!ctrd_ns_is_ours(c, d->ctrd_namespace, NULL))
        return kk_ipc_deny(req, err, KK_IPC_DENY_NOT_OWNED,
                           "namespace \"%s\" is not a Kukeon realm namespace", d->ctrd_namespace);
    kk_ipc_audit_name(req, "realm", d->realm);
    kk_ipc_audit_name(req, "ns", d->ctrd_namespace);
    kk_ipc_audit_name(req, "id", d->ctrd_id);
    return 0;
}

/* A reply must fit one frame (KK_IPC_MAX_PAYLOAD): a list that would not is cut, its last entries
 * dropped, and says so (truncated); the API worker then lists a narrower scope. Frees what it drops. */
#define CTRD_REPLY_ROOM (KK_IPC_MAX_PAYLOAD - 1024)
static bool ctrd_fit_reply(const ProtobufCMessage *reply, size_t *n, void **items, void (*drop)(void *))
{
    bool cut = false;
    while (*n > 0 && protobuf_c_message_get_packed_size(reply) > CTRD_REPLY_ROOM) {
        (*n)--;
        drop(items[*n]);
        items[*n] = NULL;
        cut = true;
    }
    return cut;
}

static void ctrd_drop_status(void *p)
{
    ctrd_container_status_free(p);
    free(p);
}

static void ctrd_drop_image(void *p)
{
    Kukeon__Ipc__Ctrd__Image *img = p;
    free(img->name);
    free(img->digest);
    free(img->media_type);
    free(img);
}

static void ctrd_drop_ns(void *p)
{
    Kukeon__Ipc__Ctrd__NamespaceInfo *ns = p;
    free(ns->realm);
    free(ns->ns);
    free(ns->allow);
    free(ns);
}

/* ---- namespaces -------------------------------------------------------------------------------- */

static bool ctrd_label_key_ok(const char *k)
{
    size_t n = strnlen(k, 128);
    if (n == 0 || n >= 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = k[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '/' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

static int h_ns_ensure(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx, struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__NamespaceEnsure *m = (const void *)msg;
    struct ctrd *c = CTRD(ctx);
    char ns[KK_CTRD_ID_SIZE];
    if (ctrd_req_realm(req, c, m->realm, ns, err) < 0)
        return -1;
    unsigned allow = 0;
    for (size_t i = 0; i < m->n_allow; i++) {
        unsigned bit;
        if (ctrd_allow_parse(m->allow[i], &bit) < 0)
            return kk_ipc_deny(req, err, KK_IPC_DENY_NOT_IN_TABLE, "unknown policy field \"%.40s\"",
                               m->allow[i]);
        allow |= bit;
    }
    struct ctrd_labels extra = {0};
    for (size_t i = 0; i < m->n_labels; i++) {
        const Kukeon__Ipc__Ctrd__Label *l = m->labels[i];
        if (!ctrd_label_key_ok(l->key) || strnlen(l->value, 256) >= 256)
            return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE,
                               "label %zu: key of [A-Za-z0-9./_-] up to 127 bytes, "
                               "value up to 255 bytes",
                               i);
        if (kk_str_has_prefix(l->key, "kukeon.io/"))
            return kk_ipc_deny(req, err, KK_IPC_DENY_POLICY, "label \"%.60s\" is kuke-ctrd's own", l->key);
        if (ctrd_labels_add(&extra, l->key, l->value, err) < 0)
            return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE, "too many labels");
    }
    Kukeon__Ipc__Ctrd__NamespaceInfo out = KUKEON__IPC__CTRD__NAMESPACE_INFO__INIT;
    bool conflict = false;
    int rc = ctrd_ns_ensure(c, m->realm, allow, &extra, &out, &conflict, err);
    if (rc == 0)
        rc = kk_ipc_reply(req, &out.base, -1, err);
    free(out.realm);
    free(out.ns);
    free(out.allow);
    if (rc < 0 && conflict) {
        char why[KK_ERR_MSG_MAX];
        kk_strlcpy(why, err->msg, sizeof(why));
        return kk_ipc_deny(req, err, KK_IPC_DENY_POLICY, "%s", why);
    }
    return rc;
}

static int h_ns_delete(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx, struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__NamespaceDelete *m = (const void *)msg;
    char ns[KK_CTRD_ID_SIZE];
    if (ctrd_req_realm(req, CTRD(ctx), m->realm, ns, err) < 0)
        return -1;
    Kukeon__Ipc__Ctrd__NamespaceDeleteReply out = KUKEON__IPC__CTRD__NAMESPACE_DELETE_REPLY__INIT;
    if (ctrd_ns_delete(CTRD(ctx), m->realm, &out, err) < 0)
        return -1;
    return kk_ipc_reply(req, &out.base, -1, err);
}

static int h_ns_list(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx, struct kk_err *err)
{
    (void)msg;
    Kukeon__Ipc__Ctrd__NamespaceListReply out = KUKEON__IPC__CTRD__NAMESPACE_LIST_REPLY__INIT;
    int rc = ctrd_ns_list(CTRD(ctx), &out, err);
    if (rc == 0) {
        out.truncated = ctrd_fit_reply(&out.base, &out.n_namespaces, (void **)out.namespaces, ctrd_drop_ns);
        rc = kk_ipc_reply(req, &out.base, -1, err);
    }
    ctrd_ns_list_free(&out);
    return rc;
}

/* ---- images ----------------------------------------------------------------------------------- */

static int h_image_load(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                        struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__ImageLoad *m = (const void *)msg;
    struct ctrd *c = CTRD(ctx);
    char ns[KK_CTRD_ID_SIZE];
    unsigned allow;
    if (ctrd_req_realm(req, c, m->realm, ns, err) < 0)
        return -1;
    struct kk_err e;
    if (m->name[0] != '\0' && ctrd_image_name_check(m->name, &e) < 0)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE, "%s", e.msg);
    if (m->name[0] != '\0')
        kk_ipc_audit_name(req, "image", m->name);
    if (ctrd_req_policy(c, ns, &allow, err) < 0)
        return -1;
    Kukeon__Ipc__Ctrd__ImageLoadReply out = KUKEON__IPC__CTRD__IMAGE_LOAD_REPLY__INIT;
    int rc = ctrd_image_load(c, ns, kk_ipc_request_fd(req), m->name[0] != '\0' ? m->name : NULL, &out, err);
    for (size_t i = 0; i < out.n_images && i < 2; i++)
        kk_ipc_audit_name(req, "loaded", out.images[i]->name);
    if (rc == 0)
        rc = kk_ipc_reply(req, &out.base, -1, err);
    ctrd_images_free(out.images, out.n_images);
    return rc;
}

static int h_image_list(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                        struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__ImageList *m = (const void *)msg;
    char ns[KK_CTRD_ID_SIZE];
    if (ctrd_req_realm(req, CTRD(ctx), m->realm, ns, err) < 0)
        return -1;
    Kukeon__Ipc__Ctrd__ImageListReply out = KUKEON__IPC__CTRD__IMAGE_LIST_REPLY__INIT;
    int rc = ctrd_image_list(CTRD(ctx), ns, &out, err);
    if (rc == 0) {
        out.truncated = ctrd_fit_reply(&out.base, &out.n_images, (void **)out.images, ctrd_drop_image);
        rc = kk_ipc_reply(req, &out.base, -1, err);
    }
    ctrd_images_free(out.images, out.n_images);
    return rc;
}

static int h_image_remove(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                          struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__ImageRemove *m = (const void *)msg;
    char ns[KK_CTRD_ID_SIZE], name[CTRD_IMAGE_NAME_MAX + 32];
    if (ctrd_req_realm(req, CTRD(ctx), m->realm, ns, err) < 0)
        return -1;
    struct kk_err e;
    if (ctrd_image_name_canonical(m->name, name, sizeof(name), &e) < 0)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE, "%s", e.msg);
    kk_ipc_audit_name(req, "image", name);
    /* Synchronous: when the answer comes, containerd has collected what only this image held. */
    return ctrd_image_remove(CTRD(ctx), ns, name, true, err);
}

static int h_image_prune(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                         struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__ImagePrune *m = (const void *)msg;
    char ns[KK_CTRD_ID_SIZE];
    if (ctrd_req_realm(req, CTRD(ctx), m->realm, ns, err) < 0)
        return -1;
    Kukeon__Ipc__Ctrd__ImagePruneReply out = KUKEON__IPC__CTRD__IMAGE_PRUNE_REPLY__INIT;
    int rc = ctrd_image_prune(CTRD(ctx), ns, &out, err);
    if (rc == 0)
        rc = kk_ipc_reply(req, &out.base, -1, err);
    for (size_t i = 0; i < out.n_removed; i++)
        free(out.removed[i]);
    free(out.removed);
    return rc;
}

/* A pull asks which blobs the realm already holds before it fetches (kukeond/ctl_image.c). Reading only:
 * a realm without a namespace holds nothing. */
static int h_content_held(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                          struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__ContentHeld *m = (const void *)msg;
    char ns[KK_CTRD_ID_SIZE];
    if (ctrd_req_realm(req, CTRD(ctx), m->realm, ns, err) < 0)
        return -1;
    if (m->n_digests > KK_CTRD_CONTENT_HELD_MAX)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE, "%zu digests: at most %u at a time",
                           m->n_digests, KK_CTRD_CONTENT_HELD_MAX);
    for (size_t i = 0; i < m->n_digests; i++)
        if (!ctrd_digest_valid(m->digests[i]))
            return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE,
                               "digest %zu \"%.80s\" is not sha256:<64 hex>", i, m->digests[i]);
    Kukeon__Ipc__Ctrd__ContentHeldReply out = KUKEON__IPC__CTRD__CONTENT_HELD_REPLY__INIT;
    int rc = ctrd_content_held(CTRD(ctx), ns, m->digests, m->n_digests, &out, err);
    if (rc == 0)
        rc = kk_ipc_reply(req, &out.base, -1, err);
    free(out.held);
    free(out.sizes);
    return rc;
}

/* ---- containers and tasks ---------------------------------------------------------------------- */

static int h_container_create(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                              struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__ContainerCreate *m = (const void *)msg;
    struct ctrd *c = CTRD(ctx);
    struct kk_derived d;
    if (ctrd_req_container(req, c, m->ref, &d, err) < 0)
        return -1;
    unsigned allow;
    struct ctrd_refusal r = {0};
    /* The policy is read first: a refusal must not depend on whether containerd is up, but it can
     * only be decided knowing the realm's policy. */
    if (ctrd_req_policy(c, d.ctrd_namespace, &allow, err) < 0)
        return -1;
    if (ctrd_spec_check(m, allow, &d, c->cfg.run_path, &r) < 0)
        return kk_ipc_deny(req, err, r.reason, "container %s: %s", d.ctrd_id, r.msg);
    kk_ipc_audit_name(req, "image", m->image);
    Kukeon__Ipc__Ctrd__ContainerCreateReply out = KUKEON__IPC__CTRD__CONTAINER_CREATE_REPLY__INIT;
    /* INIT points the strings at protobuf-c's shared empty string: a failed create must not free it. */
    out.id = out.ns = out.log_path = NULL;
    int rc = ctrd_container_create(c, m, &d, d.ctrd_namespace, allow, &out, &r, err);
    if (rc < 0 && r.reason != 0)
        return kk_ipc_deny(req, err, r.reason, "container %s: %s", d.ctrd_id, r.msg);
    if (rc == 0)
        rc = kk_ipc_reply(req, &out.base, -1, err);
    free(out.id);
    free(out.ns);
    free(out.log_path);
    return rc;
}

static int h_task_start(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                        struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__ContainerRef *m = (const void *)msg;
    struct kk_derived d;
    if (ctrd_req_container(req, CTRD(ctx), m->ref, &d, err) < 0)
        return -1;
    struct ctrd_refusal r = {0};
    Kukeon__Ipc__Ctrd__TaskStartReply out = KUKEON__IPC__CTRD__TASK_START_REPLY__INIT;
    if (ctrd_task_start(CTRD(ctx), &d, &out.pid, &r, err) < 0) {
        if (r.reason != 0)
            return kk_ipc_deny(req, err, r.reason, "container %s: %s", d.ctrd_id, r.msg);
        return -1;
    }
    return kk_ipc_reply(req, &out.base, -1, err);
}

static int h_task_kill(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx, struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__TaskKill *m = (const void *)msg;
    struct kk_derived d;
    if (ctrd_req_container(req, CTRD(ctx), m->ref, &d, err) < 0)
        return -1;
    if (m->signal == 0 || m->signal > 64)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE, "signal %u is not 1..64", m->signal);
    char sig[12];
    snprintf(sig, sizeof(sig), "%u", m->signal);
    kk_ipc_audit_name(req, "signal", sig);
    return ctrd_task_kill(CTRD(ctx), &d, m->signal, m->all, err);
}

static int h_task_wait_or_stop(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                               struct kk_err *err, bool stop)
{
    const Kukeon__Ipc__Ctrd__TaskWait *m = (const void *)msg;
    struct kk_derived d;
    if (ctrd_req_container(req, CTRD(ctx), m->ref, &d, err) < 0)
        return -1;
    if (m->timeout_ms == 0 || m->timeout_ms > KK_CTRD_WAIT_MAX_MS)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE, "timeout %u ms is not 1..%u", m->timeout_ms,
                           KK_CTRD_WAIT_MAX_MS);
    Kukeon__Ipc__Ctrd__TaskExit out = KUKEON__IPC__CTRD__TASK_EXIT__INIT;
    int rc = stop ? ctrd_task_stop(CTRD(ctx), &d, m->timeout_ms, &out, err)
                  : ctrd_task_wait(CTRD(ctx), &d, m->timeout_ms, &out, err);
    if (rc < 0)
        return -1;
    return kk_ipc_reply(req, &out.base, -1, err);
}

static int h_task_stop(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx, struct kk_err *err)
{
    return h_task_wait_or_stop(req, msg, ctx, err, true);
}

static int h_task_wait(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx, struct kk_err *err)
{
    return h_task_wait_or_stop(req, msg, ctx, err, false);
}

static int h_container_delete(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                              struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__ContainerRef *m = (const void *)msg;
    struct kk_derived d;
    if (ctrd_req_container(req, CTRD(ctx), m->ref, &d, err) < 0)
        return -1;
    Kukeon__Ipc__Ctrd__ContainerDeleteReply out = KUKEON__IPC__CTRD__CONTAINER_DELETE_REPLY__INIT;
    if (ctrd_container_delete(CTRD(ctx), &d, &out, err) < 0)
        return -1;
    return kk_ipc_reply(req, &out.base, -1, err);
}

static int h_container_list(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                            struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__ContainerList *m = (const void *)msg;
    struct ctrd *c = CTRD(ctx);
    if (m->ref == NULL)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_NAME, "the request names no realm");
    struct kk_derive_names n = {m->ref->realm, m->ref->space, m->ref->stack, m->ref->cell, m->ref->container};
    struct kk_derived d;
    struct kk_err e;
    if (kk_derive(&n, &c->dcfg, &d, &e) < 0)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_NAME, "%s", e.msg);
    char ns[KK_CTRD_ID_SIZE];
    if (ctrd_req_realm(req, c, m->ref->realm, ns, err) < 0)
        return -1;
    Kukeon__Ipc__Ctrd__ContainerListReply out = KUKEON__IPC__CTRD__CONTAINER_LIST_REPLY__INIT;
    int rc = ctrd_container_list(c, ns, &n, &out, err);
    if (rc == 0) {
        out.truncated =
            ctrd_fit_reply(&out.base, &out.n_containers, (void **)out.containers, ctrd_drop_status);
        rc = kk_ipc_reply(req, &out.base, -1, err);
    }
    ctrd_container_list_free(&out);
    return rc;
}

static int h_container_status(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                              struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__ContainerRef *m = (const void *)msg;
    struct kk_derived d;
    if (ctrd_req_container(req, CTRD(ctx), m->ref, &d, err) < 0)
        return -1;
    Kukeon__Ipc__Ctrd__ContainerStatus out = KUKEON__IPC__CTRD__CONTAINER_STATUS__INIT;
    if (ctrd_container_status(CTRD(ctx), &d, &out, err) < 0)
        return -1;
    int rc = kk_ipc_reply(req, &out.base, -1, err);
    ctrd_container_status_free(&out);
    return rc;
}

static int h_events_read(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                         struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__EventsRead *m = (const void *)msg;
    if (m->max == 0 || m->max > KK_CTRD_EVENTS_MAX || m->timeout_ms > KK_CTRD_EVENTS_WAIT_MAX_MS)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE, "events read: max 1..%u, timeout up to %u ms",
                           KK_CTRD_EVENTS_MAX, KK_CTRD_EVENTS_WAIT_MAX_MS);
    Kukeon__Ipc__Ctrd__EventsReadReply out = KUKEON__IPC__CTRD__EVENTS_READ_REPLY__INIT;
    int rc = ctrd_events_read(CTRD(ctx), m->max, m->timeout_ms, &out, err);
    /* The reconcile loop polls every second: an empty answer while streaming is not worth a line. */
    if (rc == 0 && out.n_events == 0 && out.dropped == 0 && !out.gap && out.streaming)
        kk_ipc_quiet(req);
    if (rc == 0)
        rc = kk_ipc_reply(req, &out.base, -1, err);
    ctrd_events_reply_free(&out);
    return rc;
}

#define D(type, name, fd, msgname, handler)                                                                  \
    {                                                                                                        \
        (type), (name), KK_IPC_PERMIT, (fd), &kukeon__ipc__ctrd__##msgname##__descriptor, (handler)          \
    }

const struct kk_ipc_dispatch ctrd_table[] = {
    D(KK_CTRD_NS_ENSURE, "ns.ensure", false, namespace_ensure, h_ns_ensure),
    D(KK_CTRD_NS_DELETE, "ns.delete", false, namespace_delete, h_ns_delete),
    D(KK_CTRD_NS_LIST, "ns.list", false, namespace_list, h_ns_list),
    /* The tarball comes as a descriptor the caller opened: kuke-ctrd never opens a path it is given. */
    D(KK_CTRD_IMAGE_LOAD, "image.load", true, image_load, h_image_load),
    D(KK_CTRD_IMAGE_LIST, "image.list", false, image_list, h_image_list),
    D(KK_CTRD_IMAGE_REMOVE, "image.remove", false, image_remove, h_image_remove),
    D(KK_CTRD_IMAGE_PRUNE, "image.prune", false, image_prune, h_image_prune),
    D(KK_CTRD_CONTENT_HELD, "content.held", false, content_held, h_content_held),
    D(KK_CTRD_CONTAINER_CREATE, "container.create", false, container_create, h_container_create),
    D(KK_CTRD_TASK_START, "task.start", false, container_ref, h_task_start),
    D(KK_CTRD_TASK_KILL, "task.kill", false, task_kill, h_task_kill),
    D(KK_CTRD_TASK_STOP, "task.stop", false, task_wait, h_task_stop),
    D(KK_CTRD_TASK_WAIT, "task.wait", false, task_wait, h_task_wait),
    D(KK_CTRD_CONTAINER_DELETE, "container.delete", false, container_ref, h_container_delete),
    D(KK_CTRD_CONTAINER_LIST, "container.list", false, container_list, h_container_list),
    D(KK_CTRD_CONTAINER_STATUS, "container.status", false, container_ref, h_container_status),
    D(KK_CTRD_EVENTS_READ, "events.read", false, events_read, h_events_read),
};
const size_t ctrd_table_size = KK_ARRAY_SIZE(ctrd_table);
