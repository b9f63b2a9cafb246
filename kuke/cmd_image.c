/* kuke image load|pull|rm|prune and kuke get images (kukeon-reference.md 2.11): always in-process and
 * root — images are not served over kukeonv1 — so kuke starts kuke-ctrd (and, to pull, kuke-fetchd)
 * itself (kuke/inproc.h) and asks it directly, per realm's containerd namespace. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/ctrd_client.h"
#include "kuke/client.h"
#include "kuke/cmds.h"
#include "kuke/inproc.h"
#include "kuke/render.h"
#include "kuke/resource.h"
#include "kukeond/controller.h"
#include "kukeond/image_pull.h"

static int image_root(const char *verb, struct kk_err *err)
{
    if (geteuid() != 0)
        return kk_error(err, KK_ERR_PERMISSION, 0,
                        "kuke %s works in-process (images are not served by kukeond) and needs root: run it "
                        "with sudo",
                        verb);
    return 0;
}

/* The realms that have a containerd namespace, as a new list of names; only realm when it is set
 * (an error naming it when it has none). */
static int image_realms(int sock, const char *realm, json_t **out, struct kk_err *err)
{
    Kukeon__Ipc__Ctrd__NamespaceListReply *nl = NULL;
    if (kk_ctrd_ns_list(sock, &nl, err) < 0)
        return -1;
    json_t *names = json_array();
    bool found = false;
    for (size_t i = 0; i < nl->n_namespaces; i++) {
        const char *r = nl->namespaces[i]->realm;
        if (realm[0] != '\0' && strcmp(r, realm) != 0)
            continue;
        found = true;
        json_array_append_new(names, json_string(r));
    }
    kukeon__ipc__ctrd__namespace_list_reply__free_unpacked(nl, NULL);
    if (realm[0] != '\0' && !found) {
        json_decref(names);
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "realm \"%s\" not found (it has no containerd namespace)",
                        realm);
    }
    *out = names;
    return 0;
}

static int image_ctrd(struct kuke_ctx *ctx, const char *verb, struct kk_config *cfg, struct kk_err *err)
{
    if (image_root(verb, err) < 0)
        return -1;
    return kuke_inproc_helper(ctx, KK_CTL_CTRD, cfg, err);
}

