/* The controller: the one library that turns kukeonv1 requests about realms, spaces and stacks into
 * documents in the state store and artifacts made by the helpers (containerd namespace via
 * kuke-ctrd, space network via kuke-netd, cgroups via kuke-cgd). The API worker hosts it in the
 * daemon; kuke hosts the very same code in its own process in in-process mode (DESIGN.md section 1).
 * Every create and delete step is idempotent and recorded before it acts: intent (the document with
 * state Creating or Deleting), then the effect, then the status (DESIGN.md section 4). */
#ifndef KUKEON_KUKEOND_CONTROLLER_H
#define KUKEON_KUKEOND_CONTROLLER_H

#include <jansson.h>
#include <stdbool.h>

#include "common/config.h"
#include "common/derive.h"
#include "common/err.h"
#include "kukeond/store.h"

enum kk_ctl_helper {
    KK_CTL_CGD = 0,
    KK_CTL_NETD,
    KK_CTL_CTRD,
    KK_CTL_FETCHD,
};
#define KK_CTL_HELPERS 4

/* "kuke-cgd", "kuke-netd", "kuke-ctrd", "kuke-fetchd". */
const char *kk_ctl_helper_name(enum kk_ctl_helper h);

struct kk_ctl;
/* Make ctl->sock[h] a helper socket that has done HELLO, or fail saying why. The in-process host
 * starts the helper on first use; the daemon has them all from the start and sets no callback. */
typedef int (*kk_ctl_connect_fn)(struct kk_ctl *ctl, enum kk_ctl_helper h, struct kk_err *err);

struct kk_ctl {
    struct kk_config cfg;         /* the group's configuration (common/config.h) */
    struct kk_derive_config dcfg; /* points into cfg: the one derivation every step uses */
    struct kk_store store;        /* the documents under cfg.run_path */
    int sock[KK_CTL_HELPERS];     /* helper sockets, -1 while not connected */
    kk_ctl_connect_fn connect;    /* NULL: a socket that is -1 stays unavailable */
    void *host;                   /* the host's own state, for connect */
};

/* Copy cfg, check it and prepare the store. Touches nothing on disk and starts nothing. The sockets
 * start at -1; the host fills them or sets connect. */
int kk_ctl_init(struct kk_ctl *ctl, const struct kk_config *cfg, struct kk_err *err);

/* The helper socket h, connecting it first when the host knows how. -1 with err (KK_ERR_UNAVAILABLE,
 * naming the helper) when it cannot be had. */
int kk_ctl_helper(struct kk_ctl *ctl, enum kk_ctl_helper h, struct kk_err *err);

/* Whether method ("CreateRealm", without the "KukeonV1." prefix) is one of the controller's. */
bool kk_ctl_has_method(const char *method);

/* Whether the method may change state (everything but Get* and List*): the daemon runs such
 * methods one at a time, readers beside them. */
bool kk_ctl_method_writes(const char *method);

/* Serve one kukeonv1 method. args is the request's argument object as sent (borrowed; NULL is an
 * empty object). The reply is what goes on the wire, a new reference:
 *   {"Result": {...}, "Err": null}                       Create*, Get*, Delete*, Purge*
 *   {"Realms": [...], "Err": null}                       List* (Spaces, Stacks)
 *   {..., "Err": {"Kind": "RealmNotFound", "Message": "realm \"x\" not found"}}
 * with the reference's field names (kukeon-reference.md section 6). A failure is always in Err,
 * never in the return value: NULL only for a method that is not the controller's, or when memory
 * runs out. */
json_t *kk_ctl_call(struct kk_ctl *ctl, const char *method, json_t *args);

#endif
