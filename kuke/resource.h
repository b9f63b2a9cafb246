/* What the resource verbs (get, create, delete, purge) share: the kinds they act on with the words
 * the reference prints, scope flags with their environment variables and defaults, request
 * documents, and label selectors. */
#ifndef KUKEON_KUKE_RESOURCE_H
#define KUKEON_KUKE_RESOURCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "kuke/cli.h"

enum kuke_kind { KUKE_REALM = 0, KUKE_SPACE, KUKE_STACK, KUKE_CELL, KUKE_CONTAINER, KUKE_IMAGE };

struct kuke_kind_info {
    enum kuke_kind kind;
    const char *noun;   /* "realm" */
    const char *title;  /* "Realm": the document kind, the result member, the method suffix */
    const char *plural; /* "Realms": List<plural> and its reply member */
    const char *env;    /* "REALM": KUKE_<VERB>_<env>_<FIELD> */
};

/* The kind a verb's leaf command names (its cmd->name: "realm", "space", "stack", "cell",
 * "container" or "image"). */
const struct kuke_kind_info *kuke_kind_of(const struct kuke_ctx *ctx);
const struct kuke_kind_info *kuke_kind(enum kuke_kind kind);

/* Arguments longer than this are refused before any request is made. */
#define KUKE_ARG_MAX 1024

/* A scope or name value: the flag (trimmed), else KUKE_<VERB>_<KIND>_<FIELD> from the environment,
 * else def (may be NULL: then "" when nothing is set). verb and field are upper case ("GET",
 * "REALM"). out has KUKE_ARG_MAX bytes. */
int kuke_scope(const struct kuke_ctx *ctx, const char *flag, const char *verb, const struct kuke_kind_info *k,
               const char *field, const char *def, char *out, struct kk_err *err);
/* The scope of a cell verb: --realm/--space/--stack, KUKE_<VERB>_CELL_<FIELD>, else "default". */
struct kuke_cell_scope {
    char realm[KUKE_ARG_MAX], space[KUKE_ARG_MAX], stack[KUKE_ARG_MAX];
};
int kuke_cell_scope(const struct kuke_ctx *ctx, const char *verb, struct kuke_cell_scope *s,
                    struct kk_err *err);
/* Only the flag, trimmed, "" when not given: list filters, where an unset flag means every one. */
int kuke_scope_explicit(const struct kuke_ctx *ctx, const char *flag, char *out, struct kk_err *err);

/* The NAME argument (trimmed) or KUKE_<VERB>_<KIND>_NAME; "" when neither. Refuses more positional
 * arguments than max, as cobra says it: accepts at most 1 arg(s), received 2 / accepts 1 arg(s),
 * received 0 (exact). */
int kuke_name_arg(const struct kuke_ctx *ctx, const char *verb, const struct kuke_kind_info *k, bool exact,
                  char *out, struct kk_err *err);

/* The request document {apiVersion, kind, metadata{name}, spec{realmId, spaceId, id}} at the names. */
json_t *kuke_request_doc(const struct kuke_kind_info *k, const char *name, const char *realm,
                         const char *space);

/* The same with the stack coordinate: a cell's request document also carries spec.stackId (and
 * spec.id = name). */
json_t *kuke_request_doc_at(const struct kuke_kind_info *k, const char *name, const char *realm,
                            const char *space, const char *stack);

/* A reply's Result object, or the reply itself when it has none (the List* methods answer in the
 * reply). Borrowed. */
json_t *kuke_result(json_t *reply);

/* The prefix of a generated cell name from an image reference: its last path component without tag
 * or digest, lower case, runs of other characters as one '-'; "cell" when nothing is left. */
int kuke_cell_name_prefix(const char *ref, char *out, size_t size);

/* -l/--selector: comma-separated requirements k=v, k==v, k!=v, k (exists), !k (does not exist). */
#define KUKE_SELECTOR_MAX 16
struct kuke_sel_req {
    enum { KUKE_SEL_EQ, KUKE_SEL_NE, KUKE_SEL_EXISTS, KUKE_SEL_ABSENT } op;
    char key[256];
    char value[256];
};
struct kuke_selector {
    size_t n;
    struct kuke_sel_req req[KUKE_SELECTOR_MAX];
};
int kuke_selector_parse(const char *s, struct kuke_selector *out, struct kk_err *err);
/* Whether a document's metadata.labels satisfy every requirement (an empty selector matches all). */
bool kuke_selector_match(const struct kuke_selector *sel, const json_t *doc);

#endif
