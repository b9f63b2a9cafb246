/* What kuke attach, kuke log and kuke run share (kuke/cmd_attach.c): the cell's scope, choosing the
 * container, attaching to its relay and finding its output. */
#ifndef KUKEON_KUKE_TERMINAL_H
#define KUKEON_KUKE_TERMINAL_H

#include <jansson.h>
#include <stdbool.h>

#include "common/err.h"
#include "common/ttyrelay.h"
#include "kuke/cli.h"
#include "kuke/resource.h"

/* GetCell; *cell the stored document (a new reference) or NULL when the cell does not exist. *running
 * (may be NULL) says whether its root task runs, when the daemon says. */
int kuke_term_get_cell(const struct kuke_ctx *ctx, const char *name, const struct kuke_cell_scope *s,
                       json_t **cell, bool *running, struct kk_err *err);

/* The container to attach to or to read: flag (--container) when given, else the cell's
 * spec.tty.default (attachable_only), else the only non-root container (only attachable ones when
 * attachable_only). out has KUKE_ARG_MAX bytes. */
int kuke_term_pick(const json_t *cell, const char *flag, bool attachable_only, char *out, struct kk_err *err);

/* AttachContainer, then attach this terminal until detach or the relay's close. */
int kuke_term_attach(const struct kuke_ctx *ctx, const char *cell, const char *container,
                     const struct kuke_cell_scope *s, enum kk_tty_end *end, struct kk_err *err);

/* LogContainer: the host path of the container's output (capture file or shim log). out has
 * PATH_MAX bytes. */
int kuke_term_log_path(const struct kuke_ctx *ctx, const char *cell, const char *container,
                       const struct kuke_cell_scope *s, char *out, size_t size, struct kk_err *err);

/* Print the file at path from offset *off on; with follow, keep printing what is appended every
 * 200 ms until SIGINT or SIGTERM. */
int kuke_term_print(const char *path, const char *cell, const char *container, bool follow,
                    struct kk_err *err);

/* The verbs and their flags (kuke/cmd_attach.c, cmd_log.c, cmd_run.c). */
extern const struct kuke_opt kuke_attach_opts[];
extern const struct kuke_opt kuke_log_opts[];
extern const struct kuke_opt kuke_run_opts[];
int kuke_cmd_attach(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_log(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_run(struct kuke_ctx *ctx, struct kk_err *err);

#endif
