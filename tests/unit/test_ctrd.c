/* Unit tests of kuke-ctrd's pure parts: the spec refusals (every forged field, each with its reason and
 * the realm policy that lifts only its own field), the spec built from the template, the image config
 * and the request, the tar index over hand-made archives (ustar, GNU long names, pax, corruption),
 * chain ids (expected values computed with Python's hashlib), image names, namespace ownership and
 * containerd id splitting. No containerd, no root. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/derive.h"
#include "ipc/frame.h"
#include "kuke-ctrd/ctrd.h"

#define RUN "/opt/kukeon"

static struct kk_derived derived(const char *container)
{
    struct kk_derive_names n = {"main", "web", "prod", "cell1", container};
    struct kk_derived d;
    struct kk_err err;
    if (kk_derive(&n, NULL, &d, &err) < 0)
        fail_msg("derive: %s", err.msg);
    return d;
}

/* A request that every check accepts; tests change one field at a time. */
struct req_fixture {
    Kukeon__Ipc__Ctrd__Ref ref;
    Kukeon__Ipc__Ctrd__ContainerCreate req;
    Kukeon__Ipc__Ctrd__Mount mount;
    Kukeon__Ipc__Ctrd__Mount *mounts[1];
    char *args[2];
};

static void fixture(struct req_fixture *f)
{
    kukeon__ipc__ctrd__ref__init(&f->ref);
    f->ref.realm = "main";
    f->ref.space = "web";
    f->ref.stack = "prod";
    f->ref.cell = "cell1";
    f->ref.container = "app";
    kukeon__ipc__ctrd__container_create__init(&f->req);
    f->req.ref = &f->ref;
    f->req.image = "docker.io/library/busybox:latest";
    kukeon__ipc__ctrd__mount__init(&f->mount);
    f->mounts[0] = &f->mount;
    f->args[0] = "-c";
    f->args[1] = "true";
}

static void expect_refused(const Kukeon__Ipc__Ctrd__ContainerCreate *req, unsigned allow, uint32_t reason,
                           const char *needle)
{
    struct kk_derived d = derived("app");
    struct ctrd_refusal r = {0};
    if (ctrd_spec_check(req, allow, &d, RUN, &r) == 0)
        fail_msg("accepted; expected a refusal containing \"%s\"", needle);
    if (r.reason != reason)
        fail_msg("reason %s, expected %s: %s", kk_ipc_deny_reason_name(r.reason),
                 kk_ipc_deny_reason_name(reason), r.msg);
    if (strstr(r.msg, needle) == NULL)
        fail_msg("refusal \"%s\" lacks \"%s\"", r.msg, needle);
}

static void expect_allowed(const Kukeon__Ipc__Ctrd__ContainerCreate *req, unsigned allow)
{
    struct kk_derived d = derived("app");
    struct ctrd_refusal r = {0};
    if (ctrd_spec_check(req, allow, &d, RUN, &r) < 0)
        fail_msg("refused: %s", r.msg);
}

/* ---- refusals --------------------------------------------------------------------------------------- */

static void test_check_plain_request_allowed(void **state)
{
    (void)state;
    struct req_fixture f;
    fixture(&f);
    expect_allowed(&f.req, 0);
    f.mount.source = RUN "/data/main/volumes/v1";
    f.mount.target = "/data";
    f.req.mounts = f.mounts;
    f.req.n_mounts = 1;
    expect_allowed(&f.req, 0);
    f.mount.kind = "tmpfs";
    f.mount.source = "";
    f.mount.size_bytes = 1 << 20;
    expect_allowed(&f.req, 0);
}

