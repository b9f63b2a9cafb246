/* kuke-ctrd's shared state and the modules behind its dispatch table: namespaces (ctrd_ns.c), image
 * load, list and removal (ctrd_image.c, ctrd_tar.c), the OCI spec and its refusals (ctrd_spec.c),
 * containers and tasks (ctrd_task.c), the event queue (ctrd_events.c) and the request handlers
 * (ctrd_serve.c). Every containerd namespace, id and path is derived here from hierarchy names. */
#ifndef KUKEON_CTRD_H
#define KUKEON_CTRD_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#include <jansson.h>

#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "github.com/containerd/containerd/api/services/containers/v1/containers.pb-c.h"
#include "github.com/containerd/containerd/api/services/content/v1/content.pb-c.h"
#include "github.com/containerd/containerd/api/services/diff/v1/diff.pb-c.h"
#include "github.com/containerd/containerd/api/services/events/v1/events.pb-c.h"
#include "github.com/containerd/containerd/api/services/images/v1/images.pb-c.h"
#include "github.com/containerd/containerd/api/services/leases/v1/leases.pb-c.h"
#include "github.com/containerd/containerd/api/services/namespaces/v1/namespace.pb-c.h"
#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.pb-c.h"
#include "github.com/containerd/containerd/api/services/tasks/v1/tasks.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/empty.pb-c.h"
#include "google/protobuf/field_mask.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"

#include "common/config.h"
#include "common/derive.h"
#include "common/err.h"
#include "ipc/ctrd_client.h"
#include "ipc/dispatch.h"
#include "kuke-ctrd/ctrd_rpc.h"

#define CTRD_SVC_CONTAINERS (&containerd__services__containers__v1__containers__descriptor)
#define CTRD_SVC_CONTENT    (&containerd__services__content__v1__content__descriptor)
#define CTRD_SVC_DIFF       (&containerd__services__diff__v1__diff__descriptor)
#define CTRD_SVC_EVENTS     (&containerd__services__events__v1__events__descriptor)
#define CTRD_SVC_IMAGES     (&containerd__services__images__v1__images__descriptor)
#define CTRD_SVC_LEASES     (&containerd__services__leases__v1__leases__descriptor)
#define CTRD_SVC_NAMESPACES (&containerd__services__namespaces__v1__namespaces__descriptor)
#define CTRD_SVC_SNAPSHOTS  (&containerd__services__snapshots__v1__snapshots__descriptor)
#define CTRD_SVC_TASKS      (&containerd__services__tasks__v1__tasks__descriptor)

/* containerd's snapshotter and runtime for every Kukeon container. */
#define CTRD_SNAPSHOTTER     "overlayfs"
#define CTRD_RUNTIME_DEFAULT "io.containerd.runc.v2"
/* Digests are "sha256:" and 64 lowercase hex digits; nothing else is accepted from an image. */
#define CTRD_DIGEST_SIZE     72
#define CTRD_MEDIA_TYPE_SIZE 128
#define CTRD_IMAGE_NAME_MAX  255
/* Manifests, indexes and configs are small documents; a bigger one is refused rather than read. */
#define CTRD_DOC_MAX    (4u * 1024u * 1024u)
#define CTRD_LAYERS_MAX 128
/* Content.Write chunks: well under containerd's 16 MiB message limit, big enough to be quick. */
#define CTRD_CHUNK (1u * 1024u * 1024u)
/* A load holds its content under a lease that expires by itself should kuke-ctrd die mid-way. */
#define CTRD_LEASE_EXPIRE_S (30 * 60)
/* Calls that move content or start processes take longer than metadata calls. */
#define CTRD_TIMEOUT_LONG_MS (5 * 60 * 1000)
#define CTRD_LABELS_MAX      24

