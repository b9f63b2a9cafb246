/* The kukeond API worker: user kukeon, no capabilities, inside its seccomp sandbox. It serves
 * kukeonv1 (JSON-RPC 1.0) on the listening socket it inherits, admits root and members of group
 * kukeon by SO_PEERCRED/SO_PEERGROUPS, logs who called what, and reaches the helpers only through
 * the socketpairs the supervisor gave it. The resource methods are the controller's
 * (kukeond/controller.h), the same code kuke runs in-process; Ping and DaemonStatus are its own.
 *
 * Threads: the main thread owns every client connection (poll, accept, read, frame, write) and
 * answers Ping itself, so a liveness check never waits behind work. Every other request goes to a
 * small pool of worker threads, one request per client at a time (a client's replies stay in
 * order). Methods that may change state (kk_ctl_method_writes) hold the writer lock, so writes run
 * one at a time; Get*, List* and DaemonStatus run beside them. The reconcile thread
 * (kukeond/ctl_reconcile.h) takes the same writer lock per cell. Helper sockets carry one request
 * at a time; ipc/client.c serialises calls per socket. */
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/dispatch.h"
#include "ipc/jsonrpc.h"
#include "ipc/proto/helper.pb-c.h"
#include "kukeond/controller.h"
#include "kukeond/ctl_list.h"
#include "kukeond/ctl_reconcile.h"
#include "kukeond/image_pull.h"
#include "kukeond/kukeond.h"
#include "security/sandbox.h"

#define KD_MAX_CLIENTS 64
#define KD_TRIM_AFTER_BYTES (256 * 1024)
/* An API worker that served no request for this long lets go of the store's text cache (the texts
 * ListCells is answered from, ~1.5 KiB a cell): an idle group holds what it held when fresh. */
#define KD_CACHE_IDLE_MS (60 * 1000)
#define KD_MAX_GROUPS  256
/* Worker threads: enough that a slow write (a cell whose image is being unpacked) leaves room for
 * readers and DaemonStatus; writes queue on the writer lock anyway. */
#define KD_WORKERS 4

struct kd_client {
    int fd;
    uid_t uid;
    gid_t gid;
    pid_t pid;
    bool admitted;
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_len, out_off;
    bool close_after_write;
    bool busy;      /* a request of this client is with the workers: not polled until it is back */
    bool peer_done; /* the peer shut down its side; what it sent is still served */
};

/* One request handed to the workers, and its answer coming back. */
struct kd_job {
    struct kd_job *next;
    int slot; /* index into clients[] (the slot stays the client's while busy) */
    struct kd_caller_copy {
        uid_t uid;
        gid_t gid;
        pid_t pid;
    } caller;
    struct kk_jsonrpc_request req;
    char *reply_line; /* encoded response, or NULL: out of memory, hang up */
};

struct kd_api {
    struct kk_config cfg;
    struct kk_ctl ctl; /* the controller, with the helper sockets */
    gid_t kukeon_gid;
    int listen_fd;
    int helper_fd[KK_CTL_HELPERS];
    struct kd_client clients[KD_MAX_CLIENTS];
    /* The workers' queues: todo (main -> workers) and done (workers -> main, with SIGUSR1 to the
     * main thread, which ppoll unblocks atomically, so a wake-up is never lost and no descriptor
     * is needed for it). */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    struct kd_job *todo_head, *todo_tail, *done_head;
    pthread_t main_thread;
    /* Held by every writing method and by the reconcile loop around each cell it touches. */
    pthread_mutex_t writer;
    struct kk_reconcile *rec;
    int64_t last_request_ms; /* monotonic; the main thread's, for the idle drop of the text cache */
};

/* In the order of enum kk_ctl_helper, which is also the order of the descriptors (kukeond.h). */
static const char *const kd_helper_names[KK_CTL_HELPERS] = {"kuke-cgd", "kuke-netd", "kuke-ctrd",
                                                            "kuke-fetchd"};
static const enum kk_role kd_helper_roles[KK_CTL_HELPERS] = {KK_ROLE_CGD, KK_ROLE_NETD, KK_ROLE_CTRD,
                                                             KK_ROLE_FETCHD};

