/* The helper wire: socketpairs, header encoding, strict receive and decode, strict unpack (see frame.h). */
#include "ipc/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/util.h"

/* Room for a few fds in the control buffer: a peer that sends two must be told "two", not "control
 * data truncated", and the kernel closes whatever does not fit. */
#define KK_IPC_RECV_FD_SLOTS 4
/* Our schemas are not recursive; this only bounds the walk should one become so. */
#define KK_IPC_UNPACK_MAX_DEPTH 32

const char *kk_ipc_deny_reason_name(uint32_t reason)
{
    switch (reason) {
    case KK_IPC_DENY_INVALID_NAME:
        return "invalid-name";
    case KK_IPC_DENY_INVALID_VALUE:
        return "invalid-value";
    case KK_IPC_DENY_OUTSIDE_ROOT:
        return "outside-root";
    case KK_IPC_DENY_NOT_IN_TABLE:
        return "not-in-table";
    case KK_IPC_DENY_POLICY:
        return "policy";
    case KK_IPC_DENY_NOT_OWNED:
        return "not-owned";
    case KK_IPC_DENY_STATE:
        return "state";
    default:
        return "unknown";
    }
}

const char *kk_ipc_type_name(uint16_t type, char *buf, size_t size)
{
    switch (type) {
    case KK_IPC_HELLO:
        return "HELLO";
    case KK_IPC_STATUS:
        return "STATUS";
    case KK_IPC_HELLO_REPLY:
        return "HELLO reply";
    case KK_IPC_STATUS_REPLY:
        return "STATUS reply";
    case KK_IPC_DENIED:
        return "DENIED";
    case KK_IPC_ERROR:
        return "ERROR";
    default:
        break;
    }
    if (kk_snprintf(buf, size, NULL, "type name", "type 0x%04x", (unsigned)type) < 0)
        return "type ?";
    return buf;
}

int kk_ipc_socketpair(int sv[2], struct kk_err *err)
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating a helper socketpair");
    return 0;
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

void kk_ipc_header_encode(const struct kk_ipc_header *h, uint8_t out[KK_IPC_HEADER_SIZE])
{
    put_le32(out, h->length);
    put_le16(out + 4, h->version);
    put_le16(out + 6, h->type);
    put_le32(out + 8, h->request_id);
    put_le32(out + 12, h->flags);
}

int kk_ipc_send(int sock, uint16_t type, uint32_t request_id, const ProtobufCMessage *msg, int fd,
                struct kk_err *err)
{
    char tname[24];
    if (type == 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "refusing to send message type 0");
    if (fd < -1)
        return kk_error(err, KK_ERR_INTERNAL, 0, "refusing to send invalid fd %d", fd);
    size_t plen = msg != NULL ? protobuf_c_message_get_packed_size(msg) : 0;
    if (plen > KK_IPC_MAX_PAYLOAD)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "%s message is %zu bytes, over the %u-byte cap of a helper frame",
                        kk_ipc_type_name(type, tname, sizeof(tname)), plen, KK_IPC_MAX_PAYLOAD);

    _cleanup_free_ uint8_t *payload = NULL;
    if (plen > 0) {
        payload = malloc(plen);
        if (payload == NULL)
            return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "packing a %zu-byte message", plen);
        if (protobuf_c_message_pack(msg, payload) != plen)
            return kk_error(err, KK_ERR_INTERNAL, 0, "protobuf-c packed a different size than it announced");
    }

    uint8_t header[KK_IPC_HEADER_SIZE];
    struct kk_ipc_header h = {
        .length = (uint32_t)plen,
        .version = KK_IPC_VERSION,
        .type = type,
        .request_id = request_id,
        .flags = fd >= 0 ? KK_IPC_F_FD : 0,
    };
    kk_ipc_header_encode(&h, header);

    struct iovec iov[2] = {{.iov_base = header, .iov_len = sizeof(header)},
                           {.iov_base = payload, .iov_len = plen}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = plen > 0 ? 2 : 1};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } cbuf;
    if (fd >= 0) {
        memset(&cbuf, 0, sizeof(cbuf));
        mh.msg_control = cbuf.buf;
        mh.msg_controllen = sizeof(cbuf.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }

    ssize_t n;
    do
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EPIPE || errno == ECONNRESET)
            return kk_error(err, KK_ERR_UNAVAILABLE, 0, "sending %s: peer closed",
                            kk_ipc_type_name(type, tname, sizeof(tname)));
        return kk_error(err, KK_ERR_UNAVAILABLE, errno, "sending %s",
                        kk_ipc_type_name(type, tname, sizeof(tname)));
    }
    /* A SEQPACKET send is all or nothing; anything else is a kernel surprise worth stopping for. */
    if ((size_t)n != sizeof(header) + plen)
        return kk_error(err, KK_ERR_INTERNAL, 0, "sending %s: short write of %zd bytes",
                        kk_ipc_type_name(type, tname, sizeof(tname)), n);
    return 0;
}

