/* The controller's frame (see controller.h): its configuration and helpers, the kukeonv1 method
 * table, argument decoding and the Err of the reply, and the small steps every layer shares —
 * names, messages, documents and statuses. The layers' operations are in ctl_create.c, ctl_get.c
 * and ctl_delete.c. */
#include "kukeond/controller.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "kukeond/controller_internal.h"
#include "kukeond/manifest.h"

const struct ctl_layer ctl_realm = {KK_KIND_REALM,       "realm",      "Realm", "space", "RealmNotFound",
                                    "RealmNameRequired", "CreateRealm"};
const struct ctl_layer ctl_space = {KK_KIND_SPACE,       "space",      "Space", "stack", "SpaceNotFound",
                                    "SpaceNameRequired", "CreateSpace"};
const struct ctl_layer ctl_stack = {KK_KIND_STACK,       "stack",      "Stack", "cell", "StackNotFound",
                                    "StackNameRequired", "CreateStack"};

const struct ctl_layer *ctl_layer_of(enum kk_kind kind)
{
    switch (kind) {
    case KK_KIND_REALM:
        return &ctl_realm;
    case KK_KIND_SPACE:
        return &ctl_space;
    case KK_KIND_STACK:
        return &ctl_stack;
    default:
        return NULL;
    }
}

static const char *const ctl_helper_names[KK_CTL_HELPERS] = {"kuke-cgd", "kuke-netd", "kuke-ctrd",
                                                               "kuke-fetchd"};

const char *kk_ctl_helper_name(enum kk_ctl_helper h)
{
    return (unsigned)h < KK_CTL_HELPERS ? ctl_helper_names[h] : "helper";
}

int kk_ctl_init(struct kk_ctl *ctl, const struct kk_config *cfg, struct kk_err *err)
{
    memset(ctl, 0, sizeof(*ctl));
    ctl->cfg = *cfg;
    for (int h = 0; h < KK_CTL_HELPERS; h++)
        ctl->sock[h] = -1;
    /* The derivation reads the configuration through pointers: into our own copy, never the caller's. */
    ctl->dcfg.run_path = ctl->cfg.run_path;
    ctl->dcfg.ns_suffix = ctl->cfg.ns_suffix;
    ctl->dcfg.cgroup_root = ctl->cfg.cgroup_root;
    ctl->dcfg.netns_dir = NULL;
    if (kk_store_init(&ctl->store, &ctl->dcfg, err) < 0)
        return kk_error_wrap(err, "controller configuration");
    return 0;
}

int kk_ctl_helper(struct kk_ctl *ctl, enum kk_ctl_helper h, struct kk_err *err)
{
    if ((unsigned)h >= KK_CTL_HELPERS)
        return kk_error(err, KK_ERR_INTERNAL, 0, "no such helper %d", (int)h);
    if (ctl->sock[h] >= 0)
        return ctl->sock[h];
    if (ctl->connect == NULL)
        return kk_error(err, KK_ERR_UNAVAILABLE, 0, "%s is not connected to this process",
                        ctl_helper_names[h]);
    if (ctl->connect(ctl, h, err) < 0)
        return -1;
    if (ctl->sock[h] < 0)
        return kk_error(err, KK_ERR_UNAVAILABLE, 0, "%s did not start", ctl_helper_names[h]);
    return ctl->sock[h];
}

/* ---- errors -------------------------------------------------------------------------------------- */

