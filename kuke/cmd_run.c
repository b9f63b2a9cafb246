/* kuke run (kukeon-reference.md 2.8): create-or-attach in one command. Exactly one source: an
 * existing cell's name (started when it is not running, then attached), -f FILE|- (one Cell
 * document: created and started unless a cell of its name exists), or --image REF [--command C] (a
 * new cell with one attachable container "main"). CreateCell creates and starts; then, unless
 * -d, kuke attaches to the container the reference's precedence picks (--container, spec.tty.default,
 * the only non-root attachable one). A workload that ended before the attach shows its output from
 * the capture file instead. --rm sets spec.autoDelete; when the attach ends because the workload
 * ended cleanly, kuke also deletes the cell itself (DeleteCell kills what still runs) rather than
 * waiting for the daemon's reconcile (a ^]^] detach leaves it running). A workload that failed — its
 * relay's exit file says so — keeps its cell and its log, as the reconcile keeps an Error cell
 * (kukeon-reference.md 2.8); kuke's own exit code stays the reference's. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "kuke/client.h"
#include "kuke/cmds.h"
#include "kuke/terminal.h"
#include "kukeond/doc.h"
#include "kukeond/manifest.h"

#define RUN_FILE_MAX (4u * 1024 * 1024)

static int read_source(const char *path, char **buf, size_t *len, struct kk_err *err)
{
    int fd = strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kk_error(err, KK_ERR_INVALID, errno, "reading %s", path);
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    for (;;) {
        if (b == NULL || n + 1 >= RUN_FILE_MAX) {
            free(b);
            if (fd != STDIN_FILENO)
                close(fd);
            return kk_error(err, KK_ERR_INVALID, 0, "%s: more than %u bytes, or out of memory", path,
                            RUN_FILE_MAX);
        }
        if (n + 1 >= cap) {
            char *nb = realloc(b, cap * 2);
            if (nb == NULL) {
                free(b);
                b = NULL;
                continue;
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(b);
            if (fd != STDIN_FILENO)
                close(fd);
            return kk_error(err, KK_ERR_INVALID, e, "reading %s", path);
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (fd != STDIN_FILENO)
        close(fd);
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}

/* --env K=V, every one given, into the attachable containers' env (after their own: the last wins). */
static int add_env(const struct kuke_ctx *ctx, json_t *doc, struct kk_err *err)
{
    json_t *cs = json_object_get(json_object_get(doc, "spec"), "containers");
    for (int i = 0; i < ctx->nset; i++) {
        if (strcmp(ctx->set[i].name, "env") != 0)
            continue;
        const char *kv = ctx->set[i].value;
        const char *eq = strchr(kv, '=');
        if (eq == NULL || eq == kv)
            return kk_error(err, KK_ERR_INVALID, 0, "--env \"%s\" is not KEY=VALUE", kv);
        size_t j;
        json_t *c;
        json_array_foreach(cs, j, c)
        {
            if (!kk_json_bool(c, "attachable"))
                continue;
            json_t *env = json_object_get(c, "env");
            if (!json_is_array(env)) {
                env = json_array();
                json_object_set_new(c, "env", env);
            }
            json_array_append_new(env, json_string(kv));
        }
    }
    return 0;
}

/* The document of --image REF [--command C]: one attachable container "main", the command split on
 * blanks into command and args (as kuke create cell). */
static json_t *image_doc(const char *name, const char *image, const char *command,
                         const struct kuke_cell_scope *s)
{
    json_t *c = json_pack("{s:s, s:s, s:b}", "id", "main", "image", image, "attachable", 1);
    json_t *argv = json_array();
    char buf[KUKE_ARG_MAX];
    snprintf(buf, sizeof(buf), "%s", command != NULL ? command : "");
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t", &save); tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
        if (json_object_get(c, "command") == NULL)
            json_object_set_new(c, "command", json_string(tok));
        else
            json_array_append_new(argv, json_string(tok));
    }
    if (json_array_size(argv) > 0)
        json_object_set(c, "args", argv);
    json_decref(argv);
    json_t *doc = kuke_request_doc_at(kuke_kind(KUKE_CELL), name, s->realm, s->space, s->stack);
    json_object_set_new(json_object_get(doc, "spec"), "containers", json_pack("[o]", c));
    return doc;
}

