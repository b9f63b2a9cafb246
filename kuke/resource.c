/* Shared parts of the resource verbs (see resource.h). */
#include "kuke/resource.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static const struct kuke_kind_info kuke_kinds[] = {
    {KUKE_REALM, "realm", "Realm", "Realms", "REALM"},
    {KUKE_SPACE, "space", "Space", "Spaces", "SPACE"},
    {KUKE_STACK, "stack", "Stack", "Stacks", "STACK"},
    {KUKE_CELL, "cell", "Cell", "Cells", "CELL"},
    {KUKE_CONTAINER, "container", "Container", "Containers", "CONTAINER"},
    {KUKE_IMAGE, "image", "Image", "Images", "IMAGE"},
};

const struct kuke_kind_info *kuke_kind_of(const struct kuke_ctx *ctx)
{
    for (size_t i = 0; i < KK_ARRAY_SIZE(kuke_kinds); i++)
        if (strcmp(ctx->cmd->name, kuke_kinds[i].noun) == 0)
            return &kuke_kinds[i];
    return &kuke_kinds[0];
}

const struct kuke_kind_info *kuke_kind(enum kuke_kind kind)
{
    return &kuke_kinds[kind];
}

/* Copy s without surrounding whitespace (Go's strings.TrimSpace) into out (KUKE_ARG_MAX bytes). */
static int kuke_trim(const char *s, const char *what, char *out, struct kk_err *err)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n >= KUKE_ARG_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "%s is longer than %d bytes", what, KUKE_ARG_MAX - 1);
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static const char *kuke_env(const char *verb, const struct kuke_kind_info *k, const char *field)
{
    char name[96];
    snprintf(name, sizeof(name), "KUKE_%s_%s_%s", verb, k->env, field);
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

int kuke_scope(const struct kuke_ctx *ctx, const char *flag, const char *verb, const struct kuke_kind_info *k,
               const char *field, const char *def, char *out, struct kk_err *err)
{
    char what[64];
    snprintf(what, sizeof(what), "--%s", flag);
    const char *v = kuke_flag(ctx, flag);
    if (v == NULL)
        v = kuke_env(verb, k, field);
    if (v != NULL && kuke_trim(v, what, out, err) < 0)
        return -1;
    if (v == NULL || out[0] == '\0')
        snprintf(out, KUKE_ARG_MAX, "%s", def != NULL ? def : "");
    return 0;
}

int kuke_cell_scope(const struct kuke_ctx *ctx, const char *verb, struct kuke_cell_scope *s,
                    struct kk_err *err)
{
    const struct kuke_kind_info *k = kuke_kind(KUKE_CELL);
    return kuke_scope(ctx, "realm", verb, k, "REALM", "default", s->realm, err) < 0 ||
                   kuke_scope(ctx, "space", verb, k, "SPACE", "default", s->space, err) < 0 ||
                   kuke_scope(ctx, "stack", verb, k, "STACK", "default", s->stack, err) < 0
               ? -1
               : 0;
}

int kuke_scope_explicit(const struct kuke_ctx *ctx, const char *flag, char *out, struct kk_err *err)
{
    const char *v = kuke_flag(ctx, flag);
    out[0] = '\0';
    return v != NULL ? kuke_trim(v, flag, out, err) : 0;
}

int kuke_name_arg(const struct kuke_ctx *ctx, const char *verb, const struct kuke_kind_info *k, bool exact,
                  char *out, struct kk_err *err)
{
    if (exact && ctx->nargs != 1)
        return kk_error(err, KK_ERR_INVALID, 0, "accepts 1 arg(s), received %d", ctx->nargs);
    if (ctx->nargs > 1)
        return kk_error(err, KK_ERR_INVALID, 0, "accepts at most 1 arg(s), received %d", ctx->nargs);
    out[0] = '\0';
    if (ctx->nargs == 1 && kuke_trim(ctx->args[0], "the name", out, err) < 0)
        return -1;
    if (out[0] == '\0') {
        const char *env = kuke_env(verb, k, "NAME");
        if (env != NULL && kuke_trim(env, "the name", out, err) < 0)
            return -1;
    }
    return 0;
}

json_t *kuke_request_doc(const struct kuke_kind_info *k, const char *name, const char *realm,
                         const char *space)
{
    return kuke_request_doc_at(k, name, realm, space, "default");
}

json_t *kuke_request_doc_at(const struct kuke_kind_info *k, const char *name, const char *realm,
                            const char *space, const char *stack)
{
    json_t *spec = json_object();
    if (spec == NULL)
        return NULL;
    if (k->kind >= KUKE_SPACE)
        json_object_set_new(spec, "realmId", json_string(realm));
    if (k->kind >= KUKE_STACK) {
        json_object_set_new(spec, "spaceId", json_string(space));
        json_object_set_new(spec, "id", json_string(name));
    }
    if (k->kind >= KUKE_CELL)
        json_object_set_new(spec, "stackId", json_string(stack));
    return json_pack("{s:s, s:s, s:{s:s}, s:o}", "apiVersion", "v1beta1", "kind", k->title, "metadata",
                     "name", name, "spec", spec);
}

json_t *kuke_result(json_t *reply)
{
    json_t *res = json_object_get(reply, "Result");
    return json_is_object(res) ? res : reply;
}

/* A generated cell name's prefix (see cmds.h). */
int kuke_cell_name_prefix(const char *ref, char *out, size_t size)
{
    /* The last path component of the reference, without its digest or tag. */
    const char *base = strrchr(ref, '/');
    base = base != NULL ? base + 1 : ref;
    size_t n = strcspn(base, "@:");
    size_t o = 0;
    bool dash = false;
    for (size_t i = 0; i < n && o + 1 < size; i++) {
        unsigned char ch = (unsigned char)base[i];
        if (isalnum(ch)) {
            if (dash && o > 0 && o + 2 < size)
                out[o++] = '-';
            dash = false;
            out[o++] = (char)tolower(ch);
        } else {
            dash = true;
        }
    }
    out[o] = '\0';
    if (o == 0)
        snprintf(out, size, "cell");
    return 0;
}

/* ---- selectors ----------------------------------------------------------------------------------- */

static int sel_copy(char *dst, const char *src, size_t n, struct kk_err *err)
{
    while (n > 0 && isspace((unsigned char)*src))
        src++, n--;
    while (n > 0 && isspace((unsigned char)src[n - 1]))
        n--;
    if (n >= 256)
        return kk_error(err, KK_ERR_INVALID, 0, "invalid selector: a key or value is longer than 255 bytes");
    memcpy(dst, src, n);
    dst[n] = '\0';
    return 0;
}

int kuke_selector_parse(const char *s, struct kuke_selector *out, struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    if (s == NULL)
        return 0;
    char all[KUKE_ARG_MAX];
    if (kuke_trim(s, "--selector", all, err) < 0)
        return -1;
    if (all[0] == '\0')
        return 0;
    const char *p = all;
    for (;;) {
        size_t len = strcspn(p, ",");
        char clause[KUKE_ARG_MAX];
        if (sel_copy(clause, p, len, err) < 0)
            return -1;
        if (clause[0] == '\0')
            return kk_error(err, KK_ERR_INVALID, 0, "invalid selector \"%s\": empty clause", all);
        if (out->n == KUKE_SELECTOR_MAX)
            return kk_error(err, KK_ERR_INVALID, 0, "invalid selector \"%s\": more than %d clauses", all,
                            KUKE_SELECTOR_MAX);
        struct kuke_sel_req *r = &out->req[out->n];
        const char *ne = strstr(clause, "!="), *eq = strchr(clause, '=');
        if (ne != NULL || eq != NULL) {
            const char *op = ne != NULL ? ne : eq;
            size_t oplen = ne != NULL ? 2 : (op[1] == '=' ? 2 : 1);
            r->op = ne != NULL ? KUKE_SEL_NE : KUKE_SEL_EQ;
            if (sel_copy(r->key, clause, (size_t)(op - clause), err) < 0 ||
                sel_copy(r->value, op + oplen, strlen(op + oplen), err) < 0)
                return -1;
            if (r->key[0] == '\0')
                return kk_error(err, KK_ERR_INVALID, 0, "invalid selector clause \"%s\": empty key", clause);
            if (r->value[0] == '\0')
                return kk_error(err, KK_ERR_INVALID, 0,
                                "invalid selector clause \"%s\": empty value after '%s'", clause,
                                ne != NULL ? "!=" : "=");
        } else if (clause[0] == '!') {
            r->op = KUKE_SEL_ABSENT;
            if (sel_copy(r->key, clause + 1, strlen(clause + 1), err) < 0)
                return -1;
            if (r->key[0] == '\0')
                return kk_error(err, KK_ERR_INVALID, 0, "invalid selector clause \"%s\": empty key after '!'",
                                clause);
        } else {
            r->op = KUKE_SEL_EXISTS;
            if (sel_copy(r->key, clause, strlen(clause), err) < 0)
                return -1;
        }
        out->n++;
        if (p[len] == '\0')
            break;
        p += len + 1;
    }
    return 0;
}

bool kuke_selector_match(const struct kuke_selector *sel, const json_t *doc)
{
    const json_t *labels = json_object_get(json_object_get(doc, "metadata"), "labels");
    for (size_t i = 0; i < sel->n; i++) {
        const json_t *v = json_object_get(labels, sel->req[i].key);
        bool has = json_is_string(v);
        bool same = has && strcmp(json_string_value(v), sel->req[i].value) == 0;
        switch (sel->req[i].op) {
        case KUKE_SEL_EQ:
            if (!same)
                return false;
            break;
        case KUKE_SEL_NE:
            if (same)
                return false;
            break;
        case KUKE_SEL_EXISTS:
            if (!has)
                return false;
            break;
        default:
            if (has)
                return false;
            break;
        }
    }
    return true;
}
