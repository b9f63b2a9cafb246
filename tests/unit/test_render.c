/* Unit tests of kuke's output (kuke/render.h): the table renderer byte for byte (two-space gutters,
 * padded last column, dash row, the empty case), the AGE column at every unit boundary, RFC 3339
 * parsing, the -o formats, and the label selector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kuke/render.h"
#include "kuke/resource.h"

/* What the renderer wrote, as a string. */
static char *render(const char *const *headers, size_t ncols, const char *const *cells, size_t nrows)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(kuke_table_print(f, headers, ncols, cells, nrows), 0);
    fclose(f);
    return buf;
}

static void test_table_reference_example(void **state)
{
    (void)state;
    /* kukeon-reference.md 2.3: NAME STATE AGE / dashes / default Ready 3d, the last column padded. */
    const char *const h[] = {"NAME", "STATE", "AGE"};
    const char *const c[] = {"default", "Ready", "3d", "kuke-system", "Ready", "12h"};
    char *out = render(h, 3, c, 2);
    assert_string_equal(out, "NAME         STATE  AGE\n"
                             "-----------  -----  ---\n"
                             "default      Ready  3d \n"
                             "kuke-system  Ready  12h\n");
    free(out);
}

static void test_table_header_wider_than_cells(void **state)
{
    (void)state;
    const char *const h[] = {"NAME", "REALM", "STATE", "AGE", "EGRESS", "NET-DEFAULTS"};
    const char *const c[] = {"a", "r", "Ready", "5s", "-", "-"};
    char *out = render(h, 6, c, 1);
    assert_string_equal(out, "NAME  REALM  STATE  AGE  EGRESS  NET-DEFAULTS\n"
                             "----  -----  -----  ---  ------  ------------\n"
                             "a     r      Ready  5s   -       -           \n");
    free(out);
}

static void test_table_null_cell_and_empty(void **state)
{
    (void)state;
    const char *const h[] = {"NAME", "NAMESPACE"};
    const char *const c[] = {"x", NULL};
    char *out = render(h, 2, c, 1);
    assert_string_equal(out, "NAME  NAMESPACE\n----  ---------\nx              \n");
    free(out);
    out = render(h, 2, NULL, 0);
    assert_string_equal(out, "No resources found.\n");
    free(out);
}

