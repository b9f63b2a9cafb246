/* The v1beta1 document model: every resource is a jansson object in the reference's external shape
 * {apiVersion, kind, metadata{name, labels, ...}, spec{...}, status{...}} (kukeon-reference.md 3), the
 * same JSON the kukeonv1 API returns and metadata.json holds. Small typed accessors, per-kind
 * validation with the defaults the reference fills, and the daemon-side completion of a document. */
#ifndef KUKEON_KUKEOND_DOC_H
#define KUKEON_KUKEOND_DOC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/derive.h"
#include "common/err.h"

#define KK_API_VERSION "v1beta1"

/* In apply order (kukeon-reference.md 3.8): a parent always sorts before its children. */
enum kk_kind {
    KK_KIND_REALM = 0,
    KK_KIND_SPACE,
    KK_KIND_STACK,
    KK_KIND_CELL,
    KK_KIND_CONTAINER,
    KK_KIND_SECRET,
    KK_KIND_CELL_BLUEPRINT,
    KK_KIND_CELL_CONFIG,
    KK_KIND_VOLUME,
};
#define KK_KIND_COUNT 9

/* "Realm", "Space", ... ("" for a value outside the enum). */
const char *kk_kind_str(enum kk_kind kind);
/* Case-sensitive, as the reference. Errors (KK_ERR_INVALID): "kind is required",
 * "unknown kind: <k>", and for CellProfile the reference's "removed in #626" pointer. */
int kk_kind_parse(const char *s, enum kk_kind *out, struct kk_err *err);
/* Realm, Space, Stack, Cell and Container. The others parse, and validate to
 * "kind <K> is not supported yet". */
bool kk_kind_supported(enum kk_kind kind);

/* ---- accessors: borrowed references, never NULL strings -------------------------------------- */

/* The document's kind; -1 when it has none or an unknown one. */
int kk_doc_kind(const json_t *doc, enum kk_kind *out);
/* metadata.name, or "" */
const char *kk_doc_name(const json_t *doc);
/* The member `key` of doc when it is an object, else NULL. */
json_t *kk_doc_section(const json_t *doc, const char *key);
#define kk_doc_metadata(doc) kk_doc_section((doc), "metadata")
#define kk_doc_spec(doc)     kk_doc_section((doc), "spec")
#define kk_doc_status(doc)   kk_doc_section((doc), "status")
/* obj[key] when it is a string, else "" (obj may be NULL). */
const char *kk_json_str(const json_t *obj, const char *key);
/* obj[key] when it is true; false for false, absent, null or another type. */
bool kk_json_bool(const json_t *obj, const char *key);
/* metadata.generation, 0 when absent. */
int64_t kk_doc_generation(const json_t *doc);
/* Set metadata.generation (creates metadata when missing). */
int kk_doc_set_generation(json_t *doc, int64_t generation);
/* Replace status with a new reference to `status` (borrowed). */
int kk_doc_set_status(json_t *doc, json_t *status);

/* The hierarchy names the document lives at: pointers into doc (valid while doc is unchanged).
 * Realm {name}, Space {realmId, name}, Stack {realmId, spaceId, name}, Cell {realmId, spaceId,
 * stackId, name}, Container {realmId, spaceId, stackId, cellId, name}. Names are not checked here;
 * kk_derive does that. -1 (KK_ERR_INVALID) for a kind without a place in the hierarchy. */
int kk_doc_names(const json_t *doc, struct kk_derive_names *out, struct kk_err *err);

/* A minimal valid-shaped document of kind at names (as deep as the kind needs): apiVersion, kind,
 * metadata{name, labels{}}, spec with the scope ids (and id for Stack and Cell). A Cell gets an
 * empty containers list, which the caller must fill before it validates. NULL with err when a name
 * is missing. */
json_t *kk_doc_new(enum kk_kind kind, const struct kk_derive_names *names, struct kk_err *err);

/* ---- cells ----------------------------------------------------------------------------------- */

/* spec.containers when it is an array, else NULL. */
json_t *kk_cell_containers(const json_t *cell);
/* The embedded container whose id is `id`, or NULL. */
json_t *kk_cell_container(const json_t *cell, const char *id);
/* spec.rootContainerId, or "" (no root yet: the daemon synthesizes a pause root). */
const char *kk_cell_root_id(const json_t *cell);

/* The pause root a cell gets when none of its containers is root (kukeon-reference.md 1.4, step 4). */
struct kk_pause_root {
    const char *image;       /* required */
    const char *command;     /* required: what runs as PID 1, e.g. "/.kukeon/bin/kukepause" */
    const char *bind_source; /* host file bind-mounted read-only at `command`, or NULL when the
                              * image carries the binary itself (DESIGN.md section 7) */
};
/* Append the synthesized root container {id "root", root: true, ...} and set rootContainerId to
 * "root", unless the cell already has a root. The root is host-network when any container is.
 * The cell must have been validated. 0, or -1 with err. */
int kk_cell_add_pause_root(json_t *cell, const struct kk_pause_root *pause, struct kk_err *err);

/* ---- validation ------------------------------------------------------------------------------ */

/* Validate one document in place and fill the defaults the reference's parser fills: apiVersion ""
 * → v1beta1; spec.id = metadata.name (Stack, Cell, Container); a cell's rootContainerId from its
 * single root: true container; embedded containers inherit realmId/spaceId/stackId/cellId. Plain
 * YAML scalars that landed as numbers or booleans where the schema wants a string are turned back
 * into strings (as Go's YAML decoder does). Top-level keys are put in canonical order.
 * Names follow common/names.h; every containerd id is checked against containerd's limit.
 * On failure err (KK_ERR_INVALID) holds one reason naming the field, e.g.
 *   spec.containers[1].restartMaxRetries must be >= 1, got 0
 *   unsupported apiVersion: v2 (expected v1beta1)
 * Unknown fields are kept as they are (the reference's decoder is lenient). */
int kk_doc_validate(json_t *doc, struct kk_err *err);

/* What the daemon fills before it stores a validated document, from its configuration (cfg may be
 * NULL: the defaults): a realm's spec.namespace "<name>.<suffix>" and a space's spec.cniConfigPath
 * "<run>/data/<realm>/<space>/network.conflist" (a different value is refused: this
 * implementation derives both and never takes them from input, DESIGN.md section 3); the hierarchy
 * labels (realm.kukeon.io, space.kukeon.io, stack.kukeon.io, cell.kukeon.io) where absent; every
 * container's containerdId. */
int kk_doc_complete(json_t *doc, const struct kk_derive_config *cfg, struct kk_err *err);

/* ---- status ---------------------------------------------------------------------------------- */

/* The name of a state value as persisted: a string is returned as is; a legacy integer (the Go
 * daemon's ordinals, accepted on read) is mapped by kind (Realm, Space, Stack, Cell, or Container
 * for status.containers[].state); "" when absent or out of range. */
const char *kk_state_name(enum kk_kind kind, const json_t *state);
/* kk_state_name of doc's status.state. */
const char *kk_doc_state(const json_t *doc);

/* RFC 3339 with nanoseconds, trailing zeros dropped, UTC: how Go's encoding/json writes times
 * ("2026-11-29T20:01:40.5Z"). size >= 36. */
int kk_time_format(const struct timespec *t, char *buf, size_t size);
/* Lifecycle timestamps before a status write: status.createdAt when unset, updatedAt always,
 * readyAt once, on the first write with state "Ready". */
int kk_doc_stamp_lifecycle(json_t *doc, const struct timespec *now);

#endif
