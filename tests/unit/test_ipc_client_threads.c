/* Unit test for the per-socket lock of ipc/client.c: several threads calling kk_ipc_call on one
 * SOCK_SEQPACKET socket at once each get the reply to their own request. The peer is a plain
 * thread that answers one request at a time, slowly, as a helper does; without the lock the
 * threads would read each other's replies (a request id mismatch). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ipc/client.h"
#include "ipc/frame.h"
#include "ipc/proto/helper.pb-c.h"

#define CALLERS 8
#define CALLS   5

struct peer {
    int sock;
    int served;
};

/* Answer every STATUS with a StatusReply whose pid is the request id, after 2 ms. */
static void *peer_main(void *arg)
{
    struct peer *p = arg;
    for (;;) {
        struct kk_ipc_msg *m = malloc(sizeof(*m));
        struct kk_err err = {0};
        if (m == NULL || kk_ipc_recv(p->sock, m, &err) < 0) {
            free(m);
            return NULL;
        }
        struct timespec ts = {0, 2 * 1000 * 1000};
        nanosleep(&ts, NULL);
        Kukeon__Ipc__StatusReply r = KUKEON__IPC__STATUS_REPLY__INIT;
        r.pid = (int32_t)m->hdr.request_id;
        uint32_t id = m->hdr.request_id;
        free(m);
        if (kk_ipc_send(p->sock, KK_IPC_REPLY(KK_IPC_STATUS), id, &r.base, -1, &err) < 0)
            return NULL;
        p->served++;
    }
}

struct caller {
    int sock;
    int ok;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    for (int i = 0; i < CALLS; i++) {
        ProtobufCMessage *reply = NULL;
        struct kk_err err = {0};
        if (kk_ipc_call(c->sock, KK_IPC_STATUS, NULL, -1, &kukeon__ipc__status_reply__descriptor, &reply,
                        &err) == 0) {
            c->ok++;
            protobuf_c_message_free_unpacked(reply, NULL);
        } else {
            fprintf(stderr, "call failed: %s\n", err.msg);
        }
    }
    return NULL;
}

static void test_concurrent_calls_get_their_own_replies(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    struct peer p = {.sock = sv[1]};
    pthread_t pt;
    assert_int_equal(pthread_create(&pt, NULL, peer_main, &p), 0);

    struct caller c[CALLERS];
    pthread_t ct[CALLERS];
    for (int i = 0; i < CALLERS; i++) {
        c[i] = (struct caller){.sock = sv[0]};
        assert_int_equal(pthread_create(&ct[i], NULL, caller_main, &c[i]), 0);
    }
    for (int i = 0; i < CALLERS; i++) {
        pthread_join(ct[i], NULL);
        assert_int_equal(c[i].ok, CALLS);
    }
    /* Closing our end ends the peer's receive. */
    close(sv[0]);
    pthread_join(pt, NULL);
    assert_int_equal(p.served, CALLERS * CALLS);
    close(sv[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_calls_get_their_own_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