int kk_ipc_decode(const uint8_t *buf, size_t len, bool fd_present, struct kk_ipc_msg *out, struct kk_err *err)
{
    memset(&out->hdr, 0, sizeof(out->hdr));
    out->payload = NULL;
    out->fd = -1;

    if (len < KK_IPC_HEADER_SIZE)
        return kk_error(err, KK_ERR_INVALID, 0, "truncated frame: %zu bytes, shorter than the %u-byte header",
                        len, KK_IPC_HEADER_SIZE);
    struct kk_ipc_header h = {
        .length = get_le32(buf),
        .version = get_le16(buf + 4),
        .type = get_le16(buf + 6),
        .request_id = get_le32(buf + 8),
        .flags = get_le32(buf + 12),
    };
    /* The request id is kept even for a bad frame, so the audit line can name it. */
    out->hdr.request_id = h.request_id;
    out->hdr.type = h.type;

    if (h.version != KK_IPC_VERSION)
        return kk_error(err, KK_ERR_INVALID, 0, "unknown protocol version %u (this side speaks %u)",
                        (unsigned)h.version, KK_IPC_VERSION);
    if ((h.flags & KK_IPC_F_RESERVED) != 0)
        return kk_error(err, KK_ERR_INVALID, 0, "reserved flag bits 0x%08x set in frame header",
                        h.flags & KK_IPC_F_RESERVED);
    if (h.length > KK_IPC_MAX_PAYLOAD)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "oversized frame: header announces %u payload bytes, the cap is %u", h.length,
                        KK_IPC_MAX_PAYLOAD);
    size_t carried = len - KK_IPC_HEADER_SIZE;
    if (carried < h.length)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "truncated frame: header announces %u payload bytes, record carries %zu", h.length,
                        carried);
    if (carried > h.length)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "wrong length: header announces %u payload bytes, record carries %zu", h.length,
                        carried);
    if (h.type == 0)
        return kk_error(err, KK_ERR_INVALID, 0, "message type 0 is not a valid type");
    if ((h.flags & KK_IPC_F_FD) != 0 && !fd_present)
        return kk_error(err, KK_ERR_INVALID, 0, "frame flags announce an fd but none arrived");
    if ((h.flags & KK_IPC_F_FD) == 0 && fd_present)
        return kk_error(err, KK_ERR_INVALID, 0, "an fd arrived that the frame flags do not announce");

    out->hdr = h;
    out->payload = buf + KK_IPC_HEADER_SIZE;
    return 0;
}

static void close_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        kk_closep(&fds[i]);
}

int kk_ipc_recv(int sock, struct kk_ipc_msg *out, struct kk_err *err)
{
    memset(&out->hdr, 0, sizeof(out->hdr));
    out->payload = NULL;
    out->fd = -1;

    struct iovec iov = {.iov_base = out->buf, .iov_len = sizeof(out->buf)};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * KK_IPC_RECV_FD_SLOTS)];
    } cbuf;
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf)};

    /* MSG_TRUNC makes a SEQPACKET receive return the record's real length, so an oversized record
     * is reported with its size. MSG_CMSG_CLOEXEC: a received fd must never leak into an exec. */
    ssize_t n;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_TRUNC);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == ECONNRESET)
            return kk_error(err, KK_ERR_UNAVAILABLE, 0, "peer closed");
        return kk_error(err, KK_ERR_UNAVAILABLE, errno, "receiving a frame");
    }

    /* Collect every fd first, whatever else is wrong, so that each error path can close them all. */
    int fds[KK_IPC_RECV_FD_SLOTS];
    size_t nfds = 0;
    bool foreign_cmsg = false;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            foreign_cmsg = true;
            continue;
        }
        if (c->cmsg_len < CMSG_LEN(0))
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k && nfds < KK_IPC_RECV_FD_SLOTS; i++)
            memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }

    int rc = 0;
    if (n == 0)
        rc = kk_error(err, KK_ERR_UNAVAILABLE, 0, "peer closed");
    else if (mh.msg_flags & MSG_CTRUNC)
        rc = kk_error(err, KK_ERR_INVALID, 0,
                      "control data truncated: more fds arrived than a frame may carry");
    else if (foreign_cmsg)
        rc = kk_error(err, KK_ERR_INVALID, 0, "control message other than SCM_RIGHTS arrived with a frame");
    else if ((mh.msg_flags & MSG_TRUNC) || (size_t)n > sizeof(out->buf))
        rc = kk_error(err, KK_ERR_INVALID, 0, "oversized frame: record of %zd bytes, the cap is %u", n,
                      KK_IPC_MAX_FRAME);
    else if (nfds > 1)
        rc = kk_error(err, KK_ERR_INVALID, 0, "%zu fds arrived with one frame; a frame carries at most one",
                      nfds);
    else
        rc = kk_ipc_decode(out->buf, (size_t)n, nfds == 1, out, err);
    if (rc < 0) {
        close_fds(fds, nfds);
        out->fd = -1;
        return -1;
    }
    out->fd = nfds == 1 ? fds[0] : -1;
    return 0;
}

