/* kuke-netd: the helper for network namespaces, CNI plugins and netlink. Started by kukeond with its
 * request socket on fd 3; it acquires its netns directory, the host's namespace and a netlink socket
 * as root, then enters its sandbox (uid 0, CAP_NET_ADMIN and CAP_SYS_ADMIN,
 * seccomp) and serves the dispatch table in serve.c. */
#include "ipc/helper.h"
#include "kuke-netd/serve.h"

static struct netd_ctx netd;

static int netd_main_acquire(const struct kk_config *cfg, void *ctx, struct kk_err *err)
{
    struct netd_ctx *c = ctx;
    if (netd_ctx_init(c, cfg, err) < 0)
        return -1;
    return netd_acquire(c, err);
}

int main(void)
{
    const struct kk_helper_spec spec = {
        .role = KK_ROLE_NETD,
        .name = "kuke-netd",
        .table = netd_table,
        .n = netd_table_size,
        .ctx = &netd,
        .acquire = netd_main_acquire,
        .status = netd_status,
    };
    return kk_helper_main(&spec);
}
