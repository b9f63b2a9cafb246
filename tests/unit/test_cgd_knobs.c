/* Unit tests for kuke-cgd's knob table and value parsers (kuke-cgd/knobs.c) and the container
 * resource conversions (kuke-cgd/resources.c): exact lookup, the refusals, every syntax at its
 * edges (ranges, "max", signs, overflow, line breaks, spaces, suffixes), the canonical form written
 * back, and shares -> weight as runc computes it. Pure: no cgroup is touched. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "kuke-cgd/cgd.h"

static const struct cgd_knob *knob(const char *name)
{
    const struct cgd_knob *k = cgd_knob_find(name, strlen(name));
    if (k == NULL)
        fail_msg("knob %s is not in the table", name);
    return k;
}

/* ---- the table ------------------------------------------------------------------------------- */

static void test_table_is_the_designed_one(void **state)
{
    (void)state;
    const char *const settable[] = {"memory.max", "memory.high", "memory.swap.max", "cpu.max",
                                    "cpu.weight", "pids.max",    "io.max"};
    assert_int_equal(cgd_knob_count, 9);
    for (size_t i = 0; i < 7; i++)
        assert_true(knob(settable[i])->settable);
    assert_false(knob("cgroup.freeze")->settable);
    assert_false(knob("cgroup.kill")->settable);
    assert_null(knob("cgroup.freeze")->controller);
    assert_string_equal(knob("memory.swap.max")->controller, "memory");
    assert_string_equal(knob("io.max")->controller, "io");
}

static void test_lookup_is_exact(void **state)
{
    (void)state;
    const char *const not_knobs[] = {"cgroup.procs",   "cgroup.subtree_control",
                                     "../memory.max",  "memory.max/",
                                     "/memory.max",    "memory.max ",
                                     " memory.max",    "MEMORY.MAX",
                                     "memory.maxx",    "memory.ma",
                                     "memory",         "",
                                     "./memory.max",   "memory.max\n",
                                     "cgroup.threads", "memory.oom.group"};
    for (size_t i = 0; i < sizeof(not_knobs) / sizeof(not_knobs[0]); i++)
        if (cgd_knob_find(not_knobs[i], strlen(not_knobs[i])) != NULL)
            fail_msg("\"%s\" was found in the table", not_knobs[i]);
    /* A counted name: "memory.max" followed by more bytes is not memory.max. */
    assert_null(cgd_knob_find("memory.maxXYZ", 13));
    assert_non_null(cgd_knob_find("memory.maxXYZ", 10));
    /* The file opened is always the table's own string. */
    const struct cgd_knob *k = cgd_knob_find("pids.max", 8);
    assert_ptr_equal(k, knob("pids.max"));
    assert_string_equal(k->name, "pids.max");
}

static void test_refusals_explain(void **state)
{
    (void)state;
    assert_non_null(strstr(cgd_knob_refusal("cgroup.procs", 12), "never by kuke-cgd"));
    assert_non_null(strstr(cgd_knob_refusal("cgroup.subtree_control", 22), "enables controllers itself"));
    assert_non_null(cgd_knob_refusal("cgroup.threads", 14));
    assert_null(cgd_knob_refusal("memory.max", 10));
    assert_null(cgd_knob_refusal("cgroup.procsx", 13));
}

/* ---- values ---------------------------------------------------------------------------------- */

struct value_case {
    const char *knob, *value;
    const char *want;        /* canonical value written, or NULL: refused */
    const char *want_in_msg; /* part of the refusal */
};

