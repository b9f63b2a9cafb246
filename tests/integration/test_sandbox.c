/* Sandbox tests: for each sandboxed role, run tests/tools/sandbox_probe and check that what the role
 * must not do dies of SIGSYS, that what it needs works, that the kernel itself refuses to undo the
 * drop (probes with --no-filter), and that /proc/self/status after entering shows the designed
 * Uid, Gid, capability sets, NoNewPrivs 1 and Seccomp 2.
 *
 * Needs root: it enters the roles as the real helpers do. It creates the system accounts with
 * kk_accounts_ensure (kukeon, kukeon-cgd, kukeon-ctrd, kukeon-fetchd) and leaves them: they are exactly the
 * accounts `kuke init` creates, and removing them could pull them from under an installed kukeon.
 * Everything else it makes (probe directories, a test cgroup named with KUKEON_TEST_PREFIX) is
 * removed at the end, and by the harness's cleanup after a crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "security/profile.h"

extern char **environ;

/* What a probe must end with: an exit status, or death by a signal. */
struct outcome {
    int exit_code; /* when signal == 0 */
    int signal;
};
#define WORKS                                                                                                \
    {                                                                                                        \
        .exit_code = 0                                                                                       \
    }
#define KILLED                                                                                               \
    {                                                                                                        \
        .signal = SIGSYS                                                                                     \
    }
#define ABORTS                                                                                               \
    {                                                                                                        \
        .signal = SIGABRT                                                                                    \
    }
#define FAILS_EPERM                                                                                          \
    {                                                                                                        \
        .exit_code = 10                                                                                      \
    }
#define FAILS_ENOTTY                                                                                         \
    {                                                                                                        \
        .exit_code = 13                                                                                      \
    }
#define FAILS_ENOSYS                                                                                         \
    {                                                                                                        \
        .exit_code = 14                                                                                      \
    }
#define FAILS_EAFNOSUPPORT                                                                                   \
    {                                                                                                        \
        .exit_code = 16                                                                                      \
    }
/* A sanitizer report ends the process with the sanitizer's exit status; elsewhere the probe does
 * nothing. Under the sanitizers the filters carry the runtime's read-only opens (see
 * syscall_groups.c), so cgd's plain read-only openat works there. */
#if KK_SANITIZER_BUILD
#define SANITIZER_REPORTS                                                                                    \
    {                                                                                                        \
        .exit_code = 1                                                                                       \
    }
#define CGD_OPENAT_RDONLY WORKS
#else
#define SANITIZER_REPORTS WORKS
#define CGD_OPENAT_RDONLY KILLED
#endif

struct probe_case {
    enum kk_role role;
    const char *probe;
    bool no_filter; /* stop before the filter: the kernel's own answer */
    struct outcome want;
};

/* clang-format off */
/* Every sandboxed role is killed for these: the forbidden-everywhere table, one probe per kind. */
#define FORBIDDEN_EVERYWHERE(r)                                                                     \
    {r, "socket_inet", false, KILLED},      {r, "socket_inet6", false, KILLED},                     \
    {r, "socket_packet", false, KILLED},    {r, "socket_netlink_audit", false, KILLED},             \
    {r, "chmod", false, KILLED},            {r, "clone_newns", false, KILLED},                      \
    {r, "unshare_user", false, KILLED},     {r, "setns_any", false, KILLED},                        \
    {r, "mount", false, KILLED},            {r, "ptrace", false, KILLED},                           \
    {r, "bpf", false, KILLED},              {r, "keyctl", false, KILLED},                           \
    {r, "io_uring_setup", false, KILLED},   {r, "userfaultfd", false, KILLED},                      \
    {r, "init_module", false, KILLED},      {r, "kexec_load", false, KILLED},                       \
    {r, "setuid0", false, KILLED},          {r, "setgid0", false, KILLED},                          \
    {r, "capset_raise", false, KILLED},     {r, "kill_other", false, KILLED},                       \
    {r, "tgkill_other", false, KILLED},     {r, "ioctl_other", false, KILLED},                      \
    {r, "abi_i386", false, KILLED},         {r, "abi_x32", false, KILLED}

