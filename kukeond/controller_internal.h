/* What the controller's files share: one operation's context (the wire error kind it fails with, the
 * best-effort bookkeeping of purge), the hierarchy layers it serves, validated names, and the
 * small steps every layer repeats (documents, statuses, results). Not for use outside kukeond/ctl_*. */
#ifndef KUKEON_KUKEOND_CONTROLLER_INTERNAL_H
#define KUKEON_KUKEOND_CONTROLLER_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>

#include "common/err.h"
#include "common/names.h"
#include "kukeond/controller.h"
#include "kukeond/doc.h"

/* The kukeonv1 error kinds the controller answers with (kukeon-reference.md section 6). */
#define CTL_KIND_UNKNOWN          "Unknown"
#define CTL_KIND_HAS_DEPENDENCIES "ResourceHasDependencies"

/* One request being served. A failing step sets err and, through ctl_fail, the wire Kind. */
struct ctl_op {
    struct kk_ctl *ctl;
    const char *kind; /* the Kind of Err when the request fails; "Unknown" unless a step says */
    /* Purge: every step is tried, failures are collected here instead of ending the request. */
    bool purge;
    unsigned n_failed;
    char failures[KK_ERR_MSG_MAX];
};

/* A layer of the hierarchy this controller serves, with the words the reference uses for it. */
struct ctl_layer {
    enum kk_kind kind;         /* KK_KIND_REALM, _SPACE or _STACK */
    const char *noun;          /* "realm" */
    const char *title;         /* "Realm": the document kind and the result member */
    const char *child_noun;    /* "space": what a delete cascades to ("cell" for a stack) */
    const char *not_found;     /* "RealmNotFound" */
    const char *name_required; /* "RealmNameRequired" */
    const char *create_kind;   /* "CreateRealm" */
};
extern const struct ctl_layer ctl_realm, ctl_space, ctl_stack;
const struct ctl_layer *ctl_layer_of(enum kk_kind kind);

/* Validated hierarchy names of one resource, realm down to its own level (depth). */
struct ctl_names {
    enum kk_kind depth;
    char realm[KK_NAME_SIZE];
    char space[KK_NAME_SIZE];
    char stack[KK_NAME_SIZE];
    char cell[KK_NAME_SIZE];
};
/* The name at level k of n ("" above n's depth is never asked for). */
const char *ctl_name_at(const struct ctl_names *n, enum kk_kind k);
/* The names as derive.h and the store take them (pointers into n). */
struct kk_derive_names ctl_dnames(const struct ctl_names *n);
/* The names of a child of n (depth + 1) called child. */
int ctl_names_child(const struct ctl_names *n, const char *child, struct ctl_names *out, struct kk_err *err);
/* The names a request document carries for layer L: metadata.name, spec.realmId, spec.spaceId
 * (whitespace around them trimmed, as the reference does). The resource's own name is checked
 * first (XNameRequired), then its parents', then each name's rules (common/names.h). */
int ctl_names_from_doc(struct ctl_op *op, const struct ctl_layer *L, const json_t *doc, struct ctl_names *out,
                       struct kk_err *err);
/* 'realm "r"', 'space "s" in realm "r"', ... for messages. */
void ctl_describe(const struct ctl_names *n, char *buf, size_t size);
/* The reference's not-found text: realm "x" not found / space "x" not found in realm "r" /
 * stack "x" not found in realm "r", space "s" / cell "x" not found in stack "r"/"s"/"t". */
int ctl_not_found(struct ctl_op *op, const struct ctl_names *n, struct kk_err *err);

/* Set err like kk_error and remember kind (NULL keeps the one set) as the wire Kind. -1. */
int ctl_fail(struct ctl_op *op, const char *kind, struct kk_err *err, enum kk_err_kind ekind, const char *fmt,
             ...) __attribute__((format(printf, 5, 6)));
/* Keep err as it is, but make kind the wire Kind. -1. */
int ctl_fail_kind(struct ctl_op *op, const char *kind, struct kk_err *err);
/* s without its leading and trailing white space: *start into s, *len bytes. */
void ctl_trim(const char *s, const char **start, size_t *len);
/* Arguments of a kukeonv1 request, for every method table. A boolean: absent and null are false,
 * anything else must be a JSON boolean. A scope name of List*: absent, null or "" (after trimming)
 * mean every one (out ""), else a valid name of kind. The request's Doc (NULL with err set): it must
 * be an object, a title ("Cell") when it names its kind; without it the wire Kind is required and
 * the message "<noun> name is required". */
int ctl_arg_bool(struct ctl_op *op, const json_t *args, const char *key, bool *out, struct kk_err *err);
int ctl_arg_name(struct ctl_op *op, const json_t *args, const char *key, enum kk_name_kind kind,
                 char out[KK_NAME_SIZE], struct kk_err *err);
