/* Entering a role's sandbox, in OpenSSH's order: drop identity and capabilities, prove the drop is
 * final, set rlimits, no-new-privs and non-dumpable, then load the role's seccomp filter. Each
 * stage is a function of its own so that probes can test it alone. */
#include <cap-ng.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "security/profile.h"

#if KK_SANITIZER_BUILD
#include <sanitizer/lsan_interface.h>
#endif

/* Whether this process changed its identity from root in kk_sandbox_drop_identity; a process that
 * entered unprivileged (its own uid) keeps its supplementary groups and bounding set, and the proof
 * must not expect otherwise. */
static bool dropped_from_root;

static const struct kk_role_profile *sandboxed_profile(enum kk_role role, struct kk_err *err)
{
    const struct kk_role_profile *p = kk_role_profile(role);
    if (p == NULL) {
        kk_error(err, KK_ERR_INVALID, 0, "unknown role %d", (int)role);
        return NULL;
    }
    if (!p->sandboxed) {
        kk_error(err, KK_ERR_INVALID, 0,
                 "role %s (%s) has no sandbox: it must fork, exec and chown for the group", p->name,
                 p->binary);
        return NULL;
    }
    return p;
}

static bool role_has_cap(const struct kk_role_profile *p, int cap)
{
    for (size_t i = 0; i < p->n_caps; i++)
        if (p->caps[i] == cap)
            return true;
    return false;
}

/* The highest capability number this kernel knows: PR_CAPBSET_READ fails past it. */
static int kernel_last_cap(void)
{
    int cap = 0;
    while (cap < 64 && prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0)
        cap++;
    return cap;
}

/* LeakSanitizer scans at exit by stopping the world with a ptrace-ing clone, which neither the
 * filter nor a non-dumpable process after the uid change allows. Scan now, while it still can (no
 * request has been read yet); the runtime then skips its exit-time scan. Leaks made inside the
 * sandbox go unreported: the price of testing the real filter under the sanitizers. */
static void sanitizer_scan_before_drop(void)
{
#if KK_SANITIZER_BUILD
    __lsan_do_leak_check();
#endif
}

static int drop_from_root(const struct kk_role_profile *p, uid_t uid, gid_t gid, struct kk_err *err)
{
    capng_clear(CAPNG_SELECT_ALL);
    for (size_t i = 0; i < p->n_caps; i++) {
        if (capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET,
                         (unsigned)p->caps[i]) != 0)
            return kk_error(err, KK_ERR_INTERNAL, 0, "keeping capability %s",
                            capng_capability_to_name((unsigned)p->caps[i]));
    }
    /* The bounding set first: dropping from it needs CAP_SETPCAP, which goes with the uid change. */
    int rc = capng_apply(CAPNG_SELECT_BOUNDS);
    if (rc != 0)
        return kk_error(err, KK_ERR_PERMISSION, errno, "reducing the capability bounding set (libcap-ng %d)",
                        rc);
    /* Ambient capabilities would survive execve of an unprivileged program; there must be none. */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "clearing the ambient capabilities");
    /* With keep-caps off, the uid change below empties the permitted set of a non-root role. */
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "turning keep-caps off");
    /* Written out rather than capng_change_id: the order (groups, gid, uid) and the saved ids are
     * then visible here, each failure has its own message, and no CAP_SETPCAP juggling is needed. */
    if (setgroups(0, NULL) != 0)
        return kk_error(err, KK_ERR_PERMISSION, errno, "dropping supplementary groups");
    if (setresgid(gid, gid, gid) != 0)
        return kk_error(err, KK_ERR_PERMISSION, errno, "changing to gid %u", (unsigned)gid);
    if (setresuid(uid, uid, uid) != 0)
        return kk_error(err, KK_ERR_PERMISSION, errno, "changing to uid %u", (unsigned)uid);
    /* Effective and permitted to exactly the role's set; inheritable survives a uid change, so it
     * is emptied here in any case. */
    rc = capng_apply(CAPNG_SELECT_CAPS);
    if (rc != 0)
        return kk_error(err, KK_ERR_PERMISSION, errno, "setting the capability sets (libcap-ng %d)", rc);
    dropped_from_root = true;
    return 0;
}

