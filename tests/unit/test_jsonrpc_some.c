/* Unit tests for the partial reply decoder of ipc/jsonrpc.c (kk_json_load_some, what `kuke get
 * cells` decodes a large ListCells reply with) and the incremental framing of kk_jsonrpc_call: kept
 * members decoded exactly as json_loadb decodes them (escapes, surrogate pairs, numbers), the rest
 * stepped over even when it holds brackets and escaped quotes, malformed input refused, and a reply
 * that arrives a byte at a time, cut inside escapes, framed and decoded whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ipc/jsonrpc.h"

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (v == NULL)
        fail_msg("bad test JSON (%s): %s", je.text, text);
    return v;
}

/* Decode in with keep; it must equal want (JSON text). */
static void expect_some(const char *in, const char *const *keep, const char *want)
{
    struct kk_err err = {0};
    json_t *got = kk_json_load_some(in, strlen(in), keep, &err);
    if (got == NULL)
        fail_msg("decoding %s failed: %s", in, err.msg);
    json_t *w = J(want);
    if (!json_equal(got, w)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        print_error("got %s, want %s\n", g, want);
        free(g);
        fail();
    }
    json_decref(w);
    json_decref(got);
}

static void expect_refused(const char *in, const char *const *keep)
{
    struct kk_err err = {0};
    json_t *got = kk_json_load_some(in, strlen(in), keep, &err);
    if (got != NULL) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
        print_error("accepted %s as %s\n", in, g);
        free(g);
        fail();
    }
    assert_int_equal(err.kind, KK_ERR_INVALID);
    assert_true(err.msg[0] != '\0');
}

static void test_keeps_named_paths_only(void **state)
{
    (void)state;
    static const char *const keep[] = {"id", "result/Cells/*/metadata/name", "result/Cells/*/status", NULL};
    expect_some("{\"id\":7,\"error\":null,\"result\":{\"Cells\":["
                "{\"metadata\":{\"name\":\"a\",\"labels\":{\"x\":\"y\"}},\"spec\":{\"big\":[1,2,{\"z\":[]}]},"
                "\"status\":{\"state\":\"Ready\",\"containers\":[{\"s\":1}]}},"
                "{\"metadata\":{\"name\":\"b\"},\"status\":null}],\"Err\":null}}",
                keep,
                "{\"id\":7,\"result\":{\"Cells\":[{\"metadata\":{\"name\":\"a\"},"
                "\"status\":{\"state\":\"Ready\",\"containers\":[{\"s\":1}]}},"
                "{\"metadata\":{\"name\":\"b\"},\"status\":null}]}}");
    /* Array elements whose path goes on are kept as (possibly empty) objects: counts survive. */
    static const char *const states[] = {"c/*/state", NULL};
    expect_some("{\"c\":[{\"state\":\"Ready\",\"id\":\"x\"},{\"id\":\"y\"},{\"state\":\"Stopped\"}]}", states,
                "{\"c\":[{\"state\":\"Ready\"},{},{\"state\":\"Stopped\"}]}");
    /* A scalar where an object was expected is kept as it is. */
    expect_some("{\"c\":\"text\",\"d\":1}", states, "{\"c\":\"text\"}");
    /* Nothing kept: the top is still an (empty) object. */
    static const char *const none[] = {NULL};
    expect_some(" {\"a\":[1,{\"b\":2}]} \n", none, "{}");
    /* "*" is every member of an object too; alone, it keeps everything. */
    static const char *const any[] = {"m/*/x", NULL};
    expect_some("{\"m\":{\"a\":{\"x\":1,\"y\":2},\"b\":{\"y\":3}},\"n\":4}", any,
                "{\"m\":{\"a\":{\"x\":1},\"b\":{}}}");
    static const char *const all[] = {"*", NULL};
    expect_some("{\"m\":{\"a\":[1,{\"x\":\"\\u00e9\"}]},\"n\":null}", all,
                "{\"m\":{\"a\":[1,{\"x\":\"\u00e9\"}]},\"n\":null}");
    /* The last of duplicate keys wins, as with json_loadb. */
    static const char *const a[] = {"a", NULL};
    expect_some("{\"a\":1,\"a\":2}", a, "{\"a\":2}");
}

