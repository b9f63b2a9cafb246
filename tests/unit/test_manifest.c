/* Unit tests for kukeond/manifest.c: refused input first (nothing in it, malformed YAML with the
 * document index and the line and column in the whole input, unknown kinds, bad apiVersion, bad
 * names at every level, the bounds), then a valid multi-document manifest, apply order, scalar
 * typing, YAML / JSON round trips, and edge inputs (where fuzz_manifest regressions go). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kukeond/manifest.h"

static int load(const char *text, struct kk_manifest *m, struct kk_err *err)
{
    kk_err_clear(err);
    return kk_manifest_load(text, strlen(text), NULL, m, err);
}

/* The whole error message must be want. */
static void expect_error(const char *text, const char *want)
{
    struct kk_manifest m;
    struct kk_err err;
    if (load(text, &m, &err) == 0)
        fail_msg("loaded, expected: %s\ninput:\n%s", want, text);
    assert_int_equal(err.kind, KK_ERR_INVALID);
    assert_int_equal(m.count, 0);
    assert_null(m.docs);
    if (strcmp(err.msg, want) != 0)
        fail_msg("error\n  %s\nis not\n  %s\ninput:\n%s", err.msg, want, text);
}

static void expect_error_part(const char *text, const char *want)
{
    struct kk_manifest m;
    struct kk_err err;
    if (load(text, &m, &err) == 0)
        fail_msg("loaded, expected: %s", want);
    assert_int_equal(m.count, 0);
    if (strstr(err.msg, want) == NULL)
        fail_msg("error\n  %s\ndoes not contain\n  %s", err.msg, want);
}

#define REALM_A "kind: Realm\nmetadata: {name: a}\n"

/* ---- refusals ------------------------------------------------------------------------------- */

static void test_no_documents(void **state)
{
    (void)state;
    const char *empty[] = {"",
                           " \n\t\n",
                           "---",
                           "---\n---\n",
                           "\n---\n  ---  \n\n",
                           "# only a comment\n",
                           "# a\n---\n# b\n",
                           "~\n",
                           "---\nnull\n---\n"};
    for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++)
        expect_error(empty[i], "no documents found in input");
    struct kk_manifest m;
    struct kk_err err;
    assert_int_equal(kk_manifest_load(NULL, 10, NULL, &m, &err), -1);
    assert_string_equal(err.msg, "no documents found in input");
}

struct bad_yaml {
    const char *text;
    const char *want;
};