static const struct value_case value_cases[] = {
    /* memory.max / memory.high: "max" or 1 MiB .. 1 EiB */
    {"memory.max", "max", "max", NULL},
    {"memory.max", "1048576", "1048576", NULL},
    {"memory.max", "1152921504606846976", "1152921504606846976", NULL},
    {"memory.max", "1048575", NULL, "out of range: 1048576 to 1152921504606846976 bytes, or \"max\""},
    {"memory.max", "1152921504606846977", NULL, "out of range"},
    {"memory.max", "0", NULL, "out of range"},
    {"memory.max", "-1", NULL, "has a sign"},
    {"memory.max", "+1048576", NULL, "has a sign"},
    {"memory.max", "18446744073709551615", NULL, "out of range"},
    {"memory.max", "18446744073709551616", NULL, "does not fit 64 bits"},
    {"memory.max", "99999999999999999999999999999", NULL, "does not fit 64 bits"},
    {"memory.max", "64M", NULL, "is not a decimal number (no units"},
    {"memory.max", "1e9", NULL, "is not a decimal number"},
    {"memory.max", "0x100000", NULL, "is not a decimal number"},
    {"memory.max", "01048576", NULL, "leading zero"},
    {"memory.max", "1048576\n", NULL, "line break"},
    {"memory.max", "max\n", NULL, "line break"},
    {"memory.max", "1048576\r", NULL, "line break"},
    {"memory.max", "10485\n76", NULL, "line break"},
    {"memory.max", "1048576 ", NULL, "contains a space"},
    {"memory.max", " 1048576", NULL, "contains a space"},
    {"memory.max", "", NULL, "is empty"},
    {"memory.max", "MAX", NULL, "is not a decimal number"},
    {"memory.max", "1048576\t", NULL, "control or non-ASCII"},
    {"memory.max", "1048576\x80", NULL, "control or non-ASCII"},
    {"memory.high", "2097152", "2097152", NULL},
    {"memory.high", "max", "max", NULL},
    /* memory.swap.max: 0 is allowed (no swap) */
    {"memory.swap.max", "0", "0", NULL},
    {"memory.swap.max", "max", "max", NULL},
    /* cpu.weight: 1 .. 10000, no "max" */
    {"cpu.weight", "1", "1", NULL},
    {"cpu.weight", "10000", "10000", NULL},
    {"cpu.weight", "0", NULL, "out of range: 1 to 10000"},
    {"cpu.weight", "10001", NULL, "out of range"},
    {"cpu.weight", "max", NULL, "is not a decimal number"},
    /* pids.max: 1 .. 4194304 or "max" */
    {"pids.max", "1", "1", NULL},
    {"pids.max", "4194304", "4194304", NULL},
    {"pids.max", "max", "max", NULL},
    {"pids.max", "0", NULL, "out of range: 1 to 4194304, or \"max\""},
    {"pids.max", "4194305", NULL, "out of range"},
    {"pids.max", "-5", NULL, "has a sign"},
    /* cpu.max: "<quota|max> [period]" */
    {"cpu.max", "max", "max", NULL},
    {"cpu.max", "max 100000", "max 100000", NULL},
    {"cpu.max", "50000", "50000", NULL},
    {"cpu.max", "50000 100000", "50000 100000", NULL},
    {"cpu.max", "1000 1000", "1000 1000", NULL},
    {"cpu.max", "17592186044415 1000000", "17592186044415 1000000", NULL},
    {"cpu.max", "999 100000", NULL, "quota 999 is out of range"},
    {"cpu.max", "17592186044416", NULL, "quota 17592186044416 is out of range"},
    {"cpu.max", "50000 999", NULL, "period 999 is out of range: 1000 to 1000000 microseconds"},
    {"cpu.max", "50000 1000001", NULL, "period 1000001 is out of range"},
    {"cpu.max", "50000 max", NULL, "period \"max\" is not a decimal number"},
    {"cpu.max", "50000  100000", NULL, "doubled space"},
    {"cpu.max", "50000 100000 ", NULL, "trailing"},
    {"cpu.max", " 50000", NULL, "leading"},
    {"cpu.max", "50000 100000 5", NULL, "period \"100000 5\" is not a decimal number"},
    {"cpu.max", "50000\n100000", NULL, "line break"},
    {"cpu.max", "-50000 100000", NULL, "quota \"-50000\" has a sign"},
    /* io.max: "MAJ:MIN key=value..." */
    {"io.max", "8:0 wbps=1048576", "8:0 wbps=1048576", NULL},
    {"io.max", "8:16 riops=100 rbps=max", "8:16 rbps=max riops=100", NULL},
    {"io.max", "254:0 rbps=1 wbps=2 riops=3 wiops=4", "254:0 rbps=1 wbps=2 riops=3 wiops=4", NULL},
    {"io.max", "8:0 wiops=4294967295", "8:0 wiops=4294967295", NULL},
    {"io.max", "8:0 wiops=4294967296", NULL, "wiops 4294967296 is out of range"},
    {"io.max", "8:0 rbps=0", NULL, "rbps 0 is out of range"},
    {"io.max", "8:0", NULL, "at least one of rbps="},
    {"io.max", "8 rbps=1", NULL, "MAJ:MIN"},
    {"io.max", "0:0 rbps=1", NULL, "device major 0 is out of range"},
    {"io.max", "4096:0 rbps=1", NULL, "device major 4096 is out of range"},
    {"io.max", "8:1048576 rbps=1", NULL, "device minor 1048576 is out of range"},
    {"io.max", "8:-1 rbps=1", NULL, "has a sign"},
    {"io.max", "8:0 rbps=1 rbps=2", NULL, "rbps is given twice"},
    {"io.max", "8:0 foo=1", NULL, "each limit is rbps="},
    {"io.max", "8:0 rbps", NULL, "each limit is rbps="},
    {"io.max", "8:0 rbps=", NULL, "rbps is empty"},
    {"io.max", "8:0 rbps=1\n", NULL, "line break"},
    {"io.max", "8:0 rbps=1 ", NULL, "trailing"},
    /* the two kuke-cgd writes itself */
    {"cgroup.freeze", "1", "1", NULL},
    {"cgroup.freeze", "0", "0", NULL},
    {"cgroup.freeze", "2", NULL, "out of range"},
    {"cgroup.kill", "1", "1", NULL},
    {"cgroup.kill", "0", NULL, "out of range"},
};

