/* The serving side of a helper socket, after OpenSSH's monitor table: each helper lists the requests
 * it serves; the loop takes one request at a time, in order, and anything the table does not allow
 * is fatal (fail-stop: the helper exits non-zero, the supervisor restarts the group). HELLO and STATUS
 * are served here for every helper. Every decision writes one audit line, except a poll that found
 * nothing (kk_ipc_quiet). */
#ifndef KUKEON_IPC_DISPATCH_H
#define KUKEON_IPC_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <protobuf-c/protobuf-c.h>

#include "common/audit.h"
#include "common/err.h"
#include "ipc/client.h" /* the calling side (kk_ipc_call, kk_ipc_hello), for code that holds both ends */
#include "ipc/frame.h"

/* Entry flags. */
#define KK_IPC_PERMIT 0x1u /* permitted as soon as HELLO is done; without it, only after kk_ipc_permit() */
#define KK_IPC_ONCE   0x2u /* served at most once per connection: no longer permitted after its first use */

#define KK_IPC_MAX_ENTRIES    64  /* per helper table */
#define KK_IPC_BUILTIN_COUNT  2   /* HELLO and STATUS, served by this layer */
#define KK_IPC_TEXT_MAX       512 /* a Denied or Error message, a reason */
#define KK_IPC_ROLE_MAX       32  /* the peer role declared in HELLO */
#define KK_IPC_STATUS_DETAILS 16

struct kk_ipc_request; /* one request being served; owned by the loop */

/* Serve one well-formed request. msg is the payload unpacked with the entry's request_desc (cast it
 * to the generated type); the loop frees it. Return 0 on success: the reply is what the handler sent
 * with kk_ipc_reply, or an empty reply if it sent none. Return -1 with err set on failure: the loop
 * answers ERROR (err->kind, err->msg) and lives on; or after kk_ipc_deny, DENIED; or after
 * kk_ipc_fatal, the loop ends. */
typedef int (*kk_ipc_handler_fn)(struct kk_ipc_request *req, const ProtobufCMessage *msg, void *ctx,
                                 struct kk_err *err);

struct kk_ipc_dispatch {
    uint16_t type;    /* a request number in the helper's range (ipc/proto/helper.proto) */
    const char *name; /* operation name for the audit log, [a-z0-9._-] ("cgroup.write") */
    unsigned flags;   /* KK_IPC_PERMIT, KK_IPC_ONCE */
    bool fd_expected; /* the request must carry exactly one fd (true) or none (false) */
    const ProtobufCMessageDescriptor *request_desc;
    kk_ipc_handler_fn handler;
};

/* Helper-specific STATUS facts (e.g. the cgroup root); add them with kk_ipc_status_add. */
struct kk_ipc_status_details;
typedef int (*kk_ipc_status_fn)(struct kk_ipc_status_details *d, void *ctx, struct kk_err *err);
int kk_ipc_status_add(struct kk_ipc_status_details *d, const char *key, const char *value,
                      struct kk_err *err);

struct kk_ipc_server_opts {
    const char *helper;      /* program name, for HELLO, STATUS and the audit log ("kuke-cgd") */
    struct kk_audit *audit;  /* where decisions go; NULL only in tests and fuzzing */
    const char *peer_role;   /* the role the peer must declare in HELLO ("api"); NULL: any valid role */
    kk_ipc_status_fn status; /* optional */
};

/* The loop's state. Public only so that it can live on the caller's stack; touch it through the
 * functions below. */
struct kk_ipc_server {
    int sock;
    const struct kk_ipc_dispatch *table;
    size_t n;
    void *ctx;
    struct kk_ipc_server_opts opts;
    bool hello_done;
    bool dead; /* a fatal decision was taken: nothing more is served */
    bool permitted[KK_IPC_BUILTIN_COUNT + KK_IPC_MAX_ENTRIES]; /* built-ins first, then table */
    char peer_role[KK_IPC_ROLE_MAX];
    uint64_t served, denied, failed;
    struct timespec started;
};

/* Check the table (types in the request range, no duplicates, no HELLO or STATUS, known flags,
 * descriptor and handler set, names valid) and set up the state. A bad table is KK_ERR_INTERNAL. */
int kk_ipc_server_init(struct kk_ipc_server *srv, int sock, const struct kk_ipc_dispatch *table, size_t n,
                       void *ctx, const struct kk_ipc_server_opts *opts, struct kk_err *err);

/* Serve one received message (already through kk_ipc_decode or kk_ipc_recv); takes its fd, closing it
 * on every path unless a handler took it. Returns 0 when the connection goes on (including after an
 * ERROR or DENIED answer), -1 with err set on a fatal decision; from then on it refuses everything.
 * Exposed so a fuzzer can drive the dispatcher without a peer process. */
int kk_ipc_server_dispatch(struct kk_ipc_server *srv, struct kk_ipc_msg *msg, struct kk_err *err);

/* Receive and serve one request. 1: served, go on; 0: the peer closed the socket; -1: fatal. */
int kk_ipc_server_step(struct kk_ipc_server *srv, struct kk_err *err);

/* The whole loop: init, then step until the peer closes (returns 0) or a fatal decision (returns -1,
 * err set; the helper must exit non-zero). */
int kk_ipc_serve(int sock, const struct kk_ipc_dispatch *table, size_t n, void *ctx,
                 const struct kk_ipc_server_opts *opts, struct kk_err *err);

/* ---- for handlers ------------------------------------------------------------------------------ */

uint32_t kk_ipc_request_id(const struct kk_ipc_request *req);
/* The fd that came with the request, still owned by the loop (closed after the handler), or -1. */
int kk_ipc_request_fd(const struct kk_ipc_request *req);
/* Take ownership of the request's fd; the loop will not close it. */
int kk_ipc_request_take_fd(struct kk_ipc_request *req);

/* Send the reply now (type = request type | KK_IPC_REPLY_BIT), with fd (-1: none; the caller keeps
 * it). At most once per request. A failure to send makes the request fatal. */
int kk_ipc_reply(struct kk_ipc_request *req, const ProtobufCMessage *reply, int fd, struct kk_err *err);

/* Record a validated name for the audit line (copied; at most KK_AUDIT_NAMES_MAX, the rest dropped).
 * Only names the helper has validated: the line says what the helper acted on. */
void kk_ipc_audit_name(struct kk_ipc_request *req, const char *key, const char *value);

/* This request, if it succeeds, writes no audit line: for a poll that found nothing (kuke-ctrd's
 * events.read, asked every second by the reconcile loop, would otherwise write 86,400 empty lines a
 * day). A denial, an error or a fatal decision is recorded all the same. */
void kk_ipc_quiet(struct kk_ipc_request *req);

/* Refuse the request: fills err (KK_ERR_DENIED) and returns -1, for `return kk_ipc_deny(...)`. The
 * loop answers DENIED with the reason and message and lives on. */
int kk_ipc_deny(struct kk_ipc_request *req, struct kk_err *err, enum kk_ipc_deny_reason reason,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The request proves the peer cannot be trusted any more (or an invariant broke): fills err, returns
 * -1, and the loop ends after the audit line. */
int kk_ipc_fatal(struct kk_ipc_request *req, struct kk_err *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Allow or forbid a table entry from now on (OpenSSH's monitor_permit), for requests that only make
 * sense after another. Unknown types are an error. */
int kk_ipc_permit(struct kk_ipc_request *req, uint16_t type, bool permitted, struct kk_err *err);

#endif
