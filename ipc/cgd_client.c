/* The API side of kuke-cgd (see cgd_client.h): fill the request, call, copy the reply into the
 * caller's fixed-size structures, refusing any reply text that does not fit rather than cutting it. */
#include "ipc/cgd_client.h"

#include <string.h>

#include "common/util.h"
#include "ipc/client.h"

/* protobuf-c wants a string for every string field; NULL means "not given". */
static char *or_empty(const char *s)
{
    return (char *)(s != NULL ? s : protobuf_c_empty_string);
}

static void fill_names(Kukeon__Ipc__CgdNames *pb, const struct kk_derive_names *names)
{
    kukeon__ipc__cgd_names__init(pb);
    if (names == NULL)
        return;
    pb->realm = or_empty(names->realm);
    pb->space = or_empty(names->space);
    pb->stack = or_empty(names->stack);
    pb->cell = or_empty(names->cell);
    pb->container = or_empty(names->container);
}

static int copy_reply_text(char *dst, size_t size, const char *src, const char *what, struct kk_err *err)
{
    if (kk_strlcpy(dst, src != NULL ? src : "", size) < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "kuke-cgd sent a %s longer than %zu bytes", what, size - 1);
    return 0;
}

/* One call, with the reply unpacked as desc; the caller frees *reply. */
static int cgd_call(int sock, uint16_t type, const ProtobufCMessage *req,
                    const ProtobufCMessageDescriptor *desc, ProtobufCMessage **reply, struct kk_err *err)
{
    *reply = NULL;
    return kk_ipc_call(sock, type, req, -1, desc, reply, err);
}

int kk_cgd_host(int sock, Kukeon__Ipc__CgdHostReply **out, struct kk_err *err)
{
    Kukeon__Ipc__CgdHostRequest req = KUKEON__IPC__CGD_HOST_REQUEST__INIT;
    ProtobufCMessage *reply;
    if (cgd_call(sock, KK_CGD_HOST, &req.base, &kukeon__ipc__cgd_host_reply__descriptor, &reply, err) < 0)
        return -1;
    *out = (Kukeon__Ipc__CgdHostReply *)reply;
    return 0;
}

int kk_cgd_create(int sock, const struct kk_derive_names *names, bool nested, struct kk_cgd_created *out,
                  struct kk_err *err)
{
    Kukeon__Ipc__CgdNames pbn;
    fill_names(&pbn, names);
    Kukeon__Ipc__CgdCreateRequest req = KUKEON__IPC__CGD_CREATE_REQUEST__INIT;
    req.names = &pbn;
    req.nested = nested;
    ProtobufCMessage *reply;
    if (cgd_call(sock, KK_CGD_CREATE, &req.base, &kukeon__ipc__cgd_create_reply__descriptor, &reply, err) < 0)
        return -1;
    const Kukeon__Ipc__CgdCreateReply *r = (const Kukeon__Ipc__CgdCreateReply *)reply;
    int rc = 0;
    if (out != NULL) {
        out->created = r->created;
        if (copy_reply_text(out->cgroup_path, sizeof(out->cgroup_path), r->cgroup_path, "cgroup path", err) <
                0 ||
            copy_reply_text(out->subtree_controllers, sizeof(out->subtree_controllers),
                            r->subtree_controllers, "controller list", err) < 0 ||
            copy_reply_text(out->missing, sizeof(out->missing), r->missing, "controller list", err) < 0)
            rc = -1;
    }
    protobuf_c_message_free_unpacked(reply, NULL);
    return rc;
}

