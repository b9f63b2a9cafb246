/* kuke-cgd on the machine's real cgroup mounts, started as kukeond starts it (kk_helper_launch), with
 * this test playing the API worker: the delegation it does as root, the five-level tree with the
 * reference's paths, knob writes (or, where the host lacks the controller, a failure naming it), a
 * real process tree frozen, thawed and killed through it, the refusal to delete a populated cgroup,
 * forged requests (each DENIED, files outside unchanged, one audit line, the helper alive), a mount
 * planted inside the tree, the hybrid host's v1 directories, and its sandbox.
 *
 * Needs root. Its cgroup root is /<KUKEON_TEST_PREFIX>-cgd, plus a sibling "-outside" cgroup as the
 * target forged requests aim at; both are removed at the end (and by tests/harness/cleanup.sh after a
 * crash), in the v2 mount and in every v1 hierarchy. The only processes it ends are its own: the
 * process tree it starts, by the cgroup it placed them in, and the helper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/cgd_client.h"
#include "ipc/client.h"
#include "ipc/launch.h"
#include "security/profile.h"

extern char **environ;

#define PATH_SIZE 1024
#define SNAP_SIZE 16384
#define V1_MAX    16

static struct {
    const char *skip_reason;
    char prefix[64];
    char mount[256];             /* cgroup v2 mount */
    char root_rel[128];          /* "/kt123-cgd" */
    char root[PATH_SIZE];        /* mount + root_rel */
    char outside[PATH_SIZE];     /* a sibling cgroup the forged requests aim at */
    char tmp_outside[PATH_SIZE]; /* a plain directory outside cgroupfs */
    char v1[V1_MAX][256];        /* cgroup v1 mount points (hybrid host) */
    size_t n_v1;
    char offered[256]; /* the v2 mount's cgroup.controllers */
    uid_t cgd_uid;
    gid_t cgd_gid;
    struct kk_helper_proc hp;
    bool helper_up;
    char bind_target[PATH_SIZE]; /* a bind mount this test made, to undo */
    pid_t tree_pid;              /* the process tree's first process */
    char audit[1 << 20];
    size_t audit_len;
} run;

/* The layers of the test's tree. */
static const struct kk_derive_names realm = {"main", NULL, NULL, NULL, NULL};
static const struct kk_derive_names space = {"main", "default", NULL, NULL, NULL};
static const struct kk_derive_names stack = {"main", "default", "web", NULL, NULL};
static const struct kk_derive_names cell = {"main", "default", "web", "app", NULL};
static const struct kk_derive_names container = {"main", "default", "web", "app", "nginx"};
static const char *const tree_rel[] = {"main", "main/default", "main/default/web", "main/default/web/app",
                                       "main/default/web/app/default_web_app_nginx"};

#define REQUIRE_RUN()                                                                                        \
    do {                                                                                                     \
        if (run.skip_reason != NULL) {                                                                       \
            printf("# SKIP %s\n", run.skip_reason);                                                          \
            skip();                                                                                          \
        }                                                                                                    \
    } while (0)

/* ---- host facts, found independently of kuke-cgd ------------------------------------------------ */

static void find_mounts(void)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return;
    char line[4096];
    while (fgets(line, sizeof(line), f) != NULL) {
        char *sep = strstr(line, " - ");
        if (sep == NULL)
            continue;
        bool v2 = strncmp(sep, " - cgroup2 ", 11) == 0, v1 = strncmp(sep, " - cgroup ", 10) == 0;
        if (!v2 && !v1)
            continue;
        char *save = NULL, *field = strtok_r(line, " ", &save);
        for (int i = 0; field != NULL && i < 4; i++)
            field = strtok_r(NULL, " ", &save);
        if (field == NULL)
            continue;
        if (v2 && run.mount[0] == '\0')
            kk_strlcpy(run.mount, field, sizeof(run.mount));
        /* Only hierarchies with a controller or name=systemd: the ones runc and kuke-cgd use. */
        bool runc_joins = strstr(sep, "name=") == NULL || strstr(sep, "name=systemd") != NULL;
        if (v1 && runc_joins && run.n_v1 < V1_MAX)
            kk_strlcpy(run.v1[run.n_v1++], field, sizeof(run.v1[0]));
    }
    fclose(f);
}

static void path_of(char *buf, size_t size, const char *base, const char *rel)
{
    assert_int_equal(kk_snprintf(buf, size, NULL, "path", "%s/%s", base, rel), 0);
}

static bool read_text(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return false;
    buf[n] = '\0';
    if (n > 0 && buf[n - 1] == '\n')
        buf[n - 1] = '\0';
    return true;
}

static bool write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool offered(const char *controller)
{
    char list[300];
    kk_snprintf(list, sizeof(list), NULL, "list", " %s ", run.offered);
    char want[40];
    kk_snprintf(want, sizeof(want), NULL, "want", " %s ", controller);
    return strstr(list, want) != NULL;
}

/* ---- the helper ---------------------------------------------------------------------------------- */

static void audit_drain(int wait_ms, const char *until)
{
    for (int waited = 0;; waited += 20) {
        for (;;) {
            if (run.audit_len + 1 >= sizeof(run.audit))
                break;
            ssize_t n =
                read(run.hp.audit_fd, run.audit + run.audit_len, sizeof(run.audit) - 1 - run.audit_len);
            if (n <= 0)
                break;
            run.audit_len += (size_t)n;
        }
        run.audit[run.audit_len] = '\0';
        if (until == NULL || strstr(run.audit, until) != NULL || waited >= wait_ms)
            return;
        struct pollfd p = {.fd = run.hp.audit_fd, .events = POLLIN};
        poll(&p, 1, 20);
    }
}

static size_t count_lines_with(const char *needle)
{
    size_t n = 0;
    for (const char *p = run.audit; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void print_helper_log(void)
{
    if (run.hp.log_fd < 0)
        return;
    char buf[8192];
    ssize_t n = read(run.hp.log_fd, buf, sizeof(buf) - 1);
    if (n > 0) {
        buf[n] = '\0';
        printf("# kuke-cgd log:\n");
        for (char *save = NULL, *l = strtok_r(buf, "\n", &save); l != NULL; l = strtok_r(NULL, "\n", &save))
            printf("#   %s\n", l);
    }
}

static bool helper_alive(void)
{
    if (!run.helper_up || waitpid(run.hp.pid, NULL, WNOHANG) != 0)
        return false;
    struct kk_err err;
    Kukeon__Ipc__CgdHostReply *h = NULL;
    if (kk_cgd_host(run.hp.sock, &h, &err) < 0)
        return false;
    protobuf_c_message_free_unpacked(&h->base, NULL);
    return true;
}

/* ---- cleanup, also after failures ----------------------------------------------------------------- */

static int rmdir_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag == FTW_DP)
        rmdir(path);
    return 0;
}

