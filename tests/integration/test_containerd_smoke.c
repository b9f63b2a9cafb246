/* Smoke test of kuke-ctrd's gRPC transport (ctrd_rpc) against the harness's private containerd:
 * version, the namespace lifecycle with its error kinds, streams (full, stopped, failed, timed out), and
 * the errors a caller sees when containerd is not there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "github.com/containerd/containerd/api/services/containers/v1/containers.pb-c.h"
#include "github.com/containerd/containerd/api/services/events/v1/events.pb-c.h"
#include "github.com/containerd/containerd/api/services/namespaces/v1/namespace.pb-c.h"
#include "github.com/containerd/containerd/api/services/version/v1/version.pb-c.h"
#include "google/protobuf/empty.pb-c.h"

#include "common/util.h"
#include "kuke-ctrd/ctrd_rpc.h"

#define SVC_VERSION    (&containerd__services__version__v1__version__descriptor)
#define SVC_NAMESPACES (&containerd__services__namespaces__v1__namespaces__descriptor)
#define SVC_CONTAINERS (&containerd__services__containers__v1__containers__descriptor)
#define SVC_EVENTS     (&containerd__services__events__v1__events__descriptor)

#define LABEL_KEY   "io.kukeon/test"
#define LABEL_VALUE "smoke"
#define N_RECORDS   3

struct fixture {
    struct ctrd_conn *conn;
    char ns[128];
};

static const char *containerd_socket(void)
{
    const char *s = getenv("KUKEON_TEST_CONTAINERD_SOCKET");
    return (s != NULL && s[0] != '\0') ? s : NULL;
}

/* Skipping is loud: the reason goes to the TAP stream, where the runner prints it. */
#define REQUIRE_CONTAINERD()                                                                                 \
    do {                                                                                                     \
        if (containerd_socket() == NULL) {                                                                   \
            const char *why_ = getenv("KUKEON_TEST_SKIP_REASON");                                            \
            printf("# SKIP %s\n",                                                                            \
                   why_ != NULL && why_[0] != '\0'                                                           \
                       ? why_                                                                                \
                       : "KUKEON_TEST_CONTAINERD_SOCKET is not set; run through tests/run.sh");              \
            fflush(stdout);                                                                                  \
            skip();                                                                                          \
        }                                                                                                    \
    } while (0)

