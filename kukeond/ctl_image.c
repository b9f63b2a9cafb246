/* Pulling an image into a realm (kukeond/image_pull.h, docs/images.md). The controller is the one
 * that knows the realm's credentials and holds both helper sockets; it never touches the network or
 * containerd itself:
 *   1. kuke-fetchd RESOLVE: the canonical name and the manifest, config and layer descriptors;
 *   2. kuke-ctrd CONTENT_HELD: which of the config and layers the realm already holds;
 *   3. an unlinked file (O_TMPFILE in <run path>/cache), kuke-fetchd FETCH into it, skipping those;
 *      meanwhile a thread reads the tar headers the file has so far to tell progress;
 *   4. kuke-ctrd IMAGE_LOAD of that file: every digest checked again by containerd's commit, held
 *      blobs adopted into the load's lease, layers unpacked, the image recorded — or, on any failure,
 *      the lease removed with nothing of the pull left in the realm. */
#include "kukeond/image_pull.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/imageref.h"
#include "common/log.h"
#include "common/tar.h"
#include "common/util.h"
#include "ipc/ctrd_client.h"
#include "ipc/fetchd_client.h"
#include "common/names.h"
#include "kukeond/apply.h"
#include "kukeond/controller.h"
#include "kukeond/doc.h"
#include "kukeond/manifest.h"
#include "kukeond/regcred.h"

#define PULL_TAR_BLOCK    KK_TAR_BLOCK
#define PULL_POLL_MS      100
#define PULL_FALLBACK_DIR "/var/tmp"

/* ---- progress: the tarball as far as it is written ---------------------------------------------- */

struct pull_watch {
    int fd;
    const struct kk_pull_plan *plan;
    const struct kk_pull_progress *progress;
    struct kk_pull_scan scan;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool stop;
};

/* Which blob of the plan a tar member is: layer index, -1 the manifest or config, -2 none. */
static int pull_member(const struct kk_pull_plan *plan, const unsigned char *h, bool *counted)
{
    char name[101];
    memcpy(name, h, 100);
    name[100] = '\0';
    *counted = false;
    if (!kk_str_has_prefix(name, "blobs/sha256/"))
        return -2;
    const char *hex = name + strlen("blobs/sha256/");
    for (size_t i = 0; i < plan->n_layers; i++)
        if (strcmp(plan->layers[i].digest + 7, hex) == 0) {
            *counted = true;
            return (int)i;
        }
    *counted = strcmp(plan->manifest_digest + 7, hex) == 0 || strcmp(plan->config->digest + 7, hex) == 0;
    return *counted ? -1 : -2;
}

void kk_pull_scan(int fd, const struct kk_pull_plan *plan, struct kk_pull_scan *scan, struct kk_pull_at *at)
{
    struct stat st;
    uint64_t size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    at->layer = scan->last_layer;
    at->done = at->size = 0;
    uint64_t in_progress = 0;
    for (;;) {
        unsigned char h[PULL_TAR_BLOCK];
        if (scan->off + PULL_TAR_BLOCK > size ||
            pread(fd, h, sizeof(h), (off_t)scan->off) != (ssize_t)sizeof(h) || h[0] == '\0')
            break;
        uint64_t len;
        if (kk_tar_number(h + 124, 12, &len) < 0) /* not a header kuke-fetchd writes: no progress */
            break;
        bool counted;
        int which = pull_member(plan, h, &counted);
        uint64_t data = scan->off + PULL_TAR_BLOCK;
        if (len > size - data) { /* data <= size here; no sum that can wrap */
            /* The member being written. */
            if (counted)
                in_progress = size - data;
            if (which >= 0) {
                at->layer = which;
                at->done = size - data;
                at->size = len;
            }
            break;
        }
        if (counted)
            scan->done_before += len;
        if (which >= 0)
            scan->last_layer = at->layer = which;
        scan->off = data + (len + PULL_TAR_BLOCK - 1) / PULL_TAR_BLOCK * PULL_TAR_BLOCK;
    }
    if (at->layer >= 0 && at->size == 0) /* the last layer seen is complete */
        at->done = at->size = plan->layers[at->layer].size;
    at->total_done = scan->done_before + in_progress;
}

