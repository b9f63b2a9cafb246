/* kuke doctor, and the host checks behind kuke status (kuke/service.h): each check is one row,
 * OK, WARN or FAIL, with a hint for every problem saying what to do; any FAIL makes the exit 1. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <linux/magic.h>

#include "common/config.h"
#include "common/derive.h"
#include "common/util.h"
#include "kuke/client.h"
#include "kuke/inproc.h"
#include "kuke/service.h"
#include "kukeond/store.h"
#include "security/profile.h"

#define KUKE_CHECKS_MAX 96
/* kuke-cgd needs these in the cgroup root's subtree (kukeon-reference.md 2.10, doctor cgroups). */
static const char *const kuke_required_controllers[] = {"cpu", "memory", "io", "pids"};
/* The plugins kuke-netd runs (kuke-netd/cni.c), and where it looks for them. */
static const char *const kuke_cni_plugins[] = {"bridge", "host-local", "loopback", "portmap"};
static const char *const kuke_cni_dirs[] = {"/opt/cni/bin", "/usr/lib/cni"};
static const char *const kuke_helper_names[] = {"kuke-cgd", "kuke-netd", "kuke-ctrd", "kuke-fetchd"};

static void kuke_closedirp(DIR **d)
{
    if (*d != NULL)
        closedir(*d);
}
#define _cleanup_closedir_ __attribute__((cleanup(kuke_closedirp)))

struct kuke_check {
    const char *section;
    char name[48];
    enum kuke_check_status status;
    char detail[512];
    char hint[384];
};

struct kuke_report {
    struct kuke_check rows[KUKE_CHECKS_MAX];
    int n;
    struct kk_config cfg;
    char socket[PATH_MAX];
    bool daemon_up;
    json_t *daemon_status; /* DaemonStatus reply, when the daemon answered */
    /* What the store records, for the orphan checks: netns names and cgroup paths. */
    json_t *known_netns;   /* object: name -> true */
    json_t *known_cgroups; /* object: path relative to the mount -> true */
    json_t *known_realms;  /* object: containerd namespace -> true */
    json_t *store_realms;  /* array of the realm names in the run path */
    bool store_read;
    char cgmount[256];        /* the cgroup v2 mount ("" if none) */
    char v1_controllers[256]; /* controllers of mounted v1 hierarchies (hybrid hosts) */
};

static void __attribute__((format(printf, 5, 6)))
kuke_check_add(struct kuke_report *r, const char *section, const char *name, enum kuke_check_status status,
               const char *fmt, ...)
{
    if (r->n >= KUKE_CHECKS_MAX)
        return;
    struct kuke_check *c = &r->rows[r->n++];
    memset(c, 0, sizeof(*c));
    c->section = section;
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
    va_end(ap);
}

/* The hint of the row just added. */
static void __attribute__((format(printf, 2, 3))) kuke_check_hint(struct kuke_report *r, const char *fmt, ...)
{
    if (r->n == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->rows[r->n - 1].hint, sizeof(r->rows[r->n - 1].hint), fmt, ap);
    va_end(ap);
}

static int kuke_read_small(const char *path, char *buf, size_t size)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return (int)n;
}

static bool kuke_word_in(const char *list, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += wl) {
        bool start = p == list || isspace((unsigned char)p[-1]);
        bool end = p[wl] == '\0' || isspace((unsigned char)p[wl]);
        if (start && end)
            return true;
    }
    return false;
}

/* ---- DAEMON ---------------------------------------------------------------------------------------- */

static void kuke_check_daemon(struct kuke_ctx *ctx, struct kuke_report *r)
{
    json_t *res = NULL;
    struct kk_err e = {0};
    if (kuke_call(ctx, "DaemonStatus", NULL, &res, &e) < 0) {
        kuke_check_add(r, "DAEMON", "socket", KUKE_CHECK_FAIL, "kukeond does not answer on unix://%s: %s",
                       r->socket, e.msg);
        if (kuke_systemd_running())
            kuke_check_hint(
                r, "start it: sudo systemctl start kukeond (see journalctl -u kukeond), or sudo kuke "
                   "daemon start");
        else
            kuke_check_hint(r, "start it: sudo kuke daemon start (log: kuke daemon logs)");
        return;
    }
    r->daemon_up = true;
    r->daemon_status = res;
    const char *v = json_string_value(json_object_get(res, "Version"));
    kuke_check_add(r, "DAEMON", "socket", KUKE_CHECK_OK, "kukeond answers on unix://%s", r->socket);
    if (v != NULL && strcmp(v, KUKEON_VERSION) == 0) {
        kuke_check_add(r, "DAEMON", "version", KUKE_CHECK_OK, "client and daemon %s", v);
    } else {
        kuke_check_add(r, "DAEMON", "version", KUKE_CHECK_WARN, "client %s, daemon %s", KUKEON_VERSION,
                       v != NULL ? v : "unknown");
        kuke_check_hint(r,
                        "restart the daemon after an upgrade: sudo systemctl restart kukeond (or kuke daemon "
                        "restart)");
    }
}

