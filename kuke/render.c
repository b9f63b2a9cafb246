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
