/* The HTTP side of kuke-fetchd's distribution client (fetchd_http.c): one libcurl easy handle per
 * request, HTTPS only, the registry's 401 challenge answered (Basic, or a Bearer token fetched from
 * the token service the challenge names), redirects followed by hand so that the Authorization
 * header never leaves the registry's host, and the tarball writer (fetchd_layout.c). Internal to
 * kuke-fetchd; the serve loop sees only fetchd.h. */
#ifndef KUKEON_KUKE_FETCHD_FETCHD_HTTP_H
#define KUKEON_KUKE_FETCHD_FETCHD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* A registry conversation for one request. Strings are borrowed from the request, which outlives
 * the session; auth is the Authorization header learnt from the first challenge, reused after. */
struct fh_session {
    void *curl;                /* CURL * */
    char endpoint[272];        /* "registry-1.docker.io", "127.0.0.1:5000" */
    char path[256];            /* "library/busybox" */
    const char *image;         /* canonical name, for messages */
    const char *username;      /* "" = anonymous */
    const char *password;
    bool insecure;             /* skip TLS verification for endpoint (never for other hosts) */
    char *auth;                /* "Authorization: ..." or NULL; wiped on close */
    char errbuf[256];          /* CURLOPT_ERRORBUFFER */
};

/* Receives the body of a 200 response; returns 0, or -1 with err set to stop the transfer. */
typedef int (*fh_sink_fn)(void *opaque, const void *data, size_t len, struct kk_err *err);

struct fh_reply {
    long status;
    char content_type[128];
    char digest[80]; /* Docker-Content-Digest, "" when absent */
};

int fh_global_init(struct kk_err *err);

int fh_session_open(struct fh_session *s, const char *endpoint, const char *path, const char *image,
                    const char *username, const char *password, bool insecure, struct kk_err *err);
void fh_session_close(struct fh_session *s);

/* GET https://<endpoint>/v2/<path>/<rest> (rest: "manifests/latest", "blobs/sha256:..."), answering a
 * challenge once and following redirects; the body of the final 200 goes to sink. Any other outcome
 * fails with the kind fetchd_client.h lists and a message naming `what` ("manifest latest of image
 * X"). accept may be NULL. */
int fh_registry_get(struct fh_session *s, const char *rest, const char *accept, fh_sink_fn sink, void *opaque,
                    struct fh_reply *reply, const char *what, struct kk_err *err);

/* One parameter of a WWW-Authenticate challenge's parameter list ('realm="https://a/token",service=x'):
 * key="quoted\"value" or key=token, keys case-insensitive. 0 and the value in out when found; -1
 * when absent or longer than size. */
int fh_challenge_param(const char *params, const char *key, char *out, size_t size);
/* Whether two https URLs name the same host and port (the default port spelt out or not); false when
 * either is not https. */
bool fh_same_authority(const char *a, const char *b);

/* ---- digests (fetchd_http.c) ---- */
struct fh_sha256;
struct fh_sha256 *fh_sha256_new(struct kk_err *err);
void fh_sha256_update(struct fh_sha256 *h, const void *data, size_t len);
/* "sha256:<64 hex>" into out[72]; frees h. */
void fh_sha256_final(struct fh_sha256 *h, char out[72]);
void fh_sha256_free(struct fh_sha256 *h);
bool fh_digest_valid(const char *d);

/* ---- the OCI layout tarball (fetchd_layout.c) ---- */
struct fl_writer {
    int fd;
    uint64_t offset;
};
/* One ustar header for a regular file of size bytes (name < 100 bytes). */
int fl_header(struct fl_writer *w, const char *name, uint64_t size, struct kk_err *err);
int fl_write(struct fl_writer *w, const void *data, size_t len, struct kk_err *err);
/* Zeros up to the next 512-byte boundary, after a member's data. */
int fl_pad(struct fl_writer *w, struct kk_err *err);
int fl_file(struct fl_writer *w, const char *name, const void *data, size_t len, struct kk_err *err);
/* Two zero blocks. */
int fl_end(struct fl_writer *w, struct kk_err *err);

#endif
