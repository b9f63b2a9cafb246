/* The state store (see store.h and docs/state.md): paths from kk_derive, a flock on a sidecar per
 * document, temp file + fsync + rename + fsync of the directory for every write, and the bytes read
 * as the compare-and-swap token. Everything is done relative to directory descriptors, so a
 * directory renamed or removed under us is noticed instead of written through. */
#include "kukeond/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/names.h"
#include "common/util.h"
#include "ipc/jsonrpc.h"
#include "kukeond/doc.h"
#include "kukeond/manifest.h"

#define META_FILE     "metadata.json"
#define META_LOCK     "metadata.json.lock"
#define META_TMP      ".meta-"
#define TMP_SUFFIX    ".tmp"
#define DATA_DIR      "data"
#define INSTANCE_FILE ".kukeon-instance.json"
#define INSTANCE_TMP  ".kukeon-instance-"

/* Modes of kukeon-reference.md 5.1: directories setgid rwxr-x--- (children inherit the kukeon
 * group), documents and their locks rw-r--r--, the instance file rw-r-----. Set with fchmod after
 * creation, so the caller's umask does not decide them. */
#define DIR_MODE      02750
#define FILE_MODE     0644
#define INSTANCE_MODE 0640
#define INSTANCE_MAX  4096

/* Directories inside a scope that hold other kinds, never children (the Go scope_children.go). */
static const char *const reserved_dirs[] = {"secrets", "blueprints", "configs", "volumes", "volume-meta"};

/* How often a lock whose file was unlinked under us (a concurrent delete) is tried again. */
#define LOCK_ATTEMPTS 64

/* ---- errors ---------------------------------------------------------------------------------- */

static int store_fail(struct kk_err *err, enum kk_err_kind kind, int tag, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int store_fail(struct kk_err *err, enum kk_err_kind kind, int tag, const char *fmt, ...)
{
    char msg[KK_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    kk_error(err, kind, 0, "%s", msg);
    if (err != NULL)
        err->errnum = tag; /* a tag for kk_store_err_*, not text: see store.h */
    return -1;
}

bool kk_store_err_stale(const struct kk_err *err)
{
    return err != NULL && err->errnum == ESTALE;
}

bool kk_store_err_corrupt(const struct kk_err *err)
{
    return err != NULL && err->errnum == EBADMSG;
}

bool kk_store_err_busy(const struct kk_err *err)
{
    return err != NULL && err->errnum == EWOULDBLOCK;
}

/* ---- configuration and places ---------------------------------------------------------------- */

static void store_cfg(const struct kk_store *s, struct kk_derive_config *cfg)
{
    cfg->run_path = s->run_path;
    cfg->ns_suffix = s->ns_suffix;
    cfg->cgroup_root = s->cgroup_root;
    cfg->netns_dir = s->netns_dir;
}

int kk_store_init(struct kk_store *s, const struct kk_derive_config *cfg, struct kk_err *err)
{
    memset(s, 0, sizeof(*s));
    const struct kk_derive_config none = {0};
    if (cfg == NULL)
        cfg = &none;
    if (kk_derive_config_check(cfg, err) < 0)
        return -1;
    const char *in[] = {cfg->run_path, cfg->ns_suffix, cfg->cgroup_root, cfg->netns_dir};
    const char *def[] = {KK_DERIVE_RUN_PATH_DEFAULT, KK_DERIVE_NS_SUFFIX_DEFAULT,
                         KK_DERIVE_CGROUP_ROOT_DEFAULT, KK_DERIVE_NETNS_DIR_DEFAULT};
    char *out[] = {s->run_path, s->ns_suffix, s->cgroup_root, s->netns_dir};
    for (size_t i = 0; i < KK_ARRAY_SIZE(in); i++) {
        const char *v = in[i] != NULL && in[i][0] != '\0' ? in[i] : def[i];
        if (kk_strlcpy(out[i], v, KK_DERIVE_CONFIG_PATH_MAX + 1) < 0)
            return kk_error(err, KK_ERR_INVALID, 0, "store configuration value is too long");
    }
    s->lock_timeout_ms = KK_STORE_LOCK_TIMEOUT_MS;
    return 0;
}

/* Where one document lives, all derived. */
struct place {
    enum kk_kind kind;
    struct kk_derived d;                  /* d.metadata_dir is the document's directory */
    char parent_dir[KK_DERIVE_PATH_SIZE]; /* <run>/data, or the parent document's directory */
    char file[KK_DERIVE_PATH_SIZE];       /* <dir>/metadata.json */
    const char *leaf;                     /* the last name, inside d */
    char desc[6 * KK_NAME_SIZE];          /* 'cell "web" in stack "a"/"b"/"c"', for messages */
};

static int store_place(const struct kk_store *s, const struct kk_derive_names *names, struct place *p,
                       struct kk_err *err)
{
    struct kk_derive_config cfg;
    store_cfg(s, &cfg);
    if (kk_derive(names, &cfg, &p->d, err) < 0)
        return -1;
    if (p->d.depth == KK_NAME_CONTAINER)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "container \"%s\" has no document of its own: it is stored in cell \"%s\"'s document",
                        p->d.container, p->d.cell);
    /* The enums agree: realm..cell are 0..3 in both. */
    p->kind = (enum kk_kind)p->d.depth;
    const char *dir = p->d.metadata_dir;
    const char *slash = strrchr(dir, '/');
    size_t plen = (size_t)(slash - dir);
    memcpy(p->parent_dir, dir, plen);
    p->parent_dir[plen] = '\0';
    p->leaf = slash + 1;
    const struct kk_derived *d = &p->d;
    int rc;
    switch (p->kind) {
    case KK_KIND_REALM:
        rc = snprintf(p->desc, sizeof(p->desc), "realm \"%s\"", d->realm);
        break;
    case KK_KIND_SPACE:
        rc = snprintf(p->desc, sizeof(p->desc), "space \"%s\" in realm \"%s\"", d->space, d->realm);
        break;
    case KK_KIND_STACK:
        rc = snprintf(p->desc, sizeof(p->desc), "stack \"%s\" in space \"%s\"/\"%s\"", d->stack, d->realm,
                      d->space);
        break;
    default:
        rc = snprintf(p->desc, sizeof(p->desc), "cell \"%s\" in stack \"%s\"/\"%s\"/\"%s\"", d->cell,
                      d->realm, d->space, d->stack);
        break;
    }
    if (rc < 0 || (size_t)rc >= sizeof(p->desc))
        return kk_error(err, KK_ERR_INTERNAL, 0, "describing a document: names too long");
    return kk_snprintf(p->file, sizeof(p->file), err, "metadata path", "%s/" META_FILE, dir);
}

int kk_store_doc_path(const struct kk_store *s, const struct kk_derive_names *names, char *buf, size_t size,
                      struct kk_err *err)
{
    struct place p;
    if (store_place(s, names, &p, err) < 0)
        return -1;
    return kk_snprintf(buf, size, err, "metadata path", "%s", p.file);
}

/* ---- files ----------------------------------------------------------------------------------- */

static int open_dir(const char *path)
{
    return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

/* 1 and *st when name exists in dirfd (not following a symlink), 0 when it does not, -1 (errno). */
static int stat_at(int dirfd, const char *name, struct stat *st)
{
    if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) == 0)
        return 1;
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

/* Read a whole regular file of at most max bytes. 1 read, 0 absent, -1 error. */
static int read_file_stat_at(int dirfd, const char *name, const char *path, size_t max, unsigned char **out,
                             size_t *len, struct stat *st_out, struct kk_err *err);

static int read_file_at(int dirfd, const char *name, const char *path, size_t max, unsigned char **out,
                        size_t *len, struct kk_err *err)
{
    return read_file_stat_at(dirfd, name, path, max, out, len, NULL, err);
}

/* read_file_at, and what fstat said of the file read (st_out, optional). */
static int read_file_stat_at(int dirfd, const char *name, const char *path, size_t max, unsigned char **out,
                             size_t *len, struct stat *st_out, struct kk_err *err)
{
    *out = NULL;
    *len = 0;
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return kk_error(err, errno == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, errno, "reading %s",
                        path);
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "reading %s", path);
    if (!S_ISREG(st.st_mode))
        return store_fail(err, KK_ERR_INTERNAL, EBADMSG, "%s is not a regular file: move it away", path);
    if ((uint64_t)st.st_size > max)
        return store_fail(err, KK_ERR_INTERNAL, EBADMSG,
                          "%s is %" PRIu64 " bytes, more than the limit of %zu", path, (uint64_t)st.st_size,
                          max);
    /* One byte more than allowed, to notice a file that grew after fstat. */
    size_t cap = (size_t)st.st_size + 1;
    _cleanup_free_ unsigned char *buf = malloc(cap);
    if (buf == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "reading %s: out of memory", path);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "reading %s", path);
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap)
            return store_fail(err, KK_ERR_INTERNAL, EBADMSG, "%s changed size while it was read", path);
    }
    *out = KK_STEAL(buf);
    *len = n;
    if (st_out != NULL)
        *st_out = st;
    return 1;
}

