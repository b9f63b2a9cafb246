/* The OCI runtime spec of every Kukeon container, built here and nowhere else: a fixed template (the
 * defaults containerd's own client uses), the image config, and the constrained description of the
 * request. ctrd_spec_check refuses, before anything exists, every field the confinement forbids
 * (DESIGN.md section 3) unless the realm's recorded policy allows that one field. Both are pure, so
 * the unit tests cover them without containerd. */
#include "kuke-ctrd/ctrd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ttyrelay.h"
#include "common/util.h"
#include "ipc/frame.h"

#define CTRD_ARGV_MAX   256
#define CTRD_ARG_MAX    4096
#define CTRD_ENV_MAX    256
#define CTRD_MOUNTS_MAX 64
#define CTRD_PATH_MAX   4096
#define CTRD_TMPFS_MAX  (64ULL << 30)

/* Capability numbers are their index (linux/capability.h). */
static const char *const ctrd_caps[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};
#define CTRD_NCAPS ((int)KK_ARRAY_SIZE(ctrd_caps))

/* containerd's default set (oci.populateDefaultUnixSpec), which ctr and the Go Kukeon give. */
static const char *const ctrd_default_caps[] = {
    "CAP_CHOWN",   "CAP_DAC_OVERRIDE", "CAP_FSETID",           "CAP_FOWNER",
    "CAP_MKNOD",   "CAP_NET_RAW",      "CAP_SETGID",           "CAP_SETUID",
    "CAP_SETFCAP", "CAP_SETPCAP",      "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT",
    "CAP_KILL",    "CAP_AUDIT_WRITE",
};

static const char *const ctrd_masked_paths[] = {
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
    "/sys/devices/virtual/powercap",
};
static const char *const ctrd_readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static const char *const ctrd_runtimes[] = {
    CTRD_RUNTIME_DEFAULT,
    "io.containerd.runc.v1",
    "io.containerd.runsc.v1",
    "io.containerd.kata.v2",
};
static const char *const ctrd_hook_stages[] = {
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop",
};
static const char *const ctrd_rlimit_names[] = {
    "RLIMIT_CPU",      "RLIMIT_FSIZE", "RLIMIT_DATA",   "RLIMIT_STACK",
    "RLIMIT_CORE",     "RLIMIT_RSS",   "RLIMIT_NPROC",  "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",  "RLIMIT_AS",    "RLIMIT_LOCKS",  "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE", "RLIMIT_NICE",  "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
};

/* Paths no bind mount may use as its source, whatever the policy: the host's root, the kernel's
 * interfaces, and containerd's own state and socket (access to either is root on the host). */
static const char *const ctrd_never_sources[] = {
    "/", "/proc", "/sys", "/dev", "/run/containerd", "/var/lib/containerd", "/run/runc", "/boot",
};
/* Mount targets that would let a container reshape its own kernel interfaces. */
static const char *const ctrd_never_targets[] = {"/", "/proc", "/sys", "/dev"};

/* The terminal relay of attachable containers (kuketty, docs/terminals.md): the binary installed
 * next to kuke-ctrd, found once at program start — before the sandbox, which allows no readlink —
 * and never taken from a request. Empty when it is not installed: attachable containers then get the
 * raw stdio FIFOs of docs/ctrd.md and no terminal. */
static char ctrd_relay_host[PATH_MAX];

__attribute__((constructor)) static void ctrd_relay_find(void)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return;
    *slash = '\0';
    char path[PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(path, sizeof(path), "%s/kuketty", self) < sizeof(path) && stat(path, &st) == 0 &&
        S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0)
        memcpy(ctrd_relay_host, path, sizeof(path));
}

/* Whether attachable containers run under the relay (ctrd_task.c then gives their task the log file
 * for its own stdio, as any other container's: the terminal is the relay's). */
bool ctrd_spec_relay_available(void)
{
    return ctrd_relay_host[0] != '\0';
}

/* Whether req's container runs under the relay. */
static bool ctrd_relayed(const Kukeon__Ipc__Ctrd__ContainerCreate *req)
{
    return req->attachable && ctrd_relay_host[0] != '\0';
}

