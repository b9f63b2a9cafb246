/* Small helpers every kuke-ctrd module uses: label sets in protobuf-c form, digests and chain ids,
 * image-name checks, content reads and leases. */
#include "kuke-ctrd/ctrd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/evp.h>

#include "github.com/containerd/containerd/api/services/content/v1/content.pb-c.h"
#include "github.com/containerd/containerd/api/services/leases/v1/leases.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

#include "common/audit.h"
#include "common/util.h"

int ctrd_labels_add(struct ctrd_labels *l, const char *key, const char *value, struct kk_err *err)
{
    if (l->n >= CTRD_LABELS_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "more than %d labels", CTRD_LABELS_MAX);
    if (kk_strlcpy(l->key[l->n], key, sizeof(l->key[0])) < 0 ||
        kk_strlcpy(l->value[l->n], value, sizeof(l->value[0])) < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "label %.64s is too long", key);
    l->n++;
    return 0;
}

void *ctrd_label_entries(struct ctrd_label_entries *e, const struct ctrd_labels *l,
                         const ProtobufCMessageDescriptor *entry_desc)
{
    for (size_t i = 0; i < l->n && i < CTRD_LABELS_MAX; i++) {
        protobuf_c_message_init(entry_desc, &e->entry[i]);
        e->entry[i].key = (char *)l->key[i];
        e->entry[i].value = (char *)l->value[i];
        e->ptr[i] = &e->entry[i];
    }
    return e->ptr;
}

bool ctrd_digest_valid(const char *s)
{
    if (s == NULL || strncmp(s, "sha256:", 7) != 0 || strnlen(s, CTRD_DIGEST_SIZE) != 71)
        return false;
    for (size_t i = 7; i < 71; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void ctrd_hex(const unsigned char *md, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }
    out[2 * n] = '\0';
}

int ctrd_sha256(const void *data, size_t len, char out[CTRD_DIGEST_SIZE], struct kk_err *err)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return kk_error(err, KK_ERR_INTERNAL, 0, "computing a SHA-256 digest (libcrypto)");
    memcpy(out, "sha256:", 7);
    ctrd_hex(md, 32, out + 7);
    return 0;
}

int ctrd_chain_ids(char (*diff_ids)[CTRD_DIGEST_SIZE], size_t n, char (*chain)[CTRD_DIGEST_SIZE],
                   struct kk_err *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!ctrd_digest_valid(diff_ids[i]))
            return kk_error(err, KK_ERR_INVALID, 0, "layer %zu has an invalid diff id", i);
        if (i == 0) {
            memcpy(chain[0], diff_ids[0], CTRD_DIGEST_SIZE);
            continue;
        }
        char buf[2 * CTRD_DIGEST_SIZE + 1];
        int len = snprintf(buf, sizeof(buf), "%s %s", chain[i - 1], diff_ids[i]);
        if (ctrd_sha256(buf, (size_t)len, chain[i], err) < 0)
            return -1;
    }
    return 0;
}

int ctrd_image_name_check(const char *name, struct kk_err *err)
{
    size_t n = name != NULL ? strnlen(name, CTRD_IMAGE_NAME_MAX + 1) : 0;
    if (n == 0)
        return kk_error(err, KK_ERR_INVALID, 0, "image name is required");
    if (n > CTRD_IMAGE_NAME_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "image name is longer than %d bytes", CTRD_IMAGE_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        bool alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        if (i == 0 && !alnum)
            return kk_error(err, KK_ERR_INVALID, 0, "image name must start with a letter or digit");
        if (!alnum && ch != '.' && ch != '_' && ch != '/' && ch != ':' && ch != '@' && ch != '-')
            return kk_error(err, KK_ERR_INVALID, 0,
                            "image name holds byte 0x%02x; names are letters, digits and ._/:@-",
                            (unsigned)(unsigned char)ch);
    }
    return 0;
}

int ctrd_random_hex(char *out, size_t hex_len, struct kk_err *err)
{
    unsigned char raw[32];
    if (hex_len == 0 || hex_len > 2 * sizeof(raw) || hex_len % 2 != 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "random hex of %zu digits", hex_len);
    if (getrandom(raw, hex_len / 2, 0) != (ssize_t)(hex_len / 2))
        return kk_error(err, KK_ERR_INTERNAL, errno, "getrandom");
    ctrd_hex(raw, hex_len / 2, out);
    return 0;
}

