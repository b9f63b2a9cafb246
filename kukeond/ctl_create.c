/* CreateRealm, CreateSpace and CreateStack: create the document, or find it, then make sure every
 * artifact of the layer exists. Each step is idempotent and recorded before it acts: the document
 * with state Creating first (the intent), then the effects — the containerd namespace (kuke-ctrd)
 * and the realm's cgroup; the space's network (kuke-netd, and the conflist's copy beside the
 * space's document) and cgroup; the stack's cgroup (kuke-cgd)
 * — then the status Ready with what they made. A crash at any point leaves a document that a second
 * create (or the reconcile loop) finishes; a failed effect leaves state Failed with the reason. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/cgd_client.h"
#include "ipc/ctrd_client.h"
#include "ipc/netd_client.h"
#include "kukeond/controller_internal.h"
#include "kukeond/ctl_regcred.h"

/* What the effects of one create found and did, for the status and the Result. */
struct ctl_made {
    bool cgroup_pre, cgroup_created;
    char cgroup_path[KK_DERIVE_PATH_SIZE];
    char subtree[KK_CGD_CONTROLLERS_SIZE];
    bool ns_pre, ns_created;   /* realm: containerd namespace */
    bool net_pre, net_created; /* space: CNI network */
};

/* The document a create stores: the request's Doc (its labels and spec are the user's), with the
 * names as validated, the kind and apiVersion filled, nothing the store or the daemon owns. */
static json_t *ctl_new_doc(struct ctl_op *op, const struct ctl_layer *L, const json_t *in,
                           const struct ctl_names *n, struct kk_err *err)
{
    json_t *doc = json_deep_copy(in);
    json_t *md = doc != NULL ? json_object_get(doc, "metadata") : NULL;
    json_t *spec = doc != NULL ? json_object_get(doc, "spec") : NULL;
    if (doc != NULL && !json_is_object(md)) {
        md = json_object();
        json_object_set_new(doc, "metadata", md);
    }
    if (doc != NULL && !json_is_object(spec)) {
        spec = json_object();
        json_object_set_new(doc, "spec", spec);
    }
    if (doc == NULL || md == NULL || spec == NULL) {
        json_decref(doc);
        kk_error(err, KK_ERR_INTERNAL, 0, "building a %s document: out of memory", L->noun);
        return NULL;
    }
    json_object_del(doc, "status");
    json_object_del(md, "generation");
    int rc = json_object_set_new(doc, "apiVersion", json_string(KK_API_VERSION)) |
             json_object_set_new(doc, "kind", json_string(L->title)) |
             json_object_set_new(md, "name", json_string(ctl_name_at(n, L->kind)));
    if (L->kind >= KK_KIND_SPACE)
        rc |= json_object_set_new(spec, "realmId", json_string(n->realm));
    if (L->kind >= KK_KIND_STACK)
        rc |= json_object_set_new(spec, "spaceId", json_string(n->space));
    if (L->kind == KK_KIND_STACK && kk_json_str(spec, "id")[0] == '\0')
        rc |= json_object_set_new(spec, "id", json_string(n->stack));
    if (rc != 0) {
        json_decref(doc);
        kk_error(err, KK_ERR_INTERNAL, 0, "building a %s document: out of memory", L->noun);
        return NULL;
    }
    if (kk_doc_validate(doc, err) < 0 || kk_doc_complete(doc, &op->ctl->dcfg, err) < 0) {
        json_decref(doc);
        ctl_fail_kind(op, L->create_kind, err);
        return NULL;
    }
    return doc;
}

/* The intent: the new document with state Creating. 1 written, 0 somebody else created it first
 * (the caller reads it and goes on as for an existing one), -1 error. */
static int ctl_write_intent(struct ctl_op *op, json_t *doc, struct kk_err *err)
{
    json_t *status = json_pack("{s:s}", "state", "Creating");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (status == NULL || kk_doc_set_status(doc, status) < 0 || kk_doc_stamp_lifecycle(doc, &now) < 0) {
        json_decref(status);
        return kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
    }
    json_decref(status);
    struct kk_store_token tok = KK_STORE_TOKEN_INIT;
    int rc = kk_store_put(&op->ctl->store, doc, &tok, err);
    kk_store_token_clear(&tok);
    if (rc == 0)
        return 1;
    return kk_store_err_stale(err) ? 0 : -1;
}

