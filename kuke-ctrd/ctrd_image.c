/* Images in a realm's namespace: load from an OCI layout or docker-archive tarball (content written
 * through the Content service, layers unpacked with Diff.Apply, the garbage-collection labels set as ctr
 * sets them, all under an expiring lease so that a failed load leaves nothing), list, remove, prune,
 * and the resolution of an image to the config and snapshot a container needs. */
#include "kuke-ctrd/ctrd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/imageref.h"
#include "common/log.h"
#include "common/util.h"

#define MT_DOCKER_CONFIG       "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER        "application/vnd.docker.image.rootfs.diff.tar"
#define MT_DOCKER_LAYER_GZ     "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define CTRD_INDEX_ENTRIES_MAX 64

/* ---- documents -------------------------------------------------------------------------------- */

int ctrd_desc_from_json(const json_t *j, struct ctrd_desc *d, struct kk_err *err)
{
    memset(d, 0, sizeof(*d));
    const char *mt = json_string_value(json_object_get(j, "mediaType"));
    const char *dg = json_string_value(json_object_get(j, "digest"));
    const json_t *sz = json_object_get(j, "size");
    if (!json_is_object(j) || dg == NULL || !json_is_integer(sz) || json_integer_value(sz) < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "an image descriptor lacks its digest or size");
    if (!ctrd_digest_valid(dg))
        return kk_error(err, KK_ERR_INVALID, 0, "image descriptor digest \"%.80s\" is not sha256:<64 hex>",
                        dg);
    if (mt != NULL && !kk_media_printable(mt, sizeof(d->media_type)))
        return kk_error(err, KK_ERR_INVALID, 0, "image descriptor %s has an unusable media type", dg);
    kk_strlcpy(d->media_type, mt != NULL ? mt : "", sizeof(d->media_type));
    kk_strlcpy(d->digest, dg, sizeof(d->digest));
    d->size = (uint64_t)json_integer_value(sz);
    return 0;
}

int ctrd_index_pick(const json_t *index, const char *arch, struct ctrd_desc *out, struct kk_err *err)
{
    const json_t *ms = json_object_get(index, "manifests");
    if (!json_is_array(ms) || json_array_size(ms) == 0)
        return kk_error(err, KK_ERR_INVALID, 0, "image index lists no manifests");
    if (json_array_size(ms) > CTRD_INDEX_ENTRIES_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "image index lists more than %d manifests",
                        CTRD_INDEX_ENTRIES_MAX);
    size_t i;
    const json_t *m;
    json_array_foreach(ms, i, m)
    {
        const json_t *p = json_object_get(m, "platform");
        const char *os = json_string_value(json_object_get(p, "os"));
        const char *ar = json_string_value(json_object_get(p, "architecture"));
        bool match = p == NULL
                         ? json_array_size(ms) == 1
                         : (os != NULL && ar != NULL && strcmp(os, "linux") == 0 && strcmp(ar, arch) == 0);
        if (match)
            return ctrd_desc_from_json(m, out, err);
    }
    return kk_error(err, KK_ERR_INVALID, 0, "the image has no manifest for linux/%s", arch);
}

int ctrd_manifest_parse(const json_t *manifest, struct ctrd_desc *config, struct ctrd_desc *layers,
                        size_t *n_layers, struct kk_err *err)
{
    if (ctrd_desc_from_json(json_object_get(manifest, "config"), config, err) < 0)
        return kk_error_wrap(err, "image manifest config");
    const json_t *ls = json_object_get(manifest, "layers");
    if (!json_is_array(ls))
        return kk_error(err, KK_ERR_INVALID, 0, "image manifest has no layers list");
    if (json_array_size(ls) > CTRD_LAYERS_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "image has more than %d layers", CTRD_LAYERS_MAX);
    size_t i;
    const json_t *l;
    json_array_foreach(ls, i, l)
    {
        if (ctrd_desc_from_json(l, &layers[i], err) < 0)
            return kk_error_wrap(err, "image layer %zu", i);
    }
    *n_layers = json_array_size(ls);
    return 0;
}

int ctrd_config_diff_ids(const json_t *config, char (*diff_ids)[CTRD_DIGEST_SIZE], size_t *n,
                         struct kk_err *err)
{
    const json_t *ids = json_object_get(json_object_get(config, "rootfs"), "diff_ids");
    if (!json_is_array(ids) || json_array_size(ids) > CTRD_LAYERS_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "image config has no usable rootfs.diff_ids");
    size_t i;
    const json_t *d;
    json_array_foreach(ids, i, d)
    {
        const char *s = json_string_value(d);
        if (!ctrd_digest_valid(s))
            return kk_error(err, KK_ERR_INVALID, 0, "image config diff id %zu is not sha256:<64 hex>", i);
        kk_strlcpy(diff_ids[i], s, CTRD_DIGEST_SIZE);
    }
    *n = json_array_size(ids);
    return 0;
}

static json_t *ctrd_json_parse(const char *buf, size_t len, const char *what, struct kk_err *err)
{
    json_error_t je;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (j == NULL || !json_is_object(j) || json_is_array(j)) {
        if (j != NULL && json_is_array(j))
            return j; /* docker's manifest.json is an array: the caller checks the type */
        json_decref(j);
        kk_error(err, KK_ERR_INVALID, 0, "%s is not a JSON object: %s (line %d)", what,
                 j == NULL ? je.text : "", je.line);
        return NULL;
    }
    return j;
}

/* The config's platform must be this host's (docker archives and manifests listed without one). */
static int ctrd_config_platform_check(const json_t *config, const char *arch, struct kk_err *err)
{
    const char *os = json_string_value(json_object_get(config, "os"));
    const char *ar = json_string_value(json_object_get(config, "architecture"));
    if ((os != NULL && strcmp(os, "linux") != 0) || (ar != NULL && strcmp(ar, arch) != 0))
        return kk_error(err, KK_ERR_INVALID, 0, "the image is for %s/%s; this host runs linux/%s",
                        os != NULL ? os : "?", ar != NULL ? ar : "?", arch);
    return 0;
}

/* Canonical names, as ctr and the Go Kukeon store them: "busybox" -> "docker.io/library/busybox:latest". */
int ctrd_image_name_canonical(const char *in, char *out, size_t size, struct kk_err *err)
{
    if (ctrd_image_name_check(in, err) < 0)
        return -1;
    if (kk_imageref_canonical(in, out, size, err) < 0)
        return -1;
    return ctrd_image_name_check(out, err);
}

/* ---- writing content -------------------------------------------------------------------------- */

/* Where a blob's bytes come from: a tar member or memory. */
struct ctrd_blob_src {
    const struct ctrd_tar *tar;
    const struct ctrd_tar_entry *entry;
    const char *mem;
    const char *what; /* "layer 2", "the config": names a blob the tarball lacks */
};

struct ctrd_write_state {
    const struct ctrd_desc *desc;
    struct ctrd_blob_src src;
    const struct ctrd_labels *labels;
    char ref[128];
    uint64_t sent;
    bool committed, commit_sent;
    char *chunk;
    struct ctrd_label_entries entries;
    Containerd__Services__Content__V1__WriteContentRequest req;
};