int kuke_get_images(struct kuke_ctx *ctx, const char *name, enum kuke_output fmt, struct kk_err *err)
{
    char realm[KUKE_ARG_MAX];
    if (kuke_scope_explicit(ctx, "realm", realm, err) < 0)
        return -1;
    struct kk_config cfg;
    int sock = image_ctrd(ctx, "get images", &cfg, err);
    if (sock < 0)
        return -1;
    json_t *realms = NULL;
    if (image_realms(sock, realm, &realms, err) < 0)
        return -1;
    json_t *docs = json_array();
    size_t i;
    json_t *r;
    int rc = 0;
    json_array_foreach(realms, i, r)
    {
        Kukeon__Ipc__Ctrd__ImageListReply *il = NULL;
        if (kk_ctrd_image_list(sock, json_string_value(r), &il, err) < 0) {
            rc = -1;
            break;
        }
        for (size_t j = 0; j < il->n_images; j++) {
            const Kukeon__Ipc__Ctrd__Image *im = il->images[j];
            if (name[0] != '\0' && strcmp(im->name, name) != 0)
                continue;
            char ns[512];
            snprintf(ns, sizeof(ns), "%s.%s", json_string_value(r), cfg.ns_suffix);
            json_array_append_new(docs, json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "name", im->name, "realm",
                                                  json_string_value(r), "namespace", ns, "size",
                                                  (json_int_t)im->size, "digest", im->digest, "mediaType",
                                                  im->media_type));
        }
        kukeon__ipc__ctrd__image_list_reply__free_unpacked(il, NULL);
    }
    json_decref(realms);
    if (rc == 0 && name[0] != '\0' && json_array_size(docs) == 0)
        rc = realm[0] != '\0'
                 ? kk_error(err, KK_ERR_NOT_FOUND, 0, "image \"%s\" not found in realm \"%s\"", name, realm)
                 : kk_error(err, KK_ERR_NOT_FOUND, 0, "image \"%s\" not found", name);
    if (rc < 0) {
        json_decref(docs);
        return -1;
    }
    if (fmt == KUKE_OUT_YAML || fmt == KUKE_OUT_JSON) {
        rc = kuke_print_doc(
            stdout, name[0] != '\0' && json_array_size(docs) == 1 ? json_array_get(docs, 0) : docs, fmt, err);
        json_decref(docs);
        return rc;
    }
    size_t n = json_array_size(docs);
    if (n == 0) {
        json_decref(docs);
        printf("No images found.\n");
        return 0;
    }
    /* containerd's image records carry no creation time kuke-ctrd reports yet: AGE and CREATED
     * show "-" (kuke_age's unset time). */
    static const char *const cols[] = {"NAME", "REALM", "SIZE", "AGE", "CREATED", "DIGEST"};
    size_t ncols = fmt == KUKE_OUT_WIDE ? 6 : 4;
    const char **cells = calloc(n * ncols, sizeof(*cells));
    char(*sizes)[32] = calloc(n, sizeof(*sizes));
    if (cells == NULL || sizes == NULL) {
        free(cells);
        free(sizes);
        json_decref(docs);
        return kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
    }
    json_t *d;
    json_array_foreach(docs, i, d)
    {
        kuke_size((uint64_t)json_integer_value(json_object_get(d, "size")), sizes[i], sizeof(sizes[i]));
        const char **row = &cells[i * ncols];
        row[0] = json_string_value(json_object_get(d, "name"));
        row[1] = json_string_value(json_object_get(d, "realm"));
        row[2] = sizes[i];
        row[3] = "-";
        if (ncols == 6) {
            row[4] = "-";
            row[5] = json_string_value(json_object_get(d, "digest"));
        }
    }
    rc = kuke_table_print(stdout, cols, ncols, cells, n);
    free(cells);
    free(sizes);
    json_decref(docs);
    return rc < 0 ? kk_error(err, KK_ERR_INTERNAL, 0, "writing the output") : 0;
}

/* The realm an image verb acts on: --realm, KUKE_IMAGE_<VERB>... kept simple: --realm or "default". */
static int image_realm(struct kuke_ctx *ctx, const char *verb, char *realm, struct kk_err *err)
{
    return kuke_scope(ctx, "realm", verb, kuke_kind(KUKE_IMAGE), "REALM", "default", realm, err);
}

int kuke_cmd_image_load(struct kuke_ctx *ctx, struct kk_err *err)
{
    char realm[KUKE_ARG_MAX];
    if (image_root("image load", err) < 0 || image_realm(ctx, "LOAD", realm, err) < 0)
        return -1;
    if (ctx->nargs > 1)
        return kk_error(err, KK_ERR_INVALID, 0, "accepts at most 1 arg(s), received %d", ctx->nargs);
    if (kuke_flag(ctx, "from-docker") != NULL)
        return kk_error(
            err, KK_ERR_INVALID, 0,
            "--from-docker is not supported by this kuke: save the image with `docker save REF -o "
            "image.tar` and run kuke image load image.tar");
    const char *path = ctx->nargs == 1 ? ctx->args[0] : "-";
    /* Opened as root before the in-process host takes the run path owner's file identity. kuke-ctrd
     * wants a regular file: stdin is copied into an anonymous one. */
    _cleanup_close_ int fd = -1;
    if (strcmp(path, "-") == 0) {
        fd = memfd_create("kuke-image-load", MFD_CLOEXEC);
        if (fd < 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "creating a buffer for the image from stdin");
        char buf[65536];
        ssize_t n;
        while ((n = read(STDIN_FILENO, buf, sizeof(buf))) != 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 || write(fd, buf, (size_t)n) != n)
                return kk_error(err, KK_ERR_INTERNAL, errno, "reading the image archive from stdin");
        }
        lseek(fd, 0, SEEK_SET);
    } else {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return kk_error(err, KK_ERR_NOT_FOUND, errno, "opening image archive %s", path);
    }
    struct kk_config cfg;
    int sock = kuke_inproc_helper(ctx, KK_CTL_CTRD, &cfg, err);
    json_t *realms = NULL;
    if (sock < 0 || image_realms(sock, realm, &realms, err) < 0)
        return -1;
    json_decref(realms);
    Kukeon__Ipc__Ctrd__ImageLoadReply *lr = NULL;
    if (kk_ctrd_image_load(sock, realm, NULL, fd, &lr, err) < 0)
        return kk_error_wrap(err, "loading %s into realm \"%s\"", strcmp(path, "-") == 0 ? "stdin" : path,
                             realm);
    for (size_t i = 0; i < lr->n_images; i++)
        printf("Loaded image \"%s\" into realm \"%s\" (namespace \"%s.%s\")\n", lr->images[i]->name, realm,
               realm, cfg.ns_suffix);
    kukeon__ipc__ctrd__image_load_reply__free_unpacked(lr, NULL);
    return 0;
}