/* ...and these work for every sandboxed role. */
#define NEEDED_EVERYWHERE(r)                                                                        \
    {r, "write_stdout", false, WORKS},      {r, "ipc", false, WORKS},                               \
    {r, "ioctl_tty", false, FAILS_ENOTTY},  {r, "abort", false, ABORTS},                            \
    {r, "sanitizer_report", false, WORKS},  {r, "sanitizer_error", false, SANITIZER_REPORTS},       \
    {r, "capset_raise", true, FAILS_EPERM}
/* clang-format on */

static const struct probe_case cases[] = {
    /* api: a JSON-RPC server with its state in files, and nothing else. */
    NEEDED_EVERYWHERE(KK_ROLE_API),
    {KK_ROLE_API, "socket_unix", false, WORKS},
    {KK_ROLE_API, "unix_server", false, WORKS},
    {KK_ROLE_API, "file_state", false, WORKS},
    {KK_ROLE_API, "openat", false, WORKS},
    {KK_ROLE_API, "openat_write", false, WORKS},
    FORBIDDEN_EVERYWHERE(KK_ROLE_API),
    {KK_ROLE_API, "execve", false, KILLED},
    {KK_ROLE_API, "fork", false, KILLED},
    {KK_ROLE_API, "thread", false, WORKS},
    {KK_ROLE_API, "clone3", false, FAILS_ENOSYS},
    {KK_ROLE_API, "unshare_net", false, KILLED},
    {KK_ROLE_API, "netlink", false, KILLED},
    {KK_ROLE_API, "openat2_beneath", false, KILLED},
    {KK_ROLE_API, "mmap_exec", false, KILLED},
    {KK_ROLE_API, "mprotect_exec", false, KILLED},
    {KK_ROLE_API, "setuid0", true, FAILS_EPERM},
    {KK_ROLE_API, "setgid0", true, FAILS_EPERM},

    /* cgd: openat2 beneath its root and its socketpair; no socket, no other open. */
    NEEDED_EVERYWHERE(KK_ROLE_CGD),
    {KK_ROLE_CGD, "openat2_beneath", false, WORKS},
    FORBIDDEN_EVERYWHERE(KK_ROLE_CGD),
    {KK_ROLE_CGD, "socket_unix", false, KILLED},
    {KK_ROLE_CGD, "unix_server", false, KILLED},
    {KK_ROLE_CGD, "openat", false, CGD_OPENAT_RDONLY},
    {KK_ROLE_CGD, "openat_write", false, KILLED},
    {KK_ROLE_CGD, "file_state", false, KILLED},
    {KK_ROLE_CGD, "unlink_file", false, KILLED},
    {KK_ROLE_CGD, "execve", false, KILLED},
    {KK_ROLE_CGD, "fork", false, KILLED},
    {KK_ROLE_CGD, "thread", false, KILLED},
    {KK_ROLE_CGD, "clone3", false, KILLED},
    {KK_ROLE_CGD, "unshare_net", false, KILLED},
    {KK_ROLE_CGD, "netlink", false, KILLED},
    {KK_ROLE_CGD, "mmap_exec", false, KILLED},
    {KK_ROLE_CGD, "mprotect_exec", false, KILLED},
    {KK_ROLE_CGD, "setuid0", true, FAILS_EPERM},
    {KK_ROLE_CGD, "setgid0", true, FAILS_EPERM},

    /* netd: netlink, network namespaces and their pins, fork and exec of the plugins. */
    NEEDED_EVERYWHERE(KK_ROLE_NETD),
    {KK_ROLE_NETD, "socket_unix", false, WORKS},
    {KK_ROLE_NETD, "netlink", false, WORKS},
    {KK_ROLE_NETD, "unshare_net", false, WORKS},
    {KK_ROLE_NETD, "netns_pin", false, WORKS},
    {KK_ROLE_NETD, "fork", false, WORKS},
    {KK_ROLE_NETD, "thread", false, WORKS},
    {KK_ROLE_NETD, "execve", false, WORKS},
    {KK_ROLE_NETD, "clone3", false, FAILS_ENOSYS},
    {KK_ROLE_NETD, "mmap_exec", false, WORKS},
    {KK_ROLE_NETD, "openat", false, WORKS},
    FORBIDDEN_EVERYWHERE(KK_ROLE_NETD),
    {KK_ROLE_NETD, "openat2_beneath", false, KILLED},

    /* ctrd: threads, unix sockets, read-only files; nothing that changes the filesystem. */
    NEEDED_EVERYWHERE(KK_ROLE_CTRD),
    {KK_ROLE_CTRD, "socket_unix", false, WORKS},
    {KK_ROLE_CTRD, "thread", false, WORKS},
    {KK_ROLE_CTRD, "clone3", false, FAILS_ENOSYS},
    {KK_ROLE_CTRD, "openat", false, WORKS},
    {KK_ROLE_CTRD, "grpc", false, WORKS},
    FORBIDDEN_EVERYWHERE(KK_ROLE_CTRD),
    {KK_ROLE_CTRD, "openat_write", false, KILLED},
    {KK_ROLE_CTRD, "file_state", false, KILLED},
    {KK_ROLE_CTRD, "openat2_beneath", false, KILLED},
    {KK_ROLE_CTRD, "unlink_file", false, KILLED},
    {KK_ROLE_CTRD, "execve", false, KILLED},
    {KK_ROLE_CTRD, "fork", false, KILLED},
    {KK_ROLE_CTRD, "unshare_net", false, KILLED},
    {KK_ROLE_CTRD, "netlink", false, KILLED},
    {KK_ROLE_CTRD, "mmap_exec", false, KILLED},
    {KK_ROLE_CTRD, "mprotect_exec", false, KILLED},
    {KK_ROLE_CTRD, "setuid0", true, FAILS_EPERM},
    {KK_ROLE_CTRD, "setgid0", true, FAILS_EPERM},

    /* fetchd: out to the network (IPv4, IPv6, the resolver), threads, the one file it is handed;
     * nothing that serves, no Unix socket of its own (containerd's, the API's), no file opened for
     * writing. Not FORBIDDEN_EVERYWHERE: inet sockets are its job; the rest of that list is here. */
    NEEDED_EVERYWHERE(KK_ROLE_FETCHD),
    {KK_ROLE_FETCHD, "socket_inet", false, WORKS},
    {KK_ROLE_FETCHD, "socket_inet6", false, WORKS},
    {KK_ROLE_FETCHD, "inet_connect", false, WORKS},
    {KK_ROLE_FETCHD, "resolve", false, WORKS},
    {KK_ROLE_FETCHD, "thread", false, WORKS},
    {KK_ROLE_FETCHD, "clone3", false, FAILS_ENOSYS},
    {KK_ROLE_FETCHD, "socketpair", false, WORKS},
    {KK_ROLE_FETCHD, "openat", false, WORKS},
    {KK_ROLE_FETCHD, "write_handed", false, WORKS},
    {KK_ROLE_FETCHD, "inet_bind", false, KILLED},
    {KK_ROLE_FETCHD, "inet_listen", false, KILLED},
    {KK_ROLE_FETCHD, "unix_connect", false, FAILS_EAFNOSUPPORT},
    {KK_ROLE_FETCHD, "socket_unix", false, FAILS_EAFNOSUPPORT},
    {KK_ROLE_FETCHD, "socket_netlink_route", false, FAILS_EAFNOSUPPORT},
    {KK_ROLE_FETCHD, "socket_netlink_audit", false, FAILS_EAFNOSUPPORT},
    {KK_ROLE_FETCHD, "socket_packet", false, KILLED},
    {KK_ROLE_FETCHD, "openat_write", false, KILLED},
    {KK_ROLE_FETCHD, "file_state", false, KILLED},
    {KK_ROLE_FETCHD, "openat2_beneath", false, KILLED},
    {KK_ROLE_FETCHD, "unlink_file", false, KILLED},
    {KK_ROLE_FETCHD, "chmod", false, KILLED},
    {KK_ROLE_FETCHD, "execve", false, KILLED},
    {KK_ROLE_FETCHD, "fork", false, KILLED},
    {KK_ROLE_FETCHD, "clone_newns", false, KILLED},
    {KK_ROLE_FETCHD, "unshare_user", false, KILLED},
    {KK_ROLE_FETCHD, "unshare_net", false, KILLED},
    {KK_ROLE_FETCHD, "setns_any", false, KILLED},
    {KK_ROLE_FETCHD, "mount", false, KILLED},
    {KK_ROLE_FETCHD, "ptrace", false, KILLED},
    {KK_ROLE_FETCHD, "bpf", false, KILLED},
    {KK_ROLE_FETCHD, "keyctl", false, KILLED},
    {KK_ROLE_FETCHD, "io_uring_setup", false, KILLED},
    {KK_ROLE_FETCHD, "userfaultfd", false, KILLED},
    {KK_ROLE_FETCHD, "init_module", false, KILLED},
    {KK_ROLE_FETCHD, "kexec_load", false, KILLED},
    {KK_ROLE_FETCHD, "setuid0", false, KILLED},
    {KK_ROLE_FETCHD, "setgid0", false, KILLED},
    {KK_ROLE_FETCHD, "capset_raise", false, KILLED},
    {KK_ROLE_FETCHD, "kill_other", false, KILLED},
    {KK_ROLE_FETCHD, "tgkill_other", false, KILLED},
    /* FIONREAD is glibc's DNS client's (security/profile_fetchd.c); TIOCSTI stays out. */
    {KK_ROLE_FETCHD, "ioctl_other", false, WORKS},
    {KK_ROLE_FETCHD, "ioctl_tiocsti", false, KILLED},
    {KK_ROLE_FETCHD, "abi_i386", false, KILLED},
    {KK_ROLE_FETCHD, "abi_x32", false, KILLED},
    {KK_ROLE_FETCHD, "mmap_exec", false, KILLED},
    {KK_ROLE_FETCHD, "mprotect_exec", false, KILLED},
    {KK_ROLE_FETCHD, "setuid0", true, FAILS_EPERM},
    {KK_ROLE_FETCHD, "setgid0", true, FAILS_EPERM},
};