static void test_check_bind_sources(void **state)
{
    (void)state;
    struct req_fixture f;
    fixture(&f);
    f.req.mounts = f.mounts;
    f.req.n_mounts = 1;
    f.mount.target = "/x";
    const struct {
        const char *source;
        unsigned allow;
        uint32_t reason;
        const char *needle;
    } rows[] = {
        {"/", CTRD_ALLOW_HOST_PATHS, KK_IPC_DENY_OUTSIDE_ROOT, "host's root"},
        {"/run/containerd", CTRD_ALLOW_HOST_PATHS, KK_IPC_DENY_OUTSIDE_ROOT, "/run/containerd"},
        {"/run/containerd/containerd.sock", CTRD_ALLOW_HOST_PATHS, KK_IPC_DENY_OUTSIDE_ROOT,
         "/run/containerd"},
        {"/var/lib/containerd", CTRD_ALLOW_HOST_PATHS, KK_IPC_DENY_OUTSIDE_ROOT, "/var/lib/containerd"},
        {"/proc/1/root", CTRD_ALLOW_HOST_PATHS, KK_IPC_DENY_OUTSIDE_ROOT, "/proc"},
        {"/etc", 0, KK_IPC_DENY_OUTSIDE_ROOT, "host-paths"},
        {RUN "/data/other/volumes/v", 0, KK_IPC_DENY_OUTSIDE_ROOT, "outside the realm's directory"},
        {RUN "/data/mainx", 0, KK_IPC_DENY_OUTSIDE_ROOT, "outside the realm's directory"},
        {RUN "/data/main", 0, KK_IPC_DENY_OUTSIDE_ROOT, "realm's directory itself"},
        {RUN "/data/main/../other", 0, KK_IPC_DENY_INVALID_VALUE, "clean path"},
        {RUN "/data/main/./x", 0, KK_IPC_DENY_INVALID_VALUE, "clean path"},
        {RUN "/data/main//x", 0, KK_IPC_DENY_INVALID_VALUE, "clean path"},
        {RUN "/data/main/x/", 0, KK_IPC_DENY_INVALID_VALUE, "clean path"},
        {"relative/path", 0, KK_IPC_DENY_INVALID_VALUE, "clean path"},
        {"", 0, KK_IPC_DENY_INVALID_VALUE, "clean path"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        f.mount.source = (char *)rows[i].source;
        expect_refused(&f.req, rows[i].allow, rows[i].reason, rows[i].needle);
    }
    /* host-paths lifts the realm-directory rule, and nothing else. */
    f.mount.source = "/etc/ssl";
    expect_allowed(&f.req, CTRD_ALLOW_HOST_PATHS);
    f.mount.source = RUN "/data/main/v";
    const char *targets[] = {"/", "/proc", "/proc/sys", "/sys/fs/cgroup", "/dev/sda", "x", "/a/../b"};
    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        f.mount.target = (char *)targets[i];
        struct kk_derived d = derived("app");
        struct ctrd_refusal r = {0};
        if (ctrd_spec_check(&f.req, ~0u, &d, RUN, &r) == 0)
            fail_msg("target %s accepted", targets[i]);
    }
    f.mount.target = "/dev/shm";
    expect_allowed(&f.req, 0);
    f.mount.kind = "volume";
    expect_refused(&f.req, 0, KK_IPC_DENY_NOT_IN_TABLE, "mount kind");
}

static void test_check_policy_fields(void **state)
{
    (void)state;
    char *caps[] = {"CAP_SYS_ADMIN"};
    char *unknown_cap[] = {"CAP_FLY"};
    Kukeon__Ipc__Ctrd__Hook h = KUKEON__IPC__CTRD__HOOK__INIT;
    h.stage = "prestart";
    h.path = "/usr/bin/hook";
    Kukeon__Ipc__Ctrd__Hook *hp[] = {&h};
    Kukeon__Ipc__Ctrd__Device dv = KUKEON__IPC__CTRD__DEVICE__INIT;
    dv.path = "/dev/fuse";
    dv.permissions = "rwm";
    Kukeon__Ipc__Ctrd__Device *dp[] = {&dv};
    enum { PRIV, CAPADD, HOSTNET, HOSTPID, HOSTIPC, DEV, HOOK, RUNTIME, NFIELDS };
    const unsigned need[NFIELDS] = {CTRD_ALLOW_PRIVILEGED,      CTRD_ALLOW_CAP_ADD,
                                    CTRD_ALLOW_HOST_NAMESPACES, CTRD_ALLOW_HOST_NAMESPACES,
                                    CTRD_ALLOW_HOST_NAMESPACES, CTRD_ALLOW_DEVICES,
                                    CTRD_ALLOW_HOOKS,           CTRD_ALLOW_RUNTIME};
    for (int field = 0; field < NFIELDS; field++) {
        struct req_fixture f;
        fixture(&f);
        switch (field) {
        case PRIV:
            f.req.privileged = true;
            break;
        case CAPADD:
            f.req.cap_add = caps;
            f.req.n_cap_add = 1;
            break;
        case HOSTNET:
            f.req.host_network = true;
            break;
        case HOSTPID:
            f.req.host_pid = true;
            break;
        case HOSTIPC:
            f.req.host_ipc = true;
            break;
        case DEV:
            f.req.devices = dp;
            f.req.n_devices = 1;
            break;
        case HOOK:
            f.req.hooks = hp;
            f.req.n_hooks = 1;
            break;
        case RUNTIME:
            f.req.runtime = "io.containerd.runsc.v1";
            break;
        }
        /* Refused without the policy, and with every other field allowed. */
        expect_refused(&f.req, 0, KK_IPC_DENY_POLICY, "not allowed in realm \"main\"");
        expect_refused(&f.req, ~0u & ~need[field], KK_IPC_DENY_POLICY, "not allowed");
        /* Allowed with exactly its own field. */
        expect_allowed(&f.req, need[field]);
    }
    struct req_fixture f;
    fixture(&f);
    f.req.cap_add = unknown_cap;
    f.req.n_cap_add = 1;
    expect_refused(&f.req, CTRD_ALLOW_CAP_ADD, KK_IPC_DENY_NOT_IN_TABLE, "unknown capability");
    fixture(&f);
    f.req.runtime = "io.containerd.evil.v9";
    expect_refused(&f.req, CTRD_ALLOW_RUNTIME, KK_IPC_DENY_NOT_IN_TABLE, "not one kuke-ctrd knows");
    fixture(&f);
    f.req.runtime = CTRD_RUNTIME_DEFAULT;
    expect_allowed(&f.req, 0);
    fixture(&f);
    dv.path = "/etc/shadow";
    f.req.devices = dp;
    f.req.n_devices = 1;
    expect_refused(&f.req, CTRD_ALLOW_DEVICES, KK_IPC_DENY_OUTSIDE_ROOT, "under /dev");
    fixture(&f);
    h.path = "relative";
    f.req.hooks = hp;
    f.req.n_hooks = 1;
    expect_refused(&f.req, CTRD_ALLOW_HOOKS, KK_IPC_DENY_INVALID_VALUE, "hook 0");
}

