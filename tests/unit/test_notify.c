/* Unit tests for kukeond/notify.h: the sd_notify datagram reaches $NOTIFY_SOCKET (a path or an
 * abstract name), nothing happens outside systemd, and the ready notifier waits until the API
 * answers a Ping before it says READY=1 with the supervisor as MAINPID. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kukeond/notify.h"

static char tmpdir[64];

static int setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/kk-notify-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
    unsetenv("NOTIFY_SOCKET");
    return 0;
}

/* A datagram socket bound at name (a path, or "@..." for the abstract namespace). */
static int listen_dgram(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    memcpy(sa.sun_path, name, n);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    assert_int_equal(
        bind(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)), 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void test_no_systemd_is_a_no_op(void **state)
{
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(kd_sd_notify("READY=1"), 0);
    kd_sd_notify_ready_async("/nonexistent.sock", 100); /* forks nothing */
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static void test_path_socket_gets_the_datagram(void **state)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/notify", tmpdir);
    int fd = listen_dgram(path);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(kd_sd_notify("STOPPING=1"), 1);
    char buf[64] = "";
    assert_int_equal(recv(fd, buf, sizeof(buf) - 1, 0), 10);
    assert_string_equal(buf, "STOPPING=1");
    close(fd);
}

static void test_abstract_socket_gets_the_datagram(void **state)
{
    char name[64];
    snprintf(name, sizeof(name), "@kk-notify-test-%d", (int)getpid());
    int fd = listen_dgram(name);
    setenv("NOTIFY_SOCKET", name, 1);
    assert_int_equal(kd_sd_notify("READY=1"), 1);
    char buf[64] = "";
    assert_int_equal(recv(fd, buf, sizeof(buf) - 1, 0), 7);
    assert_string_equal(buf, "READY=1");
    close(fd);
}

static void test_bad_socket_values_fail(void **state)
{
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(kd_sd_notify("READY=1"), -1);
    char path[128];
    snprintf(path, sizeof(path), "%s/nobody-listens", tmpdir);
    setenv("NOTIFY_SOCKET", path, 1);
    assert_int_equal(kd_sd_notify("READY=1"), -1);
}

/* A stand-in for the API worker: answers one JSON-RPC call on a unix stream socket, after delay_ms. */
static pid_t fake_api(const char *path, int delay_ms)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0)
        return pid;
    struct timespec ts = {.tv_sec = delay_ms / 1000, .tv_nsec = (delay_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path));
    if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 4) < 0)
        _exit(1);
    int c = accept(l, NULL, NULL);
    char req[512] = "";
    ssize_t n = read(c, req, sizeof(req) - 1);
    if (n <= 0 || strstr(req, "\"KukeonV1.Ping\"") == NULL)
        _exit(2);
    /* The id of the request, echoed. */
    const char *id = strstr(req, "\"id\":");
    long idv = id != NULL ? strtol(id + 5, NULL, 10) : 0;
    char reply[128];
    int len =
        snprintf(reply, sizeof(reply), "{\"id\":%ld,\"result\":{\"Version\":\"t\"},\"error\":null}\n", idv);
    if (write(c, reply, (size_t)len) != len)
        _exit(3);
    close(c);
    _exit(0);
}

static void test_ready_waits_for_the_api(void **state)
{
    char ns[128], api[128];
    snprintf(ns, sizeof(ns), "%s/notify", tmpdir);
    snprintf(api, sizeof(api), "%s/api.sock", tmpdir);
    int fd = listen_dgram(ns);
    setenv("NOTIFY_SOCKET", ns, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t server = fake_api(api, 400);
    kd_sd_notify_ready_async(api, 5000);
    char buf[256] = "";
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(n > 0);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 400); /* not before the API listened and answered */
    char want[64];
    snprintf(want, sizeof(want), "READY=1\nMAINPID=%d\n", (int)getpid());
    assert_memory_equal(buf, want, strlen(want));
    int status;
    assert_int_equal(waitpid(server, &status, 0), server);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The notifier child exits 0 once it has sent. */
    pid_t child = wait(&status);
    assert_true(child > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_systemd_is_a_no_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_socket_gets_the_datagram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abstract_socket_gets_the_datagram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_socket_values_fail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ready_waits_for_the_api, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