static void remove_cgroup_tree(const char *path)
{
    if (!is_dir(path))
        return;
    char f[PATH_SIZE];
    /* Whatever the test left running in it is the test's own: thaw it so that it can die, kill it. */
    path_of(f, sizeof(f), path, "cgroup.freeze");
    write_text(f, "0");
    path_of(f, sizeof(f), path, "cgroup.kill");
    write_text(f, "1");
    for (int i = 0; i < 50; i++) {
        char ev[256];
        path_of(f, sizeof(f), path, "cgroup.events");
        if (!read_text(f, ev, sizeof(ev)) || strstr(ev, "populated 0") != NULL)
            break;
        usleep(20000);
    }
    /* FTW_PHYS|FTW_MOUNT: never through a link or into another mount. */
    nftw(path, rmdir_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void cleanup_all(void)
{
    if (run.bind_target[0] != '\0') {
        if (umount2(run.bind_target, MNT_DETACH) < 0)
            printf("# could not unmount %s: %s\n", run.bind_target, strerror(errno));
        run.bind_target[0] = '\0';
    }
    if (run.helper_up) {
        kk_helper_stop(&run.hp, 2000);
        run.helper_up = false;
    }
    if (run.tree_pid > 0) {
        kill(run.tree_pid, SIGKILL);
        waitpid(run.tree_pid, NULL, 0);
        run.tree_pid = 0;
    }
    if (run.root[0] != '\0')
        remove_cgroup_tree(run.root);
    if (run.outside[0] != '\0')
        remove_cgroup_tree(run.outside);
    for (size_t i = 0; i < run.n_v1; i++) {
        char p[PATH_SIZE];
        kk_snprintf(p, sizeof(p), NULL, "path", "%s%s", run.v1[i], run.root_rel);
        if (is_dir(p))
            nftw(p, rmdir_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
    }
    if (run.tmp_outside[0] != '\0') {
        char f[PATH_SIZE];
        path_of(f, sizeof(f), run.tmp_outside, "memory.max");
        unlink(f);
        rmdir(run.tmp_outside);
    }
}

static int group_setup(void **state)
{
    if (geteuid() != 0) {
        run.skip_reason =
            "kuke-cgd tests need root (it delegates a cgroup and drops to kukeon-cgd); run 'sudo make check'";
        return 0;
    }
    const char *prefix = getenv("KUKEON_TEST_PREFIX"), *build = getenv("BUILD"),
               *tmp = getenv("KUKEON_TEST_TMP");
    if (prefix == NULL || prefix[0] == '\0' || build == NULL || tmp == NULL) {
        run.skip_reason = "KUKEON_TEST_PREFIX, KUKEON_TEST_TMP or BUILD unset; run through tests/run.sh";
        return 0;
    }
    find_mounts();
    if (run.mount[0] == '\0') {
        run.skip_reason = "this host has no cgroup v2 mount";
        return 0;
    }
    kk_strlcpy(run.prefix, prefix, sizeof(run.prefix));
    kk_snprintf(run.root_rel, sizeof(run.root_rel), NULL, "root", "/%s-cgd", prefix);
    kk_snprintf(run.root, sizeof(run.root), NULL, "root", "%s%s", run.mount, run.root_rel);
    kk_snprintf(run.outside, sizeof(run.outside), NULL, "outside", "%s/%s-cgd-outside", run.mount, prefix);
    kk_snprintf(run.tmp_outside, sizeof(run.tmp_outside), NULL, "tmp", "%s/cgd-outside", tmp);
    char f[PATH_SIZE];
    path_of(f, sizeof(f), run.mount, "cgroup.controllers");
    if (!read_text(f, run.offered, sizeof(run.offered)))
        return -1;

    struct kk_err err = {0};
    if (kk_accounts_ensure(&err) < 0 ||
        kk_role_resolve_ids(KK_ROLE_CGD, &run.cgd_uid, &run.cgd_gid, &err) < 0) {
        fprintf(stderr, "accounts: %s\n", err.msg);
        return -1;
    }
    /* What forged requests aim at: a cgroup beside the root, and a plain directory with a file named
     * like a knob. */
    if (mkdir(run.outside, 0755) < 0 || mkdir(run.tmp_outside, 0755) < 0)
        return -1;
    path_of(f, sizeof(f), run.tmp_outside, "memory.max");
    int fd = open(f, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, "sentinel\n", 9) != 9)
        return -1;
    close(fd);

    struct kk_config cfg;
    kk_config_defaults(&cfg);
    char helper[PATH_SIZE];
    kk_snprintf(helper, sizeof(helper), NULL, "helper", "%s/libexec/kuke-cgd", build);
    if (kk_config_set(&cfg, "cgroupRoot", run.root_rel, "test", &err) < 0 ||
        kk_config_set(&cfg, "defaultMemoryLimitBytes", "67108864", "test", &err) < 0) {
        fprintf(stderr, "config: %s\n", err.msg);
        return -1;
    }
    int cfd = kk_config_memfd(&cfg, &err);
    if (cfd < 0 || kk_helper_launch(helper, cfd, -1, true, &run.hp, &err) < 0) {
        fprintf(stderr, "launch: %s\n", err.msg);
        return -1;
    }
    close(cfd);
    run.helper_up = true;
    char name[64];
    if (kk_ipc_hello(run.hp.sock, "api", name, sizeof(name), &err) < 0) {
        fprintf(stderr, "HELLO: %s\n", err.msg);
        print_helper_log();
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    if (run.skip_reason == NULL)
        print_helper_log();
    cleanup_all();
    return 0;
}

/* ---- start-up: discovery and delegation ----------------------------------------------------------- */

static void test_host_report(void **state)
{
    REQUIRE_RUN();
    struct kk_err err;
    Kukeon__Ipc__CgdHostReply *h = NULL;
    if (kk_cgd_host(run.hp.sock, &h, &err) < 0)
        fail_msg("HOST: %s", err.msg);
    assert_string_equal(h->mount, run.mount);
    assert_string_equal(h->root, run.root_rel);
    assert_string_equal(h->offered, run.offered);
    /* missing = cpu memory io pids minus what the mount offers, in that order */
    char want[128] = "";
    const char *layer[] = {"cpu", "memory", "io", "pids"};
    for (size_t i = 0; i < 4; i++)
        if (!offered(layer[i])) {
            size_t l = strlen(want);
            snprintf(want + l, sizeof(want) - l, "%s%s", l ? " " : "", layer[i]);
        }
    assert_string_equal(h->missing, want);
    assert_int_equal(h->n_v1, run.n_v1);
    for (size_t i = 0; i < h->n_v1; i++) {
        assert_string_equal(h->v1[i]->mount, run.v1[i]);
        assert_true(h->v1[i]->usable);
    }
    printf("# cgroup v2 %s offers \"%s\", lacks \"%s\"; %zu v1 hierarchies; landlock: %s\n", h->mount,
           h->offered, h->missing, h->n_v1, h->landlock);
    protobuf_c_message_free_unpacked(&h->base, NULL);
}

static void expect_owner(const char *path, uid_t uid)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        fail_msg("%s: %s", path, strerror(errno));
    if (st.st_uid != uid)
        fail_msg("%s belongs to uid %u, want %u", path, (unsigned)st.st_uid, (unsigned)uid);
}

static void test_delegation(void **state)
{
    REQUIRE_RUN();
    char f[PATH_SIZE];
    expect_owner(run.root, run.cgd_uid);
    const char *const delegated[] = {"cgroup.procs", "cgroup.subtree_control", "cgroup.threads"};
    for (size_t i = 0; i < 3; i++) {
        path_of(f, sizeof(f), run.root, delegated[i]);
        expect_owner(f, run.cgd_uid);
    }
    /* The root's own ceiling stays root's. */
    const char *const kept[] = {"cgroup.freeze", "cgroup.kill", "cgroup.max.descendants", "memory.max",
                                "pids.max"};
    for (size_t i = 0; i < 5; i++) {
        path_of(f, sizeof(f), run.root, kept[i]);
        if (access(f, F_OK) == 0)
            expect_owner(f, 0);
    }
    /* Hybrid host: <v1 mount>/<root> exists in each hierarchy, as a directory kuke-cgd owns. */
    for (size_t i = 0; i < run.n_v1; i++) {
        kk_snprintf(f, sizeof(f), NULL, "path", "%s%s", run.v1[i], run.root_rel);
        expect_owner(f, run.cgd_uid);
        char procs[PATH_SIZE];
        path_of(procs, sizeof(procs), f, "cgroup.procs");
        expect_owner(procs, 0);
    }
}

/* ---- the tree ----------------------------------------------------------------------------------- */

static void create_tree(void)
{
    const struct kk_derive_names *layers[] = {&realm, &space, &stack, &cell, &container};
    for (size_t i = 0; i < 5; i++) {
        struct kk_err err;
        struct kk_cgd_created out;
        if (kk_cgd_create(run.hp.sock, layers[i], false, &out, &err) < 0)
            fail_msg("create %s: %s", tree_rel[i], err.msg);
    }
}

static void test_create_tree(void **state)
{
    REQUIRE_RUN();
    const struct kk_derive_names *layers[] = {&realm, &space, &stack, &cell, &container};
    for (size_t i = 0; i < 5; i++) {
        struct kk_err err;
        struct kk_cgd_created out;
        if (kk_cgd_create(run.hp.sock, layers[i], false, &out, &err) < 0)
            fail_msg("create %s: %s", tree_rel[i], err.msg);
        /* The reference's path, relative to the mount (kukeon-reference.md 1.3). */
        char want[PATH_SIZE], dir[PATH_SIZE];
        kk_snprintf(want, sizeof(want), NULL, "path", "%s/%s", run.root_rel, tree_rel[i]);
        assert_string_equal(out.cgroup_path, want);
        assert_true(out.created);
        path_of(dir, sizeof(dir), run.root, tree_rel[i]);
        assert_true(is_dir(dir));
        expect_owner(dir, run.cgd_uid);
        /* Layers above a container pass on cpu, memory, io, pids, as far as the host offers them. */
        char subtree[256], f[PATH_SIZE];
        path_of(f, sizeof(f), dir, "cgroup.subtree_control");
        assert_true(read_text(f, subtree, sizeof(subtree)));
        assert_string_equal(out.subtree_controllers, subtree);
        const char *layer[] = {"cpu", "memory", "io", "pids"};
        for (size_t c = 0; c < 4; c++) {
            bool want_on = i < 4 && offered(layer[c]);
            if ((strstr(subtree, layer[c]) != NULL) != want_on)
                fail_msg("%s: subtree_control \"%s\", %s %s", tree_rel[i], subtree, layer[c],
                         want_on ? "should be on" : "should be off");
        }
        if (i < 4 && !offered("memory"))
            assert_non_null(strstr(out.missing, "memory"));
        /* Hybrid host: the same layers, down to the cell, in every v1 hierarchy, kuke-cgd's own. */
        for (size_t h = 0; h < run.n_v1; h++) {
            char v1dir[PATH_SIZE];
            kk_snprintf(v1dir, sizeof(v1dir), NULL, "path", "%s%s/%s", run.v1[h], run.root_rel, tree_rel[i]);
            if (i < 4) {
                if (!is_dir(v1dir))
                    fail_msg("%s was not created", v1dir);
                expect_owner(v1dir, run.cgd_uid);
            } else if (is_dir(v1dir)) {
                fail_msg("%s: container directories in v1 are runc's to make", v1dir);
            }
        }
    }
    /* Again: idempotent. */
    struct kk_err err;
    struct kk_cgd_created out;
    assert_int_equal(kk_cgd_create(run.hp.sock, &cell, false, &out, &err), 0);
    assert_false(out.created);

    struct kk_cgd_stat st;
    if (kk_cgd_stat(run.hp.sock, &cell, &st, &err) < 0)
        fail_msg("stat: %s", err.msg);
    assert_true(st.exists);
    assert_int_equal(st.owner_uid, run.cgd_uid);
    assert_false(st.populated);
    assert_int_equal(st.nr_descendants, 1);
    assert_int_equal(st.n_v1_present, run.n_v1);
    const struct kk_derive_names ghost = {"main", "nothere", NULL, NULL, NULL};
    assert_int_equal(kk_cgd_stat(run.hp.sock, &ghost, &st, &err), 0);
    assert_false(st.exists);
}

static void test_create_refusals(void **state)
{
    REQUIRE_RUN();
    struct kk_err err;
    /* The parent first. */
    const struct kk_derive_names orphan = {"main", "default", "nostack", "app", NULL};
    assert_int_equal(kk_cgd_create(run.hp.sock, &orphan, false, NULL, &err), -1);
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "create the stack first"));
    /* nestedCgroupRuntime is a cell's. */
    assert_int_equal(kk_cgd_create(run.hp.sock, &stack, true, NULL, &err), -1);
    assert_int_equal(err.kind, KK_ERR_DENIED);
    /* A name that is a cgroup interface file's. */
    const struct kk_derive_names clash = {"memory.max", NULL, NULL, NULL, NULL};
    assert_int_equal(kk_cgd_create(run.hp.sock, &clash, false, NULL, &err), -1);
    assert_int_equal(err.kind, KK_ERR_DENIED);
    assert_non_null(strstr(err.msg, "collide with cgroup interface files"));
    char dir[PATH_SIZE];
    path_of(dir, sizeof(dir), run.root, "memory.max");
    assert_false(is_dir(dir));
}

