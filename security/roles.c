/* Roles of the kukeond group: names, accounts, and the lookup of a role's uid and gid. The
 * supervisor's "profile" is here too: it is not sandboxed in this design (it forks, execs, chowns
 * the delegated cgroup subtree and moves the group into its cell), so it has nothing but a name. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "security/profile.h"

const struct kk_role_profile kk_profile_supervisor = {
    .role = KK_ROLE_SUPERVISOR,
    .name = "supervisor",
    .binary = "kukeond",
    .user = "root",
    .group = "root",
    .keeps_root = true,
    .sandboxed = false,
};

static const struct kk_role_profile *const role_profiles[KK_ROLE_COUNT] = {
    [KK_ROLE_SUPERVISOR] = &kk_profile_supervisor,
    [KK_ROLE_API] = &kk_profile_api,
    [KK_ROLE_CGD] = &kk_profile_cgd,
    [KK_ROLE_NETD] = &kk_profile_netd,
    [KK_ROLE_CTRD] = &kk_profile_ctrd,
    [KK_ROLE_FETCHD] = &kk_profile_fetchd,
};

const struct kk_role_profile *kk_role_profile(enum kk_role role)
{
    if ((unsigned)role >= KK_ROLE_COUNT)
        return NULL;
    return role_profiles[role];
}

const char *kk_role_name(enum kk_role role)
{
    const struct kk_role_profile *p = kk_role_profile(role);
    return p != NULL ? p->name : "unknown";
}

int kk_role_parse(const char *name, enum kk_role *out)
{
    if (name == NULL)
        return -1;
    for (unsigned r = 0; r < KK_ROLE_COUNT; r++) {
        if (strcmp(name, role_profiles[r]->name) == 0) {
            *out = (enum kk_role)r;
            return 0;
        }
    }
    return -1;
}

const char *kk_role_user(enum kk_role role)
{
    const struct kk_role_profile *p = kk_role_profile(role);
    return p != NULL ? p->user : NULL;
}

const char *kk_role_group(enum kk_role role)
{
    const struct kk_role_profile *p = kk_role_profile(role);
    return p != NULL ? p->group : NULL;
}

/* getpwnam_r/getgrnam_r with a buffer that grows on ERANGE: the entries come from NSS and have no
 * fixed size. */
#define KK_NSS_BUF_START 4096
#define KK_NSS_BUF_MAX   (1024 * 1024)

int kk_account_uid(const char *user, uid_t *uid, struct kk_err *err)
{
    size_t size = KK_NSS_BUF_START;
    for (;;) {
        _cleanup_free_ char *buf = malloc(size);
        if (buf == NULL)
            return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "looking up user \"%s\"", user);
        struct passwd pw, *found = NULL;
        int rc = getpwnam_r(user, &pw, buf, size, &found);
        if (rc == ERANGE && size < KK_NSS_BUF_MAX) {
            size *= 2;
            continue;
        }
        if (rc != 0)
            return kk_error(err, KK_ERR_INTERNAL, rc, "looking up user \"%s\"", user);
        if (found == NULL)
            return kk_error(err, KK_ERR_NOT_FOUND, 0,
                            "system account \"%s\" does not exist; run `kuke init` to create it (or: "
                            "useradd --system --no-create-home --home-dir /nonexistent "
                            "--shell /usr/sbin/nologin --user-group %s)",
                            user, user);
        *uid = pw.pw_uid;
        return 0;
    }
}

int kk_account_gid(const char *group, gid_t *gid, struct kk_err *err)
{
    size_t size = KK_NSS_BUF_START;
    for (;;) {
        _cleanup_free_ char *buf = malloc(size);
        if (buf == NULL)
            return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "looking up group \"%s\"", group);
        struct group gr, *found = NULL;
        int rc = getgrnam_r(group, &gr, buf, size, &found);
        if (rc == ERANGE && size < KK_NSS_BUF_MAX) {
            size *= 2;
            continue;
        }
        if (rc != 0)
            return kk_error(err, KK_ERR_INTERNAL, rc, "looking up group \"%s\"", group);
        if (found == NULL)
            return kk_error(err, KK_ERR_NOT_FOUND, 0,
                            "system group \"%s\" does not exist; run `kuke init` to create it (or: "
                            "groupadd --system %s)",
                            group, group);
        *gid = gr.gr_gid;
        return 0;
    }
}

int kk_resolve_account(const char *user, const char *group, uid_t *uid, gid_t *gid, struct kk_err *err)
{
    uid_t u;
    gid_t g;
    if (kk_account_uid(user, &u, err) < 0 || kk_account_gid(group, &g, err) < 0)
        return -1;
    *uid = u;
    *gid = g;
    return 0;
}

int kk_role_resolve_ids(enum kk_role role, uid_t *uid, gid_t *gid, struct kk_err *err)
{
    const struct kk_role_profile *p = kk_role_profile(role);
    if (p == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "unknown role %d", (int)role);
    if (p->keeps_root) {
        /* No lookup: uid 0 is root whatever the passwd file calls it. */
        *uid = 0;
        *gid = 0;
        return 0;
    }
    uid_t u;
    gid_t g;
    if (kk_resolve_account(p->user, p->group, &u, &g, err) < 0)
        return kk_error_wrap(err, "role %s", p->name);
    /* An account edited to uid or gid 0 would silently give the role root. */
    if (u == 0 || g == 0)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "role %s: account \"%s\" (group \"%s\") has uid %u, gid %u; it must not be root: "
                        "fix it with usermod/groupmod, or remove it and run `kuke init`",
                        p->name, p->user, p->group, (unsigned)u, (unsigned)g);
    *uid = u;
    *gid = g;
    return 0;
}
