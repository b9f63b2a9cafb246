/* The OCI distribution client behind RESOLVE and FETCH (fetchd.proto): manifests and indexes read
 * and verified, the host's platform picked from an index, blobs streamed into the caller's file as
 * an OCI image layout, each checked against its digest and size on the way.
 *
 * Every document is trusted only as far as its digest: a manifest must hash to what the registry said
 * (Docker-Content-Digest), to what the reference or the parent index named, and for FETCH to the
 * manifest_digest RESOLVE returned. Blob bytes are hashed as they are written; a mismatch fails the
 * request and the caller throws the file away (kuke-ctrd checks every digest again on import).
 * Docker schema 1 manifests (signed, no content-addressed config) are refused. */
#include "kuke-fetchd/fetchd.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>

#include <jansson.h>

#include "common/imageref.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/fetchd_client.h"
#include "kuke-fetchd/fetchd_http.h"

#define MT_ACCEPT    KK_MT_OCI_INDEX ", " KK_MT_OCI_MANIFEST ", " KK_MT_DOCKER_LIST ", " KK_MT_DOCKER_MANIFEST
#define FR_INDEX_MAX       256 /* entries of an index looked at */
#define FR_WHAT_MAX        (KK_IMAGEREF_STR_MAX + 128) /* "manifest sha256:... of image <name>" */

static char fr_host_arch[32] = "amd64";
static char fr_host_variant[16];

/* uname -m in GOARCH spelling, as indexes name platforms. */
static void fr_detect_arch(void)
{
    static const struct {
        const char *uname, *goarch, *variant;
    } map[] = {
        {"x86_64", "amd64", ""},   {"aarch64", "arm64", ""},   {"arm64", "arm64", ""},
        {"armv7l", "arm", "v7"},   {"armv6l", "arm", "v6"},    {"i386", "386", ""},
        {"i686", "386", ""},       {"ppc64le", "ppc64le", ""}, {"s390x", "s390x", ""},
        {"riscv64", "riscv64", ""}, {"mips64", "mips64", ""},  {"loongarch64", "loong64", ""},
    };
    struct utsname u;
    if (uname(&u) < 0)
        return;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(u.machine, map[i].uname) == 0) {
            kk_strlcpy(fr_host_arch, map[i].goarch, sizeof(fr_host_arch));
            kk_strlcpy(fr_host_variant, map[i].variant, sizeof(fr_host_variant));
            return;
        }
    }
    kk_strlcpy(fr_host_arch, u.machine, sizeof(fr_host_arch));
}

