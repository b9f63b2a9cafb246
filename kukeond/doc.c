/* The v1beta1 document model (see doc.h): kinds, accessors, per-kind validation worded like the
 * reference (kukeon-reference.md 3.1-3.6, internal/apischeme and internal/apply/parser of the Go
 * implementation), and what the daemon fills in before a document is stored. */
#include "kukeond/doc.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/names.h"
#include "common/util.h"
#include "kukeond/regcred.h"

static const char *const kind_names[KK_KIND_COUNT] = {
    [KK_KIND_REALM] = "Realm",
    [KK_KIND_SPACE] = "Space",
    [KK_KIND_STACK] = "Stack",
    [KK_KIND_CELL] = "Cell",
    [KK_KIND_CONTAINER] = "Container",
    [KK_KIND_SECRET] = "Secret",
    [KK_KIND_CELL_BLUEPRINT] = "CellBlueprint",
    [KK_KIND_CELL_CONFIG] = "CellConfig",
    [KK_KIND_VOLUME] = "Volume",
};

#define LABEL_REALM "realm.kukeon.io"
#define LABEL_SPACE "space.kukeon.io"
#define LABEL_STACK "stack.kukeon.io"
#define LABEL_CELL  "cell.kukeon.io"

/* The synthesized root's id (kukeon-reference.md 1.1: "root" is reserved in practice). */
#define ROOT_ID "root"

/* ---- quoting input in messages --------------------------------------------------------------- */

/* How much of a caller's string a message quotes. Messages go to logs and terminals, so what is
 * quoted is escaped (kk_log_escape) and cut. */
#define SHOW_MAX 96
struct shown {
    char s[4 * SHOW_MAX + 8];
};

static const char *show(struct shown *b, const char *s)
{
    char raw[SHOW_MAX + 1];
    size_t len = strnlen(s, SHOW_MAX + 1);
    size_t n = len < SHOW_MAX ? len : SHOW_MAX;
    memcpy(raw, s, n);
    raw[n] = '\0';
    kk_log_escape(raw, b->s, sizeof(b->s) - 3);
    if (len > n)
        memcpy(b->s + strnlen(b->s, sizeof(b->s) - 3), "...", 4);
    return b->s;
}

/* ---- kinds ----------------------------------------------------------------------------------- */

const char *kk_kind_str(enum kk_kind kind)
{
    if ((unsigned)kind < KK_KIND_COUNT)
        return kind_names[kind];
    return "";
}

int kk_kind_parse(const char *s, enum kk_kind *out, struct kk_err *err)
{
    if (s == NULL || s[0] == '\0')
        return kk_error(err, KK_ERR_INVALID, 0,
                        "kind is required (one of Realm, Space, Stack, Cell, Container)");
    for (int k = 0; k < KK_KIND_COUNT; k++) {
        if (strcmp(s, kind_names[k]) == 0) {
            *out = (enum kk_kind)k;
            return 0;
        }
    }
    struct shown b;
    /* A manifest written for the old kind is a common stumble; the reference points the way. */
    if (strcmp(s, "CellProfile") == 0)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "unknown kind: CellProfile (the CellProfile kind was removed in #626; convert it "
                        "to kind: CellBlueprint)");
    return kk_error(err, KK_ERR_INVALID, 0, "unknown kind: %s", show(&b, s));
}

bool kk_kind_supported(enum kk_kind kind)
{
    /* Secret, CellBlueprint, CellConfig and Volume are parsed so that a manifest carrying them gets
     * a precise answer, but this implementation has no store or controller for them yet. */
    return kind <= KK_KIND_CONTAINER;
}

/* ---- accessors ------------------------------------------------------------------------------- */

int kk_doc_kind(const json_t *doc, enum kk_kind *out)
{
    const char *s = kk_json_str(doc, "kind");
    for (int k = 0; k < KK_KIND_COUNT; k++) {
        if (strcmp(s, kind_names[k]) == 0) {
            *out = (enum kk_kind)k;
            return 0;
        }
    }
    return -1;
}

json_t *kk_doc_section(const json_t *doc, const char *key)
{
    json_t *v = json_is_object(doc) ? json_object_get(doc, key) : NULL;
    return json_is_object(v) ? v : NULL;
}

const char *kk_json_str(const json_t *obj, const char *key)
{
    const char *s = json_is_object(obj) ? json_string_value(json_object_get(obj, key)) : NULL;
    return s != NULL ? s : "";
}

bool kk_json_bool(const json_t *obj, const char *key)
{
    return json_is_object(obj) && json_is_true(json_object_get(obj, key));
}

const char *kk_doc_name(const json_t *doc)
{
    return kk_json_str(kk_doc_metadata(doc), "name");
}

int64_t kk_doc_generation(const json_t *doc)
{
    json_t *g = json_object_get(kk_doc_metadata(doc), "generation");
    return json_is_integer(g) ? (int64_t)json_integer_value(g) : 0;
}

/* obj[key] as an object, created (or replacing a null) when absent. NULL when it holds another type
 * or memory runs out. */
static json_t *object_member(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (json_is_object(v))
        return v;
    if (v != NULL && !json_is_null(v))
        return NULL;
    v = json_object();
    if (v == NULL || json_object_set_new(obj, key, v) < 0)
        return NULL;
    return v;
}

int kk_doc_set_generation(json_t *doc, int64_t generation)
{
    json_t *md = json_is_object(doc) ? object_member(doc, "metadata") : NULL;
    if (md == NULL || json_object_set_new(md, "generation", json_integer(generation)) < 0)
        return -1;
    return 0;
}

int kk_doc_set_status(json_t *doc, json_t *status)
{
    if (!json_is_object(doc) || status == NULL)
        return -1;
    return json_object_set(doc, "status", status);
}

int kk_doc_names(const json_t *doc, struct kk_derive_names *out, struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    enum kk_kind kind;
    if (kk_doc_kind(doc, &kind) < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "document has no known kind");
    json_t *spec = kk_doc_spec(doc);
    const char *name = kk_doc_name(doc);
    /* The kinds Realm..Container are the hierarchy's levels in order: the document's own name at
     * its level, its parents' names from spec. */
    static const char *const parent_keys[] = {"realmId", "spaceId", "stackId", "cellId"};
    const char **level[] = {&out->realm, &out->space, &out->stack, &out->cell, &out->container};
    if (kind <= KK_KIND_CONTAINER) {
        for (int k = 0; k < (int)kind; k++)
            *level[k] = kk_json_str(spec, parent_keys[k]);
        *level[kind] = name;
        return 0;
    }
    return kk_error(err, KK_ERR_INVALID, 0, "a %s has no place in the realm hierarchy", kk_kind_str(kind));
}

json_t *kk_doc_new(enum kk_kind kind, const struct kk_derive_names *names, struct kk_err *err)
{
    if (!kk_kind_supported(kind)) {
        kk_error(err, KK_ERR_INVALID, 0, "kind %s is not supported yet", kk_kind_str(kind));
        return NULL;
    }
    const char *in[KK_NAME_KIND_COUNT] = {names->realm, names->space, names->stack, names->cell,
                                          names->container};
    for (int k = 0; k <= (int)kind; k++) {
        if (in[k] == NULL || in[k][0] == '\0') {
            kk_error(err, KK_ERR_INVALID, 0, "%s name is required", kk_name_kind_str((enum kk_name_kind)k));
            return NULL;
        }
    }
    const char *name = in[kind];
    json_t *spec;
    switch (kind) {
    case KK_KIND_REALM:
        spec = json_object();
        break;
    case KK_KIND_SPACE:
        spec = json_pack("{s:s}", "realmId", names->realm);
        break;
    case KK_KIND_STACK:
        spec = json_pack("{s:s, s:s, s:s}", "id", name, "realmId", names->realm, "spaceId", names->space);
        break;
    case KK_KIND_CELL:
        spec = json_pack("{s:s, s:s, s:s, s:s, s:[]}", "id", name, "realmId", names->realm, "spaceId",
                         names->space, "stackId", names->stack, "containers");
        break;
    default: /* KK_KIND_CONTAINER */
        spec = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", name, "realmId", names->realm, "spaceId",
                         names->space, "stackId", names->stack, "cellId", names->cell);
        break;
    }
    json_t *doc = spec == NULL
                      ? NULL
                      : json_pack("{s:s, s:s, s:{s:s, s:{}}, s:o}", "apiVersion", KK_API_VERSION, "kind",
                                  kind_names[kind], "metadata", "name", name, "labels", "spec", spec);
    if (doc == NULL)
        kk_error(err, KK_ERR_INTERNAL, 0, "building a %s document: out of memory", kind_names[kind]);
    return doc;
}

/* ---- cells ----------------------------------------------------------------------------------- */

json_t *kk_cell_containers(const json_t *cell)
{
    json_t *c = json_object_get(kk_doc_spec(cell), "containers");
    return json_is_array(c) ? c : NULL;
}

