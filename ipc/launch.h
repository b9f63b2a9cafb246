/* Starting a helper the one way every host of the group does it — the supervisor, kuke in-process
 * mode, and tests that play the API worker: fork + execve of the helper binary with its request
 * socket on fd 3, the sealed configuration memfd on fd 4 and its audit pipe on fd 5, an empty
 * environment and a fixed argv. */
#ifndef KUKEON_IPC_LAUNCH_H
#define KUKEON_IPC_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/config.h"
#include "common/err.h"

struct kk_helper_proc {
    pid_t pid;
    int sock;     /* the caller's end of the request socketpair */
    int audit_fd; /* read end of the helper's audit pipe (non-blocking) */
    int log_fd;   /* read end of the helper's stdout+stderr, or -1 when they were inherited */
};

/* Seal cfg into a memfd for children (close it when no longer needed). */
int kk_config_memfd(const struct kk_config *cfg, struct kk_err *err);

/* Spawn path (argv[0] = basename) with fds[0..nfds-1] at 3, 4, ...; stdin /dev/null; stdout and
 * stderr to a new pipe (*log_fd) or inherited when log_fd is NULL. The child gets
 * PR_SET_PDEATHSIG(SIGKILL) and has every other descriptor closed. Returns the pid or -1. */
pid_t kk_spawn_with_fds(const char *path, const char *const argv[], const int *fds, int nfds, int *log_fd,
                        struct kk_err *err);

/* Start a helper with a fresh socketpair and audit pipe. config_fd from kk_config_memfd. For
 * kuke-ctrd, broker_fd (else -1) is its end of the connection-broker socketpair, placed at fd 6
 * (ipc/broker.h). */
int kk_helper_launch(const char *path, int config_fd, int broker_fd, bool capture_log, struct kk_helper_proc *out,
                     struct kk_err *err);

/* Close our end of the socket (the helper then exits on its own), wait up to timeout_ms, then
 * SIGKILL. Returns the wait status, or -1. */
int kk_helper_stop(struct kk_helper_proc *p, int timeout_ms);

#endif
