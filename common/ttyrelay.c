/* The attach side of the terminal relay protocol (ttyrelay.h). Linked into kuke and into the static
 * kuketty, so it uses nothing beyond libc and err.c. */
#include "common/ttyrelay.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

void kk_tty_frame(uint8_t *buf, uint8_t type, const void *payload, uint16_t len)
{
    buf[0] = type;
    buf[1] = 0;
    buf[2] = (uint8_t)(len >> 8);
    buf[3] = (uint8_t)len;
    if (len > 0)
        memcpy(buf + KK_TTY_HDR, payload, len);
}

int kk_tty_exit_format(int wstatus, char *buf, size_t size)
{
    int n;
    if (WIFEXITED(wstatus))
        n = snprintf(buf, size, "exited %d\n", WEXITSTATUS(wstatus));
    else if (WIFSIGNALED(wstatus))
        n = snprintf(buf, size, "signaled %d\n", WTERMSIG(wstatus));
    else
        return -1;
    return n < 0 || (size_t)n >= size ? -1 : n;
}

int kk_tty_exit_parse(const char *buf, size_t len, bool *signaled, int *code)
{
    static const struct {
        const char *word;
        bool signaled;
        int max;
    } kinds[] = {{"exited ", false, 255}, {"signaled ", true, 64}};
    for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
        size_t wl = strlen(kinds[k].word);
        if (len <= wl || memcmp(buf, kinds[k].word, wl) != 0)
            continue;
        /* Digits only (at most three, no sign, no leading zero but "0"), then one newline. */
        size_t i = wl;
        int v = 0;
        while (i < len && i - wl < 3 && buf[i] >= '0' && buf[i] <= '9')
            v = v * 10 + (buf[i++] - '0');
        if (i == wl || (buf[wl] == '0' && i - wl > 1) || i + 1 != len || buf[i] != '\n' || v > kinds[k].max)
            return -1;
        if (kinds[k].signaled && v == 0)
            return -1;
        *signaled = kinds[k].signaled;
        *code = v;
        return 0;
    }
    return -1;
}

/* Write all of buf to a blocking fd. */
static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int send_frame(int sock, uint8_t type, const void *payload, size_t len)
{
    uint8_t buf[KK_TTY_HDR + KK_TTY_PAYLOAD_MAX];
    const uint8_t *p = payload;
    do {
        size_t chunk = len > KK_TTY_PAYLOAD_MAX ? KK_TTY_PAYLOAD_MAX : len;
        kk_tty_frame(buf, type, p, (uint16_t)chunk);
        if (write_all(sock, buf, KK_TTY_HDR + chunk) < 0)
            return -1;
        p += chunk;
        len -= chunk;
    } while (len > 0);
    return 0;
}

static int send_winsize(int sock, int tty)
{
    struct winsize ws;
    if (tty < 0 || ioctl(tty, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0 || ws.ws_col == 0)
        return 0; /* no terminal size to pass: the relay keeps what it has */
    uint8_t p[4] = {(uint8_t)(ws.ws_row >> 8), (uint8_t)ws.ws_row, (uint8_t)(ws.ws_col >> 8),
                    (uint8_t)ws.ws_col};
    return send_frame(sock, KK_TTY_WINSIZE, p, sizeof(p));
}

int kk_tty_attach(const char *path, int in, int out, const char *what, enum kk_tty_end *end,
                  struct kk_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return kk_error(err, KK_ERR_INVALID, 0, "the terminal socket path of %s is longer than %zu bytes: %s",
                        what, sizeof(sa.sun_path) - 1, path);
    strcpy(sa.sun_path, path);
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating a socket to attach to %s", what);
    if (connect(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(sock);
        if (e == EACCES || e == EPERM)
            return kk_error(
                err, KK_ERR_PERMISSION, e,
                "attaching to %s: no access to %s (attach as root or as a member of group kukeon)", what,
                path);
        return kk_error(
            err, KK_ERR_UNAVAILABLE, e,
            "attaching to %s: its terminal relay does not answer on %s (is the container running?)", what,
            path);
    }

    /* Signals become events on a descriptor: nothing runs asynchronously, and the terminal is
     * restored below on every way out. */
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGWINCH);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGPIPE);
    sigprocmask(SIG_BLOCK, &set, &old);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);

    bool raw = false;
    struct termios saved;
    if (isatty(in) && tcgetattr(in, &saved) == 0) {
        struct termios t = saved;
        cfmakeraw(&t);
        if (tcsetattr(in, TCSAFLUSH, &t) == 0)
            raw = true;
    }
    int tty = isatty(in) ? in : (isatty(out) ? out : -1);

    int ret = -1;
    bool held = false; /* a first detach key waiting for the second */
    bool in_open = true;
    if (send_winsize(sock, tty) < 0) {
        kk_error(err, KK_ERR_UNAVAILABLE, errno, "attaching to %s: sending the window size", what);
        goto done;
    }
    for (;;) {
        struct pollfd p[3] = {
            {.fd = sock, .events = POLLIN},
            {.fd = in_open ? in : -1, .events = POLLIN},
            {.fd = sfd, .events = POLLIN},
        };
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            kk_error(err, KK_ERR_INTERNAL, errno, "attaching to %s: poll", what);
            goto done;
        }
        if (p[2].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGWINCH) {
                    if (send_winsize(sock, tty) < 0) {
                        *end = KK_TTY_END_CLOSED;
                        ret = 0;
                        goto done;
                    }
                } else if (si.ssi_signo != SIGPIPE) {
                    *end = KK_TTY_END_DETACH; /* leave the container as it is */
                    ret = 0;
                    goto done;
                }
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            uint8_t buf[16384];
            ssize_t n = read(sock, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                *end = KK_TTY_END_CLOSED;
                ret = 0;
                goto done;
            }
            if (write_all(out, buf, (size_t)n) < 0) {
                kk_error(err, KK_ERR_INTERNAL, errno, "attaching to %s: writing to the terminal", what);
                goto done;
            }
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            uint8_t buf[KK_TTY_PAYLOAD_MAX], send[KK_TTY_PAYLOAD_MAX + 1];
            ssize_t n = read(in, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                /* No more input (a pipe): the relay is told so, and the output goes on until the
                 * workload ends or a signal ends the attach. */
                in_open = false;
                shutdown(sock, SHUT_WR);
                continue;
            }
            size_t k = 0;
            for (ssize_t i = 0; i < n; i++) {
                if (buf[i] == KK_TTY_DETACH_KEY) {
                    if (held) {
                        if (k > 0)
                            send_frame(sock, KK_TTY_DATA, send, k);
                        *end = KK_TTY_END_DETACH;
                        ret = 0;
                        goto done;
                    }
                    held = true;
                    continue;
                }
                if (held) {
                    send[k++] = KK_TTY_DETACH_KEY;
                    held = false;
                }
                send[k++] = buf[i];
            }
            if (k > 0 && send_frame(sock, KK_TTY_DATA, send, k) < 0) {
                *end = KK_TTY_END_CLOSED;
                ret = 0;
                goto done;
            }
        }
    }
done:
    if (raw)
        tcsetattr(in, TCSAFLUSH, &saved);
    /* Whatever the workload left on the line, the caller's prompt starts on a fresh one. */
    if (ret == 0 && *end == KK_TTY_END_DETACH && isatty(out))
        write_all(out, "\r\n", 2);
    if (sfd >= 0)
        close(sfd);
    close(sock);
    /* Signals that ended the attach were consumed from the descriptor; nothing is left pending. */
    sigprocmask(SIG_SETMASK, &old, NULL);
    return ret;
}
