/* kuke-cgd's fixed knob table (DESIGN.md section 3) and the strict parsers of its values. A knob
 * name from a request is only ever compared with the table; the file opened is the table's own
 * string. A value is one line of ASCII, parsed here and written back in a canonical form, so what
 * reaches the kernel is what this file produced, never the caller's bytes. */
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "kuke-cgd/cgd.h"

#define MIB (1ULL << 20)
#define EIB (1ULL << 60)
/* The scheduler refuses a quota above max_cfs_runtime, 2^44 - 1 microseconds (kernel/sched/core.c),
 * and a period outside 1 ms .. 1 s. */
#define CPU_QUOTA_MIN  1000ULL
#define CPU_QUOTA_MAX  ((1ULL << 44) - 1)
#define CPU_PERIOD_MIN 1000ULL
#define CPU_PERIOD_MAX 1000000ULL
/* PID_MAX_LIMIT on 64-bit kernels. */
#define PIDS_MAX_LIMIT 4194304ULL
/* Block device numbers: 12-bit major, 20-bit minor (MAJOR/MINOR in linux/kdev_t.h). */
#define DEV_MAJOR_MAX 4095ULL
#define DEV_MINOR_MAX 1048575ULL
/* blk-throttle keeps iops in an unsigned int. */
#define IOPS_MAX 4294967295ULL

/* Ranges, and why:
 *   memory.max, memory.high  1 MiB .. 1 EiB or "max": below 1 MiB nothing, not even a shell, starts
 *                            and the kernel would only OOM-kill; above 1 EiB is no host's memory.
 *   memory.swap.max          0 .. 1 EiB or "max": 0 is how swap is turned off for a cgroup.
 *   cpu.max                  quota 1 ms .. 2^44-1 us or "max", period 1 ms .. 1 s: the scheduler's.
 *   cpu.weight               1 .. 10000: the kernel's.
 *   pids.max                 1 .. 4194304 or "max": 0 would forbid even the first fork.
 *   io.max                   bps 1 .. 1 EiB/s, iops 1 .. 2^32-1, or "max"; device MAJ:MIN.
 *   cgroup.freeze, .kill     written only by CGD_FREEZE and CGD_KILL, which wait for the result. */
const struct cgd_knob cgd_knob_table[] = {
    {"memory.max", "memory", CGD_SYN_BYTES_OR_MAX, MIB, EIB, true, NULL},
    {"memory.high", "memory", CGD_SYN_BYTES_OR_MAX, MIB, EIB, true, NULL},
    {"memory.swap.max", "memory", CGD_SYN_BYTES_OR_MAX, 0, EIB, true, NULL},
    {"cpu.max", "cpu", CGD_SYN_CPU_MAX, CPU_QUOTA_MIN, CPU_QUOTA_MAX, true, NULL},
    {"cpu.weight", "cpu", CGD_SYN_NUMBER, 1, 10000, true, NULL},
    {"pids.max", "pids", CGD_SYN_NUMBER_OR_MAX, 1, PIDS_MAX_LIMIT, true, NULL},
    {"io.max", "io", CGD_SYN_IO_MAX, 1, EIB, true, NULL},
    {"cgroup.freeze", NULL, CGD_SYN_FLAG, 0, 1, false, "the freeze request (CGD_FREEZE)"},
    {"cgroup.kill", NULL, CGD_SYN_FLAG, 1, 1, false, "the kill request (CGD_KILL)"},
};
const size_t cgd_knob_count = KK_ARRAY_SIZE(cgd_knob_table);

/* The cgroup files a caller might think of, and why none of them is a knob. */
static const struct {
    const char *name;
    const char *why;
} knob_refusals[] = {
    {"cgroup.procs", "processes are placed in cgroups by the container runtime, never by kuke-cgd"},
    {"cgroup.threads", "threads are placed in cgroups by the container runtime, never by kuke-cgd"},
    {"cgroup.subtree_control", "kuke-cgd enables controllers itself when it creates a layer"},
    {"cgroup.type", "kukeon's cgroups are domain cgroups"},
    {"cgroup.max.depth", "the tree's shape is kukeon's hierarchy"},
    {"cgroup.max.descendants", "the tree's shape is kukeon's hierarchy"},
};

