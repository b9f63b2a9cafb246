/* The daemon group's configuration (see config.h). */
#include "common/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

void kk_config_defaults(struct kk_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->socket, sizeof(cfg->socket), "/run/kukeon/kukeond.sock");
    snprintf(cfg->run_path, sizeof(cfg->run_path), "/opt/kukeon");
    snprintf(cfg->containerd_socket, sizeof(cfg->containerd_socket), "/run/containerd/containerd.sock");
    cfg->log_level = KK_LOG_INFO;
    cfg->reconcile_interval_s = 30;
    snprintf(cfg->ns_suffix, sizeof(cfg->ns_suffix), "kukeon.io");
    snprintf(cfg->cgroup_root, sizeof(cfg->cgroup_root), "/kukeon");
    snprintf(cfg->pod_subnet_cidr, sizeof(cfg->pod_subnet_cidr), "10.88.0.0/16");
    snprintf(cfg->log_dir, sizeof(cfg->log_dir), "/var/log/kukeon");
    snprintf(cfg->cni_conf_dir, sizeof(cfg->cni_conf_dir), "/etc/cni/net.d");
    /* Not under the run path: that belongs to the API worker's user, and netd (uid 0 without
     * CAP_DAC_OVERRIDE) neither can nor should write where a less trusted process can rename. */
    snprintf(cfg->netd_state_dir, sizeof(cfg->netd_state_dir), "/var/lib/kukeon/netd");
}

int kk_parse_duration_s(const char *s, uint32_t *out)
{
    char num[16];
    size_t n = strlen(s);
    uint64_t mult = 1;
    if (n > 0 && (s[n - 1] == 's' || s[n - 1] == 'm' || s[n - 1] == 'h')) {
        mult = s[n - 1] == 's' ? 1 : s[n - 1] == 'm' ? 60 : 3600;
        n--;
    }
    if (n == 0 || n >= sizeof(num))
        return -1;
    memcpy(num, s, n);
    num[n] = '\0';
    uint64_t v;
    if (kk_parse_u64(num, 0, 86400, &v) < 0 || v * mult > 86400)
        return -1;
    *out = (uint32_t)(v * mult);
    return 0;
}

/* Absolute, printable, no "..", no "//", no trailing newline: a path the group may trust. */
static int kk_config_path_ok(const char *v)
{
    if (v[0] != '/' || strstr(v, "/../") != NULL || strstr(v, "//") != NULL)
        return 0;
    size_t n = strlen(v);
    if (n >= 3 && strcmp(v + n - 3, "/..") == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return 0;
    return 1;
}

enum kk_cfg_kind { KK_CFG_PATH, KK_CFG_TEXT, KK_CFG_U32, KK_CFG_U64, KK_CFG_DURATION, KK_CFG_LEVEL };

struct kk_cfg_field {
    const char *key;  /* YAML / serialized key */
    const char *flag; /* command-line flag */
    enum kk_cfg_kind kind;
    size_t off;
    size_t size;
};

#define KK_CFG(key, flag, kind, member)                                                                      \
    {key, flag, kind, offsetof(struct kk_config, member), sizeof(((struct kk_config *)0)->member)}

static const struct kk_cfg_field kk_cfg_fields[] = {
    KK_CFG("socket", "socket", KK_CFG_PATH, socket),
    KK_CFG("socketGID", "socket-gid", KK_CFG_U32, socket_gid),
    KK_CFG("runPath", "run-path", KK_CFG_PATH, run_path),
    KK_CFG("containerdSocket", "containerd-socket", KK_CFG_PATH, containerd_socket),
    KK_CFG("logLevel", "log-level", KK_CFG_LEVEL, log_level),
    KK_CFG("reconcileInterval", "reconcile-interval", KK_CFG_DURATION, reconcile_interval_s),
    KK_CFG("containerdNamespaceSuffix", "containerd-namespace-suffix", KK_CFG_TEXT, ns_suffix),
    KK_CFG("cgroupRoot", "cgroup-root", KK_CFG_PATH, cgroup_root),
    KK_CFG("podSubnetCIDR", "pod-subnet-cidr", KK_CFG_TEXT, pod_subnet_cidr),
    KK_CFG("defaultMemoryLimitBytes", "default-memory-limit-bytes", KK_CFG_U64, default_memory_limit_bytes),
    KK_CFG("logDir", "log-dir", KK_CFG_PATH, log_dir),
    KK_CFG("cniConfDir", "cni-conf-dir", KK_CFG_PATH, cni_conf_dir),
    KK_CFG("netdStateDir", "netd-state-dir", KK_CFG_PATH, netd_state_dir),
};

static const struct kk_cfg_field *kk_cfg_find(const char *key)
{
    for (size_t i = 0; i < KK_ARRAY_SIZE(kk_cfg_fields); i++)
        if (strcmp(kk_cfg_fields[i].key, key) == 0 || strcmp(kk_cfg_fields[i].flag, key) == 0)
            return &kk_cfg_fields[i];
    return NULL;
}

int kk_config_set(struct kk_config *cfg, const char *key, const char *value, const char *source,
                  struct kk_err *err)
{
    const struct kk_cfg_field *f = kk_cfg_find(key);
    if (f == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "%s: unknown configuration key \"%s\"", source, key);
    char *dst = (char *)cfg + f->off;
    switch (f->kind) {
    case KK_CFG_PATH:
        if (!kk_config_path_ok(value))
            return kk_error(err, KK_ERR_INVALID, 0,
                            "%s: %s \"%s\" must be an absolute path without '..', '//' or spaces", source, f->key,
                            value);
        /* fall through */
    case KK_CFG_TEXT: {
        size_t n = strlen(value);
        if (n == 0 || n >= f->size)
            return kk_error(err, KK_ERR_INVALID, 0, "%s: %s must be 1 to %zu characters", source, f->key, f->size - 1);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)value[i] < 0x21 || (unsigned char)value[i] > 0x7e)
                return kk_error(err, KK_ERR_INVALID, 0, "%s: %s contains a space or control byte", source, f->key);
        memcpy(dst, value, n + 1);
        return 0;
    }
    case KK_CFG_U32: {
        uint64_t v;
        if (kk_parse_u64(value, 0, UINT32_MAX, &v) < 0)
            return kk_error(err, KK_ERR_INVALID, 0, "%s: %s \"%s\" is not a number from 0 to %u", source, f->key,
                            value, UINT32_MAX);
        *(uint32_t *)(void *)dst = (uint32_t)v;
        return 0;
    }
    case KK_CFG_U64: {
        uint64_t v;
        if (kk_parse_u64(value, 0, UINT64_MAX, &v) < 0)
            return kk_error(err, KK_ERR_INVALID, 0, "%s: %s \"%s\" is not a whole number", source, f->key, value);
        *(uint64_t *)(void *)dst = v;
        return 0;
    }
    case KK_CFG_DURATION: {
        uint32_t v;
        if (kk_parse_duration_s(value, &v) < 0)
            return kk_error(err, KK_ERR_INVALID, 0, "%s: %s \"%s\" is not a duration such as 30s, 5m or 0",
                            source, f->key, value);
        *(uint32_t *)(void *)dst = v;
        return 0;
    }
    case KK_CFG_LEVEL: {
        enum kk_log_level l;
        if (kk_log_parse_level(value, &l) < 0)
            return kk_error(err, KK_ERR_INVALID, 0, "%s: %s \"%s\" must be debug, info, warn or error", source,
                            f->key, value);
        *(enum kk_log_level *)(void *)dst = l;
        return 0;
    }
    }
    return kk_error(err, KK_ERR_INTERNAL, 0, "configuration key %s has no parser", key);
}

