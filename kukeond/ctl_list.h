/* ListCells straight to text, for kukeond's API worker: a list of a thousand cells is megabytes of
 * JSON, which the store keeps ready per document (kk_store_get_text) instead of reading, parsing
 * and printing them again on every call. */
#ifndef KUKEON_KUKEOND_CTL_LIST_H
#define KUKEON_KUKEOND_CTL_LIST_H

#include <jansson.h>

#include "kukeond/controller.h"
#include "kukeond/store.h"

/* The result ListCells has for args, as compact JSON text appended to out ({"Cells":[...],"Err":null},
 * the bytes json_dumps(kk_ctl_call(ctl, "ListCells", args), JSON_COMPACT) would be). -1 when the call would
 * not be a plain listing (a bad argument, a store not ready, memory): then call kk_ctl_call, whose reply
 * carries the error. */
int kk_ctl_list_cells_text(struct kk_ctl *ctl, const json_t *args, struct kk_store_text *out);

/* For a caller in this process (kuke in-process) that will read only some fields of the documents
 * of the next ListCells on this thread: keep, as paths under the reply ("Cells/ * /metadata/name"
 * without the spaces; the others are ignored), lets the listing decode only those members of each
 * stored document (kk_store_get_some) instead of all of it. NULL again after the call. Never set
 * from a request: kukeond's replies are whole. */
void kk_ctl_list_keep(const char *const *keep);

#endif
