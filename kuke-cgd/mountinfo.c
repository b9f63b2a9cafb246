/* Where the host mounts its cgroups, from /proc/self/mountinfo, and the controller lists the kernel
 * prints in cgroup.controllers and cgroup.subtree_control. Pure parsing: the caller reads the files.
 * (No library parses mountinfo for us: libmount would bring a dependency for twenty lines.) */
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "kuke-cgd/cgd.h"

const char *const cgd_layer_controllers[] = {"cpu", "memory", "io", "pids"};
const size_t cgd_layer_controller_count = KK_ARRAY_SIZE(cgd_layer_controllers);

/* ---- controller lists -------------------------------------------------------------------------- */

static bool ctl_name_ok(const char *s, size_t n)
{
    if (n == 0 || n >= CGD_CTL_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

int cgd_ctl_parse(const char *text, size_t len, struct cgd_ctl_list *out, struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    if (len > 0 && text[len - 1] == '\n')
        len--;
    size_t i = 0;
    while (i < len) {
        if (text[i] == ' ') {
            i++;
            continue;
        }
        size_t start = i;
        while (i < len && text[i] != ' ')
            i++;
        if (!ctl_name_ok(text + start, i - start))
            return kk_error(err, KK_ERR_INVALID, 0,
                            "unexpected controller name in a controller list (%zu bytes)", i - start);
        if (out->n >= CGD_CTL_MAX)
            return kk_error(err, KK_ERR_INVALID, 0, "more than %d controllers in a controller list",
                            CGD_CTL_MAX);
        memcpy(out->name[out->n], text + start, i - start);
        out->name[out->n][i - start] = '\0';
        out->n++;
    }
    return 0;
}

bool cgd_ctl_has(const struct cgd_ctl_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->name[i], name) == 0)
            return true;
    return false;
}

int cgd_ctl_add(struct cgd_ctl_list *l, const char *name)
{
    if (cgd_ctl_has(l, name))
        return 0;
    if (l->n >= CGD_CTL_MAX || kk_strlcpy(l->name[l->n], name, CGD_CTL_NAME_MAX) < 0)
        return -1;
    l->n++;
    return 0;
}

int cgd_ctl_format(const struct cgd_ctl_list *l, const char *prefix, char *buf, size_t size,
                   struct kk_err *err)
{
    size_t pos = 0;
    if (size == 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "controller list buffer of 0 bytes");
    buf[0] = '\0';
    for (size_t i = 0; i < l->n; i++) {
        int n = snprintf(buf + pos, size - pos, "%s%s%s", i ? " " : "", prefix, l->name[i]);
        if (n < 0 || (size_t)n >= size - pos)
            return kk_error(err, KK_ERR_INTERNAL, 0, "controller list does not fit %zu bytes", size);
        pos += (size_t)n;
    }
    return 0;
}

/* ---- mountinfo --------------------------------------------------------------------------------- */

/* The cgroup v1 controllers the kernel knows; anything else in a v1 mount's super options is an
 * option (noprefix, xattr, clone_children, release_agent=...). */
static const char *const v1_controllers[] = {"cpuset",  "cpu",     "cpuacct", "blkio",      "memory",
                                             "devices", "freezer", "net_cls", "perf_event", "net_prio",
                                             "hugetlb", "pids",    "rdma",    "misc",       "debug"};

/* Split one line into at most max space-separated fields, in place. */
static size_t split_fields(char *line, char **fields, size_t max)
{
    size_t n = 0;
    char *save = NULL;
    for (char *f = strtok_r(line, " ", &save); f != NULL && n < max; f = strtok_r(NULL, " ", &save))
        fields[n++] = f;
    return n;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static int unescape_path(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; in[i] != '\0'; i++) {
        char c = in[i];
        if (c == '\\' && in[i + 1] >= '0' && in[i + 1] <= '3' && in[i + 2] >= '0' && in[i + 2] <= '7' &&
            in[i + 3] >= '0' && in[i + 3] <= '7') {
            c = (char)(((in[i + 1] - '0') << 6) | ((in[i + 2] - '0') << 3) | (in[i + 3] - '0'));
            i += 3;
        }
        if (o + 1 >= size)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return o > 0 && out[0] == '/' ? 0 : -1;
}

static bool has_option(const char *opts, const char *want)
{
    size_t wl = strlen(want);
    for (const char *p = opts; *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == wl && memcmp(p, want, n) == 0)
            return true;
        p += n + (end != NULL ? 1 : 0);
    }
    return false;
}

