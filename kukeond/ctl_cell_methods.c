/* The kukeonv1 methods of cells and containers (kukeon-reference.md section 6), over the primitives of
 * ctl_cell.c: CreateCell, MaterializeCell, GetCell, ListCells, DeleteCell, PurgeCell, StartCell,
 * StopCell, KillCell, GetContainer, ListContainers. Get and List read the store (the status as last
 * persisted); List asks no helper. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/cgd_client.h"
#include "ipc/ctrd_client.h"
#include "kukeond/ctl_cell.h"
#include "kukeond/ctl_list.h"

/* The request's Doc, which must be a Cell (or kind) when it says. */
static const json_t *cell_arg_doc(struct ctl_op *op, const json_t *args, const char *kind,
                                  const char *required, struct kk_err *err)
{
    return ctl_arg_doc_of(op, args, kind, strcmp(kind, "Cell") == 0 ? "cell" : "container", required, err);
}

static int cell_names_arg(struct ctl_op *op, const json_t *args, struct ctl_names *n, const json_t **doc,
                          struct kk_err *err)
{
    *doc = cell_arg_doc(op, args, "Cell", "CellNameRequired", err);
    if (*doc == NULL)
        return -1;
    return ctl_cell_names_from_doc(op, *doc, n, err);
}

/* ---- create, materialize ------------------------------------------------------------------------- */

static json_t *m_create(struct ctl_op *op, const json_t *args, bool start, struct kk_err *err)
{
    const json_t *doc = cell_arg_doc(op, args, "Cell", "CellNameRequired", err);
    return doc != NULL ? ctl_cell_create(op, doc, start, err) : NULL;
}

static json_t *m_create_cell(struct ctl_op *op, const json_t *args, const char **member, struct kk_err *err)
{
    (void)member;
    return m_create(op, args, true, err);
}

static json_t *m_materialize_cell(struct ctl_op *op, const json_t *args, const char **member,
                                  struct kk_err *err)
{
    (void)member;
    return m_create(op, args, false, err);
}

/* ---- get, list ----------------------------------------------------------------------------------- */

static json_t *m_get_cell(struct ctl_op *op, const json_t *args, const char **member, struct kk_err *err)
{
    (void)member;
    const json_t *in;
    struct ctl_names n;
    if (cell_names_arg(op, args, &n, &in, err) < 0)
        return NULL;
    json_t *doc = NULL;
    int exists = ctl_doc_get(op, &n, &doc, NULL, err);
    if (exists < 0)
        return NULL;
    bool cgroup = false, root = false, running = false;
    if (exists == 1) {
        /* Probes, not requirements: a helper that cannot answer says "no". */
        struct kk_err e = {0};
        struct kk_derive_names dn = ctl_dnames(&n);
        struct kk_cgd_stat st;
        int sock = ctl_helper(op, KK_CTL_CGD, "probing the cell's cgroup", &e);
        if (sock >= 0 && kk_cgd_stat(sock, &dn, &st, &e) == 0)
            cgroup = st.exists;
        sock = ctl_helper(op, KK_CTL_CTRD, "probing the cell's root container", &e);
        kk_ctrd_ref ref = KUKEON__IPC__CTRD__REF__INIT;
        ref.realm = n.realm, ref.space = n.space, ref.stack = n.stack, ref.cell = n.cell;
        ref.container = (char *)kk_cell_root_id(doc);
        Kukeon__Ipc__Ctrd__ContainerStatus *cs = NULL;
        if (sock >= 0 && ref.container[0] != '\0' && kk_ctrd_container_status(sock, &ref, &cs, &e) == 0) {
            root = true;
            running = strcmp(cs->state, "running") == 0;
            protobuf_c_message_free_unpacked(&cs->base, NULL);
        }
    } else {
        doc = json_deep_copy(in);
    }
    json_t *res =
        json_pack("{s:o, s:b, s:b, s:b, s:b}", "Cell", doc, "MetadataExists", exists == 1, "CgroupExists",
                  cgroup, "RootContainerExists", root, "RootContainerTaskRunning", running);
    if (res == NULL)
        kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
    return res;
}

