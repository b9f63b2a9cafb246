/* Cells from the command line (kukeon-reference.md 2.4, 2.7, 2.10): kuke create cell --image,
 * the lifecycle verbs start|stop|kill|restart on one cell or on every cell a -l selector matches,
 * and kuke refresh. Each is one or two kukeonv1 calls through kuke_api_call, so it works through
 * kukeond and in-process alike. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "kuke/client.h"
#include "kuke/cmds.h"
#include "kuke/render.h"
#include "kuke/resource.h"
#include "kukeond/doc.h"

/* method with {Doc: the cell's request document}; *reply a new reference. */
static int cell_call(const struct kuke_ctx *ctx, const char *method, const char *name,
                     const struct kuke_cell_scope *s, json_t **reply, struct kk_err *err)
{
    json_t *args = json_pack("{s:o}", "Doc",
                             kuke_request_doc_at(kuke_kind(KUKE_CELL), name, s->realm, s->space, s->stack));
    int rc = kuke_api_call_take(ctx, method, args, reply, err);
    return rc;
}

/* ---- create cell ---------------------------------------------------------------------------------- */

static void outcome(const char *label, const json_t *res, const char *exists_post, const char *created)
{
    bool c = json_is_true(json_object_get(res, created));
    bool post = json_is_true(json_object_get(res, exists_post));
    printf("  - %s: %s\n", label, c ? "created" : post ? "already existed" : "missing");
}

int kuke_cmd_create_cell(struct kuke_ctx *ctx, struct kk_err *err)
{
    const struct kuke_kind_info *k = kuke_kind(KUKE_CELL);
    char name[KUKE_ARG_MAX], image[KUKE_ARG_MAX], command[KUKE_ARG_MAX];
    struct kuke_cell_scope s;
    if (kuke_name_arg(ctx, "CREATE", k, false, name, err) < 0 ||
        kuke_cell_scope(ctx, "CREATE", &s, err) < 0 ||
        kuke_scope(ctx, "image", "CREATE", k, "IMAGE", NULL, image, err) < 0 ||
        kuke_scope(ctx, "command", "CREATE", k, "COMMAND", NULL, command, err) < 0)
        return -1;
    static const char *const other_sources[] = {"from-blueprint", "from-config", "clone"};
    for (size_t i = 0; i < sizeof(other_sources) / sizeof(other_sources[0]); i++)
        if (kuke_flag(ctx, other_sources[i]) != NULL)
            return kk_error(err, KK_ERR_INVALID, 0,
                            "--%s is not supported by this kuke yet: use --image REF, or kuke apply -f",
                            other_sources[i]);
    if (image[0] == '\0')
        return kk_error(err, KK_ERR_INVALID, 0,
                        "create cell needs a source: --image REF [--command CMD] (or use kuke apply -f)");
    /* The one container "main": attachable, its command split on spaces into command and args. */
    json_t *c = json_pack("{s:s, s:s, s:b}", "id", "main", "image", image, "attachable", 1);
    json_t *argv = json_array();
    char *save = NULL, *tok;
    for (tok = command[0] != '\0' ? strtok_r(command, " \t", &save) : NULL; tok != NULL;
         tok = strtok_r(NULL, " \t", &save)) {
        if (json_object_get(c, "command") == NULL)
            json_object_set_new(c, "command", json_string(tok));
        else
            json_array_append_new(argv, json_string(tok));
    }
    if (json_object_get(c, "command") == NULL)
        json_object_set_new(c, "command", json_string("/bin/sh"));
    if (json_array_size(argv) > 0)
        json_object_set(c, "args", argv);
    json_decref(argv);

    bool generated = name[0] == '\0';
    char prefix[128];
    kuke_cell_name_prefix(image, prefix, sizeof(prefix));
    json_t *reply = NULL;
    for (int attempt = 0; attempt < 64; attempt++) {
        if (generated) {
            unsigned char r[3] = {0};
            if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
                json_decref(c);
                return kk_error(err, KK_ERR_INTERNAL, 0, "reading random bytes for a cell name");
            }
            snprintf(name, sizeof(name), "%s-%02x%02x%02x", prefix, r[0], r[1], r[2]);
            /* A generated name must be new: an existing cell of that name is not this one. */
            json_t *got = NULL;
            if (cell_call(ctx, "GetCell", name, &s, &got, err) < 0) {
                json_decref(c);
                return -1;
            }
            bool taken = json_is_true(json_object_get(kuke_result(got), "MetadataExists"));
            json_decref(got);
            if (taken)
                continue;
        }
        json_t *doc = kuke_request_doc_at(k, name, s.realm, s.space, s.stack);
        json_object_set_new(json_object_get(doc, "spec"), "containers", json_pack("[O]", c));
        /* Transport-only: the daemon never stores it. */
        if (kuke_flag_bool(ctx, "ignore-disk-pressure"))
            json_object_set_new(json_object_get(doc, "spec"), "ignoreDiskPressure", json_true());
        json_t *args = json_pack("{s:o}", "Doc", doc);
        int rc = kuke_api_call_take(ctx, "MaterializeCell", args, &reply, err);
        json_decref(c);
        if (rc < 0)
            return -1;
        break;
    }
    if (reply == NULL) {
        json_decref(c);
        return kk_error(err, KK_ERR_INTERNAL, 0, "no free cell name %s-<6 hex> after 64 tries", prefix);
    }
    json_t *res = kuke_result(reply);
    json_t *cell = json_object_get(res, "Cell");
    const char *shown = kk_doc_name(cell)[0] != '\0' ? kk_doc_name(cell) : name;
    printf("Cell \"%s\" (realm \"%s\", space \"%s\", stack \"%s\")\n", shown, s.realm, s.space, s.stack);
    outcome("metadata", res, "MetadataExistsPost", "Created");
    outcome("cgroup", res, "CgroupExistsPost", "CgroupCreated");
    outcome("root container", res, "RootContainerExistsPost", "RootContainerCreated");
    size_t i;
    json_t *ct;
    json_array_foreach(json_object_get(res, "Containers"), i, ct)
    {
        char label[KUKE_ARG_MAX + 16];
        snprintf(label, sizeof(label), "container \"%s\"", kk_json_str(ct, "Name"));
        outcome(label, ct, "ExistsPost", "Created");
    }
    printf("  - containers: %s\n",
           json_is_true(json_object_get(res, "Started")) || json_is_true(json_object_get(res, "StartedPost"))
               ? "started"
               : "not started");
    json_decref(reply);
    return 0;
}

