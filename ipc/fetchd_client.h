/* The typed calls to kuke-fetchd (ipc/proto/fetchd.proto), and the request numbers both sides share.
 * Each call is one kk_ipc_call on the helper socket: DENIED comes back as KK_ERR_DENIED with
 * kuke-fetchd's reason, failures keep their kind (KK_ERR_NOT_FOUND: unknown repository, tag or
 * manifest; KK_ERR_PERMISSION: the registry refused the credentials; KK_ERR_UNAVAILABLE: the registry
 * cannot be reached, or TLS failed; KK_ERR_INVALID: a digest or size that does not match, a manifest
 * that does not parse). Replies are freed by the caller with
 * protobuf_c_message_free_unpacked(&(*reply)->base, NULL). */
#ifndef KUKEON_IPC_FETCHD_CLIENT_H
#define KUKEON_IPC_FETCHD_CLIENT_H

#include <stddef.h>

#include "common/err.h"
#include "ipc/frame.h"
#include "ipc/proto/fetchd.pb-c.h"

/* Request numbers (0x0400..0x04ff); replies are KK_IPC_REPLY(type). Wire values: append only. */
enum kk_fetchd_type {
    KK_FETCHD_RESOLVE = 0x0401, /* Source -> Resolved */
    KK_FETCHD_FETCH = 0x0402,   /* Fetch + fd -> FetchReply */
};

/* Bounds both sides apply. */
#define KK_FETCHD_SKIP_MAX      256u
#define KK_FETCHD_LAYERS_MAX    128u
#define KK_FETCHD_MANIFEST_MAX  (4u * 1024u * 1024u) /* an index or manifest document, bytes */

typedef Kukeon__Ipc__Fetchd__Source kk_fetchd_source;

int kk_fetchd_resolve(int sock, const kk_fetchd_source *src, Kukeon__Ipc__Fetchd__Resolved **reply,
                      struct kk_err *err);

/* out_fd: an empty regular file open for writing; the caller keeps it (and discards it on failure). */
int kk_fetchd_fetch(int sock, const kk_fetchd_source *src, const char *manifest_digest, const char *const *skip,
                    size_t n_skip, int out_fd, Kukeon__Ipc__Fetchd__FetchReply **reply, struct kk_err *err);

#endif
