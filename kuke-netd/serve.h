/* kuke-netd's dispatch table, its STATUS facts and its start-up, for main.c and for tests that
 * drive the table directly. */
#ifndef KUKEON_NETD_SERVE_H
#define KUKEON_NETD_SERVE_H

#include <stddef.h>

#include "ipc/dispatch.h"
#include "kuke-netd/netd.h"

extern const struct kk_ipc_dispatch netd_table[];
extern const size_t netd_table_size;
int netd_status(struct kk_ipc_status_details *d, void *ctx, struct kk_err *err);

#endif