int fetchd_init(struct kk_err *err)
{
    fr_detect_arch();
    if (fh_global_init(err) < 0)
        return -1;
    /* Load the resolver's configuration and NSS modules now, while the process may still open and
     * map them; in the sandbox only reading resolver files is left. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    if (getaddrinfo("localhost", "443", &hints, &res) == 0)
        freeaddrinfo(res);
    return 0;
}

/* ---- documents --------------------------------------------------------------------------------- */

/* A manifest or index as fetched: its bytes, digest, media type and JSON. */
struct fr_doc {
    char *buf;
    size_t len;
    char digest[72];
    char media_type[128];
    json_t *json;
};

static void fr_doc_free(struct fr_doc *d)
{
    free(d->buf);
    json_decref(d->json);
    memset(d, 0, sizeof(*d));
}

struct fr_mem {
    struct fr_doc *doc;
    size_t max;
    const char *what;
};

static int fr_mem_sink(void *opaque, const void *data, size_t len, struct kk_err *err)
{
    struct fr_mem *m = opaque;
    struct fr_doc *d = m->doc;
    if (d->len + len > m->max)
        return kk_error(err, KK_ERR_INVALID, 0, "%s is larger than %zu bytes", m->what, m->max);
    char *nb = realloc(d->buf, d->len + len + 1);
    if (nb == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "%s", m->what);
    d->buf = nb;
    memcpy(d->buf + d->len, data, len);
    d->len += len;
    d->buf[d->len] = '\0';
    return 0;
}

/* GET manifests/<reference>, verified: it hashes to what the registry says, to expect_digest when
 * given (and has expect_size when not 0); schema 1 refused; media type from the document (else the
 * Content-Type, else guessed from its fields as the OCI spec allows). */
static int fr_get_doc(struct fh_session *s, const char *reference, const char *expect_digest, uint64_t expect_size,
                      struct fr_doc *d, const char *what, struct kk_err *err)
{
    memset(d, 0, sizeof(*d));
    char rest[128 + 16];
    snprintf(rest, sizeof(rest), "manifests/%s", reference);
    struct fr_mem m = {.doc = d, .max = KK_FETCHD_MANIFEST_MAX, .what = what};
    struct fh_reply r = {0};
    if (fh_registry_get(s, rest, MT_ACCEPT, fr_mem_sink, &m, &r, what, err) < 0)
        goto fail;
    struct fh_sha256 *h = fh_sha256_new(err);
    if (h == NULL)
        goto fail;
    fh_sha256_update(h, d->buf != NULL ? d->buf : "", d->len);
    fh_sha256_final(h, d->digest);
    if (kk_str_has_prefix(r.digest, "sha256:") && strcmp(r.digest, d->digest) != 0) {
        char esc[96];
        kk_log_escape(r.digest, esc, sizeof(esc));
        kk_error(err, KK_ERR_INVALID, 0, "%s: the registry names it %s but sent %s (%zu bytes)", what, esc, d->digest,
                 d->len);
        goto fail;
    }
    if (expect_digest != NULL && strcmp(expect_digest, d->digest) != 0) {
        kk_error(err, KK_ERR_INVALID, 0, "%s: the registry sent %s (%zu bytes), not %s", what, d->digest, d->len,
                 expect_digest);
        goto fail;
    }
    if (expect_size != 0 && expect_size != d->len) {
        kk_error(err, KK_ERR_INVALID, 0, "%s: the registry sent %zu bytes, not the %llu its index names", what,
                 d->len, (unsigned long long)expect_size);
        goto fail;
    }
    json_error_t je;
    d->json = json_loadb(d->buf != NULL ? d->buf : "", d->len, 0, &je);
    if (!json_is_object(d->json)) {
        kk_error(err, KK_ERR_INVALID, 0, "%s is not a JSON object: %s", what,
                 d->json == NULL ? je.text : "another JSON value");
        goto fail;
    }
    const char *mt = json_string_value(json_object_get(d->json, "mediaType"));
    json_int_t schema = json_integer_value(json_object_get(d->json, "schemaVersion"));
    if (schema == 1 || strstr(mt != NULL ? mt : r.content_type, "distribution.manifest.v1") != NULL) {
        kk_error(err, KK_ERR_INVALID, 0,
                 "%s is a Docker schema 1 manifest, which Kukeon does not pull; push the image again with "
                 "a current docker or skopeo (schema 2 or OCI)",
                 what);
        goto fail;
    }
    if (mt == NULL || mt[0] == '\0')
        mt = r.content_type;
    if (!kk_media_is_index(mt) && !kk_media_is_manifest(mt)) {
        if (json_object_get(d->json, "manifests") != NULL)
            mt = KK_MT_OCI_INDEX;
        else if (json_object_get(d->json, "config") != NULL && json_object_get(d->json, "layers") != NULL)
            mt = KK_MT_OCI_MANIFEST;
        else {
            char esc[130];
            kk_log_escape(mt, esc, sizeof(esc));
            kk_error(err, KK_ERR_INVALID, 0, "%s has media type \"%s\", neither an image manifest nor an index",
                     what, esc);
            goto fail;
        }
    }
    kk_strlcpy(d->media_type, mt, sizeof(d->media_type));
    return 0;
fail:
    fr_doc_free(d);
    return -1;
}

/* A descriptor of a document, checked: sha256 digest, a size, a printable media type. */
static int fr_desc(const json_t *j, Kukeon__Ipc__Fetchd__Descriptor **out, const char *what, struct kk_err *err)
{
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    const char *dg = json_string_value(json_object_get(j, "digest"));
    const json_t *sz = json_object_get(j, "size");
    if (!json_is_object(j) || dg == NULL || !json_is_integer(sz) || json_integer_value(sz) < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "%s: a descriptor lacks its digest or size", what);
    if (!fh_digest_valid(dg)) {
        char esc[100];
        kk_log_escape(dg, esc, sizeof(esc));
        return kk_error(err, KK_ERR_INVALID, 0, "%s: descriptor digest \"%s\" is not sha256:<64 hex>", what, esc);
    }
    if (mt != NULL && !kk_media_printable(mt, 256))
        return kk_error(err, KK_ERR_INVALID, 0, "%s: descriptor %s has an unusable media type", what, dg);
    Kukeon__Ipc__Fetchd__Descriptor *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "%s", what);
    kukeon__ipc__fetchd__descriptor__init(d);
    d->media_type = strdup(mt != NULL ? mt : "");
    d->digest = strdup(dg);
    d->size = (uint64_t)json_integer_value(sz);
    if (d->media_type == NULL || d->digest == NULL) {
        free(d->media_type);
        free(d->digest);
        free(d);
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "%s", what);
    }
    *out = d;
    return 0;
}

