/* kuke create realm|space|stack [NAME] (kukeon-reference.md 2.4): create or reconcile one layer and
 * say, per artifact, whether it was created now, already existed, or is missing. */
#include <stdio.h>
#include <string.h>

#include "kuke/client.h"
#include "kuke/cmds.h"
#include "kuke/resource.h"
#include "kukeond/doc.h"

/* The reference's outcome line: created | already existed | missing. */
static void create_outcome(const char *label, const json_t *res, const char *exists_post, const char *created)
{
    bool c = json_is_true(json_object_get(res, created));
    bool post = json_is_true(json_object_get(res, exists_post));
    printf("  - %s: %s\n", label, c ? "created" : post ? "already existed" : "missing");
}

int kuke_cmd_create(struct kuke_ctx *ctx, struct kk_err *err)
{
    const struct kuke_kind_info *k = kuke_kind_of(ctx);
    char name[KUKE_ARG_MAX], realm[KUKE_ARG_MAX], space[KUKE_ARG_MAX], ns[KUKE_ARG_MAX];
    if (kuke_name_arg(ctx, "CREATE", k, false, name, err) < 0 ||
        kuke_scope(ctx, "realm", "CREATE", k, "REALM", "default", realm, err) < 0 ||
        kuke_scope(ctx, "space", "CREATE", k, "SPACE", "default", space, err) < 0 ||
        kuke_scope(ctx, "namespace", "CREATE", k, "NAMESPACE", NULL, ns, err) < 0)
        return -1;
    if (name[0] == '\0')
        return kk_error(err, KK_ERR_INVALID, 0, "%s name is required (usage: kuke create %s [name] [flags])",
                        k->noun, k->noun);
    json_t *doc = kuke_request_doc(k, name, realm, space);
    if (doc != NULL && k->kind == KUKE_REALM && ns[0] != '\0')
        json_object_set_new(json_object_get(doc, "spec"), "namespace", json_string(ns));
    json_t *args = json_pack("{s:o}", "Doc", doc);
    char method[32];
    snprintf(method, sizeof(method), "Create%s", k->title);
    json_t *reply = NULL;
    int rc = kuke_api_call_take(ctx, method, args, &reply, err);
    if (rc < 0)
        return -1;
    json_t *res = json_object_get(reply, "Result");
    json_t *made = json_object_get(res, k->title);
    json_t *spec = kk_doc_spec(made);
    switch (k->kind) {
    case KUKE_REALM:
        printf("Realm \"%s\" (namespace \"%s\")\n", kk_doc_name(made), kk_json_str(spec, "namespace"));
        create_outcome("metadata", res, "MetadataExistsPost", "Created");
        create_outcome("containerd namespace", res, "ContainerdNamespaceExistsPost",
                       "ContainerdNamespaceCreated");
        break;
    case KUKE_SPACE:
        printf("Space \"%s\" (realm \"%s\", network \"%s-%s\")\n", kk_doc_name(made),
               kk_json_str(spec, "realmId"), kk_json_str(spec, "realmId"), kk_doc_name(made));
        create_outcome("metadata", res, "MetadataExistsPost", "Created");
        create_outcome("network", res, "CNINetworkExistsPost", "CNINetworkCreated");
        break;
    case KUKE_STACK:
        printf("Stack \"%s\" (realm \"%s\", space \"%s\")\n", kk_doc_name(made), kk_json_str(spec, "realmId"),
               kk_json_str(spec, "spaceId"));
        create_outcome("metadata", res, "MetadataExistsPost", "Created");
        break;
    default:
        break;
    }
    create_outcome("cgroup", res, "CgroupExistsPost", "CgroupCreated");
    json_decref(reply);
    return 0;
}
