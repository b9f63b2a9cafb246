/* The gRPC transport of kuke-ctrd (see ctrd_rpc.h): one synchronous call at a time per connection,
 * driven batch by batch on a pluck completion queue, so no thread of ours is ever involved. A
 * connection either dials the socket by path (tests, tools) or runs over descriptors handed to it
 * (kuke-ctrd, which may not connect to containerd's root-owned socket itself). */
#include "kuke-ctrd/ctrd_rpc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_posix.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "common/util.h"

/* Bounds for what goes on the wire as a call's path and headers. */
#define CTRD_METHOD_PATH_MAX  256
#define CTRD_METHOD_NAME_MAX  128
#define CTRD_HEADER_VALUE_MAX 255
/* Status details from containerd are one human sentence; longer ones are truncated. */
#define CTRD_DETAILS_MAX 512

struct ctrd_conn {
    grpc_channel *channel;
    grpc_completion_queue *cq;
    grpc_status_code last_status;
    /* Set when a call found containerd unreachable: the next call dials on a fresh channel. gRPC's
     * own channel would stay in TRANSIENT_FAILURE through its reconnect backoff, failing calls at once
     * while its reconnect attempt makes progress only when some call happens to poll, so a restarted
     * containerd was seen seconds late. A fresh channel connects within the next call. */
    bool channel_stale;
    ctrd_dial_fn dial; /* NULL: dial target by path */
    void *dial_opaque;
    char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char target[sizeof(((struct sockaddr_un *)0)->sun_path) + sizeof("unix:")];
};

/* One call in progress; lives on the stack of ctrd_unary / ctrd_server_stream. */
struct ctrd_call {
    struct ctrd_conn *conn;
    const ProtobufCMethodDescriptor *method;
    char path[CTRD_METHOD_PATH_MAX]; /* "/containerd.services.namespaces.v1.Namespaces/Create" */
    char name[CTRD_METHOD_NAME_MAX]; /* "Namespaces.Create", for messages */
    int timeout_ms;
    grpc_call *call;
    bool cancelled; /* by us: a stopped stream or a reply we could not use */
};

/* Receives each reply message; owns msg. Returns CTRD_STREAM_CONTINUE, CTRD_STREAM_STOP or -1. */
typedef int (*ctrd_take_fn)(struct ctrd_call *c, ProtobufCMessage *msg, void *opaque, struct kk_err *err);

static pthread_once_t ctrd_grpc_once = PTHREAD_ONCE_INIT;

/* gRPC keeps global state and threads for the life of the process; kuke-ctrd is one long-lived
 * process with one connection, so initialising once and never shutting down costs nothing and avoids
 * thread churn when a connection is reopened. */
static void ctrd_grpc_init(void)
{
    grpc_init();
}

static const char *const ctrd_status_names[] = {
    [GRPC_STATUS_OK] = "OK",
    [GRPC_STATUS_CANCELLED] = "CANCELLED",
    [GRPC_STATUS_UNKNOWN] = "UNKNOWN",
    [GRPC_STATUS_INVALID_ARGUMENT] = "INVALID_ARGUMENT",
    [GRPC_STATUS_DEADLINE_EXCEEDED] = "DEADLINE_EXCEEDED",
    [GRPC_STATUS_NOT_FOUND] = "NOT_FOUND",
    [GRPC_STATUS_ALREADY_EXISTS] = "ALREADY_EXISTS",
    [GRPC_STATUS_PERMISSION_DENIED] = "PERMISSION_DENIED",
    [GRPC_STATUS_RESOURCE_EXHAUSTED] = "RESOURCE_EXHAUSTED",
    [GRPC_STATUS_FAILED_PRECONDITION] = "FAILED_PRECONDITION",
    [GRPC_STATUS_ABORTED] = "ABORTED",
    [GRPC_STATUS_OUT_OF_RANGE] = "OUT_OF_RANGE",
    [GRPC_STATUS_UNIMPLEMENTED] = "UNIMPLEMENTED",
    [GRPC_STATUS_INTERNAL] = "INTERNAL",
    [GRPC_STATUS_UNAVAILABLE] = "UNAVAILABLE",
    [GRPC_STATUS_DATA_LOSS] = "DATA_LOSS",
    [GRPC_STATUS_UNAUTHENTICATED] = "UNAUTHENTICATED",
};

