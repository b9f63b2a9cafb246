/* Unit tests of security/: role names, the consistency of every role's profile table (identity,
 * capabilities, rlimits, allow-list against the forbidden tables), that each filter builds for the
 * native architecture, and the messages of a missing account. Nothing here enters a sandbox. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "security/profile.h"

static const enum kk_role sandboxed_roles[] = {KK_ROLE_API, KK_ROLE_CGD, KK_ROLE_NETD, KK_ROLE_CTRD,
                                               KK_ROLE_FETCHD};

static void test_role_names_round_trip(void **state)
{
    for (unsigned r = 0; r < KK_ROLE_COUNT; r++) {
        enum kk_role parsed = KK_ROLE_COUNT;
        assert_int_equal(kk_role_parse(kk_role_name((enum kk_role)r), &parsed), 0);
        assert_int_equal(parsed, r);
    }
    assert_string_equal(kk_role_name(KK_ROLE_API), "api");
    assert_string_equal(kk_role_name(KK_ROLE_CGD), "cgd");
    assert_string_equal(kk_role_name(KK_ROLE_NETD), "netd");
    assert_string_equal(kk_role_name(KK_ROLE_CTRD), "ctrd");
    assert_string_equal(kk_role_name(KK_ROLE_FETCHD), "fetchd");
    assert_string_equal(kk_role_name(KK_ROLE_SUPERVISOR), "supervisor");
}

static void test_role_parse_rejects(void **state)
{
    static const char *const bad[] = {"", "API", "api ", " api", "kukeond", "kuke-cgd", "unknown", "cgd\n"};
    enum kk_role r = KK_ROLE_API;
    for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++)
        assert_int_equal(kk_role_parse(bad[i], &r), -1);
    assert_int_equal(kk_role_parse(NULL, &r), -1);
    assert_int_equal(r, KK_ROLE_API); /* untouched on failure */
    assert_string_equal(kk_role_name(KK_ROLE_COUNT), "unknown");
    assert_null(kk_role_user(KK_ROLE_COUNT));
    assert_null(kk_role_profile((enum kk_role) - 1));
}

static void test_role_accounts(void **state)
{
    assert_string_equal(kk_role_user(KK_ROLE_SUPERVISOR), "root");
    assert_string_equal(kk_role_user(KK_ROLE_API), "kukeon");
    assert_string_equal(kk_role_group(KK_ROLE_API), "kukeon");
    assert_string_equal(kk_role_user(KK_ROLE_CGD), "kukeon-cgd");
    assert_string_equal(kk_role_user(KK_ROLE_NETD), "root");
    assert_string_equal(kk_role_user(KK_ROLE_CTRD), "kukeon-ctrd");
    /* The network-facing helper has a group of its own, never kukeon's (the run path, the secrets). */
    assert_string_equal(kk_role_user(KK_ROLE_FETCHD), "kukeon-fetchd");
    assert_string_equal(kk_role_group(KK_ROLE_FETCHD), "kukeon-fetchd");
    /* Roles that keep root need no lookup and get 0/0. */
    uid_t uid = 1;
    gid_t gid = 1;
    assert_int_equal(kk_role_resolve_ids(KK_ROLE_NETD, &uid, &gid, NULL), 0);
    assert_int_equal(uid, 0);
    assert_int_equal(gid, 0);
}

static void test_missing_account_messages(void **state)
{
    struct kk_err err = {0};
    uid_t uid;
    gid_t gid;
    assert_int_equal(kk_account_uid("kukeon-test-no-such-user", &uid, &err), -1);
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "\"kukeon-test-no-such-user\""));
    assert_non_null(strstr(err.msg, "kuke init"));
    assert_non_null(strstr(err.msg, "useradd --system"));
    kk_err_clear(&err);
    assert_int_equal(kk_account_gid("kukeon-test-no-such-group", &gid, &err), -1);
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "kuke init"));
    assert_non_null(strstr(err.msg, "groupadd --system kukeon-test-no-such-group"));
    kk_err_clear(&err);
    assert_int_equal(kk_resolve_account("root", "kukeon-test-no-such-group", &uid, &gid, &err), -1);
    assert_non_null(strstr(err.msg, "kukeon-test-no-such-group"));
}

