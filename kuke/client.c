/* kuke's connection to kukeond (see client.h). */
#include "kuke/client.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/jsonrpc.h"
#include "kuke/inproc.h"
#include "kukeond/ctl_list.h"

int kuke_socket_path(const struct kuke_ctx *ctx, char *out, size_t size, struct kk_err *err)
{
    const char *host = kuke_flag_or(ctx, "host", "KUKEON_HOST", NULL);
    if (host != NULL) {
        if (kk_str_has_prefix(host, "ssh://"))
            return kk_error(err, KK_ERR_INVALID, 0, "--host %s: ssh:// is not yet implemented", host);
        if (!kk_str_has_prefix(host, "unix://") || host[7] != '/')
            return kk_error(err, KK_ERR_INVALID, 0,
                            "--host %s: expected unix:///absolute/path/to/kukeond.sock", host);
        return kk_snprintf(out, size, err, "--host socket path", "%s", host + 7);
    }
    const char *env_sock = getenv("KUKEOND_SOCKET");
    if (env_sock != NULL && *env_sock != '\0')
        return kk_snprintf(out, size, err, "KUKEOND_SOCKET", "%s", env_sock);
    /* An explicit run path names its own socket, as in the Go client. */
    const char *rp = kuke_flag_or(ctx, "run-path", "KUKEON_RUN_PATH", NULL);
    if (rp != NULL)
        return kk_snprintf(out, size, err, "socket path", "%s/kukeond.sock", rp);
    return kk_snprintf(out, size, err, "socket path", "%s", KUKEON_DEFAULT_SOCKET);
}

/* A reply's Err, when set, as err (its Message verbatim). 0 when the reply carries no error. */
static int kuke_reply_err(json_t *reply, struct kk_err *err)
{
    json_t *e = json_object_get(reply, "Err");
    if (!json_is_object(e))
        return 0;
    json_t *m = json_object_get(e, "Message");
    return kk_error(err, KK_ERR_UNKNOWN, 0, "%s", json_is_string(m) ? json_string_value(m) : "unknown error");
}

int kuke_call(const struct kuke_ctx *ctx, const char *method, json_t *args, json_t **result,
              struct kk_err *err)
{
    char sock[PATH_MAX];
    if (kuke_socket_path(ctx, sock, sizeof(sock), err) < 0)
        return -1;
    _cleanup_close_ int fd = kk_jsonrpc_dial(sock, err);
    if (fd < 0)
        return -1;
    char full[KK_JSONRPC_METHOD_MAX];
    if (kk_snprintf(full, sizeof(full), err, "method name", "KukeonV1.%s", method) < 0)
        return -1;
    json_t *res = NULL;
    if (kk_jsonrpc_call(fd, full, args, &res, 30000, err) < 0)
        return -1;
    if (kuke_reply_err(res, err) < 0) {
        json_decref(res);
        return -1;
    }
    *result = res;
    return 0;
}

/* Resource methods may cascade through many layers and helpers: more time than a Ping. */
#define KUKE_API_TIMEOUT_MS (5 * 60 * 1000)

int kuke_api_call(const struct kuke_ctx *ctx, const char *method, json_t *args, json_t **reply,
                  struct kk_err *err)
{
    return kuke_api_call_some(ctx, method, args, NULL, reply, err);
}

int kuke_api_call_some(const struct kuke_ctx *ctx, const char *method, json_t *args, const char *const *keep,
                       json_t **reply, struct kk_err *err)
{
    *reply = NULL;
    json_t *res = NULL;
    if (kuke_inproc_wanted(ctx)) {
        /* The same fields only, decoded from the stored documents (a table of a thousand cells). */
        kk_ctl_list_keep(keep);
        int rc = kuke_inproc_call(ctx, method, args, &res, err);
        kk_ctl_list_keep(NULL);
        if (rc < 0)
            return -1;
    } else {
        char sock[PATH_MAX];
        if (kuke_socket_path(ctx, sock, sizeof(sock), err) < 0)
            return -1;
        _cleanup_close_ int fd = kk_jsonrpc_dial(sock, err);
        if (fd < 0)
            return -1;
        char full[KK_JSONRPC_METHOD_MAX];
        if (kk_snprintf(full, sizeof(full), err, "method name", "KukeonV1.%s", method) < 0 ||
            kk_jsonrpc_call_some(fd, full, args, keep, &res, KUKE_API_TIMEOUT_MS, err) < 0)
            return -1;
    }
    if (!json_is_object(res)) {
        json_decref(res);
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s: the reply is not an object", method);
    }
    if (kuke_reply_err(res, err) < 0) {
        json_decref(res);
        return -1;
    }
    *reply = res;
    return 0;
}

int kuke_api_call_take(const struct kuke_ctx *ctx, const char *method, json_t *args, json_t **reply,
                       struct kk_err *err)
{
    *reply = NULL;
    if (args == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
    int rc = kuke_api_call(ctx, method, args, reply, err);
    json_decref(args);
    return rc;
}

int kuke_self_dir(char *out, size_t size, struct kk_err *err)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "reading /proc/self/exe");
    exe[n] = '\0';
    return kk_snprintf(out, size, err, "binary directory", "%s", dirname(exe));
}
