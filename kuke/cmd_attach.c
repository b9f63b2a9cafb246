/* kuke attach|att <cell> [--container C] (kukeon-reference.md 7.2) and what attach, log and run share
 * (kuke/terminal.h). The daemon only says where a container's relay listens (AttachContainer) and
 * where its output is (LogContainer); the bytes go straight between this process and the relay or
 * the file, with the caller's own permissions: root, or a member of group kukeon. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "kuke/client.h"
#include "kuke/cmds.h"
#include "kuke/terminal.h"
#include "kukeond/doc.h"

int kuke_term_get_cell(const struct kuke_ctx *ctx, const char *name, const struct kuke_cell_scope *s,
                       json_t **cell, bool *running, struct kk_err *err)
{
    *cell = NULL;
    json_t *args = json_pack("{s:o}", "Doc",
                             kuke_request_doc_at(kuke_kind(KUKE_CELL), name, s->realm, s->space, s->stack));
    json_t *reply = NULL;
    int rc = kuke_api_call_take(ctx, "GetCell", args, &reply, err);
    if (rc < 0)
        return -1;
    json_t *res = kuke_result(reply);
    if (json_is_true(json_object_get(res, "MetadataExists"))) {
        *cell = json_incref(json_object_get(res, "Cell"));
        if (running != NULL) {
            json_t *r = json_object_get(res, "RootContainerTaskRunning");
            *running = r == NULL || json_is_true(r);
        }
    }
    json_decref(reply);
    return 0;
}

int kuke_term_pick(const json_t *cell, const char *flag, bool attachable_only, char *out, struct kk_err *err)
{
    const char *name = kk_doc_name(cell);
    const json_t *spec = json_object_get(cell, "spec");
    const json_t *cs = json_object_get(spec, "containers");
    size_t i;
    const json_t *c;
    if (flag != NULL && flag[0] != '\0') {
        json_array_foreach(cs, i, c)
        {
            const char *id = kk_json_str(c, "id");
            if (id != NULL && strcmp(id, flag) == 0) {
                if (attachable_only && !kk_json_bool(c, "attachable"))
                    return kk_error(err, KK_ERR_INVALID, 0,
                                    "container \"%s\" in cell \"%s\" is not attachable", flag, name);
                return kk_strlcpy(out, flag, KUKE_ARG_MAX) < 0
                           ? kk_error(err, KK_ERR_INVALID, 0, "container name too long")
                           : 0;
            }
        }
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "container \"%s\" not found in cell \"%s\"", flag, name);
    }
    const char *def = kk_json_str(json_object_get(spec, "tty"), "default");
    if (attachable_only && def != NULL && def[0] != '\0')
        return kk_strlcpy(out, def, KUKE_ARG_MAX) < 0
                   ? kk_error(err, KK_ERR_INVALID, 0, "container name too long")
                   : 0;
    const char *found = NULL;
    size_t n = 0;
    json_array_foreach(cs, i, c)
    {
        if (kk_json_bool(c, "root") || (attachable_only && !kk_json_bool(c, "attachable")))
            continue;
        found = kk_json_str(c, "id");
        n++;
    }
    if (n == 1 && found != NULL)
        return kk_strlcpy(out, found, KUKE_ARG_MAX) < 0
                   ? kk_error(err, KK_ERR_INVALID, 0, "container name too long")
                   : 0;
    if (n == 0)
        return kk_error(err, KK_ERR_INVALID, 0,
                        attachable_only
                            ? "cell \"%s\" has no attachable container (set attachable: true on one)"
                            : "cell \"%s\" has no container besides its root",
                        name);
    return kk_error(err, KK_ERR_INVALID, 0, "cell \"%s\" has %zu %scontainers: choose one with --container",
                    name, n, attachable_only ? "attachable " : "");
}

/* {Doc: the container's request document}. */
static json_t *ctr_args(const char *cell, const char *container, const struct kuke_cell_scope *s)
{
    return json_pack("{s:{s:s, s:s, s:{s:s}, s:{s:s, s:s, s:s, s:s, s:s}}}", "Doc", "apiVersion", "v1beta1",
                     "kind", "Container", "metadata", "name", container, "spec", "id", container, "realmId",
                     s->realm, "spaceId", s->space, "stackId", s->stack, "cellId", cell);
}

int kuke_term_attach(const struct kuke_ctx *ctx, const char *cell, const char *container,
                     const struct kuke_cell_scope *s, enum kk_tty_end *end, struct kk_err *err)
{
    json_t *args = ctr_args(cell, container, s);
    json_t *reply = NULL;
    int rc = kuke_api_call_take(ctx, "AttachContainer", args, &reply, err);
    if (rc < 0)
        return -1;
    const char *path = kk_json_str(kuke_result(reply), "HostSocketPath");
    if (path == NULL || path[0] == '\0') {
        json_decref(reply);
        return kk_error(err, KK_ERR_INTERNAL, 0, "AttachContainer answered without a HostSocketPath");
    }
    char what[2 * KUKE_ARG_MAX + 40];
    snprintf(what, sizeof(what), "container \"%s\" in cell \"%s\"", container, cell);
    rc = kk_tty_attach(path, STDIN_FILENO, STDOUT_FILENO, what, end, err);
    json_decref(reply);
    return rc;
}

