/* containerd's events, forwarded: a thread of kuke-ctrd holds an Events.Subscribe stream on a
 * connection of its own and keeps task exits, OOMs and deletions of the realms' namespaces in a
 * bounded queue; EVENTS_READ hands them to the API worker. Pull rather than push because the helper
 * socket carries one request at a time, answered in order: an unsolicited frame would break that
 * protocol, while a read that waits briefly for the first event costs one round trip per batch. A full
 * queue drops the oldest events and counts them, so the API worker knows to re-list. */
#include "kuke-ctrd/ctrd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/names.h"
#include "common/util.h"

/* Re-subscribe after a failure after this long, doubling up to the maximum. */
#define CTRD_EVENTS_RETRY_MS     250
#define CTRD_EVENTS_RETRY_MAX_MS 4000

struct ctrd_event_rec {
    char topic[8];
    char realm[KK_NAME_SIZE];
    char id[KK_CTRD_ID_SIZE];
    uint32_t pid, exit_status;
    int64_t exited_at_ms;
};

struct ctrd_events {
    struct ctrd *c;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct ctrd_event_rec ring[CTRD_EVENTS_QUEUE];
    size_t head, count;
    uint64_t dropped;
    bool streaming;
    bool gap; /* the subscription was down since the last read */
};

static void ctrd_events_push(struct ctrd_events *ev, const struct ctrd_event_rec *rec)
{
    pthread_mutex_lock(&ev->lock);
    if (ev->count == CTRD_EVENTS_QUEUE) {
        ev->head = (ev->head + 1) % CTRD_EVENTS_QUEUE;
        ev->count--;
        ev->dropped++;
    }
    ev->ring[(ev->head + ev->count) % CTRD_EVENTS_QUEUE] = *rec;
    ev->count++;
    pthread_cond_signal(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
}

static int ctrd_on_envelope(const ProtobufCMessage *msg, void *opaque, struct kk_err *err)
{
    (void)err;
    struct ctrd_events *ev = opaque;
    const Containerd__Services__Events__V1__Envelope *e = (const void *)msg;
    struct ctrd_event_rec rec;
    memset(&rec, 0, sizeof(rec));
    /* Only the realms' namespaces: another tool's events are none of the API worker's business. */
    if (e->event == NULL || e->topic == NULL || !ctrd_ns_is_ours(ev->c, e->namespace_, rec.realm))
        return CTRD_STREAM_CONTINUE;
    const char *type = e->event->type_url != NULL ? e->event->type_url : "";
    const char *slash = strrchr(type, '/');
    if (slash != NULL)
        type = slash + 1;
    const ProtobufCBinaryData *v = &e->event->value;
    const char *cid = NULL;
    if (strcmp(type, "containerd.events.TaskExit") == 0) {
        Containerd__Events__TaskExit *x = containerd__events__task_exit__unpack(NULL, v->len, v->data);
        /* An exec'd process exiting is not the container's exit. */
        if (x != NULL && x->container_id != NULL && x->id != NULL && strcmp(x->id, x->container_id) == 0) {
            kk_strlcpy(rec.topic, "exit", sizeof(rec.topic));
            kk_strlcpy(rec.id, x->container_id, sizeof(rec.id));
            rec.pid = x->pid;
            rec.exit_status = x->exit_status;
            rec.exited_at_ms = ctrd_timestamp_ms(x->exited_at);
            cid = rec.id;
        }
        if (x != NULL)
            containerd__events__task_exit__free_unpacked(x, NULL);
    } else if (strcmp(type, "containerd.events.TaskOOM") == 0) {
        Containerd__Events__TaskOOM *x = containerd__events__task_oom__unpack(NULL, v->len, v->data);
        if (x != NULL && x->container_id != NULL) {
            kk_strlcpy(rec.topic, "oom", sizeof(rec.topic));
            kk_strlcpy(rec.id, x->container_id, sizeof(rec.id));
            cid = rec.id;
        }
        if (x != NULL)
            containerd__events__task_oom__free_unpacked(x, NULL);
    } else if (strcmp(type, "containerd.events.TaskDelete") == 0) {
        Containerd__Events__TaskDelete *x = containerd__events__task_delete__unpack(NULL, v->len, v->data);
        if (x != NULL && x->container_id != NULL &&
            (x->id == NULL || x->id[0] == '\0' || strcmp(x->id, x->container_id) == 0)) {
            kk_strlcpy(rec.topic, "delete", sizeof(rec.topic));
            kk_strlcpy(rec.id, x->container_id, sizeof(rec.id));
            rec.pid = x->pid;
            rec.exit_status = x->exit_status;
            rec.exited_at_ms = ctrd_timestamp_ms(x->exited_at);
            cid = rec.id;
        }
        if (x != NULL)
            containerd__events__task_delete__free_unpacked(x, NULL);
    }
    char parts[4][KK_NAME_SIZE];
    if (cid != NULL && ctrd_split_id(cid, parts))
        ctrd_events_push(ev, &rec);
    return CTRD_STREAM_CONTINUE;
}

static void ctrd_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void ctrd_events_set_streaming(struct ctrd_events *ev, bool on)
{
    pthread_mutex_lock(&ev->lock);
    ev->streaming = on;
    if (!on)
        ev->gap = true;
    pthread_mutex_unlock(&ev->lock);
}

static void *ctrd_events_main(void *arg)
{
    struct ctrd_events *ev = arg;
    struct kk_err err;
    struct ctrd_conn *conn =
        ctrd_conn_open_dialer(ev->c->cfg.containerd_socket, ctrd_dial_events, ev->c, &err);
    if (conn == NULL) {
        kk_warn("containerd events: %s", err.msg);
        return NULL;
    }
    static char *const filters[] = {
        "topic==\"/tasks/exit\"",
        "topic==\"/tasks/oom\"",
        "topic==\"/tasks/delete\"",
    };
    unsigned retry = CTRD_EVENTS_RETRY_MS;
    for (;;) {
        Containerd__Services__Events__V1__SubscribeRequest req =
            CONTAINERD__SERVICES__EVENTS__V1__SUBSCRIBE_REQUEST__INIT;
        req.filters = (char **)filters;
        req.n_filters = KK_ARRAY_SIZE(filters);
        ctrd_events_set_streaming(ev, true);
        /* Every call has a deadline: the subscription is renewed daily. */
        int rc = ctrd_server_stream(conn, CTRD_SVC_EVENTS, "Subscribe", NULL, NULL, &req.base,
                                    ctrd_on_envelope, ev, CTRD_TIMEOUT_MAX_MS, &err);
        ctrd_events_set_streaming(ev, false);
        if (rc == 0 || ctrd_conn_last_status(conn) == GRPC_STATUS_DEADLINE_EXCEEDED) {
            retry = CTRD_EVENTS_RETRY_MS;
            continue;
        }
        kk_debug("containerd events: %s; subscribing again in %u ms", err.msg, retry);
        ctrd_sleep_ms(retry);
        retry = retry * 2 > CTRD_EVENTS_RETRY_MAX_MS ? CTRD_EVENTS_RETRY_MAX_MS : retry * 2;
    }
    return NULL;
}

int ctrd_events_start(struct ctrd *c, struct kk_err *err)
{
    if (c->events != NULL)
        return 0;
    struct ctrd_events *ev = calloc(1, sizeof(*ev));
    if (ev == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "the event queue");
    ev->c = c;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_mutex_init(&ev->lock, NULL);
    if (rc == 0)
        rc = pthread_cond_init(&ev->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (rc == 0)
        rc = pthread_create(&ev->thread, NULL, ctrd_events_main, ev);
    if (rc != 0) {
        free(ev);
        return kk_error(err, KK_ERR_INTERNAL, rc, "starting the event thread");
    }
    pthread_detach(ev->thread);
    c->events = ev;
    return 0;
}

int ctrd_events_read(struct ctrd *c, uint32_t max, uint32_t timeout_ms,
                     Kukeon__Ipc__Ctrd__EventsReadReply *out, struct kk_err *err)
{
    if (max == 0 || max > KK_CTRD_EVENTS_MAX || timeout_ms > KK_CTRD_EVENTS_WAIT_MAX_MS)
        return kk_error(err, KK_ERR_INVALID, 0, "events read: max must be 1..%u and timeout at most %u ms",
                        KK_CTRD_EVENTS_MAX, KK_CTRD_EVENTS_WAIT_MAX_MS);
    if (ctrd_connection(c, err) == NULL)
        return -1;
    struct ctrd_events *ev = c->events;
    if (ev == NULL)
        return kk_error(err, KK_ERR_UNAVAILABLE, 0, "containerd events are not being received");
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ev->lock);
    while (ev->count == 0 && timeout_ms > 0)
        if (pthread_cond_timedwait(&ev->cond, &ev->lock, &until) == ETIMEDOUT)
            break;
    size_t n = ev->count < max ? ev->count : max;
    out->events = calloc(n + 1, sizeof(*out->events));
    for (size_t i = 0; out->events != NULL && i < n; i++) {
        const struct ctrd_event_rec *r = &ev->ring[ev->head];
        Kukeon__Ipc__Ctrd__Event *e = calloc(1, sizeof(*e));
        Kukeon__Ipc__Ctrd__Ref *ref = calloc(1, sizeof(*ref));
        char parts[4][KK_NAME_SIZE];
        if (e == NULL || ref == NULL || !ctrd_split_id(r->id, parts)) {
            free(e);
            free(ref);
            break;
        }
        kukeon__ipc__ctrd__event__init(e);
        kukeon__ipc__ctrd__ref__init(ref);
        ref->realm = strdup(r->realm);
        ref->space = strdup(parts[0]);
        ref->stack = strdup(parts[1]);
        ref->cell = strdup(parts[2]);
        ref->container = strdup(parts[3]);
        e->ref = ref;
        e->topic = strdup(r->topic);
        e->id = strdup(r->id);
        e->pid = r->pid;
        e->exit_status = r->exit_status;
        e->exited_at_ms = r->exited_at_ms;
        out->events[out->n_events++] = e;
        ev->head = (ev->head + 1) % CTRD_EVENTS_QUEUE;
        ev->count--;
    }
    out->dropped = ev->dropped;
    ev->dropped = 0;
    out->streaming = ev->streaming;
    out->gap = ev->gap;
    ev->gap = false;
    pthread_mutex_unlock(&ev->lock);
    return 0;
}

void ctrd_events_reply_free(Kukeon__Ipc__Ctrd__EventsReadReply *out)
{
    for (size_t i = 0; i < out->n_events; i++) {
        Kukeon__Ipc__Ctrd__Event *e = out->events[i];
        free(e->ref->realm);
        free(e->ref->space);
        free(e->ref->stack);
        free(e->ref->cell);
        free(e->ref->container);
        free(e->ref);
        free(e->topic);
        free(e->id);
        free(e);
    }
    free(out->events);
    out->events = NULL;
    out->n_events = 0;
}
