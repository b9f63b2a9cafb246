/* Hierarchy names to host names (see derive.h). Pure string work: no system calls, so every process,
 * sandboxed or not, derives the same names from the same input. */
#include "common/derive.h"

#include <inttypes.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

_Static_assert(KK_IFNAME_SIZE == IFNAMSIZ, "interface name buffers follow the kernel's IFNAMSIZ");
/* The deepest path: the longest configured prefix, "/data", then four names and the containerd id
 * (or five names), each after a '/'. */
_Static_assert(KK_DERIVE_CONFIG_PATH_MAX + sizeof("/data") + 4 * (1 + KK_NAME_MAX) + 1 + KK_CTRD_ID_MAX <
                   KK_DERIVE_PATH_SIZE,
               "derived paths fit their buffers");
_Static_assert(KK_DERIVE_CONFIG_PATH_MAX + sizeof("/data") + 5 * (1 + KK_NAME_MAX) < KK_DERIVE_PATH_SIZE,
               "derived paths fit their buffers");

/* Namespaces other tools own; a realm must never land in one of them, whatever the suffix. */
static const char *const derive_foreign_namespaces[] = {"default", "moby", "k8s.io", "buildkit"};

/* The byte that joins names before hashing. Names cannot contain it, so different name tuples can
 * never join to the same string ('/' is also the join the Go implementation used for egress chains). */
#define DERIVE_HASH_JOIN '/'

/* ---- FNV-1a ---------------------------------------------------------------------------------- */

uint32_t kk_fnv1a32(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t h = 0x811c9dc5u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x01000193u;
    }
    return h;
}

uint64_t kk_fnv1a64(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x00000100000001b3u;
    }
    return h;
}

/* ---- configuration --------------------------------------------------------------------------- */

static const char *config_or(const char *value, const char *fallback)
{
    return value == NULL || value[0] == '\0' ? fallback : value;
}

/* How much of a refused configuration value a message quotes. */
#define DERIVE_SHOW_MAX 128

/* A configured value, escaped and cut for a message (configuration files are input too). */
static void config_show(const char *value, char *out, size_t size)
{
    char raw[DERIVE_SHOW_MAX + 1];
    size_t len = strnlen(value, DERIVE_SHOW_MAX + 1);
    size_t n = len < DERIVE_SHOW_MAX ? len : DERIVE_SHOW_MAX;
    memcpy(raw, value, n);
    raw[n] = '\0';
    kk_log_escape(raw, out, size - 3);
    if (len > n)
        memcpy(out + strnlen(out, size - 3), "...", 4);
}

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* The suffix must keep "<realm>.<suffix>" a containerd identifier: runs of letters and digits joined by
 * single '.' or '-', and room left for a realm of at least one character and the '.'. */
static int config_check_suffix(const char *suffix, struct kk_err *err)
{
    char shown[4 * DERIVE_SHOW_MAX + 8];
    size_t max = KK_CTRD_ID_MAX - 2;
    size_t len = strnlen(suffix, max + 1);
    const char *why = NULL;
    if (len > max) {
        why = "it is longer than 74 characters";
    } else {
        for (size_t i = 0; i < len && why == NULL; i++) {
            unsigned char c = (unsigned char)suffix[i];
            if (is_alnum(c))
                continue;
            if (c != '.' && c != '-')
                why = "it may only contain A-Z a-z 0-9 '.' '-'";
            else if (i == 0 || i == len - 1)
                why = "it must start and end with a letter or digit";
            else if (suffix[i + 1] == '.' || suffix[i + 1] == '-')
                why = "'.' and '-' must each stand between letters or digits";
        }
    }
    if (why == NULL)
        return 0;
    config_show(suffix, shown, sizeof(shown));
    return kk_error(err, KK_ERR_INVALID, 0,
                    "containerd namespace suffix \"%s\" is invalid: %s (like \"" KK_DERIVE_NS_SUFFIX_DEFAULT
                    "\")",
                    shown, why);
}