json_t *kk_cell_container(const json_t *cell, const char *id)
{
    json_t *arr = kk_cell_containers(cell);
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        if (strcmp(kk_json_str(c, "id"), id) == 0)
            return c;
    }
    return NULL;
}

const char *kk_cell_root_id(const json_t *cell)
{
    return kk_json_str(kk_doc_spec(cell), "rootContainerId");
}

/* ---- the validation context: where in the document we are ------------------------------------ */

#define DV_PATH_SIZE 256

struct dv {
    struct kk_err *err;
    char path[DV_PATH_SIZE]; /* "spec.containers[1].volumes[0]" */
    size_t len;
};

static size_t dv_push(struct dv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t dv_push(struct dv *v, const char *fmt, ...)
{
    size_t saved = v->len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(v->path + v->len, sizeof(v->path) - v->len, fmt, ap);
    va_end(ap);
    /* A path cut short still names the start of the field; never an overflow. */
    if (n < 0)
        v->path[v->len] = '\0';
    else
        v->len = v->len + (size_t)n < sizeof(v->path) ? v->len + (size_t)n : sizeof(v->path) - 1;
    return saved;
}

static size_t dv_key(struct dv *v, const char *key)
{
    return v->len == 0 ? dv_push(v, "%s", key) : dv_push(v, ".%s", key);
}

static size_t dv_index(struct dv *v, size_t i)
{
    return dv_push(v, "[%zu]", i);
}

static void dv_pop(struct dv *v, size_t len)
{
    v->len = len;
    v->path[len] = '\0';
}

/* The failure at the current path: "<path><sep><message>", or the message alone at the top. */
static int dv_failv(struct dv *v, const char *sep, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
static int dv_failv(struct dv *v, const char *sep, const char *fmt, va_list ap)
{
    char msg[KK_ERR_MSG_MAX];
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0)
        msg[0] = '\0';
    if (v->len == 0)
        return kk_error(v->err, KK_ERR_INVALID, 0, "%s", msg);
    return kk_error(v->err, KK_ERR_INVALID, 0, "%s%s%s", v->path, sep, msg);
}

/* "<path> <message>": "spec.realmId is required". */
static int dv_fail(struct dv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int dv_fail(struct dv *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = dv_failv(v, " ", fmt, ap);
    va_end(ap);
    return rc;
}

/* "<path>: <message>", for messages that are sentences of their own (names.h, derive.h). */
static int dv_failc(struct dv *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int dv_failc(struct dv *v, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = dv_failv(v, ": ", fmt, ap);
    va_end(ap);
    return rc;
}

static int dv_nomem(struct dv *v)
{
    return kk_error(v->err, KK_ERR_INTERNAL, 0, "validating %s: out of memory",
                    v->len ? v->path : "document");
}

/* "<path>.<key> is required": the reference's wording for every missing field. */
static int dv_required(struct dv *v, const char *key)
{
    dv_key(v, key);
    return dv_fail(v, "is required");
}

/* "<path>.<key> must be an absolute container path (got "...")", for mount targets. */
static int dv_not_abs(struct dv *v, const char *key, const char *path)
{
    struct shown b;
    dv_key(v, key);
    return dv_fail(v, "must be an absolute container path (got \"%s\")", show(&b, path));
}

/* ---- typed members --------------------------------------------------------------------------- */
/* Each returns 1 when the member is present, 0 when it is absent or null (Go's decoder treats a null
 * as the zero value), -1 with the error set when it has the wrong type or range. On error the path
 * names the member. */

/* The text of an integer or boolean scalar, for a field that wants a string: Go's YAML decoder
 * accepts `user: 1000` into a string field, and the YAML reader here made that an integer. */
static json_t *scalar_as_string(const json_t *val)
{
    char buf[32];
    if (json_is_integer(val)) {
        snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)json_integer_value(val));
        return json_string(buf);
    }
    if (json_is_boolean(val))
        return json_string(json_is_true(val) ? "true" : "false");
    return NULL;
}

/* parent[key] (a member) or, with key NULL, parent[i] (an element) as a string, a scalar that is
 * not one rewritten in place as its text. */
static int dv_str_at(struct dv *v, json_t *parent, const char *key, size_t i, const char **out)
{
    json_t *val = key != NULL ? json_object_get(parent, key) : json_array_get(parent, i);
    if (!json_is_string(val)) {
        json_t *s = scalar_as_string(val);
        if (s == NULL) {
            if (key != NULL)
                dv_key(v, key);
            else
                dv_index(v, i);
            return dv_fail(v, "must be a string");
        }
        if ((key != NULL ? json_object_set_new(parent, key, s) : json_array_set_new(parent, i, s)) < 0)
            return dv_nomem(v);
        val = s;
    }
    *out = json_string_value(val);
    return 1;
}

static int dv_str(struct dv *v, json_t *obj, const char *key, const char **out)
{
    *out = "";
    json_t *val = json_object_get(obj, key);
    if (val == NULL || json_is_null(val))
        return 0;
    return dv_str_at(v, obj, key, 0, out);
}

static int dv_str_elem(struct dv *v, json_t *arr, size_t i, const char **out)
{
    return dv_str_at(v, arr, NULL, i, out);
}

/* obj[key] when it is present and of `type` (JSON_TRUE standing for either boolean); `what`
 * completes "must be ..." when it has another type. */
static int dv_member(struct dv *v, json_t *obj, const char *key, json_type type, const char *what,
                     json_t **out)
{
    *out = NULL;
    json_t *val = json_object_get(obj, key);
    if (val == NULL || json_is_null(val))
        return 0;
    if (type == JSON_TRUE ? !json_is_boolean(val) : json_typeof(val) != type) {
        dv_key(v, key);
        return dv_fail(v, "must be %s", what);
    }
    *out = val;
    return 1;
}

static int dv_bool(struct dv *v, json_t *obj, const char *key, bool *out)
{
    json_t *val;
    int rc = dv_member(v, obj, key, JSON_TRUE, "true or false", &val);
    *out = rc > 0 && json_is_true(val);
    return rc;
}

static int dv_int(struct dv *v, json_t *obj, const char *key, int64_t min, int64_t max, int64_t *out)
{
    *out = 0;
    json_t *val;
    int rc = dv_member(v, obj, key, JSON_INTEGER, "an integer", &val);
    if (rc <= 0)
        return rc;
    int64_t n = (int64_t)json_integer_value(val);
    if (n < min || n > max) {
        dv_key(v, key);
        return dv_fail(v, "must be between %" PRId64 " and %" PRId64 ", got %" PRId64, min, max, n);
    }
    *out = n;
    return 1;
}

static int dv_obj(struct dv *v, json_t *obj, const char *key, json_t **out)
{
    return dv_member(v, obj, key, JSON_OBJECT, "a mapping", out);
}

static int dv_arr(struct dv *v, json_t *obj, const char *key, json_t **out)
{
    return dv_member(v, obj, key, JSON_ARRAY, "a list", out);
}

/* A list of strings (args, env, securityOpts, ...). */
static int dv_str_list(struct dv *v, json_t *obj, const char *key)
{
    json_t *arr;
    int rc = dv_arr(v, obj, key, &arr);
    if (rc <= 0)
        return rc;
    size_t p = dv_key(v, key);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const char *s;
        if (dv_str_elem(v, arr, i, &s) < 0)
            return -1;
    }
    dv_pop(v, p);
    return 1;
}

/* A map of strings (labels, annotations, params). */
static int dv_str_map(struct dv *v, json_t *obj, const char *key)
{
    json_t *map;
    int rc = dv_obj(v, obj, key, &map);
    if (rc <= 0)
        return rc;
    size_t p = dv_key(v, key);
    const char *k;
    json_t *val;
    void *tmp;
    json_object_foreach_safe(map, tmp, k, val)
    {
        if (k[0] == '\0')
            return dv_fail(v, "has an empty key");
        const char *s;
        /* Go decodes a null value to "" */
        if (json_is_null(val) && json_object_set_new(map, k, json_string("")) < 0)
            return dv_nomem(v);
        if (dv_str(v, map, k, &s) < 0)
            return -1;
    }
    dv_pop(v, p);
    return 1;
}

/* A hierarchy name held in obj[key]. `required` is the reference's message for a missing one. */
static int dv_name(struct dv *v, json_t *obj, const char *key, enum kk_name_kind kind, const char **out)
{
    const char *s;
    if (dv_str(v, obj, key, &s) < 0)
        return -1;
    *out = s;
    size_t p = dv_key(v, key);
    if (s[0] == '\0')
        return dv_fail(v, "is required");
    struct kk_err nerr;
    if (kk_name_check_len(kind, s, strlen(s), &nerr) < 0)
        return dv_failc(v, "%s", nerr.msg);
    dv_pop(v, p);
    return 0;
}

/* spec.id: defaults to metadata.name (the reference never enforces it); a different value would
 * make two names for one resource, so it is refused. */
