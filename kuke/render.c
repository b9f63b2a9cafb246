/* kuke's output (see render.h). The table is written by hand because its bytes are the contract
 * (two-space gutters, padded last column, dash row); JSON and YAML go through the same jansson and
 * libyaml emitters the daemon uses for metadata.json (kukeond/manifest.h). */
#include "kuke/render.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "kukeond/manifest.h"

int kuke_output_parse(const char *s, enum kuke_output *out, struct kk_err *err)
{
    static const struct {
        const char *name;
        enum kuke_output value;
    } formats[] = {
        {"table", KUKE_OUT_TABLE}, {"wide", KUKE_OUT_WIDE}, {"yaml", KUKE_OUT_YAML}, {"json", KUKE_OUT_JSON}};
    *out = KUKE_OUT_TABLE;
    if (s == NULL)
        return 0;
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < KK_ARRAY_SIZE(formats); i++) {
        if (strlen(formats[i].name) == n && strncasecmp(s, formats[i].name, n) == 0) {
            *out = formats[i].value;
            return 0;
        }
    }
    return kk_error(err, KK_ERR_INVALID, 0, "invalid output format: %s (supported: yaml, json, table, wide)",
                    s);
}

int kuke_table_print(FILE *out, const char *const *headers, size_t ncols, const char *const *cells,
                     size_t nrows)
{
    if (nrows == 0)
        return fputs("No resources found.\n", out) == EOF ? -1 : 0;
    size_t *width = calloc(ncols, sizeof(*width));
    if (width == NULL)
        return -1;
    for (size_t c = 0; c < ncols; c++)
        width[c] = strlen(headers[c]);
    for (size_t r = 0; r < nrows; r++)
        for (size_t c = 0; c < ncols; c++) {
            const char *cell = cells[r * ncols + c];
            size_t w = cell != NULL ? strlen(cell) : 0;
            if (w > width[c])
                width[c] = w;
        }
    int rc = 0;
    /* The header, the dashes, then the rows: one line each, cells joined by two spaces. */
    for (size_t line = 0; line < nrows + 2 && rc == 0; line++) {
        for (size_t c = 0; c < ncols; c++) {
            if (c > 0 && fputs("  ", out) == EOF)
                rc = -1;
            if (line == 1) {
                for (size_t k = 0; k < width[c]; k++)
                    if (fputc('-', out) == EOF)
                        rc = -1;
                continue;
            }
            const char *cell = line == 0 ? headers[c] : cells[(line - 2) * ncols + c];
            if (fprintf(out, "%-*s", (int)width[c], cell != NULL ? cell : "") < 0)
                rc = -1;
        }
        if (fputc('\n', out) == EOF)
            rc = -1;
    }
    free(width);
    return rc;
}

