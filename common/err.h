/* The one error convention of Kukeon: a function that can fail takes `struct kk_err *err` last,
 * returns a negative value on failure and fills err; callers add context while unwinding. */
#ifndef KUKEON_COMMON_ERR_H
#define KUKEON_COMMON_ERR_H

#include <stddef.h>

/* Error kinds, named as the kukeonv1 API names them (kukeon-reference.md section 6). */
enum kk_err_kind {
    KK_ERR_UNKNOWN = 0,
    KK_ERR_INVALID,          /* bad input: a name, a flag, a manifest field */
    KK_ERR_NOT_FOUND,        /* a resource that does not exist */
    KK_ERR_EXISTS,           /* a resource that already exists */
    KK_ERR_PERMISSION,       /* the caller may not do this */
    KK_ERR_UNAVAILABLE,      /* a peer (daemon, helper, containerd) is not there */
    KK_ERR_DENIED,           /* a helper refused a well-formed request */
    KK_ERR_INTERNAL,         /* a bug or a broken invariant */
};

#define KK_ERR_MSG_MAX 1024

struct kk_err {
    enum kk_err_kind kind;
    int errnum;               /* errno when a system call failed, else 0 */
    char msg[KK_ERR_MSG_MAX]; /* what failed, on which object, and what to do next */
};

/* Set err (if not NULL) and return -1. errnum != 0 appends ": <strerror>". */
int kk_error(struct kk_err *err, enum kk_err_kind kind, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prefix context to an error already set: "<context>: <old message>". Returns -1. */
int kk_error_wrap(struct kk_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kk_err_clear(struct kk_err *err);
const char *kk_err_kind_name(enum kk_err_kind kind);

#endif
