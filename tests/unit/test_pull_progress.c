/* Unit tests for kk_pull_scan (kukeond/ctl_image.c): a pull's progress read from the OCI layout
 * tarball as kuke-fetchd writes it — the file grown step by step through oci-layout, index.json, the
 * manifest, the config and two layers (one of them held, so not in the file), checked at a header
 * cut in half, inside each member, and at the end; a base-256 size field; members that are not
 * blobs of the plan are not counted; a size field that is not a number, or that would wrap the
 * offsets, stops the scan. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kukeond/image_pull.h"

#define MANIFEST_SIZE 400

static char MANIFEST[72];
static struct kk_pull_blob CONFIG = {"", 700, false};
static struct kk_pull_blob LAYERS[] = {
    {"", 3000, false},
    {"", 1000, true}, /* held: not in the file */
    {"", 5000, false},
};

/* "sha256:" and 64 times c. */
static void digest_of(char out[72], char c)
{
    memcpy(out, "sha256:", 7);
    memset(out + 7, c, 64);
    out[71] = '\0';
}

static int setup(void **state)
{
    (void)state;
    digest_of(MANIFEST, 'a');
    digest_of(CONFIG.digest, 'b');
    digest_of(LAYERS[0].digest, 'c');
    digest_of(LAYERS[1].digest, 'd');
    digest_of(LAYERS[2].digest, 'e');
    return 0;
}

/* One ustar member at buf + at (header, data, padding); the offset after it. */
static size_t member(unsigned char *buf, size_t at, const char *name, size_t size, int b256)
{
    unsigned char *h = buf + at;
    memset(h, 0, 512);
    snprintf((char *)h, 100, "%s", name);
    if (b256) {
        h[124] = 0x80;
        size_t v = size;
        for (int i = 11; i >= 1; i--, v >>= 8)
            h[124 + i] = (unsigned char)(v & 0xff);
    } else {
        snprintf((char *)h + 124, 12, "%011zo", size);
    }
    h[156] = '0';
    memset(buf + at + 512, 'x', size);
    return at + 512 + (size + 511) / 512 * 512;
}

/* The whole tarball as kuke-fetchd writes it, into buf; its size. off[]: 0 the manifest's header, 1 the
 * config's, 2 layer 0's, 3 layer 2's, 4 the end of layer 2's data. */
static size_t build(unsigned char *buf, size_t off[5], int b256)
{
    size_t at = member(buf, 0, "oci-layout", 30, 0);
    at = member(buf, at, "index.json", 300, 0);
    char name[100];
    off[0] = at;
    snprintf(name, sizeof(name), "blobs/sha256/%.64s", MANIFEST + 7);
    at = member(buf, at, name, MANIFEST_SIZE, 0);
    off[1] = at;
    snprintf(name, sizeof(name), "blobs/sha256/%.64s", CONFIG.digest + 7);
    at = member(buf, at, name, CONFIG.size, 0);
    off[2] = at;
    snprintf(name, sizeof(name), "blobs/sha256/%.64s", LAYERS[0].digest + 7);
    at = member(buf, at, name, LAYERS[0].size, 0);
    off[3] = at;
    snprintf(name, sizeof(name), "blobs/sha256/%.64s", LAYERS[2].digest + 7);
    at = member(buf, at, name, LAYERS[2].size, b256);
    off[4] = off[3] + 512 + LAYERS[2].size;
    memset(buf + at, 0, 1024);
    return at + 1024;
}

static struct kk_pull_plan plan(void)
{
    struct kk_pull_plan p = {.name = "127.0.0.1:5000/t/busybox:1",
                             .manifest_digest = MANIFEST,
                             .config = &CONFIG,
                             .layers = LAYERS,
                             .n_layers = 3,
                             .total = MANIFEST_SIZE + 700 + 3000 + 5000};
    return p;
}

/* The file holds the first n bytes of buf: scan it (carrying scan on) and return where it is. */
static struct kk_pull_at at_size(int fd, const unsigned char *buf, size_t n, struct kk_pull_scan *scan)
{
    const struct kk_pull_plan p = plan();
    assert_int_equal(ftruncate(fd, 0), 0);
    assert_int_equal(pwrite(fd, buf, n, 0), (ssize_t)n);
    struct kk_pull_at at;
    kk_pull_scan(fd, &p, scan, &at);
    return at;
}

