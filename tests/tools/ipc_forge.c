/* ipc_forge: test tool that plays a hostile API worker against a helper.
 *   ipc_forge grab PID FD KIND        take a running API worker's end of a helper socket with
 *                                     pidfd_getfd(2) and send one forged frame to the helper
 *   ipc_forge spawn HELPER KIND       start the helper binary the way kukeond does (fds 3, 4, 5) and
 *                                     send one forged frame; print its exit and its audit lines
 * KIND: truncated, oversized, unknown-type, stray-fd, before-hello (spawn only), second-hello,
 *       bad-version, reserved-flag, hello-status (a well-formed exchange, for contrast).
 * Prints "exit=N" or "signal=N" for spawn, and whatever the helper answered. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/config.h"
#include "ipc/client.h"
#include "ipc/frame.h"
#include "ipc/launch.h"

static int forge_send_raw(int sock, const uint8_t *buf, size_t len, int fd)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    char cbuf[CMSG_SPACE(sizeof(int))];
    if (fd >= 0) {
        memset(cbuf, 0, sizeof(cbuf));
        mh.msg_control = cbuf;
        mh.msg_controllen = sizeof(cbuf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    return sendmsg(sock, &mh, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int forge_frame(int sock, uint16_t type, uint32_t id, uint16_t version, uint32_t flags,
                       const ProtobufCMessage *msg, int fd)
{
    static uint8_t buf[KK_IPC_MAX_FRAME + 4096];
    size_t plen = msg != NULL ? protobuf_c_message_get_packed_size(msg) : 0;
    struct kk_ipc_header h = {.length = (uint32_t)plen, .version = version, .type = type, .request_id = id,
                              .flags = flags};
    kk_ipc_header_encode(&h, buf);
    if (msg != NULL)
        protobuf_c_message_pack(msg, buf + KK_IPC_HEADER_SIZE);
    return forge_send_raw(sock, buf, KK_IPC_HEADER_SIZE + plen, fd);
}

static int forge_hello(int sock, uint32_t id)
{
    Kukeon__Ipc__Hello hello = KUKEON__IPC__HELLO__INIT;
    hello.protocol_version = KK_IPC_VERSION;
    hello.peer_role = "api";
    return forge_frame(sock, KK_IPC_HELLO, id, KK_IPC_VERSION, 0, &hello.base, -1);
}

static int forge_kind(int sock, const char *kind)
{
    Kukeon__Ipc__StatusRequest status = KUKEON__IPC__STATUS_REQUEST__INIT;
    if (strcmp(kind, "truncated") == 0) {
        uint8_t part[10] = {0};
        return forge_send_raw(sock, part, sizeof(part), -1);
    }
    if (strcmp(kind, "oversized") == 0) {
        static uint8_t big[KK_IPC_MAX_FRAME + 1024];
        struct kk_ipc_header h = {.length = KK_IPC_MAX_PAYLOAD + 1024, .version = KK_IPC_VERSION,
                                  .type = KK_IPC_STATUS, .request_id = 900};
        kk_ipc_header_encode(&h, big);
        return forge_send_raw(sock, big, sizeof(big), -1);
    }
    if (strcmp(kind, "unknown-type") == 0)
        return forge_frame(sock, 0x01ff, 901, KK_IPC_VERSION, 0, NULL, -1);
    if (strcmp(kind, "stray-fd") == 0) {
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int rc = forge_frame(sock, KK_IPC_STATUS, 902, KK_IPC_VERSION, KK_IPC_F_FD, &status.base, devnull);
        close(devnull);
        return rc;
    }
    if (strcmp(kind, "before-hello") == 0 || strcmp(kind, "hello-status") == 0)
        return forge_frame(sock, KK_IPC_STATUS, 903, KK_IPC_VERSION, 0, &status.base, -1);
    if (strcmp(kind, "second-hello") == 0)
        return forge_hello(sock, 904);
    if (strcmp(kind, "bad-version") == 0)
        return forge_frame(sock, KK_IPC_STATUS, 905, KK_IPC_VERSION + 7, 0, &status.base, -1);
    if (strcmp(kind, "reserved-flag") == 0)
        return forge_frame(sock, KK_IPC_STATUS, 906, KK_IPC_VERSION, 0x80, &status.base, -1);
    fprintf(stderr, "ipc_forge: unknown kind %s\n", kind);
    exit(2);
}

/* Print what comes back on sock within ms: reply types, until EOF. */
static void forge_drain(int sock, int ms)
{
    for (;;) {
        struct pollfd p = {.fd = sock, .events = POLLIN};
        if (poll(&p, 1, ms) <= 0)
            return;
        uint8_t buf[KK_IPC_MAX_FRAME];
        ssize_t n = recv(sock, buf, sizeof(buf), 0);
        if (n <= 0) {
            printf("reply: eof\n");
            return;
        }
        if (n >= (ssize_t)KK_IPC_HEADER_SIZE) {
            unsigned type = (unsigned)buf[6] | ((unsigned)buf[7] << 8);
            printf("reply: type=0x%04x len=%zd\n", type, n);
        }
    }
}