int kuke_term_log_path(const struct kuke_ctx *ctx, const char *cell, const char *container,
                       const struct kuke_cell_scope *s, char *out, size_t size, struct kk_err *err)
{
    json_t *args = ctr_args(cell, container, s);
    json_t *reply = NULL;
    int rc = kuke_api_call_take(ctx, "LogContainer", args, &reply, err);
    if (rc < 0)
        return -1;
    json_t *res = kuke_result(reply);
    const char *path = kk_json_str(res, "HostCapturePath");
    if (path == NULL || path[0] == '\0')
        path = kk_json_str(res, "HostLogPath");
    if (path == NULL || path[0] == '\0' || kk_strlcpy(out, path, size) < 0) {
        json_decref(reply);
        return kk_error(err, KK_ERR_INTERNAL, 0, "LogContainer answered without a usable path");
    }
    json_decref(reply);
    return 0;
}

static int copy_out(int fd, off_t *off, struct kk_err *err)
{
    char buf[65536];
    for (;;) {
        ssize_t n = pread(fd, buf, sizeof(buf), *off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return kk_error(err, KK_ERR_INTERNAL, errno, "reading the log");
        }
        if (n == 0)
            return 0;
        *off += n;
        for (ssize_t w = 0; w < n;) {
            ssize_t k = write(STDOUT_FILENO, buf + w, (size_t)(n - w));
            if (k < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EPIPE)
                    return 1; /* the reader went away (| head): done */
                return kk_error(err, KK_ERR_INTERNAL, errno, "writing the log to standard output");
            }
            w += k;
        }
    }
}

int kuke_term_print(const char *path, const char *cell, const char *container, bool follow,
                    struct kk_err *err)
{
    /* O_NOFOLLOW: the capture file lies in a directory the container writes to; a link planted there
     * must not make this process (root, perhaps) print another file. */
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && errno == ENOENT)
        return kk_error(
            err, KK_ERR_NOT_FOUND, 0,
            "cell \"%s\" container \"%s\" has no log file at %s (the runtime shim has not opened it "
            "yet — try again after the container produces output)",
            cell, container, path);
    if (fd < 0)
        return kk_error(err, errno == EACCES ? KK_ERR_PERMISSION : KK_ERR_INTERNAL, errno, "opening %s",
                        path);
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return kk_error(err, KK_ERR_INVALID, 0, "%s is not a regular file", path);
    }
    signal(SIGPIPE, SIG_IGN);
    off_t off = 0;
    int rc = copy_out(fd, &off, err);
    if (rc != 0 || !follow) {
        close(fd);
        return rc < 0 ? -1 : 0;
    }
    /* Follow: SIGINT and SIGTERM end it cleanly, as a signalfd event rather than a handler. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    for (;;) {
        struct pollfd p = {.fd = sfd, .events = POLLIN};
        int n = poll(&p, 1, 200);
        if (n > 0)
            break;
        if (fstat(fd, &st) == 0 && st.st_size < off)
            off = 0; /* truncated: start over */
        rc = copy_out(fd, &off, err);
        if (rc != 0)
            break;
    }
    close(sfd);
    close(fd);
    return rc < 0 ? -1 : 0;
}

const struct kuke_opt kuke_attach_opts[] = {
    {"container", 0, KUKE_OPT_STRING, NULL,
     "container to attach to (default: the cell's only attachable one)"},
    {"realm", 0, KUKE_OPT_STRING, NULL, "realm of the cell (default \"default\")"},
    {"space", 0, KUKE_OPT_STRING, NULL, "space of the cell (default \"default\")"},
    {"stack", 0, KUKE_OPT_STRING, NULL, "stack of the cell (default \"default\")"},
    {0},
};

/* ---- kuke attach ------------------------------------------------------------------------------------ */

int kuke_cmd_attach(struct kuke_ctx *ctx, struct kk_err *err)
{
    if (ctx->nargs != 1)
        return kk_error(err, KK_ERR_INVALID, 0, "accepts 1 arg(s), received %d", ctx->nargs);
    const char *name = ctx->args[0];
    struct kuke_cell_scope s;
    if (kuke_cell_scope(ctx, "ATTACH", &s, err) < 0)
        return -1;
    json_t *cell = NULL;
    bool running = true;
    if (kuke_term_get_cell(ctx, name, &s, &cell, &running, err) < 0)
        return -1;
    if (cell == NULL)
        return kk_error(
            err, KK_ERR_NOT_FOUND, 0,
            "cell \"%s\" does not exist; create it with kuke run or kuke apply -f (see kuke get cells "
            "--realm %s --space %s --stack %s)",
            name, s.realm, s.space, s.stack);
    const char *state = kk_json_str(json_object_get(cell, "status"), "state");
    if (state == NULL || (strcmp(state, "Ready") != 0 && strcmp(state, "Degraded") != 0)) {
        kk_error(err, KK_ERR_INVALID, 0,
                 "cell \"%s\" is %s, not Ready: start it first with kuke start cell %s", name,
                 state != NULL ? state : "in no known state", name);
        json_decref(cell);
        return -1;
    }
    if (!running) {
        kk_error(
            err, KK_ERR_UNAVAILABLE, 0,
            "cell \"%s\" is recorded Ready but its containers are gone from containerd; run kuke refresh, "
            "then kuke start cell %s",
            name, name);
        json_decref(cell);
        return -1;
    }
    char container[KUKE_ARG_MAX];
    int rc = kuke_term_pick(cell, kuke_flag(ctx, "container"), true, container, err);
    json_decref(cell);
    if (rc < 0)
        return -1;
    enum kk_tty_end end;
    return kuke_term_attach(ctx, name, container, &s, &end, err);
}