static void test_check_values(void **state)
{
    (void)state;
    struct req_fixture f;
    fixture(&f);
    f.req.image = "";
    expect_refused(&f.req, 0, KK_IPC_DENY_INVALID_VALUE, "image name is required");
    fixture(&f);
    f.req.image = "bad image";
    expect_refused(&f.req, 0, KK_IPC_DENY_INVALID_VALUE, "image name");
    fixture(&f);
    f.req.user = "nginx";
    expect_refused(&f.req, 0, KK_IPC_DENY_INVALID_VALUE, "uid[:gid]");
    f.req.user = "1000:1000";
    expect_allowed(&f.req, 0);
    f.req.user = "4294967295";
    expect_refused(&f.req, 0, KK_IPC_DENY_INVALID_VALUE, "uid[:gid]");
    fixture(&f);
    char *env[] = {"=x"};
    f.req.env = env;
    f.req.n_env = 1;
    expect_refused(&f.req, 0, KK_IPC_DENY_INVALID_VALUE, "KEY=VALUE");
    fixture(&f);
    f.req.working_dir = "tmp";
    expect_refused(&f.req, 0, KK_IPC_DENY_INVALID_VALUE, "working directory");
    fixture(&f);
    char *drop[] = {"NET_RAW"};
    f.req.cap_drop = drop;
    f.req.n_cap_drop = 1;
    expect_allowed(&f.req, 0);
    fixture(&f);
    Kukeon__Ipc__Ctrd__Resources res = KUKEON__IPC__CTRD__RESOURCES__INIT;
    res.memory_limit_bytes = 1000;
    f.req.resources = &res;
    expect_refused(&f.req, 0, KK_IPC_DENY_INVALID_VALUE, "memory limit");
    res.memory_limit_bytes = 64 << 20;
    res.cpu_shares = 1;
    expect_refused(&f.req, 0, KK_IPC_DENY_INVALID_VALUE, "cpu shares");
    fixture(&f);
    Kukeon__Ipc__Ctrd__Rlimit rl = KUKEON__IPC__CTRD__RLIMIT__INIT;
    Kukeon__Ipc__Ctrd__Rlimit *rlp[] = {&rl};
    rl.type = "RLIMIT_BOGUS";
    f.req.rlimits = rlp;
    f.req.n_rlimits = 1;
    expect_refused(&f.req, 0, KK_IPC_DENY_NOT_IN_TABLE, "unknown rlimit");
    rl.type = "RLIMIT_NOFILE";
    rl.soft = 10;
    rl.hard = 5;
    expect_refused(&f.req, 0, KK_IPC_DENY_INVALID_VALUE, "soft limit above hard");
}

/* ---- the spec ---------------------------------------------------------------------------------------- */