static void kuke_check_service(struct kuke_report *r)
{
    if (!kuke_systemd_running() || !kuke_systemd_unit_installed())
        return;
    char *const enabled[] = {"systemctl", "is-enabled", "--quiet", KUKEON_SYSTEMD_UNIT, NULL};
    char *const active[] = {"systemctl", "is-active", "--quiet", KUKEON_SYSTEMD_UNIT, NULL};
    bool en = kuke_run_quiet(enabled, false) == 0, ac = kuke_run_quiet(active, false) == 0;
    if (en && ac) {
        kuke_check_add(r, "DAEMON", "service", KUKE_CHECK_OK, "%s enabled and active", KUKEON_SYSTEMD_UNIT);
        return;
    }
    kuke_check_add(r, "DAEMON", "service", KUKE_CHECK_WARN, "%s %s, %s", KUKEON_SYSTEMD_UNIT,
                   en ? "enabled" : "not enabled", ac ? "active" : "not active");
    kuke_check_hint(r, "sudo systemctl enable --now kukeond, so that it comes back after a reboot");
}

/* ---- HOST ------------------------------------------------------------------------------------------ */

static void kuke_check_containerd(struct kuke_report *r)
{
    const char *path = r->cfg.containerd_socket;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        kuke_check_add(r, "HOST", "containerd", KUKE_CHECK_FAIL, "socket path %s is too long", path);
        kuke_check_hint(r, "set containerdSocket in /etc/kukeon/kukeond.yaml to a shorter path");
        return;
    }
    memcpy(sa.sun_path, path, strlen(path));
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        kuke_check_add(r, "HOST", "containerd", KUKE_CHECK_OK, "containerd listens on %s", path);
        return;
    }
    int e = errno;
    if (e == EACCES && geteuid() != 0) {
        kuke_check_add(r, "HOST", "containerd", KUKE_CHECK_WARN, "%s: permission denied", path);
        kuke_check_hint(r, "run 'sudo kuke doctor' to check containerd");
        return;
    }
    kuke_check_add(r, "HOST", "containerd", KUKE_CHECK_FAIL, "cannot connect to %s: %s", path, strerror(e));
    kuke_check_hint(r,
                    "start containerd: sudo systemctl start containerd (or point --containerd-socket at it)");
}

/* A mount of the whole hierarchy before a bind mount of a subtree, then the usual places. */
static int kuke_v2_preference(const char *root, const char *point)
{
    int score = strcmp(root, "/") == 0 ? 4 : 0;
    if (strcmp(point, "/sys/fs/cgroup") == 0)
        score += 2;
    else if (strcmp(point, "/sys/fs/cgroup/unified") == 0)
        score += 1;
    return score;
}

/* The cgroup v2 mount as kuke-cgd picks it (the whole hierarchy, /sys/fs/cgroup before
 * /sys/fs/cgroup/unified), and the controllers v1 hierarchies hold on a hybrid host. */
static void kuke_find_cgroup_mounts(struct kuke_report *r)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    int best = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        char *fld[64];
        int nf = 0;
        for (char *save = NULL, *t = strtok_r(line, " \n", &save); t != NULL && nf < 64;
             t = strtok_r(NULL, " \n", &save))
            fld[nf++] = t;
        int sep = 6;
        while (sep < nf && strcmp(fld[sep], "-") != 0)
            sep++;
        if (sep + 3 >= nf)
            continue;
        if (strcmp(fld[sep + 1], "cgroup2") == 0) {
            int score = kuke_v2_preference(fld[3], fld[4]);
            if (score > best && strlen(fld[4]) < sizeof(r->cgmount)) {
                snprintf(r->cgmount, sizeof(r->cgmount), "%s", fld[4]);
                best = score;
            }
        } else if (strcmp(fld[sep + 1], "cgroup") == 0) {
            for (size_t i = 0; i < KK_ARRAY_SIZE(kuke_required_controllers); i++) {
                const char *c = kuke_required_controllers[i];
                /* "io" is "blkio" in v1. */
                const char *v1 = strcmp(c, "io") == 0 ? "blkio" : c;
                char opts[512];
                snprintf(opts, sizeof(opts), ",%s,", fld[sep + 3]);
                char want[32];
                snprintf(want, sizeof(want), ",%s,", v1);
                if (strstr(opts, want) != NULL && !kuke_word_in(r->v1_controllers, c)) {
                    size_t l = strlen(r->v1_controllers);
                    snprintf(r->v1_controllers + l, sizeof(r->v1_controllers) - l, "%s%s", l ? " " : "", c);
                }
            }
        }
    }
}

