/* GetRealm, GetSpace, GetStack and the List* methods. A get reads the store — the status is the one
 * last persisted, nothing is re-derived or written (kukeon-reference.md 2.3) — and reports whether
 * the layer's artifacts exist, asking the helpers read-only questions. A missing resource is not an
 * error: MetadataExists is false and the client says "not found". */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/cgd_client.h"
#include "ipc/ctrd_client.h"
#include "kukeond/controller_internal.h"
#include "kukeond/regcred.h"

/* A probe that cannot be answered (a helper down) says "no" and is logged: get still shows what the
 * store holds. */
static bool ctl_cgroup_exists(struct ctl_op *op, const struct ctl_names *n)
{
    struct kk_err err = {0};
    int sock = ctl_helper(op, KK_CTL_CGD, "checking the cgroup", &err);
    struct kk_derive_names dn = ctl_dnames(n);
    struct kk_cgd_stat st;
    if (sock < 0 || kk_cgd_stat(sock, &dn, &st, &err) < 0) {
        kk_warn("get: %s", err.msg);
        return false;
    }
    return st.exists;
}

static bool ctl_namespace_exists(struct ctl_op *op, const char *realm)
{
    struct kk_err err = {0};
    int sock = ctl_helper(op, KK_CTL_CTRD, "checking the containerd namespace", &err);
    Kukeon__Ipc__Ctrd__NamespaceListReply *list = NULL;
    if (sock < 0 || kk_ctrd_ns_list(sock, &list, &err) < 0) {
        kk_warn("get: %s", err.msg);
        return false;
    }
    bool found = false;
    for (size_t i = 0; i < list->n_namespaces && !found; i++)
        found = list->namespaces[i]->realm != NULL && strcmp(list->namespaces[i]->realm, realm) == 0;
    protobuf_c_message_free_unpacked(&list->base, NULL);
    return found;
}

/* The space's network exists when the copy of its conflist is in the space's directory
 * (spec.cniConfigPath, derived, never read from the document): the create writes it once kuke-netd
 * has made the network, the delete removes it once kuke-netd has removed the network. */
