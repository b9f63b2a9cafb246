/* ApplyDocuments and DeleteDocuments (kukeon-reference.md 2.2, 2.5 `delete -f`, 3.8): a manifest is
 * parsed and validated whole before anything is touched (kukeond/manifest.h), then each document is
 * applied in kind order on its own — a failed one is reported and the next one goes on. Apply gets
 * the stored document, creates what is absent (and its missing parents), and otherwise diffs
 * (kukeond/apply.h): nothing → unchanged, compatible changes → stored in place, breaking ones →
 * refused, except in a cell's root container, which recreates the cell. Delete walks the kinds in
 * reverse; a document already gone is "not found", not a failure. */
#include "kukeond/apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "kukeond/controller_internal.h"
#include "kukeond/ctl_cell.h"
#include "kukeond/ctl_regcred.h"
#include "kukeond/manifest.h"

/* ---- base64 -------------------------------------------------------------------------------------- */

static const char b64_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *kk_base64_encode(const void *data, size_t len)
{
    const unsigned char *p = data;
    if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
        return NULL;
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out == NULL)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int kk_base64_decode(const char *text, size_t len, char **out, size_t *out_len, struct kk_err *err)
{
    *out = NULL;
    *out_len = 0;
    char *buf = malloc(len / 4 * 3 + 4);
    if (buf == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "decoding base64: out of memory");
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    size_t pad = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad > 0) {
            free(buf);
            return kk_error(err, KK_ERR_INVALID, 0, "illegal base64 data at input byte %zu", i);
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    /* Six bits left over cannot be a byte; more than two '=' cannot be padding. */
    if (bits >= 6 || pad > 2) {
        free(buf);
        return kk_error(err, KK_ERR_INVALID, 0, "illegal base64 data: truncated input");
    }
    buf[o] = '\0';
    *out = buf;
    *out_len = o;
    return 0;
}

/* ---- the diff ------------------------------------------------------------------------------------ */

/* Nothing in it: absent, null, false, 0, "", [] or {}. */
static bool value_empty(const json_t *v)
{
    if (v == NULL || json_is_null(v) || json_is_false(v))
        return true;
    if (json_is_string(v))
        return json_string_length(v) == 0;
    if (json_is_integer(v))
        return json_integer_value(v) == 0;
    if (json_is_array(v))
        return json_array_size(v) == 0;
    if (json_is_object(v))
        return json_object_size(v) == 0;
    return false;
}

static bool value_same(const json_t *a, const json_t *b)
{
    bool ea = value_empty(a), eb = value_empty(b);
    if (ea || eb)
        return ea && eb;
    return json_equal(a, b);
}

/* The paths each kind may change in place. A path ending in '.' names a container's fields. */
static const char *const compat_realm[] = {"metadata.labels", "metadata.annotations",
                                           "spec.registryCredentials", NULL};
static const char *const compat_space[] = {"metadata.labels", "metadata.annotations", "spec.network.egress",
                                           "spec.defaults.container", NULL};
static const char *const compat_stack[] = {"metadata.labels", "metadata.annotations", NULL};
static const char *const compat_cell[] = {"metadata.labels", "metadata.annotations", "spec.tty",
                                          "spec.autoDelete", NULL};
static const char *const compat_container[] = {"env",
                                               "volumes",
                                               "secrets",
                                               "securityOpts",
                                               "ports",
                                               "networksAliases",
                                               "restartPolicy",
                                               "restartBackoffSeconds",
                                               "restartMaxRetries",
                                               "tty",
                                               "repos",
                                               "git",
                                               NULL};

/* The spec members each kind has (kukeon-reference.md 3.2-3.6). Members outside these are fields
 * the reference's decoder would have dropped: kept as the user wrote them, never a change. A
 * realm's spec.allow (its policy, a Kukeon-in-C extension) is known and not compatible, so breaking:
 * kuke-ctrd records it in the realm's containerd namespace when it creates it, and never changes it. */
static const char *const known_realm[] = {"namespace", "registryCredentials", "allow", NULL};
static const char *const known_space[] = {"realmId", "cniConfigPath", "network", "defaults", NULL};
static const char *const known_stack[] = {"id", "realmId", "spaceId", NULL};
static const char *const known_cell[] = {
    "id", "realmId", "spaceId", "stackId", "tty", "autoDelete", "nestedCgroupRuntime", NULL};
static const char *const known_container[] = {"id",
                                              "containerdId",
                                              "root",
                                              "image",
                                              "command",
                                              "args",
                                              "workingDir",
                                              "env",
                                              "ports",
                                              "volumes",
                                              "networks",
                                              "networksAliases",
                                              "privileged",
                                              "hostNetwork",
                                              "hostPID",
                                              "hostCgroup",
                                              "user",
                                              "readOnlyRootFilesystem",
                                              "capabilities",
                                              "securityOpts",
                                              "devices",
                                              "tmpfs",
                                              "resources",
                                              "secrets",
                                              "restartPolicy",
                                              "restartBackoffSeconds",
                                              "restartMaxRetries",
                                              "attachable",
                                              "tty",
                                              "repos",
                                              "git",
                                              "cniConfigPath",
                                              "realmId",
                                              "spaceId",
                                              "stackId",
                                              "cellId",
                                              NULL};

