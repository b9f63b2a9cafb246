/* The verbs of kuke, one function each. */
#ifndef KUKEON_KUKE_CMDS_H
#define KUKEON_KUKE_CMDS_H

#include "kuke/cli.h"

int kuke_cmd_version(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_init(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_daemon_start(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_daemon_stop(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_daemon_restart(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_daemon_status(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_daemon_logs(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_get(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_create(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_delete(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_purge(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_create_cell(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_create_regcred(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_start(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_stop(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_kill(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_restart(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_refresh(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_image_load(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_image_pull(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_image_rm(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_image_prune(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_daemon_reset(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_uninstall(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_autocomplete(struct kuke_ctx *ctx, struct kk_err *err);

/* get image|images|img NAME? (kuke/cmd_image.c): in-process through kuke-ctrd, every realm unless
 * --realm. */
#include "kuke/render.h"
int kuke_get_images(struct kuke_ctx *ctx, const char *name, enum kuke_output fmt, struct kk_err *err);

/* Shared by init and daemon start: start kukeond in the background and wait until it answers.
 * Prints what it did. */
int kuke_daemon_start(struct kuke_ctx *ctx, bool quiet_if_running, struct kk_err *err);

#endif
