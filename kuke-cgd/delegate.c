/* What kuke-cgd does as root, before it drops to its own account (the helper runtime's `acquire`):
 * find the cgroup mounts, delegate <mount>/<cgroupRoot> to the kukeon-cgd account the way the
 * kernel's cgroup v2 delegation model describes it (Documentation/admin-guide/cgroup-v2.rst,
 * "Delegation"), prepare the cgroup v1 hierarchies of a hybrid host, open and keep the directories,
 * and raise the Landlock wall. After this the process holds directory descriptors and nothing else
 * of root's.
 *
 * Why an unprivileged account and not root with fewer capabilities: writing cgroup files needs no
 * capability at all once the files belong to the writer, and the kernel's own permission checks
 * then bound the helper to the subtree it owns. It cannot write the root's own limits (those files
 * stay root's), move processes into the subtree (that also needs write access to the common
 * ancestor's cgroup.procs, which stays root's), or touch any cgroup outside. CAP_DAC_OVERRIDE or
 * CAP_SYS_ADMIN would make openat2's confinement the only wall; with the delegated subtree, it is
 * the second of three (DAC, openat2, Landlock), under a seccomp filter.
 *
 * Why the cgroup v1 hierarchies are prepared too (hybrid hosts): runc creates each container's
 * cgroup in every v1 hierarchy, as root, and removes only the container's own directory, leaving
 * <v1 mount>/<cgroupRoot>/<realm>/<space>/<stack>/<cell> behind. Removing a directory needs write
 * access to its parent, so owning <v1 mount>/<cgroupRoot> alone would let kuke-cgd remove only the
 * realm level, and only once runc's root-owned levels below it were gone. So: root creates
 * <v1 mount>/<cgroupRoot> here and gives the directory (not its files) to kukeon-cgd, and gives it
 * any realm..cell directories already there (left by an earlier run); from then on kuke-cgd creates
 * the realm..cell levels itself in every v1 hierarchy when it creates them in v2, so they are its
 * own, and runc only ever adds container directories inside a cell kuke-cgd owns, which kuke-cgd may
 * remove. Owning a v1 directory gives no power over processes or limits: those are files, which stay
 * root's. The alternative, keeping CAP_DAC_OVERRIDE for the cleanup, would give the helper every
 * file on the host. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/log.h"
#include "common/names.h"
#include "common/util.h"
#include "kuke-cgd/cgd.h"
#include "security/sandbox.h"

#define MOUNTINFO_MAX  (4u << 20) /* a host with tens of thousands of mounts */
#define ROOT_DEPTH_MAX 8          /* components of cgroupRoot */

/* ---- small helpers --------------------------------------------------------------------------- */

static int read_mountinfo(struct cgd_mounts *out, struct kk_err *err)
{
    _cleanup_close_ int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening /proc/self/mountinfo");
    size_t cap = 64 * 1024, len = 0;
    _cleanup_free_ char *buf = malloc(cap);
    if (buf == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading /proc/self/mountinfo");
    for (;;) {
        if (len == cap) {
            if (cap >= MOUNTINFO_MAX)
                return kk_error(err, KK_ERR_INTERNAL, 0, "/proc/self/mountinfo is larger than %u bytes",
                                MOUNTINFO_MAX);
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL)
                return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading /proc/self/mountinfo");
            buf = bigger;
            cap *= 2;
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "reading /proc/self/mountinfo");
        if (n == 0)
            break;
        len += (size_t)n;
    }
    return cgd_mountinfo_parse(buf, len, out, err);
}