const char *ctrd_status_name(grpc_status_code code)
{
    if ((int)code < 0 || (size_t)code >= KK_ARRAY_SIZE(ctrd_status_names) || ctrd_status_names[code] == NULL)
        return "UNKNOWN_STATUS";
    return ctrd_status_names[code];
}

enum kk_err_kind ctrd_status_kind(grpc_status_code code)
{
    switch (code) {
    case GRPC_STATUS_NOT_FOUND:
        return KK_ERR_NOT_FOUND;
    case GRPC_STATUS_ALREADY_EXISTS:
        return KK_ERR_EXISTS;
    case GRPC_STATUS_INVALID_ARGUMENT:
    case GRPC_STATUS_FAILED_PRECONDITION:
    case GRPC_STATUS_OUT_OF_RANGE:
        return KK_ERR_INVALID;
    case GRPC_STATUS_PERMISSION_DENIED:
    case GRPC_STATUS_UNAUTHENTICATED:
        return KK_ERR_PERMISSION;
    /* containerd going away mid-call shows as CANCELLED as often as UNAVAILABLE; ABORTED is a
     * conflict worth retrying. All are "the peer could not serve this now". */
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_CANCELLED:
    case GRPC_STATUS_ABORTED:
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return KK_ERR_UNAVAILABLE;
    case GRPC_STATUS_UNIMPLEMENTED:
    case GRPC_STATUS_INTERNAL:
    case GRPC_STATUS_DATA_LOSS:
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return KK_ERR_INTERNAL;
    case GRPC_STATUS_OK:
    case GRPC_STATUS_UNKNOWN:
    default:
        return KK_ERR_UNKNOWN;
    }
}

/* gRPC parses the target as a URI: '%' would be percent-decoded and '?' or '#' would start a query
 * or fragment, so a path holding them would silently name another socket. */
static int ctrd_check_socket_path(const char *path, size_t cap, struct kk_err *err)
{
    if (path == NULL || path[0] != '/')
        return kk_error(err, KK_ERR_INVALID, 0, "containerd socket path \"%s\" must be absolute",
                        path == NULL ? "" : path);
    size_t len = strnlen(path, cap);
    if (len >= cap)
        return kk_error(err, KK_ERR_INVALID, 0, "containerd socket path is longer than %zu bytes", cap - 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)path[i];
        if (ch < 0x20 || ch == 0x7f || ch == '%' || ch == '?' || ch == '#')
            return kk_error(err, KK_ERR_INVALID, 0,
                            "containerd socket path \"%s\" holds a control byte or one of %%?#, "
                            "which a gRPC target cannot carry",
                            path);
    }
    return 0;
}

static grpc_channel *ctrd_channel_create(const char *target, int fd)
{
    grpc_arg args[] = {
        {.type = GRPC_ARG_INTEGER,
         .key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH,
         .value.integer = CTRD_MAX_MESSAGE_BYTES},
        /* Each channel has its own subchannel, so a replaced channel takes no stale state along. */
        {.type = GRPC_ARG_INTEGER, .key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1},
    };
    grpc_channel_args channel_args = {.num_args = KK_ARRAY_SIZE(args), .args = args};
    /* A unix socket reachable only by root and the kukeon helper: there is nothing to encrypt. */
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    /* A channel over a descriptor has no way to reconnect: when it breaks, the connection is marked
     * stale and the next call asks for a new descriptor (ctrd_channel_refresh). It takes the fd. */
    grpc_channel *channel = fd >= 0 ? grpc_channel_create_from_fd(target, fd, creds, &channel_args)
                                    : grpc_channel_create(target, creds, &channel_args);
    grpc_channel_credentials_release(creds);
    return channel;
}

