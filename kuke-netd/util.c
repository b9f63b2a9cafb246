/* kuke-netd's file work: atomic durable writes, bounded reads, directory creation and removal of
 * its own trees, deterministic JSON text. Paths here are always derived by netd, never received. */
#include "kuke-netd/netd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* Split path into its directory (into dir) and return the last component. */
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

int netd_write_file_atomic(const char *path, const char *data, size_t len, mode_t mode, struct kk_err *err)
{
    char dir[KK_DERIVE_PATH_SIZE];
    const char *base = split_dir(path, dir, sizeof(dir));
    char tmp[KK_DERIVE_PATH_SIZE + 32];
    /* One writer per document (netd serves one request at a time), so a fixed temporary name is
     * enough; a leftover from a crash is simply replaced. */
    if (kk_snprintf(tmp, sizeof(tmp), err, "temporary file", "%s/.%s.tmp", dir, base) < 0)
        return -1;
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening directory %s", dir);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating %s", tmp);
    if (write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return kk_error(err, KK_ERR_INTERNAL, e, "writing %s", tmp);
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return kk_error(err, KK_ERR_INTERNAL, e, "renaming %s to %s", tmp, path);
    }
    if (fsync(dfd) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "syncing directory %s", dir);
    return 0;
}

int netd_read_file(const char *path, size_t max, char **out, size_t *len, struct kk_err *err)
{
    *out = NULL;
    if (len != NULL)
        *len = 0;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening %s", path);
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "reading %s", path);
    if (!S_ISREG(st.st_mode))
        return kk_error(err, KK_ERR_INVALID, 0, "%s is not a regular file: remove it", path);
    if ((uint64_t)st.st_size > max)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "%s is %lld bytes, more than the %zu a network document may be", path,
                        (long long)st.st_size, max);
    _cleanup_free_ char *buf = malloc(max + 1);
    if (buf == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading %s", path);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, max + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "reading %s", path);
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max)
            return kk_error(err, KK_ERR_INVALID, 0, "%s grew past %zu bytes while read", path, max);
    }
    buf[n] = '\0';
    if (len != NULL)
        *len = n;
    *out = KK_STEAL(buf);
    return 1;
}

int netd_mkdir_p(const char *path, mode_t mode, struct kk_err *err)
{
    char buf[KK_DERIVE_PATH_SIZE];
    if (kk_strlcpy(buf, path, sizeof(buf)) < 0 || buf[0] != '/')
        return kk_error(err, KK_ERR_INTERNAL, 0, "directory path %s is not absolute or too long", path);
    size_t n = strlen(buf);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        struct stat st;
        if (lstat(buf, &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                return kk_error(err, KK_ERR_INVALID, 0, "%s is not a directory (a link or a file): remove it",
                                buf);
        } else if (errno != ENOENT || (mkdir(buf, mode) < 0 && errno != EEXIST)) {
            return kk_error(err, KK_ERR_INTERNAL, errno,
                            "creating directory %s (kuke-netd runs as root without CAP_DAC_OVERRIDE: the "
                            "directory above must be root's)",
                            buf);
        }
        buf[i] = saved;
    }
    return 0;
}

int netd_unlink(const char *path, struct kk_err *err)
{
    if (unlink(path) == 0)
        return 1;
    if (errno == ENOENT)
        return 0;
    return kk_error(err, KK_ERR_INTERNAL, errno, "removing %s", path);
}

/* Depth-bounded: netd's trees are <private>/ipam/<network>/<files> and <private>/cells/<files>. */
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

int netd_remove_tree(const char *path, struct kk_err *err)
{
    char dir[KK_DERIVE_PATH_SIZE];
    const char *base = split_dir(path, dir, sizeof(dir));
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : kk_error(err, KK_ERR_INTERNAL, errno, "opening %s", dir);
    return remove_tree_at(dfd, base, path, 0, err);
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