/* The realm policy: spec fields refused unless the realm's recorded policy allows them. */
enum ctrd_allow {
    CTRD_ALLOW_PRIVILEGED = 1u << 0,      /* "privileged" */
    CTRD_ALLOW_CAP_ADD = 1u << 1,         /* "cap-add" */
    CTRD_ALLOW_HOST_NAMESPACES = 1u << 2, /* "host-namespaces": host network, pid, ipc */
    CTRD_ALLOW_HOST_PATHS = 1u << 3,      /* "host-paths": bind sources outside the realm's run-path dir */
    CTRD_ALLOW_DEVICES = 1u << 4,         /* "devices" */
    CTRD_ALLOW_HOOKS = 1u << 5,           /* "hooks" */
    CTRD_ALLOW_RUNTIME = 1u << 6,         /* "runtime" */
};
#define CTRD_ALLOW_COUNT 7
/* "privileged"... for bit i; NULL past the end. */
const char *ctrd_allow_name(unsigned bit_index);
/* Parse one policy field name; -1 for an unknown name. */
int ctrd_allow_parse(const char *name, unsigned *bit);
/* The namespace label that records one allowed field: "kukeon.io/allow.<name>" = "true". */
#define CTRD_ALLOW_LABEL_PREFIX "kukeon.io/allow."
#define CTRD_NS_OWNER_LABEL     "kukeon.io/realm"

struct ctrd_events;

struct ctrd {
    struct kk_config cfg;
    struct kk_derive_config dcfg; /* points into cfg */
    int first_fd;                 /* containerd connection opened before the identity drop, or -1 */
    int broker_fd;                /* the supervisor's connection broker (ipc/broker.h), or -1 */
    pthread_mutex_t dial_lock;    /* the broker answers one request at a time */
    struct ctrd_conn *conn;       /* made at the first request, after the sandbox (gRPC starts threads) */
    struct ctrd_events *events;
    /* The hard limits kuke-ctrd started with, before its sandbox lowered its own: what containerd
     * (started the same way) can grant a container without CAP_SYS_RESOURCE. */
    struct rlimit hard[RLIM_NLIMITS];
    bool hard_known;
    /* The capability bounding set kuke-ctrd started with (bit n = capability n): a capability
     * outside it cannot be granted to a container on this host, so the spec never asks for one. */
    uint64_t cap_bound;
    char arch[16]; /* GOARCH of this host: "amd64" */
};

/* Fill c from the configuration (before the sandbox): derive config, host architecture, limits. */
int ctrd_init(struct ctrd *c, const struct kk_config *cfg, struct kk_err *err);
/* The connection, made on first use; also starts the event subscription. */
struct ctrd_conn *ctrd_connection(struct ctrd *c, struct kk_err *err);
/* The dial function of c's connections: the first fd, then the broker. */
int ctrd_dial(void *opaque, struct kk_err *err);
/* The same for the event stream's connection: the broker only. */
int ctrd_dial_events(void *opaque, struct kk_err *err);

/* ---- small shared helpers (ctrd_util.c) ---------------------------------------------------------- */

/* A set of labels to send; keys and values are copied. */
struct ctrd_labels {
    size_t n;
    char key[CTRD_LABELS_MAX][128];
    char value[CTRD_LABELS_MAX][256];
};
int ctrd_labels_add(struct ctrd_labels *l, const char *key, const char *value, struct kk_err *err);

/* protobuf-c map entries for a label set, on the caller's storage: every containerd LabelsEntry type
 * has the layout {base, key, value}, so one builder serves all of them given the entry descriptor. */
struct ctrd_label_entry {
    ProtobufCMessage base;
    char *key;
    char *value;
};
struct ctrd_label_entries {
    struct ctrd_label_entry entry[CTRD_LABELS_MAX];
    struct ctrd_label_entry *ptr[CTRD_LABELS_MAX];
};
/* Returns the array to put in a message's labels field (cast to the message's entry type). */
void *ctrd_label_entries(struct ctrd_label_entries *e, const struct ctrd_labels *l,
                         const ProtobufCMessageDescriptor *entry_desc);

bool ctrd_digest_valid(const char *s);
/* "sha256:<hex>" of data. */
int ctrd_sha256(const void *data, size_t len, char out[CTRD_DIGEST_SIZE], struct kk_err *err);
/* Chain ids of an image's layers (OCI image spec, "ChainID"): chain[0] = diff[0],
 * chain[i] = sha256(chain[i-1] + " " + diff[i]). */
int ctrd_chain_ids(char (*diff_ids)[CTRD_DIGEST_SIZE], size_t n, char (*chain)[CTRD_DIGEST_SIZE],
                   struct kk_err *err);