static int ctrd_write_step(const ProtobufCMessage *reply, const ProtobufCMessage **next, void *opaque,
                           struct kk_err *err)
{
    struct ctrd_write_state *st = opaque;
    if (reply != NULL) {
        const Containerd__Services__Content__V1__WriteContentResponse *r = (const void *)reply;
        if (st->commit_sent) {
            st->committed = true;
            if (r->digest != NULL && r->digest[0] != '\0' && strcmp(r->digest, st->desc->digest) != 0)
                return kk_error(err, KK_ERR_INTERNAL, 0, "containerd committed %s as %s", st->desc->digest,
                                r->digest);
            *next = NULL;
            return 0;
        }
    }
    Containerd__Services__Content__V1__WriteContentRequest *q = &st->req;
    containerd__services__content__v1__write_content_request__init(q);
    q->ref = st->ref;
    q->total = (int64_t)st->desc->size;
    q->expected = (char *)st->desc->digest;
    q->offset = (int64_t)st->sent;
    if (st->sent < st->desc->size) {
        size_t n = st->desc->size - st->sent > CTRD_CHUNK ? CTRD_CHUNK : (size_t)(st->desc->size - st->sent);
        if (st->src.mem != NULL) {
            q->data.data = (uint8_t *)st->src.mem + st->sent;
        } else {
            ssize_t got = pread(st->src.tar->fd, st->chunk, n, (off_t)(st->src.entry->offset + st->sent));
            if (got != (ssize_t)n)
                return kk_error(err, KK_ERR_INVALID, got < 0 ? errno : 0, "reading %s from the image tarball",
                                st->src.entry->name);
            q->data.data = (uint8_t *)st->chunk;
        }
        q->data.len = n;
        q->action = CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__WRITE;
        st->sent += n;
    } else {
        q->action = CONTAINERD__SERVICES__CONTENT__V1__WRITE_ACTION__COMMIT;
        q->labels = ctrd_label_entries(
            &st->entries, st->labels,
            &containerd__services__content__v1__write_content_request__labels_entry__descriptor);
        q->n_labels = st->labels->n;
        st->commit_sent = true;
    }
    *next = &q->base;
    return 0;
}

/* Content.Update the labels of a blob that was already there. */
static int ctrd_content_label(struct ctrd_conn *conn, const char *ns, const char *lease, const char *digest,
                              const struct ctrd_labels *labels, struct kk_err *err)
{
    if (labels->n == 0)
        return 0;
    struct ctrd_label_entries e;
    Containerd__Services__Content__V1__Info info = CONTAINERD__SERVICES__CONTENT__V1__INFO__INIT;
    info.digest = (char *)digest;
    info.labels =
        ctrd_label_entries(&e, labels, &containerd__services__content__v1__info__labels_entry__descriptor);
    info.n_labels = labels->n;
    char paths[CTRD_LABELS_MAX][140];
    char *pp[CTRD_LABELS_MAX];
    for (size_t i = 0; i < labels->n; i++) {
        snprintf(paths[i], sizeof(paths[i]), "labels.%s", labels->key[i]);
        pp[i] = paths[i];
    }
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    mask.paths = pp;
    mask.n_paths = labels->n;
    Containerd__Services__Content__V1__UpdateRequest req =
        CONTAINERD__SERVICES__CONTENT__V1__UPDATE_REQUEST__INIT;
    req.info = &info;
    req.update_mask = &mask;
    return ctrd_unary(conn, CTRD_SVC_CONTENT, "Update", ns, lease, &req.base, NULL, CTRD_TIMEOUT_DEFAULT_MS,
                      err);
}

static int ctrd_lease_add_content(struct ctrd_conn *conn, const char *ns, const char *lease,
                                  const char *digest, struct kk_err *err)
{
    Containerd__Services__Leases__V1__Resource res = CONTAINERD__SERVICES__LEASES__V1__RESOURCE__INIT;
    res.id = (char *)digest;
    res.type = "content";
    Containerd__Services__Leases__V1__AddResourceRequest req =
        CONTAINERD__SERVICES__LEASES__V1__ADD_RESOURCE_REQUEST__INIT;
    req.id = (char *)lease;
    req.resource = &res;
    return ctrd_unary(conn, CTRD_SVC_LEASES, "AddResource", ns, NULL, &req.base, NULL,
                      CTRD_TIMEOUT_DEFAULT_MS, err);
}

/* Content.Info of digest in ns: 1 held (*size its size), 0 not held, -1 with err. */
static int ctrd_content_info(struct ctrd_conn *conn, const char *ns, const char *digest, uint64_t *size,
                             struct kk_err *err)
{
    Containerd__Services__Content__V1__InfoRequest req =
        CONTAINERD__SERVICES__CONTENT__V1__INFO_REQUEST__INIT;
    req.digest = (char *)digest;
    Containerd__Services__Content__V1__InfoResponse *r = NULL;
    struct kk_err ierr;
    if (ctrd_unary(conn, CTRD_SVC_CONTENT, "Info", ns, NULL, &req.base, (ProtobufCMessage **)&r,
                   CTRD_TIMEOUT_DEFAULT_MS, &ierr) < 0) {
        if (ierr.kind == KK_ERR_NOT_FOUND)
            return 0;
        *err = ierr;
        return kk_error_wrap(err, "asking containerd about %s in %s", digest, ns);
    }
    int held = r->info != NULL && r->info->size >= 0;
    if (held)
        *size = (uint64_t)r->info->size;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return held;
}

int ctrd_content_held(struct ctrd *c, const char *ns, char *const *digests, size_t n,
                      Kukeon__Ipc__Ctrd__ContentHeldReply *out, struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    out->held = calloc(n + 1, sizeof(*out->held));
    out->sizes = calloc(n + 1, sizeof(*out->sizes));
    if (out->held == NULL || out->sizes == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "content held reply");
    for (size_t i = 0; i < n; i++) {
        uint64_t size = 0;
        int rc = ctrd_content_info(conn, ns, digests[i], &size, err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue;
        out->held[out->n_held++] = digests[i];
        out->sizes[out->n_sizes++] = size;
    }
    return 0;
}

/* A blob the tarball leaves out because the namespace holds it (a pull skipped it): leased first, so
 * that containerd cannot collect it from here on, then checked to be there with the descriptor's size,
 * then labelled as this image needs. */
static int ctrd_content_adopt(struct ctrd_conn *conn, const char *ns, const char *lease,
                              const struct ctrd_desc *desc, const char *what,
                              const struct ctrd_labels *labels, struct kk_err *err)
{
    if (ctrd_lease_add_content(conn, ns, lease, desc->digest, err) < 0)
        return kk_error_wrap(err, "leasing %s (%s) in %s", desc->digest, what, ns);
    uint64_t size = 0;
    int rc = ctrd_content_info(conn, ns, desc->digest, &size, err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "the image tarball lacks blobs/sha256/%s (%s) and namespace %s does not hold it: the "
                        "tarball is incomplete",
                        desc->digest + 7, what, ns);
    if (size != desc->size)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "the image tarball lacks %s (%s); namespace %s holds it with %llu bytes, but the "
                        "manifest says %llu",
                        desc->digest, what, ns, (unsigned long long)size, (unsigned long long)desc->size);
    return ctrd_content_label(conn, ns, lease, desc->digest, labels, err);
}

