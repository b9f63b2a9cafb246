/* Unit tests for ipc/frame.c over real SOCK_SEQPACKET socketpairs: round trips with and without an
 * fd, and each malformed record giving its own error, with every received fd closed (counted in
 * /proc/self/fd). Also the strict unpack that every receiver uses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc/frame.h"
#include "ipc/proto/helper.pb-c.h"

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

struct pair {
    int sv[2];
    int fds_before;
};

static int pair_setup(void **state)
{
    struct pair *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -1;
    p->fds_before = count_fds();
    struct kk_err err;
    if (kk_ipc_socketpair(p->sv, &err) < 0)
        return -1;
    *state = p;
    return 0;
}

static int pair_teardown(void **state)
{
    struct pair *p = *state;
    close(p->sv[0]);
    close(p->sv[1]);
    int after = count_fds();
    int before = p->fds_before;
    free(p);
    /* Every test ends with exactly the fds it started with: nothing received was left open. */
    return after == before ? 0 : -1;
}

/* Send a raw record with any number of fds, bypassing kk_ipc_send's own checks. */
static void send_raw(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    char cbuf[CMSG_SPACE(sizeof(int) * 16)];
    if (nfds > 0) {
        memset(cbuf, 0, sizeof(cbuf));
        mh.msg_control = cbuf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    assert_int_equal(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t)len);
}

static size_t frame(uint8_t *buf, uint32_t length, uint16_t version, uint16_t type, uint32_t id,
                    uint32_t flags, const void *payload, size_t plen)
{
    struct kk_ipc_header h = {
        .length = length, .version = version, .type = type, .request_id = id, .flags = flags};
    kk_ipc_header_encode(&h, buf);
    if (plen > 0)
        memcpy(buf + KK_IPC_HEADER_SIZE, payload, plen);
    return KK_IPC_HEADER_SIZE + plen;
}

