/* Confined file access for kuke-cgd: everything is opened relative to a directory it holds, with
 * openat2 and every RESOLVE_ restriction that keeps the walk beneath that directory, on its mount,
 * and away from symlinks and /proc magic links. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"
#include "kuke-cgd/cgd.h"

#define CGD_RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

bool cgd_errno_is_escape(int errnum)
{
    /* EXDEV: a ".." above the start, or a mount point crossed; ELOOP: a symlink (or magic link) on
     * the way, or the final component a symlink under O_NOFOLLOW. */
    return errnum == EXDEV || errnum == ELOOP;
}

int cgd_open_beneath(int dirfd, const char *rel, int flags, struct kk_err *err)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    /* No O_NOFOLLOW: with O_PATH it would hand back a descriptor of a trailing symlink itself;
     * without it, RESOLVE_NO_SYMLINKS refuses a symlink anywhere in the path, the last component
     * included. */
    how.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC);
    how.resolve = CGD_RESOLVE;
    for (int attempt = 0;; attempt++) {
        long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));
        if (fd >= 0)
            return (int)fd;
        int e = errno;
        /* EAGAIN: a rename elsewhere in the mount made the kernel unsure the walk stayed beneath;
         * it asks for a retry rather than risking it. */
        if ((e == EAGAIN || e == EINTR) && attempt < 8)
            continue;
        enum kk_err_kind kind = e == ENOENT                              ? KK_ERR_NOT_FOUND
                                : (e == EACCES || e == EPERM)            ? KK_ERR_PERMISSION
                                : cgd_errno_is_escape(e) || e == ENOTDIR ? KK_ERR_DENIED
                                                                         : KK_ERR_INTERNAL;
        if (cgd_errno_is_escape(e))
            return kk_error(
                err, kind, e,
                "refusing to open %s: the path leaves the cgroup root (a symlink, a mount point or "
                "\"..\" on the way)",
                rel);
        return kk_error(err, kind, e, "opening %s", rel);
    }
}

int cgd_read_file(int dirfd, const char *rel, char *buf, size_t size, size_t *len, struct kk_err *err)
{
    _cleanup_close_ int fd = cgd_open_beneath(dirfd, rel, O_RDONLY, err);
    if (fd < 0)
        return -1;
    size_t pos = 0;
    for (;;) {
        if (pos + 1 >= size)
            return kk_error(err, KK_ERR_INTERNAL, 0, "%s is larger than the %zu bytes kuke-cgd reads", rel,
                            size - 1);
        ssize_t n = read(fd, buf + pos, size - 1 - pos);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "reading %s", rel);
        if (n == 0)
            break;
        pos += (size_t)n;
    }
    buf[pos] = '\0';
    if (memchr(buf, '\0', pos) != NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s contains a NUL byte", rel);
    if (len != NULL)
        *len = pos;
    return 0;
}

int cgd_write_file(int dirfd, const char *rel, const char *value, struct kk_err *err)
{
    _cleanup_close_ int fd = cgd_open_beneath(dirfd, rel, O_WRONLY, err);
    if (fd < 0)
        return -1;
    size_t n = strlen(value);
    /* cgroupfs parses each write() as a whole: one call, all or nothing. */
    ssize_t w;
    do
        w = write(fd, value, n);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
        int e = errno;
        return kk_error(err, e == EACCES || e == EPERM ? KK_ERR_PERMISSION : KK_ERR_INVALID, e,
                        "the kernel refused \"%s\" in %s", value, rel);
    }
    if ((size_t)w != n)
        return kk_error(err, KK_ERR_INTERNAL, 0, "short write of \"%s\" to %s (%zd of %zu bytes)", value, rel,
                        w, n);
    return 0;
}

int cgd_keyed_u64(const char *text, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    for (const char *p = text; *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);
        if (n > kl + 1 && memcmp(p, key, kl) == 0 && p[kl] == ' ') {
            char num[32];
            size_t vn = n - kl - 1;
            if (vn >= sizeof(num))
                return -1;
            memcpy(num, p + kl + 1, vn);
            num[vn] = '\0';
            return kk_parse_u64(num, 0, UINT64_MAX, out);
        }
        p += n + (nl != NULL ? 1 : 0);
    }
    return -1;
}
