/* kuke-fetchd's serve side (fetchd_serve.c): the dispatch table, the checks every request passes
 * before anything is fetched, and what runs before the sandbox. The distribution client it calls is
 * fetchd.h. */
#ifndef KUKEON_KUKE_FETCHD_FETCHD_SERVE_H
#define KUKEON_KUKE_FETCHD_FETCHD_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/imageref.h"
#include "ipc/dispatch.h"
#include "ipc/proto/fetchd.pb-c.h"

/* Bounds on what a request may carry (beyond fetchd_client.h's). */
#define FETCHD_USERNAME_MAX 256
#define FETCHD_PASSWORD_MAX 8192 /* registry tokens used as passwords run to a few KiB (ECR) */
#define FETCHD_PLATFORM_MAX 32   /* os, architecture, variant */

struct fetchd_state {
    uint64_t bytes_fetched; /* blob bytes over all FETCH requests of this process */
    uint64_t blobs_fetched;
};

extern const struct kk_ipc_dispatch fetchd_table[];
extern const size_t fetchd_table_size;

/* Before the sandbox: the distribution client's fetchd_init (libcurl, the CA bundle, the resolver). */
int fetchd_acquire(const struct kk_config *cfg, void *ctx, struct kk_err *err);
int fetchd_status(struct kk_ipc_status_details *d, void *ctx, struct kk_err *err);

/* The checks of a Source, in full, with nothing fetched: ref parses (into ref) and is not
 * kukeon.internal, username and password printable and bounded, a password only with a username,
 * the platform fields short [a-z0-9_]. 0, or -1 with err->msg saying what is wrong (never showing
 * the password). */
int fetchd_source_check(const Kukeon__Ipc__Fetchd__Source *src, struct kk_imageref *ref, struct kk_err *err);

/* The descriptor of a FETCH: a regular file, empty, open for writing. */
int fetchd_out_fd_check(int fd, struct kk_err *err);

#endif
