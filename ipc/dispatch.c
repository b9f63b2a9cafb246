/* The helper serve loop: table checks, the HELLO gate, permits, strict unpacking, the one answer per
 * request, and one audit line per decision (see dispatch.h). */
#include "ipc/dispatch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/proto/helper.pb-c.h"

/* A reason or farewell: a short prefix and an error message. */
#define KK_IPC_REASON_MAX (KK_ERR_MSG_MAX + 64)

struct kk_ipc_request {
    struct kk_ipc_server *srv;
    const struct kk_ipc_dispatch *entry;
    uint16_t type;
    uint32_t id;
    int fd;
    bool replied, denied, fatal, send_failed;
    bool quiet; /* kk_ipc_quiet: a success that is not recorded */
    uint32_t deny_reason;
    struct kk_audit_kv names[KK_AUDIT_NAMES_MAX];
    char keys[KK_AUDIT_NAMES_MAX][KK_AUDIT_KEY_MAX];
    char values[KK_AUDIT_NAMES_MAX][KK_AUDIT_VALUE_MAX];
    size_t n_names;
};

struct kk_ipc_status_details {
    size_t n;
    char keys[KK_IPC_STATUS_DETAILS][KK_AUDIT_KEY_MAX];
    char values[KK_IPC_STATUS_DETAILS][KK_AUDIT_VALUE_MAX];
};

static int builtin_hello(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                         struct kk_err *err);
static int builtin_status(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                          struct kk_err *err);

/* HELLO carries no PERMIT flag: the "before HELLO" gate admits it, and ONCE closes it behind itself. */
static const struct kk_ipc_dispatch builtin_table[KK_IPC_BUILTIN_COUNT] = {
    {KK_IPC_HELLO, "hello", KK_IPC_ONCE, false, &kukeon__ipc__hello__descriptor, builtin_hello},
    {KK_IPC_STATUS, "status", KK_IPC_PERMIT, false, &kukeon__ipc__status_request__descriptor, builtin_status},
};

/* ---- table ------------------------------------------------------------------------------------ */

static bool valid_token(const char *s, size_t max, bool dots)
{
    size_t n = s != NULL ? strnlen(s, max) : 0;
    if (n == 0 || n >= max)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              (dots && (c == '.' || c == '_'))))
            return false;
    }
    return true;
}

static size_t entry_count(const struct kk_ipc_server *srv)
{
    return KK_IPC_BUILTIN_COUNT + srv->n;
}

static const struct kk_ipc_dispatch *entry_at(const struct kk_ipc_server *srv, size_t i)
{
    return i < KK_IPC_BUILTIN_COUNT ? &builtin_table[i] : &srv->table[i - KK_IPC_BUILTIN_COUNT];
}

static bool entry_find(const struct kk_ipc_server *srv, uint16_t type, size_t *index)
{
    for (size_t i = 0; i < entry_count(srv); i++) {
        if (entry_at(srv, i)->type == type) {
            *index = i;
            return true;
        }
    }
    return false;
}