/* A name for a temporary file nobody else will pick: the prefix, 16 random hex digits, ".tmp". */
static void temp_name(char *buf, size_t size, const char *prefix)
{
    uint64_t r;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        r = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
    }
    snprintf(buf, size, "%s%016" PRIx64 TMP_SUFFIX, prefix, r);
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

/* See store.h. A crash leaves at worst a temp file, which for a document the next writer under the
 * lock removes. */
int kk_store_write_file(int dirfd, const char *name, const char *path, const char *prefix, mode_t mode,
                        const char *data, size_t len, struct kk_err *err)
{
    char tmp[64];
    int fd = -1;
    for (int i = 0; i < 16 && fd < 0; i++) {
        temp_name(tmp, sizeof(tmp), prefix);
        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0 && errno != EEXIST)
            return kk_error(err, errno == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, errno,
                            "writing %s: creating a temporary file beside it", path);
    }
    if (fd < 0)
        return kk_error(err, KK_ERR_INTERNAL, EEXIST, "writing %s: creating a temporary file beside it",
                        path);
    const char *step = NULL;
    /* The umask may have taken bits away; a file already made with mode needs no fchmod (which
     * the API worker's sandbox allows only for the store's own modes, security/profile_api.c). */
    struct stat st;
    if (fstat(fd, &st) < 0 || ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0))
        step = "setting the mode of";
    else if (write_all(fd, data, len) < 0)
        step = "writing";
    else if (fsync(fd) < 0)
        step = "syncing";
    int saved = errno;
    if (close(fd) < 0 && step == NULL) {
        step = "closing";
        saved = errno;
    }
    if (step == NULL && renameat(dirfd, tmp, dirfd, name) < 0) {
        step = "renaming into place";
        saved = errno;
    }
    if (step != NULL) {
        unlinkat(dirfd, tmp, 0);
        return kk_error(err, saved == ENOSPC ? KK_ERR_UNAVAILABLE : KK_ERR_INTERNAL, saved,
                        "writing %s: %s the temporary file", path, step);
    }
    if (fsync(dirfd) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "writing %s: syncing its directory", path);
    return 0;
}

/* Temporary files a crashed writer left. Called under the document's exclusive lock, when no
 * other writer of this document can be between create and rename. */
static void remove_stale_temps(int dirfd)
{
    int fd = dup(dirfd);
    if (fd < 0)
        return;
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        return;
    }
    rewinddir(dir);
    struct dirent *e;
    size_t plen = strlen(META_TMP), slen = strlen(TMP_SUFFIX);
    while ((e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n > plen + slen && strncmp(e->d_name, META_TMP, plen) == 0 &&
            strcmp(e->d_name + n - slen, TMP_SUFFIX) == 0) {
            if (unlinkat(dirfd, e->d_name, 0) == 0)
                kk_warn("removed %s, left by a writer that did not finish", e->d_name);
        }
    }
    closedir(dir);
}

/* ---- locking --------------------------------------------------------------------------------- */

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* flock with a deadline: polled, because a blocking flock cannot be bounded without signals, and
 * the API worker must never hang on a stuck peer. */