static void fr_desc_free(Kukeon__Ipc__Fetchd__Descriptor *d)
{
    if (d == NULL)
        return;
    if ((const char *)d->media_type != protobuf_c_empty_string)
        free(d->media_type);
    if ((const char *)d->digest != protobuf_c_empty_string)
        free(d->digest);
    free(d);
}

void fetchd_resolved_clear(Kukeon__Ipc__Fetchd__Resolved *r)
{
    if (r == NULL)
        return;
    if ((const char *)r->name != protobuf_c_empty_string)
        free(r->name);
    if ((const char *)r->index_digest != protobuf_c_empty_string)
        free(r->index_digest);
    fr_desc_free(r->manifest);
    fr_desc_free(r->config);
    for (size_t i = 0; i < r->n_layers; i++)
        fr_desc_free(r->layers[i]);
    free(r->layers);
    kukeon__ipc__fetchd__resolved__init(r);
}

/* config and layers of an image manifest, into r. */
static int fr_manifest_parts(const json_t *m, Kukeon__Ipc__Fetchd__Resolved *r, const char *what, struct kk_err *err)
{
    if (fr_desc(json_object_get(m, "config"), &r->config, what, err) < 0)
        return kk_error_wrap(err, "its config");
    const json_t *ls = json_object_get(m, "layers");
    if (!json_is_array(ls) || json_array_size(ls) == 0)
        return kk_error(err, KK_ERR_INVALID, 0, "%s lists no layers", what);
    if (json_array_size(ls) > KK_FETCHD_LAYERS_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "%s has %zu layers, more than the %u kuke-fetchd pulls", what,
                        json_array_size(ls), KK_FETCHD_LAYERS_MAX);
    if ((r->layers = calloc(json_array_size(ls), sizeof(*r->layers))) == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "%s", what);
    size_t i;
    const json_t *l;
    json_array_foreach(ls, i, l)
    {
        if (fr_desc(l, &r->layers[i], what, err) < 0)
            return kk_error_wrap(err, "layer %zu", i);
        r->n_layers = i + 1;
    }
    return 0;
}