int kk_cgd_stat(int sock, const struct kk_derive_names *names, struct kk_cgd_stat *out, struct kk_err *err)
{
    Kukeon__Ipc__CgdNames req;
    fill_names(&req, names);
    ProtobufCMessage *reply;
    if (cgd_call(sock, KK_CGD_STAT, &req.base, &kukeon__ipc__cgd_stat_reply__descriptor, &reply, err) < 0)
        return -1;
    const Kukeon__Ipc__CgdStatReply *r = (const Kukeon__Ipc__CgdStatReply *)reply;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    out->exists = r->exists;
    out->owner_uid = r->owner_uid;
    out->populated = r->populated;
    out->frozen = r->frozen;
    out->nr_descendants = r->nr_descendants;
    out->nr_dying_descendants = r->nr_dying_descendants;
    out->n_v1_present = (unsigned)r->n_v1_present;
    if (copy_reply_text(out->cgroup_path, sizeof(out->cgroup_path), r->cgroup_path, "cgroup path", err) < 0 ||
        copy_reply_text(out->controllers, sizeof(out->controllers), r->controllers, "controller list", err) <
            0 ||
        copy_reply_text(out->subtree_controllers, sizeof(out->subtree_controllers), r->subtree_controllers,
                        "controller list", err) < 0)
        rc = -1;
    protobuf_c_message_free_unpacked(reply, NULL);
    return rc;
}

int kk_cgd_delete(int sock, const struct kk_derive_names *names, struct kk_cgd_deleted *out,
                  struct kk_err *err)
{
    Kukeon__Ipc__CgdNames req;
    fill_names(&req, names);
    ProtobufCMessage *reply;
    if (cgd_call(sock, KK_CGD_DELETE, &req.base, &kukeon__ipc__cgd_delete_reply__descriptor, &reply, err) < 0)
        return -1;
    const Kukeon__Ipc__CgdDeleteReply *r = (const Kukeon__Ipc__CgdDeleteReply *)reply;
    int rc = 0;
    if (out != NULL) {
        out->existed = r->existed;
        out->removed = r->removed;
        out->v1_removed = r->v1_removed;
        rc = copy_reply_text(out->cgroup_path, sizeof(out->cgroup_path), r->cgroup_path, "cgroup path", err);
    }
    protobuf_c_message_free_unpacked(reply, NULL);
    return rc;
}

int kk_cgd_set(int sock, const struct kk_derive_names *names, const char *knob, const char *value,
               char *written, struct kk_err *err)
{
    Kukeon__Ipc__CgdNames pbn;
    fill_names(&pbn, names);
    Kukeon__Ipc__CgdSetRequest req = KUKEON__IPC__CGD_SET_REQUEST__INIT;
    req.names = &pbn;
    req.knob = or_empty(knob);
    req.value = or_empty(value);
    ProtobufCMessage *reply;
    if (cgd_call(sock, KK_CGD_SET, &req.base, &kukeon__ipc__cgd_set_reply__descriptor, &reply, err) < 0)
        return -1;
    const Kukeon__Ipc__CgdSetReply *r = (const Kukeon__Ipc__CgdSetReply *)reply;
    int rc = 0;
    if (written != NULL)
        rc = copy_reply_text(written, KK_CGD_VALUE_SIZE, r->value, "knob value", err);
    protobuf_c_message_free_unpacked(reply, NULL);
    return rc;
}

int kk_cgd_resources(int sock, const struct kk_derive_names *names, const struct kk_cgd_resources *res,
                     struct kk_cgd_knob_value *out, size_t *n_out, struct kk_err *err)
{
    Kukeon__Ipc__CgdNames pbn;
    fill_names(&pbn, names);
    Kukeon__Ipc__CgdResourcesRequest req = KUKEON__IPC__CGD_RESOURCES_REQUEST__INIT;
    req.names = &pbn;
    req.memory_limit_bytes = res->memory_limit_bytes;
    req.cpu_shares = res->cpu_shares;
    req.pids_limit = res->pids_limit;
    ProtobufCMessage *reply;
    if (cgd_call(sock, KK_CGD_RESOURCES, &req.base, &kukeon__ipc__cgd_resources_reply__descriptor, &reply,
                 err) < 0)
        return -1;
    const Kukeon__Ipc__CgdResourcesReply *r = (const Kukeon__Ipc__CgdResourcesReply *)reply;
    int rc = 0;
    if (r->n_written > KK_CGD_RESOURCES_MAX)
        rc = kk_error(err, KK_ERR_INTERNAL, 0,
                      "kuke-cgd reported %zu knob writes for one container, at most %d", r->n_written,
                      KK_CGD_RESOURCES_MAX);
    for (size_t i = 0; rc == 0 && out != NULL && i < r->n_written; i++) {
        if (copy_reply_text(out[i].knob, sizeof(out[i].knob), r->written[i]->knob, "knob name", err) < 0 ||
            copy_reply_text(out[i].value, sizeof(out[i].value), r->written[i]->value, "knob value", err) < 0)
            rc = -1;
    }
    if (rc == 0 && n_out != NULL)
        *n_out = r->n_written;
    protobuf_c_message_free_unpacked(reply, NULL);
    return rc;
}