static int dv_spec_id(struct dv *v, json_t *spec, const char *name)
{
    const char *id;
    if (dv_str(v, spec, "id", &id) < 0)
        return -1;
    if (id[0] == '\0')
        return json_object_set_new(spec, "id", json_string(name)) < 0 ? dv_nomem(v) : 0;
    if (strcmp(id, name) != 0) {
        struct shown a, b;
        dv_key(v, "id");
        return dv_fail(v, "\"%s\" differs from metadata.name \"%s\": remove spec.id or make them equal",
                       show(&a, id), show(&b, name));
    }
    return 0;
}

static bool is_abs_path(const char *s)
{
    return s[0] == '/';
}

/* A name or scope coordinate that becomes one path component of a volume or secret (the reference's
 * segment guard): no separator, no "." or "..". */
static bool segment_safe(const char *s)
{
    return strcmp(s, ".") != 0 && strstr(s, "..") == NULL && strchr(s, '/') == NULL &&
           strchr(s, '\\') == NULL;
}

/* "<path>.<key> "..." is unsafe", for a value that becomes a path component. */
static int dv_unsafe(struct dv *v, const char *key, const char *s)
{
    struct shown b;
    dv_key(v, key);
    return dv_fail(v, "\"%s\" is unsafe: it must not contain '/', '\\' or \"..\"", show(&b, s));
}

/* ---- the parts of a container ---------------------------------------------------------------- */

/* Checks one mapping at the current path. */
typedef int (*dv_check_fn)(struct dv *v, json_t *m);

/* obj[key] as a mapping, checked by `check` at "<path>.<key>". Returns as the typed members do. */
static int dv_section(struct dv *v, json_t *obj, const char *key, dv_check_fn check)
{
    json_t *m;
    int rc = dv_obj(v, obj, key, &m);
    if (rc <= 0)
        return rc;
    size_t p = dv_key(v, key);
    if (check(v, m) < 0)
        return -1;
    dv_pop(v, p);
    return 0;
}

/* obj[key] as a list of mappings, each checked by `check` at "<path>.<key>[i]"; `shape` ends the
 * message for an entry that is not a mapping. Returns as the typed members do. */
static int dv_each(struct dv *v, json_t *obj, const char *key, const char *shape, dv_check_fn check)
{
    json_t *arr;
    int rc = dv_arr(v, obj, key, &arr);
    if (rc <= 0)
        return rc;
    size_t p = dv_key(v, key);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        size_t q = dv_index(v, i);
        json_t *m = json_array_get(arr, i);
        if (!json_is_object(m))
            return dv_fail(v, "must be a mapping with %s", shape);
        if (check(v, m) < 0)
            return -1;
        dv_pop(v, q);
    }
    dv_pop(v, p);
    return 0;
}

static int dv_capabilities_entry(struct dv *v, json_t *caps)
{
    return dv_str_list(v, caps, "drop") < 0 || dv_str_list(v, caps, "add") < 0 ? -1 : 0;
}

static int dv_capabilities(struct dv *v, json_t *obj)
{
    return dv_section(v, obj, "capabilities", dv_capabilities_entry);
}

static int dv_resources_entry(struct dv *v, json_t *res)
{
    int64_t n;
    if (dv_int(v, res, "memoryLimitBytes", INT64_MIN, INT64_MAX, &n) < 0 ||
        dv_int(v, res, "cpuShares", INT64_MIN, INT64_MAX, &n) < 0 ||
        dv_int(v, res, "pidsLimit", INT64_MIN, INT64_MAX, &n) < 0)
        return -1;
    return 0;
}

static int dv_resources(struct dv *v, json_t *obj)
{
    return dv_section(v, obj, "resources", dv_resources_entry);
}

static int dv_tmpfs_entry(struct dv *v, json_t *m)
{
    const char *path;
    int64_t n;
    if (dv_str(v, m, "path", &path) < 0 || dv_int(v, m, "sizeBytes", 0, INT64_MAX, &n) < 0 ||
        dv_str_list(v, m, "options") < 0)
        return -1;
    if (path[0] == '\0')
        return dv_required(v, "path");
    if (!is_abs_path(path)) {
        struct shown b;
        dv_key(v, "path");
        return dv_fail(v, "must be an absolute container path, got \"%s\"", show(&b, path));
    }
    return 0;
}

static int dv_tmpfs(struct dv *v, json_t *obj)
{
    return dv_each(v, obj, "tmpfs", "path, sizeBytes and options", dv_tmpfs_entry);
}

/* A scope reference {name, realm, space?, stack?, cell?}: realm required, a deeper coordinate needs
 * every shallower one, every part path-safe (the reference's secretRef / volumeRef rules). */
static int dv_scope_ref(struct dv *v, json_t *ref, bool with_cell)
{
    const char *name, *realm, *space, *stack, *cell = "";
    if (dv_str(v, ref, "name", &name) < 0 || dv_str(v, ref, "realm", &realm) < 0 ||
        dv_str(v, ref, "space", &space) < 0 || dv_str(v, ref, "stack", &stack) < 0 ||
        (with_cell && dv_str(v, ref, "cell", &cell) < 0))
        return -1;
    if (name[0] == '\0')
        return dv_required(v, "name");
    if (realm[0] == '\0')
        return dv_required(v, "realm");
    if (cell[0] != '\0' && stack[0] == '\0')
        return dv_fail(v, "scope is incomplete: cell set without stack");
    if (stack[0] != '\0' && space[0] == '\0')
        return dv_fail(v, "scope is incomplete: stack set without space");
    const char *parts[][2] = {
        {"name", name}, {"realm", realm}, {"space", space}, {"stack", stack}, {"cell", cell}};
    for (size_t i = 0; i < KK_ARRAY_SIZE(parts); i++) {
        if (parts[i][1][0] != '\0' && !segment_safe(parts[i][1]))
            return dv_unsafe(v, parts[i][0], parts[i][1]);
    }
    return 0;
}

static int dv_volumes_entry(struct dv *v, json_t *m)
{
    const char *kind, *source, *target;
    bool b;
    int64_t n;
    json_t *ref;
    if (dv_str(v, m, "kind", &kind) < 0 || dv_str(v, m, "source", &source) < 0 ||
        dv_str(v, m, "target", &target) < 0 || dv_bool(v, m, "readOnly", &b) < 0 ||
        dv_int(v, m, "sizeBytes", 0, INT64_MAX, &n) < 0 || dv_int(v, m, "mode", 0, UINT32_MAX, &n) < 0 ||
        dv_bool(v, m, "ensure", &b) < 0 || dv_obj(v, m, "volumeRef", &ref) < 0)
        return -1;
    struct shown sb;
    if (ref != NULL && strcmp(kind, "volume") != 0)
        return dv_fail(v, "volumeRef is only valid on a kind: volume mount");
    if (strcmp(kind, "volume") == 0) {
        if (source[0] != '\0' && ref != NULL)
            return dv_fail(v, "must set exactly one of source (same-scope name) or volumeRef (cross-scope)");
        if (source[0] == '\0' && ref == NULL)
            return dv_fail(v, "must set either source (same-scope name) or volumeRef (cross-scope)");
        if (source[0] != '\0' && is_abs_path(source)) {
            dv_key(v, "source");
            return dv_fail(v, "must be a Volume name, not an absolute path (got \"%s\")", show(&sb, source));
        }
        if (source[0] != '\0' && !segment_safe(source))
            return dv_unsafe(v, "source", source);
        if (ref != NULL) {
            size_t r = dv_key(v, "volumeRef");
            if (dv_scope_ref(v, ref, false) < 0)
                return -1;
            dv_pop(v, r);
        }
        if (target[0] == '\0')
            return dv_required(v, "target");
        if (!is_abs_path(target))
            return dv_not_abs(v, "target", target);
    } else if (strcmp(kind, "tmpfs") == 0) {
        if (source[0] != '\0') {
            dv_key(v, "source");
            return dv_fail(v, "must be empty: a tmpfs mount is in memory and has no host backing");
        }
    } else if (kind[0] != '\0' && strcmp(kind, "bind") != 0) {
        /* bind (and "") keep the reference's lenient handling of source and target. */
        dv_key(v, "kind");
        return dv_fail(v, "\"%s\" is not recognized; expected \"\", \"bind\", \"tmpfs\" or \"volume\"",
                       show(&sb, kind));
    }
    return 0;
}

static int dv_volumes(struct dv *v, json_t *c)
{
    return dv_each(v, c, "volumes", "kind, source and target", dv_volumes_entry);
}

/* secrets[]: name required, exactly one of fromFile / fromEnv / secretRef, mountPath absolute. */
static int dv_secrets_entry(struct dv *v, json_t *s)
{
    const char *name, *from_file, *from_env, *mount;
    json_t *ref;
    if (dv_str(v, s, "name", &name) < 0 || dv_str(v, s, "fromFile", &from_file) < 0 ||
        dv_str(v, s, "fromEnv", &from_env) < 0 || dv_str(v, s, "mountPath", &mount) < 0 ||
        dv_obj(v, s, "secretRef", &ref) < 0)
        return -1;
    if (name[0] == '\0')
        return dv_required(v, "name");
    int sources = (from_file[0] != '\0') + (from_env[0] != '\0') + (ref != NULL);
    if (sources != 1)
        return dv_fail(v, "must set exactly one of fromFile, fromEnv, or secretRef");
    if (ref != NULL) {
        size_t r = dv_key(v, "secretRef");
        if (dv_scope_ref(v, ref, true) < 0)
            return -1;
        dv_pop(v, r);
    }
    if (mount[0] != '\0' && !is_abs_path(mount))
        return dv_not_abs(v, "mountPath", mount);
    return 0;
}

