/* Unit tests for ApplyDocuments and DeleteDocuments through the controller (kk_ctl_call) on a
 * private run path, without helpers: what needs no helper — the request's RawYAML, a bad manifest
 * refused whole with nothing stored, unchanged and compatible updates of stored documents, one
 * document failing (its create needs kuke-cgd) while the others go on, delete -f's "not found" and
 * its refusal of a realm with children. The created path with real helpers is
 * tests/integration/test_apply.sh. */
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "kukeond/apply.h"
#include "kukeond/controller.h"
#include "kukeond/manifest.h"

struct fixture {
    char run[128];
    struct kk_ctl ctl;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->run, sizeof(f->run), "/tmp/kk-apply-test.XXXXXX");
    if (mkdtemp(f->run) == NULL)
        return -1;
    struct kk_config cfg;
    kk_config_defaults(&cfg);
    snprintf(cfg.run_path, sizeof(cfg.run_path), "%s", f->run);
    struct kk_err err = {0};
    if (kk_ctl_init(&f->ctl, &cfg, &err) < 0)
        return -1;
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    nftw(f->run, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Call method with the manifest text as RawYAML (and extra args). */
static json_t *call(struct fixture *f, const char *method, const char *yaml, json_t *extra)
{
    char *b64 = kk_base64_encode(yaml, strlen(yaml));
    json_t *args = extra != NULL ? extra : json_object();
    json_object_set_new(args, "RawYAML", json_string(b64));
    free(b64);
    json_t *reply = kk_ctl_call(&f->ctl, method, args);
    json_decref(args);
    assert_non_null(reply);
    return reply;
}

static const char *err_kind(const json_t *reply)
{
    return json_string_value(json_object_get(json_object_get(reply, "Err"), "Kind"));
}

static const char *err_msg(const json_t *reply)
{
    return json_string_value(json_object_get(json_object_get(reply, "Err"), "Message"));
}

/* [[kind, name, action], ...] of a reply's Resources, as compact JSON. */
static char *actions(const json_t *reply)
{
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(json_object_get(reply, "Result"), "Resources"), i, r)
        json_array_append_new(out, json_pack("[s,s,s]", json_string_value(json_object_get(r, "kind")),
                                             json_string_value(json_object_get(r, "name")),
                                             json_string_value(json_object_get(r, "action"))));
    char *s = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    return s;
}

static void expect_actions(const json_t *reply, const char *want)
{
    if (!json_is_null(json_object_get(reply, "Err")))
        fail_msg("Err: %s", err_msg(reply));
    char *got = actions(reply);
    if (strcmp(got, want) != 0)
        fail_msg("actions %s, want %s", got, want);
    free(got);
}

/* Store a document as a finished create would have: completed, state Ready. */
static void store_ready(struct fixture *f, const char *yaml)
{
    struct kk_manifest m;
    struct kk_err err = {0};
    if (kk_manifest_load(yaml, strlen(yaml), &f->ctl.dcfg, &m, &err) < 0)
        fail_msg("%s", err.msg);
    json_object_set_new(m.docs[0].doc, "status", json_pack("{s:s}", "state", "Ready"));
    struct kk_store_token tok = KK_STORE_TOKEN_INIT;
    assert_int_equal(kk_store_instance(&f->ctl.store, true, &err), 1);
    if (kk_store_put(&f->ctl.store, m.docs[0].doc, &tok, &err) < 0)
        fail_msg("%s", err.msg);
    kk_store_token_clear(&tok);
    kk_manifest_free(&m);
}