static bool in_list(const char *const *list, const char *s)
{
    for (; *list != NULL; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

/* Whether some compatible path lies beneath path (so the diff descends into it). */
static bool is_parent_of_compat(const char *const *list, const char *path)
{
    size_t n = strlen(path);
    for (; *list != NULL; list++)
        if (strncmp(*list, path, n) == 0 && (*list)[n] == '.')
            return true;
    return false;
}

struct diff_ctx {
    const char *const *compat;
    struct kk_apply_diff *out;
    const char *const *known; /* the kind's spec members */
    bool oom;
};

static void diff_note(struct diff_ctx *c, json_t *list, const char *path)
{
    if (json_array_append_new(list, json_string(path)) < 0)
        c->oom = true;
}

/* Set target[key] to a copy of v, or remove it when v is absent. */
static void diff_take(struct diff_ctx *c, json_t *target, const char *key, const json_t *v)
{
    if (target == NULL)
        return;
    if (v == NULL) {
        json_object_del(target, key);
        return;
    }
    if (json_object_set_new(target, key, json_deep_copy(v)) < 0)
        c->oom = true;
}

/* Compare the members of two objects under prefix ("metadata", "spec", "spec.network"); compatible
 * changes are made in target (the merged copy's object at the same place). */
static void diff_obj(struct diff_ctx *c, const char *prefix, const json_t *a, const json_t *d, json_t *target)
{
    json_t *keys = json_object();
    if (keys == NULL) {
        c->oom = true;
        return;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)a, k, v) json_object_set(keys, k, json_null());
    json_object_foreach((json_t *)d, k, v) json_object_set(keys, k, json_null());
    /* In sorted order, so the changes read the same every time. */
    size_t n = json_object_size(keys), i = 0;
    const char **sorted = calloc(n + 1, sizeof(*sorted));
    if (sorted == NULL) {
        json_decref(keys);
        c->oom = true;
        return;
    }
    json_object_foreach(keys, k, v) sorted[i++] = k;
    qsort(sorted, n, sizeof(*sorted), (int (*)(const void *, const void *))strcmp);
    for (i = 0; i < n; i++) {
        const char *key = sorted[i];
        /* Unknown members, and beneath spec's own members all but the compatible paths, are not
         * this diff's: the reference's decoder never sees them. */
        bool top = strcmp(prefix, "spec") == 0;
        if (top && !in_list(c->known, key))
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s.%s", prefix, key);
        const json_t *av = json_object_get(a, key), *dv = json_object_get(d, key);
        if (value_same(av, dv))
            continue;
        if (in_list(c->compat, path)) {
            diff_note(c, c->out->changes, path);
            diff_take(c, target, key, dv);
        } else if (is_parent_of_compat(c->compat, path) && (av == NULL || json_is_object(av)) &&
                   (dv == NULL || json_is_object(dv))) {
            json_t *sub = target != NULL ? json_object_get(target, key) : NULL;
            if (target != NULL && !json_is_object(sub)) {
                sub = json_object();
                if (sub == NULL || json_object_set_new(target, key, sub) < 0)
                    c->oom = true;
            }
            diff_obj(c, path, av, dv, sub);
        } else if (top) {
            diff_note(c, c->out->breaking, path);
        }
    }
    free(sorted);
    json_decref(keys);
}

static json_t *container_by_id(const json_t *containers, const char *id)
{
    size_t i;
    json_t *ct;
    json_array_foreach(containers, i, ct) if (strcmp(kk_json_str(ct, "id"), id) == 0) return ct;
    return NULL;
}

/* A cell's containers, matched by id. The root the daemon synthesized into actual is left alone. */
static void diff_containers(struct diff_ctx *c, const json_t *actual, const json_t *desired, json_t *merged)
{
    const json_t *aspec = kk_doc_spec(actual), *dspec = kk_doc_spec(desired);
    json_t *ac = json_object_get(aspec, "containers"), *dc = json_object_get(dspec, "containers");
    json_t *mc = json_object_get(kk_doc_spec(merged), "containers");
    const char *aroot = kk_json_str(aspec, "rootContainerId"), *droot = kk_json_str(dspec, "rootContainerId");
    bool synthesized = droot[0] == '\0' && aroot[0] != '\0' && container_by_id(dc, aroot) == NULL;
    /* rootContainerId: a synthesized root is the daemon's; otherwise a different root is a change of
     * the root container. */
    if (!synthesized && strcmp(aroot, droot) != 0) {
        diff_note(c, c->out->breaking, "spec.rootContainerId");
        c->out->root_breaking = true;
    }
    size_t i;
    json_t *ct;
    json_array_foreach(ac, i, ct)
    {
        const char *id = kk_json_str(ct, "id");
        if ((synthesized && strcmp(id, aroot) == 0) || container_by_id(dc, id) != NULL)
            continue;
        char path[300];
        snprintf(path, sizeof(path), "spec.containers[%s]", id);
        diff_note(c, c->out->breaking, path);
        if (!synthesized && strcmp(id, aroot) == 0)
            c->out->root_breaking = true;
    }
    json_array_foreach(dc, i, ct)
    {
        const char *id = kk_json_str(ct, "id");
        const json_t *have = container_by_id(ac, id);
        char prefix[300];
        snprintf(prefix, sizeof(prefix), "spec.containers[%s]", id);
        bool is_root = droot[0] != '\0' && strcmp(id, droot) == 0;
        if (have == NULL) {
            diff_note(c, c->out->breaking, prefix);
            c->out->root_breaking |= is_root;
            continue;
        }
        json_t *target = container_by_id(mc, id);
        json_t *keys = json_object();
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)have, k, v) json_object_set(keys, k, json_null());
        json_object_foreach(ct, k, v) json_object_set(keys, k, json_null());
        size_t n = json_object_size(keys), j = 0;
        const char **sorted = calloc(n + 1, sizeof(*sorted));
        if (keys == NULL || sorted == NULL) {
            json_decref(keys);
            free(sorted);
            c->oom = true;
            return;
        }
        json_object_foreach(keys, k, v) sorted[j++] = k;
        qsort(sorted, n, sizeof(*sorted), (int (*)(const void *, const void *))strcmp);
        for (j = 0; j < n; j++) {
            if (!in_list(known_container, sorted[j]))
                continue;
            const json_t *av = json_object_get(have, sorted[j]), *dv = json_object_get(ct, sorted[j]);
            if (value_same(av, dv))
                continue;
            char path[600];
            snprintf(path, sizeof(path), "%s.%s", prefix, sorted[j]);
            if (in_list(compat_container, sorted[j])) {
                diff_note(c, c->out->changes, path);
                diff_take(c, target, sorted[j], dv);
            } else {
                diff_note(c, c->out->breaking, path);
                c->out->root_breaking |= is_root;
            }
        }
        free(sorted);
        json_decref(keys);
    }
}