const struct cgd_knob *cgd_knob_find(const char *name, size_t len)
{
    for (size_t i = 0; i < cgd_knob_count; i++)
        if (strlen(cgd_knob_table[i].name) == len && memcmp(cgd_knob_table[i].name, name, len) == 0)
            return &cgd_knob_table[i];
    return NULL;
}

const char *cgd_knob_refusal(const char *name, size_t len)
{
    for (size_t i = 0; i < KK_ARRAY_SIZE(knob_refusals); i++)
        if (strlen(knob_refusals[i].name) == len && memcmp(knob_refusals[i].name, name, len) == 0)
            return knob_refusals[i].why;
    return NULL;
}

/* ---- numbers ----------------------------------------------------------------------------------- */

enum num_status { NUM_OK = 0, NUM_EMPTY, NUM_SIGN, NUM_NOT_DIGIT, NUM_LEADING_ZERO, NUM_OVERFLOW };

/* A plain unsigned decimal: no sign, no leading zero, no suffix, no spaces; overflow detected. */
static enum num_status parse_dec(const char *s, size_t n, uint64_t *out)
{
    if (n == 0)
        return NUM_EMPTY;
    if (s[0] == '+' || s[0] == '-')
        return NUM_SIGN;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return NUM_NOT_DIGIT;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return NUM_OVERFLOW;
        v = v * 10 + d;
    }
    if (n > 1 && s[0] == '0')
        return NUM_LEADING_ZERO;
    *out = v;
    return NUM_OK;
}

static bool is_max(const char *s, size_t n)
{
    return n == 3 && memcmp(s, "max", 3) == 0;
}

/* One number (or "max" when allowed) of a knob, with the message a user needs. what names the part
 * ("value", "quota", "rbps"). *v is UINT64_MAX for "max". */
static int parse_part(const struct cgd_knob *k, const char *what, const char *s, size_t n, bool max_ok,
                      uint64_t min, uint64_t max, const char *unit, uint64_t *v, struct kk_err *err)
{
    char shown[64], part[40];
    kk_snprintf(part, sizeof(part), NULL, "part", "%.*s", (int)(n < 32 ? n : 32), s);
    kk_log_escape(part, shown, sizeof(shown));
    const char *or_max = max_ok ? ", or \"max\"" : "";
    if (max_ok && is_max(s, n)) {
        *v = UINT64_MAX;
        return 0;
    }
    switch (parse_dec(s, n, v)) {
    case NUM_OK:
        break;
    case NUM_EMPTY:
        return kk_error(err, KK_ERR_INVALID, 0, "%s: %s is empty", k->name, what);
    case NUM_SIGN:
        return kk_error(err, KK_ERR_INVALID, 0,
                        "%s: %s \"%s\" has a sign; write an unsigned decimal number%s", k->name, what, shown,
                        or_max);
    case NUM_NOT_DIGIT:
        return kk_error(
            err, KK_ERR_INVALID, 0,
            "%s: %s \"%s\" is not a decimal number (no units or suffixes: write %s in plain digits%s)",
            k->name, what, shown, unit, or_max);
    case NUM_LEADING_ZERO:
        return kk_error(err, KK_ERR_INVALID, 0, "%s: %s \"%s\" has a leading zero", k->name, what, shown);
    case NUM_OVERFLOW:
        return kk_error(err, KK_ERR_INVALID, 0, "%s: %s \"%s\" does not fit 64 bits", k->name, what, shown);
    }
    if (*v < min || *v > max)
        return kk_error(err, KK_ERR_INVALID, 0, "%s: %s %llu is out of range: %llu to %llu%s%s%s", k->name,
                        what, (unsigned long long)*v, (unsigned long long)min, (unsigned long long)max,
                        unit[0] != '\0' ? " " : "", unit, or_max);
    return 0;
}