static int cell_method(const struct kuke_ctx *ctx, const char *method, json_t *doc, struct kk_err *err)
{
    json_t *args = json_pack("{s:O}", "Doc", doc);
    json_t *reply = NULL;
    int rc = kuke_api_call_take(ctx, method, args, &reply, err);
    json_decref(reply);
    return rc;
}

/* A CreateCell through the daemon may pull the cell's images first, which can take long and shows
 * nothing (kuke image pull has the progress). On a terminal, a cell not made within two seconds gets
 * one line saying what is likely going on, so the wait is not a silent one. */
struct run_notice {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    char cell[KUKE_ARG_MAX];
    char images[512];
};

static void *run_notice_wait(void *arg)
{
    struct run_notice *n = arg;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 2;
    pthread_mutex_lock(&n->lock);
    int rc = 0;
    while (!n->done && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&n->cond, &n->lock, &until);
    if (!n->done)
        fprintf(stderr,
                "kuke: still creating cell \"%s\": kukeond pulls the images the realm does not have yet "
                "(%s); `kuke image pull` shows a pull's progress\n",
                n->cell, n->images);
    pthread_mutex_unlock(&n->lock);
    return NULL;
}

/* CreateCell of doc, with the notice above when stderr is a terminal. */
static int cell_create(const struct kuke_ctx *ctx, json_t *doc, struct kk_err *err)
{
    if (!isatty(STDERR_FILENO))
        return cell_method(ctx, "CreateCell", doc, err);
    struct run_notice n = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    kk_strlcpy(n.cell, kk_json_str(json_object_get(doc, "metadata"), "name"), sizeof(n.cell));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(doc, "spec"), "containers"), i, c)
    {
        const char *img = kk_json_str(c, "image");
        size_t len = strlen(n.images);
        if (img[0] != '\0' && len + strlen(img) + 3 < sizeof(n.images))
            snprintf(n.images + len, sizeof(n.images) - len, "%s%s", len > 0 ? ", " : "", img);
    }
    pthread_t t;
    bool started = pthread_create(&t, NULL, run_notice_wait, &n) == 0;
    int rc = cell_method(ctx, "CreateCell", doc, err);
    if (started) {
        pthread_mutex_lock(&n.lock);
        n.done = true;
        pthread_cond_signal(&n.cond);
        pthread_mutex_unlock(&n.lock);
        pthread_join(t, NULL);
    }
    return rc;
}

/* method with the request document of the cell name in s. */
static int cell_named(const struct kuke_ctx *ctx, const char *method, const char *name,
                      const struct kuke_cell_scope *s, struct kk_err *err)
{
    json_t *doc = kuke_request_doc_at(kuke_kind(KUKE_CELL), name, s->realm, s->space, s->stack);
    int rc =
        doc == NULL ? kk_error(err, KK_ERR_INTERNAL, 0, "out of memory") : cell_method(ctx, method, doc, err);
    json_decref(doc);
    return rc;
}

/* Attach; a workload that has already ended (no relay to attach to) shows its captured output. */
static int run_attach(const struct kuke_ctx *ctx, const char *cell, const char *container,
                      const struct kuke_cell_scope *s, enum kk_tty_end *end, struct kk_err *err)
{
    struct kk_err aerr = {0};
    /* The relay makes its socket a moment after the start: a short wait for it. */
    for (int attempt = 0; attempt < 10; attempt++) {
        if (kuke_term_attach(ctx, cell, container, s, end, &aerr) == 0)
            return 0;
        if (aerr.kind == KK_ERR_PERMISSION || aerr.kind == KK_ERR_NOT_FOUND)
            break;
        usleep(100 * 1000);
    }
    char path[PATH_MAX];
    struct kk_err lerr;
    if (kuke_term_log_path(ctx, cell, container, s, path, sizeof(path), &lerr) < 0 ||
        kuke_term_print(path, cell, container, false, &lerr) < 0) {
        *err = aerr;
        return -1;
    }
    *end = KK_TTY_END_CLOSED;
    return 0;
}