static void test_profiles_are_indexed_by_role(void **state)
{
    for (unsigned r = 0; r < KK_ROLE_COUNT; r++) {
        const struct kk_role_profile *p = kk_role_profile((enum kk_role)r);
        assert_non_null(p);
        assert_int_equal(p->role, r);
        assert_non_null(p->binary);
        assert_non_null(p->user);
        assert_non_null(p->group);
        assert_int_equal(p->keeps_root, strcmp(p->user, "root") == 0);
    }
    const struct kk_role_profile *sup = kk_role_profile(KK_ROLE_SUPERVISOR);
    assert_false(sup->sandboxed);
    assert_true(sup->keeps_root);
    assert_int_equal(sup->n_groups, 0);
    for (size_t i = 0; i < KK_ARRAY_SIZE(sandboxed_roles); i++)
        assert_true(kk_role_profile(sandboxed_roles[i])->sandboxed);
}

static void test_capabilities_as_designed(void **state)
{
    /* api, cgd and ctrd hold nothing; netd exactly NET_ADMIN and SYS_ADMIN. */
    assert_int_equal(kk_profile_api.n_caps, 0);
    assert_int_equal(kk_profile_cgd.n_caps, 0);
    assert_int_equal(kk_profile_ctrd.n_caps, 0);
    assert_int_equal(kk_profile_fetchd.n_caps, 0);
    assert_false(kk_profile_fetchd.keeps_root);
    assert_false(kk_profile_api.keeps_root);
    assert_false(kk_profile_cgd.keeps_root);
    assert_false(kk_profile_ctrd.keeps_root);
    assert_true(kk_profile_netd.keeps_root);
    assert_int_equal(kk_profile_netd.n_caps, 2);
    uint64_t mask = 0;
    for (size_t i = 0; i < kk_profile_netd.n_caps; i++)
        mask |= 1ULL << kk_profile_netd.caps[i];
    assert_true(mask == ((1ULL << CAP_NET_ADMIN) | (1ULL << CAP_SYS_ADMIN)));
    /* The drop's proof raises CAP_SYS_MODULE and expects a refusal: no role may hold it. */
    for (unsigned r = 0; r < KK_ROLE_COUNT; r++) {
        const struct kk_role_profile *p = kk_role_profile((enum kk_role)r);
        for (size_t i = 0; i < p->n_caps; i++)
            assert_int_not_equal(p->caps[i], CAP_SYS_MODULE);
    }
}

static const struct kk_rlimit_value *find_rlimit(const struct kk_role_profile *p, int resource)
{
    for (size_t i = 0; i < p->n_rlimits; i++)
        if (p->rlimits[i].resource == resource)
            return &p->rlimits[i];
    return NULL;
}

static void test_rlimits(void **state)
{
    for (size_t i = 0; i < KK_ARRAY_SIZE(sandboxed_roles); i++) {
        const struct kk_role_profile *p = kk_role_profile(sandboxed_roles[i]);
        const struct kk_rlimit_value *core = find_rlimit(p, RLIMIT_CORE);
        assert_non_null(core);
        assert_int_equal(core->value, 0);
        assert_non_null(find_rlimit(p, RLIMIT_NOFILE));
        assert_true(find_rlimit(p, RLIMIT_NOFILE)->value >= 16);
        assert_non_null(find_rlimit(p, RLIMIT_FSIZE));
        /* The kernel ignores RLIMIT_NPROC for uid 0; a root role must not pretend otherwise. */
        if (p->keeps_root)
            assert_null(find_rlimit(p, RLIMIT_NPROC));
        else
            assert_non_null(find_rlimit(p, RLIMIT_NPROC));
        for (size_t a = 0; a < p->n_rlimits; a++)
            for (size_t b = a + 1; b < p->n_rlimits; b++)
                assert_int_not_equal(p->rlimits[a].resource, p->rlimits[b].resource);
    }
}

/* Every rule names a real x86_64 system call by its kernel name, with at most two comparisons. */
static void check_group(const struct kk_sys_group *g)
{
    assert_non_null(g->purpose);
    for (size_t i = 0; i < g->n_rules; i++) {
        const struct kk_sys_rule *r = &g->rules[i];
        int nr = seccomp_syscall_resolve_name(r->name);
        if (nr < 0 || nr != r->nr)
            print_error("group \"%s\": rule %s resolves to %d, table says %d\n", g->purpose, r->name, nr,
                        r->nr);
        assert_true(nr >= 0);
        assert_int_equal(nr, r->nr);
        assert_true(r->n_args <= 2);
    }
}

static void test_rules_name_real_syscalls(void **state)
{
    for (size_t i = 0; i < KK_ARRAY_SIZE(sandboxed_roles); i++) {
        const struct kk_role_profile *p = kk_role_profile(sandboxed_roles[i]);
        assert_true(p->n_groups > 0);
        for (size_t g = 0; g < p->n_groups; g++) {
            assert_true(p->groups[g]->n_rules > 0);
            check_group(p->groups[g]);
        }
    }
    check_group(&kk_group_sanitizer_runtime);
    assert_int_equal(kk_group_sanitizer_runtime.n_rules > 0, KK_SANITIZER_BUILD);
}

