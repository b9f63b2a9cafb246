/* An index of the regular files in an image tarball: name, data offset and size, so that blobs can be
 * streamed to containerd with pread straight from the caller's descriptor. Written here rather than
 * with libarchive because only the member offsets are needed (libarchive hands out data sequentially,
 * which would mean buffering or re-reading the archive per blob) and the formats image tools write are
 * few: ustar and GNU headers, pax extended headers (path, size) and GNU long names. Every field is
 * bounded and checked; anything else is refused with the offset of the bad header. */
#include "kuke-ctrd/ctrd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/tar.h"
#include "common/util.h"

#define TAR_BLOCK 512u
/* A pax header or GNU long name is a few hundred bytes in practice. */
#define TAR_EXT_MAX (64u * 1024u)

static int ctrd_pread_full(int fd, void *buf, size_t len, uint64_t off, struct kk_err *err)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kk_error(err, KK_ERR_INVALID, errno, "reading the image tarball at offset %llu",
                            (unsigned long long)(off + done));
        if (n == 0)
            return kk_error(err, KK_ERR_INVALID, 0, "the image tarball ends early (offset %llu)",
                            (unsigned long long)(off + done));
        done += (size_t)n;
    }
    return 0;
}

static bool tar_block_zero(const unsigned char *b)
{
    for (size_t i = 0; i < TAR_BLOCK; i++)
        if (b[i] != 0)
            return false;
    return true;
}

