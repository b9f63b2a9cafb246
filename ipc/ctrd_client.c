/* The API worker's typed calls to kuke-ctrd (see ctrd_client.h): fill the request, one kk_ipc_call. */
#include "ipc/ctrd_client.h"

#include "ipc/client.h"

#define CTRD_CALL(sock, type, req, fd, reply_type, reply, err)                                               \
    kk_ipc_call_typed((sock), (type), &(req).base, (fd), &kukeon__ipc__ctrd__##reply_type##__descriptor,     \
                      (ProtobufCMessage **)(reply), (err))

static int kk_ipc_call_typed(int sock, uint16_t type, const ProtobufCMessage *req, int fd,
                             const ProtobufCMessageDescriptor *desc, ProtobufCMessage **reply,
                             struct kk_err *err)
{
    return kk_ipc_call(sock, type, req, fd, desc, reply, err);
}

/* The reply struct is not kept by callers that only need success. */
static int kk_ipc_call_empty(int sock, uint16_t type, const ProtobufCMessage *req, struct kk_err *err)
{
    return kk_ipc_call(sock, type, req, -1, NULL, NULL, err);
}

int kk_ctrd_ns_ensure(int sock, const char *realm, const char *const *allow, size_t n_allow,
                      Kukeon__Ipc__Ctrd__NamespaceInfo **reply, struct kk_err *err)
{
    Kukeon__Ipc__Ctrd__NamespaceEnsure req = KUKEON__IPC__CTRD__NAMESPACE_ENSURE__INIT;
    req.realm = (char *)realm;
    req.allow = (char **)allow;
    req.n_allow = n_allow;
    return CTRD_CALL(sock, KK_CTRD_NS_ENSURE, req, -1, namespace_info, reply, err);
}

int kk_ctrd_ns_delete(int sock, const char *realm, Kukeon__Ipc__Ctrd__NamespaceDeleteReply **reply,
                      struct kk_err *err)
{
    Kukeon__Ipc__Ctrd__NamespaceDelete req = KUKEON__IPC__CTRD__NAMESPACE_DELETE__INIT;
    req.realm = (char *)realm;
    return CTRD_CALL(sock, KK_CTRD_NS_DELETE, req, -1, namespace_delete_reply, reply, err);
}

int kk_ctrd_ns_list(int sock, Kukeon__Ipc__Ctrd__NamespaceListReply **reply, struct kk_err *err)
{
    Kukeon__Ipc__Ctrd__NamespaceList req = KUKEON__IPC__CTRD__NAMESPACE_LIST__INIT;
    return CTRD_CALL(sock, KK_CTRD_NS_LIST, req, -1, namespace_list_reply, reply, err);
}

int kk_ctrd_image_load(int sock, const char *realm, const char *name, int tar_fd,
                       Kukeon__Ipc__Ctrd__ImageLoadReply **reply, struct kk_err *err)
{
    if (tar_fd < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "image load into realm \"%s\": no tarball descriptor", realm);
    Kukeon__Ipc__Ctrd__ImageLoad req = KUKEON__IPC__CTRD__IMAGE_LOAD__INIT;
    req.realm = (char *)realm;
    req.name = (char *)(name != NULL ? name : "");
    return CTRD_CALL(sock, KK_CTRD_IMAGE_LOAD, req, tar_fd, image_load_reply, reply, err);
}

int kk_ctrd_image_list(int sock, const char *realm, Kukeon__Ipc__Ctrd__ImageListReply **reply,
                       struct kk_err *err)
{
    Kukeon__Ipc__Ctrd__ImageList req = KUKEON__IPC__CTRD__IMAGE_LIST__INIT;
    req.realm = (char *)realm;
    return CTRD_CALL(sock, KK_CTRD_IMAGE_LIST, req, -1, image_list_reply, reply, err);
}

int kk_ctrd_image_remove(int sock, const char *realm, const char *name, struct kk_err *err)
{
    Kukeon__Ipc__Ctrd__ImageRemove req = KUKEON__IPC__CTRD__IMAGE_REMOVE__INIT;
    req.realm = (char *)realm;
    req.name = (char *)name;
    return kk_ipc_call_empty(sock, KK_CTRD_IMAGE_REMOVE, &req.base, err);
}

int kk_ctrd_image_prune(int sock, const char *realm, Kukeon__Ipc__Ctrd__ImagePruneReply **reply,
                        struct kk_err *err)
{
    Kukeon__Ipc__Ctrd__ImagePrune req = KUKEON__IPC__CTRD__IMAGE_PRUNE__INIT;
    req.realm = (char *)realm;
    return CTRD_CALL(sock, KK_CTRD_IMAGE_PRUNE, req, -1, image_prune_reply, reply, err);
}

int kk_ctrd_content_held(int sock, const char *realm, const char *const *digests, size_t n,
                         Kukeon__Ipc__Ctrd__ContentHeldReply **reply, struct kk_err *err)
{
    if (n > KK_CTRD_CONTENT_HELD_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "asking realm \"%s\" about %zu blobs: at most %u at a time",
                        realm, n, KK_CTRD_CONTENT_HELD_MAX);
    Kukeon__Ipc__Ctrd__ContentHeld req = KUKEON__IPC__CTRD__CONTENT_HELD__INIT;
    req.realm = (char *)realm;
    req.digests = (char **)digests;
    req.n_digests = n;
    return CTRD_CALL(sock, KK_CTRD_CONTENT_HELD, req, -1, content_held_reply, reply, err);
}