static void test_parse_time(void **state)
{
    (void)state;
    struct timespec t;
    assert_int_equal(kuke_parse_time("2026-11-29T20:01:40Z", &t), 0);
    assert_int_equal(t.tv_sec, 1795982500);
    assert_int_equal(t.tv_nsec, 0);
    assert_int_equal(kuke_parse_time("2026-11-29T20:01:40.5Z", &t), 0);
    assert_int_equal(t.tv_nsec, 500000000);
    assert_int_equal(kuke_parse_time("2026-11-29T20:01:40.123456789123Z", &t), 0);
    assert_int_equal(t.tv_nsec, 123456789);
    assert_int_equal(kuke_parse_time("2026-11-29T22:01:40+02:00", &t), 0);
    assert_int_equal(t.tv_sec, 1795982500);
    assert_int_equal(kuke_parse_time("2026-11-29T19:31:40-00:30", &t), 0);
    assert_int_equal(t.tv_sec, 1795982500);
    static const char *const bad[] = {"",
                                      "2026-11-29",
                                      "2026-11-29 20:01:40Z",
                                      "2026-13-29T20:01:40Z",
                                      "2026-11-29T24:01:40Z",
                                      "2026-11-29T20:01:40",
                                      "2026-11-29T20:01:40.Z",
                                      "2026-11-29T20:01:40Zjunk",
                                      "2026-11-29T20:01:40+0200",
                                      "2O26-11-29T20:01:40Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(kuke_parse_time(bad[i], &t), -1);
}

static void test_age_units(void **state)
{
    (void)state;
    /* now = 2026-11-29T20:01:40.5Z */
    struct timespec now = {1795982500, 500000000};
    static const struct {
        const char *created;
        const char *want;
    } cases[] = {
        {"2026-11-29T20:01:40.5Z", "0s"}, /* just now */
        {"2026-11-29T20:01:40.6Z", "0s"}, /* a tenth of a second in the future */
        {"2026-11-29T20:01:41Z", "0s"},   /* later than now: clamped */
        {"2026-11-29T20:01:39.6Z", "0s"}, /* 0.9 s: truncated */
        {"2026-11-29T20:01:39.5Z", "1s"}, /* exactly 1 s */
        {"2026-11-29T20:00:41Z", "59s"},  /* 59.5 s */
        {"2026-11-29T20:00:40.5Z", "1m"}, /* 60 s */
        {"2026-11-29T19:01:41Z", "59m"},  /* 59 m 59.5 s */
        {"2026-11-29T19:01:40.5Z", "1h"},
        {"2026-11-28T20:01:41Z", "23h"},
        {"2026-11-28T20:01:40.5Z", "1d"},
        {"2026-11-19T20:01:40Z", "10d"},
        {"2025-11-29T20:01:40Z", "365d"},
        {"0001-01-01T00:00:00Z", "-"}, /* Go's zero time */
        {"", "-"},
        {NULL, "-"},
        {"yesterday", "-"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[24];
        kuke_age(cases[i].created, &now, buf, sizeof(buf));
        if (strcmp(buf, cases[i].want) != 0)
            fail_msg("age of %s: got %s, want %s", cases[i].created ? cases[i].created : "(null)", buf,
                     cases[i].want);
    }
}

static void test_output_formats(void **state)
{
    (void)state;
    enum kuke_output o;
    struct kk_err err = {0};
    assert_int_equal(kuke_output_parse(NULL, &o, &err), 0);
    assert_int_equal(o, KUKE_OUT_TABLE);
    assert_int_equal(kuke_output_parse("", &o, &err), 0);
    assert_int_equal(o, KUKE_OUT_TABLE);
    assert_int_equal(kuke_output_parse(" JSON ", &o, &err), 0);
    assert_int_equal(o, KUKE_OUT_JSON);
    assert_int_equal(kuke_output_parse("Yaml", &o, &err), 0);
    assert_int_equal(o, KUKE_OUT_YAML);
    assert_int_equal(kuke_output_parse("wide", &o, &err), 0);
    assert_int_equal(o, KUKE_OUT_WIDE);
    assert_int_equal(kuke_output_parse("xml", &o, &err), -1);
    assert_string_equal(err.msg, "invalid output format: xml (supported: yaml, json, table, wide)");
}

static void test_print_doc(void **state)
{
    (void)state;
    json_t *doc = json_pack("{s:s, s:{s:s}}", "kind", "Realm", "metadata", "name", "a");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    struct kk_err err = {0};
    assert_int_equal(kuke_print_doc(f, doc, KUKE_OUT_JSON, &err), 0);
    fclose(f);
    assert_string_equal(buf, "{\n  \"kind\": \"Realm\",\n  \"metadata\": {\n    \"name\": \"a\"\n  }\n}\n");
    free(buf);
    f = open_memstream(&buf, &len);
    json_t *list = json_pack("[O]", doc);
    assert_int_equal(kuke_print_doc(f, list, KUKE_OUT_YAML, &err), 0);
    fclose(f);
    assert_string_equal(buf, "- kind: Realm\n  metadata:\n    name: a\n");
    free(buf);
    json_decref(list);
    json_decref(doc);
}

static void test_selector(void **state)
{
    (void)state;
    struct kuke_selector sel;
    struct kk_err err = {0};
    json_t *doc = json_pack("{s:{s:{s:s, s:s}}}", "metadata", "labels", "env", "prod", "tier", "web");
    assert_int_equal(kuke_selector_parse("env=prod,tier!=db", &sel, &err), 0);
    assert_true(kuke_selector_match(&sel, doc));
    assert_int_equal(kuke_selector_parse("env==prod, !debug", &sel, &err), 0);
    assert_true(kuke_selector_match(&sel, doc));
    assert_int_equal(kuke_selector_parse("tier", &sel, &err), 0);
    assert_true(kuke_selector_match(&sel, doc));
    assert_int_equal(kuke_selector_parse("env!=prod", &sel, &err), 0);
    assert_false(kuke_selector_match(&sel, doc));
    assert_int_equal(kuke_selector_parse("!env", &sel, &err), 0);
    assert_false(kuke_selector_match(&sel, doc));
    assert_int_equal(kuke_selector_parse("", &sel, &err), 0);
    assert_int_equal(sel.n, 0);
    assert_int_equal(kuke_selector_parse("env=prod,,x", &sel, &err), -1);
    assert_string_equal(err.msg, "invalid selector \"env=prod,,x\": empty clause");
    assert_int_equal(kuke_selector_parse("=x", &sel, &err), -1);
    assert_string_equal(err.msg, "invalid selector clause \"=x\": empty key");
    assert_int_equal(kuke_selector_parse("env=", &sel, &err), -1);
    assert_string_equal(err.msg, "invalid selector clause \"env=\": empty value after '='");
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_reference_example),
        cmocka_unit_test(test_table_header_wider_than_cells),
        cmocka_unit_test(test_table_null_cell_and_empty),
        cmocka_unit_test(test_parse_time),
        cmocka_unit_test(test_age_units),
        cmocka_unit_test(test_output_formats),
        cmocka_unit_test(test_print_doc),
        cmocka_unit_test(test_selector),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