static int flock_wait(int fd, int op, const struct kk_store *s, const struct place *p, struct kk_err *err)
{
    int64_t deadline = monotonic_ms() + s->lock_timeout_ms;
    long delay_us = 200;
    for (;;) {
        if (flock(fd, op | LOCK_NB) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return kk_error(err, KK_ERR_INTERNAL, errno, "locking %s.lock", p->file);
        if (monotonic_ms() >= deadline)
            return store_fail(
                err, KK_ERR_UNAVAILABLE, EWOULDBLOCK,
                "%s is locked by another kukeond or kuke process (%s.lock held for more than %u ms): "
                "try again, or find the process holding it (fuser %s.lock)",
                p->desc, p->file, s->lock_timeout_ms, p->file);
        struct timespec ts = {0, delay_us * 1000};
        nanosleep(&ts, NULL);
        if (delay_us < 20000)
            delay_us *= 2;
    }
}

enum lock_mode { DOC_READ, DOC_WRITE, DOC_WRITE_NEW };

/* Create the document's directory (and <run>/data for a realm) for a first write. The parent
 * document must exist: the store never makes an orphan. */
static int ensure_dir(const struct place *p, struct kk_err *err)
{
    _cleanup_close_ int pfd = open_dir(p->parent_dir);
    if (pfd < 0 && errno == ENOENT && p->kind == KK_KIND_REALM) {
        /* <run>/data itself: only below an existing run path (kuke init makes that one). */
        char run[KK_DERIVE_PATH_SIZE];
        const char *slash = strrchr(p->parent_dir, '/');
        size_t n = (size_t)(slash - p->parent_dir);
        memcpy(run, p->parent_dir, n);
        run[n] = '\0';
        _cleanup_close_ int rfd = open_dir(run);
        if (rfd < 0)
            return kk_error(err, errno == ENOENT ? KK_ERR_NOT_FOUND : KK_ERR_INTERNAL, errno,
                            "storing %s: run path %s is not there (kuke init creates it)", p->desc, run);
        if (mkdirat(rfd, DATA_DIR, 0700) < 0 && errno != EEXIST)
            return kk_error(err, KK_ERR_INTERNAL, errno, "creating %s", p->parent_dir);
        if (fchmodat(rfd, DATA_DIR, DIR_MODE, 0) < 0 || fsync(rfd) < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "creating %s", p->parent_dir);
        pfd = open_dir(p->parent_dir);
    }
    if (pfd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            static const char *const parent_kind[] = {"", "realm", "space", "stack"};
            return kk_error(err, KK_ERR_NOT_FOUND, 0,
                            "cannot store %s: its %s does not exist (create it first)", p->desc,
                            parent_kind[p->kind]);
        }
        return kk_error(err, errno == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, errno, "opening %s",
                        p->parent_dir);
    }
    struct stat st;
    if (p->kind != KK_KIND_REALM) {
        int rc = stat_at(pfd, META_FILE, &st);
        if (rc < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "checking %s/" META_FILE, p->parent_dir);
        if (rc == 0) {
            static const char *const parent_kind[] = {"", "realm", "space", "stack"};
            return kk_error(err, KK_ERR_NOT_FOUND, 0,
                            "cannot store %s: its %s has no document (%s/" META_FILE "); create it first",
                            p->desc, parent_kind[p->kind], p->parent_dir);
        }
    }
    /* mkdir then fchmod: mkdir ignores the setgid bit and obeys the umask. */
    if (mkdirat(pfd, p->leaf, 0700) == 0) {
        if (fchmodat(pfd, p->leaf, DIR_MODE, 0) < 0 || fsync(pfd) < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "creating %s", p->d.metadata_dir);
    } else if (errno != EEXIST) {
        return kk_error(err, errno == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, errno, "creating %s",
                        p->d.metadata_dir);
    }
    return 0;
}

/* Open the document's directory and take the lock of its sidecar.
 * DOC_READ: shared; never creates anything, except the sidecar of a document written without one
 * (by an older daemon), and reads on unlocked when that cannot be created (a read-only caller).
 * DOC_WRITE: exclusive; the document's directory must exist. DOC_WRITE_NEW: exclusive, creating
 * the directory. 1 locked (*dfd, *lfd; *lfd may be -1 on the unlocked read), 0 absent, -1 error.
 * The lock is checked to be on the file that is still linked at the path: a delete unlinks the
 * sidecar while a waiter may already hold an fd to it, and a lock on an unlinked inode excludes
 * nobody. */
static int lock_doc(const struct kk_store *s, const struct place *p, enum lock_mode mode, int *dfd_out,
                    int *lfd_out, struct kk_err *err)
{
    *dfd_out = *lfd_out = -1;
    for (int attempt = 0; attempt < LOCK_ATTEMPTS; attempt++) {
        if (mode == DOC_WRITE_NEW && ensure_dir(p, err) < 0)
            return -1;
        _cleanup_close_ int dfd = open_dir(p->d.metadata_dir);
        if (dfd < 0) {
            if ((errno == ENOENT || errno == ENOTDIR) && mode != DOC_WRITE_NEW)
                return 0;
            if (errno == ENOENT)
                continue; /* removed between mkdir and open: again */
            return kk_error(err, errno == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, errno, "opening %s",
                            p->d.metadata_dir);
        }
        struct stat st;
        if (mode != DOC_WRITE_NEW) {
            int rc = stat_at(dfd, META_FILE, &st);
            if (rc < 0)
                return kk_error(err, KK_ERR_INTERNAL, errno, "checking %s", p->file);
            if (rc == 0)
                return 0;
        }
        int flags = mode == DOC_READ ? O_RDONLY : O_RDWR | O_CREAT;
        _cleanup_close_ int lfd =
            openat(dfd, META_LOCK, flags | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, FILE_MODE);
        if (lfd < 0 && errno == ENOENT && mode == DOC_READ) {
            /* No sidecar: a document from before sidecars, or one deleted just now. */
            int rc = stat_at(dfd, META_FILE, &st);
            if (rc <= 0)
                return rc < 0 ? kk_error(err, KK_ERR_INTERNAL, errno, "checking %s", p->file) : 0;
            lfd = openat(dfd, META_LOCK, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, FILE_MODE);
            if (lfd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
                /* Renames are atomic: an unlocked read still sees one whole version. */
                *dfd_out = KK_STEAL_FD(dfd);
                return 1;
            }
        }
        if (lfd < 0) {
            if (errno == ENOENT)
                continue; /* the directory was removed under us */
            return kk_error(err, errno == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, errno,
                            "opening %s.lock", p->file);
        }
        if (mode != DOC_READ)
            (void)fchmod(lfd, FILE_MODE); /* against the umask; not ours to fix when owned by another */
        if (flock_wait(lfd, mode == DOC_READ ? LOCK_SH : LOCK_EX, s, p, err) < 0)
            return -1;
        struct stat held, linked;
        if (fstat(lfd, &held) < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "checking %s.lock", p->file);
        int rc = stat_at(dfd, META_LOCK, &linked);
        if (rc < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "checking %s.lock", p->file);
        if (rc == 0 || held.st_ino != linked.st_ino || held.st_dev != linked.st_dev)
            continue; /* deleted (and maybe re-created) while we waited: lock the current one */
        *dfd_out = KK_STEAL_FD(dfd);
        *lfd_out = KK_STEAL_FD(lfd);
        return 1;
    }
    return kk_error(err, KK_ERR_UNAVAILABLE, 0,
                    "locking %s: its lock file keeps being deleted and re-created; try again", p->file);
}

/* ---- documents ------------------------------------------------------------------------------- */

void kk_store_token_clear(struct kk_store_token *tok)
{
    if (tok == NULL)
        return;
    free(tok->bytes);
    *tok = (struct kk_store_token)KK_STORE_TOKEN_INIT;
}

