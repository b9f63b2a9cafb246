/* AttachContainer and LogContainer (kukeon-reference.md sections 6 and 7): where a container's
 * terminal relay listens and where its output is, as host paths the client opens itself — the bytes
 * never cross the API. Both only read the cell's document and the filesystem. The relay's directory
 * is made here too, for the cell primitives (ctl_attach_prepare). */
#include "kukeond/ctl_attach.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "common/derive.h"
#include "common/ttyrelay.h"
#include "common/util.h"

/* A container request: the cell's names (depth KK_KIND_CELL) and the container's id. */
struct ctl_ctr {
    struct ctl_names n;
    char id[KK_NAME_SIZE];
};

static int ctl_ctr_name(struct ctl_op *op, const json_t *obj, const char *key, enum kk_name_kind kind,
                        const char *required_kind, char *out, struct kk_err *err)
{
    const char *v = kk_json_str(obj, key);
    while (v != NULL && (*v == ' ' || *v == '\t'))
        v++;
    size_t len = v != NULL ? strlen(v) : 0;
    while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len == 0)
        return ctl_fail(op, required_kind, err, KK_ERR_INVALID, "%s name is required",
                        kk_name_kind_str(kind));
    if (kk_name_check_len(kind, v, len, err) < 0)
        return ctl_fail_kind(op, CTL_KIND_UNKNOWN, err);
    memcpy(out, v, len);
    out[len] = '\0';
    return 0;
}

/* The names of {Doc: ContainerDoc}: metadata.name (else spec.id) and spec.realmId, spaceId, stackId,
 * cellId. */
static int ctl_ctr_from_args(struct ctl_op *op, const json_t *args, struct ctl_ctr *c, struct kk_err *err)
{
    const json_t *doc = json_object_get(args, "Doc");
    if (!json_is_object(doc))
        return ctl_fail(op, "ConversionFailed", err, KK_ERR_INVALID, "the request has no Doc object");
    const json_t *meta = json_object_get(doc, "metadata");
    const json_t *spec = json_object_get(doc, "spec");
    memset(c, 0, sizeof(*c));
    c->n.depth = KK_KIND_CELL;
    const char *name = kk_json_str(meta, "name");
    const json_t *name_from = name != NULL && name[0] != '\0' ? meta : spec;
    const char *name_key = name_from == meta ? "name" : "id";
    if (ctl_ctr_name(op, name_from, name_key, KK_NAME_CONTAINER, "ContainerNameRequired", c->id, err) < 0 ||
        ctl_ctr_name(op, spec, "cellId", KK_NAME_CELL, "CellNameRequired", c->n.cell, err) < 0 ||
        ctl_ctr_name(op, spec, "realmId", KK_NAME_REALM, "RealmNameRequired", c->n.realm, err) < 0 ||
        ctl_ctr_name(op, spec, "spaceId", KK_NAME_SPACE, "SpaceNameRequired", c->n.space, err) < 0 ||
        ctl_ctr_name(op, spec, "stackId", KK_NAME_STACK, "StackNameRequired", c->n.stack, err) < 0)
        return -1;
    return 0;
}

/* The stored container spec of c (borrowed from *cell, which the caller releases), and the derived
 * paths of the container. */
static int ctl_ctr_lookup(struct ctl_op *op, const struct ctl_ctr *c, json_t **cell, const json_t **spec,
                          struct kk_derived *d, struct kk_err *err)
{
    int rc = ctl_doc_get(op, &c->n, cell, NULL, err);
    if (rc < 0)
        return ctl_fail_kind(op, CTL_KIND_UNKNOWN, err);
    if (rc == 0)
        return ctl_fail(op, "CellNotFound", err, KK_ERR_NOT_FOUND,
                        "cell \"%s\" does not exist in stack \"%s\"/\"%s\"/\"%s\"; see kuke get cells",
                        c->n.cell, c->n.realm, c->n.space, c->n.stack);
    *spec = NULL;
    const json_t *cs = json_object_get(json_object_get(*cell, "spec"), "containers");
    size_t i;
    const json_t *ct;
    json_array_foreach(cs, i, ct)
    {
        if (strcmp(kk_json_str(ct, "id"), c->id) == 0)
            *spec = ct;
    }
    if (*spec == NULL) {
        json_decref(*cell);
        *cell = NULL;
        return ctl_fail(op, "ContainerNotFound", err, KK_ERR_NOT_FOUND,
                        "container \"%s\" not found in cell \"%s\"", c->id, c->n.cell);
    }
    struct kk_derive_names dn = {c->n.realm, c->n.space, c->n.stack, c->n.cell, c->id};
    if (kk_derive(&dn, &op->ctl->dcfg, d, err) < 0) {
        json_decref(*cell);
        *cell = NULL;
        return ctl_fail_kind(op, CTL_KIND_UNKNOWN, err);
    }
    return 0;
}

