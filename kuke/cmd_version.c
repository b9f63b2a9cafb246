/* kuke version: the client's version and, through Ping, the daemon's. */
#include <stdio.h>
#include <string.h>

#include "kuke/client.h"
#include "kuke/cmds.h"

int kuke_cmd_version(struct kuke_ctx *ctx, struct kk_err *err)
{
    printf("Client: %s\n", KUKEON_VERSION);
    fflush(stdout);
    if (kuke_flag_bool(ctx, "no-daemon"))
        return 0;
    json_t *res = NULL;
    struct kk_err perr = {0};
    if (kuke_call(ctx, "Ping", NULL, &res, &perr) < 0) {
        fprintf(stderr, "Warning: daemon unreachable: %s\n", perr.msg);
        return 0;
    }
    const char *dv = json_string_value(json_object_get(res, "Version"));
    printf("Daemon: %s\n", dv != NULL ? dv : "unknown");
    int rc = 0;
    if (dv == NULL || strcmp(dv, KUKEON_VERSION) != 0) {
        fprintf(stderr, "Warning: version mismatch (client: %s, daemon: %s)\n", KUKEON_VERSION,
                dv != NULL ? dv : "unknown");
        if (kuke_flag_bool(ctx, "strict"))
            rc = kk_error(err, KK_ERR_INVALID, 0, "client and daemon versions differ (--strict)");
    }
    json_decref(res);
    return rc;
}