static int dv_secrets(struct dv *v, json_t *c)
{
    return dv_each(v, c, "secrets", "name and one of fromFile, fromEnv or secretRef", dv_secrets_entry);
}

/* repos[]: name, an absolute target and url required; branch and ref are exclusive. */
static int dv_repos_entry(struct dv *v, json_t *r)
{
    const char *name, *target, *url, *branch, *ref;
    bool b;
    if (dv_str(v, r, "name", &name) < 0 || dv_str(v, r, "target", &target) < 0 ||
        dv_str(v, r, "url", &url) < 0 || dv_str(v, r, "branch", &branch) < 0 ||
        dv_str(v, r, "ref", &ref) < 0 || dv_bool(v, r, "required", &b) < 0)
        return -1;
    const char *missing = name[0] == '\0'     ? "name"
                          : target[0] == '\0' ? "target"
                          : url[0] == '\0'    ? "url"
                                              : NULL;
    if (missing != NULL)
        return dv_required(v, missing);
    if (!is_abs_path(target))
        return dv_not_abs(v, "target", target);
    if (branch[0] != '\0' && ref[0] != '\0')
        return dv_fail(v, "cannot set both branch and ref");
    return 0;
}

static int dv_repos(struct dv *v, json_t *c)
{
    return dv_each(v, c, "repos", "name, target and url", dv_repos_entry);
}

/* git.author / git.committer */
static int dv_git_identity(struct dv *v, json_t *id)
{
    const char *name, *email;
    if (dv_str(v, id, "name", &name) < 0 || dv_str(v, id, "email", &email) < 0)
        return -1;
    if (name[0] == '\0' || email[0] == '\0')
        return dv_fail(v, "requires both name and email");
    return 0;
}

static int dv_git_entry(struct dv *v, json_t *git)
{
    const char *key, *signers;
    json_t *sign;
    if (dv_section(v, git, "author", dv_git_identity) < 0 ||
        dv_section(v, git, "committer", dv_git_identity) < 0 || dv_str(v, git, "signingKey", &key) < 0 ||
        dv_str(v, git, "allowedSigners", &signers) < 0 || dv_str_list(v, git, "sign") < 0 ||
        dv_arr(v, git, "sign", &sign) < 0)
        return -1;
    for (size_t i = 0; i < json_array_size(sign); i++) {
        const char *s = json_string_value(json_array_get(sign, i));
        if (strcmp(s, "commits") != 0 && strcmp(s, "tags") != 0) {
            struct shown b;
            dv_key(v, "sign");
            dv_index(v, i);
            return dv_fail(v, "\"%s\": must be one of \"commits\", \"tags\"", show(&b, s));
        }
    }
    if (json_array_size(sign) > 0 && key[0] == '\0') {
        dv_key(v, "sign");
        return dv_fail(v, "requires git.signingKey to be set");
    }
    return 0;
}

static int dv_git(struct dv *v, json_t *c)
{
    return dv_section(v, c, "git", dv_git_entry);
}

/* A mount a runOn: create stage can persist its work to: any volume that is not tmpfs and not
 * read-only (tmpfs[] entries never count). */
static bool has_persistent_writable_mount(json_t *c)
{
    json_t *vols = json_object_get(c, "volumes");
    size_t i;
    json_t *m;
    json_array_foreach(vols, i, m)
    {
        if (strcmp(kk_json_str(m, "kind"), "tmpfs") != 0 && !kk_json_bool(m, "readOnly"))
            return true;
    }
    return false;
}

/* tty{prompt, onInit[]{script, runOn}, logFile, logLevel}: only on attachable containers. */
static int dv_tty(struct dv *v, json_t *c, bool attachable)
{
    json_t *tty;
    int rc = dv_obj(v, c, "tty", &tty);
    if (rc <= 0)
        return rc;
    size_t p = dv_key(v, "tty");
    const char *prompt, *log_file, *log_level;
    json_t *on_init;
    if (dv_str(v, tty, "prompt", &prompt) < 0 || dv_str(v, tty, "logFile", &log_file) < 0 ||
        dv_str(v, tty, "logLevel", &log_level) < 0 || dv_arr(v, tty, "onInit", &on_init) < 0)
        return -1;
    bool any = prompt[0] != '\0' || log_file[0] != '\0' || log_level[0] != '\0';
    bool has_create = false;
    for (size_t i = 0; i < json_array_size(on_init); i++) {
        size_t q = dv_key(v, "onInit");
        dv_index(v, i);
        json_t *st = json_array_get(on_init, i);
        if (!json_is_object(st))
            return dv_fail(v, "must be a mapping with script and runOn");
        const char *script, *run_on;
        if (dv_str(v, st, "script", &script) < 0 || dv_str(v, st, "runOn", &run_on) < 0)
            return -1;
        any = any || script[0] != '\0' || run_on[0] != '\0';
        if (run_on[0] != '\0' && strcmp(run_on, "start") != 0 && strcmp(run_on, "create") != 0) {
            struct shown b;
            dv_key(v, "runOn");
            return dv_fail(v, "\"%s\": must be one of \"start\", \"create\" (or empty)", show(&b, run_on));
        }
        has_create = has_create || strcmp(run_on, "create") == 0;
        dv_pop(v, q);
    }
    if (!attachable) {
        if (any)
            return dv_fail(v, "fields require attachable: true");
        dv_pop(v, p);
        return 0;
    }
    if (log_level[0] != '\0' && strcmp(log_level, "debug") != 0 && strcmp(log_level, "info") != 0 &&
        strcmp(log_level, "warn") != 0 && strcmp(log_level, "error") != 0) {
        struct shown b;
        dv_key(v, "logLevel");
        return dv_fail(v, "\"%s\": must be one of debug, info, warn, error", show(&b, log_level));
    }
    if (has_create && !has_persistent_writable_mount(c))
        return dv_fail(v, "onInit has runOn: \"create\" stages but the container has no persistent writable "
                          "mount; declare a volumes: entry of kind bind covering the stage's write target so "
                          "its side effects survive container recreate, or move the work into a runOn: "
                          "\"start\" stage");
    dv_pop(v, p);
    return 0;
}

/* restartBackoffSeconds >= 0 with always|on-failure; restartMaxRetries >= 1 with on-failure only.
 * Other restartPolicy strings are not refused (the reference treats them as "always reap"). */
static int dv_restart(struct dv *v, json_t *c)
{
    const char *policy;
    int64_t backoff, retries;
    int has_backoff, has_retries;
    if (dv_str(v, c, "restartPolicy", &policy) < 0 ||
        (has_backoff = dv_int(v, c, "restartBackoffSeconds", INT64_MIN, INT64_MAX, &backoff)) < 0 ||
        (has_retries = dv_int(v, c, "restartMaxRetries", INT64_MIN, INT64_MAX, &retries)) < 0)
        return -1;
    bool restarts = strcmp(policy, "always") == 0 || strcmp(policy, "on-failure") == 0;
    struct shown b;
    size_t p = v->len;
    if (has_backoff) {
        dv_key(v, "restartBackoffSeconds");
        if (backoff < 0)
            return dv_fail(v, "must be >= 0, got %" PRId64, backoff);
        if (!restarts)
            return dv_fail(v, "requires restartPolicy \"always\" or \"on-failure\", got \"%s\"",
                           show(&b, policy));
        dv_pop(v, p);
    }
    if (has_retries) {
        dv_key(v, "restartMaxRetries");
        if (retries < 1)
            return dv_fail(v, "must be >= 1, got %" PRId64, retries);
        if (strcmp(policy, "on-failure") != 0)
            return dv_fail(v, "requires restartPolicy \"on-failure\", got \"%s\"", show(&b, policy));
        dv_pop(v, p);
    }
    return 0;
}

/* One container spec, at the current path (an embedded "spec.containers[i]" or a standalone
 * "spec"). The id is checked by the caller, which knows where the container's name lives. */