static int ctrd_refuse(struct ctrd_refusal *r, uint32_t reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int ctrd_refuse(struct ctrd_refusal *r, uint32_t reason, const char *fmt, ...)
{
    r->reason = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
    return -1;
}

/* A field the realm's policy does not allow: what, in which realm, which policy word would allow it
 * and how a realm gets one (its policy is recorded when its namespace is made and never changes).
 * The caller (the controller, kuke) passes the text on as it is: nothing parses it. */
static int ctrd_refuse_policy(struct ctrd_refusal *r, uint32_t reason, const char *realm, const char *word,
                              const char *what)
{
    return ctrd_refuse(r, reason,
                       "%s not allowed in realm \"%s\": its policy (spec.allow) does not include \"%s\"; a "
                       "policy is set when a realm is created (kuke create realm NAME --allow %s, or spec.allow "
                       "in its manifest)",
                       what, realm, word, word);
}

static int ctrd_cap_index(const char *name)
{
    char full[40];
    if (strncmp(name, "CAP_", 4) != 0) {
        if (snprintf(full, sizeof(full), "CAP_%s", name) >= (int)sizeof(full))
            return -1;
        name = full;
    }
    for (int i = 0; i < CTRD_NCAPS; i++)
        if (strcmp(name, ctrd_caps[i]) == 0)
            return i;
    return -1;
}

static bool ctrd_in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

/* Absolute, clean (no empty, "." or ".." component, no trailing '/'), printable, bounded. */
static bool ctrd_path_clean(const char *p)
{
    size_t n = strnlen(p, CTRD_PATH_MAX);
    if (n == 0 || n >= CTRD_PATH_MAX || p[0] != '/')
        return false;
    if (n == 1)
        return true;
    if (p[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return false;
    for (const char *c = p; c != NULL && *c != '\0';) {
        const char *s = c + 1;
        const char *e = strchr(s, '/');
        size_t len = e != NULL ? (size_t)(e - s) : strlen(s);
        if (len == 0 || (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        c = e;
    }
    return true;
}

/* p is root itself or beneath it. */
static bool ctrd_path_within(const char *p, const char *root)
{
    size_t rl = strlen(root);
    if (rl == 1 && root[0] == '/')
        return true;
    return strncmp(p, root, rl) == 0 && (p[rl] == '\0' || p[rl] == '/');
}

static bool ctrd_text_ok(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);
    if (n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
            return false;
    return true;
}

static int ctrd_user_parse(const char *s, uint32_t *uid, uint32_t *gid)
{
    char buf[32];
    if (kk_strlcpy(buf, s, sizeof(buf)) < 0)
        return -1;
    char *colon = strchr(buf, ':');
    if (colon != NULL)
        *colon = '\0';
    uint64_t u, g;
    if (strcmp(buf, "root") == 0)
        u = 0;
    else if (kk_parse_u64(buf, 0, 0xfffffffeu, &u) < 0)
        return -1;
    g = u == 0 ? 0 : u;
    if (colon != NULL) {
        if (strcmp(colon + 1, "root") == 0)
            g = 0;
        else if (kk_parse_u64(colon + 1, 0, 0xfffffffeu, &g) < 0)
            return -1;
    }
    *uid = (uint32_t)u;
    *gid = (uint32_t)g;
    return 0;
}

int ctrd_spec_check(const Kukeon__Ipc__Ctrd__ContainerCreate *req, unsigned allow, const struct kk_derived *d,
                    const char *run_path, struct ctrd_refusal *r)
{
    struct kk_err err;
    if (ctrd_image_name_check(req->image, &err) < 0)
        return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE, "%s", err.msg);

    /* ---- fields refused unless the realm's policy allows them -------------------------------- */
    char what[160];
    if (req->privileged && !(allow & CTRD_ALLOW_PRIVILEGED))
        return ctrd_refuse_policy(r, KK_IPC_DENY_POLICY, d->realm, "privileged", "privileged containers are");
    if (req->n_cap_add > 0 && !(allow & CTRD_ALLOW_CAP_ADD)) {
        snprintf(what, sizeof(what), "adding capability %.40s is", req->cap_add[0]);
        return ctrd_refuse_policy(r, KK_IPC_DENY_POLICY, d->realm, "cap-add", what);
    }
    if ((req->host_network || req->host_pid || req->host_ipc) && !(allow & CTRD_ALLOW_HOST_NAMESPACES)) {
        snprintf(what, sizeof(what), "the host's %s namespace is",
                 req->host_network ? "network"
                 : req->host_pid   ? "pid"
                                   : "ipc");
        return ctrd_refuse_policy(r, KK_IPC_DENY_POLICY, d->realm, "host-namespaces", what);
    }
    if (req->n_devices > 0 && !(allow & CTRD_ALLOW_DEVICES)) {
        snprintf(what, sizeof(what), "device %.100s is", req->devices[0]->path);
        return ctrd_refuse_policy(r, KK_IPC_DENY_POLICY, d->realm, "devices", what);
    }
    if (req->n_hooks > 0 && !(allow & CTRD_ALLOW_HOOKS)) {
        snprintf(what, sizeof(what), "OCI hooks (%.100s) are", req->hooks[0]->path);
        return ctrd_refuse_policy(r, KK_IPC_DENY_POLICY, d->realm, "hooks", what);
    }
    bool default_runtime = req->runtime[0] == '\0' || strcmp(req->runtime, CTRD_RUNTIME_DEFAULT) == 0;
    if (!default_runtime && !(allow & CTRD_ALLOW_RUNTIME)) {
        snprintf(what, sizeof(what), "runtime \"%.80s\" (only %s by default) is", req->runtime,
                 CTRD_RUNTIME_DEFAULT);
        return ctrd_refuse_policy(r, KK_IPC_DENY_POLICY, d->realm, "runtime", what);
    }
    if (!default_runtime && !ctrd_in_list(req->runtime, ctrd_runtimes, KK_ARRAY_SIZE(ctrd_runtimes)))
        return ctrd_refuse(r, KK_IPC_DENY_NOT_IN_TABLE, "runtime \"%.80s\" is not one kuke-ctrd knows",
                           req->runtime);

    /* ---- values ------------------------------------------------------------------------------- */
    if (req->n_args > CTRD_ARGV_MAX || req->n_env > CTRD_ENV_MAX)
        return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE, "more than %d arguments or environment entries",
                           CTRD_ARGV_MAX);
    if (!ctrd_text_ok(req->command, CTRD_ARG_MAX))
        return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE,
                           "command is longer than %d bytes or holds control bytes", CTRD_ARG_MAX);
    for (size_t i = 0; i < req->n_args; i++)
        if (!ctrd_text_ok(req->args[i], CTRD_ARG_MAX))
            return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE,
                               "argument %zu is too long or holds control bytes", i);
    for (size_t i = 0; i < req->n_env; i++) {
        const char *eq = strchr(req->env[i], '=');
        if (eq == NULL || eq == req->env[i] || !ctrd_text_ok(req->env[i], CTRD_ARG_MAX))
            return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE, "environment entry %zu is not KEY=VALUE", i);
    }
    uint32_t uid, gid;
    if (req->user[0] != '\0' && ctrd_user_parse(req->user, &uid, &gid) < 0)
        return ctrd_refuse(
            r, KK_IPC_DENY_INVALID_VALUE,
            "user \"%.40s\" is not uid[:gid] (numbers; kuke-ctrd does not read the image's passwd)",
            req->user);
    if (req->working_dir[0] != '\0' && !ctrd_path_clean(req->working_dir))
        return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE, "working directory must be an absolute, clean path");
    if (!ctrd_text_ok(req->spec_hash, 128))
        return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE, "spec hash is longer than 128 bytes");
    for (size_t i = 0; i < req->n_cap_drop; i++)
        if (ctrd_cap_index(req->cap_drop[i]) < 0)
            return ctrd_refuse(r, KK_IPC_DENY_NOT_IN_TABLE, "unknown capability \"%.40s\"", req->cap_drop[i]);
    for (size_t i = 0; i < req->n_cap_add; i++)
        if (ctrd_cap_index(req->cap_add[i]) < 0)
            return ctrd_refuse(r, KK_IPC_DENY_NOT_IN_TABLE, "unknown capability \"%.40s\"", req->cap_add[i]);
    if (req->resources != NULL) {
        const Kukeon__Ipc__Ctrd__Resources *rs = req->resources;
        if (rs->memory_limit_bytes > (1ULL << 62) ||
            (rs->memory_limit_bytes > 0 && rs->memory_limit_bytes < (4u << 20)))
            return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE, "memory limit must be 0 or 4 MiB to 4 EiB");
        if (rs->cpu_shares > 262144 || rs->cpu_shares == 1)
            return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE, "cpu shares must be 0 or 2..262144");
        if (rs->pids_limit < -1 || rs->pids_limit > (1LL << 31))
            return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE, "pids limit must be -1..2^31");
    }
    for (size_t i = 0; i < req->n_rlimits; i++) {
        const Kukeon__Ipc__Ctrd__Rlimit *rl = req->rlimits[i];
        if (!ctrd_in_list(rl->type, ctrd_rlimit_names, KK_ARRAY_SIZE(ctrd_rlimit_names)))
            return ctrd_refuse(r, KK_IPC_DENY_NOT_IN_TABLE, "unknown rlimit \"%.40s\"", rl->type);
        if (rl->soft > rl->hard)
            return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE, "%s: soft limit above hard limit", rl->type);
    }
    for (size_t i = 0; i < req->n_devices; i++) {
        const Kukeon__Ipc__Ctrd__Device *dv = req->devices[i];
        if (!ctrd_path_clean(dv->path) || !ctrd_path_within(dv->path, "/dev") ||
            strcmp(dv->path, "/dev") == 0)
            return ctrd_refuse(r, KK_IPC_DENY_OUTSIDE_ROOT,
                               "device \"%.100s\" is not a clean path under /dev", dv->path);
        if (strspn(dv->permissions, "rwm") != strlen(dv->permissions))
            return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE,
                               "device permissions \"%.8s\" are not a subset of rwm", dv->permissions);
    }
    for (size_t i = 0; i < req->n_hooks; i++) {
        const Kukeon__Ipc__Ctrd__Hook *h = req->hooks[i];
        if (!ctrd_in_list(h->stage, ctrd_hook_stages, KK_ARRAY_SIZE(ctrd_hook_stages)) ||
            !ctrd_path_clean(h->path))
            return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE,
                               "hook %zu needs a known stage and an absolute path", i);
    }

    /* ---- mounts ------------------------------------------------------------------------------- */
    if (req->n_mounts > CTRD_MOUNTS_MAX)
        return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE, "more than %d mounts", CTRD_MOUNTS_MAX);
    char realm_dir[CTRD_PATH_MAX];
    snprintf(realm_dir, sizeof(realm_dir), "%s/data/%s", run_path, d->realm);
    for (size_t i = 0; i < req->n_mounts; i++) {
        const Kukeon__Ipc__Ctrd__Mount *m = req->mounts[i];
        if (!ctrd_path_clean(m->target))
            return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE,
                               "mount target \"%.100s\" is not an absolute, clean path", m->target);
        for (size_t k = 0; k < KK_ARRAY_SIZE(ctrd_never_targets); k++)
            if (strcmp(m->target, ctrd_never_targets[k]) == 0 ||
                (strcmp(ctrd_never_targets[k], "/") != 0 &&
                 ctrd_path_within(m->target, ctrd_never_targets[k]) && strcmp(m->target, "/dev/shm") != 0))
                return ctrd_refuse(r, KK_IPC_DENY_OUTSIDE_ROOT,
                                   "mount target \"%.100s\" is a kernel interface", m->target);
        if (strcmp(m->kind, "tmpfs") == 0) {
            if (m->source[0] != '\0' || m->size_bytes > CTRD_TMPFS_MAX || m->mode > 07777)
                return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE,
                                   "tmpfs at \"%.100s\": no source, size up to 64 GiB, mode up to 07777",
                                   m->target);
            continue;
        }
        if (m->kind[0] != '\0' && strcmp(m->kind, "bind") != 0)
            return ctrd_refuse(r, KK_IPC_DENY_NOT_IN_TABLE, "mount kind \"%.20s\" (bind or tmpfs)", m->kind);
        if (!ctrd_path_clean(m->source))
            return ctrd_refuse(r, KK_IPC_DENY_INVALID_VALUE,
                               "bind source \"%.100s\" is not an absolute, clean path", m->source);
        for (size_t k = 0; k < KK_ARRAY_SIZE(ctrd_never_sources); k++)
            if (strcmp(ctrd_never_sources[k], "/") == 0 ? strcmp(m->source, "/") == 0
                                                        : ctrd_path_within(m->source, ctrd_never_sources[k]))
                return ctrd_refuse(
                    r, KK_IPC_DENY_OUTSIDE_ROOT,
                    "bind source \"%.100s\" is the host's root or under %s, which no container may see",
                    m->source, ctrd_never_sources[k]);
        if (!ctrd_path_within(m->source, realm_dir) && !(allow & CTRD_ALLOW_HOST_PATHS)) {
            snprintf(what, sizeof(what), "bind source \"%.100s\", outside the realm's directory, is", m->source);
            return ctrd_refuse_policy(r, KK_IPC_DENY_OUTSIDE_ROOT, d->realm, "host-paths", what);
        }
        if (ctrd_path_within(m->source, realm_dir) && strcmp(m->source, realm_dir) == 0)
            return ctrd_refuse(r, KK_IPC_DENY_OUTSIDE_ROOT,
                               "bind source may not be the realm's directory itself");
    }
    return 0;
}