int kk_ipc_server_init(struct kk_ipc_server *srv, int sock, const struct kk_ipc_dispatch *table, size_t n,
                       void *ctx, const struct kk_ipc_server_opts *opts, struct kk_err *err)
{
    memset(srv, 0, sizeof(*srv));
    srv->sock = sock;
    srv->dead = true; /* until the table is proven sound */
    if (opts == NULL || !valid_token(opts->helper, KK_AUDIT_HELPER_MAX, false))
        return kk_error(err, KK_ERR_INTERNAL, 0, "ipc server: helper name must be 1-%d bytes of [a-z0-9-]",
                        KK_AUDIT_HELPER_MAX - 1);
    if (n > KK_IPC_MAX_ENTRIES || (n > 0 && table == NULL))
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: dispatch table of %zu entries (at most %d)",
                        opts->helper, n, KK_IPC_MAX_ENTRIES);
    if (opts->peer_role != NULL && !valid_token(opts->peer_role, KK_IPC_ROLE_MAX, false))
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: expected peer role is not 1-%d bytes of [a-z0-9-]",
                        opts->helper, KK_IPC_ROLE_MAX - 1);
    for (size_t i = 0; i < n; i++) {
        const struct kk_ipc_dispatch *e = &table[i];
        if (e->type <= KK_IPC_COMMON_LAST || e->type > KK_IPC_REQUEST_LAST)
            return kk_error(err, KK_ERR_INTERNAL, 0,
                            "%s: dispatch entry %zu has type 0x%04x, outside the helper request ranges",
                            opts->helper, i, (unsigned)e->type);
        for (size_t j = 0; j < i; j++)
            if (table[j].type == e->type)
                return kk_error(err, KK_ERR_INTERNAL, 0,
                                "%s: type 0x%04x appears twice in the dispatch table", opts->helper,
                                (unsigned)e->type);
        if ((e->flags & ~(KK_IPC_PERMIT | KK_IPC_ONCE)) != 0)
            return kk_error(err, KK_ERR_INTERNAL, 0, "%s: dispatch entry 0x%04x has unknown flags 0x%x",
                            opts->helper, (unsigned)e->type, e->flags);
        if (e->request_desc == NULL || e->request_desc->magic != PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC ||
            e->handler == NULL)
            return kk_error(err, KK_ERR_INTERNAL, 0,
                            "%s: dispatch entry 0x%04x lacks a descriptor or handler", opts->helper,
                            (unsigned)e->type);
        if (!valid_token(e->name, KK_AUDIT_OP_MAX, true))
            return kk_error(err, KK_ERR_INTERNAL, 0, "%s: dispatch entry 0x%04x needs a name of [a-z0-9._-]",
                            opts->helper, (unsigned)e->type);
    }
    srv->table = table;
    srv->n = n;
    srv->ctx = ctx;
    srv->opts = *opts;
    clock_gettime(CLOCK_MONOTONIC, &srv->started);
    srv->dead = false;
    return 0;
}

/* ---- decisions ---------------------------------------------------------------------------------- */

static int audit_decision(struct kk_ipc_server *srv, const struct kk_ipc_request *req, const char *op,
                          enum kk_audit_decision decision, const char *reason, struct kk_err *err)
{
    if (srv->opts.audit == NULL)
        return 0;
    struct kk_audit_event ev = {
        .request_id = req->id,
        .operation = op,
        .names = req->names,
        .n_names = req->n_names,
        .decision = decision,
        .reason = reason,
    };
    if (kk_audit_log(srv->opts.audit, &ev, err) < 0)
        return kk_error_wrap(err, "%s stops so that no decision goes unrecorded", srv->opts.helper);
    return 0;
}

static void send_text_reply(struct kk_ipc_server *srv, uint16_t type, uint32_t id, uint32_t code,
                            const char *text, struct kk_err *err_out, bool *failed)
{
    struct kk_err err;
    int rc;
    if (type == KK_IPC_DENIED) {
        Kukeon__Ipc__Denied d = KUKEON__IPC__DENIED__INIT;
        d.reason = code;
        d.message = (char *)text;
        rc = kk_ipc_send(srv->sock, type, id, &d.base, -1, &err);
    } else {
        Kukeon__Ipc__Error e = KUKEON__IPC__ERROR__INIT;
        e.kind = code;
        e.message = (char *)text;
        rc = kk_ipc_send(srv->sock, type, id, &e.base, -1, &err);
    }
    if (rc < 0 && failed != NULL) {
        *failed = true;
        if (err_out != NULL)
            *err_out = err;
    }
}

/* The fatal path: record it, tell the peer why with a farewell ERROR (request id 0) so that its
 * in-flight call fails with a clear message, and refuse everything from now on. err holds the cause. */
