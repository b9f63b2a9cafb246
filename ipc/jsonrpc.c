/* kukeonv1 JSON-RPC 1.0 codec and client call (see jsonrpc.h). jansson parses; this file only
 * bounds what jansson is given, because jansson itself allows 2048 levels and any size. */
#include "ipc/jsonrpc.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

ssize_t kk_jsonrpc_frame(const char *buf, size_t len, unsigned max_depth, struct kk_err *err)
{
    return kk_jsonrpc_frame_max(buf, len, max_depth, KK_JSONRPC_MAX_MSG, err);
}

ssize_t kk_jsonrpc_frame_max(const char *buf, size_t len, unsigned max_depth, size_t max_size,
                             struct kk_err *err)
{
    size_t i = 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t'))
        i++;
    if (i == len)
        return 0;
    if (buf[i] != '{')
        return kk_error(err, KK_ERR_INVALID, 0, "malformed request: expected a JSON object");
    unsigned depth = 0;
    bool in_string = false, escaped = false;
    for (; i < len; i++) {
        if (i >= max_size)
            return kk_error(err, KK_ERR_INVALID, 0, "%s larger than %zu bytes",
                            max_size == KK_JSONRPC_MAX_MSG ? "request" : "message", max_size);
        char c = buf[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                return kk_error(err, KK_ERR_INVALID, 0, "request nested deeper than %u levels", max_depth);
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return kk_error(err, KK_ERR_INVALID, 0, "malformed request: unbalanced '%c'", c);
            if (--depth == 0)
                return (ssize_t)(i + 1);
        }
    }
    if (len >= max_size)
        return kk_error(err, KK_ERR_INVALID, 0, "%s larger than %zu bytes",
                        max_size == KK_JSONRPC_MAX_MSG ? "request" : "message", max_size);
    return 0;
}

int kk_jsonrpc_parse_request(const char *buf, size_t len, struct kk_jsonrpc_request *out, struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "malformed request: %s (line %d)", jerr.text, jerr.line);
    int rc = -1;
    if (!json_is_object(root)) {
        kk_error(err, KK_ERR_INVALID, 0, "malformed request: not a JSON object");
        goto out;
    }
    json_t *id = json_object_get(root, "id");
    out->id = json_incref(id != NULL ? id : json_null());
    json_t *method = json_object_get(root, "method");
    if (!json_is_string(method)) {
        kk_error(err, KK_ERR_INVALID, 0, "malformed request: \"method\" must be a string");
        goto out;
    }
    const char *m = json_string_value(method);
    if (json_string_length(method) >= sizeof(out->method) || strlen(m) != json_string_length(method)) {
        kk_error(err, KK_ERR_INVALID, 0, "malformed request: method name too long or contains NUL");
        goto out;
    }
    memcpy(out->method, m, json_string_length(method) + 1);
    json_t *params = json_object_get(root, "params");
    if (params == NULL || json_is_null(params)) {
        out->params = json_object();
    } else if (json_is_array(params) && json_array_size(params) <= 1) {
        json_t *first = json_array_get(params, 0);
        out->params = first != NULL ? json_incref(first) : json_object();
    } else {
        kk_error(err, KK_ERR_INVALID, 0, "malformed request: \"params\" must be an array of one argument");
        goto out;
    }
    if (out->params == NULL) {
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "decoding request");
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

void kk_jsonrpc_request_free(struct kk_jsonrpc_request *req)
{
    json_decref(req->params);
    json_decref(req->id);
    req->params = NULL;
    req->id = NULL;
}