/* ---- knobs -------------------------------------------------------------------------------------- */

struct knob_case {
    const char *knob, *controller, *value, *written;
};

static void block_device(char *out, size_t size)
{
    /* The first block device's MAJ:MIN; io.max needs a real one. */
    kk_strlcpy(out, "8:0", size);
    DIR *d = opendir("/sys/block");
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "loop", 4) == 0 || strncmp(e->d_name, "ram", 3) == 0)
            continue;
        char p[PATH_SIZE], dev[32];
        kk_snprintf(p, sizeof(p), NULL, "path", "/sys/block/%s/dev", e->d_name);
        if (read_text(p, dev, sizeof(dev))) {
            kk_strlcpy(out, dev, size);
            break;
        }
    }
    closedir(d);
}

static void test_knobs(void **state)
{
    REQUIRE_RUN();
    create_tree();
    char io[64], io_value[96];
    block_device(io, sizeof(io));
    kk_snprintf(io_value, sizeof(io_value), NULL, "io", "%s wbps=1048576", io);
    const struct knob_case cases[] = {
        {"memory.max", "memory", "268435456", "268435456"},
        {"memory.high", "memory", "max", "max"},
        {"memory.swap.max", "memory", "0", "0"},
        {"cpu.max", "cpu", "50000 100000", "50000 100000"},
        {"cpu.weight", "cpu", "250", "250"},
        {"pids.max", "pids", "64", "64"},
        {"io.max", "io", io_value, io_value},
    };
    int tested = 0, refused = 0;
    for (size_t i = 0; i < KK_ARRAY_SIZE(cases); i++) {
        const struct knob_case *c = &cases[i];
        struct kk_err err;
        char written[KK_CGD_VALUE_SIZE];
        int rc = kk_cgd_set(run.hp.sock, &cell, c->knob, c->value, written, &err);
        if (offered(c->controller)) {
            if (rc < 0 && strcmp(c->knob, "memory.swap.max") == 0 && strstr(err.msg, "has no") != NULL)
                continue; /* swap accounting off: the kernel has no such file, and said so */
            if (rc < 0)
                fail_msg("%s=%s: %s", c->knob, c->value, err.msg);
            assert_string_equal(written, c->written);
            char f[PATH_SIZE], dir[PATH_SIZE], got[128];
            path_of(dir, sizeof(dir), run.root, tree_rel[3]);
            path_of(f, sizeof(f), dir, c->knob);
            assert_true(read_text(f, got, sizeof(got)));
            if (strncmp(got, c->written, strlen(c->written)) != 0 && strcmp(c->knob, "io.max") != 0)
                fail_msg("%s reads \"%s\" after writing \"%s\"", c->knob, got, c->written);
            tested++;
        } else {
            /* The host lacks the controller: an error (not a refusal) that names it. */
            char want[64];
            kk_snprintf(want, sizeof(want), NULL, "want", "the %s controller is missing", c->controller);
            if (rc == 0 || err.kind == KK_ERR_DENIED || strstr(err.msg, want) == NULL)
                fail_msg("%s on a host without %s: rc %d, %s: %s", c->knob, c->controller, rc,
                         kk_err_kind_name(err.kind), err.msg);
            refused++;
        }
    }
    printf("# knob writes tested: %d; refused for a missing controller (named in the message): %d\n", tested,
           refused);
}

