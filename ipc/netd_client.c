/* Typed calls to kuke-netd (see netd_client.h): build the request, kk_ipc_call, copy the reply into
 * fixed-size fields. A reply field that does not fit is the helper breaking its contract. */
#include "ipc/netd_client.h"

#include <string.h>

#include "common/util.h"
#include "ipc/client.h"

static int copy_text(char *dst, size_t size, const char *src, const char *what, struct kk_err *err)
{
    if (kk_strlcpy(dst, src != NULL ? src : "", size) < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "kuke-netd sent a %s longer than %zu bytes", what, size - 1);
    return 0;
}

static int netd_space_call(int sock, uint16_t type, const char *realm, const char *space,
                           Kukeon__Ipc__NetdNetworkReply **reply, struct kk_err *err)
{
    Kukeon__Ipc__NetdSpace req = KUKEON__IPC__NETD_SPACE__INIT;
    req.realm = (char *)realm;
    req.space = (char *)space;
    return kk_ipc_call(sock, type, &req.base, -1, &kukeon__ipc__netd_network_reply__descriptor,
                       (ProtobufCMessage **)reply, err);
}

int kk_netd_network_ensure(int sock, const char *realm, const char *space, struct kk_netd_network *out,
                           struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    Kukeon__Ipc__NetdNetworkReply *r = NULL;
    if (netd_space_call(sock, KK_NETD_NETWORK_ENSURE, realm, space, &r, err) < 0)
        return -1;
    int rc = 0;
    if (copy_text(out->network, sizeof(out->network), r->network, "network name", err) < 0 ||
        copy_text(out->bridge, sizeof(out->bridge), r->bridge, "bridge name", err) < 0 ||
        copy_text(out->subnet, sizeof(out->subnet), r->subnet, "subnet", err) < 0 ||
        copy_text(out->gateway, sizeof(out->gateway), r->gateway, "gateway", err) < 0 ||
        copy_text(out->conflist_path, sizeof(out->conflist_path), r->conflist_path, "conflist path", err) < 0 ||
        copy_text(out->conflist, sizeof(out->conflist), r->conflist, "conflist", err) < 0)
        rc = -1;
    out->created = r->created;
    out->regenerated = r->regenerated;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return rc;
}