static const enum kk_role sandboxed_roles[] = {KK_ROLE_API, KK_ROLE_CGD, KK_ROLE_NETD, KK_ROLE_CTRD,
                                               KK_ROLE_FETCHD};

/* Per-run state, set up once. */
static struct {
    const char *skip_reason; /* non-NULL: every test skips, loudly */
    char probe_path[512];
    uid_t uid[KK_ROLE_COUNT];
    gid_t gid[KK_ROLE_COUNT];
    char dir[KK_ROLE_COUNT][512]; /* KUKEON_PROBE_DIR of each role, owned by its user */
    char base[512];               /* the temporary directory holding them */
    char cgroup[512];             /* the test cgroup given to cgd, when cgroup v2 is there */
} run;

#define REQUIRE_RUN()                                                                                        \
    do {                                                                                                     \
        if (run.skip_reason != NULL) {                                                                       \
            printf("# SKIP %s\n", run.skip_reason);                                                          \
            skip();                                                                                          \
        }                                                                                                    \
    } while (0)

/* The cgroup v2 mount, from /proc/self/mountinfo (it is /sys/fs/cgroup/unified on hybrid hosts). */
static bool find_cgroup2(char *out, size_t size)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (f == NULL)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        char *sep = strstr(line, " - cgroup2 ");
        if (sep == NULL)
            continue;
        /* Fields: id parent major:minor root mount-point ... */
        char *save = NULL;
        char *field = strtok_r(line, " ", &save);
        for (int i = 0; field != NULL && i < 4; i++)
            field = strtok_r(NULL, " ", &save);
        found = field != NULL && kk_strlcpy(out, field, size) == 0;
    }
    fclose(f);
    return found;
}