static int put_number(char *out, size_t size, uint64_t v, struct kk_err *err)
{
    if (v == UINT64_MAX)
        return kk_snprintf(out, size, err, "knob value", "max");
    return kk_snprintf(out, size, err, "knob value", "%llu", (unsigned long long)v);
}

/* ---- syntaxes ---------------------------------------------------------------------------------- */

/* "<quota|max> [period]" */
static int parse_cpu_max(const struct cgd_knob *k, const char *v, size_t n, char *out, size_t size,
                         struct kk_err *err)
{
    const char *sp = memchr(v, ' ', n);
    size_t qn = sp != NULL ? (size_t)(sp - v) : n;
    uint64_t quota, period = 0;
    if (parse_part(k, "quota", v, qn, true, k->min, k->max, "microseconds", &quota, err) < 0)
        return -1;
    if (sp != NULL && parse_part(k, "period", sp + 1, n - qn - 1, false, CPU_PERIOD_MIN, CPU_PERIOD_MAX,
                                 "microseconds", &period, err) < 0)
        return -1;
    char q[24];
    if (put_number(q, sizeof(q), quota, err) < 0)
        return -1;
    if (sp == NULL)
        return kk_snprintf(out, size, err, "knob value", "%s", q);
    return kk_snprintf(out, size, err, "knob value", "%s %llu", q, (unsigned long long)period);
}

/* "MAJ:MIN key=value [key=value...]" with keys rbps, wbps, riops, wiops, each at most once. */
static int parse_io_max(const struct cgd_knob *k, const char *v, size_t n, char *out, size_t size,
                        struct kk_err *err)
{
    static const struct {
        const char *key;
        uint64_t max;
        const char *unit;
    } keys[] = {{"rbps", EIB, "bytes per second"},
                {"wbps", EIB, "bytes per second"},
                {"riops", IOPS_MAX, "operations per second"},
                {"wiops", IOPS_MAX, "operations per second"}};
    uint64_t vals[4];
    bool given[4] = {false, false, false, false};

    const char *sp = memchr(v, ' ', n);
    if (sp == NULL)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "%s: write \"MAJ:MIN\" and at least one of rbps=, wbps=, riops=, wiops= (e.g. \"8:0 "
                        "wbps=1048576\")",
                        k->name);
    size_t dn = (size_t)(sp - v);
    const char *colon = memchr(v, ':', dn);
    if (colon == NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "%s: the device must be MAJ:MIN (e.g. 8:0)", k->name);
    uint64_t major, minor;
    if (parse_part(k, "device major", v, (size_t)(colon - v), false, 1, DEV_MAJOR_MAX, "", &major, err) < 0 ||
        parse_part(k, "device minor", colon + 1, dn - (size_t)(colon - v) - 1, false, 0, DEV_MINOR_MAX, "",
                   &minor, err) < 0)
        return -1;

    const char *p = sp + 1, *end = v + n;
    while (p < end) {
        const char *tok_end = memchr(p, ' ', (size_t)(end - p));
        if (tok_end == NULL)
            tok_end = end;
        const char *eq = memchr(p, '=', (size_t)(tok_end - p));
        size_t kl = eq != NULL ? (size_t)(eq - p) : 0;
        size_t ki = KK_ARRAY_SIZE(keys);
        for (size_t i = 0; eq != NULL && i < KK_ARRAY_SIZE(keys); i++)
            if (strlen(keys[i].key) == kl && memcmp(keys[i].key, p, kl) == 0)
                ki = i;
        if (ki == KK_ARRAY_SIZE(keys))
            return kk_error(err, KK_ERR_INVALID, 0,
                            "%s: each limit is rbps=, wbps=, riops= or wiops=", k->name);
        if (given[ki])
            return kk_error(err, KK_ERR_INVALID, 0, "%s: %s is given twice", k->name, keys[ki].key);
        if (parse_part(k, keys[ki].key, eq + 1, (size_t)(tok_end - eq - 1), true, 1, keys[ki].max,
                       keys[ki].unit, &vals[ki], err) < 0)
            return -1;
        given[ki] = true;
        p = tok_end + 1;
    }

    size_t pos = 0;
    int w = snprintf(out, size, "%llu:%llu", (unsigned long long)major, (unsigned long long)minor);
    if (w < 0 || (size_t)w >= size)
        return kk_error(err, KK_ERR_INTERNAL, 0, "%s value does not fit", k->name);
    pos = (size_t)w;
    for (size_t i = 0; i < KK_ARRAY_SIZE(keys); i++) {
        if (!given[i])
            continue;
        char num[24];
        if (put_number(num, sizeof(num), vals[i], err) < 0)
            return -1;
        w = snprintf(out + pos, size - pos, " %s=%s", keys[i].key, num);
        if (w < 0 || (size_t)w >= size - pos)
            return kk_error(err, KK_ERR_INTERNAL, 0, "%s value does not fit", k->name);
        pos += (size_t)w;
    }
    return 0;
}

