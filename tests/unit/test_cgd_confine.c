/* Unit tests for kuke-cgd's confined access (kuke-cgd/tree.c) on a plain temporary directory, where
 * unlike cgroupfs anyone can plant symlinks: every way out of the root (an absolute path, "..", a
 * symlink inside pointing outside, a symlink in the middle of a path, a symlink as the last
 * component, /proc magic links) is refused with an escape errno, and the files outside are untouched;
 * plus the bounded read, the one-write write, and "key value" parsing. No root needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "kuke-cgd/cgd.h"

static char base[256];    /* the temporary directory */
static char outside[300]; /* base/outside: a file a forged request would like to write */
static int root_fd = -1;  /* base/root, as kuke-cgd holds its root: O_PATH */

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

static int setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof(base), "%s/kk-cgd-confine.XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(base) == NULL)
        return -1;
    char p[400];
    snprintf(outside, sizeof(outside), "%s/outside", base);
    write_file(outside, "untouched\n");
    snprintf(p, sizeof(p), "%s/root", base);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/root/realm", base);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/root/realm/memory.max", base);
    write_file(p, "max\n");
    snprintf(p, sizeof(p), "%s/root/realm/cgroup.events", base);
    write_file(p, "populated 1\nfrozen 0\n");
    /* Planted inside the tree, each pointing out. */
    snprintf(p, sizeof(p), "%s/root/evil", base);
    if (symlink(base, p) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s/root/realm/evil.max", base);
    if (symlink(outside, p) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s/root/realm/up", base);
    if (symlink("../..", p) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s/root/realm/inner", base);
    if (symlink("memory.max", p) < 0) /* even one that stays inside: no symlinks at all */
        return -1;
    snprintf(p, sizeof(p), "%s/root", base);
    root_fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
    return root_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    if (root_fd >= 0)
        close(root_fd);
    const char *const rm[] = {"root/realm/memory.max",
                              "root/realm/cgroup.events",
                              "root/realm/evil.max",
                              "root/realm/up",
                              "root/realm/inner",
                              "root/evil",
                              "outside"};
    char p[400];
    for (size_t i = 0; i < sizeof(rm) / sizeof(rm[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", base, rm[i]);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/root/realm", base);
    rmdir(p);
    snprintf(p, sizeof(p), "%s/root", base);
    rmdir(p);
    rmdir(base);
    return 0;
}

static void test_escapes_refused(void **state)
{
    (void)state;
    char abs_outside[400];
    snprintf(abs_outside, sizeof(abs_outside), "%s", outside);
    const char *const escapes[] = {
        abs_outside,                  /* absolute */
        "/etc/passwd",                /* absolute */
        "..",                         /* up */
        "../outside",                 /* up */
        "realm/../../outside",        /* up through a real directory */
        "evil/outside",               /* symlink in the middle, pointing out */
        "evil",                       /* symlink as the last component */
        "realm/evil.max",             /* a knob-named symlink to a file outside */
        "realm/up/outside",           /* a relative symlink climbing out */
        "realm/inner",                /* a symlink that stays inside: refused all the same */
        "/proc/self/root/etc/passwd", /* absolute, and magic */
    };
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
        /* As a file to read or write, and as kuke-cgd opens directories and files to hold: O_PATH. */
        const int modes[] = {O_RDONLY, O_WRONLY, O_PATH, O_PATH | O_DIRECTORY};
        for (size_t w = 0; w < sizeof(modes) / sizeof(modes[0]); w++) {
            struct kk_err err;
            kk_err_clear(&err);
            int fd = cgd_open_beneath(root_fd, escapes[i], modes[w], &err);
            if (fd >= 0) {
                close(fd);
                fail_msg("\"%s\" opened (flags 0x%x)", escapes[i], modes[w]);
            }
            if (!cgd_errno_is_escape(err.errnum))
                fail_msg("\"%s\": errno %d (%s), not an escape errno", escapes[i], err.errnum, err.msg);
            assert_int_equal(err.kind, KK_ERR_DENIED);
            assert_non_null(strstr(err.msg, "leaves the cgroup root"));
        }
        struct kk_err err;
        assert_int_equal(cgd_write_file(root_fd, escapes[i], "1", &err), -1);
    }
    char text[64];
    struct kk_err err;
    int fd = open(outside, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    assert_true(n > 0);
    text[n] = '\0';
    assert_string_equal(text, "untouched\n");
    (void)err;
}

static void test_inside_works(void **state)
{
    (void)state;
    struct kk_err err;
    char buf[64];
    size_t len;
    assert_int_equal(cgd_read_file(root_fd, "realm/memory.max", buf, sizeof(buf), &len, &err), 0);
    assert_string_equal(buf, "max\n");
    assert_int_equal(len, 4);
    assert_int_equal(cgd_write_file(root_fd, "realm/memory.max", "1048576", &err), 0);
    assert_int_equal(cgd_read_file(root_fd, "realm/memory.max", buf, sizeof(buf), NULL, &err), 0);
    assert_string_equal(buf, "1048576");
    int fd = cgd_open_beneath(root_fd, ".", O_PATH | O_DIRECTORY, &err);
    assert_true(fd >= 0);
    close(fd);
    /* Missing is NOT_FOUND, not an escape. */
    assert_int_equal(cgd_open_beneath(root_fd, "realm/nothere", O_RDONLY, &err), -1);
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);
    assert_false(cgd_errno_is_escape(err.errnum));
    /* A file where a directory is wanted is refused too. */
    assert_int_equal(cgd_open_beneath(root_fd, "realm/memory.max", O_PATH | O_DIRECTORY, &err), -1);
    assert_int_equal(err.errnum, ENOTDIR);
}

static void test_bounded_read(void **state)
{
    (void)state;
    struct kk_err err;
    char small[4];
    assert_int_equal(cgd_read_file(root_fd, "realm/cgroup.events", small, sizeof(small), NULL, &err), -1);
    assert_non_null(strstr(err.msg, "larger than the 3 bytes"));
}

static void test_keyed_values(void **state)
{
    (void)state;
    const char *text = "usage_usec 1234\nuser_usec 1000\nsystem_usec 234\nnr_periods 0\npopulated 1\n";
    uint64_t v;
    assert_int_equal(cgd_keyed_u64(text, "usage_usec", &v), 0);
    assert_int_equal(v, 1234);
    assert_int_equal(cgd_keyed_u64(text, "system_usec", &v), 0);
    assert_int_equal(v, 234);
    assert_int_equal(cgd_keyed_u64(text, "populated", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(cgd_keyed_u64(text, "usage", &v), -1); /* a prefix is not the key */
    assert_int_equal(cgd_keyed_u64(text, "frozen", &v), -1);
    assert_int_equal(cgd_keyed_u64("frozen -1\n", "frozen", &v), -1);
    assert_int_equal(cgd_keyed_u64("frozen 99999999999999999999\n", "frozen", &v), -1);
    assert_int_equal(cgd_keyed_u64("frozen 1", "frozen", &v), 0); /* no final newline */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escapes_refused),
        cmocka_unit_test(test_inside_works),
        cmocka_unit_test(test_bounded_read),
        cmocka_unit_test(test_keyed_values),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