/* Receive on sv[1] and expect failure with want in the message; the fd count must not change. */
static void expect_recv_error(struct pair *p, const char *want)
{
    static struct kk_ipc_msg m;
    struct kk_err err;
    int before = count_fds();
    assert_int_equal(kk_ipc_recv(p->sv[1], &m, &err), -1);
    if (strstr(err.msg, want) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", err.msg, want);
    assert_int_equal(m.fd, -1);
    assert_int_equal(count_fds(), before);
}

static void test_header_wire_order(void **state)
{
    (void)state;
    uint8_t b[KK_IPC_HEADER_SIZE];
    struct kk_ipc_header h = {.length = 0x04030201,
                              .version = 0x0605,
                              .type = 0x0807,
                              .request_id = 0x0c0b0a09,
                              .flags = 0x100f0e0d};
    kk_ipc_header_encode(&h, b);
    for (unsigned i = 0; i < KK_IPC_HEADER_SIZE; i++)
        assert_int_equal(b[i], i + 1);
}

static void test_round_trip_no_fd(void **state)
{
    struct pair *p = *state;
    struct kk_err err;
    Kukeon__Ipc__Hello hello = KUKEON__IPC__HELLO__INIT;
    hello.protocol_version = KK_IPC_VERSION;
    hello.peer_role = "api";
    assert_int_equal(kk_ipc_send(p->sv[0], KK_IPC_HELLO, 77, &hello.base, -1, &err), 0);

    static struct kk_ipc_msg m;
    assert_int_equal(kk_ipc_recv(p->sv[1], &m, &err), 0);
    assert_int_equal(m.hdr.version, KK_IPC_VERSION);
    assert_int_equal(m.hdr.type, KK_IPC_HELLO);
    assert_int_equal(m.hdr.request_id, 77);
    assert_int_equal(m.hdr.flags, 0);
    assert_int_equal(m.fd, -1);
    assert_int_equal(m.hdr.length, protobuf_c_message_get_packed_size(&hello.base));

    ProtobufCMessage *pm;
    assert_int_equal(kk_ipc_unpack(&kukeon__ipc__hello__descriptor, m.payload, m.hdr.length, &pm, &err), 0);
    const Kukeon__Ipc__Hello *got = (const Kukeon__Ipc__Hello *)pm;
    assert_int_equal(got->protocol_version, KK_IPC_VERSION);
    assert_string_equal(got->peer_role, "api");
    protobuf_c_message_free_unpacked(pm, NULL);

    /* An empty payload is a valid message of any all-default type. */
    assert_int_equal(kk_ipc_send(p->sv[0], KK_IPC_STATUS, 78, NULL, -1, &err), 0);
    assert_int_equal(kk_ipc_recv(p->sv[1], &m, &err), 0);
    assert_int_equal(m.hdr.length, 0);
    assert_int_equal(kk_ipc_unpack(&kukeon__ipc__status_request__descriptor, m.payload, 0, &pm, &err), 0);
    protobuf_c_message_free_unpacked(pm, NULL);
}

static void test_round_trip_with_fd(void **state)
{
    struct pair *p = *state;
    struct kk_err err;
    int pp[2];
    assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
    assert_int_equal(kk_ipc_send(p->sv[0], KK_IPC_STATUS, 5, NULL, pp[1], &err), 0);
    close(pp[1]);

    static struct kk_ipc_msg m;
    assert_int_equal(kk_ipc_recv(p->sv[1], &m, &err), 0);
    assert_int_equal(m.hdr.flags, KK_IPC_F_FD);
    assert_true(m.fd >= 0);
    assert_true(fcntl(m.fd, F_GETFD) & FD_CLOEXEC);
    assert_int_equal(write(m.fd, "x", 1), 1);
    char c = 0;
    assert_int_equal(read(pp[0], &c, 1), 1);
    assert_int_equal(c, 'x');
    kk_ipc_msg_release(&m);
    assert_int_equal(m.fd, -1);
    close(pp[0]);
}

static void test_truncated_header(void **state)
{
    struct pair *p = *state;
    uint8_t b[10] = {0};
    send_raw(p->sv[0], b, sizeof(b), NULL, 0);
    expect_recv_error(p, "truncated frame: 10 bytes, shorter than the 16-byte header");
}

static void test_truncated_payload(void **state)
{
    struct pair *p = *state;
    uint8_t b[64];
    size_t n = frame(b, 10, KK_IPC_VERSION, KK_IPC_STATUS, 1, 0, "abcd", 4);
    send_raw(p->sv[0], b, n, NULL, 0);
    expect_recv_error(p, "truncated frame: header announces 10 payload bytes, record carries 4");
}

static void test_wrong_length(void **state)
{
    struct pair *p = *state;
    uint8_t b[64];
    size_t n = frame(b, 2, KK_IPC_VERSION, KK_IPC_STATUS, 1, 0, "abcde", 5);
    send_raw(p->sv[0], b, n, NULL, 0);
    expect_recv_error(p, "wrong length: header announces 2 payload bytes, record carries 5");
}

static void test_oversized_record(void **state)
{
    struct pair *p = *state;
    int sz = 4 * KK_IPC_MAX_FRAME;
    assert_int_equal(setsockopt(p->sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz)), 0);
    size_t len = KK_IPC_MAX_FRAME + 1;
    uint8_t *b = calloc(1, len);
    assert_non_null(b);
    frame(b, KK_IPC_MAX_PAYLOAD + 1, KK_IPC_VERSION, KK_IPC_STATUS, 1, 0, NULL, 0);
    send_raw(p->sv[0], b, len, NULL, 0);
    free(b);
    expect_recv_error(p, "oversized frame: record of 65553 bytes");
}

static void test_oversized_length_field(void **state)
{
    (void)state;
    uint8_t b[KK_IPC_HEADER_SIZE];
    static struct kk_ipc_msg m;
    struct kk_err err;
    frame(b, KK_IPC_MAX_PAYLOAD + 1, KK_IPC_VERSION, KK_IPC_STATUS, 1, 0, NULL, 0);
    assert_int_equal(kk_ipc_decode(b, sizeof(b), false, &m, &err), -1);
    assert_non_null(strstr(err.msg, "oversized frame: header announces 65537 payload bytes"));
    frame(b, UINT32_MAX, KK_IPC_VERSION, KK_IPC_STATUS, 1, 0, NULL, 0);
    assert_int_equal(kk_ipc_decode(b, sizeof(b), false, &m, &err), -1);
    assert_non_null(strstr(err.msg, "oversized frame"));
}

