/* helper_rtt: the cost of one privilege-separation round trip, as the API worker pays it. Starts
 * kuke-cgd exactly as the supervisor does (kk_helper_launch), says HELLO, then times N STAT
 * requests (API worker -> kuke-cgd -> API worker: frame, validate, derive, openat2 beneath the
 * cgroup root, reply) and prints the median, the 90th percentile and the mean in microseconds.
 *   helper_rtt BUILD_DIR CGROUP_ROOT N
 * Used by bench/run.sh; not a test. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/derive.h"
#include "ipc/cgd_client.h"
#include "ipc/client.h"
#include "ipc/launch.h"

static int cmp_u64(const void *a, const void *b)
{
    unsigned long long x = *(const unsigned long long *)a, y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

static unsigned long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (unsigned long long)t.tv_sec * 1000000000ull + (unsigned long long)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: helper_rtt BUILD_DIR CGROUP_ROOT N\n");
        return 2;
    }
    long n = strtol(argv[3], NULL, 10);
    if (n < 1 || n > 1000000) {
        fprintf(stderr, "helper_rtt: N must be 1..1000000\n");
        return 2;
    }
    struct kk_err err = {0};
    struct kk_config cfg;
    kk_config_defaults(&cfg);
    char helper[4096];
    snprintf(helper, sizeof(helper), "%s/libexec/kuke-cgd", argv[1]);
    if (kk_config_set(&cfg, "cgroupRoot", argv[2], "helper_rtt", &err) < 0) {
        fprintf(stderr, "helper_rtt: %s\n", err.msg);
        return 1;
    }
    struct kk_helper_proc hp;
    int cfd = kk_config_memfd(&cfg, &err);
    if (cfd < 0 || kk_helper_launch(helper, cfd, -1, false, &hp, &err) < 0) {
        fprintf(stderr, "helper_rtt: launching %s: %s\n", helper, err.msg);
        return 1;
    }
    close(cfd);
    char name[64];
    if (kk_ipc_hello(hp.sock, "api", name, sizeof(name), &err) < 0) {
        fprintf(stderr, "helper_rtt: HELLO: %s\n", err.msg);
        kk_helper_stop(&hp, 1000);
        return 1;
    }
    unsigned long long *t = calloc((size_t)n, sizeof(*t));
    if (t == NULL)
        return 1;
    struct kk_derive_names names = {.realm = "rttprobe"};
    char drain[65536];
    for (long i = 0; i < n; i++) {
        struct kk_cgd_stat st;
        unsigned long long t0 = now_ns();
        if (kk_cgd_stat(hp.sock, &names, &st, &err) < 0) {
            fprintf(stderr, "helper_rtt: STAT: %s\n", err.msg);
            kk_helper_stop(&hp, 1000);
            return 1;
        }
        t[i] = now_ns() - t0;
        /* The helper's audit lines go down a pipe: keep it from filling (not timed). */
        while (read(hp.audit_fd, drain, sizeof(drain)) > 0)
            ;
    }
    unsigned long long sum = 0;
    for (long i = 0; i < n; i++)
        sum += t[i];
    qsort(t, (size_t)n, sizeof(*t), cmp_u64);
    printf("n=%ld median_us=%.1f p90_us=%.1f mean_us=%.1f\n", n, (double)t[n / 2] / 1000.0,
           (double)t[(n * 9) / 10] / 1000.0, (double)sum / (double)n / 1000.0);
    free(t);
    kk_helper_stop(&hp, 2000);
    return 0;
}