/* The names of the children of n (depth realm..stack), or every realm for depth -1. */
static json_t *cell_scope(struct ctl_op *op, const struct ctl_names *n, bool top, const char *want,
                          struct kk_err *err)
{
    json_t *names = NULL;
    if (want[0] != '\0')
        return json_pack("[s]", want);
    if (top) {
        struct kk_derive_names none = {0};
        return kk_store_list(&op->ctl->store, &none, &names, err) < 0 ? NULL : names;
    }
    return ctl_children(op, n, &names, err) < 0 ? NULL : names;
}

typedef int (*cell_fn)(struct ctl_op *op, const struct ctl_names *n, void *ctx, struct kk_err *err);

/* Call fn for every cell under the scope (each "" = all), sorted by place; or, with stack_fn, call
 * that once for every stack instead (n names the stack). A scope that cannot be listed is left out
 * (as if empty); a callback's -1 ends the walk with its error. */
static int cell_walk_stacks(struct ctl_op *op, const char *realm, const char *space, const char *stack,
                            const char *cell, cell_fn fn, cell_fn stack_fn, void *ctx, struct kk_err *err)
{
    struct ctl_names n = {.depth = KK_KIND_REALM};
    json_t *realms = cell_scope(op, &n, true, realm, err);
    if (realms == NULL)
        return -1;
    int rc = 0;
    size_t i, j, k, m;
    json_t *r, *s, *t, *c;
    json_array_foreach(realms, i, r)
    {
        n.depth = KK_KIND_REALM;
        snprintf(n.realm, sizeof(n.realm), "%s", json_string_value(r));
        json_t *spaces = cell_scope(op, &n, false, space, err);
        json_array_foreach(spaces, j, s)
        {
            n.depth = KK_KIND_SPACE;
            snprintf(n.space, sizeof(n.space), "%s", json_string_value(s));
            json_t *stacks = cell_scope(op, &n, false, stack, err);
            json_array_foreach(stacks, k, t)
            {
                n.depth = KK_KIND_STACK;
                snprintf(n.stack, sizeof(n.stack), "%s", json_string_value(t));
                if (stack_fn != NULL) {
                    if (rc == 0 && stack_fn(op, &n, ctx, err) < 0)
                        rc = -1;
                    continue;
                }
                json_t *cells = cell_scope(op, &n, false, cell, err);
                json_array_foreach(cells, m, c)
                {
                    struct ctl_names cn = n;
                    cn.depth = KK_KIND_CELL;
                    snprintf(cn.cell, sizeof(cn.cell), "%s", json_string_value(c));
                    if (rc == 0 && fn(op, &cn, ctx, err) < 0)
                        rc = -1;
                }
                json_decref(cells);
            }
            json_decref(stacks);
        }
        json_decref(spaces);
    }
    json_decref(realms);
    if (rc == 0)
        kk_err_clear(err);
    return rc;
}

static int cell_walk(struct ctl_op *op, const char *realm, const char *space, const char *stack,
                     const char *cell, cell_fn fn, void *ctx, struct kk_err *err)
{
    return cell_walk_stacks(op, realm, space, stack, cell, fn, NULL, ctx, err);
}

/* What a caller in this process said it reads of ListCells' documents (kk_ctl_list_keep), as
 * paths under the reply; NULL: everything. Per thread: set around one call. */
static __thread const char *const *list_keep;

void kk_ctl_list_keep(const char *const *keep)
{
    list_keep = keep;
}

struct cell_docs {
    json_t *out;
    const char *const *keep; /* paths in a document, or NULL: whole documents */
};

static int cell_doc_append(struct ctl_op *op, const struct ctl_names *cn, void *ctx, struct kk_err *err)
{
    (void)err;
    struct cell_docs *d = ctx;
    json_t *doc = NULL;
    struct kk_err e = {0};
    int rc;
    if (d->keep == NULL) {
        rc = ctl_doc_get(op, cn, &doc, NULL, &e);
    } else {
        struct kk_derive_names dn = ctl_dnames(cn);
        rc = kk_store_get_some(&op->ctl->store, &dn, d->keep, &doc, &e);
    }
    if (rc < 0) {
        kk_warn("listing: skipping cell %s: %s", cn->cell, e.msg);
        return 0;
    }
    if (doc != NULL)
        json_array_append_new(d->out, doc);
    return 0;
}

/* Every cell document under the scope (each "" = all), sorted by place; keep (optional): only
 * those members of each (kk_store_get_some). */