/* Image references: 1-255 bytes of [A-Za-z0-9._/:@-], starting with an alphanumeric. */
int ctrd_image_name_check(const char *name, struct kk_err *err);
/* The stored form of an image name, as ctr and the Go Kukeon store it: "busybox" ->
 * "docker.io/library/busybox:latest". */
int ctrd_image_name_canonical(const char *in, char *out, size_t size, struct kk_err *err);
/* Random lowercase hex for lease and writer names. */
int ctrd_random_hex(char *out, size_t hex_len, struct kk_err *err);
int64_t ctrd_timestamp_ms(const void *google_protobuf_timestamp);

/* Read a blob from the namespace's content store (at most max bytes, else KK_ERR_INVALID). *out is
 * NUL-terminated; free it. */
int ctrd_content_read(struct ctrd *c, const char *ns, const char *digest, size_t max, char **out, size_t *len,
                      struct kk_err *err);

/* Leases: create one that expires by itself; delete (sync: collect garbage now). */
int ctrd_lease_create(struct ctrd *c, const char *ns, const char *purpose, char *id, size_t id_size,
                      struct kk_err *err);
int ctrd_lease_delete(struct ctrd *c, const char *ns, const char *id, bool sync, struct kk_err *err);

/* ---- namespaces (ctrd_ns.c) --------------------------------------------------------------------- */

/* Validate the realm name and derive its namespace; refuse names the confinement forbids. The
 * returned error is KK_ERR_DENIED-worthy when deny is set (the caller then answers DENIED). */
int ctrd_ns_for_realm(const struct ctrd *c, const char *realm, char ns[KK_CTRD_ID_SIZE], bool *deny,
                      struct kk_err *err);
/* Whether ns is a namespace kuke-ctrd may touch: "<realm>.<suffix>" with a valid realm name. */
bool ctrd_ns_is_ours(const struct ctrd *c, const char *ns, char realm[KK_NAME_SIZE]);
int ctrd_ns_ensure(struct ctrd *c, const char *realm, unsigned allow, const struct ctrd_labels *extra,
                   Kukeon__Ipc__Ctrd__NamespaceInfo *out, bool *policy_conflict, struct kk_err *err);
/* The realm's recorded policy (NOT_FOUND when the namespace does not exist). */
int ctrd_ns_policy(struct ctrd *c, const char *ns, unsigned *allow, struct kk_err *err);
int ctrd_ns_delete(struct ctrd *c, const char *realm, Kukeon__Ipc__Ctrd__NamespaceDeleteReply *out,
                   struct kk_err *err);
/* Fills out->namespaces (free with ctrd_ns_list_free). */
int ctrd_ns_list(struct ctrd *c, Kukeon__Ipc__Ctrd__NamespaceListReply *out, struct kk_err *err);
void ctrd_ns_list_free(Kukeon__Ipc__Ctrd__NamespaceListReply *out);

/* ---- tar (ctrd_tar.c) ---------------------------------------------------------------------------- */

#define CTRD_TAR_NAME_MAX    256
#define CTRD_TAR_ENTRIES_MAX 8192
struct ctrd_tar_entry {
    char name[CTRD_TAR_NAME_MAX]; /* without a leading "./" */
    uint64_t offset;              /* of the data in the file */
    uint64_t size;
};
struct ctrd_tar {
    int fd;
    uint64_t file_size;
    size_t n;
    struct ctrd_tar_entry *entries;
};
/* Index the regular files of the tarball on fd (a regular file, read with pread: fd's offset is not
 * used). */
int ctrd_tar_index(int fd, struct ctrd_tar *t, struct kk_err *err);
void ctrd_tar_free(struct ctrd_tar *t);
const struct ctrd_tar_entry *ctrd_tar_find(const struct ctrd_tar *t, const char *name);
/* Read a whole member (at most max bytes) into a new NUL-terminated buffer. */
int ctrd_tar_read(const struct ctrd_tar *t, const struct ctrd_tar_entry *e, size_t max, char **out,
                  struct kk_err *err);
/* sha256 of a member, read in chunks. */
int ctrd_tar_digest(const struct ctrd_tar *t, const struct ctrd_tar_entry *e, char out[CTRD_DIGEST_SIZE],
                    struct kk_err *err);

/* ---- images (ctrd_image.c) ----------------------------------------------------------------------- */