static void check_forbidden(const struct kk_role_profile *p, const char *name)
{
    int nr = seccomp_syscall_resolve_name(name);
    if (nr < 0)
        print_error("forbidden table of %s: \"%s\" is not an x86_64 system call\n", p->name, name);
    assert_true(nr >= 0);
    if (kk_profile_allows_syscall(p, nr))
        print_error("role %s allows %s, which its forbidden table names\n", p->name, name);
    assert_false(kk_profile_allows_syscall(p, nr));
}

static void test_forbidden_tables_hold(void **state)
{
    for (size_t i = 0; i < KK_ARRAY_SIZE(sandboxed_roles); i++) {
        const struct kk_role_profile *p = kk_role_profile(sandboxed_roles[i]);
        for (size_t f = 0; f < kk_forbidden_everywhere_count; f++)
            check_forbidden(p, kk_forbidden_everywhere[f]);
        for (size_t f = 0; f < p->n_forbidden; f++)
            check_forbidden(p, p->forbidden[f]);
    }
    /* The headline refusals, named explicitly so that a table edit cannot quietly drop them. */
    static const char *const never[] = {"ptrace",      "bpf",          "keyctl",         "kexec_load",
                                        "init_module", "finit_module", "io_uring_setup", "perf_event_open",
                                        "userfaultfd", "fsopen",       "setuid",         "capset"};
    for (size_t i = 0; i < KK_ARRAY_SIZE(sandboxed_roles); i++)
        for (size_t n = 0; n < KK_ARRAY_SIZE(never); n++)
            check_forbidden(kk_role_profile(sandboxed_roles[i]), never[n]);
    /* Only netd starts programs. */
    check_forbidden(&kk_profile_api, "execve");
    check_forbidden(&kk_profile_cgd, "execve");
    check_forbidden(&kk_profile_ctrd, "execve");
    check_forbidden(&kk_profile_fetchd, "execve");
    assert_true(kk_profile_allows_syscall(&kk_profile_netd, SCMP_SYS(execve)));
    /* cgd has no socket and no open but openat2. */
    check_forbidden(&kk_profile_cgd, "socket");
    check_forbidden(&kk_profile_cgd, "openat");
    assert_true(kk_profile_allows_syscall(&kk_profile_cgd, SCMP_SYS(openat2)));
    /* ctrd cannot use openat2, whose flags the filter cannot see, to get around read-only openat. */
    check_forbidden(&kk_profile_ctrd, "openat2");
    /* fetchd reaches out and serves nothing: connect, never bind, listen or accept; no openat2. */
    assert_true(kk_profile_allows_syscall(&kk_profile_fetchd, SCMP_SYS(connect)));
    assert_true(kk_profile_allows_syscall(&kk_profile_fetchd, SCMP_SYS(socket)));
    check_forbidden(&kk_profile_fetchd, "bind");
    check_forbidden(&kk_profile_fetchd, "listen");
    check_forbidden(&kk_profile_fetchd, "accept4");
    check_forbidden(&kk_profile_fetchd, "openat2");
    /* Only fetchd may open an inet socket: every other role's socket rules name AF_UNIX alone. */
    for (size_t i = 0; i < KK_ARRAY_SIZE(sandboxed_roles); i++) {
        const struct kk_role_profile *p = kk_role_profile(sandboxed_roles[i]);
        for (size_t g = 0; g < p->n_groups; g++)
            for (size_t k = 0; k < p->groups[g]->n_rules; k++) {
                const struct kk_sys_rule *r = &p->groups[g]->rules[k];
                if (r->nr != SCMP_SYS(socket) || r->action != KK_SYS_ALLOW)
                    continue;
                assert_true(r->n_args >= 1);
                assert_int_equal(r->args[0].arg, 0);
                if (p->role == KK_ROLE_FETCHD)
                    assert_true(r->args[0].datum_a == AF_INET || r->args[0].datum_a == AF_INET6);
                else if (r->args[0].datum_a != AF_UNIX && r->args[0].datum_a != AF_NETLINK)
                    fail_msg("role %s allows socket family %llu", p->name,
                             (unsigned long long)r->args[0].datum_a);
            }
    }
}

/* A call allowed outright in one group and with conditions in another is allowed outright: the
 * condition would be dead text that misleads the reader. */