int kk_apply_diff(enum kk_kind kind, const json_t *actual, const json_t *desired, struct kk_apply_diff *out,
                  struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    struct diff_ctx c = {.out = out};
    switch (kind) {
    case KK_KIND_REALM:
        c.compat = compat_realm, c.known = known_realm;
        break;
    case KK_KIND_SPACE:
        c.compat = compat_space, c.known = known_space;
        break;
    case KK_KIND_STACK:
        c.compat = compat_stack, c.known = known_stack;
        break;
    case KK_KIND_CELL:
        /* containers and rootContainerId are compared apart; provenance is lineage, never compared. */
        c.compat = compat_cell, c.known = known_cell;
        break;
    default:
        return kk_error(err, KK_ERR_INVALID, 0, "a %s is not diffed", kk_kind_str(kind));
    }
    out->changes = json_array();
    out->breaking = json_array();
    out->merged = json_deep_copy(actual);
    if (out->changes == NULL || out->breaking == NULL || out->merged == NULL) {
        kk_apply_diff_free(out);
        return kk_error(err, KK_ERR_INTERNAL, 0, "diffing: out of memory");
    }
    json_t *mmd = kk_doc_metadata(out->merged), *mspec = kk_doc_spec(out->merged);
    if (mmd == NULL)
        json_object_set_new(out->merged, "metadata", mmd = json_object());
    if (mspec == NULL)
        json_object_set_new(out->merged, "spec", mspec = json_object());
    /* metadata: only labels and annotations are the user's to change; the name is the identity. */
    static const char *const md_keys[] = {"labels", "annotations"};
    for (size_t i = 0; i < KK_ARRAY_SIZE(md_keys); i++) {
        const json_t *av = json_object_get(kk_doc_metadata(actual), md_keys[i]);
        const json_t *dv = json_object_get(kk_doc_metadata(desired), md_keys[i]);
        if (value_same(av, dv))
            continue;
        char path[64];
        snprintf(path, sizeof(path), "metadata.%s", md_keys[i]);
        diff_note(&c, out->changes, path);
        diff_take(&c, mmd, md_keys[i], dv);
    }
    json_t *aspec = kk_doc_spec(actual), *dspec = kk_doc_spec(desired);
    diff_obj(&c, "spec", aspec, dspec, mspec);
    if (kind == KK_KIND_CELL)
        diff_containers(&c, actual, desired, out->merged);
    if (c.oom) {
        kk_apply_diff_free(out);
        return kk_error(err, KK_ERR_INTERNAL, 0, "diffing: out of memory");
    }
    return 0;
}

void kk_apply_diff_free(struct kk_apply_diff *d)
{
    json_decref(d->changes);
    json_decref(d->breaking);
    json_decref(d->merged);
    memset(d, 0, sizeof(*d));
}

/* ---- apply --------------------------------------------------------------------------------------- */

/* One document's outcome: the reference's ResourceResult ({index, kind, name, action, error?,
 * changes?, details?}; DeleteDocuments has cascaded instead of changes). */
struct outcome {
    const char *action;
    char error[KK_ERR_MSG_MAX];
    json_t *changes; /* array, may stay empty */
    json_t *details; /* object, may stay empty */
    json_int_t cascaded;
};

static json_t *outcome_json(const struct kk_manifest_doc *md, const char *name, struct outcome *o, bool del)
{
    json_t *r = json_pack("{s:I, s:s, s:s, s:s}", "index", (json_int_t)md->index, "kind",
                          kk_kind_str(md->kind), "name", name, "action", o->action);
    if (r == NULL)
        return NULL;
    if (o->error[0] != '\0')
        json_object_set_new(r, "error", json_string(o->error));
    if (!del && json_array_size(o->changes) > 0)
        json_object_set(r, "changes", o->changes);
    if (del && o->cascaded > 0)
        json_object_set_new(r, "cascaded", json_integer(o->cascaded));
    if (json_object_size(o->details) > 0)
        json_object_set(r, "details", o->details);
    return r;
}