static int dv_container_spec(struct dv *v, json_t *c)
{
    const char *s;
    bool b, attachable;
    int64_t n;
    if (dv_str(v, c, "image", &s) < 0)
        return -1;
    if (s[0] == '\0')
        return dv_required(v, "image");
    static const char *const strings[] = {"containerdId", "command",       "workingDir",
                                          "user",         "restartPolicy", "cniConfigPath"};
    for (size_t i = 0; i < KK_ARRAY_SIZE(strings); i++)
        if (dv_str(v, c, strings[i], &s) < 0)
            return -1;
    static const char *const lists[] = {"args",         "env",    "ports", "networks", "networksAliases",
                                        "securityOpts", "devices"};
    for (size_t i = 0; i < KK_ARRAY_SIZE(lists); i++)
        if (dv_str_list(v, c, lists[i]) < 0)
            return -1;
    static const char *const bools[] = {"root",    "privileged", "hostNetwork",
                                        "hostPID", "hostCgroup", "readOnlyRootFilesystem"};
    for (size_t i = 0; i < KK_ARRAY_SIZE(bools); i++)
        if (dv_bool(v, c, bools[i], &b) < 0)
            return -1;
    if (dv_bool(v, c, "attachable", &attachable) < 0 || dv_int(v, c, "kukeonGroupGID", 0, UINT32_MAX, &n) < 0)
        return -1;
    if (dv_capabilities(v, c) < 0 || dv_resources(v, c) < 0 || dv_tmpfs(v, c) < 0 || dv_volumes(v, c) < 0 ||
        dv_secrets(v, c) < 0 || dv_repos(v, c) < 0 || dv_git(v, c) < 0 || dv_tty(v, c, attachable) < 0 ||
        dv_restart(v, c) < 0)
        return -1;
    return 0;
}

/* Check the containerd ids the names will make (the container's and the cell's root) against
 * containerd's limit, with derive.h's message saying which names to shorten. */
static int dv_derive(struct dv *v, const struct kk_derive_names *names, bool with_path)
{
    struct kk_derived d;
    struct kk_err derr;
    if (kk_derive(names, NULL, &d, &derr) < 0)
        return with_path ? dv_failc(v, "%s", derr.msg) : kk_error(v->err, KK_ERR_INVALID, 0, "%s", derr.msg);
    return 0;
}

/* ---- per kind -------------------------------------------------------------------------------- */

/* metadata{name, labels, generation} and spec, shared by every kind. */
static int dv_metadata(struct dv *v, json_t *doc, enum kk_name_kind name_kind, json_t **spec_out,
                       const char **name_out)
{
    json_t *md, *spec;
    if (dv_obj(v, doc, "metadata", &md) < 0 || dv_obj(v, doc, "spec", &spec) < 0)
        return -1;
    if (md == NULL && (md = object_member(doc, "metadata")) == NULL)
        return dv_nomem(v);
    if (spec == NULL && (spec = object_member(doc, "spec")) == NULL)
        return dv_nomem(v);
    size_t p = dv_key(v, "metadata");
    int64_t n;
    if (dv_name(v, md, "name", name_kind, name_out) < 0 || dv_str_map(v, md, "labels") < 0 ||
        dv_int(v, md, "generation", 0, INT64_MAX, &n) < 0)
        return -1;
    dv_pop(v, p);
    *spec_out = spec;
    return 0;
}

/* spec.registryCredentials[i] (kukeond/regcred.h): username, password (absent in a stored
 * document: the password lives in the realm's secrets, and an apply may leave it out to keep the
 * stored one), serverAddress rewritten as the host it names, one entry per registry. No message
 * shows a password. */
static int dv_regcred(struct dv *v, json_t *c, json_t *creds, size_t i)
{
    const char *user, *pass, *server;
    bool insecure;
    if (dv_str(v, c, "username", &user) < 0 || dv_str(v, c, "password", &pass) < 0 ||
        dv_str(v, c, "serverAddress", &server) < 0 || dv_bool(v, c, "insecureSkipTLSVerify", &insecure) < 0)
        return -1;
    struct kk_err e = {0};
    size_t p = dv_key(v, "username");
    if (kk_regcred_check_username(user, &e) < 0)
        return dv_fail(v, "%s", e.msg);
    dv_pop(v, p);
    json_t *pw = json_object_get(c, "password");
    if (pw != NULL && !json_is_null(pw)) {
        dv_key(v, "password");
        if (kk_regcred_check_password(pass, &e) < 0)
            return dv_fail(v, "%s", e.msg);
        dv_pop(v, p);
    }
    char norm[KK_REGCRED_SERVER_MAX];
    dv_key(v, "serverAddress");
    if (kk_regcred_normalize_server(server, norm, &e) < 0)
        return dv_fail(v, "%s", e.msg);
    for (size_t j = 0; j < i; j++)
        if (strcmp(kk_json_str(json_array_get(creds, j), "serverAddress"), norm) == 0)
            return dv_fail(v, "\"%s\" repeats entry %zu: one credential per registry", norm, j);
    if (strcmp(server, norm) != 0 && json_object_set_new(c, "serverAddress", json_string(norm)) < 0)
        return dv_nomem(v);
    dv_pop(v, p);
    return 0;
}

/* spec.allow (a Kukeon-in-C extension, docs/security.md): the fields kuke-ctrd refuses by default
 * that this realm's containers may use. kuke-ctrd records the list in the realm's containerd
 * namespace when it creates it and never changes it; the words are kuke-ctrd's (kuke-ctrd/ctrd_ns.c).
 * Rewritten in this order, so that the same policy always reads the same (apply compares lists). */
static const char *const realm_allow_words[] = {"privileged", "cap-add", "host-namespaces", "host-paths",
                                                "devices",    "hooks",   "runtime"};
#define REALM_ALLOW_VALID "privileged, cap-add, host-namespaces, host-paths, devices, hooks, runtime"

static int dv_realm_allow(struct dv *v, json_t *spec)
{
    json_t *allow;
    int rc = dv_arr(v, spec, "allow", &allow);
    if (rc <= 0)
        return rc;
    size_t p = dv_key(v, "allow");
    unsigned bits = 0;
    for (size_t i = 0; i < json_array_size(allow); i++) {
        const char *s;
        if (dv_str_elem(v, allow, i, &s) < 0)
            return -1;
        size_t w = 0;
        while (w < KK_ARRAY_SIZE(realm_allow_words) && strcmp(s, realm_allow_words[w]) != 0)
            w++;
        struct shown b;
        size_t q = dv_index(v, i);
        if (w == KK_ARRAY_SIZE(realm_allow_words))
            return dv_fail(v, "\"%s\" is not a policy word (valid: " REALM_ALLOW_VALID ")", show(&b, s));
        if (bits & (1u << w))
            return dv_fail(v, "\"%s\" is listed twice", s);
        bits |= 1u << w;
        dv_pop(v, q);
    }
    json_t *canon = json_array();
    for (size_t w = 0; canon != NULL && w < KK_ARRAY_SIZE(realm_allow_words); w++)
        if ((bits & (1u << w)) && json_array_append_new(canon, json_string(realm_allow_words[w])) < 0) {
            json_decref(canon);
            canon = NULL;
        }
    if (canon == NULL || json_object_set_new(spec, "allow", canon) < 0)
        return dv_nomem(v);
    dv_pop(v, p);
    return 1;
}

static int dv_realm(struct dv *v, json_t *doc)
{
    json_t *spec, *creds;
    const char *name, *s;
    if (dv_metadata(v, doc, KK_NAME_REALM, &spec, &name) < 0)
        return -1;
    size_t p = dv_key(v, "spec");
    if (dv_str(v, spec, "namespace", &s) < 0 || dv_arr(v, spec, "registryCredentials", &creds) < 0 ||
        dv_realm_allow(v, spec) < 0)
        return -1;
    for (size_t i = 0; i < json_array_size(creds); i++) {
        size_t q = dv_key(v, "registryCredentials");
        dv_index(v, i);
        json_t *c = json_array_get(creds, i);
        if (!json_is_object(c))
            return dv_fail(v, "must be a mapping with username, password and serverAddress");
        if (dv_regcred(v, c, creds, i) < 0)
            return -1;
        dv_pop(v, q);
    }
    dv_pop(v, p);
    struct kk_derive_names names = {.realm = name};
    return dv_derive(v, &names, false);
}

/* A CIDR as Go's net.ParseCIDR accepts it: an IPv4 or IPv6 address and a prefix length. */
static bool cidr_valid(const char *s)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL || (size_t)(slash - s) >= INET6_ADDRSTRLEN)
        return false;
    char addr[INET6_ADDRSTRLEN];
    memcpy(addr, s, (size_t)(slash - s));
    addr[slash - s] = '\0';
    unsigned char buf[16];
    uint64_t bits;
    if (inet_pton(AF_INET, addr, buf) == 1)
        return kk_parse_u64(slash + 1, 0, 32, &bits) == 0;
    if (inet_pton(AF_INET6, addr, buf) == 1)
        return kk_parse_u64(slash + 1, 0, 128, &bits) == 0;
    return false;
}

/* The reference's loose DNS-name check: no spaces or '/', no empty label. The resolver decides. */
static bool host_likely_dns(const char *s)
{
    size_t len = strlen(s);
    if (len == 0 || len > 253 || strpbrk(s, " \t/") != NULL || s[0] == '.' || s[len - 1] == '.')
        return false;
    return strstr(s, "..") == NULL;
}