struct ctrd_conn *ctrd_conn_open(const char *socket_path, struct kk_err *err)
{
    struct ctrd_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        kk_error(err, KK_ERR_INTERNAL, errno, "allocating a containerd connection");
        return NULL;
    }
    conn->last_status = GRPC_STATUS__DO_NOT_USE;
    if (ctrd_check_socket_path(socket_path, sizeof(conn->socket_path), err) < 0 ||
        kk_strlcpy(conn->socket_path, socket_path, sizeof(conn->socket_path)) < 0 ||
        kk_snprintf(conn->target, sizeof(conn->target), err, "containerd gRPC target", "unix:%s",
                    socket_path) < 0) {
        free(conn);
        return NULL;
    }

    int once = pthread_once(&ctrd_grpc_once, ctrd_grpc_init);
    if (once != 0) {
        free(conn);
        kk_error(err, KK_ERR_INTERNAL, once, "initialising gRPC");
        return NULL;
    }
    conn->channel = ctrd_channel_create(conn->target, -1);
    conn->cq = grpc_completion_queue_create_for_pluck(NULL);
    if (conn->channel == NULL || conn->cq == NULL) {
        ctrd_conn_close(conn);
        kk_error(err, KK_ERR_INTERNAL, 0, "creating a gRPC channel to containerd at %s", socket_path);
        return NULL;
    }
    return conn;
}

struct ctrd_conn *ctrd_conn_open_dialer(const char *label, ctrd_dial_fn dial, void *opaque,
                                        struct kk_err *err)
{
    if (dial == NULL) {
        kk_error(err, KK_ERR_INTERNAL, 0, "containerd connection without a way to dial");
        return NULL;
    }
    struct ctrd_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        kk_error(err, KK_ERR_INTERNAL, errno, "allocating a containerd connection");
        return NULL;
    }
    conn->last_status = GRPC_STATUS__DO_NOT_USE;
    conn->dial = dial;
    conn->dial_opaque = opaque;
    /* The first call dials: a containerd that is down then fails that call, not the start-up. */
    conn->channel_stale = true;
    if (ctrd_check_socket_path(label, sizeof(conn->socket_path), err) < 0 ||
        kk_strlcpy(conn->socket_path, label, sizeof(conn->socket_path)) < 0 ||
        kk_snprintf(conn->target, sizeof(conn->target), err, "containerd gRPC target", "unix:%s", label) <
            0) {
        free(conn);
        return NULL;
    }
    int once = pthread_once(&ctrd_grpc_once, ctrd_grpc_init);
    if (once != 0) {
        free(conn);
        kk_error(err, KK_ERR_INTERNAL, once, "initialising gRPC");
        return NULL;
    }
    conn->cq = grpc_completion_queue_create_for_pluck(NULL);
    if (conn->cq == NULL) {
        free(conn);
        kk_error(err, KK_ERR_INTERNAL, 0, "creating a gRPC completion queue");
        return NULL;
    }
    return conn;
}

void ctrd_conn_close(struct ctrd_conn *conn)
{
    if (conn == NULL)
        return;
    if (conn->channel != NULL)
        grpc_channel_destroy(conn->channel);
    if (conn->cq != NULL) {
        /* Every batch was plucked when it completed, so the queue is empty and shuts down at once. */
        grpc_completion_queue_shutdown(conn->cq);
        grpc_event ev;
        do {
            ev = grpc_completion_queue_pluck(conn->cq, conn, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
        } while (ev.type != GRPC_QUEUE_SHUTDOWN);
        grpc_completion_queue_destroy(conn->cq);
    }
    free(conn);
}

const char *ctrd_conn_socket(const struct ctrd_conn *conn)
{
    return conn->socket_path;
}

grpc_status_code ctrd_conn_last_status(const struct ctrd_conn *conn)
{
    return conn->last_status;
}

/* Header values travel as HTTP/2 header text: printable ASCII without spaces, bounded. */
static int ctrd_check_header(const char *what, const char *value, const char *method, struct kk_err *err)
{
    size_t len = strnlen(value, CTRD_HEADER_VALUE_MAX + 1);
    if (len == 0 || len > CTRD_HEADER_VALUE_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "%s: %s must be 1 to %d bytes long", method, what,
                        CTRD_HEADER_VALUE_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)value[i];
        if (ch <= 0x20 || ch >= 0x7f)
            return kk_error(err, KK_ERR_INVALID, 0, "%s: %s holds a byte that is not printable ASCII", method,
                            what);
    }
    return 0;
}

