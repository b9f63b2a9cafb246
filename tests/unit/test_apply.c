/* Unit tests for the diff of kuke apply (kukeond/apply.h, kukeon-reference.md 3.8): what is
 * unchanged (also when a default is written out or left implicit, and beside a pause root the
 * daemon synthesized), which changes are compatible and land in the merged document, which are
 * breaking, which touch a cell's root container; and the base64 of the API's RawYAML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kukeond/apply.h"
#include "kukeond/manifest.h"

/* One validated document from YAML text. */
static json_t *doc_of(const char *yaml)
{
    struct kk_manifest m;
    struct kk_err err = {0};
    if (kk_manifest_load(yaml, strlen(yaml), NULL, &m, &err) < 0)
        fail_msg("loading\n%s\n: %s", yaml, err.msg);
    assert_int_equal(m.count, 1);
    json_t *doc = json_incref(m.docs[0].doc);
    kk_manifest_free(&m);
    return doc;
}

/* The diff of desired over actual; changes and breaking as compact JSON must be as given. */
static void expect_diff(enum kk_kind kind, json_t *actual, json_t *desired, const char *changes,
                        const char *breaking, bool root, struct kk_apply_diff *keep)
{
    struct kk_apply_diff d;
    struct kk_err err = {0};
    if (kk_apply_diff(kind, actual, desired, &d, &err) < 0)
        fail_msg("diff: %s", err.msg);
    char *c = json_dumps(d.changes, JSON_COMPACT), *b = json_dumps(d.breaking, JSON_COMPACT);
    if (strcmp(c, changes) != 0 || strcmp(b, breaking) != 0)
        fail_msg("changes %s (want %s), breaking %s (want %s)", c, changes, b, breaking);
    free(c);
    free(b);
    assert_int_equal(d.root_breaking, root);
    if (keep != NULL)
        *keep = d;
    else
        kk_apply_diff_free(&d);
}

#define REALM "kind: Realm\nmetadata:\n  name: main\n"

static void test_realm(void **state)
{
    (void)state;
    json_t *a = doc_of(REALM "  labels: {team: a}\nspec:\n  namespace: main.kukeon.io\n");
    json_object_set_new(a, "status", json_pack("{s:s}", "state", "Ready"));
    /* The same document, status aside: unchanged. */
    json_t *same = doc_of(REALM "  labels: {team: a}\nspec:\n  namespace: main.kukeon.io\n");
    expect_diff(KK_KIND_REALM, a, same, "[]", "[]", false, NULL);
    /* A label: compatible, and the merged document keeps the status. */
    json_t *lab = doc_of(REALM "  labels: {team: b}\nspec:\n  namespace: main.kukeon.io\n");
    struct kk_apply_diff d;
    expect_diff(KK_KIND_REALM, a, lab, "[\"metadata.labels\"]", "[]", false, &d);
    assert_string_equal(kk_json_str(json_object_get(kk_doc_metadata(d.merged), "labels"), "team"), "b");
    assert_string_equal(kk_doc_state(d.merged), "Ready");
    kk_apply_diff_free(&d);
    /* Credentials: compatible; the namespace: breaking. */
    json_t *cred = doc_of(REALM "  labels: {team: a}\nspec:\n  namespace: main.kukeon.io\n"
                                "  registryCredentials: [{username: u, password: p}]\n");
    expect_diff(KK_KIND_REALM, a, cred, "[\"spec.registryCredentials\"]", "[]", false, NULL);
    json_t *ns = doc_of(REALM "  labels: {team: a}\nspec:\n  namespace: other.kukeon.io\n");
    expect_diff(KK_KIND_REALM, a, ns, "[]", "[\"spec.namespace\"]", false, NULL);
    /* Labels removed are a change too. */
    json_t *none = doc_of(REALM "spec:\n  namespace: main.kukeon.io\n");
    expect_diff(KK_KIND_REALM, a, none, "[\"metadata.labels\"]", "[]", false, &d);
    assert_null(json_object_get(kk_doc_metadata(d.merged), "labels"));
    kk_apply_diff_free(&d);
    json_decref(a), json_decref(same), json_decref(lab), json_decref(cred), json_decref(ns),
        json_decref(none);
}

#define SPACE "kind: Space\nmetadata: {name: blog}\nspec:\n  realmId: main\n"

