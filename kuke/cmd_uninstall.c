/* kuke uninstall [-y] (kukeon-reference.md 2.13) and kuke daemon reset [--purge-system] (2.12):
 * both run in-process as root. uninstall stops the daemon, purges every realm with cascade (the
 * realms the store records and every containerd namespace with the instance's suffix), and only
 * when every purge succeeded removes what is left: the socket directory, the run path, kuke-netd's
 * state directory, leftover conflists of those realms, the cgroup root and the log directory. The
 * system accounts stay: other run paths on the host (and their daemons) may still run as them. */
#include <errno.h>
#include <ftw.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/ctrd_client.h"
#include "kuke/client.h"
#include "kuke/cmds.h"
#include "kuke/inproc.h"
#include "kuke/resource.h"
#include "kuke/service.h"
#include "kukeond/controller.h"
#include "kukeond/doc.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    return rc < 0 && errno != ENOENT ? -1 : 0;
}

/* rm -rf path, not across mounts; "absent" when it was not there. */
static int remove_tree(const char *what, const char *path, struct kk_err *err)
{
    if (path[0] != '/' || strcmp(path, "/") == 0)
        return kk_error(err, KK_ERR_INVALID, 0, "refusing to remove %s \"%s\": not an absolute path below /",
                        what, path);
    struct stat st;
    if (lstat(path, &st) < 0) {
        printf("  - %s \"%s\": absent\n", what, path);
        return 0;
    }
    if (nftw(path, rm_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "removing %s %s", what, path);
    printf("  - %s \"%s\": removed\n", what, path);
    return 0;
}

static int rmdir_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    return 0;
}

/* The cgroup root's directories, deepest first, in every cgroup hierarchy mounted (cgroups are
 * removed with rmdir; a cgroup with a process left in it stays, and is reported). */
