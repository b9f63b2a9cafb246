/* kuke-fetchd's dispatch table and request handlers: check every field of a request, refuse (DENIED,
 * with the reason) what does not pass, and only then hand it to the distribution client (fetchd.h).
 * The serve loop writes one audit line per decision with the names recorded here: the image, the
 * registry host, the user name, the outcome and what was transferred; never the password. */
#include "kuke-fetchd/fetchd_serve.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "ipc/fetchd_client.h"
#include "kuke-fetchd/fetchd.h"

#define FETCHD(ctx) ((struct fetchd_state *)(ctx))

/* Printable ASCII (space allowed only where allow_space), at most max bytes. */
static bool text_ok(const char *s, size_t max, bool allow_space)
{
    size_t n = strnlen(s, max + 1);
    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f || (c == ' ' && !allow_space))
            return false;
    }
    return true;
}

/* os, architecture, variant: "" or [a-z0-9_] up to FETCHD_PLATFORM_MAX ("linux", "arm64", "v8"). */
static bool platform_ok(const char *s)
{
    size_t n = strnlen(s, FETCHD_PLATFORM_MAX + 1);
    if (n > FETCHD_PLATFORM_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

int fetchd_source_check(const Kukeon__Ipc__Fetchd__Source *src, struct kk_imageref *ref, struct kk_err *err)
{
    if (src == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "the request names no image (source is missing)");
    if (kk_imageref_parse(src->ref, ref, err) < 0)
        return -1;
    if (kk_imageref_internal(ref))
        return kk_error(err, KK_ERR_INVALID, 0,
                        "image reference \"%.100s\": registry %s holds images Kukeon makes itself; they are "
                        "never pulled",
                        src->ref, KK_IMAGEREF_INTERNAL_DOMAIN);
    /* HTTP Basic joins them with ':', so a user name cannot hold one. */
    if (!text_ok(src->username, FETCHD_USERNAME_MAX, false) || strchr(src->username, ':') != NULL)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "user name for %s: printable ASCII without spaces or ':', at most %d bytes",
                        ref->domain, FETCHD_USERNAME_MAX);
    if (!text_ok(src->password, FETCHD_PASSWORD_MAX, true))
        return kk_error(err, KK_ERR_INVALID, 0, "password for %s: printable ASCII, at most %d bytes",
                        ref->domain, FETCHD_PASSWORD_MAX);
    if (src->password[0] != '\0' && src->username[0] == '\0')
        return kk_error(err, KK_ERR_INVALID, 0, "password for %s without a user name; give both, or neither",
                        ref->domain);
    if (!platform_ok(src->os) || !platform_ok(src->architecture) || !platform_ok(src->variant))
        return kk_error(err, KK_ERR_INVALID, 0,
                        "platform for %s: os, architecture and variant are [a-z0-9_], at most %d bytes",
                        src->ref, FETCHD_PLATFORM_MAX);
    return 0;
}

int fetchd_out_fd_check(int fd, struct kk_err *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kk_error(err, KK_ERR_INVALID, errno, "the descriptor of the request cannot be examined");
    if (!S_ISREG(st.st_mode))
        return kk_error(err, KK_ERR_INVALID, 0,
                        "the descriptor of the request is not a regular file (it is %s); hand over an empty "
                        "file opened for writing",
                        S_ISDIR(st.st_mode)    ? "a directory"
                        : S_ISFIFO(st.st_mode) ? "a pipe"
                        : S_ISSOCK(st.st_mode) ? "a socket"
                        : S_ISCHR(st.st_mode)  ? "a character device"
                        : S_ISBLK(st.st_mode)  ? "a block device"
                                               : "not a file");
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return kk_error(err, KK_ERR_INVALID, errno, "the descriptor of the request cannot be examined");
    int mode = fl & O_ACCMODE;
    if (mode != O_WRONLY && mode != O_RDWR)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "the file of the request is not open for writing; open it O_WRONLY or O_RDWR");
    if (st.st_size != 0)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "the file of the request is not empty (%lld bytes); hand over an empty file",
                        (long long)st.st_size);
    return 0;
}

/* The checks shared by both requests; records the validated names for the audit line. */
static int source_admit(struct kk_ipc_request *req, const Kukeon__Ipc__Fetchd__Source *src,
                        struct kk_imageref *ref, struct kk_err *err)
{
    struct kk_err e;
    if (fetchd_source_check(src, ref, &e) < 0)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE, "%s", e.msg);
    char name[KK_IMAGEREF_STR_MAX];
    if (kk_imageref_name(ref, name, sizeof(name), err) < 0)
        return -1;
    kk_ipc_audit_name(req, "image", name);
    kk_ipc_audit_name(req, "registry", kk_imageref_endpoint(ref));
    if (src->username[0] != '\0')
        kk_ipc_audit_name(req, "user", src->username);
    if (src->insecure_skip_tls_verify)
        kk_ipc_audit_name(req, "tls", "insecure-skip-verify");
    return 0;
}