/* Write desc's blob from src, committed with its expected digest and size (containerd checks both);
 * a blob the namespace already holds joins the lease instead. A src with neither entry nor mem is a
 * blob the tarball left out: it must be held (ctrd_content_adopt). */
static int ctrd_content_write(struct ctrd_conn *conn, const char *ns, const char *lease,
                              const struct ctrd_desc *desc, struct ctrd_blob_src src,
                              const struct ctrd_labels *labels, struct kk_err *err)
{
    if (src.entry == NULL && src.mem == NULL)
        return ctrd_content_adopt(conn, ns, lease, desc, src.what != NULL ? src.what : "a blob", labels, err);
    if (src.entry != NULL && src.entry->size != desc->size)
        return kk_error(err, KK_ERR_INVALID, 0, "%s is %llu bytes in the tarball, its descriptor says %llu",
                        desc->digest, (unsigned long long)src.entry->size, (unsigned long long)desc->size);
    struct ctrd_write_state *st = calloc(1, sizeof(*st));
    if (st == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "writing %s", desc->digest);
    st->desc = desc;
    st->src = src;
    st->labels = labels;
    snprintf(st->ref, sizeof(st->ref), "%s-%.23s", lease, desc->digest + 7);
    if (src.mem == NULL && (st->chunk = malloc(CTRD_CHUNK)) == NULL) {
        free(st);
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "writing %s", desc->digest);
    }
    struct kk_err werr;
    kk_err_clear(&werr);
    int rc = ctrd_bidi(conn, CTRD_SVC_CONTENT, "Write", ns, lease, ctrd_write_step, st, CTRD_TIMEOUT_LONG_MS,
                       &werr);
    bool committed = st->committed;
    free(st->chunk);
    free(st);
    if (rc == 0 && committed)
        return 0;
    if (rc == 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "Content.Write of %s ended without a commit", desc->digest);
    if (werr.kind != KK_ERR_EXISTS) {
        *err = werr;
        return kk_error_wrap(err, "writing blob %s into %s%s", desc->digest, ns,
                             werr.kind == KK_ERR_INVALID ? " (the tarball is corrupt or incomplete)" : "");
    }
    /* Already there: protect it for the rest of the load and label it as this image needs. */
    if (ctrd_lease_add_content(conn, ns, lease, desc->digest, err) < 0)
        return -1;
    return ctrd_content_label(conn, ns, lease, desc->digest, labels, err);
}

/* ---- unpacking -------------------------------------------------------------------------------- */

static int ctrd_snapshot_exists(struct ctrd_conn *conn, const char *ns, const char *key, bool *exists,
                                struct kk_err *err)
{
    Containerd__Services__Snapshots__V1__StatSnapshotRequest req =
        CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_REQUEST__INIT;
    req.snapshotter = CTRD_SNAPSHOTTER;
    req.key = (char *)key;
    struct kk_err serr;
    if (ctrd_unary(conn, CTRD_SVC_SNAPSHOTS, "Stat", ns, NULL, &req.base, NULL, CTRD_TIMEOUT_DEFAULT_MS,
                   &serr) == 0) {
        *exists = true;
        return 0;
    }
    if (serr.kind == KK_ERR_NOT_FOUND) {
        *exists = false;
        return 0;
    }
    *err = serr;
    return -1;
}

static void ctrd_snapshot_remove_quiet(struct ctrd_conn *conn, const char *ns, const char *key)
{
    Containerd__Services__Snapshots__V1__RemoveSnapshotRequest rm =
        CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
    rm.snapshotter = CTRD_SNAPSHOTTER;
    rm.key = (char *)key;
    struct kk_err e;
    if (ctrd_unary(conn, CTRD_SVC_SNAPSHOTS, "Remove", ns, NULL, &rm.base, NULL, CTRD_TIMEOUT_LONG_MS, &e) <
            0 &&
        e.kind != KK_ERR_NOT_FOUND)
        kk_warn("removing snapshot %s in %s: %s", key, ns, e.msg);
}

static int ctrd_unpack_layer(struct ctrd_conn *conn, const char *ns, const char *lease,
                             const struct ctrd_desc *layer, const char *diff_id, const char *parent,
                             const char *chain, struct kk_err *err)
{
    char rnd[13], key[128];
    if (ctrd_random_hex(rnd, 12, err) < 0)
        return -1;
    snprintf(key, sizeof(key), "extract-%s-%s", rnd, chain);
    Containerd__Services__Snapshots__V1__PrepareSnapshotRequest prep =
        CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
    prep.snapshotter = CTRD_SNAPSHOTTER;
    prep.key = key;
    prep.parent = (char *)parent;
    Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *mounts = NULL;
    if (ctrd_unary(conn, CTRD_SVC_SNAPSHOTS, "Prepare", ns, lease, &prep.base, (ProtobufCMessage **)&mounts,
                   CTRD_TIMEOUT_DEFAULT_MS, err) < 0)
        return -1;
    Containerd__Types__Descriptor d = CONTAINERD__TYPES__DESCRIPTOR__INIT;
    d.media_type = (char *)layer->media_type;
    d.digest = (char *)layer->digest;
    d.size = (int64_t)layer->size;
    Containerd__Services__Diff__V1__ApplyRequest apply = CONTAINERD__SERVICES__DIFF__V1__APPLY_REQUEST__INIT;
    apply.diff = &d;
    apply.mounts = mounts->mounts;
    apply.n_mounts = mounts->n_mounts;
    Containerd__Services__Diff__V1__ApplyResponse *applied = NULL;
    int rc = ctrd_unary(conn, CTRD_SVC_DIFF, "Apply", ns, lease, &apply.base, (ProtobufCMessage **)&applied,
                        CTRD_TIMEOUT_LONG_MS, err);
    protobuf_c_message_free_unpacked(&mounts->base, NULL);
    if (rc == 0) {
        const char *got = applied->applied != NULL ? applied->applied->digest : NULL;
        if (got == NULL || strcmp(got, diff_id) != 0)
            rc = kk_error(err, KK_ERR_INVALID, 0,
                          "layer %s unpacks to %s, but the image config says %s: the image is corrupt",
                          layer->digest, got != NULL ? got : "nothing", diff_id);
        protobuf_c_message_free_unpacked(&applied->base, NULL);
    }
    if (rc == 0) {
        Containerd__Services__Snapshots__V1__CommitSnapshotRequest commit =
            CONTAINERD__SERVICES__SNAPSHOTS__V1__COMMIT_SNAPSHOT_REQUEST__INIT;
        commit.snapshotter = CTRD_SNAPSHOTTER;
        commit.name = (char *)chain;
        commit.key = key;
        struct kk_err cerr;
        rc = ctrd_unary(conn, CTRD_SVC_SNAPSHOTS, "Commit", ns, lease, &commit.base, NULL,
                        CTRD_TIMEOUT_LONG_MS, &cerr);
        if (rc == 0)
            return 0;
        if (cerr.kind == KK_ERR_EXISTS)
            rc = 0; /* another load committed the same layer first */
        else
            *err = cerr;
    }
    ctrd_snapshot_remove_quiet(conn, ns, key);
    return rc;
}