/* A call that must succeed: on failure, show containerd's message before failing. */
#define MUST(call, errp)                                                                                     \
    do {                                                                                                     \
        if ((call) < 0) {                                                                                    \
            printf("# %s failed: %s (%s)\n", #call, (errp)->msg, kk_err_kind_name((errp)->kind));            \
            fail();                                                                                          \
        }                                                                                                    \
    } while (0)

static void expect_error(int rc, const struct kk_err *err, enum kk_err_kind kind, const char *needle)
{
    printf("# error: %s (%s)\n", err->msg, kk_err_kind_name(err->kind));
    assert_int_equal(rc, -1);
    assert_string_equal(kk_err_kind_name(err->kind), kk_err_kind_name(kind));
    if (needle != NULL && strstr(err->msg, needle) == NULL)
        fail_msg("error message \"%s\" does not contain \"%s\"", err->msg, needle);
}

static const char *test_prefix(void)
{
    static char fallback[32];
    const char *p = getenv("KUKEON_TEST_PREFIX");
    if (p != NULL && p[0] != '\0')
        return p;
    snprintf(fallback, sizeof(fallback), "kt%ld", (long)getpid());
    return fallback;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- fixtures -------------------------------------------------------------------------------------- */

static int fixture_open(void **state, const char *ns_suffix)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    if (fx == NULL)
        return -1;
    snprintf(fx->ns, sizeof(fx->ns), "%s-%s.kukeon.io", test_prefix(), ns_suffix);
    if (containerd_socket() != NULL) {
        struct kk_err err;
        fx->conn = ctrd_conn_open(containerd_socket(), &err);
        if (fx->conn == NULL) {
            printf("# ctrd_conn_open: %s\n", err.msg);
            free(fx);
            return -1;
        }
    }
    *state = fx;
    return 0;
}

static int setup_smoke(void **state)
{
    return fixture_open(state, "smoke");
}

static int setup_stream(void **state)
{
    return fixture_open(state, "stream");
}

static int delete_namespace(struct ctrd_conn *conn, const char *ns, struct kk_err *err)
{
    Containerd__Services__Namespaces__V1__DeleteNamespaceRequest req =
        CONTAINERD__SERVICES__NAMESPACES__V1__DELETE_NAMESPACE_REQUEST__INIT;
    req.name = (char *)ns;
    /* Create and Delete publish an event, which needs a namespace: the one they act on, as ctr does. */
    return ctrd_unary(conn, SVC_NAMESPACES, "Delete", ns, NULL, &req.base, NULL, CTRD_TIMEOUT_DEFAULT_MS,
                      err);
}

static int delete_record(struct ctrd_conn *conn, const char *ns, const char *id, struct kk_err *err)
{
    Containerd__Services__Containers__V1__DeleteContainerRequest req =
        CONTAINERD__SERVICES__CONTAINERS__V1__DELETE_CONTAINER_REQUEST__INIT;
    req.id = (char *)id;
    return ctrd_unary(conn, SVC_CONTAINERS, "Delete", ns, NULL, &req.base, NULL, CTRD_TIMEOUT_DEFAULT_MS,
                      err);
}

static void record_id(char *buf, size_t size, int i)
{
    snprintf(buf, size, "%s-rec%d", test_prefix(), i);
}

/* Runs even when the test failed half-way: whatever the test made in containerd goes. */
static int teardown_fixture(void **state)
{
    struct fixture *fx = *state;
    int ret = 0;
    if (fx->conn != NULL) {
        struct kk_err err;
        for (int i = 0; i < N_RECORDS; i++) {
            char id[64];
            record_id(id, sizeof(id), i);
            if (delete_record(fx->conn, fx->ns, id, &err) < 0 && err.kind != KK_ERR_NOT_FOUND) {
                printf("# teardown: %s\n", err.msg);
                ret = -1;
            }
        }
        if (delete_namespace(fx->conn, fx->ns, &err) < 0 && err.kind != KK_ERR_NOT_FOUND) {
            printf("# teardown: %s\n", err.msg);
            ret = -1;
        }
        ctrd_conn_close(fx->conn);
    }
    free(fx);
    return ret;
}

/* ---- helpers ---------------------------------------------------------------------------------------- */

/* 1 when the namespace is listed (and *label_ok says whether it carries the test label), else 0. */
static int namespace_listed(struct ctrd_conn *conn, const char *ns, bool *label_ok, struct kk_err *err)
{
    Containerd__Services__Namespaces__V1__ListNamespacesRequest req =
        CONTAINERD__SERVICES__NAMESPACES__V1__LIST_NAMESPACES_REQUEST__INIT;
    ProtobufCMessage *reply = NULL;
    if (ctrd_unary(conn, SVC_NAMESPACES, "List", NULL, NULL, &req.base, &reply, CTRD_TIMEOUT_DEFAULT_MS,
                   err) < 0)
        return -1;
    Containerd__Services__Namespaces__V1__ListNamespacesResponse *list = (void *)reply;
    int found = 0;
    *label_ok = false;
    for (size_t i = 0; i < list->n_namespaces; i++) {
        const Containerd__Services__Namespaces__V1__Namespace *n = list->namespaces[i];
        if (strcmp(n->name, ns) != 0)
            continue;
        found = 1;
        for (size_t j = 0; j < n->n_labels; j++)
            if (strcmp(n->labels[j]->key, LABEL_KEY) == 0 && strcmp(n->labels[j]->value, LABEL_VALUE) == 0)
                *label_ok = true;
    }
    protobuf_c_message_free_unpacked(reply, NULL);
    return found;
}

static int create_namespace(struct ctrd_conn *conn, const char *ns, struct kk_err *err)
{
    Containerd__Services__Namespaces__V1__Namespace__LabelsEntry label =
        CONTAINERD__SERVICES__NAMESPACES__V1__NAMESPACE__LABELS_ENTRY__INIT;
    label.key = LABEL_KEY;
    label.value = LABEL_VALUE;
    Containerd__Services__Namespaces__V1__Namespace__LabelsEntry *labels[] = {&label};
    Containerd__Services__Namespaces__V1__Namespace n = CONTAINERD__SERVICES__NAMESPACES__V1__NAMESPACE__INIT;
    n.name = (char *)ns;
    n.n_labels = 1;
    n.labels = labels;
    Containerd__Services__Namespaces__V1__CreateNamespaceRequest req =
        CONTAINERD__SERVICES__NAMESPACES__V1__CREATE_NAMESPACE_REQUEST__INIT;
    req.namespace_ = &n;
    ProtobufCMessage *reply = NULL;
    if (ctrd_unary(conn, SVC_NAMESPACES, "Create", ns, NULL, &req.base, &reply, CTRD_TIMEOUT_DEFAULT_MS,
                   err) < 0)
        return -1;
    Containerd__Services__Namespaces__V1__CreateNamespaceResponse *created = (void *)reply;
    int ok = created->namespace_ != NULL && strcmp(created->namespace_->name, ns) == 0;
    protobuf_c_message_free_unpacked(reply, NULL);
    return ok ? 0 : kk_error(err, KK_ERR_INTERNAL, 0, "Namespaces.Create answered with another namespace");
}

/* A container record only (no snapshot, no task): enough to give a list stream several messages. */
static int create_record(struct ctrd_conn *conn, const char *ns, const char *id, struct kk_err *err)
{
    static const char spec_json[] = "{}";
    Google__Protobuf__Any spec = GOOGLE__PROTOBUF__ANY__INIT;
    spec.type_url = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
    spec.value.data = (uint8_t *)spec_json;
    spec.value.len = sizeof(spec_json) - 1;
    Containerd__Services__Containers__V1__Container__Runtime runtime =
        CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__RUNTIME__INIT;
    runtime.name = "io.containerd.runc.v2";
    Containerd__Services__Containers__V1__Container c = CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__INIT;
    c.id = (char *)id;
    c.runtime = &runtime;
    c.spec = &spec;
    Containerd__Services__Containers__V1__CreateContainerRequest req =
        CONTAINERD__SERVICES__CONTAINERS__V1__CREATE_CONTAINER_REQUEST__INIT;
    req.container = &c;
    return ctrd_unary(conn, SVC_CONTAINERS, "Create", ns, NULL, &req.base, NULL, CTRD_TIMEOUT_DEFAULT_MS,
                      err);
}

struct list_seen {
    int count;
    int stop_after; /* 0: never */
    bool fail;      /* the callback reports an error on the first message */
    char ids[N_RECORDS + 1][64];
};

static int on_container(const ProtobufCMessage *msg, void *opaque, struct kk_err *err)
{
    struct list_seen *seen = opaque;
    const Containerd__Services__Containers__V1__ListContainerMessage *m = (const void *)msg;
    if (seen->fail)
        return kk_error(err, KK_ERR_DENIED, 0, "callback refused container %s", m->container->id);
    if (seen->count <= N_RECORDS && m->container != NULL)
        snprintf(seen->ids[seen->count], sizeof(seen->ids[0]), "%s", m->container->id);
    seen->count++;
    if (seen->stop_after > 0 && seen->count >= seen->stop_after)
        return CTRD_STREAM_STOP;
    return CTRD_STREAM_CONTINUE;
}

static int list_records(struct ctrd_conn *conn, const char *ns, struct list_seen *seen, struct kk_err *err)
{
    Containerd__Services__Containers__V1__ListContainersRequest req =
        CONTAINERD__SERVICES__CONTAINERS__V1__LIST_CONTAINERS_REQUEST__INIT;
    return ctrd_server_stream(conn, SVC_CONTAINERS, "ListStream", ns, NULL, &req.base, on_container, seen,
                              CTRD_TIMEOUT_DEFAULT_MS, err);
}

/* ---- tests ------------------------------------------------------------------------------------------ */

static void test_version(void **state)
{
    REQUIRE_CONTAINERD();
    struct fixture *fx = *state;
    struct kk_err err;
    Google__Protobuf__Empty req = GOOGLE__PROTOBUF__EMPTY__INIT;
    ProtobufCMessage *reply = NULL;
    MUST(ctrd_unary(fx->conn, SVC_VERSION, "Version", NULL, NULL, &req.base, &reply, CTRD_TIMEOUT_DEFAULT_MS,
                    &err),
         &err);
    Containerd__Services__Version__V1__VersionResponse *v = (void *)reply;
    printf("# containerd version %s revision %s\n", v->version, v->revision);
    bool has_version = v->version != NULL && v->version[0] != '\0';
    protobuf_c_message_free_unpacked(reply, NULL);
    assert_true(has_version);
    assert_int_equal(ctrd_conn_last_status(fx->conn), GRPC_STATUS_OK);
}

static void test_namespace_lifecycle(void **state)
{
    REQUIRE_CONTAINERD();
    struct fixture *fx = *state;
    struct kk_err err;
    bool label_ok = false;

    MUST(create_namespace(fx->conn, fx->ns, &err), &err);
    assert_int_equal(namespace_listed(fx->conn, fx->ns, &label_ok, &err), 1);
    assert_true(label_ok);

    int rc = create_namespace(fx->conn, fx->ns, &err);
    expect_error(rc, &err, KK_ERR_EXISTS, "Namespaces.Create");
    assert_non_null(strstr(err.msg, fx->ns));
    assert_int_equal(ctrd_conn_last_status(fx->conn), GRPC_STATUS_ALREADY_EXISTS);

    MUST(delete_namespace(fx->conn, fx->ns, &err), &err);
    assert_int_equal(namespace_listed(fx->conn, fx->ns, &label_ok, &err), 0);

    /* containerd 1.6 answers Namespaces.Get for any name, existing or not, with the labels it has
     * (none here): existence is for List to say. */
    Containerd__Services__Namespaces__V1__GetNamespaceRequest get =
        CONTAINERD__SERVICES__NAMESPACES__V1__GET_NAMESPACE_REQUEST__INIT;
    get.name = fx->ns;
    ProtobufCMessage *reply = NULL;
    MUST(ctrd_unary(fx->conn, SVC_NAMESPACES, "Get", NULL, NULL, &get.base, &reply, CTRD_TIMEOUT_DEFAULT_MS,
                    &err),
         &err);
    Containerd__Services__Namespaces__V1__GetNamespaceResponse *got = (void *)reply;
    size_t n_labels = got->namespace_ != NULL ? got->namespace_->n_labels : 0;
    protobuf_c_message_free_unpacked(reply, NULL);
    assert_int_equal(n_labels, 0);

    /* What does not exist any more is NOT_FOUND: the namespace for Delete, a record in it for Get. */
    rc = delete_namespace(fx->conn, fx->ns, &err);
    expect_error(rc, &err, KK_ERR_NOT_FOUND, "Namespaces.Delete");
    assert_non_null(strstr(err.msg, fx->ns));
    Containerd__Services__Containers__V1__GetContainerRequest get_record =
        CONTAINERD__SERVICES__CONTAINERS__V1__GET_CONTAINER_REQUEST__INIT;
    get_record.id = "nothing";
    rc = ctrd_unary(fx->conn, SVC_CONTAINERS, "Get", fx->ns, NULL, &get_record.base, &reply,
                    CTRD_TIMEOUT_DEFAULT_MS, &err);
    expect_error(rc, &err, KK_ERR_NOT_FOUND, "Containers.Get");
    assert_null(reply);
    assert_int_equal(ctrd_conn_last_status(fx->conn), GRPC_STATUS_NOT_FOUND);
}

static void test_stream_list_stop_and_fail(void **state)
{
    REQUIRE_CONTAINERD();
    struct fixture *fx = *state;
    struct kk_err err;
    bool label_ok;
    MUST(create_namespace(fx->conn, fx->ns, &err), &err);
    assert_int_equal(namespace_listed(fx->conn, fx->ns, &label_ok, &err), 1);
    for (int i = 0; i < N_RECORDS; i++) {
        char id[64];
        record_id(id, sizeof(id), i);
        MUST(create_record(fx->conn, fx->ns, id, &err), &err);
    }

    /* The whole stream, then its status. */
    struct list_seen seen = {0};
    MUST(list_records(fx->conn, fx->ns, &seen, &err), &err);
    assert_int_equal(seen.count, N_RECORDS);
    for (int i = 0; i < N_RECORDS; i++) {
        char id[64];
        record_id(id, sizeof(id), i);
        bool listed = false;
        for (int j = 0; j < seen.count && j < N_RECORDS; j++)
            listed = listed || strcmp(seen.ids[j], id) == 0;
        if (!listed)
            fail_msg("container record %s was not streamed", id);
    }

    /* Stopped after the first message: cancelled, drained, and still a success. */
    struct list_seen first = {.stop_after = 1};
    MUST(list_records(fx->conn, fx->ns, &first, &err), &err);
    assert_int_equal(first.count, 1);

    /* The callback's own error is what the caller gets, not the CANCELLED that follows it. */
    struct list_seen refuse = {.fail = true};
    int rc = list_records(fx->conn, fx->ns, &refuse, &err);
    expect_error(rc, &err, KK_ERR_DENIED, "callback refused container");

    /* The connection is intact after the cancels. */
    struct list_seen again = {0};
    MUST(list_records(fx->conn, fx->ns, &again, &err), &err);
    assert_int_equal(again.count, N_RECORDS);

    /* A namespace that still holds records cannot go: FAILED_PRECONDITION, told apart by its code. */
    rc = delete_namespace(fx->conn, fx->ns, &err);
    expect_error(rc, &err, KK_ERR_INVALID, "Namespaces.Delete");
    assert_int_equal(ctrd_conn_last_status(fx->conn), GRPC_STATUS_FAILED_PRECONDITION);
}

static int on_event_unexpected(const ProtobufCMessage *msg, void *opaque, struct kk_err *err)
{
    (void)msg;
    (void)opaque;
    return kk_error(err, KK_ERR_INTERNAL, 0, "an event arrived for a topic nothing publishes");
}

static void test_stream_deadline(void **state)
{
    REQUIRE_CONTAINERD();
    struct fixture *fx = *state;
    struct kk_err err;
    char filter[128];
    snprintf(filter, sizeof(filter), "topic==\"/kukeon-test/%s/never\"", test_prefix());
    char *filters[] = {filter};
    Containerd__Services__Events__V1__SubscribeRequest req =
        CONTAINERD__SERVICES__EVENTS__V1__SUBSCRIBE_REQUEST__INIT;
    req.n_filters = 1;
    req.filters = filters;
    int rc = ctrd_server_stream(fx->conn, SVC_EVENTS, "Subscribe", NULL, NULL, &req.base, on_event_unexpected,
                                NULL, 300, &err);
    expect_error(rc, &err, KK_ERR_UNAVAILABLE, "Events.Subscribe");
    assert_non_null(strstr(err.msg, "did not answer within 300 ms"));
    assert_int_equal(ctrd_conn_last_status(fx->conn), GRPC_STATUS_DEADLINE_EXCEEDED);
}

/* What a caller sees when nothing listens at the path: fast, UNAVAILABLE, naming the socket. */
static void expect_unreachable(const char *socket_path)
{
    struct kk_err err;
    struct ctrd_conn *conn = ctrd_conn_open(socket_path, &err);
    if (conn == NULL)
        fail_msg("ctrd_conn_open(%s): %s", socket_path, err.msg);
    Google__Protobuf__Empty req = GOOGLE__PROTOBUF__EMPTY__INIT;
    ProtobufCMessage *reply = NULL;
    int64_t start = now_ms();
    int rc = ctrd_unary(conn, SVC_VERSION, "Version", NULL, NULL, &req.base, &reply, 5000, &err);
    int64_t took = now_ms() - start;
    ctrd_conn_close(conn);
    printf("# failed after %lld ms\n", (long long)took);
    expect_error(rc, &err, KK_ERR_UNAVAILABLE, socket_path);
    assert_non_null(strstr(err.msg, "Version.Version"));
    assert_non_null(strstr(err.msg, "is containerd running?"));
    assert_null(reply);
    /* Not a wait for the 5 s deadline: a missing or refusing socket is known at once. */
    assert_true(took < 2500);
}

static void test_missing_socket(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "/nonexistent-%s/containerd.sock", test_prefix());
    expect_unreachable(path);
}