static void test_skips_tricky_strings(void **state)
{
    (void)state;
    static const char *const keep[] = {"keep", NULL};
    /* Brackets, escaped quotes and backslash runs inside skipped strings and keys. */
    expect_some("{\"s\":\"}]\\\"{[\",\"t\\\"}\":[\"\\\\\",\"\\\\\\\"]\"],\"u\":{\"\\\\\":\"\\\\\\\\\"},"
                "\"keep\":\"ok\"}",
                keep, "{\"keep\":\"ok\"}");
    expect_some("{\"skip\":[true,false,null,-1.5e3,0,{\"k\":[[]]}],\"keep\":[true,false,null]}", keep,
                "{\"keep\":[true,false,null]}");
}

static void test_strings_as_jansson(void **state)
{
    (void)state;
    static const char *const keep[] = {"v", NULL};
    const char *cases[] = {
        "{\"v\":\"plain\"}",
        "{\"v\":\"q\\\"b\\\\s\\/n\\nt\\tr\\rb\\bf\\f\"}",
        "{\"v\":\"\\u00e9t\\u00E9 \\u20ac\"}",
        "{\"v\":\"\\ud83d\\ude00 smile\"}",
        "{\"v\":\"caf\xc3\xa9 raw UTF-8\"}",
        "{\"v\":\"\"}",
        "{\"v\":{\"k\\u0041\":\"x\"}}",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *want = J(cases[i]);
        char *text = json_dumps(want, JSON_COMPACT);
        expect_some(cases[i], keep, text);
        free(text);
        json_decref(want);
    }
}

static void test_numbers_as_jansson(void **state)
{
    (void)state;
    static const char *const keep[] = {"n", NULL};
    const char *cases[] = {"{\"n\":0}",   "{\"n\":-0}",      "{\"n\":42}",   "{\"n\":-9223372036854775808}",
                           "{\"n\":1.5}", "{\"n\":-2.5e-3}", "{\"n\":1E10}", "{\"n\":[1,2.0,3e0]}"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kk_err err = {0};
        json_t *got = kk_json_load_some(cases[i], strlen(cases[i]), keep, &err);
        assert_non_null(got);
        json_t *want = J(cases[i]);
        char *g = json_dumps(got, JSON_COMPACT), *w = json_dumps(want, JSON_COMPACT);
        assert_string_equal(g, w);
        free(g), free(w);
        json_decref(got);
        json_decref(want);
    }
}

static void test_refuses_malformed(void **state)
{
    (void)state;
    static const char *const keep[] = {"v", NULL};
    const char *bad[] = {
        "{\"v\":1",                     /* unterminated */
        "{\"v\":1} x",                  /* trailing bytes */
        "{\"v\" 1}",                    /* no colon */
        "{\"v\":1,}",                   /* a comma and no member */
        "{v:1}",                        /* a bare key */
        "{\"v\":01}",                   /* a leading zero */
        "{\"v\":-}",                    /* no digits */
        "{\"v\":1.}",                   /* no fraction digits */
        "{\"v\":99999999999999999999}", /* too big an integer */
        "{\"v\":\"\\u0000\"}",          /* NUL, which jansson refuses too */
        "{\"v\":\"\\udc00\"}",          /* a lone low surrogate */
        "{\"v\":\"\\ud800x\"}",         /* a high surrogate alone */
        "{\"v\":\"\\q\"}",              /* an unknown escape */
        "{\"v\":\"a\tb\"}",             /* a raw control character */
        "{\"v\":\"\xff\"}",             /* not UTF-8 */
        "{\"v\":tru}",                  /* not a word */
        "{\"skip\":\"open",             /* a skipped string never closed */
        "{\"skip\":[1,2}",              /* ... and brackets that never close */
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_refused(bad[i], keep);
}

/* A peer that answers one request with reply, one byte per write, pausing between writes so that
 * each arrives in its own read. */
static pid_t trickle_server(int fd, const char *reply)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    char buf[4096];
    size_t got = 0;
    while (got == 0 || buf[got - 1] != '\n') {
        ssize_t n = read(fd, buf + got, sizeof(buf) - got);
        if (n <= 0)
            _exit(1);
        got += (size_t)n;
    }
    for (const char *p = reply; *p != '\0'; p++) {
        if (write(fd, p, 1) != 1)
            _exit(1);
        struct timespec ts = {0, 200 * 1000};
        nanosleep(&ts, NULL);
    }
    _exit(0);
}

