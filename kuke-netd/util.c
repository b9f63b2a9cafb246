/* kuke-netd's file work: its state directory (made, proven root's and held open before the
 * sandbox), atomic durable writes, bounded reads, directory creation and removal of its own trees,
 * deterministic JSON text. Paths here are always derived by netd, never received, and relative to
 * the state directory's descriptor or absolute (the CNI conf dir). */
#include "kuke-netd/netd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

int netd_deny(struct netd_ctx *c, struct kk_err *err, uint32_t reason, const char *fmt, ...)
{
    char text[KK_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        text[0] = '\0';
    if (c != NULL)
        c->deny_reason = reason;
    return kk_error(err, KK_ERR_DENIED, 0, "%s", text);
}

/* Split path into its directory (into dir: "." for a bare name, "/" for "/name") and return the
 * last component. */
static const char *split_dir(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 0 : (size_t)(slash - path);
    if (n == 0 || n >= size) {
        kk_strlcpy(dir, slash == path ? "/" : ".", size);
        return slash == NULL ? path : slash + 1;
    }
    memcpy(dir, path, n);
    dir[n] = '\0';
    return slash + 1;
}

const char *netd_path_shown(const struct netd_dir *at, const char *path, char *buf, size_t size)
{
    if (path[0] == '/' || at->shown == NULL || at->shown[0] == '\0')
        snprintf(buf, size, "%s", path);
    else
        snprintf(buf, size, "%s/%s", at->shown, path);
    return buf;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

int netd_write_file_atomic(const struct netd_dir *at, const char *path, const char *data, size_t len,
                           mode_t mode, struct kk_err *err)
{
    char dir[KK_DERIVE_PATH_SIZE], shown[KK_DERIVE_PATH_SIZE + 300];
    const char *base = split_dir(path, dir, sizeof(dir));
    netd_path_shown(at, path, shown, sizeof(shown));
    char tmp[NAME_MAX + 1];
    /* One writer per document (netd serves one request at a time), so a fixed temporary name is
     * enough; a leftover from a crash is simply replaced. */
    if (kk_snprintf(tmp, sizeof(tmp), err, "temporary file name", ".%s.tmp", base) < 0)
        return -1;
    _cleanup_close_ int dfd = openat(at->fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening the directory of %s", shown);
    _cleanup_close_ int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating a temporary file beside %s", shown);
    if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        int e = errno;
        unlinkat(dfd, tmp, 0);
        return kk_error(err, KK_ERR_INTERNAL, e, "writing the temporary file of %s", shown);
    }
    if (renameat(dfd, tmp, dfd, base) < 0) {
        int e = errno;
        unlinkat(dfd, tmp, 0);
        return kk_error(err, KK_ERR_INTERNAL, e, "renaming the temporary file of %s into place", shown);
    }
    if (fsync(dfd) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "syncing the directory of %s", shown);
    return 0;
}

int netd_read_file(const struct netd_dir *at, const char *path, size_t max, char **out, size_t *len,
                   struct kk_err *err)
{
    *out = NULL;
    if (len != NULL)
        *len = 0;
    char shown[KK_DERIVE_PATH_SIZE + 300];
    netd_path_shown(at, path, shown, sizeof(shown));
    _cleanup_close_ int fd = openat(at->fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening %s", shown);
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "reading %s", shown);
    if (!S_ISREG(st.st_mode))
        return kk_error(err, KK_ERR_INVALID, 0, "%s is not a regular file: remove it", shown);
    if ((uint64_t)st.st_size > max)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "%s is %lld bytes, more than the %zu a network document may be", shown,
                        (long long)st.st_size, max);
    _cleanup_free_ char *buf = malloc(max + 1);
    if (buf == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading %s", shown);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "reading %s", shown);
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max)
            return kk_error(err, KK_ERR_INVALID, 0, "%s grew past %zu bytes while read", shown, max);
    }
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    *out = KK_STEAL(buf);
    return 1;
}