/* Tell the progress callback where the fetch is; final: it has ended, everything is there. */
static void pull_watch_report(struct pull_watch *w, bool final)
{
    struct kk_pull_at at;
    kk_pull_scan(w->fd, w->plan, &w->scan, &at);
    if (final)
        at.total_done = w->plan->total;
    w->progress->fn(w->progress->opaque, at.layer, at.done, at.size, at.total_done, w->plan->total);
}

static void *pull_watch_main(void *arg)
{
    struct pull_watch *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += PULL_POLL_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->cond, &w->lock, &ts);
        if (!w->stop)
            pull_watch_report(w, false);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* ---- the steps ---------------------------------------------------------------------------------- */

/* An unlinked file for the tarball: in <run path>/cache (0700, the daemon's own), else /var/tmp. */
static int pull_tmpfile(struct kk_ctl *ctl, struct kk_err *err)
{
    char dir[sizeof(ctl->cfg.run_path) + 16];
    if (kk_snprintf(dir, sizeof(dir), err, "pull cache directory", "%s/cache", ctl->cfg.run_path) < 0)
        return -1;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        kk_warn("creating %s (pulls use %s instead): %s", dir, PULL_FALLBACK_DIR, strerror(errno));
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    int e = errno;
    fd = open(PULL_FALLBACK_DIR, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    return kk_error(err, KK_ERR_INTERNAL, e, "creating an unlinked file for the image in %s (and %s)", dir,
                    PULL_FALLBACK_DIR);
}

/* The plan from kuke-fetchd's description, and the digests to skip (held). */
struct pull_state {
    struct kk_pull_blob config;
    struct kk_pull_blob *layers;
    size_t n_layers;
    const char *skip[KK_FETCHD_LAYERS_MAX + 1];
    size_t n_skip;
    uint64_t manifest_size;
    struct kk_pull_plan plan;
};

static void pull_skip(struct pull_state *ps);

static int pull_desc(const Kukeon__Ipc__Fetchd__Descriptor *d, struct kk_pull_blob *b, const char *what,
                     struct kk_err *err)
{
    if (d == NULL || !kk_imageref_digest_valid(d->digest))
        return kk_error(err, KK_ERR_INTERNAL, 0, "kuke-fetchd described the %s without a valid digest", what);
    kk_strlcpy(b->digest, d->digest, sizeof(b->digest));
    b->size = d->size;
    b->held = false;
    return 0;
}

static int pull_plan(struct kk_ctl *ctl, const char *realm, const Kukeon__Ipc__Fetchd__Resolved *r,
                     struct pull_state *ps, struct kk_err *err)
{
    if (r->n_layers == 0 || r->n_layers > KK_FETCHD_LAYERS_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "the image has %zu layers (1 to %u are pulled)", r->n_layers,
                        KK_FETCHD_LAYERS_MAX);
    struct kk_pull_blob manifest;
    if (pull_desc(r->manifest, &manifest, "manifest", err) < 0 ||
        pull_desc(r->config, &ps->config, "config", err) < 0)
        return -1;
    ps->layers = calloc(r->n_layers, sizeof(*ps->layers));
    if (ps->layers == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "planning the pull");
    ps->n_layers = r->n_layers;
    const char *ask[KK_FETCHD_LAYERS_MAX + 1];
    ask[0] = ps->config.digest;
    for (size_t i = 0; i < r->n_layers; i++) {
        if (pull_desc(r->layers[i], &ps->layers[i], "layer", err) < 0)
            return -1;
        ask[i + 1] = ps->layers[i].digest;
    }
    int sock = kk_ctl_helper(ctl, KK_CTL_CTRD, err);
    if (sock < 0)
        return -1;
    Kukeon__Ipc__Ctrd__ContentHeldReply *h = NULL;
    if (kk_ctrd_content_held(sock, realm, ask, r->n_layers + 1, &h, err) < 0)
        return kk_error_wrap(err, "asking kuke-ctrd which blobs the realm holds");
    /* A held blob is skipped only when containerd has it at the size the manifest says. */
    for (size_t k = 0; k < h->n_held; k++) {
        uint64_t size = k < h->n_sizes ? h->sizes[k] : UINT64_MAX;
        struct kk_pull_blob *b = strcmp(h->held[k], ps->config.digest) == 0 ? &ps->config : NULL;
        for (size_t i = 0; b == NULL && i < ps->n_layers; i++)
            if (strcmp(h->held[k], ps->layers[i].digest) == 0)
                b = &ps->layers[i];
        if (b != NULL && b->size == size)
            b->held = true;
    }
    protobuf_c_message_free_unpacked(&h->base, NULL);
    ps->manifest_size = manifest.size;
    pull_skip(ps);
    ps->plan.name = r->name;
    ps->plan.manifest_digest = r->manifest->digest;
    ps->plan.config = &ps->config;
    ps->plan.layers = ps->layers;
    ps->plan.n_layers = ps->n_layers;
    return 0;
}

/* The skip list and the bytes to fetch, from what is held. */
static void pull_skip(struct pull_state *ps)
{
    ps->n_skip = 0;
    ps->plan.total = ps->manifest_size;
    if (ps->config.held)
        ps->skip[ps->n_skip++] = ps->config.digest;
    else
        ps->plan.total += ps->config.size;
    for (size_t i = 0; i < ps->n_layers; i++) {
        bool dup = false; /* a layer listed twice is fetched once */
        for (size_t j = 0; j < i && !dup; j++)
            dup = strcmp(ps->layers[j].digest, ps->layers[i].digest) == 0;
        if (ps->layers[i].held) {
            if (!dup)
                ps->skip[ps->n_skip++] = ps->layers[i].digest;
        } else if (!dup) {
            ps->plan.total += ps->layers[i].size;
        }
    }
}

/* FETCH into fd, with the progress thread watching the file when there is someone to tell. */
static int pull_fetch(int sock, const kk_fetchd_source *src, struct pull_state *ps, int fd,
                      const struct kk_pull_progress *progress, Kukeon__Ipc__Fetchd__FetchReply **reply,
                      struct kk_err *err)
{
    struct pull_watch w = {.fd = fd, .plan = &ps->plan, .progress = progress, .scan = {.last_layer = -1}};
    pthread_t thread;
    bool watching = false;
    if (progress != NULL && progress->fn != NULL) {
        pthread_mutex_init(&w.lock, NULL);
        pthread_cond_init(&w.cond, NULL);
        watching = pthread_create(&thread, NULL, pull_watch_main, &w) == 0;
        if (!watching)
            kk_warn("pulling %s: no progress (cannot start its thread)", ps->plan.name);
    }
    int rc = kk_fetchd_fetch(sock, src, ps->plan.manifest_digest, ps->skip, ps->n_skip, fd, reply, err);
    if (watching) {
        pthread_mutex_lock(&w.lock);
        w.stop = true;
        pthread_cond_signal(&w.cond);
        pthread_mutex_unlock(&w.lock);
        pthread_join(thread, NULL);
        if (rc == 0)
            pull_watch_report(&w, true);
    }
    if (progress != NULL && progress->fn != NULL) {
        pthread_mutex_destroy(&w.lock);
        pthread_cond_destroy(&w.cond);
    }
    return rc;
}

/* The pulls that failed before the writer lock, for the rest of the request on this thread
 * (kk_ctl_prepull, kk_ctl_prepull_end): the method's own pull of the same image into the same realm
 * answers the same error instead of asking the registry again under the lock. NULL: none. */
#define PULL_MEMO_MAX 8
struct pull_memo {
    const struct kk_ctl *ctl;
    size_t n;
    struct {
        char realm[KK_NAME_SIZE];
        char canon[KK_IMAGEREF_STR_MAX];
        struct kk_err err;
    } failed[PULL_MEMO_MAX];
};
static __thread struct pull_memo *pull_memo;

static bool pull_memo_find(const struct kk_ctl *ctl, const char *realm, const char *canon, struct kk_err *err)
{
    const struct pull_memo *m = pull_memo;
    for (size_t i = 0; m != NULL && m->ctl == ctl && i < m->n; i++) {
        if (strcmp(m->failed[i].realm, realm) == 0 && strcmp(m->failed[i].canon, canon) == 0) {
            *err = m->failed[i].err;
            return true;
        }
    }
    return false;
}

int kk_ctl_image_pull_ex(struct kk_ctl *ctl, const char *realm, const char *ref,
                         const struct kk_pull_progress *progress, struct kk_pull_result *res,
                         struct kk_err *err)
{
    struct kk_imageref ir;
    char canon[KK_IMAGEREF_STR_MAX];
    if (kk_imageref_parse(ref, &ir, err) < 0 || kk_imageref_name(&ir, canon, sizeof(canon), err) < 0)
        return kk_error_wrap(err, "pulling into realm \"%s\"", realm);
    if (kk_imageref_internal(&ir))
        return kk_error(err, KK_ERR_INVALID, 0,
                        "image %s is under %s/, which Kukeon builds itself and never pulls: load it with "
                        "`kuke image load <file.tar> --realm %s`",
                        canon, KK_IMAGEREF_INTERNAL_DOMAIN, realm);
    if (pull_memo_find(ctl, realm, canon, err)) {
        kk_info("pulling %s into realm %s: not asked again, it failed moments ago in this request", canon,
                realm);
        return -1;
    }
    int fsock = kk_ctl_helper(ctl, KK_CTL_FETCHD, err);
    if (fsock < 0)
        return kk_error_wrap(err, "pulling image %s into realm \"%s\"", canon, realm);

    struct kk_regcred cred;
    memset(&cred, 0, sizeof(cred));
    if (kk_ctl_regcred_lookup(ctl, realm, ir.domain, &cred, err) < 0)
        return kk_error_wrap(err, "pulling image %s into realm \"%s\": the realm's registry credentials",
                             canon, realm);
    kk_fetchd_source src = KUKEON__IPC__FETCHD__SOURCE__INIT;
    src.ref = canon;
    if (cred.found) {
        src.username = cred.username;
        src.password = cred.password;
        src.insecure_skip_tls_verify = cred.insecure_skip_tls_verify;
    }

    Kukeon__Ipc__Fetchd__Resolved *r = NULL;
    Kukeon__Ipc__Fetchd__FetchReply *fr = NULL;
    Kukeon__Ipc__Ctrd__ImageLoadReply *lr = NULL;
    struct pull_state ps;
    memset(&ps, 0, sizeof(ps));
    int fd = -1, rc = -1;
    kk_info("pulling %s into realm %s%s", canon, realm, cred.found ? " (with the realm's credentials)" : "");
    if (kk_fetchd_resolve(fsock, &src, &r, err) < 0)
        goto out;
    if (pull_plan(ctl, realm, r, &ps, err) < 0)
        goto out;
    if (progress != NULL && progress->begin != NULL)
        progress->begin(progress->opaque, &ps.plan);
    for (int attempt = 0;; attempt++) {
        if ((fd = pull_tmpfile(ctl, err)) < 0 || pull_fetch(fsock, &src, &ps, fd, progress, &fr, err) < 0)
            goto out;
        int csock = kk_ctl_helper(ctl, KK_CTL_CTRD, err);
        if (csock < 0)
            goto out;
        if (kk_ctrd_image_load(csock, realm, r->name, fd, &lr, err) == 0)
            break;
        /* A blob the realm held when asked was gone before the load could lease it (an image removed
         * meanwhile, and collected): fetch everything, once. */
        if (attempt > 0 || ps.n_skip == 0 || err->kind != KK_ERR_INVALID ||
            strstr(err->msg, "does not hold it") == NULL) {
            kk_error_wrap(err, "loading what was fetched");
            goto out;
        }
        kk_info("pulling %s into realm %s: %s; fetching every blob again", r->name, realm, err->msg);
        ps.config.held = false;
        for (size_t i = 0; i < ps.n_layers; i++)
            ps.layers[i].held = false;
        pull_skip(&ps);
        close(fd);
        fd = -1;
        protobuf_c_message_free_unpacked(&fr->base, NULL);
        fr = NULL;
    }
    if (res != NULL) {
        kk_strlcpy(res->name, r->name, sizeof(res->name));
        kk_strlcpy(res->digest, r->manifest->digest, sizeof(res->digest));
        res->blobs_fetched = fr->blobs_fetched;
        res->blobs_skipped = fr->blobs_skipped;
        res->bytes_fetched = fr->bytes_fetched;
    }
    kk_info("pulled %s (%s) into realm %s: %u blob(s) fetched (%llu bytes), %u already held", r->name,
            r->manifest->digest, realm, fr->blobs_fetched, (unsigned long long)fr->bytes_fetched,
            fr->blobs_skipped);
    rc = 0;
out:
    kk_regcred_wipe(&cred);
    src.password = NULL;
    if (rc < 0)
        kk_error_wrap(err, "pulling image %s into realm \"%s\"", r != NULL ? r->name : canon, realm);
    if (fd >= 0)
        close(fd);
    free(ps.layers);
    if (r != NULL)
        protobuf_c_message_free_unpacked(&r->base, NULL);
    if (fr != NULL)
        protobuf_c_message_free_unpacked(&fr->base, NULL);
    if (lr != NULL)
        protobuf_c_message_free_unpacked(&lr->base, NULL);
    return rc;
}

int kk_ctl_image_pull(struct kk_ctl *ctl, const char *realm, const char *ref,
                      const struct kk_pull_progress *progress, char *name_out, size_t name_size,
                      struct kk_err *err)
{
    struct kk_pull_result res;
    memset(&res, 0, sizeof(res));
    if (kk_ctl_image_pull_ex(ctl, realm, ref, progress, &res, err) < 0)
        return -1;
    if (name_out != NULL && name_size > 0)
        kk_strlcpy(name_out, res.name, name_size);
    return 0;
}

/* ---- the pull before the writer lock ------------------------------------------------------------ */

/* Distinct (realm, image) pairs a request names; more than this are left to the method's own pull. */
#define PREPULL_MAX 32

struct prepull {
    bool memo; /* no document of the request can change a realm's credentials: failures are final */
    size_t n;
    struct {
        char realm[KK_NAME_SIZE];
        char ref[KK_IMAGEREF_STR_MAX];   /* as written: what the method pulls */
        char canon[KK_IMAGEREF_STR_MAX]; /* what the realm's image list says when it has it */
    } want[PREPULL_MAX];
};

/* One container's image in realm, when both look like something a pull could fetch: a realm name
 * (surrounding blanks dropped, as the cell's names are), a reference that parses and is not under
 * kukeon.internal/ (the pause image and built images are the method's business). */
static void prepull_add(struct prepull *p, const char *realm, const char *image)
{
    while (*realm == ' ' || *realm == '\t')
        realm++;
    size_t rlen = strlen(realm);
    while (rlen > 0 && (realm[rlen - 1] == ' ' || realm[rlen - 1] == '\t'))
        rlen--;
    struct kk_imageref ir;
    struct kk_err e = {0};
    char canon[KK_IMAGEREF_STR_MAX];
    if (rlen == 0 || rlen >= KK_NAME_SIZE || image[0] == '\0' || strlen(image) >= KK_IMAGEREF_STR_MAX ||
        kk_imageref_parse(image, &ir, &e) < 0 || kk_imageref_internal(&ir) ||
        kk_imageref_canonical(image, canon, sizeof(canon), &e) < 0)
        return;
    for (size_t i = 0; i < p->n; i++)
        if (strncmp(p->want[i].realm, realm, rlen) == 0 && p->want[i].realm[rlen] == '\0' &&
            strcmp(p->want[i].canon, canon) == 0)
            return;
    if (p->n == PREPULL_MAX)
        return;
    memcpy(p->want[p->n].realm, realm, rlen);
    p->want[p->n].realm[rlen] = '\0';
    kk_strlcpy(p->want[p->n].ref, image, sizeof(p->want[p->n].ref));
    kk_strlcpy(p->want[p->n].canon, canon, sizeof(p->want[p->n].canon));
    p->n++;
}

static void prepull_cell(struct prepull *p, const json_t *cell)
{
    const char *realm = kk_json_str(kk_doc_spec(cell), "realmId");
    size_t i;
    json_t *c;
    json_array_foreach(kk_cell_containers(cell), i, c)
    {
        if (json_is_object(c))
            prepull_add(p, realm, kk_json_str(c, "image"));
    }
}

/* The Cell and Container documents of an ApplyDocuments request (its RawYAML, base64), parsed and
 * validated as the method does, without completing them (the derived fields are not needed here). */
static void prepull_apply(struct prepull *p, const json_t *args)
{
    const json_t *raw = json_object_get(args, "RawYAML");
    if (!json_is_string(raw) || json_string_length(raw) > (size_t)KK_MANIFEST_MAX_BYTES / 3 * 4 + 8)
        return;
    char *yaml = NULL;
    size_t len = 0;
    struct kk_err e = {0};
    if (kk_base64_decode(json_string_value(raw), json_string_length(raw), &yaml, &len, &e) < 0)
        return;
    struct kk_manifest m = {0};
    if (kk_manifest_load(yaml, len, NULL, &m, &e) == 0) {
        p->memo = true;
        for (size_t i = 0; i < m.count; i++)
            p->memo = p->memo && m.docs[i].kind != KK_KIND_REALM;
        for (size_t i = 0; i < m.count; i++) {
            const json_t *doc = m.docs[i].doc;
            struct kk_derive_names dn;
            if (m.docs[i].kind == KK_KIND_CELL)
                prepull_cell(p, doc);
            else if (m.docs[i].kind == KK_KIND_CONTAINER && kk_doc_names(doc, &dn, &e) == 0 && dn.realm != NULL)
                prepull_add(p, dn.realm, kk_json_str(kk_doc_spec(doc), "image"));
        }
    }
    kk_manifest_free(&m);
    free(yaml);
}

/* Pull what realm lacks of p's images for that realm; each pulled or failed one is marked done. */
static int prepull_realm(struct kk_ctl *ctl, struct prepull *p, size_t first, bool *done, unsigned *pulled,
                         struct kk_err *err)
{
    const char *realm = p->want[first].realm;
    int rc = 0;
    struct kk_derive_names dn = {.realm = realm};
    json_t *rdoc = NULL;
    struct kk_err e = {0};
    /* A realm that is not there (yet: the same manifest may create it) is the method's to handle. */
    bool exists = kk_store_get(&ctl->store, &dn, &rdoc, NULL, &e) == 1;
    json_decref(rdoc);
    Kukeon__Ipc__Ctrd__ImageListReply *l = NULL;
    int sock = exists ? kk_ctl_helper(ctl, KK_CTL_CTRD, &e) : -1;
    if (sock < 0 || kk_ctrd_image_list(sock, realm, &l, &e) < 0 || l->truncated) {
        kk_debug("no pull before the writer lock for realm %s: %s", realm, exists ? e.msg : "no such realm");
        for (size_t i = first; i < p->n; i++)
            done[i] = done[i] || strcmp(p->want[i].realm, realm) == 0;
        if (l != NULL)
            protobuf_c_message_free_unpacked(&l->base, NULL);
        return 0;
    }
    for (size_t i = first; i < p->n; i++) {
        if (done[i] || strcmp(p->want[i].realm, realm) != 0)
            continue;
        done[i] = true;
        bool have = false;
        for (size_t k = 0; k < l->n_images && !have; k++)
            have = strcmp(l->images[k]->name, p->want[i].canon) == 0;
        if (have)
            continue;
        if (kk_ctl_image_pull(ctl, realm, p->want[i].ref, NULL, NULL, 0, &e) < 0) {
            *err = e;
            rc = -1;
            if (p->memo && (pull_memo != NULL || (pull_memo = calloc(1, sizeof(*pull_memo))) != NULL) &&
                pull_memo->n < PULL_MEMO_MAX) {
                pull_memo->ctl = ctl;
                kk_strlcpy(pull_memo->failed[pull_memo->n].realm, realm, KK_NAME_SIZE);
                kk_strlcpy(pull_memo->failed[pull_memo->n].canon, p->want[i].canon, KK_IMAGEREF_STR_MAX);
                pull_memo->failed[pull_memo->n++].err = e;
            }
        } else {
            (*pulled)++;
        }
    }
    protobuf_c_message_free_unpacked(&l->base, NULL);
    return rc;
}

int kk_ctl_prepull(struct kk_ctl *ctl, const char *method, const json_t *args, unsigned *pulled,
                   struct kk_err *err)
{
    unsigned count = 0;
    if (pulled != NULL)
        *pulled = 0;
    if (method == NULL || !json_is_object(args))
        return 0;
    struct prepull *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return 0; /* the method pulls, under the lock */
    if (strcmp(method, "CreateCell") == 0 || strcmp(method, "MaterializeCell") == 0) {
        const json_t *doc = json_object_get(args, "Doc");
        const char *kind = kk_json_str(doc, "kind");
        p->memo = true;
        if (json_is_object(doc) && (kind[0] == '\0' || strcmp(kind, "Cell") == 0))
            prepull_cell(p, doc);
    } else if (strcmp(method, "ApplyDocuments") == 0) {
        prepull_apply(p, args);
    }
    bool done[PREPULL_MAX] = {false};
    int rc = 0;
    for (size_t i = 0; i < p->n; i++)
        if (!done[i] && prepull_realm(ctl, p, i, done, &count, err) < 0)
            rc = -1;
    free(p);
    if (pulled != NULL)
        *pulled = count;
    return rc;
}

void kk_ctl_prepull_end(void)
{
    free(pull_memo);
    pull_memo = NULL;
}
