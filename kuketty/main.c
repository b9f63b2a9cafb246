/* kuketty: the terminal relay of attachable containers (docs/terminals.md). kuke-ctrd makes it PID 1
 * of the container, bind-mounted read-only at /.kukeon/bin/kuketty, with the container's tty
 * directory of the run path at /run/kukeon/tty, and the workload's argv after "--". It
 *   - runs the workload on a new pseudo-terminal, in its own session;
 *   - appends everything the terminal prints to tty/capture, and never waits for anyone else: a
 *     client that cannot keep up is disconnected, the workload is never slowed;
 *   - serves tty/socket (0660; the directory's setgid group, kukeon) to attach clients, one after the
 *     other or several at once (ttyrelay.h);
 *   - reaps what is re-parented to it, passes SIGTERM/SIGINT/SIGHUP/SIGQUIT to the workload (SIGTERM
 *     also hangs up the terminal, so an interactive shell ends too) and exits with its status;
 *   - records that status in tty/exit ("exited N" or "signaled N") before it closes its clients, so
 *     that kuke run --rm can tell a clean exit from a failure once its attach ends.
 * Once the workload runs, the relay gives up every capability, sets no_new_privs and confines
 * itself with a seccomp allow-list; none of that reaches the workload, which was forked before.
 *
 *   kuketty [--dir DIR] -- PROGRAM [ARGS...]   relay (DIR defaults to /run/kukeon/tty)
 *   kuketty attach SOCKET                      attach this terminal to a relay (tests, debugging)
 *
 * Exit codes: the workload's (128+signal when killed), 64 usage, 70 internal. Static: it runs in any
 * image. */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "common/ttyrelay.h"

#define EX_USAGE    64
#define EX_SOFTWARE 70

#define MAX_CLIENTS   16
#define CLIENT_OUTBUF (256 * 1024) /* output queued for one client before it counts as too slow */
#define INPUT_BUF     (64 * 1024)  /* keyboard bytes waiting for the terminal */

struct client {
    int fd;
    bool eof; /* the client sent all it will (a pipe ran dry): output still goes to it */
    uint8_t in[KK_TTY_HDR + KK_TTY_PAYLOAD_MAX];
    size_t in_len;
    uint8_t *out;
    size_t out_off, out_len;
};

#define HISTORY 65536 /* the latest output, replayed to a client when it attaches */

#define LINGER_MS 3000 /* how long an exited workload's output waits for a first client */
#define DRAIN_MS  200  /* how long the terminal is read after the workload's exit */

static struct client clients[MAX_CLIENTS];
static bool ever_attached;
static uint8_t history[HISTORY];
static size_t history_len;
static int master = -1;
static int exit_fd = -1; /* tty/exit, made empty at the start (before confine()), written at the end */
static uint8_t input[INPUT_BUF];
static size_t input_len;

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    char line[1024];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ kuketty: ", &tm);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (k < 0)
        k = 0;
    n += (size_t)k < sizeof(line) - n - 1 ? (size_t)k : sizeof(line) - n - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

static void client_drop(struct client *c, const char *why)
{
    if (c->fd < 0)
        return;
    if (why != NULL)
        logf_("attach client dropped: %s", why);
    close(c->fd);
    c->fd = -1;
    c->eof = false;
    free(c->out);
    c->out = NULL;
    c->in_len = c->out_off = c->out_len = 0;
}

/* Send what is queued without waiting; a client that cannot take it is dropped, never waited for. */
static void client_flush(struct client *c)
{
    while (c->fd >= 0 && c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                client_drop(c, NULL);
            return;
        }
        c->out_off += (size_t)n;
    }
    if (c->fd >= 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
}

static void client_queue(struct client *c, const uint8_t *buf, size_t len)
{
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_off = c->out_len = 0;
    if (c->out_len + len > CLIENT_OUTBUF) {
        /* Compact first; still too much means the client is behind by a whole buffer. */
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
        if (c->out_len + len > CLIENT_OUTBUF) {
            client_drop(c, "too slow to keep up with the terminal's output");
            return;
        }
    }
    memcpy(c->out + c->out_len, buf, len);
    c->out_len += len;
    client_flush(c);
}