/* ---- pull --------------------------------------------------------------------------------------- */

/* Progress on a terminal, as ctr and podman draw it: one line per layer (its digest, bytes so far and
 * size, or "Already exists"), then the total, redrawn in place. */
struct pull_tty {
    const struct kk_pull_plan *plan;
    uint64_t *done;
    size_t lines; /* drawn so far, to move back over */
};

static void pull_tty_draw(struct pull_tty *t, uint64_t total_done, uint64_t total)
{
    if (t->lines > 0)
        printf("\033[%zuA", t->lines);
    for (size_t i = 0; i < t->plan->n_layers; i++) {
        const struct kk_pull_blob *b = &t->plan->layers[i];
        char done[32], size[32];
        kuke_size(t->done[i], done, sizeof(done));
        kuke_size(b->size, size, sizeof(size));
        if (b->held)
            printf("\r\033[K%.15s\u2026  Already exists\n", b->digest);
        else
            printf("\r\033[K%.15s\u2026  %s / %s\n", b->digest, done, size);
    }
    char done[32], size[32];
    kuke_size(total_done, done, sizeof(done));
    kuke_size(total, size, sizeof(size));
    printf("\r\033[Ktotal            %s / %s\n", done, size);
    t->lines = t->plan->n_layers + 1;
    fflush(stdout);
}

static void pull_tty_begin(void *opaque, const struct kk_pull_plan *plan)
{
    struct pull_tty *t = opaque;
    t->plan = plan;
    t->done = calloc(plan->n_layers + 1, sizeof(*t->done));
    if (t->done == NULL)
        return;
    printf("Pulling %s\n", plan->name);
    pull_tty_draw(t, 0, plan->total);
}

static void pull_tty_progress(void *opaque, int layer, uint64_t done, uint64_t size, uint64_t total_done,
                              uint64_t total)
{
    struct pull_tty *t = opaque;
    if (t->done == NULL)
        return;
    /* Layers come in manifest order: every one before the current is complete. */
    bool all = total_done >= total;
    for (size_t i = 0; i < t->plan->n_layers; i++) {
        if (all || (layer >= 0 && i < (size_t)layer))
            t->done[i] = t->plan->layers[i].size;
        else if (layer >= 0 && i == (size_t)layer)
            t->done[i] = done <= size ? done : size;
    }
    pull_tty_draw(t, total_done, total);
}

