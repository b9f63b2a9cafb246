/* Image references (see imageref.h): split off the digest, then the tag, then the registry, and check
 * each part against its piece of Docker's grammar. */
#include "common/imageref.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"

#define KK_IMAGEREF_QUOTE_MAX 100

/* The reference as a message may show it: printable ASCII only, cut with "..." when long. */
static const char *ref_quote(const char *in, char out[KK_IMAGEREF_QUOTE_MAX + 4])
{
    size_t i = 0;
    for (; in[i] != '\0' && i < KK_IMAGEREF_QUOTE_MAX; i++)
        out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
    if (in[i] != '\0')
        memcpy(out + i, "...", 3), i += 3;
    out[i] = '\0';
    return out;
}

#define REF_BAD(err, in, ...)                                                                                \
    ({                                                                                                       \
        char q_[KK_IMAGEREF_QUOTE_MAX + 4];                                                                  \
        char why_[160];                                                                                      \
        snprintf(why_, sizeof(why_), __VA_ARGS__);                                                           \
        kk_error(err, KK_ERR_INVALID, 0, "image reference \"%s\": %s", ref_quote(in, q_), why_);             \
    })

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool kk_imageref_digest_valid(const char *s)
{
    if (s == NULL || strncmp(s, "sha256:", 7) != 0)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!is_hex_lower(s[7 + i]))
            return false;
    return s[7 + 64] == '\0';
}

/* [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
static bool tag_valid(const char *s, size_t n)
{
    if (n == 0 || n > KK_IMAGEREF_TAG_MAX || !(is_alnum(s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(is_alnum(s[i]) || s[i] == '_' || s[i] == '.' || s[i] == '-'))
            return false;
    return true;
}

/* One repository component: [a-z0-9]+ ( ( [._] | __ | -+ ) [a-z0-9]+ )* */
static bool path_component_valid(const char *s, size_t n)
{
    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    for (size_t i = 1; i < n;) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        size_t j = i;
        if (s[i] == '.') {
            j = i + 1;
        } else if (s[i] == '_') {
            j = (s[i + 1] == '_') ? i + 2 : i + 1;
        } else if (s[i] == '-') {
            while (j < n && s[j] == '-')
                j++;
        } else {
            return false;
        }
        if (j >= n || !is_lower_alnum(s[j]))
            return false;
        i = j;
    }
    return true;
}

/* host component: [A-Za-z0-9] | [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9] */
static bool host_component_valid(const char *s, size_t n)
{
    if (n == 0 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!(is_alnum(s[i]) || s[i] == '-'))
            return false;
    return true;
}

