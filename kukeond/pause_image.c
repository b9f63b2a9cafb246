/* The pause image tarball (see pause_image.h): SHA-256 (FIPS 180-4), a minimal ustar writer and the
 * OCI image-layout JSON, all deterministic so that the same kukepause gives the same digests. */
#include "kukeond/pause_image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tar.h"
#include "common/util.h"

/* ---- SHA-256 ------------------------------------------------------------------------------------- */

struct sha256 {
    uint32_t h[8];
    uint64_t len; /* bytes hashed */
    unsigned char buf[64];
    size_t used;
};

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror32(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha256_block(struct sha256 *s, const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
               (uint32_t)p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5], g = s->h[6],
             h = s->h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 =
            h + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) + ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
        uint32_t t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
    s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha256_init(struct sha256 *s)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof(iv));
    s->len = 0;
    s->used = 0;
}

static void sha256_update(struct sha256 *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    s->len += len;
    while (len > 0) {
        size_t n = 64 - s->used < len ? 64 - s->used : len;
        memcpy(s->buf + s->used, p, n);
        s->used += n, p += n, len -= n;
        if (s->used == 64) {
            sha256_block(s, s->buf);
            s->used = 0;
        }
    }
}

static void sha256_final_hex(struct sha256 *s, char out[65])
{
    uint64_t bits = s->len * 8;
    unsigned char pad[72] = {0x80};
    size_t padlen = (s->used < 56 ? 56 : 120) - s->used;
    for (int i = 0; i < 8; i++)
        pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_update(s, pad, padlen + 8);
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 4; j++) {
            unsigned char byte = (unsigned char)(s->h[i] >> (24 - 8 * j));
            out[8 * i + 2 * j] = hex[byte >> 4];
            out[8 * i + 2 * j + 1] = hex[byte & 15];
        }
    out[64] = '\0';
}

void kk_sha256_hex(const void *data, size_t len, char out[65])
{
    struct sha256 s;
    sha256_init(&s);
    sha256_update(&s, data, len);
    sha256_final_hex(&s, out);
}

/* ---- ustar --------------------------------------------------------------------------------------- */

/* A growing buffer the tar archives are built in: both are small (the layer is one binary). */
struct pbuf {
    unsigned char *p;
    size_t len, cap;
};

static int pbuf_add(struct pbuf *b, const void *data, size_t len)
{
    if (b->len + len > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 65536;
        while (cap < b->len + len)
            cap *= 2;
        unsigned char *np = realloc(b->p, cap);
        if (np == NULL)
            return -1;
        b->p = np;
        b->cap = cap;
    }
    if (len > 0 && data != NULL)
        memcpy(b->p + b->len, data, len);
    else if (len > 0)
        memset(b->p + b->len, 0, len);
    b->len += len;
    return 0;
}

/* One regular file entry: a ustar header (owner 0:0, mtime 0), the data, padding to 512. */
static int tar_add_file(struct pbuf *b, const char *name, unsigned mode, const void *data, size_t len)
{
    unsigned char h[KK_TAR_BLOCK];
    if (kk_tar_header(h, name, mode, len) < 0)
        return -1;
    size_t pad = (KK_TAR_BLOCK - len % KK_TAR_BLOCK) % KK_TAR_BLOCK;
    return pbuf_add(b, h, sizeof(h)) < 0 || pbuf_add(b, data, len) < 0 || pbuf_add(b, NULL, pad) < 0 ? -1 : 0;
}

/* Two zero blocks end an archive. */
static int tar_end(struct pbuf *b)
{
    return pbuf_add(b, NULL, 1024);
}

static int tar_add_blob(struct pbuf *b, const void *data, size_t len, char hex[65])
{
    char name[100];
    kk_sha256_hex(data, len, hex);
    snprintf(name, sizeof(name), "blobs/sha256/%s", hex);
    return tar_add_file(b, name, 0644, data, len);
}

/* ---- the image ----------------------------------------------------------------------------------- */

#if defined(__x86_64__)
#define PAUSE_ARCH "amd64"
#elif defined(__aarch64__)
#define PAUSE_ARCH "arm64"
#elif defined(__i386__)
#define PAUSE_ARCH "386"
#else
#error "the pause image needs this architecture's OCI name"
#endif

