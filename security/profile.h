/* The shape of a role's sandbox profile — identity, capabilities, rlimits, seccomp allow-list and
 * the forbidden table — and the stages of kk_sandbox_enter, for the profiles, tests and probes. */
#ifndef KUKEON_SECURITY_PROFILE_H
#define KUKEON_SECURITY_PROFILE_H

#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>

#include "common/err.h"
#include "common/util.h"
#include "security/sandbox.h"

/* The sanitizer runtimes need a few system calls of their own after the filter is loaded; the
 * profiles add them in one marked block (syscall_groups.c), only in sanitizer builds. */
#if defined(__SANITIZE_ADDRESS__)
#define KK_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KK_SANITIZER_BUILD 1
#endif
#endif
#ifndef KK_SANITIZER_BUILD
#define KK_SANITIZER_BUILD 0
#endif

/* What the filter does with a matching call. Everything not matched kills the process. */
enum kk_sys_action {
    KK_SYS_ALLOW = 0,
    /* Fail with ENOSYS so that libc falls back to a call the filter can inspect (clone3 -> clone). */
    KK_SYS_ENOSYS,
    /* Fail with ENOTTY: the answer to isatty()'s TCGETS, so stdio need not die asking. */
    KK_SYS_ENOTTY,
    /* Fail with EAFNOSUPPORT: a socket family refused without killing, so that a library that tries
     * it first falls back (glibc's resolver asks nscd over AF_UNIX, then reads the files itself). */
    KK_SYS_EAFNOSUPPORT,
};

/* One allow-list entry: a system call, optionally only with the given argument values. Rules for
 * the same call are alternatives (any one matching allows it); the comparisons of one rule must
 * all hold. */
struct kk_sys_rule {
    const char *name; /* as the kernel names it; for tests, docs and error messages */
    int nr;           /* SCMP_SYS(name) */
    enum kk_sys_action action;
    bool arg0_is_self_pid; /* arg0 must equal the pid of the process that loads the filter */
    unsigned n_args;
    struct scmp_arg_cmp args[2];
};

#define KK_SYS(x)                                                                                            \
    {                                                                                                        \
        .name = #x, .nr = SCMP_SYS(x)                                                                        \
    }
#define KK_ARG_EQ(i, v)                                                                                      \
    {                                                                                                        \
        .arg = (i), .op = SCMP_CMP_EQ, .datum_a = (scmp_datum_t)(v)                                          \
    }
/* (arg & mask) == v */
#define KK_ARG_MASKED(i, mask, v)                                                                            \
    {                                                                                                        \
        .arg = (i), .op = SCMP_CMP_MASKED_EQ, .datum_a = (scmp_datum_t)(mask), .datum_b = (scmp_datum_t)(v)  \
    }
#define KK_SYS_IF(x, a)                                                                                      \
    {                                                                                                        \
        .name = #x, .nr = SCMP_SYS(x), .n_args = 1, .args = { a }                                            \
    }
#define KK_SYS_IF2(x, a, b)                                                                                  \
    {                                                                                                        \
        .name = #x, .nr = SCMP_SYS(x), .n_args = 2, .args = { a, b }                                         \
    }

/* clone only as a thread: CLONE_THREAD with a shared address space and signal handlers, and no
 * namespace flag (the roles that start threads list this rule; clone3, whose flags are in memory out
 * of the filter's sight, answers ENOSYS beside it so that glibc falls back to clone). */
#define KK_CLONE_THREAD_MASK                                                                                 \
    (CLONE_THREAD | CLONE_VM | CLONE_SIGHAND | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |   \
     CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)
#define KK_SYS_CLONE_THREAD                                                                                  \
    KK_SYS_IF(clone, KK_ARG_MASKED(0, KK_CLONE_THREAD_MASK, CLONE_THREAD | CLONE_VM | CLONE_SIGHAND))

/* System calls grouped by the purpose that justifies them; the comment at each group's definition
 * says why the role that lists it needs it. */
struct kk_sys_group {
    const char *purpose;
    const struct kk_sys_rule *rules;
    size_t n_rules;
};
#define KK_GROUP(purpose_, rules_)                                                                           \
    {                                                                                                        \
        .purpose = (purpose_), .rules = (rules_), .n_rules = KK_ARRAY_SIZE(rules_)                           \
    }

