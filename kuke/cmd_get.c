/* kuke get realm|space|stack|cell|container [NAME] (kukeon-reference.md 2.3): one resource with NAME
 * (scope flags default to "default"), else a list across every scope the flags leave open; as a
 * table, a wide table, YAML or JSON. Rendered here from the documents the controller returns, the
 * same way whether they came through kukeond or from the controller in this process, so both print
 * the same bytes. Images are listed by kuke/cmd_image.c (in-process, through kuke-ctrd). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kuke/client.h"
#include "kuke/cmds.h"
#include "kuke/render.h"
#include "kuke/resource.h"
#include "kukeond/doc.h"

/* The columns of kind k ("wide" adds the last ones), one row per document. Cells and containers
 * are built by kuke_cell_row / kuke_container_row (render.h) so the unit tests pin them. */
static int get_table(const struct kuke_kind_info *k, json_t *docs, bool wide)
{
    static const char *const realm_cols[] = {"NAME", "STATE", "AGE", "NAMESPACE"};
    static const char *const space_cols[] = {"NAME", "REALM", "STATE", "AGE", "EGRESS", "NET-DEFAULTS"};
    static const char *const stack_cols[] = {"NAME", "REALM", "SPACE", "STATE", "AGE"};
    size_t nrows = json_array_size(docs);
    if (nrows == 0) {
        printf("No %ss found.\n", k->noun);
        return 0;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (k->kind == KUKE_CELL || k->kind == KUKE_CONTAINER) {
        size_t ncols = k->kind == KUKE_CELL ? (wide ? KUKE_CELL_COLS_WIDE : KUKE_CELL_COLS)
                                            : (wide ? KUKE_CONTAINER_COLS_WIDE : KUKE_CONTAINER_COLS);
        struct kuke_row *rows = calloc(nrows, sizeof(*rows));
        const char **cells = calloc(nrows * ncols, sizeof(*cells));
        if (rows == NULL || cells == NULL) {
            free(rows);
            free(cells);
            return -1;
        }
        for (size_t r = 0; r < nrows; r++) {
            if (k->kind == KUKE_CELL)
                kuke_cell_row(json_array_get(docs, r), &now, &rows[r]);
            else
                kuke_container_row(json_array_get(docs, r), &now, &rows[r]);
            for (size_t c = 0; c < ncols; c++)
                cells[r * ncols + c] = rows[r].col[c];
        }
        int rc = kuke_table_print(stdout, k->kind == KUKE_CELL ? kuke_cell_cols : kuke_container_cols, ncols,
                                  cells, nrows);
        free(rows);
        free(cells);
        return rc;
    }
    const char *const *cols = k->kind == KUKE_REALM   ? realm_cols
                              : k->kind == KUKE_SPACE ? space_cols
                                                      : stack_cols;
    size_t ncols = k->kind == KUKE_REALM ? (wide ? 4 : 3) : k->kind == KUKE_SPACE ? (wide ? 6 : 4) : 5;
    const char **cells = calloc(nrows * ncols, sizeof(*cells));
    char(*ages)[24] = calloc(nrows, sizeof(*ages));
    if (cells == NULL || ages == NULL) {
        free(cells);
        free(ages);
        return -1;
    }
    for (size_t r = 0; r < nrows; r++) {
        json_t *doc = json_array_get(docs, r);
        json_t *spec = kk_doc_spec(doc), *status = kk_doc_status(doc);
        const char *state = kk_doc_state(doc);
        kuke_age(kk_json_str(status, "createdAt"), &now, ages[r], sizeof(ages[r]));
        const char **row = &cells[r * ncols];
        size_t c = 0;
        row[c++] = kk_doc_name(doc);
        if (k->kind >= KUKE_SPACE)
            row[c++] = kk_json_str(spec, "realmId");
        if (k->kind >= KUKE_STACK)
            row[c++] = kk_json_str(spec, "spaceId");
        row[c++] = state[0] != '\0' ? state : "Unknown";
        row[c++] = ages[r];
        if (wide && k->kind == KUKE_REALM)
            row[c++] = kk_json_str(spec, "namespace");
        if (wide && k->kind == KUKE_SPACE) {
            const char *egress =
                kk_json_str(json_object_get(json_object_get(spec, "network"), "egress"), "default");
            row[c++] = egress[0] != '\0' ? egress : "-";
            row[c++] = json_is_object(json_object_get(spec, "defaults")) ? "yes" : "-";
        }
    }
    int rc = kuke_table_print(stdout, cols, ncols, cells, nrows);
    free(cells);
    free(ages);
    return rc;
}

static int get_print(const struct kuke_kind_info *k, json_t *docs, bool single, enum kuke_output fmt,
                     struct kk_err *err)
{
    if (fmt == KUKE_OUT_YAML || fmt == KUKE_OUT_JSON)
        return kuke_print_doc(stdout, single ? json_array_get(docs, 0) : docs, fmt, err);
    if (get_table(k, docs, fmt == KUKE_OUT_WIDE) < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "printing the table");
    return 0;
}

/* Append to out every container of every cell in cells as a Container document (its spec with the
 * cell's coordinates, its status from the cell's status.containers), the ones named name only when
 * name is set. */
static void containers_of(json_t *cells, const char *name, json_t *out)
{
    size_t i;
    json_t *cell;
    json_array_foreach(cells, i, cell)
    {
        size_t j;
        json_t *c;
        json_array_foreach(kk_cell_containers(cell), j, c)
        {
            if (name != NULL && strcmp(kk_json_str(c, "id"), name) != 0)
                continue;
            json_t *doc = kuke_container_doc(cell, c);
            if (doc != NULL)
                json_array_append_new(out, doc);
        }
    }
}

/* The cell NAME (or the one of a single container) at the defaulted scope; its error says what is
 * missing, as the reference does. *cell is a new reference. */
static int get_one_cell(const struct kuke_ctx *ctx, const char *cname, const char *realm, const char *space,
                        const char *stack, json_t **cell, struct kk_err *err)
{
    json_t *args =
        json_pack("{s:o}", "Doc", kuke_request_doc_at(kuke_kind(KUKE_CELL), cname, realm, space, stack));
    json_t *reply = NULL;
    int rc = kuke_api_call_take(ctx, "GetCell", args, &reply, err);
    if (rc < 0)
        return -1;
    json_t *res = kuke_result(reply);
    if (!json_is_true(json_object_get(res, "MetadataExists"))) {
        json_decref(reply);
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "cell \"%s\" not found in stack \"%s\"/\"%s\"/\"%s\"",
                        cname, realm, space, stack);
    }
    *cell = json_incref(json_object_get(res, "Cell"));
    json_decref(reply);
    return *cell != NULL ? 0 : kk_error(err, KK_ERR_INTERNAL, 0, "GetCell: the reply has no Cell");
}

