/* The system accounts the roles run as, created with the distribution's groupadd/useradd (they know
 * the host's uid ranges, /etc/login.defs, shadow files and nscd; hand-editing /etc/passwd would
 * not). `kuke init` calls kk_accounts_ensure. */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "security/profile.h"

struct kk_account {
    const char *user;
    const char *group;
    const char *comment;
};

/* kukeon: the API worker, and the group whose members may use the CLI. kukeon-cgd, kukeon-ctrd and
 * kukeon-fetchd each get a group of their own so that membership in one grants nothing of the other;
 * kukeon-fetchd above all must not be in group kukeon (security/profile_fetchd.c). */
static const struct kk_account kk_accounts[] = {
    {"kukeon", "kukeon", "Kukeon API worker"},
    {"kukeon-cgd", "kukeon-cgd", "Kukeon cgroup helper"},
    {"kukeon-ctrd", "kukeon-ctrd", "Kukeon containerd helper"},
    {"kukeon-fetchd", "kukeon-fetchd", "Kukeon registry fetch helper"},
};

/* useradd and groupadd exit with 9 when the name is taken: someone created it between our lookup
 * and the command, which is what we wanted. */
#define KK_SHADOW_EXIT_NAME_IN_USE 9
#define KK_TOOL_OUTPUT_MAX         512

static const char *find_tool(const char *name, char *buf, size_t size)
{
    static const char *const dirs[] = {"/usr/sbin", "/sbin", "/usr/bin", "/bin"};
    for (size_t i = 0; i < KK_ARRAY_SIZE(dirs); i++) {
        if (kk_snprintf(buf, size, NULL, "tool path", "%s/%s", dirs[i], name) < 0)
            continue;
        if (access(buf, X_OK) == 0)
            return buf;
    }
    return NULL;
}

/* Run a shadow-utils tool with a fixed argv and environment; its stderr (bounded) goes into the
 * error message. Returns its exit status, or -1 with err set when it could not run. */
static int run_tool(char *const argv[], char *out, size_t out_size, struct kk_err *err)
{
    char path[256];
    if (find_tool(argv[0], path, sizeof(path)) == NULL)
        return kk_error(err, KK_ERR_UNAVAILABLE, 0,
                        "%s not found in /usr/sbin, /sbin, /usr/bin or /bin; install the passwd package",
                        argv[0]);
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating a pipe for %s", argv[0]);
    _cleanup_close_ int rd = pipefd[0];
    _cleanup_close_ int wr = pipefd[1];
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "preparing to run %s", argv[0]);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, wr, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, wr, STDERR_FILENO);
    static char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, path, &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return kk_error(err, KK_ERR_INTERNAL, rc, "running %s", path);
    kk_closep(&wr);
    size_t len = 0;
    for (;;) {
        char chunk[256];
        ssize_t n = read(rd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        /* Keep the first bytes, drain the rest so the tool never blocks on a full pipe. */
        size_t keep = (size_t)n;
        if (keep > out_size - 1 - len)
            keep = out_size - 1 - len;
        memcpy(out + len, chunk, keep);
        len += keep;
    }
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
        len--;
    out[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (out[i] == '\n' || (unsigned char)out[i] < 0x20)
            out[i] = ' ';
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return kk_error(err, KK_ERR_INTERNAL, errno, "waiting for %s", path);
    }
    if (!WIFEXITED(status))
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s was killed by signal %d", path, WTERMSIG(status));
    return WEXITSTATUS(status);
}

static bool group_exists(const char *name)
{
    gid_t gid;
    return kk_account_gid(name, &gid, NULL) == 0;
}

static bool user_exists(const char *name)
{
    uid_t uid;
    return kk_account_uid(name, &uid, NULL) == 0;
}

static int ensure_group(const char *group, struct kk_err *err)
{
    if (group_exists(group))
        return 0;
    char *const argv[] = {"groupadd", "--system", (char *)group, NULL};
    char out[KK_TOOL_OUTPUT_MAX];
    int status = run_tool(argv, out, sizeof(out), err);
    if (status < 0)
        return -1;
    if ((status == 0 || status == KK_SHADOW_EXIT_NAME_IN_USE) && group_exists(group))
        return 0;
    return kk_error(err, KK_ERR_INTERNAL, 0, "groupadd --system %s failed (exit %d): %s", group, status, out);
}

static int ensure_user(const struct kk_account *a, struct kk_err *err)
{
    if (user_exists(a->user))
        return 0;
    /* A system account: uid from the system range, no home directory created (and /nonexistent
     * as its home, Debian's convention), no login shell, no password aging. */
    char *const argv[] = {"useradd",
                          "--system",
                          "--no-create-home",
                          "--home-dir",
                          "/nonexistent",
                          "--shell",
                          "/usr/sbin/nologin",
                          "--gid",
                          (char *)a->group,
                          "--comment",
                          (char *)a->comment,
                          (char *)a->user,
                          NULL};
    char out[KK_TOOL_OUTPUT_MAX];
    int status = run_tool(argv, out, sizeof(out), err);
    if (status < 0)
        return -1;
    if ((status == 0 || status == KK_SHADOW_EXIT_NAME_IN_USE) && user_exists(a->user))
        return 0;
    return kk_error(err, KK_ERR_INTERNAL, 0, "useradd --system %s failed (exit %d): %s", a->user, status,
                    out);
}

int kk_accounts_ensure(struct kk_err *err)
{
    bool all_there = true;
    for (size_t i = 0; i < KK_ARRAY_SIZE(kk_accounts); i++)
        all_there = all_there && group_exists(kk_accounts[i].group) && user_exists(kk_accounts[i].user);
    if (all_there)
        return 0;
    if (geteuid() != 0)
        return kk_error(err, KK_ERR_PERMISSION, 0,
                        "creating the system accounts kukeon, kukeon-cgd, kukeon-ctrd and kukeon-fetchd needs "
                        "root; run `sudo kuke init`");
    for (size_t i = 0; i < KK_ARRAY_SIZE(kk_accounts); i++) {
        if (ensure_group(kk_accounts[i].group, err) < 0 || ensure_user(&kk_accounts[i], err) < 0)
            return kk_error_wrap(err, "creating system account \"%s\"", kk_accounts[i].user);
    }
    return 0;
}