/* The mount point as an O_PATH directory, proven to be the filesystem we expect. */
static int open_mount(const char *point, long magic, const char *what, struct kk_err *err)
{
    _cleanup_close_ int fd = open(point, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening the %s mount %s", what, point);
    struct statfs sf;
    if (fstatfs(fd, &sf) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "statfs of %s", point);
    if ((long)sf.f_type != magic)
        return kk_error(err, KK_ERR_INVALID, 0, "%s is not a %s filesystem (type 0x%lx)", point, what,
                        (unsigned long)sf.f_type);
    return KK_STEAL_FD(fd);
}

/* Split "/a/b/kukeon" into its components, in place in buf. */
static int root_components(const char *root, char *buf, size_t size, char **parts, size_t *n,
                           struct kk_err *err)
{
    if (kk_strlcpy(buf, root, size) < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "cgroupRoot \"%s\" is too long", root);
    *n = 0;
    char *save = NULL;
    for (char *c = strtok_r(buf, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
        if (*n >= ROOT_DEPTH_MAX)
            return kk_error(err, KK_ERR_INVALID, 0, "cgroupRoot \"%s\" has more than %d levels", root,
                            ROOT_DEPTH_MAX);
        parts[(*n)++] = c;
    }
    if (*n == 0)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "cgroupRoot \"%s\" names the whole cgroup mount; kuke-cgd needs a subtree of its own "
                        "(the default is /kukeon)",
                        root);
    return 0;
}

static int mkdir_beneath(int dirfd, const char *name, const char *where, struct kk_err *err)
{
    if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating %s/%s", where, name);
    return 0;
}

/* Enable in dirfd's cgroup.subtree_control the layer controllers its cgroup.controllers offers and
 * that are not on yet. As root: dirfd is the mount root or above the delegated root. */
static int enable_layer_controllers(int dirfd, const char *where, struct kk_err *err)
{
    char text[512];
    struct cgd_ctl_list avail, on, add = {.n = 0};
    if (cgd_read_file(dirfd, "cgroup.controllers", text, sizeof(text), NULL, err) < 0 ||
        cgd_ctl_parse(text, strlen(text), &avail, err) < 0 ||
        cgd_read_file(dirfd, "cgroup.subtree_control", text, sizeof(text), NULL, err) < 0 ||
        cgd_ctl_parse(text, strlen(text), &on, err) < 0)
        return kk_error_wrap(err, "%s", where);
    for (size_t i = 0; i < cgd_layer_controller_count; i++)
        if (cgd_ctl_has(&avail, cgd_layer_controllers[i]) && !cgd_ctl_has(&on, cgd_layer_controllers[i]))
            cgd_ctl_add(&add, cgd_layer_controllers[i]);
    if (add.n == 0)
        return 0;
    if (cgd_ctl_format(&add, "+", text, sizeof(text), err) < 0)
        return -1;
    if (cgd_write_file(dirfd, "cgroup.subtree_control", text, err) < 0)
        return kk_error_wrap(err,
                             "enabling controllers in %s (a cgroup with processes of its own cannot pass "
                             "controllers on: move them to a leaf, or choose another cgroupRoot)",
                             where);
    kk_info("enabled %s in %s/cgroup.subtree_control", text, where);
    return 0;
}

static int chown_at(int dirfd, const char *name, uid_t uid, gid_t gid, const char *where, struct kk_err *err)
{
    int flags = name[0] == '\0' ? AT_EMPTY_PATH : AT_SYMLINK_NOFOLLOW;
    if (fchownat(dirfd, name, uid, gid, flags) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "giving %s%s%s to kukeon-cgd", where, name[0] ? "/" : "",
                        name);
    return 0;
}

/* Walk mkdir-ing from dirfd down the components; returns the last as an O_PATH directory. */
static int make_path(int mount_fd, char *const *parts, size_t n, const char *mount, struct kk_err *err)
{
    _cleanup_close_ int cur = fcntl(mount_fd, F_DUPFD_CLOEXEC, 0);
    if (cur < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "duplicating the descriptor of %s", mount);
    for (size_t i = 0; i < n; i++) {
        if (mkdir_beneath(cur, parts[i], mount, err) < 0)
            return -1;
        int next = cgd_open_beneath(cur, parts[i], O_PATH | O_DIRECTORY, err);
        if (next < 0)
            return kk_error_wrap(err, "%s", mount);
        close(cur);
        cur = next;
    }
    return KK_STEAL_FD(cur);
}

/* ---- cgroup v2 ----------------------------------------------------------------------------------- */

static int delegate_v2(struct cgd_ctx *ctx, int mount_fd, char *const *parts, size_t n, struct kk_err *err)
{
    _cleanup_close_ int cur = fcntl(mount_fd, F_DUPFD_CLOEXEC, 0);
    if (cur < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "duplicating the descriptor of %s", ctx->mount);
    char where[CGD_MOUNT_PATH_SIZE + 128];
    kk_strlcpy(where, ctx->mount, sizeof(where));
    /* Every cgroup from the mount root down to the delegated root passes the layer controllers on,
     * so that they can reach the realms. Outside the delegated subtree: root's job. */
    for (size_t i = 0; i < n; i++) {
        if (enable_layer_controllers(cur, where, err) < 0 || mkdir_beneath(cur, parts[i], where, err) < 0)
            return -1;
        int next = cgd_open_beneath(cur, parts[i], O_PATH | O_DIRECTORY, err);
        if (next < 0)
            return kk_error_wrap(err, "%s", where);
        close(cur);
        cur = next;
        size_t wl = strlen(where);
        if (kk_snprintf(where + wl, sizeof(where) - wl, err, "cgroup path", "/%s", parts[i]) < 0)
            return -1;
    }
    /* The delegation: the directory, and the three files through which a delegatee organizes its
     * subtree. Its limit files (memory.max, ...) stay root's: the subtree cannot raise its own
     * ceiling. */
    if (chown_at(cur, "", ctx->uid, ctx->gid, where, err) < 0 ||
        chown_at(cur, "cgroup.procs", ctx->uid, ctx->gid, where, err) < 0 ||
        chown_at(cur, "cgroup.subtree_control", ctx->uid, ctx->gid, where, err) < 0 ||
        chown_at(cur, "cgroup.threads", ctx->uid, ctx->gid, where, err) < 0)
        return -1;
    return enable_layer_controllers(cur, where, err);
}

/* ---- cgroup v1 (hybrid hosts) ---------------------------------------------------------------- */

/* Give kukeon-cgd the realm..cell directories an earlier run (or runc, as root) left under a v1
 * root, so that it can remove them. Only directories named as kukeon names them; depth 1..4. */
static void adopt_v1_layers(int dirfd, int depth, const struct cgd_ctx *ctx, const char *where)
{
    if (depth > 4)
        return;
    struct kk_err err;
    int fd = cgd_open_beneath(dirfd, ".", O_RDONLY | O_DIRECTORY, &err);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_type != DT_DIR || !kk_name_is_valid(e->d_name))
            continue;
        if (fchownat(dirfd, e->d_name, ctx->uid, ctx->gid, AT_SYMLINK_NOFOLLOW) < 0) {
            kk_warn("could not give %s/%s to kukeon-cgd: %s", where, e->d_name, strerror(errno));
            continue;
        }
        int child = cgd_open_beneath(dirfd, e->d_name, O_PATH | O_DIRECTORY, &err);
        if (child >= 0) {
            adopt_v1_layers(child, depth + 1, ctx, where);
            close(child);
        }
    }
    closedir(d);
}

