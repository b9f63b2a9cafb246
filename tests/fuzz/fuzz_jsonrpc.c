/* libFuzzer target: the kukeonv1 JSON-RPC decoder kukeond runs on every byte a client sends
 * (ipc/jsonrpc.h): framing a stream into requests, as kukeond/api.c does, then decoding each one.
 * Besides not crashing, it checks the decoder's promises:
 * - a frame is a prefix of the input that ends with the bracket closing its first object, never past
 *   the input nor past KK_JSONRPC_MAX_MSG; a refused stream always says why. The framer counts
 *   brackets without pairing them ("{[}" or "{]" end a frame too): the decoder then refuses that
 *   frame as malformed JSON, so a frame that is valid JSON is always a whole object;
 * - a decoded request has a NUL-terminated method shorter than KK_JSONRPC_METHOD_MAX, params and an
 *   id; a refused one says why;
 * - the response encoded for it (success with the params as result, and an error reply) is one
 *   line of JSON that reads back with the same id. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/jsonrpc.h"

static void check_error(const struct kk_err *err)
{
    if (err->msg[0] == '\0' || strnlen(err->msg, sizeof(err->msg)) == sizeof(err->msg))
        abort();
}

/* The encoded response is one newline-terminated JSON object echoing id. */
static void check_response(json_t *id, json_t *result, const char *error)
{
    char *text = kk_jsonrpc_encode_response(id, result, error);
    if (text == NULL)
        return; /* out of memory */
    size_t len = strlen(text);
    if (len == 0 || text[len - 1] != '\n' || memchr(text, '\n', len - 1) != NULL)
        abort();
    json_error_t jerr;
    json_t *back = json_loadb(text, len, 0, &jerr);
    if (back == NULL || !json_is_object(back) || !json_equal(json_object_get(back, "id"), id))
        abort();
    json_decref(back);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    size_t off = 0;
    /* Requests one after another on one connection, as the API worker reads them. */
    for (int n = 0; n < 64 && off < size; n++) {
        struct kk_err err = {0};
        ssize_t len = kk_jsonrpc_frame(buf + off, size - off, KK_JSONRPC_MAX_DEPTH, &err);
        if (len < 0) {
            check_error(&err);
            return 0;
        }
        if (len == 0)
            return 0; /* needs more bytes */
        if ((size_t)len > size - off || (size_t)len > KK_JSONRPC_MAX_MSG ||
            (buf[off + (size_t)len - 1] != '}' && buf[off + (size_t)len - 1] != ']'))
            abort();
        json_error_t jerr;
        json_t *whole = json_loadb(buf + off, (size_t)len, 0, &jerr);
        if (whole != NULL && (!json_is_object(whole) || buf[off + (size_t)len - 1] != '}'))
            abort();
        json_decref(whole);
        struct kk_jsonrpc_request req;
        if (kk_jsonrpc_parse_request(buf + off, (size_t)len, &req, &err) < 0) {
            check_error(&err);
            if (req.id != NULL)
                check_response(req.id, NULL, err.msg);
        } else {
            size_t mlen = strnlen(req.method, sizeof(req.method));
            if (mlen == sizeof(req.method) || req.params == NULL || req.id == NULL)
                abort();
            check_response(req.id, req.params, NULL);
            check_response(req.id, NULL, "refused");
        }
        kk_jsonrpc_request_free(&req);
        off += (size_t)len;
    }
    return 0;
}