/* An absolute directory that names will be appended to: no way for it to step upwards, sideways or
 * into a second meaning. Non-printable bytes and spaces are refused so that the path is one shell
 * word and one log field as written. */
static int config_check_path(const char *what, const char *path, struct kk_err *err)
{
    char shown[4 * DERIVE_SHOW_MAX + 8];
    size_t len = strnlen(path, KK_DERIVE_CONFIG_PATH_MAX + 1);
    const char *why = NULL;
    if (len > KK_DERIVE_CONFIG_PATH_MAX)
        why = "it is longer than 255 bytes";
    else if (path[0] != '/')
        why = "it must be an absolute path";
    else if (len == 1)
        why = "it must name a directory below '/', not '/' itself";
    else if (path[len - 1] == '/')
        why = "it must not end with '/'";
    for (size_t i = 0; i < len && why == NULL; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c <= 0x20 || c >= 0x7f)
            why = "it contains a space, a control byte or a non-ASCII byte";
    }
    /* Component by component: "//" (an empty one), "." and "..". */
    for (size_t i = 0; i < len && why == NULL; i++) {
        if (path[i] != '/')
            continue;
        size_t n = 0;
        while (i + 1 + n < len && path[i + 1 + n] != '/')
            n++;
        if (n == 0)
            why = "it contains \"//\"";
        else if (n == 1 && path[i + 1] == '.')
            why = "it contains a \".\" component";
        else if (n == 2 && path[i + 1] == '.' && path[i + 2] == '.')
            why = "it contains a \"..\" component";
    }
    if (why == NULL)
        return 0;
    config_show(path, shown, sizeof(shown));
    return kk_error(err, KK_ERR_INVALID, 0, "%s \"%s\" is invalid: %s", what, shown, why);
}

int kk_derive_config_check(const struct kk_derive_config *cfg, struct kk_err *err)
{
    const struct kk_derive_config none = {0};
    if (cfg == NULL)
        cfg = &none;
    if (config_check_suffix(config_or(cfg->ns_suffix, KK_DERIVE_NS_SUFFIX_DEFAULT), err) < 0)
        return -1;
    if (config_check_path("cgroup root", config_or(cfg->cgroup_root, KK_DERIVE_CGROUP_ROOT_DEFAULT), err) < 0)
        return -1;
    if (config_check_path("run path", config_or(cfg->run_path, KK_DERIVE_RUN_PATH_DEFAULT), err) < 0)
        return -1;
    if (config_check_path("netns dir", config_or(cfg->netns_dir, KK_DERIVE_NETNS_DIR_DEFAULT), err) < 0)
        return -1;
    return 0;
}

/* ---- derivation ------------------------------------------------------------------------------ */

/* Append "/<part>" for each part to out, which already holds a prefix. The bounds above make
 * truncation impossible for valid input, so it is reported as a broken invariant, never hidden. */
static int derive_path(char *out, size_t size, const char *what, const char *prefix, const char *const *parts,
                       size_t nparts, struct kk_err *err)
{
    size_t pos = strnlen(prefix, size);
    if (pos >= size)
        return kk_error(err, KK_ERR_INTERNAL, 0, "derived %s does not fit %zu bytes", what, size);
    memmove(out, prefix, pos);
    for (size_t i = 0; i < nparts; i++) {
        size_t n = strlen(parts[i]);
        if (pos + 1 + n >= size)
            return kk_error(err, KK_ERR_INTERNAL, 0, "derived %s does not fit %zu bytes", what, size);
        out[pos++] = '/';
        memcpy(out + pos, parts[i], n);
        pos += n;
    }
    out[pos] = '\0';
    return 0;
}

/* "<space>_<stack>_<cell>_<container>". '_' cannot occur in a name, so the id is unique within the
 * realm's namespace. containerd's limit is checked here, with the numbers a user needs to fix it,
 * rather than discovered as an opaque refusal in the middle of a create. */
