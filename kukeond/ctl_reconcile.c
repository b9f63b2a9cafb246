/* RefreshAll and the reconcile loop (see ctl_reconcile.h; kukeon-reference.md 4.2-4.4). Every cell
 * is handled on its own, under the host's writer lock, from a fresh read of its document: a
 * request that deleted or changed it meanwhile wins (a deleted cell is skipped, a changed spec
 * makes the status write stale, and the status is dropped). Restart bookkeeping lives in memory,
 * as the reference's does: a daemon restart forgets attempts and backoffs. */
#include "kukeond/ctl_reconcile.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"
#include "ipc/cgd_client.h"
#include "ipc/ctrd_client.h"
#include "ipc/netd_client.h"
#include "kukeond/controller_internal.h"
#include "kukeond/ctl_cell.h"

/* The tick of the reference (first relaunch "on the next tick"): restarts whose backoff ran out,
 * the search for the system stack, the periodic full pass. */
#define RC_TICK_MS 1000
/* How often the loop asks kuke-ctrd for containerd's events, without waiting: a task's exit is
 * acted on (status Exited, autoDelete, a restart) at most this long after it happens. A read that
 * waited for the first event would hold kuke-ctrd's socket, which carries one call at a time, and
 * every request's calls would queue behind it. An empty read is one round trip (~0.1 ms). */
#define RC_EVENTS_POLL_MS 50

/* An intent (Creating, Deleting) seen for this long outside the pass at start is taken as left
 * behind by a crash: kuke in-process may be at work on it behind the daemon's back until then. */
#define RC_INTENT_STALE_MS (120 * 1000)
/* The counter slot that remembers when an intent was first seen (no container has this id). */
#define RC_INTENT_SLOT "\001intent"
/* How many times the pass at start tries to finish an interrupted create. */
#define RC_FINISH_TRIES 3

#define RC_DEFAULT_MAX_RETRIES     5
#define RC_DEFAULT_BACKOFF_SECONDS 30

/* One non-root container's restart bookkeeping. */
struct rc_counter {
    struct rc_counter *next;
    char key[4 * KK_NAME_SIZE + 8]; /* realm/space/stack/cell */
    char container[KK_NAME_SIZE];
    unsigned attempts;
    int64_t due_ms;      /* monotonic time the next relaunch may fire */
    int64_t relaunch_ms; /* monotonic time of the last relaunch */
    bool owed;           /* a restart is waiting out its backoff: a pass is due at due_ms */
};

struct kk_reconcile {
    struct kk_ctl *ctl;
    kk_reconcile_lock_fn lock, unlock;
    void *lock_arg;
    struct rc_counter *counters; /* touched only under the lock */
    bool system_cell_tried;      /* the daemon's own cell was made (or that failed, said once) */
};

/* What a walk counts, for RefreshAll's Result. */
struct rc_tally {
    json_t *found[5]; /* realms, spaces, stacks, cells, containers */
    json_t *updated[5];
    json_t *errors;
};

static int64_t rc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rc_lock(struct kk_reconcile *r)
{
    if (r->lock != NULL)
        r->lock(r->lock_arg);
}

static void rc_unlock(struct kk_reconcile *r)
{
    if (r->unlock != NULL)
        r->unlock(r->lock_arg);
}

static void rc_cell_key(const struct ctl_names *n, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s/%s/%s", n->realm, n->space, n->stack, n->cell);
}

static struct rc_counter *rc_counter(struct kk_reconcile *r, const char *key, const char *container,
                                     bool make)
{
    for (struct rc_counter *c = r->counters; c != NULL; c = c->next)
        if (strcmp(c->key, key) == 0 && strcmp(c->container, container) == 0)
            return c;
    if (!make)
        return NULL;
    struct rc_counter *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    snprintf(c->key, sizeof(c->key), "%s", key);
    snprintf(c->container, sizeof(c->container), "%s", container);
    c->next = r->counters;
    r->counters = c;
    return c;
}

static void rc_drop_counter(struct kk_reconcile *r, const char *key, const char *container)
{
    for (struct rc_counter **pp = &r->counters; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->key, key) == 0 && strcmp((*pp)->container, container) == 0) {
            struct rc_counter *dead = *pp;
            *pp = dead->next;
            free(dead);
            return;
        }
}

/* A cell that is gone takes its counters with it. */
static void rc_forget_cell(struct kk_reconcile *r, const char *key)
{
    struct rc_counter **pp = &r->counters;
    while (*pp != NULL) {
        if (strcmp((*pp)->key, key) == 0) {
            struct rc_counter *dead = *pp;
            *pp = dead->next;
            free(dead);
        } else {
            pp = &(*pp)->next;
        }
    }
}

static void rc_note_error(struct rc_tally *t, const char *what, const struct kk_err *err)
{
    kk_warn("reconcile: %s: %s", what, err->msg);
    if (t != NULL && t->errors != NULL)
        json_array_append_new(t->errors, json_sprintf("%s: %s", what, err->msg));
}

static void rc_add(json_t *list, const char *name)
{
    if (list != NULL)
        json_array_append_new(list, json_string(name));
}

/* The status entry of container id in status.containers[] (matched by name or id). */
static json_t *rc_status_container(json_t *status, const char *id)
{
    if (id == NULL || id[0] == '\0')
        return NULL;
    json_t *arr = json_object_get(status, "containers");
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        const char *name = kk_json_str(c, "name");
        const char *cid = kk_json_str(c, "id");
        if ((name != NULL && strcmp(name, id) == 0) || (cid != NULL && strcmp(cid, id) == 0))
            return c;
    }
    return NULL;
}