static int corrupt(const struct place *p, struct kk_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int corrupt(const struct place *p, struct kk_err *err, const char *fmt, ...)
{
    char why[KK_ERR_MSG_MAX / 2];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (n < 0)
        why[0] = '\0';
    return store_fail(err, KK_ERR_INTERNAL, EBADMSG,
                      "metadata of %s is corrupt: %s %s; it was left as it is: restore it from a backup, or "
                      "remove the file to forget the %s",
                      p->desc, p->file, why, kk_kind_str(p->kind));
}

/* The members a document is checked by (kind, and the names kk_doc_names reads). */
static const char *const check_paths[] = {"kind", "metadata/name", "spec/realmId", "spec/spaceId",
                                          "spec/stackId"};
#define KEEP_MAX 32

/* Parse stored bytes and check they are the document this place should hold. keep (optional):
 * decode only those members (kk_json_load_some), and the ones the check reads. */
static json_t *parse_stored_some(const struct place *p, const unsigned char *bytes, size_t len,
                                 const char *const *keep, struct kk_err *err)
{
    if (len == 0) {
        corrupt(p, err, "is empty");
        return NULL;
    }
    json_t *doc;
    if (keep == NULL) {
        json_error_t je;
        doc = json_loadb((const char *)bytes, len, 0, &je);
        if (doc == NULL) {
            char text[4 * 80 + 8];
            kk_log_escape(je.text, text, sizeof(text));
            corrupt(p, err, "is not JSON (line %d, column %d: %s)", je.line, je.column, text);
            return NULL;
        }
    } else {
        const char *paths[KEEP_MAX + 1];
        size_t n = 0;
        for (size_t i = 0; i < KK_ARRAY_SIZE(check_paths); i++)
            paths[n++] = check_paths[i];
        for (const char *const *k = keep; *k != NULL && n < KEEP_MAX; k++)
            paths[n++] = *k;
        paths[n] = NULL;
        struct kk_err jerr = {0};
        doc = kk_json_load_some((const char *)bytes, len, paths, &jerr);
        if (doc == NULL) {
            char text[4 * 80 + 8];
            kk_log_escape(jerr.msg, text, sizeof(text));
            corrupt(p, err, "is not JSON (%s)", text);
            return NULL;
        }
    }
    const char *why = NULL;
    enum kk_kind kind;
    struct kk_derive_names names;
    struct kk_err nerr;
    if (!json_is_object(doc))
        why = "does not hold a JSON object";
    else if (kk_doc_kind(doc, &kind) < 0 || kind != p->kind)
        why = "holds another kind of document";
    else if (kk_doc_names(doc, &names, &nerr) < 0)
        why = "names no place";
    else {
        const char *want[] = {p->d.realm, p->d.space, p->d.stack, p->d.cell};
        const char *have[] = {names.realm, names.space, names.stack, names.cell};
        for (int k = 0; k <= (int)p->kind && why == NULL; k++)
            if (have[k] == NULL || strcmp(have[k], want[k]) != 0)
                why = "names another resource than the directory it lies in";
    }
    if (why != NULL) {
        corrupt(p, err, "%s", why);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

static json_t *parse_stored(const struct place *p, const unsigned char *bytes, size_t len, struct kk_err *err)
{
    return parse_stored_some(p, bytes, len, NULL, err);
}

static void token_set(struct kk_store_token *tok, bool exists, int64_t generation, unsigned char *bytes,
                      size_t len)
{
    free(tok->bytes);
    tok->exists = exists;
    tok->generation = generation;
    tok->bytes = bytes;
    tok->len = len;
}

/* Does what is on disk still match what the caller read? */
static int check_token(const struct place *p, const struct kk_store_token *tok, bool cur_exists,
                       const unsigned char *cur, size_t cur_len, struct kk_err *err)
{
    if (!tok->exists && cur_exists)
        return store_fail(err, KK_ERR_EXISTS, ESTALE,
                          "%s already exists: it was created after it was read (%s); read it again", p->desc,
                          p->file);
    if (tok->exists && !cur_exists)
        return store_fail(err, KK_ERR_NOT_FOUND, ESTALE, "%s was deleted after it was read (%s)", p->desc,
                          p->file);
    if (tok->exists && (tok->len != cur_len || (cur_len > 0 && memcmp(tok->bytes, cur, cur_len) != 0)))
        return store_fail(err, KK_ERR_EXISTS, ESTALE,
                          "%s changed after it was read (another writer updated %s): read it again and retry",
                          p->desc, p->file);
    return 0;
}

/* kk_store_get, and what fstat said of the file the document was read from (st, when found). */
static int store_get(const struct kk_store *s, const struct place *p, const char *const *keep, json_t **doc,
                     struct kk_store_token *tok, struct stat *st, struct kk_err *err)
{
    *doc = NULL;
    _cleanup_close_ int dfd = -1;
    _cleanup_close_ int lfd = -1;
    int rc = lock_doc(s, p, DOC_READ, &dfd, &lfd, err);
    if (rc <= 0) {
        if (rc == 0 && tok != NULL)
            token_set(tok, false, 0, NULL, 0);
        return rc;
    }
    unsigned char *bytes;
    size_t len;
    rc = read_file_stat_at(dfd, META_FILE, p->file, KK_STORE_DOC_MAX, &bytes, &len, st, err);
    if (rc <= 0) {
        if (rc == 0 && tok != NULL)
            token_set(tok, false, 0, NULL, 0);
        return rc;
    }
    json_t *d = parse_stored_some(p, bytes, len, keep, err);
    if (d == NULL) {
        free(bytes);
        return -1;
    }
    if (tok != NULL)
        token_set(tok, true, kk_doc_generation(d), bytes, len);
    else
        free(bytes);
    *doc = d;
    return 1;
}

int kk_store_get(const struct kk_store *s, const struct kk_derive_names *names, json_t **doc,
                 struct kk_store_token *tok, struct kk_err *err)
{
    *doc = NULL;
    struct place p;
    if (store_place(s, names, &p, err) < 0)
        return -1;
    return store_get(s, &p, NULL, doc, tok, NULL, err);
}

int kk_store_get_some(const struct kk_store *s, const struct kk_derive_names *names, const char *const *keep,
                      json_t **doc, struct kk_err *err)
{
    *doc = NULL;
    struct place p;
    if (store_place(s, names, &p, err) < 0)
        return -1;
    return store_get(s, &p, keep, doc, NULL, NULL, err);
}

/* ---- the text cache ---------------------------------------------------------------------------- */

/* The compact text of documents already read, by path, with the identity of the file it was made
 * from: device, inode, size, mtime and ctime. Every write of the store replaces the file (a new
 * inode, renamed over the old one), and so does any other process writing the store (kuke
 * in-process); an edit in place changes mtime and ctime. A file's identity can only come back
 * unchanged if its inode number is reused and it is written within the same timestamp tick as the
 * cached version — so a version is cached only once it is older than KK_STORE_CACHE_SETTLE_NS:
 * any later write carries a later time. A version younger than that is read from disk every time.
 * Shared by every thread (a mutex); bounded by KK_STORE_CACHE_MAX bytes, beyond which documents
 * are read, not cached. */
#define KK_STORE_CACHE_MAX       (16u * 1024 * 1024)
#define KK_STORE_CACHE_SETTLE_NS (100000000LL)

struct text_entry {
    struct text_entry *next;
    uint64_t hash;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
    size_t path_len, text_len;
    char *text;   /* after path, in the same allocation */
    char path[];  /* NUL-terminated */
};

static struct {
    pthread_mutex_t lock;
    struct text_entry **bucket;
    size_t nbuckets, count, bytes;
    size_t hits; /* for tests */
} text_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static uint64_t path_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static bool same_file(const struct text_entry *e, const struct stat *st)
{
    return e->dev == st->st_dev && e->ino == st->st_ino && e->size == st->st_size &&
           e->mtime.tv_sec == st->st_mtim.tv_sec && e->mtime.tv_nsec == st->st_mtim.tv_nsec &&
           e->ctime.tv_sec == st->st_ctim.tv_sec && e->ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Under the lock: the entry of path, and where its link is. */
static struct text_entry **text_find(const char *path, size_t n, uint64_t h)
{
    if (text_cache.nbuckets == 0)
        return NULL;
    struct text_entry **link = &text_cache.bucket[h % text_cache.nbuckets];
    for (; *link != NULL; link = &(*link)->next)
        if ((*link)->hash == h && (*link)->path_len == n && memcmp((*link)->path, path, n) == 0)
            return link;
    return NULL;
}

static void text_unlink(struct text_entry **link)
{
    struct text_entry *e = *link;
    *link = e->next;
    text_cache.count--;
    text_cache.bytes -= sizeof(*e) + e->path_len + e->text_len + 2;
    free(e);
}

/* Forget path (a store write or delete through this process; stale entries elsewhere are caught by
 * their identity anyway, this only frees memory early). */
static void text_forget(const char *path)
{
    size_t n = strlen(path);
    uint64_t h = path_hash(path, n);
    pthread_mutex_lock(&text_cache.lock);
    struct text_entry **link = text_find(path, n, h);
    if (link != NULL)
        text_unlink(link);
    pthread_mutex_unlock(&text_cache.lock);
}

/* Append the cached text of path to out when st is the file it was made from. */
static bool text_lookup(const char *path, const struct stat *st, struct kk_store_text *out, bool *nomem)
{
    size_t n = strlen(path);
    uint64_t h = path_hash(path, n);
    bool hit = false;
    pthread_mutex_lock(&text_cache.lock);
    struct text_entry **link = text_find(path, n, h);
    if (link != NULL && same_file(*link, st)) {
        hit = true;
        text_cache.hits++;
        if (kk_store_text_append(out, (*link)->text, (*link)->text_len) < 0)
            *nomem = true;
    } else if (link != NULL) {
        text_unlink(link);
    }
    pthread_mutex_unlock(&text_cache.lock);
    return hit;
}

static void text_insert(const char *path, const struct stat *st, const char *text, size_t text_len)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const struct timespec *newest = st->st_ctim.tv_sec > st->st_mtim.tv_sec ||
                                            (st->st_ctim.tv_sec == st->st_mtim.tv_sec &&
                                             st->st_ctim.tv_nsec > st->st_mtim.tv_nsec)
                                        ? &st->st_ctim
                                        : &st->st_mtim;
    int64_t age = ((int64_t)now.tv_sec - newest->tv_sec) * 1000000000LL + (now.tv_nsec - newest->tv_nsec);
    if (age < KK_STORE_CACHE_SETTLE_NS)
        return; /* written just now: a write in the same tick could look the same */
    size_t n = strlen(path);
    size_t size = sizeof(struct text_entry) + n + text_len + 2;
    uint64_t h = path_hash(path, n);
    pthread_mutex_lock(&text_cache.lock);
    struct text_entry **link = text_find(path, n, h);
    if (link != NULL)
        text_unlink(link);
    if (text_cache.bytes + size > KK_STORE_CACHE_MAX)
        goto out;
    if (text_cache.count >= text_cache.nbuckets) {
        size_t nb = text_cache.nbuckets == 0 ? 256 : text_cache.nbuckets * 2;
        struct text_entry **grown = calloc(nb, sizeof(*grown));
        if (grown == NULL)
            goto out;
        for (size_t i = 0; i < text_cache.nbuckets; i++) {
            struct text_entry *e = text_cache.bucket[i];
            while (e != NULL) {
                struct text_entry *next = e->next;
                e->next = grown[e->hash % nb];
                grown[e->hash % nb] = e;
                e = next;
            }
        }
        free(text_cache.bucket);
        text_cache.bucket = grown;
        text_cache.nbuckets = nb;
    }
    struct text_entry *e = malloc(size);
    if (e == NULL)
        goto out;
    e->hash = h;
    e->dev = st->st_dev;
    e->ino = st->st_ino;
    e->size = st->st_size;
    e->mtime = st->st_mtim;
    e->ctime = st->st_ctim;
    e->path_len = n;
    e->text_len = text_len;
    memcpy(e->path, path, n + 1);
    e->text = e->path + n + 1;
    memcpy(e->text, text, text_len);
    e->text[text_len] = '\0';
    e->next = text_cache.bucket[h % text_cache.nbuckets];
    text_cache.bucket[h % text_cache.nbuckets] = e;
    text_cache.count++;
    text_cache.bytes += size;
out:
    pthread_mutex_unlock(&text_cache.lock);
}

void kk_store_text_cache_clear(void)
{
    pthread_mutex_lock(&text_cache.lock);
    for (size_t i = 0; i < text_cache.nbuckets; i++)
        while (text_cache.bucket[i] != NULL)
            text_unlink(&text_cache.bucket[i]);
    free(text_cache.bucket);
    text_cache.bucket = NULL;
    text_cache.nbuckets = 0;
    text_cache.hits = 0;
    pthread_mutex_unlock(&text_cache.lock);
}

size_t kk_store_text_cache_count(size_t *hits)
{
    pthread_mutex_lock(&text_cache.lock);
    size_t n = text_cache.count;
    if (hits != NULL)
        *hits = text_cache.hits;
    pthread_mutex_unlock(&text_cache.lock);
    return n;
}

int kk_store_text_append(struct kk_store_text *out, const char *data, size_t len)
{
    if (out->len + len + 1 > out->cap) {
        size_t cap = out->cap == 0 ? 4096 : out->cap;
        while (cap < out->len + len + 1)
            cap *= 2;
        char *grown = realloc(out->data, cap);
        if (grown == NULL)
            return -1;
        out->data = grown;
        out->cap = cap;
    }
    memcpy(out->data + out->len, data, len);
    out->len += len;
    out->data[out->len] = '\0';
    return 0;
}

int kk_store_get_text(const struct kk_store *s, const struct kk_derive_names *names,
                      struct kk_store_text *out, struct kk_err *err)
{
    struct place p;
    if (store_place(s, names, &p, err) < 0)
        return -1;
    struct stat st;
    if (fstatat(AT_FDCWD, p.file, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno != ENOENT && errno != ENOTDIR)
            return kk_error(err, errno == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, errno, "checking %s",
                            p.file);
        text_forget(p.file);
        return 0;
    }
    bool nomem = false;
    if (S_ISREG(st.st_mode) && text_lookup(p.file, &st, out, &nomem))
        return nomem ? kk_error(err, KK_ERR_INTERNAL, 0, "reading %s: out of memory", p.file) : 1;
    /* Not cached, or another version: read it as kk_store_get does (locked, checked). */
    json_t *doc = NULL;
    int rc = store_get(s, &p, NULL, &doc, NULL, &st, err);
    if (rc <= 0)
        return rc;
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "reading %s: out of memory", p.file);
    size_t len = strlen(text);
    text_insert(p.file, &st, text, len);
    rc = kk_store_text_append(out, text, len);
    free(text);
    return rc < 0 ? kk_error(err, KK_ERR_INTERNAL, 0, "reading %s: out of memory", p.file) : 1;
}

/* Serialize and write a document under the lock already held; on success tok holds the bytes. */
static int write_doc(const struct place *p, int dfd, const json_t *doc, struct kk_store_token *tok,
                     struct kk_err *err)
{
    size_t len;
    char *text = kk_json_text(doc, &len);
    if (text == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "writing %s: out of memory", p->file);
    if (len > KK_STORE_DOC_MAX) {
        free(text);
        return kk_error(err, KK_ERR_INVALID, 0, "%s would be %zu bytes, more than the limit of %u", p->desc,
                        len, KK_STORE_DOC_MAX);
    }
    if (kk_store_write_file(dfd, META_FILE, p->file, META_TMP, FILE_MODE, text, len, err) < 0) {
        free(text);
        return -1;
    }
    if (tok != NULL)
        token_set(tok, true, kk_doc_generation(doc), (unsigned char *)text, len);
    else
        free(text);
    return 0;
}

int kk_store_put(const struct kk_store *s, json_t *doc, struct kk_store_token *tok, struct kk_err *err)
{
    if (tok == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0,
                        "a store write needs the token of a read (or an absent one)");
    enum kk_kind kind;
    if (kk_doc_kind(doc, &kind) < 0 || kind > KK_KIND_CELL)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "only Realm, Space, Stack and Cell documents are stored, not \"%s\"",
                        kk_json_str(doc, "kind"));
    if (kk_doc_validate(doc, err) < 0)
        return kk_error_wrap(err, "storing %s \"%s\"", kk_kind_str(kind), kk_doc_name(doc));
    struct kk_derive_names names;
    struct place p;
    if (kk_doc_names(doc, &names, err) < 0 || store_place(s, &names, &p, err) < 0)
        return -1;

    json_t *out = json_deep_copy(doc);
    if (out == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "storing %s: out of memory", p.desc);
    json_t *spec = kk_doc_spec(out);
    if (kind == KK_KIND_CELL && spec != NULL) {
        /* Per-request flags (yaml:"-" in the Go model): never persisted. */
        json_object_del(spec, "runtimeEnv");
        json_object_del(spec, "ignoreDiskPressure");
    }

    int rc = -1;
    int dfd = -1, lfd = -1;
    unsigned char *cur = NULL;
    size_t cur_len = 0;
    json_t *old = NULL;
    if (lock_doc(s, &p, DOC_WRITE_NEW, &dfd, &lfd, err) <= 0)
        goto out;
    remove_stale_temps(dfd);
    int have = read_file_at(dfd, META_FILE, p.file, KK_STORE_DOC_MAX, &cur, &cur_len, err);
    if (have < 0 || check_token(&p, tok, have == 1, cur, cur_len, err) < 0)
        goto out;
    int64_t generation = 1;
    if (have == 1) {
        /* The stored document must be readable to know its generation: a corrupt one is reported,
         * never overwritten. */
        if ((old = parse_stored(&p, cur, cur_len, err)) == NULL)
            goto out;
        int64_t prev = kk_doc_generation(old);
        if (prev < 0)
            prev = 0;
        json_t *a = json_object_get(old, "spec"), *b = json_object_get(out, "spec");
        bool same = (a == NULL && b == NULL) || json_equal(a, b);
        if (!same && prev == INT64_MAX) {
            kk_error(err, KK_ERR_INTERNAL, 0, "%s: generation overflows", p.desc);
            goto out;
        }
        generation = same ? (prev > 0 ? prev : 1) : prev + 1;
    }
    if (kk_doc_set_generation(out, generation) < 0 || kk_doc_set_generation(doc, generation) < 0) {
        kk_error(err, KK_ERR_INTERNAL, 0, "storing %s: out of memory", p.desc);
        goto out;
    }
    rc = write_doc(&p, dfd, out, tok, err);
out:
    json_decref(old);
    json_decref(out);
    free(cur);
    if (lfd >= 0)
        close(lfd);
    if (dfd >= 0)
        close(dfd);
    return rc;
}

int kk_store_put_status(const struct kk_store *s, const struct kk_derive_names *names, json_t *status,
                        int64_t expect_generation, struct kk_store_token *tok, struct kk_err *err)
{
    struct place p;
    if (store_place(s, names, &p, err) < 0)
        return -1;
    if (!json_is_object(status))
        return kk_error(err, KK_ERR_INVALID, 0, "status of %s must be an object", p.desc);
    _cleanup_close_ int dfd = -1;
    _cleanup_close_ int lfd = -1;
    int rc = lock_doc(s, &p, DOC_WRITE, &dfd, &lfd, err);
    if (rc == 0)
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "%s not found", p.desc);
    if (rc < 0)
        return -1;
    remove_stale_temps(dfd);
    _cleanup_free_ unsigned char *cur = NULL;
    size_t cur_len;
    rc = read_file_at(dfd, META_FILE, p.file, KK_STORE_DOC_MAX, &cur, &cur_len, err);
    if (rc == 0)
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "%s not found", p.desc);
    if (rc < 0)
        return -1;
    json_t *doc = parse_stored(&p, cur, cur_len, err);
    if (doc == NULL)
        return -1;
    int64_t generation = kk_doc_generation(doc);
    if (expect_generation > 0 && generation != expect_generation) {
        json_decref(doc);
        return store_fail(err, KK_ERR_EXISTS, ESTALE,
                          "%s changed after its status was derived (generation %" PRId64 " read, %" PRId64
                          " stored): read it again",
                          p.desc, expect_generation, generation);
    }
    rc = json_object_set(doc, "status", status) < 0 ? kk_error(err, KK_ERR_INTERNAL, 0, "out of memory")
                                                    : write_doc(&p, dfd, doc, tok, err);
    json_decref(doc);
    return rc;
}

