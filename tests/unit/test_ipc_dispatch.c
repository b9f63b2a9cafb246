/* Unit tests for ipc/dispatch.c and ipc/client.c: the HELLO gate, the table and its permits, each
 * fatal case with its own message, DENIED and ERROR keeping the helper alive, the farewell ERROR, the
 * audit line of every decision; the whole loop run in a forked child as a helper would run it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/audit.h"
#include "ipc/client.h"
#include "ipc/dispatch.h"
#include "ipc/frame.h"
#include "ipc/proto/helper.pb-c.h"

#define T_ECHO   0x0101 /* Hello payload; the role field says what the handler does */
#define T_FD     0x0102 /* StatusRequest plus an fd; once */
#define T_LATE   0x0103 /* not permitted until T_UNLOCK */
#define T_UNLOCK 0x0104

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

struct test_ctx {
    int handled;
};

static int echo_handler(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                        struct kk_err *err)
{
    const Kukeon__Ipc__Hello *h = (const Kukeon__Ipc__Hello *)msg;
    struct test_ctx *c = ctx;
    c->handled++;
    kk_ipc_audit_name(req, "value", h->peer_role);
    if (strcmp(h->peer_role, "deny") == 0)
        return kk_ipc_deny(req, err, KK_IPC_DENY_INVALID_NAME, "cell name \"%s\" is invalid", "a/b");
    if (strcmp(h->peer_role, "error") == 0)
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "cell \"web\" not found");
    if (strcmp(h->peer_role, "fatal") == 0)
        return kk_ipc_fatal(req, err, "invariant broken");
    if (strcmp(h->peer_role, "silent") == 0)
        return 0;
    if (strcmp(h->peer_role, "quiet") == 0) {
        kk_ipc_quiet(req);
        return 0;
    }
    if (strcmp(h->peer_role, "quiet-error") == 0) {
        kk_ipc_quiet(req);
        return kk_error(err, KK_ERR_UNAVAILABLE, 0, "containerd is not reachable");
    }
    if (strcmp(h->peer_role, "twice") == 0) {
        Kukeon__Ipc__HelloReply r = KUKEON__IPC__HELLO_REPLY__INIT;
        if (kk_ipc_reply(req, &r.base, -1, err) < 0)
            return -1;
        return kk_ipc_reply(req, &r.base, -1, err);
    }
    Kukeon__Ipc__HelloReply r = KUKEON__IPC__HELLO_REPLY__INIT;
    r.helper = h->peer_role;
    r.pid = kk_ipc_request_id(req);
    return kk_ipc_reply(req, &r.base, -1, err);
}

static int fd_handler(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx, struct kk_err *err)
{
    (void)msg;
    (void)ctx;
    int fd = kk_ipc_request_fd(req);
    if (write(fd, "k", 1) != 1)
        return kk_error(err, KK_ERR_INTERNAL, errno, "writing to the passed fd");
    /* Hand the same fd back: the reply may carry one too. */
    Kukeon__Ipc__StatusRequest r = KUKEON__IPC__STATUS_REQUEST__INIT;
    return kk_ipc_reply(req, &r.base, fd, err);
}

static int late_handler(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                        struct kk_err *err)
{
    (void)req;
    (void)msg;
    (void)ctx;
    (void)err;
    return 0;
}

static int unlock_handler(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                          struct kk_err *err)
{
    (void)msg;
    (void)ctx;
    return kk_ipc_permit(req, T_LATE, true, err);
}

static int status_details(struct kk_ipc_status_details *d, void *ctx, struct kk_err *err)
{
    (void)ctx;
    return kk_ipc_status_add(d, "cgroup_root", "/sys/fs/cgroup/kukeon", err);
}

static const struct kk_ipc_dispatch test_table[] = {
    {T_ECHO, "test.echo", KK_IPC_PERMIT, false, &kukeon__ipc__hello__descriptor, echo_handler},
    {T_FD, "test.fd", KK_IPC_PERMIT | KK_IPC_ONCE, true, &kukeon__ipc__status_request__descriptor,
     fd_handler},
    {T_LATE, "test.late", 0, false, &kukeon__ipc__status_request__descriptor, late_handler},
    {T_UNLOCK, "test.unlock", KK_IPC_PERMIT, false, &kukeon__ipc__status_request__descriptor, unlock_handler},
};