static int write_full(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Parse the frames a client sent. -1: a malformed frame (the client is dropped). */
static int client_frames(struct client *c)
{
    size_t off = 0;
    while (c->in_len - off >= KK_TTY_HDR) {
        uint8_t *h = c->in + off;
        size_t len = ((size_t)h[2] << 8) | h[3];
        if (len > KK_TTY_PAYLOAD_MAX || h[1] != 0)
            return -1;
        if (c->in_len - off < KK_TTY_HDR + len)
            break;
        uint8_t *p = h + KK_TTY_HDR;
        if (h[0] == KK_TTY_DATA) {
            if (input_len + len > sizeof(input))
                break; /* the terminal is not reading: keep the frame, read no more from anyone */
            memcpy(input + input_len, p, len);
            input_len += len;
        } else if (h[0] == KK_TTY_WINSIZE) {
            if (len != 4)
                return -1;
            struct winsize ws = {.ws_row = (unsigned short)((p[0] << 8) | p[1]),
                                 .ws_col = (unsigned short)((p[2] << 8) | p[3])};
            if (ws.ws_row > 0 && ws.ws_col > 0)
                ioctl(master, TIOCSWINSZ, &ws); /* the kernel sends SIGWINCH to the foreground group */
        } else {
            return -1;
        }
        off += KK_TTY_HDR + len;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return 0;
}

static void history_add(const uint8_t *buf, size_t len)
{
    if (len >= HISTORY) {
        memcpy(history, buf + len - HISTORY, HISTORY);
        history_len = HISTORY;
        return;
    }
    if (history_len + len > HISTORY) {
        size_t drop = history_len + len - HISTORY;
        memmove(history, history + drop, history_len - drop);
        history_len -= drop;
    }
    memcpy(history + history_len, buf, len);
    history_len += len;
}

static void client_queue(struct client *c, const uint8_t *buf, size_t len);

static void client_accept(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        struct client *c = NULL;
        for (int i = 0; i < MAX_CLIENTS && c == NULL; i++)
            if (clients[i].fd < 0)
                c = &clients[i];
        uint8_t *out = c != NULL ? malloc(CLIENT_OUTBUF) : NULL;
        if (out == NULL) {
            logf_("attach refused: %d clients are attached already", MAX_CLIENTS);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->eof = false;
        c->out = out;
        ever_attached = true;
        c->in_len = c->out_off = c->out_len = 0;
        /* What the terminal showed last: the prompt, or the output of a short run before the
         * client got here. */
        if (history_len > 0)
            client_queue(c, history, history_len);
    }
}

/* Confine the relay once the workload runs: no capabilities, no_new_privs, a syscall allow-list.
 * Failures are logged, not fatal: the workload is already running and must keep its terminal. */
static void confine(void)
{
    for (int cap = 0; cap <= 63; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno == EINVAL)
            break;
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &hdr, data) < 0)
        logf_("dropping capabilities: %s", strerror(errno));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        logf_("no_new_privs: %s", strerror(errno));
        return;
    }
#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#endif
#ifdef ARCH
#define ALLOW(nr)                                                                                            \
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        ALLOW(SYS_read),
        ALLOW(SYS_write),
        ALLOW(SYS_close),
        ALLOW(SYS_poll),
        ALLOW(SYS_ppoll),
        ALLOW(SYS_accept4),
        ALLOW(SYS_sendto),
        ALLOW(SYS_recvfrom),
        ALLOW(SYS_ioctl),
        ALLOW(SYS_wait4),
        ALLOW(SYS_kill),
        ALLOW(SYS_exit),
        ALLOW(SYS_exit_group),
        ALLOW(SYS_rt_sigprocmask),
        ALLOW(SYS_rt_sigreturn),
        ALLOW(SYS_mmap),
        ALLOW(SYS_munmap),
        ALLOW(SYS_brk),
        ALLOW(SYS_mremap),
        ALLOW(SYS_madvise),
        ALLOW(SYS_clock_gettime),
        ALLOW(SYS_clock_nanosleep),
        ALLOW(SYS_nanosleep),
        ALLOW(SYS_fstat),
        ALLOW(SYS_newfstatat),
        ALLOW(SYS_getpid),
        ALLOW(SYS_restart_syscall),
        ALLOW(SYS_lseek),
        ALLOW(SYS_fcntl),