/* Fixed-width decimal digits at s; -1 when any is not a digit. */
static long digits(const char *s, int n)
{
    long v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int kuke_parse_time(const char *s, struct timespec *out)
{
    /* YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM): written by hand because strptime has no
     * fractional seconds and no "Z", and getdate is locale-bound. */
    if (s == NULL || strlen(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return -1;
    long y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2), h = digits(s + 11, 2),
         mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 ||
        sec > 60)
        return -1;
    const char *p = s + 19;
    long nsec = 0;
    if (*p == '.') {
        p++;
        int n = 0;
        long scale = 100000000;
        while (isdigit((unsigned char)*p)) {
            if (n < 9) {
                nsec += (*p - '0') * scale;
                scale /= 10;
            }
            n++, p++;
        }
        if (n == 0)
            return -1;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if ((*p == '+' || *p == '-') && p[3] == ':') {
        long oh = digits(p + 1, 2), om = digits(p + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        offset = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    struct tm tm = {.tm_year = (int)(y - 1900),
                    .tm_mon = (int)(mo - 1),
                    .tm_mday = (int)d,
                    .tm_hour = (int)h,
                    .tm_min = (int)mi,
                    .tm_sec = (int)sec};
    time_t t = timegm(&tm);
    out->tv_sec = t - offset;
    out->tv_nsec = nsec;
    return 0;
}

void kuke_age(const char *created, const struct timespec *now, char *buf, size_t size)
{
    struct timespec t;
    if (created == NULL || created[0] == '\0' || kuke_parse_time(created, &t) < 0 ||
        t.tv_sec <= -62135596800LL) {
        /* Unset (Go's zero time is year 1) or unreadable. */
        snprintf(buf, size, "-");
        return;
    }
    long long secs = (long long)now->tv_sec - (long long)t.tv_sec;
    /* Truncated like Go's Duration arithmetic: a creation 0.4 s after now's whole second is not a
     * second old yet. */
    if (now->tv_nsec < t.tv_nsec)
        secs--;
    if (secs < 0)
        secs = 0;
    if (secs >= 86400)
        snprintf(buf, size, "%lldd", secs / 86400);
    else if (secs >= 3600)
        snprintf(buf, size, "%lldh", secs / 3600);
    else if (secs >= 60)
        snprintf(buf, size, "%lldm", secs / 60);
    else
        snprintf(buf, size, "%llds", secs);
}

int kuke_print_doc(FILE *out, const json_t *value, enum kuke_output format, struct kk_err *err)
{
    char *text = NULL;
    size_t len = 0;
    if (format == KUKE_OUT_JSON) {
        text = kk_json_text(value, &len);
        if (text == NULL)
            return kk_error(err, KK_ERR_INTERNAL, 0, "formatting JSON: out of memory");
    } else if (kk_yaml_text(value, false, &text, &len, err) < 0) {
        return -1;
    }
    int rc = fwrite(text, 1, len, out) == len ? 0 : kk_error(err, KK_ERR_INTERNAL, 0, "writing the output");
    free(text);
    return rc;
}

/* ---- cells, containers, images, refresh ------------------------------------------------------------ */

const char *const kuke_cell_cols[KUKE_CELL_COLS_WIDE] = {
    "NAME", "REALM", "SPACE", "STACK", "STATE", "SYNC", "AGE", "CONTAINERS", "BRIDGE", "DIVERGENCE"};
const char *const kuke_container_cols[KUKE_CONTAINER_COLS_WIDE] = {
    "NAME", "REALM", "SPACE", "STACK", "CELL", "STATE", "RESTARTS", "AGE", "IMAGE", "EXIT"};

static const char *str_or(const json_t *obj, const char *key, const char *def)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v != NULL && v[0] != '\0' ? v : def;
}

const char *const kuke_cell_row_fields[] = {
    "Err",
    "Cells/*/metadata/name",
    "Cells/*/metadata/labels",
    "Cells/*/spec/realmId",
    "Cells/*/spec/spaceId",
    "Cells/*/spec/stackId",
    "Cells/*/status/state",
    "Cells/*/status/outOfSync",
    "Cells/*/status/outOfSyncReason",
    "Cells/*/status/createdAt",
    "Cells/*/status/containers/*/state",
    "Cells/*/status/network/bridgeName",
    NULL,
};

void kuke_cell_row(const json_t *cell, const struct timespec *now, struct kuke_row *row)
{
    memset(row, 0, sizeof(*row));
    const json_t *md = json_object_get(cell, "metadata"), *spec = json_object_get(cell, "spec"),
                 *status = json_object_get(cell, "status");
    size_t c = 0;
    row->col[c++] = str_or(md, "name", "");
    row->col[c++] = str_or(spec, "realmId", "");
    row->col[c++] = str_or(spec, "spaceId", "");
    row->col[c++] = str_or(spec, "stackId", "");
    row->col[c++] = str_or(status, "state", "Unknown");
    /* SYNC means something only for a cell stamped from a CellConfig. */
    if (json_object_get(json_object_get(md, "labels"), "kukeon.io/config") != NULL)
        row->col[c++] = json_is_true(json_object_get(status, "outOfSync")) ? "OutOfSync" : "Synced";
    else
        row->col[c++] = "-";
    kuke_age(str_or(status, "createdAt", NULL), now, row->age, sizeof(row->age));
    row->col[c++] = row->age;
    const json_t *cs = json_object_get(status, "containers");
    size_t ready = 0, i;
    const json_t *s;
    json_array_foreach(cs, i, s)
    {
        if (strcmp(str_or(s, "state", ""), "Ready") == 0)
            ready++;
    }
    snprintf(row->buf[0], sizeof(row->buf[0]), "%zu/%zu", ready, json_array_size(cs));
    row->col[c++] = row->buf[0];
    row->col[c++] = str_or(json_object_get(status, "network"), "bridgeName", "-");
    row->col[c++] = str_or(status, "outOfSyncReason", "-");
}

void kuke_container_row(const json_t *container, const struct timespec *now, struct kuke_row *row)
{
    memset(row, 0, sizeof(*row));
    const json_t *md = json_object_get(container, "metadata"), *spec = json_object_get(container, "spec"),
                 *status = json_object_get(container, "status");
    size_t c = 0;
    row->col[c++] = str_or(md, "name", "");
    row->col[c++] = str_or(spec, "realmId", "");
    row->col[c++] = str_or(spec, "spaceId", "");
    row->col[c++] = str_or(spec, "stackId", "");
    row->col[c++] = str_or(spec, "cellId", "");
    const char *state = str_or(status, "state", "Unknown");
    row->col[c++] = state;
    json_int_t restarts = json_integer_value(json_object_get(status, "restartCount"));
    snprintf(row->buf[0], sizeof(row->buf[0]), "%lld", (long long)restarts);
    row->col[c++] = row->buf[0];
    const char *since = str_or(status, "startTime", NULL);
    struct timespec t;
    if (since == NULL || kuke_parse_time(since, &t) < 0 || t.tv_sec <= -62135596800LL)
        since = str_or(status, "createdAt", NULL);
    kuke_age(since, now, row->age, sizeof(row->age));
    row->col[c++] = row->age;
    row->col[c++] = str_or(spec, "image", "-");
    if (strcmp(state, "Exited") == 0 || strcmp(state, "Error") == 0) {
        snprintf(row->buf[1], sizeof(row->buf[1]), "%lld",
                 (long long)json_integer_value(json_object_get(status, "exitCode")));
        row->col[c++] = row->buf[1];
    } else {
        row->col[c++] = "-";
    }
}

json_t *kuke_container_doc(const json_t *cell, const json_t *c)
{
    const json_t *cspec = json_object_get(cell, "spec");
    const char *id = str_or(c, "id", "");
    json_t *spec = json_deep_copy(c);
    if (spec == NULL)
        return NULL;
    json_object_set_new(spec, "realmId", json_string(str_or(cspec, "realmId", "")));
    json_object_set_new(spec, "spaceId", json_string(str_or(cspec, "spaceId", "")));
    json_object_set_new(spec, "stackId", json_string(str_or(cspec, "stackId", "")));
    json_object_set_new(spec, "cellId", json_string(str_or(json_object_get(cell, "metadata"), "name", "")));
    json_t *doc = json_pack("{s:s, s:s, s:{s:s}, s:o}", "apiVersion", "v1beta1", "kind", "Container",
                            "metadata", "name", id, "spec", spec);
    if (doc == NULL)
        return NULL;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(json_object_get(cell, "status"), "containers"), i, s)
    {
        if (strcmp(str_or(s, "name", ""), id) == 0 || strcmp(str_or(s, "id", ""), id) == 0) {
            json_object_set(doc, "status", s);
            break;
        }
    }
    return doc;
}

void kuke_size(uint64_t bytes, char *buf, size_t size)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, size, "%llu B", (unsigned long long)bytes);
        return;
    }
    double v = (double)bytes / 1024.0;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < KK_ARRAY_SIZE(units)) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, size, "%.1f %s", v, units[u]);
}