static void outcome_fail(struct outcome *o, const struct kk_err *err)
{
    o->action = "failed";
    snprintf(o->error, sizeof(o->error), "%s", err->msg[0] != '\0' ? err->msg : "failed");
}

/* The names of a validated Realm, Space, Stack or Cell document. */
static int names_of(const json_t *doc, enum kk_kind kind, struct ctl_names *n, struct kk_err *err)
{
    struct kk_derive_names d;
    if (kk_doc_names(doc, &d, err) < 0)
        return -1;
    memset(n, 0, sizeof(*n));
    n->depth = kind;
    const char *src[4] = {d.realm, d.space, d.stack, d.cell};
    char *dst[4] = {n->realm, n->space, n->stack, n->cell};
    for (int k = 0; k <= (int)kind && k < 4; k++)
        if (src[k] == NULL || kk_strlcpy(dst[k], src[k], KK_NAME_SIZE) < 0)
            return kk_error(err, KK_ERR_INVALID, 0, "%s name is missing or too long",
                            kk_name_kind_str((enum kk_name_kind)k));
    return 0;
}

/* Create the missing parents of the document at n (a Space, Stack or Cell), top down, as a bare
 * create of each layer would. Each one made is noted in details. */
static int ensure_parents(struct ctl_op *op, const struct ctl_names *n, json_t *details, struct kk_err *err)
{
    for (int k = KK_KIND_REALM; k < (int)n->depth && k <= KK_KIND_STACK; k++) {
        struct ctl_names p = *n;
        p.depth = (enum kk_kind)k;
        json_t *doc = NULL;
        int rc = ctl_doc_get(op, &p, &doc, NULL, err);
        json_decref(doc);
        if (rc < 0)
            return -1;
        if (rc == 1)
            continue;
        struct kk_derive_names dn = ctl_dnames(&p);
        json_t *bare = kk_doc_new((enum kk_kind)k, &dn, err);
        if (bare == NULL)
            return -1;
        const struct ctl_layer *L = ctl_layer_of((enum kk_kind)k);
        json_t *res = ctl_create(op, L, bare, err);
        json_decref(bare);
        if (res == NULL)
            return kk_error_wrap(err, "creating the parent %s \"%s\"", L->noun, ctl_name_at(&p, p.depth));
        json_decref(res);
        char key[32];
        snprintf(key, sizeof(key), "%s", L->noun);
        json_object_set_new(details, key, json_string("created"));
    }
    return 0;
}

/* Store merged over the document read with tok: a compatible update. */
static int store_update(struct ctl_op *op, json_t *merged, struct kk_store_token *tok, struct kk_err *err)
{
    if (kk_store_put(&op->ctl->store, merged, tok, err) == 0)
        return 0;
    if (kk_store_err_stale(err))
        return kk_error(err, KK_ERR_UNAVAILABLE, 0,
                        "the stored document changed while apply was updating it; apply again");
    return -1;
}

/* A realm, space or stack. */
static void apply_layer(struct ctl_op *op, const struct kk_manifest_doc *md, struct outcome *o)
{
    struct kk_err err = {0};
    const struct ctl_layer *L = ctl_layer_of(md->kind);
    struct ctl_names n;
    if (names_of(md->doc, md->kind, &n, &err) < 0 || ensure_parents(op, &n, o->details, &err) < 0) {
        outcome_fail(o, &err);
        return;
    }
    json_t *actual = NULL, *want = NULL;
    struct kk_store_token tok = KK_STORE_TOKEN_INIT;
    struct ctl_regcred_plan plan = {0};
    int rc = ctl_doc_get(op, &n, &actual, &tok, &err);
    if (rc < 0) {
        outcome_fail(o, &err);
        goto out;
    }
    if (rc == 0) {
        json_t *res = ctl_create(op, L, md->doc, &err);
        if (res == NULL)
            outcome_fail(o, &err);
        else
            o->action = "created";
        json_decref(res);
        goto out;
    }
    /* A realm is compared without its registry passwords, which the store never holds: they are
     * compared with the realm's secrets instead, and a changed one is named, never shown. */
    want = json_deep_copy(md->doc);
    if (want == NULL) {
        kk_error(&err, KK_ERR_INTERNAL, 0, "out of memory");
        outcome_fail(o, &err);
        goto out;
    }
    if (md->kind == KK_KIND_REALM && ctl_regcred_plan(op, n.realm, want, &plan, &err) < 0) {
        outcome_fail(o, &err);
        goto out;
    }
    struct kk_apply_diff d;
    if (kk_apply_diff(md->kind, actual, want, &d, &err) < 0) {
        outcome_fail(o, &err);
        goto out;
    }
    if (json_array_size(d.breaking) > 0) {
        char *list = json_dumps(d.breaking, JSON_COMPACT);
        bool policy = md->kind == KK_KIND_REALM && list != NULL && strstr(list, "\"spec.allow\"") != NULL;
        kk_error(&err, KK_ERR_INVALID, 0,
                 "%s \"%s\" has breaking changes: %s.%s Delete the %s and recreate it", L->noun,
                 ctl_name_at(&n, n.depth), list != NULL ? list : "[]",
                 policy ? " A realm's policy (spec.allow) is recorded in its containerd namespace when the "
                          "realm is created and never changes in place."
                        : "",
                 L->noun);
        free(list);
        outcome_fail(o, &err);
    } else if (json_array_size(d.changes) == 0 && !plan.dirty) {
        o->action = "unchanged";
    } else if (ctl_regcred_commit(op, n.realm, &plan, &err) < 0 ||
               (json_array_size(d.changes) > 0 && store_update(op, d.merged, &tok, &err) < 0)) {
        outcome_fail(o, &err);
    } else {
        o->action = "updated";
        json_array_extend(o->changes, d.changes);
        if (plan.changes != NULL)
            json_array_extend(o->changes, plan.changes);
        kk_info("apply: %s %s updated", L->noun, ctl_name_at(&n, n.depth));
    }
    /* A layer a crash or a failed effect left short of Ready is finished now: create is idempotent
     * and redoes only what is missing. */
    const char *state = kk_doc_state(actual);
    if (strcmp(o->action, "failed") != 0 && strcmp(state, "Ready") != 0) {
        char was[64];
        snprintf(was, sizeof(was), "%s", state[0] != '\0' ? state : "no state");
        json_t *res = ctl_create(op, L, d.merged, &err);
        if (res == NULL) {
            outcome_fail(o, &err);
        } else {
            char line[128];
            snprintf(line, sizeof(line), "state %s: re-provisioned", was);
            o->action = "updated";
            json_array_append_new(o->changes, json_string(line));
        }
        json_decref(res);
    }
    kk_apply_diff_free(&d);
out:
    ctl_regcred_plan_free(&plan);
    json_decref(want);
    json_decref(actual);
    kk_store_token_clear(&tok);
}

