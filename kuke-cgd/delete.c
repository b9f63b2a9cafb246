/* CGD_DELETE: a layer and everything beneath it, in the v2 tree and in every v1 hierarchy, deepest
 * first, and only when all of it is kukeon's and none of it has processes. Everything is checked
 * before anything is removed, so a refusal leaves the tree as it was. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/names.h"
#include "common/util.h"
#include "kuke-cgd/cgd.h"

/* A delete walks at most this much: the five layers and what a container's own cgroup manager may
 * have made beneath its cgroup. One descriptor is held per level (RLIMIT_NOFILE is 64: the request
 * socket, the audit pipe, the root and up to 16 v1 roots leave room for this depth). */
#define WALK_DEPTH_MAX  16
#define WALK_DIRS_MAX   4096
#define DISPLAY_SIZE    (KK_DERIVE_PATH_SIZE + 512)
#define CHILD_NAME_SIZE 256

/* One hierarchy's walk of the subtree. */
struct walk {
    struct kk_ipc_request *req;
    const char *hierarchy;                 /* "" for v2, the v1 mount point otherwise */
    const char *chain[KK_NAME_KIND_COUNT]; /* names by level on the current path, for container ids */
    size_t dirs;
    char busy[384]; /* "<path> (pids ...)" of the first cgroups with processes */
    size_t n_busy;
    uint32_t removed;
};

static void walk_init(struct walk *w, struct kk_ipc_request *req, const char *hierarchy,
                      const struct cgd_target *t)
{
    memset(w, 0, sizeof(*w));
    w->req = req;
    w->hierarchy = hierarchy;
    w->chain[KK_NAME_REALM] = t->d.realm;
    w->chain[KK_NAME_SPACE] = t->d.space;
    w->chain[KK_NAME_STACK] = t->d.stack;
    w->chain[KK_NAME_CELL] = t->d.cell;
    w->chain[KK_NAME_CONTAINER] = t->d.ctrd_id;
}

/* Whether a directory at level (0 realm .. 4 container, 5+ inside a container) has a name kukeon
 * gives. Inside a container's cgroup the container names things (its runtime's leaf, its own cgroup
 * manager): that cgroup is kukeon's, and so is what it holds. */
static bool name_is_kukeons(const struct walk *w, int level, const char *name)
{
    if (level > KK_NAME_CONTAINER)
        return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
    if (level < KK_NAME_CONTAINER)
        return kk_name_is_valid(name);
    /* "<space>_<stack>_<cell>_<container>" with this path's space, stack and cell. */
    char prefix[3 * KK_NAME_SIZE + 4];
    if (kk_snprintf(prefix, sizeof(prefix), NULL, "prefix", "%s_%s_%s_", w->chain[KK_NAME_SPACE],
                    w->chain[KK_NAME_STACK], w->chain[KK_NAME_CELL]) < 0)
        return false;
    return kk_str_has_prefix(name, prefix) && kk_name_is_valid(name + strlen(prefix));
}

/* The subdirectory names of dirfd, collected before anything is removed. *names is malloc'd. */
static int list_children(int dirfd, const char *where, char (**names)[CHILD_NAME_SIZE], size_t *n,
                         struct kk_err *err)
{
    *names = NULL;
    *n = 0;
    int fd = cgd_open_beneath(dirfd, ".", O_RDONLY | O_DIRECTORY, err);
    if (fd < 0)
        return kk_error_wrap(err, "%s", where);
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return kk_error(err, KK_ERR_INTERNAL, errno, "listing %s", where);
    }
    size_t cap = 0;
    struct dirent *e;
    int rc = 0;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_type != DT_DIR || strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (*n == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            if (ncap > WALK_DIRS_MAX) {
                rc = kk_error(err, KK_ERR_INTERNAL, 0, "%s has more than %d child cgroups", where,
                              WALK_DIRS_MAX);
                break;
            }
            char(*bigger)[CHILD_NAME_SIZE] = realloc(*names, ncap * sizeof(**names));
            if (bigger == NULL) {
                rc = kk_error(err, KK_ERR_INTERNAL, ENOMEM, "listing %s", where);
                break;
            }
            *names = bigger;
            cap = ncap;
        }
        if (kk_strlcpy((*names)[*n], e->d_name, sizeof((*names)[*n])) < 0) {
            rc = kk_error(err, KK_ERR_INTERNAL, 0, "a name in %s is too long", where);
            break;
        }
        (*n)++;
        errno = 0;
    }
    if (rc == 0 && errno != 0)
        rc = kk_error(err, KK_ERR_INTERNAL, errno, "listing %s", where);
    closedir(d);
    if (rc < 0) {
        free(*names);
        *names = NULL;
        *n = 0;
    }
    return rc;
}

