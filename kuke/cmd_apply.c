/* kuke apply -f <file|-> and kuke delete -f <file|-> (kukeon-reference.md 2.2, 2.5, 3.8): the manifest
 * goes to kukeond (or the in-process controller) whole, as ApplyDocuments' or DeleteDocuments'
 * RawYAML; the daemon parses, validates and applies it, and kuke prints one outcome per document.
 * Parse and validation errors (document index, line, column) come back as the daemon wrote them and
 * are printed verbatim. */
#include "kuke/cmd_apply.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "ipc/jsonrpc.h"
#include "kuke/client.h"
#include "kuke/render.h"
#include "kukeond/apply.h"
#include "kukeond/manifest.h"

/* Room in one JSON-RPC message for what surrounds the base64 text. */
#define APPLY_ENVELOPE 512

/* The whole of path ("-" = stdin), at most KK_MANIFEST_MAX_BYTES. */
static int read_manifest(const char *path, char **out, size_t *len, struct kk_err *err)
{
    *out = NULL;
    *len = 0;
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (f == NULL)
        return kk_error(err, KK_ERR_INVALID, errno, "reading %s", path);
    size_t cap = 64 * 1024, n = 0;
    char *buf = malloc(cap + 1);
    int rc = 0;
    while (buf != NULL) {
        if (n == cap) {
            if (cap > KK_MANIFEST_MAX_BYTES) {
                rc = kk_error(err, KK_ERR_INVALID, 0, "%s is larger than %u bytes: split the manifest",
                              is_stdin ? "standard input" : path, KK_MANIFEST_MAX_BYTES);
                break;
            }
            char *bigger = realloc(buf, cap * 2 + 1);
            if (bigger == NULL)
                break;
            buf = bigger;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f))
                rc = kk_error(err, KK_ERR_INVALID, errno, "reading %s", is_stdin ? "standard input" : path);
            break;
        }
    }
    if (!is_stdin)
        fclose(f);
    if (buf == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading %s", path);
    if (rc == 0 && n > KK_MANIFEST_MAX_BYTES)
        rc = kk_error(err, KK_ERR_INVALID, 0, "%s is larger than %u bytes: split the manifest",
                      is_stdin ? "standard input" : path, KK_MANIFEST_MAX_BYTES);
    if (rc < 0) {
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

/* Send the manifest of -f to method with extra args (stolen, may be NULL); *resources is the
 * reply's Result.Resources (a new reference). */
static int send_manifest(struct kuke_ctx *ctx, const char *method, json_t *args, json_t **resources,
                         struct kk_err *err)
{
    *resources = NULL;
    const char *path = kuke_flag(ctx, "file");
    if (ctx->nargs > 0) {
        json_decref(args);
        return kk_error(err, KK_ERR_INVALID, 0, "unknown argument \"%s\": the manifest is given with -f FILE",
                        ctx->args[0]);
    }
    if (path == NULL || path[0] == '\0') {
        json_decref(args);
        return kk_error(err, KK_ERR_INVALID, 0,
                        "required flag(s) \"file\" not set (use -f FILE, or -f - for stdin)");
    }
    char *yaml = NULL;
    size_t len = 0;
    if (args == NULL || read_manifest(path, &yaml, &len, err) < 0) {
        json_decref(args);
        return args == NULL ? kk_error(err, KK_ERR_INTERNAL, 0, "out of memory") : -1;
    }
    char *b64 = kk_base64_encode(yaml, len);
    free(yaml);
    if (b64 == NULL) {
        json_decref(args);
        return kk_error(err, KK_ERR_INTERNAL, 0, "encoding the manifest: out of memory");
    }
    /* One request carries the whole manifest; a message has a bound (ipc/jsonrpc.h). */
    if (strlen(b64) + APPLY_ENVELOPE > KK_JSONRPC_MAX_MSG) {
        free(b64);
        json_decref(args);
        return kk_error(err, KK_ERR_INVALID, 0,
                        "%s is too large for one request (%zu bytes; at most %u): split the manifest", path,
                        len, (unsigned)((KK_JSONRPC_MAX_MSG - APPLY_ENVELOPE) / 4 * 3));
    }
    json_object_set_new(args, "RawYAML", json_string(b64));
    free(b64);
    json_t *reply = NULL;
    int rc = kuke_api_call(ctx, method, args, &reply, err);
    json_decref(args);
    if (rc < 0)
        return -1;
    json_t *list = json_object_get(json_object_get(reply, "Result"), "Resources");
    *resources = json_is_array(list) ? json_incref(list) : json_array();
    json_decref(reply);
    return *resources != NULL ? 0 : kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
}

/* -o json|yaml: {"resources": [...]} as the daemon answered. 1 printed, 0 not asked for. */
static int print_structured(struct kuke_ctx *ctx, json_t *resources, struct kk_err *err)
{
    const char *o = kuke_flag(ctx, "output");
    enum kuke_output fmt;
    if (o == NULL || kuke_output_parse(o, &fmt, err) < 0 || (fmt != KUKE_OUT_JSON && fmt != KUKE_OUT_YAML)) {
        kk_err_clear(err);
        return 0;
    }
    json_t *wrap = json_pack("{s:O}", "resources", resources);
    int rc = wrap == NULL ? kk_error(err, KK_ERR_INTERNAL, 0, "out of memory")
                          : kuke_print_doc(stdout, wrap, fmt, err);
    json_decref(wrap);
    return rc < 0 ? -1 : 1;
}

static void print_details(const json_t *r)
{
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(r, "details"), k, v)
    {
        if (json_is_string(v))
            printf("  - %s: %s\n", k, json_string_value(v));
    }
}

int kuke_cmd_apply(struct kuke_ctx *ctx, struct kk_err *err)
{
    json_t *resources = NULL;
    if (send_manifest(ctx, "ApplyDocuments", json_pack("{s:s}", "Team", ""), &resources, err) < 0)
        return -1;
    /* The reference's quirk, kept: with -o json|yaml the exit status is 0 even when some failed. */
    int printed = print_structured(ctx, resources, err);
    if (printed != 0) {
        json_decref(resources);
        return printed < 0 ? -1 : 0;
    }
    bool failed = false;
    size_t i, j;
    json_t *r, *c;
    json_array_foreach(resources, i, r)
    {
        const char *action = kk_json_str(r, "action");
        printf("%s \"%s\": %s\n", kk_json_str(r, "kind"), kk_json_str(r, "name"), action);
        json_array_foreach(json_object_get(r, "changes"), j, c) printf("  - %s\n", json_string_value(c));
        if (strcmp(action, "failed") == 0) {
            failed = true;
            printf("  Error: %s\n", kk_json_str(r, "error"));
        }
    }
    fflush(stdout);
    json_decref(resources);
    if (failed)
        return kk_error(err, KK_ERR_INVALID, 0, "config error: some resources failed to apply");
    return 0;
}

/* What a cascade of each kind deletes. */
static const char *cascade_noun(const char *kind)
{
    if (strcmp(kind, "Realm") == 0)
        return "space(s)";
    if (strcmp(kind, "Space") == 0)
        return "stack(s)";
    return "cell(s)";
}

int kuke_cmd_delete_file(struct kuke_ctx *ctx, struct kk_err *err)
{
    if (kuke_flag(ctx, "file") == NULL)
        return kk_error(
            err, KK_ERR_INVALID, 0,
            "a resource kind or -f FILE is required: kuke delete <realm|space|stack|cell> NAME, or "
            "kuke delete -f FILE (see kuke delete --help)");
    json_t *args = json_pack("{s:b, s:b}", "Cascade", kuke_flag_bool(ctx, "cascade"), "Force",
                             kuke_flag_bool(ctx, "force"));
    json_t *resources = NULL;
    if (send_manifest(ctx, "DeleteDocuments", args, &resources, err) < 0)
        return -1;
    int printed = print_structured(ctx, resources, err);
    if (printed != 0) {
        json_decref(resources);
        return printed < 0 ? -1 : 0;
    }
    bool failed = false;
    size_t i;
    json_t *r;
    json_array_foreach(resources, i, r)
    {
        const char *action = kk_json_str(r, "action"), *kind = kk_json_str(r, "kind");
        printf("%s \"%s\": %s\n", kind, kk_json_str(r, "name"), action);
        json_int_t n = json_integer_value(json_object_get(r, "cascaded"));
        if (n > 0)
            printf("  - %lld %s deleted (cascade)\n", (long long)n, cascade_noun(kind));
        print_details(r);
        if (strcmp(action, "failed") == 0) {
            failed = true;
            printf("  Error: %s\n", kk_json_str(r, "error"));
        }
    }
    fflush(stdout);
    json_decref(resources);
    if (failed)
        return kk_error(err, KK_ERR_INVALID, 0, "config error: some resources failed to delete");
    return 0;
}
