/* Image references: the one parser kukeond, kuke and kuke-fetchd share, after Docker's reference
 * grammar (github.com/distribution/reference), so that a name means the same registry, repository
 * and tag everywhere it is read.
 *
 *   nginx                         -> docker.io/library/nginx:latest
 *   ghcr.io/a/b:1                 -> ghcr.io/a/b:1
 *   localhost:5000/x              -> localhost:5000/x:latest
 *   127.0.0.1:5000/a/b@sha256:... -> 127.0.0.1:5000/a/b@sha256:...
 *   d/p:t@sha256:...              -> docker.io/d/p:t@sha256:...   (the tag is kept beside the digest)
 *
 * The first component is the registry when it contains '.' or ':' or is "localhost"; otherwise the
 * registry is docker.io, and a repository of one component gets "library/". Repository components
 * are lowercase [a-z0-9]+ joined by '.', '_', "__" or runs of '-'; a tag is [A-Za-z0-9_][A-Za-z0-9_.-]
 * up to 128 bytes; a digest is sha256:<64 lowercase hex>. With neither tag nor digest, the tag is
 * "latest". */
#ifndef KUKEON_COMMON_IMAGEREF_H
#define KUKEON_COMMON_IMAGEREF_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

#define KK_IMAGEREF_NAME_MAX 255 /* registry + '/' + repository, as Docker bounds it */
#define KK_IMAGEREF_TAG_MAX  128
/* The longest canonical string, NUL included: name, ':' tag, '@' digest. */
#define KK_IMAGEREF_STR_MAX (KK_IMAGEREF_NAME_MAX + 1 + KK_IMAGEREF_TAG_MAX + 1 + 71 + 1)

/* The registry of images Kukeon makes itself (the pause image); never pulled. */
#define KK_IMAGEREF_INTERNAL_DOMAIN "kukeon.internal"

struct kk_imageref {
    char domain[256]; /* "docker.io", "localhost:5000", "127.0.0.1:5000", "[::1]:5000" */
    char path[256];   /* "library/nginx" */
    char tag[129];    /* "latest"; "" when only a digest was given */
    char digest[72];  /* "sha256:<64 hex>" or "" */
};

/* Parse in; bad input is KK_ERR_INVALID naming the reference and what is wrong with it. */
int kk_imageref_parse(const char *in, struct kk_imageref *out, struct kk_err *err);

/* The canonical string into out (KK_IMAGEREF_STR_MAX is always enough). */
int kk_imageref_name(const struct kk_imageref *r, char *out, size_t size, struct kk_err *err);

/* Parse and print in one step: "busybox" -> "docker.io/library/busybox:latest" into out. The name
 * kuke-ctrd stores an image under and the name a cell's image is looked up by should both come from
 * here. */
int kk_imageref_canonical(const char *in, char *out, size_t size, struct kk_err *err);

/* The host (and port) to connect to: docker.io is served by registry-1.docker.io; any other
 * registry as written. */
const char *kk_imageref_endpoint(const struct kk_imageref *r);

/* Whether the registry is kukeon.internal: images Kukeon makes itself, which are never pulled. */
bool kk_imageref_internal(const struct kk_imageref *r);

/* Whether s is "sha256:" and 64 lowercase hex digits. */
bool kk_imageref_digest_valid(const char *s);

/* The media types of image documents both kuke-fetchd (from a registry) and kuke-ctrd (from a
 * tarball, or its content store) read. */
#define KK_MT_OCI_INDEX       "application/vnd.oci.image.index.v1+json"
#define KK_MT_OCI_MANIFEST    "application/vnd.oci.image.manifest.v1+json"
#define KK_MT_DOCKER_LIST     "application/vnd.docker.distribution.manifest.list.v2+json"
#define KK_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"

/* An index (OCI image index, Docker manifest list) or an image manifest (OCI, Docker schema 2). */
bool kk_media_is_index(const char *mt);
bool kk_media_is_manifest(const char *mt);

/* A media type, a descriptor's string: 1 to max-1 bytes of printable ASCII without blanks. */
bool kk_media_printable(const char *s, size_t max);

#endif