static json_t *build(const Kukeon__Ipc__Ctrd__ContainerCreate *req, const char *image_config,
                     uint32_t root_pid, const struct rlimit *hard, uint64_t cap_bound)
{
    struct kk_derived d = derived(req->ref->container);
    json_t *cfg = image_config != NULL ? json_loads(image_config, 0, NULL) : NULL;
    struct ctrd_spec_input in = {
        .req = req,
        .d = &d,
        .cell_cgroup_path = "/kukeon/main/web/prod/cell1",
        .image_config = cfg,
        .hard = hard,
        .cap_bound = cap_bound,
        .root_pid = root_pid,
    };
    char *out = NULL;
    size_t len = 0;
    struct kk_err err;
    if (ctrd_spec_build(&in, &out, &len, &err) < 0)
        fail_msg("build: %s", err.msg);
    json_decref(cfg);
    json_t *spec = json_loads(out, 0, NULL);
    assert_non_null(spec);
    assert_int_equal(strlen(out), len);
    free(out);
    return spec;
}

static const char *path_str(json_t *spec, const char *a, const char *b)
{
    json_t *x = json_object_get(spec, a);
    return json_string_value(b != NULL ? json_object_get(x, b) : x);
}

static char *joined(const json_t *arr)
{
    static char buf[2048];
    buf[0] = '\0';
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        strncat(buf, json_string_value(v), sizeof(buf) - strlen(buf) - 2);
        strncat(buf, "|", sizeof(buf) - strlen(buf) - 1);
    }
    return buf;
}

#define IMAGE_CFG                                                                                            \
    "{\"config\":{\"Env\":[\"PATH=/bin\",\"LANG=C\",\"KUKEON_REALM=image\"],\"Entrypoint\":[\"/entry\"],"    \
    "\"Cmd\":[\"a\",\"b\"],\"WorkingDir\":\"/work\",\"User\":\"1000:50\"},\"rootfs\":{\"diff_ids\":[]}}"

static void test_build_argv_rules(void **state)
{
    (void)state;
    struct req_fixture f;
    fixture(&f);
    /* neither: the image's entrypoint + cmd */
    json_t *s = build(&f.req, IMAGE_CFG, 0, NULL, 0);
    assert_string_equal(joined(json_object_get(json_object_get(s, "process"), "args")), "/entry|a|b|");
    json_decref(s);
    /* only args: they replace entrypoint and cmd */
    f.req.args = f.args;
    f.req.n_args = 2;
    s = build(&f.req, IMAGE_CFG, 0, NULL, 0);
    assert_string_equal(joined(json_object_get(json_object_get(s, "process"), "args")), "-c|true|");
    json_decref(s);
    /* command and args */
    f.req.command = "/bin/sh";
    s = build(&f.req, IMAGE_CFG, 0, NULL, 0);
    assert_string_equal(joined(json_object_get(json_object_get(s, "process"), "args")), "/bin/sh|-c|true|");
    json_decref(s);
    /* nothing at all */
    fixture(&f);
    struct kk_derived d = derived("app");
    struct ctrd_spec_input in = {.req = &f.req, .d = &d};
    char *out = NULL;
    size_t len;
    struct kk_err err;
    assert_int_equal(ctrd_spec_build(&in, &out, &len, &err), -1);
    assert_non_null(strstr(err.msg, "no command given"));
}

static void test_build_env_user_cwd(void **state)
{
    (void)state;
    struct req_fixture f;
    fixture(&f);
    char *env[] = {"LANG=de_DE", "KUKEON_SPACE=mine", "NEW=1"};
    f.req.env = env;
    f.req.n_env = 3;
    json_t *s = build(&f.req, IMAGE_CFG, 0, NULL, 0);
    json_t *p = json_object_get(s, "process");
    /* image env, the request's over it, Kukeon's only where the request did not set them */
    assert_string_equal(
        joined(json_object_get(p, "env")),
        "PATH=/bin|LANG=de_DE|KUKEON_REALM=main|KUKEON_SPACE=mine|NEW=1|KUKEON_CELL_NAME=cell1|"
        "KUKEON_CONTAINER_ID=web_prod_cell1_app|KUKEON_STACK=prod|"
        "KUKEON_CGROUP_PATH=/kukeon/main/web/prod/cell1|");
    assert_string_equal(path_str(p, "cwd", NULL), "/work");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "user"), "uid")), 1000);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "user"), "gid")), 50);
    assert_string_equal(path_str(s, "hostname", NULL), "cell1");
    assert_string_equal(path_str(s, "linux", "cgroupsPath"),
                        "/kukeon/main/web/prod/cell1/web_prod_cell1_app");
    json_decref(s);
    f.req.user = "0";
    f.req.working_dir = "/srv";
    f.req.args = f.args;
    f.req.n_args = 2;
    s = build(&f.req, "{\"config\":{\"User\":\"nginx\"}}", 0, NULL, 0);
    p = json_object_get(s, "process");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "user"), "uid")), 0);
    assert_string_equal(path_str(p, "cwd", NULL), "/srv");
    /* No PATH in the image: the usual one. */
    assert_non_null(strstr(joined(json_object_get(p, "env")), "PATH=/usr/local/sbin:"));
    json_decref(s);
    /* The image's named user cannot be mapped without its passwd file: a clear error. */
    fixture(&f);
    f.req.args = f.args;
    f.req.n_args = 2;
    struct kk_derived d = derived("app");
    json_t *cfg = json_loads("{\"config\":{\"User\":\"nginx\"}}", 0, NULL);
    struct ctrd_spec_input in = {.req = &f.req, .d = &d, .image_config = cfg};
    char *out = NULL;
    size_t len;
    struct kk_err err;
    assert_int_equal(ctrd_spec_build(&in, &out, &len, &err), -1);
    assert_non_null(strstr(err.msg, "numeric users"));
    json_decref(cfg);
}