/* ---- build ---------------------------------------------------------------------------------------- */

static json_t *ctrd_strings(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *ctrd_mount(const char *dest, const char *type, const char *src, const char *const *opts,
                          size_t n)
{
    return json_pack("{s:s, s:s, s:s, s:o}", "destination", dest, "type", type, "source", src, "options",
                     ctrd_strings(opts, n));
}

/* Set KEY=VALUE in env (an array of "K=V" strings), replacing an entry with the same key unless keep. */
static void ctrd_env_set(json_t *env, const char *kv, bool keep_existing)
{
    const char *eq = strchr(kv, '=');
    if (eq == NULL)
        return;
    size_t kl = (size_t)(eq - kv) + 1;
    size_t i;
    json_t *v;
    json_array_foreach(env, i, v)
    {
        const char *s = json_string_value(v);
        if (s != NULL && strncmp(s, kv, kl) == 0) {
            if (!keep_existing)
                json_array_set_new(env, i, json_string(kv));
            return;
        }
    }
    json_array_append_new(env, json_string(kv));
}

static int ctrd_build_argv(const struct ctrd_spec_input *in, json_t *args, struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__ContainerCreate *req = in->req;
    /* An attachable container's PID 1 is the relay; the workload's argv follows "--". */
    if (ctrd_relayed(req)) {
        json_array_append_new(args, json_string(KK_TTY_RELAY_IN_CONTAINER));
        json_array_append_new(args, json_string("--"));
    }
    size_t before = json_array_size(args);
    if (req->command[0] != '\0') {
        json_array_append_new(args, json_string(req->command));
        for (size_t i = 0; i < req->n_args; i++)
            json_array_append_new(args, json_string(req->args[i]));
    } else if (req->n_args > 0) {
        for (size_t i = 0; i < req->n_args; i++)
            json_array_append_new(args, json_string(req->args[i]));
    } else {
        const json_t *cfg = json_object_get(in->image_config, "config");
        const char *keys[] = {"Entrypoint", "Cmd"};
        for (size_t k = 0; k < 2; k++) {
            const json_t *a = json_object_get(cfg, keys[k]);
            size_t i;
            const json_t *v;
            json_array_foreach(a, i, v)
            {
                if (json_is_string(v) && json_array_size(args) < CTRD_ARGV_MAX)
                    json_array_append_new(args, json_string(json_string_value(v)));
            }
        }
    }
    if (json_array_size(args) == before)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "container \"%s\": no command given and image \"%s\" has no Entrypoint or Cmd",
                        in->d->container, req->image);
    return 0;
}

