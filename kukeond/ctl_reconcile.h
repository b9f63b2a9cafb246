/* The reconcile loop (kukeon-reference.md 4.3, 4.4): one pass at start, then one every
 * reconcileInterval, and one for a cell at once when containerd says one of its tasks exited. Per
 * cell, under the host's writer lock: re-read the document, observe it (ctl_cell_observe), apply
 * the restart policies and autoDelete, write the status with a generation compare-and-swap. At
 * start it also re-asserts the forward chain, collects netd's leftovers, re-ensures every space
 * network and removes containerd containers that no document records. RefreshAll
 * (ctl_reconcile_methods) is the same walk without restarts or deletes. */
#ifndef KUKEON_KUKEOND_CTL_RECONCILE_H
#define KUKEON_KUKEOND_CTL_RECONCILE_H

#include <stdbool.h>

#include "kukeond/controller.h"

/* The label that marks the cell the daemon's own process group is accounted in (DESIGN.md
 * section 1): it has no containerd containers, so the loop never observes or starts it. */
#define KK_LABEL_HOST_PROCESS "kukeon.io/host-process"

/* The cell the daemon's group is accounted in (DESIGN.md section 1, kukeon-reference.md 1.5). */
#define KK_SYSTEM_REALM     "kuke-system"
#define KK_SYSTEM_SPACE     "kukeon"
#define KK_SYSTEM_STACK     "kukeon"
#define KK_SYSTEM_CELL      "kukeond"
#define KK_SYSTEM_CONTAINER "kukeond"

struct kk_reconcile;
typedef void (*kk_reconcile_lock_fn)(void *arg);

/* A loop over ctl (borrowed, shared with the request workers). lock/unlock (may be NULL) guard each
 * cell's pass: the host's writer lock, so a pass never runs beside a writing request. NULL when
 * memory runs out. */
struct kk_reconcile *kk_reconcile_new(struct kk_ctl *ctl, kk_reconcile_lock_fn lock,
                                      kk_reconcile_lock_fn unlock, void *lock_arg);

/* Start the loop's thread (detached). 0, or the pthread error number. */
int kk_reconcile_thread_start(struct kk_reconcile *r);

/* One full pass now, on the calling thread (the loop's own passes, and tests). startup adds the
 * network pass and the sweep of unrecorded containers. */
void kk_reconcile_pass(struct kk_reconcile *r, bool startup);

#endif
