/* Error objects: formatting and context wrapping (see err.h). */
#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int kk_error(struct kk_err *err, enum kk_err_kind kind, int errnum, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    err->kind = kind;
    err->errnum = errnum;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        err->msg[0] = '\0';
    if (errnum != 0) {
        size_t len = strnlen(err->msg, sizeof(err->msg));
        char ebuf[128];
        const char *es = strerror_r(errnum, ebuf, sizeof(ebuf));
        snprintf(err->msg + len, sizeof(err->msg) - len, ": %s", es);
    }
    return -1;
}

int kk_error_wrap(struct kk_err *err, const char *fmt, ...)
{
    if (err == NULL)
        return -1;
    char prefix[KK_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    /* Assemble "<prefix>: <old>" by hand: both halves are bounded, the result is truncated. */
    char joined[KK_ERR_MSG_MAX];
    size_t plen = strnlen(prefix, sizeof(joined) - 1);
    memcpy(joined, prefix, plen);
    size_t pos = plen;
    size_t olen = strnlen(err->msg, sizeof(err->msg));
    if (olen > 0 && pos + 2 < sizeof(joined)) {
        joined[pos++] = ':';
        joined[pos++] = ' ';
    }
    if (olen > sizeof(joined) - 1 - pos)
        olen = sizeof(joined) - 1 - pos;
    memcpy(joined + pos, err->msg, olen);
    pos += olen;
    joined[pos] = '\0';
    memcpy(err->msg, joined, pos + 1);
    return -1;
}

void kk_err_clear(struct kk_err *err)
{
    if (err != NULL) {
        err->kind = KK_ERR_UNKNOWN;
        err->errnum = 0;
        err->msg[0] = '\0';
    }
}

const char *kk_err_kind_name(enum kk_err_kind kind)
{
    switch (kind) {
    case KK_ERR_INVALID:
        return "Invalid";
    case KK_ERR_NOT_FOUND:
        return "NotFound";
    case KK_ERR_EXISTS:
        return "Exists";
    case KK_ERR_PERMISSION:
        return "Permission";
    case KK_ERR_UNAVAILABLE:
        return "Unavailable";
    case KK_ERR_DENIED:
        return "Denied";
    case KK_ERR_INTERNAL:
        return "Internal";
    case KK_ERR_UNKNOWN:
        break;
    }
    return "Unknown";
}