static void kuke_check_cgroups(struct kuke_report *r)
{
    struct statfs sf;
    if (r->cgmount[0] == '\0' || statfs(r->cgmount, &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC) {
        kuke_check_add(r, "HOST", "cgroup-v2", KUKE_CHECK_FAIL, "no cgroup v2 hierarchy is mounted");
        kuke_check_hint(r,
                        "boot with the unified hierarchy (systemd.unified_cgroup_hierarchy=1), or mount it: "
                        "mount -t cgroup2 none /sys/fs/cgroup/unified");
        return;
    }
    bool hybrid = strcmp(r->cgmount, "/sys/fs/cgroup") != 0;
    kuke_check_add(r, "HOST", "cgroup-v2", KUKE_CHECK_OK, "%s at %s",
                   hybrid ? "hybrid host: v2" : "unified hierarchy", r->cgmount);
    char path[300], have[512] = "";
    snprintf(path, sizeof(path), "%s/cgroup.controllers", r->cgmount);
    if (kuke_read_small(path, have, sizeof(have)) < 0) {
        kuke_check_add(r, "HOST", "cgroup-controllers", KUKE_CHECK_FAIL, "cannot read %s: %s", path,
                       strerror(errno));
        return;
    }
    have[strcspn(have, "\n")] = '\0';
    char missing[128] = "";
    for (size_t i = 0; i < KK_ARRAY_SIZE(kuke_required_controllers); i++) {
        const char *c = kuke_required_controllers[i];
        if (!kuke_word_in(have, c) && !kuke_word_in(r->v1_controllers, c)) {
            size_t l = strlen(missing);
            snprintf(missing + l, sizeof(missing) - l, "%s%s", l ? " " : "", c);
        }
    }
    if (missing[0] != '\0') {
        kuke_check_add(r, "HOST", "cgroup-controllers", KUKE_CHECK_FAIL, "missing: %s (v2: %s; v1: %s)",
                       missing, have[0] ? have : "none", r->v1_controllers[0] ? r->v1_controllers : "none");
        kuke_check_hint(r,
                        "enable the controllers on the kernel command line, or run kukeon where the cgroup "
                        "tree is delegated with them (Delegate=yes)");
    } else if (r->v1_controllers[0] != '\0' && !hybrid) {
        kuke_check_add(r, "HOST", "cgroup-controllers", KUKE_CHECK_OK, "%s", have);
    } else if (r->v1_controllers[0] != '\0') {
        kuke_check_add(r, "HOST", "cgroup-controllers", KUKE_CHECK_WARN, "v2: %s; in v1 hierarchies: %s",
                       have[0] ? have : "none", r->v1_controllers);
        kuke_check_hint(r,
                        "a hybrid host works (kuke-cgd writes both trees), but limits are enforced through "
                        "v1; prefer the unified hierarchy");
    } else {
        kuke_check_add(r, "HOST", "cgroup-controllers", KUKE_CHECK_OK, "%s", have);
    }
}

static void kuke_check_cni(struct kuke_report *r)
{
    for (size_t d = 0; d < KK_ARRAY_SIZE(kuke_cni_dirs); d++) {
        bool all = true;
        for (size_t p = 0; p < KK_ARRAY_SIZE(kuke_cni_plugins) && all; p++) {
            char path[128];
            snprintf(path, sizeof(path), "%s/%s", kuke_cni_dirs[d], kuke_cni_plugins[p]);
            all = access(path, X_OK) == 0;
        }
        if (all) {
            kuke_check_add(r, "HOST", "cni-plugins", KUKE_CHECK_OK,
                           "bridge, host-local, loopback, portmap in %s", kuke_cni_dirs[d]);
            return;
        }
    }
    kuke_check_add(r, "HOST", "cni-plugins", r->daemon_up ? KUKE_CHECK_WARN : KUKE_CHECK_FAIL,
                   "no directory holds bridge, host-local, loopback and portmap (looked in /opt/cni/bin, "
                   "/usr/lib/cni)");
    kuke_check_hint(r, "install them: sudo apt-get install containernetworking-plugins");
}

static void kuke_check_iptables(struct kuke_report *r)
{
    static const char *const candidates[] = {"/usr/sbin/iptables", "/sbin/iptables"};
    for (size_t i = 0; i < KK_ARRAY_SIZE(candidates); i++)
        if (access(candidates[i], X_OK) == 0) {
            kuke_check_add(r, "HOST", "iptables", KUKE_CHECK_OK, "%s", candidates[i]);
            return;
        }
    kuke_check_add(r, "HOST", "iptables", KUKE_CHECK_FAIL,
                   "iptables not found (kuke-netd installs the "
                   "KUKEON-FORWARD chain with it)");
    kuke_check_hint(r, "install it: sudo apt-get install iptables");
}

/* ---- CGROUPS (kuke doctor cgroups) ----------------------------------------------------------------- */

/* Per controller: where it is (v2, or a v1 hierarchy on a hybrid host), and whether the cgroup root
 * receives it: in v2 a child has a controller only when its parent's cgroup.subtree_control
 * enables it. */
static void kuke_check_cgroup_delegation(struct kuke_report *r)
{
    if (r->cgmount[0] == '\0')
        return; /* the cgroup-v2 row already failed */
    char root[512], parent[512], have_root[512] = "", parent_ctl[512] = "";
    snprintf(root, sizeof(root), "%s%s", r->cgmount, r->cfg.cgroup_root);
    snprintf(parent, sizeof(parent), "%s", root);
    char *slash = strrchr(parent, '/');
    if (slash != NULL)
        *slash = '\0';
    struct stat st;
    bool root_exists = stat(root, &st) == 0 && S_ISDIR(st.st_mode);
    if (root_exists) {
        kuke_check_add(r, "CGROUPS", "root", KUKE_CHECK_OK, "%s", root);
        char path[600];
        snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
        if (kuke_read_small(path, have_root, sizeof(have_root)) < 0)
            have_root[0] = '\0';
    } else {
        kuke_check_add(r, "CGROUPS", "root", KUKE_CHECK_WARN, "%s does not exist yet", root);
        kuke_check_hint(r, "kuke init or the first realm creates it");
    }
    char path[600];
    snprintf(path, sizeof(path), "%s/cgroup.subtree_control", parent);
    if (kuke_read_small(path, parent_ctl, sizeof(parent_ctl)) < 0)
        parent_ctl[0] = '\0';
    char v2have[512] = "";
    snprintf(path, sizeof(path), "%s/cgroup.controllers", r->cgmount);
    if (kuke_read_small(path, v2have, sizeof(v2have)) < 0)
        v2have[0] = '\0';
    for (size_t i = 0; i < KK_ARRAY_SIZE(kuke_required_controllers); i++) {
        const char *c = kuke_required_controllers[i];
        if (kuke_word_in(v2have, c)) {
            if (root_exists && kuke_word_in(have_root, c))
                kuke_check_add(r, "CGROUPS", c, KUKE_CHECK_OK, "cgroup v2, delegated to %s", root);
            else if (kuke_word_in(parent_ctl, c) || !root_exists)
                kuke_check_add(r, "CGROUPS", c, KUKE_CHECK_OK,
                               "cgroup v2, enabled in %s/cgroup.subtree_control", parent);
            else {
                kuke_check_add(r, "CGROUPS", c, KUKE_CHECK_FAIL,
                               "cgroup v2 has it, but %s does not receive it", root);
                kuke_check_hint(r, "enable it for the subtree: echo +%s | sudo tee %s/cgroup.subtree_control",
                                c, parent);
            }
        } else if (kuke_word_in(r->v1_controllers, c)) {
            kuke_check_add(r, "CGROUPS", c, KUKE_CHECK_WARN, "bound to a cgroup v1 hierarchy (hybrid host)");
            kuke_check_hint(r, "kuke-cgd writes the v1 tree too; the unified hierarchy is preferred "
                               "(systemd.unified_cgroup_hierarchy=1)");
        } else {
            kuke_check_add(r, "CGROUPS", c, KUKE_CHECK_FAIL, "not available in cgroup v2 nor v1");
            kuke_check_hint(r, "the kernel lacks the %s controller, or the container this runs in hides it",
                            c);
        }
    }
}

/* ---- STATE ----------------------------------------------------------------------------------------- */

/* Walk the store and record every netns, cgroup and containerd namespace its documents imply. */
static int kuke_store_walk(struct kuke_report *r, struct kk_err *err)
{
    struct kk_derive_config dc = {
        .ns_suffix = r->cfg.ns_suffix, .cgroup_root = r->cfg.cgroup_root, .run_path = r->cfg.run_path};
    struct kk_store store;
    if (kk_store_init(&store, &dc, err) < 0)
        return -1;
    r->known_netns = json_object();
    r->known_cgroups = json_object();
    r->known_realms = json_object();
    json_t *realms = NULL;
    if (kk_store_list(&store, NULL, &realms, err) < 0)
        return -1;
    size_t i;
    json_t *rv;
    json_array_foreach(realms, i, rv)
    {
        struct kk_derive_names n = {.realm = json_string_value(rv)};
        json_t *spaces = NULL, *sv;
        size_t j;
        struct kk_derived d;
        if (kk_derive(&n, &dc, &d, err) < 0)
            goto fail;
        json_object_set_new(r->known_realms, d.ctrd_namespace, json_true());
        json_object_set_new(r->known_cgroups, d.cgroup_path, json_true());
        if (kk_store_list(&store, &n, &spaces, err) < 0)
            goto fail;
        json_array_foreach(spaces, j, sv)
        {
            n.space = json_string_value(sv);
            json_t *stacks = NULL, *tv;
            size_t k;
            if (kk_derive(&n, &dc, &d, err) < 0 || kk_store_list(&store, &n, &stacks, err) < 0) {
                json_decref(spaces);
                goto fail;
            }
            json_object_set_new(r->known_cgroups, d.cgroup_path, json_true());
            json_array_foreach(stacks, k, tv)
            {
                n.stack = json_string_value(tv);
                json_t *cells = NULL, *cv;
                size_t l;
                if (kk_derive(&n, &dc, &d, err) < 0 || kk_store_list(&store, &n, &cells, err) < 0) {
                    json_decref(stacks);
                    json_decref(spaces);
                    goto fail;
                }
                json_object_set_new(r->known_cgroups, d.cgroup_path, json_true());
                json_array_foreach(cells, l, cv)
                {
                    n.cell = json_string_value(cv);
                    if (kk_derive(&n, &dc, &d, err) == 0) {
                        json_object_set_new(r->known_cgroups, d.cgroup_path, json_true());
                        json_object_set_new(r->known_netns, d.netns_name, json_true());
                    }
                }
                n.cell = NULL;
                json_decref(cells);
            }
            n.stack = NULL;
            json_decref(stacks);
        }
        json_decref(spaces);
    }
    r->store_realms = realms;
    r->store_read = true;
    return 0;
fail:
    json_decref(realms);
    return -1;
}

/* kk-<16 hex>: the names kk_derive gives cell network namespaces. */
static bool kuke_netns_is_kukeons(const char *name)
{
    if (strncmp(name, "kk-", 3) != 0 || strlen(name) != 19)
        return false;
    for (const char *p = name + 3; *p != '\0'; p++)
        if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p))
            return false;
    return true;
}