static int derive_ctrd_id(char *out, const struct kk_derived *d, const char *container, bool is_root,
                          struct kk_err *err)
{
    size_t ls = strlen(d->space), lt = strlen(d->stack), lc = strlen(d->cell), ln = strlen(container);
    size_t total = ls + lt + lc + ln + 3;
    if (total > KK_CTRD_ID_MAX) {
        size_t over = total - KK_CTRD_ID_MAX;
        const char *plural = over == 1 ? "" : "s";
        if (is_root)
            return kk_error(
                err, KK_ERR_INVALID, 0,
                "the pause root container id \"%s_%s_%s_%s\" of cell \"%s\" would be %zu characters, "
                "%zu over containerd's limit of %d: shorten space \"%s\" (%zu), stack \"%s\" (%zu) "
                "or cell \"%s\" (%zu) by %zu character%s in total",
                d->space, d->stack, d->cell, container, d->cell, total, over, KK_CTRD_ID_MAX, d->space, ls,
                d->stack, lt, d->cell, lc, over, plural);
        return kk_error(
            err, KK_ERR_INVALID, 0,
            "containerd id \"%s_%s_%s_%s\" of container \"%s\" would be %zu characters, %zu over "
            "containerd's limit of %d: shorten space \"%s\" (%zu), stack \"%s\" (%zu), cell \"%s\" "
            "(%zu) or container \"%s\" (%zu) by %zu character%s in total",
            d->space, d->stack, d->cell, container, container, total, over, KK_CTRD_ID_MAX, d->space, ls,
            d->stack, lt, d->cell, lc, container, ln, over, plural);
    }
    return kk_snprintf(out, KK_CTRD_ID_SIZE, err, "containerd id", "%s_%s_%s_%s", d->space, d->stack, d->cell,
                       container);
}

static int derive_namespace(struct kk_derived *d, const char *suffix, struct kk_err *err)
{
    size_t lr = strlen(d->realm), lsfx = strlen(suffix);
    size_t total = lr + 1 + lsfx;
    if (total > KK_CTRD_ID_MAX) {
        size_t over = total - KK_CTRD_ID_MAX;
        return kk_error(err, KK_ERR_INVALID, 0,
                        "containerd namespace \"%s.%s\" of realm \"%s\" would be %zu characters, %zu over "
                        "containerd's limit of %d: shorten realm \"%s\" (%zu) or the namespace suffix "
                        "\"%s\" (%zu) by %zu character%s in total",
                        d->realm, suffix, d->realm, total, over, KK_CTRD_ID_MAX, d->realm, lr, suffix, lsfx,
                        over, over == 1 ? "" : "s");
    }
    if (kk_snprintf(d->ctrd_namespace, sizeof(d->ctrd_namespace), err, "containerd namespace", "%s.%s",
                    d->realm, suffix) < 0)
        return -1;
    for (size_t i = 0; i < KK_ARRAY_SIZE(derive_foreign_namespaces); i++)
        if (strcmp(d->ctrd_namespace, derive_foreign_namespaces[i]) == 0)
            return kk_error(
                err, KK_ERR_INVALID, 0,
                "containerd namespace \"%s\" of realm \"%s\" belongs to another tool: choose another "
                "realm name or namespace suffix",
                d->ctrd_namespace, d->realm);
    return 0;
}

/* What the host-wide names of one installation are salted with: nothing for the default run path (the
 * names users and docs know), the run path itself for any other. Bridges, egress chains, netns pins
 * and veths are host-wide while realms are per run path, so a second installation on the host (a test
 * suite beside the installed Kukeon, two run paths) would otherwise derive the very same names for
 * its default/default and take the other's bridge. A run path holds no newline (config_check_path),
 * so the salt cannot run into the names. */
static int derive_salted(char *buf, size_t size, const char *salt, const char *joined, struct kk_err *err)
{
    if (salt[0] == '\0')
        return kk_snprintf(buf, size, err, "hash input", "%s", joined);
    return kk_snprintf(buf, size, err, "hash input", "%s\n%s", salt, joined);
}

