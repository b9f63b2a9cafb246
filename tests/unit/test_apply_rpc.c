/* Regression tests from fuzz_jsonrpc (tests/fuzz/fuzz_jsonrpc.c): the framer of kukeond's JSON-RPC
 * stream counts brackets without pairing them, so a request whose brackets do not pair ends its
 * frame early; the decoder must then refuse that frame as malformed (and keep the id it could
 * read), never take part of it as a request. A well-formed request is framed whole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ipc/jsonrpc.h"

/* The first fuzz finding: "params":W{...}] — the ']' closes the frame at depth 0. */
static void test_unpaired_brackets(void **state)
{
    (void)state;
    const char *in = "{\"method\":\"KukeonV1.ApplyDocuments\",\"params\":W{\"RawYAML\":\"a2luZDogUmVhbG0K\","
                     "\"Team\":\"\"}],\"id\":\"x\"}\n{\"id\":2}";
    struct kk_err err = {0};
    ssize_t n = kk_jsonrpc_frame(in, strlen(in), KK_JSONRPC_MAX_DEPTH, &err);
    assert_true(n > 0);
    assert_int_equal(in[n - 1], ']');
    struct kk_jsonrpc_request req;
    assert_int_equal(kk_jsonrpc_parse_request(in, (size_t)n, &req, &err), -1);
    assert_non_null(strstr(err.msg, "malformed request"));
    kk_jsonrpc_request_free(&req);
    /* What follows is not the start of an object: the stream is refused, with a reason. */
    kk_err_clear(&err);
    assert_int_equal(kk_jsonrpc_frame(in + n, strlen(in + n), KK_JSONRPC_MAX_DEPTH, &err), -1);
    assert_true(err.msg[0] != '\0');
}

static void test_whole_requests(void **state)
{
    (void)state;
    const char *in =
        " {\"method\":\"KukeonV1.ApplyDocuments\",\"params\":[{\"RawYAML\":\"e30=\",\"Team\":\"]}\"}],"
        "\"id\":7}{\"method\":\"KukeonV1.Ping\",\"id\":\"p\"}";
    struct kk_err err = {0};
    ssize_t n = kk_jsonrpc_frame(in, strlen(in), KK_JSONRPC_MAX_DEPTH, &err);
    assert_true(n > 0);
    struct kk_jsonrpc_request req;
    assert_int_equal(kk_jsonrpc_parse_request(in, (size_t)n, &req, &err), 0);
    assert_string_equal(req.method, "KukeonV1.ApplyDocuments");
    assert_string_equal(json_string_value(json_object_get(req.params, "Team")), "]}");
    assert_int_equal(json_integer_value(req.id), 7);
    kk_jsonrpc_request_free(&req);
    const char *rest = in + n;
    n = kk_jsonrpc_frame(rest, strlen(rest), KK_JSONRPC_MAX_DEPTH, &err);
    assert_int_equal((size_t)n, strlen(rest));
    assert_int_equal(kk_jsonrpc_parse_request(rest, (size_t)n, &req, &err), 0);
    assert_string_equal(req.method, "KukeonV1.Ping");
    assert_true(json_is_object(req.params));
    kk_jsonrpc_request_free(&req);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unpaired_brackets),
        cmocka_unit_test(test_whole_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
