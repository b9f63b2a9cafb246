/* kuke-cgd's requests (ipc/proto/cgd.proto): each takes hierarchy names, derives the cgroup path
 * with the shared derivation (common/derive.h), and acts only beneath the directories acquired at
 * start, through cgd_open_beneath. Refusals are DENIED with a reason; failures of an allowed request
 * are ERROR; the serve loop writes the audit line for both. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/names.h"
#include "common/util.h"
#include "ipc/proto/cgd.pb-c.h"
#include "kuke-cgd/cgd.h"

#define FILE_SMALL 4096

/* ---- shared steps -------------------------------------------------------------------------------- */

/* Refuse with err's message (copied: kk_ipc_deny formats into err). */
int cgd_deny_with(struct kk_ipc_request *req, struct kk_err *err, enum kk_ipc_deny_reason reason)
{
    char msg[KK_IPC_TEXT_MAX];
    kk_strlcpy(msg, err->msg, sizeof(msg));
    return kk_ipc_deny(req, err, reason, "%s", msg);
}

/* A failure from the confined-access layer: an attempt to leave the root is a refusal (DENIED), the
 * rest are errors of an allowed request. */
int cgd_fail(struct kk_ipc_request *req, struct kk_err *err)
{
    if (err->kind == KK_ERR_DENIED || cgd_errno_is_escape(err->errnum))
        return cgd_deny_with(req, err, KK_IPC_DENY_OUTSIDE_ROOT);
    return -1;
}

/* Names that cgroupfs itself uses for files, in v2 or in any v1 hierarchy: a cgroup named like one
 * would collide with an interface file now or when a controller is enabled later. */
static const char *const reserved_prefixes[] = {
    "cgroup.", "cpu.",  "cpuset.", "cpuacct.", "io.",      "blkio.",   "memory.",  "pids.",     "hugetlb.",
    "rdma.",   "misc.", "dmem.",   "irq.",     "devices.", "freezer.", "net_cls.", "net_prio.", "perf_event.",
};
static const char *const reserved_names[] = {"tasks", "notify_on_release", "release_agent"};

static int check_not_reserved(struct kk_ipc_request *req, const char *kind, const char *name,
                              struct kk_err *err)
{
    for (size_t i = 0; i < KK_ARRAY_SIZE(reserved_prefixes); i++)
        if (kk_str_has_prefix(name, reserved_prefixes[i]))
            return kk_ipc_deny(
                req, err, KK_IPC_DENY_INVALID_NAME,
                "%s name \"%s\" would collide with cgroup interface files (names beginning with "
                "\"%s\" are the kernel's); choose another name",
                kind, name, reserved_prefixes[i]);
    for (size_t i = 0; i < KK_ARRAY_SIZE(reserved_names); i++)
        if (strcmp(name, reserved_names[i]) == 0)
            return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_NAME,
                               "%s name \"%s\" is a cgroup interface file's name; choose another name", kind,
                               name);
    return 0;
}

int cgd_take_target(struct kk_ipc_request *req, const struct cgd_ctx *ctx, const Kukeon__Ipc__CgdNames *n,
                    struct cgd_target *t, struct kk_err *err)
{
    const struct kk_derive_names names = {
        .realm = n != NULL ? n->realm : NULL,
        .space = n != NULL ? n->space : NULL,
        .stack = n != NULL ? n->stack : NULL,
        .cell = n != NULL ? n->cell : NULL,
        .container = n != NULL ? n->container : NULL,
    };
    const struct kk_derive_config dcfg = {.ns_suffix = ctx->ns_suffix, .cgroup_root = ctx->root};
    if (kk_derive(&names, &dcfg, &t->d, err) < 0)
        return cgd_deny_with(req, err, KK_IPC_DENY_INVALID_NAME);
    const char *const given[] = {t->d.realm, t->d.space, t->d.stack, t->d.cell, t->d.container};
    for (int i = 0; i <= (int)t->d.depth; i++) {
        kk_ipc_audit_name(req, kk_name_kind_str((enum kk_name_kind)i), given[i]);
        if (check_not_reserved(req, kk_name_kind_str((enum kk_name_kind)i), given[i], err) < 0)
            return -1;
    }
    /* The derivation put the configured root in front; what follows is ours to walk. */
    size_t rl = strlen(ctx->root);
    if (strncmp(t->d.cgroup_path, ctx->root, rl) != 0 || t->d.cgroup_path[rl] != '/')
        return kk_ipc_fatal(req, err, "derived cgroup path %s is not beneath %s", t->d.cgroup_path,
                            ctx->root);
    if (kk_strlcpy(t->rel, t->d.cgroup_path + rl + 1, sizeof(t->rel)) < 0)
        return kk_ipc_fatal(req, err, "derived cgroup path too long");
    char *slash = strrchr(t->rel, '/');
    if (slash == NULL) {
        kk_strlcpy(t->parent_rel, ".", sizeof(t->parent_rel));
        t->leaf = t->rel;
    } else {
        size_t pl = (size_t)(slash - t->rel);
        memcpy(t->parent_rel, t->rel, pl);
        t->parent_rel[pl] = '\0';
        t->leaf = slash + 1;
    }
    return 0;
}