int kk_store_delete(const struct kk_store *s, const struct kk_derive_names *names,
                    const struct kk_store_token *expect, struct kk_err *err)
{
    struct place p;
    if (store_place(s, names, &p, err) < 0)
        return -1;
    _cleanup_close_ int dfd = -1;
    int lfd = -1;
    int rc = lock_doc(s, &p, DOC_WRITE, &dfd, &lfd, err);
    if (rc <= 0)
        return rc;
    _cleanup_free_ unsigned char *cur = NULL;
    size_t cur_len = 0;
    rc = read_file_at(dfd, META_FILE, p.file, KK_STORE_DOC_MAX, &cur, &cur_len, err);
    if (rc <= 0) {
        close(lfd);
        return rc; /* -1, or 0: deleted meanwhile */
    }
    if (expect != NULL && check_token(&p, expect, true, cur, cur_len, err) < 0) {
        close(lfd);
        return -1;
    }
    if (unlinkat(dfd, META_FILE, 0) < 0) {
        int e = errno;
        close(lfd);
        return kk_error(err, e == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, e, "deleting %s", p.file);
    }
    (void)fsync(dfd);
    remove_stale_temps(dfd);
    /* The sidecar goes while still locked: a waiter then finds its lock unlinked and starts over. */
    if (unlinkat(dfd, META_LOCK, 0) < 0 && errno != ENOENT)
        kk_warn("could not remove %s.lock: %s", p.file, strerror(errno));
    close(lfd);
    text_forget(p.file);
    _cleanup_close_ int pfd = open_dir(p.parent_dir);
    if (pfd >= 0) {
        if (unlinkat(pfd, p.leaf, AT_REMOVEDIR) == 0)
            (void)fsync(pfd);
        else if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
            kk_warn("could not remove the directory %s: %s", p.d.metadata_dir, strerror(errno));
    }
    return 1;
}