static int64_t kd_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static volatile sig_atomic_t kd_api_stop;
/* SIGUSR1 only interrupts ppoll; the loop then looks at the done queue. */
static void kd_api_on_wake(int sig)
{
    (void)sig;
}

static void kd_api_on_term(int sig)
{
    (void)sig;
    kd_api_stop = 1;
}

/* The stop (docs/architecture.md, "Stopping"): once set, a thread that takes the writer lock gives it
 * back at once and waits for the process to end, so the main thread gets the lock as soon as the
 * write or reconcile pass that held it is done, and none begins after. KD_DRAIN_S bounds that wait:
 * below the supervisor's grace for the API worker (kukeond/supervisor.c KD_API_GRACE_MS), above
 * a cell stop's SIGKILL deadline (CELL_STOP_TIMEOUT_MS, 5 s). */
#define KD_DRAIN_S 8
static atomic_bool kd_api_draining;
static pthread_mutex_t kd_park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t kd_park_cond = PTHREAD_COND_INITIALIZER;

static void kd_writer_enter(pthread_mutex_t *writer)
{
    pthread_mutex_lock(writer);
    if (!atomic_load(&kd_api_draining))
        return;
    pthread_mutex_unlock(writer);
    pthread_mutex_lock(&kd_park_lock);
    for (;;) /* never signalled: the process ends under this thread */
        pthread_cond_wait(&kd_park_cond, &kd_park_lock);
}

/* Wait (bounded) until no write runs, and keep the lock: the process ends holding it. */
static void kd_drain(struct kd_api *api)
{
    atomic_store(&kd_api_draining, true);
    if (pthread_mutex_trylock(&api->writer) == 0) {
        kk_info("stopping: no write in progress");
        return;
    }
    kk_info("stopping: waiting (at most %d s) for the write in progress to finish", KD_DRAIN_S);
    int64_t t0 = kd_now_ms();
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += KD_DRAIN_S;
    int rc = pthread_mutex_timedlock(&api->writer, &until);
    if (rc == 0)
        kk_info("stopping: the write in progress finished (%lld ms)", (long long)(kd_now_ms() - t0));
    else
        kk_warn("stopping: a write still runs after %d s (%s); the process ends under it, the reconcile "
                "pass at the next start finishes what it left",
                KD_DRAIN_S, strerror(rc));
}

/* The descriptors the supervisor promised must be there, and be what they should be. */
static int kd_api_check_fds(struct kk_err *err)
{
    static const int socks[] = {KD_FD_REQUEST, KD_FD_API_CGD, KD_FD_API_NETD, KD_FD_API_CTRD,
                                KD_FD_API_FETCHD};
    for (size_t i = 0; i < KK_ARRAY_SIZE(socks); i++) {
        struct stat st;
        if (fstat(socks[i], &st) < 0 || !S_ISSOCK(st.st_mode))
            return kk_error(err, KK_ERR_INVALID, 0,
                            "fd %d is not a socket: kukeond api is started by 'kukeond serve', not by hand",
                            socks[i]);
        fcntl(socks[i], F_SETFD, FD_CLOEXEC);
    }
    return 0;
}

/* ---- methods ---------------------------------------------------------------------------------- */

struct kd_caller {
    uid_t uid;
    gid_t gid;
    pid_t pid;
};

typedef json_t *(*kd_method_fn)(struct kd_api *api, const struct kd_caller *caller, json_t *args);

static json_t *kd_reply_ok(json_t *reply)
{
    json_object_set_new(reply, "Err", json_null());
    return reply;
}

static json_t *kd_method_ping(struct kd_api *api, const struct kd_caller *caller, json_t *args)
{
    return kd_reply_ok(json_pack("{s:b, s:s}", "OK", 1, "Version", KUKEON_VERSION));
}

