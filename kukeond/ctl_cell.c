/* Cells and containers: the primitives of kukeond/ctl_cell.h. A cell is a document (its containers
 * inside it), a cgroup (kuke-cgd), a pinned network namespace attached to its space's network
 * (kuke-netd), two files beside the document (etc-hosts, etc-hostname) and one containerd container
 * per container (kuke-ctrd), the synthesized pause root first. Every step is idempotent and recorded
 * before it acts (DESIGN.md section 4): the document first, then the effects, then the status; a
 * failed effect leaves state Failed with its reason, and the next create or start finishes. The
 * kukeonv1 methods that use these are in ctl_cell_methods.c. */
#include "kukeond/ctl_cell.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/imageref.h"
#include "common/log.h"
#include "common/util.h"
#include "ipc/cgd_client.h"
#include "ipc/ctrd_client.h"
#include "ipc/netd_client.h"
#include "kukeond/ctl_attach.h"
#include "kukeond/image_pull.h"

/* A non-root container gets this long for SIGTERM before SIGKILL (kukeon-reference.md 2.7). */
#define CELL_STOP_TIMEOUT_MS 5000u
/* After SIGKILL, how long to wait for the exit to be recorded. */
#define CELL_KILL_WAIT_MS 3000u
/* A cell's cgroup that is still busy after its tasks were deleted is retried this often. */
#define CELL_CGROUP_TRIES    10
#define CELL_CGROUP_PAUSE_MS 200
#define CELL_ZERO_TIME       "0001-01-01T00:00:00Z"

/* ---- names --------------------------------------------------------------------------------------- */

int ctl_cell_names_from_doc(struct ctl_op *op, const json_t *doc, struct ctl_names *out, struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    out->depth = KK_KIND_CELL;
    const json_t *md = json_object_get(doc, "metadata"), *spec = json_object_get(doc, "spec");
    const char *raw[4] = {kk_json_str(spec, "realmId"), kk_json_str(spec, "spaceId"),
                          kk_json_str(spec, "stackId"), kk_json_str(md, "name")};
    static const char *const required[4] = {"RealmNameRequired", "SpaceNameRequired", "StackNameRequired",
                                            "CellNameRequired"};
    char *dst[4] = {out->realm, out->space, out->stack, out->cell};
    const char *start[4];
    size_t len[4];
    for (int k = 0; k < 4; k++)
        ctl_trim(raw[k], &start[k], &len[k]);
    if (len[3] == 0)
        return ctl_fail(op, required[3], err, KK_ERR_INVALID, "cell name is required");
    for (int k = 0; k < 3; k++)
        if (len[k] == 0)
            return ctl_fail(op, required[k], err, KK_ERR_INVALID, "%s name is required",
                            kk_name_kind_str((enum kk_name_kind)k));
    for (int k = 0; k < 4; k++) {
        if (kk_name_check_len((enum kk_name_kind)k, start[k], len[k], err) < 0)
            return ctl_fail_kind(op, CTL_KIND_UNKNOWN, err);
        memcpy(dst[k], start[k], len[k]);
        dst[k][len[k]] = '\0';
    }
    return 0;
}

static int cell_derive(struct ctl_op *op, const struct ctl_names *n, struct kk_derived *d, struct kk_err *err)
{
    struct kk_derive_names dn = ctl_dnames(n);
    return kk_derive(&dn, &op->ctl->dcfg, d, err);
}

static kk_ctrd_ref cell_ref(const struct ctl_names *n, const char *container)
{
    kk_ctrd_ref ref = KUKEON__IPC__CTRD__REF__INIT;
    ref.realm = (char *)n->realm;
    ref.space = (char *)n->space;
    ref.stack = (char *)n->stack;
    ref.cell = (char *)n->cell;
    ref.container = (char *)(container != NULL ? container : "");
    return ref;
}

/* The cell's root container spec (NULL when the document has none yet). */
static json_t *cell_root(const json_t *doc)
{
    const char *id = kk_cell_root_id(doc);
    return id[0] != '\0' ? kk_cell_container(doc, id) : NULL;
}

static bool cell_host_network(const json_t *doc)
{
    json_t *root = cell_root(doc);
    return root != NULL && kk_json_bool(root, "hostNetwork");
}

/* The spec hash of one container (recorded as the kukeon.io/spec-hash label): FNV-1a of its spec
 * as canonical JSON. It detects drift between the document and what containerd runs; nothing relies
 * on it against a chosen input. */
static void cell_spec_hash(const json_t *c, char out[17])
{
    char *s = json_dumps(c, JSON_SORT_KEYS | JSON_COMPACT);
    uint64_t h = s != NULL ? kk_fnv1a64(s, strlen(s)) : 0;
    free(s);
    snprintf(out, 17, "%016" PRIx64, h);
}

static void cell_now(char buf[40])
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (kk_time_format(&now, buf, 40) < 0)
        snprintf(buf, 40, CELL_ZERO_TIME);
}

static void cell_ms_time(int64_t ms, char buf[40])
{
    if (ms <= 0) {
        snprintf(buf, 40, CELL_ZERO_TIME);
        return;
    }
    struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    if (kk_time_format(&t, buf, 40) < 0)
        snprintf(buf, 40, CELL_ZERO_TIME);
}

/* ---- files beside the document -------------------------------------------------------------------- */

/* Write dir/name atomically and durably (docs/state.md), 0644 whatever the umask: the container's
 * processes read it through the bind mount. */
static int cell_write_file(const char *dir, const char *name, const char *text, struct kk_err *err)
{
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "opening the cell's directory %s", dir);
    char path[PATH_MAX], prefix[64];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(prefix, sizeof(prefix), ".%s-", name);
    return kk_store_write_file(dfd, name, path, prefix, 0644, text, strlen(text), err);
}

/* etc-hostname (the cell's name) and etc-hosts (the localhost block, and the cell's address once it has
 * one), bind-mounted into every container by kuke-ctrd (kukeon-reference.md 1.4). ip: "10.88.0.5" or
 * NULL. */
static int cell_etc_files(const struct kk_derived *d, const char *ip, struct kk_err *err)
{
    char hosts[512], hostname[KK_NAME_SIZE + 2];
    snprintf(hostname, sizeof(hostname), "%s\n", d->cell);
    int n = snprintf(hosts, sizeof(hosts),
                     "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                     "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
                     "ff02::2\tip6-allrouters\n");
    if (ip != NULL && ip[0] != '\0')
        snprintf(hosts + n, sizeof(hosts) - (size_t)n, "%s\t%s\n", ip, d->cell);
    if (cell_write_file(d->metadata_dir, "etc-hostname", hostname, err) < 0 ||
        cell_write_file(d->metadata_dir, "etc-hosts", hosts, err) < 0)
        return kk_error_wrap(err, "cell \"%s\"", d->cell);
    return 0;
}

/* The container's directory beside the cell's document, where the shim writes its log: made here, as
 * the run path's owner, so that a delete can empty and remove it again. */
static int cell_container_dir(const struct kk_derived *d, const char *id, struct kk_err *err)
{
    char path[KK_DERIVE_PATH_SIZE + KK_NAME_SIZE + 2];
    if (kk_snprintf(path, sizeof(path), err, "container directory", "%s/%s", d->metadata_dir, id) < 0)
        return -1;
    if (mkdir(path, 02750) < 0 && errno != EEXIST)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating the container directory %s", path);
    return 0;
}

/* Everything a container needs beside the cell's document before its task starts: its directory,
 * and for an attachable container the terminal directory the relay binds (kukeond/ctl_attach.h). */
static int cell_container_prepare(struct ctl_op *op, const struct ctl_names *n, const struct kk_derived *d,
                                  const json_t *c, struct kk_err *err)
{
    const char *id = kk_json_str(c, "id");
    if (cell_container_dir(d, id, err) < 0)
        return -1;
    if (kk_json_bool(c, "attachable") && ctl_attach_prepare(op, n, id, err) < 0)
        return kk_error_wrap(err, "container \"%s\" of cell \"%s\"", id, n->cell);
    return 0;
}