static void test_resources(void **state)
{
    REQUIRE_RUN();
    create_tree();
    struct kk_err err;
    struct kk_cgd_knob_value out[KK_CGD_RESOURCES_MAX];
    size_t n = 0;
    /* Out-of-range values are refused before any controller is looked at. */
    const struct kk_cgd_resources bad[] = {{-5, 0, 0}, {0, 1, 0}, {0, 262145, 0}, {0, 0, -2}, {1024, 0, 0}};
    for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
        assert_int_equal(kk_cgd_resources(run.hp.sock, &container, &bad[i], out, &n, &err), -1);
        assert_int_equal(err.kind, KK_ERR_DENIED);
    }
    assert_int_equal(kk_cgd_resources(run.hp.sock, &cell, &(struct kk_cgd_resources){0, 0, 0}, out, &n, &err),
                     -1);
    assert_int_equal(err.kind, KK_ERR_DENIED);

    /* 128 MiB, 1024 shares, 100 pids: memory.max 134217728, cpu.weight 39 (runc's conversion), pids.max 100.
     */
    const struct kk_cgd_resources res = {134217728, 1024, 100};
    int rc = kk_cgd_resources(run.hp.sock, &container, &res, out, &n, &err);
    if (offered("memory") && offered("cpu") && offered("pids")) {
        if (rc < 0)
            fail_msg("resources: %s", err.msg);
        assert_int_equal(n, 3);
        assert_string_equal(out[0].knob, "memory.max");
        assert_string_equal(out[0].value, "134217728");
        assert_string_equal(out[1].knob, "cpu.weight");
        assert_string_equal(out[1].value, "39");
        assert_string_equal(out[2].knob, "pids.max");
        assert_string_equal(out[2].value, "100");
    } else {
        const char *first = !offered("memory") ? "memory" : !offered("cpu") ? "cpu" : "pids";
        char want[64];
        kk_snprintf(want, sizeof(want), NULL, "want", "the %s controller is missing", first);
        if (rc == 0 || err.kind == KK_ERR_DENIED || strstr(err.msg, want) == NULL)
            fail_msg("resources on a host without %s: %s", first, err.msg);
        /* All or nothing: nothing was written. */
        char f[PATH_SIZE], dir[PATH_SIZE], got[64];
        path_of(dir, sizeof(dir), run.root, tree_rel[4]);
        path_of(f, sizeof(f), dir, "pids.max");
        if (read_text(f, got, sizeof(got)))
            assert_string_equal(got, "max");
        printf("# resources refused as designed: %s\n", err.msg);
    }
    /* Nothing set: the server's defaultMemoryLimitBytes (64 MiB here) is the memory limit. */
    rc = kk_cgd_resources(run.hp.sock, &container, &(struct kk_cgd_resources){0, 0, 0}, out, &n, &err);
    if (offered("memory")) {
        assert_int_equal(rc, 0);
        assert_int_equal(n, 1);
        assert_string_equal(out[0].value, "67108864");
    } else {
        assert_int_equal(rc, -1);
        assert_non_null(strstr(err.msg, "the memory controller is missing"));
    }
}

/* ---- a real process tree ----------------------------------------------------------------------------- */

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static bool events_say(const char *dir, const char *what)
{
    char f[PATH_SIZE], ev[256];
    path_of(f, sizeof(f), dir, "cgroup.events");
    return read_text(f, ev, sizeof(ev)) && strstr(ev, what) != NULL;
}

static int count_procs(const char *dir)
{
    char f[PATH_SIZE], procs[4096];
    path_of(f, sizeof(f), dir, "cgroup.procs");
    if (!read_text(f, procs, sizeof(procs)) || procs[0] == '\0')
        return 0;
    int n = 1;
    for (const char *p = procs; *p != '\0'; p++)
        n += *p == '\n';
    return n;
}

