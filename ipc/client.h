/* The calling side of a helper socket, used by the API worker (and by kuke in in-process mode): one
 * request, one reply, matched by request id. A DENIED answer is KK_ERR_DENIED, an ERROR answer keeps
 * its kind; anything else off (wrong id, wrong type, a stray fd, an unparsable reply) means the helper
 * broke the protocol, and the caller must treat that helper as gone. */
#ifndef KUKEON_IPC_CLIENT_H
#define KUKEON_IPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "common/err.h"
#include "ipc/frame.h"
#include "ipc/proto/helper.pb-c.h"

/* Send request type with req (NULL: empty payload) and fd (-1: none; the caller keeps it), wait for
 * the reply of type KK_IPC_REPLY(type) and unpack it strictly with reply_desc into *reply (free with
 * protobuf_c_message_free_unpacked(*reply, NULL)). reply_desc NULL: the reply must be empty, and
 * reply may be NULL. A reply that carries an fd is an error here; see kk_ipc_call_fd. */
int kk_ipc_call(int sock, uint16_t type, const ProtobufCMessage *req, int fd,
                const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply, struct kk_err *err);

/* kk_ipc_call without an fd that waits at most wait_ms for the socket's lock: KK_ERR_UNAVAILABLE
 * ("busy: ...") when another thread's call holds it that long (a pull through kuke-fetchd holds its
 * socket for minutes; `kuke daemon status` must not wait for it). */
int kk_ipc_call_try(int sock, uint16_t type, const ProtobufCMessage *req, unsigned wait_ms,
                    const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply, struct kk_err *err);

/* kk_ipc_call for replies that may carry an fd: *reply_fd gets it (O_CLOEXEC), or -1. */
int kk_ipc_call_fd(int sock, uint16_t type, const ProtobufCMessage *req, int fd,
                   const ProtobufCMessageDescriptor *reply_desc, ProtobufCMessage **reply, int *reply_fd,
                   struct kk_err *err);

/* The handshake: declare role ("api"), check the protocol version, learn the helper's name. */
int kk_ipc_hello(int sock, const char *role, char *helper_name_out, size_t size, struct kk_err *err);

/* STATUS; free *out with protobuf_c_message_free_unpacked(&(*out)->base, NULL). */
int kk_ipc_status(int sock, Kukeon__Ipc__StatusReply **out, struct kk_err *err);

#endif