int kk_ctrd_container_create(int sock, const Kukeon__Ipc__Ctrd__ContainerCreate *req,
                             Kukeon__Ipc__Ctrd__ContainerCreateReply **reply, struct kk_err *err)
{
    return kk_ipc_call_typed(sock, KK_CTRD_CONTAINER_CREATE, &req->base, -1,
                             &kukeon__ipc__ctrd__container_create_reply__descriptor,
                             (ProtobufCMessage **)reply, err);
}

int kk_ctrd_task_start(int sock, const kk_ctrd_ref *ref, uint32_t *pid, struct kk_err *err)
{
    Kukeon__Ipc__Ctrd__ContainerRef req = KUKEON__IPC__CTRD__CONTAINER_REF__INIT;
    req.ref = (kk_ctrd_ref *)ref;
    Kukeon__Ipc__Ctrd__TaskStartReply *reply = NULL;
    if (CTRD_CALL(sock, KK_CTRD_TASK_START, req, -1, task_start_reply, &reply, err) < 0)
        return -1;
    if (pid != NULL)
        *pid = reply->pid;
    protobuf_c_message_free_unpacked(&reply->base, NULL);
    return 0;
}

int kk_ctrd_task_kill(int sock, const kk_ctrd_ref *ref, uint32_t signal, bool all, struct kk_err *err)
{
    Kukeon__Ipc__Ctrd__TaskKill req = KUKEON__IPC__CTRD__TASK_KILL__INIT;
    req.ref = (kk_ctrd_ref *)ref;
    req.signal = signal;
    req.all = all;
    return kk_ipc_call_empty(sock, KK_CTRD_TASK_KILL, &req.base, err);
}

int kk_ctrd_task_stop(int sock, const kk_ctrd_ref *ref, uint32_t timeout_ms,
                      Kukeon__Ipc__Ctrd__TaskExit **reply, struct kk_err *err)
{
    Kukeon__Ipc__Ctrd__TaskWait req = KUKEON__IPC__CTRD__TASK_WAIT__INIT;
    req.ref = (kk_ctrd_ref *)ref;
    req.timeout_ms = timeout_ms;
    return CTRD_CALL(sock, KK_CTRD_TASK_STOP, req, -1, task_exit, reply, err);
}

int kk_ctrd_task_wait(int sock, const kk_ctrd_ref *ref, uint32_t timeout_ms,
                      Kukeon__Ipc__Ctrd__TaskExit **reply, struct kk_err *err)
{
    Kukeon__Ipc__Ctrd__TaskWait req = KUKEON__IPC__CTRD__TASK_WAIT__INIT;
    req.ref = (kk_ctrd_ref *)ref;
    req.timeout_ms = timeout_ms;
    return CTRD_CALL(sock, KK_CTRD_TASK_WAIT, req, -1, task_exit, reply, err);
}

int kk_ctrd_container_delete(int sock, const kk_ctrd_ref *ref,
                             Kukeon__Ipc__Ctrd__ContainerDeleteReply **reply, struct kk_err *err)
{
    Kukeon__Ipc__Ctrd__ContainerRef req = KUKEON__IPC__CTRD__CONTAINER_REF__INIT;
    req.ref = (kk_ctrd_ref *)ref;
    return CTRD_CALL(sock, KK_CTRD_CONTAINER_DELETE, req, -1, container_delete_reply, reply, err);
}

int kk_ctrd_container_list(int sock, const kk_ctrd_ref *filter, Kukeon__Ipc__Ctrd__ContainerListReply **reply,
                           struct kk_err *err)
{
    Kukeon__Ipc__Ctrd__ContainerList req = KUKEON__IPC__CTRD__CONTAINER_LIST__INIT;
    req.ref = (kk_ctrd_ref *)filter;
    return CTRD_CALL(sock, KK_CTRD_CONTAINER_LIST, req, -1, container_list_reply, reply, err);
}

int kk_ctrd_container_status(int sock, const kk_ctrd_ref *ref, Kukeon__Ipc__Ctrd__ContainerStatus **reply,
                             struct kk_err *err)
{
    Kukeon__Ipc__Ctrd__ContainerRef req = KUKEON__IPC__CTRD__CONTAINER_REF__INIT;
    req.ref = (kk_ctrd_ref *)ref;
    return CTRD_CALL(sock, KK_CTRD_CONTAINER_STATUS, req, -1, container_status, reply, err);
}

int kk_ctrd_events_read(int sock, uint32_t max, uint32_t timeout_ms,
                        Kukeon__Ipc__Ctrd__EventsReadReply **reply, struct kk_err *err)
{
    Kukeon__Ipc__Ctrd__EventsRead req = KUKEON__IPC__CTRD__EVENTS_READ__INIT;
    req.max = max;
    req.timeout_ms = timeout_ms;
    return CTRD_CALL(sock, KK_CTRD_EVENTS_READ, req, -1, events_read_reply, reply, err);
}