int netd_mkdir_p(const struct netd_dir *at, const char *path, mode_t mode, struct kk_err *err)
{
    char buf[KK_DERIVE_PATH_SIZE], shown[KK_DERIVE_PATH_SIZE + 300];
    if (kk_strlcpy(buf, path, sizeof(buf)) < 0 || buf[0] == '\0' || (at->fd == AT_FDCWD && buf[0] != '/'))
        return kk_error(err, KK_ERR_INTERNAL, 0, "directory path %s is empty, relative or too long", path);
    size_t n = strlen(buf);
    for (size_t i = buf[0] == '/' ? 1 : 0; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        struct stat st;
        if (fstatat(at->fd, buf, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (!S_ISDIR(st.st_mode))
                return kk_error(err, KK_ERR_INVALID, 0, "%s is not a directory (a link or a file): remove it",
                                netd_path_shown(at, buf, shown, sizeof(shown)));
        } else if (errno != ENOENT || (mkdirat(at->fd, buf, mode) < 0 && errno != EEXIST)) {
            return kk_error(err, KK_ERR_INTERNAL, errno,
                            "creating directory %s (kuke-netd runs as root without CAP_DAC_OVERRIDE: the "
                            "directory above must be root's)",
                            netd_path_shown(at, buf, shown, sizeof(shown)));
        }
        buf[i] = saved;
    }
    return 0;
}

int netd_unlink(const struct netd_dir *at, const char *path, struct kk_err *err)
{
    if (unlinkat(at->fd, path, 0) == 0)
        return 1;
    if (errno == ENOENT)
        return 0;
    char shown[KK_DERIVE_PATH_SIZE + 300];
    return kk_error(err, KK_ERR_INTERNAL, errno, "removing %s",
                    netd_path_shown(at, path, shown, sizeof(shown)));
}

int netd_rmdir_empty(const struct netd_dir *at, const char *path, struct kk_err *err)
{
    if (unlinkat(at->fd, path, AT_REMOVEDIR) == 0)
        return 1;
    if (errno == ENOENT || errno == ENOTEMPTY || errno == EEXIST)
        return 0;
    char shown[KK_DERIVE_PATH_SIZE + 300];
    return kk_error(err, KK_ERR_INTERNAL, errno, "removing directory %s",
                    netd_path_shown(at, path, shown, sizeof(shown)));
}

int netd_exists(const struct netd_dir *at, const char *path, struct kk_err *err)
{
    struct stat st;
    if (fstatat(at->fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return 1;
    if (errno == ENOENT)
        return 0;
    char shown[KK_DERIVE_PATH_SIZE + 300];
    return kk_error(err, KK_ERR_INTERNAL, errno, "inspecting %s",
                    netd_path_shown(at, path, shown, sizeof(shown)));
}

int netd_open_dir(const struct netd_dir *at, const char *path, DIR **out, struct kk_err *err)
{
    *out = NULL;
    char shown[KK_DERIVE_PATH_SIZE + 300];
    int fd = openat(at->fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening directory %s",
                        netd_path_shown(at, path, shown, sizeof(shown)));
    }
    *out = fdopendir(fd);
    if (*out == NULL) {
        int e = errno;
        close(fd);
        return kk_error(err, KK_ERR_INTERNAL, e, "listing %s",
                        netd_path_shown(at, path, shown, sizeof(shown)));
    }
    return 1;
}

/* Depth-bounded: netd's trees are <space>/ipam/<network>/<files> and <space>/cells/<files>. */
#define NETD_TREE_DEPTH 4

static int remove_tree_at(int parent, const char *name, const char *shown, int depth, struct kk_err *err)
{
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : kk_error(err, KK_ERR_INTERNAL, errno, "inspecting %s", shown);
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(parent, name, 0) < 0 && errno != ENOENT)
            return kk_error(err, KK_ERR_INTERNAL, errno, "removing %s/%s", shown, name);
        return 0;
    }
    if (depth >= NETD_TREE_DEPTH)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s is nested deeper than kuke-netd makes its trees", shown);
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening %s", shown);
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        return kk_error(err, KK_ERR_INTERNAL, errno, "listing %s", shown);
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = remove_tree_at(dirfd(dir), de->d_name, shown, depth + 1, err);
    }
    closedir(dir);
    if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        rc = kk_error(err, KK_ERR_INTERNAL, errno, "removing directory %s", shown);
    return rc;
}

