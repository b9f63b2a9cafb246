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

static void test_size(void **state)
{
    (void)state;
    char b[32];
    kuke_size(0, b, sizeof(b));
    assert_string_equal(b, "0 B");
    kuke_size(1023, b, sizeof(b));
    assert_string_equal(b, "1023 B");
    kuke_size(1536, b, sizeof(b));
    assert_string_equal(b, "1.5 KiB");
    kuke_size(1024 * 1024, b, sizeof(b));
    assert_string_equal(b, "1.0 MiB");
    kuke_size((uint64_t)5 * 1024 * 1024 * 1024 / 4, b, sizeof(b));
    assert_string_equal(b, "1.2 GiB");
}

static void test_cell_row(void **state)
{
    (void)state;
    struct timespec now = {.tv_sec = 1764446400 + 7200, .tv_nsec = 0}; /* 2025-11-29T22:00:00Z */
    json_t *cell = json_loads("{\"metadata\": {\"name\": \"web\", \"labels\": {}},"
                              " \"spec\": {\"realmId\": \"r\", \"spaceId\": \"s\", \"stackId\": \"t\"},"
                              " \"status\": {\"state\": \"Ready\", \"createdAt\": \"2025-11-29T21:00:00Z\","
                              " \"network\": {\"bridgeName\": \"k-0011aabb\"},"
                              " \"containers\": [{\"name\": \"root\", \"state\": \"Ready\"},"
                              " {\"name\": \"app\", \"state\": \"Exited\"}]}}",
                              0, NULL);
    assert_non_null(cell);
    struct kuke_row row;
    kuke_cell_row(cell, &now, &row);
    const char *want[] = {"web", "r", "s", "t", "Ready", "-", "1h", "1/2", "k-0011aabb", "-"};
    for (size_t i = 0; i < KUKE_CELL_COLS_WIDE; i++)
        assert_string_equal(row.col[i], want[i]);
    /* A CellConfig-stamped cell shows SYNC; no status at all shows Unknown, "-" and 0/0. */
    json_object_set_new(json_object_get(json_object_get(cell, "metadata"), "labels"), "kukeon.io/config",
                        json_string("c"));
    json_object_set_new(json_object_get(cell, "status"), "outOfSync", json_true());
    kuke_cell_row(cell, &now, &row);
    assert_string_equal(row.col[5], "OutOfSync");
    json_object_del(cell, "status");
    kuke_cell_row(cell, &now, &row);
    assert_string_equal(row.col[4], "Unknown");
    assert_string_equal(row.col[5], "Synced");
    assert_string_equal(row.col[6], "-");
    assert_string_equal(row.col[7], "0/0");
    assert_string_equal(row.col[8], "-");
    json_decref(cell);
}

static void test_container_doc_and_row(void **state)
{
    (void)state;
    struct timespec now = {.tv_sec = 1764446400 + 7200, .tv_nsec = 0};
    json_t *cell =
        json_loads("{\"metadata\": {\"name\": \"web\"},"
                   " \"spec\": {\"realmId\": \"r\", \"spaceId\": \"s\", \"stackId\": \"t\","
                   " \"containers\": [{\"id\": \"app\", \"image\": \"busybox\"}]},"
                   " \"status\": {\"containers\": [{\"name\": \"app\", \"state\": \"Error\","
                   " \"exitCode\": 3, \"restartCount\": 2, \"startTime\": \"2025-11-29T21:59:30Z\"}]}}",
                   0, NULL);
    assert_non_null(cell);
    json_t *doc = kuke_container_doc(
        cell, json_array_get(json_object_get(json_object_get(cell, "spec"), "containers"), 0));
    assert_non_null(doc);
    assert_string_equal(json_string_value(json_object_get(doc, "kind")), "Container");
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "spec"), "cellId")), "web");
    struct kuke_row row;
    kuke_container_row(doc, &now, &row);
    const char *want[] = {"app", "r", "s", "t", "web", "Error", "2", "30s", "busybox", "3"};
    for (size_t i = 0; i < KUKE_CONTAINER_COLS_WIDE; i++)
        assert_string_equal(row.col[i], want[i]);
    json_decref(doc);
    json_decref(cell);
}

static void test_refresh_print(void **state)
{
    (void)state;
    json_t *res = json_loads("{\"RealmsFound\": [\"a\", \"b\"], \"SpacesFound\": [],"
                             " \"CellsFound\": [\"c1\", \"c2\", \"c3\", \"c4\", \"c5\", \"c6\"],"
                             " \"CellsUpdated\": [\"c2\"], \"Errors\": []}",
                             0, NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(kuke_refresh_print(f, res), 0);
    fclose(f);
    assert_string_equal(buf, "Refreshed metadata status:\n"
                             "  Realms: 2 (a, b)\n"
                             "  Spaces: 0\n"
                             "  Stacks: 0\n"
                             "  Cells: 6 (c1, c2, c3, c4, c5, ...)\n"
                             "  Containers: 0\n"
                             "\nUpdated:\n"
                             "  Cells: 1 (c2)\n"
                             "\nErrors:\n"
                             "  (none)\n");
    free(buf);
    json_decref(res);
}

static void test_cell_name_prefix(void **state)
{
    (void)state;
    char b[64];
    kuke_cell_name_prefix("docker.io/library/busybox:latest", b, sizeof(b));
    assert_string_equal(b, "busybox");
    kuke_cell_name_prefix("ghcr.io/a/My_App@sha256:abc", b, sizeof(b));
    assert_string_equal(b, "my-app");
    kuke_cell_name_prefix("localhost:5000/x.y", b, sizeof(b));
    assert_string_equal(b, "x-y");
    kuke_cell_name_prefix(":::", b, sizeof(b));
    assert_string_equal(b, "cell");
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
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_cell_row),
        cmocka_unit_test(test_container_doc_and_row),
        cmocka_unit_test(test_refresh_print),
        cmocka_unit_test(test_cell_name_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