static void test_values(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]); i++) {
        const struct value_case *c = &value_cases[i];
        char out[KK_CGD_VALUE_SIZE];
        struct kk_err err;
        kk_err_clear(&err);
        int rc = cgd_knob_parse(knob(c->knob), c->value, strlen(c->value), out, sizeof(out), &err);
        if (c->want != NULL) {
            if (rc != 0)
                fail_msg("row %zu %s=\"%s\": refused: %s", i, c->knob, c->value, err.msg);
            if (strcmp(out, c->want) != 0)
                fail_msg("row %zu %s=\"%s\": wrote \"%s\", want \"%s\"", i, c->knob, c->value, out, c->want);
        } else {
            if (rc != -1)
                fail_msg("row %zu %s=\"%s\": accepted as \"%s\"", i, c->knob, c->value, out);
            if (err.kind != KK_ERR_INVALID)
                fail_msg("row %zu: kind %s", i, kk_err_kind_name(err.kind));
            if (strstr(err.msg, c->want_in_msg) == NULL)
                fail_msg("row %zu %s=\"%s\": message \"%s\" lacks \"%s\"", i, c->knob, c->value, err.msg,
                         c->want_in_msg);
            if (strncmp(err.msg, c->knob, strlen(c->knob)) != 0)
                fail_msg("row %zu: message \"%s\" does not start with the knob's name", i, err.msg);
        }
    }
}

static void test_value_edges(void **state)
{
    (void)state;
    char out[KK_CGD_VALUE_SIZE];
    struct kk_err err;
    /* An embedded NUL (a counted string from outside) is refused, not cut short. */
    assert_int_equal(cgd_knob_parse(knob("pids.max"),
                                    "10\0"
                                    "0",
                                    4, out, sizeof(out), &err),
                     -1);
    assert_non_null(strstr(err.msg, "NUL"));
    /* Too long for one line of the protocol. */
    char big[KK_CGD_VALUE_SIZE + 8];
    memset(big, '1', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cgd_knob_parse(knob("memory.max"), big, strlen(big), out, sizeof(out), &err), -1);
    assert_non_null(strstr(err.msg, "at most 127"));
    /* A caller's bytes in a message are escaped. */
    assert_int_equal(cgd_knob_parse(knob("memory.max"), "\"x\"", 3, out, sizeof(out), &err), -1);
    assert_non_null(strstr(err.msg, "\\\"x\\\""));
}