static int ctrd_unpack(struct ctrd_conn *conn, const char *ns, const char *lease,
                       const struct ctrd_desc *layers, char (*diff_ids)[CTRD_DIGEST_SIZE],
                       char (*chain)[CTRD_DIGEST_SIZE], size_t n, struct kk_err *err)
{
    for (size_t i = 0; i < n; i++) {
        bool exists;
        if (ctrd_snapshot_exists(conn, ns, chain[i], &exists, err) < 0)
            return -1;
        if (exists)
            continue;
        if (ctrd_unpack_layer(conn, ns, lease, &layers[i], diff_ids[i], i > 0 ? chain[i - 1] : "", chain[i],
                              err) < 0)
            return kk_error_wrap(err, "unpacking layer %zu (%s)", i, layers[i].digest);
    }
    return 0;
}

/* ---- one image -------------------------------------------------------------------------------- */

static int ctrd_image_record(struct ctrd_conn *conn, const char *ns, const char *lease, const char *name,
                             const struct ctrd_desc *target, struct kk_err *err)
{
    Containerd__Types__Descriptor d = CONTAINERD__TYPES__DESCRIPTOR__INIT;
    d.media_type = (char *)target->media_type;
    d.digest = (char *)target->digest;
    d.size = (int64_t)target->size;
    Containerd__Services__Images__V1__Image img = CONTAINERD__SERVICES__IMAGES__V1__IMAGE__INIT;
    img.name = (char *)name;
    img.target = &d;
    Containerd__Services__Images__V1__CreateImageRequest req =
        CONTAINERD__SERVICES__IMAGES__V1__CREATE_IMAGE_REQUEST__INIT;
    req.image = &img;
    struct kk_err cerr;
    if (ctrd_unary(conn, CTRD_SVC_IMAGES, "Create", ns, lease, &req.base, NULL, CTRD_TIMEOUT_DEFAULT_MS,
                   &cerr) == 0)
        return 0;
    if (cerr.kind != KK_ERR_EXISTS) {
        *err = cerr;
        return -1;
    }
    char *paths[] = {"target"};
    Google__Protobuf__FieldMask mask = GOOGLE__PROTOBUF__FIELD_MASK__INIT;
    mask.paths = paths;
    mask.n_paths = 1;
    Containerd__Services__Images__V1__UpdateImageRequest up =
        CONTAINERD__SERVICES__IMAGES__V1__UPDATE_IMAGE_REQUEST__INIT;
    up.image = &img;
    up.update_mask = &mask;
    return ctrd_unary(conn, CTRD_SVC_IMAGES, "Update", ns, lease, &up.base, NULL, CTRD_TIMEOUT_DEFAULT_MS,
                      err);
}

/* Everything one manifest needs: its config and layers written and labelled, layers unpacked. The
 * manifest itself is written from msrc. */
struct ctrd_load_ctx {
    struct ctrd *c;
    struct ctrd_conn *conn;
    const char *ns;
    const char *lease;
    const struct ctrd_tar *tar;
};

static const struct ctrd_tar_entry *ctrd_oci_blob(const struct ctrd_tar *t, const char *digest,
                                                  struct kk_err *err)
{
    char name[96];
    snprintf(name, sizeof(name), "blobs/sha256/%s", digest + 7);
    const struct ctrd_tar_entry *e = ctrd_tar_find(t, name);
    if (e == NULL)
        kk_error(err, KK_ERR_INVALID, 0, "the image tarball lacks %s (a blob its index refers to)", name);
    return e;
}

/* layer_entries: where each layer's bytes are in the tarball (docker archives name them by path), or
 * NULL to find them as OCI blobs by digest. */
static int ctrd_load_manifest(struct ctrd_load_ctx *lc, const struct ctrd_desc *mdesc,
                              struct ctrd_blob_src msrc, const json_t *manifest,
                              const struct ctrd_tar_entry *const *layer_entries, struct ctrd_blob_src csrc,
                              const json_t *config, uint64_t *total, struct kk_err *err)
{
    struct ctrd_desc cdesc;
    struct ctrd_desc *layers = calloc(CTRD_LAYERS_MAX, sizeof(*layers));
    char(*diff_ids)[CTRD_DIGEST_SIZE] = calloc(CTRD_LAYERS_MAX, CTRD_DIGEST_SIZE);
    char(*chain)[CTRD_DIGEST_SIZE] = calloc(CTRD_LAYERS_MAX, CTRD_DIGEST_SIZE);
    size_t n = 0, nd = 0;
    int ret = -1;
    if (layers == NULL || diff_ids == NULL || chain == NULL) {
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "loading an image");
        goto out;
    }
    if (ctrd_manifest_parse(manifest, &cdesc, layers, &n, err) < 0 ||
        ctrd_config_diff_ids(config, diff_ids, &nd, err) < 0 ||
        ctrd_config_platform_check(config, lc->c->arch, err) < 0)
        goto out;
    if (n != nd || n == 0) {
        kk_error(err, KK_ERR_INVALID, 0, "image %s has %zu layers but %zu diff ids", mdesc->digest, n, nd);
        goto out;
    }
    if (ctrd_chain_ids(diff_ids, n, chain, err) < 0)
        goto out;
    *total = mdesc->size + cdesc.size;
    for (size_t i = 0; i < n; i++) {
        /* An OCI layout may leave out a layer the namespace holds (ctrd_content_adopt checks it is). */
        char what[32];
        snprintf(what, sizeof(what), "layer %zu", i);
        struct ctrd_blob_src src = {.tar = lc->tar, .what = what};
        if (layer_entries != NULL) {
            src.entry = layer_entries[i];
        } else {
            char path[96];
            snprintf(path, sizeof(path), "blobs/sha256/%s", layers[i].digest + 7);
            src.entry = ctrd_tar_find(lc->tar, path);
        }
        struct ctrd_labels ll = {0};
        if (ctrd_labels_add(&ll, "containerd.io/uncompressed", diff_ids[i], err) < 0 ||
            ctrd_content_write(lc->conn, lc->ns, lc->lease, &layers[i], src, &ll, err) < 0)
            goto out;
        *total += layers[i].size;
    }
    struct ctrd_labels cl = {0};
    char key[96];
    snprintf(key, sizeof(key), "containerd.io/gc.ref.snapshot.%s", CTRD_SNAPSHOTTER);
    if (ctrd_labels_add(&cl, key, chain[n - 1], err) < 0 ||
        ctrd_content_write(lc->conn, lc->ns, lc->lease, &cdesc, csrc, &cl, err) < 0)
        goto out;
    struct ctrd_labels ml = {0};
    if (ctrd_labels_add(&ml, "containerd.io/gc.ref.content.config", cdesc.digest, err) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "containerd.io/gc.ref.content.l.%zu", i);
        if (ml.n < CTRD_LABELS_MAX && ctrd_labels_add(&ml, key, layers[i].digest, err) < 0)
            goto out;
    }
    if (ctrd_content_write(lc->conn, lc->ns, lc->lease, mdesc, msrc, &ml, err) < 0)
        goto out;
    if (ctrd_unpack(lc->conn, lc->ns, lc->lease, layers, diff_ids, chain, n, err) < 0)
        goto out;
    ret = 0;
