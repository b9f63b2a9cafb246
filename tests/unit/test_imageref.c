/* Unit tests for common/imageref.c: the canonical table of Docker's reference grammar (official
 * images, registries with ports, digests with and without a tag), the endpoint docker.io is served
 * from, the kukeon.internal registry, and every malformed shape refused with a message naming the
 * reference; and the canonical names images are stored under. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/imageref.h"
#include "common/util.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct canon_case {
    const char *in;
    const char *name;
    const char *domain;
    const char *path;
    const char *tag;
    const char *digest;
};

static const struct canon_case canon[] = {
    {"nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", ""},
    {"library/nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", ""},
    {"docker.io/nginx", "docker.io/library/nginx:latest", "docker.io", "library/nginx", "latest", ""},
    {"index.docker.io/nginx:1.25", "docker.io/library/nginx:1.25", "docker.io", "library/nginx", "1.25", ""},
    {"docker.io/bitnami/redis:7", "docker.io/bitnami/redis:7", "docker.io", "bitnami/redis", "7", ""},
    {"ghcr.io/a/b:1", "ghcr.io/a/b:1", "ghcr.io", "a/b", "1", ""},
    {"localhost:5000/x", "localhost:5000/x:latest", "localhost:5000", "x", "latest", ""},
    {"localhost/x", "localhost/x:latest", "localhost", "x", "latest", ""},
    {"127.0.0.1:5000/a/b@sha256:" D64, "127.0.0.1:5000/a/b@sha256:" D64, "127.0.0.1:5000", "a/b", "",
     "sha256:" D64},
    {"name:tag@sha256:" D64, "docker.io/library/name:tag@sha256:" D64, "docker.io", "library/name", "tag",
     "sha256:" D64},
    {"[::1]:5000/a:v", "[::1]:5000/a:v", "[::1]:5000", "a", "v", ""},
    {"reg.example.com/team/sub/app:v1.2.3-rc_1", "reg.example.com/team/sub/app:v1.2.3-rc_1",
     "reg.example.com", "team/sub/app", "v1.2.3-rc_1", ""},
    {"a__b-c--d/e_f.g", "docker.io/a__b-c--d/e_f.g:latest", "docker.io", "a__b-c--d/e_f.g", "latest", ""},
    {"kukeon.internal/kukepause:v9", "kukeon.internal/kukepause:v9", "kukeon.internal", "kukepause", "v9",
     ""},
    {"My-Registry.example:443/x:_T", "My-Registry.example:443/x:_T", "My-Registry.example:443", "x", "_T",
     ""},
};

static void test_canonical_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < KK_ARRAY_SIZE(canon); i++) {
        struct kk_imageref r;
        struct kk_err err = {0};
        if (kk_imageref_parse(canon[i].in, &r, &err) < 0)
            fail_msg("%s: %s", canon[i].in, err.msg);
        char name[KK_IMAGEREF_STR_MAX];
        assert_int_equal(kk_imageref_name(&r, name, sizeof(name), &err), 0);
        assert_string_equal(name, canon[i].name);
        assert_string_equal(r.domain, canon[i].domain);
        assert_string_equal(r.path, canon[i].path);
        assert_string_equal(r.tag, canon[i].tag);
        assert_string_equal(r.digest, canon[i].digest);
        /* The canonical form parses to itself. */
        struct kk_imageref again;
        assert_int_equal(kk_imageref_parse(name, &again, &err), 0);
        assert_memory_equal(&again, &r, sizeof(r));
    }
}

static void test_endpoint_and_internal(void **state)
{
    (void)state;
    struct kk_imageref r;
    assert_int_equal(kk_imageref_parse("busybox", &r, NULL), 0);
    assert_string_equal(kk_imageref_endpoint(&r), "registry-1.docker.io");
    assert_false(kk_imageref_internal(&r));
    assert_int_equal(kk_imageref_parse("127.0.0.1:5000/a", &r, NULL), 0);
    assert_string_equal(kk_imageref_endpoint(&r), "127.0.0.1:5000");
    assert_int_equal(kk_imageref_parse("kukeon.internal/kukepause:v1", &r, NULL), 0);
    assert_true(kk_imageref_internal(&r));
    /* "kukeon.internal" as a repository on docker.io is not the internal registry */
    assert_int_equal(kk_imageref_parse("kukeoninternal/x", &r, NULL), 0);
    assert_false(kk_imageref_internal(&r));
}

struct bad_case {
    const char *in;
    const char *why; /* a piece of the message */
};

