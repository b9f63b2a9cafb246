/* Unit tests for the terminal relay protocol's client side (common/ttyrelay.c) and kuke's choice of
 * container (kuke/cmd_attach.c): frame encoding; the detach key (^]^] ends the attach, a single ^]
 * is sent on with the next byte); a relay's close ends it; a missing socket is reported by path;
 * --container, spec.tty.default and the only non-root (attachable) container, with the reference's
 * messages; the relay's exit file (format from real wait statuses, and the parser's refusals). A fork
 * plays the relay on a real Unix socket. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/ttyrelay.h"
#include "kuke/terminal.h"

static void test_frame_encoding(void **state)
{
    (void)state;
    uint8_t buf[KK_TTY_HDR + 3];
    kk_tty_frame(buf, KK_TTY_DATA, "abc", 3);
    assert_int_equal(buf[0], KK_TTY_DATA);
    assert_int_equal(buf[1], 0);
    assert_int_equal(buf[2], 0);
    assert_int_equal(buf[3], 3);
    assert_memory_equal(buf + KK_TTY_HDR, "abc", 3);
    uint8_t payload[0x0102] = {0}, big[KK_TTY_HDR + sizeof(payload)];
    kk_tty_frame(big, KK_TTY_DATA, payload, sizeof(payload));
    assert_int_equal(big[2], 1);
    assert_int_equal(big[3], 2);
}

/* A relay on path that reads frames until the client goes, then (close_first) or before that closes;
 * the DATA bytes it got are written to report. */
static pid_t fake_relay(const char *path, int report, const char *say, int *listen_fd)
{
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path);
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(l, 1), 0);
    *listen_fd = l;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0)
        return pid;
    int c = accept(l, NULL, NULL);
    if (say != NULL) {
        /* Say something and close: the workload exited. */
        ssize_t w = write(c, say, strlen(say));
        (void)w;
        close(c);
        _exit(0);
    }
    uint8_t buf[65536];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(c, buf + n, sizeof(buf) - n);
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    size_t off = 0;
    while (n - off >= KK_TTY_HDR) {
        size_t len = ((size_t)buf[off + 2] << 8) | buf[off + 3];
        if (buf[off] == KK_TTY_DATA) {
            ssize_t w = write(report, buf + off + KK_TTY_HDR, len);
            (void)w;
        }
        off += KK_TTY_HDR + len;
    }
    _exit(0);
}

static void tmp_socket(char *path, size_t size)
{
    snprintf(path, size, "/tmp/kk-ttyrelay-%d.sock", (int)getpid());
}

static void test_detach_key(void **state)
{
    (void)state;
    char path[108];
    tmp_socket(path, sizeof(path));
    int rep[2], in[2], out[2];
    assert_int_equal(pipe(rep), 0);
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    int l;
    pid_t relay = fake_relay(path, rep[1], NULL, &l);
    close(rep[1]);
    /* A lone ^] goes on with the byte after it; two in a row detach, and what follows is not sent. */
    const char keys[] = "ab\x1d"
                        "c\x1d\x1dzz";
    assert_int_equal(write(in[1], keys, sizeof(keys) - 1), (ssize_t)(sizeof(keys) - 1));
    enum kk_tty_end end = KK_TTY_END_CLOSED;
    struct kk_err err = {0};
    assert_int_equal(kk_tty_attach(path, in[0], out[1], "test", &end, &err), 0);
    assert_int_equal(end, KK_TTY_END_DETACH);
    int st;
    waitpid(relay, &st, 0);
    char got[64] = "";
    ssize_t n = read(rep[0], got, sizeof(got) - 1);
    got[n > 0 ? n : 0] = '\0';
    assert_string_equal(got, "ab\x1d"
                             "c");
    close(l);
    unlink(path);
    close(rep[0]);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
}

static void test_relay_close_ends_attach(void **state)
{
    (void)state;
    char path[108];
    tmp_socket(path, sizeof(path));
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    int l;
    pid_t relay = fake_relay(path, -1, "bye\r\n", &l);
    enum kk_tty_end end = KK_TTY_END_DETACH;
    struct kk_err err = {0};
    assert_int_equal(kk_tty_attach(path, in[0], out[1], "test", &end, &err), 0);
    assert_int_equal(end, KK_TTY_END_CLOSED);
    int st;
    waitpid(relay, &st, 0);
    char got[64] = "";
    ssize_t n = read(out[0], got, sizeof(got) - 1);
    got[n > 0 ? n : 0] = '\0';
    assert_string_equal(got, "bye\r\n");
    close(l);
    unlink(path);
    close(in[0]);
    close(in[1]);
    close(out[0]);
    close(out[1]);
}

static void test_missing_socket(void **state)
{
    (void)state;
    enum kk_tty_end end;
    struct kk_err err = {0};
    assert_int_equal(
        kk_tty_attach("/nonexistent/kk/socket", 0, 1, "container \"m\" in cell \"c\"", &end, &err), -1);
    assert_int_equal(err.kind, KK_ERR_UNAVAILABLE);
    assert_non_null(strstr(err.msg, "container \"m\" in cell \"c\""));
    assert_non_null(strstr(err.msg, "/nonexistent/kk/socket"));
}