out:
    free(layers);
    free(diff_ids);
    free(chain);
    return ret;
}

static int ctrd_reply_add(Kukeon__Ipc__Ctrd__ImageLoadReply *out, const char *name,
                          const struct ctrd_desc *target, uint64_t size)
{
    if (out->n_images >= CTRD_INDEX_ENTRIES_MAX)
        return -1;
    if (out->images == NULL && (out->images = calloc(CTRD_INDEX_ENTRIES_MAX, sizeof(*out->images))) == NULL)
        return -1;
    Kukeon__Ipc__Ctrd__Image *img = calloc(1, sizeof(*img));
    if (img == NULL)
        return -1;
    kukeon__ipc__ctrd__image__init(img);
    img->name = strdup(name);
    img->digest = strdup(target->digest);
    img->media_type = strdup(target->media_type);
    img->size = size;
    img->unpacked = true;
    out->images[out->n_images++] = img;
    return 0;
}

static int ctrd_read_json(struct ctrd *c, const char *ns, const char *digest, const char *what, json_t **out,
                          struct kk_err *err);

/* One entry of an OCI layout's index.json: a manifest, or an index of which the host's manifest is
 * loaded (the index itself is written too, labelled with every child, and is the image's target). */
static int ctrd_load_oci_entry(struct ctrd_load_ctx *lc, const struct ctrd_desc *target, const char *name,
                               Kukeon__Ipc__Ctrd__ImageLoadReply *out, struct kk_err *err)
{
    struct ctrd_desc mdesc = *target;
    json_t *index = NULL, *manifest = NULL, *config = NULL;
    char *buf = NULL;
    int ret = -1;
    uint64_t total = 0;
    const struct ctrd_tar_entry *ie = NULL;
    if (kk_media_is_index(target->media_type)) {
        ie = ctrd_oci_blob(lc->tar, target->digest, err);
        if (ie == NULL || ctrd_tar_read(lc->tar, ie, CTRD_DOC_MAX, &buf, err) < 0 ||
            (index = ctrd_json_parse(buf, ie->size, "image index", err)) == NULL ||
            ctrd_index_pick(index, lc->c->arch, &mdesc, err) < 0)
            goto out;
        free(buf);
        buf = NULL;
        if (!kk_media_is_manifest(mdesc.media_type)) {
            kk_error(err, KK_ERR_INVALID, 0, "image index %s points to a %s, not a manifest", target->digest,
                     mdesc.media_type);
            goto out;
        }
    } else if (!kk_media_is_manifest(target->media_type)) {
        kk_error(err, KK_ERR_INVALID, 0, "index.json lists a %s, neither an image manifest nor an index",
                 target->media_type);
        goto out;
    }
    const struct ctrd_tar_entry *me = ctrd_oci_blob(lc->tar, mdesc.digest, err);
    if (me == NULL || ctrd_tar_read(lc->tar, me, CTRD_DOC_MAX, &buf, err) < 0 ||
        (manifest = ctrd_json_parse(buf, me->size, "image manifest", err)) == NULL)
        goto out;
    free(buf);
    buf = NULL;
    struct ctrd_desc cdesc;
    if (ctrd_desc_from_json(json_object_get(manifest, "config"), &cdesc, err) < 0)
        goto out;
    /* The config, like a layer, may be left out when the namespace holds it: read from there. */
    char cpath[96];
    snprintf(cpath, sizeof(cpath), "blobs/sha256/%s", cdesc.digest + 7);
    const struct ctrd_tar_entry *ce = ctrd_tar_find(lc->tar, cpath);
    if (ce != NULL) {
        if (ctrd_tar_read(lc->tar, ce, CTRD_DOC_MAX, &buf, err) < 0 ||
            (config = ctrd_json_parse(buf, ce->size, "image config", err)) == NULL)
            goto out;
    } else if (ctrd_read_json(lc->c, lc->ns, cdesc.digest, "config", &config, err) < 0) {
        if (err != NULL && err->kind == KK_ERR_NOT_FOUND)
            kk_error(err, KK_ERR_INVALID, 0,
                     "the image tarball lacks %s (the config) and namespace %s does not hold it: the tarball "
                     "is incomplete",
                     cpath, lc->ns);
        goto out;
    }
    if (ctrd_load_manifest(lc, &mdesc, (struct ctrd_blob_src){.tar = lc->tar, .entry = me}, manifest, NULL,
                           (struct ctrd_blob_src){.tar = lc->tar, .entry = ce, .what = "the config"}, config,
                           &total, err) < 0)
        goto out;
    if (index != NULL) {
        struct ctrd_labels il = {0};
        const json_t *ms = json_object_get(index, "manifests");
        size_t i;
        const json_t *m;
        json_array_foreach(ms, i, m)
        {
            struct ctrd_desc child;
            char key[64];
            snprintf(key, sizeof(key), "containerd.io/gc.ref.content.m.%zu", i);
            if (ctrd_desc_from_json(m, &child, err) < 0 || ctrd_labels_add(&il, key, child.digest, err) < 0)
                goto out;
        }
        if (ctrd_content_write(lc->conn, lc->ns, lc->lease, target,
                               (struct ctrd_blob_src){.tar = lc->tar, .entry = ie}, &il, err) < 0)
            goto out;
        total += target->size;
    }
    if (ctrd_image_record(lc->conn, lc->ns, lc->lease, name, target, err) < 0)
        goto out;
    if (ctrd_reply_add(out, name, target, total) < 0) {
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "image load reply");
        goto out;
    }
    ret = 0;
out:
    free(buf);
    json_decref(index);
    json_decref(manifest);
    json_decref(config);
    return ret;
}

/* The archive's JSON document at path (index.json, manifest.json), parsed; NULL with err set. */
static json_t *ctrd_load_doc(struct ctrd_load_ctx *lc, const char *path, struct kk_err *err)
{
    const struct ctrd_tar_entry *e = ctrd_tar_find(lc->tar, path);
    char *buf = NULL;
    if (ctrd_tar_read(lc->tar, e, CTRD_DOC_MAX, &buf, err) < 0)
        return NULL;
    json_t *doc = ctrd_json_parse(buf, e->size, path, err);
    free(buf);
    return doc;
}

/* A name given with the load applies to one image: refuse an archive listing more. */
static int ctrd_load_name_fits(const json_t *images, const char *name, struct kk_err *err)
{
    if (name != NULL && json_array_size(images) != 1)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "the archive holds %zu images; a name can only be given to one",
                        json_array_size(images));
    return 0;
}

