/* Unit tests for common/names.c: the name rule of DESIGN.md section 6, bad inputs first, and the
 * wording of its messages (kind, offending name, escaped, and the rule). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/names.h"

#define RULE "(names are 1-63 characters of A-Z a-z 0-9 '.' '-', starting and ending with a letter or digit)"

/* 63 and 64 characters, built once so the table can point at them. */
static char name63[64];
static char name64[65];
static char name200[201];

static int setup_long_names(void **state)
{
    (void)state;
    memset(name63, 'a', 63);
    name63[0] = 'x';
    name63[62] = '9';
    memset(name64, 'b', 64);
    memset(name200, 'c', 200);
    return 0;
}

struct bad_name_case {
    enum kk_name_kind kind;
    const char *name;
    const char *message; /* the whole message, or NULL to check only want_part */
    const char *want_part;
};

static const struct bad_name_case bad_names[] = {
    {KK_NAME_REALM, "", "realm name is required", NULL},
    {KK_NAME_SPACE, "", "space name is required", NULL},
    {KK_NAME_STACK, NULL, "stack name is required", NULL},
    {KK_NAME_CELL, "", "cell name is required", NULL},
    {KK_NAME_CONTAINER, "", "container name is required", NULL},
    {KK_NAME_REALM, ".", "realm name \".\" is invalid: it starts with '.' " RULE, NULL},
    {KK_NAME_SPACE, "..", "space name \"..\" is invalid: it starts with '.' " RULE, NULL},
    {KK_NAME_REALM, "_", "realm name \"_\" is invalid: it contains '_' " RULE, NULL},
    {KK_NAME_REALM, "a_b", "realm name \"a_b\" is invalid: it contains '_' " RULE, NULL},
    {KK_NAME_CELL, "/", "cell name \"/\" is invalid: it contains '/' " RULE, NULL},
    {KK_NAME_STACK, "a/b", "stack name \"a/b\" is invalid: it contains '/' " RULE, NULL},
    {KK_NAME_STACK, "../etc", "stack name \"../etc\" is invalid: it starts with '.' " RULE, NULL},
    {KK_NAME_CELL, "a b", "cell name \"a b\" is invalid: it contains a space " RULE, NULL},
    {KK_NAME_CELL, " a", "cell name \" a\" is invalid: it contains a space " RULE, NULL},
    {KK_NAME_CELL, "a ", "cell name \"a \" is invalid: it contains a space " RULE, NULL},
    {KK_NAME_CONTAINER, "a\tb",
     "container name \"a\\x09b\" is invalid: it contains a control byte (\\x09) " RULE, NULL},
    {KK_NAME_CONTAINER, "a\nb",
     "container name \"a\\x0ab\" is invalid: it contains a control byte (\\x0a) " RULE, NULL},
    {KK_NAME_CONTAINER, "a\rb", NULL, "it contains a control byte (\\x0d)"},
    {KK_NAME_REALM, "a\x01", NULL, "it contains a control byte (\\x01)"},
    {KK_NAME_REALM, "a\x1b[31mred",
     "realm name \"a\\x1b[31mred\" is invalid: it contains a control byte (\\x1b) " RULE, NULL},
    {KK_NAME_REALM, "a\x7f", NULL, "it contains a control byte (\\x7f)"},
    {KK_NAME_SPACE, "caf\xc3\xa9",
     "space name \"caf\\xc3\\xa9\" is invalid: it contains a non-ASCII byte (\\xc3) " RULE, NULL},
    {KK_NAME_SPACE, "\xe2\x80\x8b", NULL, "it contains a non-ASCII byte (\\xe2)"}, /* zero-width space */
    {KK_NAME_SPACE, "\xff", NULL, "it contains a non-ASCII byte (\\xff)"},
    {KK_NAME_REALM, "-a", "realm name \"-a\" is invalid: it starts with '-' " RULE, NULL},
    {KK_NAME_REALM, "a-", "realm name \"a-\" is invalid: it ends with '-' " RULE, NULL},
    {KK_NAME_REALM, ".a", "realm name \".a\" is invalid: it starts with '.' " RULE, NULL},
    {KK_NAME_REALM, "a.", "realm name \"a.\" is invalid: it ends with '.' " RULE, NULL},
    {KK_NAME_REALM, "-", NULL, "it starts with '-'"},
    {KK_NAME_SPACE, "a--b",
     "space name \"a--b\" is invalid: it contains \"--\" ('.' and '-' must each stand between letters or "
     "digits, "
     "as containerd identifiers require)",
     NULL},
    {KK_NAME_SPACE, "a..b", NULL, "it contains \"..\""},
    {KK_NAME_SPACE, "a.-b", NULL, "it contains \".-\""},
    {KK_NAME_REALM, "a\"b", "realm name \"a\\\"b\" is invalid: it contains '\"' " RULE, NULL},
    {KK_NAME_REALM, "a'b", NULL, "it contains '\\''"},
    {KK_NAME_REALM, "a\\b", "realm name \"a\\\\b\" is invalid: it contains '\\\\' " RULE, NULL},
    {KK_NAME_REALM, "a:b", NULL, "it contains ':'"},
    {KK_NAME_REALM, "a*", NULL, "it contains '*'"},
    {KK_NAME_REALM, "a+b", NULL, "it contains '+'"},
    {KK_NAME_REALM, "a@b", NULL, "it contains '@'"},
    {KK_NAME_REALM, "a%b", NULL, "it contains '%'"},
    {KK_NAME_REALM, "a$b", NULL, "it contains '$'"},
    {KK_NAME_REALM, "a~", NULL, "it contains '~'"},
    {KK_NAME_REALM, name64, NULL, "it is longer than 63 characters"},
    {KK_NAME_CELL, name200, NULL, "it is longer than 63 characters"},
    /* the first problem is the one reported */
    {KK_NAME_REALM, "a_b/c", NULL, "it contains '_'"},
    {KK_NAME_REALM, "-a_b", NULL, "it starts with '-'"},
};