/* Remove what is inside dirfd's entry name (two levels: a container dir and its tty/ dir), then it. */
static void cell_remove_tree(int parent, const char *name, int depth)
{
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        unlinkat(parent, name, 0);
        return;
    }
    DIR *dir = fdopendir(fd);
    if (dir == NULL) {
        close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        /* DT_UNKNOWN (some filesystems): a directory shows itself by refusing the unlink. */
        if (depth > 0 &&
            (de->d_type == DT_DIR ||
             (de->d_type == DT_UNKNOWN && unlinkat(dirfd(dir), de->d_name, 0) < 0 && errno == EISDIR)))
            cell_remove_tree(dirfd(dir), de->d_name, depth - 1);
        else
            unlinkat(dirfd(dir), de->d_name, 0);
    }
    closedir(dir);
    if (unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        kk_warn("removing %s: %s (remove it by hand)", name, strerror(errno));
}

/* Everything beside the cell's document but the document itself: the etc files, temporary files,
 * and the container directories (their logs). */
static void cell_remove_files(const struct kk_derived *d)
{
    int dfd = open(d->metadata_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return;
    DIR *dir = fdopendir(dfd);
    if (dir == NULL) {
        close(dfd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        const char *nm = de->d_name;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0 || strncmp(nm, "metadata.json", 13) == 0)
            continue;
        if (de->d_type == DT_DIR || (de->d_type == DT_UNKNOWN && strcmp(nm, "etc-hosts") != 0 &&
                                     strcmp(nm, "etc-hostname") != 0 && nm[0] != '.'))
            cell_remove_tree(dirfd(dir), nm, 2);
        else if (strcmp(nm, "etc-hosts") == 0 || strcmp(nm, "etc-hostname") == 0 || nm[0] == '.')
            unlinkat(dirfd(dir), nm, 0);
    }
    closedir(dir);
}

/* ---- containerd ---------------------------------------------------------------------------------- */

static int cell_list(struct ctl_op *op, const struct ctl_names *n,
                     Kukeon__Ipc__Ctrd__ContainerListReply **out, struct kk_err *err)
{
    int sock = ctl_helper(op, KK_CTL_CTRD, "listing the cell's containers", err);
    if (sock < 0)
        return -1;
    kk_ctrd_ref ref = cell_ref(n, NULL);
    if (kk_ctrd_container_list(sock, &ref, out, err) < 0)
        return kk_error_wrap(err, "containers of cell \"%s\"", n->cell);
    return 0;
}

static const Kukeon__Ipc__Ctrd__ContainerStatus *cell_find(const Kukeon__Ipc__Ctrd__ContainerListReply *l,
                                                           const char *id)
{
    for (size_t i = 0; l != NULL && i < l->n_containers; i++)
        if (l->containers[i]->ref != NULL && strcmp(l->containers[i]->ref->container, id) == 0)
            return l->containers[i];
    return NULL;
}

static bool ctrd_active(const Kukeon__Ipc__Ctrd__ContainerStatus *st)
{
    return st != NULL && (strcmp(st->state, "running") == 0 || strcmp(st->state, "created") == 0 ||
                          strcmp(st->state, "paused") == 0 || strcmp(st->state, "pausing") == 0);
}

/* Make sure the realm's namespace has the pause image, loading it from the archive kuke init wrote. */
static int cell_pause_image(struct ctl_op *op, const char *realm, const char *image, struct kk_err *err)
{
    int sock = ctl_helper(op, KK_CTL_CTRD, "loading the pause image", err);
    if (sock < 0)
        return -1;
    Kukeon__Ipc__Ctrd__ImageListReply *l = NULL;
    if (kk_ctrd_image_list(sock, realm, &l, err) < 0)
        return kk_error_wrap(err, "images of realm \"%s\"", realm);
    bool have = false;
    for (size_t i = 0; i < l->n_images && !have; i++)
        have = strcmp(l->images[i]->name, image) == 0 && l->images[i]->unpacked;
    protobuf_c_message_free_unpacked(&l->base, NULL);
    if (have)
        return 0;
    char path[sizeof(op->ctl->cfg.run_path) + 32];
    if (kk_snprintf(path, sizeof(path), err, "pause image path", "%s/" KK_PAUSE_IMAGE_ARCHIVE,
                    op->ctl->cfg.run_path) < 0)
        return -1;
    _cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return kk_error(err, errno == ENOENT ? KK_ERR_NOT_FOUND : KK_ERR_INTERNAL, errno,
                        "the pause image %s is not in realm \"%s\" and its archive %s cannot be read: run "
                        "`kuke init` to build it",
                        image, realm, path);
    Kukeon__Ipc__Ctrd__ImageLoadReply *r = NULL;
    if (kk_ctrd_image_load(sock, realm, image, fd, &r, err) < 0)
        return kk_error_wrap(err,
                             "loading the pause image %s into realm \"%s\" from %s (run `kuke init` to "
                             "build it again)",
                             image, realm, path);
    kk_info("loaded the pause image %s into realm %s", image, realm);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

/* The name kuke-ctrd stores an image under (docs/ctrd.md: "busybox" is
 * docker.io/library/busybox:latest), the same rule ctr and the Go Kukeon apply. */
static void cell_image_canonical(const char *in, char *out, size_t size)
{
    /* A ref that does not parse is looked up as written: it is then not found, and the pull that
     * follows says what is wrong with it. */
    if (kk_imageref_canonical(in, out, size, NULL) < 0)
        kk_strlcpy(out, in, size);
}

/* Every image the cell's containers run is in the realm before kuke-ctrd is asked to create anything:
 * one that is missing is pulled from its registry with the realm's credentials (kukeond/image_pull.h;
 * the pause image is loaded when missing, and other kukeon.internal/ images are never pulled). A
 * failed pull fails the cell with the registry's message (ImageNotFound when the registry has no such
 * repository or tag). */
static int cell_images_present(struct ctl_op *op, const struct ctl_names *n, const json_t *doc,
                               struct kk_err *err)
{
    int sock = ctl_helper(op, KK_CTL_CTRD, "listing the realm's images", err);
    if (sock < 0)
        return -1;
    Kukeon__Ipc__Ctrd__ImageListReply *l = NULL;
    if (kk_ctrd_image_list(sock, n->realm, &l, err) < 0)
        return kk_error_wrap(err, "images of realm \"%s\"", n->realm);
    int rc = 0;
    size_t i;
    json_t *c;
    json_array_foreach(kk_cell_containers(doc), i, c)
    {
        const char *image = kk_json_str(c, "image");
        if (kk_str_has_prefix(image, KK_PAUSE_IMAGE_REPO ":"))
            continue;
        char want[512];
        cell_image_canonical(image, want, sizeof(want));
        bool have = false;
        for (size_t k = 0; k < l->n_images && !have; k++)
            have = strcmp(l->images[k]->name, want) == 0;
        /* A truncated list proves nothing: kuke-ctrd decides. */
        if (have || l->truncated)
            continue;
        if (kk_str_has_prefix(want, KK_IMAGEREF_INTERNAL_DOMAIN "/")) {
            rc = ctl_fail(op, "ImageNotFound", err, KK_ERR_NOT_FOUND,
                          "image %s of container \"%s\" is not in realm \"%s\" (Kukeon builds %s/ images "
                          "itself, never pulls them): load it with `kuke image load <file.tar> --realm %s`",
                          want, kk_json_str(c, "id"), n->realm, KK_IMAGEREF_INTERNAL_DOMAIN, n->realm);
            break;
        }
        if (kk_ctl_image_pull(op->ctl, n->realm, image, NULL, NULL, 0, err) < 0) {
            /* No such image there, or no registry to ask: it may still be loaded from a file. */
            bool absent = err->kind == KK_ERR_NOT_FOUND || err->kind == KK_ERR_UNAVAILABLE;
            char cause[KK_ERR_MSG_MAX];
            kk_strlcpy(cause, err->msg, sizeof(cause));
            rc = kk_error(err, err->kind, 0, "container \"%s\": %s%s%s%s", kk_json_str(c, "id"), cause,
                          absent ? "; or load it with `kuke image load <file.tar> --realm " : "",
                          absent ? n->realm : "", absent ? "`" : "");
            if (absent)
                ctl_fail_kind(op, "ImageNotFound", err);
            break;
        }
        /* The list again: another container may run the image just pulled. */
        protobuf_c_message_free_unpacked(&l->base, NULL);
        l = NULL;
        if (kk_ctrd_image_list(sock, n->realm, &l, err) < 0)
            return kk_error_wrap(err, "images of realm \"%s\"", n->realm);
    }
    protobuf_c_message_free_unpacked(&l->base, NULL);
    return rc;
}

/* The strings of a JSON array, borrowed, into a new array of pointers (NULL when empty). */
static char **cell_strv(const json_t *arr, size_t *n)
{
    *n = 0;
    size_t size = json_array_size(arr);
    if (size == 0)
        return NULL;
    char **v = calloc(size, sizeof(*v));
    if (v == NULL)
        return NULL;
    size_t i;
    json_t *s;
    json_array_foreach(arr, i, s)
    {
        if (json_is_string(s))
            v[(*n)++] = (char *)json_string_value(s);
    }
    return v;
}

/* Create the containerd container of spec c (one of the cell's containers) through kuke-ctrd. */
static int cell_container_create(struct ctl_op *op, const struct ctl_names *n, const json_t *doc,
                                 const json_t *c, struct kk_err *err)
{
    int sock = ctl_helper(op, KK_CTL_CTRD, "creating a container", err);
    if (sock < 0)
        return -1;
    const char *id = kk_json_str(c, "id");
    bool host_net = cell_host_network(doc);
    char hash[17];
    cell_spec_hash(c, hash);
    kk_ctrd_ref ref = cell_ref(n, id);
    Kukeon__Ipc__Ctrd__ContainerCreate req = KUKEON__IPC__CTRD__CONTAINER_CREATE__INIT;
    Kukeon__Ipc__Ctrd__Resources res = KUKEON__IPC__CTRD__RESOURCES__INIT;
    req.ref = &ref;
    req.image = (char *)kk_json_str(c, "image");
    req.root = strcmp(id, kk_cell_root_id(doc)) == 0;
    req.command = (char *)kk_json_str(c, "command");
    req.args = cell_strv(json_object_get(c, "args"), &req.n_args);
    req.env = cell_strv(json_object_get(c, "env"), &req.n_env);
    req.user = (char *)kk_json_str(c, "user");
    req.working_dir = (char *)kk_json_str(c, "workingDir");
    req.read_only_rootfs = kk_json_bool(c, "readOnlyRootFilesystem");
    json_t *caps = json_object_get(c, "capabilities");
    req.cap_drop = cell_strv(json_object_get(caps, "drop"), &req.n_cap_drop);
    req.cap_add = cell_strv(json_object_get(caps, "add"), &req.n_cap_add);
    req.cell_netns = !host_net;
    req.etc_hosts = !host_net;
    req.etc_hostname = true;
    req.attachable = kk_json_bool(c, "attachable");
    req.spec_hash = hash;
    req.privileged = kk_json_bool(c, "privileged");
    /* A host-network cell's containers all join its root's network namespace, the host's
     * (kukeon-reference.md 1.4): not a namespace of their own, which would hold only loopback. */
    req.host_network = host_net || kk_json_bool(c, "hostNetwork");
    req.host_pid = kk_json_bool(c, "hostPID");
    json_t *r = json_object_get(c, "resources");
    if (json_is_object(r)) {
        json_int_t mem = json_integer_value(json_object_get(r, "memoryLimitBytes"));
        json_int_t cpu = json_integer_value(json_object_get(r, "cpuShares"));
        res.memory_limit_bytes = mem > 0 ? (uint64_t)mem : 0;
        res.cpu_shares = cpu > 0 ? (uint64_t)cpu : 0;
        res.pids_limit = json_integer_value(json_object_get(r, "pidsLimit"));
        req.resources = &res;
    }
    /* Mounts: bind and tmpfs volumes, and the tmpfs list. Named volumes are a later capability. */
    json_t *vols = json_object_get(c, "volumes"), *tmpfs = json_object_get(c, "tmpfs");
    size_t nmax = json_array_size(vols) + json_array_size(tmpfs);
    Kukeon__Ipc__Ctrd__Mount *mounts = nmax > 0 ? calloc(nmax, sizeof(*mounts)) : NULL;
    Kukeon__Ipc__Ctrd__Mount **mptr = nmax > 0 ? calloc(nmax, sizeof(*mptr)) : NULL;
    json_t *devs = json_object_get(c, "devices");
    size_t ndev = json_array_size(devs);
    Kukeon__Ipc__Ctrd__Device *devices = ndev > 0 ? calloc(ndev, sizeof(*devices)) : NULL;
    Kukeon__Ipc__Ctrd__Device **dptr = ndev > 0 ? calloc(ndev, sizeof(*dptr)) : NULL;
    char(*devpath)[256] = ndev > 0 ? calloc(ndev, sizeof(*devpath)) : NULL;
    int rc = 0;
    if ((nmax > 0 && (mounts == NULL || mptr == NULL)) ||
        (ndev > 0 && (devices == NULL || dptr == NULL || devpath == NULL)))
        rc = kk_error(err, KK_ERR_INTERNAL, ENOMEM, "creating container %s", id);
    size_t i;
    json_t *v;
    json_array_foreach(rc == 0 ? vols : NULL, i, v)
    {
        const char *kind = kk_json_str(v, "kind");
        if (kind[0] != '\0' && strcmp(kind, "bind") != 0 && strcmp(kind, "tmpfs") != 0) {
            rc = kk_error(
                err, KK_ERR_INVALID, 0,
                "container \"%s\": volumes of kind \"%s\" are not supported yet: use a bind or tmpfs "
                "mount",
                id, kind);
            break;
        }
        Kukeon__Ipc__Ctrd__Mount *m = &mounts[req.n_mounts];
        kukeon__ipc__ctrd__mount__init(m);
        m->kind = (char *)(kind[0] != '\0' ? kind : "bind");
        m->source = (char *)kk_json_str(v, "source");
        m->target = (char *)kk_json_str(v, "target");
        m->read_only = kk_json_bool(v, "readOnly");
        json_int_t size = json_integer_value(json_object_get(v, "sizeBytes"));
        m->size_bytes = size > 0 ? (uint64_t)size : 0;
        json_int_t mode = json_integer_value(json_object_get(v, "mode"));
        m->mode = mode > 0 && mode <= 07777 ? (uint32_t)mode : 0;
        mptr[req.n_mounts++] = m;
    }
    json_array_foreach(rc == 0 ? tmpfs : NULL, i, v)
    {
        Kukeon__Ipc__Ctrd__Mount *m = &mounts[req.n_mounts];
        kukeon__ipc__ctrd__mount__init(m);
        m->kind = (char *)"tmpfs";
        m->target = (char *)kk_json_str(v, "path");
        json_int_t size = json_integer_value(json_object_get(v, "sizeBytes"));
        m->size_bytes = size > 0 ? (uint64_t)size : 0;
        mptr[req.n_mounts++] = m;
    }
    req.mounts = mptr;
    /* devices: "/dev/x" or "/dev/x:rwm" (host path, then the permissions). */
    json_array_foreach(rc == 0 ? devs : NULL, i, v)
    {
        const char *s = json_string_value(v);
        if (s == NULL)
            continue;
        Kukeon__Ipc__Ctrd__Device *dv = &devices[req.n_devices];
        kukeon__ipc__ctrd__device__init(dv);
        snprintf(devpath[req.n_devices], sizeof(devpath[0]), "%s", s);
        char *colon = strchr(devpath[req.n_devices], ':');
        dv->permissions = (char *)"rwm";
        if (colon != NULL) {
            *colon = '\0';
            char *last = strrchr(colon + 1, ':');
            const char *perm = last != NULL ? last + 1 : colon + 1;
            if (perm[0] != '\0' && strspn(perm, "rwm") == strlen(perm))
                dv->permissions = (char *)perm;
        }
        dv->path = devpath[req.n_devices];
        dptr[req.n_devices++] = dv;
    }
    req.devices = dptr;
    Kukeon__Ipc__Ctrd__ContainerCreateReply *reply = NULL;
    if (rc == 0 && kk_ctrd_container_create(sock, &req, &reply, err) < 0) {
        rc = kk_error_wrap(err, "container \"%s\" of cell \"%s\"", id, n->cell);
    }
    if (reply != NULL)
        protobuf_c_message_free_unpacked(&reply->base, NULL);
    free(req.args);
    free(req.env);
    free(req.cap_drop);
    free(req.cap_add);
    free(mounts);
    free(mptr);
    free(devices);
    free(dptr);
    free(devpath);
    return rc;
}

static int cell_container_delete(struct ctl_op *op, const struct ctl_names *n, const char *id, bool *existed,
                                 struct kk_err *err)
{
    int sock = ctl_helper(op, KK_CTL_CTRD, "deleting a container", err);
    if (sock < 0)
        return -1;
    kk_ctrd_ref ref = cell_ref(n, id);
    Kukeon__Ipc__Ctrd__ContainerDeleteReply *r = NULL;
    if (kk_ctrd_container_delete(sock, &ref, &r, err) < 0)
        return kk_error_wrap(err, "deleting container \"%s\" of cell \"%s\"", id, n->cell);
    if (existed != NULL)
        *existed = r->existed;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return 0;
}

static int cell_task_start(struct ctl_op *op, const struct ctl_names *n, const char *id, struct kk_err *err)
{
    int sock = ctl_helper(op, KK_CTL_CTRD, "starting a container", err);
    if (sock < 0)
        return -1;
    kk_ctrd_ref ref = cell_ref(n, id);
    uint32_t pid = 0;
    if (kk_ctrd_task_start(sock, &ref, &pid, err) < 0)
        return kk_error_wrap(err, "starting container \"%s\" of cell \"%s\"", id, n->cell);
    kk_debug("cell %s/%s/%s/%s: container %s started, pid %u", n->realm, n->space, n->stack, n->cell, id,
             pid);
    return 0;
}

/* Stop (SIGTERM, then SIGKILL after CELL_STOP_TIMEOUT_MS) or kill (SIGKILL) the task of one container. */
static int cell_task_stop(struct ctl_op *op, const struct ctl_names *n, const char *id, bool kill,
                          struct kk_err *err)
{
    int sock = ctl_helper(op, KK_CTL_CTRD, "stopping a container", err);
    if (sock < 0)
        return -1;
    kk_ctrd_ref ref = cell_ref(n, id);
    Kukeon__Ipc__Ctrd__TaskExit *x = NULL;
    int rc;
    if (kill) {
        rc = kk_ctrd_task_kill(sock, &ref, SIGKILL, true, err);
        if (rc == 0)
            rc = kk_ctrd_task_wait(sock, &ref, CELL_KILL_WAIT_MS, &x, err);
    } else {
        rc = kk_ctrd_task_stop(sock, &ref, CELL_STOP_TIMEOUT_MS, &x, err);
    }
    if (x != NULL)
        protobuf_c_message_free_unpacked(&x->base, NULL);
    /* A task that exited meanwhile is stopped already. */
    if (rc < 0 && err->kind == KK_ERR_NOT_FOUND) {
        kk_err_clear(err);
        rc = 0;
    }
    if (rc < 0)
        return kk_error_wrap(err, "%s container \"%s\" of cell \"%s\"", kill ? "killing" : "stopping", id,
                             n->cell);
    return 0;
}

/* ---- status -------------------------------------------------------------------------------------- */

/* The previous status entry of container id in doc, or NULL. */
static json_t *cell_prev_status(const json_t *doc, const char *id)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(kk_doc_status(doc), "containers"), i, e)
    {
        if (strcmp(kk_json_str(e, "name"), id) == 0)
            return e;
    }
    return NULL;
}