static void test_space(void **state)
{
    (void)state;
    json_t *a = doc_of(SPACE "  network:\n    egress: {default: allow}\n");
    json_t *eg = doc_of(SPACE "  network:\n    egress: {default: deny, allow: [{cidr: 10.0.0.0/8}]}\n");
    struct kk_apply_diff d;
    expect_diff(KK_KIND_SPACE, a, eg, "[\"spec.network.egress\"]", "[]", false, &d);
    assert_string_equal(
        kk_json_str(json_object_get(json_object_get(kk_doc_spec(d.merged), "network"), "egress"), "default"),
        "deny");
    kk_apply_diff_free(&d);
    /* Defaults for containers: compatible; the conflist path: breaking. */
    json_t *def = doc_of(SPACE "  network:\n    egress: {default: allow}\n"
                               "  defaults:\n    container: {user: \"1000\"}\n");
    expect_diff(KK_KIND_SPACE, a, def, "[\"spec.defaults.container\"]", "[]", false, NULL);
    json_t *cni =
        doc_of(SPACE "  cniConfigPath: /x/network.conflist\n  network:\n    egress: {default: allow}\n");
    expect_diff(KK_KIND_SPACE, a, cni, "[]", "[\"spec.cniConfigPath\"]", false, NULL);
    json_decref(a), json_decref(eg), json_decref(def), json_decref(cni);
}

static void test_stack(void **state)
{
    (void)state;
    json_t *a = doc_of("kind: Stack\nmetadata: {name: s}\nspec: {realmId: r, spaceId: sp}\n");
    json_t *b = doc_of("kind: Stack\nmetadata: {name: s, labels: {x: y}}\nspec: {realmId: r, spaceId: sp}\n");
    expect_diff(KK_KIND_STACK, a, b, "[\"metadata.labels\"]", "[]", false, NULL);
    /* A member the kind does not have (the reference's decoder drops it) is never a change. */
    json_t *id = doc_of("kind: Stack\nmetadata: {name: s}\nspec: {realmId: r, spaceId: sp, replicas: 3}\n");
    expect_diff(KK_KIND_STACK, a, id, "[]", "[]", false, NULL);
    json_decref(a), json_decref(b), json_decref(id);
}

#define CELL "kind: Cell\nmetadata: {name: web}\nspec:\n  realmId: r\n  spaceId: s\n  stackId: t\n"

/* The cell as the daemon stores it: with the pause root it synthesized. */
static json_t *stored_cell(const char *yaml)
{
    json_t *c = doc_of(yaml);
    struct kk_pause_root pause = {"kukeon.internal/kukepause:1", "/.kukeon/bin/kukepause", NULL};
    struct kk_err err = {0};
    if (kk_cell_add_pause_root(c, &pause, &err) < 0)
        fail_msg("pause root: %s", err.msg);
    json_object_set_new(c, "status", json_pack("{s:s}", "state", "Ready"));
    return c;
}

static void test_cell(void **state)
{
    (void)state;
    const char *base =
        CELL "  containers:\n  - {id: app, image: busybox, env: [A=1]}\n  - {id: side, image: busybox}\n";
    json_t *a = stored_cell(base);
    json_t *same = doc_of(base);
    expect_diff(KK_KIND_CELL, a, same, "[]", "[]", false, NULL);
    /* A default written out (env: [], restartPolicy "") is no change. */
    json_t *explicit = doc_of(CELL "  containers:\n  - {id: app, image: busybox, env: [A=1], args: []}\n"
                                   "  - {id: side, image: busybox, env: [], privileged: false}\n");
    expect_diff(KK_KIND_CELL, a, explicit, "[]", "[]", false, NULL);
    /* env: compatible, stored in place beside the synthesized root. */
    json_t *env = doc_of(
        CELL "  containers:\n  - {id: app, image: busybox, env: [A=2]}\n  - {id: side, image: busybox}\n");
    struct kk_apply_diff d;
    expect_diff(KK_KIND_CELL, a, env, "[\"spec.containers[app].env\"]", "[]", false, &d);
    json_t *app = kk_cell_container(d.merged, "app");
    assert_string_equal(json_string_value(json_array_get(json_object_get(app, "env"), 0)), "A=2");
    assert_non_null(kk_cell_container(d.merged, "root"));
    assert_string_equal(kk_cell_root_id(d.merged), "root");
    kk_apply_diff_free(&d);
    /* The image of a non-root container: breaking, the root untouched. */
    json_t *img = doc_of(
        CELL "  containers:\n  - {id: app, image: nginx, env: [A=1]}\n  - {id: side, image: busybox}\n");
    expect_diff(KK_KIND_CELL, a, img, "[]", "[\"spec.containers[app].image\"]", false, NULL);
    /* A container added or removed: breaking. */
    json_t *added = doc_of(
        CELL "  containers:\n  - {id: app, image: busybox, env: [A=1]}\n  - {id: side, image: busybox}\n"
             "  - {id: more, image: busybox}\n");
    expect_diff(KK_KIND_CELL, a, added, "[]", "[\"spec.containers[more]\"]", false, NULL);
    json_t *removed = doc_of(CELL "  containers:\n  - {id: app, image: busybox, env: [A=1]}\n");
    expect_diff(KK_KIND_CELL, a, removed, "[]", "[\"spec.containers[side]\"]", false, NULL);
    /* Labels and autoDelete: compatible; provenance never compared. */
    json_t *lab =
        doc_of("kind: Cell\nmetadata: {name: web, labels: {a: b}}\nspec:\n  realmId: r\n  spaceId: s\n"
               "  stackId: t\n  autoDelete: true\n  provenance: {blueprint: x}\n"
               "  containers:\n  - {id: app, image: busybox, env: [A=1]}\n  - {id: side, image: busybox}\n");
    expect_diff(KK_KIND_CELL, a, lab, "[\"metadata.labels\",\"spec.autoDelete\"]", "[]", false, NULL);
    json_decref(a), json_decref(same), json_decref(explicit), json_decref(env), json_decref(img);
    json_decref(added), json_decref(removed), json_decref(lab);
}