static int ctrd_load_oci(struct ctrd_load_ctx *lc, const char *name, Kukeon__Ipc__Ctrd__ImageLoadReply *out,
                         struct kk_err *err)
{
    json_t *index = ctrd_load_doc(lc, "index.json", err);
    if (index == NULL)
        return -1;
    int ret = -1;
    const json_t *ms = json_object_get(index, "manifests");
    if (!json_is_array(ms) || json_array_size(ms) == 0 || json_array_size(ms) > CTRD_INDEX_ENTRIES_MAX) {
        kk_error(err, KK_ERR_INVALID, 0, "index.json lists no images (or more than %d)",
                 CTRD_INDEX_ENTRIES_MAX);
        goto out;
    }
    if (ctrd_load_name_fits(ms, name, err) < 0)
        goto out;
    size_t i;
    const json_t *m;
    json_array_foreach(ms, i, m)
    {
        struct ctrd_desc target;
        if (ctrd_desc_from_json(m, &target, err) < 0)
            goto out;
        const json_t *ann = json_object_get(m, "annotations");
        const char *n = name;
        if (n == NULL)
            n = json_string_value(json_object_get(ann, "io.containerd.image.name"));
        if (n == NULL) {
            /* An OCI ref.name is a tag alone ("latest") unless a tool put a full reference there. */
            const char *ref = json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name"));
            if (ref != NULL && strchr(ref, '/') != NULL)
                n = ref;
        }
        if (n == NULL) {
            kk_error(err, KK_ERR_INVALID, 0,
                     "image %s in index.json has no name (io.containerd.image.name); give one",
                     target.digest);
            goto out;
        }
        char canon[CTRD_IMAGE_NAME_MAX + 32];
        if (ctrd_image_name_canonical(n, canon, sizeof(canon), err) < 0 ||
            ctrd_load_oci_entry(lc, &target, canon, out, err) < 0)
            goto out;
    }
    ret = 0;
out:
    json_decref(index);
    return ret;
}

/* ---- docker archive ---------------------------------------------------------------------------- */

struct ctrd_docker_layers {
    const struct ctrd_tar_entry *entry[CTRD_LAYERS_MAX];
};

/* docker save writes manifest.json: [{"Config": "<file>", "RepoTags": [...], "Layers": ["<file>", ...]}]. It
 * has no registry manifest: one is made here (docker schema 2, as ctr import makes it), with every
 * digest computed from the bytes in the archive. */
static int ctrd_load_docker_entry(struct ctrd_load_ctx *lc, const json_t *entry, const char *name,
                                  Kukeon__Ipc__Ctrd__ImageLoadReply *out, struct kk_err *err)
{
    const char *cfg_path = json_string_value(json_object_get(entry, "Config"));
    const json_t *lpaths = json_object_get(entry, "Layers");
    if (cfg_path == NULL || !json_is_array(lpaths) || json_array_size(lpaths) == 0 ||
        json_array_size(lpaths) > CTRD_LAYERS_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "manifest.json entry lacks Config or Layers (1-%d)",
                        CTRD_LAYERS_MAX);
    const struct ctrd_tar_entry *ce = ctrd_tar_find(lc->tar, cfg_path);
    if (ce == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "the archive lacks %.200s (named by manifest.json)",
                        cfg_path);
    char *cbuf = NULL;
    if (ctrd_tar_read(lc->tar, ce, CTRD_DOC_MAX, &cbuf, err) < 0)
        return -1;
    json_t *config = ctrd_json_parse(cbuf, ce->size, cfg_path, err);
    struct ctrd_docker_layers *dl = calloc(1, sizeof(*dl));
    json_t *manifest = NULL, *layers = json_array();
    char *mbuf = NULL;
    int ret = -1;
    char diff_ids[CTRD_LAYERS_MAX][CTRD_DIGEST_SIZE];
    size_t nd = 0;
    if (config == NULL || dl == NULL || layers == NULL ||
        ctrd_config_diff_ids(config, diff_ids, &nd, err) < 0)
        goto out;
    if (nd != json_array_size(lpaths)) {
        kk_error(err, KK_ERR_INVALID, 0, "%s lists %zu diff ids for %zu layers", cfg_path, nd,
                 json_array_size(lpaths));
        goto out;
    }
    struct ctrd_desc cdesc = {.size = ce->size};
    kk_strlcpy(cdesc.media_type, MT_DOCKER_CONFIG, sizeof(cdesc.media_type));
    if (ctrd_sha256(cbuf, ce->size, cdesc.digest, err) < 0)
        goto out;
    size_t i;
    const json_t *lp;
    json_array_foreach(lpaths, i, lp)
    {
        const char *p = json_string_value(lp);
        const struct ctrd_tar_entry *le = p != NULL ? ctrd_tar_find(lc->tar, p) : NULL;
        if (le == NULL) {
            kk_error(err, KK_ERR_INVALID, 0, "the archive lacks layer %zu (%.200s)", i, p != NULL ? p : "?");
            goto out;
        }
        dl->entry[i] = le;
        char digest[CTRD_DIGEST_SIZE];
        unsigned char magic[2] = {0, 0};
        if (le->size >= 2 && pread(lc->tar->fd, magic, 2, (off_t)le->offset) != 2) {
            kk_error(err, KK_ERR_INVALID, errno, "reading layer %zu", i);
            goto out;
        }
        bool gz = magic[0] == 0x1f && magic[1] == 0x8b;
        if (ctrd_tar_digest(lc->tar, le, digest, err) < 0)
            goto out;
        if (!gz && strcmp(digest, diff_ids[i]) != 0) {
            kk_error(err, KK_ERR_INVALID, 0,
                     "layer %zu (%s) is %s, but the image config says %s: the archive is corrupt", i,
                     le->name, digest, diff_ids[i]);
            goto out;
        }
        json_array_append_new(layers, json_pack("{s:s, s:I, s:s}", "mediaType",
                                                gz ? MT_DOCKER_LAYER_GZ : MT_DOCKER_LAYER, "size",
                                                (json_int_t)le->size, "digest", digest));
    }
    manifest = json_pack("{s:i, s:s, s:{s:s, s:I, s:s}, s:O}", "schemaVersion", 2, "mediaType",
                         KK_MT_DOCKER_MANIFEST, "config", "mediaType", MT_DOCKER_CONFIG, "size",
                         (json_int_t)cdesc.size, "digest", cdesc.digest, "layers", layers);
    mbuf = manifest != NULL ? json_dumps(manifest, JSON_COMPACT) : NULL;
    if (mbuf == NULL) {
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "building the image manifest");
        goto out;
    }
    struct ctrd_desc mdesc = {.size = strlen(mbuf)};
    kk_strlcpy(mdesc.media_type, KK_MT_DOCKER_MANIFEST, sizeof(mdesc.media_type));
    if (ctrd_sha256(mbuf, mdesc.size, mdesc.digest, err) < 0)
        goto out;
    uint64_t total = 0;
    int rc = ctrd_load_manifest(lc, &mdesc, (struct ctrd_blob_src){.mem = mbuf}, manifest, dl->entry,
                                (struct ctrd_blob_src){.mem = cbuf}, config, &total, err);
    if (rc < 0)
        goto out;
    /* Every tag becomes an image record, or the one name given. */
    const json_t *tags = json_object_get(entry, "RepoTags");
    size_t nt = name != NULL ? 1 : (json_is_array(tags) ? json_array_size(tags) : 0);
    if (nt == 0) {
        kk_error(err, KK_ERR_INVALID, 0, "image %s in the archive has no RepoTags; give it a name", cfg_path);
        goto out;
    }
    for (size_t t = 0; t < nt; t++) {
        const char *n = name != NULL ? name : json_string_value(json_array_get(tags, t));
        char canon[CTRD_IMAGE_NAME_MAX + 32];
        if (n == NULL || ctrd_image_name_canonical(n, canon, sizeof(canon), err) < 0 ||
            ctrd_image_record(lc->conn, lc->ns, lc->lease, canon, &mdesc, err) < 0)
            goto out;
        if (ctrd_reply_add(out, canon, &mdesc, total) < 0) {
            kk_error(err, KK_ERR_INTERNAL, ENOMEM, "image load reply");
            goto out;
        }
    }
    ret = 0;