/* host ( '.' host )* | '[' IPv6 ']', then an optional ':' port */
static bool domain_valid(const char *s, size_t n)
{
    size_t host_end = n;
    const char *colon = NULL;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL || close == s + 1)
            return false;
        for (const char *p = s + 1; p < close; p++)
            if (!(is_hex_lower(*p) || (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'))
                return false;
        host_end = (size_t)(close - s) + 1;
        if (host_end < n && s[host_end] != ':')
            return false;
        colon = host_end < n ? s + host_end : NULL;
    } else {
        colon = memchr(s, ':', n);
        host_end = colon != NULL ? (size_t)(colon - s) : n;
        size_t start = 0;
        for (size_t i = 0; i <= host_end; i++) {
            if (i == host_end || s[i] == '.') {
                if (!host_component_valid(s + start, i - start))
                    return false;
                start = i + 1;
            }
        }
    }
    if (colon != NULL) {
        size_t plen = n - (size_t)(colon - s) - 1;
        if (plen == 0 || plen > 5)
            return false;
        for (size_t i = 1; i <= plen; i++)
            if (colon[i] < '0' || colon[i] > '9')
                return false;
    }
    return true;
}

int kk_imageref_parse(const char *in, struct kk_imageref *out, struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    if (in == NULL || in[0] == '\0')
        return kk_error(err, KK_ERR_INVALID, 0,
                        "image reference is empty; name an image such as nginx or "
                        "registry.example:5000/team/app:1.0");
    size_t len = strnlen(in, KK_IMAGEREF_STR_MAX + 1);
    if (len > KK_IMAGEREF_STR_MAX - 1)
        return REF_BAD(err, in, "longer than %d bytes", KK_IMAGEREF_STR_MAX - 1);
    for (size_t i = 0; i < len; i++)
        if (in[i] <= 0x20 || in[i] >= 0x7f)
            return REF_BAD(err, in, "byte %zu is a space, a control or a non-ASCII byte", i);

    /* name [ ':' tag ] [ '@' digest ] */
    size_t name_end = len;
    const char *at = strchr(in, '@');
    if (at != NULL) {
        if (!kk_imageref_digest_valid(at + 1))
            return REF_BAD(err, in, "the digest after '@' must be sha256: and 64 lowercase hex digits");
        memcpy(out->digest, at + 1, 71);
        name_end = (size_t)(at - in);
    }
    const char *last_slash = memrchr(in, '/', name_end);
    const char *tail = last_slash != NULL ? last_slash + 1 : in;
    const char *colon = memchr(tail, ':', name_end - (size_t)(tail - in));
    if (colon != NULL) {
        size_t tlen = name_end - (size_t)(colon + 1 - in);
        if (!tag_valid(colon + 1, tlen))
            return REF_BAD(err, in,
                           tlen == 0 ? "the tag after ':' is empty"
                                     : "the tag must be [A-Za-z0-9_][A-Za-z0-9_.-]*, at most 128 bytes");
        memcpy(out->tag, colon + 1, tlen);
        name_end = (size_t)(colon - in);
    }
    if (name_end == 0)
        return REF_BAD(err, in, "no repository name");
    if (name_end > KK_IMAGEREF_NAME_MAX)
        return REF_BAD(err, in, "the name is longer than %d bytes", KK_IMAGEREF_NAME_MAX);

    /* The registry: the first component, when it looks like a host. */
    const char *path = in;
    const char *slash = memchr(in, '/', name_end);
    if (slash != NULL) {
        size_t dl = (size_t)(slash - in);
        bool is_domain = memchr(in, '.', dl) != NULL || memchr(in, ':', dl) != NULL ||
                         (dl == 9 && memcmp(in, "localhost", 9) == 0);
        if (is_domain) {
            if (!domain_valid(in, dl))
                return REF_BAD(err, in, "\"%.*s\" is not a valid registry host[:port]",
                               (int)(dl > 64 ? 64 : dl), in);
            memcpy(out->domain, in, dl);
            path = slash + 1;
        }
    }
    /* index.docker.io is Docker Hub's old name. */
    if (out->domain[0] == '\0' || strcmp(out->domain, "index.docker.io") == 0) {
        memset(out->domain, 0, sizeof(out->domain));
        kk_strlcpy(out->domain, "docker.io", sizeof(out->domain));
    }
    size_t plen = name_end - (size_t)(path - in);
    if (plen == 0)
        return REF_BAD(err, in, "no repository after the registry");
    /* Every component of the repository. */
    size_t start = 0;
    for (size_t i = 0; i <= plen; i++) {
        if (i == plen || path[i] == '/') {
            if (!path_component_valid(path + start, i - start))
                return REF_BAD(err, in,
                               i == start ? "an empty repository component (\"//\" or a trailing '/')"
                                          : "repository components are lowercase [a-z0-9] joined by '.', "
                                            "'_', \"__\" or '-'");
            start = i + 1;
        }
    }
    bool official = strcmp(out->domain, "docker.io") == 0 && memchr(path, '/', plen) == NULL;
    if (kk_snprintf(out->path, sizeof(out->path), NULL, "path", "%s%.*s", official ? "library/" : "",
                    (int)plen, path) < 0 ||
        strlen(out->domain) + 1 + strlen(out->path) > KK_IMAGEREF_NAME_MAX)
        return REF_BAD(err, in, "the canonical name is longer than %d bytes", KK_IMAGEREF_NAME_MAX);
    if (out->tag[0] == '\0' && out->digest[0] == '\0')
        kk_strlcpy(out->tag, "latest", sizeof(out->tag));
    return 0;
}

int kk_imageref_name(const struct kk_imageref *r, char *out, size_t size, struct kk_err *err)
{
    return kk_snprintf(out, size, err, "image name", "%s/%s%s%s%s%s", r->domain, r->path,
                       r->tag[0] ? ":" : "", r->tag, r->digest[0] ? "@" : "", r->digest);
}

int kk_imageref_canonical(const char *in, char *out, size_t size, struct kk_err *err)
{
    struct kk_imageref r;
    if (kk_imageref_parse(in, &r, err) < 0)
        return -1;
    return kk_imageref_name(&r, out, size, err);
}

const char *kk_imageref_endpoint(const struct kk_imageref *r)
{
    return strcmp(r->domain, "docker.io") == 0 ? "registry-1.docker.io" : r->domain;
}

bool kk_imageref_internal(const struct kk_imageref *r)
{
    return strcmp(r->domain, KK_IMAGEREF_INTERNAL_DOMAIN) == 0;
}

bool kk_media_is_index(const char *mt)
{
    return strcmp(mt, KK_MT_OCI_INDEX) == 0 || strcmp(mt, KK_MT_DOCKER_LIST) == 0;
}

bool kk_media_is_manifest(const char *mt)
{
    return strcmp(mt, KK_MT_OCI_MANIFEST) == 0 || strcmp(mt, KK_MT_DOCKER_MANIFEST) == 0;
}

bool kk_media_printable(const char *s, size_t max)
{
    size_t n = strnlen(s, max);
    if (n == 0 || n >= max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}