static json_t *kd_method_daemon_status(struct kd_api *api, const struct kd_caller *caller, json_t *args)
{
    json_t *procs = json_array();
    json_array_append_new(procs, json_pack("{s:s, s:I, s:I, s:I, s:s}", "Name", "kukeond-api", "Pid",
                                           (json_int_t)getpid(), "Uid", (json_int_t)getuid(), "Gid",
                                           (json_int_t)getgid(), "State", "serving"));
    for (int h = 0; h < KK_CTL_HELPERS; h++) {
        Kukeon__Ipc__StatusRequest req = KUKEON__IPC__STATUS_REQUEST__INIT;
        ProtobufCMessage *reply = NULL;
        struct kk_err e = {0};
        /* A helper busy with a long request (a pull, a task wait) is reported busy, not waited for. */
        if (kk_ipc_call_try(api->helper_fd[h], KK_IPC_STATUS, &req.base, 500,
                            &kukeon__ipc__status_reply__descriptor, &reply, &e) < 0) {
            json_array_append_new(procs, json_pack("{s:s, s:I, s:I, s:I, s:s}", "Name", kd_helper_names[h],
                                                   "Pid", (json_int_t)0, "Uid", (json_int_t)-1, "Gid",
                                                   (json_int_t)-1, "State", e.msg));
            continue;
        }
        Kukeon__Ipc__StatusReply *s = (Kukeon__Ipc__StatusReply *)reply;
        json_array_append_new(procs, json_pack("{s:s, s:I, s:I, s:I, s:s}", "Name", kd_helper_names[h], "Pid",
                                               (json_int_t)s->pid, "Uid", (json_int_t)s->uid, "Gid",
                                               (json_int_t)s->gid, "State", "ready"));
        protobuf_c_message_free_unpacked(reply, NULL);
    }
    return kd_reply_ok(json_pack("{s:s, s:o}", "Version", KUKEON_VERSION, "Processes", procs));
}

static const struct {
    const char *name;
    kd_method_fn fn;
} kd_methods[] = {
    {"KukeonV1.Ping", kd_method_ping},
    {"KukeonV1.DaemonStatus", kd_method_daemon_status},
};

/* ---- connections ------------------------------------------------------------------------------ */

static void kd_client_close(struct kd_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->in);
    free(c->out);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

static void kd_client_queue(struct kd_client *c, char *line)
{
    if (line == NULL) {
        c->close_after_write = true;
        return;
    }
    size_t n = strlen(line);
    if (c->out == NULL) {
        c->out = line;
        c->out_len = n;
        c->out_off = 0;
        return;
    }
    char *joined = realloc(c->out, c->out_len + n + 1);
    if (joined == NULL) {
        free(line);
        c->close_after_write = true;
        return;
    }
    memcpy(joined + c->out_len, line, n + 1);
    c->out = joined;
    c->out_len += n;
    free(line);
}

static void kd_client_flush(struct kd_client *c)
{
    while (c->out != NULL && c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                c->close_after_write = true, c->out_off = c->out_len;
            return;
        }
        c->out_off += (size_t)w;
    }
    free(c->out);
    /* A large request (a list read from disk, a large apply) leaves megabytes free in the malloc
     * heap; give them back, so the idle group stays small after a big request. */
    if (c->out_len > KD_TRIM_AFTER_BYTES)
        malloc_trim(0);
    c->out = NULL;
    c->out_len = c->out_off = 0;
}

static void kd_accept(struct kd_api *api)
{
    for (;;) {
        int fd = accept4(api->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        struct kd_client *c = NULL;
        for (int i = 0; i < KD_MAX_CLIENTS; i++)
            if (api->clients[i].fd < 0) {
                c = &api->clients[i];
                break;
            }
        if (c == NULL) {
            kk_warn("refusing a connection: %d clients already connected", KD_MAX_CLIENTS);
            close(fd);
            continue;
        }
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->uid = cred.uid;
        c->gid = cred.gid;
        c->pid = cred.pid;
        c->admitted = cred.uid == 0 || cred.gid == api->kukeon_gid;
        if (!c->admitted) {
            gid_t groups[KD_MAX_GROUPS];
            socklen_t glen = sizeof(groups);
            if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &glen) == 0)
                for (size_t g = 0; g < glen / sizeof(gid_t); g++)
                    if (groups[g] == api->kukeon_gid)
                        c->admitted = true;
        }
        kk_debug("connection from uid=%u gid=%u pid=%d admitted=%s", (unsigned)c->uid, (unsigned)c->gid,
                 (int)c->pid, c->admitted ? "yes" : "no");
    }
}