const char *cgd_layer_kind(const struct cgd_target *t)
{
    return kk_name_kind_str(t->d.depth);
}

/* The layers above a container are kuke-cgd's own; a container's cgroup may also have been made by
 * runc, as root, inside a cell kuke-cgd owns. Anything else beneath the root was put there by hand. */
int cgd_check_owner(struct kk_ipc_request *req, const struct cgd_ctx *ctx, int fd, const struct cgd_target *t,
                    uid_t *owner, struct kk_err *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "stat of %s", t->d.cgroup_path);
    if (owner != NULL)
        *owner = st.st_uid;
    if (!S_ISDIR(st.st_mode))
        return kk_ipc_deny(req, err, KK_IPC_DENY_NOT_OWNED, "%s is not a cgroup directory", t->d.cgroup_path);
    if (st.st_uid == ctx->uid || (t->d.depth == KK_NAME_CONTAINER && st.st_uid == 0))
        return 0;
    return kk_ipc_deny(
        req, err, KK_IPC_DENY_NOT_OWNED,
        "%s cgroup %s belongs to uid %u, not to kuke-cgd (uid %u): kukeon did not create it; remove "
        "it by hand (rmdir) or use another name",
        cgd_layer_kind(t), t->d.cgroup_path, (unsigned)st.st_uid, (unsigned)ctx->uid);
}

/* Open the layer's directory beneath the root. NOT_FOUND says which layer is missing. */
static int open_layer(struct kk_ipc_request *req, const struct cgd_ctx *ctx, const struct cgd_target *t,
                      int flags, struct kk_err *err)
{
    int fd = cgd_open_beneath(ctx->root_fd, t->rel, flags | O_DIRECTORY, err);
    if (fd >= 0)
        return fd;
    if (err->kind == KK_ERR_NOT_FOUND)
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "%s cgroup %s does not exist; create it first",
                        cgd_layer_kind(t), t->d.cgroup_path);
    return cgd_fail(req, err);
}

static int read_controllers(int fd, const char *file, struct cgd_ctl_list *out, const char *where,
                            struct kk_err *err)
{
    char text[512];
    if (cgd_read_file(fd, file, text, sizeof(text), NULL, err) < 0 ||
        cgd_ctl_parse(text, strlen(text), out, err) < 0)
        return kk_error_wrap(err, "%s/%s", where, file);
    return 0;
}

/* Why a controller is not in a cgroup's cgroup.controllers, in words a user can act on. */
static void explain_missing(const struct cgd_ctx *ctx, const char *controller, char *buf, size_t size)
{
    const char *v1 = cgd_v1_mount_of(ctx, controller);
    if (cgd_ctl_has(&ctx->offered, controller))
        snprintf(buf, size,
                 "the parent cgroup does not pass it on (it is not in the parent's cgroup.subtree_control)");
    else if (v1 != NULL)
        snprintf(buf, size,
                 "this host's cgroup v2 (%s) does not offer it: it is bound to the cgroup v1 hierarchy at %s",
                 ctx->mount, v1);
    else
        snprintf(buf, size, "this host's cgroup v2 (%s) does not offer it", ctx->mount);
}

static int require_controller(const struct cgd_ctx *ctx, const struct cgd_ctl_list *avail, const char *knob,
                              const char *controller, const struct cgd_target *t, struct kk_err *err)
{
    if (controller == NULL || cgd_ctl_has(avail, controller))
        return 0;
    char why[384];
    explain_missing(ctx, controller, why, sizeof(why));
    return kk_error(err, KK_ERR_INVALID, 0, "%s cannot be set on %s: the %s controller is missing (%s)", knob,
                    t->d.cgroup_path, controller, why);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until cgroup.events says "<key> <want>", or the timeout. kernfs wakes pollers with POLLPRI
 * when the file changes; the wait is also cut into short slices so a missed wake-up costs little. */
static int wait_event(int layer_fd, const char *key, uint64_t want, uint32_t timeout_ms, bool *reached,
                      const char *where, struct kk_err *err)
{
    _cleanup_close_ int fd = cgd_open_beneath(layer_fd, "cgroup.events", O_RDONLY, err);
    if (fd < 0)
        return kk_error_wrap(err, "%s", where);
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        char buf[256];
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n < 0 && errno != EINTR)
            return kk_error(err, KK_ERR_INTERNAL, errno, "reading %s/cgroup.events", where);
        uint64_t v;
        if (n >= 0) {
            buf[n] = '\0';
            if (cgd_keyed_u64(buf, key, &v) < 0)
                return kk_error(err, KK_ERR_INTERNAL, 0, "%s/cgroup.events has no \"%s\" line", where, key);
            if (v == want) {
                *reached = true;
                return 0;
            }
        }
        int64_t left = deadline - now_ms();
        if (left <= 0) {
            *reached = false;
            return 0;
        }
        struct pollfd p = {.fd = fd, .events = POLLPRI};
        if (poll(&p, 1, (int)(left < 50 ? left : 50)) < 0 && errno != EINTR)
            return kk_error(err, KK_ERR_INTERNAL, errno, "waiting on %s/cgroup.events", where);
    }
}

