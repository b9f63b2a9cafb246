/* kuke-cgd's parts, shared by its files and its tests: the host's cgroup mounts (mountinfo.c), the
 * fixed knob table and its value parsers (knobs.c), the container resource conversions
 * (resources.c), confined file access beneath the delegated root (tree.c), the delegation done as
 * root before the sandbox and the Landlock wall (delegate.c, landlock.c), and the request handlers
 * (handlers.c). */
#ifndef KUKEON_CGD_CGD_H
#define KUKEON_CGD_CGD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/derive.h"
#include "common/err.h"
#include "ipc/cgd_client.h"
#include "ipc/dispatch.h"
#include "ipc/proto/cgd.pb-c.h"

/* ---- controller lists (cgroup.controllers, cgroup.subtree_control) -------------------------- */

/* The kernel has about a dozen controllers with names of a few letters; the bounds leave room for
 * new ones (dmem came in 6.13) while keeping every list a fixed size. */
#define CGD_CTL_MAX      24
#define CGD_CTL_NAME_MAX 16 /* with the NUL */

struct cgd_ctl_list {
    size_t n;
    char name[CGD_CTL_MAX][CGD_CTL_NAME_MAX];
};

/* Parse a space-separated list as the kernel prints it (one line, '\n' optional). Names are
 * [a-z0-9_], 1-15 bytes; anything else is refused rather than guessed at. */
int cgd_ctl_parse(const char *text, size_t len, struct cgd_ctl_list *out, struct kk_err *err);
bool cgd_ctl_has(const struct cgd_ctl_list *l, const char *name);
/* Add name unless present; -1 when full. */
int cgd_ctl_add(struct cgd_ctl_list *l, const char *name);
/* "cpu memory" (prefix "") or "+cpu +memory" (prefix "+"); "" for an empty list. */
int cgd_ctl_format(const struct cgd_ctl_list *l, const char *prefix, char *buf, size_t size,
                   struct kk_err *err);

/* What every layer above a container enables in its cgroup.subtree_control (kukeon-reference.md 1.3). */
extern const char *const cgd_layer_controllers[];
extern const size_t cgd_layer_controller_count;

/* ---- mounts (/proc/self/mountinfo) ---------------------------------------------------------- */

#define CGD_MOUNT_PATH_SIZE 256
#define CGD_V1_MAX          16
#define CGD_V1_CTL_SIZE     128

struct cgd_mount {
    char point[CGD_MOUNT_PATH_SIZE];
    char controllers[CGD_V1_CTL_SIZE]; /* v1: "cpu,cpuacct" or "name=systemd"; v2: "" */
    unsigned dev_major, dev_minor;
    bool read_only;
};

struct cgd_mounts {
    bool have_v2;
    struct cgd_mount v2;
    size_t n_v1;
    struct cgd_mount v1[CGD_V1_MAX];
};

/* Parse the text of /proc/self/mountinfo: the cgroup2 mount (a mount of the whole hierarchy over a
 * bind mount of a subtree; then /sys/fs/cgroup, then /sys/fs/cgroup/unified, then the first listed) and every
 * cgroup v1 hierarchy that has a controller or is name=systemd (the ones runc joins), each hierarchy once
 * however often it is mounted. Pure, for the unit tests. */
int cgd_mountinfo_parse(const char *buf, size_t len, struct cgd_mounts *out, struct kk_err *err);

/* ---- the knob table ------------------------------------------------------------------------- */

enum cgd_knob_syntax {
    CGD_SYN_BYTES_OR_MAX,  /* "max" or a byte count in [min, max] */
    CGD_SYN_NUMBER,        /* a number in [min, max] */
    CGD_SYN_NUMBER_OR_MAX, /* "max" or a number in [min, max] */
    CGD_SYN_CPU_MAX,       /* "<quota|max> [period]" */
    CGD_SYN_IO_MAX,        /* "MAJ:MIN key=value..." */
    CGD_SYN_FLAG,          /* "0" or "1" within [min, max] */
};

struct cgd_knob {
    const char *name;       /* the file name, and the only string ever used to open it */
    const char *controller; /* that must be available in the cgroup; NULL: core file */
    enum cgd_knob_syntax syntax;
    uint64_t min, max;
    /* Through CGD_SET. cgroup.freeze and cgroup.kill are in the table but have requests of their
     * own, which wait for the kernel to confirm. */
    bool settable;
    const char *request; /* for the others: which request writes it */
};

extern const struct cgd_knob cgd_knob_table[];
extern const size_t cgd_knob_count;

/* Exact lookup of a name of len bytes; NULL when not in the table. */
const struct cgd_knob *cgd_knob_find(const char *name, size_t len);
/* Why a well-known cgroup file that is not in the table is refused, or NULL. */
const char *cgd_knob_refusal(const char *name, size_t len);

/* Check value (len bytes, from outside) against the knob's syntax and range and write the
 * canonical form into out. KK_ERR_INVALID with a message naming the knob and the rule. */
int cgd_knob_parse(const struct cgd_knob *k, const char *value, size_t len, char *out, size_t size,
                   struct kk_err *err);

/* ---- container resources -------------------------------------------------------------------- */

struct cgd_knob_write {
    const struct cgd_knob *knob;
    char value[KK_CGD_VALUE_SIZE];
};

/* runc's conversion of cgroup v1 cpu.shares [2, 262144] to cgroup v2 cpu.weight [1, 10000]. */
uint64_t cgd_shares_to_weight(uint64_t shares);