static void kuke_check_orphan_netns(struct kuke_report *r)
{
    _cleanup_closedir_ DIR *d = opendir(KK_DERIVE_NETNS_DIR_DEFAULT);
    char orphans[384] = "";
    int count = 0;
    if (d != NULL) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!kuke_netns_is_kukeons(de->d_name) || json_object_get(r->known_netns, de->d_name) != NULL)
                continue;
            size_t l = strlen(orphans);
            if (count < 8)
                snprintf(orphans + l, sizeof(orphans) - l, "%s%s", l ? ", " : "", de->d_name);
            count++;
        }
    }
    if (count == 0) {
        kuke_check_add(r, "STATE", "orphan-netns", KUKE_CHECK_OK, "every kk-* netns in %s belongs to a cell",
                       KK_DERIVE_NETNS_DIR_DEFAULT);
        return;
    }
    kuke_check_add(r, "STATE", "orphan-netns", KUKE_CHECK_FAIL, "%d netns no cell records: %s%s", count,
                   orphans, count > 8 ? ", ..." : "");
    kuke_check_hint(r, "remove each with 'sudo ip netns delete <name>' once no process uses it "
                       "('ip netns pids <name>')");
}

/* Directories under <mount><cgroupRoot> down to cell depth that no document records. */
static void kuke_cgroup_scan(struct kuke_report *r, const char *rel, int depth, char *list, size_t size,
                             int *count)
{
    if (depth > 4)
        return;
    char abs[PATH_MAX];
    if (snprintf(abs, sizeof(abs), "%s%s", r->cgmount, rel) >= (int)sizeof(abs))
        return;
    _cleanup_closedir_ DIR *d = opendir(abs);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        char child[PATH_MAX];
        if (snprintf(child, sizeof(child), "%s/%s", rel, de->d_name) >= (int)sizeof(child))
            continue;
        if (json_object_get(r->known_cgroups, child) == NULL) {
            size_t l = strlen(list);
            if (*count < 6)
                snprintf(list + l, size - l, "%s%s", l ? ", " : "", child);
            (*count)++;
            continue;
        }
        kuke_cgroup_scan(r, child, depth + 1, list, size, count);
    }
}