/* Note the processes of one cgroup, if any, for the refusal message: the first pids are enough. */
static int note_busy(struct walk *w, int fd, const char *where, struct kk_err *err)
{
    _cleanup_close_ int pfd = cgd_open_beneath(fd, "cgroup.procs", O_RDONLY, err);
    if (pfd < 0)
        return kk_error_wrap(err, "%s", where);
    char procs[256];
    ssize_t got;
    do
        got = read(pfd, procs, sizeof(procs) - 1);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "reading %s/cgroup.procs", where);
    if (got == 0)
        return 0;
    procs[got] = '\0';
    /* "1234 1235 ..." from "1234\n1235\n...": whole lines only, at most four. */
    char pids[64] = "";
    size_t pl = 0;
    int count = 0;
    bool more = false;
    for (const char *p = procs; *p != '\0'; count++) {
        const char *nl = strchr(p, '\n');
        if (nl == NULL || count == 4 || pl + (size_t)(nl - p) + 2 >= sizeof(pids)) {
            more = true;
            break;
        }
        if (pl > 0)
            pids[pl++] = ' ';
        memcpy(pids + pl, p, (size_t)(nl - p));
        pl += (size_t)(nl - p);
        pids[pl] = '\0';
        p = nl + 1;
    }
    size_t bl = strlen(w->busy);
    if (w->n_busy < 3)
        snprintf(w->busy + bl, sizeof(w->busy) - bl, "%s%s%s%s (pids %s%s)", bl ? ", " : "",
                 w->hierarchy[0] ? "cgroup v1 " : "", w->hierarchy, where, pids, more ? " ..." : "");
    w->n_busy++;
    return 0;
}

static int refuse_foreign(struct walk *w, const char *where, const char *name, struct kk_err *err)
{
    char shown[128];
    kk_log_escape(name, shown, sizeof(shown));
    return kk_ipc_deny(
        w->req, err, KK_IPC_DENY_NOT_OWNED,
        "%s%s%s contains \"%s\", which is not a name kukeon gives at that level; remove or move it by "
        "hand, then delete again",
        w->hierarchy[0] ? "cgroup v1 " : "", w->hierarchy, where, shown);
}

/* Check fd's subtree: names, processes, nothing that leaves the tree. */
static int walk_check(struct walk *w, int fd, int level, int depth, const char *where, struct kk_err *err)
{
    if (depth > WALK_DEPTH_MAX || ++w->dirs > WALK_DIRS_MAX)
        return kk_error(
            err, KK_ERR_INTERNAL, 0,
            "%s%s is deeper or larger than kuke-cgd deletes (%d levels, %d cgroups); remove it by hand",
            w->hierarchy, where, WALK_DEPTH_MAX, WALK_DIRS_MAX);
    if (note_busy(w, fd, where, err) < 0)
        return -1;
    _cleanup_free_ char(*names)[CHILD_NAME_SIZE] = NULL;
    size_t n;
    if (list_children(fd, where, &names, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char child_where[DISPLAY_SIZE];
        if (kk_snprintf(child_where, sizeof(child_where), err, "cgroup path", "%s/%s", where, names[i]) < 0)
            return -1;
        if (!name_is_kukeons(w, level + 1, names[i]))
            return refuse_foreign(w, where, names[i], err);
        _cleanup_close_ int cfd = cgd_open_beneath(fd, names[i], O_PATH | O_DIRECTORY, err);
        if (cfd < 0)
            return cgd_fail(w->req, err);
        if (level + 1 < KK_NAME_KIND_COUNT)
            w->chain[level + 1] = names[i];
        if (walk_check(w, cfd, level + 1, depth + 1, child_where, err) < 0)
            return -1;
    }
    return 0;
}

/* Remove name beneath parent and everything below it, deepest first. The names are checked again:
 * something may have appeared since the check. */
static int walk_remove(struct walk *w, int parent, const char *name, int level, int depth, const char *where,
                       struct kk_err *err)
{
    if (depth > WALK_DEPTH_MAX)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s%s is deeper than %d levels", w->hierarchy, where,
                        WALK_DEPTH_MAX);
    {
        _cleanup_close_ int fd = cgd_open_beneath(parent, name, O_PATH | O_DIRECTORY, err);
        if (fd < 0)
            return cgd_fail(w->req, err);
        _cleanup_free_ char(*names)[CHILD_NAME_SIZE] = NULL;
        size_t n;
        if (list_children(fd, where, &names, &n, err) < 0)
            return -1;
        for (size_t i = 0; i < n; i++) {
            char child_where[DISPLAY_SIZE];
            if (kk_snprintf(child_where, sizeof(child_where), err, "cgroup path", "%s/%s", where, names[i]) <
                0)
                return -1;
            if (level + 1 < KK_NAME_KIND_COUNT)
                w->chain[level + 1] = names[i];
            if (!name_is_kukeons(w, level + 1, names[i]))
                return refuse_foreign(w, where, names[i], err);
            if (walk_remove(w, fd, names[i], level + 1, depth + 1, child_where, err) < 0)
                return -1;
        }
    }
    if (unlinkat(parent, name, AT_REMOVEDIR) < 0) {
        int e = errno;
        if (e == EBUSY)
            return kk_error(
                err, KK_ERR_INVALID, e,
                "%s%s%s gained processes or children while being deleted; stop them and delete again",
                w->hierarchy[0] ? "cgroup v1 " : "", w->hierarchy, where);
        return kk_error(err, e == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, e, "removing %s%s",
                        w->hierarchy, where);
    }
    w->removed++;
    return 0;
}