/* One status.containers[] entry (kukeon-reference.md 3.6, 4.1) from what kuke-ctrd reports (st NULL:
 * no record; listed false: containerd could not be asked). started: this request started it now. */
static json_t *cell_container_status(const json_t *doc, const json_t *c,
                                     const Kukeon__Ipc__Ctrd__ContainerStatus *st, bool listed, bool started)
{
    const char *id = kk_json_str(c, "id");
    const json_t *prev = cell_prev_status(doc, id);
    const char *state;
    int exit_code = 0;
    char signame[32] = "";
    if (!listed)
        state = "Unknown";
    else if (st == NULL)
        state = "NotCreated";
    else if (strcmp(st->state, "no-task") == 0)
        state = "Stopped";
    else if (strcmp(st->state, "running") == 0)
        state = "Ready";
    else if (strcmp(st->state, "created") == 0)
        state = "Pending";
    else if (strcmp(st->state, "paused") == 0)
        state = "Paused";
    else if (strcmp(st->state, "pausing") == 0)
        state = "Pausing";
    else if (strcmp(st->state, "stopped") == 0) {
        exit_code = (int)st->exit_status;
        state = exit_code == 0 ? "Exited" : "Error";
        if (exit_code > 128 && exit_code <= 192) {
            const char *abbrev = sigabbrev_np(exit_code - 128);
            if (abbrev != NULL)
                snprintf(signame, sizeof(signame), "SIG%s", abbrev);
        }
    } else
        state = "Unknown";
    char created[40], start[40], finish[40];
    cell_ms_time(st != NULL ? st->created_at_ms : 0, created);
    if (started)
        cell_now(start);
    else
        snprintf(start, sizeof(start), "%s",
                 kk_json_str(prev, "startTime")[0] != '\0' ? kk_json_str(prev, "startTime") : CELL_ZERO_TIME);
    cell_ms_time(st != NULL && strcmp(st->state, "stopped") == 0 ? st->exited_at_ms : 0, finish);
    json_t *restart_count = json_object_get(prev, "restartCount");
    const char *restart_time = kk_json_str(prev, "restartTime");
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:i, s:s}", "name", id, "id",
                     kk_json_str(c, "containerdId"), "state", state, "createdAt", created, "restartCount",
                     (json_int_t)(json_is_integer(restart_count) ? json_integer_value(restart_count) : 0),
                     "restartTime", restart_time[0] != '\0' ? restart_time : CELL_ZERO_TIME, "startTime",
                     start, "finishTime", finish, "exitCode", exit_code, "exitSignal", signame);
}