static bool rc_state_is(const json_t *obj, const char *state)
{
    const char *s = kk_json_str(obj, "state");
    return s != NULL && strcmp(s, state) == 0;
}

static bool rc_active(const json_t *cs)
{
    return rc_state_is(cs, "Ready") || rc_state_is(cs, "Pending") || rc_state_is(cs, "Paused") ||
           rc_state_is(cs, "Pausing");
}

static int64_t rc_int(const json_t *obj, const char *key, int64_t dflt)
{
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

/* The counters the observation cannot know: restartCount and restartTime come from the status as
 * stored when the observation has a lower count (ctl_cell_observe normally carries them itself). */
static void rc_carry_restarts(const json_t *old_status, json_t *status)
{
    json_t *arr = json_object_get(status, "containers");
    size_t i;
    json_t *c;
    json_array_foreach(arr, i, c)
    {
        json_t *old = rc_status_container((json_t *)old_status, kk_json_str(c, "name"));
        if (old == NULL || rc_int(old, "restartCount", 0) <= rc_int(c, "restartCount", 0))
            continue;
        json_object_set(c, "restartCount", json_object_get(old, "restartCount"));
        json_t *rt = json_object_get(old, "restartTime");
        if (rt != NULL)
            json_object_set(c, "restartTime", rt);
    }
}

/* Whether the policy restarts after this terminal state (4.3): always on any exit, on-failure on a
 * non-zero one, never (or none) not at all; an unknown policy string is treated as always. */
static bool rc_policy_restarts(const char *policy, bool failed)
{
    if (policy == NULL || policy[0] == '\0' || strcmp(policy, "never") == 0)
        return false;
    if (strcmp(policy, "on-failure") == 0)
        return failed;
    return true;
}

/* The restart policies of one cell whose root runs and that has been seen ready. Returns whether a
 * restart is owed (the cell is then held at Degraded); *exhausted names a container that used up
 * its on-failure retries (the cell settles Error). */
static bool rc_restarts(struct kk_reconcile *r, struct ctl_op *op, const struct ctl_names *n,
                        const json_t *doc, json_t *status, char *exhausted, size_t exhausted_size,
                        struct rc_tally *t)
{
    char key[sizeof(((struct rc_counter *)0)->key)];
    rc_cell_key(n, key, sizeof(key));
    const char *root_id = kk_cell_root_id(doc);
    bool owed = false;
    size_t i;
    json_t *spec_c;
    json_array_foreach(kk_cell_containers(doc), i, spec_c)
    {
        const char *id = kk_json_str(spec_c, "id");
        if (id[0] == '\0' || (root_id != NULL && strcmp(id, root_id) == 0) || kk_json_bool(spec_c, "root"))
            continue;
        json_t *cs = rc_status_container(status, id);
        if (cs == NULL)
            continue;
        if (rc_active(cs)) {
            /* Seen running: the attempts start over (4.3) — once it has run for a tick. Events are
             * read every RC_EVENTS_POLL_MS, and the relaunch's own task delete is one: the pass it
             * brings sees the container running a moment after its start, which must not reset
             * the count, or a container that fails within a second would retry forever. */
            struct rc_counter *c = rc_counter(r, key, id, false);
            if (c != NULL) {
                c->owed = false;
                if (rc_now_ms() - c->relaunch_ms >= RC_TICK_MS)
                    c->attempts = 0;
            }
            continue;
        }
        bool failed = rc_state_is(cs, "Error");
        if (!failed && !rc_state_is(cs, "Exited"))
            continue;
        const char *policy = kk_json_str(spec_c, "restartPolicy");
        if (!rc_policy_restarts(policy, failed))
            continue;
        struct rc_counter *c = rc_counter(r, key, id, true);
        if (c == NULL)
            continue;
        bool on_failure = policy != NULL && strcmp(policy, "on-failure") == 0;
        int64_t max = rc_int(spec_c, "restartMaxRetries", RC_DEFAULT_MAX_RETRIES);
        if (on_failure && (int64_t)c->attempts >= max) {
            c->owed = false;
            if (exhausted[0] == '\0')
                snprintf(exhausted, exhausted_size, "%s", id);
            continue;
        }
        owed = true;
        int64_t now = rc_now_ms();
        /* The first relaunch fires on this tick; later ones wait out the backoff. */
        if (c->attempts == 0)
            c->due_ms = now;
        if (now < c->due_ms) {
            c->owed = true;
            continue;
        }
        c->owed = false;
        struct kk_err err = {0};
        char what[sizeof(key) + KK_NAME_SIZE + 32];
        snprintf(what, sizeof(what), "restarting container %s of cell %s", id, key);
        if (ctl_cell_container_start(op, n, id, &err) < 0) {
            rc_note_error(t, what, &err);
        } else {
            kk_info("reconcile: restarted container %s of cell %s (policy %s, attempt %u)", id, key,
                    policy != NULL ? policy : "", c->attempts + 1);
            struct timespec ts;
            char stamp[64];
            clock_gettime(CLOCK_REALTIME, &ts);
            json_object_set_new(cs, "restartCount", json_integer(rc_int(cs, "restartCount", 0) + 1));
            if (kk_time_format(&ts, stamp, sizeof(stamp)) == 0)
                json_object_set_new(cs, "restartTime", json_string(stamp));
        }
        c->attempts++;
        c->relaunch_ms = rc_now_ms();
        int64_t backoff = rc_int(spec_c, "restartBackoffSeconds", RC_DEFAULT_BACKOFF_SECONDS);
        c->due_ms = now + (backoff > 0 ? backoff * 1000 : 0);
    }
    return owed;
}

/* A cell that was running has its cgroup back (a host reboot, or someone's rmdir): what it lost
 * (limits, processes) comes back with its next start; the directory is there for it now. */
static void rc_heal_cgroup(struct ctl_op *op, const struct ctl_names *n, const json_t *doc,
                           struct rc_tally *t)
{
    struct kk_err err = {0};
    int sock = ctl_helper(op, KK_CTL_CGD, "healing a cell's cgroup", &err);
    struct kk_derive_names dn = ctl_dnames(n);
    struct kk_cgd_stat st;
    if (sock < 0 || kk_cgd_stat(sock, &dn, &st, &err) < 0) {
        rc_note_error(t, n->cell, &err);
        return;
    }
    if (st.exists)
        return;
    struct kk_cgd_created cg;
    if (kk_cgd_create(sock, &dn, kk_json_bool(kk_doc_spec(doc), "nestedCgroupRuntime"), &cg, &err) < 0)
        rc_note_error(t, n->cell, &err);
    else
        kk_info("reconcile: cell %s/%s/%s/%s had lost its cgroup; %s made again", n->realm, n->space,
                n->stack, n->cell, cg.cgroup_path);
}

/* Kill and delete every containerd container of cell n (the cell's own, by its labels). */
static void rc_clear_cell_containers(struct ctl_op *op, const struct ctl_names *n, struct rc_tally *t)
{
    struct kk_err err = {0};
    int sock = ctl_helper(op, KK_CTL_CTRD, "clearing a half-made cell", &err);
    kk_ctrd_ref filter = KUKEON__IPC__CTRD__REF__INIT;
    filter.realm = (char *)n->realm;
    filter.space = (char *)n->space;
    filter.stack = (char *)n->stack;
    filter.cell = (char *)n->cell;
    Kukeon__Ipc__Ctrd__ContainerListReply *list = NULL;
    if (sock < 0 || kk_ctrd_container_list(sock, &filter, &list, &err) < 0) {
        rc_note_error(t, n->cell, &err);
        return;
    }
    for (size_t i = 0; i < list->n_containers; i++) {
        const kk_ctrd_ref *ref = list->containers[i]->ref;
        if (ref == NULL)
            continue;
        struct kk_err e2 = {0};
        if (kk_ctrd_task_kill(sock, ref, 9, true, &e2) < 0)
            kk_debug("reconcile: kill of %s: %s", list->containers[i]->id, e2.msg);
        Kukeon__Ipc__Ctrd__ContainerDeleteReply *dr = NULL;
        if (kk_ctrd_container_delete(sock, ref, &dr, &e2) < 0)
            rc_note_error(t, list->containers[i]->id, &e2);
        if (dr != NULL)
            protobuf_c_message_free_unpacked(&dr->base, NULL);
    }
    protobuf_c_message_free_unpacked(&list->base, NULL);
}

/* One cell's pass, under the lock. loop: restarts and autoDelete too (RefreshAll: neither). */
static void rc_cell(struct kk_reconcile *r, const struct ctl_names *n, bool loop, bool startup,
                    struct rc_tally *t)
{
    struct ctl_op op = {.ctl = r->ctl, .kind = CTL_KIND_UNKNOWN};
    struct kk_err err = {0};
    char key[sizeof(((struct rc_counter *)0)->key)];
    rc_cell_key(n, key, sizeof(key));
    char what[sizeof(key) + 16];
    snprintf(what, sizeof(what), "cell %s", key);

    json_t *doc = NULL;
    struct kk_store_token tok = KK_STORE_TOKEN_INIT;
    int found = ctl_doc_get(&op, n, &doc, &tok, &err);
    if (found <= 0) {
        if (found < 0)
            rc_note_error(t, what, &err);
        else
            rc_forget_cell(r, key); /* deleted meanwhile */
        kk_store_token_clear(&tok);
        return;
    }
    if (t != NULL)
        rc_add(t->found[3], n->cell);
    json_t *labels = json_object_get(json_object_get(doc, "metadata"), "labels");
    if (json_object_get(labels, KK_LABEL_HOST_PROCESS) != NULL) {
        /* The daemon's own group: no containerd containers to observe or start. */
        json_decref(doc);
        kk_store_token_clear(&tok);
        return;
    }
    json_t *old_status = json_object_get(doc, "status");
    const char *old_state = kk_json_str(old_status, "state");
    bool intent =
        old_state != NULL && (strcmp(old_state, "Creating") == 0 || strcmp(old_state, "Deleting") == 0);
    if (!intent)
        rc_drop_counter(r, key, RC_INTENT_SLOT);
    bool stale = startup;
    if (loop && intent && !startup) {
        struct rc_counter *c = rc_counter(r, key, RC_INTENT_SLOT, true);
        if (c != NULL && c->due_ms == 0)
            c->due_ms = rc_now_ms() + RC_INTENT_STALE_MS;
        stale = c != NULL && rc_now_ms() >= c->due_ms;
    }
    if ((loop && intent && !stale) || (!loop && intent)) {
        /* Maybe kuke in-process at work behind the daemon's back: not ours to touch yet (and a
         * refresh only re-derives what has settled). */
        json_decref(doc);
        kk_store_token_clear(&tok);
        return;
    }
    if (loop && intent) {
        /* An intent without its effect: the request that recorded it ended (a crash, a kill -9 of
         * the worker) before it was done. We hold the writer lock, so no request of this daemon
         * is still at it: finish the job. A create is finished running (what an apply asks for). */
        bool creating = strcmp(old_state, "Creating") == 0;
        rc_drop_counter(r, key, RC_INTENT_SLOT);
        kk_info("reconcile: cell %s was left %s; finishing that", key, old_state);
        if (creating) {
            /* What the interrupted create made in containerd may be half made (a task whose shim
             * start was cut short): remove it, and create the whole cell afresh. containerd may
             * still be finishing or undoing the interrupted task create (its bundle directory is
             * in the way until then), so a failure is tried again, a second apart, a few times. */
            json_t *res = NULL;
            for (int attempt = 1; attempt <= RC_FINISH_TRIES && res == NULL; attempt++) {
                if (attempt > 1) {
                    kk_info("reconcile: finishing cell %s: %s; trying again", key, err.msg);
                    struct timespec pause = {1, 0};
                    nanosleep(&pause, NULL);
                }
                kk_err_clear(&err);
                rc_clear_cell_containers(&op, n, t);
                res = ctl_cell_create(&op, doc, true, &err);
            }
            if (res == NULL)
                rc_note_error(t, what, &err);
            json_decref(res);
        } else {
            bool existed = false;
            if (ctl_cell_delete(&op, n, &existed, &err) < 0)
                rc_note_error(t, what, &err);
            rc_forget_cell(r, key);
        }
        json_decref(doc);
        kk_store_token_clear(&tok);
        return;
    }
    if (t != NULL) {
        size_t i;
        json_t *c;
        json_array_foreach(kk_cell_containers(doc), i, c)
        {
            const char *id = kk_json_str(c, "id");
            if (id[0] != '\0')
                rc_add(t->found[4], id);
        }
    }
    json_t *status = NULL;
    if (ctl_cell_observe(&op, n, doc, &status, &err) < 0) {
        rc_note_error(t, what, &err);
        json_decref(doc);
        kk_store_token_clear(&tok);
        return;
    }
    rc_carry_restarts(old_status, status);
    const char *state = kk_json_str(status, "state");
    /* Failed and Error are sticky once stored (4.2); an Error derived just now is not yet: while a
     * restart is owed the cell is held at Degraded instead. */
    bool sticky = old_state != NULL && (strcmp(old_state, "Failed") == 0 || strcmp(old_state, "Error") == 0);
    bool ready_observed = kk_json_bool(old_status, "readyObserved") ||
                          kk_json_bool(status, "readyObserved") ||
                          (state != NULL && (strcmp(state, "Ready") == 0 || strcmp(state, "Degraded") == 0));
    if (ready_observed)
        json_object_set_new(status, "readyObserved", json_true());

    if (loop && ready_observed)
        rc_heal_cgroup(&op, n, doc, t);
    if (loop && !sticky && ready_observed) {
        const char *root_id = kk_cell_root_id(doc);
        json_t *root_cs = root_id != NULL ? rc_status_container(status, root_id) : NULL;
        bool root_runs = root_cs != NULL && rc_state_is(root_cs, "Ready");
        bool owed = false;
        char exhausted[KK_NAME_SIZE] = "";
        if (root_runs)
            owed = rc_restarts(r, &op, n, doc, status, exhausted, sizeof(exhausted), t);
        if (exhausted[0] != '\0' && !owed) {
            json_object_set_new(status, "state", json_string("Error"));
            json_object_set_new(status, "reason", json_string("WorkloadFailed"));
            json_object_set_new(
                status, "message",
                json_sprintf("container %s failed and used up its restartMaxRetries", exhausted));
            kk_info("reconcile: cell %s settles Error: container %s used up its retries", key, exhausted);
        } else if (owed) {
            if (state != NULL && strcmp(state, "Error") == 0) {
                json_object_del(status, "reason");
                json_object_del(status, "message");
            }
            json_object_set_new(status, "state", json_string("Degraded"));
        } else if (kk_json_bool(kk_doc_spec(doc), "autoDelete") && state != NULL &&
                   strcmp(state, "Exited") == 0) {
            bool existed = false;
            kk_info("reconcile: cell %s exited and has autoDelete: deleting it", key);
            if (ctl_cell_delete(&op, n, &existed, &err) < 0)
                rc_note_error(t, what, &err);
            rc_forget_cell(r, key);
            json_decref(status);
            json_decref(doc);
            kk_store_token_clear(&tok);
            return;
        }
    }
    const char *new_state = kk_json_str(status, "state");
    bool changed = !json_equal(old_status, status);
    if (ctl_status_write(&op, n, status, tok.generation, NULL, &err) < 0) {
        if (kk_store_err_stale(&err) || err.kind == KK_ERR_NOT_FOUND)
            kk_debug("reconcile: cell %s changed meanwhile; its status is derived again next pass", key);
        else
            rc_note_error(t, what, &err);
    } else if (changed) {
        if (t != NULL) {
            rc_add(t->updated[3], n->cell);
            size_t i;
            json_t *c;
            json_array_foreach(json_object_get(status, "containers"), i, c)
            {
                const char *name = kk_json_str(c, "name");
                json_t *was = rc_status_container(old_status, name);
                if (was == NULL || strcmp(kk_json_str(was, "state"), kk_json_str(c, "state")) != 0)
                    rc_add(t->updated[4], name);
            }
        }
        if (strcmp(old_state, new_state) != 0)
            kk_info("reconcile: cell %s: %s -> %s", key, old_state[0] != '\0' ? old_state : "(none)",
                    new_state);
    }
    json_decref(status);
    json_decref(doc);
    kk_store_token_clear(&tok);
}

/* The rest of a cell no document records, once its containers are gone: its network attachment
 * (netns pin, IPAM address, veth) and its cgroup. Each step is idempotent; a cell with several
 * containers is swept more than once, harmlessly. */
static void rc_sweep_cell(struct ctl_op *op, const struct ctl_names *n, struct rc_tally *t)
{
    struct kk_err err = {0};
    int sock = ctl_helper(op, KK_CTL_NETD, "removing an unrecorded cell's network", &err);
    bool existed = false;
    if (sock < 0 || kk_netd_cell_delete(sock, n->realm, n->space, n->stack, n->cell, &existed, &err) < 0)
        rc_note_error(t, n->cell, &err);
    sock = ctl_helper(op, KK_CTL_CGD, "removing an unrecorded cell's cgroup", &err);
    struct kk_derive_names dn = ctl_dnames(n);
    struct kk_cgd_deleted del;
    if (sock < 0 || kk_cgd_delete(sock, &dn, &del, &err) < 0)
        rc_note_error(t, n->cell, &err);
    else if (del.existed)
        kk_info("reconcile: removed the cgroup %s, which no document records", del.cgroup_path);
}

/* Remove containerd containers of realm n that no cell document records: a crash between the
 * intent and the effect of a delete, or a cell whose document is gone. Under the lock. */
static void rc_sweep_realm(struct kk_reconcile *r, const struct ctl_names *realm, struct rc_tally *t)
{
    struct ctl_op op = {.ctl = r->ctl, .kind = CTL_KIND_UNKNOWN};
    struct kk_err err = {0};
    int sock = ctl_helper(&op, KK_CTL_CTRD, "listing containers", &err);
    if (sock < 0) {
        rc_note_error(t, realm->realm, &err);
        return;
    }
    kk_ctrd_ref filter = KUKEON__IPC__CTRD__REF__INIT;
    filter.realm = (char *)realm->realm;
    Kukeon__Ipc__Ctrd__ContainerListReply *list = NULL;
    if (kk_ctrd_container_list(sock, &filter, &list, &err) < 0) {
        rc_note_error(t, realm->realm, &err);
        return;
    }
    for (size_t i = 0; i < list->n_containers; i++) {
        const Kukeon__Ipc__Ctrd__ContainerStatus *cs = list->containers[i];
        const kk_ctrd_ref *ref = cs->ref;
        if (ref == NULL || ref->cell == NULL || ref->cell[0] == '\0' || ref->container == NULL)
            continue;
        struct ctl_names n = {.depth = KK_KIND_CELL};
        snprintf(n.realm, sizeof(n.realm), "%s", realm->realm);
        if (kk_strlcpy(n.space, ref->space, sizeof(n.space)) < 0 ||
            kk_strlcpy(n.stack, ref->stack, sizeof(n.stack)) < 0 ||
            kk_strlcpy(n.cell, ref->cell, sizeof(n.cell)) < 0)
            continue;
        json_t *doc = NULL;
        int found = ctl_doc_get(&op, &n, &doc, NULL, &err);
        if (found < 0) {
            /* Unreadable is not absent: leave the container alone. */
            rc_note_error(t, ref->cell, &err);
            continue;
        }
        bool recorded = found > 0 && kk_cell_container(doc, ref->container) != NULL;
        json_decref(doc);
        if (recorded)
            continue;
        bool cell_gone = found == 0;
        kk_info("reconcile: removing containerd container %s (%s/%s/%s/%s), which no document records",
                cs->id, ref->space, ref->stack, ref->cell, ref->container);
        struct kk_err e2 = {0};
        if (kk_ctrd_task_kill(sock, ref, 9, true, &e2) < 0)
            kk_debug("reconcile: kill of %s: %s", cs->id, e2.msg);
        Kukeon__Ipc__Ctrd__ContainerDeleteReply *dr = NULL;
        if (kk_ctrd_container_delete(sock, ref, &dr, &e2) < 0)
            rc_note_error(t, cs->id, &e2);
        if (dr != NULL)
            protobuf_c_message_free_unpacked(&dr->base, NULL);
        if (cell_gone)
            rc_sweep_cell(&op, &n, t);
    }
    protobuf_c_message_free_unpacked(&list->base, NULL);
}

/* At start: the cgroup of a realm, space or stack again (after a host reboot the tree is gone; cells
 * heal theirs in their own pass). Idempotent. Under the lock. */
static void rc_layer_cgroup(struct kk_reconcile *r, const struct ctl_names *n, struct rc_tally *t)
{
    struct ctl_op op = {.ctl = r->ctl, .kind = CTL_KIND_UNKNOWN};
    struct kk_err err = {0};
    int sock = ctl_helper(&op, KK_CTL_CGD, "re-ensuring a cgroup", &err);
    struct kk_derive_names dn = ctl_dnames(n);
    struct kk_cgd_created cg;
    if (sock < 0 || kk_cgd_create(sock, &dn, false, &cg, &err) < 0) {
        char what[6 * KK_NAME_SIZE];
        ctl_describe(n, what, sizeof(what));
        rc_note_error(t, what, &err);
    } else if (cg.created) {
        kk_info("reconcile: made the missing cgroup %s again", cg.cgroup_path);
    }
}

/* At start: the forward chain, netd's leftovers, each space's network. Under the lock. */
static void rc_network_start(struct kk_reconcile *r, struct rc_tally *t)
{
    struct ctl_op op = {.ctl = r->ctl, .kind = CTL_KIND_UNKNOWN};
    struct kk_err err = {0};
    int sock = ctl_helper(&op, KK_CTL_NETD, "the network pass", &err);
    if (sock < 0) {
        rc_note_error(t, "network pass", &err);
        return;
    }
    if (kk_netd_forward_ensure(sock, &err) < 0)
        rc_note_error(t, "re-installing the forward chain", &err);
    size_t removed = 0;
    if (kk_netd_gc(sock, &removed, &err) < 0)
        rc_note_error(t, "collecting unused links", &err);
    else if (removed > 0)
        kk_info("reconcile: removed %zu network links no space or cell uses", removed);
}

static void rc_space_network(struct kk_reconcile *r, const struct ctl_names *n, struct rc_tally *t)
{
    struct ctl_op op = {.ctl = r->ctl, .kind = CTL_KIND_UNKNOWN};
    struct kk_err err = {0};
    int sock = ctl_helper(&op, KK_CTL_NETD, "re-ensuring a space network", &err);
    struct kk_netd_network net;
    memset(&net, 0, sizeof(net));
    if (sock < 0 || kk_netd_network_ensure(sock, n->realm, n->space, &net, &err) < 0) {
        char what[2 * KK_NAME_SIZE + 32];
        snprintf(what, sizeof(what), "network of space %s/%s", n->realm, n->space);
        rc_note_error(t, what, &err);
    }
}

/* The daemon's own cell (DESIGN.md section 1): once the system stack exists (kuke init makes it),
 * the document of kuke-system/kukeon/kukeon/kukeond with its one container "kukeond" — the group of
 * host processes, labelled so, never a containerd container — and its cgroup, which the supervisor
 * moves the group into. It is Ready: this code runs, so the group is up. Under the lock. 1 done, 0 no
 * system stack yet, -1 failed (said). */
static int rc_system_cell(struct kk_reconcile *r, struct rc_tally *t)
{
    struct ctl_op op = {.ctl = r->ctl, .kind = CTL_KIND_UNKNOWN};
    struct kk_err err = {0};
    struct ctl_names n = {
        .depth = KK_KIND_STACK, .realm = KK_SYSTEM_REALM, .space = KK_SYSTEM_SPACE, .stack = KK_SYSTEM_STACK};
    json_t *doc = NULL;
    int found = ctl_doc_get(&op, &n, &doc, NULL, &err);
    json_decref(doc);
    doc = NULL;
    if (found <= 0) {
        if (found < 0)
            rc_note_error(t, "the system stack", &err);
        return found;
    }
    n.depth = KK_KIND_CELL;
    snprintf(n.cell, sizeof(n.cell), "%s", KK_SYSTEM_CELL);
    struct kk_store_token tok = KK_STORE_TOKEN_INIT;
    found = ctl_doc_get(&op, &n, &doc, &tok, &err);
    if (found < 0) {
        rc_note_error(t, "the system cell", &err);
        kk_store_token_clear(&tok);
        return -1;
    }
    if (found == 0) {
        struct kk_derive_names dn = ctl_dnames(&n);
        doc = kk_doc_new(KK_KIND_CELL, &dn, &err);
        json_t *c = json_pack("{s:s, s:s, s:b, s:s}", "id", KK_SYSTEM_CONTAINER, "image", "host-process",
                              "root", 1, "command", "kukeond serve");
        if (doc == NULL || c == NULL || json_array_append_new(kk_cell_containers(doc), c) < 0 ||
            json_object_set_new(json_object_get(json_object_get(doc, "metadata"), "labels"),
                                KK_LABEL_HOST_PROCESS, json_string("true")) < 0 ||
            kk_store_put(&r->ctl->store, doc, &tok, &err) < 0) {
            if (err.msg[0] == '\0')
                kk_error(&err, KK_ERR_INTERNAL, 0, "out of memory");
            rc_note_error(t, "writing the system cell", &err);
            json_decref(doc);
            kk_store_token_clear(&tok);
            return -1;
        }
        kk_info("reconcile: the daemon's group is accounted as cell %s/%s/%s/%s", n.realm, n.space, n.stack,
                n.cell);
    }
    int sock = ctl_helper(&op, KK_CTL_CGD, "the system cell's cgroup", &err);
    struct kk_derive_names dn = ctl_dnames(&n);
    struct kk_cgd_created cg;
    if (sock < 0 || kk_cgd_create(sock, &dn, false, &cg, &err) < 0) {
        rc_note_error(t, "the system cell's cgroup", &err);
        json_decref(doc);
        kk_store_token_clear(&tok);
        return -1;
    }
    json_t *old = json_object_get(doc, "status");
    json_t *status = ctl_status_copy(doc);
    json_t *cs = json_pack("{s:s, s:s, s:s, s:i, s:i}", "name", KK_SYSTEM_CONTAINER, "id", "", "state",
                           "Ready", "restartCount", 0, "exitCode", 0);
    json_t *arr = json_array();
    json_array_append_new(arr, cs);
    json_object_set_new(status, "state", json_string("Ready"));
    json_object_set_new(status, "cgroupPath", json_string(cg.cgroup_path));
    json_object_set_new(status, "containers", arr);
    json_object_set_new(status, "readyObserved", json_true());
    int ok = 1;
    if (!json_equal(old, status) && ctl_status_write(&op, &n, status, 0, NULL, &err) < 0) {
        rc_note_error(t, "the system cell's status", &err);
        ok = -1;
    }
    json_decref(status);
    json_decref(doc);
    kk_store_token_clear(&tok);
    return ok;
}

/* The walk: every realm, space, stack and cell. loop: restarts, autoDelete; startup: the network
 * pass and the sweep too. */
static void rc_walk(struct kk_reconcile *r, bool loop, bool startup, struct rc_tally *t)
{
    struct ctl_op op = {.ctl = r->ctl, .kind = CTL_KIND_UNKNOWN};
    struct kk_err err = {0};
    if (startup) {
        rc_lock(r);
        rc_network_start(r, t);
        rc_unlock(r);
    }
    if (loop) {
        rc_lock(r);
        r->system_cell_tried = rc_system_cell(r, t) != 0;
        rc_unlock(r);
    }
    json_t *realms = NULL;
    if (kk_store_list(&r->ctl->store, NULL, &realms, &err) < 0) {
        if (err.kind != KK_ERR_NOT_FOUND)
            rc_note_error(t, "listing realms", &err);
        return;
    }
    size_t ri;
    json_t *rv;
    json_array_foreach(realms, ri, rv)
    {
        struct ctl_names rn = {.depth = KK_KIND_REALM};
        if (kk_strlcpy(rn.realm, json_string_value(rv), sizeof(rn.realm)) < 0)
            continue;
        if (t != NULL)
            rc_add(t->found[0], rn.realm);
        if (startup) {
            rc_lock(r);
            rc_layer_cgroup(r, &rn, t);
            rc_unlock(r);
        }
        json_t *spaces = NULL;
        if (ctl_children(&op, &rn, &spaces, &err) < 0) {
            rc_note_error(t, rn.realm, &err);
            continue;
        }
        size_t si;
        json_t *sv;
        json_array_foreach(spaces, si, sv)
        {
            struct ctl_names sn;
            if (ctl_names_child(&rn, json_string_value(sv), &sn, &err) < 0)
                continue;
            if (t != NULL)
                rc_add(t->found[1], sn.space);
            if (startup) {
                rc_lock(r);
                rc_layer_cgroup(r, &sn, t);
                rc_space_network(r, &sn, t);
                rc_unlock(r);
            }
            json_t *stacks = NULL;
            if (ctl_children(&op, &sn, &stacks, &err) < 0) {
                rc_note_error(t, sn.space, &err);
                continue;
            }
            size_t ti;
            json_t *tv;
            json_array_foreach(stacks, ti, tv)
            {
                struct ctl_names tn;
                if (ctl_names_child(&sn, json_string_value(tv), &tn, &err) < 0)
                    continue;
                if (t != NULL)
                    rc_add(t->found[2], tn.stack);
                if (startup) {
                    rc_lock(r);
                    rc_layer_cgroup(r, &tn, t);
                    rc_unlock(r);
                }
                json_t *cells = NULL;
                if (ctl_children(&op, &tn, &cells, &err) < 0) {
                    rc_note_error(t, tn.stack, &err);
                    continue;
                }
                size_t ci;
                json_t *cv;
                json_array_foreach(cells, ci, cv)
                {
                    struct ctl_names cn;
                    if (ctl_names_child(&tn, json_string_value(cv), &cn, &err) < 0)
                        continue;
                    rc_lock(r);
                    rc_cell(r, &cn, loop, startup, t);
                    rc_unlock(r);
                }
                json_decref(cells);
            }
            json_decref(stacks);
        }
        json_decref(spaces);
        if (startup) {
            rc_lock(r);
            rc_sweep_realm(r, &rn, t);
            rc_unlock(r);
        }
    }
    json_decref(realms);
}

void kk_reconcile_pass(struct kk_reconcile *r, bool startup)
{
    rc_walk(r, true, startup, NULL);
}

struct kk_reconcile *kk_reconcile_new(struct kk_ctl *ctl, kk_reconcile_lock_fn lock,
                                      kk_reconcile_lock_fn unlock, void *lock_arg)
{
    struct kk_reconcile *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->ctl = ctl;
    r->lock = lock;
    r->unlock = unlock;
    r->lock_arg = lock_arg;
    return r;
}

/* The cells containerd's events name: each gets a pass now. */
static void rc_events(struct kk_reconcile *r, const Kukeon__Ipc__Ctrd__EventsReadReply *ev)
{
    for (size_t i = 0; i < ev->n_events; i++) {
        const kk_ctrd_ref *ref = ev->events[i]->ref;
        if (ref == NULL || ref->cell == NULL || ref->cell[0] == '\0')
            continue;
        /* Several events of one cell in a batch make one pass. */
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++) {
            const kk_ctrd_ref *o = ev->events[j]->ref;
            seen = o != NULL && o->cell != NULL && strcmp(o->realm, ref->realm) == 0 &&
                   strcmp(o->space, ref->space) == 0 && strcmp(o->stack, ref->stack) == 0 &&
                   strcmp(o->cell, ref->cell) == 0;
        }
        if (seen)
            continue;
        struct ctl_names n = {.depth = KK_KIND_CELL};
        if (kk_strlcpy(n.realm, ref->realm, sizeof(n.realm)) < 0 ||
            kk_strlcpy(n.space, ref->space, sizeof(n.space)) < 0 ||
            kk_strlcpy(n.stack, ref->stack, sizeof(n.stack)) < 0 ||
            kk_strlcpy(n.cell, ref->cell, sizeof(n.cell)) < 0)
            continue;
        kk_debug("reconcile: event %s for cell %s/%s/%s/%s", ev->events[i]->topic, n.realm, n.space, n.stack,
                 n.cell);
        rc_lock(r);
        rc_cell(r, &n, true, false, NULL);
        rc_unlock(r);
    }
}

