/* kuke-ctrd: the helper for containerd over gRPC, the only process of the group that talks to
 * containerd. Started by kukeond with its request socket on fd 3 and its connection broker on fd 6;
 * connects to containerd as root, drops to user kukeon-ctrd, enters its sandbox and serves the
 * dispatch table of ctrd_serve.c. See docs/ctrd.md. */
#include "ipc/helper.h"
#include "kuke-ctrd/ctrd.h"

static struct ctrd ctrd_state;

int main(void)
{
    const struct kk_helper_spec spec = {
        .role = KK_ROLE_CTRD,
        .name = "kuke-ctrd",
        .table = ctrd_table,
        .n = ctrd_table_size,
        .ctx = &ctrd_state,
        .acquire = ctrd_acquire,
        .status = ctrd_status,
    };
    return kk_helper_main(&spec);
}