int kk_config_serialize(const struct kk_config *cfg, char *buf, size_t size, struct kk_err *err)
{
    size_t pos = 0;
    for (size_t i = 0; i < KK_ARRAY_SIZE(kk_cfg_fields); i++) {
        const struct kk_cfg_field *f = &kk_cfg_fields[i];
        const char *src = (const char *)cfg + f->off;
        char val[300];
        switch (f->kind) {
        case KK_CFG_PATH:
        case KK_CFG_TEXT:
            snprintf(val, sizeof(val), "%s", src);
            break;
        case KK_CFG_U32:
        case KK_CFG_DURATION:
            snprintf(val, sizeof(val), "%u", *(const uint32_t *)(const void *)src);
            break;
        case KK_CFG_U64:
            snprintf(val, sizeof(val), "%llu", (unsigned long long)*(const uint64_t *)(const void *)src);
            break;
        case KK_CFG_LEVEL:
            snprintf(val, sizeof(val), "%s", kk_log_level_name(*(const enum kk_log_level *)(const void *)src));
            break;
        }
        int n = snprintf(buf + pos, size - pos, "%s=%s\n", f->key, val);
        if (n < 0 || (size_t)n >= size - pos)
            return kk_error(err, KK_ERR_INTERNAL, 0, "serialized configuration exceeds %zu bytes", size);
        pos += (size_t)n;
    }
    return (int)pos;
}

int kk_config_parse(const char *buf, size_t len, struct kk_config *cfg, struct kk_err *err)
{
    kk_config_defaults(cfg);
    size_t start = 0;
    while (start < len) {
        const char *nl = memchr(buf + start, '\n', len - start);
        if (nl == NULL)
            return kk_error(err, KK_ERR_INVALID, 0, "configuration from the supervisor: unterminated line");
        size_t linelen = (size_t)(nl - (buf + start));
        char line[512];
        if (linelen >= sizeof(line) || memchr(buf + start, '\0', linelen) != NULL)
            return kk_error(err, KK_ERR_INVALID, 0, "configuration from the supervisor: bad line");
        memcpy(line, buf + start, linelen);
        line[linelen] = '\0';
        char *eq = strchr(line, '=');
        if (eq == NULL)
            return kk_error(err, KK_ERR_INVALID, 0, "configuration from the supervisor: line without '='");
        *eq = '\0';
        if (kk_config_set(cfg, line, eq + 1, "configuration from the supervisor", err) < 0)
            return -1;
        start += linelen + 1;
    }
    return 0;
}

int kk_config_read_fd(int fd, struct kk_config *cfg, struct kk_err *err)
{
    char buf[8192];
    size_t len = 0;
    /* pread: every child shares one open file description of the memfd, and with it the offset. */
    for (;;) {
        ssize_t n = pread(fd, buf + len, sizeof(buf) - len, (off_t)len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            close(fd);
            return kk_error(err, KK_ERR_INTERNAL, errno, "reading the configuration fd");
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len == sizeof(buf)) {
            close(fd);
            return kk_error(err, KK_ERR_INVALID, 0, "configuration from the supervisor exceeds %zu bytes", sizeof(buf));
        }
    }
    close(fd);
    return kk_config_parse(buf, len, cfg, err);
}