#ifdef SYS_time
        ALLOW(SYS_time),
#endif
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
    };
    struct sock_fprog prog = {.len = (unsigned short)(sizeof(f) / sizeof(f[0])), .filter = f};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
        logf_("seccomp: %s", strerror(errno));
#endif
}

static long ms_until(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}

static void ms_from_now(struct timespec *t, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, t);
    t->tv_sec += ms / 1000;
    t->tv_nsec += (ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

/* The last output to the clients still there, for up to a second: the workload has ended, nothing
 * waits for the relay any more. */
static void final_flush(void)
{
    struct timespec end;
    ms_from_now(&end, 1000);
    for (;;) {
        struct pollfd p[MAX_CLIENTS];
        int n = 0;
        for (int i = 0; i < MAX_CLIENTS; i++) {
            client_flush(&clients[i]);
            p[i] = (struct pollfd){
                .fd = clients[i].fd >= 0 && clients[i].out_len > clients[i].out_off ? clients[i].fd : -1,
                .events = POLLOUT};
            n += p[i].fd >= 0;
        }
        long ms = ms_until(&end);
        if (n == 0 || ms <= 0)
            return;
        poll(p, MAX_CLIENTS, (int)ms);
    }
}

static int open_in(const char *dir, const char *name, int flags, mode_t mode)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return open(path, flags | O_CLOEXEC | O_NOFOLLOW, mode);
}

/* The workload's end into tty/exit, opened empty at the start: one write of one line, which readers
 * take only whole (ttyrelay.h). A failure is said in the log: kuke then treats the run as it would an
 * older relay's. */
static void write_exit(int status)
{
    char line[KK_TTY_EXIT_MAX];
    int n = kk_tty_exit_format(status, line, sizeof(line));
    if (exit_fd < 0 || n < 0)
        return;
    if (write(exit_fd, line, (size_t)n) != n)
        logf_("recording the exit status in %s: %s", KK_TTY_EXIT, strerror(errno));
    close(exit_fd);
    exit_fd = -1;
}