static int take_timeout(struct kk_ipc_request *req, uint32_t asked, uint32_t *out, struct kk_err *err)
{
    if (asked > KK_CGD_TIMEOUT_MAX_MS)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE, "timeout %u ms is over the limit of %u ms",
                           asked, KK_CGD_TIMEOUT_MAX_MS);
    *out = asked == 0 ? KK_CGD_TIMEOUT_DEFAULT_MS : asked;
    return 0;
}

/* ---- HOST -------------------------------------------------------------------------------------- */

static int handle_host(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *vctx,
                       struct kk_err *err)
{
    const struct cgd_ctx *ctx = vctx;
    char offered[KK_CGD_CONTROLLERS_SIZE];
    struct cgd_ctl_list missing = {.n = 0};
    char missing_text[KK_CGD_CONTROLLERS_SIZE];
    for (size_t i = 0; i < cgd_layer_controller_count; i++)
        if (!cgd_ctl_has(&ctx->offered, cgd_layer_controllers[i]))
            cgd_ctl_add(&missing, cgd_layer_controllers[i]);
    if (cgd_ctl_format(&ctx->offered, "", offered, sizeof(offered), err) < 0 ||
        cgd_ctl_format(&missing, "", missing_text, sizeof(missing_text), err) < 0)
        return -1;
    Kukeon__Ipc__CgdV1Hierarchy v1[CGD_V1_MAX];
    Kukeon__Ipc__CgdV1Hierarchy *v1p[CGD_V1_MAX];
    for (size_t i = 0; i < ctx->n_v1; i++) {
        kukeon__ipc__cgd_v1_hierarchy__init(&v1[i]);
        v1[i].mount = (char *)ctx->v1[i].m.point;
        v1[i].controllers = (char *)ctx->v1[i].m.controllers;
        v1[i].usable = ctx->v1[i].fd >= 0;
        v1p[i] = &v1[i];
    }
    Kukeon__Ipc__CgdHostReply r = KUKEON__IPC__CGD_HOST_REPLY__INIT;
    r.mount = (char *)ctx->mount;
    r.root = (char *)ctx->root;
    r.offered = offered;
    r.missing = missing_text;
    r.n_v1 = ctx->n_v1;
    r.v1 = v1p;
    r.landlock = (char *)ctx->landlock;
    return kk_ipc_reply(req, &r.base, -1, err);
}

/* ---- CREATE -------------------------------------------------------------------------------------- */

/* Make rel's directories in one v1 hierarchy, down to the cell at most: runc makes container
 * directories itself, inside the cell directory kuke-cgd owns there. */
static int v1_ensure(const struct cgd_v1 *h, const struct cgd_target *t, struct kk_err *err)
{
    const char *const parts[] = {t->d.realm, t->d.space, t->d.stack, t->d.cell};
    size_t levels = t->d.depth >= KK_NAME_CELL ? 4 : (size_t)t->d.depth + 1;
    _cleanup_close_ int cur = fcntl(h->fd, F_DUPFD_CLOEXEC, 0);
    if (cur < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "duplicating a descriptor");
    for (size_t i = 0; i < levels; i++) {
        if (mkdirat(cur, parts[i], 0755) < 0 && errno != EEXIST)
            return kk_error(err, KK_ERR_INTERNAL, errno, "creating %s in the cgroup v1 hierarchy %s",
                            parts[i], h->m.point);
        int next = cgd_open_beneath(cur, parts[i], O_PATH | O_DIRECTORY, err);
        if (next < 0)
            return kk_error_wrap(err, "cgroup v1 hierarchy %s", h->m.point);
        close(cur);
        cur = next;
    }
    return 0;
}

