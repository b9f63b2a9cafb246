/* Unit tests for kukeond/pause_image.c: SHA-256 against the FIPS 180-4 example vectors, and the
 * pause image tarball — deterministic bytes, valid ustar checksums, the entries an OCI image layout
 * needs with every blob named by its digest, the reference in index.json, and refused inputs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "kukeond/pause_image.h"

static void test_sha256_vectors(void **state)
{
    (void)state;
    char hex[65];
    kk_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    kk_sha256_hex("abc", 3, hex);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 448 bits: two blocks */
    kk_sha256_hex(two, strlen(two), hex);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    size_t n = 1000000;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    kk_sha256_hex(a, n, hex);
    free(a);
    assert_string_equal(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

/* A fake "kukepause": any regular file will do for the archive's shape. */
static void make_binary(char path[64])
{
    snprintf(path, 64, "/tmp/kk-test-kukepause-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char buf[3000];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (char)(i * 7);
    assert_int_equal(write(fd, buf, sizeof(buf)), (ssize_t)sizeof(buf));
    close(fd);
}

/* The archive written to a memfd, read back whole. */
static unsigned char *write_image(const char *bin, const char *version, size_t *len)
{
    int fd = memfd_create("pause", MFD_CLOEXEC);
    assert_true(fd >= 0);
    struct kk_err err = {0};
    assert_int_equal(kk_pause_image_write(bin, version, fd, &err), 0);
    off_t size = lseek(fd, 0, SEEK_END);
    assert_true(size > 0);
    unsigned char *buf = malloc((size_t)size);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)size, 0), (ssize_t)size);
    close(fd);
    *len = (size_t)size;
    return buf;
}

static void test_deterministic(void **state)
{
    (void)state;
    char bin[64];
    make_binary(bin);
    size_t a_len, b_len, c_len;
    unsigned char *a = write_image(bin, "v1.2.3", &a_len), *b = write_image(bin, "v1.2.3", &b_len);
    unsigned char *c = write_image(bin, "v1.2.4", &c_len);
    unlink(bin);
    assert_int_equal(a_len, b_len);
    assert_memory_equal(a, b, a_len);
    assert_true(a_len != c_len || memcmp(a, c, a_len) != 0);
    free(a);
    free(b);
    free(c);
}

static void test_layout(void **state)
{
    (void)state;
    char bin[64];
    make_binary(bin);
    size_t len;
    unsigned char *t = write_image(bin, "v9", &len);
    unlink(bin);
    assert_int_equal(len % 512, 0);
    int blobs = 0;
    bool index = false, layout = false;
    size_t off = 0;
    while (off + 512 <= len) {
        const unsigned char *h = t + off;
        if (h[0] == '\0')
            break;
        unsigned sum = 0;
        for (int i = 0; i < 512; i++)
            sum += (i >= 148 && i < 156) ? ' ' : h[i];
        assert_int_equal(strtoul((const char *)h + 148, NULL, 8), sum);
        assert_memory_equal(h + 257, "ustar", 6);
        size_t size = strtoul((const char *)h + 124, NULL, 8);
        const char *name = (const char *)h;
        const unsigned char *data = h + 512;
        if (strncmp(name, "blobs/sha256/", 13) == 0) {
            char hex[65];
            kk_sha256_hex(data, size, hex);
            assert_string_equal(name + 13, hex);
            blobs++;
        } else if (strcmp(name, "index.json") == 0) {
            json_t *j = json_loadb((const char *)data, size, 0, NULL);
            assert_non_null(j);
            json_t *ann = json_object_get(json_array_get(json_object_get(j, "manifests"), 0), "annotations");
            assert_string_equal(json_string_value(json_object_get(ann, "io.containerd.image.name")),
                                "kukeon.internal/kukepause:v9");
            assert_string_equal(json_string_value(json_object_get(ann, "org.opencontainers.image.ref.name")),
                                "v9");
            json_decref(j);
            index = true;
        } else if (strcmp(name, "oci-layout") == 0) {
            layout = true;
        }
        off += 512 + (size + 511) / 512 * 512;
    }
    assert_int_equal(blobs, 3); /* config, layer, manifest */
    assert_true(index);
    assert_true(layout);
    free(t);
}

static void test_refused(void **state)
{
    (void)state;
    struct kk_err err = {0};
    int fd = memfd_create("pause", MFD_CLOEXEC);
    assert_int_equal(kk_pause_image_write("/nonexistent/kukepause", "v1", fd, &err), -1);
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/kukepause"));
    assert_int_equal(kk_pause_image_write("/bin/sh", "v1\"x", fd, &err), -1);
    assert_non_null(strstr(err.msg, "is not an image tag"));
    assert_int_equal(kk_pause_image_write("/tmp", "v1", fd, &err), -1);
    assert_int_equal(lseek(fd, 0, SEEK_END), 0);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_vectors),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