static void test_malformed_yaml(void **state)
{
    (void)state;
    const struct bad_yaml cases[] = {
        {"kind: Realm\nmetadata:\n  name: a\n   bad: indent\n",
         "document 0: line 4, column 7: mapping values are not allowed in this context"},
        /* The index counts documents, not separators; lines and columns are the whole input's. */
        {"---\n" REALM_A "---\n\n---\n# comment\n---\nkind: Space\nmetadata: {name: [b}\n",
         "document 1: line 10, column 20: did not find expected ',' or ']' (while parsing a flow sequence at "
         "line "
         "10, column 18)"},
        {REALM_A "---\n    kind: Space\n    metadata: x: y\n",
         "document 1: line 5, column 13: mapping values are not allowed in this context"},
        /* The document is trimmed, as the reference does: the stream ends on line 1. */
        {"kind: \"Realm\n",
         "document 0: line 1, column 13: found unexpected end of stream (while scanning a quoted "
         "scalar at line 1, column 7)"},
        {"kind: Realm\n\tmetadata: {}\n", "document 0: line 2, column 1: found a tab character that violates "
                                          "indentation (while scanning a plain "
                                          "scalar at line 1, column 7)"},
        {"a: &x [1]\nb: *y\n", "document 0: line 2, column 4: alias *y names no anchor defined before it"},
        {"kind: Realm\nkind: Space\n",
         "document 0: line 2, column 1: key \"kind\" appears twice in one mapping"},
        {"- kind: Realm\n", "document 0: line 1, column 1: a document must be a mapping (apiVersion, kind, "
                            "metadata, spec), not a list"},
        {"just text\n",
         "document 0: line 1, column 1: a document must be a mapping (apiVersion, kind, metadata, "
         "spec), not a single value"},
        {REALM_A "--- !foo\nx: 1\n", "document 0: line 3, column 1: a second YAML document starts here: "
                                     "separate documents with a line of ---"},
        {"kind: Realm\n<<: {a: 1}\n",
         "document 0: line 2, column 1: merge keys (<<) are not supported: write the "
         "keys out"},
        {"? [a]\n: b\n",
         "document 0: line 1, column 3: a mapping key must be a plain string, not a mapping or a list"},
        {"a: &k x\n*k : y\n",
         "document 0: line 2, column 1: a mapping key must be a plain string, not an alias"},
        {"a: !!binary aGk=\n",
         "document 0: line 1, column 4: tag \"tag:yaml.org,2002:binary\" is not supported "
         "(only the YAML core schema's)"},
        {"a: !custom {b: 1}\n",
         "document 0: line 1, column 4: tag \"!custom\" is not supported (only the YAML "
         "core schema's)"},
        {"a: \"x\\0y\"\n", "document 0: line 1, column 4: a value contains a NUL byte"},
        {"\"a\\0\": x\n", "document 0: line 1, column 1: a key contains a NUL byte"},
        {"a: \"\\xff\\ud800\"\n",
         "document 0: line 1, column 11: found invalid Unicode character escape code "
         "(while parsing a quoted scalar at line 1, column 4)"},
        {"a: b\xff\n", "document 0: line 1, column 5: invalid leading UTF-8 octet"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error(cases[i].text, cases[i].want);
}

static void test_unknown_kind_and_api_version(void **state)
{
    (void)state;
    expect_error(REALM_A "---\nkind: Pod\nmetadata: {name: p}\n",
                 "validation failed:\n  document 1 (Pod \"p\"): unknown kind: Pod");
    expect_error("metadata: {name: p}\n",
                 "validation failed:\n  document 0: kind is required (one of Realm, Space, "
                 "Stack, Cell, Container)");
    expect_error(
        "kind: CellProfile\nmetadata: {name: p}\n",
        "validation failed:\n  document 0 (CellProfile \"p\"): unknown kind: CellProfile (the CellProfile "
        "kind was removed in #626; convert it to kind: CellBlueprint)");
    expect_error(
        "apiVersion: v2\n" REALM_A,
        "validation failed:\n  document 0 (Realm \"a\"): unsupported apiVersion: v2 (expected v1beta1)");
    expect_error(
        "apiVersion: v1beta2\nkind: Cell\n",
        "validation failed:\n  document 0 (Cell): unsupported apiVersion: v1beta2 (expected v1beta1)");
    expect_error("kind: Volume\nmetadata: {name: v, realm: a}\n",
                 "validation failed:\n  document 0 (Volume \"v\"): kind Volume is not supported yet");
    /* What a kind and a name look like when they are hostile: escaped. */
    expect_error("kind: \"P\\e[31m\"\nmetadata: {name: \"x\\ny\"}\n",
                 "validation failed:\n  document 0 (P\\x1b[31m \"x\\x0ay\"): unknown kind: P\\x1b[31m");
}

#define RULE "(names are 1-63 characters of A-Z a-z 0-9 '.' '-', starting and ending with a letter or digit)"

static void test_bad_names_every_level(void **state)
{
    (void)state;
    expect_error(
        "kind: Realm\nmetadata: {name: a_b}\n"
        "---\nkind: Space\nmetadata: {name: s/t}\nspec: {realmId: r}\n"
        "---\nkind: Stack\nmetadata: {name: ..}\nspec: {realmId: r, spaceId: s}\n"
        "---\nkind: Cell\nmetadata: {name: \"w b\"}\nspec: {realmId: r, spaceId: s, stackId: t, containers: "
        "[{id: c, image: i}]}\n"
        "---\nkind: Cell\nmetadata: {name: web}\nspec: {realmId: r, spaceId: s, stackId: t, containers: "
        "[{id: x_y, image: i}]}\n",
        "validation failed:\n"
        "  document 0 (Realm \"a_b\"): metadata.name: realm name \"a_b\" is invalid: it contains '_' " RULE
        "\n"
        "  document 1 (Space \"s/t\"): metadata.name: space name \"s/t\" is invalid: it contains '/' " RULE
        "\n"
        "  document 2 (Stack \"..\"): metadata.name: stack name \"..\" is invalid: it starts with '.' " RULE
        "\n"
        "  document 3 (Cell \"w b\"): metadata.name: cell name \"w b\" is invalid: it contains a space " RULE
        "\n"
        "  document 4 (Cell \"web\"): spec.containers[0].id: container name \"x_y\" is invalid: it contains "
        "'_' " RULE);
    /* The error holds as many lines as fit, then counts the rest. */
    expect_error_part(
        "kind: Container\nmetadata: {name: x_y}\nspec: {realmId: r, spaceId: s, stackId: t, cellId: "
        "c, image: i}\n",
        "document 0 (Container \"x_y\"): metadata.name: container name \"x_y\" is invalid");
    expect_error_part(
        "kind: Cell\nmetadata: {name: web}\nspec: {realmId: r, spaceId: s, stackId: t, containers: "
        "[{id: x_y, image: i}]}\n",
        "document 0 (Cell \"web\"): spec.containers[0].id: container name \"x_y\" is invalid");
    expect_error_part("kind: Stack\nmetadata: {name: t}\nspec: {realmId: r, spaceId: s_1}\n",
                      "document 0 (Stack \"t\"): spec.spaceId: space name \"s_1\" is invalid");
    char many[8192];
    size_t used = 0;
    for (int i = 0; i < 20; i++)
        used += (size_t)snprintf(many + used, sizeof(many) - used,
                                 "---\nkind: Realm\nmetadata: {name: bad_name}\n");
    expect_error_part(many, "\n  ... and ");
}

static void test_one_bad_document_applies_nothing(void **state)
{
    (void)state;
    struct kk_manifest m;
    struct kk_err err;
    const char *text = REALM_A "---\nkind: Space\nmetadata: {name: s}\nspec: {realmId: a}\n"
                               "---\nkind: Stack\nmetadata: {name: t}\nspec: {realmId: a}\n"
                               "---\nkind: Stack\nmetadata: {name: u}\nspec: {realmId: a, spaceId: s}\n";
    assert_int_equal(load(text, &m, &err), -1);
    assert_int_equal(m.count, 0);
    assert_null(m.docs);
    assert_string_equal(err.msg, "validation failed:\n  document 2 (Stack \"t\"): spec.spaceId is required");
    kk_manifest_free(&m);
}

static void test_bounds(void **state)
{
    (void)state;
    /* Nesting: 64 levels pass, 65 do not. */
    char deep[512];
    size_t n = 0;
    n += (size_t)snprintf(deep + n, sizeof(deep) - n, "a: ");
    for (int i = 0; i < 63; i++)
        deep[n++] = '[';
    for (int i = 0; i < 63; i++)
        deep[n++] = ']';
    deep[n++] = '\n';
    deep[n] = '\0';
    json_t *docs;
    struct kk_err err;
    assert_int_equal(kk_manifest_parse(deep, strlen(deep), &docs, &err), 0);
    json_decref(docs);
    memmove(deep + 4, deep + 3, strlen(deep + 3) + 1);
    deep[3] = '[';
    n = strlen(deep);
    memmove(deep + n - 1, deep + n - 2, 3);
    expect_error(deep, "document 0: line 1, column 67: mappings and lists nest deeper than 64 levels");

    /* An alias bomb stops at the value bound, long before memory runs out. */
    char bomb[4096];
    n = (size_t)snprintf(bomb, sizeof(bomb), "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for (int i = 1; i < 9; i++)
        n += (size_t)snprintf(bomb + n, sizeof(bomb) - n,
                              "a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, "
                              "*a%d, *a%d]\n",
                              i, i, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1, i - 1);
    expect_error_part(bomb,
                      "the manifest holds more than 262144 values (aliases counted expanded): split it");
    /* Deep aliases count their depth where they land. */
    char deep_alias[1024];
    n = (size_t)snprintf(deep_alias, sizeof(deep_alias), "a: &d ");
    for (int i = 0; i < 40; i++)
        deep_alias[n++] = '[';
    for (int i = 0; i < 40; i++)
        deep_alias[n++] = ']';
    n += (size_t)snprintf(deep_alias + n, sizeof(deep_alias) - n,
                          "\nb: [[[[[[[[[[[[[[[[[[[[[[[[[*d]]]]]]]]]]]]]]]]]]]]]]]]]\n");
    expect_error_part(deep_alias, "alias *d nests deeper than 64 levels");

    /* Size and count. */
    size_t big = KK_MANIFEST_MAX_BYTES + 1;
    char *huge = malloc(big + 1);
    assert_non_null(huge);
    memset(huge, '#', big);
    huge[big] = '\0';
    expect_error(
        huge, "the manifest is 4194305 bytes, more than the limit of 4194304: split it into several files");
    free(huge);
    size_t per = strlen("---\n" REALM_A);
    char *lots = malloc(per * (KK_MANIFEST_MAX_DOCS + 1) + 1);
    assert_non_null(lots);
    for (size_t i = 0; i <= KK_MANIFEST_MAX_DOCS; i++)
        memcpy(lots + i * per, "---\n" REALM_A, per);
    lots[per * (KK_MANIFEST_MAX_DOCS + 1)] = '\0';
    expect_error(lots, "the manifest holds more than 1024 documents: split it");
    free(lots);
}

/* ---- valid manifests ------------------------------------------------------------------------- */

static void test_valid_multi_document(void **state)
{
    (void)state;
    const char *text = "# a blog\n"
                       "apiVersion: v1beta1\n"
                       "kind: Cell\n"
                       "metadata:\n"
                       "  name: web\n"
                       "  generation: 7\n"
                       "  labels: {app: web}\n"
                       "spec:\n"
                       "  realmId: main\n"
                       "  spaceId: blog\n"
                       "  stackId: default\n"
                       "  runtimeEnv: [A=1]\n"
                       "  ignoreDiskPressure: true\n"
                       "  containers:\n"
                       "    - id: nginx\n"
                       "      image: docker.io/library/nginx:latest\n"
                       "      ports: [\"8080:80\", 9090]\n"
                       "      restartPolicy: on-failure\n"
                       "      restartMaxRetries: 3\n"
                       "status: {state: Ready}\n"
                       "   ---   \n"
                       "kind: Realm\n"
                       "metadata: {name: main}\n"
                       "spec:\n"
                       "  registryCredentials:\n"
                       "    - {username: u, password: p, serverAddress: ghcr.io}\n"
                       "---\n"
                       "kind: Space\n"
                       "metadata: {name: blog}\n"
                       "spec:\n"
                       "  realmId: main\n"
                       "  network:\n"
                       "    egress:\n"
                       "      default: deny\n"
                       "      allow:\n"
                       "        - {host: api.example.com, ports: [443]}\n"
                       "        - {cidr: 10.0.0.0/8}\n"
                       "        - {cidr: \"fd00::/8\"}\n"
                       "---\n"
                       "kind: Stack\n"
                       "metadata: {name: default}\n"
                       "spec: {realmId: main, spaceId: blog}\n";
    struct kk_manifest m;
    struct kk_err err;
    struct kk_derive_config cfg = {.run_path = "/opt/kukeon"};
    if (kk_manifest_load(text, strlen(text), &cfg, &m, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(m.count, 4);
    const enum kk_kind kinds[] = {KK_KIND_REALM, KK_KIND_SPACE, KK_KIND_STACK, KK_KIND_CELL};
    const size_t index[] = {1, 2, 3, 0};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(m.docs[i].kind, kinds[i]);
        assert_int_equal(m.docs[i].index, index[i]);
        assert_string_equal(kk_json_str(m.docs[i].doc, "apiVersion"), "v1beta1");
    }
    json_t *cell = m.docs[3].doc;
    assert_null(json_object_get(cell, "status"));
    assert_int_equal(kk_doc_generation(cell), 0);
    assert_null(json_object_get(kk_doc_spec(cell), "runtimeEnv"));
    assert_null(json_object_get(kk_doc_spec(cell), "ignoreDiskPressure"));
    json_t *nginx = kk_cell_container(cell, "nginx");
    assert_string_equal(kk_json_str(nginx, "containerdId"), "blog_default_web_nginx");
    assert_string_equal(json_string_value(json_array_get(json_object_get(nginx, "ports"), 1)), "9090");
    assert_string_equal(kk_json_str(kk_doc_spec(m.docs[0].doc), "namespace"), "main.kukeon.io");
    assert_string_equal(kk_json_str(kk_doc_spec(m.docs[1].doc), "cniConfigPath"),
                        "/opt/kukeon/data/main/blog/network.conflist");
    kk_manifest_free(&m);
    kk_manifest_free(&m); /* twice is fine */
}

static void test_apply_order(void **state)
{
    (void)state;
    const char *text =
        "kind: Cell\nmetadata: {name: c1}\nspec: {realmId: r, spaceId: s, stackId: t, containers: "
        "[{id: a, image: i}]}\n"
        "---\nkind: Container\nmetadata: {name: x}\nspec: {realmId: r, spaceId: s, stackId: t, cellId: "
        "c1, image: i}\n"
        "---\nkind: Stack\nmetadata: {name: t}\nspec: {realmId: r, spaceId: s}\n"
        "---\nkind: Realm\nmetadata: {name: r2}\n"
        "---\nkind: Space\nmetadata: {name: s}\nspec: {realmId: r}\n"
        "---\nkind: Cell\nmetadata: {name: c0}\nspec: {realmId: r, spaceId: s, stackId: t, containers: "
        "[{id: a, image: i}]}\n"
        "---\nkind: Realm\nmetadata: {name: r}\n";
    struct kk_manifest m;
    struct kk_err err;
    if (load(text, &m, &err) < 0)
        fail_msg("%s", err.msg);
    const char *names[] = {"r2", "r", "s", "t", "c1", "c0", "x"};
    const size_t index[] = {3, 6, 4, 2, 0, 5, 1};
    assert_int_equal(m.count, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(kk_doc_name(m.docs[i].doc), names[i]);
        assert_int_equal(m.docs[i].index, index[i]);
    }
    kk_manifest_free(&m);
}

struct scalar_case {
    const char *yaml;
    const char *json; /* the value as JSON */
};

static void test_scalar_types(void **state)
{
    (void)state;
    const struct scalar_case cases[] = {
        {"1", "1"},
        {"-5", "-5"},
        {"+7", "7"},
        {"0", "0"},
        {"0x1F", "31"},
        {"0o17", "15"},
        {"017", "15"},
        {"0b101", "5"},
        {"1_000", "1000"},
        {"9223372036854775807", "9223372036854775807"},
        {"-9223372036854775808", "-9223372036854775808"},
        {"9223372036854775808", "\"9223372036854775808\""},
        {"089", "\"089\""},
        {"1.5", "\"1.5\""},
        {"1e3", "\"1e3\""},
        {".inf", "\".inf\""},
        {"true", "true"},
        {"True", "true"},
        {"FALSE", "false"},
        {"yes", "\"yes\""},
        {"on", "\"on\""},
        {"~", "null"},
        {"null", "null"},
        {"", "null"},
        {"\"1\"", "\"1\""},
        {"'true'", "\"true\""},
        {"\"\"", "\"\""},
        {"!!str 5", "\"5\""},
        {"!!int 5", "5"},
        {"! 5", "\"5\""},
        {"|\n  a\n  b", "\"a\\nb\""},
        {">-\n  a\n  b", "\"a b\""},
        {"2024-01-01", "\"2024-01-01\""},
        {"nginx:latest", "\"nginx:latest\""},
        {"\"caf\\u00e9\"", "\"caf\\u00e9\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text), "v: %s\n", cases[i].yaml);
        json_t *docs;
        struct kk_err err;
        if (kk_manifest_parse(text, strlen(text), &docs, &err) < 0)
            fail_msg("%s: %s", cases[i].yaml, err.msg);
        json_t *got = json_object_get(json_array_get(docs, 0), "v");
        json_t *want = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        assert_non_null(want);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_ENCODE_ANY);
            fail_msg("%s read as %s, want %s", cases[i].yaml, g, cases[i].json);
        }
        json_decref(want);
        json_decref(docs);
    }
    /* Aliases copy: changing one copy leaves the other alone. */
    const char *text = "a: &x {k: 1}\nb: *x\n";
    json_t *docs;
    struct kk_err err;
    assert_int_equal(kk_manifest_parse(text, strlen(text), &docs, &err), 0);
    json_t *doc = json_array_get(docs, 0);
    json_object_set_new(json_object_get(doc, "a"), "k", json_integer(2));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "b"), "k")), 1);
    json_decref(docs);
    /* JSON is YAML. */
    text = "{\"kind\": \"Realm\", \"metadata\": {\"name\": \"a\"}, \"x\": [1, true, null, \"s\"]}";
    assert_int_equal(kk_manifest_parse(text, strlen(text), &docs, &err), 0);
    json_t *want = json_loads(text, 0, NULL);
    assert_true(json_equal(json_array_get(docs, 0), want));
    json_decref(want);
    json_decref(docs);
}