struct ctrd_desc {
    char media_type[CTRD_MEDIA_TYPE_SIZE];
    char digest[CTRD_DIGEST_SIZE];
    uint64_t size;
};

/* What a container needs of its image. */
struct ctrd_image_config {
    json_t *config; /* the image config document (owned) */
    char chain_top[CTRD_DIGEST_SIZE];
    size_t n_layers;
};
void ctrd_image_config_free(struct ctrd_image_config *ic);
/* Resolve name in ns to the host platform's config and top snapshot. */
int ctrd_image_resolve(struct ctrd *c, const char *ns, const char *name, struct ctrd_image_config *out,
                       struct kk_err *err);

int ctrd_image_load(struct ctrd *c, const char *ns, int fd, const char *name,
                    Kukeon__Ipc__Ctrd__ImageLoadReply *out, struct kk_err *err);
int ctrd_image_list(struct ctrd *c, const char *ns, Kukeon__Ipc__Ctrd__ImageListReply *out,
                    struct kk_err *err);
void ctrd_images_free(Kukeon__Ipc__Ctrd__Image **images, size_t n);
int ctrd_image_remove(struct ctrd *c, const char *ns, const char *name, bool sync, struct kk_err *err);
/* containerd's records of every image in ns (its images service, List): *out is freed with
 * protobuf_c_message_free_unpacked. */
int ctrd_images_of(struct ctrd_conn *conn, const char *ns,
                   Containerd__Services__Images__V1__ListImagesResponse **out, struct kk_err *err);
int ctrd_image_prune(struct ctrd *c, const char *ns, Kukeon__Ipc__Ctrd__ImagePruneReply *out,
                     struct kk_err *err);
/* Which of digests ns holds (Content.Info): out->held points into digests; free out->held and
 * out->sizes (the arrays only). */
int ctrd_content_held(struct ctrd *c, const char *ns, char *const *digests, size_t n,
                      Kukeon__Ipc__Ctrd__ContentHeldReply *out, struct kk_err *err);

/* Parsing shared by load and resolve (pure). */
int ctrd_desc_from_json(const json_t *j, struct ctrd_desc *d, struct kk_err *err);
/* From an index document, the manifest for this host (os linux, architecture arch). */
int ctrd_index_pick(const json_t *index, const char *arch, struct ctrd_desc *out, struct kk_err *err);
int ctrd_manifest_parse(const json_t *manifest, struct ctrd_desc *config, struct ctrd_desc *layers,
                        size_t *n_layers, struct kk_err *err);
int ctrd_config_diff_ids(const json_t *config, char (*diff_ids)[CTRD_DIGEST_SIZE], size_t *n,
                         struct kk_err *err);

/* ---- the OCI spec (ctrd_spec.c) ------------------------------------------------------------------ */

/* A refusal: the deny reason (enum kk_ipc_deny_reason) and the message. */
struct ctrd_refusal {
    uint32_t reason;
    char msg[512];
};

/* Check a create request against the confinement and the realm's policy, before anything exists.
 * Pure: no system call. 0 = allowed; -1 = refused (r filled). */
int ctrd_spec_check(const Kukeon__Ipc__Ctrd__ContainerCreate *req, unsigned allow, const struct kk_derived *d,
                    const char *run_path, struct ctrd_refusal *r);

struct ctrd_device {
    char type; /* 'c' or 'b' */
    uint32_t major, minor;
    uint32_t mode;
};

struct ctrd_spec_input {
    const Kukeon__Ipc__Ctrd__ContainerCreate *req;
    const struct kk_derived *d;
    const char *cell_cgroup_path; /* KUKEON_CGROUP_PATH */
    const json_t *image_config;   /* may be NULL */
    unsigned allow;
    const struct rlimit *hard; /* RLIM_NLIMITS entries, or NULL: no clamp known */
    uint64_t cap_bound;        /* capabilities the host can grant; 0: no clamp known */
    uint32_t root_pid;         /* non-root containers join the root task's ipc and uts namespaces */
    /* host device numbers for req->devices (filled by the caller, who may stat) */
    const struct ctrd_device *devices;
    size_t n_devices;
};
/* Build the runtime spec JSON (malloc'd, NUL-terminated). Pure. */
int ctrd_spec_build(const struct ctrd_spec_input *in, char **json_out, size_t *len, struct kk_err *err);
/* Whether kuketty, the terminal relay, is installed beside kuke-ctrd (found at program start): then
 * an attachable container runs under it, and its task's own stdio is the log file, as any other's. */