void kk_ipc_msg_release(struct kk_ipc_msg *m)
{
    kk_closep(&m->fd);
}

/* protobuf-c keeps fields it does not know; a peer built from the same schema never sends any. */
static int check_no_unknown_fields(const ProtobufCMessage *m, unsigned depth, struct kk_err *err)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    if (depth > KK_IPC_UNPACK_MAX_DEPTH)
        return kk_error(err, KK_ERR_INVALID, 0, "payload nests messages deeper than %u",
                        KK_IPC_UNPACK_MAX_DEPTH);
    if (m->n_unknown_fields != 0)
        return kk_error(err, KK_ERR_INVALID, 0, "payload carries %u unknown field(s) in %s",
                        m->n_unknown_fields, d->name);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        const char *base = (const char *)m;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which;
            memcpy(&which, base + f->quantifier_offset, sizeof(which));
            if (which != f->id)
                continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t count;
            ProtobufCMessage **items;
            memcpy(&count, base + f->quantifier_offset, sizeof(count));
            memcpy(&items, base + f->offset, sizeof(items));
            for (size_t k = 0; k < count; k++)
                if (items[k] != NULL && check_no_unknown_fields(items[k], depth + 1, err) < 0)
                    return -1;
        } else {
            ProtobufCMessage *sub;
            memcpy(&sub, base + f->offset, sizeof(sub));
            if (sub != NULL && check_no_unknown_fields(sub, depth + 1, err) < 0)
                return -1;
        }
    }
    return 0;
}

int kk_ipc_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *payload, size_t len,
                  ProtobufCMessage **out, struct kk_err *err)
{
    *out = NULL;
    if (len > KK_IPC_MAX_PAYLOAD)
        return kk_error(err, KK_ERR_INVALID, 0, "payload of %zu bytes is over the cap", len);
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, payload);
    if (m == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "payload of %zu bytes does not unpack as %s", len,
                        desc->name);
    if (check_no_unknown_fields(m, 0, err) < 0)
        goto fail;
    /* Repacking proves the bytes are the one encoding protobuf-c produces: it catches what unpack
     * forgives (a string cut short by NUL, a field sent twice, an overlong varint, a proto3 default
     * sent explicitly), so what the helper validates is exactly what the peer sent. */
    size_t plen = protobuf_c_message_get_packed_size(m);
    if (plen != len) {
        kk_error(err, KK_ERR_INVALID, 0, "payload is not in canonical form: %zu bytes repack as %zu (%s)",
                 len, plen, desc->name);
        goto fail;
    }
    if (len > 0) {
        _cleanup_free_ uint8_t *again = malloc(len);
        if (again == NULL) {
            kk_error(err, KK_ERR_INTERNAL, ENOMEM, "checking a %zu-byte payload", len);
            goto fail;
        }
        if (protobuf_c_message_pack(m, again) != len || memcmp(again, payload, len) != 0) {
            kk_error(err, KK_ERR_INVALID, 0, "payload is not in canonical form (%s)", desc->name);
            goto fail;
        }
    }
    *out = m;
    return 0;
fail:
    protobuf_c_message_free_unpacked(m, NULL);
    return -1;
}