static bool has_string(const json_t *arr, const char *s)
{
    size_t i;
    const json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return true;
    }
    return false;
}

static void test_build_caps_rlimits(void **state)
{
    (void)state;
    struct req_fixture f;
    fixture(&f);
    f.req.args = f.args;
    f.req.n_args = 2;
    char *drop[] = {"NET_RAW"};
    f.req.cap_drop = drop;
    f.req.n_cap_drop = 1;
    Kukeon__Ipc__Ctrd__Rlimit rl = KUKEON__IPC__CTRD__RLIMIT__INIT;
    rl.type = "RLIMIT_NOFILE";
    rl.soft = 1u << 20;
    rl.hard = 1u << 20;
    Kukeon__Ipc__Ctrd__Rlimit *rlp[] = {&rl};
    f.req.rlimits = rlp;
    f.req.n_rlimits = 1;
    struct rlimit hard[RLIM_NLIMITS];
    for (int i = 0; i < RLIM_NLIMITS; i++)
        hard[i].rlim_cur = hard[i].rlim_max = RLIM_INFINITY;
    hard[RLIMIT_NOFILE].rlim_max = 4096;
    /* The host cannot grant CAP_AUDIT_WRITE (29) here. */
    uint64_t bound = ~0ULL & ~(1ULL << 29);
    json_t *s = build(&f.req, NULL, 0, hard, bound);
    json_t *p = json_object_get(s, "process");
    json_t *caps = json_object_get(json_object_get(p, "capabilities"), "bounding");
    assert_true(has_string(caps, "CAP_CHOWN"));
    assert_true(has_string(caps, "CAP_KILL"));
    assert_false(has_string(caps, "CAP_NET_RAW"));
    assert_false(has_string(caps, "CAP_AUDIT_WRITE"));
    assert_false(has_string(caps, "CAP_SYS_ADMIN"));
    json_t *lim = json_array_get(json_object_get(p, "rlimits"), 0);
    assert_string_equal(json_string_value(json_object_get(lim, "type")), "RLIMIT_NOFILE");
    assert_int_equal(json_integer_value(json_object_get(lim, "hard")), 4096);
    assert_int_equal(json_integer_value(json_object_get(lim, "soft")), 4096);
    assert_true(json_is_true(json_object_get(p, "noNewPrivileges")));
    json_t *masked = json_object_get(json_object_get(s, "linux"), "maskedPaths");
    assert_true(has_string(masked, "/proc/kcore"));
    json_decref(s);
}