static int dv_egress(struct dv *v, json_t *spec)
{
    json_t *net, *egress, *allow;
    if (dv_obj(v, spec, "network", &net) < 0)
        return -1;
    if (net == NULL)
        return 0;
    size_t p = dv_key(v, "network");
    if (dv_obj(v, net, "egress", &egress) < 0)
        return -1;
    if (egress == NULL) {
        dv_pop(v, p);
        return 0;
    }
    dv_key(v, "egress");
    const char *def;
    if (dv_str(v, egress, "default", &def) < 0 || dv_arr(v, egress, "allow", &allow) < 0)
        return -1;
    if (def[0] != '\0' && strcasecmp(def, "allow") != 0 && strcasecmp(def, "deny") != 0) {
        struct shown b;
        dv_key(v, "default");
        return dv_fail(v, "must be 'allow' or 'deny', got \"%s\"", show(&b, def));
    }
    for (size_t i = 0; i < json_array_size(allow); i++) {
        size_t q = dv_key(v, "allow");
        dv_index(v, i);
        json_t *r = json_array_get(allow, i);
        if (!json_is_object(r))
            return dv_fail(v, "must be a mapping with host or cidr, and ports");
        const char *host, *cidr;
        json_t *ports;
        if (dv_str(v, r, "host", &host) < 0 || dv_str(v, r, "cidr", &cidr) < 0 ||
            dv_arr(v, r, "ports", &ports) < 0)
            return -1;
        struct shown b;
        if (host[0] == '\0' && cidr[0] == '\0')
            return dv_fail(v, "requires exactly one of host or cidr");
        if (host[0] != '\0' && cidr[0] != '\0')
            return dv_fail(v, "must not set both host and cidr");
        if (cidr[0] != '\0' && !cidr_valid(cidr)) {
            dv_key(v, "cidr");
            return dv_fail(v, "\"%s\" is not a valid CIDR (like 10.0.0.0/8)", show(&b, cidr));
        }
        if (host[0] != '\0' && !host_likely_dns(host)) {
            dv_key(v, "host");
            return dv_fail(v, "\"%s\" is not a valid DNS name", show(&b, host));
        }
        for (size_t k = 0; k < json_array_size(ports); k++) {
            json_t *port = json_array_get(ports, k);
            if (!json_is_integer(port) || json_integer_value(port) < 1 || json_integer_value(port) > 65535) {
                dv_key(v, "ports");
                dv_index(v, k);
                return dv_fail(v, "must be a port number within [1, 65535]");
            }
        }
        dv_pop(v, q);
    }
    dv_pop(v, p);
    return 0;
}

static int dv_space_defaults(struct dv *v, json_t *spec)
{
    json_t *defaults, *c;
    if (dv_obj(v, spec, "defaults", &defaults) < 0)
        return -1;
    if (defaults == NULL)
        return 0;
    size_t p = dv_key(v, "defaults");
    if (dv_obj(v, defaults, "container", &c) < 0)
        return -1;
    if (c != NULL) {
        dv_key(v, "container");
        const char *user;
        bool b;
        if (dv_str(v, c, "user", &user) < 0 || dv_bool(v, c, "readOnlyRootFilesystem", &b) < 0 ||
            dv_capabilities(v, c) < 0 || dv_str_list(v, c, "securityOpts") < 0 || dv_tmpfs(v, c) < 0 ||
            dv_resources(v, c) < 0)
            return -1;
    }
    dv_pop(v, p);
    return 0;
}

static int dv_space(struct dv *v, json_t *doc)
{
    json_t *spec;
    const char *name, *realm, *s;
    if (dv_metadata(v, doc, KK_NAME_SPACE, &spec, &name) < 0)
        return -1;
    size_t p = dv_key(v, "spec");
    if (dv_name(v, spec, "realmId", KK_NAME_REALM, &realm) < 0 || dv_str(v, spec, "cniConfigPath", &s) < 0 ||
        dv_egress(v, spec) < 0 || dv_space_defaults(v, spec) < 0)
        return -1;
    dv_pop(v, p);
    struct kk_derive_names names = {.realm = realm, .space = name};
    return dv_derive(v, &names, false);
}

static int dv_stack(struct dv *v, json_t *doc)
{
    json_t *spec;
    const char *name, *realm, *space;
    if (dv_metadata(v, doc, KK_NAME_STACK, &spec, &name) < 0)
        return -1;
    size_t p = dv_key(v, "spec");
    if (dv_name(v, spec, "realmId", KK_NAME_REALM, &realm) < 0 ||
        dv_name(v, spec, "spaceId", KK_NAME_SPACE, &space) < 0 || dv_spec_id(v, spec, name) < 0)
        return -1;
    dv_pop(v, p);
    struct kk_derive_names names = {.realm = realm, .space = space, .stack = name};
    return dv_derive(v, &names, false);
}

/* An embedded container inherits the cell's place; a different one written in it is refused. */
static int dv_inherit(struct dv *v, json_t *c, const char *key, const char *value, const char *cell_field)
{
    const char *s;
    if (dv_str(v, c, key, &s) < 0)
        return -1;
    if (s[0] == '\0')
        return json_object_set_new(c, key, json_string(value)) < 0 ? dv_nomem(v) : 0;
    if (strcmp(s, value) != 0) {
        struct shown a, b;
        dv_key(v, key);
        return dv_fail(
            v, "\"%s\" differs from the cell's %s \"%s\": remove it (containers inherit the cell's place)",
            show(&a, s), cell_field, show(&b, value));
    }
    return 0;
}

/* The root rules of kukeon-reference.md 1.4 (the Go resolveCellRootContainer and
 * validateExplicitRootHostNetwork), then the cell's tty.default. */
static int dv_cell_root(struct dv *v, json_t *spec, json_t *containers)
{
    struct shown a, b;
    const char *marked = NULL, *second = NULL;
    bool any_host_network = false;
    size_t i;
    json_t *c;
    json_array_foreach(containers, i, c)
    {
        if (kk_json_bool(c, "root")) {
            if (marked == NULL)
                marked = kk_json_str(c, "id");
            else if (second == NULL)
                second = kk_json_str(c, "id");
        }
        any_host_network = any_host_network || kk_json_bool(c, "hostNetwork");
    }
    if (second != NULL) {
        dv_key(v, "containers");
        return dv_failc(v, "only one container in a cell may have root: true (\"%s\" and \"%s\" both do)",
                        show(&a, marked), show(&b, second));
    }
    const char *root_id;
    if (dv_str(v, spec, "rootContainerId", &root_id) < 0)
        return -1;
    json_t *root = NULL;
    if (root_id[0] != '\0') {
        json_array_foreach(containers, i, c)
        {
            if (strcmp(kk_json_str(c, "id"), root_id) == 0)
                root = c;
        }
        if (root == NULL) {
            dv_key(v, "rootContainerId");
            return dv_fail(v, "\"%s\" not found in containers array", show(&a, root_id));
        }
        if (marked != NULL && strcmp(marked, root_id) != 0) {
            dv_key(v, "rootContainerId");
            return dv_fail(v,
                           "disagrees with container marked root: true: rootContainerId is \"%s\" but "
                           "container \"%s\" has root: true",
                           show(&a, root_id), show(&b, marked));
        }
    } else if (marked != NULL) {
        if (json_object_set_new(spec, "rootContainerId", json_string(marked)) < 0)
            return dv_nomem(v);
        json_array_foreach(containers, i, c)
        {
            if (strcmp(kk_json_str(c, "id"), marked) == 0)
                root = c;
        }
        root_id = kk_json_str(spec, "rootContainerId");
    } else {
        /* No root: the daemon will synthesize one with id "root", which would silently replace a
         * container of that id (the Go behaviour); say so instead. */
        json_array_foreach(containers, i, c)
        {
            if (strcmp(kk_json_str(c, "id"), ROOT_ID) == 0) {
                dv_key(v, "containers");
                dv_index(v, i);
                return dv_fail(
                    v, "has id \"root\", which is reserved for the cell's pause root container: rename "
                       "it, or mark it root: true to make it the cell's root");
            }
        }
    }
    if (root != NULL && any_host_network && !kk_json_bool(root, "hostNetwork")) {
        dv_key(v, "rootContainerId");
        return dv_failc(v,
                        "explicit rootContainerId must have hostNetwork: true when any cell container has "
                        "hostNetwork: true: rootContainerId \"%s\"",
                        show(&a, root_id));
    }

    json_t *tty;
    if (dv_obj(v, spec, "tty", &tty) < 0)
        return -1;
    const char *def = "";
    if (tty != NULL) {
        size_t p = dv_key(v, "tty");
        if (dv_str(v, tty, "default", &def) < 0)
            return -1;
        dv_pop(v, p);
    }
    if (def[0] != '\0') {
        json_t *target = NULL;
        json_array_foreach(containers, i, c)
        {
            if (strcmp(kk_json_str(c, "id"), def) == 0)
                target = c;
        }
        dv_key(v, "tty.default");
        if (target == NULL)
            return dv_fail(v, "\"%s\" does not match any container in this cell", show(&a, def));
        if (!kk_json_bool(target, "attachable"))
            return dv_fail(v, "\"%s\" references container that is not attachable", show(&a, def));
    }
    return 0;
}