/* Entering a role as the user one already is (tests, a developer's in-process run): no id change
 * is possible or needed. Capabilities are emptied; the bounding set and supplementary groups stay,
 * which no-new-privs makes harmless (nothing can be gained by execve). */
static int drop_in_place(const struct kk_role_profile *p, uid_t uid, gid_t gid, struct kk_err *err)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "reading own ids");
    if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
        return kk_error(err, KK_ERR_PERMISSION, 0,
                        "role %s runs as uid %u gid %u; changing to them from uid %u gid %u needs root",
                        p->name, (unsigned)uid, (unsigned)gid, (unsigned)eu, (unsigned)eg);
    if (p->keeps_root)
        return kk_error(err, KK_ERR_PERMISSION, 0, "role %s keeps uid 0 with capabilities; run it as root",
                        p->name);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "clearing the ambient capabilities");
    capng_clear(CAPNG_SELECT_CAPS);
    int rc = capng_apply(CAPNG_SELECT_CAPS);
    if (rc != 0)
        return kk_error(err, KK_ERR_PERMISSION, errno, "emptying the capability sets (libcap-ng %d)", rc);
    return 0;
}

int kk_sandbox_drop_identity(enum kk_role role, uid_t uid, gid_t gid, struct kk_err *err)
{
    const struct kk_role_profile *p = sandboxed_profile(role, err);
    if (p == NULL)
        return -1;
    if (p->keeps_root && (uid != 0 || gid != 0))
        return kk_error(err, KK_ERR_INVALID, 0, "role %s runs as root, not uid %u gid %u", p->name,
                        (unsigned)uid, (unsigned)gid);
    if (!p->keeps_root && (uid == 0 || gid == 0))
        return kk_error(err, KK_ERR_INVALID, 0,
                        "role %s must not run as root (uid %u gid %u); resolve its account \"%s\"", p->name,
                        (unsigned)uid, (unsigned)gid, p->user);
    sanitizer_scan_before_drop();
    if (geteuid() == 0)
        return drop_from_root(p, uid, gid, err);
    return drop_in_place(p, uid, gid, err);
}

static int prove_capabilities(const struct kk_role_profile *p, struct kk_err *err)
{
    capng_clear(CAPNG_SELECT_ALL);
    if (capng_get_caps_process() != 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "reading own capabilities");
    int last = kernel_last_cap();
    for (int cap = 0; cap <= last; cap++) {
        bool want = role_has_cap(p, cap);
        if ((capng_have_capability(CAPNG_EFFECTIVE, (unsigned)cap) != 0) != want ||
            (capng_have_capability(CAPNG_PERMITTED, (unsigned)cap) != 0) != want ||
            capng_have_capability(CAPNG_INHERITABLE, (unsigned)cap) != 0)
            return kk_error(err, KK_ERR_INTERNAL, 0, "capability %d is %s after the drop", cap,
                            want ? "missing" : "still held");
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, cap, 0, 0) > 0)
            return kk_error(err, KK_ERR_INTERNAL, 0, "capability %d is ambient after the drop", cap);
        if (dropped_from_root && (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1) != want)
            return kk_error(err, KK_ERR_INTERNAL, 0, "capability %d is %s the bounding set", cap,
                            want ? "missing from" : "still in");
    }
    /* The proof proper: try to take back a capability no role has, and expect the kernel to say no. */
    capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_SYS_MODULE);
    int rc = capng_apply(CAPNG_SELECT_CAPS);
    capng_clear(CAPNG_SELECT_ALL);
    capng_get_caps_process();
    if (rc == 0 || capng_have_capability(CAPNG_PERMITTED, CAP_SYS_MODULE))
        return kk_error(err, KK_ERR_INTERNAL, 0,
                        "the capability drop can be undone: capset raised CAP_SYS_MODULE");
    return 0;
}

