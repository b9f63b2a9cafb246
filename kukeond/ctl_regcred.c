/* Registry credentials of a realm (kukeond/regcred.h, ctl_regcred.h). Store documents are 0644 in a
 * directory group kukeon may read, and not every member of that group may see a registry password:
 * the realm document keeps username, serverAddress and insecureSkipTLSVerify of each entry, and the
 * passwords live in <realm dir>/secrets/registry-credentials.json, directory 0700 and file 0600,
 * owned by the user that writes the store (the API worker's kukeon; kuke in-process writes with
 * that file identity too, kuke/inproc.c). Written like every file of the run path: a temporary
 * file, fsync, rename, fsync of the directory. The secrets are written
 * before the document that lists them, so a document never names an entry whose password was not
 * stored; a crash in between leaves secrets a lookup finds inconsistent with the document, and the
 * next apply rewrites both. */
#include "kukeond/ctl_regcred.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "kukeond/doc.h"

#define REGCRED_TMP_PREFIX ".registry-credentials-" /* + 16 hex + ".tmp" (kk_store_write_file) */
#define REGCRED_FILE_MAX   (256u * 1024u)
#define REGCRED_KIND       "RegistryCredentials"
/* The run path's directory modes (kukeond/store.c): setgid, group kukeon may enter. */
#define REGCRED_STORE_DIR_MODE 02750

/* ---- memory ---------------------------------------------------------------------------------- */

/* Overwrite every "password" string under v before it is freed: jansson keeps its own copy. */
static void wipe_json(json_t *v)
{
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) wipe_json(e);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *m;
        json_object_foreach(v, k, m)
        {
            if (strcmp(k, "password") == 0 && json_is_string(m))
                explicit_bzero((char *)json_string_value(m), json_string_length(m));
            else
                wipe_json(m);
        }
    }
}

static void wipe_decref(json_t *v)
{
    if (v != NULL && v->refcount == 1)
        wipe_json(v);
    json_decref(v);
}

/* ---- places ---------------------------------------------------------------------------------- */

static int realm_dir(struct kk_ctl *ctl, const char *realm, struct kk_derived *d, struct kk_err *err)
{
    struct kk_derive_names dn = {.realm = realm};
    return kk_derive(&dn, &ctl->dcfg, d, err);
}

static int open_dir_at(int at, const char *name)
{
    return openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* ---- the secrets file ------------------------------------------------------------------------ */

/* The credentials array of the realm's secrets file (a new reference; empty when there is none). */
static int read_secrets(struct kk_ctl *ctl, const char *realm, json_t **out, struct kk_err *err)
{
    *out = NULL;
    struct kk_derived d;
    if (realm_dir(ctl, realm, &d, err) < 0)
        return -1;
    char path[KK_DERIVE_PATH_SIZE + 64];
    if (kk_snprintf(path, sizeof(path), err, "secrets path", "%s/" CTL_REGCRED_DIR "/" CTL_REGCRED_FILE,
                    d.metadata_dir) < 0)
        return -1;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
        *out = json_array();
        return *out != NULL ? 0 : kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
    }
    if (fd < 0)
        return kk_error(err, errno == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, errno,
                        "reading the registry credentials of realm \"%s\" (%s): only the user that owns the "
                        "run path (kukeon) may",
                        realm, path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "reading %s", path);
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > REGCRED_FILE_MAX)
        return kk_error(err, KK_ERR_INTERNAL, 0,
                        "%s is not a regular file of at most %u bytes: remove it and apply the realm's "
                        "credentials again",
                        path, REGCRED_FILE_MAX);
    char *buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading %s", path);
    size_t n = 0;
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    json_t *doc = json_loadb(buf, n, JSON_REJECT_DUPLICATES, NULL);
    explicit_bzero(buf, n);
    free(buf);
    json_t *creds = json_object_get(doc, "credentials");
    bool ok =
        json_is_object(doc) && strcmp(kk_json_str(doc, "kind"), REGCRED_KIND) == 0 && json_is_array(creds);
    size_t i;
    json_t *c;
    json_array_foreach(ok ? creds : NULL, i, c) ok =
        ok && json_is_string(json_object_get(c, "serverAddress")) &&
        json_is_string(json_object_get(c, "username")) && json_is_string(json_object_get(c, "password"));
    if (!ok) {
        wipe_decref(doc);
        return kk_error(err, KK_ERR_INTERNAL, 0,
                        "%s is not a registry credentials file of this daemon: move it away and apply the "
                        "realm's credentials again",
                        path);
    }
    /* The passwords are the caller's now (it wipes them): the rest of doc holds none. */
    *out = json_incref(creds);
    json_decref(doc);
    return 0;
}

