/* Unit tests for kuke-cgd's reading of the host (kuke-cgd/mountinfo.c): the cgroup v2 mount on a
 * unified host, a hybrid host (this project's test machine, verbatim), a host with the same
 * hierarchy mounted twice, escaped mount points, no v2 at all, malformed text; and the controller
 * lists of cgroup.controllers / cgroup.subtree_control. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "kuke-cgd/cgd.h"

static void parse_ok(const char *text, struct cgd_mounts *m)
{
    struct kk_err err;
    if (cgd_mountinfo_parse(text, strlen(text), m, &err) < 0)
        fail_msg("parse: %s", err.msg);
}

/* /proc/self/mountinfo of the Debian 12 test machine (hybrid: v1 controllers, v2 at unified). */
static const char hybrid[] =
    "22 1 254:1 / / rw,relatime - ext4 /dev/vda rw\n"
    "23 22 0:5 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static void test_hybrid_host(void **state)
{
    (void)state;
    struct cgd_mounts m;
    parse_ok(hybrid, &m);
    assert_true(m.have_v2);
    assert_string_equal(m.v2.point, "/sys/fs/cgroup/unified");
    assert_int_equal(m.n_v1, 9);
    assert_string_equal(m.v1[0].point, "/sys/fs/cgroup/cpu");
    assert_string_equal(m.v1[0].controllers, "cpu");
    assert_string_equal(m.v1[3].controllers, "memory");
    assert_string_equal(m.v1[8].point, "/sys/fs/cgroup/systemd");
    assert_string_equal(m.v1[8].controllers, "name=systemd");
    assert_false(m.v1[3].read_only);
}

/* A systemd hybrid host: co-mounted controllers, options that are not controllers, a named
 * hierarchy of another manager, and a read-only hierarchy. */
static void test_systemd_hybrid(void **state)
{
    (void)state;
    static const char text[] =
        "25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
        "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 "
        "rw,nsdelegate\n"
        "27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup "
        "rw,xattr,name=systemd\n"
        "30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup "
        "rw,cpu,cpuacct\n"
        "31 25 0:28 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid shared:15 - cgroup cgroup "
        "rw,net_cls,net_prio\n"
        "32 25 0:29 / /sys/fs/cgroup/cpuset rw,nosuid shared:16 - cgroup cgroup rw,cpuset,clone_children\n"
        "33 25 0:30 / /sys/fs/cgroup/elogind rw,nosuid shared:17 - cgroup cgroup rw,name=elogind\n"
        "34 25 0:31 / /sys/fs/cgroup/pids ro,nosuid shared:18 - cgroup cgroup rw,pids,release_agent=/x\n";
    struct cgd_mounts m;
    parse_ok(text, &m);
    assert_string_equal(m.v2.point, "/sys/fs/cgroup/unified");
    assert_int_equal(m.n_v1, 5); /* not elogind's */
    assert_string_equal(m.v1[0].controllers, "name=systemd");
    assert_string_equal(m.v1[1].point, "/sys/fs/cgroup/cpu,cpuacct");
    assert_string_equal(m.v1[1].controllers, "cpu,cpuacct");
    assert_string_equal(m.v1[2].controllers, "net_cls,net_prio");
    assert_string_equal(m.v1[3].controllers, "cpuset");
    assert_string_equal(m.v1[4].controllers, "pids");
    assert_true(m.v1[4].read_only);
}

static void test_unified_host(void **state)
{
    (void)state;
    /* Optional fields vary in number; a second cgroup2 mount elsewhere does not win over /sys/fs/cgroup. */
    static const char text[] =
        "29 22 0:26 /sub /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
        "30 22 0:26 / /run/other rw - cgroup2 cgroup2 rw\n"
        "31 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 master:1 - cgroup2 cgroup2 "
        "rw,nsdelegate,memory_recursiveprot\n"
        "40 22 0:26 /kukeon /mnt/x rw - cgroup2 cgroup2 rw\n";
    struct cgd_mounts m;
    parse_ok(text, &m);
    assert_true(m.have_v2);
    assert_string_equal(m.v2.point, "/sys/fs/cgroup");
    assert_int_equal(m.n_v1, 0);
    assert_int_equal(m.v2.dev_major, 0);
    assert_int_equal(m.v2.dev_minor, 26);
}

