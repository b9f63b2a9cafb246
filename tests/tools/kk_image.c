/* Test tool for images until `kuke image load` and `kuke init` exist for every test:
 *   kk_image pause-tar KUKEPAUSE VERSION OUT.tar
 *       writes the pause image tarball with the function kuke init uses (kukeond/pause_image.h)
 *   kk_image load CONTAINERD_SOCKET RUN_PATH CGROUP_ROOT REALM IMAGE.tar
 *       starts kuke-ctrd ($BUILD/libexec/kuke-ctrd, as the API worker does) and loads the tarball into
 *       the realm's namespace through IMAGE_LOAD; prints each loaded image's name.
 *   kk_image rpc SOCKET < request
 *       rpc_send with patience: a cell's create may be silent for longer than rpc_send's 2 s; this
 *       waits up to 120 s for the daemon's answer and the close after it. */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/err.h"
#include "ipc/client.h"
#include "ipc/ctrd_client.h"
#include "ipc/launch.h"
#include "kukeond/pause_image.h"

static int pause_tar(char **argv)
{
    struct kk_err err = {0};
    int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "kk_image: %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    if (kk_pause_image_write(argv[0], argv[1], fd, &err) < 0 || fsync(fd) < 0) {
        fprintf(stderr, "kk_image: %s\n", err.msg[0] != '\0' ? err.msg : strerror(errno));
        close(fd);
        return 1;
    }
    close(fd);
    return 0;
}

static int load(char **argv)
{
    struct kk_err err = {0};
    struct kk_config cfg;
    kk_config_defaults(&cfg);
    if (kk_config_set(&cfg, "containerdSocket", argv[0], "kk_image", &err) < 0 ||
        kk_config_set(&cfg, "runPath", argv[1], "kk_image", &err) < 0 ||
        kk_config_set(&cfg, "cgroupRoot", argv[2], "kk_image", &err) < 0) {
        fprintf(stderr, "kk_image: %s\n", err.msg);
        return 1;
    }
    int cfd = kk_config_memfd(&cfg, &err);
    if (cfd < 0) {
        fprintf(stderr, "kk_image: %s\n", err.msg);
        return 1;
    }
    const char *build = getenv("BUILD");
    char path[1024];
    snprintf(path, sizeof(path), "%s/libexec/kuke-ctrd", build != NULL ? build : "build");
    struct kk_helper_proc p;
    if (kk_helper_launch(path, cfd, -1, false, &p, &err) < 0) {
        close(cfd);
        fprintf(stderr, "kk_image: %s\n", err.msg);
        return 1;
    }
    close(cfd);
    int rc = 1;
    char name[64];
    int fd = open(argv[4], O_RDONLY | O_CLOEXEC);
    Kukeon__Ipc__Ctrd__ImageLoadReply *reply = NULL;
    if (fd < 0)
        kk_error(&err, KK_ERR_NOT_FOUND, errno, "%s", argv[4]);
    else if (kk_ipc_hello(p.sock, "api", name, sizeof(name), &err) == 0 &&
             kk_ctrd_image_load(p.sock, argv[3], NULL, fd, &reply, &err) == 0) {
        for (size_t i = 0; i < reply->n_images; i++)
            printf("%s\n", reply->images[i]->name);
        protobuf_c_message_free_unpacked(&reply->base, NULL);
        rc = 0;
    }
    if (rc != 0)
        fprintf(stderr, "kk_image: %s\n", err.msg);
    if (fd >= 0)
        close(fd);
    kk_helper_stop(&p, 5000);
    return rc;
}

static int rpc(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return 2;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "kk_image rpc: connect %s: %s\n", path, strerror(errno));
        return 1;
    }
    static char buf[1 << 20];
    ssize_t n;
    while ((n = read(0, buf, sizeof(buf))) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t w = send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
            if (w <= 0)
                goto receive;
            off += w;
        }
    shutdown(fd, SHUT_WR);
receive:
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 120000) <= 0)
            break;
        n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        fwrite(buf, 1, (size_t)n, stdout);
    }
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "rpc") == 0)
        return rpc(argv[2]);
    if (argc == 5 && strcmp(argv[1], "pause-tar") == 0)
        return pause_tar(argv + 2);
    if (argc == 7 && strcmp(argv[1], "load") == 0)
        return load(argv + 2);
    fprintf(stderr, "usage: kk_image pause-tar KUKEPAUSE VERSION OUT.tar\n"
                    "       kk_image load CONTAINERD_SOCKET RUN_PATH CGROUP_ROOT REALM IMAGE.tar\n");
    return 2;
}
