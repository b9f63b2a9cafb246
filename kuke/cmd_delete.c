/* kuke delete and kuke purge of a realm, space or stack (kukeon-reference.md 2.5 and 2.6): refused
 * while the resource has children, unless --cascade (children first) or --force (children left as
 * they are); purge is the best-effort form that also cleans up what a delete left behind. */
#include <stdio.h>
#include <string.h>

#include "kuke/client.h"
#include "kuke/cmds.h"
#include "kuke/resource.h"
#include "kukeond/doc.h"

static int delete_or_purge(struct kuke_ctx *ctx, bool purge, struct kk_err *err)
{
    const struct kuke_kind_info *k = kuke_kind_of(ctx);
    const char *verb = purge ? "PURGE" : "DELETE";
    char name[KUKE_ARG_MAX], realm[KUKE_ARG_MAX], space[KUKE_ARG_MAX], stack[KUKE_ARG_MAX];
    if (kuke_name_arg(ctx, verb, k, true, name, err) < 0 ||
        kuke_scope(ctx, "realm", verb, k, "REALM", "default", realm, err) < 0 ||
        kuke_scope(ctx, "space", verb, k, "SPACE", "default", space, err) < 0 ||
        kuke_scope(ctx, "stack", verb, k, "STACK", "default", stack, err) < 0)
        return -1;
    json_t *args =
        json_pack("{s:o, s:b, s:b}", "Doc", kuke_request_doc_at(k, name, realm, space, stack), "Force",
                  kuke_flag_bool(ctx, "force"), "Cascade", kuke_flag_bool(ctx, "cascade"));
    char method[32];
    snprintf(method, sizeof(method), "%s%s", purge ? "Purge" : "Delete", k->title);
    json_t *reply = NULL;
    int rc = kuke_api_call_take(ctx, method, args, &reply, err);
    if (rc < 0)
        return -1;
    json_t *res = json_object_get(reply, "Result");
    const char *shown = kk_doc_name(json_object_get(res, k->title));
    if (shown[0] == '\0')
        shown = name;
    const char *done = purge ? "Purged" : "Deleted";
    switch (k->kind) {
    case KUKE_REALM:
        printf("%s realm \"%s\"\n", done, shown);
        break;
    case KUKE_SPACE:
        printf("%s space \"%s\" from realm \"%s\"\n", done, shown, realm);
        break;
    case KUKE_STACK:
        printf("%s stack \"%s\" from space \"%s\"\n", done, shown, space);
        break;
    default:
        printf("%s cell \"%s\" from stack \"%s\"\n", done, shown, stack);
        break;
    }
    json_t *purged = json_object_get(res, "Purged");
    if (purge && json_array_size(purged) > 0) {
        /* As Go prints a string slice with %v: [a b c]. */
        printf("Additional resources purged: [");
        size_t i;
        json_t *v;
        json_array_foreach(purged, i, v) printf("%s%s", i > 0 ? " " : "", json_string_value(v));
        printf("]\n");
    }
    json_decref(reply);
    return 0;
}

int kuke_cmd_delete(struct kuke_ctx *ctx, struct kk_err *err)
{
    return delete_or_purge(ctx, false, err);
}

int kuke_cmd_purge(struct kuke_ctx *ctx, struct kk_err *err)
{
    return delete_or_purge(ctx, true, err);
}