/* ---- listing --------------------------------------------------------------------------------- */

static bool is_reserved(const char *name)
{
    for (size_t i = 0; i < KK_ARRAY_SIZE(reserved_dirs); i++)
        if (strcmp(name, reserved_dirs[i]) == 0)
            return true;
    return false;
}

/* One child as a scan of its parent's directory found it: its name and its metadata.json's stat. */
struct child {
    char *name;
    struct stat st;
};

static int cmp_child(const void *a, const void *b)
{
    return strcmp(((const struct child *)a)->name, ((const struct child *)b)->name);
}

static void children_free(struct child *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c[i].name);
    free(c);
}

/* The children of parent, sorted by name (see kk_store_list), and the directory they are in. */
static int scan_children(const struct kk_store *s, const struct kk_derive_names *parent,
                         char dir[KK_DERIVE_PATH_SIZE], struct child **out, size_t *nout, struct kk_err *err)
{
    *out = NULL;
    *nout = 0;
    bool realms = parent == NULL || parent->realm == NULL || parent->realm[0] == '\0';
    struct place p;
    if (realms) {
        if (kk_snprintf(dir, KK_DERIVE_PATH_SIZE, err, "data dir", "%s/" DATA_DIR, s->run_path) < 0)
            return -1;
    } else {
        if (store_place(s, parent, &p, err) < 0)
            return -1;
        if (p.kind == KK_KIND_CELL)
            return kk_error(err, KK_ERR_INVALID, 0,
                            "the containers of %s are in its document, not in directories", p.desc);
        memcpy(dir, p.d.metadata_dir, KK_DERIVE_PATH_SIZE);
    }
    int fd = open_dir(dir);
    struct stat st;
    if (fd >= 0 && !realms && stat_at(fd, META_FILE, &st) != 1) {
        close(fd);
        fd = -1;
        errno = ENOENT;
    }
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR) {
            if (realms)
                return 0;
            return kk_error(err, KK_ERR_NOT_FOUND, 0, "%s not found", p.desc);
        }
        return kk_error(err, errno == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, errno, "listing %s", dir);
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return kk_error(err, KK_ERR_INTERNAL, errno, "listing %s", dir);
    }
    size_t n = 0, cap = 0;
    struct child *found = NULL;
    int rc = 0;
    struct dirent *e;
    errno = 0;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        if (name[0] == '.' || is_reserved(name))
            continue;
        if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)
            continue;
        if (e->d_type == DT_UNKNOWN && (stat_at(dirfd(d), name, &st) != 1 || !S_ISDIR(st.st_mode)))
            continue;
        char meta[KK_NAME_SIZE + sizeof(META_FILE) + 8];
        if (strlen(name) > 255 || snprintf(meta, sizeof(meta), "%s/" META_FILE, name) >= (int)sizeof(meta))
            continue; /* longer than any valid name */
        if (stat_at(dirfd(d), meta, &st) != 1 || !S_ISREG(st.st_mode))
            continue; /* not a resource: a container's directory, a half-deleted one */
        if (!kk_name_is_valid(name)) {
            char shown[4 * 80 + 8];
            kk_log_escape(name, shown, sizeof(shown));
            kk_warn(
                "skipping %s/%s: \"%s\" is not a valid name here (names are 1-63 characters of A-Z a-z 0-9 "
                "'.' '-'); rename it to make it visible",
                dir, shown, shown);
            continue;
        }
        if (n == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            struct child *grown = realloc(found, ncap * sizeof(*found));
            if (grown == NULL) {
                rc = kk_error(err, KK_ERR_INTERNAL, 0, "listing %s: out of memory", dir);
                break;
            }
            found = grown;
            cap = ncap;
        }
        if ((found[n].name = strdup(name)) == NULL) {
            rc = kk_error(err, KK_ERR_INTERNAL, 0, "listing %s: out of memory", dir);
        } else {
            found[n].st = st;
            n++;
        }
    }
    closedir(d);
    if (rc < 0) {
        children_free(found, n);
        return -1;
    }
    if (n > 0)
        qsort(found, n, sizeof(*found), cmp_child);
    *out = found;
    *nout = n;
    return 0;
}