static void test_unknown_version(void **state)
{
    struct pair *p = *state;
    uint8_t b[KK_IPC_HEADER_SIZE];
    frame(b, 0, 2, KK_IPC_STATUS, 9, 0, NULL, 0);
    send_raw(p->sv[0], b, sizeof(b), NULL, 0);
    expect_recv_error(p, "unknown protocol version 2 (this side speaks 1)");
    static struct kk_ipc_msg m;
    struct kk_err err;
    frame(b, 0, 0, KK_IPC_STATUS, 9, 0, NULL, 0);
    assert_int_equal(kk_ipc_decode(b, sizeof(b), false, &m, &err), -1);
    assert_int_equal(m.hdr.request_id, 9); /* kept for the audit line */
}

static void test_reserved_flags(void **state)
{
    struct pair *p = *state;
    uint8_t b[KK_IPC_HEADER_SIZE];
    static struct kk_ipc_msg m;
    struct kk_err err;
    for (unsigned bit = 1; bit < 32; bit++) {
        frame(b, 0, KK_IPC_VERSION, KK_IPC_STATUS, 1, 1u << bit, NULL, 0);
        assert_int_equal(kk_ipc_decode(b, sizeof(b), false, &m, &err), -1);
        assert_non_null(strstr(err.msg, "reserved flag bits"));
    }
    /* Over the socket, with an fd riding along: the fd must be closed too. */
    frame(b, 0, KK_IPC_VERSION, KK_IPC_STATUS, 1, KK_IPC_F_FD | 0x80000000u, NULL, 0);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    send_raw(p->sv[0], b, sizeof(b), &fd, 1);
    close(fd);
    expect_recv_error(p, "reserved flag bits 0x80000000 set");
}

static void test_type_zero(void **state)
{
    (void)state;
    uint8_t b[KK_IPC_HEADER_SIZE];
    static struct kk_ipc_msg m;
    struct kk_err err;
    frame(b, 0, KK_IPC_VERSION, 0, 1, 0, NULL, 0);
    assert_int_equal(kk_ipc_decode(b, sizeof(b), false, &m, &err), -1);
    assert_non_null(strstr(err.msg, "message type 0"));
    assert_int_equal(kk_ipc_send(0, 0, 1, NULL, -1, &err), -1);
}

static void test_fd_without_flag(void **state)
{
    struct pair *p = *state;
    uint8_t b[KK_IPC_HEADER_SIZE];
    frame(b, 0, KK_IPC_VERSION, KK_IPC_STATUS, 1, 0, NULL, 0);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    send_raw(p->sv[0], b, sizeof(b), &fd, 1);
    close(fd);
    expect_recv_error(p, "an fd arrived that the frame flags do not announce");
}

static void test_flag_without_fd(void **state)
{
    struct pair *p = *state;
    uint8_t b[KK_IPC_HEADER_SIZE];
    frame(b, 0, KK_IPC_VERSION, KK_IPC_STATUS, 1, KK_IPC_F_FD, NULL, 0);
    send_raw(p->sv[0], b, sizeof(b), NULL, 0);
    expect_recv_error(p, "frame flags announce an fd but none arrived");
}

static void test_two_fds(void **state)
{
    struct pair *p = *state;
    uint8_t b[KK_IPC_HEADER_SIZE];
    frame(b, 0, KK_IPC_VERSION, KK_IPC_STATUS, 1, KK_IPC_F_FD, NULL, 0);
    int fds[2] = {open("/dev/null", O_RDONLY | O_CLOEXEC), open("/dev/null", O_RDONLY | O_CLOEXEC)};
    send_raw(p->sv[0], b, sizeof(b), fds, 2);
    close(fds[0]);
    close(fds[1]);
    expect_recv_error(p, "2 fds arrived with one frame");
}

