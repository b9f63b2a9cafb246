/* kuke-fetchd: the helper that reads images from OCI registries, the only process of the group that
 * opens network connections. Started by kukeond (or kuke in-process) with its request socket on fd 3;
 * loads libcurl, the CA bundle and the resolver while it still may, drops to user kukeon-fetchd, enters
 * its sandbox (security/profile_fetchd.c) and serves RESOLVE and FETCH (fetchd_serve.c). It holds no
 * credential and no file of its own. See docs/fetchd.md. */
#include "ipc/helper.h"
#include "kuke-fetchd/fetchd_serve.h"

static struct fetchd_state fetchd_state;

int main(void)
{
    const struct kk_helper_spec spec = {
        .role = KK_ROLE_FETCHD,
        .name = "kuke-fetchd",
        .table = fetchd_table,
        .n = fetchd_table_size,
        .ctx = &fetchd_state,
        .acquire = fetchd_acquire,
        .status = fetchd_status,
    };
    return kk_helper_main(&spec);
}