/* ListCells, the largest reply there is, written as text: the store keeps each document's compact
 * text ready (kk_store_get_text), so a list of a thousand cells is neither read, parsed nor
 * printed again. The bytes are those kd_run_request's generic way makes. NULL: take that way (it
 * also makes the error replies). */
static char *kd_list_cells_line(struct kd_api *api, struct kk_jsonrpc_request *req)
{
    struct kk_store_text out = {0};
    size_t hlen = 0;
    char *head = kk_jsonrpc_response_head(req->id, &hlen);
    static const char tail[] = KK_JSONRPC_RESPONSE_TAIL;
    if (head == NULL || kk_store_text_append(&out, head, hlen) < 0 ||
        kk_ctl_list_cells_text(&api->ctl, req->params, &out) < 0 ||
        kk_store_text_append(&out, tail, sizeof(tail) - 1) < 0) {
        free(head);
        free(out.data);
        return NULL;
    }
    free(head);
    return out.data;
}

/* Run one admitted request (a worker thread, or the main thread for Ping). The reply line is
 * malloc'd; NULL means memory ran out. */
static char *kd_run_request(struct kd_api *api, const struct kd_caller *caller,
                            struct kk_jsonrpc_request *req)
{
    json_t *reply = NULL;
    bool found = false;
    for (size_t i = 0; i < KK_ARRAY_SIZE(kd_methods); i++) {
        if (strcmp(kd_methods[i].name, req->method) == 0) {
            found = true;
            reply = kd_methods[i].fn(api, caller, req->params);
            break;
        }
    }
    static const char prefix[] = "KukeonV1.";
    if (!found && strcmp(req->method, "KukeonV1.ListCells") == 0) {
        char *line = kd_list_cells_line(api, req);
        if (line != NULL)
            return line;
    }
    if (!found && strncmp(req->method, prefix, sizeof(prefix) - 1) == 0 &&
        kk_ctl_has_method(req->method + sizeof(prefix) - 1)) {
        const char *m = req->method + sizeof(prefix) - 1;
        bool writes = kk_ctl_method_writes(m);
        found = true;
        /* A missing image is pulled first, outside the writer lock: a registry may take minutes,
         * and no other write or reconcile pass should wait for it (docs/images.md). The method
         * checks again under the lock; a pull that failed here fails it with the same error, without
         * asking the registry again. */
        if (writes) {
            struct kk_err perr = {0};
            if (kk_ctl_prepull(&api->ctl, m, req->params, NULL, &perr) < 0)
                kk_info("%s: pulling before the writer lock: %s (the request tries again under it)", m,
                        perr.msg);
            kd_writer_enter(&api->writer);
        }
        reply = kk_ctl_call(&api->ctl, m, req->params);
        if (writes) {
            pthread_mutex_unlock(&api->writer);
            kk_ctl_prepull_end();
        }
    }
    char *line;
    if (!found) {
        char method_esc[KK_JSONRPC_METHOD_MAX * 4];
        kk_log_escape(req->method, method_esc, sizeof(method_esc));
        char msg[KK_JSONRPC_METHOD_MAX * 4 + 64];
        snprintf(msg, sizeof(msg), "rpc: can't find method %s", method_esc);
        line = kk_jsonrpc_encode_response(req->id, NULL, msg);
    } else if (reply == NULL) {
        line = kk_jsonrpc_encode_response(req->id, NULL, "internal error: out of memory");
    } else {
        line = kk_jsonrpc_encode_response(req->id, reply, NULL);
        json_decref(reply);
    }
    return line;
}