/* "cpu,cpuacct" or "name=systemd" from the super options; "" when the hierarchy has neither. */
static void v1_controllers_of(const char *superopts, char *out, size_t size)
{
    size_t pos = 0;
    out[0] = '\0';
    for (const char *p = superopts; *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        bool keep = n == strlen("name=systemd") && memcmp(p, "name=systemd", n) == 0;
        for (size_t i = 0; !keep && i < KK_ARRAY_SIZE(v1_controllers); i++)
            keep = n == strlen(v1_controllers[i]) && memcmp(p, v1_controllers[i], n) == 0;
        if (keep && pos + n + 2 < size) {
            if (pos > 0)
                out[pos++] = ',';
            memcpy(out + pos, p, n);
            pos += n;
            out[pos] = '\0';
        }
        p += n + (end != NULL ? 1 : 0);
    }
}

/* A mount of the whole hierarchy (root "/") over a bind mount of a subtree; then the usual places. */
static int v2_preference(const char *root, const char *point)
{
    int score = strcmp(root, "/") == 0 ? 4 : 0;
    if (strcmp(point, "/sys/fs/cgroup") == 0)
        score += 2;
    else if (strcmp(point, "/sys/fs/cgroup/unified") == 0)
        score += 1;
    return score;
}

int cgd_mountinfo_parse(const char *buf, size_t len, struct cgd_mounts *out, struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    char line[4096];
    size_t pos = 0;
    unsigned lineno = 0;
    int best_v2 = -1;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - (buf + pos)) : len - pos;
        lineno++;
        if (n >= sizeof(line))
            return kk_error(err, KK_ERR_INVALID, 0, "mountinfo line %u is longer than %zu bytes", lineno,
                            sizeof(line) - 1);
        memcpy(line, buf + pos, n);
        line[n] = '\0';
        pos += n + 1;
        if (memchr(line, '\0', n) != NULL)
            return kk_error(err, KK_ERR_INVALID, 0, "mountinfo line %u contains a NUL byte", lineno);

        char *f[64];
        size_t nf = split_fields(line, f, KK_ARRAY_SIZE(f));
        /* id parent maj:min root point options [optional...] - fstype source superopts */
        size_t sep = 6;
        while (sep < nf && strcmp(f[sep], "-") != 0)
            sep++;
        if (sep + 3 >= nf)
            continue; /* not a line we understand; the kernel's format has had no other shape */
        const char *fstype = f[sep + 1];
        bool v2 = strcmp(fstype, "cgroup2") == 0;
        if (!v2 && strcmp(fstype, "cgroup") != 0)
            continue;
        struct cgd_mount m;
        memset(&m, 0, sizeof(m));
        if (unescape_path(f[4], m.point, sizeof(m.point)) < 0)
            return kk_error(err, KK_ERR_INVALID, 0,
                            "mountinfo line %u: cgroup mount point is not a usable path", lineno);
        if (sscanf(f[2], "%u:%u", &m.dev_major, &m.dev_minor) != 2)
            return kk_error(err, KK_ERR_INVALID, 0, "mountinfo line %u: bad device field", lineno);
        m.read_only = has_option(f[5], "ro");
        if (v2) {
            int score = v2_preference(f[3], m.point);
            if (!out->have_v2 || score > best_v2) {
                out->v2 = m;
                out->have_v2 = true;
                best_v2 = score;
            }
            continue;
        }
        v1_controllers_of(f[sep + 3], m.controllers, sizeof(m.controllers));
        if (m.controllers[0] == '\0')
            continue; /* a named hierarchy of some other manager: runc does not join it */
        bool seen = false;
        for (size_t i = 0; i < out->n_v1 && !seen; i++)
            seen = out->v1[i].dev_major == m.dev_major && out->v1[i].dev_minor == m.dev_minor;
        if (seen)
            continue; /* the same hierarchy mounted again */
        if (out->n_v1 >= CGD_V1_MAX)
            return kk_error(err, KK_ERR_INVALID, 0, "more than %d cgroup v1 hierarchies are mounted",
                            CGD_V1_MAX);
        out->v1[out->n_v1++] = m;
    }
    return 0;
}