static json_t *ctrd_caps_json(uint64_t set)
{
    json_t *a = json_array();
    for (int i = 0; a != NULL && i < CTRD_NCAPS; i++)
        if (set & (1ULL << i))
            json_array_append_new(a, json_string(ctrd_caps[i]));
    return a;
}

static int ctrd_rlimit_resource(const char *name)
{
    for (size_t i = 0; i < KK_ARRAY_SIZE(ctrd_rlimit_names); i++)
        if (strcmp(name, ctrd_rlimit_names[i]) == 0)
            return (int)i; /* the table is in RLIMIT_* number order */
    return -1;
}

static json_t *ctrd_rlimits_json(const struct ctrd_spec_input *in)
{
    /* containerd's template: RLIMIT_NOFILE 1024/1024. Requests may set any known limit. */
    uint64_t soft[KK_ARRAY_SIZE(ctrd_rlimit_names)], hard[KK_ARRAY_SIZE(ctrd_rlimit_names)];
    bool set[KK_ARRAY_SIZE(ctrd_rlimit_names)] = {0};
    int nofile = ctrd_rlimit_resource("RLIMIT_NOFILE");
    soft[nofile] = hard[nofile] = 1024;
    set[nofile] = true;
    for (size_t i = 0; i < in->req->n_rlimits; i++) {
        int r = ctrd_rlimit_resource(in->req->rlimits[i]->type);
        if (r < 0)
            continue;
        soft[r] = in->req->rlimits[i]->soft;
        hard[r] = in->req->rlimits[i]->hard;
        set[r] = true;
    }
    json_t *a = json_array();
    for (size_t r = 0; a != NULL && r < KK_ARRAY_SIZE(ctrd_rlimit_names); r++) {
        if (!set[r])
            continue;
        /* Without CAP_SYS_RESOURCE (many sandboxes, this test host) runc cannot raise a hard limit
         * above what it inherited and fails the start with "error setting rlimits": never ask. */
        if (in->hard != NULL && r < RLIM_NLIMITS && in->hard[r].rlim_max != RLIM_INFINITY) {
            uint64_t cap = (uint64_t)in->hard[r].rlim_max;
            if (hard[r] > cap)
                hard[r] = cap;
            if (soft[r] > hard[r])
                soft[r] = hard[r];
        }
        json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "type", ctrd_rlimit_names[r], "hard",
                                           (json_int_t)hard[r], "soft", (json_int_t)soft[r]));
    }
    return a;
}