static int relay(const char *dir, char **argv)
{
    /* Our own diagnostics go to kuketty.log beside the capture, where they are looked for; the
     * task's own stdout and stderr (the container's log file) only get a failure to open it. */
    int lfd = open_in(dir, KK_TTY_RELAY_LOG, O_WRONLY | O_APPEND | O_CREAT, 0640);
    if (lfd < 0) {
        fprintf(stderr, "kuketty: opening %s/%s: %s\n", dir, KK_TTY_RELAY_LOG, strerror(errno));
        return EX_SOFTWARE;
    }
    dup2(lfd, STDOUT_FILENO);
    dup2(lfd, STDERR_FILENO);
    close(lfd);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nullfd >= 0) {
        dup2(nullfd, STDIN_FILENO);
        close(nullfd);
    }

    sigset_t set, old;
    sigemptyset(&set);
    int sigs[] = {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, &old);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);

    int cap = open_in(dir, KK_TTY_CAPTURE, O_WRONLY | O_APPEND | O_CREAT, 0640);
    if (cap < 0 || sfd < 0) {
        logf_("opening %s/%s: %s", dir, KK_TTY_CAPTURE, strerror(errno));
        return EX_SOFTWARE;
    }
    fchmod(cap, 0640);
    /* A previous run's exit status is not this run's: an empty file of our own replaces it before the
     * socket is there to attach to. Made now, while the relay may still write the directory. */
    char epath[4096];
    if ((size_t)snprintf(epath, sizeof(epath), "%s/%s", dir, KK_TTY_EXIT) >= sizeof(epath) ||
        (unlink(epath) < 0 && errno != ENOENT)) {
        logf_("removing %s/%s: %s", dir, KK_TTY_EXIT, strerror(errno));
        return EX_SOFTWARE;
    }
    exit_fd = open_in(dir, KK_TTY_EXIT, O_WRONLY | O_CREAT | O_EXCL, 0640);
    if (exit_fd < 0)
        logf_("creating %s/%s: %s (the exit status will not be recorded)", dir, KK_TTY_EXIT, strerror(errno));
    else
        fchmod(exit_fd, 0640);

    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", dir, KK_TTY_SOCKET) >=
        sizeof(sa.sun_path)) {
        logf_("the socket path %s/%s is too long", dir, KK_TTY_SOCKET);
        return EX_SOFTWARE;
    }
    unlink(sa.sun_path); /* left by a previous run of this container */
    int lsock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    /* Created 0660 from the start (umask), group from the directory's setgid bit. */
    mode_t um = umask(0117);
    int brc = lsock < 0 ? -1 : bind(lsock, (struct sockaddr *)&sa, sizeof(sa));
    umask(um);
    if (brc < 0 || listen(lsock, 16) < 0) {
        logf_("serving %s: %s", sa.sun_path, strerror(errno));
        return EX_SOFTWARE;
    }
    chmod(sa.sun_path, 0660);

    master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0) {
        logf_("allocating a pseudo-terminal: %s", strerror(errno));
        return EX_SOFTWARE;
    }
    const char *pts = ptsname(master);
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    ioctl(master, TIOCSWINSZ, &ws);

    pid_t child = fork();
    if (child < 0) {
        logf_("fork: %s", strerror(errno));
        return EX_SOFTWARE;
    }
    if (child == 0) {
        setsid();
        int s = pts != NULL ? open(pts, O_RDWR) : -1;
        if (s < 0 || ioctl(s, TIOCSCTTY, 0) < 0) {
            logf_("opening the terminal %s: %s", pts != NULL ? pts : "?", strerror(errno));
            _exit(EX_SOFTWARE);
        }
        dup2(s, 0);
        dup2(s, 1);
        dup2(s, 2);
        if (s > 2)
            close(s);
        sigprocmask(SIG_SETMASK, &old, NULL);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        int e = errno;
        dprintf(2, "kuketty: cannot run %s: %s\r\n", argv[0], strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }
    logf_("running %s (pid %d) on %s", argv[0], (int)child, pts != NULL ? pts : "?");
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    for (int i = 0; i < MAX_CLIENTS; i++)
        clients[i].fd = -1;
    confine();

    int status = 0;
    bool exited = false;
    bool cap_failed = false;
    bool drained = false;  /* after the exit: the terminal has nothing more */
    bool stopping = false; /* a signal asked the workload to end: nobody will attach to the rest */
    struct timespec deadline = {0}, linger = {0};
    for (;;) {
        int timeout = -1;
        if (exited) {
            /* After the workload's exit: drain what its terminal still holds, briefly; then, when
             * nobody has attached yet (kuke run of a short command), wait a little for a first
             * client, which gets the output from the history. */
            long drain = drained ? 0 : ms_until(&deadline);
            if (drain <= 0)
                drained = true;
            long wait = ever_attached || stopping ? 0 : ms_until(&linger);
            if (drained && wait <= 0)
                break;
            timeout = (int)(!drained ? drain : wait);
        }
        struct pollfd p[3 + MAX_CLIENTS];
        p[0] = (struct pollfd){.fd = drained ? -1 : master, .events = POLLIN | (input_len > 0 ? POLLOUT : 0)};
        p[1] = (struct pollfd){.fd = exited && (ever_attached || stopping) ? -1 : lsock, .events = POLLIN};
        p[2] = (struct pollfd){.fd = sfd, .events = POLLIN};
        bool input_full = input_len >= sizeof(input) - KK_TTY_PAYLOAD_MAX;
        for (int i = 0; i < MAX_CLIENTS; i++)
            p[3 + i] =
                (struct pollfd){.fd = clients[i].fd,
                                .events = (short)((input_full || clients[i].eof ? 0 : POLLIN) |
                                                  (clients[i].out_len > clients[i].out_off ? POLLOUT : 0))};
        int n = poll(p, 3 + MAX_CLIENTS, timeout);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            logf_("poll: %s", strerror(errno));
            return EX_SOFTWARE;
        }
        if (p[2].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                int sig = (int)si.ssi_signo;
                if (sig == SIGCHLD) {
                    int st;
                    pid_t w;
                    while ((w = waitpid(-1, &st, WNOHANG)) > 0)
                        if (w == child && !exited) {
                            exited = true;
                            status = st;
                            write_exit(st);
                            ms_from_now(&deadline, DRAIN_MS);
                            ms_from_now(&linger, LINGER_MS);
                        }
                } else if (sig != SIGPIPE && !exited) {
                    stopping = sig != SIGUSR1 && sig != SIGUSR2;
                    kill(-child, sig); /* the workload's session, its process group */
                    kill(child, sig);
                    if (sig == SIGTERM)
                        kill(-child, SIGHUP); /* an interactive shell ignores SIGTERM */
                }
            }
        }
        if (p[0].revents & POLLIN) {
            uint8_t buf[65536];
            ssize_t r = read(master, buf, sizeof(buf));
            if (r > 0) {
                if (write_full(cap, buf, (size_t)r) < 0 && !cap_failed) {
                    cap_failed = true; /* say it once; the terminal goes on */
                    logf_("writing the capture file: %s", strerror(errno));
                }
                history_add(buf, (size_t)r);
                for (int i = 0; i < MAX_CLIENTS; i++)
                    if (clients[i].fd >= 0)
                        client_queue(&clients[i], buf, (size_t)r);
            } else if (exited && (r == 0 || (errno != EAGAIN && errno != EINTR))) {
                drained = true; /* nothing left: every writer of the terminal is gone */
            }
        } else if (exited && (p[0].revents & (POLLHUP | POLLERR))) {
            drained = true;
        }
        if ((p[0].revents & POLLOUT) && input_len > 0) {
            ssize_t w = write(master, input, input_len);
            if (w > 0) {
                memmove(input, input + w, input_len - (size_t)w);
                input_len -= (size_t)w;
            }
        }
        if (p[1].revents & POLLIN)
            client_accept(lsock);
        for (int i = 0; i < MAX_CLIENTS; i++) {
            struct client *c = &clients[i];
            short re = p[3 + i].revents;
            if (c->fd < 0 || p[3 + i].fd != c->fd)
                continue;
            if (re & POLLOUT)
                client_flush(c);
            if (c->fd >= 0 && c->eof && (re & (POLLHUP | POLLERR))) {
                client_drop(c, NULL);
                continue;
            }
            if (c->fd >= 0 && !c->eof && (re & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t r = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
                if (r == 0 && !(re & (POLLHUP | POLLERR))) {
                    c->eof = true; /* half-closed: it still reads the output */
                    continue;
                }
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                    client_drop(c, NULL);
                    continue;
                }
                if (r > 0) {
                    c->in_len += (size_t)r;
                    if (client_frames(c) < 0)
                        client_drop(c, "malformed frame");
                }
            }
        }
        if (input_len > 0 && !exited) {
            /* Write what fits now; the rest waits for POLLOUT. */
            ssize_t w = write(master, input, input_len);
            if (w > 0) {
                memmove(input, input + w, input_len - (size_t)w);
                input_len -= (size_t)w;
            }
        }
    }
    final_flush();
    for (int i = 0; i < MAX_CLIENTS; i++)
        client_drop(&clients[i], NULL);
    if (WIFSIGNALED(status)) {
        logf_("%s ended by signal %d", argv[0], WTERMSIG(status));
        return 128 + WTERMSIG(status);
    }
    logf_("%s exited with %d", argv[0], WEXITSTATUS(status));
    return WEXITSTATUS(status);
}

static int usage(void)
{
    fprintf(stderr, "usage: kuketty [--dir DIR] -- PROGRAM [ARGS...]\n"
                    "       kuketty attach SOCKET\n");
    return EX_USAGE;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "attach") == 0) {
        struct kk_err err;
        enum kk_tty_end end;
        if (kk_tty_attach(argv[2], STDIN_FILENO, STDOUT_FILENO, argv[2], &end, &err) < 0) {
            fprintf(stderr, "kuketty: %s\n", err.msg);
            return 1;
        }
        return 0;
    }
    const char *dir = KK_TTY_DIR_IN_CONTAINER;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--dir") == 0) {
        dir = argv[i + 1];
        i += 2;
    }
    if (i >= argc || strcmp(argv[i], "--") != 0 || i + 1 >= argc)
        return usage();
    return relay(dir, argv + i + 1);
}