static int dv_cell(struct dv *v, json_t *doc)
{
    json_t *spec, *containers, *obj;
    const char *name, *realm, *space, *stack;
    bool b;
    if (dv_metadata(v, doc, KK_NAME_CELL, &spec, &name) < 0)
        return -1;
    size_t p = dv_key(v, "metadata");
    if (dv_str_map(v, kk_doc_metadata(doc), "annotations") < 0)
        return -1;
    dv_pop(v, p);
    p = dv_key(v, "spec");
    if (dv_name(v, spec, "realmId", KK_NAME_REALM, &realm) < 0 ||
        dv_name(v, spec, "spaceId", KK_NAME_SPACE, &space) < 0 ||
        dv_name(v, spec, "stackId", KK_NAME_STACK, &stack) < 0 || dv_spec_id(v, spec, name) < 0 ||
        dv_bool(v, spec, "autoDelete", &b) < 0 || dv_bool(v, spec, "nestedCgroupRuntime", &b) < 0 ||
        dv_bool(v, spec, "ignoreDiskPressure", &b) < 0 || dv_str_list(v, spec, "runtimeEnv") < 0 ||
        dv_obj(v, spec, "provenance", &obj) < 0 || dv_arr(v, spec, "containers", &containers) < 0)
        return -1;
    if (json_array_size(containers) == 0) {
        dv_key(v, "containers");
        return dv_fail(v, "is required and cannot be empty");
    }
    struct kk_derive_names names = {.realm = realm, .space = space, .stack = stack, .cell = name};
    if (dv_derive(v, &names, false) < 0)
        return -1;

    for (size_t i = 0; i < json_array_size(containers); i++) {
        size_t r = dv_key(v, "containers");
        dv_index(v, i);
        json_t *c = json_array_get(containers, i);
        if (!json_is_object(c))
            return dv_fail(v, "must be a mapping with id and image");
        const char *id;
        if (dv_name(v, c, "id", KK_NAME_CONTAINER, &id) < 0)
            return -1;
        for (size_t k = 0; k < i; k++) {
            if (strcmp(kk_json_str(json_array_get(containers, k), "id"), id) == 0) {
                struct shown sb;
                dv_key(v, "id");
                return dv_fail(v,
                               "\"%s\" is used by spec.containers[%zu] too: container ids must be unique in "
                               "a cell",
                               show(&sb, id), k);
            }
        }
        if (dv_inherit(v, c, "realmId", realm, "spec.realmId") < 0 ||
            dv_inherit(v, c, "spaceId", space, "spec.spaceId") < 0 ||
            dv_inherit(v, c, "stackId", stack, "spec.stackId") < 0 ||
            dv_inherit(v, c, "cellId", name, "metadata.name") < 0 || dv_container_spec(v, c) < 0)
            return -1;
        names.container = id;
        if (dv_derive(v, &names, true) < 0)
            return -1;
        dv_pop(v, r);
    }
    if (dv_cell_root(v, spec, containers) < 0)
        return -1;
    dv_pop(v, p);
    return 0;
}

static int dv_container(struct dv *v, json_t *doc)
{
    json_t *spec;
    const char *name, *realm, *space, *stack, *cell;
    if (dv_metadata(v, doc, KK_NAME_CONTAINER, &spec, &name) < 0)
        return -1;
    size_t p = dv_key(v, "spec");
    if (dv_name(v, spec, "realmId", KK_NAME_REALM, &realm) < 0 ||
        dv_name(v, spec, "spaceId", KK_NAME_SPACE, &space) < 0 ||
        dv_name(v, spec, "stackId", KK_NAME_STACK, &stack) < 0 ||
        dv_name(v, spec, "cellId", KK_NAME_CELL, &cell) < 0 || dv_spec_id(v, spec, name) < 0 ||
        dv_container_spec(v, spec) < 0)
        return -1;
    if (strcmp(name, ROOT_ID) == 0) {
        /* A standalone container joins an existing cell; the root of that cell is not its to take. */
        dv_pop(v, 0);
        return dv_fail(v,
                       "metadata.name \"root\" is reserved for the cell's pause root container: rename it");
    }
    dv_pop(v, p);
    struct kk_derive_names names = {
        .realm = realm, .space = space, .stack = stack, .cell = cell, .container = name};
    return dv_derive(v, &names, false);
}

/* apiVersion, kind, metadata, spec, status first, in that order, then anything else as it came:
 * the order Go's encoder writes, so a document reads the same from either implementation. */
static int doc_reorder(json_t *doc)
{
    static const char *const canonical[] = {"apiVersion", "kind", "metadata", "spec", "status"};
    size_t n = json_object_size(doc);
    const char **keys = calloc(n + 1, sizeof(*keys));
    if (keys == NULL)
        return -1;
    size_t k = 0;
    const char *key;
    json_t *val;
    json_object_foreach(doc, key, val)
    {
        bool is_canonical = false;
        for (size_t i = 0; i < KK_ARRAY_SIZE(canonical); i++)
            is_canonical = is_canonical || strcmp(key, canonical[i]) == 0;
        if (!is_canonical)
            keys[k++] = key;
    }
    json_t *moved = json_object();
    int rc = moved == NULL ? -1 : 0;
    /* Rebuild: take every member out in the wanted order, then put them back. */
    for (size_t i = 0; rc == 0 && i < KK_ARRAY_SIZE(canonical); i++) {
        json_t *m = json_object_get(doc, canonical[i]);
        if (m != NULL)
            rc = json_object_set(moved, canonical[i], m);
    }
    for (size_t i = 0; rc == 0 && i < k; i++)
        rc = json_object_set(moved, keys[i], json_object_get(doc, keys[i]));
    free(keys);
    if (rc == 0) {
        json_object_clear(doc);
        rc = json_object_update(doc, moved);
    }
    json_decref(moved);
    return rc;
}

int kk_doc_validate(json_t *doc, struct kk_err *err)
{
    struct dv v = {.err = err};
    if (!json_is_object(doc))
        return kk_error(err, KK_ERR_INVALID, 0,
                        "a document must be a mapping with apiVersion, kind, metadata and spec");
    const char *kind_s, *api;
    if (dv_str(&v, doc, "kind", &kind_s) < 0)
        return -1;
    enum kk_kind kind;
    if (kk_kind_parse(kind_s, &kind, err) < 0)
        return -1;
    if (dv_str(&v, doc, "apiVersion", &api) < 0)
        return -1;
    if (api[0] == '\0') {
        if (json_object_set_new(doc, "apiVersion", json_string(KK_API_VERSION)) < 0)
            return dv_nomem(&v);
    } else if (strcmp(api, KK_API_VERSION) != 0) {
        struct shown b;
        return kk_error(err, KK_ERR_INVALID, 0, "unsupported apiVersion: %s (expected " KK_API_VERSION ")",
                        show(&b, api));
    }
    if (!kk_kind_supported(kind))
        return kk_error(err, KK_ERR_INVALID, 0, "kind %s is not supported yet", kind_names[kind]);
    json_t *status = json_object_get(doc, "status");
    if (status != NULL && !json_is_object(status) && !json_is_null(status))
        return kk_error(err, KK_ERR_INVALID, 0, "status must be a mapping");
    int rc;
    switch (kind) {
    case KK_KIND_REALM:
        rc = dv_realm(&v, doc);
        break;
    case KK_KIND_SPACE:
        rc = dv_space(&v, doc);
        break;
    case KK_KIND_STACK:
        rc = dv_stack(&v, doc);
        break;
    case KK_KIND_CELL:
        rc = dv_cell(&v, doc);
        break;
    default:
        rc = dv_container(&v, doc);
        break;
    }
    if (rc < 0)
        return -1;
    if (doc_reorder(doc) < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "validating a %s: out of memory", kind_names[kind]);
    return 0;
}

/* ---- daemon-side completion ------------------------------------------------------------------ */

/* Fill a system label unless the author set it (the reference: "where absent"). */
static int label_default(json_t *labels, const char *key, const char *value)
{
    if (json_object_get(labels, key) != NULL)
        return 0;
    return json_object_set_new(labels, key, json_string(value));
}

/* A derived value the input may leave empty or repeat, but not change. */
static int derived_field(json_t *obj, const char *key, const char *derived, const char *where,
                         const char *why, struct kk_err *err)
{
    const char *s = kk_json_str(obj, key);
    if (s[0] == '\0')
        return json_object_set_new(obj, key, json_string(derived)) < 0
                   ? kk_error(err, KK_ERR_INTERNAL, 0, "setting %s: out of memory", where)
                   : 0;
    if (strcmp(s, derived) == 0)
        return 0;
    struct shown a, b;
    return kk_error(err, KK_ERR_INVALID, 0, "%s \"%s\" is not supported: %s \"%s\"; remove %s", where,
                    show(&a, s), why, show(&b, derived), where);
}