int kuke_cmd_get(struct kuke_ctx *ctx, struct kk_err *err)
{
    const struct kuke_kind_info *k = kuke_kind_of(ctx);
    enum kuke_output fmt;
    struct kuke_selector sel;
    char name[KUKE_ARG_MAX], realm[KUKE_ARG_MAX], space[KUKE_ARG_MAX], stack[KUKE_ARG_MAX],
        cell[KUKE_ARG_MAX];
    if (kuke_output_parse(kuke_flag_or(ctx, "output", "KUKE_GET_OUTPUT", NULL), &fmt, err) < 0 ||
        kuke_selector_parse(kuke_flag(ctx, "selector"), &sel, err) < 0 ||
        kuke_name_arg(ctx, "GET", k, false, name, err) < 0)
        return -1;
    if (name[0] != '\0' && sel.n > 0)
        return kk_error(err, KK_ERR_INVALID, 0, "--selector cannot be combined with a resource name");
    if (k->kind == KUKE_IMAGE)
        return kuke_get_images(ctx, name, fmt, err);

    json_t *reply = NULL, *docs = NULL;
    char method[32];
    if (name[0] != '\0') {
        /* One resource: the scope it is looked up in defaults to "default". */
        if (kuke_scope(ctx, "realm", "GET", k, "REALM", "default", realm, err) < 0 ||
            kuke_scope(ctx, "space", "GET", k, "SPACE", "default", space, err) < 0 ||
            kuke_scope(ctx, "stack", "GET", k, "STACK", "default", stack, err) < 0 ||
            kuke_scope(ctx, "cell", "GET", k, "CELL", "default", cell, err) < 0)
            return -1;
        if (k->kind == KUKE_CELL || k->kind == KUKE_CONTAINER) {
            json_t *c = NULL;
            if (get_one_cell(ctx, k->kind == KUKE_CELL ? name : cell, realm, space, stack, &c, err) < 0)
                return -1;
            docs = json_array();
            if (k->kind == KUKE_CELL) {
                json_array_append(docs, c);
            } else {
                json_t *one = json_pack("[O]", c);
                containers_of(one, name, docs);
                json_decref(one);
                if (json_array_size(docs) == 0) {
                    json_decref(docs);
                    json_decref(c);
                    return kk_error(err, KK_ERR_NOT_FOUND, 0, "container \"%s\" not found in cell \"%s\"",
                                    name, cell);
                }
            }
            json_decref(c);
        } else {
            json_t *args = json_pack("{s:o}", "Doc", kuke_request_doc(k, name, realm, space));
            snprintf(method, sizeof(method), "Get%s", k->title);
            int rc = kuke_api_call_take(ctx, method, args, &reply, err);
            if (rc < 0)
                return -1;
            json_t *res = json_object_get(reply, "Result");
            if (!json_is_true(json_object_get(res, "MetadataExists"))) {
                json_decref(reply);
                if (k->kind == KUKE_REALM)
                    return kk_error(err, KK_ERR_NOT_FOUND, 0, "realm \"%s\" not found", name);
                if (k->kind == KUKE_SPACE)
                    return kk_error(err, KK_ERR_NOT_FOUND, 0, "space \"%s\" not found in realm \"%s\"", name,
                                    realm);
                return kk_error(err, KK_ERR_NOT_FOUND, 0,
                                "stack \"%s\" not found in realm \"%s\", space \"%s\"", name, realm, space);
            }
            docs = json_pack("[O]", json_object_get(res, k->title));
        }
    } else {
        /* A list: an unset scope flag means every realm (space, ...), not "default". */
        if (kuke_scope_explicit(ctx, "realm", realm, err) < 0 ||
            kuke_scope_explicit(ctx, "space", space, err) < 0 ||
            kuke_scope_explicit(ctx, "stack", stack, err) < 0 ||
            kuke_scope_explicit(ctx, "cell", cell, err) < 0)
            return -1;
        json_t *args = json_object();
        if (args != NULL && k->kind >= KUKE_SPACE)
            json_object_set_new(args, "RealmName", json_string(realm));
        if (args != NULL && k->kind >= KUKE_STACK)
            json_object_set_new(args, "SpaceName", json_string(space));
        if (args != NULL && k->kind >= KUKE_CELL)
            json_object_set_new(args, "StackName", json_string(stack));
        /* Containers come with their cells: the cell's status carries theirs. */
        const struct kuke_kind_info *lk = k->kind == KUKE_CONTAINER ? kuke_kind(KUKE_CELL) : k;
        snprintf(method, sizeof(method), "List%s", lk->plural);
        /* A table of cells reads a dozen fields of each document: only those are decoded. */
        bool table = fmt == KUKE_OUT_TABLE || fmt == KUKE_OUT_WIDE;
        int rc = args == NULL
                     ? kk_error(err, KK_ERR_INTERNAL, 0, "out of memory")
                     : kuke_api_call_some(ctx, method, args,
                                          k->kind == KUKE_CELL && table ? kuke_cell_row_fields : NULL, &reply,
                                          err);
        json_decref(args);
        if (rc < 0)
            return -1;
        json_t *all = json_object_get(kuke_result(reply), lk->plural);
        if (k->kind == KUKE_CONTAINER) {
            json_t *cells = json_array();
            size_t i;
            json_t *d;
            json_array_foreach(all, i, d)
            {
                if (cells != NULL && (cell[0] == '\0' || strcmp(kk_doc_name(d), cell) == 0))
                    json_array_append(cells, d);
            }
            json_t *cdocs = json_array();
            if (cells != NULL && cdocs != NULL)
                containers_of(cells, NULL, cdocs);
            json_decref(cells);
            all = cdocs;
        } else {
            json_incref(all);
        }
        docs = json_array();
        size_t i;
        json_t *d;
        json_array_foreach(all, i, d)
        {
            if (docs != NULL && kuke_selector_match(&sel, d))
                json_array_append(docs, d);
        }
        json_decref(all);
    }
    json_decref(reply);
    if (docs == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
    int rc = get_print(k, docs, name[0] != '\0', fmt, err);
    json_decref(docs);
    return rc;
}