static void grow(int b256)
{
    static unsigned char buf[32768];
    size_t off[5];
    size_t len = build(buf, off, b256);
    int fd = memfd_create("pull-progress", MFD_CLOEXEC);
    assert_true(fd >= 0);
    struct kk_pull_scan scan = {.last_layer = -1};

    struct kk_pull_at a = at_size(fd, buf, 0, &scan);
    assert_int_equal(a.layer, -1);
    assert_int_equal(a.total_done, 0);
    /* oci-layout, index.json and half of the manifest's header: nothing counted yet. */
    a = at_size(fd, buf, off[0] + 256, &scan);
    assert_int_equal(a.layer, -1);
    assert_int_equal(a.total_done, 0);
    /* 100 bytes into the manifest. */
    a = at_size(fd, buf, off[0] + 512 + 100, &scan);
    assert_int_equal(a.total_done, 100);
    assert_int_equal(a.layer, -1);
    /* The config complete, 1000 bytes into layer 0. */
    a = at_size(fd, buf, off[2] + 512 + 1000, &scan);
    assert_int_equal(a.layer, 0);
    assert_int_equal(a.done, 1000);
    assert_int_equal(a.size, 3000);
    assert_int_equal(a.total_done, MANIFEST_SIZE + 700 + 1000);
    /* Layer 0 complete and its padding written, layer 2's header not yet: layer 0 shown whole. */
    a = at_size(fd, buf, off[3], &scan);
    assert_int_equal(a.layer, 0);
    assert_int_equal(a.done, 3000);
    assert_int_equal(a.total_done, MANIFEST_SIZE + 700 + 3000);
    /* Layer 2 (layer 1 is held: not in the file) half written. */
    a = at_size(fd, buf, off[3] + 512 + 2500, &scan);
    assert_int_equal(a.layer, 2);
    assert_int_equal(a.done, 2500);
    assert_int_equal(a.size, 5000);
    assert_int_equal(a.total_done, MANIFEST_SIZE + 700 + 3000 + 2500);
    /* All of it, the end blocks included. */
    a = at_size(fd, buf, len, &scan);
    assert_int_equal(a.layer, 2);
    assert_int_equal(a.done, 5000);
    assert_int_equal(a.total_done, plan().total);
    close(fd);
}

static void test_grow_octal(void **state)
{
    (void)state;
    grow(0);
}

static void test_grow_base256(void **state)
{
    (void)state;
    grow(1);
}

/* Scanning a complete file in one go gives the same answer as step by step. */
static void test_one_scan(void **state)
{
    (void)state;
    static unsigned char buf[32768];
    size_t off[5];
    size_t len = build(buf, off, 0);
    int fd = memfd_create("pull-progress", MFD_CLOEXEC);
    assert_true(fd >= 0);
    struct kk_pull_scan scan = {.last_layer = -1};
    struct kk_pull_at a = at_size(fd, buf, len, &scan);
    assert_int_equal(a.layer, 2);
    assert_int_equal(a.total_done, plan().total);
    assert_int_equal(scan.last_layer, 2);
    close(fd);
}

/* A header kuke-fetchd would never write (it is the less trusted side): a base-256 size near 2^64,
 * which offset arithmetic would wrap back into the file, and a size field that is not a number. The
 * scan stops at it — no loop over earlier members, nothing counted from it. */
static void test_hostile_size(void **state)
{
    (void)state;
    static unsigned char buf[32768];
    size_t off[5];
    size_t len = build(buf, off, 0);
    int fd = memfd_create("pull-progress", MFD_CLOEXEC);
    assert_true(fd >= 0);
    unsigned char *size = buf + off[2] + 124; /* layer 0's header */
    memset(size, 0, 12);
    size[0] = 0x80;
    memset(size + 4, 0xff, 8); /* 2^64 - 1: a member still being written, as far as the scan can tell */
    struct kk_pull_scan scan = {.last_layer = -1};
    struct kk_pull_at a = at_size(fd, buf, len, &scan);
    assert_int_equal(scan.off, off[2]);
    assert_int_equal(a.layer, 0);
    assert_true(a.done == len - off[2] - 512 && a.size == UINT64_MAX);
    assert_int_equal(a.total_done, MANIFEST_SIZE + 700 + (len - off[2] - 512));
    memset(size, 0xff, 12); /* beyond 64 bits */
    size[0] = 0x80;
    scan = (struct kk_pull_scan){.last_layer = -1};
    a = at_size(fd, buf, len, &scan);
    assert_int_equal(a.total_done, MANIFEST_SIZE + 700);
    assert_int_equal(scan.off, off[2]);
    memcpy(size, "0000000x000\0", 12);
    scan = (struct kk_pull_scan){.last_layer = -1};
    a = at_size(fd, buf, len, &scan);
    assert_int_equal(a.total_done, MANIFEST_SIZE + 700);
    assert_int_equal(scan.off, off[2]);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grow_octal),
        cmocka_unit_test(test_grow_base256),
        cmocka_unit_test(test_one_scan),
        cmocka_unit_test(test_hostile_size),
    };
    return cmocka_run_group_tests_name("pull_progress", tests, setup, NULL);
}
