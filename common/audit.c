/* The helpers' audit log: line formatting, atomic writes, rotation by size (see audit.h for who rotates). */
#include "common/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define KK_AUDIT_OPEN_FLAGS (O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY)
#define KK_AUDIT_MODE       0640

const char *kk_audit_decision_name(enum kk_audit_decision d)
{
    switch (d) {
    case KK_AUDIT_OK:
        return "ok";
    case KK_AUDIT_DENIED:
        return "denied";
    case KK_AUDIT_ERROR:
        return "error";
    case KK_AUDIT_FATAL:
        return "fatal";
    }
    return "unknown";
}

/* Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's civil_from_days). Done by hand
 * because gmtime_r may read /etc/localtime on first use, and a sandboxed helper cannot open it. */
static void civil_from_days(int64_t z, int64_t *year, unsigned *month, unsigned *day)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (int64_t)yoe + era * 400 + (*month <= 2);
}

int kk_audit_timestamp(const struct timespec *ts, char *buf, size_t size)
{
    int64_t secs = (int64_t)ts->tv_sec;
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    long ms = ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000L ? ts->tv_nsec / 1000000L : 0;
    int n = snprintf(buf, size, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03ldZ", year, month, day,
                     (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60), (unsigned)(rem % 60), ms);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* A bounded line under construction; overflow is remembered, never written past. */
struct line {
    char *buf;
    size_t size, len;
    bool overflow;
};

static void line_put(struct line *l, const char *s, size_t n)
{
    if (l->overflow || n >= l->size - l->len) {
        l->overflow = true;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
    l->buf[l->len] = '\0';
}

static void line_puts(struct line *l, const char *s)
{
    line_put(l, s, strlen(s));
}

/* A token written by code (helper, operation, key) goes out unquoted, so it must not be able to
 * contain a space, '=' or '"': anything outside [A-Za-z0-9_.-] becomes '_'. */
static void line_put_token(struct line *l, const char *s, size_t max)
{
    char tok[KK_AUDIT_OP_MAX];
    size_t n = 0;
    if (max > sizeof(tok))
        max = sizeof(tok);
    for (const char *p = s; p != NULL && *p != '\0' && n + 1 < max; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '.' || c == '-';
        tok[n++] = ok ? c : '_';
    }
    if (n == 0)
        tok[n++] = '-';
    line_put(l, tok, n);
}

static void line_put_quoted(struct line *l, const char *value, size_t max)
{
    char esc[KK_AUDIT_REASON_MAX];
    if (max > sizeof(esc))
        max = sizeof(esc);
    kk_log_escape(value != NULL ? value : "", esc, max);
    line_puts(l, "\"");
    line_puts(l, esc);
    line_puts(l, "\"");
}

int kk_audit_format(char *buf, size_t size, const char *helper, const struct timespec *now,
                    const struct kk_audit_event *ev, struct kk_err *err)
{
    if (size < 2)
        return kk_error(err, KK_ERR_INTERNAL, 0, "audit line buffer of %zu bytes", size);
    struct line l = {.buf = buf, .size = size - 1 /* the '\n' always fits */};
    buf[0] = '\0';

    char ts[32];
    if (kk_audit_timestamp(now, ts, sizeof(ts)) < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "formatting the audit time stamp");
    char id[16];
    snprintf(id, sizeof(id), "%" PRIu32, ev->request_id);

    line_puts(&l, ts);
    line_puts(&l, " helper=");
    line_put_token(&l, helper, KK_AUDIT_HELPER_MAX);
    line_puts(&l, " request=");
    line_puts(&l, id);
    line_puts(&l, " op=");
    line_put_token(&l, ev->operation, KK_AUDIT_OP_MAX);
    size_t n_names = ev->n_names < KK_AUDIT_NAMES_MAX ? ev->n_names : KK_AUDIT_NAMES_MAX;
    for (size_t i = 0; ev->names != NULL && i < n_names; i++) {
        line_puts(&l, " ");
        line_put_token(&l, ev->names[i].key, KK_AUDIT_KEY_MAX);
        line_puts(&l, "=");
        line_put_quoted(&l, ev->names[i].value, KK_AUDIT_VALUE_MAX);
    }
    line_puts(&l, " decision=");
    line_puts(&l, kk_audit_decision_name(ev->decision));
    if (ev->reason != NULL && ev->reason[0] != '\0') {
        line_puts(&l, " reason=");
        line_put_quoted(&l, ev->reason, KK_AUDIT_REASON_MAX);
    }
    if (l.overflow)
        return kk_error(err, KK_ERR_INTERNAL, 0, "audit line does not fit in %zu bytes", size);
    buf[l.len++] = '\n';
    buf[l.len] = '\0';
    return (int)l.len;
}

static int valid_helper_name(const char *helper)
{
    size_t n = helper != NULL ? strnlen(helper, KK_AUDIT_HELPER_MAX) : 0;
    if (n == 0 || n >= KK_AUDIT_HELPER_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = helper[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
            return 0;
    }
    return 1;
}

int kk_audit_default_path(const char *helper, char *buf, size_t size, struct kk_err *err)
{
    if (!valid_helper_name(helper))
        return kk_error(err, KK_ERR_INVALID, 0, "audit log: helper name must be 1-%d bytes of [a-z0-9-]",
                        KK_AUDIT_HELPER_MAX - 1);
    return kk_snprintf(buf, size, err, "audit log path", "%s/%s.log", KK_AUDIT_DEFAULT_DIR, helper);
}

static int audit_init(struct kk_audit *a, const char *helper, struct kk_err *err)
{
    memset(a, 0, sizeof(*a));
    a->fd = -1;
    if (!valid_helper_name(helper))
        return kk_error(err, KK_ERR_INVALID, 0, "audit log: helper name must be 1-%d bytes of [a-z0-9-]",
                        KK_AUDIT_HELPER_MAX - 1);
    memcpy(a->helper, helper, strlen(helper) + 1);
    return 0;
}

static int audit_rotate(struct kk_audit *a, struct kk_err *err)
{
    char older[KK_AUDIT_PATH_MAX + 2];
    if (kk_snprintf(older, sizeof(older), err, "rotated audit log path", "%s.1", a->path) < 0)
        return -1;
    if (rename(a->path, older) < 0)
        return kk_error(err, KK_ERR_PERMISSION, errno, "rotating audit log %s to %s", a->path, older);
    int fd = open(a->path, KK_AUDIT_OPEN_FLAGS, KK_AUDIT_MODE);
    if (fd < 0)
        return kk_error(err, KK_ERR_PERMISSION, errno, "reopening audit log %s after rotation", a->path);
    kk_closep(&a->fd);
    a->fd = fd;
    return 0;
}

/* Rotate when len more bytes would take the file over max_bytes; an empty file is never rotated,
 * so one oversized line cannot make a rotation loop. */
static void audit_maybe_rotate(struct kk_audit *a, size_t len)
{
    if (!a->owns_path || a->max_bytes == 0)
        return;
    struct stat st;
    if (fstat(a->fd, &st) < 0 || st.st_size <= 0 || (uint64_t)st.st_size + len <= a->max_bytes)
        return;
    struct kk_err err;
    if (audit_rotate(a, &err) < 0) {
        /* Keep writing to what we have: losing audit lines is worse than an over-long file. */
        kk_warn("%s; audit lines keep going to the current file, rotation is off", err.msg);
        a->owns_path = false;
    }
}

int kk_audit_open(struct kk_audit *a, const char *helper, const char *path, uint64_t max_bytes,
                  struct kk_err *err)
{
    if (audit_init(a, helper, err) < 0)
        return -1;
    if (path == NULL) {
        if (kk_audit_default_path(helper, a->path, sizeof(a->path), err) < 0)
            return -1;
    } else if (kk_snprintf(a->path, sizeof(a->path), err, "audit log path", "%s", path) < 0) {
        return -1;
    }
    a->fd = open(a->path, KK_AUDIT_OPEN_FLAGS, KK_AUDIT_MODE);
    if (a->fd < 0)
        return kk_error(
            err, errno == EACCES || errno == EPERM ? KK_ERR_PERMISSION : KK_ERR_UNAVAILABLE, errno,
            "opening audit log %s (create its directory, or configure another audit log path)", a->path);
    a->owns_path = true;
    a->max_bytes = max_bytes;
    audit_maybe_rotate(a, 1);
    return 0;
}

int kk_audit_use_fd(struct kk_audit *a, const char *helper, int fd, struct kk_err *err)
{
    if (audit_init(a, helper, err) < 0)
        return -1;
    if (fd < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "audit log: invalid fd %d", fd);
    a->fd = fd;
    return 0;
}

void kk_audit_close(struct kk_audit *a)
{
    kk_closep(&a->fd);
    a->owns_path = false;
}

int kk_audit_append(struct kk_audit *a, const char *data, size_t len, struct kk_err *err)
{
    if (a->fd < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "audit log is not open");
    if (len == 0)
        return 0;
    audit_maybe_rotate(a, len);
    ssize_t n;
    do
        n = write(a->fd, data, len);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return kk_error(err, KK_ERR_UNAVAILABLE, errno, "writing audit log %s",
                        a->path[0] ? a->path : "(fd)");
    if ((size_t)n != len)
        return kk_error(err, KK_ERR_UNAVAILABLE, 0, "writing audit log %s: short write (%zd of %zu bytes)",
                        a->path[0] ? a->path : "(fd)", n, len);
    return 0;
}

int kk_audit_log(struct kk_audit *a, const struct kk_audit_event *ev, struct kk_err *err)
{
    char line[KK_AUDIT_LINE_MAX];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int n = kk_audit_format(line, sizeof(line), a->helper, &now, ev, err);
    if (n < 0)
        return -1;
    return kk_audit_append(a, line, (size_t)n, err);
}