static void test_cell_root(void **state)
{
    (void)state;
    const char *base = CELL "  containers:\n  - {id: main, root: true, image: busybox, command: /bin/sh}\n"
                            "  - {id: app, image: busybox}\n";
    json_t *a = doc_of(base);
    json_t *cmd = doc_of(CELL "  containers:\n  - {id: main, root: true, image: busybox, command: /bin/top}\n"
                              "  - {id: app, image: busybox}\n");
    expect_diff(KK_KIND_CELL, a, cmd, "[]", "[\"spec.containers[main].command\"]", true, NULL);
    /* A compatible change in the root is still in place. */
    json_t *env = doc_of(
        CELL "  containers:\n  - {id: main, root: true, image: busybox, command: /bin/sh, env: [X=1]}\n"
             "  - {id: app, image: busybox}\n");
    expect_diff(KK_KIND_CELL, a, env, "[\"spec.containers[main].env\"]", "[]", false, NULL);
    /* Another container made root: the root changes. */
    json_t *moved = doc_of(CELL "  containers:\n  - {id: main, image: busybox, command: /bin/sh}\n"
                                "  - {id: app, root: true, image: busybox}\n");
    struct kk_apply_diff d;
    struct kk_err err = {0};
    assert_int_equal(kk_apply_diff(KK_KIND_CELL, a, moved, &d, &err), 0);
    assert_true(d.root_breaking);
    assert_true(json_array_size(d.breaking) > 0);
    kk_apply_diff_free(&d);
    json_decref(a), json_decref(cmd), json_decref(env), json_decref(moved);
}

static void test_not_diffed(void **state)
{
    (void)state;
    json_t *a = json_object();
    struct kk_apply_diff d;
    struct kk_err err = {0};
    assert_int_equal(kk_apply_diff(KK_KIND_SECRET, a, a, &d, &err), -1);
    assert_int_equal(err.kind, KK_ERR_INVALID);
    json_decref(a);
}

static void test_base64(void **state)
{
    (void)state;
    static const struct {
        const char *plain, *b64;
    } cases[] = {{"", ""},        {"f", "Zg=="},        {"fo", "Zm8="},
                 {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"kind: Realm\n", "a2luZDogUmVhbG0K"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *e = kk_base64_encode(cases[i].plain, strlen(cases[i].plain));
        assert_string_equal(e, cases[i].b64);
        free(e);
        char *back;
        size_t len;
        struct kk_err err = {0};
        assert_int_equal(kk_base64_decode(cases[i].b64, strlen(cases[i].b64), &back, &len, &err), 0);
        assert_int_equal(len, strlen(cases[i].plain));
        assert_memory_equal(back, cases[i].plain, len);
        free(back);
    }
    /* Every byte value survives. */
    unsigned char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    char *e = kk_base64_encode(all, sizeof(all)), *back;
    size_t len;
    struct kk_err err = {0};
    assert_int_equal(kk_base64_decode(e, strlen(e), &back, &len, &err), 0);
    assert_int_equal(len, 256);
    assert_memory_equal(back, all, 256);
    free(e);
    free(back);
    /* Padding may be left out; line breaks are skipped. */
    assert_int_equal(kk_base64_decode("Zm8\n", 4, &back, &len, &err), 0);
    assert_int_equal(len, 2);
    free(back);
    const char *bad[] = {"Zm9v!", "Z", "Zg=a", "Zg===", "Zm9vY"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kk_err_clear(&err);
        if (kk_base64_decode(bad[i], strlen(bad[i]), &back, &len, &err) == 0)
            fail_msg("\"%s\" decoded", bad[i]);
        assert_int_equal(err.kind, KK_ERR_INVALID);
        assert_null(back);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_realm),  cmocka_unit_test(test_space),     cmocka_unit_test(test_stack),
        cmocka_unit_test(test_cell),   cmocka_unit_test(test_cell_root), cmocka_unit_test(test_not_diffed),
        cmocka_unit_test(test_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
