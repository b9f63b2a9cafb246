/* The pause image (DESIGN.md section 7): a one-layer OCI image-layout tarball holding only the static
 * kukepause binary at /kukepause, built locally by `kuke init` so that no registry is ever needed.
 * The controller loads it into a realm's containerd namespace the first time a cell there needs it. */
#ifndef KUKEON_KUKEOND_PAUSE_IMAGE_H
#define KUKEON_KUKEOND_PAUSE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* The largest kukepause binary accepted: it is a few hundred KiB static program. */
#define KK_PAUSE_BINARY_MAX (16u * 1024 * 1024)

/* Write the image "kukeon.internal/kukepause:<version>" as an OCI image layout tarball to out_fd:
 * oci-layout, index.json (annotations org.opencontainers.image.ref.name = <version> and
 * io.containerd.image.name = the full reference), and blobs/sha256/ holding the config, the manifest
 * and one uncompressed layer with /kukepause (mode 0755, owner 0:0, mtime 0). The same binary and
 * version give the same bytes. version: [A-Za-z0-9_.-], 1..128 bytes (a tag). */
int kk_pause_image_write(const char *kukepause_path, const char *version, int out_fd, struct kk_err *err);

/* SHA-256 of len bytes as 64 lowercase hex digits and a NUL. Written here because libcrypto is linked
 * into kuke-ctrd only, and kuke and kukeond need nothing else of it. */
void kk_sha256_hex(const void *data, size_t len, char out[65]);

#endif
