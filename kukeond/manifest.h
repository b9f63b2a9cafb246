/* Manifests: a multi-document YAML stream (`kuke apply -f`, the API's RawYAML) parsed with libyaml
 * into v1beta1 documents, validated all together and sorted in apply order (kukeon-reference.md
 * 3.1 and 3.8); and the YAML and JSON text of documents (`get -o yaml|json`, metadata.json). */
#ifndef KUKEON_KUKEOND_MANIFEST_H
#define KUKEON_KUKEOND_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/derive.h"
#include "common/err.h"
#include "kukeond/doc.h"

/* Bounds on what one manifest may cost, checked while parsing, before anything is kept:
 * - input size: a manifest is a few KiB; 4 MiB leaves room for generated ones;
 * - documents: 1024;
 * - nesting: 64 mappings/lists deep (the schema needs 6);
 * - values: 262144 in the whole stream, and 16 MiB of scalar text, both counted after YAML aliases
 *   are expanded, so an alias bomb ("billion laughs") stops at the bound instead of at the OOM killer. */
#define KK_MANIFEST_MAX_BYTES (4u * 1024 * 1024)
#define KK_MANIFEST_MAX_DOCS  1024
#define KK_MANIFEST_MAX_DEPTH 64
#define KK_MANIFEST_MAX_NODES (256u * 1024)
#define KK_MANIFEST_MAX_TEXT  (16u * 1024 * 1024)

/* Parse a YAML stream into a JSON array of documents, in input order, not validated.
 * Split as the reference: a line holding only "---" (and whitespace) separates documents; each part
 * is trimmed and empty parts (also comment-only ones and a bare null) are skipped and not counted.
 * Each part is one YAML document whose top level must be a mapping. Conversion: mappings → objects
 * (duplicate keys refused), lists → arrays, plain scalars → null (~, null, empty), booleans
 * (true/false in any YAML 1.2 case), integers (decimal, 0x, 0o, 0b, leading-0 octal and '_' as
 * Go's YAML reader takes them, within int64) or strings; quoted and block scalars and !!str are
 * always strings; floats stay strings (no v1beta1 field is a float). Aliases are expanded; merge
 * keys (<<) and tags outside the YAML core schema are refused.
 * Errors (KK_ERR_INVALID): "no documents found in input"; "document <i>: line <l>, column <c>:
 * <problem>" with the line and column in the whole input, 1-based. *docs is a new reference. */
int kk_manifest_parse(const char *buf, size_t len, json_t **docs, struct kk_err *err);

struct kk_manifest_doc {
    size_t index; /* 0-based position in the input, empty parts not counted */
    enum kk_kind kind;
    json_t *doc; /* owned */
};

struct kk_manifest {
    size_t count;
    struct kk_manifest_doc *docs; /* in apply order */
};

/* Parse, then validate every document (kk_doc_validate, and kk_doc_complete when cfg is not NULL)
 * before any is returned, then sort stably by kind (Realm, Space, Stack, Cell, Container) and
 * input index. What the input may not set is dropped first: status (the daemon's),
 * metadata.generation (the store's) and a cell's transport-only spec.runtimeEnv and
 * spec.ignoreDiskPressure. When any document is invalid, nothing is returned and err says, one line
 * per bad document:
 *   validation failed:
 *     document 1 (Space "blog"): spec.realmId is required
 * Release with kk_manifest_free (also safe on a zeroed or failed one). */
int kk_manifest_load(const char *buf, size_t len, const struct kk_derive_config *cfg, struct kk_manifest *out,
                     struct kk_err *err);
void kk_manifest_free(struct kk_manifest *m);

/* JSON text of any value: 2-space indent and a trailing newline, as metadata.json and
 * `get -o json`. malloc'd (free()), NUL-terminated; *len (optional) without the NUL. NULL when
 * memory runs out. */
char *kk_json_text(const json_t *value, size_t *len);

/* YAML text through libyaml's emitter. An array with as_list makes one YAML document per element,
 * separated by "---" lines; anything else is one document. Strings that would read back as another
 * type (true, 12, null, "") are quoted, and strings with line breaks are double-quoted, so the text
 * parses back (kk_manifest_parse) to the same values and never holds a line that splits it.
 * *out malloc'd, NUL-terminated. */
int kk_yaml_text(const json_t *value, bool as_list, char **out, size_t *len, struct kk_err *err);

#endif
