/* Unit tests for kukeond/journal.h: a relayed member's line becomes one native journal entry with the
 * member's name as SYSLOG_IDENTIFIER and its level as PRIORITY; the journal is used only when
 * $JOURNAL_STREAM names this process's stderr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "kukeond/journal.h"

static char dir[64], sock_path[128];
static int sock_fd = -1;

static int setup(void **state)
{
    snprintf(dir, sizeof(dir), "/tmp/kk-journal-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(sock_path, sizeof(sock_path), "%s/socket", dir);
    sock_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, sock_path, strlen(sock_path));
    assert_int_equal(bind(sock_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(sock_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return 0;
}

static int teardown(void **state)
{
    close(sock_fd);
    unlink(sock_path);
    rmdir(dir);
    unsetenv("JOURNAL_STREAM");
    return 0;
}

static void test_relayed_line_is_one_entry(void **state)
{
    const char *line = "2026-11-29T22:00:00.000Z level=WARN prog=kuke-netd msg=\"bridge k-1 missing\"";
    assert_int_equal(kd_journal_relay_line(sock_path, "kuke-netd", 4242, line), 0);
    char buf[1024] = "";
    ssize_t n = recv(sock_fd, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "PRIORITY=4\n"));
    assert_non_null(strstr(buf, "SYSLOG_IDENTIFIER=kuke-netd\n"));
    assert_non_null(strstr(buf, "KUKEON_PROCESS=kuke-netd\n"));
    assert_non_null(strstr(buf, "SYSLOG_PID=4242\n"));
    char want[256];
    snprintf(want, sizeof(want), "MESSAGE=%s\n", line);
    assert_non_null(strstr(buf, want));
}

static void test_levels_map_to_priorities(void **state)
{
    static const struct {
        const char *line;
        const char *want;
    } cases[] = {
        {"t level=DEBUG prog=x msg=a", "PRIORITY=7\n"}, {"t level=INFO prog=x msg=a", "PRIORITY=6\n"},
        {"t level=ERROR prog=x msg=a", "PRIORITY=3\n"}, {"no level at all", "PRIORITY=6\n"},
        {"t level=BOGUS prog=x", "PRIORITY=6\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(kd_journal_relay_line(sock_path, "kukeond-api", 1, cases[i].line), 0);
        char buf[512] = "";
        assert_true(recv(sock_fd, buf, sizeof(buf) - 1, 0) > 0);
        if (strncmp(buf, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("%s: got %s", cases[i].line, buf);
    }
}

static void test_newline_is_refused(void **state)
{
    assert_int_equal(kd_journal_send(sock_path, "kuke-cgd", 1, KK_LOG_INFO, "two\nlines"), -1);
}

static void test_wanted_only_when_stderr_is_the_stream(void **state)
{
    unsetenv("JOURNAL_STREAM");
    assert_false(kd_journal_wanted());
    struct stat st;
    assert_int_equal(fstat(STDERR_FILENO, &st), 0);
    char v[64];
    snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
    setenv("JOURNAL_STREAM", v, 1);
    assert_true(kd_journal_wanted());
    snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino + 1);
    setenv("JOURNAL_STREAM", v, 1);
    assert_false(kd_journal_wanted());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_relayed_line_is_one_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_levels_map_to_priorities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newline_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wanted_only_when_stderr_is_the_stream, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
