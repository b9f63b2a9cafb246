/* Containers and their tasks in a realm's namespace: create (snapshot, record, the spec ctrd_spec.c
 * builds), start with stdout and stderr going to the container's log file (the shim writes it, so no
 * reader has to stay up) or to FIFOs for attachable containers, kill, stop with escalation, wait,
 * delete, and the state of each for status. */
#include "kuke-ctrd/ctrd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/log.h"
#include "common/names.h"
#include "common/util.h"
#include "ipc/frame.h"

#define CTRD_SPEC_TYPE_URL     "types.containerd.io/opencontainers/runtime-spec/1/Spec"
#define CTRD_KILL_WAIT_MS      10000
#define CTRD_ATTACH_TIMEOUT_MS 5000
/* Labels of kukeon-reference.md section 1.2, plus what kuke-ctrd needs to start the task later. */
#define L_TYPE       "kukeon.io/container-type"
#define L_HASH       "kukeon.io/spec-hash"
#define L_HASH_VER   "kukeon.io/spec-hash-version"
#define L_ATTACHABLE "kukeon.io/attachable"

int ctrd_ref_container(const struct ctrd *c, const Kukeon__Ipc__Ctrd__Ref *ref, struct kk_derived *d,
                       struct kk_err *err)
{
    if (ref == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "the request names no container");
    struct kk_derive_names n = {ref->realm, ref->space, ref->stack, ref->cell, ref->container};
    if (kk_derive(&n, &c->dcfg, d, err) < 0)
        return -1;
    if (d->depth != KK_NAME_CONTAINER)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "the request must name realm, space, stack, cell and container");
    return 0;
}

bool ctrd_split_id(const char *id, char parts[4][KK_NAME_SIZE])
{
    const char *p = id;
    for (int i = 0; i < 4; i++) {
        const char *e = i < 3 ? strchr(p, '_') : p + strlen(p);
        if (e == NULL || (size_t)(e - p) >= KK_NAME_SIZE)
            return false;
        memcpy(parts[i], p, (size_t)(e - p));
        parts[i][e - p] = '\0';
        if (!kk_name_is_valid(parts[i]))
            return false;
        p = e + 1;
    }
    return true;
}

/* ---- filesystem checks ---------------------------------------------------------------------- */

/* No component of path may be a symlink: the shim and runc run as root and follow them, so a link
 * planted in the run path (writable by the API worker) could point a bind mount or the log file at
 * any host file. Components that do not exist yet are fine (the shim creates the log's directories).
 * This is a check at create time; see docs/ctrd.md for the window it leaves. */
static int ctrd_no_symlinks(const char *path, bool must_exist, const char *what, struct ctrd_refusal *r)
{
    char buf[KK_DERIVE_PATH_SIZE + 64];
    if (kk_strlcpy(buf, path, sizeof(buf)) < 0) {
        r->reason = KK_IPC_DENY_INVALID_VALUE;
        snprintf(r->msg, sizeof(r->msg), "%s path is too long", what);
        return -1;
    }
    for (char *s = buf + 1;; s++) {
        bool end = *s == '\0';
        if (*s == '/' || end) {
            char saved = *s;
            *s = '\0';
            struct stat st;
            if (fstatat(AT_FDCWD, buf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT && !must_exist)
                    return 0;
                r->reason = KK_IPC_DENY_INVALID_VALUE;
                snprintf(r->msg, sizeof(r->msg), "%s %.200s: %s", what, buf, strerror(errno));
                return -1;
            }
            if (S_ISLNK(st.st_mode)) {
                r->reason = KK_IPC_DENY_OUTSIDE_ROOT;
                snprintf(r->msg, sizeof(r->msg), "%s %.200s goes through a symbolic link at %.200s", what,
                         path, buf);
                return -1;
            }
            *s = saved;
        }
        if (end)
            break;
    }
    return 0;
}

/* ---- containerd calls -------------------------------------------------------------------------- */

static int ctrd_task_get(struct ctrd_conn *conn, const char *ns, const char *id,
                         Containerd__Services__Tasks__V1__GetResponse **out, struct kk_err *err)
{
    Containerd__Services__Tasks__V1__GetRequest req = CONTAINERD__SERVICES__TASKS__V1__GET_REQUEST__INIT;
    req.container_id = (char *)id;
    if (ctrd_unary(conn, CTRD_SVC_TASKS, "Get", ns, NULL, &req.base, (ProtobufCMessage **)out,
                   CTRD_TIMEOUT_DEFAULT_MS, err) < 0)
        return -1;
    if ((*out)->process == NULL) {
        protobuf_c_message_free_unpacked(&(*out)->base, NULL);
        return kk_error(err, KK_ERR_INTERNAL, 0, "Tasks.Get %s: no process in the reply", id);
    }
    return 0;
}

