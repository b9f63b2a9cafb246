/* What ApplyDocuments and DeleteDocuments (kukeond/ctl_apply.c) share with kuke and the unit tests:
 * the diff of a stored document against an applied one (kukeon-reference.md 3.8), and the base64 of
 * the API's RawYAML (Go's []byte travels as standard base64 with padding). */
#ifndef KUKEON_KUKEOND_APPLY_H
#define KUKEON_KUKEOND_APPLY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "kukeond/doc.h"

/* What applying `desired` over the stored `actual` (same kind and place, both validated) changes.
 * Fields that hold nothing — absent, null, false, 0, "", [] and {} — are equal to each other, so a
 * default written out and one left implicit are not a change.
 * - changes: the paths of compatible changes, which the store takes in place: metadata.labels,
 *   metadata.annotations; Realm spec.registryCredentials; Space spec.network.egress and
 *   spec.defaults.container; Cell spec.tty, spec.autoDelete and, per container,
 *   spec.containers[<id>].<field> for env, volumes, secrets, securityOpts, ports, networksAliases,
 *   restartPolicy, restartBackoffSeconds, restartMaxRetries, tty, repos, git.
 * - breaking: the paths of every other change of a member the kind has (kukeon-reference.md
 *   3.2-3.6; members it does not have, which the reference's decoder drops, and a Cell's
 *   spec.provenance are never compared). A container added or removed is spec.containers[<id>].
 * - root_breaking: some breaking change is in the cell's root container (apply recreates the cell).
 * - merged: actual with the compatible changes made (status and generation as actual has them).
 * A pause root the daemon synthesized into actual (desired has no root and no container of its id)
 * is not compared. */
struct kk_apply_diff {
    json_t *changes;  /* array of strings */
    json_t *breaking; /* array of strings */
    bool root_breaking;
    json_t *merged;
};
int kk_apply_diff(enum kk_kind kind, const json_t *actual, const json_t *desired, struct kk_apply_diff *out,
                  struct kk_err *err);
void kk_apply_diff_free(struct kk_apply_diff *d);

/* Standard base64 with padding. encode: malloc'd NUL-terminated text, NULL when memory runs out.
 * decode: whitespace is skipped, padding may be left out; anything else outside the alphabet is an
 * error (KK_ERR_INVALID) naming its offset. *out is malloc'd and NUL-terminated (not counted). */
char *kk_base64_encode(const void *data, size_t len);
int kk_base64_decode(const char *text, size_t len, char **out, size_t *out_len, struct kk_err *err);

#endif