/* Find the method in the service, check the request's type and the headers, and name the call. */
static int ctrd_call_prepare(struct ctrd_call *c, struct ctrd_conn *conn,
                             const ProtobufCServiceDescriptor *service, const char *method, const char *ns,
                             const char *lease, const ProtobufCMessage *req, int timeout_ms,
                             struct kk_err *err)
{
    memset(c, 0, sizeof(*c));
    c->conn = conn;
    c->timeout_ms = timeout_ms;
    if (conn == NULL || service == NULL || method == NULL || req == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "containerd call %s: missing connection, service or request",
                        method == NULL ? "(no method)" : method);
    if (service->magic != PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC)
        return kk_error(err, KK_ERR_INTERNAL, 0, "containerd call %s: not a service descriptor", method);
    c->method = protobuf_c_service_descriptor_get_method_by_name(service, method);
    if (c->method == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "containerd service %s has no method %s", service->name,
                        method);
    if (kk_snprintf(c->name, sizeof(c->name), err, "method name", "%s.%s", service->short_name, method) < 0 ||
        kk_snprintf(c->path, sizeof(c->path), err, "method path", "/%s/%s", service->name, method) < 0)
        return -1;
    if (req->descriptor != c->method->input)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: request is a %s, the method takes a %s", c->name,
                        req->descriptor->name, c->method->input->name);
    if (timeout_ms < 1 || timeout_ms > CTRD_TIMEOUT_MAX_MS)
        return kk_error(err, KK_ERR_INVALID, 0, "%s: timeout %d ms is outside 1..%d ms", c->name, timeout_ms,
                        CTRD_TIMEOUT_MAX_MS);
    if ((ns != NULL && ctrd_check_header("containerd namespace", ns, c->name, err) < 0) ||
        (lease != NULL && ctrd_check_header("containerd lease", lease, c->name, err) < 0))
        return -1;
    return 0;
}

/* Start one batch and wait for it. The call's deadline bounds every batch (gRPC completes all of a
 * call's operations when it expires), so the wait itself needs none. Returns whether the operations
 * succeeded; -1 (err set) only when gRPC refused to start the batch, which is a bug of ours. */
static int ctrd_batch(struct ctrd_call *c, const grpc_op *ops, size_t n_ops, struct kk_err *err)
{
    grpc_call_error rc = grpc_call_start_batch(c->call, ops, n_ops, c, NULL);
    if (rc != GRPC_CALL_OK)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: gRPC refused the call: %s", c->name,
                        grpc_call_error_to_string(rc));
    grpc_event ev = grpc_completion_queue_pluck(c->conn->cq, c, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    if (ev.type != GRPC_OP_COMPLETE)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: gRPC completion queue ended unexpectedly", c->name);
    return ev.success ? 1 : 0;
}

static grpc_byte_buffer *ctrd_pack(const struct ctrd_call *c, const ProtobufCMessage *req, struct kk_err *err)
{
    size_t size = protobuf_c_message_get_packed_size(req);
    if (size > CTRD_MAX_MESSAGE_BYTES) {
        kk_error(err, KK_ERR_INVALID, 0, "%s: request of %zu bytes is over containerd's limit of %d bytes",
                 c->name, size, CTRD_MAX_MESSAGE_BYTES);
        return NULL;
    }
    grpc_slice slice = grpc_slice_malloc(size);
    size_t packed = protobuf_c_message_pack(req, GRPC_SLICE_START_PTR(slice));
    if (packed != size) {
        grpc_slice_unref(slice);
        kk_error(err, KK_ERR_INTERNAL, 0, "%s: request packed to %zu bytes, %zu expected", c->name, packed,
                 size);
        return NULL;
    }
    grpc_byte_buffer *payload = grpc_raw_byte_buffer_create(&slice, 1);
    grpc_slice_unref(slice);
    return payload;
}

