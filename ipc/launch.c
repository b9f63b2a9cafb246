/* Starting helpers (see launch.h). */
#include "ipc/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int kk_config_memfd(const struct kk_config *cfg, struct kk_err *err)
{
    char buf[8192];
    int n = kk_config_serialize(cfg, buf, sizeof(buf), err);
    if (n < 0)
        return -1;
    int fd = memfd_create("kukeon-config", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating the configuration memfd");
    /* Sealed: no child can change what the others read. */
    if (write(fd, buf, (size_t)n) != n ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
        close(fd);
        return kk_error(err, KK_ERR_INTERNAL, errno, "sealing the configuration memfd");
    }
    return fd;
}

pid_t kk_spawn_with_fds(const char *path, const char *const argv[], const int *fds, int nfds, int *log_fd,
                        struct kk_err *err)
{
    if (nfds > 8)
        return kk_error(err, KK_ERR_INTERNAL, 0, "too many descriptors for %s", path);
    int pipefd[2] = {-1, -1};
    if (log_fd != NULL && pipe2(pipefd, O_CLOEXEC) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating the log pipe of %s", path);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        if (log_fd != NULL) {
            close(pipefd[0]);
            close(pipefd[1]);
        }
        return kk_error(err, KK_ERR_INTERNAL, e, "forking %s", path);
    }
    if (pid == 0) {
        /* The child dies with its parent, so a killed parent leaves no orphaned helper. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* Move the sources out of the way first: a source may sit on a target number. */
        int high[8];
        for (int i = 0; i < nfds; i++) {
            high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64);
            if (high[i] < 0)
                _exit(126);
        }
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull < 0 || dup2(devnull, 0) < 0)
            _exit(126);
        if (log_fd != NULL && (dup2(pipefd[1], 1) < 0 || dup2(pipefd[1], 2) < 0))
            _exit(126);
        for (int i = 0; i < nfds; i++)
            if (dup2(high[i], 3 + i) < 0)
                _exit(126);
        /* Everything else is closed, whatever its close-on-exec flag says. */
        if (syscall(SYS_close_range, 3 + nfds, ~0U, 0) < 0)
            for (int fd = 3 + nfds; fd < 1024; fd++)
                close(fd);
        static char *const empty_env[] = {NULL};
        execve(path, (char *const *)argv, empty_env);
        _exit(127);
    }
    if (log_fd != NULL) {
        close(pipefd[1]);
        fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
        *log_fd = pipefd[0];
    }
    return pid;
}

int kk_helper_launch(const char *path, int config_fd, int broker_fd, bool capture_log, struct kk_helper_proc *out,
                     struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    out->sock = out->audit_fd = out->log_fd = -1;
    int sp[2], audit[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating the socketpair of %s", path);
    if (pipe2(audit, O_CLOEXEC) < 0) {
        int e = errno;
        close(sp[0]);
        close(sp[1]);
        return kk_error(err, KK_ERR_INTERNAL, e, "creating the audit pipe of %s", path);
    }
    char name[64];
    char copy[4096];
    snprintf(copy, sizeof(copy), "%s", path);
    snprintf(name, sizeof(name), "%s", basename(copy));
    const char *const argv[] = {name, NULL};
    int fds[4] = {sp[1], config_fd, audit[1], broker_fd};
    pid_t pid = kk_spawn_with_fds(path, argv, fds, broker_fd >= 0 ? 4 : 3, capture_log ? &out->log_fd : NULL, err);
    close(sp[1]);
    close(audit[1]);
    if (pid < 0) {
        close(sp[0]);
        close(audit[0]);
        return -1;
    }
    fcntl(audit[0], F_SETFL, O_NONBLOCK);
    out->pid = pid;
    out->sock = sp[0];
    out->audit_fd = audit[0];
    return 0;
}

int kk_helper_stop(struct kk_helper_proc *p, int timeout_ms)
{
    if (p->sock >= 0)
        close(p->sock);
    p->sock = -1;
    int status = -1;
    if (p->pid > 0) {
        for (int waited = 0;; waited += 10) {
            pid_t r = waitpid(p->pid, &status, WNOHANG);
            if (r == p->pid)
                break;
            if (r < 0) {
                status = -1;
                break;
            }
            if (waited >= timeout_ms) {
                kill(p->pid, SIGKILL);
                waitpid(p->pid, &status, 0);
                break;
            }
            struct timespec ts = {0, 10 * 1000000};
            nanosleep(&ts, NULL);
        }
        p->pid = 0;
    }
    if (p->audit_fd >= 0)
        close(p->audit_fd);
    if (p->log_fd >= 0)
        close(p->log_fd);
    p->audit_fd = p->log_fd = -1;
    return status;
}