/* The platform entry of an index the request asks for (linux/<host arch> by default). */
static int fr_index_pick(const struct fr_doc *idx, const Kukeon__Ipc__Fetchd__Source *src, const char **digest,
                         uint64_t *size, const char *image, struct kk_err *err)
{
    const char *os = src->os != NULL && src->os[0] != '\0' ? src->os : "linux";
    const char *arch = src->architecture != NULL && src->architecture[0] != '\0' ? src->architecture : fr_host_arch;
    const char *variant = src->variant != NULL ? src->variant : "";
    /* The host's own variant (arm/v7) is a preference, not a requirement. */
    const json_t *ms = json_object_get(idx->json, "manifests");
    if (!json_is_array(ms) || json_array_size(ms) == 0)
        return kk_error(err, KK_ERR_INVALID, 0, "the index of image %s lists no manifests", image);
    if (json_array_size(ms) > FR_INDEX_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "the index of image %s lists more than %d manifests", image,
                        FR_INDEX_MAX);
    const json_t *best = NULL;
    char offered[512] = "";
    size_t used = 0;
    size_t i;
    const json_t *m;
    json_array_foreach(ms, i, m)
    {
        const json_t *p = json_object_get(m, "platform");
        const char *mos = json_string_value(json_object_get(p, "os"));
        const char *mar = json_string_value(json_object_get(p, "architecture"));
        const char *mva = json_string_value(json_object_get(p, "variant"));
        const char *mt = json_string_value(json_object_get(m, "mediaType"));
        if (mos == NULL || mar == NULL || (mt != NULL && !kk_media_is_manifest(mt)))
            continue;
        if (strcmp(mos, "unknown") != 0 && used < sizeof(offered) - 1) {
            char one[96];
            snprintf(one, sizeof(one), "%s/%s%s%s", mos, mar, mva != NULL ? "/" : "", mva != NULL ? mva : "");
            char esc[100];
            kk_log_escape(one, esc, sizeof(esc));
            int k = snprintf(offered + used, sizeof(offered) - used, "%s%s", used > 0 ? ", " : "", esc);
            if (k > 0)
                used = (size_t)k + used < sizeof(offered) ? used + (size_t)k : sizeof(offered) - 1;
        }
        if (strcmp(mos, os) != 0 || strcmp(mar, arch) != 0)
            continue;
        if (variant[0] != '\0' && (mva == NULL || strcmp(mva, variant) != 0))
            continue;
        if (best == NULL || (variant[0] == '\0' && fr_host_variant[0] != '\0' && mva != NULL &&
                             strcmp(mva, fr_host_variant) == 0 && strcmp(arch, fr_host_arch) == 0))
            best = m;
    }
    if (best == NULL)
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "image %s has no manifest for %s/%s%s%s; it offers %s", image, os,
                        arch, variant[0] != '\0' ? "/" : "", variant, offered[0] != '\0' ? offered : "no platform");
    const char *dg = json_string_value(json_object_get(best, "digest"));
    const json_t *sz = json_object_get(best, "size");
    if (!fh_digest_valid(dg) || !json_is_integer(sz) || json_integer_value(sz) <= 0)
        return kk_error(err, KK_ERR_INVALID, 0, "the index of image %s lists a manifest without a valid digest or size",
                        image);
    *digest = dg;
    *size = (uint64_t)json_integer_value(sz);
    return 0;
}

/* What both requests start with: the reference parsed, its canonical name, a session. */
struct fr_req {
    struct kk_imageref ref;
    char name[KK_IMAGEREF_STR_MAX];
    struct fh_session s;
};

static int fr_begin(struct fr_req *q, const Kukeon__Ipc__Fetchd__Source *src, struct kk_err *err)
{
    memset(q, 0, sizeof(*q));
    if (src == NULL || src->ref == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "the request names no image");
    if (kk_imageref_parse(src->ref, &q->ref, err) < 0 || kk_imageref_name(&q->ref, q->name, sizeof(q->name), err) < 0)
        return -1;
    if (kk_imageref_internal(&q->ref))
        return kk_error(err, KK_ERR_INVALID, 0, "image %s is made by Kukeon itself and is never pulled", q->name);
    const char *user = src->username != NULL ? src->username : "";
    const char *pass = src->password != NULL ? src->password : "";
    return fh_session_open(&q->s, kk_imageref_endpoint(&q->ref), q->ref.path, q->name, user, pass,
                           src->insecure_skip_tls_verify, err);
}

static void fr_end(struct fr_req *q)
{
    fh_session_close(&q->s);
}

static char *fr_strdup(const char *s, struct kk_err *err)
{
    char *d = strdup(s);
    if (d == NULL)
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "copying %s", s);
    return d;
}

/* The image manifest q names (through its index when it names one). index_digest gets the index's
 * digest or "". */
static int fr_resolve_manifest(struct fr_req *q, const Kukeon__Ipc__Fetchd__Source *src, struct fr_doc *man,
                               char index_digest[72], struct kk_err *err)
{
    const char *reference = q->ref.digest[0] != '\0' ? q->ref.digest : q->ref.tag;
    char what[FR_WHAT_MAX];
    snprintf(what, sizeof(what), "the manifest of image %s", q->name);
    struct fr_doc top;
    index_digest[0] = '\0';
    if (fr_get_doc(&q->s, reference, q->ref.digest[0] != '\0' ? q->ref.digest : NULL, 0, &top, what, err) < 0)
        return -1;
    if (kk_media_is_manifest(top.media_type)) {
        *man = top;
        return 0;
    }
    const char *child = NULL;
    uint64_t child_size = 0;
    if (fr_index_pick(&top, src, &child, &child_size, q->name, err) < 0) {
        fr_doc_free(&top);
        return -1;
    }
    char cd[72];
    kk_strlcpy(cd, child, sizeof(cd));
    kk_strlcpy(index_digest, top.digest, 72);
    fr_doc_free(&top);
    snprintf(what, sizeof(what), "manifest %s of image %s", cd, q->name);
    if (fr_get_doc(&q->s, cd, cd, child_size, man, what, err) < 0)
        return -1;
    if (!kk_media_is_manifest(man->media_type)) {
        fr_doc_free(man);
        return kk_error(err, KK_ERR_INVALID, 0, "the index of image %s points to another index (%s), not a manifest",
                        q->name, cd);
    }
    return 0;
}