static int decide_fatal(struct kk_ipc_server *srv, struct kk_ipc_request *req, const char *op,
                        struct kk_err *err)
{
    srv->dead = true;
    struct kk_err aerr;
    if (audit_decision(srv, req, op, KK_AUDIT_FATAL, err->msg, &aerr) < 0)
        kk_warn("%s", aerr.msg);
    char farewell[KK_IPC_REASON_MAX];
    snprintf(farewell, sizeof(farewell), "%s ends the connection: %s", srv->opts.helper, err->msg);
    send_text_reply(srv, KK_IPC_ERROR, 0, KK_ERR_UNAVAILABLE, farewell, NULL, NULL);
    return -1;
}

static int fatal_msg(struct kk_ipc_server *srv, struct kk_ipc_request *req, const char *op,
                     struct kk_err *err, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fatal_msg(struct kk_ipc_server *srv, struct kk_ipc_request *req, const char *op,
                     struct kk_err *err, const char *fmt, ...)
{
    char text[KK_IPC_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        text[0] = '\0';
    kk_error(err, KK_ERR_INVALID, 0, "%s", text);
    return decide_fatal(srv, req, op, err);
}

/* ---- one request -------------------------------------------------------------------------------- */

static int run_handler(struct kk_ipc_server *srv, struct kk_ipc_request *req, const struct kk_ipc_msg *msg,
                       const char *op, struct kk_err *err)
{
    const struct kk_ipc_dispatch *e = req->entry;
    char tname[24];
    const char *tn = kk_ipc_type_name(req->type, tname, sizeof(tname));
    ProtobufCMessage *pm = NULL;
    struct kk_err uerr;
    if (kk_ipc_unpack(e->request_desc, msg->payload, msg->hdr.length, &pm, &uerr) < 0)
        return fatal_msg(srv, req, op, err, "%s (%s): %s", tn, e->name, uerr.msg);

    struct kk_err herr;
    kk_err_clear(&herr);
    int rc = e->handler(req, pm, srv->ctx, &herr);
    protobuf_c_message_free_unpacked(pm, NULL);
    if (rc < 0 && herr.msg[0] == '\0')
        kk_error(&herr, herr.kind != KK_ERR_UNKNOWN ? herr.kind : KK_ERR_INTERNAL, 0, "%s failed", e->name);

    if (req->fatal || req->send_failed) {
        *err = herr;
        return decide_fatal(srv, req, op, err);
    }
    if (rc == 0 && req->denied)
        return fatal_msg(srv, req, op, err, "%s: handler denied the request yet reported success", e->name);
    if (rc < 0 && req->replied)
        return fatal_msg(srv, req, op, err, "%s: handler failed after replying: %s", e->name, herr.msg);

    enum kk_audit_decision decision;
    char reason[KK_IPC_REASON_MAX] = "";
    bool send_failed = false;
    struct kk_err serr;
    if (rc == 0) {
        if (!req->replied && kk_ipc_send(srv->sock, KK_IPC_REPLY(req->type), req->id, NULL, -1, &serr) < 0) {
            *err = serr;
            return decide_fatal(srv, req, op, err);
        }
        decision = KK_AUDIT_OK;
    } else if (req->denied) {
        send_text_reply(srv, KK_IPC_DENIED, req->id, req->deny_reason, herr.msg, &serr, &send_failed);
        snprintf(reason, sizeof(reason), "%s: %s", kk_ipc_deny_reason_name(req->deny_reason), herr.msg);
        decision = KK_AUDIT_DENIED;
        srv->denied++;
    } else {
        send_text_reply(srv, KK_IPC_ERROR, req->id, (uint32_t)herr.kind, herr.msg, &serr, &send_failed);
        snprintf(reason, sizeof(reason), "%s: %s", kk_err_kind_name(herr.kind), herr.msg);
        decision = KK_AUDIT_ERROR;
        srv->failed++;
    }
    if (send_failed) {
        *err = serr;
        return decide_fatal(srv, req, op, err);
    }
    srv->served++;
    if (decision == KK_AUDIT_OK && req->quiet)
        return 0;
    if (audit_decision(srv, req, op, decision, reason, err) < 0) {
        srv->dead = true;
        return -1;
    }
    return 0;
}

int kk_ipc_server_dispatch(struct kk_ipc_server *srv, struct kk_ipc_msg *msg, struct kk_err *err)
{
    struct kk_ipc_request req = {
        .srv = srv,
        .type = msg->hdr.type,
        .id = msg->hdr.request_id,
        .fd = KK_STEAL_FD(msg->fd),
    };
    char tname[24];
    const char *tn = kk_ipc_type_name(req.type, tname, sizeof(tname));
    char typenum[8];
    snprintf(typenum, sizeof(typenum), "0x%04x", (unsigned)req.type);
    int rc;

    if (srv->dead) {
        kk_closep(&req.fd);
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: the connection already failed; nothing more is served",
                        srv->opts.helper != NULL ? srv->opts.helper : "ipc server");
    }

    size_t idx = 0;
    bool known = !(req.type & KK_IPC_REPLY_BIT) && entry_find(srv, req.type, &idx);
    if (known)
        req.entry = entry_at(srv, idx);
    else
        kk_ipc_audit_name(&req, "type", typenum);
    const char *op = known ? req.entry->name : "unknown";

    if (req.type & KK_IPC_REPLY_BIT)
        rc = fatal_msg(srv, &req, op, err, "%s is a reply; %s serves requests only", tn, srv->opts.helper);
    else if (!known)
        rc = fatal_msg(srv, &req, op, err, "%s is not in %s's dispatch table", tn, srv->opts.helper);
    else if (req.id == 0)
        rc = fatal_msg(srv, &req, op, err, "%s with request id 0, which is reserved", tn);
    else if (!srv->hello_done && req.type != KK_IPC_HELLO)
        rc = fatal_msg(srv, &req, op, err, "%s (%s) before HELLO", tn, req.entry->name);
    else if (srv->hello_done && req.type == KK_IPC_HELLO)
        rc = fatal_msg(srv, &req, op, err, "second HELLO");
    else if (!srv->permitted[idx] && req.type != KK_IPC_HELLO)
        rc = fatal_msg(srv, &req, op, err, "%s (%s) is not permitted now", tn, req.entry->name);
    else if (req.entry->fd_expected && req.fd < 0)
        rc = fatal_msg(srv, &req, op, err, "%s (%s) expects an fd and none came", tn, req.entry->name);
    else if (!req.entry->fd_expected && req.fd >= 0)
        rc = fatal_msg(srv, &req, op, err, "%s (%s) carries an fd where none belongs", tn, req.entry->name);
    else {
        /* OpenSSH's MON_ONCE: the permit goes before the handler runs, whatever its outcome. */
        if (req.entry->flags & KK_IPC_ONCE)
            srv->permitted[idx] = false;
        rc = run_handler(srv, &req, msg, op, err);
    }
    kk_closep(&req.fd);
    return rc;
}

int kk_ipc_server_step(struct kk_ipc_server *srv, struct kk_err *err)
{
    if (srv->dead)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: the connection already failed; nothing more is served",
                        srv->opts.helper != NULL ? srv->opts.helper : "ipc server");
    _cleanup_free_ struct kk_ipc_msg *msg = malloc(sizeof(*msg));
    if (msg == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "%s: receive buffer", srv->opts.helper);
    struct kk_err rerr;
    if (kk_ipc_recv(srv->sock, msg, &rerr) < 0) {
        /* kk_ipc_recv says UNAVAILABLE without errno only when the peer is gone: an orderly end. */
        if (rerr.kind == KK_ERR_UNAVAILABLE && rerr.errnum == 0)
            return 0;
        struct kk_ipc_request req = {.srv = srv, .id = msg->hdr.request_id, .fd = -1};
        *err = rerr;
        return decide_fatal(srv, &req, "frame", err);
    }
    return kk_ipc_server_dispatch(srv, msg, err) < 0 ? -1 : 1;
}

