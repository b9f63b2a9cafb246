/* Cells and containers: the kukeonv1 cell methods and the primitives of kukeond/ctl_cell.h.
 * NOT AVAILABLE YET: the bodies below are placeholders that refuse; the cell controller replaces
 * them. */
#include "kukeond/ctl_cell.h"

static int ctl_cell_unavailable(struct ctl_op *op, const char *what, struct kk_err *err)
{
    return ctl_fail(op, CTL_KIND_UNKNOWN, err, KK_ERR_UNAVAILABLE, "%s is not available yet in this kukeond",
                    what);
}

json_t *ctl_cell_create(struct ctl_op *op, const json_t *doc, bool start, struct kk_err *err)
{
    (void)doc, (void)start;
    ctl_cell_unavailable(op, "creating a cell", err);
    return NULL;
}

int ctl_cell_start(struct ctl_op *op, const struct ctl_names *n, struct kk_err *err)
{
    (void)n;
    return ctl_cell_unavailable(op, "starting a cell", err);
}

int ctl_cell_stop(struct ctl_op *op, const struct ctl_names *n, bool kill, struct kk_err *err)
{
    (void)n, (void)kill;
    return ctl_cell_unavailable(op, "stopping a cell", err);
}

int ctl_cell_delete(struct ctl_op *op, const struct ctl_names *n, bool *existed, struct kk_err *err)
{
    (void)n, (void)existed;
    return ctl_cell_unavailable(op, "deleting a cell", err);
}

int ctl_cell_observe(struct ctl_op *op, const struct ctl_names *n, const json_t *doc, json_t **status,
                     struct kk_err *err)
{
    (void)n, (void)doc, (void)status;
    return ctl_cell_unavailable(op, "observing a cell", err);
}

int ctl_cell_container_start(struct ctl_op *op, const struct ctl_names *n, const char *container_id,
                             struct kk_err *err)
{
    (void)n, (void)container_id;
    return ctl_cell_unavailable(op, "starting a container", err);
}

int ctl_cell_delete_child(struct ctl_op *op, const struct ctl_names *n, struct kk_err *err)
{
    return ctl_cell_delete(op, n, NULL, err);
}

const struct ctl_ext_method ctl_cell_methods[] = {
    {NULL, NULL, false},
};
