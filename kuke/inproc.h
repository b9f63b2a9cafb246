/* kuke's in-process mode (DESIGN.md section 1): instead of asking kukeond, kuke (as root) starts the
 * same helpers the supervisor starts, with the same launcher (ipc/launch.h), and runs the same
 * controller library (kukeond/controller.h) in its own process. Chosen by KUKEON_NO_DAEMON=true, an
 * explicit --run-path (or KUKEON_RUN_PATH), or --no-daemon where a verb has it. */
#ifndef KUKEON_KUKE_INPROC_H
#define KUKEON_KUKE_INPROC_H

#include <jansson.h>
#include <stdbool.h>

#include "common/config.h"
#include "common/err.h"
#include "kuke/cli.h"

/* Whether this invocation runs in-process: --no-daemon (when the verb has it) wins, then
 * KUKEON_NO_DAEMON, then an explicit run path (kukeon-reference.md 2.0, "Promotion sources"). */
bool kuke_inproc_wanted(const struct kuke_ctx *ctx);

/* The daemon group's configuration as this kuke sees it — the same precedence as kukeond: defaults,
 * the server configuration file (--server-configuration, KUKEOND_CONFIGURATION, or
 * /etc/kukeon/kukeond.yaml when present), the environment, then kuke's flags. */
int kuke_server_config(const struct kuke_ctx *ctx, struct kk_config *cfg, struct kk_err *err);

/* Serve one kukeonv1 method in this process: the reply exactly as kukeond would send it. Starts the
 * controller on first use, and each helper when the controller first needs it. Needs root. */
int kuke_inproc_call(const struct kuke_ctx *ctx, const char *method, json_t *args, json_t **reply,
                     struct kk_err *err);

/* The helper socket h (enum kk_ctl_helper) of this process's in-process host, started when it is not
 * yet, for the verbs that talk to a helper directly (kuke image: images are not served over
 * kukeonv1). cfg (may be NULL) gets the configuration the host runs with. */
int kuke_inproc_helper(const struct kuke_ctx *ctx, int h, struct kk_config *cfg, struct kk_err *err);

/* Stop what kuke_inproc_call started: the helpers (their last audit lines written), the relay
 * thread. Safe to call when nothing was started. */
void kuke_inproc_shutdown(void);

/* Act on files as uid:gid (setfsuid/setfsgid on the calling thread), so files kuke writes as root in
 * the run path belong to whoever owns it (the kukeon user, DESIGN.md section 5) and the daemon can
 * go on writing them. kuke_fs_restore goes back to root. */
void kuke_fs_become(uid_t uid, gid_t gid);
void kuke_fs_restore(void);

#endif