static void test_reply_in_pieces(void **state)
{
    (void)state;
    /* Cut everywhere, including between a backslash and the quote it escapes. */
    /* The client numbers its calls 1, 2, ... in this process. */
#define REPLY_FMT                                                                                            \
    "{\"id\":%d,\"result\":{\"Cells\":[{\"metadata\":{\"name\":\"a\\\\\"},\"x\":\"\\\"}]\\\\\"},"            \
    "{\"metadata\":{\"name\":\"b\\\"c\"}}],\"Err\":null},\"error\":null}\n"
    for (int some = 0; some < 2; some++) {
        char reply[512];
        snprintf(reply, sizeof(reply), REPLY_FMT, some + 1);
        int sv[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        pid_t pid = trickle_server(sv[1], reply);
        assert_true(pid > 0);
        close(sv[1]);
        static const char *const keep[] = {"Cells/*/metadata/name", "Err", NULL};
        json_t *res = NULL;
        struct kk_err err = {0};
        int rc =
            kk_jsonrpc_call_some(sv[0], "KukeonV1.ListCells", NULL, some ? keep : NULL, &res, 10000, &err);
        if (rc < 0)
            fail_msg("call failed: %s", err.msg);
        json_t *cells = json_object_get(res, "Cells");
        assert_int_equal(json_array_size(cells), 2);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(json_array_get(cells, 0), "metadata"), "name")),
            "a\\");
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(json_array_get(cells, 1), "metadata"), "name")),
            "b\"c");
        /* Only what was kept: the skipped member is gone in the partial decode. */
        assert_true((json_object_get(json_array_get(cells, 0), "x") == NULL) == (some == 1));
        assert_true(json_is_null(json_object_get(res, "Err")));
        json_decref(res);
        close(sv[0]);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
}

/* The framer over every prefix of a message agrees with the whole: incomplete until the end. */
static void test_frame_prefixes(void **state)
{
    (void)state;
    const char *msg = "{\"a\":\"x\\\\\",\"b\":\"\\\"}\",\"c\":[{\"d\":\"\\\\\\\"\"}]} {\"next\":1}";
    size_t whole = strlen("{\"a\":\"x\\\\\",\"b\":\"\\\"}\",\"c\":[{\"d\":\"\\\\\\\"\"}]}");
    for (size_t n = 0; n <= strlen(msg); n++) {
        struct kk_err err = {0};
        ssize_t r = kk_jsonrpc_frame(msg, n, KK_JSONRPC_MAX_DEPTH, &err);
        assert_true(r >= 0);
        assert_int_equal((size_t)r, n < whole ? 0 : whole);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keeps_named_paths_only), cmocka_unit_test(test_skips_tricky_strings),
        cmocka_unit_test(test_strings_as_jansson),     cmocka_unit_test(test_numbers_as_jansson),
        cmocka_unit_test(test_refuses_malformed),      cmocka_unit_test(test_reply_in_pieces),
        cmocka_unit_test(test_frame_prefixes),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