int kk_ipc_serve(int sock, const struct kk_ipc_dispatch *table, size_t n, void *ctx,
                 const struct kk_ipc_server_opts *opts, struct kk_err *err)
{
    struct kk_ipc_server srv;
    if (kk_ipc_server_init(&srv, sock, table, n, ctx, opts, err) < 0)
        return -1;
    for (;;) {
        int rc = kk_ipc_server_step(&srv, err);
        if (rc <= 0)
            return rc;
    }
}

/* ---- for handlers ------------------------------------------------------------------------------- */

uint32_t kk_ipc_request_id(const struct kk_ipc_request *req)
{
    return req->id;
}

int kk_ipc_request_fd(const struct kk_ipc_request *req)
{
    return req->fd;
}

int kk_ipc_request_take_fd(struct kk_ipc_request *req)
{
    return KK_STEAL_FD(req->fd);
}

int kk_ipc_reply(struct kk_ipc_request *req, const ProtobufCMessage *reply, int fd, struct kk_err *err)
{
    if (req->replied || req->denied) {
        req->fatal = true;
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: a second answer to one request", req->entry->name);
    }
    if (kk_ipc_send(req->srv->sock, KK_IPC_REPLY(req->type), req->id, reply, fd, err) < 0) {
        req->send_failed = true;
        return -1;
    }
    req->replied = true;
    return 0;
}