static json_t *stored(struct fixture *f, const char *realm, const char *space)
{
    struct kk_derive_names n = {realm, space, NULL, NULL, NULL};
    json_t *doc = NULL;
    struct kk_err err = {0};
    if (kk_store_get(&f->ctl.store, &n, &doc, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    return doc;
}

static void test_raw_yaml(void **state)
{
    struct fixture *f = *state;
    json_t *bad = json_pack("{s:s}", "RawYAML", "not base64!");
    json_t *reply = kk_ctl_call(&f->ctl, "ApplyDocuments", bad);
    json_decref(bad);
    assert_string_equal(err_kind(reply), "ConversionFailed");
    assert_non_null(strstr(err_msg(reply), "argument RawYAML: illegal base64 data"));
    json_decref(reply);
    json_t *args = json_pack("{s:i}", "RawYAML", 12);
    reply = kk_ctl_call(&f->ctl, "DeleteDocuments", args);
    json_decref(args);
    assert_string_equal(err_kind(reply), "ConversionFailed");
    json_decref(reply);
    /* No RawYAML at all: an empty manifest. */
    args = json_object();
    reply = kk_ctl_call(&f->ctl, "ApplyDocuments", args);
    json_decref(args);
    assert_string_equal(err_msg(reply), "no documents found in input");
    assert_true(json_is_object(json_object_get(reply, "Result")));
    json_decref(reply);
}

static void test_bad_manifest_applies_nothing(void **state)
{
    struct fixture *f = *state;
    json_t *reply = call(f, "ApplyDocuments",
                         "kind: Realm\nmetadata: {name: r}\n---\nkind: Space\nmetadata: {name: s\n", NULL);
    assert_string_equal(err_kind(reply), "Unknown");
    assert_non_null(strstr(err_msg(reply), "document 1: line 6, column 1: did not find expected ',' or '}'"));
    json_decref(reply);
    reply =
        call(f, "ApplyDocuments",
             "kind: Realm\nmetadata: {name: r}\n---\nkind: Stack\nmetadata: {name: s}\nspec: {realmId: r}\n",
             NULL);
    assert_string_equal(err_msg(reply),
                        "validation failed:\n  document 1 (Stack \"s\"): spec.spaceId is required");
    json_decref(reply);
    json_t *doc = stored(f, "r", NULL);
    assert_null(doc);
}

static void test_unchanged_and_updated(void **state)
{
    struct fixture *f = *state;
    store_ready(f, "kind: Realm\nmetadata: {name: r, labels: {a: b}}\n");
    json_t *reply = call(f, "ApplyDocuments", "kind: Realm\nmetadata: {name: r, labels: {a: b}}\n", NULL);
    expect_actions(reply, "[[\"Realm\",\"r\",\"unchanged\"]]");
    json_t *r0 = json_array_get(json_object_get(json_object_get(reply, "Result"), "Resources"), 0);
    /* Nothing beyond the four members when there is nothing to say. */
    assert_int_equal(json_object_size(r0), 4);
    assert_int_equal(json_integer_value(json_object_get(r0, "index")), 0);
    json_decref(reply);
    reply = call(f, "ApplyDocuments", "kind: Realm\nmetadata: {name: r, labels: {a: c}}\n", NULL);
    expect_actions(reply, "[[\"Realm\",\"r\",\"updated\"]]");
    r0 = json_array_get(json_object_get(json_object_get(reply, "Result"), "Resources"), 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(r0, "changes"), 0)),
                        "metadata.labels");
    json_decref(reply);
    json_t *doc = stored(f, "r", NULL);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(kk_doc_metadata(doc), "labels"), "a")), "c");
    assert_string_equal(kk_doc_state(doc), "Ready");
    json_decref(doc);
}

static void test_one_fails_others_go_on(void **state)
{
    struct fixture *f = *state;
    store_ready(f, "kind: Realm\nmetadata: {name: r}\n");
    /* The space needs kuke-cgd, which this controller does not have: it fails, the realm after it
     * (in apply order, before it) is still reported. */
    json_t *reply =
        call(f, "ApplyDocuments",
             "kind: Space\nmetadata: {name: s}\nspec: {realmId: r}\n---\nkind: Realm\nmetadata: {name: r}\n",
             NULL);
    expect_actions(reply, "[[\"Realm\",\"r\",\"unchanged\"],[\"Space\",\"s\",\"failed\"]]");
    json_t *r1 = json_array_get(json_object_get(json_object_get(reply, "Result"), "Resources"), 1);
    assert_int_equal(json_integer_value(json_object_get(r1, "index")), 0);
    assert_non_null(strstr(json_string_value(json_object_get(r1, "error")), "kuke-cgd"));
    json_decref(reply);
    /* The intent was recorded: the realm now has a (Failed) space, so delete -f refuses it. */
    reply = call(f, "DeleteDocuments",
                 "kind: Realm\nmetadata: {name: r}\n---\nkind: Stack\nmetadata: {name: t}\nspec: {realmId: "
                 "r, spaceId: x}\n",
                 NULL);
    expect_actions(reply, "[[\"Stack\",\"t\",\"not found\"],[\"Realm\",\"r\",\"failed\"]]");
    json_t *r = json_array_get(json_object_get(json_object_get(reply, "Result"), "Resources"), 1);
    assert_non_null(
        strstr(json_string_value(json_object_get(r, "error")),
               "realm \"r\" has 1 space(s). Use --cascade to delete them or --force to skip validation"));
    json_decref(reply);
}

static void test_methods_write(void **state)
{
    (void)state;
    assert_true(kk_ctl_has_method("ApplyDocuments"));
    assert_true(kk_ctl_has_method("DeleteDocuments"));
    assert_true(kk_ctl_method_writes("ApplyDocuments"));
    assert_true(kk_ctl_method_writes("DeleteDocuments"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_raw_yaml, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_manifest_applies_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unchanged_and_updated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_fails_others_go_on, setup, teardown),
        cmocka_unit_test(test_methods_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
