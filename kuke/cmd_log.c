/* kuke log|logs <cell> [--container C] [-f] (kukeon-reference.md 7.3): LogContainer says where the
 * container's output is — the relay's capture file of an attachable container, the shim's log file
 * otherwise — and kuke reads it from the host filesystem itself; the bytes never cross the API. */
#include <limits.h>
#include <stdio.h>

#include "kuke/client.h"
#include "kuke/cmds.h"
#include "kuke/terminal.h"

const struct kuke_opt kuke_log_opts[] = {
    {"container", 0, KUKE_OPT_STRING, NULL, "container to show (default: the cell's only non-root one)"},
    {"follow", 'f', KUKE_OPT_BOOL, NULL, "keep printing new output until interrupted"},
    {"realm", 0, KUKE_OPT_STRING, NULL, "realm of the cell (default \"default\")"},
    {"space", 0, KUKE_OPT_STRING, NULL, "space of the cell (default \"default\")"},
    {"stack", 0, KUKE_OPT_STRING, NULL, "stack of the cell (default \"default\")"},
    {0},
};

int kuke_cmd_log(struct kuke_ctx *ctx, struct kk_err *err)
{
    if (ctx->nargs != 1)
        return kk_error(err, KK_ERR_INVALID, 0, "accepts 1 arg(s), received %d", ctx->nargs);
    const char *name = ctx->args[0];
    struct kuke_cell_scope s;
    if (kuke_cell_scope(ctx, "LOG", &s, err) < 0)
        return -1;
    json_t *cell = NULL;
    if (kuke_term_get_cell(ctx, name, &s, &cell, NULL, err) < 0)
        return -1;
    if (cell == NULL)
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "cell \"%s\" not found in stack \"%s\"/\"%s\"/\"%s\"", name,
                        s.realm, s.space, s.stack);
    char container[KUKE_ARG_MAX];
    int rc = kuke_term_pick(cell, kuke_flag(ctx, "container"), false, container, err);
    json_decref(cell);
    if (rc < 0)
        return -1;
    char path[PATH_MAX];
    if (kuke_term_log_path(ctx, name, container, &s, path, sizeof(path), err) < 0)
        return -1;
    fflush(stdout);
    return kuke_term_print(path, name, container, kuke_flag_bool(ctx, "follow"), err);
}
