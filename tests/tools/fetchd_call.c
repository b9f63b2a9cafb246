/* fetchd_call: test tool that plays the API worker against kuke-fetchd. It starts the real helper the
 * way kukeond does (kk_helper_launch: identity drop and sandbox included), says HELLO, sends requests
 * and prints the replies, so shell tests can drive the distribution client against real registries.
 *   fetchd_call [OPTIONS] resolve REF
 *   fetchd_call [OPTIONS] fetch REF MANIFEST_DIGEST OUT      OUT is created (0600), or truncated
 *   fetchd_call [OPTIONS] pull REF OUT                       resolve, then fetch into OUT
 * OPTIONS: -u USER  -p PASSWORD  -k (insecureSkipTLSVerify)  -a ARCH  -v VARIANT
 *          -s DIGEST (skip; repeatable)  -l (print the helper's log and audit lines on stderr at exit)
 * Prints for RESOLVE "name N", "index D", "manifest MT D SIZE", "config ...", "layer ..." lines; for
 * FETCH "fetched=N skipped=N bytes=N"; on failure "error KIND: MESSAGE" and exit 1. When OUT is given
 * and the fetch fails, OUT is removed, as a caller must discard it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/config.h"
#include "ipc/client.h"
#include "ipc/fetchd_client.h"
#include "ipc/launch.h"

#define SKIP_MAX 300

static void usage(void)
{
    fprintf(stderr, "usage: fetchd_call [-u USER] [-p PASSWORD] [-k] [-a ARCH] [-v VARIANT] [-s DIGEST]... [-l]\n"
                    "                   resolve REF | fetch REF MANIFEST_DIGEST OUT | pull REF OUT\n");
    exit(2);
}

static void drain(int fd, const char *label)
{
    if (fd < 0)
        return;
    char buf[4096];
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 200) <= 0)
            return;
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            return;
        fprintf(stderr, "%s", label);
        fwrite(buf, 1, (size_t)n, stderr);
    }
}

static void print_desc(const char *what, const Kukeon__Ipc__Fetchd__Descriptor *d)
{
    if (d != NULL)
        printf("%s %s %s %llu\n", what, d->media_type, d->digest, (unsigned long long)d->size);
}

static int fail(const struct kk_err *err)
{
    printf("error %s: %s\n", kk_err_kind_name(err->kind), err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    kk_fetchd_source src = KUKEON__IPC__FETCHD__SOURCE__INIT;
    const char *skip[SKIP_MAX];
    size_t n_skip = 0;
    bool show_log = false;
    int opt;
    while ((opt = getopt(argc, argv, "u:p:ka:v:s:l")) != -1) {
        switch (opt) {
        case 'u': src.username = optarg; break;
        case 'p': src.password = optarg; break;
        case 'k': src.insecure_skip_tls_verify = true; break;
        case 'a': src.architecture = optarg; break;
        case 'v': src.variant = optarg; break;
        case 's':
            if (n_skip < SKIP_MAX)
                skip[n_skip++] = optarg;
            break;
        case 'l': show_log = true; break;
        default: usage();
        }
    }
    if (optind + 2 > argc)
        usage();
    const char *verb = argv[optind];
    src.ref = argv[optind + 1];
    const char *digest = NULL, *out_path = NULL;
    if (strcmp(verb, "resolve") == 0 && argc - optind == 2) {
    } else if (strcmp(verb, "fetch") == 0 && argc - optind == 4) {
        digest = argv[optind + 2];
        out_path = argv[optind + 3];
    } else if (strcmp(verb, "pull") == 0 && argc - optind == 3) {
        out_path = argv[optind + 2];
    } else {
        usage();
    }

    struct kk_err err = {0};
    struct kk_config cfg;
    kk_config_defaults(&cfg);
    int cfd = kk_config_memfd(&cfg, &err);
    if (cfd < 0)
        return fail(&err);
    char path[1024];
    const char *build = getenv("BUILD");
    snprintf(path, sizeof(path), "%s/libexec/kuke-fetchd", build != NULL ? build : "build");
    struct kk_helper_proc p;
    int rc = kk_helper_launch(path, cfd, -1, true, &p, &err);
    close(cfd);
    if (rc < 0)
        return fail(&err);
    char name[64];
    int ret = 1;
    int out_fd = -1;
    if (kk_ipc_hello(p.sock, "api", name, sizeof(name), &err) < 0) {
        fail(&err);
        goto out;
    }
    Kukeon__Ipc__Fetchd__Resolved *res = NULL;
    char mdigest[80] = "";
    if (digest != NULL) {
        snprintf(mdigest, sizeof(mdigest), "%s", digest);
    } else {
        if (kk_fetchd_resolve(p.sock, &src, &res, &err) < 0) {
            fail(&err);
            goto out;
        }
        printf("name %s\nindex %s\n", res->name, res->index_digest);
        print_desc("manifest", res->manifest);
        print_desc("config", res->config);
        for (size_t i = 0; i < res->n_layers; i++)
            print_desc("layer", res->layers[i]);
        if (res->manifest != NULL)
            snprintf(mdigest, sizeof(mdigest), "%s", res->manifest->digest);
        protobuf_c_message_free_unpacked(&res->base, NULL);
    }
    if (out_path != NULL) {
        out_fd = open(out_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (out_fd < 0) {
            printf("error Internal: cannot create %s: %s\n", out_path, strerror(errno));
            goto out;
        }
        Kukeon__Ipc__Fetchd__FetchReply *fr = NULL;
        if (kk_fetchd_fetch(p.sock, &src, mdigest, skip, n_skip, out_fd, &fr, &err) < 0) {
            fail(&err);
            unlink(out_path);
            goto out;
        }
        printf("fetched=%u skipped=%u bytes=%llu\n", fr->blobs_fetched, fr->blobs_skipped,
               (unsigned long long)fr->bytes_fetched);
        protobuf_c_message_free_unpacked(&fr->base, NULL);
    }
    ret = 0;
out:
    fflush(stdout);
    if (out_fd >= 0)
        close(out_fd);
    /* Keep the log and audit pipes past the stop: they are read to their end once the helper is gone. */
    int log_fd = p.log_fd >= 0 ? dup(p.log_fd) : -1;
    int audit_fd = p.audit_fd >= 0 ? dup(p.audit_fd) : -1;
    int st = kk_helper_stop(&p, 5000);
    if (st >= 0 && WIFSIGNALED(st)) {
        printf("helper killed by signal %d\n", WTERMSIG(st));
        ret = 1;
    }
    if (show_log || ret != 0) {
        drain(log_fd, "# fetchd log: ");
        drain(audit_fd, "# fetchd audit: ");
    }
    if (log_fd >= 0)
        close(log_fd);
    if (audit_fd >= 0)
        close(audit_fd);
    return ret;
}