out:
    free(cbuf);
    free(mbuf);
    free(dl);
    json_decref(config);
    json_decref(manifest);
    json_decref(layers);
    return ret;
}

static int ctrd_load_docker(struct ctrd_load_ctx *lc, const char *name,
                            Kukeon__Ipc__Ctrd__ImageLoadReply *out, struct kk_err *err)
{
    json_t *list = ctrd_load_doc(lc, "manifest.json", err);
    if (list == NULL)
        return -1;
    int ret = -1;
    if (!json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > CTRD_INDEX_ENTRIES_MAX) {
        kk_error(err, KK_ERR_INVALID, 0, "manifest.json is not a list of 1-%d images",
                 CTRD_INDEX_ENTRIES_MAX);
        goto out;
    }
    if (ctrd_load_name_fits(list, name, err) < 0)
        goto out;
    size_t i;
    const json_t *entry;
    json_array_foreach(list, i, entry)
    {
        if (ctrd_load_docker_entry(lc, entry, name, out, err) < 0)
            goto out;
    }
    ret = 0;
out:
    json_decref(list);
    return ret;
}

int ctrd_image_load(struct ctrd *c, const char *ns, int fd, const char *name,
                    Kukeon__Ipc__Ctrd__ImageLoadReply *out, struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    char canon[CTRD_IMAGE_NAME_MAX + 32];
    if (name != NULL && ctrd_image_name_canonical(name, canon, sizeof(canon), err) < 0)
        return -1;
    struct ctrd_tar tar;
    if (ctrd_tar_index(fd, &tar, err) < 0)
        return -1;
    /* An OCI layout has index.json (docker 25 writes both it and manifest.json: the OCI side wins). */
    bool oci = ctrd_tar_find(&tar, "index.json") != NULL;
    if (!oci && ctrd_tar_find(&tar, "manifest.json") == NULL) {
        ctrd_tar_free(&tar);
        return kk_error(err, KK_ERR_INVALID, 0,
                        "the tarball is neither an OCI image layout (no index.json) nor a docker archive "
                        "(no manifest.json)");
    }
    char lease[96];
    if (ctrd_lease_create(c, ns, "load", lease, sizeof(lease), err) < 0) {
        ctrd_tar_free(&tar);
        return -1;
    }
    struct ctrd_load_ctx lc = {.c = c, .conn = conn, .ns = ns, .lease = lease, .tar = &tar};
    int rc = oci ? ctrd_load_oci(&lc, name != NULL ? canon : NULL, out, err)
                 : ctrd_load_docker(&lc, name != NULL ? canon : NULL, out, err);
    out->format = oci ? "oci" : "docker";
    ctrd_tar_free(&tar);
    /* On failure, collect now: what the lease alone held goes, and nothing of the load stays. */
    struct kk_err lerr;
    if (ctrd_lease_delete(c, ns, lease, rc < 0, &lerr) < 0)
        kk_warn("deleting lease %s in %s (it expires by itself): %s", lease, ns, lerr.msg);
    return rc;
}

/* ---- resolve, list, remove, prune -------------------------------------------------------------- */

void ctrd_image_config_free(struct ctrd_image_config *ic)
{
    json_decref(ic->config);
    ic->config = NULL;
}

static int ctrd_read_json(struct ctrd *c, const char *ns, const char *digest, const char *what, json_t **out,
                          struct kk_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    if (ctrd_content_read(c, ns, digest, CTRD_DOC_MAX, &buf, &len, err) < 0)
        return kk_error_wrap(err, "reading the %s of the image", what);
    *out = ctrd_json_parse(buf, len, what, err);
    free(buf);
    return *out != NULL ? 0 : -1;
}

/* From an image's target to this host's manifest, its config and layer count and size. */
static int ctrd_image_walk(struct ctrd *c, const char *ns, const struct ctrd_desc *target,
                           json_t **config_out, char chain_top[CTRD_DIGEST_SIZE], size_t *n_layers,
                           uint64_t *size, struct kk_err *err)
{
    struct ctrd_desc mdesc = *target;
    json_t *doc = NULL, *config = NULL;
    *size = target->size;
    if (kk_media_is_index(target->media_type)) {
        if (ctrd_read_json(c, ns, target->digest, "index", &doc, err) < 0)
            return -1;
        int rc = ctrd_index_pick(doc, c->arch, &mdesc, err);
        json_decref(doc);
        if (rc < 0)
            return -1;
        *size += mdesc.size;
    }
    if (!kk_media_is_manifest(mdesc.media_type))
        return kk_error(err, KK_ERR_INVALID, 0, "image target %s is a %s, not a manifest", mdesc.digest,
                        mdesc.media_type);
    if (ctrd_read_json(c, ns, mdesc.digest, "manifest", &doc, err) < 0)
        return -1;
    struct ctrd_desc cdesc;
    struct ctrd_desc *layers = calloc(CTRD_LAYERS_MAX, sizeof(*layers));
    char(*diff_ids)[CTRD_DIGEST_SIZE] = calloc(CTRD_LAYERS_MAX, CTRD_DIGEST_SIZE);
    char(*chain)[CTRD_DIGEST_SIZE] = calloc(CTRD_LAYERS_MAX, CTRD_DIGEST_SIZE);
    size_t n = 0, nd = 0;
    int ret = -1;
    if (layers == NULL || diff_ids == NULL || chain == NULL) {
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading an image");
        goto out;
    }
    if (ctrd_manifest_parse(doc, &cdesc, layers, &n, err) < 0 ||
        ctrd_read_json(c, ns, cdesc.digest, "config", &config, err) < 0 ||
        ctrd_config_diff_ids(config, diff_ids, &nd, err) < 0)
        goto out;
    if (nd == 0 || nd != n) {
        kk_error(err, KK_ERR_INVALID, 0, "image manifest %s has %zu layers, its config %zu diff ids",
                 mdesc.digest, n, nd);
        goto out;
    }
    if (ctrd_chain_ids(diff_ids, nd, chain, err) < 0)
        goto out;
    *size += cdesc.size;
    for (size_t i = 0; i < n; i++)
        *size += layers[i].size;
    memcpy(chain_top, chain[nd - 1], CTRD_DIGEST_SIZE);
    *n_layers = nd;
    if (config_out != NULL)
        *config_out = KK_STEAL(config);
    ret = 0;
out:
    json_decref(doc);
    json_decref(config);
    free(layers);
    free(diff_ids);
    free(chain);
    return ret;
}