static int make_role_dir(enum kk_role role)
{
    char *dir = run.dir[role];
    if (kk_snprintf(dir, sizeof(run.dir[role]), NULL, "dir", "%s/%s", run.base, kk_role_name(role)) < 0 ||
        mkdir(dir, 0700) < 0 || chown(dir, run.uid[role], run.gid[role]) < 0)
        return -1;
    return 0;
}

/* cgd's directory is a real cgroup, delegated by chown as the supervisor will do it, when the host
 * has cgroup v2; else a plain directory (openat2 behaves the same). */
static void make_cgd_cgroup(void)
{
    char mount[256];
    const char *prefix = getenv("KUKEON_TEST_PREFIX");
    if (!find_cgroup2(mount, sizeof(mount)) || prefix == NULL || prefix[0] == '\0')
        return;
    if (kk_snprintf(run.cgroup, sizeof(run.cgroup), NULL, "cgroup", "%s/%s-sandbox-cgd", mount, prefix) < 0)
        return;
    if (mkdir(run.cgroup, 0755) < 0 || chown(run.cgroup, run.uid[KK_ROLE_CGD], run.gid[KK_ROLE_CGD]) < 0) {
        printf("# cgroup %s not usable (%s); cgd probes use a plain directory\n", run.cgroup,
               strerror(errno));
        rmdir(run.cgroup);
        run.cgroup[0] = '\0';
        return;
    }
    kk_strlcpy(run.dir[KK_ROLE_CGD], run.cgroup, sizeof(run.dir[KK_ROLE_CGD]));
}