static void test_build_namespaces_mounts(void **state)
{
    (void)state;
    struct req_fixture f;
    fixture(&f);
    f.req.args = f.args;
    f.req.n_args = 2;
    f.req.cell_netns = true;
    f.req.etc_hosts = true;
    f.req.etc_hostname = true;
    f.req.read_only_rootfs = true;
    f.mount.source = RUN "/data/main/volumes/v1";
    f.mount.target = "/data";
    f.mount.read_only = true;
    f.req.mounts = f.mounts;
    f.req.n_mounts = 1;
    json_t *s = build(&f.req, NULL, 4242, NULL, 0);
    char *ns = json_dumps(json_object_get(json_object_get(s, "linux"), "namespaces"), JSON_COMPACT);
    struct kk_derived d = derived("app");
    char want[KK_DERIVE_PATH_SIZE + 256];
    snprintf(
        want, sizeof(want),
        "[{\"type\":\"pid\"},{\"type\":\"ipc\",\"path\":\"/proc/4242/ns/ipc\"},{\"type\":\"uts\",\"path\":"
        "\"/proc/4242/ns/uts\"},{\"type\":\"mount\"},{\"type\":\"network\",\"path\":\"%s\"}]",
        d.netns_path);
    assert_string_equal(ns, want);
    free(ns);
    assert_true(json_is_true(json_object_get(json_object_get(s, "root"), "readonly")));
    char *mounts = json_dumps(json_object_get(s, "mounts"), JSON_COMPACT);
    assert_non_null(strstr(mounts, "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"" RUN
                                   "/data/main/web/prod/cell1/etc-hosts\",\"options\":[\"rbind\",\"ro\""));
    assert_non_null(strstr(mounts, "\"/etc/hostname\""));
    assert_non_null(strstr(mounts, "{\"destination\":\"/data\",\"type\":\"bind\",\"source\":\"" RUN
                                   "/data/main/volumes/v1\",\"options\":[\"rbind\",\"ro\""));
    free(mounts);
    json_decref(s);
    /* The root container makes its own namespaces; host network leaves the network one out. */
    f.req.root = true;
    f.req.cell_netns = false;
    f.req.host_network = true;
    s = build(&f.req, NULL, 4242, NULL, 0);
    ns = json_dumps(json_object_get(json_object_get(s, "linux"), "namespaces"), JSON_COMPACT);
    assert_string_equal(ns,
                        "[{\"type\":\"pid\"},{\"type\":\"ipc\"},{\"type\":\"uts\"},{\"type\":\"mount\"}]");
    free(ns);
    json_decref(s);
}

/* ---- tar ------------------------------------------------------------------------------------------------
 */

struct tarbuf {
    char data[64 * 1024];
    size_t len;
};

static void tar_header(struct tarbuf *t, const char *name, char type, size_t size, bool ustar, bool bad_sum)
{
    char *h = t->data + t->len;
    memset(h, 0, 512);
    snprintf(h, 100, "%s", name);
    snprintf(h + 100, 8, "%07o", 0644);
    snprintf(h + 108, 8, "%07o", 0);
    snprintf(h + 116, 8, "%07o", 0);
    snprintf(h + 124, 12, "%011o", (unsigned)(size & 07777777777u));
    snprintf(h + 136, 12, "%011o", 0);
    h[156] = type;
    if (ustar) {
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
    }
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", bad_sum ? sum + 1 : sum);
    t->len += 512;
}

static void tar_data(struct tarbuf *t, const char *data, size_t len)
{
    memcpy(t->data + t->len, data, len);
    t->len += (len + 511) / 512 * 512;
}

static void tar_file(struct tarbuf *t, const char *name, const char *data)
{
    tar_header(t, name, '0', strlen(data), true, false);
    tar_data(t, data, strlen(data));
}

static int tar_fd(const struct tarbuf *t, bool end)
{
    char path[] = "/tmp/kukeon-test-tar.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, t->data, t->len), (ssize_t)t->len);
    if (end) {
        char zero[1024] = {0};
        assert_int_equal(write(fd, zero, sizeof(zero)), (ssize_t)sizeof(zero));
    }
    return fd;
}

