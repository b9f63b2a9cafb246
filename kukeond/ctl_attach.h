/* Terminals of attachable containers (kukeond/ctl_attach.c, docs/terminals.md): what the cell
 * primitives call so that kuketty, the relay kuke-ctrd makes PID 1 of an attachable container, finds
 * its directory. */
#ifndef KUKEON_KUKEOND_CTL_ATTACH_H
#define KUKEON_KUKEOND_CTL_ATTACH_H

#include "kukeond/controller_internal.h"

/* Make <cell dir>/<container>/tty/ (2750, the run path's group kukeon by the setgid parents) for
 * the container of the cell at n (depth KK_KIND_CELL). kuke-ctrd binds it at /run/kukeon/tty of an
 * attachable container, and runc cannot bind what does not exist: call it before the container's
 * task starts. Idempotent. */
int ctl_attach_prepare(struct ctl_op *op, const struct ctl_names *n, const char *container,
                       struct kk_err *err);

#endif
