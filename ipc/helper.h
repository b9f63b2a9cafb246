/* The runtime every helper's main runs, in OpenSSH order: check the descriptors the supervisor
 * handed over, read the configuration, acquire resources, drop identity and enter the sandbox, and
 * only then serve the first request. */
#ifndef KUKEON_IPC_HELPER_H
#define KUKEON_IPC_HELPER_H

#include "common/config.h"
#include "ipc/dispatch.h"
#include "security/sandbox.h"

/* Descriptors of a helper process (docs/architecture.md). */
enum { KK_HELPER_FD_REQUEST = 3, KK_HELPER_FD_CONFIG = 4, KK_HELPER_FD_AUDIT = 5 };

struct kk_helper_spec {
    enum kk_role role;
    const char *name; /* "kuke-cgd" */
    const struct kk_ipc_dispatch *table;
    size_t n;
    void *ctx;
    /* Before the sandbox: open what the helper will need (a directory fd, a netlink socket...). */
    int (*acquire)(const struct kk_config *cfg, void *ctx, struct kk_err *err);
    kk_ipc_status_fn status;
};

/* Returns the process exit code: 0 when the API worker closed the socket, 1 on a fatal decision or
 * a failure to start. */
int kk_helper_main(const struct kk_helper_spec *spec);

#endif