static void test_tar_index(void **state)
{
    (void)state;
    static struct tarbuf t;
    memset(&t, 0, sizeof(t));
    tar_header(&t, "blobs/", '5', 0, true, false);
    tar_file(&t, "./index.json", "{\"a\":1}");
    /* a GNU long name */
    char longname[200];
    memset(longname, 'x', 150);
    longname[150] = '\0';
    tar_header(&t, "././@LongLink", 'L', strlen(longname) + 1, false, false);
    tar_data(&t, longname, strlen(longname) + 1);
    tar_file(&t, "ignored-short-name", "long");
    /* a pax header naming the next member */
    const char *pax = "30 path=blobs/sha256/paxnamed\n";
    tar_header(&t, "PaxHeaders/x", 'x', strlen(pax), true, false);
    tar_data(&t, pax, strlen(pax));
    tar_file(&t, "short", "pax data");
    int fd = tar_fd(&t, true);
    struct ctrd_tar tar;
    struct kk_err err;
    if (ctrd_tar_index(fd, &tar, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(tar.n, 3);
    const struct ctrd_tar_entry *e = ctrd_tar_find(&tar, "index.json");
    assert_non_null(e);
    char *buf = NULL;
    assert_int_equal(ctrd_tar_read(&tar, e, 100, &buf, &err), 0);
    assert_string_equal(buf, "{\"a\":1}");
    free(buf);
    assert_int_equal(ctrd_tar_read(&tar, e, 3, &buf, &err), -1);
    assert_non_null(ctrd_tar_find(&tar, longname));
    e = ctrd_tar_find(&tar, "blobs/sha256/paxnamed");
    assert_non_null(e);
    assert_int_equal(ctrd_tar_read(&tar, e, 100, &buf, &err), 0);
    assert_string_equal(buf, "pax data");
    free(buf);
    char digest[CTRD_DIGEST_SIZE];
    assert_int_equal(ctrd_tar_digest(&tar, e, digest, &err), 0);
    /* sha256("pax data"), from Python's hashlib */
    assert_string_equal(digest, "sha256:d1baac34559cffbce3f3f39581ac4fc3db62124a0af44c85f508229cf291ffdd");
    assert_null(ctrd_tar_find(&tar, "short"));
    ctrd_tar_free(&tar);
    close(fd);
}

static void test_tar_refusals(void **state)
{
    (void)state;
    static struct tarbuf t;
    struct ctrd_tar tar;
    struct kk_err err;
    /* bad checksum */
    memset(&t, 0, sizeof(t));
    tar_header(&t, "a", '0', 0, true, true);
    int fd = tar_fd(&t, true);
    assert_int_equal(ctrd_tar_index(fd, &tar, &err), -1);
    assert_non_null(strstr(err.msg, "bad header at offset 0"));
    close(fd);
    /* a member larger than the file */
    memset(&t, 0, sizeof(t));
    tar_header(&t, "a", '0', 1u << 20, true, false);
    fd = tar_fd(&t, false);
    assert_int_equal(ctrd_tar_index(fd, &tar, &err), -1);
    assert_non_null(strstr(err.msg, "past the end"));
    close(fd);
    /* a pax record whose length lies */
    memset(&t, 0, sizeof(t));
    const char *pax = "99 path=x\n";
    tar_header(&t, "p", 'x', strlen(pax), true, false);
    tar_data(&t, pax, strlen(pax));
    tar_file(&t, "b", "1");
    fd = tar_fd(&t, true);
    assert_int_equal(ctrd_tar_index(fd, &tar, &err), -1);
    assert_non_null(strstr(err.msg, "malformed"));
    close(fd);
    /* not a tar at all, and not a regular file */
    memset(&t, 0, sizeof(t));
    memcpy(t.data, "\x1f\x8b compressed", 13);
    t.len = 1024;
    fd = tar_fd(&t, false);
    assert_int_equal(ctrd_tar_index(fd, &tar, &err), -1);
    assert_non_null(strstr(err.msg, "compressed"));
    close(fd);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(ctrd_tar_index(p[0], &tar, &err), -1);
    assert_non_null(strstr(err.msg, "regular file"));
    close(p[0]);
    close(p[1]);
}

/* ---- digests, names, ids ----------------------------------------------------------------------------------
 */

static void test_chain_ids(void **state)
{
    (void)state;
    char diff[3][CTRD_DIGEST_SIZE], chain[3][CTRD_DIGEST_SIZE];
    const char fill[3] = {'a', 'b', 'c'};
    for (int i = 0; i < 3; i++) {
        memcpy(diff[i], "sha256:", 7);
        memset(diff[i] + 7, fill[i], 64);
        diff[i][71] = '\0';
    }
    struct kk_err err;
    assert_int_equal(ctrd_chain_ids(diff, 3, chain, &err), 0);
    assert_string_equal(chain[0], diff[0]);
    assert_string_equal(chain[1], "sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c");
    assert_string_equal(chain[2], "sha256:c1377126441fb2f5ec2c21ae2a60255331d639e830f0ee1b40a36e52d4c40588");
    memcpy(diff[1], "sha512:", 7);
    assert_int_equal(ctrd_chain_ids(diff, 3, chain, &err), -1);
    assert_false(ctrd_digest_valid("sha256:ABC"));
    assert_false(
        ctrd_digest_valid("sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaG"));
    assert_true(ctrd_digest_valid("sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void test_image_names(void **state)
{
    (void)state;
    const struct {
        const char *in, *out;
    } rows[] = {
        {"busybox", "docker.io/library/busybox:latest"},
        {"busybox:1.36", "docker.io/library/busybox:1.36"},
        {"library/busybox", "docker.io/library/busybox:latest"},
        {"eminwux/kukeon:v1", "docker.io/eminwux/kukeon:v1"},
        {"kukeon.local/busybox:test", "kukeon.local/busybox:test"},
        {"localhost:5000/x", "localhost:5000/x:latest"},
        {"localhost/x", "localhost/x:latest"},
        {"ghcr.io/a/b@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "ghcr.io/a/b@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char out[300];
        struct kk_err err;
        if (ctrd_image_name_canonical(rows[i].in, out, sizeof(out), &err) < 0)
            fail_msg("%s: %s", rows[i].in, err.msg);
        assert_string_equal(out, rows[i].out);
    }
    const char *bad[] = {"", "-x", "a b", "a\"b", "x\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[300];
        struct kk_err err;
        assert_int_equal(ctrd_image_name_canonical(bad[i], out, sizeof(out), &err), -1);
    }
}

static void test_namespaces_and_ids(void **state)
{
    (void)state;
    struct ctrd c;
    memset(&c, 0, sizeof(c));
    strcpy(c.cfg.ns_suffix, "kukeon.io");
    char realm[KK_NAME_SIZE];
    const char *foreign[] = {"default",
                             "moby",
                             "k8s.io",
                             "buildkit",
                             "kukeon.io",
                             ".kukeon.io",
                             "a_b.kukeon.io",
                             "x.other.io",
                             "default.kukeon.io.evil",
                             "a/b.kukeon.io",
                             ""};
    for (size_t i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++)
        if (ctrd_ns_is_ours(&c, foreign[i], realm))
            fail_msg("namespace \"%s\" taken as Kukeon's", foreign[i]);
    assert_true(ctrd_ns_is_ours(&c, "default.kukeon.io", realm));
    assert_string_equal(realm, "default");
    assert_true(ctrd_ns_is_ours(&c, "kuke-system.kukeon.io", realm));
    assert_string_equal(realm, "kuke-system");

    char ns[KK_CTRD_ID_SIZE];
    bool deny;
    struct kk_err err;
    const char *bad_realms[] = {"", "a_b", "../moby", "default/", "x y", "moby\n"};
    for (size_t i = 0; i < sizeof(bad_realms) / sizeof(bad_realms[0]); i++) {
        assert_int_equal(ctrd_ns_for_realm(&c, bad_realms[i], ns, &deny, &err), -1);
        assert_true(deny);
    }
    assert_int_equal(ctrd_ns_for_realm(&c, "moby", ns, &deny, &err), 0);
    assert_string_equal(ns, "moby.kukeon.io");

    char parts[4][KK_NAME_SIZE];
    assert_true(ctrd_split_id("web_prod_cell1_app", parts));
    assert_string_equal(parts[2], "cell1");
    assert_false(ctrd_split_id("web_prod_cell1", parts));
    assert_false(ctrd_split_id("web_prod_cell1_app_x", parts));
    assert_false(ctrd_split_id("web__cell1_app", parts));
    assert_false(ctrd_split_id("some-foreign-container", parts));

    unsigned bit;
    assert_int_equal(ctrd_allow_parse("host-paths", &bit), 0);
    assert_int_equal(bit, CTRD_ALLOW_HOST_PATHS);
    assert_int_equal(ctrd_allow_parse("everything", &bit), -1);
}

static void test_index_pick(void **state)
{
    (void)state;
    const char *doc = "{\"manifests\":["
                      "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:"
                      "1111111111111111111111111111111111111111111111111111111111111111\",\"size\":10,"
                      "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
                      "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:"
                      "2222222222222222222222222222222222222222222222222222222222222222\",\"size\":11,"
                      "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
    json_t *j = json_loads(doc, 0, NULL);
    struct ctrd_desc d;
    struct kk_err err;
    assert_int_equal(ctrd_index_pick(j, "amd64", &d, &err), 0);
    assert_int_equal(d.size, 11);
    assert_int_equal(ctrd_index_pick(j, "arm64", &d, &err), 0);
    assert_int_equal(d.size, 10);
    assert_int_equal(ctrd_index_pick(j, "riscv64", &d, &err), -1);
    assert_non_null(strstr(err.msg, "linux/riscv64"));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_plain_request_allowed),
        cmocka_unit_test(test_check_bind_sources),
        cmocka_unit_test(test_check_policy_fields),
        cmocka_unit_test(test_check_values),
        cmocka_unit_test(test_build_argv_rules),
        cmocka_unit_test(test_build_env_user_cwd),
        cmocka_unit_test(test_build_caps_rlimits),
        cmocka_unit_test(test_build_namespaces_mounts),
        cmocka_unit_test(test_tar_index),
        cmocka_unit_test(test_tar_refusals),
        cmocka_unit_test(test_chain_ids),
        cmocka_unit_test(test_image_names),
        cmocka_unit_test(test_namespaces_and_ids),
        cmocka_unit_test(test_index_pick),
    };
    return cmocka_run_group_tests_name("ctrd", tests, NULL, NULL);
}
