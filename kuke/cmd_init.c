/* kuke init (kukeon-reference.md 2.1): the system accounts, the runtime directories, the run path's
 * instance file, the pause image (kukepause staged in <run path>/bin, its one-layer image archive in
 * <run path>/images), the daemon group, then the default hierarchy (realm, space and stack
 * "default") and the system hierarchy (realm "kuke-system", space and stack "kukeon") through the
 * API, or in this process when kuke runs in-process (--no-daemon, KUKEON_NO_DAEMON=true, an explicit
 * --run-path). The run path belongs to the kukeon user (DESIGN.md section
 * 5): the API worker runs as kukeon and writes the documents there; kuke in-process writes them as the same
 * user (kuke/inproc.h). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "kuke/client.h"
#include "kuke/cmds.h"
#include "kuke/inproc.h"
#include "kuke/resource.h"
#include "kuke/service.h"
#include "kukeond/ctl_cell.h"
#include "kukeond/doc.h"
#include "kukeond/pause_image.h"
#include "kukeond/store.h"
#include "security/sandbox.h"

/* Create dir with mode and owner uid:gid if missing; report what happened. */
static int kuke_init_dir(const char *path, mode_t mode, uid_t uid, gid_t gid, struct kk_err *err)
{
    bool existed = true;
    if (mkdir(path, mode) < 0) {
        if (errno != EEXIST)
            return kk_error(err, KK_ERR_INTERNAL, errno, "creating %s", path);
    } else {
        existed = false;
    }
    if (chown(path, uid, gid) < 0 || chmod(path, mode) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "setting owner and mode of %s", path);
    printf("  - directory \"%s\": %s\n", path, existed ? "already existed" : "created");
    return 0;
}

/* Create dir as the run path's owner (2750) if missing; quiet. */
static int init_owned_dir(const char *path, uid_t uid, gid_t gid, struct kk_err *err)
{
    if (mkdir(path, 02750) < 0 && errno != EEXIST)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating %s", path);
    if (chown(path, uid, gid) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "setting the owner of %s", path);
    return 0;
}

/* The kukepause binary beside kuke: <prefix>/libexec/kukeon/kukepause installed, <build>/libexec
 * in the build tree. */
static int init_kukepause_src(char *out, size_t size, struct kk_err *err)
{
    char bindir[PATH_MAX];
    if (kuke_self_dir(bindir, sizeof(bindir), err) < 0)
        return -1;
    static const char *const sub[] = {"../libexec/kukeon", "../libexec"};
    for (size_t i = 0; i < KK_ARRAY_SIZE(sub); i++) {
        if (kk_snprintf(out, size, err, "kukepause path", "%s/%s/kukepause", bindir, sub[i]) < 0)
            return -1;
        if (access(out, R_OK) == 0)
            return 0;
    }
    return kk_error(
        err, KK_ERR_NOT_FOUND, 0,
        "kukepause not found beside kuke (looked in %s/../libexec/kukeon and ../libexec); reinstall Kukeon",
        bindir);
}

/* Write to dst (atomically, through dst.tmp) with mode 0750 as the calling file identity. */
static int init_copy(const char *src, const char *dst, struct kk_err *err)
{
    _cleanup_close_ int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return kk_error(err, KK_ERR_NOT_FOUND, errno, "opening %s", src);
    char tmp[PATH_MAX];
    if (kk_snprintf(tmp, sizeof(tmp), err, "temporary path", "%s.tmp", dst) < 0)
        return -1;
    unlink(tmp);
    _cleanup_close_ int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0750);
    if (out < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating %s", tmp);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || write(out, buf, (size_t)n) != n) {
            unlink(tmp);
            return kk_error(err, KK_ERR_INTERNAL, errno, "copying %s to %s", src, tmp);
        }
    }
    if (fchmod(out, 0750) < 0 || fsync(out) < 0 || rename(tmp, dst) < 0) {
        unlink(tmp);
        return kk_error(err, KK_ERR_INTERNAL, errno, "installing %s", dst);
    }
    return 0;
}

/* Stage <run path>/bin/kukepause and write <run path>/images/kukepause.tar, both as the run path's
 * owner (the daemon reads them as that user). */