static bool state_active(const char *s)
{
    return strcmp(s, "Ready") == 0 || strcmp(s, "Pending") == 0 || strcmp(s, "Paused") == 0 ||
           strcmp(s, "Pausing") == 0;
}

/* status.state from the containers' statuses (kukeon-reference.md 4.2); *failing names the first
 * container that exited non-zero, for the message of a new Error. */
static const char *cell_derive_state(const json_t *doc, const json_t *containers, const char **failing)
{
    const char *root_id = kk_cell_root_id(doc);
    size_t i, nonroot = 0;
    json_t *e;
    bool any_active = false, any_unknown = false, any_missing = false, any_error = false;
    const json_t *root = NULL;
    *failing = "";
    json_array_foreach(containers, i, e)
    {
        const char *s = kk_json_str(e, "state");
        if (strcmp(kk_json_str(e, "name"), root_id) == 0) {
            root = e;
            continue;
        }
        nonroot++;
        if (strcmp(s, "NotCreated") == 0)
            any_missing = true;
        else if (state_active(s))
            any_active = true;
        else if (strcmp(s, "Unknown") == 0)
            any_unknown = true;
        else if (strcmp(s, "Error") == 0 || strcmp(s, "Failed") == 0) {
            if (!any_error)
                *failing = kk_json_str(e, "name");
            any_error = true;
        }
    }
    if (nonroot == 0) {
        const char *s = root != NULL ? kk_json_str(root, "state") : "Unknown";
        if (state_active(s))
            return "Ready";
        if (strcmp(s, "Unknown") == 0)
            return "Unknown";
        if (json_integer_value(json_object_get(root, "exitCode")) != 0) {
            *failing = kk_json_str(root, "name");
            return "Error";
        }
        return "Exited";
    }
    if (any_missing)
        return "Unknown";
    if (any_active)
        return any_error ? "Degraded" : "Ready";
    if (any_unknown)
        return "Unknown";
    return any_error ? "Error" : "Exited";
}

/* A status for doc: the previous one with containers observed. started_ids: the containers this
 * request started ("" separated by '\n', may be NULL). */