int ctl_fail(struct ctl_op *op, const char *kind, struct kk_err *err, enum kk_err_kind ekind, const char *fmt,
             ...)
{
    char msg[KK_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    kk_error(err, ekind, 0, "%s", msg);
    if (kind != NULL)
        op->kind = kind;
    return -1;
}

int ctl_fail_kind(struct ctl_op *op, const char *kind, struct kk_err *err)
{
    (void)err;
    if (kind != NULL)
        op->kind = kind;
    return -1;
}

int ctl_purge_note(struct ctl_op *op, const char *what, const struct kk_err *err)
{
    kk_info("purge: %s: %s", what, err->msg);
    /* Truncation is fine here: the first failures say enough, and each is in the log whole. */
    const char *parts[] = {op->n_failed > 0 ? "; " : "", what, ": ", err->msg};
    size_t used = strlen(op->failures);
    for (size_t i = 0; i < KK_ARRAY_SIZE(parts); i++) {
        size_t n = strlen(parts[i]), room = sizeof(op->failures) - 1 - used;
        if (n > room)
            n = room;
        memcpy(op->failures + used, parts[i], n);
        used += n;
    }
    op->failures[used] = '\0';
    op->n_failed++;
    return 0;
}

int ctl_helper(struct ctl_op *op, enum kk_ctl_helper h, const char *purpose, struct kk_err *err)
{
    int fd = kk_ctl_helper(op->ctl, h, err);
    if (fd < 0)
        return kk_error_wrap(err, "%s: %s is not available", purpose, ctl_helper_names[h]);
    return fd;
}

/* ---- names --------------------------------------------------------------------------------------- */

struct kk_derive_names ctl_dnames(const struct ctl_names *n)
{
    struct kk_derive_names d = {n->realm, NULL, NULL, NULL, NULL};
    if (n->depth >= KK_KIND_SPACE)
        d.space = n->space;
    if (n->depth >= KK_KIND_STACK)
        d.stack = n->stack;
    if (n->depth >= KK_KIND_CELL)
        d.cell = n->cell;
    return d;
}

/* The buffer of level k in n. */
static char *ctl_level(struct ctl_names *n, enum kk_kind k)
{
    switch (k) {
    case KK_KIND_REALM:
        return n->realm;
    case KK_KIND_SPACE:
        return n->space;
    case KK_KIND_STACK:
        return n->stack;
    default:
        return n->cell;
    }
}

const char *ctl_name_at(const struct ctl_names *n, enum kk_kind k)
{
    switch (k) {
    case KK_KIND_REALM:
        return n->realm;
    case KK_KIND_SPACE:
        return n->space;
    case KK_KIND_STACK:
        return n->stack;
    default:
        return n->cell;
    }
}

int ctl_names_child(const struct ctl_names *n, const char *child, struct ctl_names *out, struct kk_err *err)
{
    if (n->depth >= KK_KIND_CELL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "a cell's children are not documents");
    *out = *n;
    out->depth = (enum kk_kind)(n->depth + 1);
    if (kk_name_check((enum kk_name_kind)out->depth, child, err) < 0)
        return -1;
    return kk_strlcpy(ctl_level(out, out->depth), child, KK_NAME_SIZE) < 0
               ? kk_error(err, KK_ERR_INVALID, 0, "name \"%s\" is too long", child)
               : 0;
}

/* The trimmed extent of s (Go's strings.TrimSpace, ASCII whitespace). */
void ctl_trim(const char *s, const char **start, size_t *len)
{
    while (*s != '\0' && isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    *start = s;
    *len = n;
}

int ctl_names_from_doc(struct ctl_op *op, const struct ctl_layer *L, const json_t *doc, struct ctl_names *out,
                       struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    out->depth = L->kind;
    const json_t *md = json_object_get(doc, "metadata"), *spec = json_object_get(doc, "spec");
    const char *raw[3] = {"", "", ""};
    raw[L->kind] = kk_json_str(md, "name");
    if (L->kind >= KK_KIND_SPACE)
        raw[KK_KIND_REALM] = kk_json_str(spec, "realmId");
    if (L->kind >= KK_KIND_STACK)
        raw[KK_KIND_SPACE] = kk_json_str(spec, "spaceId");
    const char *start[3] = {"", "", ""};
    size_t len[3] = {0, 0, 0};
    for (int k = 0; k <= (int)L->kind; k++)
        ctl_trim(raw[k], &start[k], &len[k]);
    /* The reference checks the resource's own name first, then its parents' from the top. */
    static const char *const required[3] = {"RealmNameRequired", "SpaceNameRequired", "StackNameRequired"};
    if (len[L->kind] == 0)
        return ctl_fail(op, required[L->kind], err, KK_ERR_INVALID, "%s name is required", L->noun);
    for (int k = 0; k < (int)L->kind; k++)
        if (len[k] == 0)
            return ctl_fail(op, required[k], err, KK_ERR_INVALID, "%s name is required",
                            kk_name_kind_str((enum kk_name_kind)k));
    for (int k = 0; k <= (int)L->kind; k++) {
        if (kk_name_check_len((enum kk_name_kind)k, start[k], len[k], err) < 0)
            return ctl_fail_kind(op, CTL_KIND_UNKNOWN, err);
        char *dst = ctl_level(out, (enum kk_kind)k);
        memcpy(dst, start[k], len[k]);
        dst[len[k]] = '\0';
    }
    return 0;
}

void ctl_describe(const struct ctl_names *n, char *buf, size_t size)
{
    switch (n->depth) {
    case KK_KIND_REALM:
        snprintf(buf, size, "realm \"%s\"", n->realm);
        break;
    case KK_KIND_SPACE:
        snprintf(buf, size, "space \"%s\" in realm \"%s\"", n->space, n->realm);
        break;
    case KK_KIND_STACK:
        snprintf(buf, size, "stack \"%s\" in realm \"%s\", space \"%s\"", n->stack, n->realm, n->space);
        break;
    default:
        snprintf(buf, size, "cell \"%s\" in stack \"%s\"/\"%s\"/\"%s\"", n->cell, n->realm, n->space,
                 n->stack);
        break;
    }
}

int ctl_not_found(struct ctl_op *op, const struct ctl_names *n, struct kk_err *err)
{
    switch (n->depth) {
    case KK_KIND_REALM:
        return ctl_fail(op, "RealmNotFound", err, KK_ERR_NOT_FOUND, "realm \"%s\" not found", n->realm);
    case KK_KIND_SPACE:
        return ctl_fail(op, "SpaceNotFound", err, KK_ERR_NOT_FOUND, "space \"%s\" not found in realm \"%s\"",
                        n->space, n->realm);
    case KK_KIND_STACK:
        return ctl_fail(op, "StackNotFound", err, KK_ERR_NOT_FOUND,
                        "stack \"%s\" not found in realm \"%s\", space \"%s\"", n->stack, n->realm, n->space);
    default:
        return ctl_fail(op, "CellNotFound", err, KK_ERR_NOT_FOUND,
                        "cell \"%s\" not found in stack \"%s\"/\"%s\"/\"%s\"", n->cell, n->realm, n->space,
                        n->stack);
    }
}

/* ---- documents and statuses ---------------------------------------------------------------------- */

int ctl_doc_get(struct ctl_op *op, const struct ctl_names *n, json_t **doc, struct kk_store_token *tok,
                struct kk_err *err)
{
    struct kk_derive_names d = ctl_dnames(n);
    return kk_store_get(&op->ctl->store, &d, doc, tok, err);
}

json_t *ctl_status_copy(const json_t *doc)
{
    json_t *st = json_object_get(doc, "status");
    return json_is_object(st) ? json_deep_copy(st) : json_object();
}

json_t *ctl_word_list(const char *words)
{
    json_t *arr = json_array();
    if (arr == NULL)
        return NULL;
    const char *p = words;
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n > 0 && json_array_append_new(arr, json_stringn(p, n)) < 0) {
            json_decref(arr);
            return NULL;
        }
        p += n;
    }
    return arr;
}