int kk_store_list(const struct kk_store *s, const struct kk_derive_names *parent, json_t **names_out,
                  struct kk_err *err)
{
    *names_out = NULL;
    char dir[KK_DERIVE_PATH_SIZE];
    struct child *c;
    size_t n;
    if (scan_children(s, parent, dir, &c, &n, err) < 0)
        return -1;
    json_t *arr = json_array();
    int rc = arr != NULL ? 0 : kk_error(err, KK_ERR_INTERNAL, 0, "listing %s: out of memory", dir);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (json_array_append_new(arr, json_string(c[i].name)) < 0)
            rc = kk_error(err, KK_ERR_INTERNAL, 0, "listing %s: out of memory", dir);
    children_free(c, n);
    if (rc < 0) {
        json_decref(arr);
        return -1;
    }
    *names_out = arr;
    return 0;
}

int kk_store_list_texts(const struct kk_store *s, const struct kk_derive_names *parent,
                        struct kk_store_text *out, size_t *count, struct kk_err *err)
{
    char dir[KK_DERIVE_PATH_SIZE];
    struct child *c;
    size_t n;
    if (scan_children(s, parent, dir, &c, &n, err) < 0)
        return -1;
    size_t dlen = strlen(dir);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        /* <dir>/<name>/metadata.json: the cache's key, as store_place would make it. */
        char file[KK_DERIVE_PATH_SIZE];
        size_t nlen = strlen(c[i].name);
        if (dlen + 1 + nlen + sizeof("/" META_FILE) > sizeof(file))
            continue; /* not a path kk_derive would make */
        memcpy(file, dir, dlen);
        file[dlen] = '/';
        memcpy(file + dlen + 1, c[i].name, nlen);
        memcpy(file + dlen + 1 + nlen, "/" META_FILE, sizeof("/" META_FILE));
        size_t mark = out->len;
        if (*count > 0 && kk_store_text_append(out, ",", 1) < 0) {
            rc = kk_error(err, KK_ERR_INTERNAL, 0, "listing %s: out of memory", dir);
            break;
        }
        bool nomem = false;
        if (text_lookup(file, &c[i].st, out, &nomem)) {
            if (nomem)
                rc = kk_error(err, KK_ERR_INTERNAL, 0, "listing %s: out of memory", dir);
            else
                (*count)++;
            continue;
        }
        struct kk_derive_names names = {
            .realm = parent->realm, .space = parent->space, .stack = parent->stack, .cell = parent->cell};
        const char **leaf = names.space == NULL   ? &names.space
                            : names.stack == NULL ? &names.stack
                                                  : &names.cell;
        *leaf = c[i].name;
        struct kk_err e = {0};
        int got = kk_store_get_text(s, &names, out, &e);
        if (got < 0) {
            kk_warn("listing: skipping %s: %s", c[i].name, e.msg);
        }
        if (got <= 0) {
            out->len = mark; /* nothing of it, not even the comma */
            if (out->data != NULL)
                out->data[mark] = '\0';
            continue;
        }
        (*count)++;
    }
    children_free(c, n);
    return rc;
}

