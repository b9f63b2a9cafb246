/* kuke-ctrd's start-up and its containerd connection: the socket is connected as root before the
 * identity drop (ctrd_acquire), the gRPC channel is made over it at the first request, after the
 * sandbox (the gRPC core starts threads, and kk_sandbox_enter wants none), and every later connection
 * comes from the supervisor's broker (ipc/broker.h) because user kukeon-ctrd cannot open containerd's
 * root-owned socket itself. */
#include "kuke-ctrd/ctrd.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/broker.h"

/* The broker answers within a connect(2) to a local socket; more than this means the supervisor is
 * stuck, and the call fails as containerd being unreachable. */
#define CTRD_BROKER_TIMEOUT_MS 5000

static const char *ctrd_goarch(const char *machine)
{
    static const struct {
        const char *uname, *goarch;
    } map[] = {{"x86_64", "amd64"}, {"aarch64", "arm64"},   {"armv7l", "arm"}, {"ppc64le", "ppc64le"},
               {"s390x", "s390x"},  {"riscv64", "riscv64"}, {"i686", "386"}};
    for (size_t i = 0; i < KK_ARRAY_SIZE(map); i++)
        if (strcmp(machine, map[i].uname) == 0)
            return map[i].goarch;
    return NULL;
}

int ctrd_init(struct ctrd *c, const struct kk_config *cfg, struct kk_err *err)
{
    c->cfg = *cfg;
    c->first_fd = -1;
    c->broker_fd = -1;
    c->dcfg = (struct kk_derive_config){
        .ns_suffix = c->cfg.ns_suffix,
        .cgroup_root = c->cfg.cgroup_root,
        .run_path = c->cfg.run_path,
        .netns_dir = NULL,
    };
    if (kk_derive_config_check(&c->dcfg, err) < 0)
        return kk_error_wrap(err, "kuke-ctrd configuration");
    struct utsname u;
    const char *arch = uname(&u) == 0 ? ctrd_goarch(u.machine) : NULL;
    if (arch == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "kuke-ctrd: unknown machine type %s", u.machine);
    kk_strlcpy(c->arch, arch, sizeof(c->arch));
    /* Read now, before kk_sandbox_enter lowers this process's own limits (and while getrlimit is
     * still allowed): these are the limits the supervisor, and so containerd and runc, can grant. */
    for (int r = 0; r < RLIM_NLIMITS; r++)
        if (getrlimit(r, &c->hard[r]) < 0)
            c->hard[r].rlim_max = c->hard[r].rlim_cur = RLIM_INFINITY;
    c->hard_known = true;
    for (int cap = 0; cap < 64; cap++) {
        int in = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (in < 0)
            break;
        if (in > 0)
            c->cap_bound |= 1ULL << cap;
    }
    int rc = pthread_mutex_init(&c->dial_lock, NULL);
    if (rc != 0)
        return kk_error(err, KK_ERR_INTERNAL, rc, "kuke-ctrd: dial lock");
    return 0;
}

int ctrd_acquire(const struct kk_config *cfg, void *ctx, struct kk_err *err)
{
    struct ctrd *c = ctx;
    if (ctrd_init(c, cfg, err) < 0)
        return -1;
    /* The broker channel, when the supervisor gave one (kk_helper_launch puts it on fd 6). */
    struct stat st;
    if (fstat(KK_BROKER_FD, &st) == 0 && S_ISSOCK(st.st_mode)) {
        if (fcntl(KK_BROKER_FD, F_SETFD, FD_CLOEXEC) < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "setting close-on-exec on the broker socket");
        c->broker_fd = KK_BROKER_FD;
    }
    /* Connect while still root: containerd's socket is root:root 0660. A containerd that is down now
     * is not fatal; the first request asks the broker instead. */
    struct kk_err cerr;
    c->first_fd = kk_connect_unix(cfg->containerd_socket, &cerr);
    if (c->first_fd < 0)
        kk_warn("containerd is not reachable at start (%s); will ask the supervisor for a connection",
                cerr.msg);
    return 0;
}

/* A connection made at start may have died (containerd restarted before the first request): an
 * orderly end or an error shows through a non-blocking peek; data (containerd's HTTP/2 settings) or
 * nothing yet both mean it is alive. */
static bool ctrd_fd_alive(int fd)
{
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

static int ctrd_dial_from(struct ctrd *c, bool may_take_first, struct kk_err *err)
{
    int fd = -1;
    pthread_mutex_lock(&c->dial_lock);
    if (may_take_first && c->first_fd >= 0) {
        fd = KK_STEAL_FD(c->first_fd);
        if (!ctrd_fd_alive(fd)) {
            close(fd);
            fd = -1;
        }
    }
    if (fd < 0) {
        if (c->broker_fd >= 0)
            fd = kk_broker_request(c->broker_fd, CTRD_BROKER_TIMEOUT_MS, err);
        else
            kk_error(
                err, KK_ERR_UNAVAILABLE, 0,
                "kuke-ctrd has no connection broker (fd %d) to reconnect through; restart the daemon group",
                KK_BROKER_FD);
    }
    pthread_mutex_unlock(&c->dial_lock);
    return fd;
}

int ctrd_dial(void *opaque, struct kk_err *err)
{
    return ctrd_dial_from(opaque, true, err);
}

/* The event stream never takes the connection made at start: that one is the request path's, which
 * must work even where no broker runs. */
int ctrd_dial_events(void *opaque, struct kk_err *err)
{
    return ctrd_dial_from(opaque, false, err);
}

struct ctrd_conn *ctrd_connection(struct ctrd *c, struct kk_err *err)
{
    if (c->conn != NULL)
        return c->conn;
    c->conn = ctrd_conn_open_dialer(c->cfg.containerd_socket, ctrd_dial, c, err);
    if (c->conn == NULL)
        return NULL;
    struct kk_err eerr;
    if (ctrd_events_start(c, &eerr) < 0)
        kk_warn("containerd events will not be forwarded: %s", eerr.msg);
    return c->conn;
}

int ctrd_status(struct kk_ipc_status_details *d, void *ctx, struct kk_err *err)
{
    struct ctrd *c = ctx;
    if (kk_ipc_status_add(d, "containerd_socket", c->cfg.containerd_socket, err) < 0 ||
        kk_ipc_status_add(d, "namespace_suffix", c->cfg.ns_suffix, err) < 0 ||
        kk_ipc_status_add(d, "broker", c->broker_fd >= 0 ? "yes" : "no", err) < 0)
        return -1;
    return 0;
}
