/* Cell primitives (kukeond/ctl_cell*.c): what the cell methods, apply (ctl_apply.c) and the
 * reconcile loop (ctl_reconcile.c) share. Every function works on the stored cell document at n
 * (depth KK_KIND_CELL), records intent before it acts (DESIGN.md section 4), and is idempotent:
 * calling it again after a crash at any point finishes the job. Failures set err and op->kind. */
#ifndef KUKEON_KUKEOND_CTL_CELL_H
#define KUKEON_KUKEOND_CTL_CELL_H

#include <jansson.h>
#include <stdbool.h>

#include "kukeond/controller_internal.h"

/* The image every synthesized pause root runs (DESIGN.md section 7): built by kuke init from the
 * static kukepause binary, loaded into each realm's namespace by the controller when missing. */
#define KK_PAUSE_IMAGE_REPO "kukeon.internal/kukepause"
/* The archive kuke init writes, relative to the run path. */
#define KK_PAUSE_IMAGE_ARCHIVE "images/kukepause.tar"

/* Create (or finish creating) the cell described by doc — validated and completed here, the pause
 * root synthesized when it has none, the document stored — with its cgroup, network namespace,
 * /etc/hosts and /etc/hostname files and containerd containers; start it when start. The parents
 * must exist (RealmNotFound, SpaceNotFound, StackNotFound). For an existing cell a changed spec is
 * stored (generation + 1) and each container made from another spec is recreated. A failed effect
 * leaves state Failed, reason CreateCellFailed (Kind CreateCell). Returns the Result of
 * CreateCell/MaterializeCell (kukeon-reference.md section 6), a new reference. */
json_t *ctl_cell_create(struct ctl_op *op, const json_t *doc, bool start, struct kk_err *err);

/* Start the stored cell: network attached, root task first, then each non-root container (one that
 * does not run is made afresh, so that it joins the namespaces of the root task as it runs now).
 * Refuses a spec-hash drift (points at kuke apply -f). State Ready afterwards; a failure records
 * Failed with reason StartCellFailed. */
int ctl_cell_start(struct ctl_op *op, const struct ctl_names *n, struct kk_err *err);

/* Stop (SIGTERM, 5 s, SIGKILL) or kill (SIGKILL) the non-root containers, then the root, and detach
 * the network; containerd's containers are kept. State Stopped afterwards. */
int ctl_cell_stop(struct ctl_op *op, const struct ctl_names *n, bool kill, struct kk_err *err);

/* Remove everything of the cell: tasks, containers, network attachment and netns pin, cgroup, files,
 * then the document. A missing cell is 0 with *existed false (existed may be NULL). */
int ctl_cell_delete(struct ctl_op *op, const struct ctl_names *n, bool *existed, struct kk_err *err);

/* A fresh status for the stored cell doc, observed from containerd and kuke-cgd without writing
 * anything: status.containers[] with each container's state (kukeon-reference.md 4.1; restartCount,
 * restartTime and startTime carried over from doc) and status.state derived as 4.2 says. Kept as
 * doc has them: Stopped, Failed and Error (sticky), Creating and Deleting (an intent whose request
 * has not finished: create or delete it again), and Pending while no container has a task (a
 * materialized cell). A new Error gets reason WorkloadFailed naming the container; readyObserved
 * latches on Ready or Degraded. *status is a new reference. */
int ctl_cell_observe(struct ctl_op *op, const struct ctl_names *n, const json_t *doc, json_t **status,
                     struct kk_err *err);

/* (Re)start the task of one non-root container of a running cell (its previous task removed first). */
int ctl_cell_container_start(struct ctl_op *op, const struct ctl_names *n, const char *container_id,
                             struct kk_err *err);

/* The cell delete a stack's cascade uses (ctl_delete.c); with op->purge, best effort. */
int ctl_cell_delete_child(struct ctl_op *op, const struct ctl_names *n, struct kk_err *err);

/* ---- shared by the cell methods (ctl_cell_methods.c) ------------------------------------------ */

/* The full reference of the pause image this build's cells run. */
#define KK_PAUSE_IMAGE KK_PAUSE_IMAGE_REPO ":" KUKEON_VERSION
/* What the synthesized root runs: the image carries the binary itself (no bind mount). */
#define KK_PAUSE_COMMAND "/kukepause"

/* The names a cell request document carries: metadata.name, spec.realmId, spaceId, stackId (trimmed).
 * The cell's own name is checked first (CellNameRequired), then its parents' from the top. */
int ctl_cell_names_from_doc(struct ctl_op *op, const json_t *doc, struct ctl_names *out, struct kk_err *err);

/* What a cell delete removed, for DeleteCell's Result. */
struct ctl_cell_removed {
    bool existed, containers, cgroup, metadata;
};
/* ctl_cell_delete with the details. */
int ctl_cell_remove(struct ctl_op *op, const struct ctl_names *n, struct ctl_cell_removed *rm,
                    struct kk_err *err);

#endif