/* The knob writes for a container's resources and the server's defaultMemoryLimitBytes
 * (docs/cgd.md); at most KK_CGD_RESOURCES_MAX. KK_ERR_INVALID for values out of range. */
int cgd_resources_map(const struct kk_cgd_resources *in, uint64_t default_memory_limit_bytes,
                      struct cgd_knob_write out[KK_CGD_RESOURCES_MAX], size_t *n, struct kk_err *err);

/* ---- confined access ------------------------------------------------------------------------ */

/* openat2(dirfd, rel, flags | O_CLOEXEC) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
 * RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV: the only way kuke-cgd opens anything after its start.
 * On failure err->errnum is the errno (EXDEV, ELOOP: the walk met a mount point, a symlink or a
 * "..", i.e. an attempt to leave the root). */
int cgd_open_beneath(int dirfd, const char *rel, int flags, struct kk_err *err);
bool cgd_errno_is_escape(int errnum);

/* Read a whole small file beneath dirfd into buf (NUL-terminated); longer than size-1 is an error. */
int cgd_read_file(int dirfd, const char *rel, char *buf, size_t size, size_t *len, struct kk_err *err);
/* Write value to a file beneath dirfd in one write(), as cgroupfs wants it. */
int cgd_write_file(int dirfd, const char *rel, const char *value, struct kk_err *err);

/* "key value" lines (cgroup.events, cgroup.stat, cpu.stat): the value of key; -1 when absent. */
int cgd_keyed_u64(const char *text, const char *key, uint64_t *out);

/* ---- the helper's state --------------------------------------------------------------------- */

struct cgd_v1 {
    int fd; /* O_PATH directory of <mount>/<root>, or -1 when the hierarchy is not usable */
    struct cgd_mount m;
    char why[128]; /* when fd is -1 */
};

struct cgd_ctx {
    int root_fd; /* O_PATH directory of <mount>/<root>, opened as root, kept for life */
    char mount[CGD_MOUNT_PATH_SIZE];
    char root[128];              /* cgroupRoot, relative to the mount: "/kukeon" */
    struct cgd_ctl_list offered; /* the mount root's cgroup.controllers */
    size_t n_v1;
    struct cgd_v1 v1[CGD_V1_MAX];
    uid_t uid; /* kuke-cgd's own account: owner of the root and of every layer it creates */
    gid_t gid;
    uint64_t default_memory_limit_bytes;
    char ns_suffix[64];
    char landlock[160]; /* "abi 7: ..." or why not */
};

/* Before the sandbox (as root, normally): find the mounts, delegate <mount>/<root> to kuke-cgd's
 * account, prepare the v1 hierarchies, open and keep the directories, raise the Landlock wall. */
int cgd_acquire(const struct kk_config *cfg, void *ctx, struct kk_err *err);

/* Landlock: writes, creates and removes only beneath the held directories; no exec, no TCP, no
 * abstract sockets or signals outside. Fills ctx->landlock; a kernel without Landlock is not an
 * error. */
int cgd_landlock_apply(struct cgd_ctx *ctx, struct kk_err *err);

/* One line on what the host offers and what it does not, for the log and the HOST request. */
int cgd_missing_controllers(const struct cgd_ctx *ctx, char *buf, size_t size, struct kk_err *err);
/* Where a controller the v2 mount lacks lives instead: the v1 mount that binds it, or NULL. */
const char *cgd_v1_mount_of(const struct cgd_ctx *ctx, const char *controller);

/* ---- steps every request handler takes (handlers.c) ---------------------------------------- */

/* The request's layer: the derived names, and its path relative to the delegated root. */
struct cgd_target {
    struct kk_derived d;
    char rel[KK_DERIVE_PATH_SIZE];        /* "r/s/t" */
    char parent_rel[KK_DERIVE_PATH_SIZE]; /* "r/s", or "." for a realm */
    const char *leaf;                     /* the last component of rel */
};

/* Validate and derive the names (DENIED invalid-name), refuse names that collide with cgroup
 * interface files, and record the validated names for the audit line. */
int cgd_take_target(struct kk_ipc_request *req, const struct cgd_ctx *ctx, const Kukeon__Ipc__CgdNames *n,
                    struct cgd_target *t, struct kk_err *err);
/* "realm" .. "container" */
const char *cgd_layer_kind(const struct cgd_target *t);
/* Refuse with err's own message. */
int cgd_deny_with(struct kk_ipc_request *req, struct kk_err *err, enum kk_ipc_deny_reason reason);
/* A failure of confined access: an escape attempt becomes DENIED outside-root, the rest stay errors. */
int cgd_fail(struct kk_ipc_request *req, struct kk_err *err);
/* The layer's directory must be kuke-cgd's (a container's may be runc's, i.e. root's). */
int cgd_check_owner(struct kk_ipc_request *req, const struct cgd_ctx *ctx, int fd, const struct cgd_target *t,
                    uid_t *owner, struct kk_err *err);

/* CGD_DELETE (delete.c). */
int cgd_handle_delete(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx, struct kk_err *err);

/* ---- the dispatch table (handlers.c) -------------------------------------------------------- */

extern const struct kk_ipc_dispatch cgd_dispatch_table[];
extern const size_t cgd_dispatch_count;
int cgd_status(struct kk_ipc_status_details *d, void *ctx, struct kk_err *err);

#endif