static void test_many_fds(void **state)
{
    struct pair *p = *state;
    uint8_t b[KK_IPC_HEADER_SIZE];
    frame(b, 0, KK_IPC_VERSION, KK_IPC_STATUS, 1, KK_IPC_F_FD, NULL, 0);
    int fds[12];
    for (int i = 0; i < 12; i++)
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    send_raw(p->sv[0], b, sizeof(b), fds, 12);
    for (int i = 0; i < 12; i++)
        close(fds[i]);
    expect_recv_error(p, "control data truncated");
}

static void test_peer_closed(void **state)
{
    struct pair *p = *state;
    static struct kk_ipc_msg m;
    struct kk_err err;
    close(p->sv[0]);
    p->sv[0] = open("/dev/null", O_RDONLY | O_CLOEXEC); /* keep teardown's close balanced */
    assert_int_equal(kk_ipc_recv(p->sv[1], &m, &err), -1);
    assert_int_equal(err.kind, KK_ERR_UNAVAILABLE);
    assert_string_equal(err.msg, "peer closed");
    assert_int_equal(err.errnum, 0);
    assert_int_equal(kk_ipc_send(p->sv[1], KK_IPC_STATUS, 1, NULL, -1, &err), -1);
    assert_int_equal(err.kind, KK_ERR_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "peer closed"));
}

static void test_send_cap(void **state)
{
    struct pair *p = *state;
    struct kk_err err;
    char *text = malloc(KK_IPC_MAX_PAYLOAD + 1);
    assert_non_null(text);
    memset(text, 'a', KK_IPC_MAX_PAYLOAD);
    text[KK_IPC_MAX_PAYLOAD] = '\0';
    Kukeon__Ipc__Denied d = KUKEON__IPC__DENIED__INIT;
    d.message = text;
    assert_int_equal(kk_ipc_send(p->sv[0], KK_IPC_DENIED, 1, &d.base, -1, &err), -1);
    assert_int_equal(err.kind, KK_ERR_INVALID);
    assert_non_null(strstr(err.msg, "over the 65536-byte cap"));
    /* The largest payload that fits goes through. */
    text[KK_IPC_MAX_PAYLOAD - 4] = '\0';
    assert_int_equal(protobuf_c_message_get_packed_size(&d.base), KK_IPC_MAX_PAYLOAD);
    assert_int_equal(kk_ipc_send(p->sv[0], KK_IPC_DENIED, 1, &d.base, -1, &err), 0);
    free(text);
    static struct kk_ipc_msg m;
    assert_int_equal(kk_ipc_recv(p->sv[1], &m, &err), 0);
    assert_int_equal(m.hdr.length, KK_IPC_MAX_PAYLOAD);
}