/* Space-level network names. */
static int derive_space_network(struct kk_derived *d, const char *salt, struct kk_err *err)
{
    /* The network name is the Go implementation's, kept because users see it (conflist "name", the
     * host-local IPAM dir). It is NOT unique: realm "a"/space "b-c" and realm "a-b"/space "c" share it.
     * Anything that must be unique per space is derived from the joined names below instead. */
    if (kk_snprintf(d->network_name, sizeof(d->network_name), err, "network name", "%s-%s", d->realm,
                    d->space) < 0)
        return -1;

    /* Bridge and egress chain: FNV-1a 32 of "<realm>/<space>". This deliberately differs from the Go
     * implementation, which hashed the network name "<realm>-<space>" for the bridge, so that the pair
     * above got one bridge between two spaces. A host's bridges from the Go daemon therefore get new
     * names here. The chain hash is the Go one; bridge and chain of a space now share their hex. */
    char joined[2 * KK_NAME_SIZE], input[KK_DERIVE_CONFIG_PATH_MAX + 2 * KK_NAME_SIZE + 2];
    if (kk_snprintf(joined, sizeof(joined), err, "realm and space", "%s%c%s", d->realm, DERIVE_HASH_JOIN,
                    d->space) < 0 ||
        derive_salted(input, sizeof(input), salt, joined, err) < 0)
        return -1;
    uint32_t h = kk_fnv1a32(input, strlen(input));
    if (kk_snprintf(d->bridge_name, sizeof(d->bridge_name), err, "bridge name", "k-%08" PRIx32, h) < 0)
        return -1;
    return kk_snprintf(d->egress_chain, sizeof(d->egress_chain), err, "egress chain", "KUKE-EGR-%08" PRIx32,
                       h);
}

/* Cell-level netns and veth names. Both must be short (a veth name is at most 15 bytes), so they are
 * hashes of "<realm>/<space>/<stack>/<cell>": 64 bits for the netns (a clash is ~1e-10 with 100k
 * cells), its top 48 bits for the veth, so the two of one cell are easy to match by eye. FNV is not
 * collision-resistant against a chosen name, and need not be: only root and group kukeon may name
 * cells at all, and they can already reach every realm. */
static int derive_cell_network(struct kk_derived *d, const char *netns_dir, const char *salt, struct kk_err *err)
{
    char joined[4 * KK_NAME_SIZE], input[KK_DERIVE_CONFIG_PATH_MAX + 4 * KK_NAME_SIZE + 2];
    if (kk_snprintf(joined, sizeof(joined), err, "cell path", "%s%c%s%c%s%c%s", d->realm, DERIVE_HASH_JOIN,
                    d->space, DERIVE_HASH_JOIN, d->stack, DERIVE_HASH_JOIN, d->cell) < 0 ||
        derive_salted(input, sizeof(input), salt, joined, err) < 0)
        return -1;
    uint64_t h = kk_fnv1a64(input, strlen(input));
    if (kk_snprintf(d->netns_name, sizeof(d->netns_name), err, "netns name", "kk-%016" PRIx64, h) < 0)
        return -1;
    const char *parts[] = {d->netns_name};
    if (derive_path(d->netns_path, sizeof(d->netns_path), "netns path", netns_dir, parts, 1, err) < 0)
        return -1;
    return kk_snprintf(d->veth_host, sizeof(d->veth_host), err, "veth name", "kv%012" PRIx64, h >> 16);
}

/* Copy the given names into out, after checking that they are valid and form a prefix of the
 * hierarchy: a stack without a space cannot be placed anywhere. */