/* ---- the instance file ----------------------------------------------------------------------- */

/* The cgroup root as the Go daemon compares it: trailing '/' trimmed. */
static void trim_slashes(char *s)
{
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/')
        s[--n] = '\0';
}

int kk_store_instance(const struct kk_store *s, bool create, struct kk_err *err)
{
    char path[KK_DERIVE_PATH_SIZE];
    if (kk_snprintf(path, sizeof(path), err, "instance file", "%s/" INSTANCE_FILE, s->run_path) < 0)
        return -1;
    _cleanup_close_ int rfd = open_dir(s->run_path);
    if (rfd < 0)
        return kk_error(err, errno == ENOENT ? KK_ERR_NOT_FOUND : KK_ERR_INTERNAL, errno,
                        "opening run path %s (kuke init creates it)", s->run_path);
    _cleanup_free_ unsigned char *bytes = NULL;
    size_t len;
    int rc = read_file_at(rfd, INSTANCE_FILE, path, INSTANCE_MAX, &bytes, &len, err);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        if (!create)
            return 0;
        json_t *inst =
            json_pack("{s:s, s:s}", "containerdNamespaceSuffix", s->ns_suffix, "cgroupRoot", s->cgroup_root);
        char *text = inst != NULL ? kk_json_text(inst, &len) : NULL;
        json_decref(inst);
        if (text == NULL)
            return kk_error(err, KK_ERR_INTERNAL, 0, "writing %s: out of memory", path);
        rc = kk_store_write_file(rfd, INSTANCE_FILE, path, INSTANCE_TMP, INSTANCE_MODE, text, len, err);
        free(text);
        return rc < 0 ? -1 : 1;
    }
    json_error_t je;
    json_t *inst = json_loadb((const char *)bytes, len, 0, &je);
    const char *suffix = json_string_value(json_object_get(inst, "containerdNamespaceSuffix"));
    const char *root = json_string_value(json_object_get(inst, "cgroupRoot"));
    if (!json_is_object(inst) || suffix == NULL || root == NULL) {
        json_decref(inst);
        return store_fail(
            err, KK_ERR_INVALID, EBADMSG,
            "%s is corrupt: it must be {\"containerdNamespaceSuffix\": ..., \"cgroupRoot\": ...}; "
            "it was left as it is: fix it by hand",
            path);
    }
    char have_suffix[KK_DERIVE_CONFIG_PATH_MAX + 1], have_root[KK_DERIVE_CONFIG_PATH_MAX + 1];
    char want_root[KK_DERIVE_CONFIG_PATH_MAX + 1];
    bool fits = kk_strlcpy(have_suffix, suffix, sizeof(have_suffix)) == 0 &&
                kk_strlcpy(have_root, root, sizeof(have_root)) == 0;
    json_decref(inst);
    if (!fits)
        return store_fail(err, KK_ERR_INVALID, EBADMSG, "%s is corrupt: a value is too long; fix it by hand",
                          path);
    memcpy(want_root, s->cgroup_root, sizeof(want_root));
    trim_slashes(have_root);
    trim_slashes(want_root);
    if (strcmp(have_suffix, s->ns_suffix) != 0 || strcmp(have_root, want_root) != 0) {
        char a[4 * 80 + 8], b[4 * 80 + 8];
        kk_log_escape(have_suffix, a, sizeof(a));
        kk_log_escape(have_root, b, sizeof(b));
        return kk_error(
            err, KK_ERR_INVALID, 0,
            "run path %s was bootstrapped with containerdNamespaceSuffix=\"%s\" cgroupRoot=\"%s\" but "
            "this configuration requests containerdNamespaceSuffix=\"%s\" cgroupRoot=\"%s\": use the "
            "configuration it was made with, or another run path",
            s->run_path, a, b, s->ns_suffix, want_root);
    }
    return 1;
}