static int prepare_v1(struct cgd_ctx *ctx, struct cgd_v1 *h, char *const *parts, size_t n, bool privileged,
                      struct kk_err *err)
{
    if (h->m.read_only)
        return kk_error(err, KK_ERR_INVALID, 0, "mounted read-only");
    _cleanup_close_ int mfd = open_mount(h->m.point, CGROUP_SUPER_MAGIC, "cgroup v1", err);
    if (mfd < 0)
        return -1;
    char where[CGD_MOUNT_PATH_SIZE + 128];
    if (kk_snprintf(where, sizeof(where), err, "cgroup path", "%s%s", h->m.point, ctx->root) < 0)
        return -1;
    _cleanup_close_ int root = -1;
    if (privileged) {
        root = make_path(mfd, parts, n, h->m.point, err);
        if (root < 0 || chown_at(root, "", ctx->uid, ctx->gid, where, err) < 0)
            return -1;
        adopt_v1_layers(root, 1, ctx, where);
    } else {
        root = cgd_open_beneath(mfd, ctx->root + 1, O_PATH | O_DIRECTORY, err);
        if (root < 0)
            return -1;
    }
    struct stat st;
    if (fstat(root, &st) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "stat of %s", where);
    if (st.st_uid != ctx->uid)
        return kk_error(err, KK_ERR_PERMISSION, 0, "%s belongs to uid %u, not to kuke-cgd's uid %u", where,
                        (unsigned)st.st_uid, (unsigned)ctx->uid);
    h->fd = KK_STEAL_FD(root);
    return 0;
}