/* Whether any restart is owed now (a backoff ran out): a pass of those cells is due. */
static bool rc_restart_due(struct kk_reconcile *r)
{
    int64_t now = rc_now_ms();
    bool due = false;
    rc_lock(r);
    for (struct rc_counter *c = r->counters; c != NULL && !due; c = c->next)
        due = c->owed && c->due_ms <= now;
    rc_unlock(r);
    return due;
}

static void *rc_thread(void *arg)
{
    struct kk_reconcile *r = arg;
    kk_info("reconcile: first pass");
    kk_reconcile_pass(r, true);
    uint32_t interval_s = r->ctl->cfg.reconcile_interval_s;
    int64_t next_full = interval_s > 0 ? rc_now_ms() + (int64_t)interval_s * 1000 : INT64_MAX;
    int64_t next_tick = rc_now_ms() + RC_TICK_MS;
    bool ctrd_down = false;
    for (;;) {
        /* While containerd's events cannot be read, one try per tick is enough. */
        long pause_ms = ctrd_down ? RC_TICK_MS : RC_EVENTS_POLL_MS;
        struct timespec nap = {pause_ms / 1000, (pause_ms % 1000) * 1000000L};
        while (nanosleep(&nap, &nap) < 0 && errno == EINTR)
            ;
        bool full = false;
        struct ctl_op op = {.ctl = r->ctl, .kind = CTL_KIND_UNKNOWN};
        struct kk_err err = {0};
        int sock = ctl_helper(&op, KK_CTL_CTRD, "reading containerd events", &err);
        Kukeon__Ipc__Ctrd__EventsReadReply *ev = NULL;
        if (sock >= 0 && kk_ctrd_events_read(sock, KK_CTRD_EVENTS_MAX, 0, &ev, &err) == 0) {
            if (ctrd_down)
                kk_info("reconcile: containerd events flow again");
            ctrd_down = false;
            if (ev->gap || ev->dropped > 0 || !ev->streaming)
                full = ev->gap || ev->dropped > 0;
            else
                rc_events(r, ev);
            protobuf_c_message_free_unpacked(&ev->base, NULL);
        } else if (!ctrd_down) {
            kk_warn("reconcile: reading containerd events: %s", err.msg);
            ctrd_down = true;
        }
        int64_t now = rc_now_ms();
        if (!full && now < next_tick)
            continue;
        next_tick = now + RC_TICK_MS;
        if (now >= next_full) {
            full = true;
            next_full = now + (int64_t)interval_s * 1000;
        }
        if (full || rc_restart_due(r)) {
            kk_reconcile_pass(r, false);
        } else if (!r->system_cell_tried) {
            /* kuke init makes the system hierarchy after the daemon is up: look for it every tick
             * (one small read) until the daemon's cell is made; a failure waits for a full pass. */
            rc_lock(r);
            r->system_cell_tried = rc_system_cell(r, NULL) != 0;
            rc_unlock(r);
        }
    }
    return NULL;
}