static json_t *ctrd_namespaces_json(const struct ctrd_spec_input *in)
{
    const Kukeon__Ipc__Ctrd__ContainerCreate *req = in->req;
    json_t *a = json_array();
    char path[64];
    if (!req->host_pid)
        json_array_append_new(a, json_pack("{s:s}", "type", "pid"));
    const char *join[] = {"ipc", "uts"};
    for (size_t i = 0; i < 2; i++) {
        if (i == 0 && req->host_ipc)
            continue;
        /* Non-root containers share the cell root's ipc and uts namespaces (kukeon-reference.md 1.4). */
        if (!req->root && in->root_pid > 0) {
            snprintf(path, sizeof(path), "/proc/%u/ns/%s", in->root_pid, join[i]);
            json_array_append_new(a, json_pack("{s:s, s:s}", "type", join[i], "path", path));
        } else {
            json_array_append_new(a, json_pack("{s:s}", "type", join[i]));
        }
    }
    json_array_append_new(a, json_pack("{s:s}", "type", "mount"));
    if (!req->host_network) {
        if (req->cell_netns)
            json_array_append_new(a, json_pack("{s:s, s:s}", "type", "network", "path", in->d->netns_path));
        else
            json_array_append_new(a, json_pack("{s:s}", "type", "network"));
    }
    return a;
}

