/* kukepause: PID 1 of every cell's root container. It holds the cell's namespaces open, reaps
 * zombies re-parented to it, and exits 0 on SIGTERM or SIGINT. Static, no allocation, no output. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    /* Block first so that no signal can arrive between the check and the wait. */
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return 70;
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&set, &info);
        if (sig < 0) {
            if (errno == EINTR)
                continue;
            return 70;
        }
        if (sig == SIGTERM || sig == SIGINT)
            return 0;
        /* SIGCHLD: several children may have exited behind one signal. */
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ;
    }
}