static int cell_observe(struct ctl_op *op, const struct ctl_names *n, const json_t *doc,
                        const char *started_ids, json_t **status, bool *cgroup_ok, struct kk_err *err)
{
    (void)err;
    *status = NULL;
    struct kk_err e = {0};
    Kukeon__Ipc__Ctrd__ContainerListReply *l = NULL;
    bool listed = cell_list(op, n, &l, &e) == 0;
    if (!listed)
        kk_info("observing cell %s: %s", n->cell, e.msg);
    bool cg_ok = true;
    int sock = ctl_helper(op, KK_CTL_CGD, "probing the cell's cgroup", &e);
    struct kk_cgd_stat cst;
    struct kk_derive_names dn = ctl_dnames(n);
    if (sock < 0 || kk_cgd_stat(sock, &dn, &cst, &e) < 0)
        cg_ok = false;
    if (cgroup_ok != NULL)
        *cgroup_ok = cg_ok && cst.exists;
    json_t *st = ctl_status_copy(doc), *arr = json_array();
    if (st == NULL || arr == NULL) {
        json_decref(st);
        json_decref(arr);
        if (l != NULL)
            protobuf_c_message_free_unpacked(&l->base, NULL);
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "observing cell %s", n->cell);
    }
    size_t i;
    json_t *c;
    bool any_task = false;
    json_array_foreach(kk_cell_containers(doc), i, c)
    {
        const char *id = kk_json_str(c, "id");
        const Kukeon__Ipc__Ctrd__ContainerStatus *cs = cell_find(l, id);
        bool started = false;
        if (started_ids != NULL) {
            size_t idl = strlen(id);
            for (const char *p = started_ids; *p != '\0';) {
                size_t len = strcspn(p, "\n");
                if (len == idl && strncmp(p, id, len) == 0)
                    started = true;
                p += len + (p[len] == '\n');
            }
        }
        any_task = any_task || (cs != NULL && strcmp(cs->state, "no-task") != 0);
        json_array_append_new(arr, cell_container_status(doc, c, cs, listed, started));
    }
    if (l != NULL)
        protobuf_c_message_free_unpacked(&l->base, NULL);
    json_object_set_new(st, "containers", arr);

    const char *prev = kk_doc_state(doc), *failing = "";
    const char *state = cg_ok ? cell_derive_state(doc, arr, &failing) : "Unknown";
    if (strcmp(prev, "Stopped") == 0 || strcmp(prev, "Failed") == 0 || strcmp(prev, "Error") == 0 ||
        strcmp(prev, "Creating") == 0 || strcmp(prev, "Deleting") == 0 ||
        (strcmp(prev, "Pending") == 0 && !any_task))
        state = prev;
    else if (strcmp(state, "Error") == 0 && strcmp(prev, "Error") != 0) {
        char msg[KK_NAME_SIZE + 64];
        snprintf(msg, sizeof(msg), "container \"%s\" exited with an error", failing);
        json_object_set_new(st, "reason", json_string("WorkloadFailed"));
        json_object_set_new(st, "message", json_string(msg));
    }
    if (strcmp(state, "Ready") == 0 || strcmp(state, "Degraded") == 0) {
        json_object_set_new(st, "readyObserved", json_true());
        if (strcmp(prev, "Ready") != 0 && strcmp(prev, "Degraded") != 0) {
            json_object_del(st, "reason");
            json_object_del(st, "message");
        }
    }
    json_object_set_new(st, "state", json_string(state));
    *status = st;
    return 0;
}

int ctl_cell_observe(struct ctl_op *op, const struct ctl_names *n, const json_t *doc, json_t **status,
                     struct kk_err *err)
{
    return cell_observe(op, n, doc, NULL, status, NULL, err);
}

/* Write a status with state (and reason/message when reason is not NULL), containers observed. */
static int cell_set_state(struct ctl_op *op, const struct ctl_names *n, const json_t *doc, const char *state,
                          const char *reason, const char *message, const char *started_ids, json_t **doc_out,
                          struct kk_err *err)
{
    json_t *st = NULL;
    if (cell_observe(op, n, doc, started_ids, &st, NULL, err) < 0)
        return -1;
    json_object_set_new(st, "state", json_string(state));
    if (reason != NULL) {
        json_object_set_new(st, "reason", json_string(reason));
        json_object_set_new(st, "message", json_string(message != NULL ? message : ""));
    } else {
        json_object_del(st, "reason");
        json_object_del(st, "message");
    }
    if (strcmp(state, "Ready") == 0)
        json_object_set_new(st, "readyObserved", json_true());
    int rc = ctl_status_write(op, n, st, 0, doc_out, err);
    json_decref(st);
    return rc;
}

/* ---- bring-up ------------------------------------------------------------------------------------ */

/* What one create or start found and did, for the Result of CreateCell. */
struct cell_made {
    bool cgroup_pre, cgroup_created;
    char cgroup_path[KK_DERIVE_PATH_SIZE];
    char subtree[KK_CGD_CONTROLLERS_SIZE];
    bool root_pre, root_created, started_pre, started;
    json_t *containers; /* [{Name, ExistsPre, ExistsPost, Created}] */
    char started_ids[4096];
};

static void made_started(struct cell_made *m, const char *id)
{
    size_t used = strlen(m->started_ids);
    snprintf(m->started_ids + used, sizeof(m->started_ids) - used, "%s\n", id);
    m->started = true;
}

/* kuke-netd's CELL_ATTACH on a thread of its own, while kuke-ctrd works on the containers (helper
 * sockets serialise their calls, so the two helpers work at the same time). */
struct cell_net_attach {
    const struct ctl_names *n;
    int sock, rc;
    bool pending, threaded;
    pthread_t thread;
    struct kk_netd_cell nc;
    struct kk_err err;
};

static void *cell_net_attach_main(void *arg)
{
    struct cell_net_attach *na = arg;
    const struct ctl_names *n = na->n;
    na->rc = kk_netd_cell_attach(na->sock, n->realm, n->space, n->stack, n->cell, &na->nc, &na->err);
    return NULL;
}

static void cell_net_attach_begin(struct cell_net_attach *na)
{
    na->pending = true;
    na->threaded = pthread_create(&na->thread, NULL, cell_net_attach_main, na) == 0;
    if (!na->threaded)
        cell_net_attach_main(na);
}

/* Wait for the attach, if one is under way; its result (-1 with *err). */
static int cell_net_attach_end(struct cell_net_attach *na, const char *what, struct kk_err *err)
{
    if (!na->pending)
        return 0;
    if (na->threaded)
        pthread_join(na->thread, NULL);
    na->pending = na->threaded = false;
    if (na->rc == 0)
        return 0;
    *err = na->err;
    return kk_error_wrap(err, "network of %s", what);
}

/* Bring the stored cell doc to its desired artifacts: cgroup, (when start) network and tasks, files,
 * containers. drift_recreate: a container made from another spec is recreated (create, apply);
 * otherwise it refuses (start). */
