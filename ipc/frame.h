/* The helper wire (DESIGN.md section 2): one SOCK_SEQPACKET record per message, a fixed 16-byte
 * little-endian header, a protobuf-c payload of at most KK_IPC_MAX_PAYLOAD bytes, and at most one
 * file descriptor riding along by SCM_RIGHTS. Anything off is an error the receiver treats as fatal. */
#ifndef KUKEON_IPC_FRAME_H
#define KUKEON_IPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "common/err.h"

/* Header layout, every field little-endian:
 *   0  u32 length      payload bytes that follow the header
 *   4  u16 version     KK_IPC_VERSION
 *   6  u16 type        enum kk_ipc_type or a helper's own request number
 *   8  u32 request id  chosen by the caller, echoed by the reply; never 0 in a request
 *  12  u32 flags       KK_IPC_F_FD; every other bit is reserved and fatal */
#define KK_IPC_HEADER_SIZE 16u
#define KK_IPC_VERSION     1u
/* The largest request (a container spec for kuke-ctrd) is a few KiB; the cap keeps one record well
 * under the socket buffer and makes every receive buffer a known size. */
#define KK_IPC_MAX_PAYLOAD (64u * 1024u)
#define KK_IPC_MAX_FRAME   (KK_IPC_HEADER_SIZE + KK_IPC_MAX_PAYLOAD)

#define KK_IPC_F_FD       0x00000001u /* exactly one fd rides along (SCM_RIGHTS) */
#define KK_IPC_F_RESERVED (~KK_IPC_F_FD)

/* Message type numbers; the ranges are documented in ipc/proto/helper.proto. */
#define KK_IPC_REPLY_BIT 0x8000u
#define KK_IPC_REPLY(t)  ((uint16_t)((t) | KK_IPC_REPLY_BIT))
enum kk_ipc_type {
    KK_IPC_HELLO = 0x0001,        /* Hello -> HelloReply */
    KK_IPC_STATUS = 0x0002,       /* StatusRequest -> StatusReply */
    KK_IPC_COMMON_LAST = 0x00ff,  /* end of the range every helper serves */
    KK_IPC_CGD_FIRST = 0x0100,    /* kuke-cgd: 0x0100..0x01ff */
    KK_IPC_NETD_FIRST = 0x0200,   /* kuke-netd: 0x0200..0x02ff */
    KK_IPC_CTRD_FIRST = 0x0300,   /* kuke-ctrd: 0x0300..0x03ff */
    KK_IPC_REQUEST_LAST = 0x7ffd, /* 0x7ffe and 0x7fff would collide with DENIED and ERROR */
    KK_IPC_HELLO_REPLY = 0x8001,
    KK_IPC_STATUS_REPLY = 0x8002,
    KK_IPC_DENIED = 0xfffe, /* Denied: a well-formed request refused */
    KK_IPC_ERROR = 0xffff,  /* Error: the request failed; request id 0: the helper is ending */
};

/* Why a helper refused a well-formed request (Denied.reason). Numbers are wire values: append only. */
enum kk_ipc_deny_reason {
    KK_IPC_DENY_UNSPECIFIED = 0,   /* never sent */
    KK_IPC_DENY_INVALID_NAME = 1,  /* a hierarchy name fails validation (DESIGN.md section 6) */
    KK_IPC_DENY_INVALID_VALUE = 2, /* a value does not parse or is out of range */
    KK_IPC_DENY_OUTSIDE_ROOT = 3,  /* the derived object would lie outside the helper's root */
    KK_IPC_DENY_NOT_IN_TABLE = 4,  /* a knob, plugin or field the helper's fixed table does not list */
    KK_IPC_DENY_POLICY = 5,        /* the realm's recorded policy does not allow it */
    KK_IPC_DENY_NOT_OWNED = 6,     /* the object exists but cannot be proven to be Kukeon's */
    KK_IPC_DENY_STATE = 7,         /* the object's state forbids it now (e.g. a populated cgroup) */
    KK_IPC_DENY_REASON_COUNT,
};
/* "invalid-name", ...; "unknown" for numbers outside the enum. */
const char *kk_ipc_deny_reason_name(uint32_t reason);

struct kk_ipc_header {
    uint32_t length;
    uint16_t version;
    uint16_t type;
    uint32_t request_id;
    uint32_t flags;
};

/* One received message. payload points into the buffer it was decoded from (buf for kk_ipc_recv),
 * so a struct kk_ipc_msg is not copied by value. fd is owned by the holder: kk_ipc_msg_release. */
struct kk_ipc_msg {
    struct kk_ipc_header hdr;
    const uint8_t *payload; /* hdr.length bytes */
    int fd;                 /* received with O_CLOEXEC, or -1 */
    uint8_t buf[KK_IPC_MAX_FRAME];
};

/* A connected SOCK_SEQPACKET pair, both ends close-on-exec (the launcher clears it on fd 3). */
int kk_ipc_socketpair(int sv[2], struct kk_err *err);

/* Write a header in wire order into out (KK_IPC_HEADER_SIZE bytes). */
void kk_ipc_header_encode(const struct kk_ipc_header *h, uint8_t out[KK_IPC_HEADER_SIZE]);

/* Send one record: header, msg packed (NULL: empty payload), and fd (-1: none) by SCM_RIGHTS. The
 * caller keeps fd. A vanished peer is KK_ERR_UNAVAILABLE; no SIGPIPE is raised. */
int kk_ipc_send(int sock, uint16_t type, uint32_t request_id, const ProtobufCMessage *msg, int fd,
                struct kk_err *err);

/* Receive one record into out. Every check of kk_ipc_decode, plus: a record larger than
 * KK_IPC_MAX_FRAME, truncated control data, more than one fd, control data other than SCM_RIGHTS.
 * End of stream is KK_ERR_UNAVAILABLE "peer closed". On any failure every received fd is closed and
 * out->fd is -1; out->hdr holds what could be parsed (request_id 0 when the header was not). */
int kk_ipc_recv(int sock, struct kk_ipc_msg *out, struct kk_err *err);

/* Check and parse one record of len bytes; fd_present says whether an fd arrived with it. Pure: no
 * system calls, no allocation, so it can be fuzzed. out->payload points into buf; out->fd is -1. */
int kk_ipc_decode(const uint8_t *buf, size_t len, bool fd_present, struct kk_ipc_msg *out,
                  struct kk_err *err);

/* Close a received fd, if any. */
void kk_ipc_msg_release(struct kk_ipc_msg *m);

/* Unpack m's payload as desc, strictly: it must unpack, carry no unknown fields at any depth, and be
 * exactly the bytes protobuf-c would pack for the result (no duplicate fields, no overlong varints,
 * no explicit proto3 defaults, no string cut short by a NUL byte). Free *out with
 * protobuf_c_message_free_unpacked(*out, NULL). */
int kk_ipc_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *payload, size_t len,
                  ProtobufCMessage **out, struct kk_err *err);

/* "HELLO", "STATUS reply", "DENIED", or "type 0x0104" for numbers this layer does not name. */
const char *kk_ipc_type_name(uint16_t type, char *buf, size_t size);

#endif