static json_t *cell_list_docs_some(struct ctl_op *op, const char *realm, const char *space, const char *stack,
                                   const char *cell, const char *const *keep, struct kk_err *err)
{
    struct cell_docs d = {.out = json_array(), .keep = keep};
    if (d.out == NULL) {
        kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
        return NULL;
    }
    if (cell_walk(op, realm, space, stack, cell, cell_doc_append, &d, err) < 0) {
        json_decref(d.out);
        return NULL;
    }
    return d.out;
}

static json_t *cell_list_docs(struct ctl_op *op, const char *realm, const char *space, const char *stack,
                              const char *cell, struct kk_err *err)
{
    return cell_list_docs_some(op, realm, space, stack, cell, NULL, err);
}

static json_t *m_list_cells(struct ctl_op *op, const json_t *args, const char **member, struct kk_err *err)
{
    *member = "Cells";
    char realm[KK_NAME_SIZE], space[KK_NAME_SIZE], stack[KK_NAME_SIZE];
    if (ctl_arg_name(op, args, "RealmName", KK_NAME_REALM, realm, err) < 0 ||
        ctl_arg_name(op, args, "SpaceName", KK_NAME_SPACE, space, err) < 0 ||
        ctl_arg_name(op, args, "StackName", KK_NAME_STACK, stack, err) < 0)
        return NULL;
    /* A caller that reads a few fields: "Cells/ * /<path>" of the reply is <path> of a document. */
    static const char prefix[] = "Cells/*/";
    const char *keep[33];
    size_t n = 0;
    for (const char *const *k = list_keep; k != NULL && *k != NULL && n < 32; k++)
        if (strncmp(*k, prefix, sizeof(prefix) - 1) == 0)
            keep[n++] = *k + sizeof(prefix) - 1;
    keep[n] = NULL;
    return cell_list_docs_some(op, realm, space, stack, "", list_keep != NULL ? keep : NULL, err);
}

/* ListCells as text (see ctl_list.h): each stack's documents as the store's cache of texts has
 * them, the same bytes json_dumps makes of the reply kk_ctl_call builds. */
struct cell_text {
    struct kk_store_text *out;
    size_t n;
};

static int cell_text_stack(struct ctl_op *op, const struct ctl_names *n, void *ctx, struct kk_err *err)
{
    struct cell_text *t = ctx;
    struct kk_derive_names dn = ctl_dnames(n);
    struct kk_err e = {0};
    if (kk_store_list_texts(&op->ctl->store, &dn, t->out, &t->n, &e) == 0)
        return 0;
    if (e.kind == KK_ERR_NOT_FOUND)
        return 0; /* gone meanwhile: as ctl_children, an empty stack */
    /* Out of memory, or a directory that cannot be read: the generic way says what. */
    return kk_error(err, e.kind, 0, "%s", e.msg);
}

int kk_ctl_list_cells_text(struct kk_ctl *ctl, const json_t *args, struct kk_store_text *out)
{
    struct ctl_op op = {.ctl = ctl, .kind = CTL_KIND_UNKNOWN};
    struct kk_err err = {0};
    char realm[KK_NAME_SIZE], space[KK_NAME_SIZE], stack[KK_NAME_SIZE];
    /* Anything but a plain listing (a bad argument, a store not ready) takes kk_ctl_call's way,
     * which makes its error reply. */
    if (!json_is_object(args) || kk_store_instance(&ctl->store, false, &err) < 0 ||
        ctl_arg_name(&op, args, "RealmName", KK_NAME_REALM, realm, &err) < 0 ||
        ctl_arg_name(&op, args, "SpaceName", KK_NAME_SPACE, space, &err) < 0 ||
        ctl_arg_name(&op, args, "StackName", KK_NAME_STACK, stack, &err) < 0)
        return -1;
    struct cell_text t = {.out = out, .n = 0};
    static const char head[] = "{\"Cells\":[", tail[] = "],\"Err\":null}";
    if (kk_store_text_append(out, head, sizeof(head) - 1) < 0 ||
        cell_walk_stacks(&op, realm, space, stack, "", NULL, cell_text_stack, &t, &err) < 0 ||
        kk_store_text_append(out, tail, sizeof(tail) - 1) < 0)
        return -1;
    return 0;
}