static int ctrd_image_get(struct ctrd_conn *conn, const char *ns, const char *name, struct ctrd_desc *target,
                          struct kk_err *err)
{
    Containerd__Services__Images__V1__GetImageRequest req =
        CONTAINERD__SERVICES__IMAGES__V1__GET_IMAGE_REQUEST__INIT;
    req.name = (char *)name;
    Containerd__Services__Images__V1__GetImageResponse *r = NULL;
    if (ctrd_unary(conn, CTRD_SVC_IMAGES, "Get", ns, NULL, &req.base, (ProtobufCMessage **)&r,
                   CTRD_TIMEOUT_DEFAULT_MS, err) < 0) {
        if (err != NULL && err->kind == KK_ERR_NOT_FOUND)
            kk_error(err, KK_ERR_NOT_FOUND, 0,
                     "image \"%s\" is not in namespace %s; load it with kuke image load", name, ns);
        return -1;
    }
    int rc = 0;
    const Containerd__Types__Descriptor *t = r->image != NULL ? r->image->target : NULL;
    if (t == NULL || !ctrd_digest_valid(t->digest) || t->media_type == NULL || t->size < 0)
        rc = kk_error(err, KK_ERR_INVALID, 0, "image \"%s\" in %s has no usable target", name, ns);
    else {
        kk_strlcpy(target->digest, t->digest, sizeof(target->digest));
        kk_strlcpy(target->media_type, t->media_type, sizeof(target->media_type));
        target->size = (uint64_t)t->size;
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return rc;
}

int ctrd_image_resolve(struct ctrd *c, const char *ns, const char *name, struct ctrd_image_config *out,
                       struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    char canon[CTRD_IMAGE_NAME_MAX + 32];
    struct ctrd_desc target;
    uint64_t size;
    if (ctrd_image_name_canonical(name, canon, sizeof(canon), err) < 0 ||
        ctrd_image_get(conn, ns, canon, &target, err) < 0 ||
        ctrd_image_walk(c, ns, &target, &out->config, out->chain_top, &out->n_layers, &size, err) < 0)
        return -1;
    return 0;
}

int ctrd_image_list(struct ctrd *c, const char *ns, Kukeon__Ipc__Ctrd__ImageListReply *out,
                    struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    Containerd__Services__Images__V1__ListImagesRequest req =
        CONTAINERD__SERVICES__IMAGES__V1__LIST_IMAGES_REQUEST__INIT;
    Containerd__Services__Images__V1__ListImagesResponse *r = NULL;
    if (ctrd_unary(conn, CTRD_SVC_IMAGES, "List", ns, NULL, &req.base, (ProtobufCMessage **)&r,
                   CTRD_TIMEOUT_DEFAULT_MS, err) < 0)
        return -1;
    out->images = calloc(r->n_images + 1, sizeof(*out->images));
    if (out->images == NULL) {
        protobuf_c_message_free_unpacked(&r->base, NULL);
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "listing images");
    }
    for (size_t i = 0; i < r->n_images; i++) {
        const Containerd__Services__Images__V1__Image *im = r->images[i];
        const Containerd__Types__Descriptor *t = im->target;
        if (t == NULL || !ctrd_digest_valid(t->digest) || t->media_type == NULL || t->size < 0)
            continue;
        struct ctrd_desc target = {.size = (uint64_t)t->size};
        kk_strlcpy(target.digest, t->digest, sizeof(target.digest));
        kk_strlcpy(target.media_type, t->media_type, sizeof(target.media_type));
        Kukeon__Ipc__Ctrd__Image *img = calloc(1, sizeof(*img));
        if (img == NULL)
            break;
        kukeon__ipc__ctrd__image__init(img);
        img->name = strdup(im->name);
        img->digest = strdup(target.digest);
        img->media_type = strdup(target.media_type);
        char chain[CTRD_DIGEST_SIZE];
        size_t n;
        uint64_t size = target.size;
        struct kk_err werr;
        if (ctrd_image_walk(c, ns, &target, NULL, chain, &n, &size, &werr) == 0) {
            bool exists = false;
            if (ctrd_snapshot_exists(conn, ns, chain, &exists, &werr) == 0)
                img->unpacked = exists;
        }
        img->size = size;
        out->images[out->n_images++] = img;
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

void ctrd_images_free(Kukeon__Ipc__Ctrd__Image **images, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(images[i]->name);
        free(images[i]->digest);
        free(images[i]->media_type);
        free(images[i]);
    }
    free(images);
}

int ctrd_image_remove(struct ctrd *c, const char *ns, const char *name, bool sync, struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    Containerd__Services__Images__V1__DeleteImageRequest req =
        CONTAINERD__SERVICES__IMAGES__V1__DELETE_IMAGE_REQUEST__INIT;
    req.name = (char *)name;
    req.sync = sync;
    return ctrd_unary(conn, CTRD_SVC_IMAGES, "Delete", ns, NULL, &req.base, NULL, CTRD_TIMEOUT_LONG_MS, err);
}

int ctrd_images_of(struct ctrd_conn *conn, const char *ns,
                   Containerd__Services__Images__V1__ListImagesResponse **out, struct kk_err *err)
{
    Containerd__Services__Images__V1__ListImagesRequest req =
        CONTAINERD__SERVICES__IMAGES__V1__LIST_IMAGES_REQUEST__INIT;
    *out = NULL;
    return ctrd_unary(conn, CTRD_SVC_IMAGES, "List", ns, NULL, &req.base, (ProtobufCMessage **)out,
                      CTRD_TIMEOUT_DEFAULT_MS, err);
}

int ctrd_image_prune(struct ctrd *c, const char *ns, Kukeon__Ipc__Ctrd__ImagePruneReply *out,
                     struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    Containerd__Services__Containers__V1__ListContainersResponse *cl = NULL;
    if (ctrd_containers_of(conn, ns, &cl, err) < 0)
        return -1;
    Containerd__Services__Images__V1__ListImagesResponse *il = NULL;
    if (ctrd_images_of(conn, ns, &il, err) < 0) {
        protobuf_c_message_free_unpacked(&cl->base, NULL);
        return -1;
    }
    int ret = 0;
    out->removed = calloc(il->n_images + 1, sizeof(char *));
    for (size_t i = 0; out->removed != NULL && i < il->n_images; i++) {
        bool used = false;
        for (size_t j = 0; j < cl->n_containers && !used; j++)
            used = cl->containers[j]->image != NULL &&
                   strcmp(cl->containers[j]->image, il->images[i]->name) == 0;
        if (used)
            continue;
        if (ctrd_image_remove(c, ns, il->images[i]->name, false, err) < 0) {
            ret = -1;
            break;
        }
        out->removed[out->n_removed++] = strdup(il->images[i]->name);
    }
    protobuf_c_message_free_unpacked(&cl->base, NULL);
    protobuf_c_message_free_unpacked(&il->base, NULL);
    /* One synchronous collection for all of them: when the answer comes, their content is gone. */
    char lease[96];
    struct kk_err gerr;
    if (ret == 0 && out->n_removed > 0 &&
        (ctrd_lease_create(c, ns, "gc", lease, sizeof(lease), &gerr) < 0 ||
         ctrd_lease_delete(c, ns, lease, true, &gerr) < 0))
        kk_warn("collecting garbage in %s: %s", ns, gerr.msg);
    return ret;
}