static void test_refused(void **state)
{
    (void)state;
    char long_name[400], long_tag[200], long_path[300];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    snprintf(long_tag, sizeof(long_tag), "x:%0129d", 0);
    /* 250 bytes of path: fine alone, but docker.io/library/ takes the name over 255 */
    memset(long_path, 'b', 250);
    long_path[250] = '\0';
    const struct bad_case bad[] = {
        {"", "empty"},
        {"Nginx", "lowercase"},
        {"library/Nginx", "lowercase"},
        {"a//b", "empty repository component"},
        {"a/", "empty repository component"},
        {"/a", "empty repository component"},
        {"a:", "tag after ':' is empty"},
        {"a@", "digest"},
        {"a:b:c", "tag must be"},
        {"nginx:latest junk", "space"},
        {"nginx\n", "control"},
        {"nginx@sha256:" D64 "x", "digest"},
        {"nginx@sha256:"
         "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
         "digest"},
        {"nginx@md5:0123", "digest"},
        {"a:-x", "tag must be"},
        {"-a", "lowercase"},
        {"a-", "lowercase"},
        {"a...b", "lowercase"},
        {"a___b", "lowercase"},
        {"ex ample.com/a", "space"},
        {"exa_mple.com/a", "registry host"},
        {"example.com:/a", "registry host"},
        {"example.com:99999x/a", "registry host"},
        {"example.com/", "no repository"},
        {":tag", "no repository"},
        {long_name, "longer than"},
        {long_tag, "tag must be"},
        {long_path, "longer than 255"},
    };
    for (size_t i = 0; i < KK_ARRAY_SIZE(bad); i++) {
        struct kk_imageref r;
        struct kk_err err = {0};
        if (kk_imageref_parse(bad[i].in, &r, &err) == 0)
            fail_msg("\"%s\" was accepted", bad[i].in);
        assert_int_equal(err.kind, KK_ERR_INVALID);
        if (strstr(err.msg, bad[i].why) == NULL)
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", bad[i].in, err.msg, bad[i].why);
        /* every message names the reference (or says it is empty) and stays printable */
        if (bad[i].in[0] != '\0')
            assert_non_null(strstr(err.msg, "image reference \""));
        for (const char *p = err.msg; *p; p++)
            assert_true(*p >= 0x20 && *p < 0x7f);
    }
    assert_int_equal(kk_imageref_parse(NULL, &(struct kk_imageref){0}, NULL), -1);
}

static void test_digest_valid(void **state)
{
    (void)state;
    assert_true(kk_imageref_digest_valid("sha256:" D64));
    assert_false(kk_imageref_digest_valid("sha256:" D64 "0"));
    assert_false(kk_imageref_digest_valid("sha256:abc"));
    assert_false(kk_imageref_digest_valid("sha512:" D64));
    assert_false(kk_imageref_digest_valid(""));
    assert_false(kk_imageref_digest_valid(NULL));
}

/* The names images are stored and looked up under, the table kuke-ctrd and the controller share. */
static void test_canonical_names(void **state)
{
    (void)state;
    static const char *const table[][2] = {
        {"busybox", "docker.io/library/busybox:latest"},
        {"busybox:1.36", "docker.io/library/busybox:1.36"},
        {"library/busybox", "docker.io/library/busybox:latest"},
        {"bitnami/redis:7", "docker.io/bitnami/redis:7"},
        {"ghcr.io/a/b:1", "ghcr.io/a/b:1"},
        {"localhost:5000/x", "localhost:5000/x:latest"},
        {"localhost/x:y", "localhost/x:y"},
        {"127.0.0.1:5000/a/b@sha256:" D64, "127.0.0.1:5000/a/b@sha256:" D64},
        {"kukeon.internal/kukepause:v9", "kukeon.internal/kukepause:v9"},
        {"docker.io/library/x", "docker.io/library/x:latest"},
        {"quay.io/org/img@sha256:" D64, "quay.io/org/img@sha256:" D64},
    };
    for (size_t i = 0; i < KK_ARRAY_SIZE(table); i++) {
        char now[KK_IMAGEREF_STR_MAX];
        struct kk_imageref r;
        assert_int_equal(kk_imageref_parse(table[i][0], &r, NULL), 0);
        assert_int_equal(kk_imageref_name(&r, now, sizeof(now), NULL), 0);
        assert_string_equal(now, table[i][1]);
    }
}

static void test_canonical_one_step(void **state)
{
    (void)state;
    char out[KK_IMAGEREF_STR_MAX];
    assert_int_equal(kk_imageref_canonical("busybox", out, sizeof(out), NULL), 0);
    assert_string_equal(out, "docker.io/library/busybox:latest");
    /* Docker's rule: a docker.io name of one component is under library/ */
    assert_int_equal(kk_imageref_canonical("docker.io/busybox", out, sizeof(out), NULL), 0);
    assert_string_equal(out, "docker.io/library/busybox:latest");
    struct kk_err err = {0};
    assert_int_equal(kk_imageref_canonical("Busybox", out, sizeof(out), &err), -1);
    assert_int_equal(err.kind, KK_ERR_INVALID);
}

static void test_name_buffer_too_small(void **state)
{
    (void)state;
    struct kk_imageref r;
    assert_int_equal(kk_imageref_parse("nginx", &r, NULL), 0);
    char small[8];
    struct kk_err err = {0};
    assert_int_equal(kk_imageref_name(&r, small, sizeof(small), &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_table),
        cmocka_unit_test(test_endpoint_and_internal),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_digest_valid),
        cmocka_unit_test(test_canonical_names),
        cmocka_unit_test(test_canonical_one_step),
        cmocka_unit_test(test_name_buffer_too_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