/* ---- reporting --------------------------------------------------------------------------------- */

const char *cgd_v1_mount_of(const struct cgd_ctx *ctx, const char *controller)
{
    /* cgroup v1 calls the io controller blkio. */
    const char *v1name = strcmp(controller, "io") == 0 ? "blkio" : controller;
    size_t n = strlen(v1name);
    for (size_t i = 0; i < ctx->n_v1; i++) {
        for (const char *p = ctx->v1[i].m.controllers; *p != '\0';) {
            const char *end = strchr(p, ',');
            size_t l = end != NULL ? (size_t)(end - p) : strlen(p);
            if (l == n && memcmp(p, v1name, n) == 0)
                return ctx->v1[i].m.point;
            p += l + (end != NULL ? 1 : 0);
        }
    }
    return NULL;
}

int cgd_missing_controllers(const struct cgd_ctx *ctx, char *buf, size_t size, struct kk_err *err)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < cgd_layer_controller_count; i++) {
        const char *c = cgd_layer_controllers[i];
        if (cgd_ctl_has(&ctx->offered, c))
            continue;
        const char *v1 = cgd_v1_mount_of(ctx, c);
        int w = v1 != NULL ? snprintf(buf + pos, size - pos, "%s%s (bound to cgroup v1 at %s)",
                                      pos ? ", " : "", c, v1)
                           : snprintf(buf + pos, size - pos, "%s%s (not in this kernel)", pos ? ", " : "", c);
        if (w < 0 || (size_t)w >= size - pos)
            return kk_error(err, KK_ERR_INTERNAL, 0, "controller report does not fit %zu bytes", size);
        pos += (size_t)w;
    }
    if (pos == 0)
        return kk_snprintf(buf, size, err, "controller report", "none");
    return 0;
}

static void report(const struct cgd_ctx *ctx)
{
    char offered[KK_CGD_CONTROLLERS_SIZE], missing[512];
    struct kk_err err;
    if (cgd_ctl_format(&ctx->offered, "", offered, sizeof(offered), &err) < 0 ||
        cgd_missing_controllers(ctx, missing, sizeof(missing), &err) < 0) {
        kk_warn("%s", err.msg);
        return;
    }
    kk_info("cgroup v2 at %s%s; delegated root %s%s (uid %u)", ctx->mount,
            ctx->n_v1 > 0 ? " (hybrid host: cgroup v1 hierarchies are mounted too)" : "", ctx->mount,
            ctx->root, (unsigned)ctx->uid);
    kk_info("the host's cgroup v2 offers: %s", offered[0] != '\0' ? offered : "(no controller)");
    kk_info("it does not offer: %s%s", missing,
            strcmp(missing, "none") != 0 ? "; limits on those controllers will be refused with their name"
                                         : "");
    for (size_t i = 0; i < ctx->n_v1; i++) {
        if (ctx->v1[i].fd >= 0)
            kk_info("cgroup v1 hierarchy %s (%s): kukeon directories are created and removed there too",
                    ctx->v1[i].m.point, ctx->v1[i].m.controllers);
        else
            kk_warn("cgroup v1 hierarchy %s (%s) is not usable (%s): directories runc leaves there will stay",
                    ctx->v1[i].m.point, ctx->v1[i].m.controllers, ctx->v1[i].why);
    }
    kk_info("landlock: %s", ctx->landlock);
}

/* ---- acquire ----------------------------------------------------------------------------------- */