static int cell_converge(struct ctl_op *op, const struct ctl_names *n, const json_t *doc, bool start,
                         bool drift_recreate, struct cell_made *made, struct kk_err *err)
{
    struct kk_derived d;
    if (cell_derive(op, n, &d, err) < 0)
        return -1;
    char what[6 * KK_NAME_SIZE];
    ctl_describe(n, what, sizeof(what));

    /* cgroup: local and cheap, first (ctl_create.c does the same for the layers above). */
    int sock = ctl_helper(op, KK_CTL_CGD, "creating the cell's cgroup", err);
    if (sock < 0)
        return -1;
    struct kk_derive_names dn = ctl_dnames(n);
    struct kk_cgd_created cg;
    if (kk_cgd_create(sock, &dn, kk_json_bool(kk_doc_spec(doc), "nestedCgroupRuntime"), &cg, err) < 0)
        return kk_error_wrap(err, "cgroup of %s", what);
    made->cgroup_created = cg.created;
    made->cgroup_pre = !cg.created;
    snprintf(made->cgroup_path, sizeof(made->cgroup_path), "%s", cg.cgroup_path);
    snprintf(made->subtree, sizeof(made->subtree), "%s", cg.subtree_controllers);

    /* The network is attached while the cell runs: kuke-netd makes and pins the netns the root joins.
     * It works while kuke-ctrd checks the images and creates the root's container, which names the
     * namespace's path but enters it only when its task starts, after the attach has ended. */
    struct cell_net_attach na = {.n = n, .sock = -1};
    if (start && !cell_host_network(doc)) {
        if ((na.sock = ctl_helper(op, KK_CTL_NETD, "attaching the cell to its space's network", err)) < 0)
            return -1;
        cell_net_attach_begin(&na);
    }

    Kukeon__Ipc__Ctrd__ContainerListReply *l = NULL;
    int rc = 0;
    if ((rc = cell_images_present(op, n, doc, err)) < 0 || (rc = cell_list(op, n, &l, err)) < 0)
        goto out;
    const json_t *root = cell_root(doc);
    const char *root_id = kk_cell_root_id(doc);
    if (root == NULL) {
        rc = kk_error(err, KK_ERR_INVALID, 0, "%s has no root container: create it again", what);
        goto out;
    }
    /* Pass 1: drift. Every container made from another spec is recreated, or the start refused. */
    bool root_new = false, dropped = false;
    size_t i;
    json_t *c;
    json_array_foreach(kk_cell_containers(doc), i, c)
    {
        const char *id = kk_json_str(c, "id");
        const Kukeon__Ipc__Ctrd__ContainerStatus *st = cell_find(l, id);
        char hash[17];
        cell_spec_hash(c, hash);
        if (st == NULL || strcmp(st->spec_hash, hash) == 0)
            continue;
        if (!drift_recreate) {
            rc = ctl_fail(
                op, "CellSpecHashDrift", err, KK_ERR_INVALID,
                "%s: container \"%s\" was created from another spec than the document's (spec hash %s, "
                "the document's %s): apply the document with `kuke apply -f` to recreate it",
                what, id, st->spec_hash, hash);
            goto out;
        }
        kk_info("%s: container %s changed (spec hash %s -> %s): recreating it", what, id, st->spec_hash,
                hash);
        if ((rc = cell_container_delete(op, n, id, NULL, err)) < 0)
            goto out;
        dropped = true;
        root_new = root_new || strcmp(id, root_id) == 0;
    }
    /* What pass 1 removed is listed again; otherwise the first list still holds. */
    if (dropped) {
        protobuf_c_message_free_unpacked(&l->base, NULL);
        l = NULL;
        if ((rc = cell_list(op, n, &l, err)) < 0)
            goto out;
    }

    /* Pass 2: the root. */
    const Kukeon__Ipc__Ctrd__ContainerStatus *rst = cell_find(l, root_id);
    made->root_pre = rst != NULL;
    made->started_pre = rst != NULL && strcmp(rst->state, "running") == 0;
    if ((rc = cell_container_prepare(op, n, &d, root, err)) < 0)
        goto out;
    if (rst == NULL) {
        const char *image = kk_json_str(root, "image");
        if (kk_str_has_prefix(image, KK_PAUSE_IMAGE_REPO ":") &&
            (rc = cell_pause_image(op, n->realm, image, err)) < 0)
            goto out;
        if ((rc = cell_container_create(op, n, doc, root, err)) < 0)
            goto out;
        made->root_created = true;
        root_new = true;
    }
    /* A root that starts now takes the other containers with it: pass 3 makes each afresh, to join
     * the namespaces of the root as it runs then. Their old records go here, while kuke-netd may
     * still be attaching. */
    bool root_starts = start && (rst == NULL || strcmp(rst->state, "running") != 0), others_dropped = false;
    if (root_starts) {
        json_array_foreach(kk_cell_containers(doc), i, c)
        {
            const char *id = kk_json_str(c, "id");
            if (strcmp(id, root_id) != 0 && cell_find(l, id) != NULL &&
                (rc = cell_container_delete(op, n, id, NULL, err)) < 0)
                goto out;
        }
        others_dropped = true;
    }
    /* The attach has ended (its address goes into etc-hosts) before any task starts. */
    if ((rc = cell_net_attach_end(&na, what, err)) < 0)
        goto out;
    char ip[KK_NETD_TEXT_SIZE] = "";
    if (na.sock >= 0) {
        snprintf(ip, sizeof(ip), "%s", na.nc.address);
        ip[strcspn(ip, "/")] = '\0';
    }
    if ((rc = cell_etc_files(&d, ip, err)) < 0)
        goto out;
    bool root_started = false;
    if (root_starts) {
        if ((rc = cell_task_start(op, n, root_id, err)) < 0)
            goto out;
        made_started(made, root_id);
        root_started = true;
    }

    /* Pass 3: the other containers. One that does not run is made afresh before it starts: its spec
     * joins the ipc and uts namespaces of the root task as it runs now (kuke-ctrd reads its pid at
     * create). */
    json_array_foreach(kk_cell_containers(doc), i, c)
    {
        const char *id = kk_json_str(c, "id");
        if (strcmp(id, root_id) == 0)
            continue;
        const Kukeon__Ipc__Ctrd__ContainerStatus *st = cell_find(l, id);
        bool pre = st != NULL, created = false;
        if ((rc = cell_container_prepare(op, n, &d, c, err)) < 0)
            goto out;
        if (start) {
            bool keep = st != NULL && strcmp(st->state, "running") == 0 && !root_started && !root_new;
            if (!keep) {
                if (st != NULL && !others_dropped && (rc = cell_container_delete(op, n, id, NULL, err)) < 0)
                    goto out;
                if ((rc = cell_container_create(op, n, doc, c, err)) < 0)
                    goto out;
                created = st == NULL;
                if ((rc = cell_task_start(op, n, id, err)) < 0)
                    goto out;
                made_started(made, id);
            }
        } else if (st == NULL || root_new) {
            /* Made against a root that is gone: made again, to join the next root's namespaces. */
            if (st != NULL && (rc = cell_container_delete(op, n, id, NULL, err)) < 0)
                goto out;
            if ((rc = cell_container_create(op, n, doc, c, err)) < 0)
                goto out;
            created = st == NULL;
        }
        json_array_append_new(made->containers, json_pack("{s:s, s:b, s:b, s:b}", "Name", id, "ExistsPre",
                                                          pre, "ExistsPost", 1, "Created", created));
    }
out:
    if (na.pending) {
        /* Left early: the attach is waited for all the same (it uses na), its outcome kept for the
         * next create or start, which finds the attachment recorded. */
        struct kk_err ignored;
        cell_net_attach_end(&na, what, &ignored);
    }
    if (l != NULL)
        protobuf_c_message_free_unpacked(&l->base, NULL);
    return rc;
}

/* The status fields a bring-up knows: cgroup, network, state. */
static int cell_ready_status(struct ctl_op *op, const struct ctl_names *n, const json_t *doc,
                             const struct cell_made *made, const char *state, json_t **doc_out,
                             struct kk_err *err)
{
    json_t *st = NULL;
    if (cell_observe(op, n, doc, made->started_ids, &st, NULL, err) < 0)
        return -1;
    struct kk_derived d;
    if (cell_derive(op, n, &d, err) < 0) {
        json_decref(st);
        return -1;
    }
    json_object_set_new(st, "state", json_string(state));
    json_object_del(st, "reason");
    json_object_del(st, "message");
    json_object_set_new(st, "cgroupPath", json_string(made->cgroup_path));
    json_object_set_new(st, "subtreeControllers", ctl_word_list(made->subtree));
    if (!cell_host_network(doc))
        json_object_set_new(st, "network", json_pack("{s:s}", "bridgeName", d.bridge_name));
    if (strcmp(state, "Ready") == 0)
        json_object_set_new(st, "readyObserved", json_true());
    int rc = ctl_status_write(op, n, st, 0, doc_out, err);
    json_decref(st);
    return rc;
}

/* Record a failed bring-up on the document: state Failed with reason and message. */
static void cell_record_failure(struct ctl_op *op, const struct ctl_names *n, const char *reason,
                                const struct kk_err *cause)
{
    json_t *doc = NULL;
    struct kk_err e = {0};
    if (ctl_doc_get(op, n, &doc, NULL, &e) != 1)
        return;
    json_t *st = ctl_status_copy(doc);
    if (st != NULL) {
        json_object_set_new(st, "state", json_string("Failed"));
        json_object_set_new(st, "reason", json_string(reason));
        json_object_set_new(st, "message", json_string(cause->msg));
        if (ctl_status_write(op, n, st, 0, NULL, &e) < 0)
            kk_warn("recording the failure of cell %s: %s", n->cell, e.msg);
    }
    json_decref(st);
    json_decref(doc);
}

/* ---- create -------------------------------------------------------------------------------------- */