/* ---- effects ------------------------------------------------------------------------------------- */

/* words joined with ", " into buf. */
static void ctl_join(char *buf, size_t size, char *const *words, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && len < size; i++) {
        int w = snprintf(buf + len, size - len, "%s%s", i > 0 ? ", " : "", words[i]);
        if (w < 0)
            break;
        len += (size_t)w;
    }
}

/* The policy recorded in the realm's existing namespace, for a message; "unknown" when it cannot be read. */
static void ctl_recorded_policy(int sock, const char *realm, char *buf, size_t size)
{
    snprintf(buf, size, "unknown");
    Kukeon__Ipc__Ctrd__NamespaceListReply *list = NULL;
    struct kk_err e = {0};
    if (kk_ctrd_ns_list(sock, &list, &e) < 0)
        return;
    for (size_t i = 0; i < list->n_namespaces; i++) {
        const Kukeon__Ipc__Ctrd__NamespaceInfo *ni = list->namespaces[i];
        if (ni->realm != NULL && strcmp(ni->realm, realm) == 0) {
            ctl_join(buf, size, ni->allow, ni->n_allow);
            break;
        }
    }
    protobuf_c_message_free_unpacked(&list->base, NULL);
}

/* Whether two lists of words (spec.allow) hold the same words, in any order; absent = empty. */
static bool ctl_same_words(const json_t *a, const json_t *b)
{
    if (json_array_size(a) != json_array_size(b))
        return false;
    size_t i, j;
    json_t *x, *y;
    json_array_foreach(a, i, x)
    {
        bool found = false;
        json_array_foreach(b, j, y) found = found || json_equal(x, y);
        if (!found)
            return false;
    }
    return true;
}

/* The words of a realm's spec.allow (validated: kuke-ctrd's words, in its order), at most 16. */
static size_t ctl_policy_words(const json_t *allow, char *words[16])
{
    size_t n = 0, i;
    json_t *w;
    json_array_foreach(allow, i, w)
    {
        if (json_is_string(w) && n < 16)
            words[n++] = (char *)json_string_value(w);
    }
    return n;
}

static int ctl_make_namespace(struct ctl_op *op, const struct ctl_names *n, const json_t *doc,
                              struct ctl_made *made, struct kk_err *err)
{
    int sock = ctl_helper(op, KK_CTL_CTRD, "creating the containerd namespace", err);
    if (sock < 0)
        return -1;
    Kukeon__Ipc__Ctrd__NamespaceInfo *info = NULL;
    /* The realm's policy (spec.allow); none: the default, nothing beyond what kuke-ctrd allows
     * anyway. kuke-ctrd records it when it creates the namespace and refuses (DENIED) an ensure with
     * another one. */
    char *allow[16];
    size_t n_allow = ctl_policy_words(json_object_get(kk_doc_spec(doc), "allow"), allow);
    if (kk_ctrd_ns_ensure(sock, n->realm, (const char *const *)allow, n_allow, &info, err) < 0) {
        if (err->kind != KK_ERR_DENIED || strstr(err->msg, "already has a policy") == NULL)
            return kk_error_wrap(err, "containerd namespace of realm \"%s\"", n->realm);
        /* The namespace outlived an earlier realm of this name, or was made outside Kukeon. */
        char want[160], have[160];
        ctl_join(want, sizeof(want), allow, n_allow);
        ctl_recorded_policy(sock, n->realm, have, sizeof(have));
        return kk_error(err, KK_ERR_DENIED, 0,
                        "realm \"%s\" asks for policy [%s] (spec.allow), but its containerd namespace "
                        "already exists with policy [%s], recorded when it was created; a policy never "
                        "changes in place: delete the realm (kuke delete realm %s --cascade removes the "
                        "namespace and everything in it), then create it again with the policy you want",
                        n->realm, want, have, n->realm);
    }
    made->ns_created = info->created;
    made->ns_pre = !info->created;
    protobuf_c_message_free_unpacked(&info->base, NULL);
    return 0;
}