static json_t *cell(const char *containers, const char *tty_default)
{
    char text[2048];
    snprintf(text, sizeof(text), "{\"metadata\":{\"name\":\"web\"},\"spec\":{%s%s%s\"containers\":%s}}",
             tty_default != NULL ? "\"tty\":{\"default\":\"" : "", tty_default != NULL ? tty_default : "",
             tty_default != NULL ? "\"}," : "", containers);
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    return j;
}

static void test_pick(void **state)
{
    (void)state;
    char out[KUKE_ARG_MAX];
    struct kk_err err = {0};
    json_t *c =
        cell("[{\"id\":\"root\",\"root\":true,\"attachable\":false},{\"id\":\"app\",\"attachable\":true},"
             "{\"id\":\"side\",\"attachable\":false}]",
             NULL);
    assert_int_equal(kuke_term_pick(c, NULL, true, out, &err), 0);
    assert_string_equal(out, "app");
    assert_int_equal(kuke_term_pick(c, "app", true, out, &err), 0);
    assert_int_equal(kuke_term_pick(c, "side", true, out, &err), -1);
    assert_string_equal(err.msg, "container \"side\" in cell \"web\" is not attachable");
    assert_int_equal(kuke_term_pick(c, "nope", true, out, &err), -1);
    assert_string_equal(err.msg, "container \"nope\" not found in cell \"web\"");
    /* log: any non-root container, so two here. */
    assert_int_equal(kuke_term_pick(c, NULL, false, out, &err), -1);
    assert_string_equal(err.msg, "cell \"web\" has 2 containers: choose one with --container");
    assert_int_equal(kuke_term_pick(c, "side", false, out, &err), 0);
    assert_string_equal(out, "side");
    json_decref(c);

    c = cell("[{\"id\":\"a\",\"attachable\":true},{\"id\":\"b\",\"attachable\":true}]", "b");
    assert_int_equal(kuke_term_pick(c, NULL, true, out, &err), 0);
    assert_string_equal(out, "b");
    json_decref(c);
    c = cell("[{\"id\":\"a\",\"attachable\":true},{\"id\":\"b\",\"attachable\":true}]", NULL);
    assert_int_equal(kuke_term_pick(c, NULL, true, out, &err), -1);
    assert_string_equal(err.msg, "cell \"web\" has 2 attachable containers: choose one with --container");
    json_decref(c);
    c = cell("[{\"id\":\"root\",\"root\":true},{\"id\":\"a\"}]", NULL);
    assert_int_equal(kuke_term_pick(c, NULL, true, out, &err), -1);
    assert_string_equal(err.msg, "cell \"web\" has no attachable container (set attachable: true on one)");
    json_decref(c);
}

/* The wait status of a real child that exits with code, or (code < 0) is killed by -code. */
static int child_status(int code)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (code < 0)
            raise(-code);
        _exit(code < 0 ? 99 : code);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void test_exit_file(void **state)
{
    (void)state;
    static const struct {
        int code;
        const char *want;
    } cases[] = {{0, "exited 0\n"},
                 {3, "exited 3\n"},
                 {255, "exited 255\n"},
                 {-SIGKILL, "signaled 9\n"},
                 {-SIGTERM, "signaled 15\n"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[KK_TTY_EXIT_MAX];
        int n = kk_tty_exit_format(child_status(cases[i].code), buf, sizeof(buf));
        assert_int_equal(n, (int)strlen(cases[i].want));
        assert_string_equal(buf, cases[i].want);
        bool sig = !(cases[i].code < 0);
        int code = -1;
        assert_int_equal(kk_tty_exit_parse(buf, (size_t)n, &sig, &code), 0);
        assert_int_equal(sig, cases[i].code < 0);
        assert_int_equal(code, cases[i].code < 0 ? -cases[i].code : cases[i].code);
    }
    char tiny[4];
    assert_int_equal(kk_tty_exit_format(0, tiny, sizeof(tiny)), -1);
    /* What a planted or truncated file may hold: never taken for a status. */
    static const char *const bad[] = {"",
                                      "exited",
                                      "exited \n",
                                      "exited 3",
                                      "exited 3\n\n",
                                      "exited 03\n",
                                      "exited -1\n",
                                      "exited 256\n",
                                      "exited 1000\n",
                                      "signaled 0\n",
                                      "signaled 65\n",
                                      "Exited 3\n",
                                      "exited 3 \n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bool sig = false;
        int code = 0;
        assert_int_equal(kk_tty_exit_parse(bad[i], strlen(bad[i]), &sig, &code), -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_encoding),
        cmocka_unit_test(test_detach_key),
        cmocka_unit_test(test_relay_close_ends_attach),
        cmocka_unit_test(test_missing_socket),
        cmocka_unit_test(test_pick),
        cmocka_unit_test(test_exit_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