/* "  Realms: 2 (a, b)": at most five names, then ", ...". */
static void refresh_line(FILE *out, const char *title, const json_t *names)
{
    size_t n = json_array_size(names), i;
    const json_t *v;
    fprintf(out, "  %s: %zu", title, n);
    if (n > 0) {
        fputs(" (", out);
        json_array_foreach(names, i, v)
        {
            if (i == 5) {
                fputs(", ...", out);
                break;
            }
            fprintf(out, "%s%s", i > 0 ? ", " : "", json_is_string(v) ? json_string_value(v) : "?");
        }
        fputc(')', out);
    }
    fputc('\n', out);
}

int kuke_refresh_print(FILE *out, const json_t *result)
{
    static const char *const kinds[] = {"Realms", "Spaces", "Stacks", "Cells", "Containers"};
    char key[32];
    fputs("Refreshed metadata status:\n", out);
    for (size_t k = 0; k < KK_ARRAY_SIZE(kinds); k++) {
        snprintf(key, sizeof(key), "%sFound", kinds[k]);
        refresh_line(out, kinds[k], json_object_get(result, key));
    }
    fputs("\nUpdated:\n", out);
    bool any = false;
    for (size_t k = 0; k < KK_ARRAY_SIZE(kinds); k++) {
        snprintf(key, sizeof(key), "%sUpdated", kinds[k]);
        const json_t *u = json_object_get(result, key);
        if (json_array_size(u) > 0) {
            refresh_line(out, kinds[k], u);
            any = true;
        }
    }
    if (!any)
        fputs("  (none)\n", out);
    fputs("\nErrors:\n", out);
    const json_t *errs = json_object_get(result, "Errors");
    size_t i;
    const json_t *e;
    json_array_foreach(errs, i, e) fprintf(out, "  - %s\n", json_is_string(e) ? json_string_value(e) : "?");
    if (json_array_size(errs) == 0)
        fputs("  (none)\n", out);
    return ferror(out) ? -1 : 0;
}