static void remove_cgroup_root(const char *cgroup_root)
{
    FILE *m = fopen("/proc/self/mountinfo", "re");
    if (m == NULL)
        return;
    char line[4096];
    while (fgets(line, sizeof(line), m) != NULL) {
        char *fields[16] = {0};
        int n = 0;
        char *save = NULL;
        for (char *t = strtok_r(line, " \n", &save); t != NULL && n < 16; t = strtok_r(NULL, " \n", &save))
            fields[n++] = t;
        int dash = -1;
        for (int i = 6; i < n; i++)
            if (strcmp(fields[i], "-") == 0) {
                dash = i;
                break;
            }
        if (dash < 0 || dash + 1 >= n || strncmp(fields[dash + 1], "cgroup", 6) != 0)
            continue;
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s%s", fields[4], cgroup_root);
        struct stat st;
        if (stat(dir, &st) < 0)
            continue;
        nftw(dir, rmdir_one, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
        if (stat(dir, &st) == 0)
            printf("  - cgroup \"%s\": still there (a process is left in it)\n", dir);
        else
            printf("  - cgroup \"%s\": removed\n", dir);
    }
    fclose(m);
}

/* PurgeRealm name with cascade and force, in this process. */
static int purge_realm(struct kuke_ctx *ctx, const char *name, struct kk_err *err)
{
    json_t *args = json_pack("{s:o, s:b, s:b}", "Doc", kuke_request_doc(kuke_kind(KUKE_REALM), name, "", ""),
                             "Force", 1, "Cascade", 1);
    json_t *reply = NULL;
    int rc = args == NULL ? kk_error(err, KK_ERR_INTERNAL, 0, "out of memory")
                          : kuke_inproc_call(ctx, "PurgeRealm", args, &reply, err);
    json_decref(args);
    if (rc < 0)
        return -1;
    json_t *e = json_object_get(reply, "Err");
    if (json_is_object(e))
        rc = kk_error(err, KK_ERR_UNKNOWN, 0, "%s", kk_json_str(e, "Message"));
    json_decref(reply);
    return rc;
}

static int need_root(const char *verb, struct kk_err *err)
{
    if (geteuid() != 0)
        return kk_error(err, KK_ERR_PERMISSION, 0, "kuke %s must run as root: run 'sudo kuke %s'", verb,
                        verb);
    return 0;
}

int kuke_cmd_uninstall(struct kuke_ctx *ctx, struct kk_err *err)
{
    if (need_root("uninstall", err) < 0)
        return -1;
    if (ctx->nargs > 0)
        return kk_error(err, KK_ERR_INVALID, 0, "accepts 0 arg(s), received %d", ctx->nargs);
    struct kk_config cfg;
    if (kuke_server_config(ctx, &cfg, err) < 0)
        return -1;
    if (!kuke_flag_bool(ctx, "yes")) {
        printf("This removes every realm, space, stack and cell of run path %s, their containers and images, "
               "and Kukeon's files on this host.\nContinue? [y/N] ",
               cfg.run_path);
        fflush(stdout);
        char answer[16] = "";
        if (fgets(answer, sizeof(answer), stdin) == NULL || (answer[0] != 'y' && answer[0] != 'Y')) {
            printf("Aborted.\n");
            return 0;
        }
    }
    char sock[PATH_MAX];
    if (kuke_socket_path(ctx, sock, sizeof(sock), err) < 0)
        return -1;
    printf("Uninstalling Kukeon (run path %s)\n", cfg.run_path);
    fflush(stdout);
    /* The daemon first: nothing may write the run path while it is purged. The systemd unit runs the
     * default daemon only: a private one (explicit run path or host) is not its. The unit file
     * itself is the package's and stays. */
    bool private_daemon = kuke_flag_or(ctx, "run-path", "KUKEON_RUN_PATH", NULL) != NULL ||
                          kuke_flag_or(ctx, "host", "KUKEON_HOST", NULL) != NULL;
    if (!private_daemon && kuke_systemd_running() && kuke_systemd_unit_installed()) {
        char *const argv[] = {"systemctl", "disable", "--now", KUKEON_SYSTEMD_UNIT, NULL};
        int st = kuke_run_quiet(argv, false);
        printf("  - systemd unit %s: %s\n", KUKEON_SYSTEMD_UNIT,
               st == 0 ? "stopped and disabled" : "could not be disabled");
    }
    if (kuke_cmd_daemon_stop(ctx, err) < 0)
        return -1;

    /* Every realm: recorded in the store, or only a containerd namespace with our suffix. */
    json_t *realms = json_array();
    json_t *reply = NULL;
    struct kk_err lerr = {0};
    if (kuke_inproc_call(ctx, "ListRealms", NULL, &reply, &lerr) == 0) {
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(reply, "Realms"), i, d)
            json_array_append_new(realms, json_string(kk_doc_name(d)));
        json_decref(reply);
    }
    int sock_ctrd = kuke_inproc_helper(ctx, KK_CTL_CTRD, NULL, err);
    if (sock_ctrd < 0) {
        json_decref(realms);
        return kk_error_wrap(err, "listing the containerd namespaces to purge");
    }
    Kukeon__Ipc__Ctrd__NamespaceListReply *nl = NULL;
    if (kk_ctrd_ns_list(sock_ctrd, &nl, err) < 0) {
        json_decref(realms);
        return -1;
    }
    for (size_t i = 0; i < nl->n_namespaces; i++) {
        bool seen = false;
        size_t j;
        json_t *v;
        json_array_foreach(realms, j, v) seen =
            seen || strcmp(json_string_value(v), nl->namespaces[i]->realm) == 0;
        if (!seen)
            json_array_append_new(realms, json_string(nl->namespaces[i]->realm));
    }
    kukeon__ipc__ctrd__namespace_list_reply__free_unpacked(nl, NULL);

    int failed = 0;
    size_t i;
    json_t *v;
    json_array_foreach(realms, i, v)
    {
        struct kk_err perr = {0};
        if (purge_realm(ctx, json_string_value(v), &perr) < 0) {
            printf("  - realm \"%s\": purge failed: %s\n", json_string_value(v), perr.msg);
            failed++;
        } else {
            printf("  - realm \"%s\": purged\n", json_string_value(v));
        }
        fflush(stdout);
    }
    if (failed > 0) {
        json_decref(realms);
        return kk_error(
            err, KK_ERR_INTERNAL, 0,
            "%d realm(s) could not be purged: Kukeon's directories are kept; fix the cause and run "
            "kuke uninstall again",
            failed);
    }
    /* The helpers write their last audit lines into the log directory: stop them before it goes. */
    kuke_inproc_shutdown();
    char sockdir[PATH_MAX];
    snprintf(sockdir, sizeof(sockdir), "%s", sock);
    char *sd = dirname(sockdir);
    int rc = 0;
    if (strcmp(sd, cfg.run_path) != 0)
        rc = remove_tree("socket directory", sd, err);
    if (rc == 0)
        rc = remove_tree("run path", cfg.run_path, err);
    if (rc == 0)
        rc = remove_tree("kuke-netd state directory", cfg.netd_state_dir, err);
    json_array_foreach(realms, i, v)
    {
        char pattern[PATH_MAX];
        snprintf(pattern, sizeof(pattern), "%s/%s-*.conflist", cfg.cni_conf_dir, json_string_value(v));
        glob_t g;
        if (glob(pattern, 0, NULL, &g) == 0) {
            for (size_t k = 0; k < g.gl_pathc; k++)
                if (unlink(g.gl_pathv[k]) == 0)
                    printf("  - conflist \"%s\": removed\n", g.gl_pathv[k]);
            globfree(&g);
        }
    }
    json_decref(realms);
    remove_cgroup_root(cfg.cgroup_root);
    if (rc == 0)
        rc = remove_tree("log directory", cfg.log_dir, err);
    if (rc < 0)
        return -1;
    /* The host-wide KUKEON-FORWARD chain kuke-netd installs: the default daemon's only (a private run
     * path shares the host with it). */
    if (!private_daemon) {
        char *const unjump[] = {"iptables", "-w", "5", "-D", "FORWARD", "-j", "KUKEON-FORWARD", NULL};
        char *const flush[] = {"iptables", "-w", "5", "-F", "KUKEON-FORWARD", NULL};
        char *const drop[] = {"iptables", "-w", "5", "-X", "KUKEON-FORWARD", NULL};
        for (int tries = 0; tries < 8 && kuke_run_quiet(unjump, false) == 0; tries++)
            ;
        kuke_run_quiet(flush, false);
        printf("  - iptables chain KUKEON-FORWARD: %s\n",
               kuke_run_quiet(drop, false) == 0 ? "removed" : "absent");
    }
    printf(
        "  - system accounts (user and group kukeon and the helpers' users): kept, other run paths may use "
        "them; remove them with userdel/groupdel when none does\n");
    printf("Kukeon uninstalled\n");
    return 0;
}

