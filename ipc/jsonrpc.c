/* kukeonv1 JSON-RPC 1.0 codec and client call (see jsonrpc.h). jansson parses; this file only
 * bounds what jansson is given, because jansson itself allows 2048 levels and any size. */
#include "ipc/jsonrpc.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
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

/* Where a framing scan stopped, so that bytes arriving later are scanned once, not from the start
 * again on every read (a reply of megabytes arrives in many reads). */
struct kk_framer {
    size_t pos;
    unsigned depth;
    bool started, in_string;
};

/* How many backslashes come right before buf[at]. */
static size_t backslash_run(const char *buf, size_t at)
{
    size_t n = 0;
    while (n < at && buf[at - 1 - n] == '\\')
        n++;
    return n;
}

static ssize_t kk_frame_more(struct kk_framer *f, const char *buf, size_t len, unsigned max_depth,
                             size_t max_size, struct kk_err *err)
{
    size_t i = f->pos;
    if (!f->started) {
        while (i < len && (buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t'))
            i++;
        f->pos = i;
        if (i == len)
            return 0;
        if (buf[i] != '{')
            return kk_error(err, KK_ERR_INVALID, 0, "malformed request: expected a JSON object");
        f->started = true;
    }
    const char *what = max_size == KK_JSONRPC_MAX_MSG ? "request" : "message";
    size_t stop = len < max_size ? len : max_size;
    for (; i < stop; i++) {
        char c = buf[i];
        if (f->in_string) {
            /* Most of a document is inside strings: jump to the next quote; it ends the string
             * unless an odd run of backslashes escapes it (the run is all in buf: the string's
             * opening quote bounds it). */
            const char *q = memchr(buf + i, '"', stop - i);
            if (q == NULL) {
                i = stop - 1;
                continue;
            }
            i = (size_t)(q - buf);
            if (backslash_run(buf, i) % 2 == 0)
                f->in_string = false;
            continue;
        }
        if (c == '"') {
            f->in_string = true;
        } else if (c == '{' || c == '[') {
            if (++f->depth > max_depth)
                return kk_error(err, KK_ERR_INVALID, 0, "request nested deeper than %u levels", max_depth);
        } else if (c == '}' || c == ']') {
            if (f->depth == 0)
                return kk_error(err, KK_ERR_INVALID, 0, "malformed request: unbalanced '%c'", c);
            if (--f->depth == 0)
                return (ssize_t)(i + 1);
        }
    }
    f->pos = i;
    if (len >= max_size)
        return kk_error(err, KK_ERR_INVALID, 0, "%s larger than %zu bytes", what, max_size);
    return 0;
}

ssize_t kk_jsonrpc_frame_max(const char *buf, size_t len, unsigned max_depth, size_t max_size,
                             struct kk_err *err)
{
    struct kk_framer f = {0};
    return kk_frame_more(&f, buf, len, max_depth, max_size, err);
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

char *kk_jsonrpc_response_head(json_t *id, size_t *len)
{
    char *idt = json_dumps(id != NULL ? id : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
    if (idt == NULL)
        return NULL;
    size_t n = strlen(idt);
    char *head = malloc(n + 32);
    if (head != NULL)
        *len = (size_t)snprintf(head, n + 32, "{\"id\":%s,\"result\":", idt);
    free(idt);
    return head;
}

static long kk_ms_left(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms < 0 ? 0 : ms;
}

static int kk_write_all(int fd, const char *buf, size_t len, const struct timespec *deadline,
                        struct kk_err *err)
{
    while (len > 0) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int pr = poll(&p, 1, (int)kk_ms_left(deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return kk_error(err, KK_ERR_UNAVAILABLE, pr < 0 ? errno : ETIMEDOUT,
                            "sending request to kukeond");
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

/* ---- a reply decoded in part ------------------------------------------------------------------- */

/* A decoder that builds only the members a caller named and steps over the rest: a list of a
 * thousand cells is megabytes of JSON, and a table needs a dozen fields of each. Kept values are
 * decoded as jansson decodes them (same strings, integers, reals; the last of duplicate keys wins);
 * skipped ones are only scanned for their end. */
#define SPARSE_MAX_PATHS 32
#define SPARSE_MAX_COMPS 12

struct sparse {
    const char *p, *end;
    unsigned depth;
    size_t npaths;
    struct {
        size_t ncomp;
        const char *comp[SPARSE_MAX_COMPS];
        size_t clen[SPARSE_MAX_COMPS];
    } path[SPARSE_MAX_PATHS];
    const char *fail; /* why decoding stopped */
};

typedef uint32_t sparse_mask;

static void sparse_ws(struct sparse *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static json_t *sparse_failed(struct sparse *s, const char *why)
{
    if (s->fail == NULL)
        s->fail = why;
    return NULL;
}

static int sparse_hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* The string at s->p (its opening quote). Without escapes (the common case) *view and *len are its
 * bytes in the input and *out stays NULL; with escapes it is decoded into *out (malloc'd,
 * NUL-terminated), which *view then points to. out NULL only steps over it. */
static int sparse_string(struct sparse *s, char **out, const char **view, size_t *len)
{
    const char *p = s->p + 1;
    if (out == NULL) {
        /* Only stepping over it: to the first quote that no odd run of backslashes escapes. */
        const char *q = p;
        for (;;) {
            q = memchr(q, '"', (size_t)(s->end - q));
            if (q == NULL)
                return -1;
            if (backslash_run(p, (size_t)(q - p)) % 2 == 0)
                break;
            q++;
        }
        s->p = q + 1;
        return 0;
    }
    const char *q = p;
    while (q < s->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
        q++;
    if (q < s->end && *q == '"') {
        if (out != NULL) {
            *out = NULL;
            *view = p;
            *len = (size_t)(q - p);
        }
        s->p = q + 1;
        return 0;
    }
    /* Escapes: decoded never longer than written. */
    const char *e = q;
    while (e < s->end && *e != '"') {
        if (*e == '\\' && ++e == s->end)
            break;
        e++;
    }
    if (e >= s->end)
        return -1;
    char *b = out != NULL ? malloc((size_t)(e - p) + 1) : NULL;
    if (out != NULL && b == NULL)
        return -1;
    size_t n = 0;
    for (q = p; q < e; q++) {
        char c = *q;
        if ((unsigned char)c < 0x20)
            goto bad;
        if (c != '\\') {
            if (b != NULL)
                b[n++] = c;
            continue;
        }
        c = *++q;
        unsigned cp;
        switch (c) {
        case '"': case '\\': case '/': cp = (unsigned char)c; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'u':
            if (e - q < 5 || sparse_hex4(q + 1, &cp) < 0)
                goto bad;
            q += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (e - q < 7 || q[1] != '\\' || q[2] != 'u' || sparse_hex4(q + 3, &lo) < 0 || lo < 0xDC00 ||
                    lo > 0xDFFF)
                    goto bad;
                q += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if ((cp >= 0xDC00 && cp <= 0xDFFF) || cp == 0) {
                goto bad; /* a lone low surrogate; \u0000 (jansson refuses both) */
            }
            break;
        default:
            goto bad;
        }
        if (b == NULL)
            continue;
        if (cp < 0x80) {
            b[n++] = (char)cp;
        } else if (cp < 0x800) {
            b[n++] = (char)(0xC0 | (cp >> 6));
            b[n++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            b[n++] = (char)(0xE0 | (cp >> 12));
            b[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            b[n++] = (char)(0x80 | (cp & 0x3F));
        } else {
            b[n++] = (char)(0xF0 | (cp >> 18));
            b[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            b[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            b[n++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    s->p = e + 1;
    if (b != NULL) {
        b[n] = '\0';
        *out = b;
        *view = b;
        *len = n;
    }
    return 0;
bad:
    free(b);
    return -1;
}

static json_t *sparse_scalar(struct sparse *s, bool keep)
{
    const char *p = s->p;
    static const struct {
        const char *word;
        size_t len;
    } words[] = {{"true", 4}, {"false", 5}, {"null", 4}};
    for (size_t i = 0; i < KK_ARRAY_SIZE(words); i++) {
        if ((size_t)(s->end - p) >= words[i].len && memcmp(p, words[i].word, words[i].len) == 0) {
            s->p = p + words[i].len;
            if (!keep)
                return json_null(); /* a placeholder; the caller drops it */
            return i == 0 ? json_true() : i == 1 ? json_false() : json_null();
        }
    }
    /* A number: -?digits(.digits)?([eE][+-]?digits)? */
    const char *q = p;
    bool real = false;
    if (q < s->end && *q == '-')
        q++;
    const char *d = q;
    while (q < s->end && *q >= '0' && *q <= '9')
        q++;
    if (q == d || (*d == '0' && q - d > 1))
        return sparse_failed(s, "invalid token");
    if (q < s->end && *q == '.') {
        real = true;
        d = ++q;
        while (q < s->end && *q >= '0' && *q <= '9')
            q++;
        if (q == d)
            return sparse_failed(s, "invalid number");
    }
    if (q < s->end && (*q == 'e' || *q == 'E')) {
        real = true;
        q++;
        if (q < s->end && (*q == '+' || *q == '-'))
            q++;
        d = q;
        while (q < s->end && *q >= '0' && *q <= '9')
            q++;
        if (q == d)
            return sparse_failed(s, "invalid number");
    }
    s->p = q;
    if (!keep)
        return json_null();
    char num[64];
    size_t n = (size_t)(q - p);
    if (n >= sizeof(num))
        return sparse_failed(s, "number too long");
    memcpy(num, p, n);
    num[n] = '\0';
    errno = 0;
    if (!real) {
        long long v = strtoll(num, NULL, 10);
        if (errno == ERANGE)
            return sparse_failed(s, "too big integer");
        return json_integer((json_int_t)v);
    }
    double v = strtod(num, NULL);
    if (errno == ERANGE && (v > 1.0 || v < -1.0))
        return sparse_failed(s, "real number overflow");
    return json_real(v);
}

/* Which of the live paths (mask, the first level components matched) continue with key. */
static sparse_mask sparse_step(const struct sparse *s, sparse_mask mask, size_t level, const char *key,
                               size_t klen, bool *whole)
{
    sparse_mask next = 0;
    *whole = false;
    for (size_t i = 0; i < s->npaths; i++) {
        if (!(mask & (1u << i)) || level >= s->path[i].ncomp)
            continue;
        const char *c = s->path[i].comp[level];
        size_t cl = s->path[i].clen[level];
        if ((cl == 1 && c[0] == '*') || (key != NULL && cl == klen && memcmp(c, key, klen) == 0)) {
            next |= 1u << i;
            if (s->path[i].ncomp == level + 1)
                *whole = true;
        }
    }
    return next;
}

/* Step over the value at s->p without building it: strings and brackets are matched, scalars
 * checked as sparse_scalar does. The framer bounded the nesting already. */
static int sparse_skip(struct sparse *s)
{
    char c = *s->p;
    if (c == '"')
        return sparse_string(s, NULL, NULL, NULL) < 0 ? (sparse_failed(s, "invalid string"), -1) : 0;
    if (c != '{' && c != '[')
        return sparse_scalar(s, false) != NULL ? 0 : -1;
    unsigned depth = 0;
    while (s->p < s->end) {
        c = *s->p;
        if (c == '"') {
            if (sparse_string(s, NULL, NULL, NULL) < 0) {
                sparse_failed(s, "invalid string");
                return -1;
            }
            continue;
        }
        s->p++;
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0)
                return 0;
        }
    }
    sparse_failed(s, "unexpected end of input");
    return -1;
}

/* One value at s->p. keep: decode all of it; else mask says which paths go on below it (0: step
 * over it, the result is a placeholder the caller drops). */
static json_t *sparse_value(struct sparse *s, bool keep, sparse_mask mask, size_t level)
{
    sparse_ws(s);
    if (s->p >= s->end)
        return sparse_failed(s, "unexpected end of input");
    if (++s->depth > KK_JSONRPC_MAX_DEPTH * 4)
        return sparse_failed(s, "nested too deep");
    bool build = keep || mask != 0 || level == 0; /* the top is always there, if empty */
    json_t *v = NULL;
    char c = *s->p;
    if (!build) {
        if (sparse_skip(s) < 0)
            return NULL;
        v = json_null(); /* a placeholder; the caller drops it */
    } else if (c == '"') {
        char *text = NULL;
        const char *view = NULL;
        size_t n = 0;
        if (sparse_string(s, &text, &view, &n) < 0)
            return sparse_failed(s, "invalid string");
        v = json_stringn(view, n);
        free(text);
        if (v == NULL)
            return sparse_failed(s, "invalid UTF-8 in a string, or out of memory");
    } else if (c == '{' || c == '[') {
        bool obj = c == '{';
        v = obj ? json_object() : json_array();
        if (v == NULL)
            return sparse_failed(s, "out of memory");
        s->p++;
        sparse_ws(s);
        if (s->p < s->end && *s->p == (obj ? '}' : ']')) {
            s->p++;
        } else {
            for (;;) {
                char *key = NULL;
                const char *kview = NULL;
                size_t klen = 0;
                sparse_ws(s);
                if (obj) {
                    if (s->p >= s->end || *s->p != '"' || sparse_string(s, &key, &kview, &klen) < 0) {
                        json_decref(v);
                        return sparse_failed(s, "expected an object key");
                    }
                    sparse_ws(s);
                    if (s->p >= s->end || *s->p != ':') {
                        free(key);
                        json_decref(v);
                        return sparse_failed(s, "expected ':'");
                    }
                    s->p++;
                }
                bool whole = keep;
                sparse_mask next = 0;
                if (!keep && mask != 0)
                    next = sparse_step(s, mask, level, obj ? kview : NULL, klen, &whole);
                json_t *child = sparse_value(s, whole, whole ? 0 : next, level + 1);
                if (child == NULL) {
                    free(key);
                    json_decref(v);
                    return NULL;
                }
                if (whole || next != 0) {
                    int rc =
                        obj ? json_object_setn_new(v, kview, klen, child) : json_array_append_new(v, child);
                    if (rc < 0) {
                        free(key);
                        json_decref(v);
                        return sparse_failed(s, "out of memory, or a key that is not UTF-8");
                    }
                } else {
                    json_decref(child);
                }
                free(key);
                sparse_ws(s);
                if (s->p < s->end && *s->p == ',') {
                    s->p++;
                    continue;
                }
                if (s->p < s->end && *s->p == (obj ? '}' : ']')) {
                    s->p++;
                    break;
                }
                json_decref(v);
                return sparse_failed(s, obj ? "expected ',' or '}'" : "expected ',' or ']'");
            }
        }
    } else {
        v = sparse_scalar(s, build);
    }
    s->depth--;
    return v;
}

json_t *kk_json_load_some(const char *buf, size_t len, const char *const *keep, struct kk_err *err)
{
    struct sparse *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "decoding JSON");
        return NULL;
    }
    s->p = buf;
    s->end = buf + len;
    for (const char *const *k = keep; k != NULL && *k != NULL; k++) {
        if (s->npaths == SPARSE_MAX_PATHS) {
            free(s);
            kk_error(err, KK_ERR_INTERNAL, 0, "decoding JSON: more than %d paths to keep", SPARSE_MAX_PATHS);
            return NULL;
        }
        size_t n = 0;
        const char *c = *k;
        while (*c != '\0') {
            size_t cl = strcspn(c, "/");
            if (n == SPARSE_MAX_COMPS) {
                free(s);
                kk_error(err, KK_ERR_INTERNAL, 0, "decoding JSON: path %s is too deep", *k);
                return NULL;
            }
            s->path[s->npaths].comp[n] = c;
            s->path[s->npaths].clen[n++] = cl;
            c += cl;
            if (*c == '/')
                c++;
        }
        s->path[s->npaths++].ncomp = n;
    }
    sparse_mask all = s->npaths == 32 ? UINT32_MAX : (1u << s->npaths) - 1;
    json_t *v = sparse_value(s, false, all, 0);
    if (v != NULL) {
        sparse_ws(s);
        if (s->p != s->end) {
            json_decref(v);
            v = sparse_failed(s, "end of file expected");
        }
    }
    if (v == NULL)
        kk_error(err, KK_ERR_INVALID, 0, "%s at byte %zu", s->fail != NULL ? s->fail : "out of memory",
                 (size_t)(s->p - buf));
    free(s);
    return v;
}

int kk_jsonrpc_call(int fd, const char *method, json_t *args, json_t **result, int timeout_ms,
                    struct kk_err *err)
{
    return kk_jsonrpc_call_some(fd, method, args, NULL, result, timeout_ms, err);
}

int kk_jsonrpc_call_some(int fd, const char *method, json_t *args, const char *const *keep, json_t **result,
                         int timeout_ms, struct kk_err *err)
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
    if (kk_write_all(fd, line, strlen(line), &deadline, err) < 0 ||
        kk_write_all(fd, "\n", 1, &deadline, err) < 0)
        return -1;

    size_t cap = 256 * 1024, len = 0;
    _cleanup_free_ char *buf = malloc(cap);
    if (buf == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading reply to %s", method);
    struct kk_framer framer = {0};
    bool eof = false;
    for (;;) {
        ssize_t n = kk_frame_more(&framer, buf, len, KK_JSONRPC_MAX_DEPTH * 4, KK_JSONRPC_MAX_REPLY, err);
        if (n < 0)
            return kk_error_wrap(err, "reply to %s", method);
        if (n > 0) {
            len = (size_t)n;
            break;
        }
        if (eof)
            return kk_error(err, KK_ERR_UNAVAILABLE, 0, "kukeond closed the connection during %s", method);
        if (len == cap) {
            if (cap >= KK_JSONRPC_MAX_REPLY)
                return kk_error(err, KK_ERR_INVALID, 0, "reply to %s is too large", method);
            char *nb = realloc(buf, cap * 4);
            if (nb == NULL)
                return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading reply to %s", method);
            buf = nb;
            cap *= 4;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)kk_ms_left(&deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0)
            return kk_error(err, KK_ERR_UNAVAILABLE, 0, "kukeond did not answer %s within %d ms", method,
                            timeout_ms);
        if (pr < 0)
            return kk_error(err, KK_ERR_UNAVAILABLE, errno, "waiting for the reply to %s", method);
        /* Drain what is there without polling between reads. */
        while (len < cap) {
            ssize_t r = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
            if (r < 0 && errno == EINTR)
                continue;
            if (r < 0 && errno == EAGAIN)
                break;
            if (r < 0)
                return kk_error(err, KK_ERR_UNAVAILABLE, errno, "reading the reply to %s", method);
            if (r == 0) {
                eof = true; /* the reply may be whole: the framer says */
                break;
            }
            len += (size_t)r;
        }
    }

    json_t *resp;
    if (keep == NULL) {
        json_error_t jerr;
        resp = json_loadb(buf, len, 0, &jerr);
        if (resp == NULL)
            return kk_error(err, KK_ERR_INVALID, 0, "malformed reply to %s: %s", method, jerr.text);
    } else {
        /* The envelope's id and error, and under result the caller's paths. */
        const char *paths[SPARSE_MAX_PATHS + 1] = {"id", "error"};
        char prefixed[SPARSE_MAX_PATHS][160];
        size_t np = 2;
        for (const char *const *k = keep; *k != NULL; k++) {
            if (np == SPARSE_MAX_PATHS ||
                kk_snprintf(prefixed[np], sizeof(prefixed[np]), err, "path to keep", "result/%s", *k) < 0)
                return kk_error(err, KK_ERR_INTERNAL, 0, "decoding the reply to %s: too many paths", method);
            paths[np] = prefixed[np];
            np++;
        }
        paths[np] = NULL;
        resp = kk_json_load_some(buf, len, paths, err);
        if (resp == NULL)
            return kk_error_wrap(err, "malformed reply to %s", method);
    }
    int rc = -1;
    json_t *rid = json_object_get(resp, "id");
    json_t *rerr = json_object_get(resp, "error");
    if (!json_is_integer(rid) || (uint64_t)json_integer_value(rid) != id) {
        kk_error(err, KK_ERR_INVALID, 0, "reply to %s carries the wrong id", method);
    } else if (rerr != NULL && !json_is_null(rerr)) {
        kk_error(err, KK_ERR_UNKNOWN, 0, "%s",
                 json_is_string(rerr) ? json_string_value(rerr) : "unknown error");
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
            return kk_error(
                err, KK_ERR_UNAVAILABLE, 0,
                "dial kukeond at %s: %s (is the daemon running? start it with 'kuke daemon start')", path,
                e == ENOENT ? "no such socket" : "connection refused");
        return kk_error(err, KK_ERR_UNAVAILABLE, e, "dial kukeond at %s", path);
    }
    return fd;
}