static void *kd_worker(void *arg)
{
    struct kd_api *api = arg;
    for (;;) {
        pthread_mutex_lock(&api->qlock);
        while (api->todo_head == NULL)
            pthread_cond_wait(&api->qcond, &api->qlock);
        struct kd_job *j = api->todo_head;
        api->todo_head = j->next;
        if (api->todo_head == NULL)
            api->todo_tail = NULL;
        pthread_mutex_unlock(&api->qlock);

        struct kd_caller caller = {j->caller.uid, j->caller.gid, j->caller.pid};
        j->reply_line = kd_run_request(api, &caller, &j->req);
        kk_jsonrpc_request_free(&j->req);

        pthread_mutex_lock(&api->qlock);
        j->next = api->done_head;
        api->done_head = j;
        pthread_mutex_unlock(&api->qlock);
        pthread_kill(api->main_thread, SIGUSR1);
    }
    return NULL;
}

/* Take one framed request of client c: answered at once (malformed, denied, Ping) or handed to the
 * workers, in which case c is busy until the answer is back. */
static void kd_serve_request(struct kd_api *api, struct kd_client *c, const char *buf, size_t len)
{
    struct kk_jsonrpc_request req;
    struct kk_err err = {0};
    if (kk_jsonrpc_parse_request(buf, len, &req, &err) < 0) {
        kk_warn("malformed request from uid=%u pid=%d: %s", (unsigned)c->uid, (int)c->pid, err.msg);
        kd_client_queue(c, kk_jsonrpc_encode_response(req.id, NULL, err.msg));
        kk_jsonrpc_request_free(&req);
        return;
    }
    char method_esc[KK_JSONRPC_METHOD_MAX * 4];
    kk_log_escape(req.method, method_esc, sizeof(method_esc));
    if (!c->admitted) {
        kk_warn("denied %s to uid=%u gid=%u pid=%d: not root and not in group kukeon", method_esc,
                (unsigned)c->uid, (unsigned)c->gid, (int)c->pid);
        char msg[256];
        snprintf(
            msg, sizeof(msg),
            "permission denied: uid %u is neither root nor a member of group kukeon — add yourself to the "
            "group (sudo usermod -aG kukeon $USER) and log in again",
            (unsigned)c->uid);
        kd_client_queue(c, kk_jsonrpc_encode_response(req.id, NULL, msg));
        c->close_after_write = true;
        kk_jsonrpc_request_free(&req);
        return;
    }
    kk_info("call %s uid=%u gid=%u pid=%d", method_esc, (unsigned)c->uid, (unsigned)c->gid, (int)c->pid);
    api->last_request_ms = kd_now_ms();
    struct kd_caller caller = {c->uid, c->gid, c->pid};
    /* Ping is answered here, never queued: it says the daemon is alive, whatever runs. */
    if (strcmp(req.method, "KukeonV1.Ping") == 0) {
        kd_client_queue(c, kd_run_request(api, &caller, &req));
        kk_jsonrpc_request_free(&req);
        return;
    }
    struct kd_job *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        kd_client_queue(c, kk_jsonrpc_encode_response(req.id, NULL, "internal error: out of memory"));
        kk_jsonrpc_request_free(&req);
        return;
    }
    j->slot = (int)(c - api->clients);
    j->caller.uid = c->uid;
    j->caller.gid = c->gid;
    j->caller.pid = c->pid;
    j->req = req;
    c->busy = true;
    pthread_mutex_lock(&api->qlock);
    if (api->todo_tail != NULL)
        api->todo_tail->next = j;
    else
        api->todo_head = j;
    api->todo_tail = j;
    pthread_cond_signal(&api->qcond);
    pthread_mutex_unlock(&api->qlock);
}

/* Read what the peer sent into c's buffer. */
static void kd_client_recv(struct kd_client *c)
{
    for (;;) {
        if (c->in_len == c->in_cap) {
            size_t cap = c->in_cap == 0 ? 4096 : c->in_cap * 2;
            if (cap > KK_JSONRPC_MAX_MSG + 4096) {
                char msg[64];
                snprintf(msg, sizeof(msg), "request larger than %d bytes", KK_JSONRPC_MAX_MSG);
                kd_client_queue(c, kk_jsonrpc_encode_response(NULL, NULL, msg));
                c->close_after_write = true;
                return;
            }
            char *nb = realloc(c->in, cap);
            if (nb == NULL) {
                c->close_after_write = true;
                return;
            }
            c->in = nb;
            c->in_cap = cap;
        }
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            c->peer_done = true;
            break;
        }
        c->in_len += (size_t)n;
    }
}

