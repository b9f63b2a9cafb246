/* The daemon group's effective configuration: defaults, then /etc/kukeon/kukeond.yaml, then
 * environment, then flags (kukeon-reference.md 2.14-2.15). The supervisor hands it to every child
 * as a sealed memfd of "key=value" lines, so a helper takes its configuration from root, never from
 * the API worker it serves. */
#ifndef KUKEON_COMMON_CONFIG_H
#define KUKEON_COMMON_CONFIG_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/log.h"

#define KK_SOCKET_PATH_MAX 108 /* sizeof(sockaddr_un.sun_path) */

struct kk_config {
    char socket[KK_SOCKET_PATH_MAX];       /* socket */
    uint32_t socket_gid;                   /* socketGID: 0 = the kukeon group */
    char run_path[256];                    /* runPath */
    char containerd_socket[KK_SOCKET_PATH_MAX]; /* containerdSocket */
    enum kk_log_level log_level;           /* logLevel */
    uint32_t reconcile_interval_s;         /* reconcileInterval, seconds; 0 disables */
    char ns_suffix[64];                    /* containerdNamespaceSuffix */
    char cgroup_root[128];                 /* cgroupRoot, beneath the cgroup v2 mount */
    char pod_subnet_cidr[32];              /* podSubnetCIDR */
    uint64_t default_memory_limit_bytes;   /* defaultMemoryLimitBytes: 0 = off */
    char log_dir[256];                     /* logDir: daemon and audit logs */
    char cni_conf_dir[256];                /* cniConfDir: where netd writes conflists */
    char netd_state_dir[256];              /* netdStateDir: kuke-netd's own records (root's, 0700) */
};

void kk_config_defaults(struct kk_config *cfg);

/* Set one field by its ServerConfiguration key (camelCase, as in the YAML) or its flag name
 * (kebab-case, as on the command line). Values are validated; errors name the key and source. */
int kk_config_set(struct kk_config *cfg, const char *key, const char *value, const char *source,
                  struct kk_err *err);

/* The serialized form handed to children: "key=value\n" lines, keys in camelCase. */
int kk_config_serialize(const struct kk_config *cfg, char *buf, size_t size, struct kk_err *err);
int kk_config_parse(const char *buf, size_t len, struct kk_config *cfg, struct kk_err *err);

/* Read a serialized configuration from fd (a memfd from the supervisor) and close it. */
int kk_config_read_fd(int fd, struct kk_config *cfg, struct kk_err *err);

/* Parse "30s", "5m", "1h", "0", or a bare number of seconds. */
int kk_parse_duration_s(const char *s, uint32_t *out);

#endif