static json_t *ctrd_mounts_json(const struct ctrd_spec_input *in)
{
    const Kukeon__Ipc__Ctrd__ContainerCreate *req = in->req;
    static const char *const proc_o[] = {"nosuid", "noexec", "nodev"};
    static const char *const dev_o[] = {"nosuid", "strictatime", "mode=755", "size=65536k"};
    static const char *const pts_o[] = {"nosuid",        "noexec",    "newinstance",
                                        "ptmxmode=0666", "mode=0620", "gid=5"};
    static const char *const shm_o[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"};
    static const char *const sys_o[] = {"nosuid", "noexec", "nodev", "ro"};
    static const char *const cg_o[] = {"nosuid", "noexec", "nodev", "relatime", "ro"};
    static const char *const run_o[] = {"nosuid", "strictatime", "mode=755", "size=65536k"};
    static const char *const ro_bind[] = {"rbind", "ro", "nosuid", "nodev"};
    static const char *const rw_bind[] = {"rbind", "rw", "nosuid", "nodev"};
    json_t *a = json_array();
    json_array_append_new(a, ctrd_mount("/proc", "proc", "proc", proc_o, KK_ARRAY_SIZE(proc_o)));
    json_array_append_new(a, ctrd_mount("/dev", "tmpfs", "tmpfs", dev_o, KK_ARRAY_SIZE(dev_o)));
    json_array_append_new(a, ctrd_mount("/dev/pts", "devpts", "devpts", pts_o, KK_ARRAY_SIZE(pts_o)));
    json_array_append_new(a, ctrd_mount("/dev/shm", "tmpfs", "shm", shm_o, KK_ARRAY_SIZE(shm_o)));
    json_array_append_new(a, ctrd_mount("/dev/mqueue", "mqueue", "mqueue", proc_o, KK_ARRAY_SIZE(proc_o)));
    json_array_append_new(a, ctrd_mount("/sys", "sysfs", "sysfs", sys_o, KK_ARRAY_SIZE(sys_o)));
    json_array_append_new(a, ctrd_mount("/sys/fs/cgroup", "cgroup", "cgroup", cg_o, KK_ARRAY_SIZE(cg_o)));
    json_array_append_new(a, ctrd_mount("/run", "tmpfs", "tmpfs", run_o, KK_ARRAY_SIZE(run_o)));
    char src[KK_DERIVE_PATH_SIZE + 32];
    if (req->etc_hosts) {
        snprintf(src, sizeof(src), "%s/etc-hosts", in->d->metadata_dir);
        json_array_append_new(a, ctrd_mount("/etc/hosts", "bind", src, ro_bind, KK_ARRAY_SIZE(ro_bind)));
    }
    if (req->etc_hostname) {
        snprintf(src, sizeof(src), "%s/etc-hostname", in->d->metadata_dir);
        json_array_append_new(a, ctrd_mount("/etc/hostname", "bind", src, ro_bind, KK_ARRAY_SIZE(ro_bind)));
    }
    if (ctrd_relayed(req)) {
        /* The relay read-only; its directory of the run path (socket, capture, log) read-write. The
         * controller makes that directory before the start (kukeond/ctl_attach.c). */
        json_array_append_new(a, ctrd_mount(KK_TTY_RELAY_IN_CONTAINER, "bind", ctrd_relay_host, ro_bind,
                                            KK_ARRAY_SIZE(ro_bind)));
        snprintf(src, sizeof(src), "%s/tty", in->d->container_dir);
        json_array_append_new(
            a, ctrd_mount(KK_TTY_DIR_IN_CONTAINER, "bind", src, rw_bind, KK_ARRAY_SIZE(rw_bind)));
    }
    for (size_t i = 0; i < req->n_mounts; i++) {
        const Kukeon__Ipc__Ctrd__Mount *m = req->mounts[i];
        if (strcmp(m->kind, "tmpfs") == 0) {
            char size[40], mode[24];
            snprintf(mode, sizeof(mode), "mode=%o", m->mode != 0 ? m->mode : 01777);
            const char *o[5] = {"nosuid", "nodev", mode, NULL, NULL};
            size_t n = 3;
            if (m->size_bytes > 0) {
                snprintf(size, sizeof(size), "size=%llu", (unsigned long long)m->size_bytes);
                o[n++] = size;
            }
            if (m->read_only)
                o[n++] = "ro";
            json_array_append_new(a, ctrd_mount(m->target, "tmpfs", "tmpfs", o, n));
        } else {
            json_array_append_new(a, ctrd_mount(m->target, "bind", m->source,
                                                m->read_only ? ro_bind : rw_bind, KK_ARRAY_SIZE(ro_bind)));
        }
    }
    return a;
}

static json_t *ctrd_resources_json(const struct ctrd_spec_input *in)
{
    const Kukeon__Ipc__Ctrd__ContainerCreate *req = in->req;
    json_t *devices = json_array();
    if (req->privileged)
        json_array_append_new(devices, json_pack("{s:b, s:s}", "allow", 1, "access", "rwm"));
    else
        json_array_append_new(devices, json_pack("{s:b, s:s}", "allow", 0, "access", "rwm"));
    for (size_t i = 0; i < in->n_devices && i < req->n_devices; i++) {
        const struct ctrd_device *dv = &in->devices[i];
        json_array_append_new(
            devices,
            json_pack("{s:b, s:s#, s:I, s:I, s:s}", "allow", 1, "type", &dv->type, 1, "major",
                      (json_int_t)dv->major, "minor", (json_int_t)dv->minor, "access",
                      req->devices[i]->permissions[0] != '\0' ? req->devices[i]->permissions : "rwm"));
    }
    json_t *res = json_pack("{s:o}", "devices", devices);
    const Kukeon__Ipc__Ctrd__Resources *rs = req->resources;
    if (rs != NULL && rs->memory_limit_bytes > 0)
        json_object_set_new(res, "memory", json_pack("{s:I}", "limit", (json_int_t)rs->memory_limit_bytes));
    if (rs != NULL && rs->cpu_shares > 0)
        json_object_set_new(res, "cpu", json_pack("{s:I}", "shares", (json_int_t)rs->cpu_shares));
    if (rs != NULL && rs->pids_limit != 0)
        json_object_set_new(res, "pids", json_pack("{s:I}", "limit", (json_int_t)rs->pids_limit));
    return res;
}

/* The runc v2 shim's grouping annotation (containerd runtime/v2/runc/v2: the shim's socket address is
 * derived from it instead of the container id). */
#define CTRD_SHIM_GROUP_ANNOTATION "io.containerd.runc.v2.group"

int ctrd_spec_build(const struct ctrd_spec_input *in, char **json_out, size_t *len, struct kk_err *err)
{
    const Kukeon__Ipc__Ctrd__ContainerCreate *req = in->req;
    const struct kk_derived *d = in->d;
    const json_t *icfg = json_object_get(in->image_config, "config");
    json_t *spec = NULL;
    int ret = -1;

    json_t *args = json_array();
    if (args == NULL || ctrd_build_argv(in, args, err) < 0) {
        json_decref(args);
        return -1;
    }
    /* Environment: the image's, then the request's (it wins), then Kukeon's own over the image's but
     * never over the request's (kukeon-reference.md 1.4: the user wins on collision). */
    json_t *env = json_array();
    const json_t *ienv = json_object_get(icfg, "Env");
    size_t i;
    const json_t *v;
    json_array_foreach(ienv, i, v)
    {
        if (json_is_string(v) && json_array_size(env) < CTRD_ENV_MAX)
            ctrd_env_set(env, json_string_value(v), false);
    }
    for (i = 0; i < req->n_env; i++)
        ctrd_env_set(env, req->env[i], false);
    const struct {
        const char *key, *value;
    } kenv[] = {
        {"KUKEON_CELL_NAME", d->cell}, {"KUKEON_CONTAINER_ID", d->ctrd_id},
        {"KUKEON_REALM", d->realm},    {"KUKEON_SPACE", d->space},
        {"KUKEON_STACK", d->stack},    {"KUKEON_CGROUP_PATH", in->cell_cgroup_path},
    };
    for (i = 0; i < KK_ARRAY_SIZE(kenv); i++) {
        bool by_request = false;
        size_t kl = strlen(kenv[i].key);
        for (size_t j = 0; j < req->n_env && !by_request; j++)
            by_request = strncmp(req->env[j], kenv[i].key, kl) == 0 && req->env[j][kl] == '=';
        if (by_request)
            continue;
        char kv[KK_DERIVE_PATH_SIZE + 64];
        snprintf(kv, sizeof(kv), "%s=%s", kenv[i].key, kenv[i].value != NULL ? kenv[i].value : "");
        ctrd_env_set(env, kv, false); /* over the image's: Kukeon knows where the container runs */
    }
    /* An image without a PATH still finds its programs where every distribution keeps them. */
    ctrd_env_set(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", true);

    const char *cwd = req->working_dir[0] != '\0' ? req->working_dir
                                                  : json_string_value(json_object_get(icfg, "WorkingDir"));
    if (cwd == NULL || cwd[0] == '\0')
        cwd = "/";
    if (!ctrd_path_clean(cwd)) {
        kk_error(err, KK_ERR_INVALID, 0,
                 "image \"%s\" has working directory \"%.100s\", which is not a clean absolute path",
                 req->image, cwd);
        json_decref(args);
        json_decref(env);
        return -1;
    }
    uint32_t uid = 0, gid = 0;
    const char *user = req->user[0] != '\0' ? req->user : json_string_value(json_object_get(icfg, "User"));
    if (user != NULL && user[0] != '\0' && ctrd_user_parse(user, &uid, &gid) < 0) {
        kk_error(err, KK_ERR_INVALID, 0,
                 "image \"%s\" runs as user \"%.40s\"; kuke-ctrd maps only numeric users: set the "
                 "container's user "
                 "to uid[:gid]",
                 req->image, user);
        json_decref(args);
        json_decref(env);
        return -1;
    }

    uint64_t caps = 0;
    if (req->privileged) {
        caps = (CTRD_NCAPS >= 64) ? ~0ULL : ((1ULL << CTRD_NCAPS) - 1);
    } else {
        for (i = 0; i < KK_ARRAY_SIZE(ctrd_default_caps); i++)
            caps |= 1ULL << ctrd_cap_index(ctrd_default_caps[i]);
        for (i = 0; i < req->n_cap_add; i++) {
            int c = ctrd_cap_index(req->cap_add[i]);
            if (c >= 0)
                caps |= 1ULL << c;
        }
    }
    for (i = 0; i < req->n_cap_drop; i++) {
        int c = ctrd_cap_index(req->cap_drop[i]);
        if (c >= 0)
            caps &= ~(1ULL << c);
    }
    /* A capability the host's bounding set lacks cannot be granted: runc's capset would fail. */
    if (in->cap_bound != 0)
        caps &= in->cap_bound;

    json_t *process = json_pack("{s:b, s:{s:I, s:I}, s:o, s:o, s:s, s:{s:o, s:o, s:o}, s:o, s:b}", "terminal",
                                0, "user", "uid", (json_int_t)uid, "gid", (json_int_t)gid, "args", args,
                                "env", env, "cwd", cwd, "capabilities", "bounding", ctrd_caps_json(caps),
                                "effective", ctrd_caps_json(caps), "permitted", ctrd_caps_json(caps),
                                "rlimits", ctrd_rlimits_json(in), "noNewPrivileges", !req->privileged);
    json_t *linux_ = json_pack("{s:o, s:s, s:o}", "resources", ctrd_resources_json(in), "cgroupsPath",
                               d->cgroup_path, "namespaces", ctrd_namespaces_json(in));
    if (process == NULL || linux_ == NULL) {
        json_decref(process);
        json_decref(linux_);
        kk_error(err, KK_ERR_INTERNAL, 0, "building the spec of %s", d->ctrd_id);
        return -1;
    }
    if (!req->privileged) {
        json_object_set_new(linux_, "maskedPaths",
                            ctrd_strings(ctrd_masked_paths, KK_ARRAY_SIZE(ctrd_masked_paths)));
        json_object_set_new(linux_, "readonlyPaths",
                            ctrd_strings(ctrd_readonly_paths, KK_ARRAY_SIZE(ctrd_readonly_paths)));
    }
    if (in->n_devices > 0) {
        json_t *devs = json_array();
        for (i = 0; i < in->n_devices && i < req->n_devices; i++)
            json_array_append_new(
                devs, json_pack("{s:s, s:s#, s:I, s:I, s:I, s:i, s:i}", "path", req->devices[i]->path, "type",
                                &in->devices[i].type, 1, "major", (json_int_t)in->devices[i].major, "minor",
                                (json_int_t)in->devices[i].minor, "fileMode",
                                (json_int_t)(in->devices[i].mode & 07777), "uid", 0, "gid", 0));
        json_object_set_new(linux_, "devices", devs);
    }
    spec = json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.0.2-dev", "process", process,
                     "root", "path", "rootfs", "readonly", req->read_only_rootfs, "hostname", d->cell,
                     "mounts", ctrd_mounts_json(in), "linux", linux_);
    if (spec == NULL) {
        kk_error(err, KK_ERR_INTERNAL, 0, "building the spec of %s", d->ctrd_id);
        return -1;
    }
    /* One runc shim per cell, not per container: the runc v2 shim serves every container whose spec
     * names the same group (CRI groups a pod's containers the same way, by sandbox id), so the
     * cell's other containers start in the shim its root started instead of each spawning and
     * dialling a shim of its own. The group is the root's containerd id, unique in the namespace. */
    json_object_set_new(spec, "annotations", json_pack("{s:s}", CTRD_SHIM_GROUP_ANNOTATION, d->ctrd_root_id));
    if (req->n_hooks > 0 && (in->allow & CTRD_ALLOW_HOOKS)) {
        json_t *hooks = json_object();
        for (i = 0; i < req->n_hooks; i++) {
            const Kukeon__Ipc__Ctrd__Hook *h = req->hooks[i];
            json_t *stage = json_object_get(hooks, h->stage);
            if (stage == NULL) {
                stage = json_array();
                json_object_set_new(hooks, h->stage, stage);
            }
            json_t *hj = json_pack("{s:s}", "path", h->path);
            if (h->n_args > 0)
                json_object_set_new(hj, "args", ctrd_strings((const char *const *)h->args, h->n_args));
            if (h->n_env > 0)
                json_object_set_new(hj, "env", ctrd_strings((const char *const *)h->env, h->n_env));
            json_array_append_new(stage, hj);
        }
        json_object_set_new(spec, "hooks", hooks);
    }
    char *out = json_dumps(spec, JSON_COMPACT);
    if (out == NULL) {
        kk_error(err, KK_ERR_INTERNAL, 0, "serializing the spec of %s", d->ctrd_id);
        goto done;
    }
    *json_out = out;
    *len = strlen(out);
    ret = 0;
done:
    json_decref(spec);
    return ret;
}