/* One in-process server: the test plays the API side on sv[0] and steps the server on sv[1]. */
struct fixture {
    int sv[2];
    int fds_before;
    char dir[64];
    char log[96];
    struct kk_audit audit;
    struct kk_ipc_server srv;
    struct test_ctx ctx;
    uint32_t next_id;
};

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    f->fds_before = count_fds();
    memcpy(f->dir, "/tmp/kk-ipc-XXXXXX", sizeof("/tmp/kk-ipc-XXXXXX"));
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->log, sizeof(f->log), "%s/kuke-test.log", f->dir);
    struct kk_err err;
    if (kk_audit_open(&f->audit, "kuke-test", f->log, 0, &err) < 0 || kk_ipc_socketpair(f->sv, &err) < 0)
        return -1;
    struct kk_ipc_server_opts opts = {
        .helper = "kuke-test", .audit = &f->audit, .peer_role = NULL, .status = status_details};
    if (kk_ipc_server_init(&f->srv, f->sv[1], test_table, sizeof(test_table) / sizeof(test_table[0]), &f->ctx,
                           &opts, &err) < 0)
        return -1;
    f->next_id = 1;
    *state = f;
    return 0;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    close(f->sv[0]);
    close(f->sv[1]);
    kk_audit_close(&f->audit);
    unlink(f->log);
    rmdir(f->dir);
    int leaked = count_fds() - f->fds_before;
    free(f);
    return leaked == 0 ? 0 : -1;
}

/* The audit log's lines so far, and the last one. */
static int audit_lines(struct fixture *f, char *last, size_t size)
{
    FILE *fp = fopen(f->log, "r");
    assert_non_null(fp);
    char line[KK_AUDIT_LINE_MAX + 2];
    int n = 0;
    last[0] = '\0';
    while (fgets(line, sizeof(line), fp) != NULL) {
        n++;
        snprintf(last, size, "%s", line);
    }
    fclose(fp);
    return n;
}

static void expect_last_audit(struct fixture *f, int lines, const char *want)
{
    char last[KK_AUDIT_LINE_MAX + 2];
    assert_int_equal(audit_lines(f, last, sizeof(last)), lines);
    if (strstr(last, want) == NULL)
        fail_msg("audit line \"%s\" lacks \"%s\"", last, want);
}

static void send_msg(struct fixture *f, uint16_t type, const ProtobufCMessage *m, int fd)
{
    struct kk_err err;
    assert_int_equal(kk_ipc_send(f->sv[0], type, f->next_id++, m, fd, &err), 0);
}