static int handle_create(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *vctx,
                         struct kk_err *err)
{
    const struct cgd_ctx *ctx = vctx;
    const Kukeon__Ipc__CgdCreateRequest *m = (const Kukeon__Ipc__CgdCreateRequest *)msg;
    struct cgd_target t;
    if (cgd_take_target(req, ctx, m->names, &t, err) < 0)
        return -1;
    if (m->nested && t.d.depth != KK_NAME_CELL)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_VALUE,
                           "nested (nestedCgroupRuntime) applies to cells; %s is a %s", t.d.cgroup_path,
                           cgd_layer_kind(&t));

    _cleanup_close_ int parent = cgd_open_beneath(ctx->root_fd, t.parent_rel, O_PATH | O_DIRECTORY, err);
    if (parent < 0) {
        if (err->kind == KK_ERR_NOT_FOUND)
            return kk_error(err, KK_ERR_NOT_FOUND, 0,
                            "cannot create %s cgroup %s: its %s cgroup does not exist; create the %s first",
                            cgd_layer_kind(&t), t.d.cgroup_path, kk_name_kind_str(t.d.depth - 1),
                            kk_name_kind_str(t.d.depth - 1));
        return cgd_fail(req, err);
    }
    if (t.d.depth > KK_NAME_REALM) {
        /* The parent is a layer above a container: kuke-cgd's own. */
        struct cgd_target pt = t;
        pt.d.depth = (enum kk_name_kind)(t.d.depth - 1);
        char *cut = strrchr(pt.d.cgroup_path, '/');
        if (cut != NULL)
            *cut = '\0';
        if (cgd_check_owner(req, ctx, parent, &pt, NULL, err) < 0)
            return -1;
    }
    bool created = true;
    if (mkdirat(parent, t.leaf, 0755) < 0) {
        if (errno != EEXIST)
            return kk_error(err, errno == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, errno, "creating %s",
                            t.d.cgroup_path);
        created = false;
    }
    _cleanup_close_ int fd = cgd_open_beneath(parent, t.leaf, O_PATH | O_DIRECTORY, err);
    if (fd < 0)
        return cgd_fail(req, err);
    if (cgd_check_owner(req, ctx, fd, &t, NULL, err) < 0)
        return -1;

    /* Controllers: realm..cell pass cpu, memory, io, pids on (those the parent passes to them); a
     * nested cell passes on everything it has. A container passes nothing on: its processes live
     * in it (or in a leaf the runtime makes), and a cgroup with processes cannot. */
    struct cgd_ctl_list avail, on, want = {.n = 0}, add = {.n = 0}, missing = {.n = 0};
    if (read_controllers(fd, "cgroup.controllers", &avail, t.d.cgroup_path, err) < 0)
        return -1;
    for (size_t i = 0; i < cgd_layer_controller_count; i++) {
        const char *c = cgd_layer_controllers[i];
        if (t.d.depth == KK_NAME_CONTAINER)
            break;
        if (cgd_ctl_has(&avail, c))
            cgd_ctl_add(&want, c);
        else
            cgd_ctl_add(&missing, c);
    }
    if (m->nested)
        want = avail;
    char text[KK_CGD_CONTROLLERS_SIZE];
    if (read_controllers(fd, "cgroup.subtree_control", &on, t.d.cgroup_path, err) < 0)
        return -1;
    for (size_t i = 0; i < want.n; i++)
        if (!cgd_ctl_has(&on, want.name[i]))
            cgd_ctl_add(&add, want.name[i]);
    if (add.n > 0) {
        if (cgd_ctl_format(&add, "+", text, sizeof(text), err) < 0)
            return -1;
        if (cgd_write_file(fd, "cgroup.subtree_control", text, err) < 0)
            return kk_error_wrap(err,
                                 "%s: enabling controllers (a cgroup with processes of its own cannot pass "
                                 "controllers on)",
                                 t.d.cgroup_path);
        if (read_controllers(fd, "cgroup.subtree_control", &on, t.d.cgroup_path, err) < 0)
            return -1;
    }

    for (size_t i = 0; i < ctx->n_v1; i++)
        if (ctx->v1[i].fd >= 0 && v1_ensure(&ctx->v1[i], &t, err) < 0)
            return kk_error_wrap(err, "%s", t.d.cgroup_path);

    char on_text[KK_CGD_CONTROLLERS_SIZE], missing_text[KK_CGD_CONTROLLERS_SIZE];
    if (cgd_ctl_format(&on, "", on_text, sizeof(on_text), err) < 0 ||
        cgd_ctl_format(&missing, "", missing_text, sizeof(missing_text), err) < 0)
        return -1;
    Kukeon__Ipc__CgdCreateReply r = KUKEON__IPC__CGD_CREATE_REPLY__INIT;
    r.cgroup_path = t.d.cgroup_path;
    r.created = created;
    r.subtree_controllers = on_text;
    r.missing = missing_text;
    return kk_ipc_reply(req, &r.base, -1, err);
}

