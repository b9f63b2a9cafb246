/* The one derivation from hierarchy names to every host name: containerd namespace and ids, cgroup path,
 * metadata dirs, netns, network, bridge, veth and iptables chain. Every process calls this; a helper
 * never takes one of these names or paths from a request (DESIGN.md sections 3, 5 and 6). */
#ifndef KUKEON_COMMON_DERIVE_H
#define KUKEON_COMMON_DERIVE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "common/names.h"

#define KK_DERIVE_NS_SUFFIX_DEFAULT   "kukeon.io"
#define KK_DERIVE_CGROUP_ROOT_DEFAULT "/kukeon"
#define KK_DERIVE_RUN_PATH_DEFAULT    "/opt/kukeon"
#define KK_DERIVE_NETNS_DIR_DEFAULT   "/run/netns"

/* containerd refuses identifiers (namespaces, container ids) longer than this
 * (github.com/containerd/containerd/identifiers, maxLength). */
#define KK_CTRD_ID_MAX  76
#define KK_CTRD_ID_SIZE (KK_CTRD_ID_MAX + 1)
/* The longest configured path (cgroup root, run path, netns dir) accepted, without the NUL. */
#define KK_DERIVE_CONFIG_PATH_MAX 255
/* Every derived path fits here; derive.c proves it at compile time from the limits above. */
#define KK_DERIVE_PATH_SIZE  1024
#define KK_NETWORK_NAME_SIZE (2 * KK_NAME_MAX + 2) /* "<realm>-<space>" */
#define KK_IFNAME_SIZE       16                    /* IFNAMSIZ: 15 bytes and the NUL */
#define KK_IPT_CHAIN_SIZE    29                    /* XT_EXTENSION_MAXNAMELEN: 28 bytes and the NUL */
#define KK_NETNS_NAME_SIZE   32

/* Where things live on this host. A NULL or empty field means its default (the macros above). */
struct kk_derive_config {
    const char *ns_suffix;   /* containerd namespace suffix: "<realm>.<suffix>" */
    const char *cgroup_root; /* relative to the cgroup v2 mount, absolute: "/kukeon" */
    const char *run_path;    /* persistent state: "/opt/kukeon" */
    const char *netns_dir;   /* where cell network namespaces are pinned: "/run/netns" */
};

/* The names to derive from. realm is required; deeper levels may be absent (NULL or ""), from some
 * level down: {realm, space, NULL, NULL, NULL} derives what a space has. A gap is an error. */
struct kk_derive_names {
    const char *realm;
    const char *space;
    const char *stack;
    const char *cell;
    const char *container;
};

/* Everything derived. A field that needs a deeper level than the input has is "". */
struct kk_derived {
    enum kk_name_kind depth; /* the deepest level given */
    char realm[KK_NAME_SIZE];
    char space[KK_NAME_SIZE];
    char stack[KK_NAME_SIZE];
    char cell[KK_NAME_SIZE];
    char container[KK_NAME_SIZE];

    /* realm and deeper */
    char ctrd_namespace[KK_CTRD_ID_SIZE];   /* "default.kukeon.io" */
    char cgroup_path[KK_DERIVE_PATH_SIZE];  /* relative to the mount, as deep as the input:
                                             * "/kukeon/<realm>[/<space>[/<stack>[/<cell>[/<ctrd_id>]]]]" */
    char metadata_dir[KK_DERIVE_PATH_SIZE]; /* "<run>/data/<realm>[/<space>[/<stack>[/<cell>]]]" */
    /* space and deeper */
    char network_name[KK_NETWORK_NAME_SIZE]; /* "<realm>-<space>" (not unique, see derive.c) */
    char bridge_name[KK_IFNAME_SIZE];        /* "k-<8 hex>" */
    char egress_chain[KK_IPT_CHAIN_SIZE];    /* "KUKE-EGR-<8 hex>" */
    /* cell and deeper */
    char ctrd_root_id[KK_CTRD_ID_SIZE];   /* the cell's pause root: "<space>_<stack>_<cell>_root" */
    char netns_name[KK_NETNS_NAME_SIZE];  /* "kk-<16 hex>" */
    char netns_path[KK_DERIVE_PATH_SIZE]; /* "<netns dir>/<netns_name>" */
    char veth_host[KK_IFNAME_SIZE];       /* "kv<12 hex>", at most 15 bytes */
    /* container */
    char ctrd_id[KK_CTRD_ID_SIZE];           /* "<space>_<stack>_<cell>_<container>" */
    char container_dir[KK_DERIVE_PATH_SIZE]; /* "<metadata_dir>/<container>" */
};

/* Validate every given name and the configuration (cfg may be NULL: all defaults), then fill out.
 * 0, or -1 with err (KK_ERR_INVALID for a bad name, configuration or a name too long for containerd)
 * and out zeroed: nothing half-derived is ever used. */
int kk_derive(const struct kk_derive_names *names, const struct kk_derive_config *cfg, struct kk_derived *out,
              struct kk_err *err);

/* Validate a configuration alone, e.g. at start-up, before any name is seen. */
int kk_derive_config_check(const struct kk_derive_config *cfg, struct kk_err *err);

/* FNV-1a (http://www.isthe.com/chongo/tech/comp/fnv/): short, stable, dependency-free hashes for names
 * that must be short. Not collision-resistant against a chosen input; see derive.c for why that is
 * enough here. */
uint32_t kk_fnv1a32(const void *data, size_t len);
uint64_t kk_fnv1a64(const void *data, size_t len);

#endif
