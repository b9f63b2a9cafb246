/* Unit tests for a realm's policy, spec.allow (a Kukeon-in-C extension, docs/security.md): the
 * words kuke-ctrd knows are accepted and stored in its order; an unknown word, a repeated one or a
 * list of something else is refused with the path and the valid words; apply finds a changed or
 * dropped policy breaking, and an empty one the same as none. */
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

#define BARE  "kind: Realm\nmetadata:\n  name: main\n"
#define REALM BARE "spec:\n"

/* The validated document of yaml, or NULL with the error in err. */
static json_t *load(const char *yaml, struct kk_err *err)
{
    struct kk_manifest m;
    if (kk_manifest_load(yaml, strlen(yaml), NULL, &m, err) < 0)
        return NULL;
    assert_int_equal(m.count, 1);
    json_t *doc = json_incref(m.docs[0].doc);
    kk_manifest_free(&m);
    return doc;
}

static void expect_allow(const char *yaml, const char *want)
{
    struct kk_err err = {0};
    json_t *doc = load(yaml, &err);
    if (doc == NULL)
        fail_msg("loading\n%s\n: %s", yaml, err.msg);
    char *got =
        json_dumps(json_object_get(json_object_get(doc, "spec"), "allow"), JSON_COMPACT | JSON_ENCODE_ANY);
    if (strcmp(got != NULL ? got : "(none)", want) != 0)
        fail_msg("spec.allow %s, want %s", got, want);
    free(got);
    json_decref(doc);
}

static void expect_refused(const char *yaml, const char *says)
{
    struct kk_err err = {0};
    json_t *doc = load(yaml, &err);
    if (doc != NULL)
        fail_msg("accepted\n%s", yaml);
    if (strstr(err.msg, says) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", err.msg, says);
}

static void test_words(void **state)
{
    (void)state;
    expect_allow(REALM "  allow: [host-namespaces]\n", "[\"host-namespaces\"]");
    /* kuke-ctrd's order, whatever the user's: the same policy always reads the same. */
    expect_allow(
        REALM "  allow: [runtime, hooks, devices, host-paths, host-namespaces, cap-add, privileged]\n",
        "[\"privileged\",\"cap-add\",\"host-namespaces\",\"host-paths\",\"devices\",\"hooks\",\"runtime\"]");
    expect_allow(REALM "  allow: []\n", "[]");
    expect_refused(REALM "  allow: [host-namespaces, host-network]\n",
                   "spec.allow[1] \"host-network\" is not a policy word (valid: privileged, cap-add, "
                   "host-namespaces, host-paths, devices, hooks, runtime)");
    expect_refused(REALM "  allow: [Privileged]\n", "\"Privileged\" is not a policy word");
    expect_refused(REALM "  allow: [devices, devices]\n", "spec.allow[1] \"devices\" is listed twice");
    expect_refused(REALM "  allow: host-namespaces\n", "spec.allow");
    expect_refused(REALM "  allow: [[privileged]]\n", "spec.allow[0]");
}

static void expect_breaking(const char *actual_yaml, const char *desired_yaml, const char *breaking)
{
    struct kk_err err = {0};
    json_t *a = load(actual_yaml, &err), *d = load(desired_yaml, &err);
    assert_non_null(a);
    assert_non_null(d);
    struct kk_apply_diff diff;
    if (kk_apply_diff(KK_KIND_REALM, a, d, &diff, &err) < 0)
        fail_msg("diff: %s", err.msg);
    char *b = json_dumps(diff.breaking, JSON_COMPACT);
    if (strcmp(b, breaking) != 0)
        fail_msg("breaking %s, want %s", b, breaking);
    free(b);
    kk_apply_diff_free(&diff);
    json_decref(a);
    json_decref(d);
}

static void test_apply(void **state)
{
    (void)state;
    const char *hn = REALM "  allow: [host-namespaces]\n";
    expect_breaking(hn, hn, "[]");
    expect_breaking(hn, REALM "  allow: [host-namespaces, privileged]\n", "[\"spec.allow\"]");
    expect_breaking(hn, BARE, "[\"spec.allow\"]");
    expect_breaking(BARE, hn, "[\"spec.allow\"]");
    /* The order written is not a change; an empty policy is none. */
    expect_breaking(REALM "  allow: [privileged, host-namespaces]\n",
                    REALM "  allow: [host-namespaces, privileged]\n", "[]");
    expect_breaking(REALM "  allow: []\n", BARE, "[]");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_apply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