/* The copy of a space's conflist beside its document, where spec.cniConfigPath points (as the
 * reference keeps it): the controller writes it, as the run path's owner, from the file kuke-netd
 * wrote to the CNI conf dir. netd writes nothing in the run path (docs/netd.md): a directory the API
 * worker owns is no place for a root process to write. */
#define CTL_CONFLIST_MAX        (64u * 1024u)
#define CTL_CONFLIST_COPY       "network.conflist"
#define CTL_CONFLIST_TMP_PREFIX ".network.conflist-" /* + 16 hex + ".tmp"; ctl_delete.c sweeps them */

/* Read a small regular file (not a link) of dirfd into a new NUL-terminated buffer: 1, 0 absent. */
static int ctl_read_small(int dirfd, const char *name, const char *shown, char **out, size_t *len,
                          struct kk_err *err)
{
    *out = NULL;
    *len = 0;
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : kk_error(err, KK_ERR_INTERNAL, errno, "opening %s", shown);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "reading %s", shown);
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > CTL_CONFLIST_MAX)
        return kk_error(
            err, KK_ERR_INVALID, 0,
            "%s is not a regular file of at most %u bytes: remove it, then create the space again", shown,
            CTL_CONFLIST_MAX);
    _cleanup_free_ char *buf = malloc(CTL_CONFLIST_MAX + 1);
    if (buf == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading %s", shown);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, CTL_CONFLIST_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "reading %s", shown);
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > CTL_CONFLIST_MAX)
            return kk_error(err, KK_ERR_INVALID, 0, "%s grew past %u bytes while read", shown,
                            CTL_CONFLIST_MAX);
    }
    buf[n] = '\0';
    *len = n;
    *out = KK_STEAL(buf);
    return 1;
}

/* Whether text is the conflist of the space d: its network name and its bridge. */
static bool ctl_conflist_is_space(const char *text, size_t len, const struct kk_derived *d)
{
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    bool ok = j != NULL && strcmp(kk_json_str(j, "name"), d->network_name) == 0;
    bool bridge = false;
    size_t i;
    json_t *pl;
    json_array_foreach(ok ? json_object_get(j, "plugins") : NULL, i, pl)
    {
        if (strcmp(kk_json_str(pl, "type"), "bridge") == 0)
            bridge = strcmp(kk_json_str(pl, "bridge"), d->bridge_name) == 0;
    }
    json_decref(j);
    return ok && bridge;
}

/* Make <space dir>/network.conflist hold what kuke-netd wrote to conf_path (the text comes with its
 * reply: cniConfDir may not be readable by this process). 1 when it was written, 0 when it already
 * held it. */