int64_t ctrd_timestamp_ms(const void *google_protobuf_timestamp)
{
    const Google__Protobuf__Timestamp *ts = google_protobuf_timestamp;
    if (ts == NULL)
        return 0;
    /* Go's zero time (0001-01-01) and anything before the epoch read as "never". */
    if (ts->seconds <= 0)
        return 0;
    return ts->seconds * 1000 + ts->nanos / 1000000;
}

/* ---- content ------------------------------------------------------------------------------------ */

struct ctrd_read_state {
    char *buf;
    size_t len, max;
    const char *digest;
};

static int ctrd_read_chunk(const ProtobufCMessage *msg, void *opaque, struct kk_err *err)
{
    const Containerd__Services__Content__V1__ReadContentResponse *r = (const void *)msg;
    struct ctrd_read_state *st = opaque;
    if (r->offset < 0 || (uint64_t)r->offset != st->len)
        return kk_error(err, KK_ERR_INTERNAL, 0, "reading %s: chunk at offset %lld, expected %zu", st->digest,
                        (long long)r->offset, st->len);
    if (r->data.len > st->max - st->len)
        return kk_error(err, KK_ERR_INVALID, 0, "%s is larger than %zu bytes", st->digest, st->max);
    memcpy(st->buf + st->len, r->data.data, r->data.len);
    st->len += r->data.len;
    return CTRD_STREAM_CONTINUE;
}

int ctrd_content_read(struct ctrd *c, const char *ns, const char *digest, size_t max, char **out, size_t *len,
                      struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    if (!ctrd_digest_valid(digest))
        return kk_error(err, KK_ERR_INVALID, 0, "invalid digest \"%.80s\"", digest);
    struct ctrd_read_state st = {.buf = malloc(max + 1), .max = max, .digest = digest};
    if (st.buf == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading %s", digest);
    Containerd__Services__Content__V1__ReadContentRequest req =
        CONTAINERD__SERVICES__CONTENT__V1__READ_CONTENT_REQUEST__INIT;
    req.digest = (char *)digest;
    if (ctrd_server_stream(conn, &containerd__services__content__v1__content__descriptor, "Read", ns, NULL,
                           &req.base, ctrd_read_chunk, &st, CTRD_TIMEOUT_DEFAULT_MS, err) < 0) {
        free(st.buf);
        return -1;
    }
    st.buf[st.len] = '\0';
    *out = st.buf;
    if (len != NULL)
        *len = st.len;
    return 0;
}

/* ---- leases ------------------------------------------------------------------------------------- */

int ctrd_lease_create(struct ctrd *c, const char *ns, const char *purpose, char *id, size_t id_size,
                      struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    char rnd[17];
    if (ctrd_random_hex(rnd, 16, err) < 0 ||
        kk_snprintf(id, id_size, err, "lease id", "kukeon-%s-%s", purpose, rnd) < 0)
        return -1;
    /* containerd reads the expiry as RFC 3339; the audit log's formatter makes exactly that. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    now.tv_sec += CTRD_LEASE_EXPIRE_S;
    char expire[40];
    if (kk_audit_timestamp(&now, expire, sizeof(expire)) < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "formatting the lease expiry");
    struct ctrd_labels labels = {0};
    if (ctrd_labels_add(&labels, "containerd.io/gc.expire", expire, err) < 0)
        return -1;
    struct ctrd_label_entries e;
    Containerd__Services__Leases__V1__CreateRequest req =
        CONTAINERD__SERVICES__LEASES__V1__CREATE_REQUEST__INIT;
    req.id = id;
    req.labels = ctrd_label_entries(
        &e, &labels, &containerd__services__leases__v1__create_request__labels_entry__descriptor);
    req.n_labels = labels.n;
    return ctrd_unary(conn, &containerd__services__leases__v1__leases__descriptor, "Create", ns, NULL,
                      &req.base, NULL, CTRD_TIMEOUT_DEFAULT_MS, err);
}

int ctrd_lease_delete(struct ctrd *c, const char *ns, const char *id, bool sync, struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    Containerd__Services__Leases__V1__DeleteRequest req =
        CONTAINERD__SERVICES__LEASES__V1__DELETE_REQUEST__INIT;
    req.id = (char *)id;
    req.sync = sync;
    return ctrd_unary(conn, &containerd__services__leases__v1__leases__descriptor, "Delete", ns, NULL,
                      &req.base, NULL, CTRD_TIMEOUT_LONG_MS, err);
}