/* The document a create stores: the request's, with the names as validated, the kind and apiVersion,
 * validated, completed (containerd ids, labels) and with its pause root when it has no root. */
static json_t *cell_new_doc(struct ctl_op *op, const json_t *in, const struct ctl_names *n,
                            struct kk_err *err)
{
    json_t *doc = json_deep_copy(in);
    if (doc == NULL) {
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "building a cell document");
        return NULL;
    }
    json_t *md = json_object_get(doc, "metadata"), *spec = json_object_get(doc, "spec");
    if (!json_is_object(md))
        json_object_set_new(doc, "metadata", md = json_object());
    if (!json_is_object(spec))
        json_object_set_new(doc, "spec", spec = json_object());
    json_object_del(doc, "status");
    json_object_del(md, "generation");
    json_object_set_new(doc, "apiVersion", json_string(KK_API_VERSION));
    json_object_set_new(doc, "kind", json_string("Cell"));
    json_object_set_new(md, "name", json_string(n->cell));
    json_object_set_new(spec, "realmId", json_string(n->realm));
    json_object_set_new(spec, "spaceId", json_string(n->space));
    json_object_set_new(spec, "stackId", json_string(n->stack));
    if (kk_json_str(spec, "id")[0] == '\0')
        json_object_set_new(spec, "id", json_string(n->cell));
    struct kk_pause_root pause = {KK_PAUSE_IMAGE, KK_PAUSE_COMMAND, NULL};
    if (kk_doc_validate(doc, err) < 0 || kk_cell_add_pause_root(doc, &pause, err) < 0 ||
        kk_doc_complete(doc, &op->ctl->dcfg, err) < 0) {
        json_decref(doc);
        ctl_fail_kind(op, "CreateCell", err);
        return NULL;
    }
    return doc;
}

json_t *ctl_cell_create(struct ctl_op *op, const json_t *in, bool start, struct kk_err *err)
{
    struct ctl_names n;
    if (ctl_cell_names_from_doc(op, in, &n, err) < 0)
        return NULL;
    json_t *want = cell_new_doc(op, in, &n, err);
    if (want == NULL)
        return NULL;
    json_t *doc = NULL, *res = NULL;
    struct kk_store_token tok = KK_STORE_TOKEN_INIT;
    struct cell_made made = {0};
    made.containers = json_array();
    if (ctl_check_parents(op, &n, err) < 0)
        goto out;
    int exists = ctl_doc_get(op, &n, &doc, &tok, err);
    if (exists < 0)
        goto out;
    bool pre = exists == 1;
    if (!pre) {
        /* The intent: the document with state Creating, before anything exists. */
        json_t *st = json_pack("{s:s}", "state", "Creating");
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        kk_doc_set_status(want, st);
        json_decref(st);
        kk_doc_stamp_lifecycle(want, &now);
        if (kk_store_put(&op->ctl->store, want, &tok, err) < 0)
            goto out;
        doc = json_incref(want);
    } else if (!json_equal(kk_doc_spec(doc), kk_doc_spec(want)) ||
               !json_equal(json_object_get(kk_doc_metadata(doc), "labels"),
                           json_object_get(kk_doc_metadata(want), "labels"))) {
        /* A new spec for an existing cell: stored first (generation + 1), then converged to it. */
        json_t *st = ctl_status_copy(doc);
        kk_doc_set_status(want, st);
        json_decref(st);
        if (kk_store_put(&op->ctl->store, want, &tok, err) < 0)
            goto out;
        json_decref(doc);
        doc = json_incref(want);
    }
    if (cell_converge(op, &n, doc, start, true, &made, err) < 0) {
        cell_record_failure(op, &n, "CreateCellFailed", err);
        /* A kind the step named (ImageNotFound) says more than CreateCell. */
        if (strcmp(op->kind, CTL_KIND_UNKNOWN) == 0)
            ctl_fail_kind(op, "CreateCell", err);
        kk_error_wrap(err, "failed to create cell \"%s\"", n.cell);
        goto out;
    }
    json_t *stored = NULL;
    const char *state =
        start ? "Ready" : (pre && strcmp(kk_doc_state(doc), "Ready") == 0 ? "Ready" : "Pending");
    if (cell_ready_status(op, &n, doc, &made, state, &stored, err) < 0)
        goto out;
    res = json_pack("{s:o, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:O}", "Cell", stored,
                    "MetadataExistsPre", pre, "MetadataExistsPost", 1, "CgroupExistsPre", made.cgroup_pre,
                    "CgroupExistsPost", 1, "CgroupCreated", made.cgroup_created, "RootContainerExistsPre",
                    made.root_pre, "RootContainerExistsPost", 1, "RootContainerCreated", made.root_created,
                    "StartedPre", made.started_pre, "StartedPost", start || made.started_pre, "Started",
                    made.started, "Created", !pre, "Containers", made.containers);
    if (res == NULL)
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "building the Result");
    char what[6 * KK_NAME_SIZE];
    ctl_describe(&n, what, sizeof(what));
    kk_info("%s %s", pre ? "converged" : "created", what);
out:
    kk_store_token_clear(&tok);
    json_decref(made.containers);
    json_decref(want);
    json_decref(doc);
    return res;
}

/* ---- start, stop --------------------------------------------------------------------------------- */

static int cell_get_or_not_found(struct ctl_op *op, const struct ctl_names *n, json_t **doc,
                                 struct kk_err *err)
{
    int rc = ctl_doc_get(op, n, doc, NULL, err);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return ctl_not_found(op, n, err);
    return 0;
}

int ctl_cell_start(struct ctl_op *op, const struct ctl_names *n, struct kk_err *err)
{
    json_t *doc = NULL;
    if (cell_get_or_not_found(op, n, &doc, err) < 0)
        return -1;
    struct cell_made made = {0};
    made.containers = json_array();
    int rc = cell_converge(op, n, doc, true, false, &made, err);
    if (rc < 0) {
        if (strcmp(op->kind, "CellSpecHashDrift") != 0)
            cell_record_failure(op, n, "StartCellFailed", err);
        op->kind = CTL_KIND_UNKNOWN;
    } else {
        rc = cell_ready_status(op, n, doc, &made, "Ready", NULL, err);
    }
    json_decref(made.containers);
    json_decref(doc);
    return rc;
}

