/* kuke-fetchd's distribution client: the OCI distribution API over HTTPS (libcurl), used by the serve
 * loop (fetchd_serve.c) for RESOLVE and FETCH (ipc/proto/fetchd.proto). Nothing here keeps state
 * between requests except what fetchd_init loads before the sandbox closes: the CA bundle in memory
 * and libcurl's global state. Passwords from a request are used for the request only and never
 * appear in a message, a log line or a reply. See docs/fetchd.md. */
#ifndef KUKEON_KUKE_FETCHD_FETCHD_H
#define KUKEON_KUKE_FETCHD_FETCHD_H

#include "common/err.h"
#include "ipc/proto/fetchd.pb-c.h"

/* Before the sandbox: curl_global_init, read the CA bundle (/etc/ssl/certs/ca-certificates.crt)
 * into memory for CURLOPT_CAINFO_BLOB, warm up the resolver (loads NSS modules and resolver files
 * while opening them is still allowed). */
int fetchd_init(struct kk_err *err);

/* RESOLVE: fetch the manifest the ref names (through an index, picking the platform), verify the
 * digests, describe it in out. out's strings and arrays are malloc'd: free with
 * fetchd_resolved_clear (also safe after a failure). */
int fetchd_resolve(const Kukeon__Ipc__Fetchd__Source *src, Kukeon__Ipc__Fetchd__Resolved *out, struct kk_err *err);
void fetchd_resolved_clear(Kukeon__Ipc__Fetchd__Resolved *r);

/* FETCH: write the OCI image layout tarball of req into out_fd (an empty regular file), in the
 * order fetchd.proto gives, leaving out req->skip. On failure the file holds a partial tarball the
 * caller must discard. out has no pointers. */
int fetchd_fetch(const Kukeon__Ipc__Fetchd__Fetch *req, int out_fd, Kukeon__Ipc__Fetchd__FetchReply *out,
                 struct kk_err *err);

#endif