static void test_strict_unpack(void **state)
{
    (void)state;
    struct kk_err err;
    ProtobufCMessage *pm;
    /* Not protobuf at all: field 1 length-delimited, running past the end. */
    static const uint8_t garbage[] = {0x0a, 0x7f, 'x'};
    assert_int_equal(kk_ipc_unpack(&kukeon__ipc__hello__descriptor, garbage, sizeof(garbage), &pm, &err), -1);
    assert_non_null(strstr(err.msg, "does not unpack as kukeon.ipc.Hello"));
    assert_null(pm);
    /* Field 15 (varint) is not in Hello. */
    static const uint8_t unknown[] = {0x78, 0x01};
    assert_int_equal(kk_ipc_unpack(&kukeon__ipc__hello__descriptor, unknown, sizeof(unknown), &pm, &err), -1);
    assert_non_null(strstr(err.msg, "unknown field"));
    /* An unknown field inside a nested message. */
    static const uint8_t nested[] = {0x5a, 0x02, 0x78, 0x01};
    assert_int_equal(kk_ipc_unpack(&kukeon__ipc__status_reply__descriptor, nested, sizeof(nested), &pm, &err),
                     -1);
    assert_non_null(strstr(err.msg, "unknown field(s) in kukeon.ipc.StatusDetail"));
    /* protocol_version = 0 sent explicitly: proto3 would never pack it. */
    static const uint8_t explicit_zero[] = {0x08, 0x00};
    assert_int_equal(
        kk_ipc_unpack(&kukeon__ipc__hello__descriptor, explicit_zero, sizeof(explicit_zero), &pm, &err), -1);
    assert_non_null(strstr(err.msg, "canonical"));
    /* peer_role "ap\0i": unpack would silently see "ap". */
    static const uint8_t nul_string[] = {0x12, 0x04, 'a', 'p', 0, 'i'};
    assert_int_equal(
        kk_ipc_unpack(&kukeon__ipc__hello__descriptor, nul_string, sizeof(nul_string), &pm, &err), -1);
    assert_non_null(strstr(err.msg, "canonical"));
    /* protocol_version = 1 as an overlong varint. */
    static const uint8_t overlong[] = {0x08, 0x81, 0x00};
    assert_int_equal(kk_ipc_unpack(&kukeon__ipc__hello__descriptor, overlong, sizeof(overlong), &pm, &err),
                     -1);
    /* The same field twice: last one wins in protobuf, so it is refused here. */
    static const uint8_t twice[] = {0x08, 0x01, 0x08, 0x02};
    assert_int_equal(kk_ipc_unpack(&kukeon__ipc__hello__descriptor, twice, sizeof(twice), &pm, &err), -1);
    /* The canonical form unpacks. */
    static const uint8_t good[] = {0x08, 0x01, 0x12, 0x03, 'a', 'p', 'i'};
    assert_int_equal(kk_ipc_unpack(&kukeon__ipc__hello__descriptor, good, sizeof(good), &pm, &err), 0);
    assert_string_equal(((Kukeon__Ipc__Hello *)pm)->peer_role, "api");
    protobuf_c_message_free_unpacked(pm, NULL);
}

static void test_names(void **state)
{
    (void)state;
    char buf[24];
    assert_string_equal(kk_ipc_type_name(KK_IPC_HELLO, buf, sizeof(buf)), "HELLO");
    assert_string_equal(kk_ipc_type_name(KK_IPC_DENIED, buf, sizeof(buf)), "DENIED");
    assert_string_equal(kk_ipc_type_name(0x0104, buf, sizeof(buf)), "type 0x0104");
    assert_string_equal(kk_ipc_deny_reason_name(KK_IPC_DENY_OUTSIDE_ROOT), "outside-root");
    assert_string_equal(kk_ipc_deny_reason_name(KK_IPC_DENY_NOT_IN_TABLE), "not-in-table");
    assert_string_equal(kk_ipc_deny_reason_name(999), "unknown");
    assert_int_equal(KK_IPC_REPLY(KK_IPC_HELLO), KK_IPC_HELLO_REPLY);
    assert_int_equal(KK_IPC_REPLY(KK_IPC_STATUS), KK_IPC_STATUS_REPLY);
    assert_int_equal(KK_IPC_REPLY(0x7ffe), KK_IPC_DENIED);
    assert_int_equal(KK_IPC_REPLY(0x7fff), KK_IPC_ERROR);
}

#define PAIR_TEST(f) cmocka_unit_test_setup_teardown(f, pair_setup, pair_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_wire_order),
        PAIR_TEST(test_round_trip_no_fd),
        PAIR_TEST(test_round_trip_with_fd),
        PAIR_TEST(test_truncated_header),
        PAIR_TEST(test_truncated_payload),
        PAIR_TEST(test_wrong_length),
        PAIR_TEST(test_oversized_record),
        cmocka_unit_test(test_oversized_length_field),
        PAIR_TEST(test_unknown_version),
        PAIR_TEST(test_reserved_flags),
        cmocka_unit_test(test_type_zero),
        PAIR_TEST(test_fd_without_flag),
        PAIR_TEST(test_flag_without_fd),
        PAIR_TEST(test_two_fds),
        PAIR_TEST(test_many_fds),
        PAIR_TEST(test_peer_closed),
        PAIR_TEST(test_send_cap),
        cmocka_unit_test(test_strict_unpack),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