struct kk_rlimit_value {
    int resource;
    rlim_t value; /* soft = hard = value (clamped to the current hard limit, see kk_sandbox_limit) */
};

/* Everything about one role, in one place (security/profile_<role>.c). */
struct kk_role_profile {
    enum kk_role role;
    const char *name;   /* "api": kk_role_name */
    const char *binary; /* what runs it: "kukeond api", "kuke-cgd" */
    const char *user;   /* its account; "root" for the roles that keep uid 0 */
    const char *group;
    bool keeps_root; /* uid 0 (with a reduced capability set) rather than its own account */
    /* Capabilities kept in the effective, permitted and bounding sets; inheritable and ambient
     * are always empty. */
    const int *caps;
    size_t n_caps;
    const struct kk_rlimit_value *rlimits;
    size_t n_rlimits;
    bool sandboxed; /* false only for the supervisor, which must fork, exec and chown */
    const struct kk_sys_group *const *groups;
    size_t n_groups;
    /* System calls that must never be in this role's allow-list, in any form; checked by the
     * unit tests and, one probe each, by the sandbox tests. The kk_forbidden_everywhere list
     * applies to every sandboxed role on top of this one. */
    const char *const *forbidden;
    size_t n_forbidden;
};

const struct kk_role_profile *kk_role_profile(enum kk_role role);

extern const struct kk_role_profile kk_profile_supervisor;
extern const struct kk_role_profile kk_profile_api;
extern const struct kk_role_profile kk_profile_cgd;
extern const struct kk_role_profile kk_profile_netd;
extern const struct kk_role_profile kk_profile_ctrd;
extern const struct kk_role_profile kk_profile_fetchd;

/* Shared groups (syscall_groups.c). */
extern const struct kk_sys_group kk_group_lifecycle;
extern const struct kk_sys_group kk_group_descriptor_io;
extern const struct kk_sys_group kk_group_fstat;
extern const struct kk_sys_group kk_group_memory_noexec;
extern const struct kk_sys_group kk_group_clock;
extern const struct kk_sys_group kk_group_libc_locks;
extern const struct kk_sys_group kk_group_self;
extern const struct kk_sys_group kk_group_poll;
extern const struct kk_sys_group kk_group_epoll;
extern const struct kk_sys_group kk_group_ipc_messages;
extern const struct kk_sys_group kk_group_unix_sockets;
/* The sanitizer runtime's needs; n_rules is 0 outside sanitizer builds. */
extern const struct kk_sys_group kk_group_sanitizer_runtime;

extern const char *const kk_forbidden_everywhere[];
extern const size_t kk_forbidden_everywhere_count;

/* Whether the role's allow-list allows this system call in any rule, conditional or not (rules
 * that only answer an error do not count). The sanitizer block is not part of a profile. */
bool kk_profile_allows_syscall(const struct kk_role_profile *profile, int nr);

/* Build (not load) the role's seccomp filter for the native architecture only, so that i386 and
 * x32 system calls hit the kill action. The caller releases it with seccomp_release. */
int kk_sandbox_build_filter(enum kk_role role, scmp_filter_ctx *out, struct kk_err *err);

/* The stages of kk_sandbox_enter, in order; probes call them one by one to prove each holds on
 * its own (e.g. setuid(0) fails with EPERM before any filter is there to kill it). */
int kk_sandbox_drop_identity(enum kk_role role, uid_t uid, gid_t gid, struct kk_err *err);
int kk_sandbox_prove_drop(enum kk_role role, uid_t uid, gid_t gid, struct kk_err *err);
int kk_sandbox_limit(enum kk_role role, struct kk_err *err);
int kk_sandbox_load_filter(enum kk_role role, struct kk_err *err);

/* Find a user's uid, a group's gid, or both, by name (NSS, before any drop); messages name the
 * missing account and the fix. kk_role_resolve_ids is kk_resolve_account with the role's names. */
int kk_account_uid(const char *user, uid_t *uid, struct kk_err *err);
int kk_account_gid(const char *group, gid_t *gid, struct kk_err *err);
int kk_resolve_account(const char *user, const char *group, uid_t *uid, gid_t *gid, struct kk_err *err);

#endif