/* Serve the complete requests in c's buffer, in order, until one goes to the workers. */
static void kd_client_pump(struct kd_api *api, struct kd_client *c)
{
    while (c->in_len > 0 && !c->close_after_write && !c->busy) {
        struct kk_err err = {0};
        ssize_t n = kk_jsonrpc_frame(c->in, c->in_len, KK_JSONRPC_MAX_DEPTH, &err);
        if (n == 0)
            break;
        if (n < 0) {
            /* A stream that cannot be framed cannot be resynchronised: answer and hang up. */
            kk_warn("unframeable request from uid=%u pid=%d: %s", (unsigned)c->uid, (int)c->pid, err.msg);
            kd_client_queue(c, kk_jsonrpc_encode_response(NULL, NULL, err.msg));
            c->close_after_write = true;
            break;
        }
        kd_serve_request(api, c, c->in, (size_t)n);
        memmove(c->in, c->in + n, c->in_len - (size_t)n);
        c->in_len -= (size_t)n;
    }
    if (c->peer_done && !c->busy) {
        /* The peer is done sending: what it sent in full was served above; a request cut short gets
         * its answer before we hang up. */
        size_t ws = 0;
        while (ws < c->in_len &&
               (c->in[ws] == ' ' || c->in[ws] == '\n' || c->in[ws] == '\r' || c->in[ws] == '\t'))
            ws++;
        if (!c->close_after_write && ws < c->in_len)
            kd_client_queue(c, kk_jsonrpc_encode_response(
                                   NULL, NULL, "request ended before the JSON object was complete"));
        c->close_after_write = true;
    }
}

/* Write what can be written; close a client that is done. */
static void kd_client_settle(struct kd_client *c)
{
    kd_client_flush(c);
    if (c->close_after_write && c->out == NULL && !c->busy)
        kd_client_close(c);
}

/* Answers the workers finished: queue each to its client and go on with that client's input. */
static void kd_collect(struct kd_api *api)
{
    pthread_mutex_lock(&api->qlock);
    struct kd_job *done = api->done_head;
    api->done_head = NULL;
    pthread_mutex_unlock(&api->qlock);
    while (done != NULL) {
        struct kd_job *j = done;
        done = j->next;
        struct kd_client *c = &api->clients[j->slot];
        c->busy = false;
        if (j->reply_line == NULL)
            kd_client_queue(c, kk_jsonrpc_encode_response(NULL, NULL, "internal error: out of memory"));
        else
            kd_client_queue(c, j->reply_line);
        free(j);
        kd_client_pump(api, c);
        kd_client_settle(c);
    }
}

/* The wait until the text cache is dropped for idleness (NULL: nothing to drop), dropping it when
 * that time has come. */
static struct timespec *kd_cache_idle(struct kd_api *api, struct timespec *left)
{
    if (kk_store_text_cache_count(NULL) == 0)
        return NULL;
    int64_t ms = api->last_request_ms + KD_CACHE_IDLE_MS - kd_now_ms();
    if (ms <= 0) {
        kk_store_text_cache_clear();
        malloc_trim(0);
        return NULL;
    }
    left->tv_sec = ms / 1000;
    left->tv_nsec = (ms % 1000) * 1000000;
    return left;
}

