/* The API side of kuke-cgd: one typed call per request of ipc/proto/cgd.proto. Callers pass hierarchy
 * names only; kuke-cgd validates them and derives every path itself, so nothing here builds a path.
 * Every call returns 0, or -1 with err: KK_ERR_DENIED when kuke-cgd refused the request (the reason
 * is in the message), the helper's own kind when it failed, anything else when the helper broke the
 * protocol (treat it as gone, see ipc/client.h). */
#ifndef KUKEON_IPC_CGD_CLIENT_H
#define KUKEON_IPC_CGD_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/derive.h"
#include "common/err.h"
#include "ipc/proto/cgd.pb-c.h"

/* Request type numbers (ipc/proto/cgd.proto; the range is kuke-cgd's, ipc/proto/helper.proto). */
enum kk_cgd_type {
    KK_CGD_HOST = 0x0100,
    KK_CGD_CREATE = 0x0101,
    KK_CGD_STAT = 0x0102,
    KK_CGD_DELETE = 0x0103,
    KK_CGD_SET = 0x0104,
    KK_CGD_RESOURCES = 0x0105,
    KK_CGD_FREEZE = 0x0106,
    KK_CGD_KILL = 0x0107,
    KK_CGD_USAGE = 0x0108,
};

/* A space-separated controller list ("cpu memory io pids"); kernel controller names are short. */
#define KK_CGD_CONTROLLERS_SIZE   256
#define KK_CGD_KNOB_SIZE          32
#define KK_CGD_VALUE_SIZE         128 /* a knob value, one line */
#define KK_CGD_TIMEOUT_DEFAULT_MS 5000u
#define KK_CGD_TIMEOUT_MAX_MS     60000u

struct kk_cgd_created {
    char cgroup_path[KK_DERIVE_PATH_SIZE]; /* relative to the cgroup mount: "/kukeon/r/s/t/c" */
    bool created;                          /* false: it existed already */
    char subtree_controllers[KK_CGD_CONTROLLERS_SIZE];
    char missing[KK_CGD_CONTROLLERS_SIZE]; /* wanted for the layer, not offered by the host */
};

struct kk_cgd_stat {
    char cgroup_path[KK_DERIVE_PATH_SIZE];
    bool exists;
    uint32_t owner_uid;
    char controllers[KK_CGD_CONTROLLERS_SIZE];
    char subtree_controllers[KK_CGD_CONTROLLERS_SIZE];
    bool populated;
    bool frozen;
    uint64_t nr_descendants;
    uint64_t nr_dying_descendants;
    unsigned n_v1_present; /* v1 hierarchies where the same path exists */
};

struct kk_cgd_deleted {
    char cgroup_path[KK_DERIVE_PATH_SIZE];
    bool existed;
    uint32_t removed;    /* v2 cgroups */
    uint32_t v1_removed; /* v1 directories, all hierarchies */
};

/* A container's resources (kukeon-reference.md 3.6); 0 leaves a knob as it is. The conversions are
 * kuke-cgd's (docs/cgd.md). */
struct kk_cgd_resources {
    int64_t memory_limit_bytes;
    int64_t cpu_shares;
    int64_t pids_limit; /* -1: unlimited */
};

struct kk_cgd_knob_value {
    char knob[KK_CGD_KNOB_SIZE];
    char value[KK_CGD_VALUE_SIZE];
};
#define KK_CGD_RESOURCES_MAX 3

struct kk_cgd_usage {
    bool has_memory_current;
    uint64_t memory_current;
    bool has_memory_peak;
    uint64_t memory_peak;
    bool has_pids_current;
    uint64_t pids_current;
    uint64_t cpu_usage_usec, cpu_user_usec, cpu_system_usec;
    bool has_cpu_throttling;
    uint64_t cpu_nr_periods, cpu_nr_throttled, cpu_throttled_usec;
    bool populated;
    bool frozen;
};

/* What kuke-cgd found on the host; free *out with protobuf_c_message_free_unpacked(&(*out)->base, NULL). */
int kk_cgd_host(int sock, Kukeon__Ipc__CgdHostReply **out, struct kk_err *err);

/* Create the layer's cgroup (its parent must exist) and enable its controllers. out may be NULL. */
int kk_cgd_create(int sock, const struct kk_derive_names *names, bool nested, struct kk_cgd_created *out,
                  struct kk_err *err);

int kk_cgd_stat(int sock, const struct kk_derive_names *names, struct kk_cgd_stat *out, struct kk_err *err);

/* Remove the layer and everything beneath it (v2 and every v1 hierarchy), deepest first; refused
 * while any of it has processes. out may be NULL. */
int kk_cgd_delete(int sock, const struct kk_derive_names *names, struct kk_cgd_deleted *out,
                  struct kk_err *err);

/* Write one knob of kuke-cgd's table. written (may be NULL, KK_CGD_VALUE_SIZE bytes) gets the value
 * as written. */
int kk_cgd_set(int sock, const struct kk_derive_names *names, const char *knob, const char *value,
               char *written, struct kk_err *err);

/* Apply a container's resources; out (KK_CGD_RESOURCES_MAX entries, may be NULL) gets each knob
 * written, *n_out their number. */
int kk_cgd_resources(int sock, const struct kk_derive_names *names, const struct kk_cgd_resources *res,
                     struct kk_cgd_knob_value *out, size_t *n_out, struct kk_err *err);

/* Freeze (frozen) or thaw the layer's subtree and wait for the kernel to confirm; timeout_ms 0 means
 * KK_CGD_TIMEOUT_DEFAULT_MS. */
int kk_cgd_freeze(int sock, const struct kk_derive_names *names, bool frozen, uint32_t timeout_ms,
                  struct kk_err *err);

/* SIGKILL every process of the layer's subtree; *emptied (may be NULL) says whether it emptied within
 * timeout_ms. */
int kk_cgd_kill(int sock, const struct kk_derive_names *names, uint32_t timeout_ms, bool *emptied,
                struct kk_err *err);

int kk_cgd_usage(int sock, const struct kk_derive_names *names, struct kk_cgd_usage *out, struct kk_err *err);

#endif