/* ---- start, stop, kill, restart ------------------------------------------------------------------- */

enum life_verb { LIFE_START, LIFE_STOP, LIFE_KILL, LIFE_RESTART };

static const struct {
    const char *env;    /* KUKE_<VERB>_CELL_* */
    const char *method; /* the kukeonv1 method (restart: by state) */
    const char *done;
} life[] = {
    [LIFE_START] = {"START", "StartCell", "Started"},
    [LIFE_STOP] = {"STOP", "StopCell", "Stopped"},
    [LIFE_KILL] = {"KILL", "KillCell", "Killed"},
    [LIFE_RESTART] = {"RESTART", NULL, "Restarted"},
};

static int life_one(const struct kuke_ctx *ctx, enum life_verb v, const char *name,
                    const struct kuke_cell_scope *s, struct kk_err *err)
{
    json_t *reply = NULL;
    if (v == LIFE_RESTART) {
        /* By the cell's current state (kukeon-reference.md 2.7). */
        if (cell_call(ctx, "GetCell", name, s, &reply, err) < 0)
            return -1;
        json_t *res = kuke_result(reply);
        if (!json_is_true(json_object_get(res, "MetadataExists"))) {
            json_decref(reply);
            return kk_error(err, KK_ERR_NOT_FOUND, 0, "cell \"%s\" not found in stack \"%s\"/\"%s\"/\"%s\"",
                            name, s->realm, s->space, s->stack);
        }
        char state[64];
        snprintf(state, sizeof(state), "%s", kk_doc_state(json_object_get(res, "Cell")));
        json_decref(reply);
        reply = NULL;
        bool running = strcmp(state, "Ready") == 0 || strcmp(state, "Degraded") == 0;
        bool startable = strcmp(state, "Stopped") == 0 || strcmp(state, "Exited") == 0;
        if (!running && !startable)
            return kk_error(
                err, KK_ERR_INVALID, 0,
                "cell \"%s\" exists in %s state; delete it with `kuke delete cell %s` before restarting",
                name, state[0] != '\0' ? state : "Unknown", name);
        if (running) {
            if (cell_call(ctx, "StopCell", name, s, &reply, err) < 0)
                return -1;
            json_decref(reply);
        }
        if (cell_call(ctx, "StartCell", name, s, &reply, err) < 0)
            return -1;
    } else if (cell_call(ctx, life[v].method, name, s, &reply, err) < 0) {
        return -1;
    }
    json_decref(reply);
    printf("%s cell \"%s\" from stack \"%s\"\n", life[v].done, name, s->stack);
    fflush(stdout);
    return 0;
}

