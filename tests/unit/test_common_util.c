/* Unit tests for common/err.c, common/util.c and common/log.c: error formatting and wrapping at the
 * buffer's edge, strict integer parsing at its edges, bounded string helpers, log escaping and
 * truncation, level parsing, and the one-line-per-event log format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "common/util.h"

/* ---- err.c ------------------------------------------------------------------------------------ */

static void test_error_sets_fields(void **state)
{
    (void)state;
    struct kk_err err;
    kk_err_clear(&err);
    assert_int_equal(kk_error(&err, KK_ERR_NOT_FOUND, 0, "cell \"%s\" not found", "web"), -1);
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);
    assert_int_equal(err.errnum, 0);
    assert_string_equal(err.msg, "cell \"web\" not found");

    assert_int_equal(kk_error(&err, KK_ERR_UNAVAILABLE, ENOENT, "opening %s", "/run/x.sock"), -1);
    assert_int_equal(err.errnum, ENOENT);
    assert_string_equal(err.msg, "opening /run/x.sock: No such file or directory");

    /* err may be NULL: callers that only want the verdict */
    assert_int_equal(kk_error(NULL, KK_ERR_INVALID, EINVAL, "x"), -1);
    assert_int_equal(kk_error_wrap(NULL, "ctx"), -1);

    kk_err_clear(&err);
    assert_int_equal(err.kind, KK_ERR_UNKNOWN);
    assert_int_equal(err.errnum, 0);
    assert_string_equal(err.msg, "");
    kk_err_clear(NULL);
}

static void test_error_truncates_safely(void **state)
{
    (void)state;
    struct kk_err err;
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';

    assert_int_equal(kk_error(&err, KK_ERR_INVALID, 0, "%s", big), -1);
    assert_int_equal(strlen(err.msg), KK_ERR_MSG_MAX - 1);

    /* a full message leaves no room for strerror: still bounded and terminated */
    assert_int_equal(kk_error(&err, KK_ERR_INVALID, EACCES, "%s", big), -1);
    assert_int_equal(strlen(err.msg), KK_ERR_MSG_MAX - 1);
    /* one that nearly fills it gets a cut strerror */
    big[KK_ERR_MSG_MAX - 5] = '\0';
    assert_int_equal(kk_error(&err, KK_ERR_INVALID, EACCES, "%s", big), -1);
    assert_int_equal(strlen(err.msg), KK_ERR_MSG_MAX - 1);
    assert_memory_equal(err.msg + KK_ERR_MSG_MAX - 5, ": P", 3);
}

static void test_error_wrap(void **state)
{
    (void)state;
    struct kk_err err;
    kk_error(&err, KK_ERR_DENIED, EPERM, "writing memory.max");
    assert_int_equal(kk_error_wrap(&err, "cell \"%s\"", "web"), -1);
    assert_int_equal(kk_error_wrap(&err, "apply"), -1);
    assert_string_equal(err.msg, "apply: cell \"web\": writing memory.max: Operation not permitted");
    /* wrapping keeps what kind of error it is */
    assert_int_equal(err.kind, KK_ERR_DENIED);
    assert_int_equal(err.errnum, EPERM);

    /* the prefix may quote the message it wraps */
    kk_error(&err, KK_ERR_INVALID, 0, "inner");
    kk_error_wrap(&err, "[%s]", err.msg);
    assert_string_equal(err.msg, "[inner]: inner");

    /* wrapping an empty message leaves just the context, no dangling ": " */
    kk_err_clear(&err);
    kk_error_wrap(&err, "ctx");
    assert_string_equal(err.msg, "ctx");
}

static void test_error_wrap_truncates_safely(void **state)
{
    (void)state;
    struct kk_err err;
    char big[3000];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';

    /* a long old message: the prefix survives whole, the old message is cut */
    kk_error(&err, KK_ERR_INVALID, 0, "%s", big);
    kk_error_wrap(&err, "context");
    assert_int_equal(strlen(err.msg), KK_ERR_MSG_MAX - 1);
    assert_memory_equal(err.msg, "context: yyy", 12);

    /* a prefix as long as the buffer: bounded, terminated */
    kk_error(&err, KK_ERR_INVALID, 0, "old");
    kk_error_wrap(&err, "%s", big);
    assert_int_equal(strlen(err.msg), KK_ERR_MSG_MAX - 1);

    /* prefixes of every length near the edge */
    for (size_t plen = KK_ERR_MSG_MAX - 6; plen < KK_ERR_MSG_MAX + 2; plen++) {
        char prefix[KK_ERR_MSG_MAX + 4];
        memset(prefix, 'p', plen);
        prefix[plen] = '\0';
        kk_error(&err, KK_ERR_INVALID, 0, "old");
        kk_error_wrap(&err, "%s", prefix);
        assert_true(strlen(err.msg) <= KK_ERR_MSG_MAX - 1);
    }
}