static void test_freeze_thaw_kill(void **state)
{
    REQUIRE_RUN();
    create_tree();
    char cell_dir[PATH_SIZE], ctr_dir[PATH_SIZE], procs[PATH_SIZE], beat[PATH_SIZE];
    path_of(cell_dir, sizeof(cell_dir), run.root, tree_rel[3]);
    path_of(ctr_dir, sizeof(ctr_dir), run.root, tree_rel[4]);
    path_of(procs, sizeof(procs), ctr_dir, "cgroup.procs");
    path_of(beat, sizeof(beat), getenv("KUKEON_TEST_TMP"), "cgd-heartbeat");
    unlink(beat);

    /* A shell with a heartbeat loop and a sleeper: three processes or more, placed (by this test, as
     * root; kuke-cgd refuses to) in the container's cgroup inside the cell before it starts. */
    int sync[2];
    assert_int_equal(pipe2(sync, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char c;
        close(sync[1]);
        if (read(sync[0], &c, 1) != 1)
            _exit(3);
        char script[PATH_SIZE + 128];
        snprintf(script, sizeof(script), "while :; do echo x >> '%s'; sleep 0.05; done & sleep 300 & wait",
                 beat);
        execl("/bin/sh", "sh", "-c", script, (char *)NULL);
        _exit(4);
    }
    run.tree_pid = pid;
    close(sync[0]);
    char pidtext[24];
    snprintf(pidtext, sizeof(pidtext), "%d", (int)pid);
    assert_true(write_text(procs, pidtext));
    assert_int_equal(write(sync[1], "g", 1), 1);
    close(sync[1]);
    for (int i = 0; i < 100 && (count_procs(ctr_dir) < 3 || file_size(beat) <= 0); i++)
        usleep(20000);
    assert_true(count_procs(ctr_dir) >= 3);
    assert_true(file_size(beat) > 0);

    struct kk_err err;
    /* Freeze the cell: the heartbeat stops. */
    if (kk_cgd_freeze(run.hp.sock, &cell, true, 0, &err) < 0)
        fail_msg("freeze: %s", err.msg);
    assert_true(events_say(cell_dir, "frozen 1"));
    assert_true(events_say(ctr_dir, "frozen 1"));
    off_t frozen_size = file_size(beat);
    usleep(400000);
    assert_int_equal(file_size(beat), frozen_size);

    struct kk_cgd_usage u;
    if (kk_cgd_usage(run.hp.sock, &cell, &u, &err) < 0)
        fail_msg("usage: %s", err.msg);
    assert_true(u.populated);
    assert_true(u.frozen);
    assert_true(u.cpu_usage_usec > 0);
    assert_int_equal(u.has_memory_current, offered("memory"));
    assert_int_equal(u.has_pids_current, offered("pids"));

    /* Thaw: it beats again. */
    if (kk_cgd_freeze(run.hp.sock, &cell, false, 0, &err) < 0)
        fail_msg("thaw: %s", err.msg);
    assert_true(events_say(cell_dir, "frozen 0"));
    for (int i = 0; i < 100 && file_size(beat) == frozen_size; i++)
        usleep(20000);
    assert_true(file_size(beat) > frozen_size);

    /* A populated cgroup is not deleted; the refusal names what keeps it busy. */
    assert_int_equal(kk_cgd_delete(run.hp.sock, &cell, NULL, &err), -1);
    assert_int_equal(err.kind, KK_ERR_DENIED);
    assert_non_null(strstr(err.msg, "default_web_app_nginx (pids "));
    assert_non_null(strstr(err.msg, pidtext));
    assert_true(is_dir(ctr_dir));
    audit_drain(2000, "op=cgroup.delete");
    assert_non_null(strstr(run.audit, "decision=denied reason=\"state: cannot delete cell cgroup"));

    /* Kill the whole subtree. */
    bool emptied = false;
    if (kk_cgd_kill(run.hp.sock, &cell, 0, &emptied, &err) < 0)
        fail_msg("kill: %s", err.msg);
    assert_true(emptied);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    run.tree_pid = 0;
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(count_procs(ctr_dir), 0);
    unlink(beat);

    /* Empty now: the container goes, and the cell. */
    struct kk_cgd_deleted del;
    if (kk_cgd_delete(run.hp.sock, &container, &del, &err) < 0)
        fail_msg("delete container: %s", err.msg);
    assert_true(del.existed);
    assert_int_equal(del.removed, 1);
    assert_false(is_dir(ctr_dir));
    if (kk_cgd_delete(run.hp.sock, &cell, &del, &err) < 0)
        fail_msg("delete cell: %s", err.msg);
    assert_int_equal(del.removed, 1);
    assert_int_equal(del.v1_removed, run.n_v1);
    assert_false(is_dir(cell_dir));
}

/* ---- forged requests ----------------------------------------------------------------------------- */

/* Everything a forged request could reach: files and listings outside the root and inside it. */
static void snap_file(char *snap, size_t size, const char *path)
{
    char text[1024] = "(absent)";
    read_text(path, text, sizeof(text));
    size_t l = strlen(snap);
    snprintf(snap + l, size - l, "%s=%s\n", path, text);
}

/* Subdirectories of dir; in the mount root, only this run's (other runs come and go beside it). */
static void snap_listing(char *snap, size_t size, const char *dir)
{
    bool mount_root = strcmp(dir, run.mount) == 0;
    DIR *d = opendir(dir);
    size_t l = strlen(snap);
    snprintf(snap + l, size - l, "%s:", dir);
    if (d == NULL)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_type != DT_DIR || (mount_root && strncmp(e->d_name, run.prefix, strlen(run.prefix)) != 0))
            continue;
        l = strlen(snap);
        snprintf(snap + l, size - l, " %s", e->d_name);
    }
    closedir(d);
    l = strlen(snap);
    snprintf(snap + l, size - l, "\n");
}

/* The files a forged request could aim at in dir. The mount root's cgroup.procs changes with every
 * process on the host, so it is not compared; the rest of the root's files are. */
static void snapshot_dir(char *snap, size_t size, const char *dir)
{
    const char *const files[] = {"cgroup.subtree_control",
                                 "cgroup.freeze",
                                 "cgroup.max.descendants",
                                 "cgroup.max.depth",
                                 "memory.max",
                                 "pids.max",
                                 "cpu.weight",
                                 "cgroup.procs"};
    char f[PATH_SIZE];
    snap_listing(snap, size, dir);
    size_t n = KK_ARRAY_SIZE(files) - (strcmp(dir, run.mount) == 0 ? 1 : 0);
    for (size_t i = 0; i < n; i++) {
        path_of(f, sizeof(f), dir, files[i]);
        snap_file(snap, size, f);
    }
}

/* What lies outside the tree: the cgroup beside the root and a plain file named like a knob. */
static void snapshot_outside(char *snap, size_t size)
{
    snap[0] = '\0';
    char f[PATH_SIZE];
    snapshot_dir(snap, size, run.outside);
    path_of(f, sizeof(f), run.tmp_outside, "memory.max");
    snap_file(snap, size, f);
}

/* ...and what a forged request could reach above or inside it: the mount root, the delegated root,
 * the realm. */
static void snapshot(char *snap, size_t size)
{
    snapshot_outside(snap, size);
    char realm_dir[PATH_SIZE];
    path_of(realm_dir, sizeof(realm_dir), run.root, "main");
    snapshot_dir(snap, size, run.mount);
    snapshot_dir(snap, size, run.root);
    snapshot_dir(snap, size, realm_dir);
}

enum forged_op { F_CREATE, F_SET, F_FREEZE, F_DELETE, F_KILL, F_RESOURCES };

struct forged_case {
    const char *what;
    enum forged_op op;
    struct kk_derive_names names;
    const char *knob, *value;
    const char *reason; /* the deny reason name the message must carry */
};

static int forged_call(const struct forged_case *c, struct kk_err *err)
{
    switch (c->op) {
    case F_CREATE:
        return kk_cgd_create(run.hp.sock, &c->names, false, NULL, err);
    case F_SET:
        return kk_cgd_set(run.hp.sock, &c->names, c->knob, c->value, NULL, err);
    case F_FREEZE:
        return kk_cgd_freeze(run.hp.sock, &c->names, true, 0, err);
    case F_DELETE:
        return kk_cgd_delete(run.hp.sock, &c->names, NULL, err);
    case F_KILL:
        return kk_cgd_kill(run.hp.sock, &c->names, 0, NULL, err);
    case F_RESOURCES:
        return kk_cgd_resources(run.hp.sock, &c->names, &(struct kk_cgd_resources){0, 0, 0}, NULL, NULL, err);
    }
    return 0;
}