static int ctrd_channel_refresh(struct ctrd_call *c, struct kk_err *err)
{
    struct ctrd_conn *conn = c->conn;
    if (!conn->channel_stale && conn->channel != NULL)
        return 0;
    int fd = -1;
    if (conn->dial != NULL) {
        struct kk_err derr;
        kk_err_clear(&derr);
        fd = conn->dial(conn->dial_opaque, &derr);
        if (fd < 0)
            /* derr.msg already carries the errno text. */
            return kk_error(err, KK_ERR_UNAVAILABLE, 0,
                            "%s: containerd at %s is not reachable: %s; is containerd running?", c->name,
                            conn->socket_path, derr.msg);
    }
    grpc_channel *fresh = ctrd_channel_create(conn->target, fd);
    if (fresh == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: creating a gRPC channel to containerd at %s", c->name,
                        conn->socket_path);
    if (conn->channel != NULL)
        grpc_channel_destroy(conn->channel);
    conn->channel = fresh;
    conn->channel_stale = false;
    return 0;
}

/* Create the call and send its headers. Header names must be lowercase; the values were checked in
 * ctrd_call_prepare. Metadata must live until the batch completes, which ctrd_batch waits for. */
static int ctrd_call_start(struct ctrd_call *c, const char *ns, const char *lease, struct kk_err *err)
{
    if (ctrd_channel_refresh(c, err) < 0)
        return -1;
    grpc_slice path = grpc_slice_from_copied_string(c->path);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(c->timeout_ms, GPR_TIMESPAN));
    c->call = grpc_channel_create_call(c->conn->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->conn->cq, path,
                                       NULL, deadline, NULL);
    grpc_slice_unref(path);
    if (c->call == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: gRPC could not create the call", c->name);

    grpc_metadata md[2];
    size_t n_md = 0;
    memset(md, 0, sizeof(md));
    if (ns != NULL) {
        md[n_md].key = grpc_slice_from_static_string("containerd-namespace");
        md[n_md].value = grpc_slice_from_copied_string(ns);
        n_md++;
    }
    if (lease != NULL) {
        md[n_md].key = grpc_slice_from_static_string("containerd-lease");
        md[n_md].value = grpc_slice_from_copied_string(lease);
        n_md++;
    }
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_SEND_INITIAL_METADATA;
    op.data.send_initial_metadata.count = n_md;
    op.data.send_initial_metadata.metadata = n_md > 0 ? md : NULL;
    /* A failed send is not reported here: the call is then over and its status, read after the
     * (empty) stream of replies, says why. */
    int rc = ctrd_batch(c, &op, 1, err);
    for (size_t i = 0; i < n_md; i++)
        grpc_slice_unref(md[i].value);
    return rc < 0 ? -1 : 0;
}

/* Send one request message, and with it the end of the client's side when close is set (req NULL:
 * only the end). Returns whether gRPC took it (1) or the call is already over (0), or -1 with err. */
static int ctrd_call_send_msg(struct ctrd_call *c, const ProtobufCMessage *req, bool close,
                              struct kk_err *err)
{
    grpc_byte_buffer *payload = NULL;
    if (req != NULL) {
        if (req->descriptor != c->method->input)
            return kk_error(err, KK_ERR_INTERNAL, 0, "%s: request is a %s, the method takes a %s", c->name,
                            req->descriptor->name, c->method->input->name);
        payload = ctrd_pack(c, req, err);
        if (payload == NULL)
            return -1;
    }
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (payload != NULL) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n].data.send_message.send_message = payload;
        n++;
    }
    if (close) {
        ops[n].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
        n++;
    }
    int rc = n > 0 ? ctrd_batch(c, ops, n, err) : 1;
    if (payload != NULL)
        grpc_byte_buffer_destroy(payload);
    return rc;
}

/* Create the call and send the request: headers, the message, and the end of the client's side. */
static int ctrd_call_send(struct ctrd_call *c, const char *ns, const char *lease, const ProtobufCMessage *req,
                          struct kk_err *err)
{
    if (ctrd_call_start(c, ns, lease, err) < 0)
        return -1;
    return ctrd_call_send_msg(c, req, true, err) < 0 ? -1 : 0;
}