/* ---- resources ------------------------------------------------------------------------------- */

static void test_shares_to_weight(void **state)
{
    (void)state;
    /* 1 + ((shares - 2) * 9999) / 262142, as runc's ConvertCPUSharesToCgroupV2Value. */
    const uint64_t cases[][2] = {{2, 1},     {3, 1},         {512, 20},      {1024, 39},
                                 {2048, 79}, {100000, 3815}, {262144, 10000}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(cgd_shares_to_weight(cases[i][0]), cases[i][1]);
    assert_int_equal(cgd_shares_to_weight(0), 0);
}

struct res_case {
    struct kk_cgd_resources in;
    uint64_t default_memory;
    const char *want; /* "knob=value;..." or NULL: refused */
    const char *want_in_msg;
};

static const struct res_case res_cases[] = {
    {{0, 0, 0}, 0, "", NULL},
    {{0, 0, 0}, 67108864, "memory.max=67108864;", NULL},
    {{134217728, 0, 0}, 67108864, "memory.max=134217728;", NULL},
    {{134217728, 1024, 100}, 0, "memory.max=134217728;cpu.weight=39;pids.max=100;", NULL},
    {{0, 262144, -1}, 0, "cpu.weight=10000;pids.max=max;", NULL},
    {{0, 2, 4194304}, 0, "cpu.weight=1;pids.max=4194304;", NULL},
    {{-1, 0, 0}, 0, NULL, "resources.memoryLimitBytes -1 is negative"},
    {{1024, 0, 0}, 0, NULL, "resources.memoryLimitBytes: memory.max: value 1024 is out of range"},
    {{0, 0, 0},
     4096,
     NULL,
     "defaultMemoryLimitBytes (server configuration): memory.max: value 4096 is out of range"},
    {{0, 1, 0}, 0, NULL, "resources.cpuShares 1 is out of range: 2 to 262144"},
    {{0, 262145, 0}, 0, NULL, "resources.cpuShares 262145 is out of range"},
    {{0, -3, 0}, 0, NULL, "resources.cpuShares -3 is out of range"},
    {{0, 0, -2}, 0, NULL, "resources.pidsLimit -2 is invalid"},
    {{0, 0, 4194305}, 0, NULL, "resources.pidsLimit: pids.max: value 4194305 is out of range"},
    {{INT64_MAX, 0, 0}, 0, NULL, "out of range"},
};

static void test_resources_map(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(res_cases) / sizeof(res_cases[0]); i++) {
        const struct res_case *c = &res_cases[i];
        struct cgd_knob_write w[KK_CGD_RESOURCES_MAX];
        size_t n = 99;
        struct kk_err err;
        kk_err_clear(&err);
        int rc = cgd_resources_map(&c->in, c->default_memory, w, &n, &err);
        if (c->want == NULL) {
            if (rc != -1)
                fail_msg("row %zu accepted", i);
            if (strstr(err.msg, c->want_in_msg) == NULL)
                fail_msg("row %zu: message \"%s\" lacks \"%s\"", i, err.msg, c->want_in_msg);
            continue;
        }
        if (rc != 0)
            fail_msg("row %zu refused: %s", i, err.msg);
        char got[256] = "";
        for (size_t j = 0; j < n; j++) {
            size_t l = strlen(got);
            snprintf(got + l, sizeof(got) - l, "%s=%s;", w[j].knob->name, w[j].value);
        }
        if (strcmp(got, c->want) != 0)
            fail_msg("row %zu: %s, want %s", i, got, c->want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_is_the_designed_one),
        cmocka_unit_test(test_lookup_is_exact),
        cmocka_unit_test(test_refusals_explain),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_value_edges),
        cmocka_unit_test(test_shares_to_weight),
        cmocka_unit_test(test_resources_map),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