/* The state a cell is in: freshly observed when the cell controller can, else as stored. */
static const char *cell_state(struct ctl_op *op, const struct ctl_names *n, const json_t *doc, char *buf,
                              size_t size)
{
    json_t *st = NULL;
    struct kk_err e = {0};
    struct ctl_op probe = {.ctl = op->ctl, .kind = CTL_KIND_UNKNOWN};
    if (ctl_cell_observe(&probe, n, doc, &st, &e) == 0 && st != NULL) {
        snprintf(buf, size, "%s", kk_state_name(KK_KIND_CELL, json_object_get(st, "state")));
        json_decref(st);
        if (buf[0] != '\0')
            return buf;
    }
    snprintf(buf, size, "%s", kk_doc_state(doc));
    return buf;
}

/* The Cell of a CreateCell Result (ctl_cell_create), or NULL. */
static const json_t *result_cell(const json_t *res)
{
    const json_t *cell = json_object_get(res, "Cell");
    return cell != NULL ? cell : json_object_get(json_object_get(res, "Result"), "Cell");
}

/* A cell its reconcile left Failed or Error is a failure of the apply (kukeon-reference.md 3.8). */
static bool cell_failed(const struct ctl_names *n, const char *state, struct outcome *o)
{
    if (strcmp(state, "Failed") != 0 && strcmp(state, "Error") != 0)
        return false;
    struct kk_err err = {0};
    kk_error(&err, KK_ERR_UNKNOWN, 0,
             "cell reconciled to %s state: cell \"%s\" — inspect with kuke get cell %s --realm %s --space %s "
             "--stack %s -o yaml",
             state, n->cell, n->cell, n->realm, n->space, n->stack);
    outcome_fail(o, &err);
    return true;
}

/* Create, or converge the stored cell to doc, and start it (ctl_cell_create: containers whose spec
 * changed are recreated). 0 with the state it reached in state, or -1 with o failed. */
static int cell_converge_to(struct ctl_op *op, const json_t *doc, char *state, size_t size, struct outcome *o)
{
    struct kk_err err = {0};
    json_t *res = ctl_cell_create(op, doc, true, &err);
    if (res == NULL) {
        outcome_fail(o, &err);
        return -1;
    }
    snprintf(state, size, "%s", kk_doc_state(result_cell(res)));
    json_decref(res);
    return 0;
}

/* A cell found as its document says, no change to make: Failed/Error is reported, Stopped/Exited is
 * started again, one a crash left half-made (Creating, Pending, no state) is finished. */
static void cell_unchanged(struct ctl_op *op, const struct ctl_names *n, const json_t *actual,
                           struct outcome *o)
{
    char buf[32], was[32];
    const char *state = cell_state(op, n, actual, buf, sizeof(buf));
    snprintf(was, sizeof(was), "%s", state);
    o->action = "unchanged";
    /* Failed by its own create (CreateCellFailed: containerd down, an image missing...), the cell was
     * never made: the apply retries it, as it does a half-made one below. Failed or Error by its
     * reconcile (the workload's doing) stays a failure of the apply (kukeon-reference.md 3.8). */
    bool create_failed =
        strcmp(kk_doc_state(actual), "Failed") == 0 &&
        strcmp(kk_json_str(json_object_get(actual, "status"), "reason"), "CreateCellFailed") == 0;
    if (create_failed)
        snprintf(was, sizeof(was), "Failed");
    else if (cell_failed(n, state, o))
        return;
    struct kk_err err = {0};
    if (!create_failed && (strcmp(state, "Stopped") == 0 || strcmp(state, "Exited") == 0)) {
        if (ctl_cell_start(op, n, &err) < 0) {
            kk_error_wrap(&err, "starting the stopped cell \"%s\"", n->cell);
            outcome_fail(o, &err);
            return;
        }
        o->action = "updated";
        json_array_append_new(o->changes, json_string("runtime stopped: containers re-materialized"));
        size_t i;
        json_t *ct;
        json_array_foreach(kk_cell_containers(actual), i, ct)
        {
            char line[300];
            snprintf(line, sizeof(line), "container \"%s\" re-materialized", kk_json_str(ct, "id"));
            json_array_append_new(o->changes, json_string(line));
        }
        return;
    }
    if (state[0] == '\0' || strcmp(state, "Creating") == 0 || strcmp(state, "Pending") == 0 ||
        create_failed) {
        if (cell_converge_to(op, actual, buf, sizeof(buf), o) < 0 || cell_failed(n, buf, o))
            return;
        char line[64];
        snprintf(line, sizeof(line), "state %s: re-provisioned", was[0] != '\0' ? was : "none");
        o->action = "updated";
        json_array_append_new(o->changes, json_string(line));
    }
}