static int read_binary(const char *path, unsigned char **out, size_t *len, struct kk_err *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kk_error(err, errno == ENOENT ? KK_ERR_NOT_FOUND : KK_ERR_INTERNAL, errno,
                        "opening the kukepause binary %s (build it with make, or install kukeon)", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "reading %s", path);
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > KK_PAUSE_BINARY_MAX)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "%s is not a regular file of 1 byte to %u bytes: not kukepause", path,
                        KK_PAUSE_BINARY_MAX);
    unsigned char *buf = malloc((size_t)st.st_size);
    if (buf == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading %s", path);
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            free(buf);
            return kk_error(err, KK_ERR_INTERNAL, r < 0 ? errno : 0, "reading %s: it changed while read",
                            path);
        }
        n += (size_t)r;
    }
    *out = buf;
    *len = n;
    return 0;
}

static bool version_ok(const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
              c == '.' || c == '-'))
            return false;
    }
    return v[0] != '.' && v[0] != '-';
}

int kk_pause_image_write(const char *kukepause_path, const char *version, int out_fd, struct kk_err *err)
{
    if (version == NULL || !version_ok(version))
        return kk_error(err, KK_ERR_INVALID, 0,
                        "pause image version \"%s\" is not an image tag ([A-Za-z0-9_.-], at most 128 bytes)",
                        version != NULL ? version : "");
    _cleanup_free_ unsigned char *bin = NULL;
    size_t bin_len = 0;
    if (read_binary(kukepause_path, &bin, &bin_len, err) < 0)
        return -1;

    struct pbuf layer = {0}, out = {0};
    char layer_hex[65], config_hex[65], manifest_hex[65];
    char config[1024], manifest[1024], index[1024];
    int rc = -1;
    if (tar_add_file(&layer, "kukepause", 0755, bin, bin_len) < 0 || tar_end(&layer) < 0)
        goto nomem;
    kk_sha256_hex(layer.p, layer.len, layer_hex);
    /* Uncompressed: the layer's digest is its diff id. */
    int cn = snprintf(
        config, sizeof(config),
        "{\"architecture\":\"" PAUSE_ARCH "\",\"os\":\"linux\",\"created\":\"1970-01-01T00:00:00Z\","
        "\"config\":{\"Entrypoint\":[\"/kukepause\"],\"WorkingDir\":\"/\"},"
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:%s\"]},"
        "\"history\":[{\"created\":\"1970-01-01T00:00:00Z\",\"created_by\":\"kuke init (kukepause %s)\"}]}",
        layer_hex, version);
    if (cn < 0 || (size_t)cn >= sizeof(config))
        goto nomem;
    kk_sha256_hex(config, (size_t)cn, config_hex);
    int mn = snprintf(manifest, sizeof(manifest),
                      "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                      "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
                      "\"sha256:%s\",\"size\":%d},\"layers\":[{\"mediaType\":"
                      "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"sha256:%s\",\"size\":%zu}]}",
                      config_hex, cn, layer_hex, layer.len);
    if (mn < 0 || (size_t)mn >= sizeof(manifest))
        goto nomem;
    kk_sha256_hex(manifest, (size_t)mn, manifest_hex);
    int in =
        snprintf(index, sizeof(index),
                 "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","
                 "\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":"
                 "\"sha256:%s\",\"size\":%d,\"platform\":{\"architecture\":\"" PAUSE_ARCH "\",\"os\":"
                 "\"linux\"},\"annotations\":{\"io.containerd.image.name\":\"kukeon.internal/kukepause:%s\","
                 "\"org.opencontainers.image.ref.name\":\"%s\"}}]}",
                 manifest_hex, mn, version, version);
    if (in < 0 || (size_t)in >= sizeof(index))
        goto nomem;
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
    char hex[65];
    if (tar_add_blob(&out, config, (size_t)cn, hex) < 0 || tar_add_blob(&out, layer.p, layer.len, hex) < 0 ||
        tar_add_blob(&out, manifest, (size_t)mn, hex) < 0 ||
        tar_add_file(&out, "index.json", 0644, index, (size_t)in) < 0 ||
        tar_add_file(&out, "oci-layout", 0644, layout, sizeof(layout) - 1) < 0 || tar_end(&out) < 0)
        goto nomem;
    size_t off = 0;
    while (off < out.len) {
        ssize_t w = write(out_fd, out.p + off, out.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            kk_error(err, KK_ERR_INTERNAL, w < 0 ? errno : EIO, "writing the pause image");
            goto out;
        }
        off += (size_t)w;
    }
    rc = 0;
    goto out;
nomem:
    kk_error(err, KK_ERR_INTERNAL, ENOMEM, "building the pause image: out of memory");
out:
    free(layer.p);
    free(out.p);
    return rc;
}