static int ctrd_container_get(struct ctrd_conn *conn, const char *ns, const char *id,
                              Containerd__Services__Containers__V1__GetContainerResponse **out,
                              struct kk_err *err)
{
    Containerd__Services__Containers__V1__GetContainerRequest req =
        CONTAINERD__SERVICES__CONTAINERS__V1__GET_CONTAINER_REQUEST__INIT;
    req.id = (char *)id;
    if (ctrd_unary(conn, CTRD_SVC_CONTAINERS, "Get", ns, NULL, &req.base, (ProtobufCMessage **)out,
                   CTRD_TIMEOUT_DEFAULT_MS, err) < 0)
        return -1;
    if ((*out)->container == NULL) {
        protobuf_c_message_free_unpacked(&(*out)->base, NULL);
        return kk_error(err, KK_ERR_INTERNAL, 0, "Containers.Get %s: no container in the reply", id);
    }
    return 0;
}

static const char *ctrd_label(Containerd__Services__Containers__V1__Container__LabelsEntry **l, size_t n,
                              const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i]->key, key) == 0)
            return l[i]->value;
    return NULL;
}

static void ctrd_snapshot_remove(struct ctrd_conn *conn, const char *ns, const char *key)
{
    Containerd__Services__Snapshots__V1__RemoveSnapshotRequest rm =
        CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
    rm.snapshotter = CTRD_SNAPSHOTTER;
    rm.key = (char *)key;
    struct kk_err e;
    if (ctrd_unary(conn, CTRD_SVC_SNAPSHOTS, "Remove", ns, NULL, &rm.base, NULL, CTRD_TIMEOUT_LONG_MS, &e) <
            0 &&
        e.kind != KK_ERR_NOT_FOUND)
        kk_warn("removing snapshot %s in %s: %s", key, ns, e.msg);
}

/* ---- create -------------------------------------------------------------------------------------- */

static int ctrd_prepare_rootfs(struct ctrd_conn *conn, const char *ns, const char *lease, const char *id,
                               const char *parent, struct kk_err *err)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        Containerd__Services__Snapshots__V1__PrepareSnapshotRequest req =
            CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
        req.snapshotter = CTRD_SNAPSHOTTER;
        req.key = (char *)id;
        req.parent = (char *)parent;
        struct kk_err perr;
        if (ctrd_unary(conn, CTRD_SVC_SNAPSHOTS, "Prepare", ns, lease, &req.base, NULL,
                       CTRD_TIMEOUT_DEFAULT_MS, &perr) == 0)
            return 0;
        if (perr.kind != KK_ERR_EXISTS || attempt > 0) {
            *err = perr;
            return -1;
        }
        /* A snapshot without its container: left by a create that died half-way. */
        ctrd_snapshot_remove(conn, ns, id);
    }
    return -1;
}