int netd_remove_tree(const struct netd_dir *at, const char *path, struct kk_err *err)
{
    char dir[KK_DERIVE_PATH_SIZE], shown[KK_DERIVE_PATH_SIZE + 300];
    const char *base = split_dir(path, dir, sizeof(dir));
    netd_path_shown(at, path, shown, sizeof(shown));
    _cleanup_close_ int dfd = openat(at->fd, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0
                               : kk_error(err, KK_ERR_INTERNAL, errno, "opening the directory of %s", shown);
    struct stat st;
    if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : kk_error(err, KK_ERR_INTERNAL, errno, "inspecting %s", shown);
    return remove_tree_at(dfd, base, shown, 0, err) < 0 ? -1 : 1;
}

/* ---- the state directory ------------------------------------------------------------------------- */

/* A directory on the way to the state directory: owned by root or by netd itself, and writable by
 * nobody else unless sticky (/tmp, /var/tmp: there others cannot rename or remove root's entries). */
static int state_check_component(int fd, const char *shown, const char *state, bool last, struct kk_err *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "inspecting %s", shown);
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return kk_error(err, KK_ERR_PERMISSION, 0,
                        "netdStateDir %s: %s belongs to uid %u, and only root may own the directories on the "
                        "way to kuke-netd's records: configure a netdStateDir beneath root's directories "
                        "(the default is /var/lib/kukeon/netd)",
                        state, shown, (unsigned)st.st_uid);
    if (last && (st.st_mode & 077) != 0)
        return kk_error(err, KK_ERR_PERMISSION, 0,
                        "netdStateDir %s has mode %04o: it must be 0700, kuke-netd's alone (run 'chmod 0700 "
                        "%s', or configure a directory of its own)",
                        state, (unsigned)(st.st_mode & 07777), state);
    if (!last && (st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0)
        return kk_error(err, KK_ERR_PERMISSION, 0,
                        "netdStateDir %s: %s has mode %04o, writable by others who could swap the path: make "
                        "it writable by root only, or configure another netdStateDir",
                        state, shown, (unsigned)(st.st_mode & 07777));
    return 0;
}

int netd_state_open(struct netd_ctx *c, struct kk_err *err)
{
    const char *state = c->cfg.netd_state_dir;
    char buf[sizeof(c->cfg.netd_state_dir)];
    if (kk_strlcpy(buf, state, sizeof(buf)) < 0 || buf[0] != '/')
        return kk_error(err, KK_ERR_INVALID, 0, "netdStateDir \"%s\" must be an absolute path", state);
    /* Component by component, each opened through its parent's descriptor without following a
     * link, so what is checked is what is used: no other user can swap a component in between. */
    int cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening /");
    if (state_check_component(cur, "/", state, false, err) < 0) {
        close(cur);
        return -1;
    }
    char *save = NULL;
    char *comp = strtok_r(buf + 1, "/", &save);
    size_t shown_len = 0;
    char shown[sizeof(buf)] = "";
    while (comp != NULL) {
        char *next = strtok_r(NULL, "/", &save);
        bool last = next == NULL;
        if (strcmp(comp, "..") == 0) {
            close(cur);
            return kk_error(err, KK_ERR_INVALID, 0, "netdStateDir \"%s\" must not contain \"..\"", state);
        }
        if (strcmp(comp, ".") != 0) {
            /* shown is never longer than the path it is a prefix of. */
            int w = snprintf(shown + shown_len, sizeof(shown) - shown_len, "/%s", comp);
            shown_len += w > 0 && (size_t)w < sizeof(shown) - shown_len ? (size_t)w : 0;
            int fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0 && errno == ENOENT) {
                /* What netd makes: the way there readable (0755), its own directory private. */
                if (mkdirat(cur, comp, last ? 0700 : 0755) < 0 && errno != EEXIST) {
                    int e = errno;
                    close(cur);
                    return kk_error(err, KK_ERR_INTERNAL, e, "creating %s (of netdStateDir %s)", shown,
                                    state);
                }
                fd = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            }
            int e = errno;
            close(cur);
            if (fd < 0)
                return kk_error(
                    err, KK_ERR_INVALID, e,
                    "opening %s (of netdStateDir %s): it must be a directory, not a link or a file", shown,
                    state);
            cur = fd;
            if (state_check_component(cur, shown, state, last, err) < 0) {
                close(cur);
                return -1;
            }
        }
        comp = next;
    }
    if (shown_len == 0) {
        close(cur);
        return kk_error(err, KK_ERR_INVALID, 0, "netdStateDir \"%s\" must be a directory of its own, not /",
                        state);
    }
    /* The lowest free descriptor, as the group's fd checks expect a compact set. */
    int low = fcntl(cur, F_DUPFD_CLOEXEC, 3);
    if (low >= 0) {
        close(cur);
        cur = low;
    }
    c->state.fd = cur;
    return 0;
}

void netd_state_close(struct netd_ctx *c)
{
    if (c->state.fd >= 0)
        close(c->state.fd);
    c->state.fd = -1;
}

char *netd_json_text(const json_t *j, struct kk_err *err)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    if (s == NULL) {
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "encoding JSON");
        return NULL;
    }
    size_t n = strlen(s);
    char *out = realloc(s, n + 2);
    if (out == NULL) {
        free(s);
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "encoding JSON");
        return NULL;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    return out;
}