int ctl_cell_stop(struct ctl_op *op, const struct ctl_names *n, bool kill, struct kk_err *err)
{
    json_t *doc = NULL;
    if (cell_get_or_not_found(op, n, &doc, err) < 0)
        return -1;
    Kukeon__Ipc__Ctrd__ContainerListReply *l = NULL;
    int rc = cell_list(op, n, &l, err);
    const char *root_id = kk_cell_root_id(doc);
    size_t i;
    json_t *c;
    /* The other containers first, then the root: it holds the ipc and uts namespaces they share. */
    json_array_foreach(rc == 0 ? kk_cell_containers(doc) : NULL, i, c)
    {
        const char *id = kk_json_str(c, "id");
        if (strcmp(id, root_id) != 0 && ctrd_active(cell_find(l, id)) &&
            cell_task_stop(op, n, id, kill, err) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ctrd_active(cell_find(l, root_id)))
        rc = cell_task_stop(op, n, root_id, kill, err);
    if (l != NULL)
        protobuf_c_message_free_unpacked(&l->base, NULL);
    if (rc == 0 && !cell_host_network(doc)) {
        int sock = ctl_helper(op, KK_CTL_NETD, "detaching the cell from its network", err);
        if (sock < 0 || kk_netd_cell_delete(sock, n->realm, n->space, n->stack, n->cell, NULL, err) < 0)
            rc = kk_error_wrap(err, "network of cell \"%s\"", n->cell);
    }
    if (rc == 0)
        rc = cell_set_state(op, n, doc, "Stopped", NULL, NULL, NULL, NULL, err);
    json_decref(doc);
    return rc;
}

int ctl_cell_container_start(struct ctl_op *op, const struct ctl_names *n, const char *container_id,
                             struct kk_err *err)
{
    json_t *doc = NULL;
    if (cell_get_or_not_found(op, n, &doc, err) < 0)
        return -1;
    const json_t *c = kk_cell_container(doc, container_id);
    int rc = 0;
    if (c == NULL)
        rc = ctl_fail(op, "ContainerNotFound", err, KK_ERR_NOT_FOUND,
                      "container \"%s\" not found in cell \"%s\"", container_id, n->cell);
    else if (strcmp(container_id, kk_cell_root_id(doc)) == 0)
        rc = ctl_fail(op, CTL_KIND_UNKNOWN, err, KK_ERR_INVALID,
                      "container \"%s\" is the root of cell \"%s\": start the cell instead", container_id,
                      n->cell);
    struct kk_derived d;
    /* Made afresh, so that its spec joins the namespaces of the root task as it runs now. */
    if (rc == 0 && (rc = cell_derive(op, n, &d, err)) == 0 &&
        (rc = cell_container_prepare(op, n, &d, c, err)) == 0 &&
        (rc = cell_container_delete(op, n, container_id, NULL, err)) == 0 &&
        (rc = cell_container_create(op, n, doc, c, err)) == 0)
        rc = cell_task_start(op, n, container_id, err);
    json_decref(doc);
    return rc;
}

/* ---- delete -------------------------------------------------------------------------------------- */

/* Remove the cell's cgroup once its tasks are gone; processes left in it (a task containerd lost)
 * are killed through kuke-cgd as the last resort. */
static int cell_remove_cgroup(struct ctl_op *op, const struct ctl_names *n, bool host_process, bool *existed,
                              struct kk_err *err)
{
    int sock = ctl_helper(op, KK_CTL_CGD, "removing the cell's cgroup", err);
    if (sock < 0)
        return -1;
    struct kk_derive_names dn = ctl_dnames(n);
    struct kk_cgd_deleted del;
    for (int t = 0;; t++) {
        kk_err_clear(err);
        if (kk_cgd_delete(sock, &dn, &del, err) == 0)
            break;
        /* The daemon group's own cell: its processes are the daemon, never killed from here. */
        if (host_process && err->kind == KK_ERR_DENIED)
            return kk_error(err, KK_ERR_EXISTS, 0,
                            "cell \"%s\" is the kukeond daemon group itself (label %s) and its processes are "
                            "still in its cgroup; stop the daemon first (kuke daemon stop), then delete it "
                            "in-process",
                            n->cell, "kukeon.io/host-process");
        if (t + 1 >= CELL_CGROUP_TRIES || err->kind != KK_ERR_DENIED)
            return kk_error_wrap(err, "cgroup of cell \"%s\"", n->cell);
        if (t == 2) {
            struct kk_err e = {0};
            if (kk_cgd_kill(sock, &dn, 2000, NULL, &e) < 0)
                kk_info("killing what is left in the cgroup of cell %s: %s", n->cell, e.msg);
        }
        ctl_pause_ms(CELL_CGROUP_PAUSE_MS);
    }
    *existed = del.existed;
    return 0;
}

/* kuke-netd's CELL_DELETE on a thread of its own (helper sockets serialise their calls, so it may
 * run beside calls to the other helpers). */
struct cell_net_del {
    const struct ctl_names *n;
    int sock, rc;
    struct kk_err err;
};

static void *cell_net_del_main(void *arg)
{
    struct cell_net_del *nd = arg;
    const struct ctl_names *n = nd->n;
    nd->rc = kk_netd_cell_delete(nd->sock, n->realm, n->space, n->stack, n->cell, NULL, &nd->err);
    return NULL;
}

int ctl_cell_remove(struct ctl_op *op, const struct ctl_names *n, struct ctl_cell_removed *rm,
                    struct kk_err *err)
{
    memset(rm, 0, sizeof(*rm));
    json_t *doc = NULL;
    int exists = ctl_doc_get(op, n, &doc, NULL, err);
    if (exists < 0) {
        if (!op->purge)
            return -1;
        ctl_purge_note(op, "reading the document", err);
        kk_err_clear(err);
        exists = 0;
    }
    rm->existed = exists == 1;
    if (exists == 0 && !op->purge)
        return 0;
    char what[6 * KK_NAME_SIZE];
    ctl_describe(n, what, sizeof(what));
    if (exists == 1) {
        /* The intent: whoever looks sees a delete under way. */
        json_t *st = ctl_status_copy(doc);
        int rc = st == NULL || json_object_set_new(st, "state", json_string("Deleting")) < 0
                     ? kk_error(err, KK_ERR_INTERNAL, ENOMEM, "recording the delete of %s", what)
                     : ctl_status_write(op, n, st, 0, NULL, err);
        json_decref(st);
        if (ctl_step(op, rc, "recording the delete", err) < 0) {
            json_decref(doc);
            return -1;
        }
    }
    /* The network attachment goes while the containers go: another helper, so the CNI DEL (the
     * slowest step of a delete) overlaps kuke-ctrd's work. Nothing orders them: a DEL needs no task
     * stopped first (the cell's namespace lives while the root runs in it), and CRI detaches a pod's
     * network before it stops the sandbox too. */
    struct cell_net_del nd = {.n = n};
    nd.sock = ctl_helper(op, KK_CTL_NETD, "removing the cell's network attachment", &nd.err);
    nd.rc = nd.sock < 0 ? -1 : 0;
    pthread_t net_thread;
    bool threaded = nd.sock >= 0 && pthread_create(&net_thread, NULL, cell_net_del_main, &nd) == 0;
    /* Every container of the cell containerd knows, the document's and any left over: kuke-ctrd kills
     * a live task and removes the task, the record and the snapshot. */
    Kukeon__Ipc__Ctrd__ContainerListReply *l = NULL;
    int rc = ctl_step(op, cell_list(op, n, &l, err), "listing containers", err);
    for (size_t i = 0; rc == 0 && l != NULL && i < l->n_containers; i++) {
        const char *id = l->containers[i]->ref != NULL ? l->containers[i]->ref->container : "";
        if (id[0] == '\0')
            continue;
        bool existed = false;
        rc = ctl_step(op, cell_container_delete(op, n, id, &existed, err), "container", err);
        rm->containers = rm->containers || existed;
    }
    if (l != NULL)
        protobuf_c_message_free_unpacked(&l->base, NULL);
    if (threaded)
        pthread_join(net_thread, NULL);
    else if (nd.sock >= 0)
        cell_net_del_main(&nd);
    if (rc == 0) {
        if (nd.rc < 0) {
            *err = nd.err;
            kk_error_wrap(err, "network of %s", what);
        }
        rc = ctl_step(op, nd.rc, "network", err);
    }
    bool cg = false;
    bool host_process =
        exists == 1 && json_object_get(json_object_get(kk_doc_metadata(doc), "labels"), "kukeon.io/host-process") != NULL;
    if (rc == 0)
        rc = ctl_step(op, cell_remove_cgroup(op, n, host_process, &cg, err), "cgroup", err);
    rm->cgroup = rc == 0;
    if (rc == 0) {
        struct kk_derived d;
        if (cell_derive(op, n, &d, err) == 0) {
            cell_remove_files(&d);
            /* Without a document (a purge) the store does not remove the directory: a lock
             * sidecar left alone, then the directory once empty. */
            if (exists == 0) {
                char lock[KK_DERIVE_PATH_SIZE + 32];
                snprintf(lock, sizeof(lock), "%s/metadata.json.lock", d.metadata_dir);
                unlink(lock);
                if (rmdir(d.metadata_dir) < 0 && errno != ENOENT)
                    kk_info("purge: %s is not empty; left in place", d.metadata_dir);
            }
        } else {
            kk_err_clear(err);
        }
    }
    if (rc == 0 && exists == 1) {
        struct kk_derive_names dn = ctl_dnames(n);
        rc = ctl_step(op, kk_store_delete(&op->ctl->store, &dn, NULL, err), "metadata", err);
        rm->metadata = rc == 0;
    }
    json_decref(doc);
    if (rc < 0)
        return -1;
    kk_info("%s %s", op->purge ? "purged" : "deleted", what);
    return 0;
}

int ctl_cell_delete(struct ctl_op *op, const struct ctl_names *n, bool *existed, struct kk_err *err)
{
    struct ctl_cell_removed rm;
    int rc = ctl_cell_remove(op, n, &rm, err);
    if (existed != NULL)
        *existed = rm.existed;
    return rc;
}

int ctl_cell_delete_child(struct ctl_op *op, const struct ctl_names *n, struct kk_err *err)
{
    return ctl_cell_delete(op, n, NULL, err);
}