int kk_sandbox_prove_drop(enum kk_role role, uid_t uid, gid_t gid, struct kk_err *err)
{
    const struct kk_role_profile *p = sandboxed_profile(role, err);
    if (p == NULL)
        return -1;
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "reading own ids");
    if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid)
        return kk_error(err, KK_ERR_INTERNAL, 0, "ids are %u/%u/%u:%u/%u/%u after the drop, not %u:%u",
                        (unsigned)ru, (unsigned)eu, (unsigned)su, (unsigned)rg, (unsigned)eg, (unsigned)sg,
                        (unsigned)uid, (unsigned)gid);
    if (dropped_from_root && getgroups(0, NULL) != 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "supplementary groups remain after the drop");
    if (!p->keeps_root) {
        /* Every way back to root must be refused by the kernel, not merely unused. */
        if (setuid(0) == 0 || errno != EPERM)
            return kk_error(err, KK_ERR_INTERNAL, errno,
                            "the drop to uid %u can be undone: setuid(0) did not fail with EPERM",
                            (unsigned)uid);
        if (setgid(0) == 0 || errno != EPERM)
            return kk_error(err, KK_ERR_INTERNAL, errno,
                            "the drop to gid %u can be undone: setgid(0) did not fail with EPERM",
                            (unsigned)gid);
        if (setresuid((uid_t)-1, 0, (uid_t)-1) == 0 || errno != EPERM)
            return kk_error(err, KK_ERR_INTERNAL, errno,
                            "the drop to uid %u can be undone: setresuid(-1, 0, -1)", (unsigned)uid);
    }
    return prove_capabilities(p, err);
}