#define N1(a)                                                                                                \
    {                                                                                                        \
        a, NULL, NULL, NULL, NULL                                                                            \
    }
#define N2(a, b)                                                                                             \
    {                                                                                                        \
        a, b, NULL, NULL, NULL                                                                               \
    }
#define N3(a, b, c)                                                                                          \
    {                                                                                                        \
        a, b, c, NULL, NULL                                                                                  \
    }
#define N4(a, b, c, d)                                                                                       \
    {                                                                                                        \
        a, b, c, d, NULL                                                                                     \
    }
#define N5(a, b, c, d, e)                                                                                    \
    {                                                                                                        \
        a, b, c, d, e                                                                                        \
    }
static const struct forged_case forged[] = {
    /* names with "..", "/" or "_" */
    {"realm ..", F_CREATE, N1(".."), NULL, NULL, "invalid-name"},
    {"space ..", F_DELETE, N2("main", ".."), NULL, NULL, "invalid-name"},
    {"cell ../..", F_SET, N4("main", "default", "web", "../.."), "pids.max", "10", "invalid-name"},
    {"realm a/b", F_CREATE, N1("a/b"), NULL, NULL, "invalid-name"},
    {"realm with slash to the outside", F_FREEZE, N1("../x-cgd-outside"), NULL, NULL, "invalid-name"},
    {"container ../../..", F_KILL, N5("main", "default", "web", "app", "../../.."), NULL, NULL,
     "invalid-name"},
    {"stack /", F_DELETE, N3("main", "default", "/"), NULL, NULL, "invalid-name"},
    {"realm a_b", F_CREATE, N1("a_b"), NULL, NULL, "invalid-name"},
    {"container x_y", F_RESOURCES, N5("main", "default", "web", "app", "x_y"), NULL, NULL, "invalid-name"},
    {"empty realm", F_DELETE, N1(""), NULL, NULL, "invalid-name"},
    {"gap in names", F_DELETE, N3("main", "", "web"), NULL, NULL, "invalid-name"},
    {"realm cgroup.procs", F_CREATE, N1("cgroup.procs"), NULL, NULL, "invalid-name"},
    /* knobs outside the table */
    {"knob cgroup.procs", F_SET, N1("main"), "cgroup.procs", "1", "not-in-table"},
    {"knob cgroup.subtree_control", F_SET, N1("main"), "cgroup.subtree_control", "+pids", "not-in-table"},
    {"knob ../memory.max", F_SET, N2("main", "default"), "../memory.max", "1048576", "not-in-table"},
    {"knob ../../cgroup.procs", F_SET, N1("main"), "../../cgroup.procs", "1", "not-in-table"},
    {"knob memory.oom.group", F_SET, N1("main"), "memory.oom.group", "1", "not-in-table"},
    {"knob cpu.idle", F_SET, N1("main"), "cpu.idle", "1", "not-in-table"},
    {"knob /etc/passwd", F_SET, N1("main"), "/etc/passwd", "x", "not-in-table"},
    {"knob empty", F_SET, N1("main"), "", "1", "not-in-table"},
    {"knob cgroup.freeze by set", F_SET, N1("main"), "cgroup.freeze", "1", "not-in-table"},
    {"knob cgroup.kill by set", F_SET, N1("main"), "cgroup.kill", "1", "not-in-table"},
    /* values */
    {"value with a newline", F_SET, N1("main"), "pids.max", "10\n20", "invalid-value"},
    {"value ending in a newline", F_SET, N1("main"), "memory.max", "1048576\n", "invalid-value"},
    {"value with a minus sign", F_SET, N1("main"), "pids.max", "-1", "invalid-value"},
    {"value with a plus sign", F_SET, N1("main"), "cpu.weight", "+100", "invalid-value"},
    {"value overflowing 64 bits", F_SET, N1("main"), "memory.max", "18446744073709551616", "invalid-value"},
    {"value far past 64 bits", F_SET, N1("main"), "pids.max", "99999999999999999999999999", "invalid-value"},
    {"pids.max beyond range", F_SET, N1("main"), "pids.max", "4194305", "invalid-value"},
    {"cpu.weight beyond range", F_SET, N1("main"), "cpu.weight", "10001", "invalid-value"},
    {"cpu.weight zero", F_SET, N1("main"), "cpu.weight", "0", "invalid-value"},
    {"memory.max below range", F_SET, N1("main"), "memory.max", "4096", "invalid-value"},
    {"memory.max beyond range", F_SET, N1("main"), "memory.max", "1152921504606846977", "invalid-value"},
    {"cpu.max period beyond range", F_SET, N1("main"), "cpu.max", "50000 2000000", "invalid-value"},
    {"io.max unknown key", F_SET, N1("main"), "io.max", "8:0 rbps=1 foo=2", "invalid-value"},
    {"value with a suffix", F_SET, N1("main"), "memory.max", "64M", "invalid-value"},
    {"value with a space", F_SET, N1("main"), "pids.max", "1 0", "invalid-value"},
};

static void test_forged_requests(void **state)
{
    REQUIRE_RUN();
    create_tree();
    char *before = malloc(SNAP_SIZE), *after = malloc(SNAP_SIZE);
    assert_non_null(before);
    assert_non_null(after);
    int failures = 0;
    for (size_t i = 0; i < KK_ARRAY_SIZE(forged); i++) {
        const struct forged_case *c = &forged[i];
        snapshot(before, SNAP_SIZE);
        audit_drain(0, NULL);
        size_t denied_before = count_lines_with("decision=denied");
        struct kk_err err;
        kk_err_clear(&err);
        int rc = forged_call(c, &err);
        /* The line is written just after the reply: give it a moment. */
        for (int w = 0; w < 100 && count_lines_with("decision=denied") == denied_before; w++) {
            struct pollfd p = {.fd = run.hp.audit_fd, .events = POLLIN};
            poll(&p, 1, 20);
            audit_drain(0, NULL);
        }
        snapshot(after, SNAP_SIZE);
        const char *why = NULL;
        if (rc != -1 || err.kind != KK_ERR_DENIED)
            why = "not DENIED";
        else if (strstr(err.msg, c->reason) == NULL)
            why = "wrong reason";
        else if (strcmp(before, after) != 0)
            why = "files changed";
        else if (count_lines_with("decision=denied") != denied_before + 1)
            why = "no audit line";
        else if (!helper_alive())
            why = "helper died";
        if (why != NULL) {
            printf("# forged %s: %s (rc %d, %s: %s)\n", c->what, why, rc, kk_err_kind_name(err.kind),
                   err.msg);
            failures++;
        }
        if (!helper_alive())
            break;
    }
    free(before);
    free(after);
    if (failures > 0)
        fail_msg("%d of %zu forged requests were not refused cleanly", failures, KK_ARRAY_SIZE(forged));
    printf("# %zu forged requests: each DENIED, nothing outside changed, one audit line each, helper alive\n",
           KK_ARRAY_SIZE(forged));
}

/* A symlink or a mount planted inside the tree, pointing outside. cgroupfs has no symlinks (the
 * kernel refuses to make one), so the planted object that can exist is a bind mount: the cgroup
 * beside the root mounted over a realm's cgroup. Following it would freeze, or delete beneath, a
 * cgroup that is not kukeon's. */