static bool tar_checksum_ok(const unsigned char *h)
{
    uint64_t want;
    if (kk_tar_number(h + 148, 8, &want) < 0)
        return false;
    uint64_t sum = 0;
    for (size_t i = 0; i < TAR_BLOCK; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    return sum == want;
}

/* Copy a name, without a leading "./" and trailing "/", refusing NULs in the middle of counted data. */
static int tar_set_name(char *dst, const char *src, size_t len)
{
    while (len >= 2 && src[0] == '.' && src[1] == '/') {
        src += 2;
        len -= 2;
    }
    while (len > 0 && src[len - 1] == '/')
        len--;
    if (len >= CTRD_TAR_NAME_MAX || memchr(src, '\0', len) != NULL)
        return -1;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

/* pax records: "<len> <key>=<value>\n". Only path and size matter here. */
static int tar_pax(const char *p, size_t n, char *path, bool *has_path, uint64_t *size, bool *has_size)
{
    size_t off = 0;
    while (off < n) {
        size_t i = off, rl = 0;
        while (i < n && p[i] >= '0' && p[i] <= '9') {
            rl = rl * 10 + (size_t)(p[i] - '0');
            if (rl > n)
                return -1;
            i++;
        }
        if (i == off || i >= n || p[i] != ' ' || rl == 0 || off + rl > n || p[off + rl - 1] != '\n')
            return -1;
        const char *kv = p + i + 1;
        size_t kvlen = off + rl - 1 - (i + 1);
        const char *eq = memchr(kv, '=', kvlen);
        if (eq == NULL)
            return -1;
        size_t klen = (size_t)(eq - kv), vlen = kvlen - klen - 1;
        if (klen == 4 && memcmp(kv, "path", 4) == 0) {
            if (tar_set_name(path, eq + 1, vlen) < 0)
                return -1;
            *has_path = true;
        } else if (klen == 4 && memcmp(kv, "size", 4) == 0) {
            char num[24];
            if (vlen == 0 || vlen >= sizeof(num))
                return -1;
            memcpy(num, eq + 1, vlen);
            num[vlen] = '\0';
            if (kk_parse_u64(num, 0, UINT64_MAX, size) < 0)
                return -1;
            *has_size = true;
        }
        off += rl;
    }
    return 0;
}

int ctrd_tar_index(int fd, struct ctrd_tar *t, struct kk_err *err)
{
    memset(t, 0, sizeof(*t));
    t->fd = fd;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kk_error(err, KK_ERR_INVALID, errno, "the image tarball descriptor");
    if (!S_ISREG(st.st_mode))
        return kk_error(err, KK_ERR_INVALID, 0,
                        "the image tarball must be a regular file (it is read in place, not streamed); "
                        "save it to a file first");
    t->file_size = (uint64_t)st.st_size;
    size_t cap = 0;
    uint64_t off = 0;
    char next_name[CTRD_TAR_NAME_MAX];
    bool has_next_name = false, has_next_size = false;
    uint64_t next_size = 0;
    char *ext = NULL;
    int ret = -1;
    for (;;) {
        unsigned char h[TAR_BLOCK];
        if (off + TAR_BLOCK > t->file_size) {
            if (off == t->file_size && t->n > 0)
                break; /* no end-of-archive blocks: tolerated, as GNU tar does */
            kk_error(err, KK_ERR_INVALID, 0, "the image tarball is truncated at offset %llu",
                     (unsigned long long)off);
            goto out;
        }
        if (ctrd_pread_full(fd, h, TAR_BLOCK, off, err) < 0)
            goto out;
        if (tar_block_zero(h))
            break;
        if (!tar_checksum_ok(h)) {
            kk_error(
                err, KK_ERR_INVALID, 0,
                "the image tarball has a bad header at offset %llu: not a tar archive, or a compressed one "
                "(decompress it first)",
                (unsigned long long)off);
            goto out;
        }
        uint64_t size;
        if (kk_tar_number(h + 124, 12, &size) < 0) {
            kk_error(err, KK_ERR_INVALID, 0, "tar header at offset %llu: bad size field",
                     (unsigned long long)off);
            goto out;
        }
        char type = (char)h[156];
        if (has_next_size && (type == '0' || type == '\0' || type == '7'))
            size = next_size;
        uint64_t data = off + TAR_BLOCK;
        if (size > t->file_size || data > t->file_size - size) {
            kk_error(err, KK_ERR_INVALID, 0, "tar member at offset %llu runs past the end of the file",
                     (unsigned long long)off);
            goto out;
        }
        uint64_t next = data + ((size + TAR_BLOCK - 1) / TAR_BLOCK) * TAR_BLOCK;

        if (type == 'x' || type == 'L') {
            if (size > TAR_EXT_MAX) {
                kk_error(err, KK_ERR_INVALID, 0, "tar extended header at offset %llu is larger than %u bytes",
                         (unsigned long long)off, TAR_EXT_MAX);
                goto out;
            }
            free(ext);
            ext = malloc((size_t)size + 1);
            if (ext == NULL || ctrd_pread_full(fd, ext, (size_t)size, data, err) < 0) {
                if (ext == NULL)
                    kk_error(err, KK_ERR_INTERNAL, ENOMEM, "tar extended header");
                goto out;
            }
            ext[size] = '\0';
            int rc;
            if (type == 'L') {
                rc = tar_set_name(next_name, ext, strnlen(ext, (size_t)size));
                has_next_name = rc == 0;
            } else {
                rc = tar_pax(ext, (size_t)size, next_name, &has_next_name, &next_size, &has_next_size);
            }
            if (rc < 0) {
                kk_error(err, KK_ERR_INVALID, 0,
                         "tar extended header at offset %llu is malformed or names a "
                         "path longer than %d bytes",
                         (unsigned long long)off, CTRD_TAR_NAME_MAX - 1);
                goto out;
            }
            off = next;
            continue;
        }
        if (type == '0' || type == '\0' || type == '7') {
            if (t->n >= CTRD_TAR_ENTRIES_MAX) {
                kk_error(err, KK_ERR_INVALID, 0, "the image tarball has more than %d files",
                         CTRD_TAR_ENTRIES_MAX);
                goto out;
            }
            if (t->n == cap) {
                cap = cap ? 2 * cap : 64;
                void *a = realloc(t->entries, cap * sizeof(*t->entries));
                if (a == NULL) {
                    kk_error(err, KK_ERR_INTERNAL, ENOMEM, "indexing the image tarball");
                    goto out;
                }
                t->entries = a;
            }
            struct ctrd_tar_entry *e = &t->entries[t->n];
            int rc = 0;
            if (has_next_name) {
                memcpy(e->name, next_name, sizeof(e->name));
            } else {
                /* ustar: prefix "/" name, each NUL-padded. */
                char full[256];
                size_t pl = strnlen((const char *)h + 345, 155), nl = strnlen((const char *)h, 100), fl = 0;
                bool ustar = memcmp(h + 257, "ustar", 5) == 0 && h[262] == '\0';
                if (ustar && pl > 0) {
                    memcpy(full, h + 345, pl);
                    full[pl] = '/';
                    fl = pl + 1;
                }
                memcpy(full + fl, h, nl);
                fl += nl;
                rc = tar_set_name(e->name, full, fl);
            }
            if (rc < 0) {
                kk_error(err, KK_ERR_INVALID, 0, "tar member at offset %llu has an unusable name",
                         (unsigned long long)off);
                goto out;
            }
            e->offset = data;
            e->size = size;
            t->n++;
        }
        /* Directories, links and the rest carry nothing an image import reads. */
        has_next_name = has_next_size = false;
        off = next;
    }
    ret = 0;
out:
    free(ext);
    if (ret < 0)
        ctrd_tar_free(t);
    return ret;
}

void ctrd_tar_free(struct ctrd_tar *t)
{
    free(t->entries);
    t->entries = NULL;
    t->n = 0;
}

const struct ctrd_tar_entry *ctrd_tar_find(const struct ctrd_tar *t, const char *name)
{
    /* The last member of a name wins, as when extracting. */
    for (size_t i = t->n; i > 0; i--)
        if (strcmp(t->entries[i - 1].name, name) == 0)
            return &t->entries[i - 1];
    return NULL;
}

int ctrd_tar_read(const struct ctrd_tar *t, const struct ctrd_tar_entry *e, size_t max, char **out,
                  struct kk_err *err)
{
    if (e->size > max)
        return kk_error(err, KK_ERR_INVALID, 0, "%s in the image tarball is larger than %zu bytes", e->name,
                        max);
    char *buf = malloc((size_t)e->size + 1);
    if (buf == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading %s", e->name);
    if (ctrd_pread_full(t->fd, buf, (size_t)e->size, e->offset, err) < 0) {
        free(buf);
        return -1;
    }
    buf[e->size] = '\0';
    *out = buf;
    return 0;
}

int ctrd_tar_digest(const struct ctrd_tar *t, const struct ctrd_tar_entry *e, char out[CTRD_DIGEST_SIZE],
                    struct kk_err *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    _cleanup_free_ char *buf = malloc(CTRD_CHUNK);
    if (md == NULL || buf == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "hashing %s", e->name);
    }
    for (uint64_t done = 0; done < e->size;) {
        size_t n = e->size - done > CTRD_CHUNK ? CTRD_CHUNK : (size_t)(e->size - done);
        if (ctrd_pread_full(t->fd, buf, n, e->offset + done, err) < 0 || EVP_DigestUpdate(md, buf, n) != 1) {
            EVP_MD_CTX_free(md);
            return -1;
        }
        done += n;
    }
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    int ok = EVP_DigestFinal_ex(md, raw, &len);
    EVP_MD_CTX_free(md);
    if (ok != 1 || len != 32)
        return kk_error(err, KK_ERR_INTERNAL, 0, "hashing %s", e->name);
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[raw[i] >> 4];
        out[8 + 2 * i] = hex[raw[i] & 0xf];
    }
    out[71] = '\0';
    return 0;
}
