/* kuke-cgd: the only process of the group that writes cgroups. Started by kukeond with its request
 * socket on fd 3; as root it delegates its cgroup root to its own account and opens it, then drops
 * to that account, enters its sandbox and serves the requests of kuke-cgd/handlers.c. */
#include "ipc/helper.h"
#include "kuke-cgd/cgd.h"

int main(void)
{
    static struct cgd_ctx ctx;
    const struct kk_helper_spec spec = {
        .role = KK_ROLE_CGD,
        .name = "kuke-cgd",
        .table = cgd_dispatch_table,
        .n = cgd_dispatch_count,
        .ctx = &ctx,
        .acquire = cgd_acquire,
        .status = cgd_status,
    };
    return kk_helper_main(&spec);
}