int fetchd_resolve(const Kukeon__Ipc__Fetchd__Source *src, Kukeon__Ipc__Fetchd__Resolved *out, struct kk_err *err)
{
    kukeon__ipc__fetchd__resolved__init(out);
    struct fr_req q;
    struct fr_doc man = {0};
    char index_digest[72];
    int ret = -1;
    if (fr_begin(&q, src, err) < 0 || fr_resolve_manifest(&q, src, &man, index_digest, err) < 0)
        goto out;
    char what[FR_WHAT_MAX];
    snprintf(what, sizeof(what), "manifest %s of image %s", man.digest, q.name);
    if (fr_manifest_parts(man.json, out, what, err) < 0)
        goto out;
    if ((out->manifest = calloc(1, sizeof(*out->manifest))) == NULL) {
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "%s", what);
        goto out;
    }
    kukeon__ipc__fetchd__descriptor__init(out->manifest);
    out->manifest->size = man.len;
    if ((out->manifest->media_type = fr_strdup(man.media_type, err)) == NULL ||
        (out->manifest->digest = fr_strdup(man.digest, err)) == NULL || (out->name = fr_strdup(q.name, err)) == NULL ||
        (out->index_digest = fr_strdup(index_digest, err)) == NULL)
        goto out;
    ret = 0;
out:
    if (ret < 0)
        fetchd_resolved_clear(out);
    fr_doc_free(&man);
    fr_end(&q);
    return ret;
}

/* ---- FETCH ------------------------------------------------------------------------------------- */

struct fr_blob {
    struct fl_writer *w;
    struct fh_sha256 *h;
    uint64_t got, want;
    const char *digest, *image;
};

static int fr_blob_sink(void *opaque, const void *data, size_t len, struct kk_err *err)
{
    struct fr_blob *b = opaque;
    if (b->got + len > b->want)
        return kk_error(err, KK_ERR_INVALID, 0, "blob %s of image %s: the registry sent more than the %llu bytes it has",
                        b->digest, b->image, (unsigned long long)b->want);
    fh_sha256_update(b->h, data, len);
    b->got += len;
    return fl_write(b->w, data, len, err);
}

/* One blob streamed into the tarball as blobs/sha256/<hex>, hashed and size-checked. */
static int fr_fetch_blob(struct fr_req *q, struct fl_writer *w, const Kukeon__Ipc__Fetchd__Descriptor *d,
                         struct kk_err *err)
{
    char name[96], rest[96], what[FR_WHAT_MAX];
    snprintf(name, sizeof(name), "blobs/sha256/%.64s", d->digest + 7);
    snprintf(rest, sizeof(rest), "blobs/%.71s", d->digest);
    snprintf(what, sizeof(what), "blob %s of image %s", d->digest, q->name);
    if (fl_header(w, name, d->size, err) < 0)
        return -1;
    struct fr_blob b = {.w = w, .want = d->size, .digest = d->digest, .image = q->name};
    if ((b.h = fh_sha256_new(err)) == NULL)
        return -1;
    struct fh_reply r = {0};
    if (fh_registry_get(&q->s, rest, NULL, fr_blob_sink, &b, &r, what, err) < 0) {
        fh_sha256_free(b.h);
        return -1;
    }
    char got[72];
    fh_sha256_final(b.h, got);
    if (b.got != d->size || strcmp(got, d->digest) != 0)
        return kk_error(err, KK_ERR_INVALID, 0, "%s: the registry sent %s (%llu bytes), not %s (%llu bytes)", what, got,
                        (unsigned long long)b.got, d->digest, (unsigned long long)d->size);
    return fl_pad(w, err);
}