/* ---- STAT ------------------------------------------------------------------------------------------ */

static int handle_stat(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *vctx,
                       struct kk_err *err)
{
    const struct cgd_ctx *ctx = vctx;
    struct cgd_target t;
    if (cgd_take_target(req, ctx, (const Kukeon__Ipc__CgdNames *)msg, &t, err) < 0)
        return -1;
    Kukeon__Ipc__CgdStatReply r = KUKEON__IPC__CGD_STAT_REPLY__INIT;
    r.cgroup_path = t.d.cgroup_path;
    char controllers[KK_CGD_CONTROLLERS_SIZE] = "", subtree[KK_CGD_CONTROLLERS_SIZE] = "";
    r.controllers = controllers;
    r.subtree_controllers = subtree;

    _cleanup_close_ int fd = cgd_open_beneath(ctx->root_fd, t.rel, O_PATH | O_DIRECTORY, err);
    if (fd < 0 && err->kind != KK_ERR_NOT_FOUND)
        return cgd_fail(req, err);
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "stat of %s", t.d.cgroup_path);
        r.exists = true;
        r.owner_uid = (uint32_t)st.st_uid;
        struct cgd_ctl_list l;
        char text[FILE_SMALL];
        uint64_t v;
        if (read_controllers(fd, "cgroup.controllers", &l, t.d.cgroup_path, err) < 0 ||
            cgd_ctl_format(&l, "", controllers, sizeof(controllers), err) < 0 ||
            read_controllers(fd, "cgroup.subtree_control", &l, t.d.cgroup_path, err) < 0 ||
            cgd_ctl_format(&l, "", subtree, sizeof(subtree), err) < 0)
            return cgd_fail(req, err);
        if (cgd_read_file(fd, "cgroup.events", text, sizeof(text), NULL, err) < 0)
            return cgd_fail(req, err);
        r.populated = cgd_keyed_u64(text, "populated", &v) == 0 && v == 1;
        r.frozen = cgd_keyed_u64(text, "frozen", &v) == 0 && v == 1;
        if (cgd_read_file(fd, "cgroup.stat", text, sizeof(text), NULL, err) < 0)
            return cgd_fail(req, err);
        if (cgd_keyed_u64(text, "nr_descendants", &v) == 0)
            r.nr_descendants = v;
        if (cgd_keyed_u64(text, "nr_dying_descendants", &v) == 0)
            r.nr_dying_descendants = v;
    }
    char *present[CGD_V1_MAX];
    for (size_t i = 0; i < ctx->n_v1; i++) {
        if (ctx->v1[i].fd < 0)
            continue;
        struct kk_err verr;
        int vfd = cgd_open_beneath(ctx->v1[i].fd, t.rel, O_PATH | O_DIRECTORY, &verr);
        if (vfd >= 0) {
            present[r.n_v1_present++] = (char *)ctx->v1[i].m.point;
            close(vfd);
        }
    }
    r.v1_present = present;
    return kk_ipc_reply(req, &r.base, -1, err);
}

/* ---- SET and RESOURCES --------------------------------------------------------------------------- */

static int handle_set(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *vctx, struct kk_err *err)
{
    const struct cgd_ctx *ctx = vctx;
    const Kukeon__Ipc__CgdSetRequest *m = (const Kukeon__Ipc__CgdSetRequest *)msg;
    struct cgd_target t;
    if (cgd_take_target(req, ctx, m->names, &t, err) < 0)
        return -1;

    size_t klen = strlen(m->knob);
    char shown[96];
    kk_log_escape(m->knob, shown, sizeof(shown));
    const struct cgd_knob *k = cgd_knob_find(m->knob, klen);
    if (k == NULL) {
        const char *why = cgd_knob_refusal(m->knob, klen);
        if (why != NULL)
            return kk_ipc_deny(req, err, KK_IPC_DENY_NOT_IN_TABLE, "knob \"%s\" is refused: %s", shown, why);
        return kk_ipc_deny(
            req, err, KK_IPC_DENY_NOT_IN_TABLE,
            "knob \"%s\" is not in kuke-cgd's table (memory.max, memory.high, memory.swap.max, "
            "cpu.max, cpu.weight, pids.max, io.max)",
            shown);
    }
    kk_ipc_audit_name(req, "knob", k->name);
    if (!k->settable)
        return kk_ipc_deny(req, err, KK_IPC_DENY_NOT_IN_TABLE,
                           "%s is written only by %s, which waits for the kernel", k->name, k->request);
    char value[KK_CGD_VALUE_SIZE];
    if (cgd_knob_parse(k, m->value, strlen(m->value), value, sizeof(value), err) < 0)
        return cgd_deny_with(req, err, KK_IPC_DENY_INVALID_VALUE);
    kk_ipc_audit_name(req, "value", value);

    _cleanup_close_ int fd = open_layer(req, ctx, &t, O_PATH, err);
    if (fd < 0)
        return -1;
    if (cgd_check_owner(req, ctx, fd, &t, NULL, err) < 0)
        return -1;
    struct cgd_ctl_list avail;
    if (read_controllers(fd, "cgroup.controllers", &avail, t.d.cgroup_path, err) < 0 ||
        require_controller(ctx, &avail, k->name, k->controller, &t, err) < 0)
        return cgd_fail(req, err);
    if (cgd_write_file(fd, k->name, value, err) < 0) {
        if (err->errnum == ENOENT)
            return kk_error(err, KK_ERR_INVALID, 0,
                            "%s: the kernel has no %s there (e.g. swap accounting is off)", t.d.cgroup_path,
                            k->name);
        return kk_error_wrap(err, "%s", t.d.cgroup_path);
    }
    Kukeon__Ipc__CgdSetReply r = KUKEON__IPC__CGD_SET_REPLY__INIT;
    r.knob = (char *)k->name;
    r.value = value;
    return kk_ipc_reply(req, &r.base, -1, err);
}