int cgd_acquire(const struct kk_config *cfg, void *vctx, struct kk_err *err)
{
    struct cgd_ctx *ctx = vctx;
    ctx->root_fd = -1;
    for (size_t i = 0; i < CGD_V1_MAX; i++)
        ctx->v1[i].fd = -1;
    ctx->n_v1 = 0;
    ctx->default_memory_limit_bytes = cfg->default_memory_limit_bytes;
    if (kk_strlcpy(ctx->ns_suffix, cfg->ns_suffix, sizeof(ctx->ns_suffix)) < 0 ||
        kk_strlcpy(ctx->root, cfg->cgroup_root, sizeof(ctx->root)) < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "configuration value too long for kuke-cgd");
    const struct kk_derive_config dcfg = {.ns_suffix = ctx->ns_suffix, .cgroup_root = ctx->root};
    if (kk_derive_config_check(&dcfg, err) < 0)
        return -1;
    char rootbuf[sizeof(ctx->root)];
    char *parts[ROOT_DEPTH_MAX];
    size_t nparts = 0;
    if (root_components(ctx->root, rootbuf, sizeof(rootbuf), parts, &nparts, err) < 0)
        return -1;

    bool privileged = geteuid() == 0;
    if (privileged) {
        if (kk_role_resolve_ids(KK_ROLE_CGD, &ctx->uid, &ctx->gid, err) < 0)
            return -1;
    } else {
        ctx->uid = geteuid();
        ctx->gid = getegid();
    }

    struct cgd_mounts mounts;
    if (read_mountinfo(&mounts, err) < 0)
        return -1;
    if (!mounts.have_v2)
        return kk_error(
            err, KK_ERR_UNAVAILABLE, 0,
            "no cgroup v2 mount in /proc/self/mountinfo: kukeon needs cgroup v2 (unified, or hybrid "
            "with /sys/fs/cgroup/unified); mount it with `mount -t cgroup2 none /sys/fs/cgroup/unified` "
            "or boot with systemd.unified_cgroup_hierarchy=1");
    if (kk_strlcpy(ctx->mount, mounts.v2.point, sizeof(ctx->mount)) < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "cgroup v2 mount point too long");
    _cleanup_close_ int mount_fd = open_mount(ctx->mount, CGROUP2_SUPER_MAGIC, "cgroup2", err);
    if (mount_fd < 0)
        return -1;
    char text[512];
    if (cgd_read_file(mount_fd, "cgroup.controllers", text, sizeof(text), NULL, err) < 0 ||
        cgd_ctl_parse(text, strlen(text), &ctx->offered, err) < 0)
        return kk_error_wrap(err, "%s", ctx->mount);

    if (privileged && delegate_v2(ctx, mount_fd, parts, nparts, err) < 0)
        return kk_error_wrap(err, "delegating %s%s to kukeon-cgd", ctx->mount, ctx->root);
    ctx->root_fd = cgd_open_beneath(mount_fd, ctx->root + 1, O_PATH | O_DIRECTORY, err);
    if (ctx->root_fd < 0)
        return kk_error_wrap(err, "the delegated cgroup root %s%s (as root, kuke-cgd creates it at start)",
                             ctx->mount, ctx->root);
    struct stat st;
    if (fstat(ctx->root_fd, &st) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "stat of %s%s", ctx->mount, ctx->root);
    if (st.st_uid != ctx->uid)
        return kk_error(
            err, KK_ERR_PERMISSION, 0,
            "%s%s belongs to uid %u, not to kuke-cgd (uid %u): start kuke-cgd as root so that it can "
            "delegate it, or chown the directory and its cgroup.procs, cgroup.subtree_control and "
            "cgroup.threads",
            ctx->mount, ctx->root, (unsigned)st.st_uid, (unsigned)ctx->uid);

    for (size_t i = 0; i < mounts.n_v1; i++) {
        struct cgd_v1 *h = &ctx->v1[ctx->n_v1++];
        h->m = mounts.v1[i];
        struct kk_err verr;
        if (prepare_v1(ctx, h, parts, nparts, privileged, &verr) < 0)
            kk_strlcpy(h->why, verr.msg, sizeof(h->why));
    }

    if (cgd_landlock_apply(ctx, err) < 0)
        return -1;
    report(ctx);
    return 0;
}
