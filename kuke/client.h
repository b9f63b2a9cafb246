/* How kuke reaches kukeond: socket resolution (--host, KUKEON_HOST, --run-path, KUKEOND_SOCKET,
 * default) and one JSON-RPC call per request. */
#ifndef KUKEON_KUKE_CLIENT_H
#define KUKEON_KUKE_CLIENT_H

#include <jansson.h>
#include <limits.h>

#include "common/err.h"
#include "kuke/cli.h"

#define KUKEON_DEFAULT_SOCKET        "/run/kukeon/kukeond.sock"
#define KUKEON_DEFAULT_RUN_PATH      "/opt/kukeon"
#define KUKEON_DEFAULT_LOG_DIR       "/var/log/kukeon"
#define KUKEON_DEFAULT_CONTAINERD    "/run/containerd/containerd.sock"
#define KUKEON_DEFAULT_SERVER_CONFIG "/etc/kukeon/kukeond.yaml"

/* Resolve the daemon socket path into out (size bytes). */
int kuke_socket_path(const struct kuke_ctx *ctx, char *out, size_t size, struct kk_err *err);

/* Dial the daemon and call KukeonV1.<method> with args (borrowed). *result is a new reference.
 * A reply whose "Err" member is set becomes an error with its Message, verbatim. */
int kuke_call(const struct kuke_ctx *ctx, const char *method, json_t *args, json_t **result,
              struct kk_err *err);

/* Call a kukeonv1 resource method where this invocation runs it: in this process (kuke/inproc.h)
 * or through kukeond. Either way *reply is the reply object as the daemon sends it (a new
 * reference), and a reply whose "Err" is set becomes err with its Message, verbatim. */
int kuke_api_call(const struct kuke_ctx *ctx, const char *method, json_t *args, json_t **reply,
                  struct kk_err *err);

/* kuke_api_call that decodes, of a reply from kukeond, only the members on the paths of keep
 * (NULL-terminated; ipc/jsonrpc.h kk_jsonrpc_call_some) — a table of a thousand cells needs a few
 * fields of each. In-process, ListCells decodes only those fields of each stored document
 * (kukeond/ctl_list.h kk_ctl_list_keep); a reply may hold more than was asked (the checks' fields,
 * whole replies from other methods), never less. keep NULL is kuke_api_call. */
int kuke_api_call_some(const struct kuke_ctx *ctx, const char *method, json_t *args, const char *const *keep,
                       json_t **reply, struct kk_err *err);

/* kuke_api_call that takes args (a new reference it releases); NULL args, as a failed json_pack
 * returns, is an out-of-memory error. */
int kuke_api_call_take(const struct kuke_ctx *ctx, const char *method, json_t *args, json_t **reply,
                       struct kk_err *err);

/* The directory of the running kuke binary (to find kukeond beside it). */
int kuke_self_dir(char *out, size_t size, struct kk_err *err);

#endif
