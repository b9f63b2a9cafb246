/* libFuzzer target: arbitrary frame sequences through the helper dispatcher (HELLO, STATUS and a small
 * test table covering deny, error, fatal, fd, once and permit), as a helper would see them after
 * kk_ipc_recv. Checks: no crash, every passed fd closed, every reply a well-formed frame.
 * Input: [session u8] then repeated [ctl u8][len u16 le][len bytes]. session bit 0: the session starts
 * with a valid HELLO (so the fuzzer spends its time past the gate). ctl bit 0: an fd rides along;
 * bit 1: the bytes are [type u16 le][payload] and a valid header is built around them (so the fuzzer
 * reaches the handlers); otherwise they are the raw record. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/audit.h"
#include "ipc/dispatch.h"
#include "ipc/proto/helper.pb-c.h"

static int echo(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx, struct kk_err *err)
{
    const Kukeon__Ipc__Hello *h = (const Kukeon__Ipc__Hello *)msg;
    (void)ctx;
    kk_ipc_audit_name(req, "value", h->peer_role);
    if (strcmp(h->peer_role, "deny") == 0)
        return kk_ipc_deny(req, err, KK_IPC_DENY_POLICY, "refused \"%s\"", h->peer_role);
    if (strcmp(h->peer_role, "error") == 0)
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "not found");
    if (strcmp(h->peer_role, "fatal") == 0)
        return kk_ipc_fatal(req, err, "fatal on request");
    Kukeon__Ipc__HelloReply r = KUKEON__IPC__HELLO_REPLY__INIT;
    r.helper = h->peer_role;
    return kk_ipc_reply(req, &r.base, -1, err);
}

static int empty(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx, struct kk_err *err)
{
    (void)req;
    (void)msg;
    (void)ctx;
    (void)err;
    return 0;
}

static int unlock(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx, struct kk_err *err)
{
    (void)msg;
    (void)ctx;
    return kk_ipc_permit(req, 0x0103, true, err);
}

static const struct kk_ipc_dispatch fuzz_table[] = {
    {0x0101, "fuzz.echo", KK_IPC_PERMIT, false, &kukeon__ipc__hello__descriptor, echo},
    {0x0102, "fuzz.fd", KK_IPC_PERMIT | KK_IPC_ONCE, true, &kukeon__ipc__status_request__descriptor, empty},
    {0x0103, "fuzz.late", 0, false, &kukeon__ipc__status_reply__descriptor, empty},
    {0x0104, "fuzz.unlock", KK_IPC_PERMIT, false, &kukeon__ipc__status_request__descriptor, unlock},
};

static int sv[2] = {-1, -1};
static int devnull = -1;
static int audit_fd = -1;

static void setup_once(void)
{
    struct kk_err err;
    if (kk_ipc_socketpair(sv, &err) < 0)
        abort();
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    audit_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull < 0 || audit_fd < 0)
        abort();
}

/* Read every reply the server sent; each must decode as a frame. */
static void drain(void)
{
    static uint8_t buf[KK_IPC_MAX_FRAME + 1];
    static struct kk_ipc_msg m;
    for (;;) {
        ssize_t n = recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            abort();
        }
        struct kk_err err;
        if ((size_t)n > KK_IPC_MAX_FRAME || kk_ipc_decode(buf, (size_t)n, false, &m, &err) < 0)
            abort();
        if (!(m.hdr.type & KK_IPC_REPLY_BIT))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (sv[0] < 0)
        setup_once();
    static uint8_t record[KK_IPC_MAX_FRAME];
    static struct kk_ipc_msg msg;
    struct kk_err err;

    struct kk_audit audit;
    if (kk_audit_use_fd(&audit, "kuke-fuzz", audit_fd, &err) < 0)
        abort();
    struct kk_ipc_server srv;
    struct kk_ipc_server_opts opts = {.helper = "kuke-fuzz", .audit = &audit};
    if (kk_ipc_server_init(&srv, sv[1], fuzz_table, sizeof(fuzz_table) / sizeof(fuzz_table[0]), NULL, &opts,
                           &err) < 0)
        abort();

    uint32_t next_id = 1;
    if (size < 1)
        return 0;
    size_t pos = 1;
    if (data[0] & 1) {
        Kukeon__Ipc__Hello h = KUKEON__IPC__HELLO__INIT;
        h.protocol_version = KK_IPC_VERSION;
        h.peer_role = "api";
        size_t plen = protobuf_c_message_pack(&h.base, record + KK_IPC_HEADER_SIZE);
        struct kk_ipc_header hdr = {.length = (uint32_t)plen,
                                    .version = KK_IPC_VERSION,
                                    .type = KK_IPC_HELLO,
                                    .request_id = next_id++};
        kk_ipc_header_encode(&hdr, record);
        if (kk_ipc_decode(record, KK_IPC_HEADER_SIZE + plen, false, &msg, &err) < 0 ||
            kk_ipc_server_dispatch(&srv, &msg, &err) < 0)
            abort();
        drain();
    }
    while (size - pos >= 3) {
        uint8_t ctl = data[pos];
        size_t len = (size_t)data[pos + 1] | ((size_t)data[pos + 2] << 8);
        pos += 3;
        if (len > size - pos)
            len = size - pos;
        const uint8_t *chunk = data + pos;
        pos += len;
        bool with_fd = ctl & 1;

        size_t rlen;
        if ((ctl & 2) && len >= 2) {
            struct kk_ipc_header h = {
                .length = (uint32_t)(len - 2),
                .version = KK_IPC_VERSION,
                .type = (uint16_t)(chunk[0] | (chunk[1] << 8)),
                .request_id = next_id++,
                .flags = with_fd ? KK_IPC_F_FD : 0,
            };
            kk_ipc_header_encode(&h, record);
            memcpy(record + KK_IPC_HEADER_SIZE, chunk + 2, len - 2);
            rlen = KK_IPC_HEADER_SIZE + len - 2;
        } else {
            memcpy(record, chunk, len);
            rlen = len;
        }

        /* A frame kk_ipc_recv would refuse ends the helper before dispatch. */
        if (kk_ipc_decode(record, rlen, with_fd, &msg, &err) < 0)
            break;
        int fd = -1;
        if (with_fd) {
            fd = fcntl(devnull, F_DUPFD_CLOEXEC, 0);
            if (fd < 0)
                abort();
            msg.fd = fd;
        }
        int rc = kk_ipc_server_dispatch(&srv, &msg, &err);
        /* No handler of this table keeps an fd: the loop must have closed it. */
        if (fd >= 0 && fcntl(fd, F_GETFD) != -1)
            abort();
        if (msg.fd != -1)
            abort();
        drain();
        if (rc < 0)
            break;
    }
    return 0;
}