/* The layer's parent and the layer itself beneath a hierarchy's root. 1: they exist; 0: the layer
 * (or its parent) does not; -1: error, or an attempt to leave the root. */
static int open_layer_pair(struct kk_ipc_request *req, int root, const struct cgd_target *t, int *parent,
                           int *fd, struct kk_err *err)
{
    *parent = *fd = -1;
    *parent = cgd_open_beneath(root, t->parent_rel, O_PATH | O_DIRECTORY, err);
    if (*parent < 0)
        return err->kind == KK_ERR_NOT_FOUND ? 0 : cgd_fail(req, err);
    *fd = cgd_open_beneath(*parent, t->leaf, O_PATH | O_DIRECTORY, err);
    if (*fd < 0) {
        kk_closep(parent);
        return err->kind == KK_ERR_NOT_FOUND ? 0 : cgd_fail(req, err);
    }
    return 1;
}

int cgd_handle_delete(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *vctx, struct kk_err *err)
{
    const struct cgd_ctx *ctx = vctx;
    struct cgd_target t;
    if (cgd_take_target(req, ctx, (const Kukeon__Ipc__CgdNames *)msg, &t, err) < 0)
        return -1;
    const int level = (int)t.d.depth;

    /* Check: the v2 subtree (its descriptors are kept for the removal), then each v1 hierarchy's, one
     * at a time so that the descriptors held stay few. */
    struct walk v2;
    walk_init(&v2, req, "", &t);
    _cleanup_close_ int parent = -1, fd = -1;
    int exists = open_layer_pair(req, ctx->root_fd, &t, &parent, &fd, err);
    if (exists < 0)
        return -1;
    if (exists == 1 && (cgd_check_owner(req, ctx, fd, &t, NULL, err) < 0 ||
                        walk_check(&v2, fd, level, 0, t.d.cgroup_path, err) < 0))
        return -1;

    struct walk v1[CGD_V1_MAX];
    bool v1_exists[CGD_V1_MAX];
    for (size_t i = 0; i < ctx->n_v1; i++) {
        walk_init(&v1[i], req, ctx->v1[i].m.point, &t);
        v1_exists[i] = false;
        if (ctx->v1[i].fd < 0)
            continue;
        _cleanup_close_ int vp = -1, vfd = -1;
        int rc = open_layer_pair(req, ctx->v1[i].fd, &t, &vp, &vfd, err);
        if (rc < 0)
            return -1;
        v1_exists[i] = rc == 1;
        if (rc == 1 && walk_check(&v1[i], vfd, level, 0, t.d.cgroup_path, err) < 0)
            return -1;
    }

    /* Name what keeps it busy: the v2 cgroups with processes; the v1 directories (where the same
     * processes usually are again, runc having put them in every hierarchy) only by count, unless
     * v2 has none. */
    size_t v1_busy = 0;
    const struct walk *first_v1 = NULL;
    for (size_t i = 0; i < ctx->n_v1; i++) {
        v1_busy += v1[i].n_busy;
        if (first_v1 == NULL && v1[i].n_busy > 0)
            first_v1 = &v1[i];
    }
    if (v2.n_busy > 0 || v1_busy > 0) {
        const struct walk *shown = v2.n_busy > 0 ? &v2 : first_v1;
        size_t n = shown->n_busy;
        char also[96] = "";
        if (v2.n_busy > 0 && v1_busy > 0)
            snprintf(also, sizeof(also), "; and %zu cgroup v1 director%s", v1_busy,
                     v1_busy == 1 ? "y" : "ies");
        return kk_ipc_deny(
            req, err, KK_IPC_DENY_STATE,
            "cannot delete %s cgroup %s: processes in %s%s%s; stop or kill them first (the kill "
            "request), then delete",
            cgd_layer_kind(&t), t.d.cgroup_path, shown->busy, n > 3 ? ", ..." : "", also);
    }

    /* Remove, deepest first: v2, then each v1 hierarchy. */
    if (exists == 1 && walk_remove(&v2, parent, t.leaf, level, 0, t.d.cgroup_path, err) < 0)
        return -1;
    uint32_t v1_removed = 0;
    for (size_t i = 0; i < ctx->n_v1; i++) {
        if (!v1_exists[i])
            continue;
        _cleanup_close_ int vp = -1, vfd = -1;
        int rc = open_layer_pair(req, ctx->v1[i].fd, &t, &vp, &vfd, err);
        if (rc < 0)
            return -1;
        if (rc == 1 && walk_remove(&v1[i], vp, t.leaf, level, 0, t.d.cgroup_path, err) < 0)
            return -1;
        v1_removed += v1[i].removed;
    }

    Kukeon__Ipc__CgdDeleteReply r = KUKEON__IPC__CGD_DELETE_REPLY__INIT;
    r.cgroup_path = t.d.cgroup_path;
    r.existed = exists == 1;
    r.removed = v2.removed;
    r.v1_removed = v1_removed;
    return kk_ipc_reply(req, &r.base, -1, err);
}
