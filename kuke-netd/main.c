/* kuke-netd: the helper for network namespaces, CNI plugins and netlink. Started by kukeond with its request
 * socket on fd 3; serves its dispatch table after entering its sandbox. */
#include "ipc/helper.h"

int main(void)
{
    /* HELLO and STATUS are served by the ipc layer for every helper; this helper's own requests
     * come with its own issue. */
    const struct kk_helper_spec spec = {
        .role = KK_ROLE_NETD,
        .name = "kuke-netd",
        .table = NULL,
        .n = 0,
    };
    return kk_helper_main(&spec);
}
