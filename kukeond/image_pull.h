/* Pulling an image from its registry into a realm (docs/images.md): the controller asks kuke-fetchd
 * to resolve the reference, kuke-ctrd which blobs the realm already holds, kuke-fetchd to write the
 * rest as an OCI layout tarball into an unlinked file, and kuke-ctrd to load that file (it checks
 * every digest again). The API worker calls it for cells whose image is missing; kuke calls it
 * in-process for `kuke image pull`. The realm's credentials for the registry travel in the requests
 * to kuke-fetchd only, and are wiped here after use. */
#ifndef KUKEON_KUKEOND_IMAGE_PULL_H
#define KUKEON_KUKEOND_IMAGE_PULL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/err.h"

struct kk_ctl;

/* One blob of the image; held: the realm has it already and it is not fetched. */
struct kk_pull_blob {
    char digest[72];
    uint64_t size;
    bool held;
};

/* What a pull is about to fetch, once the reference is resolved. */
struct kk_pull_plan {
    const char *name;            /* canonical: "127.0.0.1:5000/test/busybox:1" */
    const char *manifest_digest; /* the platform's manifest: the image record's target */
    const struct kk_pull_blob *config;
    const struct kk_pull_blob *layers; /* in manifest order */
    size_t n_layers;
    uint64_t total; /* bytes to fetch: the manifest, and the config and layers not held */
};

/* Progress of a pull, for a terminal. Both callbacks may be NULL; fn is called from a thread of the
 * pull (about every 100 ms while bytes arrive), and once more from the caller's thread when the
 * fetch has ended, with the final numbers. layer is the index of the layer being written (-1 while
 * the manifest or config is), done/size its bytes; total_done/total for the whole fetch. */
struct kk_pull_progress {
    void (*begin)(void *opaque, const struct kk_pull_plan *plan);
    void (*fn)(void *opaque, int layer, uint64_t done, uint64_t size, uint64_t total_done, uint64_t total);
    void *opaque;
};

/* Where the writer of a pull's tarball is, read from the file as far as it is written: the tar
 * headers kuke-fetchd wrote (one 512-byte ustar header per member, data padded to 512; the members
 * blobs/sha256/<hex> are the plan's blobs, anything else is not counted). Reads fd with fstat and
 * pread only. scan carries what is known between calls (start it zeroed, last_layer -1); at gets
 * the layer last seen (-1 before any), its bytes and size, and the plan's bytes written so far. */
struct kk_pull_scan {
    uint64_t off;         /* the next header not yet passed */
    uint64_t done_before; /* plan bytes of the members complete before off */
    int last_layer;
};
struct kk_pull_at {
    int layer;
    uint64_t done, size, total_done;
};
void kk_pull_scan(int fd, const struct kk_pull_plan *plan, struct kk_pull_scan *scan, struct kk_pull_at *at);

/* What a pull did, for messages and tests. */
struct kk_pull_result {
    char name[512];         /* canonical name the image is recorded under */
    char digest[72];        /* the manifest's digest */
    unsigned blobs_fetched; /* as kuke-fetchd counts them (the manifest included) */
    unsigned blobs_skipped; /* held by the realm, not fetched */
    uint64_t bytes_fetched;
};

/* Pull ref into realm. name_out (may be NULL) gets the canonical name the image is recorded under.
 * Refs under kukeon.internal/ are refused (KK_ERR_INVALID): Kukeon builds those itself. Errors keep
 * kuke-fetchd's kind (NOT_FOUND: unknown repository or tag; PERMISSION: credentials refused;
 * UNAVAILABLE: registry unreachable; INVALID: a digest that does not match) and name the image and
 * the realm; a failed pull leaves no image record and no lease in the realm. */
int kk_ctl_image_pull(struct kk_ctl *ctl, const char *realm, const char *ref,
                      const struct kk_pull_progress *progress, char *name_out, size_t name_size,
                      struct kk_err *err);

/* kk_ctl_image_pull with its result (res may be NULL). */
int kk_ctl_image_pull_ex(struct kk_ctl *ctl, const char *realm, const char *ref,
                         const struct kk_pull_progress *progress, struct kk_pull_result *res,
                         struct kk_err *err);

/* The pull before the lock (docs/images.md, "Where a pull runs"): for a write method that may create
 * containers (CreateCell, MaterializeCell: the Doc's containers; ApplyDocuments: the Cell and
 * Container documents of RawYAML), pull every image a realm lacks, before the API worker takes its
 * writer lock, so a slow registry holds up that request only, not every other write and reconcile
 * pass. It reads args defensively and refuses nothing: what does not parse, or names a realm that
 * does not exist, is skipped, and the method itself then says what is wrong in its usual words. Its
 * pulls are an early start only: the method still checks every image under the lock
 * (cell_images_present). A pull that failed here is remembered for the calling thread until
 * kk_ctl_prepull_end: the method's own pull of that image into that realm (same thread) then answers
 * the same error at once instead of asking the registry again while it holds the lock, so the outcome
 * is the one without the pull before the lock (the cell recorded Failed with the registry's message),
 * and a registry that hangs is waited for once. Not remembered when the request may change a realm's
 * credentials (ApplyDocuments with a Realm document): the method then tries again with the new ones.
 * Other methods: nothing. 0 when every missing image was pulled (or none was missing), -1 when one or
 * more pulls failed (err: the last failure); *pulled (may be NULL) counts the images pulled. */
int kk_ctl_prepull(struct kk_ctl *ctl, const char *method, const json_t *args, unsigned *pulled,
                   struct kk_err *err);

/* Forget what kk_ctl_prepull remembered on this thread: after the request's method has run. */
void kk_ctl_prepull_end(void);

#endif