int kuke_cmd_daemon_reset(struct kuke_ctx *ctx, struct kk_err *err)
{
    if (need_root("daemon reset", err) < 0)
        return -1;
    struct kk_config cfg;
    char sock[PATH_MAX];
    if (kuke_server_config(ctx, &cfg, err) < 0 || kuke_socket_path(ctx, sock, sizeof(sock), err) < 0)
        return -1;
    if (kuke_cmd_daemon_stop(ctx, err) < 0)
        return -1;
    char pidfile[PATH_MAX + 16];
    snprintf(pidfile, sizeof(pidfile), "%s", sock);
    snprintf(pidfile, sizeof(pidfile), "%s/kukeond.pid", dirname(pidfile));
    const char *files[] = {sock, pidfile};
    for (size_t i = 0; i < 2; i++) {
        if (unlink(files[i]) == 0)
            printf("  - \"%s\": removed\n", files[i]);
        else if (errno != ENOENT)
            return kk_error(err, KK_ERR_INTERNAL, errno, "removing %s", files[i]);
    }
    /* The daemon's own cell record (kuke-system/kukeon/kukeon/kukeond), when it has one. */
    char cell[PATH_MAX + 64];
    snprintf(cell, sizeof(cell), "%s/data/kuke-system/kukeon/kukeon/kukeond/metadata.json", cfg.run_path);
    if (access(cell, F_OK) == 0) {
        json_t *args =
            json_pack("{s:o, s:b, s:b}", "Doc",
                      kuke_request_doc_at(kuke_kind(KUKE_CELL), "kukeond", "kuke-system", "kukeon", "kukeon"),
                      "Force", 1, "Cascade", 1);
        json_t *reply = NULL;
        struct kk_err perr = {0};
        int rc = kuke_inproc_call(ctx, "PurgeCell", args, &reply, &perr);
        json_decref(args);
        json_t *e = json_object_get(reply, "Err");
        if (rc == 0 && !json_is_object(e))
            printf("  - cell \"kukeond\": purged\n");
        else
            printf("  - cell \"kukeond\": not purged: %s\n", rc < 0 ? perr.msg : kk_json_str(e, "Message"));
        json_decref(reply);
    }
    if (kuke_flag_bool(ctx, "purge-system")) {
        /* A system realm that was never made is nothing to purge. */
        json_t *args =
            json_pack("{s:o}", "Doc", kuke_request_doc(kuke_kind(KUKE_REALM), "kuke-system", "", ""));
        json_t *reply = NULL;
        int rc = args == NULL ? kk_error(err, KK_ERR_INTERNAL, 0, "out of memory")
                              : kuke_inproc_call(ctx, "GetRealm", args, &reply, err);
        json_decref(args);
        if (rc < 0)
            return -1;
        json_t *res = json_object_get(reply, "Result");
        bool exists = json_is_true(json_object_get(res, "MetadataExists")) ||
                      json_is_true(json_object_get(res, "ContainerdNamespaceExists"));
        json_decref(reply);
        if (!exists)
            printf("  - realm \"kuke-system\": absent\n");
        else if (purge_realm(ctx, "kuke-system", err) < 0)
            return kk_error_wrap(err, "purging the system realm kuke-system");
        else
            printf("  - realm \"kuke-system\": purged\n");
    }
    printf("Reset kukeond\n");
    return 0;
}