static int ctl_copy_conflist(struct ctl_op *op, const struct kk_derived *d, const char *conf_path,
                             const char *conf_text, struct kk_err *err)
{
    char want[KK_DERIVE_PATH_SIZE + 300], copy[KK_DERIVE_PATH_SIZE + 32];
    if (kk_snprintf(want, sizeof(want), err, "conflist path", "%s/%s.conflist", op->ctl->cfg.cni_conf_dir,
                    d->network_name) < 0 ||
        kk_snprintf(copy, sizeof(copy), err, "conflist copy", "%s/" CTL_CONFLIST_COPY, d->metadata_dir) < 0)
        return -1;
    /* The same derivation on both sides; a difference means two configurations in one group. */
    if (strcmp(conf_path, want) != 0)
        return kk_error(
            err, KK_ERR_INTERNAL, 0,
            "kuke-netd wrote the conflist to %s, but this process expects %s: the helpers run with "
            "another cniConfDir; restart kukeond (or kuke) with one configuration",
            conf_path, want);
    _cleanup_free_ char *have = NULL;
    size_t have_len = 0;
    const char *text = conf_text;
    size_t len = strlen(conf_text);
    int rc;
    if (len == 0)
        return kk_error(err, KK_ERR_NOT_FOUND, 0,
                        "kuke-netd reported the network ready but sent no conflist for %s: create the space again",
                        want);
    if (!ctl_conflist_is_space(text, len, d))
        return kk_error(
            err, KK_ERR_INVALID, 0,
            "%s is not the conflist of space %s/%s (network %s, bridge %s): remove it, then create "
            "the space again",
            want, d->realm, d->space, d->network_name, d->bridge_name);
    _cleanup_close_ int dfd = open(d->metadata_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening the space's directory %s", d->metadata_dir);
    if ((rc = ctl_read_small(dfd, CTL_CONFLIST_COPY, copy, &have, &have_len, err)) < 0)
        return -1;
    if (rc > 0 && have_len == len && memcmp(have, text, len) == 0)
        return 0;
    /* Atomic and durable like every file of the run path, under a unique temporary name because
     * kuke in-process may write beside a daemon; 0640: the run path's group (kukeon) may read it, as
     * the documents. */
    if (kk_store_write_file(dfd, CTL_CONFLIST_COPY, copy, CTL_CONFLIST_TMP_PREFIX, 0640, text, len, err) < 0)
        return -1;
    return 1;
}

static int ctl_make_network(struct ctl_op *op, const struct ctl_names *n, struct ctl_made *made,
                            struct kk_err *err)
{
    int sock = ctl_helper(op, KK_CTL_NETD, "creating the space network", err);
    if (sock < 0)
        return -1;
    struct kk_derive_names dn = ctl_dnames(n);
    struct kk_derived d;
    if (kk_derive(&dn, &op->ctl->dcfg, &d, err) < 0)
        return -1;
    kk_info("Creating space network '%s'", d.network_name);
    struct kk_netd_network net;
    if (kk_netd_network_ensure(sock, n->realm, n->space, &net, err) < 0)
        return kk_error_wrap(err, "network \"%s\" of space \"%s\"", d.network_name, n->space);
    int copied = ctl_copy_conflist(op, &d, net.conflist_path, net.conflist, err);
    if (copied < 0)
        return kk_error_wrap(err, "network \"%s\" of space \"%s\"", d.network_name, n->space);
    /* A subnet allocated now, or a conflist (or its copy) (re)written now, is a network made by this
     * request. */
    made->net_created = net.created || net.regenerated || copied > 0;
    made->net_pre = !made->net_created;
    kk_debug("space %s/%s: network %s bridge %s subnet %s conflist %s", n->realm, n->space, net.network,
             net.bridge, net.subnet, net.conflist_path);
    return 0;
}

static int ctl_make_cgroup(struct ctl_op *op, const struct ctl_names *n, struct ctl_made *made,
                           struct kk_err *err)
{
    int sock = ctl_helper(op, KK_CTL_CGD, "creating the cgroup", err);
    if (sock < 0)
        return -1;
    struct kk_derive_names dn = ctl_dnames(n);
    struct kk_cgd_created c;
    if (kk_cgd_create(sock, &dn, false, &c, err) < 0) {
        char what[6 * KK_NAME_SIZE];
        ctl_describe(n, what, sizeof(what));
        return kk_error_wrap(err, "cgroup of %s", what);
    }
    made->cgroup_created = c.created;
    made->cgroup_pre = !c.created;
    if (kk_strlcpy(made->cgroup_path, c.cgroup_path, sizeof(made->cgroup_path)) < 0 ||
        kk_strlcpy(made->subtree, c.subtree_controllers, sizeof(made->subtree)) < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "kuke-cgd answered an over-long cgroup path");
    /* Reported, never faked (DESIGN.md section 5): the status lists only what is enabled. */
    if (c.missing[0] != '\0')
        kk_info("cgroup %s: this host's cgroup v2 does not offer: %s", c.cgroup_path, c.missing);
    return 0;
}

/* The effects of layer L, in order; each helper call is idempotent. The cgroup comes first: it is
 * local and cheap, and a layer whose namespace or network failed still has it, so a retry redoes
 * only what failed, and its children's cgroups have their parent. */
static int ctl_effects(struct ctl_op *op, const struct ctl_layer *L, const struct ctl_names *n,
                       const json_t *doc, struct ctl_made *made, struct kk_err *err)
{
    if (ctl_make_cgroup(op, n, made, err) < 0)
        return -1;
    if (L->kind == KK_KIND_REALM && ctl_make_namespace(op, n, doc, made, err) < 0)
        return -1;
    /* Needs kuke-netd able to write the space's network files; a failure is recorded in the status
     * (state Failed, netd's reason) and answered, never skipped. */
    if (L->kind == KK_KIND_SPACE && ctl_make_network(op, n, made, err) < 0)
        return -1;
    return 0;
}

/* The status after the effects: Ready, with what they made. */
static json_t *ctl_ready_status(const struct ctl_layer *L, const json_t *doc, const struct ctl_made *made)
{
    json_t *st = ctl_status_copy(doc);
    json_t *subtree = ctl_word_list(made->subtree);
    if (st == NULL || subtree == NULL) {
        json_decref(st);
        json_decref(subtree);
        return NULL;
    }
    json_object_del(st, "reason");
    json_object_del(st, "message");
    int rc = json_object_set_new(st, "state", json_string("Ready")) |
             json_object_set_new(st, "cgroupPath", json_string(made->cgroup_path));
    if (json_array_size(subtree) > 0)
        rc |= json_object_set_new(st, "subtreeControllers", subtree);
    else
        json_decref(subtree), json_object_del(st, "subtreeControllers");
    rc |= json_object_set_new(st, "cgroupReady", json_true());
    if (L->kind == KK_KIND_REALM)
        rc |= json_object_set_new(st, "containerdNamespaceReady", json_true());
    rc |= json_object_set_new(st, "observedGeneration", json_integer(kk_doc_generation(doc)));
    if (rc != 0) {
        json_decref(st);
        return NULL;
    }
    return st;
}

/* A failed effect is recorded, so get shows it and the next create (or reconcile) retries. */
static void ctl_record_failure(struct ctl_op *op, const struct ctl_names *n, const json_t *doc,
                               const struct kk_err *why)
{
    json_t *st = ctl_status_copy(doc);
    if (st == NULL)
        return;
    struct kk_err e = {0};
    if (json_object_set_new(st, "state", json_string("Failed")) == 0 &&
        json_object_set_new(st, "reason", json_string("ProvisioningFailed")) == 0 &&
        json_object_set_new(st, "message", json_string(why->msg)) == 0 &&
        ctl_status_write(op, n, st, 0, NULL, &e) < 0)
        kk_warn("recording the failure in the status: %s", e.msg);
    json_decref(st);
}

/* ---- create ------------------------------------------------------------------------------------- */

int ctl_check_parents(struct ctl_op *op, const struct ctl_names *n, struct kk_err *err)
{
    for (int k = KK_KIND_REALM; k < (int)n->depth; k++) {
        struct ctl_names p = *n;
        p.depth = (enum kk_kind)k;
        json_t *doc = NULL;
        int rc = ctl_doc_get(op, &p, &doc, NULL, err);
        json_decref(doc);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return ctl_not_found(op, &p, err);
    }
    return 0;
}

json_t *ctl_create(struct ctl_op *op, const struct ctl_layer *L, const json_t *in, struct kk_err *err)
{
    struct ctl_names n;
    if (ctl_names_from_doc(op, L, in, &n, err) < 0 || ctl_check_parents(op, &n, err) < 0)
        return NULL;
    op->kind = L->create_kind;
    json_t *doc = NULL;
    bool created = false;
    /* Two creates of the same name may race: the loser reads the winner's document and goes on. */
    for (int attempt = 0; attempt < 3 && doc == NULL; attempt++) {
        int rc = ctl_doc_get(op, &n, &doc, NULL, err);
        if (rc < 0)
            return NULL;
        if (rc == 1)
            break;
        json_t *fresh = ctl_new_doc(op, L, in, &n, err);
        if (fresh == NULL)
            return NULL;
        /* A realm's registry passwords go to its secrets, before the document that lists them. */
        if (L->kind == KK_KIND_REALM && ctl_regcred_store_new(op, n.realm, fresh, err) < 0) {
            json_decref(fresh);
            ctl_fail_kind(op, L->create_kind, err);
            return NULL;
        }
        rc = ctl_write_intent(op, fresh, err);
        if (rc < 0) {
            json_decref(fresh);
            return NULL;
        }
        if (rc == 1) {
            doc = fresh;
            created = true;
        } else {
            json_decref(fresh);
        }
    }
    if (doc == NULL) {
        ctl_fail(op, L->create_kind, err, KK_ERR_UNAVAILABLE,
                 "%s \"%s\" keeps changing under this request; try again", L->noun, kk_doc_name(in));
        return NULL;
    }

    /* Create of an existing realm that names a policy: the one it has, or a refusal (never a silent
     * "already existed" with another policy than the caller asked for). */
    json_t *asked = L->kind == KK_KIND_REALM && !created ? json_object_get(kk_doc_spec(in), "allow") : NULL;
    if (asked != NULL && !json_is_null(asked) &&
        !ctl_same_words(asked, json_object_get(kk_doc_spec(doc), "allow"))) {
        char have[160], *words[16];
        size_t nw = ctl_policy_words(json_object_get(kk_doc_spec(doc), "allow"), words);
        ctl_join(have, sizeof(have), words, nw);
        json_decref(doc);
        ctl_fail(op, L->create_kind, err, KK_ERR_INVALID,
                 "realm \"%s\" already exists with policy [%s]; a realm's policy (spec.allow) is set when "
                 "it is created: delete the realm (kuke delete realm %s --cascade), then create it again "
                 "with the policy you want",
                 n.realm, have, n.realm);
        return NULL;
    }

    struct ctl_made made = {0};
    if (ctl_effects(op, L, &n, doc, &made, err) < 0) {
        ctl_record_failure(op, &n, doc, err);
        json_decref(doc);
        kk_error_wrap(err, "failed to create %s", L->noun);
        ctl_fail_kind(op, L->create_kind, err);
        return NULL;
    }
    json_t *st = ctl_ready_status(L, doc, &made);
    json_t *stored = NULL;
    int rc = st == NULL ? kk_error(err, KK_ERR_INTERNAL, 0, "out of memory")
                        : ctl_status_write(op, &n, st, kk_doc_generation(doc), &stored, err);
    json_decref(st);
    json_decref(doc);
    if (rc < 0) {
        kk_error_wrap(err, "failed to create %s", L->noun);
        ctl_fail_kind(op, L->create_kind, err);
        return NULL;
    }

    json_t *res = json_pack("{s:o, s:b, s:b, s:b, s:b, s:b}", L->title, stored, "MetadataExistsPre", !created,
                            "MetadataExistsPost", 1, "CgroupExistsPre", made.cgroup_pre, "CgroupExistsPost",
                            1, "CgroupCreated", made.cgroup_created);
    if (res == NULL)
        return NULL;
    int set = 0;
    if (L->kind == KK_KIND_REALM)
        set |= json_object_set_new(res, "ContainerdNamespaceExistsPre", json_boolean(made.ns_pre)) |
               json_object_set_new(res, "ContainerdNamespaceExistsPost", json_true()) |
               json_object_set_new(res, "ContainerdNamespaceCreated", json_boolean(made.ns_created));
    if (L->kind == KK_KIND_SPACE)
        set |= json_object_set_new(res, "CNINetworkExistsPre", json_boolean(made.net_pre)) |
               json_object_set_new(res, "CNINetworkExistsPost", json_true()) |
               json_object_set_new(res, "CNINetworkCreated", json_boolean(made.net_created));
    set |= json_object_set_new(res, "Created", json_boolean(created));
    if (set != 0) {
        json_decref(res);
        return NULL;
    }
    kk_info("%s %s: %s", L->noun, created ? "created" : "ensured",
            kk_doc_name(json_object_get(res, L->title)));
    return res;
}