/* Receive one message; *buf is NULL at the end of the stream (or when the call has failed). */
static int ctrd_call_recv(struct ctrd_call *c, grpc_byte_buffer **buf, bool with_initial_metadata,
                          struct kk_err *err)
{
    grpc_metadata_array initial;
    grpc_metadata_array_init(&initial);
    grpc_op ops[2];
    memset(ops, 0, sizeof(ops));
    size_t n = 0;
    if (with_initial_metadata) {
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n].data.recv_initial_metadata.recv_initial_metadata = &initial;
        n++;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n].data.recv_message.recv_message = buf;
    n++;
    *buf = NULL;
    int rc = ctrd_batch(c, ops, n, err);
    grpc_metadata_array_destroy(&initial);
    if (rc < 0)
        return -1;
    if (rc == 0 && *buf != NULL) {
        grpc_byte_buffer_destroy(*buf);
        *buf = NULL;
    }
    return 0;
}

static ProtobufCMessage *ctrd_unpack(const ProtobufCMessageDescriptor *desc, grpc_byte_buffer *buf)
{
    grpc_byte_buffer_reader reader;
    if (!grpc_byte_buffer_reader_init(&reader, buf))
        return NULL;
    grpc_slice all = grpc_byte_buffer_reader_readall(&reader);
    grpc_byte_buffer_reader_destroy(&reader);
    ProtobufCMessage *msg =
        protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(all), GRPC_SLICE_START_PTR(all));
    grpc_slice_unref(all);
    return msg;
}

/* Copy status details into one printable line: containerd's text reaches terminals and logs. */
static void ctrd_copy_details(char *out, size_t out_size, grpc_slice details)
{
    size_t len = GRPC_SLICE_LENGTH(details);
    const unsigned char *p = GRPC_SLICE_START_PTR(details);
    if (len > out_size - 1)
        len = out_size - 1;
    for (size_t i = 0; i < len; i++)
        out[i] = (p[i] < 0x20 || p[i] == 0x7f) ? ' ' : (char)p[i];
    out[len] = '\0';
}

/* Read the call's status; sets err for any status but OK. */
static int ctrd_call_status(struct ctrd_call *c, grpc_status_code *status, struct kk_err *err)
{
    grpc_metadata_array trailing;
    grpc_metadata_array_init(&trailing);
    grpc_slice details = grpc_empty_slice();
    const char *debug = NULL;
    grpc_op op;
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op.data.recv_status_on_client.trailing_metadata = &trailing;
    op.data.recv_status_on_client.status = status;
    op.data.recv_status_on_client.status_details = &details;
    op.data.recv_status_on_client.error_string = &debug;
    *status = GRPC_STATUS_UNKNOWN;
    int rc = ctrd_batch(c, &op, 1, err);
    int ret = 0;
    if (rc < 0) {
        ret = -1;
    } else {
        char text[CTRD_DETAILS_MAX];
        ctrd_copy_details(text, sizeof(text), details);
        c->conn->last_status = *status;
        enum kk_err_kind kind = ctrd_status_kind(*status);
        switch (*status) {
        case GRPC_STATUS_OK:
            break;
        case GRPC_STATUS_UNAVAILABLE:
            c->conn->channel_stale = true;
            ret = kk_error(err, kind, 0, "%s: containerd at %s is not reachable: %s; is containerd running?",
                           c->name, c->conn->socket_path, text[0] != '\0' ? text : "no details");
            break;
        case GRPC_STATUS_CANCELLED:
            if (c->cancelled) {
                ret = kk_error(err, kind, 0, "%s was cancelled", c->name);
                break;
            }
            /* Cancelled by the transport: the connection broke under the call (containerd stopped).
             * A channel over a descriptor never recovers from that; dial afresh next time. */
            c->conn->channel_stale = true;
            ret = kk_error(err, kind, 0,
                           "%s: containerd at %s went away during the call: %s; is containerd running?",
                           c->name, c->conn->socket_path, text[0] != '\0' ? text : "no details");
            break;
        case GRPC_STATUS_DEADLINE_EXCEEDED:
            ret = kk_error(err, kind, 0, "%s: containerd at %s did not answer within %d ms", c->name,
                           c->conn->socket_path, c->timeout_ms);
            break;
        default:
            if (text[0] == '\0')
                ret = kk_error(err, kind, 0, "%s failed with gRPC status %s", c->name,
                               ctrd_status_name(*status));
            else
                ret = kk_error(err, kind, 0, "%s: %s (%s)", c->name, text, ctrd_status_name(*status));
            break;
        }
    }
    if (debug != NULL)
        gpr_free((void *)debug);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&trailing);
    return ret;
}

