/* Unit tests for common/audit.c: the line format, escaping of caller-supplied text (no forged lines),
 * the time stamp arithmetic, bounds, and opening, appending and rotating by size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/audit.h"

static const struct timespec t_fixed = {.tv_sec = 1764445200,
                                        .tv_nsec = 123456789}; /* 2025-11-29T19:40:00.123Z */

static size_t count_char(const char *s, char c)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += *s == c;
    return n;
}

static void test_timestamp(void **state)
{
    (void)state;
    static const struct {
        time_t sec;
        long nsec;
        const char *want;
    } cases[] = {
        {0, 0, "1970-01-01T00:00:00.000Z"},
        {-1, 0, "1969-12-31T23:59:59.000Z"},
        {951782400, 999999999, "2000-02-29T00:00:00.999Z"},
        {951868799, 1000000, "2000-02-29T23:59:59.001Z"},
        {1709164800, 0, "2024-02-29T00:00:00.000Z"},
        {4102444799, 0, "2099-12-31T23:59:59.000Z"},
        {1764445200, 123456789, "2025-11-29T19:40:00.123Z"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[32];
        struct timespec ts = {.tv_sec = cases[i].sec, .tv_nsec = cases[i].nsec};
        assert_int_equal(kk_audit_timestamp(&ts, buf, sizeof(buf)), 0);
        assert_string_equal(buf, cases[i].want);
    }
    char small[10];
    assert_int_equal(kk_audit_timestamp(&t_fixed, small, sizeof(small)), -1);
}

static void test_format_line(void **state)
{
    (void)state;
    struct kk_audit_kv names[] = {{"realm", "main"}, {"cell", "web"}};
    struct kk_audit_event ev = {
        .request_id = 42,
        .operation = "cgroup.write",
        .names = names,
        .n_names = 2,
        .decision = KK_AUDIT_DENIED,
        .reason = "not-in-table: knob cgroup.procs is not in the table",
    };
    char line[KK_AUDIT_LINE_MAX];
    struct kk_err err;
    int n = kk_audit_format(line, sizeof(line), "kuke-cgd", &t_fixed, &ev, &err);
    const char *want =
        "2025-11-29T19:40:00.123Z helper=kuke-cgd request=42 op=cgroup.write realm=\"main\" "
        "cell=\"web\" decision=denied reason=\"not-in-table: knob cgroup.procs is not in the table\"\n";
    assert_int_equal(n, (int)strlen(want));
    assert_string_equal(line, want);

    struct kk_audit_event ok = {.request_id = 7, .operation = "status", .decision = KK_AUDIT_OK};
    assert_true(kk_audit_format(line, sizeof(line), "kuke-netd", &t_fixed, &ok, &err) > 0);
    assert_string_equal(line, "2025-11-29T19:40:00.123Z helper=kuke-netd request=7 op=status decision=ok\n");

    static const struct {
        enum kk_audit_decision d;
        const char *name;
    } decisions[] = {{KK_AUDIT_OK, "ok"},
                     {KK_AUDIT_DENIED, "denied"},
                     {KK_AUDIT_ERROR, "error"},
                     {KK_AUDIT_FATAL, "fatal"}};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(kk_audit_decision_name(decisions[i].d), decisions[i].name);
}

/* A caller that puts a newline, a quote or raw bytes into a name must not be able to start a second
 * line or close the quoted value early. */
static void test_escaping(void **state)
{
    (void)state;
    struct kk_audit_kv names[] = {
        {"cell", "web\n2025-11-29T19:40:00.000Z helper=kuke-cgd request=1 op=x decision=ok"},
        {"space", "a\" decision=ok x=\""},
        {"stack", "\xff\xc3\xa9\x01\\"},
        {"we ird=key\n", "v"},
    };
    struct kk_audit_event ev = {
        .request_id = 3,
        .operation = "op with space\n",
        .names = names,
        .n_names = 4,
        .decision = KK_AUDIT_FATAL,
        .reason = "bad\r\nline \"quoted\"",
    };
    char line[KK_AUDIT_LINE_MAX];
    struct kk_err err;
    int n = kk_audit_format(line, sizeof(line), "kuke-cgd", &t_fixed, &ev, &err);
    assert_true(n > 0);
    assert_int_equal(count_char(line, '\n'), 1);
    assert_int_equal(line[n - 1], '\n');
    assert_null(strchr(line, '\r'));
    assert_non_null(strstr(line, " op=op_with_space_ "));
    assert_non_null(strstr(line, " cell=\"web\\x0a2025-11-29T19:40:00.000Z helper=kuke-cgd request=1 op=x "
                                 "decision=ok\" "));
    assert_non_null(strstr(line, " space=\"a\\\" decision=ok x=\\\"\" "));
    assert_non_null(strstr(line, " stack=\"\\xff\\xc3\\xa9\\x01\\\\\" "));
    assert_non_null(strstr(line, " we_ird_key_=\"v\" "));
    assert_non_null(strstr(line, " decision=fatal reason=\"bad\\x0d\\x0aline \\\"quoted\\\"\"\n"));
    /* Exactly one unescaped decision= field. */
    assert_non_null(strstr(line, " decision=fatal "));
    for (const unsigned char *p = (const unsigned char *)line; *p != '\0'; p++)
        assert_true((*p >= 0x20 && *p < 0x7f) || *p == '\n');
}

/* The worst case of every field at once still fits one atomic pipe write, and each over-long value
 * says it was cut. */
static void test_bounds(void **state)
{
    (void)state;
    static char big[3000];
    memset(big, 0xff, sizeof(big) - 1);
    struct kk_audit_kv names[KK_AUDIT_NAMES_MAX + 3];
    for (size_t i = 0; i < KK_AUDIT_NAMES_MAX + 3; i++) {
        names[i].key = "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk";
        names[i].value = big;
    }
    struct kk_audit_event ev = {
        .request_id = UINT32_MAX,
        .operation = big,
        .names = names,
        .n_names = KK_AUDIT_NAMES_MAX + 3,
        .decision = KK_AUDIT_ERROR,
        .reason = big,
    };
    char line[KK_AUDIT_LINE_MAX];
    struct kk_err err;
    int n = kk_audit_format(line, sizeof(line), "kuke-ctrd", &t_fixed, &ev, &err);
    assert_true(n > 0);
    assert_true(n <= 4096);
    assert_int_equal(count_char(line, '\n'), 1);
    assert_non_null(strstr(line, "request=4294967295"));
    assert_non_null(strstr(line, "...\" decision=error reason=\"\\xff"));
    assert_non_null(strstr(line, "...\"\n"));
    /* No more than KK_AUDIT_NAMES_MAX names are written. */
    size_t keys = 0;
    for (const char *p = line; (p = strstr(p, " kkkkk")) != NULL; p++)
        keys++;
    assert_int_equal(keys, KK_AUDIT_NAMES_MAX);

    char small[64];
    assert_int_equal(kk_audit_format(small, sizeof(small), "kuke-ctrd", &t_fixed, &ev, &err), -1);
}

static void test_default_path(void **state)
{
    (void)state;
    char buf[KK_AUDIT_PATH_MAX];
    struct kk_err err;
    assert_int_equal(kk_audit_default_path("kuke-cgd", buf, sizeof(buf), &err), 0);
    assert_string_equal(buf, "/var/log/kukeon/kuke-cgd.log");
    assert_int_equal(kk_audit_default_path("../etc/passwd", buf, sizeof(buf), &err), -1);
    assert_int_equal(kk_audit_default_path("", buf, sizeof(buf), &err), -1);
    assert_int_equal(kk_audit_default_path("kuke-cgd", buf, 10, &err), -1);
}

static char tmpdir[64];

static int make_tmpdir(void **state)
{
    (void)state;
    memcpy(tmpdir, "/tmp/kk-audit-XXXXXX", sizeof("/tmp/kk-audit-XXXXXX"));
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    char p[128];
    snprintf(p, sizeof(p), "%s/h.log", tmpdir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/h.log.1", tmpdir);
    unlink(p);
    rmdir(tmpdir);
    return 0;
}

static size_t file_lines(const char *path, off_t *size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        *size = -1;
        return 0;
    }
    size_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    *size = ftell(f);
    fclose(f);
    return n;
}

static void test_open_append_rotate(void **state)
{
    (void)state;
    char path[128], older[128];
    snprintf(path, sizeof(path), "%s/h.log", tmpdir);
    snprintf(older, sizeof(older), "%s/h.log.1", tmpdir);
    struct kk_audit a;
    struct kk_err err;
    assert_int_equal(kk_audit_open(&a, "kuke-test", path, 1000, &err), 0);
    int fl = fcntl(a.fd, F_GETFD);
    assert_true(fl & FD_CLOEXEC);
    assert_true(fcntl(a.fd, F_GETFL) & O_APPEND);

    struct kk_audit_kv names[] = {{"cell", "web"}};
    struct kk_audit_event ev = {.request_id = 1, .operation = "op", .names = names, .n_names = 1};
    char line[KK_AUDIT_LINE_MAX];
    int len = kk_audit_format(line, sizeof(line), "kuke-test", &t_fixed, &ev, &err);
    assert_true(len > 0);
    /* Enough lines to cross 1000 bytes once, not twice. */
    size_t total = 1000 / (size_t)len + 3;
    for (size_t i = 0; i < total; i++) {
        ev.request_id = (uint32_t)i + 1;
        assert_int_equal(kk_audit_log(&a, &ev, &err), 0);
    }
    off_t cur_size, old_size;
    size_t cur = file_lines(path, &cur_size), old = file_lines(older, &old_size);
    assert_true(old_size > 0 && old_size <= 1000);
    assert_true(cur_size > 0 && cur_size <= 1000);
    assert_int_equal(cur + old, total); /* nothing lost */

    /* Appending pre-formatted lines (the supervisor relaying a helper's pipe) counts the same way. */
    assert_int_equal(kk_audit_append(&a, line, (size_t)len, &err), 0);
    kk_audit_close(&a);
    assert_int_equal(a.fd, -1);

    /* Reopening a file already over the limit rotates it first. */
    assert_int_equal(kk_audit_open(&a, "kuke-test", path, 10, &err), 0);
    file_lines(path, &cur_size);
    assert_int_equal(cur_size, 0);
    kk_audit_close(&a);

    assert_int_equal(kk_audit_open(&a, "bad name", path, 10, &err), -1);
    assert_int_equal(kk_audit_open(&a, "kuke-test", "/nonexistent-dir/x.log", 10, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent-dir/x.log"));
}

/* When rotation becomes impossible the lines keep coming: losing an audit line is worse. */
static void test_rotation_failure_keeps_writing(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof(path), "%s/h.log", tmpdir);
    struct kk_audit a;
    struct kk_err err;
    assert_int_equal(kk_audit_open(&a, "kuke-test", path, 100, &err), 0);
    struct kk_audit_event ev = {.request_id = 1, .operation = "op"};
    assert_int_equal(kk_audit_log(&a, &ev, &err), 0);
    /* The path disappears under the helper: rename must fail. */
    assert_int_equal(unlink(path), 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(kk_audit_log(&a, &ev, &err), 0);
    assert_false(a.owns_path);
    struct stat st;
    assert_int_equal(fstat(a.fd, &st), 0);
    assert_true(st.st_size > 100);
    kk_audit_close(&a);
}

/* A sandboxed helper only writes to an fd it was handed: here a pipe, as to the supervisor. */
static void test_use_fd_pipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    struct kk_audit a;
    struct kk_err err;
    assert_int_equal(kk_audit_use_fd(&a, "kuke-cgd", p[1], &err), 0);
    assert_false(a.owns_path);
    struct kk_audit_kv names[] = {{"realm", "r\n"}};
    struct kk_audit_event ev = {
        .request_id = 9, .operation = "cgroup.mkdir", .names = names, .n_names = 1, .decision = KK_AUDIT_OK};
    assert_int_equal(kk_audit_log(&a, &ev, &err), 0);
    char buf[KK_AUDIT_LINE_MAX + 1];
    ssize_t n = read(p[0], buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_int_equal(count_char(buf, '\n'), 1);
    assert_non_null(strstr(buf, " helper=kuke-cgd request=9 op=cgroup.mkdir realm=\"r\\x0a\" decision=ok\n"));
    kk_audit_close(&a);
    close(p[0]);

    assert_int_equal(kk_audit_use_fd(&a, "kuke-cgd", -1, &err), -1);
    assert_int_equal(kk_audit_use_fd(&a, "KUKE", 5, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timestamp),
        cmocka_unit_test(test_format_line),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_default_path),
        cmocka_unit_test_setup_teardown(test_open_append_rotate, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_rotation_failure_keeps_writing, make_tmpdir, remove_tmpdir),
        cmocka_unit_test(test_use_fd_pipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