char *kk_jsonrpc_encode_response(json_t *id, json_t *result, const char *error)
{
    json_t *resp = json_object();
    if (resp == NULL)
        return NULL;
    json_object_set(resp, "id", id != NULL ? id : json_null());
    json_object_set(resp, "result", error == NULL && result != NULL ? result : json_null());
    json_object_set_new(resp, "error", error != NULL ? json_string(error) : json_null());
    char *s = json_dumps(resp, JSON_COMPACT);
    json_decref(resp);
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *line = realloc(s, n + 2);
    if (line == NULL) {
        free(s);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    return line;
}

static long kk_ms_left(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms < 0 ? 0 : ms;
}

static int kk_write_all(int fd, const char *buf, size_t len, const struct timespec *deadline, struct kk_err *err)
{
    while (len > 0) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int pr = poll(&p, 1, (int)kk_ms_left(deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return kk_error(err, KK_ERR_UNAVAILABLE, pr < 0 ? errno : ETIMEDOUT, "sending request to kukeond");
        ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return kk_error(err, KK_ERR_UNAVAILABLE, errno, "sending request to kukeond");
        }
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

int kk_jsonrpc_call(int fd, const char *method, json_t *args, json_t **result, int timeout_ms,
                    struct kk_err *err)
{
    static uint64_t next_id = 1;
    uint64_t id = next_id++;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }

    /* "o" steals the reference: hand it one of its own. */
    json_t *arg = args != NULL ? json_incref(args) : json_object();
    json_t *req = json_pack("{s:s, s:[o], s:I}", "method", method, "params", arg, "id", (json_int_t)id);
    if (req == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "encoding %s", method);
    _cleanup_free_ char *line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (line == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "encoding %s", method);
    if (kk_write_all(fd, line, strlen(line), &deadline, err) < 0 || kk_write_all(fd, "\n", 1, &deadline, err) < 0)
        return -1;

    size_t cap = 64 * 1024, len = 0;
    _cleanup_free_ char *buf = malloc(cap);
    if (buf == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading reply to %s", method);
    for (;;) {
        ssize_t n = kk_jsonrpc_frame_max(buf, len, KK_JSONRPC_MAX_DEPTH * 4, KK_JSONRPC_MAX_REPLY, err);
        if (n < 0)
            return kk_error_wrap(err, "reply to %s", method);
        if (n > 0) {
            len = (size_t)n;
            break;
        }
        if (len == cap) {
            if (cap >= KK_JSONRPC_MAX_REPLY)
                return kk_error(err, KK_ERR_INVALID, 0, "reply to %s is too large", method);
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL)
                return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading reply to %s", method);
            buf = nb;
            cap *= 2;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)kk_ms_left(&deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            return kk_error(err, KK_ERR_UNAVAILABLE, 0, "kukeond did not answer %s within %d ms", method, timeout_ms);
        if (pr < 0)
            return kk_error(err, KK_ERR_UNAVAILABLE, errno, "waiting for the reply to %s", method);
        ssize_t r = recv(fd, buf + len, cap - len, 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            return kk_error(err, KK_ERR_UNAVAILABLE, errno, "reading the reply to %s", method);
        if (r == 0)
            return kk_error(err, KK_ERR_UNAVAILABLE, 0, "kukeond closed the connection during %s", method);
        len += (size_t)r;
    }

    json_error_t jerr;
    json_t *resp = json_loadb(buf, len, 0, &jerr);
    if (resp == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "malformed reply to %s: %s", method, jerr.text);
    int rc = -1;
    json_t *rid = json_object_get(resp, "id");
    json_t *rerr = json_object_get(resp, "error");
    if (!json_is_integer(rid) || (uint64_t)json_integer_value(rid) != id) {
        kk_error(err, KK_ERR_INVALID, 0, "reply to %s carries the wrong id", method);
    } else if (rerr != NULL && !json_is_null(rerr)) {
        kk_error(err, KK_ERR_UNKNOWN, 0, "%s", json_is_string(rerr) ? json_string_value(rerr) : "unknown error");
    } else {
        json_t *res = json_object_get(resp, "result");
        *result = json_incref(res != NULL ? res : json_null());
        rc = 0;
    }
    json_decref(resp);
    return rc;
}

int kk_jsonrpc_dial(const char *path, struct kk_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (kk_strlcpy(sa.sun_path, path, sizeof(sa.sun_path)) < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "socket path %s is longer than %zu bytes", path,
                        sizeof(sa.sun_path) - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating a unix socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        if (e == EACCES || e == EPERM)
            return kk_error(err, KK_ERR_PERMISSION, 0,
                            "dial kukeond at %s: permission denied — add yourself to the kukeon group "
                            "(sudo usermod -aG kukeon $USER) and log in again, or run as root",
                            path);
        if (e == ENOENT || e == ECONNREFUSED)
            return kk_error(err, KK_ERR_UNAVAILABLE, 0,
                            "dial kukeond at %s: %s (is the daemon running? start it with 'kuke daemon start')",
                            path, e == ENOENT ? "no such socket" : "connection refused");
        return kk_error(err, KK_ERR_UNAVAILABLE, e, "dial kukeond at %s", path);
    }
    return fd;
}
