/* Small shared utilities: cleanup attributes so every early return releases what it holds,
 * bounded string helpers, and strict integer parsing (no atoi anywhere). */
#ifndef KUKEON_COMMON_UTIL_H
#define KUKEON_COMMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/err.h"

void kk_freep(void *p);
void kk_closep(int *fd);
void kk_fclosep(FILE **f);
#define _cleanup_free_   __attribute__((cleanup(kk_freep)))
#define _cleanup_close_  __attribute__((cleanup(kk_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(kk_fclosep)))

#define KK_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Take ownership out of a cleanup variable. */
#define KK_STEAL(p)                                                                                          \
    ({                                                                                                       \
        __typeof__(p) kk_steal_tmp_ = (p);                                                                   \
        (p) = NULL;                                                                                          \
        kk_steal_tmp_;                                                                                       \
    })
#define KK_STEAL_FD(fd)                                                                                      \
    ({                                                                                                       \
        int kk_steal_fd_ = (fd);                                                                             \
        (fd) = -1;                                                                                           \
        kk_steal_fd_;                                                                                        \
    })

/* snprintf that reports truncation as an error: returns 0 or -1 (err set, naming what). */
int kk_snprintf(char *buf, size_t size, struct kk_err *err, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Copy src into dst (size bytes); -1 when it does not fit. */
int kk_strlcpy(char *dst, const char *src, size_t size);

/* Parse a whole decimal string into [min, max]; no sign for unsigned, no spaces, no trailing bytes. */
int kk_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int kk_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

bool kk_str_has_prefix(const char *s, const char *prefix);

#endif