static void kuke_check_orphan_cgroups(struct kuke_report *r)
{
    char list[512] = "";
    int count = 0;
    if (r->cgmount[0] == '\0')
        return;
    kuke_cgroup_scan(r, r->cfg.cgroup_root, 1, list, sizeof(list), &count);
    if (count == 0) {
        kuke_check_add(r, "STATE", "orphan-cgroups", KUKE_CHECK_OK,
                       "every cgroup under %s%s belongs to a document", r->cgmount, r->cfg.cgroup_root);
        return;
    }
    kuke_check_add(r, "STATE", "orphan-cgroups", KUKE_CHECK_WARN, "%d cgroup(s) no document records: %s%s",
                   count, list, count > 6 ? ", ..." : "");
    kuke_check_hint(r, "once empty (cgroup.procs), remove with 'sudo rmdir %s<path>' (deepest first)",
                    r->cgmount);
}

/* containerd namespaces with the instance suffix and no realm: listed with ctr (containerd's own
 * client), as kuke itself does not speak containerd's gRPC. */
static void kuke_check_orphan_namespaces(struct kuke_report *r)
{
    if (geteuid() != 0)
        return;
    /* The path goes through sh -c quoted: one with a quote in it is not asked about. A hung
     * containerd must not hang the report. */
    if (strchr(r->cfg.containerd_socket, '\'') != NULL)
        return;
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "timeout 10 ctr --address '%s' namespaces ls -q 2>/dev/null",
             r->cfg.containerd_socket);
    FILE *p = popen(cmd, "re");
    if (p == NULL)
        return;
    char line[256], list[384] = "", suffix[80];
    snprintf(suffix, sizeof(suffix), ".%s", r->cfg.ns_suffix);
    int count = 0;
    while (fgets(line, sizeof(line), p) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        size_t ll = strlen(line), sl = strlen(suffix);
        if (ll <= sl || strcmp(line + ll - sl, suffix) != 0 || json_object_get(r->known_realms, line) != NULL)
            continue;
        size_t l = strlen(list);
        if (count < 6)
            snprintf(list + l, sizeof(list) - l, "%s%s", l ? ", " : "", line);
        count++;
    }
    int rc = pclose(p);
    if (rc != 0 && count == 0)
        return; /* ctr absent or containerd down: the containerd row says so */
    if (count == 0) {
        kuke_check_add(r, "STATE", "orphan-namespaces", KUKE_CHECK_OK,
                       "every containerd namespace *%s belongs to a realm", suffix);
        return;
    }
    kuke_check_add(r, "STATE", "orphan-namespaces", KUKE_CHECK_WARN,
                   "%d containerd namespace(s) no realm records: %s%s", count, list,
                   count > 6 ? ", ..." : "");
    kuke_check_hint(
        r, "inspect with 'sudo ctr -n <namespace> containers ls'; remove what is left with 'sudo ctr "
           "namespaces rm <namespace>' once empty");
}