static void apply_cell(struct ctl_op *op, const json_t *want, struct outcome *o)
{
    struct kk_err err = {0};
    struct ctl_names n;
    char state[32];
    if (names_of(want, KK_KIND_CELL, &n, &err) < 0 || ensure_parents(op, &n, o->details, &err) < 0) {
        outcome_fail(o, &err);
        return;
    }
    json_t *actual = NULL;
    int rc = ctl_doc_get(op, &n, &actual, NULL, &err);
    if (rc < 0) {
        outcome_fail(o, &err);
        return;
    }
    if (rc == 0) {
        /* Created and started (kukeon-reference.md 3.8). */
        if (cell_converge_to(op, want, state, sizeof(state), o) == 0 && !cell_failed(&n, state, o))
            o->action = "created";
        return;
    }
    struct kk_apply_diff d;
    if (kk_apply_diff(KK_KIND_CELL, actual, want, &d, &err) < 0) {
        outcome_fail(o, &err);
        json_decref(actual);
        return;
    }
    if (d.root_breaking) {
        /* The root holds the cell's namespaces: changing it means a new cell in the old one's place. */
        bool existed = false;
        if (ctl_cell_delete(op, &n, &existed, &err) < 0) {
            kk_error_wrap(&err, "recreating cell \"%s\" for its new root container", n.cell);
            outcome_fail(o, &err);
        } else if (cell_converge_to(op, want, state, sizeof(state), o) == 0 && !cell_failed(&n, state, o)) {
            o->action = "updated";
            json_array_append_new(o->changes, json_string("root container recreated"));
        }
    } else if (json_array_size(d.breaking) > 0) {
        char *list = json_dumps(d.breaking, JSON_COMPACT);
        kk_error(&err, KK_ERR_INVALID, 0,
                 "cell \"%s\" has breaking changes: %s. Delete the cell and recreate it", n.cell,
                 list != NULL ? list : "[]");
        free(list);
        outcome_fail(o, &err);
    } else if (json_array_size(d.changes) == 0) {
        cell_unchanged(op, &n, actual, o);
    } else if (cell_converge_to(op, d.merged, state, sizeof(state), o) == 0 && !cell_failed(&n, state, o)) {
        /* Stored, and each container whose spec changed recreated from it (re-materialized). */
        o->action = "updated";
        json_array_extend(o->changes, d.changes);
        kk_info("apply: cell %s/%s/%s/%s updated", n.realm, n.space, n.stack, n.cell);
    }
    kk_apply_diff_free(&d);
    json_decref(actual);
}

/* A standalone Container document as the embedded container it stands for. */
static json_t *container_embedded(const json_t *doc)
{
    json_t *ct = json_deep_copy(kk_doc_spec(doc));
    if (ct == NULL)
        return NULL;
    json_object_set_new(ct, "id", json_string(kk_doc_name(doc)));
    return ct;
}

/* Put the container ct (stolen) into cell, in place of the one with its id, or last. */
static int cell_put_container(json_t *cell, json_t *ct)
{
    json_t *list = kk_cell_containers(cell);
    if (list == NULL) {
        list = json_array();
        if (list == NULL || json_object_set_new(kk_doc_spec(cell), "containers", list) < 0) {
            json_decref(ct);
            return -1;
        }
    }
    size_t i;
    json_t *have;
    json_array_foreach(list, i, have) if (strcmp(kk_json_str(have, "id"), kk_json_str(ct, "id")) ==
                                          0) return json_array_set_new(list, i, ct);
    return json_array_append_new(list, ct);
}

/* A Container document: merged into its cell (the one of this manifest, already applied with it,
 * or the stored one, which is then applied with the container in it). */
