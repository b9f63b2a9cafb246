/* AttachContainer and LogContainer.
 * NOT AVAILABLE YET: placeholder table; the methods are added here. */
#include "kukeond/controller_internal.h"

const struct ctl_ext_method ctl_attach_methods[] = {
    {NULL, NULL, false},
};