static int handle_resources(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *vctx,
                            struct kk_err *err)
{
    const struct cgd_ctx *ctx = vctx;
    const Kukeon__Ipc__CgdResourcesRequest *m = (const Kukeon__Ipc__CgdResourcesRequest *)msg;
    struct cgd_target t;
    if (cgd_take_target(req, ctx, m->names, &t, err) < 0)
        return -1;
    if (t.d.depth != KK_NAME_CONTAINER)
        return kk_ipc_deny(
            req, err, KK_IPC_DENY_INVALID_NAME,
            "resources apply to a container; %s is a %s (give realm, space, stack, cell and container)",
            t.d.cgroup_path, cgd_layer_kind(&t));
    const struct kk_cgd_resources in = {.memory_limit_bytes = m->memory_limit_bytes,
                                        .cpu_shares = m->cpu_shares,
                                        .pids_limit = m->pids_limit};
    struct cgd_knob_write writes[KK_CGD_RESOURCES_MAX];
    size_t n;
    if (cgd_resources_map(&in, ctx->default_memory_limit_bytes, writes, &n, err) < 0)
        return cgd_deny_with(req, err, KK_IPC_DENY_INVALID_VALUE);

    _cleanup_close_ int fd = open_layer(req, ctx, &t, O_PATH, err);
    if (fd < 0)
        return -1;
    if (cgd_check_owner(req, ctx, fd, &t, NULL, err) < 0)
        return -1;
    /* Every controller first: a container gets all of its limits or none. */
    struct cgd_ctl_list avail;
    if (read_controllers(fd, "cgroup.controllers", &avail, t.d.cgroup_path, err) < 0)
        return cgd_fail(req, err);
    for (size_t i = 0; i < n; i++)
        if (require_controller(ctx, &avail, writes[i].knob->name, writes[i].knob->controller, &t, err) < 0)
            return -1;
    Kukeon__Ipc__CgdKnobValue items[KK_CGD_RESOURCES_MAX];
    Kukeon__Ipc__CgdKnobValue *item_ptrs[KK_CGD_RESOURCES_MAX];
    for (size_t i = 0; i < n; i++) {
        if (cgd_write_file(fd, writes[i].knob->name, writes[i].value, err) < 0)
            return kk_error_wrap(err, "%s", t.d.cgroup_path);
        kukeon__ipc__cgd_knob_value__init(&items[i]);
        items[i].knob = (char *)writes[i].knob->name;
        items[i].value = writes[i].value;
        item_ptrs[i] = &items[i];
    }
    Kukeon__Ipc__CgdResourcesReply r = KUKEON__IPC__CGD_RESOURCES_REPLY__INIT;
    r.n_written = n;
    r.written = item_ptrs;
    return kk_ipc_reply(req, &r.base, -1, err);
}

/* ---- FREEZE, KILL ------------------------------------------------------------------------------- */