/* A Container document for embedded container c of cell doc: its spec, its status entry. */
static json_t *cell_container_doc(const json_t *doc, const json_t *c)
{
    const char *id = kk_json_str(c, "id");
    json_t *spec = json_deep_copy(c);
    json_t *status = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(kk_doc_status(doc), "containers"), i, e)
    {
        if (strcmp(kk_json_str(e, "name"), id) == 0)
            status = json_deep_copy(e);
    }
    return json_pack("{s:s, s:s, s:{s:s, s:{}}, s:o, s:o}", "apiVersion", KK_API_VERSION, "kind", "Container",
                     "metadata", "name", id, "labels", "spec", spec, "status",
                     status != NULL ? status : json_object());
}

static json_t *m_get_container(struct ctl_op *op, const json_t *args, const char **member, struct kk_err *err)
{
    (void)member;
    const json_t *in = cell_arg_doc(op, args, "Container", "ContainerNameRequired", err);
    if (in == NULL)
        return NULL;
    const json_t *spec = json_object_get(in, "spec");
    const char *name = kk_json_str(json_object_get(in, "metadata"), "name");
    if (name[0] == '\0')
        name = kk_json_str(spec, "id");
    if (name[0] == '\0') {
        ctl_fail(op, "ContainerNameRequired", err, KK_ERR_INVALID, "container name is required");
        return NULL;
    }
    if (kk_name_check(KK_NAME_CONTAINER, name, err) < 0) {
        ctl_fail_kind(op, CTL_KIND_UNKNOWN, err);
        return NULL;
    }
    /* The cell's names, as a Cell document would carry them. */
    json_t *as_cell =
        json_pack("{s:{s:s}, s:{s:s, s:s, s:s}}", "metadata", "name", kk_json_str(spec, "cellId"), "spec",
                  "realmId", kk_json_str(spec, "realmId"), "spaceId", kk_json_str(spec, "spaceId"), "stackId",
                  kk_json_str(spec, "stackId"));
    struct ctl_names n;
    int rc = as_cell != NULL ? ctl_cell_names_from_doc(op, as_cell, &n, err) : -1;
    json_decref(as_cell);
    if (rc < 0)
        return NULL;
    json_t *doc = NULL;
    int exists = ctl_doc_get(op, &n, &doc, NULL, err);
    if (exists < 0)
        return NULL;
    const json_t *c = exists == 1 ? kk_cell_container(doc, name) : NULL;
    json_t *cdoc = c != NULL ? cell_container_doc(doc, c) : json_deep_copy(in);
    json_decref(doc);
    json_t *res = json_pack("{s:o, s:b, s:b}", "Container", cdoc, "CellMetadataExists", exists == 1,
                            "ContainerExists", c != NULL);
    if (res == NULL)
        kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
    return res;
}

static json_t *m_list_containers(struct ctl_op *op, const json_t *args, const char **member,
                                 struct kk_err *err)
{
    *member = "Containers";
    char realm[KK_NAME_SIZE], space[KK_NAME_SIZE], stack[KK_NAME_SIZE], cell[KK_NAME_SIZE];
    if (ctl_arg_name(op, args, "RealmName", KK_NAME_REALM, realm, err) < 0 ||
        ctl_arg_name(op, args, "SpaceName", KK_NAME_SPACE, space, err) < 0 ||
        ctl_arg_name(op, args, "StackName", KK_NAME_STACK, stack, err) < 0 ||
        ctl_arg_name(op, args, "CellName", KK_NAME_CELL, cell, err) < 0)
        return NULL;
    json_t *cells = cell_list_docs(op, realm, space, stack, cell, err);
    if (cells == NULL)
        return NULL;
    json_t *out = json_array();
    size_t i, j;
    json_t *d, *c;
    json_array_foreach(cells, i, d)
    {
        json_array_foreach(kk_cell_containers(d), j, c)
        {
            json_array_append(out, c);
        }
    }
    json_decref(cells);
    return out;
}

/* ---- delete, purge ------------------------------------------------------------------------------- */

