/* The helper runtime (see helper.h). */
#include "ipc/helper.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/audit.h"
#include "common/log.h"

static int kk_helper_check_fd(int fd, mode_t type, const char *what, const char *name, struct kk_err *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || (st.st_mode & S_IFMT) != type)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "fd %d is not %s: %s is started by kukeond, not by hand", fd, what, name);
    /* Nothing the helper holds may leak into a process it might start. */
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "setting close-on-exec on fd %d", fd);
    return 0;
}

int kk_helper_main(const struct kk_helper_spec *spec)
{
    kk_log_init(spec->name, KK_LOG_INFO);
    struct kk_err err = {0};
    struct kk_config cfg;
    struct kk_audit audit;
    memset(&audit, 0, sizeof(audit));
    if (kk_helper_check_fd(KK_HELPER_FD_REQUEST, S_IFSOCK, "a socket", spec->name, &err) < 0 ||
        kk_helper_check_fd(KK_HELPER_FD_AUDIT, S_IFIFO, "a pipe", spec->name, &err) < 0 ||
        kk_config_read_fd(KK_HELPER_FD_CONFIG, &cfg, &err) < 0)
        goto fail;
    kk_log_set_level(cfg.log_level);
    if (kk_audit_use_fd(&audit, spec->name, KK_HELPER_FD_AUDIT, &err) < 0)
        goto fail;
    if (spec->acquire != NULL && spec->acquire(&cfg, spec->ctx, &err) < 0)
        goto fail;
    uid_t uid;
    gid_t gid;
    if (kk_role_resolve_ids(spec->role, &uid, &gid, &err) < 0 || kk_sandbox_enter(spec->role, uid, gid, &err) < 0)
        goto fail;
    kk_debug("serving as uid=%u gid=%u", (unsigned)getuid(), (unsigned)getgid());

    struct kk_ipc_server_opts opts = {
        .helper = spec->name, .audit = &audit, .peer_role = kk_role_name(KK_ROLE_API), .status = spec->status};
    if (kk_ipc_serve(KK_HELPER_FD_REQUEST, spec->table, spec->n, spec->ctx, &opts, &err) < 0) {
        kk_errorf("fatal: %s", err.msg);
        /* Fail-stop means now: no atexit handlers (a library's threads may still be running, as
         * gRPC's are in kuke-ctrd) between the verdict and the exit status the supervisor logs. */
        _exit(1);
    }
    kk_debug("the API worker closed the socket; exiting");
    return 0;
fail:
    kk_errorf("%s", err.msg);
    return 1;
}