static int handle_freeze(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *vctx,
                         struct kk_err *err)
{
    const struct cgd_ctx *ctx = vctx;
    const Kukeon__Ipc__CgdFreezeRequest *m = (const Kukeon__Ipc__CgdFreezeRequest *)msg;
    struct cgd_target t;
    uint32_t timeout = KK_CGD_TIMEOUT_DEFAULT_MS;
    if (cgd_take_target(req, ctx, m->names, &t, err) < 0 ||
        take_timeout(req, m->timeout_ms, &timeout, err) < 0)
        return -1;
    kk_ipc_audit_name(req, "frozen", m->frozen ? "1" : "0");
    _cleanup_close_ int fd = open_layer(req, ctx, &t, O_PATH, err);
    if (fd < 0)
        return -1;
    if (cgd_check_owner(req, ctx, fd, &t, NULL, err) < 0)
        return -1;
    if (cgd_write_file(fd, "cgroup.freeze", m->frozen ? "1" : "0", err) < 0)
        return kk_error_wrap(err, "%s", t.d.cgroup_path);
    bool reached;
    if (wait_event(fd, "frozen", m->frozen ? 1 : 0, timeout, &reached, t.d.cgroup_path, err) < 0)
        return -1;
    if (!reached)
        return kk_error(
            err, KK_ERR_UNAVAILABLE, 0,
            "%s did not report \"frozen %d\" in cgroup.events within %u ms; its state is being changed "
            "still: ask again, or stat it",
            t.d.cgroup_path, m->frozen ? 1 : 0, timeout);
    Kukeon__Ipc__CgdFreezeReply r = KUKEON__IPC__CGD_FREEZE_REPLY__INIT;
    r.frozen = m->frozen;
    return kk_ipc_reply(req, &r.base, -1, err);
}

static int handle_kill(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *vctx,
                       struct kk_err *err)
{
    const struct cgd_ctx *ctx = vctx;
    const Kukeon__Ipc__CgdKillRequest *m = (const Kukeon__Ipc__CgdKillRequest *)msg;
    struct cgd_target t;
    uint32_t timeout = KK_CGD_TIMEOUT_DEFAULT_MS;
    if (cgd_take_target(req, ctx, m->names, &t, err) < 0 ||
        take_timeout(req, m->timeout_ms, &timeout, err) < 0)
        return -1;
    _cleanup_close_ int fd = open_layer(req, ctx, &t, O_PATH, err);
    if (fd < 0)
        return -1;
    if (cgd_check_owner(req, ctx, fd, &t, NULL, err) < 0)
        return -1;
    if (cgd_write_file(fd, "cgroup.kill", "1", err) < 0) {
        if (err->errnum == ENOENT)
            return kk_error(err, KK_ERR_UNAVAILABLE, 0,
                            "this kernel has no cgroup.kill (Linux 5.14 or later has it)");
        return kk_error_wrap(err, "%s", t.d.cgroup_path);
    }
    bool emptied;
    if (wait_event(fd, "populated", 0, timeout, &emptied, t.d.cgroup_path, err) < 0)
        return -1;
    Kukeon__Ipc__CgdKillReply r = KUKEON__IPC__CGD_KILL_REPLY__INIT;
    r.emptied = emptied;
    return kk_ipc_reply(req, &r.base, -1, err);
}

/* ---- USAGE --------------------------------------------------------------------------------------- */