static json_t *m_delete(struct ctl_op *op, const json_t *args, bool purge, struct kk_err *err)
{
    const json_t *in;
    struct ctl_names n;
    bool force = false, cascade = false;
    if (cell_names_arg(op, args, &n, &in, err) < 0 || ctl_arg_bool(op, args, "Force", &force, err) < 0 ||
        ctl_arg_bool(op, args, "Cascade", &cascade, err) < 0)
        return NULL;
    op->purge = purge;
    json_t *doc = NULL;
    int exists = ctl_doc_get(op, &n, &doc, NULL, err);
    if (exists < 0 && !purge)
        return NULL;
    if (exists <= 0) {
        kk_err_clear(err);
        if (!purge) {
            ctl_not_found(op, &n, err);
            return NULL;
        }
        doc = json_deep_copy(in);
    }
    struct ctl_cell_removed rm;
    if (ctl_cell_remove(op, &n, &rm, err) < 0) {
        json_decref(doc);
        kk_error_wrap(err, "failed to %s cell", purge ? "purge" : "delete");
        return NULL;
    }
    if (purge && op->n_failed > 0) {
        json_decref(doc);
        ctl_fail(op, CTL_KIND_UNKNOWN, err, KK_ERR_UNAVAILABLE,
                 "purge of cell \"%s\" left %u step(s) undone: %s", n.cell, op->n_failed, op->failures);
        return NULL;
    }
    json_t *res;
    if (!purge)
        res = json_pack("{s:o, s:b, s:b, s:b}", "Cell", doc, "ContainersDeleted", rm.containers,
                        "CgroupDeleted", rm.cgroup, "MetadataDeleted", rm.metadata);
    else
        res = json_pack("{s:o, s:[s,s,s], s:[s,s,s], s:b, s:b, s:b, s:b}", "Cell", doc, "Deleted",
                        "containers", "cgroup", "metadata", "Purged", "orphaned-containers", "cni-resources",
                        "all-metadata", "PurgeSucceeded", 1, "MetadataDeleted", rm.metadata, "Force", force,
                        "Cascade", cascade);
    if (res == NULL)
        kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
    return res;
}

static json_t *m_delete_cell(struct ctl_op *op, const json_t *args, const char **member, struct kk_err *err)
{
    (void)member;
    return m_delete(op, args, false, err);
}

static json_t *m_purge_cell(struct ctl_op *op, const json_t *args, const char **member, struct kk_err *err)
{
    (void)member;
    return m_delete(op, args, true, err);
}

/* ---- lifecycle ----------------------------------------------------------------------------------- */

enum cell_verb { CELL_START, CELL_STOP, CELL_KILL };

static json_t *m_lifecycle(struct ctl_op *op, const json_t *args, enum cell_verb verb, struct kk_err *err)
{
    const json_t *in;
    struct ctl_names n;
    if (cell_names_arg(op, args, &n, &in, err) < 0)
        return NULL;
    int rc = verb == CELL_START ? ctl_cell_start(op, &n, err) : ctl_cell_stop(op, &n, verb == CELL_KILL, err);
    if (rc < 0)
        return NULL;
    json_t *doc = NULL;
    if (ctl_doc_get(op, &n, &doc, NULL, err) <= 0) {
        if (doc == NULL && err->msg[0] == '\0')
            ctl_not_found(op, &n, err);
        return NULL;
    }
    static const char *const key[] = {"Started", "Stopped", "Killed"};
    json_t *res = json_pack("{s:o, s:b}", "Cell", doc, key[verb], 1);
    if (res == NULL)
        kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
    return res;
}

static json_t *m_start_cell(struct ctl_op *op, const json_t *args, const char **member, struct kk_err *err)
{
    (void)member;
    return m_lifecycle(op, args, CELL_START, err);
}

static json_t *m_stop_cell(struct ctl_op *op, const json_t *args, const char **member, struct kk_err *err)
{
    (void)member;
    return m_lifecycle(op, args, CELL_STOP, err);
}

static json_t *m_kill_cell(struct ctl_op *op, const json_t *args, const char **member, struct kk_err *err)
{
    (void)member;
    return m_lifecycle(op, args, CELL_KILL, err);
}

const struct ctl_ext_method ctl_cell_methods[] = {
    {"CreateCell", m_create_cell, true},
    {"MaterializeCell", m_materialize_cell, true},
    {"GetCell", m_get_cell, false},
    {"ListCells", m_list_cells, false},
    {"DeleteCell", m_delete_cell, true},
    {"PurgeCell", m_purge_cell, true},
    {"StartCell", m_start_cell, true},
    {"StopCell", m_stop_cell, true},
    {"KillCell", m_kill_cell, true},
    {"GetContainer", m_get_container, false},
    {"ListContainers", m_list_containers, false},
    {NULL, NULL, false},
};