static int kd_api_loop(struct kd_api *api)
{
    /* SIGUSR1 (a worker's answer is ready), SIGTERM and SIGINT stay blocked except inside ppoll. */
    sigset_t wait_mask;
    pthread_sigmask(SIG_SETMASK, NULL, &wait_mask);
    sigdelset(&wait_mask, SIGUSR1);
    sigdelset(&wait_mask, SIGTERM);
    sigdelset(&wait_mask, SIGINT);
    while (!kd_api_stop) {
        kd_collect(api);
        struct pollfd pfd[1 + KK_CTL_HELPERS + KD_MAX_CLIENTS];
        int idx[1 + KK_CTL_HELPERS + KD_MAX_CLIENTS];
        int n = 0;
        pfd[n] = (struct pollfd){.fd = api->listen_fd, .events = POLLIN};
        idx[n++] = -1;
        /* A helper socket that hangs up means the group is going down: follow it. */
        for (int h = 0; h < KK_CTL_HELPERS; h++) {
            pfd[n] = (struct pollfd){.fd = api->helper_fd[h], .events = 0};
            idx[n++] = -2 - h;
        }
        for (int i = 0; i < KD_MAX_CLIENTS; i++) {
            struct kd_client *c = &api->clients[i];
            /* A busy client is not polled: a hang-up would wake us for nothing until its answer is
             * back, and its next request waits for that answer anyway. */
            if (c->fd < 0 || c->busy)
                continue;
            pfd[n] = (struct pollfd){.fd = c->fd,
                                     .events = (short)((c->close_after_write || c->peer_done ? 0 : POLLIN) |
                                                       (c->out != NULL ? POLLOUT : 0))};
            idx[n++] = i;
        }
        struct timespec idle_left, *timeout = kd_cache_idle(api, &idle_left);
        if (ppoll(pfd, (nfds_t)n, timeout, &wait_mask) < 0) {
            if (errno == EINTR)
                continue;
            kk_errorf("ppoll: %s", strerror(errno));
            return 1;
        }
        for (int k = 0; k < n; k++) {
            if (pfd[k].revents == 0)
                continue;
            if (idx[k] == -1) {
                kd_accept(api);
                continue;
            }
            if (idx[k] <= -2) {
                if (kd_api_stop)
                    return 0; /* the group is stopping: the helpers went first */
                kk_errorf("%s closed its socket; the API worker exits so the group restarts",
                          kd_helper_names[-2 - idx[k]]);
                return 1;
            }
            struct kd_client *c = &api->clients[idx[k]];
            if (c->fd < 0 || c->busy)
                continue;
            if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                kd_client_recv(c);
                kd_client_pump(api, c);
            }
            kd_client_settle(c);
        }
    }
    return 0;
}

/* Start the workers and the reconcile thread. After the sandbox: the filter lets clone make
 * threads only (security/profile_api.c). */
