/* kuke init (first part): the system accounts, the runtime directories, the run path's instance file,
 * and the daemon group. The run path belongs to the kukeon user (DESIGN.md section 5): the API
 * worker runs as kukeon and writes the documents there; kuke in-process writes them as the same
 * user (kuke/inproc.h). */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kuke/client.h"
#include "kuke/cmds.h"
#include "kuke/inproc.h"
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
    printf("Initializing Kukeon runtime\n");
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
    fflush(stdout);
    if (kuke_flag_bool(ctx, "no-daemon")) {
        printf("kukeond not started (--no-daemon)\n");
        return 0;
    }
    return kuke_daemon_start(ctx, false, err);
}