/* The entry of server in a credentials array, or NULL. */
static json_t *entry_of(json_t *creds, const char *server)
{
    size_t i;
    json_t *c;
    json_array_foreach(creds, i, c) if (strcmp(kk_json_str(c, "serverAddress"), server) == 0) return c;
    return NULL;
}

/* mkdir name in at with mode (mkdir obeys the umask and drops setgid: fchmodat sets it). */
static int make_dir(int at, const char *name, mode_t mode, const char *shown, struct kk_err *err)
{
    if (mkdirat(at, name, 0700) == 0) {
        if (fchmodat(at, name, mode, 0) < 0 || fsync(at) < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "creating %s", shown);
        return 1;
    }
    if (errno != EEXIST)
        return kk_error(err, errno == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, errno, "creating %s",
                        shown);
    return 0;
}

/* The realm's directory, made as the store makes it (<run>/data too) when the realm has none yet. */
static int open_realm_dir(const struct kk_derived *d, bool create, struct kk_err *err)
{
    int fd = open(d->metadata_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0 || errno != ENOENT || !create) {
        if (fd < 0 && errno != ENOENT)
            kk_error(err, errno == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, errno, "opening %s",
                     d->metadata_dir);
        else if (fd < 0)
            kk_error(err, KK_ERR_NOT_FOUND, 0, "realm \"%s\" not found", d->realm);
        return fd;
    }
    char data[KK_DERIVE_PATH_SIZE], run[KK_DERIVE_PATH_SIZE];
    snprintf(data, sizeof(data), "%s", d->metadata_dir);
    *strrchr(data, '/') = '\0';
    snprintf(run, sizeof(run), "%s", data);
    *strrchr(run, '/') = '\0';
    _cleanup_close_ int dfd = open(data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0 && errno == ENOENT) {
        _cleanup_close_ int rfd = open(run, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (rfd < 0)
            return kk_error(err, errno == ENOENT ? KK_ERR_NOT_FOUND : KK_ERR_INTERNAL, errno,
                            "storing realm \"%s\": run path %s is not there (kuke init creates it)", d->realm,
                            run);
        if (make_dir(rfd, strrchr(data, '/') + 1, REGCRED_STORE_DIR_MODE, data, err) < 0)
            return -1;
        dfd = open(data, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (dfd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening %s", data);
    if (make_dir(dfd, d->realm, REGCRED_STORE_DIR_MODE, d->metadata_dir, err) < 0)
        return -1;
    fd = open_dir_at(dfd, d->realm);
    if (fd < 0)
        kk_error(err, KK_ERR_INTERNAL, errno, "opening %s", d->metadata_dir);
    return fd;
}

/* Remove the file, temporary files a crashed writer left, then the directory if empty. */
static int remove_secrets_in(int rfd, const char *dir_path, struct kk_err *err)
{
    _cleanup_close_ int sfd = open_dir_at(rfd, CTL_REGCRED_DIR);
    if (sfd < 0)
        return errno == ENOENT ? 0 : kk_error(err, KK_ERR_INTERNAL, errno, "opening %s", dir_path);
    int removed = 0;
    if (unlinkat(sfd, CTL_REGCRED_FILE, 0) == 0)
        removed = 1;
    else if (errno != ENOENT)
        return kk_error(err, KK_ERR_INTERNAL, errno, "removing %s/" CTL_REGCRED_FILE, dir_path);
    int dup_fd = dup(sfd);
    DIR *dir = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (dir == NULL && dup_fd >= 0)
        close(dup_fd);
    struct dirent *de;
    size_t plen = strlen(REGCRED_TMP_PREFIX);
    while (dir != NULL && (de = readdir(dir)) != NULL)
        if (strncmp(de->d_name, REGCRED_TMP_PREFIX, plen) == 0)
            unlinkat(sfd, de->d_name, 0);
    if (dir != NULL)
        closedir(dir);
    (void)fsync(sfd);
    /* Other secrets may share the directory one day: it goes only when empty. */
    if (unlinkat(rfd, CTL_REGCRED_DIR, AT_REMOVEDIR) == 0)
        (void)fsync(rfd);
    else if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
        kk_warn("could not remove %s: %s", dir_path, strerror(errno));
    return removed;
}

static int write_secrets(struct kk_ctl *ctl, const char *realm, json_t *creds, struct kk_err *err)
{
    struct kk_derived d;
    if (realm_dir(ctl, realm, &d, err) < 0)
        return -1;
    char dir_path[KK_DERIVE_PATH_SIZE + 16], path[KK_DERIVE_PATH_SIZE + 64];
    if (kk_snprintf(dir_path, sizeof(dir_path), err, "secrets path", "%s/" CTL_REGCRED_DIR, d.metadata_dir) <
            0 ||
        kk_snprintf(path, sizeof(path), err, "secrets path", "%s/" CTL_REGCRED_FILE, dir_path) < 0)
        return -1;
    bool empty = json_array_size(creds) == 0;
    _cleanup_close_ int rfd = open_realm_dir(&d, !empty, err);
    if (rfd < 0)
        return empty && err->kind == KK_ERR_NOT_FOUND ? (kk_err_clear(err), 0) : -1;
    if (empty)
        return remove_secrets_in(rfd, dir_path, err) < 0 ? -1 : 0;
    /* 0700 at creation (it inherits the setgid bit of the run path's directories, harmless
     * without group access); no chmod, as for the file. */
    if (mkdirat(rfd, CTL_REGCRED_DIR, 0700) == 0)
        (void)fsync(rfd);
    else if (errno != EEXIST)
        return kk_error(err, errno == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, errno, "creating %s",
                        dir_path);
    _cleanup_close_ int sfd = open_dir_at(rfd, CTL_REGCRED_DIR);
    struct stat st;
    if (sfd < 0 || fstat(sfd, &st) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening %s", dir_path);
    /* A directory another hand made (or opened up) is not written into. */
    if ((st.st_mode & 0077) != 0)
        return kk_error(err, KK_ERR_PERMISSION, 0,
                        "%s is mode %04o: registry passwords are kept only in a directory no group or other "
                        "user may enter; chmod 0700 %s (as its owner), then apply again",
                        dir_path, (unsigned)(st.st_mode & 07777), dir_path);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:O}", "apiVersion", KK_API_VERSION, "kind", REGCRED_KIND,
                            "realm", realm, "credentials", creds);
    char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc); /* creds is the caller's, wiped by the caller */
    if (text == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "writing %s: out of memory", path);
    size_t len = strlen(text);
    int rc = kk_store_write_file(sfd, CTL_REGCRED_FILE, path, REGCRED_TMP_PREFIX, 0600, text, len, err);
    explicit_bzero(text, len);
    free(text);
    return rc;
}

/* ---- plan and commit ------------------------------------------------------------------------- */

void ctl_regcred_plan_free(struct ctl_regcred_plan *plan)
{
    wipe_decref(plan->secrets);
    json_decref(plan->changes);
    memset(plan, 0, sizeof(*plan));
}

int ctl_regcred_plan(struct ctl_op *op, const char *realm, json_t *doc, struct ctl_regcred_plan *plan,
                     struct kk_err *err)
{
    memset(plan, 0, sizeof(*plan));
    json_t *stored = NULL;
    if (read_secrets(op->ctl, realm, &stored, err) < 0)
        return -1;
    plan->secrets = json_array();
    plan->changes = json_array();
    if (plan->secrets == NULL || plan->changes == NULL) {
        wipe_decref(stored);
        ctl_regcred_plan_free(plan);
        return kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
    }
    json_t *creds = json_object_get(kk_doc_spec(doc), "registryCredentials");
    size_t i;
    json_t *c;
    json_array_foreach(creds, i, c)
    {
        const char *server = kk_json_str(c, "serverAddress");
        json_t *pw = json_object_get(c, "password");
        json_t *old = entry_of(stored, server);
        const char *password = json_is_string(pw) ? json_string_value(pw)
                               : old != NULL      ? kk_json_str(old, "password")
                                                  : NULL;
        if (password == NULL) {
            wipe_decref(stored);
            ctl_regcred_plan_free(plan);
            return kk_error(
                err, KK_ERR_INVALID, 0,
                "spec.registryCredentials[%zu].password is required: realm \"%s\" holds no password "
                "for \"%s\" yet",
                i, realm, server);
        }
        bool changed = old == NULL || strcmp(kk_json_str(old, "password"), password) != 0;
        json_t *e = json_pack("{s:s, s:s, s:s}", "serverAddress", server, "username",
                              kk_json_str(c, "username"), "password", password);
        char path[KK_REGCRED_SERVER_MAX + 64];
        snprintf(path, sizeof(path), "spec.registryCredentials[%s].password", server);
        if (e == NULL || json_array_append_new(plan->secrets, e) < 0 ||
            (changed && json_array_append_new(plan->changes, json_string(path)) < 0)) {
            wipe_decref(stored);
            ctl_regcred_plan_free(plan);
            return kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
        }
    }
    kk_regcred_redact(doc);
    plan->dirty = !json_equal(stored, plan->secrets);
    wipe_decref(stored);
    return 0;
}

int ctl_regcred_commit(struct ctl_op *op, const char *realm, const struct ctl_regcred_plan *plan,
                       struct kk_err *err)
{
    if (!plan->dirty)
        return 0;
    if (write_secrets(op->ctl, realm, plan->secrets, err) < 0)
        return kk_error_wrap(err, "registry credentials of realm \"%s\"", realm);
    kk_info("realm %s: registry credentials stored for %zu registr%s", realm, json_array_size(plan->secrets),
            json_array_size(plan->secrets) == 1 ? "y" : "ies");
    return 0;
}

int ctl_regcred_store_new(struct ctl_op *op, const char *realm, json_t *doc, struct kk_err *err)
{
    struct ctl_regcred_plan plan;
    if (ctl_regcred_plan(op, realm, doc, &plan, err) < 0)
        return -1;
    int rc = ctl_regcred_commit(op, realm, &plan, err);
    ctl_regcred_plan_free(&plan);
    return rc;
}

int ctl_regcred_remove(struct ctl_op *op, const char *realm, struct kk_err *err)
{
    struct kk_derived d;
    if (realm_dir(op->ctl, realm, &d, err) < 0)
        return -1;
    char dir_path[KK_DERIVE_PATH_SIZE + 16];
    if (kk_snprintf(dir_path, sizeof(dir_path), err, "secrets path", "%s/" CTL_REGCRED_DIR, d.metadata_dir) <
        0)
        return -1;
    _cleanup_close_ int rfd = open(d.metadata_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (rfd < 0)
        return errno == ENOENT ? 0 : kk_error(err, KK_ERR_INTERNAL, errno, "opening %s", d.metadata_dir);
    return remove_secrets_in(rfd, dir_path, err);
}

/* ---- lookup (kukeond/regcred.h) -------------------------------------------------------------- */

int kk_ctl_regcred_lookup(struct kk_ctl *ctl, const char *realm, const char *server, struct kk_regcred *out,
                          struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    char want[KK_REGCRED_SERVER_MAX];
    if (kk_regcred_normalize_server(server, want, err) < 0)
        return kk_error_wrap(err, "registry \"%s\"", server != NULL ? server : "");
    struct kk_derive_names dn = {.realm = realm};
    json_t *doc = NULL;
    int rc = kk_store_get(&ctl->store, &dn, &doc, NULL, err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "realm \"%s\" not found", realm);
    const json_t *entry = NULL;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(kk_doc_spec(doc), "registryCredentials"), i, c)
    {
        if (entry == NULL && kk_regcred_server_matches(kk_json_str(c, "serverAddress"), want))
            entry = c;
    }
    if (entry == NULL) {
        json_decref(doc);
        return 0;
    }
    json_t *stored = NULL;
    if (read_secrets(ctl, realm, &stored, err) < 0) {
        json_decref(doc);
        return -1;
    }
    const json_t *secret = entry_of(stored, want);
    const char *user = kk_json_str(entry, "username");
    if (secret == NULL || strcmp(kk_json_str(secret, "username"), user) != 0) {
        kk_error(err, KK_ERR_NOT_FOUND, 0,
                 "realm \"%s\" lists a registry credential for \"%s\" but holds no password for it (or one "
                 "for another user): set it again with kuke create registry-credential %s --server %s "
                 "--username %s --password-stdin, or apply the realm's manifest again",
                 realm, want, realm, want, user);
        wipe_decref(stored);
        json_decref(doc);
        return -1;
    }
    out->found = true;
    out->insecure_skip_tls_verify = kk_json_bool(entry, "insecureSkipTLSVerify");
    rc = kk_strlcpy(out->username, user, sizeof(out->username)) < 0 ||
                 kk_strlcpy(out->password, kk_json_str(secret, "password"), sizeof(out->password)) < 0
             ? -1
             : 0;
    wipe_decref(stored);
    json_decref(doc);
    if (rc < 0) {
        kk_regcred_wipe(out);
        return kk_error(err, KK_ERR_INTERNAL, 0, "registry credential of realm \"%s\" for \"%s\" is too long",
                        realm, want);
    }
    return 0;
}