static int init_pause(const char *run_path, uid_t uid, gid_t gid, struct kk_err *err)
{
    char src[PATH_MAX], dir[PATH_MAX], bin[PATH_MAX], tar[PATH_MAX], tmp[PATH_MAX];
    if (init_kukepause_src(src, sizeof(src), err) < 0 ||
        kk_snprintf(dir, sizeof(dir), err, "bin dir", "%s/bin", run_path) < 0 ||
        kk_snprintf(bin, sizeof(bin), err, "kukepause path", "%s/bin/kukepause", run_path) < 0 ||
        kk_snprintf(tar, sizeof(tar), err, "pause image path", "%s/" KK_PAUSE_IMAGE_ARCHIVE, run_path) < 0 ||
        kk_snprintf(tmp, sizeof(tmp), err, "pause image path", "%s.tmp", tar) < 0)
        return -1;
    if (init_owned_dir(dir, uid, gid, err) < 0)
        return -1;
    char *slash = strrchr(tar, '/');
    *slash = '\0';
    if (init_owned_dir(tar, uid, gid, err) < 0)
        return -1;
    *slash = '/';
    kuke_fs_become(uid, gid);
    int rc = init_copy(src, bin, err);
    if (rc == 0) {
        unlink(tmp);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd < 0) {
            rc = kk_error(err, KK_ERR_INTERNAL, errno, "creating %s", tmp);
        } else {
            rc = kk_pause_image_write(bin, KUKEON_VERSION, fd, err);
            if (rc == 0 && (fsync(fd) < 0 || rename(tmp, tar) < 0))
                rc = kk_error(err, KK_ERR_INTERNAL, errno, "installing %s", tar);
            close(fd);
            if (rc < 0)
                unlink(tmp);
        }
    }
    kuke_fs_restore();
    if (rc < 0)
        return -1;
    printf("  - kukepause staged: %s\n", bin);
    printf("  - pause image \"%s\": written to %s\n", KK_PAUSE_IMAGE, tar);
    return 0;
}

