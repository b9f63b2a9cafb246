/* Validation of hierarchy names (realm, space, stack, cell, container): the one rule every process
 * applies before a name reaches a path, a containerd identifier or a log line (DESIGN.md section 6). */
#ifndef KUKEON_COMMON_NAMES_H
#define KUKEON_COMMON_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* 63 is a DNS label: the cell name is also the hostname, and four names plus separators must still
 * fit containerd's 76-character identifiers often enough to be useful. */
#define KK_NAME_MAX  63
#define KK_NAME_SIZE (KK_NAME_MAX + 1) /* a buffer that holds any valid name */

enum kk_name_kind {
    KK_NAME_REALM = 0,
    KK_NAME_SPACE,
    KK_NAME_STACK,
    KK_NAME_CELL,
    KK_NAME_CONTAINER,
};
#define KK_NAME_KIND_COUNT 5

/* "realm", "space", "stack", "cell", "container" ("name" for an unknown kind). */
const char *kk_name_kind_str(enum kk_name_kind kind);

/* Check a NUL-terminated name of the given kind. Reads at most a few dozen bytes past the limit,
 * never the whole of an over-long string. 0, or -1 with err (KK_ERR_INVALID) saying what is wrong:
 *   realm name is required
 *   realm name "a_b" is invalid: it contains '_' (names are 1-63 characters of ...)
 * The name in a message is escaped (kk_log_escape), so it is safe to log and print. */
int kk_name_check(enum kk_name_kind kind, const char *name, struct kk_err *err);

/* The same for a counted string from outside (JSON, protobuf bytes): len bytes at name, which need
 * not be NUL-terminated; an embedded NUL is refused. */
int kk_name_check_len(enum kk_name_kind kind, const char *name, size_t len, struct kk_err *err);

/* kk_name_check also refuses, for a realm, space, stack or cell, the names of the directories the
 * store keeps beside a scope's children (kukeon-reference.md 5.1): secrets, blueprints, configs,
 * volumes, volume-meta. Whether name is one of them (directory walks skip those). */
bool kk_name_is_reserved(const char *name);

/* Only the verdict, for callers that have their own message (filters, directory walks); the syntax
 * rule only, not the reserved names. */
bool kk_name_is_valid(const char *name);

#endif
