/* The API side of kuke-netd: its request numbers and one typed call per request, over a helper
 * socket that has done HELLO (kk_ipc_hello). The calls send hierarchy names only; netd derives every
 * host name itself (ipc/proto/netd.proto). A DENIED answer is KK_ERR_DENIED with netd's reason. */
#ifndef KUKEON_IPC_NETD_CLIENT_H
#define KUKEON_IPC_NETD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "ipc/frame.h"
#include "ipc/proto/netd.pb-c.h"

/* Request numbers (0x0200..0x02ff, ipc/proto/helper.proto). Wire values: append only. */
enum kk_netd_type {
    KK_NETD_NETWORK_ENSURE = KK_IPC_NETD_FIRST + 1, /* NetdSpace -> NetdNetworkReply */
    KK_NETD_NETWORK_DELETE = KK_IPC_NETD_FIRST + 2, /* NetdSpace -> NetdNetworkReply (existed) */
    KK_NETD_CELL_ATTACH = KK_IPC_NETD_FIRST + 3,    /* NetdCell -> NetdCellReply */
    KK_NETD_CELL_CHECK = KK_IPC_NETD_FIRST + 4,     /* NetdCell -> NetdCellReply */
    KK_NETD_CELL_DELETE = KK_IPC_NETD_FIRST + 5,    /* NetdCell -> NetdCellDeleteReply */
    KK_NETD_CELL_STATUS = KK_IPC_NETD_FIRST + 6,    /* NetdCell -> NetdCellReply (links) */
    KK_NETD_FORWARD_ENSURE = KK_IPC_NETD_FIRST + 7, /* NetdEmpty -> empty */
    KK_NETD_GC = KK_IPC_NETD_FIRST + 8,             /* NetdEmpty -> NetdGcReply */
};

/* Sizes of what netd reports, all bounded by the kernel's or the derivation's limits. */
#define KK_NETD_TEXT_SIZE                                                                                    \
    64 /* an address, a MAC, a bridge or network name (network: 127 + NUL is                                 \
        * KK_NETD_NETWORK_SIZE) */
#define KK_NETD_NETWORK_SIZE 128
#define KK_NETD_PATH_SIZE    1024
#define KK_NETD_LINKS_MAX    16
#define KK_NETD_ADDRS_MAX    8

struct kk_netd_network {
    char network[KK_NETD_NETWORK_SIZE];
    char bridge[KK_NETD_TEXT_SIZE];
    char subnet[KK_NETD_TEXT_SIZE];
    char gateway[KK_NETD_TEXT_SIZE];
    char conflist_path[KK_NETD_PATH_SIZE];
    char conflist[8192]; /* ENSURE: the conflist text netd wrote */
    bool created, regenerated, existed;
};

struct kk_netd_link {
    char name[KK_NETD_TEXT_SIZE];
    char mac[KK_NETD_TEXT_SIZE];
    bool up;
    size_t n_addresses;
    char addresses[KK_NETD_ADDRS_MAX][KK_NETD_TEXT_SIZE];
};

struct kk_netd_cell {
    char netns_path[KK_NETD_PATH_SIZE];
    char interface[KK_NETD_TEXT_SIZE];
    char address[KK_NETD_TEXT_SIZE]; /* "10.88.3.2/24" */
    char gateway[KK_NETD_TEXT_SIZE];
    char mac[KK_NETD_TEXT_SIZE];
    char host_veth[KK_NETD_TEXT_SIZE];
    bool reused;
    size_t n_links; /* STATUS only */
    struct kk_netd_link links[KK_NETD_LINKS_MAX];
};

int kk_netd_network_ensure(int sock, const char *realm, const char *space, struct kk_netd_network *out,
                           struct kk_err *err);
/* *existed (may be NULL): whether there was anything to remove. */
int kk_netd_network_delete(int sock, const char *realm, const char *space, bool *existed, struct kk_err *err);
int kk_netd_cell_attach(int sock, const char *realm, const char *space, const char *stack, const char *cell,
                        struct kk_netd_cell *out, struct kk_err *err);
int kk_netd_cell_check(int sock, const char *realm, const char *space, const char *stack, const char *cell,
                       struct kk_netd_cell *out, struct kk_err *err);
int kk_netd_cell_delete(int sock, const char *realm, const char *space, const char *stack, const char *cell,
                        bool *existed, struct kk_err *err);
int kk_netd_cell_status(int sock, const char *realm, const char *space, const char *stack, const char *cell,
                        struct kk_netd_cell *out, struct kk_err *err);
int kk_netd_forward_ensure(int sock, struct kk_err *err);
/* *removed (may be NULL) gets how many links were removed. */
int kk_netd_gc(int sock, size_t *removed, struct kk_err *err);

#endif