int kk_cgd_freeze(int sock, const struct kk_derive_names *names, bool frozen, uint32_t timeout_ms,
                  struct kk_err *err)
{
    Kukeon__Ipc__CgdNames pbn;
    fill_names(&pbn, names);
    Kukeon__Ipc__CgdFreezeRequest req = KUKEON__IPC__CGD_FREEZE_REQUEST__INIT;
    req.names = &pbn;
    req.frozen = frozen;
    req.timeout_ms = timeout_ms;
    ProtobufCMessage *reply;
    if (cgd_call(sock, KK_CGD_FREEZE, &req.base, &kukeon__ipc__cgd_freeze_reply__descriptor, &reply, err) < 0)
        return -1;
    bool now = ((const Kukeon__Ipc__CgdFreezeReply *)reply)->frozen;
    protobuf_c_message_free_unpacked(reply, NULL);
    if (now != frozen)
        return kk_error(err, KK_ERR_INTERNAL, 0, "kuke-cgd answered %s to a %s request",
                        now ? "frozen" : "thawed", frozen ? "freeze" : "thaw");
    return 0;
}

int kk_cgd_kill(int sock, const struct kk_derive_names *names, uint32_t timeout_ms, bool *emptied,
                struct kk_err *err)
{
    Kukeon__Ipc__CgdNames pbn;
    fill_names(&pbn, names);
    Kukeon__Ipc__CgdKillRequest req = KUKEON__IPC__CGD_KILL_REQUEST__INIT;
    req.names = &pbn;
    req.timeout_ms = timeout_ms;
    ProtobufCMessage *reply;
    if (cgd_call(sock, KK_CGD_KILL, &req.base, &kukeon__ipc__cgd_kill_reply__descriptor, &reply, err) < 0)
        return -1;
    if (emptied != NULL)
        *emptied = ((const Kukeon__Ipc__CgdKillReply *)reply)->emptied;
    protobuf_c_message_free_unpacked(reply, NULL);
    return 0;
}

int kk_cgd_usage(int sock, const struct kk_derive_names *names, struct kk_cgd_usage *out, struct kk_err *err)
{
    Kukeon__Ipc__CgdNames req;
    fill_names(&req, names);
    ProtobufCMessage *reply;
    if (cgd_call(sock, KK_CGD_USAGE, &req.base, &kukeon__ipc__cgd_usage_reply__descriptor, &reply, err) < 0)
        return -1;
    const Kukeon__Ipc__CgdUsageReply *r = (const Kukeon__Ipc__CgdUsageReply *)reply;
    *out = (struct kk_cgd_usage){
        .has_memory_current = r->has_memory_current,
        .memory_current = r->memory_current,
        .has_memory_peak = r->has_memory_peak,
        .memory_peak = r->memory_peak,
        .has_pids_current = r->has_pids_current,
        .pids_current = r->pids_current,
        .cpu_usage_usec = r->cpu_usage_usec,
        .cpu_user_usec = r->cpu_user_usec,
        .cpu_system_usec = r->cpu_system_usec,
        .has_cpu_throttling = r->has_cpu_throttling,
        .cpu_nr_periods = r->cpu_nr_periods,
        .cpu_nr_throttled = r->cpu_nr_throttled,
        .cpu_throttled_usec = r->cpu_throttled_usec,
        .populated = r->populated,
        .frozen = r->frozen,
    };
    protobuf_c_message_free_unpacked(reply, NULL);
    return 0;
}