/* One Create* call through kukeond (daemon true) or in this process; *reply a new reference. */
static int init_call(struct kuke_ctx *ctx, bool daemon, const char *method, json_t *doc, json_t **reply,
                     struct kk_err *err)
{
    json_t *args = json_pack("{s:o}", "Doc", doc);
    if (args == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
    int rc =
        daemon ? kuke_call(ctx, method, args, reply, err) : kuke_inproc_call(ctx, method, args, reply, err);
    json_decref(args);
    if (rc == 0 && !daemon) {
        json_t *e = json_object_get(*reply, "Err");
        if (json_is_object(e)) {
            rc = kk_error(err, KK_ERR_UNKNOWN, 0, "%s", kk_json_str(e, "Message"));
            json_decref(*reply);
            *reply = NULL;
        }
    }
    return rc;
}

static void init_outcome(const char *label, const json_t *res, const char *post, const char *created,
                         bool *made)
{
    bool c = json_is_true(json_object_get(res, created));
    *made = *made || c;
    printf("    - %s: %s\n", label,
           c                                          ? "created"
           : json_is_true(json_object_get(res, post)) ? "already existed"
                                                      : "missing");
}

/* Realm, space and stack through the API, with their outcome lines. */
static int init_hierarchy(struct kuke_ctx *ctx, bool daemon, const char *title, const char *realm,
                          const char *space, const char *stack, const char *suffix, bool *made,
                          struct kk_err *err)
{
    printf("  %s hierarchy:\n", title);
    json_t *reply = NULL;
    char label[512];
    if (init_call(ctx, daemon, "CreateRealm", kuke_request_doc(kuke_kind(KUKE_REALM), realm, "", ""), &reply,
                  err) < 0)
        return kk_error_wrap(err, "creating realm \"%s\"", realm);
    json_t *res = json_object_get(reply, "Result");
    snprintf(label, sizeof(label), "realm \"%s\"", realm);
    init_outcome(label, res, "MetadataExistsPost", "Created", made);
    snprintf(label, sizeof(label), "containerd namespace \"%s.%s\"", realm, suffix);
    init_outcome(label, res, "ContainerdNamespaceExistsPost", "ContainerdNamespaceCreated", made);
    init_outcome("realm cgroup", res, "CgroupExistsPost", "CgroupCreated", made);
    json_decref(reply);
    if (init_call(ctx, daemon, "CreateSpace", kuke_request_doc(kuke_kind(KUKE_SPACE), space, realm, ""),
                  &reply, err) < 0)
        return kk_error_wrap(err, "creating space \"%s\" in realm \"%s\"", space, realm);
    res = json_object_get(reply, "Result");
    snprintf(label, sizeof(label), "space \"%s\"", space);
    init_outcome(label, res, "MetadataExistsPost", "Created", made);
    snprintf(label, sizeof(label), "network \"%s-%s\"", realm, space);
    init_outcome(label, res, "CNINetworkExistsPost", "CNINetworkCreated", made);
    init_outcome("space cgroup", res, "CgroupExistsPost", "CgroupCreated", made);
    json_decref(reply);
    if (init_call(ctx, daemon, "CreateStack", kuke_request_doc(kuke_kind(KUKE_STACK), stack, realm, space),
                  &reply, err) < 0)
        return kk_error_wrap(err, "creating stack \"%s\" in realm \"%s\", space \"%s\"", stack, realm, space);
    res = json_object_get(reply, "Result");
    snprintf(label, sizeof(label), "stack \"%s\"", stack);
    init_outcome(label, res, "MetadataExistsPost", "Created", made);
    init_outcome("stack cgroup", res, "CgroupExistsPost", "CgroupCreated", made);
    json_decref(reply);
    return 0;
}

/* Start the daemon as the host wants it (kuke/service.h: the systemd unit where it applies, else
 * kuke daemon start), with its lines captured (they close init's output, as in the reference):
 * *text (malloc'd) gets them. */
static int init_daemon_start(struct kuke_ctx *ctx, char **text, struct kk_err *err)
{
    *text = NULL;
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    _cleanup_close_ int mem = memfd_create("kuke-init", MFD_CLOEXEC);
    if (saved < 0 || mem < 0 || dup2(mem, STDOUT_FILENO) < 0) {
        if (saved >= 0)
            close(saved);
        bool used = false;
        return kuke_service_start(ctx, &used, err);
    }
    bool used = false;
    int rc = kuke_service_start(ctx, &used, err);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    off_t len = lseek(mem, 0, SEEK_CUR);
    if (len > 0 && (*text = calloc(1, (size_t)len + 1)) != NULL) {
        if (pread(mem, *text, (size_t)len, 0) != len)
            (*text)[0] = '\0';
    }
    return rc;
}

int kuke_cmd_init(struct kuke_ctx *ctx, struct kk_err *err)
{
    if (geteuid() != 0)
        return kk_error(err, KK_ERR_PERMISSION, 0, "kuke init must run as root: run 'sudo kuke init'");
    /* The accounts are the roles' (security/): ask which exist before, to say what init created. */
    bool existed[KK_ROLE_COUNT];
    for (int r = 0; r < KK_ROLE_COUNT; r++)
        existed[r] = getpwnam(kk_role_user((enum kk_role)r)) != NULL;
    bool group_existed = getgrnam("kukeon") != NULL;
    if (kk_accounts_ensure(err) < 0)
        return kk_error_wrap(err, "creating the kukeon system accounts");
    struct group *g = getgrnam("kukeon");
    if (g == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "group kukeon missing right after creating it");
    gid_t gid = g->gr_gid;

    struct passwd *api_user = getpwnam(kk_role_user(KK_ROLE_API));
    if (api_user == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "user %s missing right after creating it",
                        kk_role_user(KK_ROLE_API));
    uid_t kukeon_uid = api_user->pw_uid;

    char sock[PATH_MAX];
    if (kuke_socket_path(ctx, sock, sizeof(sock), err) < 0)
        return -1;
    struct kk_config cfg;
    if (kuke_server_config(ctx, &cfg, err) < 0)
        return -1;
    const char *run_path = cfg.run_path;
    /* A run path with its instance file was initialized before. */
    char inst[PATH_MAX];
    if (kk_snprintf(inst, sizeof(inst), err, "instance file path", "%s/.kukeon-instance.json", run_path) < 0)
        return -1;
    bool initialized = access(inst, F_OK) == 0;
    printf("%s\n", initialized ? "Kukeon runtime already initialized" : "Initialized Kukeon runtime");
    printf("Realm: default (namespace: default.%s)\n", cfg.ns_suffix);
    printf("System realm: kuke-system (namespace: kuke-system.%s)\n", cfg.ns_suffix);
    printf("Run path: %s\n", run_path);
    printf("Actions:\n  Permissions:\n");
    printf("    - group \"kukeon\": %s (gid %u)\n", group_existed ? "already existed" : "created",
           (unsigned)gid);
    for (int r = 0; r < KK_ROLE_COUNT; r++) {
        const char *user = kk_role_user((enum kk_role)r);
        struct passwd *pw = getpwnam(user);
        if (strcmp(user, "root") == 0 || pw == NULL)
            continue;
        printf("    - user \"%s\": %s (uid %u)\n", user, existed[r] ? "already existed" : "created",
               (unsigned)pw->pw_uid);
    }
    char sockdir[PATH_MAX];
    snprintf(sockdir, sizeof(sockdir), "%s", sock);
    char *slash = strrchr(sockdir, '/');
    if (slash != NULL && slash != sockdir)
        *slash = '\0';
    /* 2750: the group may enter to reach the socket; setgid keeps new files in the group. The run
     * path is the API worker's (user kukeon): it writes every document there. */
    if ((strcmp(sockdir, run_path) != 0 && kuke_init_dir(sockdir, 02750, 0, gid, err) < 0) ||
        kuke_init_dir(run_path, 02750, kukeon_uid, gid, err) < 0)
        return -1;
    if (kuke_init_dir(cfg.log_dir, 0750, 0, 0, err) < 0)
        return -1;
    /* The configuration the run path is made with; a daemon or kuke configured otherwise is refused
     * on it (docs/state.md). Written as the run path's owner, like every file in it. */
    struct kk_derive_config dcfg = {
        .ns_suffix = cfg.ns_suffix, .cgroup_root = cfg.cgroup_root, .run_path = run_path};
    struct kk_store store;
    if (kk_store_init(&store, &dcfg, err) < 0)
        return -1;
    int had = kk_store_instance(&store, false, err);
    if (had < 0)
        return -1;
    kuke_fs_become(kukeon_uid, gid);
    int rc = kk_store_instance(&store, true, err);
    kuke_fs_restore();
    if (rc < 0)
        return -1;
    printf("  - instance file \"%s/.kukeon-instance.json\": %s\n", run_path,
           had == 1 ? "already existed" : "created");
    if (init_pause(run_path, kukeon_uid, gid, err) < 0)
        return -1;
    fflush(stdout);
    /* In-process (--no-daemon, KUKEON_NO_DAEMON=true or an explicit --run-path, kukeon-reference.md
     * 2.0): the hierarchies through the same controller and helpers in this process, no daemon. */
    bool made = false;
    if (kuke_inproc_wanted(ctx)) {
        rc =
            init_hierarchy(ctx, false, "Default", "default", "default", "default", cfg.ns_suffix, &made, err);
        if (rc == 0)
            rc = init_hierarchy(ctx, false, "System", "kuke-system", "kukeon", "kukeon", cfg.ns_suffix, &made,
                                err);
        if (rc == 0)
            printf("kukeond not started (in-process: --no-daemon, KUKEON_NO_DAEMON or an explicit "
                   "--run-path)\n");
        return rc;
    }
    char *started = NULL;
    if (init_daemon_start(ctx, &started, err) < 0) {
        if (started != NULL)
            fputs(started, stdout);
        free(started);
        return -1;
    }
    rc = init_hierarchy(ctx, true, "Default", "default", "default", "default", cfg.ns_suffix, &made, err);
    if (rc == 0)
        rc =
            init_hierarchy(ctx, true, "System", "kuke-system", "kukeon", "kukeon", cfg.ns_suffix, &made, err);
    if (started != NULL)
        fputs(started, stdout);
    free(started);
    return rc;
}