static void kuke_check_state(struct kuke_report *r)
{
    struct kk_err e = {0};
    if (kuke_store_walk(r, &e) < 0) {
        kuke_check_add(r, "STATE", "store", geteuid() == 0 ? KUKE_CHECK_FAIL : KUKE_CHECK_WARN,
                       "cannot read the documents in %s: %s", r->cfg.run_path, e.msg);
        kuke_check_hint(r, geteuid() == 0 ? "check the run path ('kuke init' makes it)"
                                          : "run 'sudo kuke doctor' to compare the host with the documents");
        return;
    }
    kuke_check_orphan_netns(r);
    kuke_check_orphan_cgroups(r);
    kuke_check_orphan_namespaces(r);
    /* A socket nobody answers on: a daemon that died without cleaning up. */
    struct stat st;
    if (!r->daemon_up && lstat(r->socket, &st) == 0 && S_ISSOCK(st.st_mode)) {
        kuke_check_add(r, "STATE", "stale-socket", KUKE_CHECK_WARN, "%s exists but nothing answers on it",
                       r->socket);
        kuke_check_hint(r, "a daemon died without cleaning up; starting it again replaces the socket");
    }
}

/* ---- PARITY ---------------------------------------------------------------------------------------- */

/* The daemon's realms against the run path's as kuke reads it: a difference means the two are not
 * looking at the same state (another --run-path, another configuration file). */
static void kuke_check_parity(struct kuke_ctx *ctx, struct kuke_report *r)
{
    if (!r->daemon_up || !r->store_read)
        return;
    json_t *args = json_object(), *res = NULL;
    struct kk_err e = {0};
    int rc = kuke_call(ctx, "ListRealms", args, &res, &e);
    json_decref(args);
    if (rc < 0) {
        kuke_check_add(r, "PARITY", "realms", KUKE_CHECK_WARN, "the daemon did not list its realms: %s",
                       e.msg);
        return;
    }
    json_t *daemon_names = json_object();
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(res, "Realms"), i, d)
    {
        const char *n = json_string_value(json_object_get(json_object_get(d, "metadata"), "name"));
        if (n != NULL)
            json_object_set_new(daemon_names, n, json_true());
    }
    char only_here[256] = "", only_daemon[256] = "";
    json_t *v;
    json_array_foreach(r->store_realms, i, v)
    {
        const char *n = json_string_value(v);
        if (json_object_get(daemon_names, n) != NULL) {
            json_object_del(daemon_names, n);
            continue;
        }
        size_t l = strlen(only_here);
        snprintf(only_here + l, sizeof(only_here) - l, "%s%s", l ? " " : "", n);
    }
    const char *k;
    json_object_foreach(daemon_names, k, v)
    {
        size_t l = strlen(only_daemon);
        snprintf(only_daemon + l, sizeof(only_daemon) - l, "%s%s", l ? " " : "", k);
    }
    json_decref(daemon_names);
    json_decref(res);
    if (only_here[0] == '\0' && only_daemon[0] == '\0') {
        kuke_check_add(r, "PARITY", "realms", KUKE_CHECK_OK,
                       "%zu realm(s), the same through the daemon and in %s",
                       json_array_size(r->store_realms), r->cfg.run_path);
        return;
    }
    kuke_check_add(r, "PARITY", "realms", KUKE_CHECK_WARN, "only in %s: %s; only through the daemon: %s",
                   r->cfg.run_path, only_here[0] ? only_here : "none", only_daemon[0] ? only_daemon : "none");
    kuke_check_hint(r,
                    "kuke and the daemon read different run paths: compare --run-path (KUKEON_RUN_PATH) with "
                    "the daemon's runPath (/etc/kukeon/kukeond.yaml)");
}

/* ---- SANDBOX --------------------------------------------------------------------------------------- */

struct kuke_proc_status {
    int seccomp; /* 0 none, 1 strict, 2 filter; -1 unknown */
    unsigned long long cap_eff;
    long uid;
};

static int kuke_proc_status_read(long pid, struct kuke_proc_status *ps)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    ps->seccomp = -1;
    ps->uid = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "Seccomp:", 8) == 0)
            ps->seccomp = (int)strtol(line + 8, NULL, 10);
        else if (strncmp(line, "CapEff:", 7) == 0)
            ps->cap_eff = strtoull(line + 7, NULL, 16);
        else if (strncmp(line, "Uid:", 4) == 0)
            ps->uid = strtol(line + 4, NULL, 10); /* the real uid; the others follow */
    }
    return 0;
}