static void apply_container(struct ctl_op *op, const struct kk_manifest_doc *md, const struct kk_manifest *m,
                            const struct outcome *outs, struct outcome *o)
{
    struct kk_err err = {0};
    struct kk_derive_names dn;
    if (kk_doc_names(md->doc, &dn, &err) < 0) {
        outcome_fail(o, &err);
        return;
    }
    for (size_t i = 0; i < m->count; i++) {
        if (m->docs[i].kind != KK_KIND_CELL)
            continue;
        struct kk_derive_names cn;
        if (kk_doc_names(m->docs[i].doc, &cn, &err) < 0)
            continue;
        if (strcmp(cn.realm, dn.realm) == 0 && strcmp(cn.space, dn.space) == 0 &&
            strcmp(cn.stack, dn.stack) == 0 && strcmp(cn.cell, dn.cell) == 0) {
            /* Merged before its cell was applied (ctl_apply_documents): the cell's outcome is its. */
            o->action = outs[i].action;
            if (outs[i].error[0] != '\0')
                snprintf(o->error, sizeof(o->error), "%s", outs[i].error);
            return;
        }
    }
    struct ctl_names n;
    json_t *cell = NULL;
    int rc;
    if ((rc = names_of(md->doc, KK_KIND_CELL, &n, &err)) == 0 &&
        (rc = ctl_doc_get(op, &n, &cell, NULL, &err)) == 0)
        rc = ctl_not_found(op, &n, &err);
    if (rc < 0) {
        kk_error_wrap(&err, "container \"%s\"", kk_doc_name(md->doc));
        outcome_fail(o, &err);
        return;
    }
    /* The cell as the user would have written it: the stored one without what the daemon keeps. */
    json_t *want = json_deep_copy(cell);
    json_t *ct = container_embedded(md->doc);
    json_decref(cell);
    if (want == NULL || ct == NULL || cell_put_container(want, ct) < 0) {
        json_decref(want);
        kk_error(&err, KK_ERR_INTERNAL, 0, "out of memory");
        outcome_fail(o, &err);
        return;
    }
    json_object_del(want, "status");
    json_object_del(kk_doc_metadata(want), "generation");
    if (kk_doc_validate(want, &err) < 0 || kk_doc_complete(want, &op->ctl->dcfg, &err) < 0) {
        kk_error_wrap(&err, "container \"%s\" in cell \"%s\"", kk_doc_name(md->doc), n.cell);
        outcome_fail(o, &err);
    } else {
        apply_cell(op, want, o);
    }
    json_decref(want);
}

/* The manifest of a request: RawYAML decoded, parsed, validated and completed as this daemon would
 * store it. */
static int load_manifest(struct ctl_op *op, const json_t *args, struct kk_manifest *m, struct kk_err *err)
{
    const json_t *raw = json_object_get(args, "RawYAML");
    if (raw != NULL && !json_is_null(raw) && !json_is_string(raw))
        return ctl_fail(op, "ConversionFailed", err, KK_ERR_INVALID,
                        "argument RawYAML must be the base64 text of the manifest's bytes");
    const char *text = json_is_string(raw) ? json_string_value(raw) : "";
    size_t text_len = json_is_string(raw) ? json_string_length(raw) : 0;
    if (text_len > (size_t)KK_MANIFEST_MAX_BYTES / 3 * 4 + 8)
        return ctl_fail(op, CTL_KIND_UNKNOWN, err, KK_ERR_INVALID, "manifest is larger than %u bytes",
                        KK_MANIFEST_MAX_BYTES);
    char *yaml = NULL;
    size_t len = 0;
    if (kk_base64_decode(text, text_len, &yaml, &len, err) < 0) {
        kk_error_wrap(err, "argument RawYAML");
        return ctl_fail_kind(op, "ConversionFailed", err);
    }
    int rc = kk_manifest_load(yaml, len, &op->ctl->dcfg, m, err);
    free(yaml);
    return rc < 0 ? ctl_fail_kind(op, CTL_KIND_UNKNOWN, err) : 0;
}

/* Merge each Container document whose cell is in the same manifest into that cell before anything
 * is applied, so the cell is created with it. */
static int merge_containers(struct ctl_op *op, struct kk_manifest *m, struct kk_err *err)
{
    for (size_t i = 0; i < m->count; i++) {
        if (m->docs[i].kind != KK_KIND_CONTAINER)
            continue;
        struct kk_derive_names dn;
        if (kk_doc_names(m->docs[i].doc, &dn, err) < 0)
            return -1;
        for (size_t j = 0; j < m->count; j++) {
            struct kk_derive_names cn;
            if (m->docs[j].kind != KK_KIND_CELL || kk_doc_names(m->docs[j].doc, &cn, err) < 0)
                continue;
            if (strcmp(cn.realm, dn.realm) != 0 || strcmp(cn.space, dn.space) != 0 ||
                strcmp(cn.stack, dn.stack) != 0 || strcmp(cn.cell, dn.cell) != 0)
                continue;
            json_t *ct = container_embedded(m->docs[i].doc);
            if (ct == NULL || cell_put_container(m->docs[j].doc, ct) < 0)
                return kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
            if (kk_doc_validate(m->docs[j].doc, err) < 0 ||
                kk_doc_complete(m->docs[j].doc, &op->ctl->dcfg, err) < 0) {
                char why[KK_ERR_MSG_MAX];
                snprintf(why, sizeof(why), "%s", err->msg);
                kk_error(err, KK_ERR_INVALID, 0, "validation failed:\n  document %zu (Container \"%s\"): %s",
                         m->docs[i].index, kk_doc_name(m->docs[i].doc), why);
                return ctl_fail_kind(op, CTL_KIND_UNKNOWN, err);
            }
        }
    }
    return 0;
}