/* Two statuses that differ only in when they were written say the same thing. */
static bool ctl_status_same(const json_t *a, const json_t *b)
{
    if (!json_is_object(a) || !json_is_object(b))
        return false;
    json_t *ca = json_deep_copy(a), *cb = json_deep_copy(b);
    bool same = false;
    if (ca != NULL && cb != NULL) {
        json_object_del(ca, "updatedAt");
        json_object_del(cb, "updatedAt");
        same = json_equal(ca, cb);
    }
    json_decref(ca);
    json_decref(cb);
    return same;
}

/* The status keys in the order of the reference's Go structs (RealmStatus, SpaceStatus, StackStatus),
 * so metadata.json and `get -o yaml|json` read like the Go daemon's; keys it does not know follow. */
static int ctl_status_order(json_t *doc)
{
    static const char *const order[] = {"state",
                                        "cgroupPath",
                                        "subtreeControllers",
                                        "createdAt",
                                        "updatedAt",
                                        "readyAt",
                                        "reason",
                                        "message",
                                        "cgroupReady",
                                        "containerdNamespaceReady",
                                        "observedGeneration"};
    json_t *old = json_object_get(doc, "status");
    json_t *sorted = json_object();
    if (sorted == NULL)
        return -1;
    for (size_t i = 0; i < KK_ARRAY_SIZE(order); i++) {
        json_t *v = json_object_get(old, order[i]);
        if (v != NULL && json_object_set(sorted, order[i], v) < 0)
            goto fail;
    }
    const char *key;
    json_t *v;
    json_object_foreach(old, key, v)
    {
        if (json_object_get(sorted, key) == NULL && json_object_set(sorted, key, v) < 0)
            goto fail;
    }
    return json_object_set_new(doc, "status", sorted);
fail:
    json_decref(sorted);
    return -1;
}