int ctl_attach_prepare(struct ctl_op *op, const struct ctl_names *n, const char *container,
                       struct kk_err *err)
{
    struct kk_derive_names dn = {n->realm, n->space, n->stack, n->cell, container};
    struct kk_derived d;
    char tty[KK_DERIVE_PATH_SIZE + 8];
    if (kk_derive(&dn, &op->ctl->dcfg, &d, err) < 0 ||
        kk_snprintf(tty, sizeof(tty), err, "terminal directory", "%s/tty", d.container_dir) < 0)
        return ctl_fail_kind(op, NULL, err);
    const char *dirs[2] = {d.container_dir, tty};
    for (int i = 0; i < 2; i++) {
        if (mkdir(dirs[i], 02750) < 0 && errno != EEXIST) {
            kk_error(err, KK_ERR_INTERNAL, errno, "making %s for the terminal of container %s", dirs[i],
                     d.ctrd_id);
            return ctl_fail_kind(op, NULL, err);
        }
        struct stat st;
        /* What runc binds as root must be a directory of ours, not a link planted there. */
        if (fstatat(AT_FDCWD, dirs[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
            return ctl_fail(op, NULL, err, KK_ERR_INTERNAL,
                            "%s is not a directory; remove it so the terminal of container %s can be made",
                            dirs[i], d.ctrd_id);
    }
    return 0;
}

/* The container the request names (Doc or the scope arguments), looked up in its cell's document:
 * its names and derived paths, and whether it is attachable. 0, or -1 with err and the wire Kind
 * set. */
static int ctl_ctr_resolve(struct ctl_op *op, const json_t *args, struct ctl_ctr *c, struct kk_derived *d,
                           bool *attachable, struct kk_err *err)
{
    json_t *cell = NULL;
    const json_t *spec = NULL;
    if (ctl_ctr_from_args(op, args, c, err) < 0 || ctl_ctr_lookup(op, c, &cell, &spec, d, err) < 0)
        return -1;
    *attachable = kk_json_bool(spec, "attachable");
    json_decref(cell);
    return 0;
}

static json_t *ctl_attach_container(struct ctl_op *op, const json_t *args, const char **member,
                                    struct kk_err *err)
{
    (void)member;
    struct ctl_ctr c;
    struct kk_derived d;
    bool attachable;
    if (ctl_ctr_resolve(op, args, &c, &d, &attachable, err) < 0)
        return NULL;
    if (!attachable) {
        ctl_fail(
            op, "AttachNotSupported", err, KK_ERR_INVALID,
            "container \"%s\" in cell \"%s\" is not attachable (set attachable: true on it and recreate the "
            "cell)",
            c.id, c.n.cell);
        return NULL;
    }
    char path[KK_DERIVE_PATH_SIZE + 32];
    if (kk_snprintf(path, sizeof(path), err, "socket path", "%s/tty/%s", d.container_dir, KK_TTY_SOCKET) <
        0) {
        ctl_fail_kind(op, NULL, err);
        return NULL;
    }
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        ctl_fail(op, NULL, err, KK_ERR_INVALID,
                 "the terminal socket of container \"%s\" in cell \"%s\" is %zu bytes long, more than a Unix "
                 "socket address holds (107): use a shorter run path or shorter names",
                 c.id, c.n.cell, strlen(path));
        return NULL;
    }
    struct stat st;
    if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISSOCK(st.st_mode)) {
        ctl_fail(op, "AttachTaskNotRunning", err, KK_ERR_UNAVAILABLE,
                 "container \"%s\" in cell \"%s\" has no terminal relay running (no socket at %s); start the "
                 "cell with kuke start cell %s",
                 c.id, c.n.cell, path, c.n.cell);
        return NULL;
    }
    return json_pack("{s:s}", "HostSocketPath", path);
}

static json_t *ctl_log_container(struct ctl_op *op, const json_t *args, const char **member,
                                 struct kk_err *err)
{
    (void)member;
    struct ctl_ctr c;
    struct kk_derived d;
    bool attachable;
    if (ctl_ctr_resolve(op, args, &c, &d, &attachable, err) < 0)
        return NULL;
    char path[KK_DERIVE_PATH_SIZE + 32];
    if (kk_snprintf(path, sizeof(path), err, "log path", "%s/%s", d.container_dir,
                    attachable ? "tty/" KK_TTY_CAPTURE : "log") < 0) {
        ctl_fail_kind(op, NULL, err);
        return NULL;
    }
    return json_pack("{s:s}", attachable ? "HostCapturePath" : "HostLogPath", path);
}

const struct ctl_ext_method ctl_attach_methods[] = {
    {"AttachContainer", ctl_attach_container, false},
    {"LogContainer", ctl_log_container, false},
    {NULL, NULL, false},
};