int kuke_cmd_image_pull(struct kuke_ctx *ctx, struct kk_err *err)
{
    char realm[KUKE_ARG_MAX];
    if (image_root("image pull", err) < 0 || image_realm(ctx, "PULL", realm, err) < 0)
        return -1;
    if (ctx->nargs != 1)
        return kk_error(err, KK_ERR_INVALID, 0, "accepts 1 arg(s), received %d", ctx->nargs);
    const char *ref = ctx->args[0];
    /* The pull runs the controller's own code with this process's helpers: kuke-ctrd, and kuke-fetchd,
     * the only one that talks to registries. */
    struct kk_config cfg;
    int csock = kuke_inproc_helper(ctx, KK_CTL_CTRD, &cfg, err);
    json_t *realms = NULL;
    if (csock < 0 || image_realms(csock, realm, &realms, err) < 0)
        return -1;
    json_decref(realms);
    int fsock = kuke_inproc_helper(ctx, KK_CTL_FETCHD, NULL, err);
    if (fsock < 0)
        return kk_error_wrap(err, "pulling %s into realm \"%s\"", ref, realm);
    struct kk_ctl ctl;
    if (kk_ctl_init(&ctl, &cfg, err) < 0)
        return -1;
    ctl.sock[KK_CTL_CTRD] = csock;
    ctl.sock[KK_CTL_FETCHD] = fsock;
    struct pull_tty tty = {0};
    struct kk_pull_progress progress = {pull_tty_begin, pull_tty_progress, &tty};
    struct kk_pull_result res;
    int rc = kk_ctl_image_pull_ex(&ctl, realm, ref, isatty(STDOUT_FILENO) ? &progress : NULL, &res, err);
    free(tty.done);
    if (rc < 0)
        return -1;
    printf("Pulled %s (%s) into realm \"%s\"\n", res.name, res.digest, realm);
    return 0;
}

int kuke_cmd_image_rm(struct kuke_ctx *ctx, struct kk_err *err)
{
    char realm[KUKE_ARG_MAX];
    if (image_realm(ctx, "DELETE", realm, err) < 0)
        return -1;
    if (ctx->nargs != 1)
        return kk_error(err, KK_ERR_INVALID, 0, "accepts 1 arg(s), received %d", ctx->nargs);
    struct kk_config cfg;
    int sock = image_ctrd(ctx, "image rm", &cfg, err);
    json_t *realms = NULL;
    if (sock < 0 || image_realms(sock, realm, &realms, err) < 0)
        return -1;
    json_decref(realms);
    if (kk_ctrd_image_remove(sock, realm, ctx->args[0], err) < 0)
        return -1;
    printf("Deleted image \"%s\" from realm \"%s\" (namespace \"%s.%s\")\n", ctx->args[0], realm, realm,
           cfg.ns_suffix);
    return 0;
}

int kuke_cmd_image_prune(struct kuke_ctx *ctx, struct kk_err *err)
{
    char realm[KUKE_ARG_MAX];
    if (image_realm(ctx, "PRUNE", realm, err) < 0)
        return -1;
    if (ctx->nargs != 0)
        return kk_error(err, KK_ERR_INVALID, 0, "accepts 0 arg(s), received %d", ctx->nargs);
    struct kk_config cfg;
    int sock = image_ctrd(ctx, "image prune", &cfg, err);
    json_t *realms = NULL;
    if (sock < 0 || image_realms(sock, realm, &realms, err) < 0)
        return -1;
    json_decref(realms);
    Kukeon__Ipc__Ctrd__ImagePruneReply *pr = NULL;
    if (kk_ctrd_image_prune(sock, realm, &pr, err) < 0)
        return -1;
    size_t removed = pr->n_removed;
    kukeon__ipc__ctrd__image_prune_reply__free_unpacked(pr, NULL);
    Kukeon__Ipc__Ctrd__ImageListReply *il = NULL;
    size_t kept = 0;
    if (kk_ctrd_image_list(sock, realm, &il, err) == 0) {
        kept = il->n_images;
        kukeon__ipc__ctrd__image_list_reply__free_unpacked(il, NULL);
    }
    printf("pruned realm \"%s\" (namespace \"%s.%s\"): released %zu image(s), retained %zu\n", realm, realm,
           cfg.ns_suffix, removed, kept);
    return 0;
}