/* The password is the request's only: once the request is answered it is wiped from the unpacked
 * message (which the loop then frees), so that no freed heap block keeps it. */
static void source_forget(const Kukeon__Ipc__Fetchd__Source *src)
{
    if (src != NULL && src->password != NULL)
        explicit_bzero(src->password, strlen(src->password));
}

static int h_resolve(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx, struct kk_err *err)
{
    const Kukeon__Ipc__Fetchd__Source *src = (const void *)msg;
    struct kk_imageref ref;
    if (source_admit(req, src, &ref, err) < 0) {
        source_forget(src);
        return -1;
    }
    Kukeon__Ipc__Fetchd__Resolved out = KUKEON__IPC__FETCHD__RESOLVED__INIT;
    int rc = fetchd_resolve(src, &out, err);
    source_forget(src);
    if (rc == 0) {
        if (out.manifest != NULL && out.manifest->digest != NULL)
            kk_ipc_audit_name(req, "manifest", out.manifest->digest);
        char layers[16];
        snprintf(layers, sizeof(layers), "%zu", out.n_layers);
        kk_ipc_audit_name(req, "layers", layers);
        rc = kk_ipc_reply(req, &out.base, -1, err);
    }
    fetchd_resolved_clear(&out);
    return rc;
}

static int h_fetch_checked(struct kk_ipc_request *req, const Kukeon__Ipc__Fetchd__Fetch *m, void *ctx,
                           struct kk_err *err)
{
    struct kk_imageref ref;
    if (source_admit(req, m->source, &ref, err) < 0)
        return -1;
    if (!kk_imageref_digest_valid(m->manifest_digest))
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE,
                           "manifest digest for %.100s: sha256: and 64 lowercase hex digits (from RESOLVE)",
                           m->source->ref);
    kk_ipc_audit_name(req, "manifest", m->manifest_digest);
    if (m->n_skip > KK_FETCHD_SKIP_MAX)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE, "%zu blobs to skip; at most %u", m->n_skip,
                           KK_FETCHD_SKIP_MAX);
    for (size_t i = 0; i < m->n_skip; i++)
        if (!kk_imageref_digest_valid(m->skip[i]))
            return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE,
                               "skip entry %zu is not sha256: and 64 lowercase hex digits", i);
    struct kk_err e;
    int fd = kk_ipc_request_fd(req);
    if (fetchd_out_fd_check(fd, &e) < 0)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE, "%s", e.msg);
    Kukeon__Ipc__Fetchd__FetchReply out = KUKEON__IPC__FETCHD__FETCH_REPLY__INIT;
    int rc = fetchd_fetch(m, fd, &out, err);
    char n[32];
    snprintf(n, sizeof(n), "%" PRIu32 "/%" PRIu32, out.blobs_fetched, out.blobs_skipped);
    kk_ipc_audit_name(req, "blobs", n);
    snprintf(n, sizeof(n), "%" PRIu64, out.bytes_fetched);
    kk_ipc_audit_name(req, "bytes", n);
    FETCHD(ctx)->bytes_fetched += out.bytes_fetched;
    FETCHD(ctx)->blobs_fetched += out.blobs_fetched;
    if (rc == 0)
        rc = kk_ipc_reply(req, &out.base, -1, err);
    return rc;
}

static int h_fetch(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx, struct kk_err *err)
{
    const Kukeon__Ipc__Fetchd__Fetch *m = (const void *)msg;
    int rc = h_fetch_checked(req, m, ctx, err);
    source_forget(m->source);
    return rc;
}

int fetchd_acquire(const struct kk_config *cfg, void *ctx, struct kk_err *err)
{
    return fetchd_init(err);
}

int fetchd_status(struct kk_ipc_status_details *d, void *ctx, struct kk_err *err)
{
    char b[32], n[32];
    snprintf(b, sizeof(b), "%" PRIu64, FETCHD(ctx)->bytes_fetched);
    snprintf(n, sizeof(n), "%" PRIu64, FETCHD(ctx)->blobs_fetched);
    if (kk_ipc_status_add(d, "bytes_fetched", b, err) < 0 ||
        kk_ipc_status_add(d, "blobs_fetched", n, err) < 0)
        return -1;
    return 0;
}

#define D(type, name, fd, msgname, handler)                                                                  \
    {                                                                                                        \
        (type), (name), KK_IPC_PERMIT, (fd), &kukeon__ipc__fetchd__##msgname##__descriptor, (handler)        \
    }

const struct kk_ipc_dispatch fetchd_table[] = {
    D(KK_FETCHD_RESOLVE, "image.resolve", false, source, h_resolve),
    /* The tarball goes into a descriptor the caller opened: kuke-fetchd never opens a file to write. */
    D(KK_FETCHD_FETCH, "image.fetch", true, fetch, h_fetch),
};
const size_t fetchd_table_size = KK_ARRAY_SIZE(fetchd_table);