static void test_error_kind_names(void **state)
{
    (void)state;
    const struct {
        enum kk_err_kind kind;
        const char *name;
    } rows[] = {
        {KK_ERR_UNKNOWN, "Unknown"}, {KK_ERR_INVALID, "Invalid"},       {KK_ERR_NOT_FOUND, "NotFound"},
        {KK_ERR_EXISTS, "Exists"},   {KK_ERR_PERMISSION, "Permission"}, {KK_ERR_UNAVAILABLE, "Unavailable"},
        {KK_ERR_DENIED, "Denied"},   {KK_ERR_INTERNAL, "Internal"},     {(enum kk_err_kind)99, "Unknown"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        assert_string_equal(kk_err_kind_name(rows[i].kind), rows[i].name);
}

/* ---- util.c: integers --------------------------------------------------------------------------- */

static void test_parse_u64(void **state)
{
    (void)state;
    const struct {
        const char *s;
        uint64_t min, max;
        int rc;
        uint64_t want;
    } rows[] = {
        /* refused first */
        {NULL, 0, UINT64_MAX, -1, 0},
        {"", 0, UINT64_MAX, -1, 0},
        {" ", 0, UINT64_MAX, -1, 0},
        {" 1", 0, UINT64_MAX, -1, 0},
        {"1 ", 0, UINT64_MAX, -1, 0},
        {"1\n", 0, UINT64_MAX, -1, 0},
        {"\t1", 0, UINT64_MAX, -1, 0},
        {"+1", 0, UINT64_MAX, -1, 0},
        {"-1", 0, UINT64_MAX, -1, 0},
        {"-0", 0, UINT64_MAX, -1, 0},
        {"1a", 0, UINT64_MAX, -1, 0},
        {"0x10", 0, UINT64_MAX, -1, 0},
        {"1e3", 0, UINT64_MAX, -1, 0},
        {"1.0", 0, UINT64_MAX, -1, 0},
        {"1_000", 0, UINT64_MAX, -1, 0},
        {"\xd9\xa1", 0, UINT64_MAX, -1, 0},             /* ARABIC-INDIC DIGIT ONE */
        {"18446744073709551616", 0, UINT64_MAX, -1, 0}, /* UINT64_MAX + 1 */
        {"18446744073709551620", 0, UINT64_MAX, -1, 0},
        {"99999999999999999999", 0, UINT64_MAX, -1, 0},
        {"184467440737095516150", 0, UINT64_MAX, -1, 0},
        {"5", 6, 10, -1, 0},
        {"11", 6, 10, -1, 0},
        {"0", 1, UINT64_MAX, -1, 0},
        /* accepted */
        {"0", 0, UINT64_MAX, 0, 0},
        {"1", 0, UINT64_MAX, 0, 1},
        {"007", 0, UINT64_MAX, 0, 7},
        {"6", 6, 10, 0, 6},
        {"10", 6, 10, 0, 10},
        {"4294967296", 0, UINT64_MAX, 0, 4294967296u},
        {"18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX},
        {"18446744073709551614", 0, UINT64_MAX, 0, UINT64_MAX - 1},
        {"00000000000000000000000018446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint64_t out = 12345;
        int rc = kk_parse_u64(rows[i].s, rows[i].min, rows[i].max, &out);
        if (rc != rows[i].rc)
            fail_msg("row %zu (\"%s\"): rc %d, want %d", i, rows[i].s ? rows[i].s : "(null)", rc, rows[i].rc);
        if (rc == 0 && out != rows[i].want)
            fail_msg("row %zu: got %" PRIu64 ", want %" PRIu64, i, out, rows[i].want);
        if (rc != 0 && out != 12345)
            fail_msg("row %zu: output written on failure", i);
    }
}

static void test_parse_i64(void **state)
{
    (void)state;
    const struct {
        const char *s;
        int64_t min, max;
        int rc;
        int64_t want;
    } rows[] = {
        {NULL, INT64_MIN, INT64_MAX, -1, 0},
        {"", INT64_MIN, INT64_MAX, -1, 0},
        {"-", INT64_MIN, INT64_MAX, -1, 0},
        {"--1", INT64_MIN, INT64_MAX, -1, 0},
        {"+1", INT64_MIN, INT64_MAX, -1, 0},
        {"- 1", INT64_MIN, INT64_MAX, -1, 0},
        {" -1", INT64_MIN, INT64_MAX, -1, 0},
        {"-1 ", INT64_MIN, INT64_MAX, -1, 0},
        {"1-", INT64_MIN, INT64_MAX, -1, 0},
        {"9223372036854775808", INT64_MIN, INT64_MAX, -1, 0},  /* INT64_MAX + 1 */
        {"-9223372036854775809", INT64_MIN, INT64_MAX, -1, 0}, /* INT64_MIN - 1 */
        {"18446744073709551615", INT64_MIN, INT64_MAX, -1, 0},
        {"-18446744073709551616", INT64_MIN, INT64_MAX, -1, 0},
        {"-1", 0, INT64_MAX, -1, 0},
        {"-11", -10, 10, -1, 0},
        {"11", -10, 10, -1, 0},
        {"0", 1, 2, -1, 0},
        {"9223372036854775807", INT64_MIN, INT64_MAX - 1, -1, 0},
        {"-9223372036854775808", INT64_MIN + 1, INT64_MAX, -1, 0},
        {"0", INT64_MIN, INT64_MAX, 0, 0},
        {"-0", INT64_MIN, INT64_MAX, 0, 0},
        {"-1", INT64_MIN, INT64_MAX, 0, -1},
        {"-10", -10, 10, 0, -10},
        {"10", -10, 10, 0, 10},
        {"9223372036854775807", INT64_MIN, INT64_MAX, 0, INT64_MAX},
        {"-9223372036854775808", INT64_MIN, INT64_MAX, 0, INT64_MIN},
        {"-9223372036854775807", INT64_MIN, INT64_MAX, 0, INT64_MIN + 1},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        int64_t out = 12345;
        int rc = kk_parse_i64(rows[i].s, rows[i].min, rows[i].max, &out);
        if (rc != rows[i].rc)
            fail_msg("row %zu (\"%s\"): rc %d, want %d", i, rows[i].s ? rows[i].s : "(null)", rc, rows[i].rc);
        if (rc == 0 && out != rows[i].want)
            fail_msg("row %zu: got %" PRId64 ", want %" PRId64, i, out, rows[i].want);
        if (rc != 0 && out != 12345)
            fail_msg("row %zu: output written on failure", i);
    }
}

/* ---- util.c: strings ---------------------------------------------------------------------------- */

static void test_snprintf_checked(void **state)
{
    (void)state;
    struct kk_err err;
    char buf[8];
    assert_int_equal(kk_snprintf(buf, sizeof(buf), &err, "id", "%s-%d", "ab", 12), 0);
    assert_string_equal(buf, "ab-12");
    assert_int_equal(kk_snprintf(buf, sizeof(buf), &err, "id", "%s", "1234567"), 0); /* exact fit */
    assert_string_equal(buf, "1234567");

    kk_err_clear(&err);
    assert_int_equal(kk_snprintf(buf, sizeof(buf), &err, "bridge name", "%s", "12345678"), -1);
    assert_int_equal(err.kind, KK_ERR_INVALID);
    assert_string_equal(err.msg, "bridge name is too long (8 bytes, at most 7)");
    /* a cut result is never left for a careless caller */
    assert_string_equal(buf, "");

    assert_int_equal(kk_snprintf(buf, 0, &err, "nothing", "%s", "x"), -1);
    assert_int_equal(err.kind, KK_ERR_INTERNAL);
    assert_int_equal(kk_snprintf(buf, sizeof(buf), NULL, "id", "%s", "far too long"), -1);
}

static void test_strlcpy(void **state)
{
    (void)state;
    char buf[4];
    assert_int_equal(kk_strlcpy(buf, "abc", sizeof(buf)), 0);
    assert_string_equal(buf, "abc");
    assert_int_equal(kk_strlcpy(buf, "", sizeof(buf)), 0);
    assert_string_equal(buf, "");
    memcpy(buf, "xyz", 4);
    assert_int_equal(kk_strlcpy(buf, "abcd", sizeof(buf)), -1);
    assert_string_equal(buf, "xyz"); /* untouched when it does not fit */
    assert_int_equal(kk_strlcpy(buf, "a", 0), -1);
}

static void test_has_prefix(void **state)
{
    (void)state;
    assert_true(kk_str_has_prefix("default.kukeon.io", "default"));
    assert_true(kk_str_has_prefix("abc", ""));
    assert_true(kk_str_has_prefix("abc", "abc"));
    assert_false(kk_str_has_prefix("ab", "abc"));
    assert_false(kk_str_has_prefix("", "a"));
    assert_false(kk_str_has_prefix("xabc", "abc"));
}

static int cleanup_fd_seen = -1;

static void open_and_forget(void)
{
    _cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    cleanup_fd_seen = fd;
    _cleanup_free_ char *p = strdup("released at scope end (ASan would see a leak)");
    assert_non_null(p);
}

static void test_cleanup_attributes(void **state)
{
    (void)state;
    open_and_forget();
    assert_true(cleanup_fd_seen >= 0);
    errno = 0;
    assert_int_equal(fcntl(cleanup_fd_seen, F_GETFD), -1);
    assert_int_equal(errno, EBADF);

    /* KK_STEAL moves ownership out: the cleanup sees NULL / -1 */
    char *kept;
    int kept_fd;
    {
        _cleanup_free_ char *p = strdup("kept");
        _cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        kept = KK_STEAL(p);
        kept_fd = KK_STEAL_FD(fd);
        assert_null(p);
        assert_int_equal(fd, -1);
    }
    assert_string_equal(kept, "kept");
    assert_int_not_equal(fcntl(kept_fd, F_GETFD), -1);
    free(kept);
    close(kept_fd);

    /* cleanup of nothing is harmless, and keeps errno */
    {
        _cleanup_free_ char *none = NULL;
        _cleanup_close_ int nofd = -1;
        _cleanup_fclose_ FILE *nof = NULL;
        (void)none;
        (void)nofd;
        (void)nof;
        errno = ENOSPC;
    }
    assert_int_equal(errno, ENOSPC);
}

/* ---- log.c ------------------------------------------------------------------------------------- */

static void test_log_escape(void **state)
{
    (void)state;
    const struct {
        const char *in;
        unsigned long size;
        const char *want;
    } rows[] = {
        /* hostile bytes first */
        {"a\"b", 64, "a\\\"b"},
        {"a\\b", 64, "a\\\\b"},
        {"line1\nline2", 64, "line1\\x0aline2"},
        {"x\r\n level=ERROR", 64, "x\\x0d\\x0a level=ERROR"},
        {"\t", 64, "\\x09"},
        {"\x1b[2J", 64, "\\x1b[2J"},
        {"\x7f", 64, "\\x7f"},
        {"caf\xc3\xa9", 64, "caf\\xc3\\xa9"},
        {"\xff\x80", 64, "\\xff\\x80"},
        {NULL, 64, ""},
        {"", 64, ""},
        {"plain text, 100% ok", 64, "plain text, 100% ok"},
        /* truncation: "..." only when something was cut, never half an escape */
        {"abcdefg", 8, "abcdefg"},
        {"abcdefgh", 8, "abcd..."},
        {"ab", 3, "ab"},
        {"ab", 5, "ab"},
        {"abc", 3, ""},
        {"abcd", 4, "..."},
        {"abcd", 5, "abcd"},
        {"abcde", 5, "a..."},
        {"ab\ncd", 8, "ab..."},
        {"ab\ncd", 9, "ab\\x0acd"},
        {"\"\"\"", 6, "\\\"..."},
        {"\"\"\"", 7, "\\\"\\\"\\\""},
        {"x", 1, ""},
        {"", 1, ""},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char out[80];
        memset(out, '#', sizeof(out));
        char *r = kk_log_escape(rows[i].in, out, rows[i].size);
        assert_ptr_equal(r, out);
        if (strcmp(out, rows[i].want) != 0)
            fail_msg("row %zu: got \"%s\", want \"%s\"", i, out, rows[i].want);
        if (strlen(out) >= rows[i].size)
            fail_msg("row %zu: %zu bytes in a buffer of %lu", i, strlen(out), rows[i].size);
        /* nothing written past the given size */
        for (size_t j = rows[i].size; j < sizeof(out); j++)
            if (out[j] != '#')
                fail_msg("row %zu: byte %zu written past the end", i, j);
    }
    /* size 0 writes nothing */
    char untouched[2] = {'#', '#'};
    kk_log_escape("abc", untouched, 0);
    assert_int_equal(untouched[0], '#');

    /* every byte value: the output is printable ASCII only */
    char all[256], out[1100];
    for (int b = 1; b < 256; b++)
        all[b - 1] = (char)b;
    all[255] = '\0';
    kk_log_escape(all, out, sizeof(out));
    assert_int_equal(strlen(out), 95 + 2 /* '"' '\\' doubled */ + 4 * (255 - 95));
    for (const char *p = out; *p != '\0'; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
}

static void test_log_levels(void **state)
{
    (void)state;
    const struct {
        const char *s;
        int rc;
        enum kk_log_level want;
    } rows[] = {
        {NULL, -1, 0},
        {"", -1, 0},
        {"verbose", -1, 0},
        {"trace", -1, 0},
        {"err", -1, 0},
        {" info", -1, 0},
        {"info ", -1, 0},
        {"info\n", -1, 0},
        {"warnings", -1, 0},
        {"1", -1, 0},
        {"debug", 0, KK_LOG_DEBUG},
        {"DEBUG", 0, KK_LOG_DEBUG},
        {"info", 0, KK_LOG_INFO},
        {"Info", 0, KK_LOG_INFO},
        {"warn", 0, KK_LOG_WARN},
        {"WARNING", 0, KK_LOG_WARN},
        {"error", 0, KK_LOG_ERROR},
        {"ErRoR", 0, KK_LOG_ERROR},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        enum kk_log_level out = (enum kk_log_level)77;
        int rc = kk_log_parse_level(rows[i].s, &out);
        if (rc != rows[i].rc)
            fail_msg("row %zu (\"%s\"): rc %d, want %d", i, rows[i].s ? rows[i].s : "(null)", rc, rows[i].rc);
        if (rc == 0 && out != rows[i].want)
            fail_msg("row %zu: level %d, want %d", i, out, rows[i].want);
        if (rc != 0 && out != (enum kk_log_level)77)
            fail_msg("row %zu: output written on failure", i);
    }
    assert_string_equal(kk_log_level_name(KK_LOG_DEBUG), "DEBUG");
    assert_string_equal(kk_log_level_name(KK_LOG_INFO), "INFO");
    assert_string_equal(kk_log_level_name(KK_LOG_WARN), "WARN");
    assert_string_equal(kk_log_level_name(KK_LOG_ERROR), "ERROR");
    assert_string_equal(kk_log_level_name((enum kk_log_level)9), "?");
}

/* Read what the logger wrote to a pipe (non-blocking: nothing written reads as ""). */
static size_t drain(int fd, char *buf, size_t size)
{
    ssize_t n = read(fd, buf, size - 1);
    size_t len = n > 0 ? (size_t)n : 0;
    buf[len] = '\0';
    return len;
}

static void test_log_lines(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    kk_log_init("test-prog", KK_LOG_INFO);
    kk_log_set_fd(p[1]);
    char buf[8192];

    kk_info("hello %d", 42);
    size_t n = drain(p[0], buf, sizeof(buf));
    assert_true(n > 0);
    assert_non_null(strstr(buf, "Z level=INFO prog=test-prog msg=hello 42\n"));
    assert_int_equal(buf[n - 1], '\n');
    assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);

    /* below the level: nothing */
    kk_debug("hidden");
    assert_int_equal(drain(p[0], buf, sizeof(buf)), 0);
    kk_log_set_level(KK_LOG_DEBUG);
    assert_int_equal(kk_log_get_level(), KK_LOG_DEBUG);
    kk_debug("shown");
    drain(p[0], buf, sizeof(buf));
    assert_non_null(strstr(buf, "level=DEBUG prog=test-prog msg=shown\n"));

    /* a message never spans lines */
    kk_warn("one\ntwo\r\nthree");
    n = drain(p[0], buf, sizeof(buf));
    assert_non_null(strstr(buf, "level=WARN prog=test-prog msg=one two  three\n"));
    assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);

    /* a huge message is cut, still one line */
    char big[5000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    kk_errorf("%s", big);
    n = drain(p[0], buf, sizeof(buf));
    assert_true(n <= 2048);
    assert_int_equal(buf[n - 1], '\n');
    assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);
    assert_non_null(strstr(buf, "level=ERROR"));

    /* an over-long program name is cut, not overflowed */
    kk_log_init("a-very-long-program-name-that-does-not-fit-in-the-buffer", KK_LOG_INFO);
    kk_info("x");
    drain(p[0], buf, sizeof(buf));
    assert_non_null(strstr(buf, "prog=a-very-long-program-name-that-d msg=x\n"));

    kk_log_set_fd(STDERR_FILENO);
    kk_log_init("kukeon", KK_LOG_INFO);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_sets_fields),
        cmocka_unit_test(test_error_truncates_safely),
        cmocka_unit_test(test_error_wrap),
        cmocka_unit_test(test_error_wrap_truncates_safely),
        cmocka_unit_test(test_error_kind_names),
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_parse_i64),
        cmocka_unit_test(test_snprintf_checked),
        cmocka_unit_test(test_strlcpy),
        cmocka_unit_test(test_has_prefix),
        cmocka_unit_test(test_cleanup_attributes),
        cmocka_unit_test(test_log_escape),
        cmocka_unit_test(test_log_levels),
        cmocka_unit_test(test_log_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