static bool fr_skipped(const Kukeon__Ipc__Fetchd__Fetch *req, const char *digest)
{
    for (size_t i = 0; i < req->n_skip; i++)
        if (req->skip[i] != NULL && strcmp(req->skip[i], digest) == 0)
            return true;
    return false;
}

/* index.json of the layout: the one manifest, named for both readers of the name (containerd's
 * io.containerd.image.name and OCI's ref.name, which kuke-ctrd takes when it is a full reference). */
static char *fr_layout_index(const char *name, const struct fr_doc *man)
{
    json_t *ann = json_pack("{s:s, s:s}", "io.containerd.image.name", name, "org.opencontainers.image.ref.name", name);
    json_t *desc = json_pack("{s:s, s:s, s:I, s:o}", "mediaType", man->media_type, "digest", man->digest, "size",
                             (json_int_t)man->len, "annotations", ann);
    json_t *idx = json_pack("{s:i, s:s, s:[o]}", "schemaVersion", 2, "mediaType", KK_MT_OCI_INDEX, "manifests", desc);
    char *s = idx != NULL ? json_dumps(idx, JSON_COMPACT) : NULL;
    json_decref(idx);
    return s;
}

int fetchd_fetch(const Kukeon__Ipc__Fetchd__Fetch *req, int out_fd, Kukeon__Ipc__Fetchd__FetchReply *out,
                 struct kk_err *err)
{
    kukeon__ipc__fetchd__fetch_reply__init(out);
    if (req == NULL || req->manifest_digest == NULL || !fh_digest_valid(req->manifest_digest))
        return kk_error(err, KK_ERR_INVALID, 0, "FETCH needs the manifest digest RESOLVE returned (sha256:<64 hex>)");
    if (req->n_skip > KK_FETCHD_SKIP_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "FETCH lists %zu blobs to skip, more than %u", req->n_skip,
                        KK_FETCHD_SKIP_MAX);
    struct fr_req q;
    struct fr_doc man = {0};
    Kukeon__Ipc__Fetchd__Resolved parts = KUKEON__IPC__FETCHD__RESOLVED__INIT;
    char *index_json = NULL;
    int ret = -1;
    if (fr_begin(&q, req->source, err) < 0)
        goto out;
    char what[FR_WHAT_MAX];
    snprintf(what, sizeof(what), "manifest %s of image %s", req->manifest_digest, q.name);
    if (fr_get_doc(&q.s, req->manifest_digest, req->manifest_digest, 0, &man, what, err) < 0)
        goto out;
    if (!kk_media_is_manifest(man.media_type)) {
        kk_error(err, KK_ERR_INVALID, 0, "%s is a %s, not an image manifest", what, man.media_type);
        goto out;
    }
    if (fr_manifest_parts(man.json, &parts, what, err) < 0)
        goto out;
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
    struct fl_writer w = {.fd = out_fd};
    if ((index_json = fr_layout_index(q.name, &man)) == NULL) {
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "index.json for image %s", q.name);
        goto out;
    }
    if (fl_file(&w, "oci-layout", layout, sizeof(layout) - 1, err) < 0 ||
        fl_file(&w, "index.json", index_json, strlen(index_json), err) < 0)
        goto out;
    if (fr_skipped(req, man.digest)) {
        out->blobs_skipped++;
    } else {
        char name[96];
        snprintf(name, sizeof(name), "blobs/sha256/%.64s", man.digest + 7);
        if (fl_file(&w, name, man.buf, man.len, err) < 0)
            goto out;
        out->blobs_fetched++;
        out->bytes_fetched += man.len;
    }
    for (size_t i = 0; i <= parts.n_layers; i++) {
        const Kukeon__Ipc__Fetchd__Descriptor *d = i == 0 ? parts.config : parts.layers[i - 1];
        if (fr_skipped(req, d->digest)) {
            out->blobs_skipped++;
            continue;
        }
        if (fr_fetch_blob(&q, &w, d, err) < 0)
            goto out;
        out->blobs_fetched++;
        out->bytes_fetched += d->size;
    }
    if (fl_end(&w, err) < 0)
        goto out;
    ret = 0;
out:
    free(index_json);
    fetchd_resolved_clear(&parts);
    fr_doc_free(&man);
    fr_end(&q);
    return ret;
}
