/* kuke status: the short health view (kukeon-reference.md 2.10) — is the daemon there, can the host
 * run cells, is anything left over. kuke doctor (cmd_doctor.c) adds the sandbox and log checks. */
#include "kuke/service.h"

int kuke_cmd_status(struct kuke_ctx *ctx, struct kk_err *err)
{
    unsigned sections = KUKE_SECTION_DAEMON | KUKE_SECTION_HOST | KUKE_SECTION_STATE;
    if (kuke_flag_bool(ctx, "verbose"))
        sections |= KUKE_SECTION_SANDBOX | KUKE_SECTION_LOGS;
    return kuke_checks_run(ctx, sections, err);
}