const json_t *ctl_arg_doc_of(struct ctl_op *op, const json_t *args, const char *title, const char *noun,
                             const char *required, struct kk_err *err);
/* The parents of n must have documents (a space needs its realm; a stack its realm and space; a
 * cell all three): 0, or the reference's not-found error of the first one missing (RealmNotFound,
 * SpaceNotFound, StackNotFound), -1. */
int ctl_check_parents(struct ctl_op *op, const struct ctl_names *n, struct kk_err *err);
/* Purge: note a failed step ("<what>: <message>") and go on. Returns 0 so the caller continues. */
int ctl_purge_note(struct ctl_op *op, const char *what, const struct kk_err *err);
/* Run one step of a delete (rc its result): in a delete, its failure ends the request (-1); in a
 * purge, it is noted (ctl_purge_note), err cleared, and the walk goes on (0). */
int ctl_step(struct ctl_op *op, int rc, const char *what, struct kk_err *err);
/* Sleep ms milliseconds (a retry's pause). */
void ctl_pause_ms(long ms);

/* The helper socket, or -1 with err naming the helper and what needed it. */
int ctl_helper(struct ctl_op *op, enum kk_ctl_helper h, const char *purpose, struct kk_err *err);

/* ---- documents ----------------------------------------------------------------------------- */

/* Read the document at n: 1 found (*doc, tok filled), 0 absent, -1 error. */
int ctl_doc_get(struct ctl_op *op, const struct ctl_names *n, json_t **doc, struct kk_store_token *tok,
                struct kk_err *err);
/* Replace the status of the stored document at n with status (borrowed), stamping the lifecycle
 * times and putting the keys in the reference's order, unless it equals the stored one apart from
 * updatedAt. *doc (optional) gets the document as
 * stored afterwards. expect_generation as kk_store_put_status. */
int ctl_status_write(struct ctl_op *op, const struct ctl_names *n, json_t *status, int64_t expect_generation,
                     json_t **doc, struct kk_err *err);
/* A copy of doc's status (an empty object when it has none), for changing and writing back. */
json_t *ctl_status_copy(const json_t *doc);
/* "cpu memory io" as ["cpu","memory","io"]. */
json_t *ctl_word_list(const char *words);

/* Names of n's children in the store (a new array); a missing n is an empty list. */
int ctl_children(struct ctl_op *op, const struct ctl_names *n, json_t **names, struct kk_err *err);

/* ---- the layers' operations (ctl_create.c, ctl_get.c, ctl_delete.c) ------------------------ */

/* Each returns the Result object of the reference (a new reference), or NULL with err and
 * op->kind set. */
json_t *ctl_create(struct ctl_op *op, const struct ctl_layer *L, const json_t *doc, struct kk_err *err);
json_t *ctl_get(struct ctl_op *op, const struct ctl_layer *L, const json_t *doc, struct kk_err *err);
/* The documents of layer L under parent (NULL or depth-1 names; "" levels = all), sorted by the
 * names of their places; unreadable ones are logged and skipped. */
json_t *ctl_list(struct ctl_op *op, const struct ctl_layer *L, const char *realm, const char *space,
                 struct kk_err *err);
json_t *ctl_delete(struct ctl_op *op, const struct ctl_layer *L, const json_t *doc, bool force, bool cascade,
                   struct kk_err *err);

/* ---- methods served outside controller.c -------------------------------------------------------- */

/* A kukeonv1 method implemented in its own file. It sets *member to the reply member that holds its
 * value ("Result" unless a List* names its array, e.g. "Cells"); on failure it returns NULL with err
 * and op->kind set, and the reply carries the empty shape of *member (object for "Result", else
 * array). writes: whether the method may change state (the store is prepared for writing first;
 * the daemon serialises writers, kukeond/api.c). */
typedef json_t *(*ctl_method_fn)(struct ctl_op *op, const json_t *args, const char **member,
                                  struct kk_err *err);
struct ctl_ext_method {
    const char *name;
    ctl_method_fn fn;
    bool writes;
};

/* Cells and containers (kukeond/ctl_cell*.c). NULL-terminated. */
extern const struct ctl_ext_method ctl_cell_methods[];
/* RefreshAll (kukeond/ctl_reconcile.c). NULL-terminated. */
extern const struct ctl_ext_method ctl_reconcile_methods[];
/* ApplyDocuments, DeleteDocuments (kukeond/ctl_apply.c). NULL-terminated. */
extern const struct ctl_ext_method ctl_apply_methods[];
/* AttachContainer, LogContainer (kukeond/ctl_attach.c). NULL-terminated. */
extern const struct ctl_ext_method ctl_attach_methods[];

#endif