static int forge_grab(pid_t pid, int target_fd, const char *kind)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        fprintf(stderr, "ipc_forge: pidfd_open %d: %s\n", (int)pid, strerror(errno));
        return 1;
    }
    int sock = (int)syscall(SYS_pidfd_getfd, pidfd, target_fd, 0);
    if (sock < 0) {
        fprintf(stderr, "ipc_forge: pidfd_getfd %d/%d: %s\n", (int)pid, target_fd, strerror(errno));
        return 1;
    }
    if (forge_kind(sock, kind) < 0) {
        fprintf(stderr, "ipc_forge: send: %s\n", strerror(errno));
        return 1;
    }
    printf("sent %s\n", kind);
    return 0;
}

static int forge_spawn(const char *helper, const char *kind)
{
    struct kk_config cfg;
    kk_config_defaults(&cfg);
    struct kk_err err = {0};
    /* A cgroup root of the test run's own, so kuke-cgd's delegation leaves nothing on the host that
     * the harness's cleanup does not remove. */
    const char *prefix = getenv("KUKEON_TEST_PREFIX");
    if (prefix != NULL && *prefix != '\0') {
        char root[128];
        snprintf(root, sizeof(root), "/%s-forge", prefix);
        if (kk_config_set(&cfg, "cgroupRoot", root, "KUKEON_TEST_PREFIX", &err) < 0) {
            fprintf(stderr, "ipc_forge: %s\n", err.msg);
            return 1;
        }
    }
    /* kuke-netd makes its state directory at start: the test run's own, not /var/lib/kukeon. */
    const char *tmp = getenv("KUKEON_TEST_TMP");
    if (tmp != NULL && *tmp != '\0') {
        char state[256];
        snprintf(state, sizeof(state), "%s/forge/netd", tmp);
        if (kk_config_set(&cfg, "netdStateDir", state, "KUKEON_TEST_TMP", &err) < 0) {
            fprintf(stderr, "ipc_forge: %s\n", err.msg);
            return 1;
        }
    }
    struct kk_helper_proc hp;
    int cfd = kk_config_memfd(&cfg, &err);
    if (cfd < 0 || kk_helper_launch(helper, cfd, -1, false, &hp, &err) < 0) {
        fprintf(stderr, "ipc_forge: %s\n", err.msg);
        return 1;
    }
    close(cfd);
    if (strcmp(kind, "before-hello") != 0)
        forge_hello(hp.sock, 1);
    forge_drain(hp.sock, strcmp(kind, "before-hello") != 0 ? 500 : 0);
    if (forge_kind(hp.sock, kind) < 0)
        printf("send failed: %s\n", strerror(errno));
    forge_drain(hp.sock, 1000);
    /* A helper that survived (as it should for hello-status) ends when its peer hangs up. */
    int audit = dup(hp.audit_fd);
    int status = kk_helper_stop(&hp, 2000);
    if (WIFEXITED(status))
        printf("exit=%d\n", WEXITSTATUS(status));
    else
        printf("signal=%d\n", WTERMSIG(status));
    fcntl(audit, F_SETFL, 0);
    char buf[8192];
    ssize_t r;
    while ((r = read(audit, buf, sizeof(buf))) > 0)
        fwrite(buf, 1, (size_t)r, stdout);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 5 && strcmp(argv[1], "grab") == 0)
        return forge_grab((pid_t)strtol(argv[2], NULL, 10), (int)strtol(argv[3], NULL, 10), argv[4]);
    if (argc == 4 && strcmp(argv[1], "spawn") == 0)
        return forge_spawn(argv[2], argv[3]);
    fprintf(stderr, "usage: ipc_forge grab PID FD KIND | ipc_forge spawn HELPER KIND\n");
    return 2;
}