/* A socket file nobody listens on: containerd died and left it behind. */
static void test_stale_socket(void **state)
{
    (void)state;
    char dir[] = "/tmp/kukeon-smoke.XXXXXX";
    if (mkdtemp(dir) == NULL)
        fail_msg("mkdtemp: %s", strerror(errno));
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/containerd.sock", dir);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    int bound = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    close(fd);
    char path[sizeof(addr.sun_path)];
    memcpy(path, addr.sun_path, sizeof(path));
    if (bound == 0)
        expect_unreachable(path);
    unlink(path);
    rmdir(dir);
    assert_int_equal(bound, 0);
}

/* ---- a containerd of the test's own, to stop and restart ------------------------------------------- */

struct own_containerd {
    char script[512]; /* tests/harness/containerd.sh */
    char dir[256];
    char socket[300];
};

static int own_containerd_run(const struct own_containerd *own, const char *verb)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char *const argv[] = {"bash", (char *)own->script, (char *)verb, (char *)own->dir, NULL};
        execv("/bin/bash", argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int setup_own(void **state)
{
    struct own_containerd *own = calloc(1, sizeof(*own));
    if (own == NULL)
        return -1;
    const char *top = getenv("KUKEON_TOP");
    const char *tmp = getenv("KUKEON_TEST_TMP");
    if (top != NULL && tmp != NULL && containerd_socket() != NULL) {
        snprintf(own->script, sizeof(own->script), "%s/tests/harness/containerd.sh", top);
        snprintf(own->dir, sizeof(own->dir), "%s/own-containerd", tmp);
        snprintf(own->socket, sizeof(own->socket), "%s/containerd.sock", own->dir);
    }
    *state = own;
    return 0;
}

static int teardown_own(void **state)
{
    struct own_containerd *own = *state;
    int ret = 0;
    if (own->dir[0] != '\0' && own_containerd_run(own, "stop") < 0) {
        printf("# teardown: containerd.sh stop %s failed\n", own->dir);
        ret = -1;
    }
    free(own);
    return ret;
}

static void *stop_own_later(void *arg)
{
    const struct own_containerd *own = arg;
    usleep(300 * 1000);
    own_containerd_run(own, "stop");
    return NULL;
}

static int on_event_ignore(const ProtobufCMessage *msg, void *opaque, struct kk_err *err)
{
    (void)msg;
    (void)opaque;
    (void)err;
    return CTRD_STREAM_CONTINUE;
}

static int call_version(struct ctrd_conn *conn, struct kk_err *err)
{
    Google__Protobuf__Empty req = GOOGLE__PROTOBUF__EMPTY__INIT;
    return ctrd_unary(conn, SVC_VERSION, "Version", NULL, NULL, &req.base, NULL, 5000, err);
}

/* containerd stops under a stream in flight and under later calls, then comes back: the stream and
 * the calls fail at once with UNAVAILABLE naming the socket, and the same connection works again. */
static void test_containerd_goes_away(void **state)
{
    REQUIRE_CONTAINERD();
    struct own_containerd *own = *state;
    if (own->dir[0] == '\0') {
        printf("# SKIP KUKEON_TOP or KUKEON_TEST_TMP is not set; run through tests/run.sh\n");
        skip();
    }
    if (own_containerd_run(own, "start") < 0)
        fail_msg("could not start a containerd in %s", own->dir);
    struct kk_err err;
    struct ctrd_conn *conn = ctrd_conn_open(own->socket, &err);
    if (conn == NULL)
        fail_msg("ctrd_conn_open: %s", err.msg);
    MUST(call_version(conn, &err), &err);

    /* A subscription that would run 20 s loses its containerd after 0.3 s. */
    pthread_t stopper;
    assert_int_equal(pthread_create(&stopper, NULL, stop_own_later, own), 0);
    Containerd__Services__Events__V1__SubscribeRequest sub =
        CONTAINERD__SERVICES__EVENTS__V1__SUBSCRIBE_REQUEST__INIT;
    int64_t start = now_ms();
    int rc = ctrd_server_stream(conn, SVC_EVENTS, "Subscribe", NULL, NULL, &sub.base, on_event_ignore, NULL,
                                20000, &err);
    int64_t took = now_ms() - start;
    pthread_join(stopper, NULL);
    printf("# stream ended after %lld ms\n", (long long)took);
    struct kk_err stream_err = err;
    int rc_down = call_version(conn, &err);
    struct kk_err down_err = err;

    /* Back again: the same connection works, without being reopened. */
    int rc_up = -1, attempts = 0;
    int64_t restart = now_ms();
    if (own_containerd_run(own, "start") == 0)
        while (attempts++ < 50) {
            rc_up = call_version(conn, &err);
            if (rc_up == 0)
                break;
            usleep(100 * 1000);
        }
    ctrd_conn_close(conn);
    printf("# calls work again after %d attempt(s), %lld ms after the restart began\n", attempts,
           (long long)(now_ms() - restart));

    expect_error(rc, &stream_err, KK_ERR_UNAVAILABLE, "Events.Subscribe");
    assert_true(took < 10000);
    expect_error(rc_down, &down_err, KK_ERR_UNAVAILABLE, own->socket);
    assert_non_null(strstr(down_err.msg, "is containerd running?"));
    if (rc_up < 0)
        fail_msg("containerd came back but calls still fail: %s", err.msg);
    /* After a failure the next call dials afresh instead of waiting out gRPC's reconnect backoff. */
    assert_true(attempts <= 3);
}

/* Refusals that happen before anything is sent; no containerd needed. */
static void test_refused_arguments(void **state)
{
    (void)state;
    struct kk_err err;
    assert_null(ctrd_conn_open("relative/containerd.sock", &err));
    assert_int_equal(err.kind, KK_ERR_INVALID);
    assert_null(ctrd_conn_open("/run/containerd%2fother.sock", &err));
    assert_int_equal(err.kind, KK_ERR_INVALID);

    struct ctrd_conn *conn = ctrd_conn_open("/nonexistent/containerd.sock", &err);
    assert_non_null(conn);
    Google__Protobuf__Empty empty = GOOGLE__PROTOBUF__EMPTY__INIT;
    Containerd__Services__Namespaces__V1__GetNamespaceRequest get =
        CONTAINERD__SERVICES__NAMESPACES__V1__GET_NAMESPACE_REQUEST__INIT;
    int rc;

    rc = ctrd_unary(conn, SVC_NAMESPACES, "Get", NULL, NULL, &empty.base, NULL, 1000, &err);
    expect_error(rc, &err, KK_ERR_INTERNAL, "Namespaces.Get: request is a google.protobuf.Empty");
    rc = ctrd_unary(conn, SVC_NAMESPACES, "Frobnicate", NULL, NULL, &get.base, NULL, 1000, &err);
    expect_error(rc, &err, KK_ERR_INTERNAL, "has no method Frobnicate");
    rc = ctrd_unary(conn, SVC_NAMESPACES, "Get", "bad namespace", NULL, &get.base, NULL, 1000, &err);
    expect_error(rc, &err, KK_ERR_INVALID, "containerd namespace");
    rc = ctrd_unary(conn, SVC_NAMESPACES, "Get", "ok.kukeon.io", "lease\nid", &get.base, NULL, 1000, &err);
    expect_error(rc, &err, KK_ERR_INVALID, "containerd lease");
    rc = ctrd_unary(conn, SVC_NAMESPACES, "Get", NULL, NULL, &get.base, NULL, 0, &err);
    expect_error(rc, &err, KK_ERR_INVALID, "timeout 0 ms");
    rc = ctrd_server_stream(conn, SVC_EVENTS, "Subscribe", NULL, NULL, &get.base, on_event_unexpected, NULL,
                            1000, &err);
    expect_error(rc, &err, KK_ERR_INTERNAL, "Events.Subscribe: request is a");
    assert_int_equal(ctrd_conn_last_status(conn), GRPC_STATUS__DO_NOT_USE);
    ctrd_conn_close(conn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_arguments),
        cmocka_unit_test_setup_teardown(test_version, setup_smoke, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_namespace_lifecycle, setup_smoke, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_stream_list_stop_and_fail, setup_stream, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_stream_deadline, setup_smoke, teardown_fixture),
        cmocka_unit_test_setup_teardown(test_containerd_goes_away, setup_own, teardown_own),
        cmocka_unit_test(test_missing_socket),
        cmocka_unit_test(test_stale_socket),
    };
    return cmocka_run_group_tests_name("containerd_smoke", tests, NULL, NULL);
}