/* A one-number file ("123\n"); *has false when the file is not there. */
static int read_number(int fd, const char *file, bool *has, uint64_t *out, const char *where,
                       struct kk_err *err)
{
    char text[64];
    size_t len;
    *has = false;
    if (cgd_read_file(fd, file, text, sizeof(text), &len, err) < 0) {
        if (err->kind == KK_ERR_NOT_FOUND)
            return 0;
        return kk_error_wrap(err, "%s", where);
    }
    if (len > 0 && text[len - 1] == '\n')
        text[--len] = '\0';
    if (kk_parse_u64(text, 0, UINT64_MAX, out) < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s/%s is not a number", where, file);
    *has = true;
    return 0;
}

static int handle_usage(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *vctx,
                        struct kk_err *err)
{
    const struct cgd_ctx *ctx = vctx;
    struct cgd_target t;
    if (cgd_take_target(req, ctx, (const Kukeon__Ipc__CgdNames *)msg, &t, err) < 0)
        return -1;
    _cleanup_close_ int fd = open_layer(req, ctx, &t, O_PATH, err);
    if (fd < 0)
        return -1;
    Kukeon__Ipc__CgdUsageReply r = KUKEON__IPC__CGD_USAGE_REPLY__INIT;
    bool has;
    if (read_number(fd, "memory.current", &has, &r.memory_current, t.d.cgroup_path, err) < 0)
        return cgd_fail(req, err);
    r.has_memory_current = has;
    if (read_number(fd, "memory.peak", &has, &r.memory_peak, t.d.cgroup_path, err) < 0)
        return cgd_fail(req, err);
    r.has_memory_peak = has;
    if (read_number(fd, "pids.current", &has, &r.pids_current, t.d.cgroup_path, err) < 0)
        return cgd_fail(req, err);
    r.has_pids_current = has;
    char text[FILE_SMALL];
    if (cgd_read_file(fd, "cpu.stat", text, sizeof(text), NULL, err) < 0)
        return cgd_fail(req, err);
    cgd_keyed_u64(text, "usage_usec", &r.cpu_usage_usec);
    cgd_keyed_u64(text, "user_usec", &r.cpu_user_usec);
    cgd_keyed_u64(text, "system_usec", &r.cpu_system_usec);
    r.has_cpu_throttling = cgd_keyed_u64(text, "nr_periods", &r.cpu_nr_periods) == 0;
    cgd_keyed_u64(text, "nr_throttled", &r.cpu_nr_throttled);
    cgd_keyed_u64(text, "throttled_usec", &r.cpu_throttled_usec);
    if (cgd_read_file(fd, "cgroup.events", text, sizeof(text), NULL, err) < 0)
        return cgd_fail(req, err);
    uint64_t v;
    r.populated = cgd_keyed_u64(text, "populated", &v) == 0 && v == 1;
    r.frozen = cgd_keyed_u64(text, "frozen", &v) == 0 && v == 1;
    return kk_ipc_reply(req, &r.base, -1, err);
}

/* ---- table and STATUS --------------------------------------------------------------------------- */

const struct kk_ipc_dispatch cgd_dispatch_table[] = {
    {KK_CGD_HOST, "cgroup.host", KK_IPC_PERMIT, false, &kukeon__ipc__cgd_host_request__descriptor,
     handle_host},
    {KK_CGD_CREATE, "cgroup.create", KK_IPC_PERMIT, false, &kukeon__ipc__cgd_create_request__descriptor,
     handle_create},
    {KK_CGD_STAT, "cgroup.stat", KK_IPC_PERMIT, false, &kukeon__ipc__cgd_names__descriptor, handle_stat},
    {KK_CGD_DELETE, "cgroup.delete", KK_IPC_PERMIT, false, &kukeon__ipc__cgd_names__descriptor,
     cgd_handle_delete},
    {KK_CGD_SET, "cgroup.set", KK_IPC_PERMIT, false, &kukeon__ipc__cgd_set_request__descriptor, handle_set},
    {KK_CGD_RESOURCES, "cgroup.resources", KK_IPC_PERMIT, false,
     &kukeon__ipc__cgd_resources_request__descriptor, handle_resources},
    {KK_CGD_FREEZE, "cgroup.freeze", KK_IPC_PERMIT, false, &kukeon__ipc__cgd_freeze_request__descriptor,
     handle_freeze},
    {KK_CGD_KILL, "cgroup.kill", KK_IPC_PERMIT, false, &kukeon__ipc__cgd_kill_request__descriptor,
     handle_kill},
    {KK_CGD_USAGE, "cgroup.usage", KK_IPC_PERMIT, false, &kukeon__ipc__cgd_names__descriptor, handle_usage},
};
const size_t cgd_dispatch_count = KK_ARRAY_SIZE(cgd_dispatch_table);

int cgd_status(struct kk_ipc_status_details *d, void *vctx, struct kk_err *err)
{
    const struct cgd_ctx *ctx = vctx;
    char offered[KK_CGD_CONTROLLERS_SIZE], missing[KK_AUDIT_VALUE_MAX], root[CGD_MOUNT_PATH_SIZE + 128];
    char v1[KK_AUDIT_VALUE_MAX] = "";
    size_t pos = 0;
    for (size_t i = 0; i < ctx->n_v1; i++) {
        int w = snprintf(v1 + pos, sizeof(v1) - pos, "%s%s%s", pos ? " " : "", ctx->v1[i].m.point,
                         ctx->v1[i].fd >= 0 ? "" : "(unusable)");
        if (w < 0 || (size_t)w >= sizeof(v1) - pos)
            break;
        pos += (size_t)w;
    }
    if (cgd_ctl_format(&ctx->offered, "", offered, sizeof(offered), err) < 0 ||
        cgd_missing_controllers(ctx, missing, sizeof(missing), err) < 0 ||
        kk_snprintf(root, sizeof(root), err, "cgroup root", "%s%s", ctx->mount, ctx->root) < 0)
        return -1;
    if (kk_ipc_status_add(d, "cgroup_root", root, err) < 0 ||
        kk_ipc_status_add(d, "controllers_offered", offered[0] ? offered : "(none)", err) < 0 ||
        kk_ipc_status_add(d, "controllers_missing", missing, err) < 0 ||
        kk_ipc_status_add(d, "cgroup_v1", v1[0] ? v1 : "(none)", err) < 0 ||
        kk_ipc_status_add(d, "landlock", ctx->landlock, err) < 0)
        return -1;
    return 0;
}