int ctrd_container_create(struct ctrd *c, const Kukeon__Ipc__Ctrd__ContainerCreate *req,
                          const struct kk_derived *d, const char *ns, unsigned allow,
                          Kukeon__Ipc__Ctrd__ContainerCreateReply *out, struct ctrd_refusal *r,
                          struct kk_err *err)
{
    r->reason = 0;
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    for (size_t i = 0; i < req->n_mounts; i++)
        if (strcmp(req->mounts[i]->kind, "tmpfs") != 0 &&
            ctrd_no_symlinks(req->mounts[i]->source, true, "bind source", r) < 0)
            return -1;
    char log_path[KK_DERIVE_PATH_SIZE + 16];
    snprintf(log_path, sizeof(log_path), "%s/log", d->container_dir);
    if (ctrd_no_symlinks(req->attachable && !ctrd_spec_relay_available() ? d->container_dir : log_path, false,
                         "log path", r) < 0)
        return -1;
    struct ctrd_device devices[16];
    if (req->n_devices > KK_ARRAY_SIZE(devices)) {
        r->reason = KK_IPC_DENY_INVALID_VALUE;
        snprintf(r->msg, sizeof(r->msg), "more than %zu devices", KK_ARRAY_SIZE(devices));
        return -1;
    }
    for (size_t i = 0; i < req->n_devices; i++) {
        struct stat st;
        if (ctrd_no_symlinks(req->devices[i]->path, true, "device", r) < 0)
            return -1;
        if (stat(req->devices[i]->path, &st) < 0 || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))) {
            r->reason = KK_IPC_DENY_INVALID_VALUE;
            snprintf(r->msg, sizeof(r->msg), "%.200s is not a device node", req->devices[i]->path);
            return -1;
        }
        devices[i] = (struct ctrd_device){.type = S_ISCHR(st.st_mode) ? 'c' : 'b',
                                          .major = major(st.st_rdev),
                                          .minor = minor(st.st_rdev),
                                          .mode = st.st_mode & 07777};
    }

    Containerd__Services__Containers__V1__GetContainerResponse *existing = NULL;
    struct kk_err gerr;
    if (ctrd_container_get(conn, ns, d->ctrd_id, &existing, &gerr) == 0) {
        protobuf_c_message_free_unpacked(&existing->base, NULL);
        return kk_error(err, KK_ERR_EXISTS, 0, "container %s already exists in namespace %s; delete it first",
                        d->ctrd_id, ns);
    }
    if (gerr.kind != KK_ERR_NOT_FOUND) {
        *err = gerr;
        return -1;
    }

    char image[CTRD_IMAGE_NAME_MAX + 32];
    struct ctrd_image_config ic;
    if (ctrd_image_name_canonical(req->image, image, sizeof(image), err) < 0 ||
        ctrd_image_resolve(c, ns, image, &ic, err) < 0)
        return -1;

    uint32_t root_pid = 0;
    if (!req->root) {
        Containerd__Services__Tasks__V1__GetResponse *rt = NULL;
        struct kk_err terr;
        if (ctrd_task_get(conn, ns, d->ctrd_root_id, &rt, &terr) == 0) {
            if (rt->process->status == CONTAINERD__V1__TYPES__STATUS__RUNNING)
                root_pid = rt->process->pid;
            protobuf_c_message_free_unpacked(&rt->base, NULL);
        }
    }
    struct kk_derive_names cell_names = {d->realm, d->space, d->stack, d->cell, NULL};
    struct kk_derived cd;
    if (kk_derive(&cell_names, &c->dcfg, &cd, err) < 0) {
        ctrd_image_config_free(&ic);
        return -1;
    }
    struct ctrd_spec_input in = {
        .req = req,
        .d = d,
        .cell_cgroup_path = cd.cgroup_path,
        .image_config = ic.config,
        .allow = allow,
        .hard = c->hard_known ? c->hard : NULL,
        .cap_bound = c->cap_bound,
        .root_pid = root_pid,
        .devices = devices,
        .n_devices = req->n_devices,
    };
    char *spec = NULL;
    size_t spec_len = 0;
    int rc = ctrd_spec_build(&in, &spec, &spec_len, err);
    char chain[CTRD_DIGEST_SIZE];
    memcpy(chain, ic.chain_top, sizeof(chain));
    ctrd_image_config_free(&ic);
    if (rc < 0)
        return -1;

    char lease[96];
    if (ctrd_lease_create(c, ns, "create", lease, sizeof(lease), err) < 0) {
        free(spec);
        return -1;
    }
    rc = ctrd_prepare_rootfs(conn, ns, lease, d->ctrd_id, chain, err);
    if (rc == 0) {
        struct ctrd_labels labels = {0};
        if (ctrd_labels_add(&labels, L_TYPE, req->root ? "root" : "container", err) < 0 ||
            ctrd_labels_add(&labels, L_HASH, req->spec_hash, err) < 0 ||
            ctrd_labels_add(&labels, L_HASH_VER, "1", err) < 0 ||
            ctrd_labels_add(&labels, "realm.kukeon.io", d->realm, err) < 0 ||
            ctrd_labels_add(&labels, "space.kukeon.io", d->space, err) < 0 ||
            ctrd_labels_add(&labels, "stack.kukeon.io", d->stack, err) < 0 ||
            ctrd_labels_add(&labels, "cell.kukeon.io", d->cell, err) < 0 ||
            ctrd_labels_add(&labels, "container.kukeon.io", d->container, err) < 0 ||
            (req->attachable && ctrd_labels_add(&labels, L_ATTACHABLE, "true", err) < 0))
            rc = -1;
        struct ctrd_label_entries e;
        Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
        any.type_url = CTRD_SPEC_TYPE_URL;
        any.value.data = (uint8_t *)spec;
        any.value.len = spec_len;
        Containerd__Services__Containers__V1__Container__Runtime rt =
            CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__RUNTIME__INIT;
        rt.name = req->runtime[0] != '\0' ? req->runtime : CTRD_RUNTIME_DEFAULT;
        Containerd__Services__Containers__V1__Container ct =
            CONTAINERD__SERVICES__CONTAINERS__V1__CONTAINER__INIT;
        ct.id = (char *)d->ctrd_id;
        ct.labels = ctrd_label_entries(
            &e, &labels, &containerd__services__containers__v1__container__labels_entry__descriptor);
        ct.n_labels = labels.n;
        ct.image = image;
        ct.runtime = &rt;
        ct.spec = &any;
        ct.snapshotter = CTRD_SNAPSHOTTER;
        ct.snapshot_key = (char *)d->ctrd_id;
        Containerd__Services__Containers__V1__CreateContainerRequest creq =
            CONTAINERD__SERVICES__CONTAINERS__V1__CREATE_CONTAINER_REQUEST__INIT;
        creq.container = &ct;
        if (rc == 0)
            rc = ctrd_unary(conn, CTRD_SVC_CONTAINERS, "Create", ns, lease, &creq.base, NULL,
                            CTRD_TIMEOUT_DEFAULT_MS, err);
        if (rc < 0)
            ctrd_snapshot_remove(conn, ns, d->ctrd_id);
    }
    free(spec);
    /* The container record now holds its snapshot; the lease only covered the gap. */
    struct kk_err lerr;
    if (ctrd_lease_delete(c, ns, lease, false, &lerr) < 0)
        kk_warn("deleting lease %s in %s (it expires by itself): %s", lease, ns, lerr.msg);
    if (rc < 0)
        return -1;
    out->id = strdup(d->ctrd_id);
    out->ns = strdup(ns);
    out->log_path = strdup(req->attachable && !ctrd_spec_relay_available() ? "" : log_path);
    return 0;
}