static json_t *ctl_apply_documents(struct ctl_op *op, const json_t *args, const char **member,
                                   struct kk_err *err)
{
    *member = "Result";
    struct kk_manifest m = {0};
    if (load_manifest(op, args, &m, err) < 0 || merge_containers(op, &m, err) < 0) {
        kk_manifest_free(&m);
        return NULL;
    }
    const json_t *team = json_object_get(args, "Team");
    if (json_is_string(team) && json_string_length(team) > 0)
        kk_debug("apply: team %s (not used by this daemon)", json_string_value(team));
    struct outcome *outs = calloc(m.count + 1, sizeof(*outs));
    json_t *list = json_array();
    if (outs == NULL || list == NULL) {
        free(outs);
        json_decref(list);
        kk_manifest_free(&m);
        kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < m.count; i++) {
        const struct kk_manifest_doc *md = &m.docs[i];
        struct outcome *o = &outs[i];
        o->action = "failed";
        o->changes = json_array();
        o->details = json_object();
        /* Each document is its own request: its failure kind and purge state are not the next one's. */
        struct ctl_op sub = {.ctl = op->ctl, .kind = CTL_KIND_UNKNOWN};
        switch (md->kind) {
        case KK_KIND_REALM:
        case KK_KIND_SPACE:
        case KK_KIND_STACK:
            apply_layer(&sub, md, o);
            break;
        case KK_KIND_CELL:
            apply_cell(&sub, md->doc, o);
            break;
        case KK_KIND_CONTAINER:
            apply_container(&sub, md, &m, outs, o);
            break;
        default:
            snprintf(o->error, sizeof(o->error), "kind %s is not supported yet", kk_kind_str(md->kind));
            break;
        }
        kk_info("apply: document %zu (%s \"%s\"): %s%s%s", md->index, kk_kind_str(md->kind),
                kk_doc_name(md->doc), o->action, o->error[0] != '\0' ? ": " : "", o->error);
        json_t *r = outcome_json(md, kk_doc_name(md->doc), o, false);
        if (r != NULL)
            json_array_append_new(list, r);
    }
    for (size_t i = 0; i < m.count; i++) {
        json_decref(outs[i].changes);
        json_decref(outs[i].details);
    }
    free(outs);
    kk_manifest_free(&m);
    return json_pack("{s:o}", "Resources", list);
}

/* ---- delete -------------------------------------------------------------------------------------- */

static void delete_one(struct ctl_op *op, const struct kk_manifest_doc *md, bool cascade, bool force,
                       struct outcome *o)
{
    struct kk_err err = {0};
    if (md->kind == KK_KIND_CELL) {
        struct ctl_names n;
        bool existed = false;
        if (names_of(md->doc, KK_KIND_CELL, &n, &err) < 0 || ctl_cell_delete(op, &n, &existed, &err) < 0)
            outcome_fail(o, &err);
        else
            o->action = existed ? "deleted" : "not found";
        return;
    }
    const struct ctl_layer *L = ctl_layer_of(md->kind);
    if (L == NULL) {
        snprintf(o->error, sizeof(o->error), "unknown kind: %s", kk_kind_str(md->kind));
        o->action = "failed";
        return;
    }
    json_t *res = ctl_delete(op, L, md->doc, force, cascade, &err);
    if (res == NULL) {
        if (strcmp(op->kind, L->not_found) == 0)
            o->action = "not found";
        else
            outcome_fail(o, &err);
        return;
    }
    o->action = "deleted";
    /* "space:<n>" entries are the children the cascade deleted. */
    char prefix[16];
    snprintf(prefix, sizeof(prefix), "%s:", L->child_noun);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(res, "Deleted"), i,
                       v) if (kk_str_has_prefix(json_string_value(v), prefix)) o->cascaded++;
    json_decref(res);
}

/* Reverse kind order; within a kind, input order. */
static int delete_order(const void *a, const void *b)
{
    const struct kk_manifest_doc *x = *(const struct kk_manifest_doc *const *)a;
    const struct kk_manifest_doc *y = *(const struct kk_manifest_doc *const *)b;
    if (x->kind != y->kind)
        return x->kind > y->kind ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static json_t *ctl_delete_documents(struct ctl_op *op, const json_t *args, const char **member,
                                    struct kk_err *err)
{
    *member = "Result";
    bool cascade = json_is_true(json_object_get(args, "Cascade"));
    bool force = json_is_true(json_object_get(args, "Force"));
    struct kk_manifest m = {0};
    if (load_manifest(op, args, &m, err) < 0) {
        kk_manifest_free(&m);
        return NULL;
    }
    const struct kk_manifest_doc **order = calloc(m.count + 1, sizeof(*order));
    json_t *list = json_array();
    if (order == NULL || list == NULL) {
        free(order);
        json_decref(list);
        kk_manifest_free(&m);
        kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < m.count; i++)
        order[i] = &m.docs[i];
    qsort(order, m.count, sizeof(*order), delete_order);
    for (size_t i = 0; i < m.count; i++) {
        struct outcome o = {.action = "failed", .details = json_object()};
        struct ctl_op sub = {.ctl = op->ctl, .kind = CTL_KIND_UNKNOWN};
        delete_one(&sub, order[i], cascade, force, &o);
        kk_info("delete: document %zu (%s \"%s\"): %s%s%s", order[i]->index, kk_kind_str(order[i]->kind),
                kk_doc_name(order[i]->doc), o.action, o.error[0] != '\0' ? ": " : "", o.error);
        json_t *r = outcome_json(order[i], kk_doc_name(order[i]->doc), &o, true);
        if (r != NULL)
            json_array_append_new(list, r);
        json_decref(o.details);
    }
    free(order);
    kk_manifest_free(&m);
    return json_pack("{s:o}", "Resources", list);
}

const struct ctl_ext_method ctl_apply_methods[] = {
    {"ApplyDocuments", ctl_apply_documents, true},
    {"DeleteDocuments", ctl_delete_documents, true},
    {NULL, NULL, false},
};