static int group_setup(void **state)
{
    if (geteuid() != 0) {
        run.skip_reason = "sandbox tests need root (they drop to each role's account); run 'sudo make check'";
        return 0;
    }
    const char *build = getenv("BUILD");
    if (build == NULL ||
        kk_snprintf(run.probe_path, sizeof(run.probe_path), NULL, "probe", "%s/tests/tools/sandbox_probe",
                    build) < 0 ||
        access(run.probe_path, X_OK) != 0) {
        run.skip_reason =
            "BUILD is not set or $BUILD/tests/tools/sandbox_probe is missing; run through tests/run.sh";
        return 0;
    }
    struct kk_err err = {0};
    if (kk_accounts_ensure(&err) < 0) {
        fprintf(stderr, "creating the system accounts: %s\n", err.msg);
        return -1;
    }
    for (size_t i = 0; i < KK_ARRAY_SIZE(sandboxed_roles); i++) {
        enum kk_role r = sandboxed_roles[i];
        if (kk_role_resolve_ids(r, &run.uid[r], &run.gid[r], &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return -1;
        }
    }
    const char *tmp = getenv("KUKEON_TEST_TMP");
    if (kk_snprintf(run.base, sizeof(run.base), NULL, "dir", "%s/sandbox.XXXXXX",
                    tmp != NULL && tmp[0] != '\0' ? tmp : "/var/tmp") < 0 ||
        mkdtemp(run.base) == NULL || chmod(run.base, 0711) < 0)
        return -1;
    for (size_t i = 0; i < KK_ARRAY_SIZE(sandboxed_roles); i++)
        if (make_role_dir(sandboxed_roles[i]) < 0)
            return -1;
    make_cgd_cgroup();
    return 0;
}

static void remove_tree(const char *path)
{
    /* Only what this test made, and nothing that could be a mount (the netns pin is unmounted by the
     * probe itself, and the harness unmounts anything beneath its directory). */
    pid_t pid;
    char *const argv[] = {"rm", "-rf", "--one-file-system", (char *)path, NULL};
    if (posix_spawn(&pid, "/bin/rm", NULL, NULL, argv, environ) == 0)
        waitpid(pid, NULL, 0);
}

static int group_teardown(void **state)
{
    if (run.cgroup[0] != '\0')
        rmdir(run.cgroup);
    if (run.base[0] != '\0')
        remove_tree(run.base);
    return 0;
}

struct probe_result {
    int status;
    char out[8192];
    char err[4096];
};

static void read_all(int fd, char *buf, size_t size)
{
    size_t len = 0;
    for (;;) {
        char chunk[1024];
        ssize_t n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        size_t keep = (size_t)n < size - 1 - len ? (size_t)n : size - 1 - len;
        memcpy(buf + len, chunk, keep);
        len += keep;
    }
    buf[len] = '\0';
}

/* Run the probe with stdout and stderr captured (stderr to a file, so neither pipe can fill). */
static void run_probe(enum kk_role role, const char *probe, bool no_filter, struct probe_result *res)
{
    char dir_env[600], ctrd_env[600];
    const char *sock = getenv("KUKEON_TEST_CONTAINERD_SOCKET");
    assert_int_equal(kk_snprintf(dir_env, sizeof(dir_env), NULL, "env", "KUKEON_PROBE_DIR=%s", run.dir[role]),
                     0);
    assert_int_equal(kk_snprintf(ctrd_env, sizeof(ctrd_env), NULL, "env", "KUKEON_PROBE_CONTAINERD=%s",
                                 sock != NULL ? sock : ""),
                     0);
    char *envp[] = {dir_env, ctrd_env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    char *argv[6];
    int argc = 0;
    argv[argc++] = "sandbox_probe";
    if (no_filter)
        argv[argc++] = "--no-filter";
    argv[argc++] = (char *)kk_role_name(role);
    argv[argc++] = (char *)probe;
    argv[argc] = NULL;

    int out[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    FILE *errf = tmpfile();
    assert_non_null(errf);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, fileno(errf), STDERR_FILENO);
    pid_t pid;
    int rc = posix_spawn(&pid, run.probe_path, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    assert_int_equal(rc, 0);
    read_all(out[0], res->out, sizeof(res->out));
    close(out[0]);
    while (waitpid(pid, &res->status, 0) < 0)
        assert_int_equal(errno, EINTR);
    rewind(errf);
    size_t n = fread(res->err, 1, sizeof(res->err) - 1, errf);
    res->err[n] = '\0';
    fclose(errf);
}

static void describe(char *buf, size_t size, int status)
{
    if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by %s",
                 sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?");
    else
        snprintf(buf, size, "exit %d", WEXITSTATUS(status));
}

static void test_probe(void **state)
{
    REQUIRE_RUN();
    const struct probe_case *c = *state;
    if (strcmp(c->probe, "grpc") == 0 && getenv("KUKEON_TEST_CONTAINERD_SOCKET") == NULL) {
        printf("# SKIP ctrd grpc: no private containerd (KUKEON_TEST_CONTAINERD_SOCKET unset; %s)\n",
               getenv("KUKEON_TEST_SKIP_REASON") != NULL ? getenv("KUKEON_TEST_SKIP_REASON")
                                                         : "run through tests/run.sh");
        skip();
    }
    struct probe_result *res = malloc(sizeof(*res));
    assert_non_null(res);
    run_probe(c->role, c->probe, c->no_filter, res);
    bool ok = c->want.signal != 0 ? (WIFSIGNALED(res->status) && WTERMSIG(res->status) == c->want.signal)
                                  : (WIFEXITED(res->status) && WEXITSTATUS(res->status) == c->want.exit_code);
    if (!ok) {
        char got[64], want[64];
        describe(got, sizeof(got), res->status);
        if (c->want.signal != 0)
            snprintf(want, sizeof(want), "killed by %s", sigabbrev_np(c->want.signal));
        else
            snprintf(want, sizeof(want), "exit %d", c->want.exit_code);
        print_error("%s %s%s: %s, expected %s; stderr: %s\n", kk_role_name(c->role),
                    c->no_filter ? "--no-filter " : "", c->probe, got, want, res->err);
    }
    free(res);
    assert_true(ok);
}

/* The value of a /proc/self/status field in the probe's output ("Uid:\t1\t1\t1\t1" -> "1\t1\t1\t1"). */
static const char *status_field(const char *out, const char *key, char *buf, size_t size)
{
    size_t klen = strlen(key);
    for (const char *line = out; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        if (len > klen + 1 && strncmp(line, key, klen) == 0 && line[klen] == ':' && line[klen + 1] == '\t') {
            size_t vlen = len - klen - 2;
            if (vlen >= size)
                vlen = size - 1;
            memcpy(buf, line + klen + 2, vlen);
            buf[vlen] = '\0';
            return buf;
        }
        line = end != NULL ? end + 1 : NULL;
    }
    return NULL;
}

static void test_status(void **state)
{
    REQUIRE_RUN();
    enum kk_role role = *(const enum kk_role *)*state;
    const struct kk_role_profile *p = kk_role_profile(role);
    struct probe_result *res = malloc(sizeof(*res));
    assert_non_null(res);
    run_probe(role, "status", false, res);
    if (!WIFEXITED(res->status) || WEXITSTATUS(res->status) != 0)
        print_error("status probe of %s failed; stderr: %s\n", p->name, res->err);
    assert_true(WIFEXITED(res->status) && WEXITSTATUS(res->status) == 0);

    char want[128], buf[256];
    uint64_t caps = 0;
    for (size_t i = 0; i < p->n_caps; i++)
        caps |= 1ULL << p->caps[i];
    char capmask[32];
    snprintf(capmask, sizeof(capmask), "%016llx", (unsigned long long)caps);
    struct {
        const char *key;
        const char *want;
    } fields[] = {
        {"Uid", NULL},       {"Gid", NULL},       {"CapInh", "0000000000000000"}, {"CapPrm", capmask},
        {"CapEff", capmask}, {"CapBnd", capmask}, {"CapAmb", "0000000000000000"}, {"NoNewPrivs", "1"},
        {"Seccomp", "2"},
    };
    for (size_t i = 0; i < KK_ARRAY_SIZE(fields); i++) {
        if (strcmp(fields[i].key, "Uid") == 0 || strcmp(fields[i].key, "Gid") == 0) {
            unsigned id =
                strcmp(fields[i].key, "Uid") == 0 ? (unsigned)run.uid[role] : (unsigned)run.gid[role];
            snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", id, id, id, id);
            fields[i].want = want;
        }
        const char *got = status_field(res->out, fields[i].key, buf, sizeof(buf));
        if (got == NULL || strcmp(got, fields[i].want) != 0)
            print_error("%s: %s is \"%s\", expected \"%s\"\n", p->name, fields[i].key,
                        got != NULL ? got : "(missing)", fields[i].want);
        assert_non_null(got);
        assert_string_equal(got, fields[i].want);
    }
    /* No supplementary groups: the field is empty (possibly a lone space). */
    const char *groups = status_field(res->out, "Groups", buf, sizeof(buf));
    assert_non_null(groups);
    assert_true(groups[strspn(groups, " ")] == '\0');
    free(res);
}

int main(void)
{
    enum { N_STATUS = KK_ARRAY_SIZE(sandboxed_roles), N_CASES = KK_ARRAY_SIZE(cases) };
    static struct CMUnitTest tests[N_STATUS + N_CASES];
    static char names[N_STATUS + N_CASES][96];
    size_t n = 0;
    for (size_t i = 0; i < N_STATUS; i++, n++) {
        snprintf(names[n], sizeof(names[n]), "%s: /proc/self/status as designed",
                 kk_role_name(sandboxed_roles[i]));
        tests[n] = (struct CMUnitTest){names[n], test_status, NULL, NULL, (void *)&sandboxed_roles[i]};
    }
    for (size_t i = 0; i < N_CASES; i++, n++) {
        const struct probe_case *c = &cases[i];
        const char *what = c->want.signal == SIGSYS  ? "killed"
                           : c->want.signal != 0     ? "aborts"
                           : c->want.exit_code == 0  ? "works"
                           : c->want.exit_code == 10 ? "refused (EPERM)"
                           : c->want.exit_code == 13 ? "told ENOTTY"
                           : c->want.exit_code == 14 ? "told ENOSYS"
                           : c->want.exit_code == 16 ? "refused (EAFNOSUPPORT)"
                                                     : "sanitizer report";
        snprintf(names[n], sizeof(names[n]), "%s: %s%s %s", kk_role_name(c->role), c->probe,
                 c->no_filter ? " (no filter)" : "", what);
        tests[n] = (struct CMUnitTest){names[n], test_probe, NULL, NULL, (void *)c};
    }
    return _cmocka_run_group_tests("sandbox", tests, n, group_setup, group_teardown);
}