/* One server step that must go on (want_rc 1) or be fatal (-1) with want in the message. */
static void step(struct fixture *f, int want_rc, const char *want)
{
    struct kk_err err;
    kk_err_clear(&err);
    int rc = kk_ipc_server_step(&f->srv, &err);
    if (rc != want_rc)
        fail_msg("step returned %d (%s), expected %d", rc, err.msg, want_rc);
    if (want != NULL && strstr(err.msg, want) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", err.msg, want);
}

static struct kk_ipc_msg reply_buf;

static struct kk_ipc_msg *read_reply(struct fixture *f, uint16_t want_type)
{
    struct kk_err err;
    assert_int_equal(kk_ipc_recv(f->sv[0], &reply_buf, &err), 0);
    if (reply_buf.hdr.type != want_type)
        fail_msg("reply type 0x%04x, expected 0x%04x", reply_buf.hdr.type, want_type);
    return &reply_buf;
}

static void expect_farewell(struct fixture *f, const char *want)
{
    struct kk_ipc_msg *m = read_reply(f, KK_IPC_ERROR);
    assert_int_equal(m->hdr.request_id, 0);
    ProtobufCMessage *pm;
    struct kk_err err;
    assert_int_equal(kk_ipc_unpack(&kukeon__ipc__error__descriptor, m->payload, m->hdr.length, &pm, &err), 0);
    const Kukeon__Ipc__Error *e = (const Kukeon__Ipc__Error *)pm;
    assert_int_equal(e->kind, KK_ERR_UNAVAILABLE);
    if (strstr(e->message, want) == NULL)
        fail_msg("farewell \"%s\" lacks \"%s\"", e->message, want);
    assert_non_null(strstr(e->message, "kuke-test ends the connection: "));
    protobuf_c_message_free_unpacked(pm, NULL);
    /* Dead: nothing more is served. */
    struct kk_err serr;
    assert_int_equal(kk_ipc_server_step(&f->srv, &serr), -1);
    assert_non_null(strstr(serr.msg, "already failed"));
}

static void hello(struct fixture *f)
{
    Kukeon__Ipc__Hello h = KUKEON__IPC__HELLO__INIT;
    h.protocol_version = KK_IPC_VERSION;
    h.peer_role = "api";
    send_msg(f, KK_IPC_HELLO, &h.base, -1);
    step(f, 1, NULL);
    struct kk_ipc_msg *m = read_reply(f, KK_IPC_HELLO_REPLY);
    ProtobufCMessage *pm;
    struct kk_err err;
    assert_int_equal(
        kk_ipc_unpack(&kukeon__ipc__hello_reply__descriptor, m->payload, m->hdr.length, &pm, &err), 0);
    const Kukeon__Ipc__HelloReply *r = (const Kukeon__Ipc__HelloReply *)pm;
    assert_string_equal(r->helper, "kuke-test");
    assert_int_equal(r->pid, (uint32_t)getpid());
    assert_int_equal(r->protocol_version, KK_IPC_VERSION);
    protobuf_c_message_free_unpacked(pm, NULL);
}

static void send_echo(struct fixture *f, const char *what)
{
    Kukeon__Ipc__Hello h = KUKEON__IPC__HELLO__INIT;
    h.peer_role = (char *)what;
    send_msg(f, T_ECHO, &h.base, -1);
}

static Kukeon__Ipc__StatusReply *status(struct fixture *f)
{
    send_msg(f, KK_IPC_STATUS, NULL, -1);
    step(f, 1, NULL);
    struct kk_ipc_msg *m = read_reply(f, KK_IPC_STATUS_REPLY);
    ProtobufCMessage *pm;
    struct kk_err err;
    assert_int_equal(
        kk_ipc_unpack(&kukeon__ipc__status_reply__descriptor, m->payload, m->hdr.length, &pm, &err), 0);
    return (Kukeon__Ipc__StatusReply *)pm;
}

/* ---- the HELLO gate ------------------------------------------------------------------------------ */

static void test_hello_then_status(void **state)
{
    struct fixture *f = *state;
    hello(f);
    expect_last_audit(f, 1, " helper=kuke-test request=1 op=hello peer_role=\"api\" decision=ok\n");
    Kukeon__Ipc__StatusReply *s = status(f);
    assert_string_equal(s->helper, "kuke-test");
    assert_int_equal(s->pid, (uint32_t)getpid());
    assert_int_equal(s->uid, (uint32_t)getuid());
    assert_int_equal(s->gid, (uint32_t)getgid());
    assert_int_equal(s->requests_served, 1);
    assert_int_equal(s->requests_denied, 0);
    assert_string_equal(s->peer_role, "api");
    assert_int_equal(s->n_details, 1);
    assert_string_equal(s->details[0]->key, "cgroup_root");
    assert_string_equal(s->details[0]->value, "/sys/fs/cgroup/kukeon");
    protobuf_c_message_free_unpacked(&s->base, NULL);
    expect_last_audit(f, 2, " request=2 op=status decision=ok\n");
}

static void test_request_before_hello(void **state)
{
    struct fixture *f = *state;
    send_msg(f, KK_IPC_STATUS, NULL, -1);
    step(f, -1, "STATUS (status) before HELLO");
    expect_farewell(f, "before HELLO");
    expect_last_audit(f, 1, " request=1 op=status decision=fatal reason=\"STATUS (status) before HELLO\"\n");
}

static void test_helper_request_before_hello(void **state)
{
    struct fixture *f = *state;
    send_echo(f, "x");
    step(f, -1, "type 0x0101 (test.echo) before HELLO");
    expect_farewell(f, "before HELLO");
    assert_int_equal(f->ctx.handled, 0);
}

static void test_second_hello(void **state)
{
    struct fixture *f = *state;
    hello(f);
    Kukeon__Ipc__Hello h = KUKEON__IPC__HELLO__INIT;
    h.protocol_version = KK_IPC_VERSION;
    h.peer_role = "api";
    send_msg(f, KK_IPC_HELLO, &h.base, -1);
    step(f, -1, "second HELLO");
    expect_farewell(f, "second HELLO");
    expect_last_audit(f, 2, " request=2 op=hello decision=fatal reason=\"second HELLO\"\n");
}

static void test_hello_bad_version_or_role(void **state)
{
    struct fixture *f = *state;
    Kukeon__Ipc__Hello h = KUKEON__IPC__HELLO__INIT;
    h.protocol_version = 2;
    h.peer_role = "api";
    send_msg(f, KK_IPC_HELLO, &h.base, -1);
    step(f, -1, "peer speaks protocol version 2, kuke-test speaks 1");
    expect_farewell(f, "protocol version 2");

    /* A fresh server, a role with a newline in it. */
    struct kk_ipc_server srv2;
    struct kk_err err;
    struct kk_ipc_server_opts opts = {.helper = "kuke-test"};
    assert_int_equal(kk_ipc_server_init(&srv2, f->sv[1], NULL, 0, NULL, &opts, &err), 0);
    h.protocol_version = KK_IPC_VERSION;
    h.peer_role = "api\nforged";
    send_msg(f, KK_IPC_HELLO, &h.base, -1);
    assert_int_equal(kk_ipc_server_step(&srv2, &err), -1);
    assert_non_null(strstr(err.msg, "peer role is not 1-31 bytes"));

    /* A helper that serves only role "api" refuses role "kuke". */
    opts.peer_role = "api";
    assert_int_equal(kk_ipc_server_init(&srv2, f->sv[1], NULL, 0, NULL, &opts, &err), 0);
    read_reply(f, KK_IPC_ERROR); /* the previous farewell */
    h.peer_role = "kuke";
    send_msg(f, KK_IPC_HELLO, &h.base, -1);
    assert_int_equal(kk_ipc_server_step(&srv2, &err), -1);
    assert_non_null(strstr(err.msg, "serves role api only"));
    read_reply(f, KK_IPC_ERROR);
}

/* ---- fatal cases --------------------------------------------------------------------------------- */

static void test_unknown_type(void **state)
{
    struct fixture *f = *state;
    hello(f);
    send_msg(f, 0x0199, NULL, -1);
    step(f, -1, "type 0x0199 is not in kuke-test's dispatch table");
    expect_farewell(f, "not in kuke-test's dispatch table");
    expect_last_audit(f, 2, " request=2 op=unknown type=\"0x0199\" decision=fatal");
}

static void test_reply_type_to_helper(void **state)
{
    struct fixture *f = *state;
    hello(f);
    send_msg(f, KK_IPC_DENIED, NULL, -1);
    step(f, -1, "DENIED is a reply; kuke-test serves requests only");
    expect_farewell(f, "serves requests only");
}

static void test_request_id_zero(void **state)
{
    struct fixture *f = *state;
    hello(f);
    struct kk_err err;
    assert_int_equal(kk_ipc_send(f->sv[0], KK_IPC_STATUS, 0, NULL, -1, &err), 0);
    step(f, -1, "request id 0");
    expect_farewell(f, "request id 0");
}

static void test_fd_where_none_belongs(void **state)
{
    struct fixture *f = *state;
    hello(f);
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    send_msg(f, KK_IPC_STATUS, NULL, fd);
    close(fd);
    int before = count_fds();
    step(f, -1, "STATUS (status) carries an fd where none belongs");
    assert_int_equal(count_fds(), before); /* received and closed again */
    expect_farewell(f, "carries an fd where none belongs");
}

static void test_no_fd_where_expected(void **state)
{
    struct fixture *f = *state;
    hello(f);
    send_msg(f, T_FD, NULL, -1);
    step(f, -1, "type 0x0102 (test.fd) expects an fd and none came");
    expect_farewell(f, "expects an fd");
}

static void test_payload_does_not_unpack(void **state)
{
    struct fixture *f = *state;
    hello(f);
    /* A Denied message is not a StatusRequest: its fields are unknown there. */
    Kukeon__Ipc__Denied d = KUKEON__IPC__DENIED__INIT;
    d.reason = 1;
    send_msg(f, KK_IPC_STATUS, &d.base, -1);
    step(f, -1, "STATUS (status): payload carries 1 unknown field(s)");
    expect_farewell(f, "unknown field");
}

static void test_payload_garbage(void **state)
{
    struct fixture *f = *state;
    hello(f);
    uint8_t b[KK_IPC_HEADER_SIZE + 3];
    struct kk_ipc_header h = {.length = 3, .version = KK_IPC_VERSION, .type = T_ECHO, .request_id = 9};
    kk_ipc_header_encode(&h, b);
    memcpy(b + KK_IPC_HEADER_SIZE, "\x0a\x7f\x00", 3);
    assert_int_equal(send(f->sv[0], b, sizeof(b), MSG_NOSIGNAL), (ssize_t)sizeof(b));
    step(f, -1, "does not unpack as kukeon.ipc.Hello");
    expect_farewell(f, "does not unpack");
    assert_int_equal(f->ctx.handled, 0);
}

static void test_malformed_frame_is_fatal(void **state)
{
    struct fixture *f = *state;
    hello(f);
    uint8_t b[KK_IPC_HEADER_SIZE];
    struct kk_ipc_header h = {
        .version = KK_IPC_VERSION, .type = KK_IPC_STATUS, .request_id = 5, .flags = 0x4};
    kk_ipc_header_encode(&h, b);
    assert_int_equal(send(f->sv[0], b, sizeof(b), MSG_NOSIGNAL), (ssize_t)sizeof(b));
    step(f, -1, "reserved flag bits 0x00000004");
    expect_farewell(f, "reserved flag bits");
    expect_last_audit(f, 2, " request=5 op=frame decision=fatal reason=\"reserved flag bits 0x00000004");
}

/* ---- DENIED, ERROR, permits, handler contracts ----------------------------------------------------- */

static void test_denied_keeps_loop_alive(void **state)
{
    struct fixture *f = *state;
    hello(f);
    send_echo(f, "deny");
    step(f, 1, NULL);
    struct kk_ipc_msg *m = read_reply(f, KK_IPC_DENIED);
    assert_int_equal(m->hdr.request_id, 2);
    ProtobufCMessage *pm;
    struct kk_err err;
    assert_int_equal(kk_ipc_unpack(&kukeon__ipc__denied__descriptor, m->payload, m->hdr.length, &pm, &err),
                     0);
    const Kukeon__Ipc__Denied *d = (const Kukeon__Ipc__Denied *)pm;
    assert_int_equal(d->reason, KK_IPC_DENY_INVALID_NAME);
    assert_string_equal(d->message, "cell name \"a/b\" is invalid");
    protobuf_c_message_free_unpacked(pm, NULL);
    expect_last_audit(f, 2,
                      " request=2 op=test.echo value=\"deny\" decision=denied "
                      "reason=\"invalid-name: cell name \\\"a/b\\\" is invalid\"\n");

    send_echo(f, "error");
    step(f, 1, NULL);
    m = read_reply(f, KK_IPC_ERROR);
    assert_int_equal(m->hdr.request_id, 3);
    expect_last_audit(
        f, 3, " op=test.echo value=\"error\" decision=error reason=\"NotFound: cell \\\"web\\\" not found\"");

    send_echo(f, "ok");
    step(f, 1, NULL);
    read_reply(f, KK_IPC_REPLY(T_ECHO));
    expect_last_audit(f, 4, " op=test.echo value=\"ok\" decision=ok\n");

    Kukeon__Ipc__StatusReply *s = status(f);
    assert_int_equal(s->requests_served, 4);
    assert_int_equal(s->requests_denied, 1);
    assert_int_equal(s->requests_failed, 1);
    protobuf_c_message_free_unpacked(&s->base, NULL);
    assert_int_equal(f->ctx.handled, 3);
}

static void test_empty_reply_when_handler_sends_none(void **state)
{
    struct fixture *f = *state;
    hello(f);
    send_echo(f, "silent");
    step(f, 1, NULL);
    struct kk_ipc_msg *m = read_reply(f, KK_IPC_REPLY(T_ECHO));
    assert_int_equal(m->hdr.length, 0);
}

/* A quiet success (a poll that found nothing) writes no audit line; a quiet request that fails is
 * recorded all the same, and both are counted. */
static void test_quiet_success_only(void **state)
{
    struct fixture *f = *state;
    hello(f);
    send_echo(f, "quiet");
    step(f, 1, NULL);
    read_reply(f, KK_IPC_REPLY(T_ECHO));
    expect_last_audit(f, 1, " op=hello ");
    send_echo(f, "quiet-error");
    step(f, 1, NULL);
    read_reply(f, KK_IPC_ERROR);
    expect_last_audit(f, 2, " op=test.echo value=\"quiet-error\" decision=error");
    Kukeon__Ipc__StatusReply *st = status(f);
    assert_int_equal(st->requests_served, 3);
    assert_int_equal(st->requests_failed, 1);
    protobuf_c_message_free_unpacked(&st->base, NULL);
}

static void test_handler_fatal_and_double_reply(void **state)
{
    struct fixture *f = *state;
    hello(f);
    send_echo(f, "fatal");
    step(f, -1, "invariant broken");
    expect_farewell(f, "invariant broken");
    expect_last_audit(f, 2, " op=test.echo value=\"fatal\" decision=fatal reason=\"invariant broken\"\n");
}

static void test_double_reply_is_fatal(void **state)
{
    struct fixture *f = *state;
    hello(f);
    send_echo(f, "twice");
    step(f, -1, "a second answer to one request");
    read_reply(f, KK_IPC_REPLY(T_ECHO));
    expect_farewell(f, "second answer");
}

static void test_escaping_in_audit(void **state)
{
    struct fixture *f = *state;
    hello(f);
    send_echo(f, "x\ny\" decision=ok \xff\xfe");
    step(f, 1, NULL);
    read_reply(f, KK_IPC_REPLY(T_ECHO));
    expect_last_audit(f, 2, " op=test.echo value=\"x\\x0ay\\\" decision=ok \\xff\\xfe\" decision=ok\n");
}

static void test_fd_request_once(void **state)
{
    struct fixture *f = *state;
    hello(f);
    int pp[2];
    assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
    send_msg(f, T_FD, NULL, pp[1]);
    step(f, 1, NULL);
    struct kk_ipc_msg *m = read_reply(f, KK_IPC_REPLY(T_FD));
    assert_true(m->fd >= 0);
    kk_ipc_msg_release(m);
    char c;
    assert_int_equal(read(pp[0], &c, 1), 1);
    assert_int_equal(c, 'k');

    send_msg(f, T_FD, NULL, pp[1]);
    step(f, -1, "type 0x0102 (test.fd) is not permitted now");
    expect_farewell(f, "not permitted now");
    close(pp[0]);
    close(pp[1]);
}

static void test_permit(void **state)
{
    struct fixture *f = *state;
    hello(f);
    send_msg(f, T_UNLOCK, NULL, -1);
    step(f, 1, NULL);
    read_reply(f, KK_IPC_REPLY(T_UNLOCK));
    send_msg(f, T_LATE, NULL, -1);
    step(f, 1, NULL);
    read_reply(f, KK_IPC_REPLY(T_LATE));

    /* Without the unlock, the same request is fatal. */
    struct kk_ipc_server srv2;
    struct kk_err err;
    struct kk_ipc_server_opts opts = {.helper = "kuke-test"};
    assert_int_equal(kk_ipc_server_init(&srv2, f->sv[1], test_table, 4, &f->ctx, &opts, &err), 0);
    Kukeon__Ipc__Hello h = KUKEON__IPC__HELLO__INIT;
    h.protocol_version = KK_IPC_VERSION;
    h.peer_role = "api";
    send_msg(f, KK_IPC_HELLO, &h.base, -1);
    assert_int_equal(kk_ipc_server_step(&srv2, &err), 1);
    read_reply(f, KK_IPC_HELLO_REPLY);
    send_msg(f, T_LATE, NULL, -1);
    assert_int_equal(kk_ipc_server_step(&srv2, &err), -1);
    assert_non_null(strstr(err.msg, "(test.late) is not permitted now"));
    read_reply(f, KK_IPC_ERROR);
}

static void test_peer_closed_ends_quietly(void **state)
{
    struct fixture *f = *state;
    hello(f);
    close(f->sv[0]);
    f->sv[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct kk_err err;
    assert_int_equal(kk_ipc_server_step(&f->srv, &err), 0);
    expect_last_audit(f, 1, "op=hello");
}

static void test_bad_tables(void **state)
{
    (void)state;
    struct kk_ipc_server srv;
    struct kk_err err;
    struct kk_ipc_server_opts opts = {.helper = "kuke-test"};
    struct kk_ipc_dispatch t[2] = {test_table[0], test_table[1]};
    assert_int_equal(kk_ipc_server_init(&srv, -1, t, 2, NULL, &opts, &err), 0);

    t[1].type = T_ECHO;
    assert_int_equal(kk_ipc_server_init(&srv, -1, t, 2, NULL, &opts, &err), -1);
    assert_non_null(strstr(err.msg, "appears twice"));
    t[1] = test_table[1];
    t[1].type = KK_IPC_STATUS;
    assert_int_equal(kk_ipc_server_init(&srv, -1, t, 2, NULL, &opts, &err), -1);
    assert_non_null(strstr(err.msg, "outside the helper request ranges"));
    t[1].type = KK_IPC_REPLY(0x0105);
    assert_int_equal(kk_ipc_server_init(&srv, -1, t, 2, NULL, &opts, &err), -1);
    t[1] = test_table[1];
    t[1].flags = 0x10;
    assert_int_equal(kk_ipc_server_init(&srv, -1, t, 2, NULL, &opts, &err), -1);
    assert_non_null(strstr(err.msg, "unknown flags"));
    t[1] = test_table[1];
    t[1].handler = NULL;
    assert_int_equal(kk_ipc_server_init(&srv, -1, t, 2, NULL, &opts, &err), -1);
    t[1] = test_table[1];
    t[1].name = "Bad Name";
    assert_int_equal(kk_ipc_server_init(&srv, -1, t, 2, NULL, &opts, &err), -1);
    opts.helper = "";
    assert_int_equal(kk_ipc_server_init(&srv, -1, test_table, 1, NULL, &opts, &err), -1);
    opts.helper = "kuke-test";
    assert_int_equal(kk_ipc_server_init(&srv, -1, test_table, KK_IPC_MAX_ENTRIES + 1, NULL, &opts, &err), -1);
    /* A server whose init failed serves nothing. */
    assert_int_equal(kk_ipc_server_step(&srv, &err), -1);
}

/* ---- the real loop in a child, driven by the client functions ------------------------------------ */

static pid_t spawn_server(int sv[2], const char *log)
{
    struct kk_err err;
    assert_int_equal(kk_ipc_socketpair(sv, &err), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        struct kk_audit audit;
        struct test_ctx ctx = {0};
        if (kk_audit_open(&audit, "kuke-test", log, 0, &err) < 0)
            _exit(3);
        struct kk_ipc_server_opts opts = {.helper = "kuke-test", .audit = &audit, .peer_role = "api"};
        int rc =
            kk_ipc_serve(sv[1], test_table, sizeof(test_table) / sizeof(test_table[0]), &ctx, &opts, &err);
        _exit(rc == 0 ? 0 : 1);
    }
    close(sv[1]);
    return pid;
}

static int wait_exit(pid_t pid)
{
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_forked_helper(void **state)
{
    struct fixture *f = *state;
    int sv[2];
    pid_t pid = spawn_server(sv, f->log);
    struct kk_err err;
    char name[32];
    assert_int_equal(kk_ipc_hello(sv[0], "api", name, sizeof(name), &err), 0);
    assert_string_equal(name, "kuke-test");

    Kukeon__Ipc__StatusReply *s;
    assert_int_equal(kk_ipc_status(sv[0], &s, &err), 0);
    assert_int_equal(s->pid, (uint32_t)pid);
    assert_int_equal(s->requests_served, 1);
    protobuf_c_message_free_unpacked(&s->base, NULL);

    /* DENIED comes back as KK_ERR_DENIED with the helper's message and reason. */
    Kukeon__Ipc__Hello h = KUKEON__IPC__HELLO__INIT;
    h.peer_role = "deny";
    ProtobufCMessage *reply;
    assert_int_equal(
        kk_ipc_call(sv[0], T_ECHO, &h.base, -1, &kukeon__ipc__hello_reply__descriptor, &reply, &err), -1);
    assert_int_equal(err.kind, KK_ERR_DENIED);
    assert_string_equal(err.msg, "cell name \"a/b\" is invalid (invalid-name)");
    assert_null(reply);

    h.peer_role = "error";
    assert_int_equal(
        kk_ipc_call(sv[0], T_ECHO, &h.base, -1, &kukeon__ipc__hello_reply__descriptor, &reply, &err), -1);
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);
    assert_string_equal(err.msg, "cell \"web\" not found");

    h.peer_role = "hi";
    assert_int_equal(
        kk_ipc_call(sv[0], T_ECHO, &h.base, -1, &kukeon__ipc__hello_reply__descriptor, &reply, &err), 0);
    assert_string_equal(((Kukeon__Ipc__HelloReply *)reply)->helper, "hi");
    protobuf_c_message_free_unpacked(reply, NULL);

    /* An fd in both directions. */
    int pp[2];
    assert_int_equal(pipe2(pp, O_CLOEXEC), 0);
    int back = -1;
    assert_int_equal(kk_ipc_call_fd(sv[0], T_FD, NULL, pp[1], &kukeon__ipc__status_request__descriptor,
                                    &reply, &back, &err),
                     0);
    protobuf_c_message_free_unpacked(reply, NULL);
    assert_true(back >= 0);
    assert_int_equal(write(back, "z", 1), 1);
    char buf[2];
    assert_int_equal(read(pp[0], buf, 2), 2);
    assert_memory_equal(buf, "kz", 2);
    close(back);
    close(pp[0]);
    close(pp[1]);

    /* Then a request the table does not know: the helper says why and exits non-zero. */
    assert_int_equal(kk_ipc_call(sv[0], 0x01ff, NULL, -1, NULL, NULL, &err), -1);
    assert_int_equal(err.kind, KK_ERR_UNAVAILABLE);
    assert_string_equal(err.msg,
                        "kuke-test ends the connection: type 0x01ff is not in kuke-test's dispatch table");
    assert_int_equal(wait_exit(pid), 1);
    assert_int_equal(kk_ipc_call(sv[0], KK_IPC_STATUS, NULL, -1, NULL, NULL, &err), -1);
    assert_int_equal(err.kind, KK_ERR_UNAVAILABLE);
    close(sv[0]);

    char last[KK_AUDIT_LINE_MAX + 2];
    assert_int_equal(audit_lines(f, last, sizeof(last)), 7);
    assert_non_null(strstr(last, " op=unknown type=\"0x01ff\" decision=fatal "));
}

static void test_forked_helper_clean_exit(void **state)
{
    struct fixture *f = *state;
    int sv[2];
    pid_t pid = spawn_server(sv, f->log);
    struct kk_err err;
    char name[32];
    assert_int_equal(kk_ipc_hello(sv[0], "api", name, sizeof(name), &err), 0);
    close(sv[0]);
    assert_int_equal(wait_exit(pid), 0);

    /* A peer that does not say HELLO first ends the helper with a non-zero status. */
    pid = spawn_server(sv, f->log);
    assert_int_equal(kk_ipc_status(sv[0], &(Kukeon__Ipc__StatusReply *){NULL}, &err), -1);
    assert_int_equal(err.kind, KK_ERR_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "before HELLO"));
    assert_int_equal(wait_exit(pid), 1);
    close(sv[0]);

    /* A role the helper does not serve. */
    pid = spawn_server(sv, f->log);
    assert_int_equal(kk_ipc_hello(sv[0], "kuke", name, sizeof(name), &err), -1);
    assert_non_null(strstr(err.msg, "serves role api only"));
    assert_int_equal(wait_exit(pid), 1);
    close(sv[0]);
}

#define FIXTURE_TEST(t) cmocka_unit_test_setup_teardown(t, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        FIXTURE_TEST(test_hello_then_status),
        FIXTURE_TEST(test_request_before_hello),
        FIXTURE_TEST(test_helper_request_before_hello),
        FIXTURE_TEST(test_second_hello),
        FIXTURE_TEST(test_hello_bad_version_or_role),
        FIXTURE_TEST(test_unknown_type),
        FIXTURE_TEST(test_reply_type_to_helper),
        FIXTURE_TEST(test_request_id_zero),
        FIXTURE_TEST(test_fd_where_none_belongs),
        FIXTURE_TEST(test_no_fd_where_expected),
        FIXTURE_TEST(test_payload_does_not_unpack),
        FIXTURE_TEST(test_payload_garbage),
        FIXTURE_TEST(test_malformed_frame_is_fatal),
        FIXTURE_TEST(test_denied_keeps_loop_alive),
        FIXTURE_TEST(test_empty_reply_when_handler_sends_none),
        FIXTURE_TEST(test_quiet_success_only),
        FIXTURE_TEST(test_handler_fatal_and_double_reply),
        FIXTURE_TEST(test_double_reply_is_fatal),
        FIXTURE_TEST(test_escaping_in_audit),
        FIXTURE_TEST(test_fd_request_once),
        FIXTURE_TEST(test_permit),
        FIXTURE_TEST(test_peer_closed_ends_quietly),
        cmocka_unit_test(test_bad_tables),
        FIXTURE_TEST(test_forked_helper),
        FIXTURE_TEST(test_forked_helper_clean_exit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