int kk_doc_complete(json_t *doc, const struct kk_derive_config *cfg, struct kk_err *err)
{
    enum kk_kind kind;
    if (kk_doc_kind(doc, &kind) < 0 || !kk_kind_supported(kind))
        return kk_error(err, KK_ERR_INVALID, 0, "completing a document: validate it first");
    struct kk_derive_names names;
    if (kk_doc_names(doc, &names, err) < 0)
        return -1;
    struct kk_derived d;
    if (kk_derive(&names, cfg, &d, err) < 0)
        return -1;
    json_t *md = kk_doc_metadata(doc), *spec = kk_doc_spec(doc);
    json_t *labels = md != NULL ? object_member(md, "labels") : NULL;
    if (labels == NULL || spec == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "completing a %s: validate it first", kind_names[kind]);

    int rc = 0;
    char path[KK_DERIVE_PATH_SIZE];
    switch (kind) {
    case KK_KIND_REALM:
        if (derived_field(spec, "namespace", d.ctrd_namespace, "spec.namespace",
                          "this daemon places the realm in containerd namespace", err) < 0)
            return -1;
        rc = label_default(labels, LABEL_REALM, d.ctrd_namespace);
        break;
    case KK_KIND_SPACE:
        if (kk_snprintf(path, sizeof(path), err, "conflist path", "%s/network.conflist", d.metadata_dir) <
                0 ||
            derived_field(spec, "cniConfigPath", path, "spec.cniConfigPath",
                          "this daemon writes the space's network configuration itself, at", err) < 0)
            return -1;
        rc =
            label_default(labels, LABEL_REALM, d.realm) < 0 || label_default(labels, LABEL_SPACE, d.space) < 0
                ? -1
                : 0;
        break;
    case KK_KIND_STACK:
        rc = label_default(labels, LABEL_REALM, d.realm) < 0 ||
                     label_default(labels, LABEL_SPACE, d.space) < 0 ||
                     label_default(labels, LABEL_STACK, d.stack) < 0
                 ? -1
                 : 0;
        break;
    case KK_KIND_CELL: {
        rc = label_default(labels, LABEL_REALM, d.realm) < 0 ||
                     label_default(labels, LABEL_SPACE, d.space) < 0 ||
                     label_default(labels, LABEL_STACK, d.stack) < 0 ||
                     label_default(labels, LABEL_CELL, d.cell) < 0
                 ? -1
                 : 0;
        size_t i;
        json_t *c;
        json_array_foreach(kk_cell_containers(doc), i, c)
        {
            struct kk_derive_names cn = names;
            cn.container = kk_json_str(c, "id");
            struct kk_derived cd;
            char where[64];
            snprintf(where, sizeof(where), "spec.containers[%zu].containerdId", i);
            if (kk_derive(&cn, cfg, &cd, err) < 0 ||
                derived_field(c, "containerdId", cd.ctrd_id, where, "this daemon names the container", err) <
                    0)
                return -1;
        }
        break;
    }
    default: /* KK_KIND_CONTAINER */
        if (derived_field(spec, "containerdId", d.ctrd_id, "spec.containerdId",
                          "this daemon names the container", err) < 0)
            return -1;
        break;
    }
    if (rc < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "completing a %s: out of memory", kind_names[kind]);
    return 0;
}

int kk_cell_add_pause_root(json_t *cell, const struct kk_pause_root *pause, struct kk_err *err)
{
    json_t *spec = kk_doc_spec(cell), *containers = kk_cell_containers(cell);
    if (spec == NULL || containers == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "adding a pause root: the cell has no spec.containers");
    if (kk_cell_root_id(cell)[0] != '\0')
        return 0;
    if (pause == NULL || pause->image == NULL || pause->image[0] == '\0' || pause->command == NULL ||
        pause->command[0] == '\0')
        return kk_error(err, KK_ERR_INVALID, 0, "adding a pause root: image and command are required");
    if (kk_cell_container(cell, ROOT_ID) != NULL)
        return kk_error(
            err, KK_ERR_INVALID, 0,
            "cell \"%s\" already has a container \"root\" that is not its root: validate the cell first",
            kk_doc_name(cell));
    struct kk_derive_names names;
    struct kk_derived d;
    if (kk_doc_names(cell, &names, err) < 0 || kk_derive(&names, NULL, &d, err) < 0)
        return -1;
    bool host_network = false;
    size_t i;
    json_t *c;
    json_array_foreach(containers, i, c)
    {
        host_network = host_network || kk_json_bool(c, "hostNetwork");
    }
    json_t *root = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:s, s:s}", "id", ROOT_ID, "containerdId",
                             d.ctrd_root_id, "realmId", d.realm, "spaceId", d.space, "stackId", d.stack,
                             "cellId", d.cell, "root", 1, "image", pause->image, "command", pause->command);
    if (root == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "adding a pause root: out of memory");
    int rc = 0;
    if (pause->bind_source != NULL && pause->bind_source[0] != '\0')
        rc = json_object_set_new(root, "volumes",
                                 json_pack("[{s:s, s:s, s:s, s:b}]", "kind", "bind", "source",
                                           pause->bind_source, "target", pause->command, "readOnly", 1));
    if (rc == 0 && host_network)
        rc = json_object_set_new(root, "hostNetwork", json_true());
    if (rc == 0)
        rc = json_array_append_new(containers, root);
    else
        json_decref(root);
    if (rc == 0)
        rc = json_object_set_new(spec, "rootContainerId", json_string(ROOT_ID));
    if (rc < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "adding a pause root: out of memory");
    return 0;
}

/* ---- status ---------------------------------------------------------------------------------- */

/* The Go daemon's state ordinals (its iota order), accepted on read for documents it wrote. */
static const char *const realm_states[] = {"Pending", "Creating", "Ready", "Deleting", "Failed", "Unknown"};
static const char *const space_states[] = {"Pending", "Ready", "Failed", "Unknown"};
static const char *const cell_states[] = {"Pending", "Ready",  "Stopped", "Failed",
                                          "Unknown", "Exited", "Error",   "Degraded"};
static const char *const container_states[] = {"Pending", "Ready",   "Stopped",    "Paused", "Pausing",
                                               "Failed",  "Unknown", "NotCreated", "Exited", "Error"};

const char *kk_state_name(enum kk_kind kind, const json_t *state)
{
    if (json_is_string(state))
        return json_string_value(state);
    if (!json_is_integer(state))
        return "";
    json_int_t i = json_integer_value(state);
    const char *const *names;
    size_t n;
    switch (kind) {
    case KK_KIND_REALM:
        names = realm_states, n = KK_ARRAY_SIZE(realm_states);
        break;
    case KK_KIND_SPACE:
    case KK_KIND_STACK:
        names = space_states, n = KK_ARRAY_SIZE(space_states);
        break;
    case KK_KIND_CELL:
        names = cell_states, n = KK_ARRAY_SIZE(cell_states);
        break;
    case KK_KIND_CONTAINER:
        names = container_states, n = KK_ARRAY_SIZE(container_states);
        break;
    default:
        return "";
    }
    return i >= 0 && (size_t)i < n ? names[i] : "";
}

const char *kk_doc_state(const json_t *doc)
{
    enum kk_kind kind;
    if (kk_doc_kind(doc, &kind) < 0)
        return "";
    return kk_state_name(kind, json_object_get(kk_doc_status(doc), "state"));
}

int kk_time_format(const struct timespec *t, char *buf, size_t size)
{
    struct tm tm;
    if (gmtime_r(&t->tv_sec, &tm) == NULL || size < 36)
        return -1;
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    if (n == 0)
        return -1;
    long ns = t->tv_nsec;
    if (ns > 0 && ns < 1000000000L) {
        char frac[11];
        snprintf(frac, sizeof(frac), ".%09ld", ns);
        size_t f = strlen(frac);
        while (frac[f - 1] == '0')
            frac[--f] = '\0';
        memcpy(buf + n, frac, f);
        n += f;
    }
    buf[n++] = 'Z';
    buf[n] = '\0';
    return 0;
}

/* Go's zero time, which its encoder writes for a status time never set. */
static bool time_unset(const json_t *v)
{
    const char *s = json_string_value(v);
    return s == NULL || s[0] == '\0' || strcmp(s, "0001-01-01T00:00:00Z") == 0;
}

int kk_doc_stamp_lifecycle(json_t *doc, const struct timespec *now)
{
    char ts[40];
    json_t *status = json_is_object(doc) ? object_member(doc, "status") : NULL;
    if (status == NULL || kk_time_format(now, ts, sizeof(ts)) < 0)
        return -1;
    if (time_unset(json_object_get(status, "createdAt")) &&
        json_object_set_new(status, "createdAt", json_string(ts)) < 0)
        return -1;
    if (json_object_set_new(status, "updatedAt", json_string(ts)) < 0)
        return -1;
    if (strcmp(kk_doc_state(doc), "Ready") == 0 && time_unset(json_object_get(status, "readyAt")) &&
        json_object_set_new(status, "readyAt", json_string(ts)) < 0)
        return -1;
    return 0;
}