/* How the attached container's workload ended, from its relay's exit file (ttyrelay.h) beside the
 * capture file. 1: read, into *signaled and *code; 0: nothing to go by (an older relay, a container
 * that is not attachable, a file that holds no whole line after a short wait) — the caller does as
 * before the file existed. The relay writes the line before it closes its clients, so it is normally
 * there at once; the wait (~200 ms) covers a relay still on its way. O_NOFOLLOW and a regular file
 * only: the directory is writable from inside the container. */
static int run_exit_status(const struct kuke_ctx *ctx, const char *cell, const char *container,
                           const struct kuke_cell_scope *s, bool *signaled, int *code)
{
    char path[PATH_MAX];
    struct kk_err lerr;
    if (kuke_term_log_path(ctx, cell, container, s, path, sizeof(path), &lerr) < 0)
        return 0;
    size_t len = strlen(path), cl = strlen("/tty/" KK_TTY_CAPTURE);
    if (len < cl || strcmp(path + len - cl, "/tty/" KK_TTY_CAPTURE) != 0 ||
        len - strlen(KK_TTY_CAPTURE) + strlen(KK_TTY_EXIT) >= sizeof(path))
        return 0; /* not attachable: the shim's log, no relay */
    strcpy(path + len - strlen(KK_TTY_CAPTURE), KK_TTY_EXIT);
    for (int attempt = 0; attempt < 10; attempt++) {
        if (attempt > 0)
            usleep(20 * 1000);
        int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0 && errno == ENOENT)
            continue;
        if (fd < 0)
            return 0;
        struct stat st;
        char buf[KK_TTY_EXIT_MAX];
        ssize_t n = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, buf, sizeof(buf)) : -1;
        close(fd);
        if (n < 0)
            return 0;
        if (kk_tty_exit_parse(buf, (size_t)n, signaled, code) == 0)
            return 1;
        if (n > 0 && buf[n - 1] == '\n')
            return 0; /* a whole line, not a status: nothing to wait for */
    }
    return 0;
}

const struct kuke_opt kuke_run_opts[] = {
    {"file", 'f', KUKE_OPT_STRING, NULL,
     "one Cell document to create (or attach to, when it exists); - reads stdin"},
    {"image", 0, KUKE_OPT_STRING, NULL, "image of a new cell's one attachable container \"main\""},
    {"command", 0, KUKE_OPT_STRING, NULL, "with --image: the command, split on blanks"},
    {"name", 0, KUKE_OPT_STRING, NULL,
     "name of the new cell (default: from the image, with a random suffix)"},
    {"detach", 'd', KUKE_OPT_BOOL, NULL, "start and do not attach"},
    {"rm", 0, KUKE_OPT_BOOL, NULL, "delete the cell when its workload exits (spec.autoDelete)"},
    {"env", 0, KUKE_OPT_STRING, NULL, "KEY=VALUE for the attachable container (repeatable)"},
    {"container", 0, KUKE_OPT_STRING, NULL, "container to attach to"},
    {"from-blueprint", 0, KUKE_OPT_STRING, NULL, "not supported yet"},
    {"from-config", 0, KUKE_OPT_STRING, NULL, "not supported yet"},
    {"clone", 0, KUKE_OPT_STRING, NULL, "not supported yet"},
    {"realm", 0, KUKE_OPT_STRING, NULL, "realm of the cell (default \"default\")"},
    {"space", 0, KUKE_OPT_STRING, NULL, "space of the cell (default \"default\")"},
    {"stack", 0, KUKE_OPT_STRING, NULL, "stack of the cell (default \"default\")"},
    {0},
};

