/* RefreshAll and the reconcile loop's per-cell pass.
 * NOT AVAILABLE YET: placeholder table; the methods are added here. */
#include "kukeond/controller_internal.h"

const struct ctl_ext_method ctl_reconcile_methods[] = {
    {NULL, NULL, false},
};