/* The role of a DaemonStatus process name ("kukeond-api", "kuke-fetchd"), or NULL. */
static const struct kk_role_profile *kuke_member_profile(const char *name)
{
    if (strcmp(name, "kukeond-api") == 0)
        return kk_role_profile(KK_ROLE_API);
    for (unsigned r = 0; r < KK_ROLE_COUNT; r++) {
        const struct kk_role_profile *p = kk_role_profile((enum kk_role)r);
        if (p != NULL && p->sandboxed && strcmp(p->binary, name) == 0)
            return p;
    }
    return NULL;
}

static void kuke_check_sandbox(struct kuke_report *r)
{
    if (!r->daemon_up) {
        kuke_check_add(r, "SANDBOX", "processes", KUKE_CHECK_WARN,
                       "kukeond does not answer: no process to inspect");
        kuke_check_hint(r, "start the daemon, then run kuke doctor again");
        return;
    }
    json_t *procs = json_object_get(r->daemon_status, "Processes");
    size_t i;
    json_t *p;
    json_array_foreach(procs, i, p)
    {
        const char *name = json_string_value(json_object_get(p, "Name"));
        long pid = (long)json_integer_value(json_object_get(p, "Pid"));
        if (name == NULL)
            continue;
        struct kuke_proc_status ps = {0};
        if (pid <= 0 || kuke_proc_status_read(pid, &ps) < 0) {
            kuke_check_add(r, "SANDBOX", name, KUKE_CHECK_FAIL, "not running (%s)",
                           json_string_value(json_object_get(p, "State")) ?: "no pid");
            kuke_check_hint(
                r, "the supervisor restarts its group; see kuke daemon logs (or journalctl -u kukeond)");
            continue;
        }
        /* What the member's role promises (security/profile_<role>.c): no capability where it keeps
         * none, and never uid 0 where it has an account of its own. */
        const struct kk_role_profile *prof = kuke_member_profile(name);
        bool filtered = ps.seccomp == 2;
        bool caps_ok = prof == NULL || prof->n_caps > 0 || ps.cap_eff == 0;
        bool user_ok = prof == NULL || prof->keeps_root || ps.uid != 0;
        enum kuke_check_status s = filtered && caps_ok && user_ok ? KUKE_CHECK_OK : KUKE_CHECK_FAIL;
        kuke_check_add(r, "SANDBOX", name, s, "pid %ld uid %ld seccomp %s CapEff %016llx", pid, ps.uid,
                       ps.seccomp == 2   ? "filter"
                       : ps.seccomp == 1 ? "strict"
                       : ps.seccomp == 0 ? "off"
                                         : "unknown",
                       ps.cap_eff);
        if (s == KUKE_CHECK_FAIL)
            kuke_check_hint(
                r,
                "%s runs outside its sandbox: restart the daemon; if it persists, the kernel lacks "
                "seccomp filters or the binary is not Kukeon's",
                name);
    }
    /* The supervisor: root by design, it holds no filter; say where it is. */
    char sock[PATH_MAX], pidfile[PATH_MAX + 16], line[32] = "";
    snprintf(sock, sizeof(sock), "%s", r->socket);
    snprintf(pidfile, sizeof(pidfile), "%s/kukeond.pid", dirname(sock));
    if (kuke_read_small(pidfile, line, sizeof(line)) > 0) {
        struct kuke_proc_status ps = {0};
        long pid = strtol(line, NULL, 10);
        if (pid > 0 && kuke_proc_status_read(pid, &ps) == 0)
            kuke_check_add(r, "SANDBOX", "kukeond", KUKE_CHECK_OK,
                           "supervisor pid %ld uid %ld (root by design: it "
                           "starts and restarts the group)",
                           pid, ps.uid);
    }
}

/* ---- LOGS ------------------------------------------------------------------------------------------ */

static void kuke_check_logs(struct kuke_report *r)
{
    const char *dir = r->cfg.log_dir;
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        kuke_check_add(r, "LOGS", "log-dir", KUKE_CHECK_FAIL, "%s: %s", dir,
                       errno ? strerror(errno) : "not a directory");
        kuke_check_hint(r, "create it: sudo kuke init (or sudo install -d -m 0750 %s)", dir);
        return;
    }
    kuke_check_add(r, "LOGS", "log-dir", KUKE_CHECK_OK, "%s", dir);
    for (size_t h = 0; h < KK_ARRAY_SIZE(kuke_helper_names); h++) {
        char path[PATH_MAX];
        char name[48];
        snprintf(name, sizeof(name), "audit %s", kuke_helper_names[h]);
        if (snprintf(path, sizeof(path), "%s/%s.log", dir, kuke_helper_names[h]) >= (int)sizeof(path))
            continue;
        if (access(path, F_OK) != 0) {
            kuke_check_add(r, "LOGS", name, r->daemon_up ? KUKE_CHECK_FAIL : KUKE_CHECK_WARN, "%s: missing",
                           path);
            kuke_check_hint(r, "the supervisor opens it at start: restart the daemon");
        } else if (geteuid() != 0) {
            kuke_check_add(r, "LOGS", name, KUKE_CHECK_WARN, "%s (writability checked as root only)", path);
            kuke_check_hint(r, "run 'sudo kuke doctor'");
        } else if (access(path, W_OK) != 0) {
            kuke_check_add(r, "LOGS", name, KUKE_CHECK_FAIL, "%s is not writable: %s", path, strerror(errno));
            kuke_check_hint(r,
                            "the audit trail is lost: check the filesystem (read-only? full?) and the mode");
        } else {
            kuke_check_add(r, "LOGS", name, KUKE_CHECK_OK, "%s writable", path);
        }
    }
}

