/* The calling side of a helper socket: request ids, reply matching, DENIED and ERROR (see client.h). */
#include "ipc/client.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

/* One counter for the process: ids need only differ between the requests of one socket, and a
 * process-wide counter is simplest to keep unique when threads share a helper. 0 is never used. */
static uint32_t kk_ipc_last_request_id;

static uint32_t next_request_id(void)
{
    uint32_t id;
    do
        id = __atomic_add_fetch(&kk_ipc_last_request_id, 1, __ATOMIC_RELAXED);
    while (id == 0);
    return id;
}

/* A helper socket carries one request at a time: a reply is matched to the request before it, so
 * two threads interleaving send and receive on one socket would take each other's replies. Every
 * call holds the lock of its socket from the send to the end of the receive. The table is keyed by
 * descriptor number (helper sockets are low descriptors; anything beyond the table shares one
 * lock), which keeps the locking invisible to callers: the daemon's worker threads, the reconcile
 * thread and in-process kuke's broker relay all just call. */
#define KK_IPC_LOCKS 1024
static pthread_mutex_t kk_ipc_locks[KK_IPC_LOCKS + 1] = {[0 ... KK_IPC_LOCKS] = PTHREAD_MUTEX_INITIALIZER};

static pthread_mutex_t *sock_lock(int sock)
{
    return &kk_ipc_locks[sock >= 0 && sock < KK_IPC_LOCKS ? sock : KK_IPC_LOCKS];
}

/* Text from the helper ends up in CLI output and daemon logs: keep it to one line of printable
 * bytes. (Not kk_log_escape: a message quoting a name should still read naturally.) */
static void copy_peer_text(char *dst, size_t size, const char *src)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)(src != NULL ? src : ""); *p != '\0' && n + 1 < size;
         p++)
        dst[n++] = (*p < 0x20 || *p == 0x7f) ? '?' : (char)*p;
    dst[n] = '\0';
}

static int answer_denied(const struct kk_ipc_msg *m, struct kk_err *err)
{
    ProtobufCMessage *pm;
    if (kk_ipc_unpack(&kukeon__ipc__denied__descriptor, m->payload, m->hdr.length, &pm, err) < 0)
        return kk_error_wrap(err, "helper sent a malformed DENIED");
    const Kukeon__Ipc__Denied *d = (const Kukeon__Ipc__Denied *)pm;
    char text[KK_ERR_MSG_MAX / 2];
    copy_peer_text(text, sizeof(text), d->message);
    kk_error(err, KK_ERR_DENIED, 0, "%s (%s)", text[0] ? text : "request denied",
             kk_ipc_deny_reason_name(d->reason));
    protobuf_c_message_free_unpacked(pm, NULL);
    return -1;
}

static int answer_error(const struct kk_ipc_msg *m, bool farewell, struct kk_err *err)
{
    ProtobufCMessage *pm;
    if (kk_ipc_unpack(&kukeon__ipc__error__descriptor, m->payload, m->hdr.length, &pm, err) < 0)
        return kk_error_wrap(err, "helper sent a malformed ERROR");
    const Kukeon__Ipc__Error *e = (const Kukeon__Ipc__Error *)pm;
    char text[KK_ERR_MSG_MAX / 2];
    copy_peer_text(text, sizeof(text), e->message);
    enum kk_err_kind kind =
        e->kind > KK_ERR_UNKNOWN && e->kind <= KK_ERR_INTERNAL ? (enum kk_err_kind)e->kind : KK_ERR_INTERNAL;
    if (farewell)
        kind = KK_ERR_UNAVAILABLE;
    kk_error(err, kind, 0, "%s", text[0] ? text : "helper reported an error without a message");
    protobuf_c_message_free_unpacked(pm, NULL);
    return -1;
}