static bool ctl_network_exists(struct ctl_op *op, const struct ctl_names *n)
{
    struct kk_derive_names dn = ctl_dnames(n);
    struct kk_derived d;
    struct kk_err err = {0};
    char path[KK_DERIVE_PATH_SIZE + 32];
    if (kk_derive(&dn, &op->ctl->dcfg, &d, &err) < 0 ||
        kk_snprintf(path, sizeof(path), &err, "conflist path", "%s/network.conflist", d.metadata_dir) < 0)
        return false;
    struct stat st;
    return fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

json_t *ctl_get(struct ctl_op *op, const struct ctl_layer *L, const json_t *in, struct kk_err *err)
{
    struct ctl_names n;
    if (ctl_names_from_doc(op, L, in, &n, err) < 0)
        return NULL;
    json_t *doc = NULL;
    int rc = ctl_doc_get(op, &n, &doc, NULL, err);
    if (rc < 0)
        return NULL;
    bool exists = rc == 1;
    if (L->kind == KK_KIND_REALM)
        kk_regcred_redact(doc);
    if (!exists) {
        /* The reference answers the request's own document beside MetadataExists false. */
        struct kk_derive_names dn = ctl_dnames(&n);
        if ((doc = kk_doc_new(L->kind, &dn, err)) == NULL)
            return NULL;
    }
    json_t *res = json_pack("{s:o, s:b, s:b}", L->title, doc, "MetadataExists", exists, "CgroupExists",
                            exists && ctl_cgroup_exists(op, &n));
    if (res == NULL)
        return NULL;
    int set = 0;
    if (L->kind == KK_KIND_REALM)
        set = json_object_set_new(res, "ContainerdNamespaceExists",
                                  json_boolean(ctl_namespace_exists(op, n.realm)));
    if (L->kind == KK_KIND_SPACE)
        set =
            json_object_set_new(res, "CNINetworkExists", json_boolean(exists && ctl_network_exists(op, &n)));
    if (set != 0) {
        json_decref(res);
        return NULL;
    }
    return res;
}

/* Append the documents of every child of parent, of the child layer, to out. A child whose document
 * cannot be read (corrupt, or deleted meanwhile) is logged and left out, as the reference does. */
static int ctl_list_under(struct ctl_op *op, const struct ctl_names *parent, json_t *out, struct kk_err *err)
{
    json_t *names = NULL;
    if (ctl_children(op, parent, &names, err) < 0)
        return -1;
    size_t i;
    json_t *v;
    json_array_foreach(names, i, v)
    {
        struct ctl_names child;
        json_t *doc = NULL;
        struct kk_err e = {0};
        if (ctl_names_child(parent, json_string_value(v), &child, &e) < 0 ||
            ctl_doc_get(op, &child, &doc, NULL, &e) < 0) {
            kk_warn("listing: skipping %s: %s", json_string_value(v), e.msg);
            continue;
        }
        if (doc != NULL && json_array_append_new(out, doc) < 0) {
            json_decref(names);
            return kk_error(err, KK_ERR_INTERNAL, 0, "listing: out of memory");
        }
    }
    json_decref(names);
    return 0;
}

/* The realms to walk: the one named (when it exists), or every realm. */
static int ctl_scope_names(struct ctl_op *op, const struct ctl_names *parent, const char *want, json_t **out,
                           struct kk_err *err)
{
    if (want[0] == '\0')
        return ctl_children(op, parent, out, err);
    *out = json_pack("[s]", want);
    return *out != NULL ? 0 : kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
}

json_t *ctl_list(struct ctl_op *op, const struct ctl_layer *L, const char *realm, const char *space,
                 struct kk_err *err)
{
    json_t *out = json_array();
    if (out == NULL)
        return NULL;
    if (L->kind == KK_KIND_REALM) {
        struct ctl_names top = {.depth = KK_KIND_REALM};
        /* The parent of every realm: the store lists realms for an empty realm name. */
        json_t *names = NULL;
        struct kk_derive_names none = {0};
        if (kk_store_list(&op->ctl->store, &none, &names, err) < 0) {
            json_decref(out);
            return NULL;
        }
        size_t i;
        json_t *v;
        json_array_foreach(names, i, v)
        {
            json_t *doc = NULL;
            struct kk_err e = {0};
            if (kk_strlcpy(top.realm, json_string_value(v), sizeof(top.realm)) < 0 ||
                ctl_doc_get(op, &top, &doc, NULL, &e) < 0) {
                kk_warn("listing: skipping realm %s: %s", json_string_value(v), e.msg);
                continue;
            }
            if (doc != NULL)
                json_array_append_new(out, doc);
        }
        json_decref(names);
        return out;
    }
    /* Spaces of one realm or of all; stacks of one space, of every space of a realm, or of all. A scope
     * that does not exist has no children: an empty list, as the reference answers. */
    struct kk_derive_names none = {0};
    json_t *realms = NULL;
    if (realm[0] != '\0') {
        realms = json_pack("[s]", realm);
    } else if (kk_store_list(&op->ctl->store, &none, &realms, err) < 0) {
        json_decref(out);
        return NULL;
    }
    size_t i;
    json_t *r;
    json_array_foreach(realms, i, r)
    {
        struct ctl_names rn = {.depth = KK_KIND_REALM};
        if (kk_strlcpy(rn.realm, json_string_value(r), sizeof(rn.realm)) < 0)
            continue;
        if (L->kind == KK_KIND_SPACE) {
            if (ctl_list_under(op, &rn, out, err) < 0)
                goto fail;
            continue;
        }
        json_t *spaces = NULL;
        if (ctl_scope_names(op, &rn, space, &spaces, err) < 0)
            goto fail;
        size_t j;
        json_t *s;
        json_array_foreach(spaces, j, s)
        {
            struct ctl_names sn;
            struct kk_err e = {0};
            if (ctl_names_child(&rn, json_string_value(s), &sn, &e) < 0)
                continue;
            if (ctl_list_under(op, &sn, out, err) < 0) {
                json_decref(spaces);
                goto fail;
            }
        }
        json_decref(spaces);
    }
    json_decref(realms);
    return out;
fail:
    json_decref(realms);
    json_decref(out);
    return NULL;
}