/* ---- report ---------------------------------------------------------------------------------------- */

static const char *kuke_check_word(enum kuke_check_status s)
{
    return s == KUKE_CHECK_OK ? "OK" : s == KUKE_CHECK_WARN ? "WARN" : "FAIL";
}

static void kuke_report_print(const struct kuke_report *r, bool as_json, bool ok)
{
    if (as_json) {
        json_t *checks = json_array();
        for (int i = 0; i < r->n; i++) {
            const struct kuke_check *c = &r->rows[i];
            json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "section", c->section, "name", c->name, "status",
                                  kuke_check_word(c->status), "detail", c->detail);
            if (c->hint[0] != '\0')
                json_object_set_new(o, "remediation", json_string(c->hint));
            json_array_append_new(checks, o);
        }
        json_t *top = json_pack("{s:b, s:o}", "ok", ok, "checks", checks);
        char *s = json_dumps(top, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s != NULL)
            printf("%s\n", s);
        free(s);
        json_decref(top);
        return;
    }
    int width = 4;
    for (int i = 0; i < r->n; i++)
        if ((int)strlen(r->rows[i].name) > width)
            width = (int)strlen(r->rows[i].name);
    const char *section = NULL;
    for (int i = 0; i < r->n; i++) {
        const struct kuke_check *c = &r->rows[i];
        if (section == NULL || strcmp(section, c->section) != 0) {
            printf("%s%s\n", section == NULL ? "" : "\n", c->section);
            section = c->section;
        }
        printf("  %-4s  %-*s  %s\n", kuke_check_word(c->status), width, c->name, c->detail);
        if (c->hint[0] != '\0')
            printf("  %-4s  %-*s  \u21b3 %s\n", "", width, "", c->hint);
    }
    printf("\nStatus: %s\n", ok ? "OK" : "FAIL");
}

int kuke_checks_run(struct kuke_ctx *ctx, unsigned sections, struct kk_err *err)
{
    struct kuke_report *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "allocating the report");
    int rc = -1;
    if (kuke_server_config(ctx, &r->cfg, err) < 0 ||
        kuke_socket_path(ctx, r->socket, sizeof(r->socket), err) < 0)
        goto out;
    kuke_find_cgroup_mounts(r);
    /* The daemon row comes first even in a report without it: several checks soften when it runs. */
    if (sections & (KUKE_SECTION_DAEMON | KUKE_SECTION_SANDBOX | KUKE_SECTION_LOGS))
        kuke_check_daemon(ctx, r);
    if (sections & KUKE_SECTION_DAEMON)
        kuke_check_service(r);
    else
        r->n = 0;
    if (sections & KUKE_SECTION_HOST) {
        kuke_check_containerd(r);
        kuke_check_cgroups(r);
        kuke_check_cni(r);
        kuke_check_iptables(r);
    }
    if (sections & KUKE_SECTION_CGROUPS) {
        if (!(sections & KUKE_SECTION_HOST))
            kuke_check_cgroups(r);
        kuke_check_cgroup_delegation(r);
    }
    if (sections & KUKE_SECTION_STATE)
        kuke_check_state(r);
    if (sections & KUKE_SECTION_STATE)
        kuke_check_parity(ctx, r);
    if (sections & KUKE_SECTION_SANDBOX)
        kuke_check_sandbox(r);
    if (sections & KUKE_SECTION_LOGS)
        kuke_check_logs(r);
    int fails = 0;
    for (int i = 0; i < r->n; i++)
        fails += r->rows[i].status == KUKE_CHECK_FAIL;
    kuke_report_print(r, kuke_flag_bool(ctx, "json"), fails == 0);
    fflush(stdout);
    if (fails > 0) {
        kk_error(err, KK_ERR_UNAVAILABLE, 0, "%d check(s) failed; each FAIL row above says what to do",
                 fails);
        goto out;
    }
    rc = 0;
out:
    json_decref(r->daemon_status);
    json_decref(r->known_netns);
    json_decref(r->known_cgroups);
    json_decref(r->known_realms);
    json_decref(r->store_realms);
    free(r);
    return rc;
}

int kuke_cmd_doctor(struct kuke_ctx *ctx, struct kk_err *err)
{
    return kuke_checks_run(ctx,
                           KUKE_SECTION_DAEMON | KUKE_SECTION_HOST | KUKE_SECTION_STATE |
                               KUKE_SECTION_SANDBOX | KUKE_SECTION_LOGS,
                           err);
}

int kuke_cmd_doctor_cgroups(struct kuke_ctx *ctx, struct kk_err *err)
{
    return kuke_checks_run(ctx, KUKE_SECTION_CGROUPS, err);
}