static void test_bad_names_refused(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        const struct bad_name_case *c = &bad_names[i];
        struct kk_err err;
        kk_err_clear(&err);
        if (kk_name_check(c->kind, c->name, &err) != -1)
            fail_msg("row %zu: %s name accepted, should be refused", i, kk_name_kind_str(c->kind));
        if (err.kind != KK_ERR_INVALID || err.errnum != 0)
            fail_msg("row %zu: kind %d errnum %d, want Invalid and 0", i, err.kind, err.errnum);
        if (c->message != NULL && strcmp(err.msg, c->message) != 0)
            fail_msg("row %zu: message\n  got  %s\n  want %s", i, err.msg, c->message);
        if (c->want_part != NULL && strstr(err.msg, c->want_part) == NULL)
            fail_msg("row %zu: message \"%s\" lacks \"%s\"", i, err.msg, c->want_part);
        if (strchr(err.msg, '\n') != NULL || strchr(err.msg, '\t') != NULL || strchr(err.msg, '\x1b') != NULL)
            fail_msg("row %zu: message carries a raw control byte: %s", i, err.msg);
        /* the verdict-only function agrees */
        if (kk_name_is_valid(c->name))
            fail_msg("row %zu: kk_name_is_valid accepted it", i);
        /* and err may be NULL */
        if (kk_name_check(c->kind, c->name, NULL) != -1)
            fail_msg("row %zu: refused only when err is given", i);
    }
}

static void test_messages_name_the_offender(void **state)
{
    (void)state;
    struct kk_err err;
    assert_int_equal(kk_name_check(KK_NAME_CELL, "my_web", &err), -1);
    assert_non_null(strstr(err.msg, "cell name \"my_web\""));

    /* An over-long name is quoted in part, marked as cut, and the message stays bounded. */
    assert_int_equal(kk_name_check(KK_NAME_STACK, name200, &err), -1);
    assert_non_null(strstr(err.msg, "stack name \"cccccccccc"));
    assert_non_null(strstr(err.msg, "cccc...\" is invalid: it is longer than 63 characters"));
    assert_true(strlen(err.msg) < 300);

    /* A hostile name full of escapes cannot overflow the message. */
    char hostile[4096];
    memset(hostile, '\n', sizeof(hostile) - 1);
    hostile[sizeof(hostile) - 1] = '\0';
    assert_int_equal(kk_name_check(KK_NAME_REALM, hostile, &err), -1);
    assert_non_null(strstr(err.msg, "it is longer than 63 characters"));
    assert_null(strchr(err.msg, '\n'));
}

static void test_good_names_accepted(void **state)
{
    (void)state;
    const char *good[] = {
        "a",      "Z",      "0",   "default",   "kuke-system", "kukeon", "kukeond", "web",
        "nginx",  "root",   "a.b", "a-b",       "a-b-c",       "a.b.c",  "A1",      "1a",
        "v1.2.3", "web-01", "x9",  "MixedCase", "a-1.b-2",     "123",    name63,
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        for (int k = 0; k < KK_NAME_KIND_COUNT; k++) {
            struct kk_err err;
            kk_err_clear(&err);
            if (kk_name_check((enum kk_name_kind)k, good[i], &err) != 0)
                fail_msg("\"%s\" refused as %s name: %s", good[i], kk_name_kind_str((enum kk_name_kind)k),
                         err.msg);
            assert_string_equal(err.msg, "");
        }
        if (!kk_name_is_valid(good[i]))
            fail_msg("kk_name_is_valid refused \"%s\"", good[i]);
    }
    assert_int_equal(strlen(name63), 63);
    assert_int_equal(kk_name_check(KK_NAME_REALM, name63, NULL), 0);
}

