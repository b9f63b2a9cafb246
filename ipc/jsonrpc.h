/* The kukeonv1 JSON-RPC 1.0 codec, wire-compatible with Go's net/rpc/jsonrpc: a stream of JSON
 * objects on a unix stream socket, {"method","params":[args],"id"} answered by
 * {"id","result","error"}. Bounded in size and nesting depth before any parser sees the bytes. */
#ifndef KUKEON_IPC_JSONRPC_H
#define KUKEON_IPC_JSONRPC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define KK_JSONRPC_MAX_MSG   (1024 * 1024)
#define KK_JSONRPC_MAX_DEPTH 64
#define KK_JSONRPC_METHOD_MAX 128

/* Find the end of the first complete JSON object in buf. Returns its length (leading whitespace
 * included), 0 if more bytes are needed, -1 if the bytes cannot start an object, nest deeper than
 * max_depth, or the object would exceed KK_JSONRPC_MAX_MSG. Leading whitespace only: *skip. */
ssize_t kk_jsonrpc_frame(const char *buf, size_t len, unsigned max_depth, struct kk_err *err);
/* The same with another size bound: a client reads replies up to KK_JSONRPC_MAX_REPLY (a list of
 * thousands of cells is several MiB; requests stay bounded by KK_JSONRPC_MAX_MSG). */
#define KK_JSONRPC_MAX_REPLY (64 * 1024 * 1024)
ssize_t kk_jsonrpc_frame_max(const char *buf, size_t len, unsigned max_depth, size_t max_size,
                             struct kk_err *err);

struct kk_jsonrpc_request {
    char method[KK_JSONRPC_METHOD_MAX];
    json_t *params; /* the first element of "params" (Go sends one argument), or an empty object */
    json_t *id;     /* as sent: any JSON value; echoed back */
};

/* Parse one framed request. On failure err says why and *out holds whatever id could be read
 * (so the error reply can carry it). Release with kk_jsonrpc_request_free. */
int kk_jsonrpc_parse_request(const char *buf, size_t len, struct kk_jsonrpc_request *out, struct kk_err *err);
void kk_jsonrpc_request_free(struct kk_jsonrpc_request *req);

/* Encode a response; result is borrowed; error NULL for success. Returns a malloc'd
 * newline-terminated string, or NULL on allocation failure. */
char *kk_jsonrpc_encode_response(json_t *id, json_t *result, const char *error);

/* The start of a successful response whose result is written as text after it ('{"id":<id>,"result":'),
 * and its end (',"error":null}' and the newline): with the result's compact text between them, the
 * bytes kk_jsonrpc_encode_response makes of the same result. NULL on allocation failure. */
char *kk_jsonrpc_response_head(json_t *id, size_t *len);
#define KK_JSONRPC_RESPONSE_TAIL ",\"error\":null}\n"

/* Client side: one call on a connected stream socket. args is borrowed. On success *result is a
 * new reference to the "result" member. A non-null "error" member becomes KK_ERR_UNKNOWN with its
 * text. timeout_ms bounds the whole exchange. */
int kk_jsonrpc_call(int fd, const char *method, json_t *args, json_t **result, int timeout_ms,
                    struct kk_err *err);

/* The same, decoding of the reply only the members under result that keep names (NULL-terminated
 * paths of '/'-separated keys, "*" for every element of an array or member of an object:
 * "Cells/ * /metadata/name" without the spaces); every other member is stepped over, unbuilt. keep NULL
 * decodes everything. A caller that reads a few fields of a large reply (a table of cells) saves most of the
 * decoding. */
int kk_jsonrpc_call_some(int fd, const char *method, json_t *args, const char *const *keep, json_t **result,
                         int timeout_ms, struct kk_err *err);

/* Decode the JSON text buf (one value, whitespace around it) keeping only the members on the paths
 * of keep (as above, from the top; a path names a whole subtree; the top value itself is always
 * made, an empty object or array when nothing under it is kept). Values kept are what json_loadb
 * would make of them; stepped-over ones are checked for balance and string syntax only. NULL and
 * err on malformed input. */
json_t *kk_json_load_some(const char *buf, size_t len, const char *const *keep, struct kk_err *err);

/* Connect to a unix socket path; errors name the path and, on EACCES, say how to get access. */
int kk_jsonrpc_dial(const char *path, struct kk_err *err);

#endif