/* ---- start --------------------------------------------------------------------------------------- */

static int ctrd_task_delete_quiet(struct ctrd_conn *conn, const char *ns, const char *id, struct kk_err *err)
{
    Containerd__Services__Tasks__V1__DeleteTaskRequest req =
        CONTAINERD__SERVICES__TASKS__V1__DELETE_TASK_REQUEST__INIT;
    req.container_id = (char *)id;
    struct kk_err derr;
    if (ctrd_unary(conn, CTRD_SVC_TASKS, "Delete", ns, NULL, &req.base, NULL, CTRD_TIMEOUT_LONG_MS, &derr) ==
            0 ||
        derr.kind == KK_ERR_NOT_FOUND)
        return 0;
    if (err != NULL)
        *err = derr;
    return -1;
}

int ctrd_task_start(struct ctrd *c, const struct kk_derived *d, uint32_t *pid, struct ctrd_refusal *r,
                    struct kk_err *err)
{
    r->reason = 0;
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    const char *ns = d->ctrd_namespace;
    Containerd__Services__Containers__V1__GetContainerResponse *ct = NULL;
    if (ctrd_container_get(conn, ns, d->ctrd_id, &ct, err) < 0)
        return -1;
    const char *att = ctrd_label(ct->container->labels, ct->container->n_labels, L_ATTACHABLE);
    bool attachable = att != NULL && strcmp(att, "true") == 0 && !ctrd_spec_relay_available();
    protobuf_c_message_free_unpacked(&ct->base, NULL);

    Containerd__Services__Tasks__V1__GetResponse *t = NULL;
    struct kk_err terr;
    if (ctrd_task_get(conn, ns, d->ctrd_id, &t, &terr) == 0) {
        bool stopped = t->process->status == CONTAINERD__V1__TYPES__STATUS__STOPPED;
        protobuf_c_message_free_unpacked(&t->base, NULL);
        if (!stopped)
            return kk_error(err, KK_ERR_EXISTS, 0,
                            "container %s in %s already has a task that has not exited; stop it first",
                            d->ctrd_id, ns);
        /* A start after an exit (a restart): the old task goes first. */
        if (ctrd_task_delete_quiet(conn, ns, d->ctrd_id, err) < 0)
            return -1;
    } else if (terr.kind != KK_ERR_NOT_FOUND) {
        *err = terr;
        return -1;
    }