int ctl_status_write(struct ctl_op *op, const struct ctl_names *n, json_t *status, int64_t expect_generation,
                     json_t **doc_out, struct kk_err *err)
{
    if (doc_out != NULL)
        *doc_out = NULL;
    struct kk_derive_names d = ctl_dnames(n);
    json_t *cur = NULL;
    int rc = kk_store_get(&op->ctl->store, &d, &cur, NULL, err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return ctl_not_found(op, n, err);
    if (ctl_status_same(json_object_get(cur, "status"), status)) {
        if (doc_out != NULL)
            *doc_out = cur;
        else
            json_decref(cur);
        return 0;
    }
    /* The lifecycle times are the store document's: stamp them on a copy shaped like it. */
    if (json_object_set(cur, "status", status) < 0) {
        json_decref(cur);
        return kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (kk_doc_stamp_lifecycle(cur, &now) < 0 || ctl_status_order(cur) < 0) {
        json_decref(cur);
        return kk_error(err, KK_ERR_INTERNAL, 0, "stamping a status: out of memory");
    }
    rc = kk_store_put_status(&op->ctl->store, &d, json_object_get(cur, "status"), expect_generation, NULL,
                             err);
    if (rc < 0 || doc_out == NULL) {
        json_decref(cur);
        return rc;
    }
    *doc_out = cur;
    return 0;
}

int ctl_children(struct ctl_op *op, const struct ctl_names *n, json_t **names, struct kk_err *err)
{
    struct kk_derive_names d = ctl_dnames(n);
    if (kk_store_list(&op->ctl->store, &d, names, err) == 0)
        return 0;
    if (err->kind != KK_ERR_NOT_FOUND)
        return -1;
    *names = json_array();
    return *names != NULL ? 0 : kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
}

/* ---- the kukeonv1 methods ------------------------------------------------------------------------ */

enum ctl_verb { CTL_CREATE, CTL_GET, CTL_LIST, CTL_DELETE, CTL_PURGE };

static const struct ctl_method {
    const char *name;
    enum ctl_verb verb;
    const struct ctl_layer *layer;
    const char *list_key; /* List*: the reply member holding the documents */
} ctl_methods[] = {
    {"CreateRealm", CTL_CREATE, &ctl_realm, NULL},  {"GetRealm", CTL_GET, &ctl_realm, NULL},
    {"ListRealms", CTL_LIST, &ctl_realm, "Realms"}, {"DeleteRealm", CTL_DELETE, &ctl_realm, NULL},
    {"PurgeRealm", CTL_PURGE, &ctl_realm, NULL},    {"CreateSpace", CTL_CREATE, &ctl_space, NULL},
    {"GetSpace", CTL_GET, &ctl_space, NULL},        {"ListSpaces", CTL_LIST, &ctl_space, "Spaces"},
    {"DeleteSpace", CTL_DELETE, &ctl_space, NULL},  {"PurgeSpace", CTL_PURGE, &ctl_space, NULL},
    {"CreateStack", CTL_CREATE, &ctl_stack, NULL},  {"GetStack", CTL_GET, &ctl_stack, NULL},
    {"ListStacks", CTL_LIST, &ctl_stack, "Stacks"}, {"DeleteStack", CTL_DELETE, &ctl_stack, NULL},
    {"PurgeStack", CTL_PURGE, &ctl_stack, NULL},
};

static const struct ctl_method *ctl_find_method(const char *name)
{
    for (size_t i = 0; i < KK_ARRAY_SIZE(ctl_methods); i++)
        if (strcmp(ctl_methods[i].name, name) == 0)
            return &ctl_methods[i];
    return NULL;
}

static const struct ctl_ext_method *const ctl_ext_tables[] = {ctl_cell_methods, ctl_reconcile_methods,
                                                               ctl_apply_methods, ctl_attach_methods};

static const struct ctl_ext_method *ctl_find_ext(const char *name)
{
    for (size_t t = 0; t < KK_ARRAY_SIZE(ctl_ext_tables); t++)
        for (const struct ctl_ext_method *e = ctl_ext_tables[t]; e->name != NULL; e++)
            if (strcmp(e->name, name) == 0)
                return e;
    return NULL;
}

bool kk_ctl_has_method(const char *method)
{
    return method != NULL && (ctl_find_method(method) != NULL || ctl_find_ext(method) != NULL);
}

bool kk_ctl_method_writes(const char *method)
{
    const struct ctl_method *m = method != NULL ? ctl_find_method(method) : NULL;
    if (m != NULL)
        return m->verb != CTL_GET && m->verb != CTL_LIST;
    const struct ctl_ext_method *e = method != NULL ? ctl_find_ext(method) : NULL;
    return e == NULL || e->writes;
}

int ctl_arg_bool(struct ctl_op *op, const json_t *args, const char *key, bool *out, struct kk_err *err)
{
    const json_t *v = json_object_get(args, key);
    *out = false;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return ctl_fail(op, "ConversionFailed", err, KK_ERR_INVALID, "argument %s must be true or false",
                        key);
    *out = json_is_true(v);
    return 0;
}

int ctl_arg_name(struct ctl_op *op, const json_t *args, const char *key, enum kk_name_kind kind,
                 char out[KK_NAME_SIZE], struct kk_err *err)
{
    out[0] = '\0';
    const json_t *v = json_object_get(args, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return ctl_fail(op, "ConversionFailed", err, KK_ERR_INVALID, "argument %s must be a string", key);
    const char *start;
    size_t len;
    ctl_trim(json_string_value(v), &start, &len);
    if (len == 0)
        return 0;
    if (kk_name_check_len(kind, start, len, err) < 0)
        return ctl_fail_kind(op, CTL_KIND_UNKNOWN, err);
    memcpy(out, start, len);
    out[len] = '\0';
    return 0;
}

const json_t *ctl_arg_doc_of(struct ctl_op *op, const json_t *args, const char *title, const char *noun,
                             const char *required, struct kk_err *err)
{
    const json_t *doc = json_object_get(args, "Doc");
    if (!json_is_object(doc)) {
        ctl_fail(op, required, err, KK_ERR_INVALID, "%s name is required (the request has no Doc)", noun);
        return NULL;
    }
    const char *kind = kk_json_str(doc, "kind");
    if (kind[0] != '\0' && strcmp(kind, title) != 0) {
        char shown[4 * 32 + 8];
        kk_log_escape(kind, shown, sizeof(shown));
        ctl_fail(op, "ConversionFailed", err, KK_ERR_INVALID, "the request's Doc is a \"%s\", expected a %s",
                 shown, title);
        return NULL;
    }
    return doc;
}

/* The request's Doc, which must be the layer's kind when it says one. */
static const json_t *ctl_arg_doc(struct ctl_op *op, const struct ctl_layer *L, const json_t *args,
                                 struct kk_err *err)
{
    return ctl_arg_doc_of(op, args, L->title, L->noun, L->name_required, err);
}

/* Every method needs the run path as kuke init left it, made with this configuration. A method that
 * writes records the configuration when nobody has yet; get and list never write. */
static int ctl_ready(struct ctl_op *op, bool writes, struct kk_err *err)
{
    if (kk_store_instance(&op->ctl->store, writes, err) < 0)
        return ctl_fail_kind(op, CTL_KIND_UNKNOWN, err);
    return 0;
}

static json_t *ctl_serve(struct ctl_op *op, const struct ctl_method *m, const json_t *args,
                         const char **member, struct kk_err *err)
{
    *member = "Result";
    if (ctl_ready(op, m->verb != CTL_GET && m->verb != CTL_LIST, err) < 0)
        return NULL;
    if (m->verb == CTL_LIST) {
        char realm[KK_NAME_SIZE], space[KK_NAME_SIZE];
        *member = m->list_key;
        if (ctl_arg_name(op, args, "RealmName", KK_NAME_REALM, realm, err) < 0 ||
            ctl_arg_name(op, args, "SpaceName", KK_NAME_SPACE, space, err) < 0)
            return NULL;
        return ctl_list(op, m->layer, realm, space, err);
    }
    const json_t *doc = ctl_arg_doc(op, m->layer, args, err);
    if (doc == NULL)
        return NULL;
    bool force = false, cascade = false;
    switch (m->verb) {
    case CTL_CREATE:
        return ctl_create(op, m->layer, doc, err);
    case CTL_GET:
        return ctl_get(op, m->layer, doc, err);
    default:
        if (ctl_arg_bool(op, args, "Force", &force, err) < 0 ||
            ctl_arg_bool(op, args, "Cascade", &cascade, err) < 0)
            return NULL;
        op->purge = m->verb == CTL_PURGE;
        return ctl_delete(op, m->layer, doc, force, cascade, err);
    }
}

static json_t *ctl_serve_ext(struct ctl_op *op, const struct ctl_ext_method *e, const json_t *args,
                             const char **member, struct kk_err *err)
{
    *member = "Result";
    if (ctl_ready(op, e->writes, err) < 0)
        return NULL;
    return e->fn(op, args, member, err);
}

json_t *kk_ctl_call(struct kk_ctl *ctl, const char *method, json_t *args)
{
    const struct ctl_method *m = method != NULL ? ctl_find_method(method) : NULL;
    const struct ctl_ext_method *e = m == NULL && method != NULL ? ctl_find_ext(method) : NULL;
    if (m == NULL && e == NULL)
        return NULL;
    json_t *empty = NULL;
    if (!json_is_object(args))
        args = empty = json_object();
    struct ctl_op op = {.ctl = ctl, .kind = CTL_KIND_UNKNOWN};
    struct kk_err err = {0};
    const char *member = "Result";
    json_t *value = NULL;
    if (args != NULL)
        value = m != NULL ? ctl_serve(&op, m, args, &member, &err) : ctl_serve_ext(&op, e, args, &member, &err);
    json_decref(empty);
    json_t *reply = json_object();
    if (reply == NULL) {
        json_decref(value);
        return NULL;
    }
    if (value != NULL) {
        if (json_object_set_new(reply, member, value) < 0 ||
            json_object_set_new(reply, "Err", json_null()) < 0)
            goto nomem;
        return reply;
    }
    if (err.msg[0] == '\0')
        snprintf(err.msg, sizeof(err.msg), "%s failed: out of memory", method);
    kk_info("%s failed (%s): %s", method, op.kind, err.msg);
    /* The reference's clients read Result even beside an error: give them the empty shape. */
    if (json_object_set_new(reply, member, strcmp(member, "Result") != 0 ? json_array() : json_object()) < 0 ||
        json_object_set_new(reply, "Err", json_pack("{s:s, s:s}", "Kind", op.kind, "Message", err.msg)) < 0)
        goto nomem;
    return reply;
nomem:
    json_decref(reply);
    return NULL;
}
