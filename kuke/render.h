/* How kuke prints resources (kukeon-reference.md 2.0 and 2.3): the table renderer (a header, a row
 * of dashes per column, columns left-aligned and separated by two spaces, every cell padded to its
 * column's width, the last one too), the AGE column, RFC 3339 times, and the -o formats. Pure
 * functions over strings and times, so the unit tests pin every byte. */
#ifndef KUKEON_KUKE_RENDER_H
#define KUKEON_KUKE_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "common/err.h"

enum kuke_output { KUKE_OUT_TABLE = 0, KUKE_OUT_WIDE, KUKE_OUT_YAML, KUKE_OUT_JSON };

/* "table", "wide", "yaml", "json" (case-insensitive, surrounding spaces ignored; "" is table).
 * Error: invalid output format: <s> (supported: yaml, json, table, wide). */
int kuke_output_parse(const char *s, enum kuke_output *out, struct kk_err *err);

/* Print a table: headers[ncols], then cells[nrows * ncols] row by row. A NULL cell prints as "".
 * With no rows it prints the reference's generic "No resources found." line; callers that know the
 * kind print their own "No realms found." instead. Returns 0, or -1 when out fails. */
int kuke_table_print(FILE *out, const char *const *headers, size_t ncols, const char *const *cells,
                     size_t nrows);

/* RFC 3339 as Go writes it (2026-11-29T20:01:40.5Z, or with a numeric offset +02:00) into *out.
 * 0, or -1 for anything else. Go's zero time (0001-01-01T00:00:00Z) parses, and kuke_age shows it
 * as "-". */
int kuke_parse_time(const char *s, struct timespec *out);

/* The AGE of something created at created (a status.createdAt string; NULL, "" or Go's zero time
 * show "-"), seen at now: the largest unit that fits, truncated — "3d", "5h", "12m", "7s"; a time
 * in the future is "0s"; an unparsable one "-". buf of at least 24 bytes. */
void kuke_age(const char *created, const struct timespec *now, char *buf, size_t size);

/* One document or a list of them as -o yaml or -o json prints it: JSON with 2-space indent and a
 * trailing newline; YAML as libyaml emits it (a list is one YAML sequence, as the reference's
 * encoder writes a slice). */
int kuke_print_doc(FILE *out, const json_t *value, enum kuke_output format, struct kk_err *err);

#endif
