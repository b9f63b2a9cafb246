/* kuke apply -f and kuke delete -f (kuke/cmd_apply.c): a manifest sent whole to ApplyDocuments or
 * DeleteDocuments, the outcome printed per document. */
#ifndef KUKEON_KUKE_CMD_APPLY_H
#define KUKEON_KUKE_CMD_APPLY_H

#include "kuke/cli.h"

int kuke_cmd_apply(struct kuke_ctx *ctx, struct kk_err *err);
/* `kuke delete -f FILE [--cascade] [--force] [-o json|yaml]`: the run of the delete group itself
 * (kuke delete <kind> NAME is kuke/cmd_delete.c). */
int kuke_cmd_delete_file(struct kuke_ctx *ctx, struct kk_err *err);

#endif