static int kd_threads_start(struct kd_api *api, struct kk_err *err)
{
    /* The threads start with every signal blocked, so SIGTERM from the supervisor always lands on
     * the main thread and interrupts its poll. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    for (int i = 0; i < KD_WORKERS && rc == 0; i++) {
        pthread_t t;
        rc = pthread_create(&t, NULL, kd_worker, api);
        if (rc != 0)
            kk_error(err, KK_ERR_INTERNAL, rc,
                     "starting worker thread %d (RLIMIT_NPROC counts every task of this user on the host)",
                     i + 1);
        else
            pthread_detach(t);
    }
    if (rc == 0 && (rc = kk_reconcile_thread_start(api->rec)) != 0)
        kk_error(err, KK_ERR_INTERNAL, rc, "starting the reconcile thread");
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0 ? 0 : -1;
}

static void kd_writer_lock(void *arg)
{
    kd_writer_enter(arg);
}

static void kd_writer_unlock(void *arg)
{
    pthread_mutex_unlock(arg);
}

int kukeond_api_main(void)
{
    kk_log_init("kukeond-api", KK_LOG_INFO);
    /* Memory, for a small idle footprint after large lists: one malloc arena for every thread (a
     * worker thread's own arena keeps what its last request left, four times over; requests here
     * are short, contention is not the cost), and replies above 128 KiB in their own mappings,
     * returned when freed (glibc would otherwise raise that threshold after the first large free,
     * and keep later large replies in the heap). */
    mallopt(M_ARENA_MAX, 1);
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    /* Static: the workers and the reconcile thread hold it until the process ends. */
    static struct kd_api api = {
        .listen_fd = KD_FD_REQUEST,
        .helper_fd = {KD_FD_API_CGD, KD_FD_API_NETD, KD_FD_API_CTRD, KD_FD_API_FETCHD},
        .qlock = PTHREAD_MUTEX_INITIALIZER,
        .qcond = PTHREAD_COND_INITIALIZER,
        .writer = PTHREAD_MUTEX_INITIALIZER};
    for (int i = 0; i < KD_MAX_CLIENTS; i++)
        api.clients[i].fd = -1;
    struct kk_err err = {0};
    if (kd_api_check_fds(&err) < 0 || kk_config_read_fd(KD_FD_CONFIG, &api.cfg, &err) < 0) {
        kk_errorf("%s", err.msg);
        return 1;
    }
    kk_log_set_level(api.cfg.log_level);
    if (kk_ctl_init(&api.ctl, &api.cfg, &err) < 0) {
        kk_errorf("%s", err.msg);
        return 1;
    }
    for (int h = 0; h < KK_CTL_HELPERS; h++)
        api.ctl.sock[h] = api.helper_fd[h];

    /* Acquire everything before the sandbox: the account lookups read /etc/passwd and /etc/group. */
    uid_t uid;
    gid_t gid;
    if (kk_role_resolve_ids(KK_ROLE_API, &uid, &gid, &err) < 0) {
        kk_errorf("%s", err.msg);
        return 1;
    }
    if (api.cfg.socket_gid != 0) {
        api.kukeon_gid = api.cfg.socket_gid;
    } else {
        api.kukeon_gid = gid;
    }
    for (int h = 0; h < KK_CTL_HELPERS; h++) {
        char name[64];
        if (kk_ipc_hello(api.helper_fd[h], kk_role_name(KK_ROLE_API), name, sizeof(name), &err) < 0) {
            kk_errorf("HELLO to %s failed: %s", kd_helper_names[h], err.msg);
            return 1;
        }
        if (strcmp(name, kd_helper_names[h]) != 0 && strcmp(name, kk_role_name(kd_helper_roles[h])) != 0) {
            kk_errorf("fd %d answered HELLO as \"%s\", expected %s", api.helper_fd[h], name,
                      kd_helper_names[h]);
            return 1;
        }
    }
    struct sigaction sa = {.sa_handler = kd_api_on_term};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* jansson seeds its hash function on first use; do it once here, before there are threads. */
    json_object_seed(0);
    struct sigaction wake = {.sa_handler = kd_api_on_wake};
    sigaction(SIGUSR1, &wake, NULL);
    /* The loop's signals are blocked outside ppoll, so none can slip in between its check of the
     * stop flag and the wait. */
    sigset_t loop_sigs;
    sigemptyset(&loop_sigs);
    sigaddset(&loop_sigs, SIGUSR1);
    sigaddset(&loop_sigs, SIGTERM);
    sigaddset(&loop_sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &loop_sigs, NULL);
    api.main_thread = pthread_self();
    api.rec = kk_reconcile_new(&api.ctl, kd_writer_lock, kd_writer_unlock, &api.writer);
    if (api.rec == NULL) {
        kk_errorf("out of memory");
        return 1;
    }

    if (kk_sandbox_enter(KK_ROLE_API, uid, gid, &err) < 0) {
        kk_errorf("entering the sandbox: %s", err.msg);
        return 1;
    }
    kk_info("serving kukeonv1 as uid=%u gid=%u", (unsigned)getuid(), (unsigned)getgid());
    /* The run path is checked again by every request (kuke init may come later); saying it now puts
     * a misconfiguration at the top of the log instead of in the first client's error. */
    if (kk_store_instance(&api.ctl.store, true, &err) < 0)
        kk_warn("the state store is not usable yet: %s", err.msg);
    if (kd_threads_start(&api, &err) < 0) {
        kk_errorf("%s", err.msg);
        return 1;
    }
    int rc = kd_api_loop(&api);
    /* A write or reconcile pass in progress is let finish (bounded): a cell is not left between a
     * container's delete and its relaunch. Its client's answer is not sent (the loop is over); the
     * state it made is recorded. Requests that only read may still run: the process ends under them.
     * Clients with no request in flight get their connection closed now. */
    if (kd_api_stop)
        kd_drain(&api);
    for (int i = 0; i < KD_MAX_CLIENTS; i++)
        if (api.clients[i].fd >= 0 && !api.clients[i].busy)
            kd_client_close(&api.clients[i]);
    return rc;
}
