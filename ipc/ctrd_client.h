/* The API worker's typed calls to kuke-ctrd (ipc/proto/ctrd.proto), and the request numbers both
 * sides share. Each call is one kk_ipc_call on the helper socket: DENIED comes back as KK_ERR_DENIED
 * with kuke-ctrd's reason, failures keep their kind. Replies are freed by the caller with
 * protobuf_c_message_free_unpacked(&(*reply)->base, NULL). */
#ifndef KUKEON_IPC_CTRD_CLIENT_H
#define KUKEON_IPC_CTRD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "ipc/frame.h"
#include "ipc/proto/ctrd.pb-c.h"

/* Request numbers (0x0300..0x03ff); replies are KK_IPC_REPLY(type). Wire values: append only. */
enum kk_ctrd_type {
    KK_CTRD_NS_ENSURE = 0x0301,        /* NamespaceEnsure -> NamespaceInfo */
    KK_CTRD_NS_DELETE = 0x0302,        /* NamespaceDelete -> NamespaceDeleteReply */
    KK_CTRD_NS_LIST = 0x0303,          /* NamespaceList -> NamespaceListReply */
    KK_CTRD_IMAGE_LOAD = 0x0310,       /* ImageLoad + fd -> ImageLoadReply */
    KK_CTRD_IMAGE_LIST = 0x0311,       /* ImageList -> ImageListReply */
    KK_CTRD_IMAGE_REMOVE = 0x0312,     /* ImageRemove -> empty */
    KK_CTRD_IMAGE_PRUNE = 0x0313,      /* ImagePrune -> ImagePruneReply */
    KK_CTRD_CONTENT_HELD = 0x0314,     /* ContentHeld -> ContentHeldReply */
    KK_CTRD_CONTAINER_CREATE = 0x0320, /* ContainerCreate -> ContainerCreateReply */
    KK_CTRD_TASK_START = 0x0321,       /* ContainerRef -> TaskStartReply */
    KK_CTRD_TASK_KILL = 0x0322,        /* TaskKill -> empty */
    KK_CTRD_TASK_STOP = 0x0323,        /* TaskWait -> TaskExit */
    KK_CTRD_TASK_WAIT = 0x0324,        /* TaskWait -> TaskExit */
    KK_CTRD_CONTAINER_DELETE = 0x0325, /* ContainerRef -> ContainerDeleteReply */
    KK_CTRD_CONTAINER_LIST = 0x0330,   /* ContainerList -> ContainerListReply */
    KK_CTRD_CONTAINER_STATUS = 0x0331, /* ContainerRef -> ContainerStatus */
    KK_CTRD_EVENTS_READ = 0x0340,      /* EventsRead -> EventsReadReply */
};

/* Bounds both sides apply. */
#define KK_CTRD_WAIT_MAX_MS        60000u /* TASK_WAIT and TASK_STOP hold the helper: at most a minute */
#define KK_CTRD_EVENTS_MAX         256u
#define KK_CTRD_EVENTS_WAIT_MAX_MS 5000u
#define KK_CTRD_CONTENT_HELD_MAX   256u /* digests per CONTENT_HELD */

typedef Kukeon__Ipc__Ctrd__Ref kk_ctrd_ref;

int kk_ctrd_ns_ensure(int sock, const char *realm, const char *const *allow, size_t n_allow,
                      Kukeon__Ipc__Ctrd__NamespaceInfo **reply, struct kk_err *err);
int kk_ctrd_ns_delete(int sock, const char *realm, Kukeon__Ipc__Ctrd__NamespaceDeleteReply **reply,
                      struct kk_err *err);
int kk_ctrd_ns_list(int sock, Kukeon__Ipc__Ctrd__NamespaceListReply **reply, struct kk_err *err);

/* tar_fd: an open regular file (OCI layout or docker-archive tarball); the caller keeps it. name may be
 * NULL. */
int kk_ctrd_image_load(int sock, const char *realm, const char *name, int tar_fd,
                       Kukeon__Ipc__Ctrd__ImageLoadReply **reply, struct kk_err *err);
int kk_ctrd_image_list(int sock, const char *realm, Kukeon__Ipc__Ctrd__ImageListReply **reply,
                       struct kk_err *err);
int kk_ctrd_image_remove(int sock, const char *realm, const char *name, struct kk_err *err);
int kk_ctrd_image_prune(int sock, const char *realm, Kukeon__Ipc__Ctrd__ImagePruneReply **reply,
                        struct kk_err *err);
/* Which of digests (at most KK_CTRD_CONTENT_HELD_MAX) the realm's namespace holds. */
int kk_ctrd_content_held(int sock, const char *realm, const char *const *digests, size_t n,
                         Kukeon__Ipc__Ctrd__ContentHeldReply **reply, struct kk_err *err);

int kk_ctrd_container_create(int sock, const Kukeon__Ipc__Ctrd__ContainerCreate *req,
                             Kukeon__Ipc__Ctrd__ContainerCreateReply **reply, struct kk_err *err);
int kk_ctrd_task_start(int sock, const kk_ctrd_ref *ref, uint32_t *pid, struct kk_err *err);
int kk_ctrd_task_kill(int sock, const kk_ctrd_ref *ref, uint32_t signal, bool all, struct kk_err *err);
int kk_ctrd_task_stop(int sock, const kk_ctrd_ref *ref, uint32_t timeout_ms,
                      Kukeon__Ipc__Ctrd__TaskExit **reply, struct kk_err *err);
int kk_ctrd_task_wait(int sock, const kk_ctrd_ref *ref, uint32_t timeout_ms,
                      Kukeon__Ipc__Ctrd__TaskExit **reply, struct kk_err *err);
int kk_ctrd_container_delete(int sock, const kk_ctrd_ref *ref,
                             Kukeon__Ipc__Ctrd__ContainerDeleteReply **reply, struct kk_err *err);
int kk_ctrd_container_list(int sock, const kk_ctrd_ref *filter, Kukeon__Ipc__Ctrd__ContainerListReply **reply,
                           struct kk_err *err);
int kk_ctrd_container_status(int sock, const kk_ctrd_ref *ref, Kukeon__Ipc__Ctrd__ContainerStatus **reply,
                             struct kk_err *err);
int kk_ctrd_events_read(int sock, uint32_t max, uint32_t timeout_ms,
                        Kukeon__Ipc__Ctrd__EventsReadReply **reply, struct kk_err *err);

#endif
