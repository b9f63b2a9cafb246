/* The gRPC transport of kuke-ctrd: unary, server-streaming and bidirectional calls to containerd over
 * its unix socket, each with a deadline, with gRPC status codes turned into kk_err kinds and messages. */
#ifndef KUKEON_CTRD_RPC_H
#define KUKEON_CTRD_RPC_H

#include <grpc/status.h>
#include <protobuf-c/protobuf-c.h>

#include "common/err.h"

/* containerd's own receive limit (defaults.DefaultMaxRecvMsgSize); replies are accepted up to the
 * same size, since container lists with full specs outgrow gRPC's 4 MiB default. */
#define CTRD_MAX_MESSAGE_BYTES (16 * 1024 * 1024)
/* A reasonable deadline for metadata calls (namespaces, images, containers records). */
#define CTRD_TIMEOUT_DEFAULT_MS 10000
/* Every call has a deadline; long waits (Tasks.Wait, Events.Subscribe) re-issue the call instead. */
#define CTRD_TIMEOUT_MAX_MS (24 * 60 * 60 * 1000)

/* One channel and completion queue to one containerd. A connection is used by one thread at a time;
 * threads that call containerd concurrently open one each. */
struct ctrd_conn;

/* Prepare a connection to the containerd listening on socket_path (absolute). Nothing is dialled
 * yet: a containerd that is down makes the first call fail with KK_ERR_UNAVAILABLE, and one that comes
 * back is reached again by later calls. Initialises the gRPC library on first use (this starts its
 * threads). NULL on failure. */
struct ctrd_conn *ctrd_conn_open(const char *socket_path, struct kk_err *err);
/* Returns a freshly connected stream socket to containerd (the caller's to keep), or -1 with err. */
typedef int (*ctrd_dial_fn)(void *opaque, struct kk_err *err);
/* Prepare a connection whose channel runs over descriptors that dial() hands over, for a process that
 * may not connect to the socket itself (kuke-ctrd: the first fd is opened before its identity drop,
 * later ones come from the supervisor's broker). Nothing is dialled yet; the first call dials, and so
 * does the first call after containerd was found unreachable. label names the socket in messages. */
struct ctrd_conn *ctrd_conn_open_dialer(const char *label, ctrd_dial_fn dial, void *opaque,
                                        struct kk_err *err);
void ctrd_conn_close(struct ctrd_conn *conn);
const char *ctrd_conn_socket(const struct ctrd_conn *conn);
/* The gRPC status of the last call that reached the status stage (GRPC_STATUS_OK after success), for
 * callers that must tell apart codes that share a kind, e.g. FAILED_PRECONDITION from
 * INVALID_ARGUMENT. GRPC_STATUS__DO_NOT_USE when no call got that far. */
grpc_status_code ctrd_conn_last_status(const struct ctrd_conn *conn);

/* Call a unary method: service is a generated descriptor, e.g.
 * &containerd__services__namespaces__v1__namespaces__descriptor, method its name in the .proto ("Create").
 * req must be of the method's input type; *reply (if reply is not NULL) receives a message of its output
 * type, freed by the caller with protobuf_c_message_free_unpacked(*reply, NULL). ns and lease, when not
 * NULL, go in the containerd-namespace and containerd-lease headers. Every call but Version and
 * Namespaces.Get/List needs the namespace: Namespaces.Create/Update/Delete publish an event into it
 * (pass the namespace acted on), and fail with UNKNOWN "namespace is required" after acting without it.
 * timeout_ms in [1, CTRD_TIMEOUT_MAX_MS].
 * Errors, all naming the method ("Namespaces.Create: ..."):
 *   NOT_FOUND -> KK_ERR_NOT_FOUND, ALREADY_EXISTS -> KK_ERR_EXISTS,
 *   INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE -> KK_ERR_INVALID,
 *   PERMISSION_DENIED, UNAUTHENTICATED -> KK_ERR_PERMISSION,
 *   UNAVAILABLE, CANCELLED, ABORTED, DEADLINE_EXCEEDED -> KK_ERR_UNAVAILABLE ("containerd at <socket> is
 *   not reachable: ...; is containerd running?" or "... did not answer within N ms"),
 *   UNIMPLEMENTED, INTERNAL, DATA_LOSS, RESOURCE_EXHAUSTED, a malformed reply -> KK_ERR_INTERNAL,
 *   UNKNOWN (containerd's generic error) -> KK_ERR_UNKNOWN. */
int ctrd_unary(struct ctrd_conn *conn, const ProtobufCServiceDescriptor *service, const char *method,
               const char *ns, const char *lease, const ProtobufCMessage *req, ProtobufCMessage **reply,
               int timeout_ms, struct kk_err *err);

/* Return values of a stream callback (or -1 with err set, which ends the call with that error). */
enum ctrd_stream_next {
    CTRD_STREAM_CONTINUE = 0,
    CTRD_STREAM_STOP = 1, /* enough: the call is cancelled and ctrd_server_stream returns 0 */
};
/* Called once per message, in order. msg is freed when the callback returns: copy what you keep. */
typedef int (*ctrd_stream_fn)(const ProtobufCMessage *msg, void *opaque, struct kk_err *err);

/* Call a server-streaming method (Content.Read, Containers.ListStream, Events.Subscribe, ...):
 * send req, hand each reply message to on_message, and only when the stream has ended (or was
 * cancelled and its remaining messages discarded) read the call's status, so a status is never
 * awaited while messages are still unread. Returns 0 when the stream ended with OK or the callback
 * stopped it; otherwise -1 with the same mapping as ctrd_unary. The deadline covers the whole stream. */
int ctrd_server_stream(struct ctrd_conn *conn, const ProtobufCServiceDescriptor *service, const char *method,
                       const char *ns, const char *lease, const ProtobufCMessage *req,
                       ctrd_stream_fn on_message, void *opaque, int timeout_ms, struct kk_err *err);

/* One step of a bidirectional call. reply is containerd's answer to the previous request (NULL before
 * the first); set *next to the next request to send (it must stay valid until the next step), or to
 * NULL to end the client's side. Return 0, or -1 with err set to cancel the call. */
typedef int (*ctrd_bidi_fn)(const ProtobufCMessage *reply, const ProtobufCMessage **next, void *opaque,
                            struct kk_err *err);

/* Call a bidirectional method where the server answers every request with one message (Content.Write):
 * request, answer, request, answer... as step decides; then half-close, drain whatever the server
 * still sends (Content.Write sends one more after the half-close) and only then read the status.
 * Errors map as in ctrd_unary; the deadline covers the whole call. */
int ctrd_bidi(struct ctrd_conn *conn, const ProtobufCServiceDescriptor *service, const char *method,
              const char *ns, const char *lease, ctrd_bidi_fn step, void *opaque, int timeout_ms,
              struct kk_err *err);

/* "NOT_FOUND" for GRPC_STATUS_NOT_FOUND, and so on; "UNKNOWN_STATUS" outside the range. */
const char *ctrd_status_name(grpc_status_code code);
/* The kk_err kind a gRPC status maps to (KK_ERR_UNKNOWN for OK, which is not an error). */
enum kk_err_kind ctrd_status_kind(grpc_status_code code);

#endif