static void test_no_condition_shadowed(void **state)
{
    for (size_t i = 0; i < KK_ARRAY_SIZE(sandboxed_roles); i++) {
        const struct kk_role_profile *p = kk_role_profile(sandboxed_roles[i]);
        for (size_t g = 0; g < p->n_groups; g++) {
            for (size_t k = 0; k < p->groups[g]->n_rules; k++) {
                const struct kk_sys_rule *r = &p->groups[g]->rules[k];
                if (r->n_args != 0 || r->arg0_is_self_pid)
                    continue;
                for (size_t h = 0; h < p->n_groups; h++) {
                    for (size_t m = 0; m < p->groups[h]->n_rules; m++) {
                        const struct kk_sys_rule *o = &p->groups[h]->rules[m];
                        bool conditional = o->n_args != 0 || o->arg0_is_self_pid;
                        if (o->nr == r->nr && conditional)
                            print_error("role %s: %s is allowed outright (%s) and with conditions (%s)\n",
                                        p->name, r->name, p->groups[g]->purpose, p->groups[h]->purpose);
                        assert_false(o->nr == r->nr && conditional);
                    }
                }
            }
        }
    }
}

static void test_filters_build(void **state)
{
    for (size_t i = 0; i < KK_ARRAY_SIZE(sandboxed_roles); i++) {
        struct kk_err err = {0};
        scmp_filter_ctx ctx = NULL;
        if (kk_sandbox_build_filter(sandboxed_roles[i], &ctx, &err) < 0)
            print_error("%s\n", err.msg);
        assert_non_null(ctx);
        /* Native architecture only: i386 and x32 calls meet the kill action. */
        assert_int_equal(seccomp_arch_exist(ctx, SCMP_ARCH_NATIVE), 0);
        assert_int_equal(seccomp_arch_exist(ctx, SCMP_ARCH_X86), -EEXIST);
        assert_int_equal(seccomp_arch_exist(ctx, SCMP_ARCH_X32), -EEXIST);
        uint32_t action = 0;
        assert_int_equal(seccomp_attr_get(ctx, SCMP_FLTATR_ACT_DEFAULT, &action), 0);
        assert_int_equal(action, SCMP_ACT_KILL_PROCESS);
        assert_int_equal(seccomp_attr_get(ctx, SCMP_FLTATR_ACT_BADARCH, &action), 0);
        assert_int_equal(action, SCMP_ACT_KILL_PROCESS);
        int fd = memfd_create("bpf", MFD_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(seccomp_export_bpf(ctx, fd), 0);
        assert_true(lseek(fd, 0, SEEK_END) > 0);
        close(fd);
        seccomp_release(ctx);
    }
}

/* Refusals that happen before anything changes, so they are safe to test in-process. */
static void test_enter_refuses_wrong_identity(void **state)
{
    struct kk_err err = {0};
    scmp_filter_ctx ctx = NULL;
    assert_int_equal(kk_sandbox_build_filter(KK_ROLE_SUPERVISOR, &ctx, &err), -1);
    assert_int_equal(err.kind, KK_ERR_INVALID);
    assert_null(ctx);
    kk_err_clear(&err);
    assert_int_equal(kk_sandbox_enter(KK_ROLE_SUPERVISOR, 0, 0, &err), -1);
    assert_non_null(strstr(err.msg, "supervisor"));
    kk_err_clear(&err);
    assert_int_equal(kk_sandbox_drop_identity(KK_ROLE_API, 0, 0, &err), -1);
    assert_int_equal(err.kind, KK_ERR_INVALID);
    assert_non_null(strstr(err.msg, "must not run as root"));
    kk_err_clear(&err);
    assert_int_equal(kk_sandbox_drop_identity(KK_ROLE_NETD, 1000, 1000, &err), -1);
    assert_int_equal(err.kind, KK_ERR_INVALID);
    assert_int_equal(kk_sandbox_enter(KK_ROLE_COUNT, 1000, 1000, &err), -1);
    /* Nothing changed. */
    assert_int_equal(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_names_round_trip),
        cmocka_unit_test(test_role_parse_rejects),
        cmocka_unit_test(test_role_accounts),
        cmocka_unit_test(test_missing_account_messages),
        cmocka_unit_test(test_profiles_are_indexed_by_role),
        cmocka_unit_test(test_capabilities_as_designed),
        cmocka_unit_test(test_rlimits),
        cmocka_unit_test(test_rules_name_real_syscalls),
        cmocka_unit_test(test_forbidden_tables_hold),
        cmocka_unit_test(test_no_condition_shadowed),
        cmocka_unit_test(test_filters_build),
        cmocka_unit_test(test_enter_refuses_wrong_identity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