static void test_planted_escape(void **state)
{
    REQUIRE_RUN();
    create_tree();
    char realm_dir[PATH_SIZE], link[PATH_SIZE];
    path_of(realm_dir, sizeof(realm_dir), run.root, "main");
    path_of(link, sizeof(link), realm_dir, "evil");
    if (symlink(run.outside, link) == 0) {
        /* A kernel that allows it: the request through it must be refused all the same. */
        struct kk_err err;
        const struct kk_derive_names through = {"main", "evil", NULL, NULL, NULL};
        assert_int_equal(kk_cgd_freeze(run.hp.sock, &through, true, 0, &err), -1);
        assert_int_equal(err.kind, KK_ERR_DENIED);
        unlink(link);
    } else {
        printf("# symlink in cgroupfs refused by the kernel (%s); planting a bind mount instead\n",
               strerror(errno));
    }

    const struct kk_derive_names evil = {"evil", NULL, NULL, NULL, NULL};
    struct kk_err err;
    assert_int_equal(kk_cgd_create(run.hp.sock, &evil, false, NULL, &err), 0);
    char evil_dir[PATH_SIZE];
    path_of(evil_dir, sizeof(evil_dir), run.root, "evil");
    char sub[PATH_SIZE];
    path_of(sub, sizeof(sub), run.outside, "victim");
    assert_true(mkdir(sub, 0755) == 0 || errno == EEXIST);
    if (mount(run.outside, evil_dir, NULL, MS_BIND, NULL) < 0)
        fail_msg("bind mount %s on %s: %s", run.outside, evil_dir, strerror(errno));
    kk_strlcpy(run.bind_target, evil_dir, sizeof(run.bind_target));

    char *before = malloc(SNAP_SIZE), *after = malloc(SNAP_SIZE);
    assert_non_null(before);
    assert_non_null(after);
    snapshot_outside(before, SNAP_SIZE);
    char f[PATH_SIZE], frozen[16];
    path_of(f, sizeof(f), run.outside, "cgroup.freeze");
    assert_true(read_text(f, frozen, sizeof(frozen)));
    assert_string_equal(frozen, "0");

    /* Each through the mount: refused as leaving the root, nothing changed. */
    const struct kk_derive_names victim = {"evil", "victim", NULL, NULL, NULL};
    assert_int_equal(kk_cgd_freeze(run.hp.sock, &evil, true, 0, &err), -1);
    assert_int_equal(err.kind, KK_ERR_DENIED);
    assert_non_null(strstr(err.msg, "outside-root"));
    assert_int_equal(kk_cgd_kill(run.hp.sock, &victim, 0, NULL, &err), -1);
    assert_int_equal(err.kind, KK_ERR_DENIED);
    assert_int_equal(kk_cgd_create(run.hp.sock, &(struct kk_derive_names){"evil", "new", NULL, NULL, NULL},
                                   false, NULL, &err),
                     -1);
    assert_int_equal(err.kind, KK_ERR_DENIED);
    /* Deleting the realm would walk into the mount and remove "victim": refused, nothing removed. */
    assert_int_equal(kk_cgd_delete(run.hp.sock, &evil, NULL, &err), -1);
    assert_int_equal(err.kind, KK_ERR_DENIED);
    assert_int_equal(kk_cgd_delete(run.hp.sock, &realm, NULL, &err), 0); /* main is not under the mount */
    snapshot_outside(after, SNAP_SIZE);
    assert_true(read_text(f, frozen, sizeof(frozen)));
    assert_string_equal(frozen, "0");
    assert_true(is_dir(sub));
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_true(helper_alive());

    assert_int_equal(umount2(evil_dir, 0), 0);
    run.bind_target[0] = '\0';
    rmdir(sub);
    assert_int_equal(kk_cgd_delete(run.hp.sock, &evil, NULL, &err), 0);
    assert_false(is_dir(evil_dir));
}

/* ---- nothing left behind ------------------------------------------------------------------------- */

static size_t count_subdirs(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_type == DT_DIR && strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void test_delete_leaves_nothing(void **state)
{
    REQUIRE_RUN();
    create_tree();
    struct kk_err err;
    /* runc on a hybrid host makes the container's directory in every v1 hierarchy, as root; play it. */
    for (size_t h = 0; h < run.n_v1; h++) {
        char d[PATH_SIZE];
        kk_snprintf(d, sizeof(d), NULL, "path", "%s%s/%s", run.v1[h], run.root_rel, tree_rel[4]);
        assert_int_equal(mkdir(d, 0755), 0);
        expect_owner(d, 0);
    }
    /* Deleting the realm removes the whole tree, deepest first, in v2 and in every v1 hierarchy. */
    struct kk_cgd_deleted del;
    if (kk_cgd_delete(run.hp.sock, &realm, &del, &err) < 0)
        fail_msg("delete realm: %s", err.msg);
    assert_true(del.existed);
    assert_int_equal(del.removed, 5);
    assert_int_equal(del.v1_removed, 5 * run.n_v1);
    assert_int_equal(count_subdirs(run.root), 0);
    for (size_t h = 0; h < run.n_v1; h++) {
        char d[PATH_SIZE];
        kk_snprintf(d, sizeof(d), NULL, "path", "%s%s", run.v1[h], run.root_rel);
        if (count_subdirs(d) != 0)
            fail_msg("%s still has directories", d);
    }
    /* Again: nothing to do, not an error. */
    assert_int_equal(kk_cgd_delete(run.hp.sock, &realm, &del, &err), 0);
    assert_false(del.existed);
    audit_drain(2000, NULL);
    assert_true(count_lines_with("op=cgroup.delete") >= 2);
}

/* ---- runc on a hybrid host ---------------------------------------------------------------------- */

/* Run a command (PATH lookup), stdout and stderr into out; returns the exit status, or -1. */
static int run_cmd(char *const argv[], char *out, size_t size)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, p[1], STDERR_FILENO);
    char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    size_t len = 0;
    if (rc == 0) {
        for (;;) {
            ssize_t n = read(p[0], out + len, size - 1 - len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || (len += (size_t)n) + 1 >= size)
                break;
        }
    }
    out[len] = '\0';
    close(p[0]);
    if (rc != 0)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char ctr_ns[128], ctr_id[128];

/* ctr against the harness's private containerd, in this test's namespace; arguments end with NULL. */
static int ctr(char *out, size_t size, ...)
{
    char *argv[24];
    int n = 0;
    argv[n++] = "timeout";
    argv[n++] = "60";
    argv[n++] = "ctr";
    argv[n++] = "--address";
    argv[n++] = getenv("KUKEON_TEST_CONTAINERD_SOCKET");
    argv[n++] = "-n";
    argv[n++] = ctr_ns;
    va_list ap;
    va_start(ap, size);
    for (char *a; n < 23 && (a = va_arg(ap, char *)) != NULL;)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    return run_cmd(argv, out, size);
}
#define CTR(...) ctr(out, sizeof(out), __VA_ARGS__, (char *)NULL)