/* ---- output ---------------------------------------------------------------------------------- */

static void roundtrip(json_t *docs)
{
    char *y;
    size_t len;
    struct kk_err err;
    if (kk_yaml_text(docs, true, &y, &len, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(strlen(y), len);
    json_t *back;
    if (kk_manifest_parse(y, len, &back, &err) < 0)
        fail_msg("%s\nin:\n%s", err.msg, y);
    if (!json_equal(docs, back)) {
        char *a = json_dumps(docs, JSON_INDENT(1)), *b = json_dumps(back, JSON_INDENT(1));
        fail_msg("YAML round trip differs:\n%s\n---- yaml:\n%s\n---- back:\n%s", a, y, b);
    }
    json_decref(back);
    free(y);

    size_t jlen;
    char *j = kk_json_text(docs, &jlen);
    assert_non_null(j);
    assert_int_equal(j[jlen - 1], '\n');
    json_t *jback = json_loads(j, 0, NULL);
    assert_true(json_equal(docs, jback));
    json_decref(jback);
    free(j);
}

static void test_yaml_json_roundtrip(void **state)
{
    (void)state;
    const char *tricky[] = {
        "true",
        "False",
        "1",
        "-0",
        "0x10",
        "1_0",
        "1.5",
        ".5",
        "1e9",
        ".NaN",
        "",
        "~",
        "null",
        "yes",
        "off",
        "<<",
        "=",
        "2024-01-01",
        "a\nb",
        "---",
        "\n---\n",
        "x\n---\ny",
        "...",
        "line1\r\nline2",
        " lead",
        "trail ",
        "#c",
        "a #c",
        "key: v",
        "- x",
        "[x",
        "{x",
        "*a",
        "&a",
        "!t",
        "|",
        ">",
        "%x",
        "@x",
        "`x",
        "'",
        "\"",
        "\\",
        "\t",
        "caf\xc3\xa9",
        "\xe2\x80\xa8",
        "a\xc2\x85"
        "b",
        "\xef\xbb\xbf"
        "bom",
        "\x01\x7f",
        "long line with spaces "
        "that goes on and on and on and on and on and on and on and on and on and on past 80"};
    json_t *doc = json_pack("{s:s, s:s, s:{s:s}, s:{}}", "apiVersion", "v1beta1", "kind", "Realm", "metadata",
                            "name", "a", "spec");
    json_t *vals = json_array(), *keys = json_object();
    for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
        json_array_append_new(vals, json_string(tricky[i]));
        json_object_set_new(keys, tricky[i], json_string(tricky[i]));
    }
    json_object_set_new(doc, "strings", vals);
    json_object_set_new(doc, "keys", keys);
    json_object_set_new(doc, "others",
                        json_pack("[i, i, b, b, n, {}, [], [[]], {s:[{}]}]", (json_int_t)-42,
                                  (json_int_t)INT64_MAX, 1, 0, "x"));
    json_t *docs = json_pack("[o, {s:s, s:[s]}]", doc, "kind", "Space", "list", "---");
    roundtrip(docs);

    /* One document (not a list): no "---" at all; the JSON text is Go's MarshalIndent plus "\n". */
    json_t *small =
        json_pack("{s:s, s:{s:s, s:{}}, s:[]}", "kind", "Realm", "metadata", "name", "a", "labels", "spec");
    char *y;
    size_t len;
    struct kk_err err;
    assert_int_equal(kk_yaml_text(small, false, &y, &len, &err), 0);
    assert_string_equal(y, "kind: Realm\nmetadata:\n  name: a\n  labels: {}\nspec: []\n");
    free(y);
    char *j = kk_json_text(small, &len);
    assert_string_equal(
        j, "{\n  \"kind\": \"Realm\",\n  \"metadata\": {\n    \"name\": \"a\",\n    \"labels\": {}\n"
           "  },\n  \"spec\": []\n}\n");
    free(j);
    json_decref(small);
    /* A list of documents is split back into as many. */
    assert_int_equal(kk_yaml_text(docs, true, &y, &len, &err), 0);
    json_t *back;
    assert_int_equal(kk_manifest_parse(y, len, &back, &err), 0);
    assert_int_equal(json_array_size(back), 2);
    json_decref(back);
    free(y);
    json_decref(docs);

    /* A loaded manifest survives the trip. */
    const char *text =
        REALM_A "---\nkind: Cell\nmetadata: {name: web}\nspec: {realmId: a, spaceId: s, stackId: t, "
                "containers: [{id: c, image: \"i:1\", args: [\"1\", \"true\", \"\"], env: [A=]}]}\n";
    struct kk_manifest m;
    assert_int_equal(load(text, &m, &err), 0);
    json_t *loaded = json_array();
    for (size_t i = 0; i < m.count; i++)
        json_array_append(loaded, m.docs[i].doc);
    roundtrip(loaded);
    json_decref(loaded);
    kk_manifest_free(&m);
}

/* ---- edge inputs ----------------------------------------------------------------------------- */

/* Inputs at the edges of the splitter and the reader. fuzz_manifest found no crash in its runs (60 s,
 * then 300 s); a crash it finds becomes a case here, as its input bytes and the expected outcome. */
static void test_edge_inputs(void **state)
{
    (void)state;
    struct kk_manifest m;
    struct kk_err err;
    /* CRLF line ends: "---\r" is a separator, as in the reference's regex (\r is \s). */
    const char *crlf = "kind: Realm\r\nmetadata: {name: a}\r\n---\r\nkind: Space\r\nmetadata: {name: s}\r\n"
                       "spec: {realmId: a}\r\n";
    assert_int_equal(load(crlf, &m, &err), 0);
    assert_int_equal(m.count, 2);
    kk_manifest_free(&m);
    /* A byte-order mark at the start is not content. */
    const char *bom = "\xef\xbb\xbf" REALM_A;
    assert_int_equal(load(bom, &m, &err), 0);
    assert_string_equal(kk_doc_name(m.docs[0].doc), "a");
    kk_manifest_free(&m);
    /* A separator needs a line of its own: "--- x" and "----" are content. */
    expect_error_part(REALM_A "----\n", "(while scanning a simple key at line 3, column 1)");
    /* The last part needs no newline; a separator at the very end adds nothing. */
    assert_int_equal(load(REALM_A "---", &m, &err), 0);
    assert_int_equal(m.count, 1);
    kk_manifest_free(&m);
    /* An empty key, a key that is a number, a quoted "<<": plain strings. */
    json_t *docs;
    const char *keys = "\"\": 1\n2: b\n\"<<\": c\n";
    assert_int_equal(kk_manifest_parse(keys, strlen(keys), &docs, &err), 0);
    json_t *want = json_pack("[{s:i, s:s, s:s}]", "", 1, "2", "b", "<<", "c");
    assert_true(json_equal(docs, want));
    json_decref(want);
    json_decref(docs);
    /* An anchor redefined: the alias takes the latest. */
    const char *redef = "a: &x 1\nb: &x 2\nc: *x\n";
    assert_int_equal(kk_manifest_parse(redef, strlen(redef), &docs, &err), 0);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(docs, 0), "c")), 2);
    json_decref(docs);
    /* A document that is only "---"-like text inside a quoted scalar is not split. */
    const char *quoted = "a: \"x\n  --- y\"\n";
    assert_int_equal(kk_manifest_parse(quoted, strlen(quoted), &docs, &err), 0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(docs, 0), "a")), "x --- y");
    json_decref(docs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_documents),
        cmocka_unit_test(test_malformed_yaml),
        cmocka_unit_test(test_unknown_kind_and_api_version),
        cmocka_unit_test(test_bad_names_every_level),
        cmocka_unit_test(test_one_bad_document_applies_nothing),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_valid_multi_document),
        cmocka_unit_test(test_apply_order),
        cmocka_unit_test(test_scalar_types),
        cmocka_unit_test(test_yaml_json_roundtrip),
        cmocka_unit_test(test_edge_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