int kk_reconcile_thread_start(struct kk_reconcile *r)
{
    pthread_t t;
    int rc = pthread_create(&t, NULL, rc_thread, r);
    if (rc == 0)
        pthread_detach(t);
    return rc;
}

/* ---- RefreshAll --------------------------------------------------------------------------------- */

static json_t *ctl_refresh_all(struct ctl_op *op, const json_t *args, const char **member, struct kk_err *err)
{
    (void)args;
    *member = "Result";
    struct kk_reconcile r = {.ctl = op->ctl};
    struct rc_tally t = {.errors = json_array()};
    for (int i = 0; i < 5; i++) {
        t.found[i] = json_array();
        t.updated[i] = json_array();
    }
    rc_walk(&r, false, false, &t);
    json_t *res = json_object();
    static const char *const kinds[5] = {"Realms", "Spaces", "Stacks", "Cells", "Containers"};
    for (int i = 0; i < 5; i++) {
        char key[32];
        snprintf(key, sizeof(key), "%sFound", kinds[i]);
        json_object_set_new(res, key, t.found[i]);
        snprintf(key, sizeof(key), "%sUpdated", kinds[i]);
        json_object_set_new(res, key, t.updated[i]);
    }
    json_object_set_new(res, "Errors", t.errors);
    if (res == NULL) {
        ctl_fail(op, CTL_KIND_UNKNOWN, err, KK_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    return res;
}

const struct ctl_ext_method ctl_reconcile_methods[] = {
    /* It writes statuses: one at a time with the other writers. */
    {"RefreshAll", ctl_refresh_all, true},
    {NULL, NULL, false},
};
