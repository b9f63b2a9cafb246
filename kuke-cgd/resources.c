/* A container's resources (kukeon-reference.md 3.6) as knob writes. The conversions are documented
 * in docs/cgd.md; every value still goes through the knob table's parser, so a resource can never
 * write what CGD_SET would refuse. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kuke-cgd/cgd.h"

/* cgroup v1 cpu.shares bounds (MIN_SHARES, MAX_SHARES in the kernel). */
#define SHARES_MIN 2ULL
#define SHARES_MAX 262144ULL

/* runc's ConvertCPUSharesToCgroupV2Value (libcontainer/cgroups/utils.go), linear from [2, 262144]
 * onto [1, 10000]: the same number the Debian runc writes for the same OCI spec, so the two never
 * disagree about a container. (1024, the v1 default, becomes 39, not the v2 default 100; newer
 * runtimes switched to a curve with 1024 -> 100, but matching the runtime installed here matters
 * more.) */
uint64_t cgd_shares_to_weight(uint64_t shares)
{
    if (shares == 0)
        return 0;
    return 1 + ((shares - SHARES_MIN) * 9999) / (SHARES_MAX - SHARES_MIN);
}

static int add_write(struct cgd_knob_write *out, size_t *n, const char *knob, const char *field, uint64_t v,
                     bool is_max, struct kk_err *err)
{
    const struct cgd_knob *k = cgd_knob_find(knob, strlen(knob));
    char text[24];
    if (k == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "knob %s is not in the table", knob);
    if (is_max)
        snprintf(text, sizeof(text), "max");
    else
        snprintf(text, sizeof(text), "%" PRIu64, v);
    out[*n].knob = k;
    if (cgd_knob_parse(k, text, strlen(text), out[*n].value, sizeof(out[*n].value), err) < 0)
        return kk_error_wrap(err, "%s", field);
    (*n)++;
    return 0;
}

int cgd_resources_map(const struct kk_cgd_resources *in, uint64_t default_memory_limit_bytes,
                      struct cgd_knob_write out[KK_CGD_RESOURCES_MAX], size_t *n, struct kk_err *err)
{
    *n = 0;
    /* memoryLimitBytes: the limit itself; 0 means "not set", and then the server's default applies. */
    if (in->memory_limit_bytes < 0)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "resources.memoryLimitBytes %" PRId64 " is negative; give bytes, or 0 for no limit",
                        in->memory_limit_bytes);
    if (in->memory_limit_bytes > 0) {
        if (add_write(out, n, "memory.max", "resources.memoryLimitBytes", (uint64_t)in->memory_limit_bytes,
                      false, err) < 0)
            return -1;
    } else if (default_memory_limit_bytes > 0) {
        if (add_write(out, n, "memory.max", "defaultMemoryLimitBytes (server configuration)",
                      default_memory_limit_bytes, false, err) < 0)
            return -1;
    }

    /* cpuShares: v1 shares, as the manifest has them; cgroup v2 has weights. */
    if (in->cpu_shares < 0 || (in->cpu_shares > 0 && ((uint64_t)in->cpu_shares < SHARES_MIN ||
                                                      (uint64_t)in->cpu_shares > SHARES_MAX)))
        return kk_error(err, KK_ERR_INVALID, 0,
                        "resources.cpuShares %" PRId64
                        " is out of range: 2 to 262144, or 0 to leave cpu.weight as it is",
                        in->cpu_shares);
    if (in->cpu_shares > 0 && add_write(out, n, "cpu.weight", "resources.cpuShares",
                                        cgd_shares_to_weight((uint64_t)in->cpu_shares), false, err) < 0)
        return -1;

    /* pidsLimit: as OCI has it, -1 is unlimited. */
    if (in->pids_limit < -1)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "resources.pidsLimit %" PRId64
                        " is invalid: give a positive number, -1 for unlimited, or 0 "
                        "to leave pids.max as it is",
                        in->pids_limit);
    if (in->pids_limit != 0 &&
        add_write(out, n, "pids.max", "resources.pidsLimit",
                  in->pids_limit > 0 ? (uint64_t)in->pids_limit : 0, in->pids_limit == -1, err) < 0)
        return -1;
    return 0;
}
