/* sd_notify for the supervisor (see notify.h). The protocol is one AF_UNIX datagram of
 * "KEY=value\n" lines to the path in $NOTIFY_SOCKET ('@' = abstract namespace), sd_notify(3). */
#include "kukeond/notify.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "ipc/jsonrpc.h"

int kd_sd_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0')
        return 0;
    size_t n = strlen(path);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof(sa.sun_path)) {
        errno = EINVAL;
        return -1;
    }
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
        return -1;
    return 1;
}

static long kd_notify_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void kd_sd_notify_ready_async(const char *api_socket, int timeout_ms)
{
    const char *ns = getenv("NOTIFY_SOCKET");
    if (ns == NULL || ns[0] == '\0')
        return;
    pid_t supervisor = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return; /* parent (or fork failed: systemd's TimeoutStartSec then says so) */
    /* The supervisor blocks its signals for its signalfd: this child must die on a plain SIGTERM. */
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_UNBLOCK, &all, NULL);
    /* Ends with its supervisor: a notifier left behind would vouch for whatever serves the socket
     * next, under a MAINPID that is gone. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != supervisor)
        _exit(1);
    /* Ready means the API answers a Ping, not merely that the socket is bound: a client that
     * connects as soon as systemd says "started" must get an answer. */
    long deadline = kd_notify_now_ms() + timeout_ms;
    while (kd_notify_now_ms() < deadline) {
        struct kk_err err = {0};
        int fd = kk_jsonrpc_dial(api_socket, &err);
        if (fd >= 0) {
            json_t *res = NULL;
            int rc = kk_jsonrpc_call(fd, "KukeonV1.Ping", NULL, &res, 2000, &err);
            close(fd);
            json_decref(res);
            if (rc == 0) {
                char msg[256];
                snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%d\nSTATUS=serving the kukeonv1 API on %s",
                         (int)supervisor, api_socket);
                _exit(kd_sd_notify(msg) > 0 ? 0 : 1);
            }
        }
        if (getppid() != supervisor)
            _exit(1);
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
    _exit(1);
}