int kk_sandbox_limit(enum kk_role role, struct kk_err *err)
{
    const struct kk_role_profile *p = sandboxed_profile(role, err);
    if (p == NULL)
        return -1;
    for (size_t i = 0; i < p->n_rlimits; i++) {
        const struct kk_rlimit_value *l = &p->rlimits[i];
        struct rlimit cur;
        if (getrlimit(l->resource, &cur) != 0)
            return kk_error(err, KK_ERR_INTERNAL, errno, "reading rlimit %d", l->resource);
        /* Never above the hard limit we were given: raising it needs CAP_SYS_RESOURCE, which no
         * role has, and a lower limit from the host's administrator is a decision to respect. */
        rlim_t v = l->value;
        if (cur.rlim_max != RLIM_INFINITY && v > cur.rlim_max)
            v = cur.rlim_max;
        struct rlimit want = {.rlim_cur = v, .rlim_max = v};
        if (setrlimit(l->resource, &want) != 0)
            return kk_error(err, KK_ERR_PERMISSION, errno, "setting rlimit %d to %llu", l->resource,
                            (unsigned long long)v);
    }
    /* No execve from here on can grant anything: setuid bits and file capabilities are ignored. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "setting no-new-privs");
    /* No core dump, no ptrace attach by other processes of the same user, /proc/self owned by root. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "making the process non-dumpable");
    return 0;
}

static int add_rule(scmp_filter_ctx ctx, const struct kk_role_profile *p, const struct kk_sys_rule *r,
                    pid_t self, struct kk_err *err)
{
    uint32_t action = SCMP_ACT_ALLOW;
    if (r->action == KK_SYS_ENOSYS)
        action = SCMP_ACT_ERRNO(ENOSYS);
    else if (r->action == KK_SYS_ENOTTY)
        action = SCMP_ACT_ERRNO(ENOTTY);
    else if (r->action == KK_SYS_EAFNOSUPPORT)
        action = SCMP_ACT_ERRNO(EAFNOSUPPORT);
    struct scmp_arg_cmp args[3];
    unsigned n = 0;
    for (; n < r->n_args && n < 2; n++)
        args[n] = r->args[n];
    if (r->arg0_is_self_pid)
        args[n++] = (struct scmp_arg_cmp){.arg = 0, .op = SCMP_CMP_EQ, .datum_a = (scmp_datum_t)self};
    int rc = seccomp_rule_add_exact_array(ctx, action, r->nr, n, args);
    if (rc < 0)
        return kk_error(err, KK_ERR_INTERNAL, -rc, "role %s: adding the seccomp rule for %s", p->name,
                        r->name);
    return 0;
}

bool kk_profile_allows_syscall(const struct kk_role_profile *p, int nr)
{
    for (size_t g = 0; g < p->n_groups; g++)
        for (size_t i = 0; i < p->groups[g]->n_rules; i++)
            if (p->groups[g]->rules[i].nr == nr && p->groups[g]->rules[i].action == KK_SYS_ALLOW)
                return true;
    return false;
}

static bool allows_unconditionally(const struct kk_role_profile *p, int nr)
{
    for (size_t g = 0; g < p->n_groups; g++)
        for (size_t i = 0; i < p->groups[g]->n_rules; i++)
            if (p->groups[g]->rules[i].nr == nr && p->groups[g]->rules[i].action == KK_SYS_ALLOW &&
                p->groups[g]->rules[i].n_args == 0 && !p->groups[g]->rules[i].arg0_is_self_pid)
                return true;
    return false;
}

int kk_sandbox_build_filter(enum kk_role role, scmp_filter_ctx *out, struct kk_err *err)
{
    const struct kk_role_profile *p = sandboxed_profile(role, err);
    if (p == NULL)
        return -1;
    /* Only the native architecture is added: libseccomp then sends i386 (int 0x80) and x32 system
     * calls to the bad-architecture action, so no second ABI can walk around the table. */
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    if (ctx == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "role %s: creating the seccomp filter", p->name);
    int rc;
    if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0 ||
        /* Threads started by a library before the filter (gRPC) get it too, or the load fails. */
        (rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1)) < 0 ||
        (rc = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1)) < 0) {
        seccomp_release(ctx);
        return kk_error(err, KK_ERR_INTERNAL, -rc, "role %s: setting seccomp filter attributes", p->name);
    }
    pid_t self = getpid();
    for (size_t g = 0; g < p->n_groups; g++) {
        for (size_t i = 0; i < p->groups[g]->n_rules; i++) {
            if (add_rule(ctx, p, &p->groups[g]->rules[i], self, err) < 0) {
                seccomp_release(ctx);
                return -1;
            }
        }
    }
    /* The sanitizer block (empty outside sanitizer builds). A call the role already allows outright
     * needs no sanitizer rule; where the role allows it only with certain arguments, the sanitizer's
     * rule is one more alternative beside the role's. */
    for (size_t i = 0; i < kk_group_sanitizer_runtime.n_rules; i++) {
        const struct kk_sys_rule *r = &kk_group_sanitizer_runtime.rules[i];
        if (allows_unconditionally(p, r->nr))
            continue;
        if (add_rule(ctx, p, r, self, err) < 0) {
            seccomp_release(ctx);
            return -1;
        }
    }
    *out = ctx;
    return 0;
}

int kk_sandbox_load_filter(enum kk_role role, struct kk_err *err)
{
    scmp_filter_ctx ctx;
    if (kk_sandbox_build_filter(role, &ctx, err) < 0)
        return -1;
    int rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc < 0)
        return kk_error(err, KK_ERR_INTERNAL, -rc, "loading the seccomp filter of role %s",
                        kk_role_name(role));
    return 0;
}

int kk_sandbox_enter(enum kk_role role, uid_t uid, gid_t gid, struct kk_err *err)
{
    if (kk_sandbox_drop_identity(role, uid, gid, err) < 0 || kk_sandbox_prove_drop(role, uid, gid, err) < 0 ||
        kk_sandbox_limit(role, err) < 0 || kk_sandbox_load_filter(role, err) < 0)
        return kk_error_wrap(err, "entering the sandbox of %s", kk_role_name(role));
    return 0;
}
