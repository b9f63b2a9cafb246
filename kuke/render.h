/* How kuke prints resources (kukeon-reference.md 2.0 and 2.3): the table renderer (a header, a row
 * of dashes per column, columns left-aligned and separated by two spaces, every cell padded to its
 * column's width, the last one too), the AGE column, RFC 3339 times, and the -o formats. Pure
 * functions over strings and times, so the unit tests pin every byte. */
#ifndef KUKEON_KUKE_RENDER_H
#define KUKEON_KUKE_RENDER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/* ---- cells and containers (kukeon-reference.md 2.3) ------------------------------------------------ */

/* NAME REALM SPACE STACK STATE SYNC AGE, wide + CONTAINERS BRIDGE DIVERGENCE. */
#define KUKE_CELL_COLS      7
#define KUKE_CELL_COLS_WIDE 10
extern const char *const kuke_cell_cols[KUKE_CELL_COLS_WIDE];
/* NAME REALM SPACE STACK CELL STATE RESTARTS AGE, wide + IMAGE EXIT. */
#define KUKE_CONTAINER_COLS      8
#define KUKE_CONTAINER_COLS_WIDE 10
extern const char *const kuke_container_cols[KUKE_CONTAINER_COLS_WIDE];

/* One table row: col[i] points into the document or into buf. Valid while both live. */
struct kuke_row {
    const char *col[12];
    char age[24];
    char buf[4][32];
};

/* A cell document's row: STATE "Unknown" when unset; SYNC Synced|OutOfSync when the cell carries
 * the kukeon.io/config label, else "-"; CONTAINERS <ready>/<total> of status.containers; BRIDGE
 * status.network.bridgeName or "-"; DIVERGENCE status.outOfSyncReason or "-". */
void kuke_cell_row(const json_t *cell, const struct timespec *now, struct kuke_row *row);
/* Every member of a Cell document that kuke_cell_row and kuke_selector_match read, as paths under a
 * ListCells reply (kuke_api_call_some): a table asks for these and nothing else. A field the row
 * reads must be listed here, or the table through kukeond would differ from the one in-process
 * (test_cli_cells compares them). NULL-terminated. */
extern const char *const kuke_cell_row_fields[];
/* A Container document's row (as kuke_container_doc builds it): RESTARTS status.restartCount, AGE
 * from status.startTime (else createdAt), IMAGE, EXIT the exit code once Exited or Error, else "-". */
void kuke_container_row(const json_t *container, const struct timespec *now, struct kuke_row *row);
/* The Container document of spec c (an element of cell's spec.containers): kind Container,
 * metadata.name = the container ID, spec = c with realmId/spaceId/stackId/cellId, status = the
 * cell's status.containers entry for it (matched by name or id), if any. A new reference. */
json_t *kuke_container_doc(const json_t *cell, const json_t *c);

/* A size as the image table shows it: "512 B", "1.5 KiB", "20.0 MiB", "1.2 GiB". */
void kuke_size(uint64_t bytes, char *buf, size_t size);

/* The RefreshAll result as kuke refresh prints it (kukeon-reference.md 2.10). */
int kuke_refresh_print(FILE *out, const json_t *result);

#endif