/* One line of printable ASCII, single spaces only where the syntax has them. */
static int check_line(const struct cgd_knob *k, const char *v, size_t n, struct kk_err *err)
{
    bool spaces_ok = k->syntax == CGD_SYN_CPU_MAX || k->syntax == CGD_SYN_IO_MAX;
    if (n == 0)
        return kk_error(err, KK_ERR_INVALID, 0, "%s: the value is empty", k->name);
    if (n >= KK_CGD_VALUE_SIZE)
        return kk_error(err, KK_ERR_INVALID, 0, "%s: the value is %zu bytes, at most %d", k->name, n,
                        KK_CGD_VALUE_SIZE - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '\n' || c == '\r')
            return kk_error(err, KK_ERR_INVALID, 0,
                            "%s: the value contains a line break; a value is one line", k->name);
        if (c < 0x20 || c > 0x7e)
            return kk_error(err, KK_ERR_INVALID, 0,
                            "%s: the value contains a control or non-ASCII byte (0x%02x)", k->name, c);
        if (c == ' ' && !spaces_ok)
            return kk_error(err, KK_ERR_INVALID, 0, "%s: the value contains a space", k->name);
        if (c == ' ' && (i == 0 || i + 1 == n || v[i + 1] == ' '))
            return kk_error(err, KK_ERR_INVALID, 0, "%s: the value has a leading, trailing or doubled space",
                            k->name);
    }
    return 0;
}

int cgd_knob_parse(const struct cgd_knob *k, const char *value, size_t len, char *out, size_t size,
                   struct kk_err *err)
{
    if (value == NULL || memchr(value, '\0', len) != NULL)
        return kk_error(err, KK_ERR_INVALID, 0, "%s: the value contains a NUL byte", k->name);
    if (check_line(k, value, len, err) < 0)
        return -1;
    uint64_t v;
    switch (k->syntax) {
    case CGD_SYN_BYTES_OR_MAX:
        if (parse_part(k, "value", value, len, true, k->min, k->max, "bytes", &v, err) < 0)
            return -1;
        return put_number(out, size, v, err);
    case CGD_SYN_NUMBER:
    case CGD_SYN_FLAG:
        if (parse_part(k, "value", value, len, false, k->min, k->max, "", &v, err) < 0)
            return -1;
        return put_number(out, size, v, err);
    case CGD_SYN_NUMBER_OR_MAX:
        if (parse_part(k, "value", value, len, true, k->min, k->max, "", &v, err) < 0)
            return -1;
        return put_number(out, size, v, err);
    case CGD_SYN_CPU_MAX:
        return parse_cpu_max(k, value, len, out, size, err);
    case CGD_SYN_IO_MAX:
        return parse_io_max(k, value, len, out, size, err);
    }
    return kk_error(err, KK_ERR_INTERNAL, 0, "%s: unknown syntax %d", k->name, (int)k->syntax);
}