    char io[3][KK_DERIVE_PATH_SIZE + 32];
    /* Read ends held for the start (attachable only), see below. */
    _cleanup_close_ int hold_out = -1;
    _cleanup_close_ int hold_err = -1;
    if (attachable) {
        static const char *const names[3] = {"stdin", "stdout", "stderr"};
        for (int i = 0; i < 3; i++) {
            snprintf(io[i], sizeof(io[i]), "%s/%s", d->container_dir, names[i]);
            struct stat st;
            if (ctrd_no_symlinks(io[i], true, "attach FIFO", r) < 0)
                return -1;
            if (stat(io[i], &st) < 0 || !S_ISFIFO(st.st_mode)) {
                r->reason = KK_IPC_DENY_STATE;
                snprintf(r->msg, sizeof(r->msg),
                         "%.200s is not a FIFO; the attach FIFOs are made before the start", io[i]);
                return -1;
            }
        }
        /* The shim opens stdout and stderr for writing, which waits for a reader: with none, Tasks.Create
         * would hold this helper, and a create cancelled at its deadline leaves the shim's bundle behind.
         * A reader held here for the start (O_NONBLOCK opens at once) lets the shim open them; the
         * attacher keeps its own reader open from before the start. */
        hold_out = open(io[1], O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
        hold_err = open(io[2], O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
        if (hold_out < 0 || hold_err < 0) {
            r->reason = KK_IPC_DENY_STATE;
            snprintf(r->msg, sizeof(r->msg), "opening the attach FIFOs in %.200s: %s", d->container_dir,
                     strerror(errno));
            return -1;
        }
    } else {
        snprintf(io[1], sizeof(io[1]), "%s/log", d->container_dir);
        if (ctrd_no_symlinks(io[1], false, "log path", r) < 0)
            return -1;
        /* The shim opens file:// with O_APPEND|O_CREAT itself, and makes the directories. */
        snprintf(io[1], sizeof(io[1]), "file://%s/log", d->container_dir);
        memcpy(io[2], io[1], sizeof(io[2]));
        io[0][0] = '\0';
    }

    Containerd__Services__Snapshots__V1__MountsRequest mreq =
        CONTAINERD__SERVICES__SNAPSHOTS__V1__MOUNTS_REQUEST__INIT;
    mreq.snapshotter = CTRD_SNAPSHOTTER;
    mreq.key = (char *)d->ctrd_id;
    Containerd__Services__Snapshots__V1__MountsResponse *mounts = NULL;
    if (ctrd_unary(conn, CTRD_SVC_SNAPSHOTS, "Mounts", ns, NULL, &mreq.base, (ProtobufCMessage **)&mounts,
                   CTRD_TIMEOUT_DEFAULT_MS, err) < 0)
        return kk_error_wrap(err, "the root filesystem of %s", d->ctrd_id);
    Containerd__Services__Tasks__V1__CreateTaskRequest creq =
        CONTAINERD__SERVICES__TASKS__V1__CREATE_TASK_REQUEST__INIT;
    creq.container_id = (char *)d->ctrd_id;
    creq.rootfs = mounts->mounts;
    creq.n_rootfs = mounts->n_mounts;
    creq.stdin = io[0];
    creq.stdout = io[1];
    creq.stderr = io[2];
    creq.terminal = false;
    /* Attachable starts get a short deadline all the same: a FIFO swapped under us must not hold the
     * helper (and every request behind it) for minutes. */
    int rc = ctrd_unary(conn, CTRD_SVC_TASKS, "Create", ns, NULL, &creq.base, NULL,
                        attachable ? CTRD_ATTACH_TIMEOUT_MS : CTRD_TIMEOUT_LONG_MS, err);
    protobuf_c_message_free_unpacked(&mounts->base, NULL);
    if (rc < 0 && attachable && ctrd_conn_last_status(conn) == GRPC_STATUS_DEADLINE_EXCEEDED) {
        ctrd_task_delete_quiet(conn, ns, d->ctrd_id, NULL);
        return kk_error(
            err, KK_ERR_UNAVAILABLE, 0,
            "container %s: no reader on its stdout or stderr FIFO in %s after %d ms; open them for "
            "reading before the start",
            d->ctrd_id, d->container_dir, CTRD_ATTACH_TIMEOUT_MS);
    }
    if (rc < 0)
        return -1;
    Containerd__Services__Tasks__V1__StartRequest sreq = CONTAINERD__SERVICES__TASKS__V1__START_REQUEST__INIT;
    sreq.container_id = (char *)d->ctrd_id;
    Containerd__Services__Tasks__V1__StartResponse *sr = NULL;
    if (ctrd_unary(conn, CTRD_SVC_TASKS, "Start", ns, NULL, &sreq.base, (ProtobufCMessage **)&sr,
                   CTRD_TIMEOUT_LONG_MS, err) < 0) {
        ctrd_task_delete_quiet(conn, ns, d->ctrd_id, NULL);
        return -1;
    }
    *pid = sr->pid;
    protobuf_c_message_free_unpacked(&sr->base, NULL);
    return 0;
}

/* ---- kill, wait, stop ------------------------------------------------------------------------------ */

int ctrd_task_kill(struct ctrd *c, const struct kk_derived *d, uint32_t sig, bool all, struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    if (sig == 0 || sig > 64)
        return kk_error(err, KK_ERR_INVALID, 0, "signal %u is not 1..64", sig);
    Containerd__Services__Tasks__V1__KillRequest req = CONTAINERD__SERVICES__TASKS__V1__KILL_REQUEST__INIT;
    req.container_id = (char *)d->ctrd_id;
    req.signal = sig;
    req.all = all;
    return ctrd_unary(conn, CTRD_SVC_TASKS, "Kill", d->ctrd_namespace, NULL, &req.base, NULL,
                      CTRD_TIMEOUT_DEFAULT_MS, err);
}

/* 1: exited (out filled), 0: still running after timeout_ms, -1: error. */
static int ctrd_wait(struct ctrd_conn *conn, const struct kk_derived *d, uint32_t timeout_ms,
                     Kukeon__Ipc__Ctrd__TaskExit *out, struct kk_err *err)
{
    Containerd__Services__Tasks__V1__WaitRequest req = CONTAINERD__SERVICES__TASKS__V1__WAIT_REQUEST__INIT;
    req.container_id = (char *)d->ctrd_id;
    Containerd__Services__Tasks__V1__WaitResponse *r = NULL;
    struct kk_err werr;
    if (ctrd_unary(conn, CTRD_SVC_TASKS, "Wait", d->ctrd_namespace, NULL, &req.base, (ProtobufCMessage **)&r,
                   (int)timeout_ms, &werr) < 0) {
        /* Our deadline travels with the call: containerd may notice it first and answer its own
         * "context deadline exceeded" as UNKNOWN instead of gRPC's DEADLINE_EXCEEDED. Both mean
         * the task still runs. */
        grpc_status_code st = ctrd_conn_last_status(conn);
        if (st == GRPC_STATUS_DEADLINE_EXCEEDED ||
            (st == GRPC_STATUS_UNKNOWN && strstr(werr.msg, "context deadline exceeded") != NULL))
            return 0;
        *err = werr;
        return -1;
    }
    out->exit_status = r->exit_status;
    out->exited_at_ms = ctrd_timestamp_ms(r->exited_at);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 1;
}

int ctrd_task_wait(struct ctrd *c, const struct kk_derived *d, uint32_t timeout_ms,
                   Kukeon__Ipc__Ctrd__TaskExit *out, struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    if (timeout_ms == 0 || timeout_ms > KK_CTRD_WAIT_MAX_MS)
        return kk_error(err, KK_ERR_INVALID, 0, "wait timeout %u ms is not 1..%u", timeout_ms,
                        KK_CTRD_WAIT_MAX_MS);
    int rc = ctrd_wait(conn, d, timeout_ms, out, err);
    if (rc == 0)
        out->running = true;
    return rc < 0 ? -1 : 0;
}

int ctrd_task_stop(struct ctrd *c, const struct kk_derived *d, uint32_t timeout_ms,
                   Kukeon__Ipc__Ctrd__TaskExit *out, struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    if (timeout_ms == 0 || timeout_ms > KK_CTRD_WAIT_MAX_MS)
        return kk_error(err, KK_ERR_INVALID, 0, "stop timeout %u ms is not 1..%u", timeout_ms,
                        KK_CTRD_WAIT_MAX_MS);
    Containerd__Services__Tasks__V1__GetResponse *t = NULL;
    if (ctrd_task_get(conn, d->ctrd_namespace, d->ctrd_id, &t, err) < 0)
        return -1;
    bool stopped = t->process->status == CONTAINERD__V1__TYPES__STATUS__STOPPED;
    out->exit_status = t->process->exit_status;
    out->exited_at_ms = ctrd_timestamp_ms(t->process->exited_at);
    protobuf_c_message_free_unpacked(&t->base, NULL);
    if (stopped)
        return 0;
    struct kk_err kerr;
    if (ctrd_task_kill(c, d, SIGTERM, true, &kerr) < 0 && kerr.kind != KK_ERR_NOT_FOUND) {
        *err = kerr;
        return -1;
    }
    int rc = ctrd_wait(conn, d, timeout_ms, out, err);
    if (rc != 0)
        return rc < 0 ? -1 : 0;
    /* Still running after the grace period: SIGKILL cannot be ignored. */
    if (ctrd_task_kill(c, d, SIGKILL, true, err) < 0)
        return -1;
    out->killed = true;
    rc = ctrd_wait(conn, d, CTRD_KILL_WAIT_MS, out, err);
    if (rc == 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "container %s in %s survived SIGKILL for %d ms", d->ctrd_id,
                        d->ctrd_namespace, CTRD_KILL_WAIT_MS);
    return rc < 0 ? -1 : 0;
}

/* ---- delete ------------------------------------------------------------------------------------------ */

int ctrd_container_delete(struct ctrd *c, const struct kk_derived *d,
                          Kukeon__Ipc__Ctrd__ContainerDeleteReply *out, struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    const char *ns = d->ctrd_namespace;
    Containerd__Services__Tasks__V1__GetResponse *t = NULL;
    struct kk_err terr;
    if (ctrd_task_get(conn, ns, d->ctrd_id, &t, &terr) == 0) {
        bool stopped = t->process->status == CONTAINERD__V1__TYPES__STATUS__STOPPED;
        protobuf_c_message_free_unpacked(&t->base, NULL);
        if (!stopped) {
            Kukeon__Ipc__Ctrd__TaskExit ex = KUKEON__IPC__CTRD__TASK_EXIT__INIT;
            if (ctrd_task_kill(c, d, SIGKILL, true, err) < 0 ||
                ctrd_wait(conn, d, CTRD_KILL_WAIT_MS, &ex, err) < 0)
                return kk_error_wrap(err, "stopping %s before deleting it", d->ctrd_id);
            out->task_killed = true;
        }
        if (ctrd_task_delete_quiet(conn, ns, d->ctrd_id, err) < 0)
            return -1;
    } else if (terr.kind != KK_ERR_NOT_FOUND) {
        *err = terr;
        return -1;
    }
    Containerd__Services__Containers__V1__DeleteContainerRequest dreq =
        CONTAINERD__SERVICES__CONTAINERS__V1__DELETE_CONTAINER_REQUEST__INIT;
    dreq.id = (char *)d->ctrd_id;
    struct kk_err derr;
    if (ctrd_unary(conn, CTRD_SVC_CONTAINERS, "Delete", ns, NULL, &dreq.base, NULL, CTRD_TIMEOUT_DEFAULT_MS,
                   &derr) == 0)
        out->existed = true;
    else if (derr.kind != KK_ERR_NOT_FOUND) {
        *err = derr;
        return -1;
    }
    ctrd_snapshot_remove(conn, ns, d->ctrd_id);
    return 0;
}

/* ---- status -------------------------------------------------------------------------------------------- */

static const char *ctrd_state_name(Containerd__V1__Types__Status s)
{
    switch (s) {
    case CONTAINERD__V1__TYPES__STATUS__CREATED:
        return "created";
    case CONTAINERD__V1__TYPES__STATUS__RUNNING:
        return "running";
    case CONTAINERD__V1__TYPES__STATUS__STOPPED:
        return "stopped";
    case CONTAINERD__V1__TYPES__STATUS__PAUSED:
        return "paused";
    case CONTAINERD__V1__TYPES__STATUS__PAUSING:
        return "pausing";
    default:
        return "unknown";
    }
}

static Kukeon__Ipc__Ctrd__ContainerStatus *
ctrd_status_new(const char *realm, const char parts[4][KK_NAME_SIZE],
                const Containerd__Services__Containers__V1__Container *ct,
                const Containerd__V1__Types__Process *p)
{
    Kukeon__Ipc__Ctrd__ContainerStatus *st = calloc(1, sizeof(*st));
    Kukeon__Ipc__Ctrd__Ref *ref = calloc(1, sizeof(*ref));
    if (st == NULL || ref == NULL) {
        free(st);
        free(ref);
        return NULL;
    }
    kukeon__ipc__ctrd__container_status__init(st);
    kukeon__ipc__ctrd__ref__init(ref);
    ref->realm = strdup(realm);
    ref->space = strdup(parts[0]);
    ref->stack = strdup(parts[1]);
    ref->cell = strdup(parts[2]);
    ref->container = strdup(parts[3]);
    st->ref = ref;
    st->id = strdup(ct->id);
    st->image = strdup(ct->image != NULL ? ct->image : "");
    const char *type = ctrd_label(ct->labels, ct->n_labels, L_TYPE);
    const char *hash = ctrd_label(ct->labels, ct->n_labels, L_HASH);
    st->container_type = strdup(type != NULL ? type : "");
    st->spec_hash = strdup(hash != NULL ? hash : "");
    st->created_at_ms = ctrd_timestamp_ms(ct->created_at);
    if (p == NULL) {
        st->state = strdup("no-task");
    } else {
        st->state = strdup(ctrd_state_name(p->status));
        st->pid = p->pid;
        st->exit_status = p->exit_status;
        st->exited_at_ms = ctrd_timestamp_ms(p->exited_at);
    }
    return st;
}

void ctrd_container_status_free(Kukeon__Ipc__Ctrd__ContainerStatus *st)
{
    if (st == NULL)
        return;
    if (st->ref != NULL) {
        free(st->ref->realm);
        free(st->ref->space);
        free(st->ref->stack);
        free(st->ref->cell);
        free(st->ref->container);
        free(st->ref);
    }
    free(st->id);
    free(st->image);
    free(st->container_type);
    free(st->spec_hash);
    free(st->state);
}

int ctrd_containers_of(struct ctrd_conn *conn, const char *ns,
                       Containerd__Services__Containers__V1__ListContainersResponse **out, struct kk_err *err)
{
    Containerd__Services__Containers__V1__ListContainersRequest req =
        CONTAINERD__SERVICES__CONTAINERS__V1__LIST_CONTAINERS_REQUEST__INIT;
    *out = NULL;
    return ctrd_unary(conn, CTRD_SVC_CONTAINERS, "List", ns, NULL, &req.base, (ProtobufCMessage **)out,
                      CTRD_TIMEOUT_DEFAULT_MS, err);
}

/* The containers of one cell only, and each one's task by Tasks.Get: the calls of a cell's list then
 * cost the same whether the namespace holds two containers or two hundred. Tasks.List asks every
 * task's shim for its state, and a controller lists a cell several times per create or start, so
 * one large apply would grow with the square of its cells. The labels are the ones every create
 * sets (ctrd_container_create); ids are still checked below. */
static int ctrd_cell_containers(struct ctrd_conn *conn, const char *ns, const struct kk_derive_names *f,
                                Containerd__Services__Containers__V1__ListContainersResponse **out,
                                struct kk_err *err)
{
    char expr[3 * KK_NAME_SIZE + 128];
    if (kk_snprintf(expr, sizeof(expr), err, "container filter",
                    "labels.\"space.kukeon.io\"==\"%s\",labels.\"stack.kukeon.io\"==\"%s\","
                    "labels.\"cell.kukeon.io\"==\"%s\"",
                    f->space, f->stack, f->cell) < 0)
        return -1;
    char *filters[1] = {expr};
    Containerd__Services__Containers__V1__ListContainersRequest req =
        CONTAINERD__SERVICES__CONTAINERS__V1__LIST_CONTAINERS_REQUEST__INIT;
    req.filters = filters;
    req.n_filters = 1;
    *out = NULL;
    return ctrd_unary(conn, CTRD_SVC_CONTAINERS, "List", ns, NULL, &req.base, (ProtobufCMessage **)out,
                      CTRD_TIMEOUT_DEFAULT_MS, err);
}

int ctrd_container_list(struct ctrd *c, const char *ns, const struct kk_derive_names *filter,
                        Kukeon__Ipc__Ctrd__ContainerListReply *out, struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    bool one_cell = filter->space != NULL && filter->space[0] != '\0' && filter->stack != NULL &&
                    filter->stack[0] != '\0' && filter->cell != NULL && filter->cell[0] != '\0';
    Containerd__Services__Containers__V1__ListContainersResponse *cl = NULL;
    if ((one_cell ? ctrd_cell_containers(conn, ns, filter, &cl, err)
                  : ctrd_containers_of(conn, ns, &cl, err)) < 0)
        return -1;
    Containerd__Services__Tasks__V1__ListTasksResponse *tl = NULL;
    if (!one_cell) {
        Containerd__Services__Tasks__V1__ListTasksRequest treq =
            CONTAINERD__SERVICES__TASKS__V1__LIST_TASKS_REQUEST__INIT;
        if (ctrd_unary(conn, CTRD_SVC_TASKS, "List", ns, NULL, &treq.base, (ProtobufCMessage **)&tl,
                       CTRD_TIMEOUT_DEFAULT_MS, err) < 0) {
            protobuf_c_message_free_unpacked(&cl->base, NULL);
            return -1;
        }
    }
    int rc = 0;
    out->containers = calloc(cl->n_containers + 1, sizeof(*out->containers));
    const char *want[4] = {filter->space, filter->stack, filter->cell, filter->container};
    for (size_t i = 0; out->containers != NULL && i < cl->n_containers; i++) {
        const Containerd__Services__Containers__V1__Container *ct = cl->containers[i];
        char parts[4][KK_NAME_SIZE];
        if (!ctrd_split_id(ct->id, parts))
            continue; /* not a Kukeon id: someone else's record in the realm's namespace */
        bool match = true;
        for (int k = 0; k < 4 && match; k++)
            match = want[k] == NULL || want[k][0] == '\0' || strcmp(want[k], parts[k]) == 0;
        if (!match)
            continue;
        const Containerd__V1__Types__Process *p = NULL;
        Containerd__Services__Tasks__V1__GetResponse *tg = NULL;
        if (one_cell) {
            struct kk_err terr;
            if (ctrd_task_get(conn, ns, ct->id, &tg, &terr) == 0) {
                p = tg->process;
            } else if (terr.kind != KK_ERR_NOT_FOUND) {
                *err = terr;
                rc = -1;
                break;
            }
        }
        for (size_t j = 0; tl != NULL && j < tl->n_tasks && p == NULL; j++)
            if (strcmp(tl->tasks[j]->container_id[0] != '\0' ? tl->tasks[j]->container_id : tl->tasks[j]->id,
                       ct->id) == 0)
                p = tl->tasks[j];
        Kukeon__Ipc__Ctrd__ContainerStatus *st = ctrd_status_new(filter->realm, parts, ct, p);
        if (tg != NULL)
            protobuf_c_message_free_unpacked(&tg->base, NULL);
        if (st != NULL)
            out->containers[out->n_containers++] = st;
    }
    protobuf_c_message_free_unpacked(&cl->base, NULL);
    if (tl != NULL)
        protobuf_c_message_free_unpacked(&tl->base, NULL);
    if (rc < 0)
        ctrd_container_list_free(out);
    return rc;
}

void ctrd_container_list_free(Kukeon__Ipc__Ctrd__ContainerListReply *out)
{
    for (size_t i = 0; i < out->n_containers; i++) {
        ctrd_container_status_free(out->containers[i]);
        free(out->containers[i]);
    }
    free(out->containers);
    out->containers = NULL;
    out->n_containers = 0;
}

int ctrd_container_status(struct ctrd *c, const struct kk_derived *d, Kukeon__Ipc__Ctrd__ContainerStatus *out,
                          struct kk_err *err)
{
    struct ctrd_conn *conn = ctrd_connection(c, err);
    if (conn == NULL)
        return -1;
    Containerd__Services__Containers__V1__GetContainerResponse *ct = NULL;
    if (ctrd_container_get(conn, d->ctrd_namespace, d->ctrd_id, &ct, err) < 0)
        return -1;
    Containerd__Services__Tasks__V1__GetResponse *t = NULL;
    struct kk_err terr;
    int trc = ctrd_task_get(conn, d->ctrd_namespace, d->ctrd_id, &t, &terr);
    if (trc < 0 && terr.kind != KK_ERR_NOT_FOUND) {
        protobuf_c_message_free_unpacked(&ct->base, NULL);
        *err = terr;
        return -1;
    }
    char parts[4][KK_NAME_SIZE];
    memcpy(parts[0], d->space, KK_NAME_SIZE);
    memcpy(parts[1], d->stack, KK_NAME_SIZE);
    memcpy(parts[2], d->cell, KK_NAME_SIZE);
    memcpy(parts[3], d->container, KK_NAME_SIZE);
    Kukeon__Ipc__Ctrd__ContainerStatus *st =
        ctrd_status_new(d->realm, parts, ct->container, trc == 0 ? t->process : NULL);
    protobuf_c_message_free_unpacked(&ct->base, NULL);
    if (trc == 0)
        protobuf_c_message_free_unpacked(&t->base, NULL);
    if (st == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "container status");
    *out = *st;
    free(st);
    return 0;
}
