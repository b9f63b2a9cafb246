/* Small shared utilities (see util.h). */
#include "common/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void kk_freep(void *p)
{
    free(*(void **)p);
}

void kk_closep(int *fd)
{
    if (*fd >= 0) {
        int saved = errno;
        close(*fd);
        errno = saved;
        *fd = -1;
    }
}

void kk_fclosep(FILE **f)
{
    if (*f != NULL) {
        fclose(*f);
        *f = NULL;
    }
}

int kk_snprintf(char *buf, size_t size, struct kk_err *err, const char *what, const char *fmt, ...)
{
    if (size == 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "formatting %s: no room at all", what);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    /* A cut string must not be usable by a caller that forgets to check: leave it empty. */
    if (n < 0) {
        buf[0] = '\0';
        return kk_error(err, KK_ERR_INTERNAL, errno, "formatting %s", what);
    }
    if ((size_t)n >= size) {
        buf[0] = '\0';
        return kk_error(err, KK_ERR_INVALID, 0, "%s is too long (%d bytes, at most %zu)", what, n, size - 1);
    }
    return 0;
}

int kk_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strnlen(src, size);
    if (len >= size)
        return -1;
    memcpy(dst, src, len + 1);
    return 0;
}

int kk_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    uint64_t v = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int kk_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (s == NULL)
        return -1;
    bool neg = (*s == '-');
    uint64_t mag;
    if (kk_parse_u64(neg ? s + 1 : s, 0, neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, &mag) < 0)
        return -1;
    int64_t v = neg ? (mag == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)mag) : (int64_t)mag;
    if (v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

bool kk_str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}