static int call_locked(int sock, uint16_t type, const ProtobufCMessage *req, int fd,
                       const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply, int *reply_fd,
                       struct kk_err *err)
{
    char tname[24];
    const char *tn = kk_ipc_type_name(type, tname, sizeof(tname));
    if (reply != NULL)
        *reply = NULL;
    if (reply_fd != NULL)
        *reply_fd = -1;
    if (type == 0 || type > KK_IPC_REQUEST_LAST)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s is not a request type", tn);
    if (reply_desc != NULL && reply == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: a reply descriptor without a place for the reply", tn);

    uint32_t id = next_request_id();
    if (kk_ipc_send(sock, type, id, req, fd, err) < 0)
        return kk_error_wrap(err, "%s request", tn);

    _cleanup_free_ struct kk_ipc_msg *m = malloc(sizeof(*m));
    if (m == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "%s: reply buffer", tn);
    if (kk_ipc_recv(sock, m, err) < 0)
        return kk_error_wrap(err, "waiting for the reply to %s", tn);
    _cleanup_close_ int rfd = KK_STEAL_FD(m->fd);

    /* Request id 0 is the helper's farewell before it ends: say why this call failed. */
    if (m->hdr.type == KK_IPC_ERROR && m->hdr.request_id == 0)
        return answer_error(m, true, err);
    if (m->hdr.request_id != id)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: reply carries request id %u, %u was asked", tn,
                        m->hdr.request_id, id);
    if (rfd >= 0 && (m->hdr.type != KK_IPC_REPLY(type) || reply_fd == NULL))
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: reply carries an fd that was not asked for", tn);
    if (m->hdr.type == KK_IPC_DENIED)
        return answer_denied(m, err);
    if (m->hdr.type == KK_IPC_ERROR)
        return answer_error(m, false, err);
    if (m->hdr.type != KK_IPC_REPLY(type)) {
        char rname[24];
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: answered with %s", tn,
                        kk_ipc_type_name(m->hdr.type, rname, sizeof(rname)));
    }
    if (reply_desc != NULL) {
        if (kk_ipc_unpack(reply_desc, m->payload, m->hdr.length, reply, err) < 0)
            return kk_error_wrap(err, "%s reply", tn);
    } else if (m->hdr.length != 0) {
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: reply carries %u payload bytes, none expected", tn,
                        m->hdr.length);
    }
    if (reply_fd != NULL)
        *reply_fd = KK_STEAL_FD(rfd);
    return 0;
}

int kk_ipc_call_fd(int sock, uint16_t type, const ProtobufCMessage *req, int fd,
                   const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply, int *reply_fd,
                   struct kk_err *err)
{
    pthread_mutex_t *lock = sock_lock(sock);
    pthread_mutex_lock(lock);
    int rc = call_locked(sock, type, req, fd, reply_desc, reply, reply_fd, err);
    pthread_mutex_unlock(lock);
    return rc;
}

int kk_ipc_call_try(int sock, uint16_t type, const ProtobufCMessage *req, unsigned wait_ms,
                    const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply, struct kk_err *err)
{
    pthread_mutex_t *lock = sock_lock(sock);
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int lr = pthread_mutex_timedlock(lock, &until);
    if (lr == ETIMEDOUT)
        return kk_error(err, KK_ERR_UNAVAILABLE, 0, "busy: serving a long request (an image pull, a wait)");
    if (lr != 0)
        return kk_error(err, KK_ERR_INTERNAL, lr, "locking a helper socket");
    int rc = call_locked(sock, type, req, -1, reply_desc, reply, NULL, err);
    pthread_mutex_unlock(lock);
    return rc;
}

int kk_ipc_call(int sock, uint16_t type, const ProtobufCMessage *req, int fd,
                const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply, struct kk_err *err)
{
    return kk_ipc_call_fd(sock, type, req, fd, reply_desc, reply, NULL, err);
}

int kk_ipc_hello(int sock, const char *role, char *helper_name_out, size_t size, struct kk_err *err)
{
    Kukeon__Ipc__Hello hello = KUKEON__IPC__HELLO__INIT;
    hello.protocol_version = KK_IPC_VERSION;
    hello.peer_role = (char *)role;
    ProtobufCMessage *pm;
    if (kk_ipc_call(sock, KK_IPC_HELLO, &hello.base, -1, &kukeon__ipc__hello_reply__descriptor, &pm, err) < 0)
        return -1;
    const Kukeon__Ipc__HelloReply *r = (const Kukeon__Ipc__HelloReply *)pm;
    int rc = 0;
    if (r->protocol_version != KK_IPC_VERSION)
        rc = kk_error(err, KK_ERR_UNAVAILABLE, 0, "helper speaks protocol version %u, this side %u",
                      r->protocol_version, KK_IPC_VERSION);
    else if (helper_name_out != NULL) {
        char name[64];
        copy_peer_text(name, sizeof(name), r->helper);
        if (name[0] == '\0' || kk_strlcpy(helper_name_out, name, size) < 0)
            rc = kk_error(err, KK_ERR_INTERNAL, 0, "helper name in HELLO reply is empty or too long");
    }
    protobuf_c_message_free_unpacked(pm, NULL);
    return rc;
}

int kk_ipc_status(int sock, Kukeon__Ipc__StatusReply **out, struct kk_err *err)
{
    ProtobufCMessage *pm;
    *out = NULL;
    if (kk_ipc_call(sock, KK_IPC_STATUS, NULL, -1, &kukeon__ipc__status_reply__descriptor, &pm, err) < 0)
        return -1;
    *out = (Kukeon__Ipc__StatusReply *)pm;
    return 0;
}