static void test_duplicates_and_escapes(void **state)
{
    (void)state;
    static const char text[] =
        "32 31 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "90 22 0:29 / /mnt/memory\\040copy rw - cgroup cgroup rw,memory\n" /* same hierarchy, again */
        "91 22 0:40 / /mnt/with\\134back rw - cgroup2 cgroup2 rw\n";
    struct cgd_mounts m;
    parse_ok(text, &m);
    assert_int_equal(m.n_v1, 1);
    assert_string_equal(m.v1[0].point, "/sys/fs/cgroup/memory");
    assert_string_equal(m.v2.point, "/mnt/with\\back");
}

static void test_no_v2_and_bad_text(void **state)
{
    (void)state;
    struct cgd_mounts m;
    parse_ok("22 1 254:1 / / rw - ext4 /dev/vda rw\n", &m);
    assert_false(m.have_v2);
    parse_ok("", &m);
    assert_false(m.have_v2);
    parse_ok("garbage without fields\n\n", &m);
    assert_false(m.have_v2);
    struct kk_err err;
    static const char relative[] = "31 22 0:26 / relative rw - cgroup2 cgroup2 rw\n";
    assert_int_equal(cgd_mountinfo_parse(relative, strlen(relative), &m, &err), -1);
    static const char nul[] = "31 22 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
    char with_nul[sizeof(nul)];
    memcpy(with_nul, nul, sizeof(nul));
    with_nul[20] = '\0';
    assert_int_equal(cgd_mountinfo_parse(with_nul, sizeof(nul) - 1, &m, &err), -1);
    assert_non_null(strstr(err.msg, "NUL"));
}

static void test_controller_lists(void **state)
{
    (void)state;
    struct cgd_ctl_list l;
    struct kk_err err;
    const char *text = "cpuset cpu io memory hugetlb pids rdma misc dmem\n";
    assert_int_equal(cgd_ctl_parse(text, strlen(text), &l, &err), 0);
    assert_int_equal(l.n, 9);
    assert_true(cgd_ctl_has(&l, "memory"));
    assert_true(cgd_ctl_has(&l, "dmem"));
    assert_false(cgd_ctl_has(&l, "mem"));
    char out[KK_CGD_CONTROLLERS_SIZE];
    assert_int_equal(cgd_ctl_format(&l, "+", out, sizeof(out), &err), 0);
    assert_string_equal(out, "+cpuset +cpu +io +memory +hugetlb +pids +rdma +misc +dmem");
    /* Empty files: no controller. */
    assert_int_equal(cgd_ctl_parse("\n", 1, &l, &err), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(cgd_ctl_format(&l, "", out, sizeof(out), &err), 0);
    assert_string_equal(out, "");
    /* Anything that is not a controller name is refused, not guessed at. */
    const char *const bad[] = {"cpu,memory", "Memory", "cpu\tmemory", "../x", "a_very_long_controller_name"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cgd_ctl_parse(bad[i], strlen(bad[i]), &l, &err) != -1)
            fail_msg("\"%s\" parsed as a controller list", bad[i]);
    char many[CGD_CTL_MAX * 2 + 8];
    size_t mn = 0;
    for (int i = 0; i <= CGD_CTL_MAX; i++) {
        many[mn++] = 'c';
        many[mn++] = ' ';
    }
    many[mn] = '\0';
    assert_int_equal(cgd_ctl_parse(many, strlen(many), &l, &err), -1);
    /* add: no duplicates */
    assert_int_equal(cgd_ctl_parse("cpu", 3, &l, &err), 0);
    assert_int_equal(cgd_ctl_add(&l, "cpu"), 0);
    assert_int_equal(cgd_ctl_add(&l, "pids"), 0);
    assert_int_equal(l.n, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hybrid_host),        cmocka_unit_test(test_systemd_hybrid),
        cmocka_unit_test(test_unified_host),       cmocka_unit_test(test_duplicates_and_escapes),
        cmocka_unit_test(test_no_v2_and_bad_text), cmocka_unit_test(test_controller_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