/* Counted strings from outside: the length is the bound, not a NUL. */
static void test_counted_names(void **state)
{
    (void)state;
    struct kk_err err;
    /* an embedded NUL is refused, wherever it is */
    assert_int_equal(kk_name_check_len(KK_NAME_CELL, "web\0evil", 8, &err), -1);
    assert_string_equal(err.msg, "cell name \"web\" is invalid: it contains a NUL byte " RULE);
    assert_int_equal(kk_name_check_len(KK_NAME_CELL, "\0", 1, &err), -1);
    assert_non_null(strstr(err.msg, "it contains a NUL byte"));
    assert_int_equal(kk_name_check_len(KK_NAME_CELL, "web\0", 4, &err), -1);
    assert_non_null(strstr(err.msg, "it contains a NUL byte"));

    /* only len bytes are read: "web" of "webXYZ", in a buffer with no NUL */
    char raw[6] = {'w', 'e', 'b', '_', '_', '_'};
    assert_int_equal(kk_name_check_len(KK_NAME_CELL, raw, 3, &err), 0);
    assert_int_equal(kk_name_check_len(KK_NAME_CELL, raw, 4, &err), -1);
    assert_non_null(strstr(err.msg, "it contains '_'"));

    /* 63 counted bytes pass, 64 do not; zero is "required" */
    assert_int_equal(kk_name_check_len(KK_NAME_REALM, name64, 63, &err), 0);
    assert_int_equal(kk_name_check_len(KK_NAME_REALM, name64, 64, &err), -1);
    assert_non_null(strstr(err.msg, "it is longer than 63 characters"));
    assert_int_equal(kk_name_check_len(KK_NAME_REALM, "abc", 0, &err), -1);
    assert_string_equal(err.msg, "realm name is required");
    assert_int_equal(kk_name_check_len(KK_NAME_REALM, NULL, 5, &err), -1);
    assert_string_equal(err.msg, "realm name is required");
}

/* The store's directories beside a scope's children (kukeon-reference.md 5.1) are no scope's name;
 * a container, which is no directory, may still carry one. */
static void test_reserved_names(void **state)
{
    (void)state;
    static const char *const reserved[] = {"secrets", "blueprints", "configs", "volumes", "volume-meta"};
    static const enum kk_name_kind scopes[] = {KK_NAME_REALM, KK_NAME_SPACE, KK_NAME_STACK, KK_NAME_CELL};
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        assert_true(kk_name_is_reserved(reserved[i]));
        for (size_t k = 0; k < sizeof(scopes) / sizeof(scopes[0]); k++) {
            struct kk_err err;
            kk_err_clear(&err);
            if (kk_name_check(scopes[k], reserved[i], &err) != -1)
                fail_msg("%s name \"%s\" accepted, should be reserved", kk_name_kind_str(scopes[k]),
                         reserved[i]);
            assert_int_equal(err.kind, KK_ERR_INVALID);
            char want[160];
            snprintf(want, sizeof(want), "%s name \"%s\" is reserved: ", kk_name_kind_str(scopes[k]),
                     reserved[i]);
            if (strncmp(err.msg, want, strlen(want)) != 0 || strstr(err.msg, "choose another name") == NULL)
                fail_msg("message \"%s\" does not start with \"%s\" and end with the fix", err.msg, want);
            assert_int_equal(kk_name_check(scopes[k], reserved[i], NULL), -1);
            assert_int_equal(kk_name_check_len(scopes[k], reserved[i], strlen(reserved[i]), NULL), -1);
        }
        assert_int_equal(kk_name_check(KK_NAME_CONTAINER, reserved[i], NULL), 0);
        /* still a well-formed name for the verdict-only check (directory walks skip it themselves) */
        assert_true(kk_name_is_valid(reserved[i]));
    }
    /* only the exact names: neighbours, prefixes and other cases are ordinary names */
    static const char *const ordinary[] = {"secret", "secrets2", "my-volumes", "Secrets", "volume", "config"};
    for (size_t i = 0; i < sizeof(ordinary) / sizeof(ordinary[0]); i++) {
        assert_false(kk_name_is_reserved(ordinary[i]));
        assert_int_equal(kk_name_check(KK_NAME_SPACE, ordinary[i], NULL), 0);
    }
    /* a counted "secrets" inside a longer buffer is judged by its length */
    assert_int_equal(kk_name_check_len(KK_NAME_CELL, "secretsX", 7, NULL), -1);
    assert_int_equal(kk_name_check_len(KK_NAME_CELL, "secretsX", 8, NULL), 0);
    assert_false(kk_name_is_reserved(NULL));
}

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(kk_name_kind_str(KK_NAME_REALM), "realm");
    assert_string_equal(kk_name_kind_str(KK_NAME_SPACE), "space");
    assert_string_equal(kk_name_kind_str(KK_NAME_STACK), "stack");
    assert_string_equal(kk_name_kind_str(KK_NAME_CELL), "cell");
    assert_string_equal(kk_name_kind_str(KK_NAME_CONTAINER), "container");
    assert_string_equal(kk_name_kind_str((enum kk_name_kind)99), "name");
    assert_string_equal(kk_name_kind_str((enum kk_name_kind) - 1), "name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_names_refused),   cmocka_unit_test(test_messages_name_the_offender),
        cmocka_unit_test(test_good_names_accepted), cmocka_unit_test(test_counted_names),
        cmocka_unit_test(test_kind_names),          cmocka_unit_test(test_reserved_names),
    };
    return cmocka_run_group_tests(tests, setup_long_names, NULL);
}