void kk_ipc_quiet(struct kk_ipc_request *req)
{
    req->quiet = true;
}

void kk_ipc_audit_name(struct kk_ipc_request *req, const char *key, const char *value)
{
    if (req->n_names >= KK_AUDIT_NAMES_MAX || key == NULL)
        return;
    size_t i = req->n_names++;
    size_t klen = strnlen(key, KK_AUDIT_KEY_MAX - 1);
    memcpy(req->keys[i], key, klen);
    req->keys[i][klen] = '\0';
    const char *v = value != NULL ? value : "";
    size_t vlen = strnlen(v, KK_AUDIT_VALUE_MAX);
    if (vlen >= KK_AUDIT_VALUE_MAX) {
        /* Too long to keep whole: mark the cut so the line does not pass for the full value. */
        vlen = KK_AUDIT_VALUE_MAX - 4;
        memcpy(req->values[i], v, vlen);
        memcpy(req->values[i] + vlen, "...", 4);
    } else {
        memcpy(req->values[i], v, vlen);
        req->values[i][vlen] = '\0';
    }
    req->names[i].key = req->keys[i];
    req->names[i].value = req->values[i];
}

int kk_ipc_deny(struct kk_ipc_request *req, struct kk_err *err, enum kk_ipc_deny_reason reason,
                const char *fmt, ...)
{
    char text[KK_IPC_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        text[0] = '\0';
    req->denied = true;
    req->deny_reason = (uint32_t)reason;
    return kk_error(err, KK_ERR_DENIED, 0, "%s", text);
}

int kk_ipc_fatal(struct kk_ipc_request *req, struct kk_err *err, const char *fmt, ...)
{
    char text[KK_IPC_TEXT_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        text[0] = '\0';
    req->fatal = true;
    return kk_error(err, KK_ERR_INVALID, 0, "%s", text);
}

int kk_ipc_permit(struct kk_ipc_request *req, uint16_t type, bool permitted, struct kk_err *err)
{
    size_t idx;
    /* HELLO's gate is the handshake itself, not a permit. */
    if (type == KK_IPC_HELLO || !entry_find(req->srv, type, &idx))
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: cannot permit type 0x%04x, it is not in the table",
                        req->srv->opts.helper, (unsigned)type);
    req->srv->permitted[idx] = permitted;
    return 0;
}

int kk_ipc_status_add(struct kk_ipc_status_details *d, const char *key, const char *value, struct kk_err *err)
{
    if (d->n >= KK_IPC_STATUS_DETAILS)
        return kk_error(err, KK_ERR_INTERNAL, 0, "more than %d STATUS details", KK_IPC_STATUS_DETAILS);
    if (key == NULL || value == NULL || kk_strlcpy(d->keys[d->n], key, sizeof(d->keys[d->n])) < 0 ||
        kk_strlcpy(d->values[d->n], value, sizeof(d->values[d->n])) < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "STATUS detail %s does not fit",
                        key != NULL ? key : "(null)");
    d->n++;
    return 0;
}

/* ---- HELLO and STATUS --------------------------------------------------------------------------- */

static int builtin_hello(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                         struct kk_err *err)
{
    struct kk_ipc_server *srv = req->srv;
    const Kukeon__Ipc__Hello *hello = (const Kukeon__Ipc__Hello *)msg;
    (void)ctx;
    if (hello->protocol_version != KK_IPC_VERSION)
        return kk_ipc_fatal(req, err, "peer speaks protocol version %u, %s speaks %u",
                            hello->protocol_version, srv->opts.helper, KK_IPC_VERSION);
    if (!valid_token(hello->peer_role, KK_IPC_ROLE_MAX, false))
        return kk_ipc_fatal(req, err, "HELLO: peer role is not 1-%d bytes of [a-z0-9-]", KK_IPC_ROLE_MAX - 1);
    kk_ipc_audit_name(req, "peer_role", hello->peer_role);
    if (srv->opts.peer_role != NULL && strcmp(hello->peer_role, srv->opts.peer_role) != 0)
        return kk_ipc_fatal(req, err, "HELLO: %s serves role %s only", srv->opts.helper, srv->opts.peer_role);

    memcpy(srv->peer_role, hello->peer_role, strlen(hello->peer_role) + 1);
    srv->hello_done = true;
    for (size_t i = 0; i < entry_count(srv); i++)
        if (entry_at(srv, i)->flags & KK_IPC_PERMIT)
            srv->permitted[i] = true;

    Kukeon__Ipc__HelloReply reply = KUKEON__IPC__HELLO_REPLY__INIT;
    reply.helper = (char *)srv->opts.helper;
    reply.pid = (uint32_t)getpid();
    reply.protocol_version = KK_IPC_VERSION;
    return kk_ipc_reply(req, &reply.base, -1, err);
}

static int builtin_status(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                          struct kk_err *err)
{
    struct kk_ipc_server *srv = req->srv;
    (void)msg;
    struct kk_ipc_status_details details = {.n = 0};
    if (srv->opts.status != NULL && srv->opts.status(&details, ctx, err) < 0)
        return kk_error_wrap(err, "%s: collecting status", srv->opts.helper);

    Kukeon__Ipc__StatusDetail items[KK_IPC_STATUS_DETAILS];
    Kukeon__Ipc__StatusDetail *item_ptrs[KK_IPC_STATUS_DETAILS];
    for (size_t i = 0; i < details.n; i++) {
        kukeon__ipc__status_detail__init(&items[i]);
        items[i].key = details.keys[i];
        items[i].value = details.values[i];
        item_ptrs[i] = &items[i];
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t up_ms =
        (int64_t)(now.tv_sec - srv->started.tv_sec) * 1000 + (now.tv_nsec - srv->started.tv_nsec) / 1000000;

    Kukeon__Ipc__StatusReply reply = KUKEON__IPC__STATUS_REPLY__INIT;
    reply.helper = (char *)srv->opts.helper;
    reply.pid = (uint32_t)getpid();
    reply.uid = (uint32_t)getuid();
    reply.gid = (uint32_t)getgid();
    reply.requests_served = srv->served;
    reply.requests_denied = srv->denied;
    reply.requests_failed = srv->failed;
    reply.protocol_version = KK_IPC_VERSION;
    reply.peer_role = srv->peer_role;
    reply.uptime_ms = up_ms > 0 ? (uint64_t)up_ms : 0;
    reply.n_details = details.n;
    reply.details = details.n > 0 ? item_ptrs : NULL;
    return kk_ipc_reply(req, &reply.base, -1, err);
}