/* The one call loop behind both entry points: send, hand over each message until the stream ends
 * (after a cancel, keep reading and discard), then and only then read the status. */
static int ctrd_call_run(struct ctrd_call *c, const char *ns, const char *lease, const ProtobufCMessage *req,
                         ctrd_take_fn take, void *opaque, struct kk_err *err)
{
    int ret = -1;
    bool stopped = false;     /* the taker had enough */
    bool take_failed = false; /* the taker (or unpacking) set err; it wins over the status */
    struct kk_err status_err;
    kk_err_clear(&status_err);

    if (ctrd_call_send(c, ns, lease, req, err) < 0)
        goto out;
    for (bool first = true;; first = false) {
        grpc_byte_buffer *buf = NULL;
        if (ctrd_call_recv(c, &buf, first, err) < 0)
            goto out;
        if (buf == NULL)
            break;
        if (c->cancelled) {
            grpc_byte_buffer_destroy(buf);
            continue;
        }
        ProtobufCMessage *msg = ctrd_unpack(c->method->output, buf);
        grpc_byte_buffer_destroy(buf);
        int next;
        if (msg == NULL)
            next = kk_error(err, KK_ERR_INTERNAL, 0, "%s: containerd sent a reply that is not a valid %s",
                            c->name, c->method->output->name);
        else
            next = take(c, msg, opaque, err);
        if (next == CTRD_STREAM_CONTINUE)
            continue;
        if (next == CTRD_STREAM_STOP)
            stopped = true;
        else
            take_failed = true;
        grpc_call_cancel(c->call, NULL);
        c->cancelled = true;
    }
    grpc_status_code status;
    int st = ctrd_call_status(c, &status, &status_err);
    if (take_failed)
        goto out;
    /* A stream we stopped ends CANCELLED (or OK when it finished first): both are success. */
    if (stopped || st == 0) {
        ret = 0;
        goto out;
    }
    if (err != NULL)
        *err = status_err;
out:
    if (c->call != NULL) {
        grpc_call_unref(c->call);
        c->call = NULL;
    }
    return ret;
}

struct ctrd_unary_state {
    ProtobufCMessage *reply;
};

static int ctrd_take_one(struct ctrd_call *c, ProtobufCMessage *msg, void *opaque, struct kk_err *err)
{
    struct ctrd_unary_state *st = opaque;
    if (st->reply != NULL) {
        protobuf_c_message_free_unpacked(msg, NULL);
        return kk_error(err, KK_ERR_INTERNAL, 0,
                        "%s: containerd sent more than one reply; is it a streaming method?", c->name);
    }
    st->reply = msg;
    return CTRD_STREAM_CONTINUE;
}

int ctrd_unary(struct ctrd_conn *conn, const ProtobufCServiceDescriptor *service, const char *method,
               const char *ns, const char *lease, const ProtobufCMessage *req, ProtobufCMessage **reply,
               int timeout_ms, struct kk_err *err)
{
    if (reply != NULL)
        *reply = NULL;
    struct ctrd_call c;
    if (ctrd_call_prepare(&c, conn, service, method, ns, lease, req, timeout_ms, err) < 0)
        return -1;
    struct ctrd_unary_state st = {.reply = NULL};
    int rc = ctrd_call_run(&c, ns, lease, req, ctrd_take_one, &st, err);
    if (rc == 0 && st.reply == NULL)
        rc = kk_error(err, KK_ERR_INTERNAL, 0, "%s: containerd ended the call without a reply", c.name);
    if (rc < 0 || reply == NULL) {
        if (st.reply != NULL)
            protobuf_c_message_free_unpacked(st.reply, NULL);
        return rc;
    }
    *reply = st.reply;
    return 0;
}

struct ctrd_stream_state {
    ctrd_stream_fn on_message;
    void *opaque;
};