static int life_cmd(struct kuke_ctx *ctx, enum life_verb v, struct kk_err *err)
{
    const struct kuke_kind_info *k = kuke_kind(KUKE_CELL);
    char name[KUKE_ARG_MAX];
    struct kuke_selector sel;
    struct kuke_cell_scope s;
    const char *selflag = kuke_flag(ctx, "selector");
    if (kuke_name_arg(ctx, life[v].env, k, false, name, err) < 0 ||
        kuke_selector_parse(selflag, &sel, err) < 0 || kuke_cell_scope(ctx, life[v].env, &s, err) < 0)
        return -1;
    if (name[0] != '\0' && selflag != NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "--selector cannot be combined with a resource name");
    if (name[0] != '\0')
        return life_one(ctx, v, name, &s, err);
    if (selflag == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "a cell name or -l/--selector is required (usage: %s)",
                        ctx->cmd->usage);
    /* Every cell of the stack the selector matches, in the order the store lists them. */
    json_t *args =
        json_pack("{s:s, s:s, s:s}", "RealmName", s.realm, "SpaceName", s.space, "StackName", s.stack);
    json_t *reply = NULL;
    int rc = kuke_api_call_take(ctx, "ListCells", args, &reply, err);
    if (rc < 0)
        return -1;
    json_t *names = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(kuke_result(reply), "Cells"), i, d)
    {
        if (kuke_selector_match(&sel, d))
            json_array_append_new(names, json_string(kk_doc_name(d)));
    }
    json_decref(reply);
    if (json_array_size(names) == 0) {
        json_decref(names);
        printf("No cells matched the selector.\n");
        return 0;
    }
    json_array_foreach(names, i, d)
    {
        if (life_one(ctx, v, json_string_value(d), &s, err) < 0) {
            rc = -1;
            break;
        }
    }
    json_decref(names);
    return rc;
}

int kuke_cmd_start(struct kuke_ctx *ctx, struct kk_err *err)
{
    return life_cmd(ctx, LIFE_START, err);
}

int kuke_cmd_stop(struct kuke_ctx *ctx, struct kk_err *err)
{
    return life_cmd(ctx, LIFE_STOP, err);
}

int kuke_cmd_kill(struct kuke_ctx *ctx, struct kk_err *err)
{
    return life_cmd(ctx, LIFE_KILL, err);
}

int kuke_cmd_restart(struct kuke_ctx *ctx, struct kk_err *err)
{
    return life_cmd(ctx, LIFE_RESTART, err);
}

/* ---- refresh -------------------------------------------------------------------------------------- */

int kuke_cmd_refresh(struct kuke_ctx *ctx, struct kk_err *err)
{
    if (ctx->nargs > 0)
        return kk_error(err, KK_ERR_INVALID, 0, "unknown command \"%s\" for \"kuke refresh\"", ctx->args[0]);
    json_t *args = json_object(), *reply = NULL;
    int rc = kuke_api_call_take(ctx, "RefreshAll", args, &reply, err);
    if (rc < 0)
        return -1;
    rc = kuke_refresh_print(stdout, kuke_result(reply));
    json_decref(reply);
    return rc < 0 ? kk_error(err, KK_ERR_INTERNAL, 0, "writing the output") : 0;
}
