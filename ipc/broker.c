/* The containerd connection broker (see broker.h). */
#include "ipc/broker.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"

#define KK_BROKER_ASK 'C'

int kk_connect_unix(const char *path, struct kk_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (kk_strlcpy(sa.sun_path, path, sizeof(sa.sun_path)) < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "socket path %s is too long", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return kk_error(err, KK_ERR_INTERNAL, errno, "creating a unix socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return kk_error(err, KK_ERR_UNAVAILABLE, e, "connecting to %s", path);
    }
    return fd;
}

int kk_broker_request(int sock, int timeout_ms, struct kk_err *err)
{
    char ask = KK_BROKER_ASK;
    if (send(sock, &ask, 1, MSG_NOSIGNAL) != 1)
        return kk_error(err, KK_ERR_UNAVAILABLE, errno, "asking the supervisor for a containerd connection");
    struct pollfd p = {.fd = sock, .events = POLLIN};
    int pr = poll(&p, 1, timeout_ms);
    if (pr <= 0)
        return kk_error(err, KK_ERR_UNAVAILABLE, pr < 0 ? errno : ETIMEDOUT,
                        "waiting for a containerd connection from the supervisor");
    int32_t reply[2] = {0, 0}; /* {0, 0} with an fd, or {1, errno} */
    struct iovec iov = {.iov_base = reply, .iov_len = sizeof(reply)};
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    if (n <= 0)
        return kk_error(err, KK_ERR_UNAVAILABLE, n < 0 ? errno : 0, "the supervisor closed the broker channel");
    int fd = -1;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    if (c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(&fd, CMSG_DATA(c), sizeof(int));
    if (n != sizeof(reply) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || (reply[0] == 0) != (fd >= 0)) {
        if (fd >= 0)
            close(fd);
        return kk_error(err, KK_ERR_INTERNAL, 0, "malformed answer on the broker channel");
    }
    if (reply[0] != 0)
        return kk_error(err, KK_ERR_UNAVAILABLE, reply[1] > 0 && reply[1] < 4096 ? reply[1] : 0,
                        "the supervisor could not connect to containerd");
    return fd;
}

int kk_broker_serve_one(int sock, const char *containerd_socket, struct kk_err *err)
{
    char buf[8];
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
    ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    /* Any descriptor sent our way is closed unread: the channel carries none towards us. */
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < k; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                close(fd);
            }
            return kk_error(err, KK_ERR_DENIED, 0, "kuke-ctrd sent a descriptor on the broker channel");
        }
    }
    if (n <= 0)
        return kk_error(err, KK_ERR_UNAVAILABLE, 0, "kuke-ctrd closed the broker channel");
    if (n != 1 || buf[0] != KK_BROKER_ASK)
        return kk_error(err, KK_ERR_DENIED, 0, "malformed request on the broker channel (%zd bytes)", n);
    struct kk_err cerr = {0};
    int fd = kk_connect_unix(containerd_socket, &cerr);
    int32_t reply[2] = {fd >= 0 ? 0 : 1, fd >= 0 ? 0 : cerr.errnum};
    struct iovec riov = {.iov_base = reply, .iov_len = sizeof(reply)};
    struct msghdr rmh = {.msg_iov = &riov, .msg_iovlen = 1};
    char rcbuf[CMSG_SPACE(sizeof(int))];
    if (fd >= 0) {
        memset(rcbuf, 0, sizeof(rcbuf));
        rmh.msg_control = rcbuf;
        rmh.msg_controllen = sizeof(rcbuf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&rmh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t w = sendmsg(sock, &rmh, MSG_NOSIGNAL);
    if (fd >= 0)
        close(fd);
    if (w != sizeof(reply))
        return kk_error(err, KK_ERR_UNAVAILABLE, errno, "answering kuke-ctrd on the broker channel");
    return 0;
}