int kuke_cmd_run(struct kuke_ctx *ctx, struct kk_err *err)
{
    const char *file = kuke_flag(ctx, "file");
    const char *image = kuke_flag(ctx, "image");
    const char *command = kuke_flag(ctx, "command");
    const char *name_flag = kuke_flag(ctx, "name");
    bool detach = kuke_flag_bool(ctx, "detach"), rm = kuke_flag_bool(ctx, "rm");
    int sources = (ctx->nargs > 0) + (file != NULL) + (image != NULL);
    static const char *const unsupported[] = {"from-blueprint", "from-config", "clone"};
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
        if (kuke_flag(ctx, unsupported[i]) != NULL)
            return kk_error(err, KK_ERR_INVALID, 0,
                            "--%s is not supported by this kuke yet: use --image REF, -f FILE or a cell name",
                            unsupported[i]);
    if (ctx->nargs > 1)
        return kk_error(err, KK_ERR_INVALID, 0, "accepts at most 1 arg(s), received %d", ctx->nargs);
    if (sources != 1)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "run needs exactly one source: a cell name, -f FILE|-, or --image REF [--command C]");
    if (command != NULL && image == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "--command goes with --image");
    struct kuke_cell_scope s;
    if (kuke_cell_scope(ctx, "RUN", &s, err) < 0)
        return -1;

    char name[KUKE_ARG_MAX];
    json_t *doc = NULL;
    if (ctx->nargs == 1) {
        snprintf(name, sizeof(name), "%s", ctx->args[0]);
    } else if (file != NULL) {
        char *buf = NULL;
        size_t len = 0;
        json_t *docs = NULL;
        if (read_source(file, &buf, &len, err) < 0)
            return -1;
        int rc = kk_manifest_parse(buf, len, &docs, err);
        free(buf);
        if (rc < 0)
            return -1;
        if (json_array_size(docs) != 1 || strcmp(kk_json_str(json_array_get(docs, 0), "kind") != NULL
                                                     ? kk_json_str(json_array_get(docs, 0), "kind")
                                                     : "",
                                                 "Cell") != 0) {
            json_decref(docs);
            return kk_error(err, KK_ERR_INVALID, 0, "%s: kuke run -f takes exactly one Cell document", file);
        }
        doc = json_incref(json_array_get(docs, 0));
        json_decref(docs);
        json_t *meta = json_object_get(doc, "metadata");
        json_t *spec = json_object_get(doc, "spec");
        if (!json_is_object(meta) || !json_is_object(spec)) {
            json_decref(doc);
            return kk_error(err, KK_ERR_INVALID, 0, "%s: the Cell needs metadata and spec", file);
        }
        if (name_flag != NULL)
            json_object_set_new(meta, "name", json_string(name_flag));
        /* Scope flags fill what the document leaves empty. */
        const char *keys[3] = {"realmId", "spaceId", "stackId"};
        const char *vals[3] = {s.realm, s.space, s.stack};
        for (int i = 0; i < 3; i++) {
            const char *v = kk_json_str(spec, keys[i]);
            if (v == NULL || v[0] == '\0')
                json_object_set_new(spec, keys[i], json_string(vals[i]));
            else if (i == 0)
                snprintf(s.realm, sizeof(s.realm), "%s", v);
            else if (i == 1)
                snprintf(s.space, sizeof(s.space), "%s", v);
            else
                snprintf(s.stack, sizeof(s.stack), "%s", v);
        }
        snprintf(name, sizeof(name), "%s", kk_doc_name(doc));
    } else {
        if (name_flag != NULL) {
            snprintf(name, sizeof(name), "%s", name_flag);
        } else {
            char prefix[128];
            unsigned char r[3] = {0};
            kuke_cell_name_prefix(image, prefix, sizeof(prefix));
            if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
                return kk_error(err, KK_ERR_INTERNAL, 0, "reading random bytes for a cell name");
            snprintf(name, sizeof(name), "%s-%02x%02x%02x", prefix, r[0], r[1], r[2]);
        }
        doc = image_doc(name, image, command, &s);
    }

    json_t *cell = NULL;
    bool running = true;
    if (kuke_term_get_cell(ctx, name, &s, &cell, &running, err) < 0) {
        json_decref(doc);
        return -1;
    }
    if (cell == NULL && doc == NULL)
        return kk_error(
            err, KK_ERR_NOT_FOUND, 0,
            "cell \"%s\" does not exist in stack \"%s\"/\"%s\"/\"%s\"; run it from a source: -f FILE or "
            "--image REF",
            name, s.realm, s.space, s.stack);
    if (cell == NULL) {
        if (rm)
            json_object_set_new(json_object_get(doc, "spec"), "autoDelete", json_true());
        if (add_env(ctx, doc, err) < 0 || cell_create(ctx, doc, err) < 0) {
            json_decref(doc);
            return -1;
        }
    } else {
        const char *state = kk_json_str(json_object_get(cell, "status"), "state");
        bool ready =
            state != NULL && (strcmp(state, "Ready") == 0 || strcmp(state, "Degraded") == 0) && running;
        if (doc != NULL && image != NULL) {
            json_decref(doc);
            json_decref(cell);
            return kk_error(err, KK_ERR_EXISTS, 0, "cell \"%s\" already exists; attach with kuke run %s",
                            name, name);
        }
        if (!ready && cell_named(ctx, "StartCell", name, &s, err) < 0) {
            json_decref(doc);
            json_decref(cell);
            return -1;
        }
    }
    json_decref(cell);
    json_decref(doc);
    if (kuke_term_get_cell(ctx, name, &s, &cell, NULL, err) < 0)
        return -1;
    if (cell == NULL)
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "cell \"%s\" disappeared after its start", name);
    if (detach) {
        json_decref(cell);
        printf("Cell \"%s\" is running (realm \"%s\", space \"%s\", stack \"%s\")\n", name, s.realm, s.space,
               s.stack);
        return 0;
    }
    char container[KUKE_ARG_MAX];
    int rc = kuke_term_pick(cell, kuke_flag(ctx, "container"), true, container, err);
    if (rc < 0) {
        json_decref(cell);
        return rc;
    }
    enum kk_tty_end end = KK_TTY_END_CLOSED;
    rc = run_attach(ctx, name, container, &s, &end, err);
    bool signaled = false;
    int code = 0;
    if (rm && rc == 0 && end == KK_TTY_END_CLOSED &&
        run_exit_status(ctx, name, container, &s, &signaled, &code) == 1 && (signaled || code != 0)) {
        /* A failure: the cell and its log stay for the user to look at (the reconcile keeps an Error
         * cell too); kuke's exit code is not the workload's. */
        char how[64], scope[3 * KUKE_ARG_MAX + 32] = "";
        const char *abbrev = signaled ? sigabbrev_np(code) : NULL;
        if (signaled)
            snprintf(how, sizeof(how), "was killed by signal %d%s%s%s", code, abbrev != NULL ? " (SIG" : "",
                     abbrev != NULL ? abbrev : "", abbrev != NULL ? ")" : "");
        else
            snprintf(how, sizeof(how), "exited with code %d", code);
        /* The commands to paste, with the scope flags they need. */
        const char *flags[3] = {"realm", "space", "stack"}, *vals[3] = {s.realm, s.space, s.stack};
        for (int i = 0; i < 3; i++)
            if (strcmp(vals[i], "default") != 0)
                snprintf(scope + strlen(scope), sizeof(scope) - strlen(scope), " --%s %s", flags[i], vals[i]);
        fflush(stdout);
        fprintf(stderr,
                "kuke: cell \"%s\" kept: its workload %s (see kuke log %s%s; kuke delete cell %s%s)\n", name,
                how, name, scope, name, scope);
    } else if (rm && (rc < 0 || end == KK_TTY_END_CLOSED)) {
        /* DeleteCell alone: it kills what still runs (the root) before it removes the containers, and
         * detaches the network once, where KillCell first would detach it (a CNI DEL) and record a
         * Stopped status only for the delete to follow. The daemon's reconcile may have deleted the
         * cell already (autoDelete, Exited): a failed delete is only worth a warning when the cell
         * is still there. */
        struct kk_err kerr;
        json_t *still = NULL;
        fflush(stdout);
        if (cell_named(ctx, "DeleteCell", name, &s, &kerr) < 0 &&
            kuke_term_get_cell(ctx, name, &s, &still, NULL, &kerr) == 0 && still != NULL)
            fprintf(stderr,
                    "kuke: warning: deleting cell \"%s\" (--rm): %s; the daemon deletes it once it has "
                    "exited\n",
                    name, kerr.msg);
        json_decref(still);
    }
    json_decref(cell);
    return rc;
}
