/* kukeond: the Kukeon daemon. "kukeond serve" runs the supervisor in the foreground;
 * "kukeond api" is the API worker the supervisor execs (not for use by hand). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "kukeond/kukeond.h"

static void kd_usage(FILE *out)
{
    fprintf(out, "kukeond runs the Kukeon daemon group: a root supervisor, an unprivileged API worker and the\n"
                 "helpers kuke-cgd, kuke-netd and kuke-ctrd.\n\n"
                 "Usage:\n  kukeond [flags] serve\n\nFlags:\n"
                 "      --configuration string               server configuration (default \"/etc/kukeon/kukeond.yaml\")\n"
                 "      --socket string                      API socket (default \"/run/kukeon/kukeond.sock\")\n"
                 "      --socket-gid int                     group of the socket; 0 = group kukeon\n"
                 "      --run-path string                    run path (default \"/opt/kukeon\")\n"
                 "      --containerd-socket string           containerd socket (default \"/run/containerd/containerd.sock\")\n"
                 "      --log-level string                   debug, info, warn, error (default \"info\")\n"
                 "  -v, --verbose                            the same as --log-level debug\n"
                 "      --log-dir string                     daemon and audit logs (default \"/var/log/kukeon\")\n"
                 "      --reconcile-interval duration        reconcile period; 0 disables (default 30s)\n"
                 "      --containerd-namespace-suffix string (default \"kukeon.io\")\n"
                 "      --cgroup-root string                 (default \"/kukeon\")\n"
                 "      --pod-subnet-cidr string             (default \"10.88.0.0/16\")\n"
                 "      --default-memory-limit-bytes int     0 = off\n"
                 "      --cni-conf-dir string                (default \"/etc/cni/net.d\")\n"
                 "      --netd-state-dir string              kuke-netd's own records (default \"/var/lib/kukeon/netd\")\n"
                 "  -h, --help                               help for kukeond\n");
}

/* Environment variables of kukeon-reference.md 2.0 that configure the daemon. */
static const struct {
    const char *env;
    const char *key;
} kd_env_keys[] = {
    {"KUKEOND_SOCKET", "socket"},
    {"KUKEOND_SOCKET_GID", "socketGID"},
    {"KUKEON_RUN_PATH", "runPath"},
    {"KUKEON_CONTAINERD_SOCKET", "containerdSocket"},
    {"KUKEON_LOG_LEVEL", "logLevel"},
    {"KUKEOND_RECONCILE_INTERVAL", "reconcileInterval"},
    {"KUKEON_NAMESPACE_SUFFIX", "containerdNamespaceSuffix"},
    {"KUKEON_CGROUP_ROOT", "cgroupRoot"},
    {"KUKEON_POD_SUBNET_CIDR", "podSubnetCIDR"},
    {"KUKEON_LOG_DIR", "logDir"},
};

int main(int argc, char **argv)
{
    kk_log_init("kukeond", KK_LOG_INFO);
    if (argc == 2 && strcmp(argv[1], "api") == 0)
        return kukeond_api_main();

    const char *cfg_path = getenv("KUKEOND_CONFIGURATION");
    bool cfg_explicit = cfg_path != NULL;
    const char *flags[32][2];
    int nflags = 0;
    bool serve = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            kd_usage(stdout);
            return 0;
        }
        if (strcmp(a, "serve") == 0 && !serve) {
            serve = true;
            continue;
        }
        /* -v/--verbose: --log-level debug, as on kuke. A later --log-level still wins. */
        if ((strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) && nflags < 32) {
            flags[nflags][0] = strdup("log-level");
            flags[nflags][1] = "debug";
            nflags++;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "Error: unknown command \"%s\" for \"kukeond\"\nRun 'kukeond --help' for usage.\n", a);
            return 1;
        }
        const char *name = a + 2, *value = NULL;
        char namebuf[64];
        const char *eq = strchr(name, '=');
        if (eq != NULL) {
            size_t n = (size_t)(eq - name);
            if (n >= sizeof(namebuf)) {
                fprintf(stderr, "Error: unknown flag: %s\n", a);
                return 1;
            }
            memcpy(namebuf, name, n);
            namebuf[n] = '\0';
            name = namebuf;
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            fprintf(stderr, "Error: flag needs an argument: %s\n", a);
            return 1;
        }
        if (strcmp(name, "configuration") == 0) {
            cfg_path = value;
            cfg_explicit = true;
            continue;
        }
        if (nflags == 32) {
            fprintf(stderr, "Error: too many flags\n");
            return 1;
        }
        flags[nflags][0] = strdup(name);
        flags[nflags][1] = value;
        nflags++;
    }
    if (!serve) {
        kd_usage(stderr);
        return 1;
    }

    /* Precedence, lowest first: defaults, configuration file, environment, flags. */
    struct kk_config cfg;
    struct kk_err err = {0};
    kk_config_defaults(&cfg);
    if (kukeond_config_load_yaml(&cfg, cfg_path != NULL ? cfg_path : "/etc/kukeon/kukeond.yaml", cfg_explicit,
                                 &err) < 0)
        goto fail;
    for (size_t i = 0; i < sizeof(kd_env_keys) / sizeof(kd_env_keys[0]); i++) {
        const char *v = getenv(kd_env_keys[i].env);
        if (v != NULL && *v != '\0' && kk_config_set(&cfg, kd_env_keys[i].key, v, kd_env_keys[i].env, &err) < 0)
            goto fail;
    }
    for (int i = 0; i < nflags; i++) {
        char source[80];
        snprintf(source, sizeof(source), "flag --%s", flags[i][0]);
        if (kk_config_set(&cfg, flags[i][0], flags[i][1], source, &err) < 0) {
            if (strstr(err.msg, "unknown configuration key") != NULL)
                snprintf(err.msg, sizeof(err.msg), "unknown flag: --%s (see 'kukeond --help')", flags[i][0]);
            goto fail;
        }
    }
    for (int i = 0; i < nflags; i++)
        free((void *)flags[i][0]);
    nflags = 0;
    kk_log_set_level(cfg.log_level);
    if (geteuid() != 0) {
        kk_error(&err, KK_ERR_PERMISSION, 0, "kukeond serve must run as root (it starts the privileged helpers)");
        goto fail;
    }
    int rc = kukeond_supervise(&cfg, &err);
    if (rc != 0 && err.msg[0] != '\0')
        fprintf(stderr, "Error: %s\n", err.msg);
    return rc;
fail:
    for (int i = 0; i < nflags; i++)
        free((void *)flags[i][0]);
    fprintf(stderr, "Error: %s\n", err.msg);
    return 1;
}