int kk_netd_network_delete(int sock, const char *realm, const char *space, bool *existed, struct kk_err *err)
{
    Kukeon__Ipc__NetdNetworkReply *r = NULL;
    if (netd_space_call(sock, KK_NETD_NETWORK_DELETE, realm, space, &r, err) < 0)
        return -1;
    if (existed != NULL)
        *existed = r->existed;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

static int netd_cell_call(int sock, uint16_t type, const char *realm, const char *space, const char *stack,
                          const char *cell, const ProtobufCMessageDescriptor *desc, ProtobufCMessage **reply,
                          struct kk_err *err)
{
    Kukeon__Ipc__NetdCell req = KUKEON__IPC__NETD_CELL__INIT;
    req.realm = (char *)realm;
    req.space = (char *)space;
    req.stack = (char *)stack;
    req.cell = (char *)cell;
    return kk_ipc_call(sock, type, &req.base, -1, desc, reply, err);
}

static int cell_reply(const Kukeon__Ipc__NetdCellReply *r, struct kk_netd_cell *out, struct kk_err *err)
{
    if (copy_text(out->netns_path, sizeof(out->netns_path), r->netns_path, "netns path", err) < 0 ||
        copy_text(out->interface, sizeof(out->interface), r->interface, "interface", err) < 0 ||
        copy_text(out->address, sizeof(out->address), r->address, "address", err) < 0 ||
        copy_text(out->gateway, sizeof(out->gateway), r->gateway, "gateway", err) < 0 ||
        copy_text(out->mac, sizeof(out->mac), r->mac, "MAC", err) < 0 ||
        copy_text(out->host_veth, sizeof(out->host_veth), r->host_veth, "host veth", err) < 0)
        return -1;
    out->reused = r->reused;
    if (r->n_links > KK_NETD_LINKS_MAX)
        return kk_error(err, KK_ERR_INTERNAL, 0, "kuke-netd reported %zu links, more than %d", r->n_links,
                        KK_NETD_LINKS_MAX);
    out->n_links = r->n_links;
    for (size_t i = 0; i < r->n_links; i++) {
        const Kukeon__Ipc__NetdLink *l = r->links[i];
        struct kk_netd_link *o = &out->links[i];
        if (l->n_addresses > KK_NETD_ADDRS_MAX)
            return kk_error(err, KK_ERR_INTERNAL, 0, "kuke-netd reported %zu addresses on one link",
                            l->n_addresses);
        if (copy_text(o->name, sizeof(o->name), l->name, "link name", err) < 0 ||
            copy_text(o->mac, sizeof(o->mac), l->mac, "link MAC", err) < 0)
            return -1;
        o->up = l->up;
        o->n_addresses = l->n_addresses;
        for (size_t k = 0; k < l->n_addresses; k++)
            if (copy_text(o->addresses[k], sizeof(o->addresses[k]), l->addresses[k], "link address", err) < 0)
                return -1;
    }
    return 0;
}

static int netd_cell_info(int sock, uint16_t type, const char *realm, const char *space, const char *stack,
                          const char *cell, struct kk_netd_cell *out, struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    ProtobufCMessage *m = NULL;
    if (netd_cell_call(sock, type, realm, space, stack, cell, &kukeon__ipc__netd_cell_reply__descriptor, &m,
                       err) < 0)
        return -1;
    int rc = cell_reply((const Kukeon__Ipc__NetdCellReply *)m, out, err);
    protobuf_c_message_free_unpacked(m, NULL);
    return rc;
}

int kk_netd_cell_attach(int sock, const char *realm, const char *space, const char *stack, const char *cell,
                        struct kk_netd_cell *out, struct kk_err *err)
{
    return netd_cell_info(sock, KK_NETD_CELL_ATTACH, realm, space, stack, cell, out, err);
}

int kk_netd_cell_check(int sock, const char *realm, const char *space, const char *stack, const char *cell,
                       struct kk_netd_cell *out, struct kk_err *err)
{
    return netd_cell_info(sock, KK_NETD_CELL_CHECK, realm, space, stack, cell, out, err);
}

int kk_netd_cell_status(int sock, const char *realm, const char *space, const char *stack, const char *cell,
                        struct kk_netd_cell *out, struct kk_err *err)
{
    return netd_cell_info(sock, KK_NETD_CELL_STATUS, realm, space, stack, cell, out, err);
}

int kk_netd_cell_delete(int sock, const char *realm, const char *space, const char *stack, const char *cell,
                        bool *existed, struct kk_err *err)
{
    ProtobufCMessage *m = NULL;
    if (netd_cell_call(sock, KK_NETD_CELL_DELETE, realm, space, stack, cell,
                       &kukeon__ipc__netd_cell_delete_reply__descriptor, &m, err) < 0)
        return -1;
    if (existed != NULL)
        *existed = ((const Kukeon__Ipc__NetdCellDeleteReply *)m)->existed;
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

int kk_netd_forward_ensure(int sock, struct kk_err *err)
{
    Kukeon__Ipc__NetdEmpty req = KUKEON__IPC__NETD_EMPTY__INIT;
    return kk_ipc_call(sock, KK_NETD_FORWARD_ENSURE, &req.base, -1, NULL, NULL, err);
}

int kk_netd_gc(int sock, size_t *removed, struct kk_err *err)
{
    Kukeon__Ipc__NetdEmpty req = KUKEON__IPC__NETD_EMPTY__INIT;
    ProtobufCMessage *m = NULL;
    if (kk_ipc_call(sock, KK_NETD_GC, &req.base, -1, &kukeon__ipc__netd_gc_reply__descriptor, &m, err) < 0)
        return -1;
    if (removed != NULL)
        *removed = ((const Kukeon__Ipc__NetdGcReply *)m)->n_removed;
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}
