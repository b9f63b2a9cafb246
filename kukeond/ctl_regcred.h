/* The controller's side of registry credentials (kukeond/regcred.h): the passwords of a realm's
 * spec.registryCredentials go to <realm dir>/secrets/registry-credentials.json, never into the
 * realm's document. Create and apply of a Realm plan (take the passwords out of the document,
 * compare them with the stored ones), commit the secrets, then store the document; delete and purge
 * remove them; get never shows them. Not for use outside kukeond/ctl_*. */
#ifndef KUKEON_KUKEOND_CTL_REGCRED_H
#define KUKEON_KUKEOND_CTL_REGCRED_H

#include <jansson.h>
#include <stdbool.h>

#include "common/err.h"
#include "kukeond/controller_internal.h"
#include "kukeond/regcred.h"

#define CTL_REGCRED_DIR  "secrets"
#define CTL_REGCRED_FILE "registry-credentials.json"

struct ctl_regcred_plan {
    json_t *secrets; /* what the secrets file will hold: [{serverAddress, username, password}] */
    json_t *changes; /* "spec.registryCredentials[<server>].password" for each password that changes */
    bool dirty;      /* the secrets file differs from this (written, or removed when empty) */
};

/* Take the passwords out of doc (a validated Realm document of realm, changed in place: what the
 * store may hold). An entry without a password keeps the one stored for its server (so a document
 * read back with get applies as it is); one with none stored is refused, naming the entry. */
int ctl_regcred_plan(struct ctl_op *op, const char *realm, json_t *doc, struct ctl_regcred_plan *plan,
                     struct kk_err *err);
/* Write the plan's secrets when they differ from the stored ones (creating the realm's directory
 * when the realm has no document yet: the secrets go first). */
int ctl_regcred_commit(struct ctl_op *op, const char *realm, const struct ctl_regcred_plan *plan,
                       struct kk_err *err);
/* Wipe the passwords the plan holds and release it. */
void ctl_regcred_plan_free(struct ctl_regcred_plan *plan);

/* plan + commit + free: for a Realm document about to be created. */
int ctl_regcred_store_new(struct ctl_op *op, const char *realm, json_t *doc, struct kk_err *err);

/* Remove the realm's secrets file (and leftovers of a crashed write), then the secrets directory
 * when it is empty. 1 removed, 0 there was none. */
int ctl_regcred_remove(struct ctl_op *op, const char *realm, struct kk_err *err);

#endif