bool ctrd_spec_relay_available(void);

/* ---- containers and tasks (ctrd_task.c) --------------------------------------------------------- */

/* Validate a container ref: every level given and valid; fills d. */
int ctrd_ref_container(const struct ctrd *c, const Kukeon__Ipc__Ctrd__Ref *ref, struct kk_derived *d,
                       struct kk_err *err);
/* Create after ctrd_spec_check passed. Checks that need the filesystem (symlinks on bind sources and
 * the log path, device nodes) refuse through r (r->reason set, -1); other failures set err. */
int ctrd_container_create(struct ctrd *c, const Kukeon__Ipc__Ctrd__ContainerCreate *req,
                          const struct kk_derived *d, const char *ns, unsigned allow,
                          Kukeon__Ipc__Ctrd__ContainerCreateReply *out, struct ctrd_refusal *r,
                          struct kk_err *err);
int ctrd_task_start(struct ctrd *c, const struct kk_derived *d, uint32_t *pid, struct ctrd_refusal *r,
                    struct kk_err *err);
int ctrd_task_kill(struct ctrd *c, const struct kk_derived *d, uint32_t sig, bool all, struct kk_err *err);
int ctrd_task_wait(struct ctrd *c, const struct kk_derived *d, uint32_t timeout_ms,
                   Kukeon__Ipc__Ctrd__TaskExit *out, struct kk_err *err);
int ctrd_task_stop(struct ctrd *c, const struct kk_derived *d, uint32_t timeout_ms,
                   Kukeon__Ipc__Ctrd__TaskExit *out, struct kk_err *err);
int ctrd_container_delete(struct ctrd *c, const struct kk_derived *d,
                          Kukeon__Ipc__Ctrd__ContainerDeleteReply *out, struct kk_err *err);
/* containerd's records of every container in ns (its containers service, List): *out is freed
 * with protobuf_c_message_free_unpacked. */
int ctrd_containers_of(struct ctrd_conn *conn, const char *ns,
                       Containerd__Services__Containers__V1__ListContainersResponse **out,
                       struct kk_err *err);
/* List containers of ns whose ids match the filter levels of d (d->depth and its names). */
int ctrd_container_list(struct ctrd *c, const char *ns, const struct kk_derive_names *filter,
                        Kukeon__Ipc__Ctrd__ContainerListReply *out, struct kk_err *err);
int ctrd_container_status(struct ctrd *c, const struct kk_derived *d, Kukeon__Ipc__Ctrd__ContainerStatus *out,
                          struct kk_err *err);
void ctrd_container_status_free(Kukeon__Ipc__Ctrd__ContainerStatus *st);
void ctrd_container_list_free(Kukeon__Ipc__Ctrd__ContainerListReply *out);
/* Split "<space>_<stack>_<cell>_<container>" (each a valid name); false when it is not one of ours. */
bool ctrd_split_id(const char *id, char parts[4][KK_NAME_SIZE]);

/* ---- events (ctrd_events.c) --------------------------------------------------------------------- */

#define CTRD_EVENTS_QUEUE 1024
int ctrd_events_start(struct ctrd *c, struct kk_err *err);
/* Take up to max queued events, waiting up to timeout_ms for the first. */
int ctrd_events_read(struct ctrd *c, uint32_t max, uint32_t timeout_ms,
                     Kukeon__Ipc__Ctrd__EventsReadReply *out, struct kk_err *err);
void ctrd_events_reply_free(Kukeon__Ipc__Ctrd__EventsReadReply *out);

/* ---- serving (ctrd_serve.c) --------------------------------------------------------------------- */

extern const struct kk_ipc_dispatch ctrd_table[];
extern const size_t ctrd_table_size;
/* The helper's acquire callback: runs as root before the sandbox. */
int ctrd_acquire(const struct kk_config *cfg, void *ctx, struct kk_err *err);
int ctrd_status(struct kk_ipc_status_details *d, void *ctx, struct kk_err *err);

#endif