static int ctrd_take_stream(struct ctrd_call *c, ProtobufCMessage *msg, void *opaque, struct kk_err *err)
{
    struct ctrd_stream_state *st = opaque;
    int next = st->on_message(msg, st->opaque, err);
    protobuf_c_message_free_unpacked(msg, NULL);
    if (next != CTRD_STREAM_CONTINUE && next != CTRD_STREAM_STOP && next >= 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: stream callback returned %d", c->name, next);
    return next < 0 ? -1 : next;
}

int ctrd_server_stream(struct ctrd_conn *conn, const ProtobufCServiceDescriptor *service, const char *method,
                       const char *ns, const char *lease, const ProtobufCMessage *req,
                       ctrd_stream_fn on_message, void *opaque, int timeout_ms, struct kk_err *err)
{
    struct ctrd_call c;
    if (ctrd_call_prepare(&c, conn, service, method, ns, lease, req, timeout_ms, err) < 0)
        return -1;
    if (on_message == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: no stream callback", c.name);
    struct ctrd_stream_state st = {.on_message = on_message, .opaque = opaque};
    return ctrd_call_run(&c, ns, lease, req, ctrd_take_stream, &st, err);
}

int ctrd_bidi(struct ctrd_conn *conn, const ProtobufCServiceDescriptor *service, const char *method,
              const char *ns, const char *lease, ctrd_bidi_fn step, void *opaque, int timeout_ms,
              struct kk_err *err)
{
    struct ctrd_call c;
    const ProtobufCMessage *next = NULL;
    if (step == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "containerd call %s: no step function", method);
    /* The first request is known before the call exists: prepare checks it like any other. */
    if (step(NULL, &next, opaque, err) < 0)
        return -1;
    if (next == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "containerd call %s: nothing to send", method);
    if (ctrd_call_prepare(&c, conn, service, method, ns, lease, next, timeout_ms, err) < 0)
        return -1;

    int ret = -1;
    bool step_failed = false;
    struct kk_err status_err;
    kk_err_clear(&status_err);
    if (ctrd_call_start(&c, ns, lease, err) < 0)
        goto out;
    for (bool first = true; next != NULL; first = false) {
        int sent = ctrd_call_send_msg(&c, next, false, err);
        if (sent < 0) {
            step_failed = true;
            break;
        }
        if (sent == 0)
            break; /* the call is over; its status says why */
        grpc_byte_buffer *buf = NULL;
        if (ctrd_call_recv(&c, &buf, first, err) < 0) {
            step_failed = true;
            break;
        }
        if (buf == NULL)
            break; /* the server ended the call early; its status says why */
        ProtobufCMessage *reply = ctrd_unpack(c.method->output, buf);
        grpc_byte_buffer_destroy(buf);
        int rc;
        next = NULL;
        if (reply == NULL)
            rc = kk_error(err, KK_ERR_INTERNAL, 0, "%s: containerd sent a reply that is not a valid %s",
                          c.name, c.method->output->name);
        else
            rc = step(reply, &next, opaque, err);
        if (reply != NULL)
            protobuf_c_message_free_unpacked(reply, NULL);
        if (rc < 0) {
            step_failed = true;
            break;
        }
    }
    if (step_failed) {
        grpc_call_cancel(c.call, NULL);
        c.cancelled = true;
    } else if (ctrd_call_send_msg(&c, NULL, true, err) < 0) {
        step_failed = true;
    }
    /* Pitfall: containerd's Content.Write answers once more after the half-close, and the status only
     * arrives once every message was read. Drain, then read it. */
    for (;;) {
        grpc_byte_buffer *buf = NULL;
        struct kk_err drain_err;
        if (ctrd_call_recv(&c, &buf, false, &drain_err) < 0 || buf == NULL)
            break;
        grpc_byte_buffer_destroy(buf);
    }
    grpc_status_code status;
    int st = ctrd_call_status(&c, &status, &status_err);
    if (step_failed)
        goto out;
    if (st == 0) {
        ret = 0;
        goto out;
    }
    if (err != NULL)
        *err = status_err;
out:
    if (c.call != NULL) {
        grpc_call_unref(c.call);
        c.call = NULL;
    }
    return ret;
}