static void ctr_remove_all(void)
{
    char out[4096];
    CTR("tasks", "kill", "-s", "SIGKILL", ctr_id);
    for (int i = 0; i < 50; i++) {
        CTR("tasks", "ls", "-q");
        if (strstr(out, ctr_id) == NULL)
            break;
        if (CTR("tasks", "delete", ctr_id) == 0)
            break;
        usleep(100000);
    }
    CTR("containers", "delete", ctr_id);
    CTR("images", "rm", "--sync", "kukeon.local/busybox:test");
    CTR("namespaces", "rm", ctr_ns);
}

/* A real container whose cgroup path is the tree's container cgroup: runc makes it in every v1
 * hierarchy too, as root, and leaves the cell's directories behind when the container goes. Deleting
 * the realm through kuke-cgd must then leave nothing, anywhere. */
static void test_runc_v1_leftovers(void **state)
{
    REQUIRE_RUN();
    const char *sock = getenv("KUKEON_TEST_CONTAINERD_SOCKET"), *image = getenv("KUKEON_TEST_IMAGE");
    if (sock == NULL || image == NULL || access(image, R_OK) != 0) {
        printf("# SKIP no private containerd or test image (%s)\n",
               getenv("KUKEON_TEST_SKIP_REASON") ? getenv("KUKEON_TEST_SKIP_REASON") : "see the harness log");
        skip();
    }
    char out[8192];
    if (run_cmd((char *[]){"ctr", "--version", NULL}, out, sizeof(out)) != 0) {
        printf("# SKIP ctr is not installed (package containerd)\n");
        skip();
    }
    create_tree();
    snprintf(ctr_ns, sizeof(ctr_ns), "%s-cgd.kukeon.io", run.prefix);
    snprintf(ctr_id, sizeof(ctr_id), "%s-cgd-nginx", run.prefix);
    char cgpath[PATH_SIZE];
    kk_snprintf(cgpath, sizeof(cgpath), NULL, "path", "%s/%s", run.root_rel, tree_rel[4]);

    if (CTR("images", "import", image) != 0)
        fail_msg("ctr images import: %s", out);
    if (CTR("run", "-d", "--snapshotter", "overlayfs", "--cgroup", cgpath, "kukeon.local/busybox:test",
            ctr_id, "/bin/sleep", "300") != 0) {
        ctr_remove_all();
        fail_msg("ctr run --cgroup %s: %s", cgpath, out);
    }
    /* runc made the container's directory in every v1 hierarchy, as root, inside kuke-cgd's cell. */
    size_t v1_made = 0;
    for (size_t h = 0; h < run.n_v1; h++) {
        char d[PATH_SIZE];
        kk_snprintf(d, sizeof(d), NULL, "path", "%s%s", run.v1[h], cgpath);
        v1_made += is_dir(d);
    }
    char ctr_dir[PATH_SIZE];
    path_of(ctr_dir, sizeof(ctr_dir), run.root, tree_rel[4]);
    printf("# runc: container cgroup made in %zu of %zu v1 hierarchies; %d processes in the v2 cgroup\n",
           v1_made, run.n_v1, count_procs(ctr_dir));

    /* While it runs, the realm is not deleted, wherever its processes are. */
    struct kk_err err;
    int rc = kk_cgd_delete(run.hp.sock, &realm, NULL, &err);
    if (rc != -1 || err.kind != KK_ERR_DENIED || strstr(err.msg, "default_web_app_nginx (pids ") == NULL) {
        ctr_remove_all();
        fail_msg("delete of a realm with a running container: rc %d: %s", rc, err.msg);
    }
    printf("# refused as designed: %s\n", err.msg);

    /* The runtime removes its container; the cell's directories stay behind in v1. */
    ctr_remove_all();
    size_t left = 0;
    for (size_t h = 0; h < run.n_v1; h++) {
        char d[PATH_SIZE];
        kk_snprintf(d, sizeof(d), NULL, "path", "%s%s/%s", run.v1[h], run.root_rel, tree_rel[3]);
        left += is_dir(d);
    }
    printf("# after the container is gone: the cell directory remains in %zu v1 hierarchies\n", left);

    struct kk_cgd_deleted del;
    if (kk_cgd_delete(run.hp.sock, &realm, &del, &err) < 0)
        fail_msg("delete realm: %s", err.msg);
    assert_int_equal(count_subdirs(run.root), 0);
    for (size_t h = 0; h < run.n_v1; h++) {
        char d[PATH_SIZE];
        kk_snprintf(d, sizeof(d), NULL, "path", "%s%s", run.v1[h], run.root_rel);
        if (count_subdirs(d) != 0)
            fail_msg("%s still has directories after the realm was deleted", d);
    }
}

/* ---- the sandbox --------------------------------------------------------------------------------- */

static void status_field(pid_t pid, const char *key, char *out, size_t size)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    out[0] = '\0';
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return;
    size_t kl = strlen(key);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            char *v = line + kl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            v[strcspn(v, "\n")] = '\0';
            kk_strlcpy(out, v, size);
            break;
        }
    fclose(f);
}

static void test_sandbox(void **state)
{
    REQUIRE_RUN();
    char v[128], want[128];
    status_field(run.hp.pid, "Uid", v, sizeof(v));
    snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", run.cgd_uid, run.cgd_uid, run.cgd_uid, run.cgd_uid);
    assert_string_equal(v, want);
    status_field(run.hp.pid, "CapEff", v, sizeof(v));
    assert_string_equal(v, "0000000000000000");
    status_field(run.hp.pid, "CapBnd", v, sizeof(v));
    assert_string_equal(v, "0000000000000000");
    status_field(run.hp.pid, "NoNewPrivs", v, sizeof(v));
    assert_string_equal(v, "1");
    status_field(run.hp.pid, "Seccomp", v, sizeof(v));
    assert_string_equal(v, "2");

    /* The probe enters kuke-cgd's sandbox and tries: a socket, exec, a mount. Each is death by SIGSYS. */
    char probe[PATH_SIZE];
    kk_snprintf(probe, sizeof(probe), NULL, "probe", "%s/tests/tools/sandbox_probe", getenv("BUILD"));
    const char *const tries[] = {"socket_inet", "socket_unix", "netlink", "execve", "mount", "fork"};
    for (size_t i = 0; i < KK_ARRAY_SIZE(tries); i++) {
        char *argv[] = {"sandbox_probe", "cgd", (char *)tries[i], NULL};
        char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
        pid_t pid;
        assert_int_equal(posix_spawn(&pid, probe, &fa, NULL, argv, envp), 0);
        posix_spawn_file_actions_destroy(&fa);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
            fail_msg("kuke-cgd's sandbox lets %s through (status 0x%x)", tries[i], status);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_report),
        cmocka_unit_test(test_delegation),
        cmocka_unit_test(test_create_tree),
        cmocka_unit_test(test_create_refusals),
        cmocka_unit_test(test_knobs),
        cmocka_unit_test(test_resources),
        cmocka_unit_test(test_freeze_thaw_kill),
        cmocka_unit_test(test_forged_requests),
        cmocka_unit_test(test_planted_escape),
        cmocka_unit_test(test_delete_leaves_nothing),
        cmocka_unit_test(test_runc_v1_leftovers),
        cmocka_unit_test(test_sandbox),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
