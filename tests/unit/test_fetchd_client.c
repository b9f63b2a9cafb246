/* Unit tests for the pieces of kuke-fetchd's distribution client that need no registry: the
 * WWW-Authenticate parameter parser (quoted values with commas and escapes, bare tokens, keys in any
 * case, missing and over-long values), the same-authority test that decides whether the
 * Authorization header and insecureSkipTLSVerify follow a redirect, the digest helpers, and the tar
 * writer of FETCH's OCI layout (ustar headers a reader accepts, 512-byte alignment, base-256 sizes
 * past 8 GiB, the end-of-archive blocks). The registry conversation itself is tested against real
 * registries in tests/integration/test_fetchd_registry.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kuke-fetchd/fetchd_http.h"

static void test_challenge_params(void **state)
{
    char v[128];
    const char *c = "realm=\"https://auth.example.io/token\",service=\"registry.example.io\","
                    "scope=\"repository:a/b:pull,push\"";
    assert_int_equal(fh_challenge_param(c, "realm", v, sizeof(v)), 0);
    assert_string_equal(v, "https://auth.example.io/token");
    assert_int_equal(fh_challenge_param(c, "service", v, sizeof(v)), 0);
    assert_string_equal(v, "registry.example.io");
    assert_int_equal(fh_challenge_param(c, "scope", v, sizeof(v)), 0);
    assert_string_equal(v, "repository:a/b:pull,push"); /* the comma inside quotes is the value's */
    assert_int_equal(fh_challenge_param(c, "REALM", v, sizeof(v)), 0);
    assert_int_equal(fh_challenge_param(c, "error", v, sizeof(v)), -1);
    assert_string_equal(v, "");

    /* Bare tokens, spaces after commas, escapes inside quotes. */
    const char *d = "realm=https://h/t, service=svc , error=\"say \\\"no\\\"\"";
    assert_int_equal(fh_challenge_param(d, "realm", v, sizeof(v)), 0);
    assert_string_equal(v, "https://h/t");
    assert_int_equal(fh_challenge_param(d, "service", v, sizeof(v)), 0);
    assert_string_equal(v, "svc");
    assert_int_equal(fh_challenge_param(d, "error", v, sizeof(v)), 0);
    assert_string_equal(v, "say \"no\"");

    /* A value longer than the buffer is refused, not cut. */
    char small[8];
    assert_int_equal(fh_challenge_param(c, "realm", small, sizeof(small)), -1);
    /* Junk never loops or overruns. */
    assert_int_equal(fh_challenge_param("", "realm", v, sizeof(v)), -1);
    assert_int_equal(fh_challenge_param("=,,= ,realm", "realm", v, sizeof(v)), -1);
    assert_int_equal(fh_challenge_param("realm=\"unterminated", "realm", v, sizeof(v)), 0);
    assert_string_equal(v, "unterminated");
}

static void test_same_authority(void **state)
{
    assert_true(fh_same_authority("https://127.0.0.1:5000/v2/a", "https://127.0.0.1:5000/cdn/x?sig=1"));
    assert_true(fh_same_authority("https://Registry.io/v2/", "https://registry.io:443/x"));
    assert_false(fh_same_authority("https://127.0.0.1:5000/v2/", "https://localhost:5000/v2/"));
    assert_false(fh_same_authority("https://r.io/v2/", "https://r.io:444/v2/"));
    assert_false(fh_same_authority("https://r.io/v2/", "https://cdn.r.io/v2/"));
    assert_false(fh_same_authority("https://r.io/v2/", "http://r.io/v2/")); /* never plain HTTP */
    assert_false(fh_same_authority("https://r.io/", "not a url"));
}

static void test_digests(void **state)
{
    struct kk_err err = {0};
    struct fh_sha256 *h = fh_sha256_new(&err);
    assert_non_null(h);
    fh_sha256_update(h, "a", 1);
    fh_sha256_update(h, "bc", 2);
    char d[72];
    fh_sha256_final(h, d);
    assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_true(fh_digest_valid(d));
    assert_false(fh_digest_valid("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
    assert_false(fh_digest_valid("sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    assert_false(fh_digest_valid("sha256:ba78"));
    assert_false(fh_digest_valid(NULL));
}

/* The octal checksum of a header as a reader computes it (the field itself counted as spaces). */
static unsigned header_sum(const unsigned char *h)
{
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    return sum;
}

static void test_tar_writer(void **state)
{
    struct kk_err err = {0};
    int fd = memfd_create("layout", MFD_CLOEXEC);
    assert_true(fd >= 0);
    struct fl_writer w = {.fd = fd};
    assert_int_equal(fl_file(&w, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30, &err), 0);
    assert_int_equal(w.offset, 1024u);
    /* A streamed member: header, data in pieces, padding. */
    assert_int_equal(fl_header(&w, "blobs/sha256/abc", 700, &err), 0);
    char data[700];
    memset(data, 'x', sizeof(data));
    assert_int_equal(fl_write(&w, data, 300, &err), 0);
    assert_int_equal(fl_write(&w, data + 300, 400, &err), 0);
    assert_int_equal(fl_pad(&w, &err), 0);
    assert_int_equal(w.offset, 1024u + 512u + 1024u);
    /* A header off a block boundary is a bug, refused. */
    struct fl_writer odd = {.fd = fd, .offset = 3};
    assert_int_equal(fl_header(&odd, "x", 1, &err), -1);
    /* Names that do not fit a ustar header are refused. */
    char longname[120];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(fl_header(&w, longname, 1, &err), -1);
    uint64_t before = w.offset;
    /* A size past 11 octal digits: GNU base-256. */
    assert_int_equal(fl_header(&w, "big", 9ull << 30, &err), 0);
    assert_int_equal(fl_end(&w, &err), 0);
    assert_int_equal(w.offset, before + 512u + 1024u);

    unsigned char h[512];
    assert_int_equal(pread(fd, h, 512, 0), 512);
    assert_string_equal((char *)h, "oci-layout");
    assert_memory_equal(h + 124, "00000000036", 11);
    assert_memory_equal(h + 257, "ustar\0" "00", 8);
    assert_int_equal(h[156], '0');
    unsigned sum = 0;
    assert_int_equal(sscanf((char *)h + 148, "%o", &sum), 1);
    assert_int_equal(sum, header_sum(h));

    assert_int_equal(pread(fd, h, 512, 1024), 512);
    assert_string_equal((char *)h, "blobs/sha256/abc");
    assert_memory_equal(h + 124, "00000001274", 11); /* 700 */

    assert_int_equal(pread(fd, h, 512, (off_t)before), 512);
    assert_string_equal((char *)h, "big");
    assert_int_equal(h[124], 0x80);
    uint64_t size = 0;
    for (int i = 1; i < 12; i++)
        size = size << 8 | h[124 + i];
    assert_int_equal(size, 9ull << 30);
    assert_int_equal(sscanf((char *)h + 148, "%o", &sum), 1);
    assert_int_equal(sum, header_sum(h));

    unsigned char tail[1024], zero[1024] = {0};
    assert_int_equal(pread(fd, tail, sizeof(tail), (off_t)(before + 512)), (ssize_t)sizeof(tail));
    assert_memory_equal(tail, zero, sizeof(zero));
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_challenge_params),
        cmocka_unit_test(test_same_authority),
        cmocka_unit_test(test_digests),
        cmocka_unit_test(test_tar_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