static int derive_take_names(const struct kk_derive_names *names, struct kk_derived *d, struct kk_err *err)
{
    const char *in[KK_NAME_KIND_COUNT] = {names->realm, names->space, names->stack, names->cell,
                                          names->container};
    char *dst[KK_NAME_KIND_COUNT] = {d->realm, d->space, d->stack, d->cell, d->container};
    int deepest = 0; /* the realm is always required */
    for (int k = 0; k < KK_NAME_KIND_COUNT; k++)
        if (in[k] != NULL && in[k][0] != '\0')
            deepest = k;
    for (int k = 0; k <= deepest; k++) {
        if (kk_name_check((enum kk_name_kind)k, in[k], err) < 0)
            return -1;
        if (kk_strlcpy(dst[k], in[k], KK_NAME_SIZE) < 0)
            return kk_error(err, KK_ERR_INTERNAL, 0, "%s name does not fit %d bytes",
                            kk_name_kind_str((enum kk_name_kind)k), KK_NAME_SIZE);
    }
    d->depth = (enum kk_name_kind)deepest;
    return 0;
}

static int derive_all(const struct kk_derive_names *names, const struct kk_derive_config *cfg,
                      struct kk_derived *d, struct kk_err *err)
{
    const struct kk_derive_config none = {0};
    if (cfg == NULL)
        cfg = &none;
    if (names == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "realm name is required");
    if (kk_derive_config_check(cfg, err) < 0)
        return -1;
    const char *suffix = config_or(cfg->ns_suffix, KK_DERIVE_NS_SUFFIX_DEFAULT);
    const char *cgroup_root = config_or(cfg->cgroup_root, KK_DERIVE_CGROUP_ROOT_DEFAULT);
    const char *run_path = config_or(cfg->run_path, KK_DERIVE_RUN_PATH_DEFAULT);
    const char *netns_dir = config_or(cfg->netns_dir, KK_DERIVE_NETNS_DIR_DEFAULT);

    if (derive_take_names(names, d, err) < 0)
        return -1;
    if (derive_namespace(d, suffix, err) < 0)
        return -1;
    if (d->depth >= KK_NAME_CELL && derive_ctrd_id(d->ctrd_root_id, d, "root", true, err) < 0)
        return -1;
    if (d->depth >= KK_NAME_CONTAINER && derive_ctrd_id(d->ctrd_id, d, d->container, false, err) < 0)
        return -1;

    /* Paths: as many levels as the input has; the container level of the cgroup is the containerd
     * id (the container's cgroup is named as containerd names the container). */
    const char *cgroup_parts[] = {d->realm, d->space, d->stack, d->cell, d->ctrd_id};
    size_t levels = (size_t)d->depth + 1;
    if (derive_path(d->cgroup_path, sizeof(d->cgroup_path), "cgroup path", cgroup_root, cgroup_parts, levels,
                    err) < 0)
        return -1;
    const char *meta_parts[] = {"data", d->realm, d->space, d->stack, d->cell};
    size_t meta_levels = levels > 4 ? 5 : levels + 1;
    if (derive_path(d->metadata_dir, sizeof(d->metadata_dir), "metadata dir", run_path, meta_parts,
                    meta_levels, err) < 0)
        return -1;

    const char *salt = strcmp(run_path, KK_DERIVE_RUN_PATH_DEFAULT) == 0 ? "" : run_path;
    if (d->depth >= KK_NAME_SPACE && derive_space_network(d, salt, err) < 0)
        return -1;
    if (d->depth >= KK_NAME_CELL && derive_cell_network(d, netns_dir, salt, err) < 0)
        return -1;
    if (d->depth >= KK_NAME_CONTAINER) {
        const char *parts[] = {d->container};
        if (derive_path(d->container_dir, sizeof(d->container_dir), "container dir", d->metadata_dir, parts,
                        1, err) < 0)
            return -1;
    }
    return 0;
}

int kk_derive(const struct kk_derive_names *names, const struct kk_derive_config *cfg, struct kk_derived *out,
              struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    if (derive_all(names, cfg, out, err) < 0) {
        memset(out, 0, sizeof(*out));
        return -1;
    }
    return 0;
}
