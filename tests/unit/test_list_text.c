/* Unit tests for ListCells as text (kukeond/ctl_list.h, what kukeond's API worker answers ListCells
 * with) and the store's cache of document texts behind it (kk_store_get_text, kk_store_list_texts),
 * on a private run path without helpers: the text is byte for byte what json_dumps makes of
 * kk_ctl_call's reply, for every scope; a document replaced by rename, rewritten in place with the
 * same size, deleted, or corrupted is never served from the cache; a version written just now is
 * not cached; threads listing while another rewrites documents only ever see whole versions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "kukeond/controller.h"
#include "kukeond/ctl_list.h"
#include "kukeond/store.h"

struct fixture {
    char run[128];
    struct kk_ctl ctl;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->run, sizeof(f->run), "/tmp/kk-list-text-test.XXXXXX");
    if (mkdtemp(f->run) == NULL)
        return -1;
    struct kk_config cfg;
    kk_config_defaults(&cfg);
    snprintf(cfg.run_path, sizeof(cfg.run_path), "%s", f->run);
    struct kk_err err = {0};
    if (kk_ctl_init(&f->ctl, &cfg, &err) < 0)
        return -1;
    kk_store_text_cache_clear();
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
    kk_store_text_cache_clear();
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(fputs(text, fp) >= 0, 1);
    assert_int_equal(fclose(fp), 0);
}

/* <run>/data/<rel>/metadata.json, its directories made. */
static void put_doc(struct fixture *f, const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/data", f->run);
    mkdir(path, 0755);
    char part[256];
    snprintf(part, sizeof(part), "%s", rel);
    for (char *p = part;; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            snprintf(path, sizeof(path), "%s/data/%s", f->run, part);
            if (mkdir(path, 0755) < 0)
                assert_int_equal(errno, EEXIST);
            *p = c;
            if (c == '\0')
                break;
        }
    }
    snprintf(path, sizeof(path), "%s/data/%s/metadata.json", f->run, rel);
    write_file(path, text);
}

static void cell_text(char *text, size_t size, const char *realm, const char *space, const char *stack,
                      const char *cell, const char *state)
{
    /* Non-ASCII, escapes and a real number: the text must be jansson's own encoding. */
    snprintf(text, size,
             "{\n  \"apiVersion\": \"v1beta1\",\n  \"kind\": \"Cell\",\n  \"metadata\": {\"name\": \"%s\", "
             "\"labels\": {\"note\": \"caf\\u00e9 \\\"q\\\" a/b \\ud83d\\ude00\"}},\n"
             "  \"spec\": {\"realmId\": \"%s\", \"spaceId\": \"%s\", \"stackId\": \"%s\", \"id\": \"%s\", "
             "\"ratio\": 0.25, \"containers\": []},\n  \"status\": {\"state\": \"%s\"}\n}\n",
             cell, realm, space, stack, cell, state);
}

static void put_cell(struct fixture *f, const char *realm, const char *space, const char *stack,
                     const char *cell, const char *state)
{
    char rel[256], text[1024];
    snprintf(rel, sizeof(rel), "%s/%s/%s/%s", realm, space, stack, cell);
    cell_text(text, sizeof(text), realm, space, stack, cell, state);
    put_doc(f, rel, text);
}

/* Replace the document at path as the store does: a new file beside it, renamed over it. */
static void replace_cell(const char *path, const char *stack, const char *cell, const char *state)
{
    char tmp[600], text[1024];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    cell_text(text, sizeof(text), "a", "sp", stack, cell, state);
    write_file(tmp, text);
    assert_int_equal(rename(tmp, path), 0);
}

static void put_tree(struct fixture *f)
{
    const char *realms[] = {"a", "b"};
    for (int r = 0; r < 2; r++) {
        char rel[128], text[512];
        snprintf(text, sizeof(text), "{\"kind\":\"Realm\",\"metadata\":{\"name\":\"%s\"},\"spec\":{}}",
                 realms[r]);
        put_doc(f, realms[r], text);
        snprintf(rel, sizeof(rel), "%s/sp", realms[r]);
        snprintf(text, sizeof(text),
                 "{\"kind\":\"Space\",\"metadata\":{\"name\":\"sp\"},\"spec\":{\"realmId\":\"%s\"}}",
                 realms[r]);
        put_doc(f, rel, text);
        const char *stacks[] = {"s1", "s2"};
        for (int s = 0; s < 2; s++) {
            snprintf(rel, sizeof(rel), "%s/sp/%s", realms[r], stacks[s]);
            snprintf(text, sizeof(text),
                     "{\"kind\":\"Stack\",\"metadata\":{\"name\":\"%s\"},\"spec\":{\"realmId\":\"%s\","
                     "\"spaceId\":\"sp\"}}",
                     stacks[s], realms[r]);
            put_doc(f, rel, text);
            put_cell(f, realms[r], "sp", stacks[s], "web", "Ready");
            put_cell(f, realms[r], "sp", stacks[s], "db", "Stopped");
            put_cell(f, realms[r], "sp", stacks[s], "c10", "Pending");
        }
    }
}

/* The text path's bytes; NULL when it declines. */
static char *list_text(struct fixture *f, json_t *args)
{
    struct kk_store_text out = {0};
    if (kk_ctl_list_cells_text(&f->ctl, args, &out) < 0) {
        free(out.data);
        return NULL;
    }
    assert_int_equal(strlen(out.data), out.len);
    return out.data;
}

/* The generic path's bytes, as the API worker would encode them. */
static char *list_generic(struct fixture *f, json_t *args)
{
    json_t *reply = kk_ctl_call(&f->ctl, "ListCells", args);
    assert_non_null(reply);
    char *text = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    return text;
}

static void expect_same(struct fixture *f, const char *args_text)
{
    json_t *args = json_loads(args_text, 0, NULL);
    assert_non_null(args);
    char *t = list_text(f, args), *g = list_generic(f, args);
    assert_non_null(t);
    assert_string_equal(t, g);
    free(t);
    free(g);
    json_decref(args);
}

static void settle(void)
{
    /* Past the store's settle time: versions now on disk may be cached. */
    struct timespec ts = {0, 250 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void test_same_bytes_as_generic(void **state)
{
    struct fixture *f = *state;
    expect_same(f, "{}"); /* no data dir yet */
    put_tree(f);
    const char *scopes[] = {"{}",
                            "{\"RealmName\":\"a\"}",
                            "{\"RealmName\":\"b\",\"SpaceName\":\"sp\"}",
                            "{\"RealmName\":\"a\",\"SpaceName\":\"sp\",\"StackName\":\"s2\"}",
                            "{\"RealmName\":\" a \",\"SpaceName\":\"\",\"StackName\":null}",
                            "{\"RealmName\":\"nope\"}",
                            "{\"RealmName\":\"a\",\"SpaceName\":\"sp\",\"StackName\":\"missing\"}"};
    for (int pass = 0; pass < 3; pass++) { /* uncached, then cached */
        for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++)
            expect_same(f, scopes[i]);
        settle();
    }
    size_t hits = 0;
    assert_int_equal(kk_store_text_cache_count(&hits), 12);
    /* The last pass at least was served from the cache: 12 + 6 + 6 + 3 + 6 cells. */
    assert_true(hits >= 33);
    /* A bad argument is the generic way's to answer (with its error). */
    json_t *bad = json_pack("{s:s}", "RealmName", "Not/A/Name");
    assert_null(list_text(f, bad));
    json_decref(bad);
    bad = json_pack("{s:i}", "RealmName", 3);
    assert_null(list_text(f, bad));
    json_decref(bad);
}

static char *cell_path(struct fixture *f, const char *stack, const char *cell, char *buf, size_t size)
{
    snprintf(buf, size, "%s/data/a/sp/%s/%s/metadata.json", f->run, stack, cell);
    return buf;
}

/* Whether the listing of stack a/sp/s1 shows cell web in state. */
static bool shows(struct fixture *f, const char *state)
{
    json_t *args = json_pack("{s:s, s:s, s:s}", "RealmName", "a", "SpaceName", "sp", "StackName", "s1");
    char *t = list_text(f, args), *g = list_generic(f, args);
    json_decref(args);
    assert_non_null(t);
    assert_string_equal(t, g);
    char want[64];
    snprintf(want, sizeof(want), "\"state\":\"%s\"", state);
    bool found = strstr(t, want) != NULL;
    free(t);
    free(g);
    return found;
}

static void test_never_stale(void **state)
{
    struct fixture *f = *state;
    put_tree(f);
    settle();
    assert_true(shows(f, "Ready"));
    size_t cached = kk_store_text_cache_count(NULL);
    assert_int_equal(cached, 3);

    /* Replaced by rename (how every writer of the store writes). */
    char path[512];
    cell_path(f, "s1", "web", path, sizeof(path));
    replace_cell(path, "s1", "web", "Gone1");
    assert_true(shows(f, "Gone1"));

    /* Rewritten in place, same inode, same size, at once and again after the settle time. */
    settle();
    assert_true(shows(f, "Gone1"));
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat before, after;
    assert_int_equal(fstat(fd, &before), 0);
    char buf[2048];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    char *at = strstr(buf, "Gone1");
    assert_non_null(at);
    memcpy(at, "Gone2", 5);
    assert_int_equal(pwrite(fd, buf, (size_t)n, 0), n);
    assert_int_equal(fstat(fd, &after), 0);
    close(fd);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_int_equal(before.st_size, after.st_size);
    assert_true(shows(f, "Gone2"));

    /* Corrupted: left out by both ways (and said), never the cached text. */
    settle();
    assert_true(shows(f, "Gone2"));
    write_file(path, "{ not json");
    assert_false(shows(f, "Gone2"));

    /* Deleted. */
    assert_int_equal(unlink(path), 0);
    assert_false(shows(f, "Gone2"));
    assert_true(shows(f, "Stopped")); /* db is still there */
}

static void test_fresh_versions_not_cached(void **state)
{
    struct fixture *f = *state;
    put_tree(f);
    /* Written just now: read from disk on every call, not cached. */
    assert_true(shows(f, "Ready"));
    assert_int_equal(kk_store_text_cache_count(NULL), 0);
    settle();
    assert_true(shows(f, "Ready"));
    assert_int_equal(kk_store_text_cache_count(NULL), 3);
    /* The store's own delete forgets the text. */
    struct kk_derive_names n = {.realm = "a", .space = "sp", .stack = "s1", .cell = "db"};
    struct kk_err err = {0};
    assert_int_equal(kk_store_delete(&f->ctl.store, &n, NULL, &err), 1);
    assert_int_equal(kk_store_text_cache_count(NULL), 2);
    assert_false(shows(f, "Stopped"));
}

/* Threads listing while another replaces documents: every listing is valid JSON, and each cell is
 * in one of the states ever written. */
struct race {
    struct fixture *f;
    volatile int stop;
    int bad;
};

static void *race_lister(void *arg)
{
    struct race *r = arg;
    json_t *args = json_pack("{s:s}", "RealmName", "a");
    while (!r->stop) {
        struct kk_store_text out = {0};
        if (kk_ctl_list_cells_text(&r->f->ctl, args, &out) < 0) {
            r->bad++;
            continue;
        }
        json_t *v = json_loads(out.data, 0, NULL);
        json_t *cells = json_object_get(v, "Cells");
        size_t i;
        json_t *c;
        json_array_foreach(cells, i, c)
        {
            const char *st = json_string_value(json_object_get(json_object_get(c, "status"), "state"));
            if (st == NULL || (strncmp(st, "V", 1) != 0 && strcmp(st, "Ready") != 0 &&
                               strcmp(st, "Stopped") != 0 && strcmp(st, "Pending") != 0))
                r->bad++;
        }
        if (json_array_size(cells) != 6)
            r->bad++;
        json_decref(v);
        free(out.data);
    }
    json_decref(args);
    return NULL;
}

static void test_threads_see_whole_versions(void **state)
{
    struct fixture *f = *state;
    put_tree(f);
    settle();
    struct race r = {.f = f};
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_lister, &r), 0);
    char path[512];
    cell_path(f, "s2", "web", path, sizeof(path));
    for (int v = 0; v < 300; v++) {
        char st[16];
        snprintf(st, sizeof(st), "V%d", v);
        replace_cell(path, "s2", "web", st);
    }
    r.stop = 1;
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(r.bad, 0);
    assert_true(shows(f, "Ready"));
    json_t *args = json_pack("{s:s, s:s, s:s}", "RealmName", "a", "SpaceName", "sp", "StackName", "s2");
    char *t2 = list_text(f, args);
    json_decref(args);
    assert_non_null(strstr(t2, "\"state\":\"V299\""));
    free(t2);
}

/* kk_ctl_list_keep (kuke in-process): each document decoded only in the fields asked for and the
 * ones it is checked by; the same checks; NULL again gives whole documents. */
static void test_keep_in_process(void **state)
{
    struct fixture *f = *state;
    put_tree(f);
    static const char *const keep[] = {"Err", "Cells/*/status/state", "Cells/*/metadata/labels", NULL};
    json_t *args = json_pack("{s:s, s:s, s:s}", "RealmName", "a", "SpaceName", "sp", "StackName", "s1");
    kk_ctl_list_keep(keep);
    json_t *some = kk_ctl_call(&f->ctl, "ListCells", args);
    kk_ctl_list_keep(NULL);
    json_t *whole = kk_ctl_call(&f->ctl, "ListCells", args);
    json_t *want = json_loads("{\"Cells\":["
                              "{\"kind\":\"Cell\",\"metadata\":{\"name\":\"c10\",\"labels\":{\"note\":"
                              "\"caf\u00e9 \\\"q\\\" a/b \\ud83d\\ude00\"}},"
                              "\"spec\":{\"realmId\":\"a\",\"spaceId\":\"sp\",\"stackId\":\"s1\"},\"status\":"
                              "{\"state\":\"Pending\"}},"
                              "{\"kind\":\"Cell\",\"metadata\":{\"name\":\"db\",\"labels\":{\"note\":"
                              "\"caf\u00e9 \\\"q\\\" a/b \\ud83d\\ude00\"}},"
                              "\"spec\":{\"realmId\":\"a\",\"spaceId\":\"sp\",\"stackId\":\"s1\"},\"status\":"
                              "{\"state\":\"Stopped\"}},"
                              "{\"kind\":\"Cell\",\"metadata\":{\"name\":\"web\",\"labels\":{\"note\":"
                              "\"caf\u00e9 \\\"q\\\" a/b \\ud83d\\ude00\"}},"
                              "\"spec\":{\"realmId\":\"a\",\"spaceId\":\"sp\",\"stackId\":\"s1\"},\"status\":"
                              "{\"state\":\"Ready\"}}],"
                              "\"Err\":null}",
                              0, NULL);
    assert_non_null(want);
    if (!json_equal(some, want)) {
        char *g = json_dumps(some, JSON_COMPACT);
        fail_msg("got %s", g);
    }
    /* Whole again once the call is done. */
    json_t *c0 = json_array_get(json_object_get(whole, "Cells"), 0);
    assert_non_null(json_object_get(c0, "apiVersion"));
    assert_int_equal(json_array_size(json_object_get(json_object_get(c0, "spec"), "containers")), 0);
    assert_non_null(json_object_get(json_object_get(c0, "spec"), "containers"));
    json_decref(some);
    json_decref(whole);
    json_decref(want);

    /* The same documents are left out: not JSON, another kind, another place. */
    char path[512];
    cell_path(f, "s1", "web", path, sizeof(path));
    write_file(path, "{\"kind\":\"Cell\",\"metadata\":{\"name\":\"web\"},\"spec\":{\"realmId\":\"a\"");
    cell_path(f, "s1", "db", path, sizeof(path));
    write_file(path, "{\"kind\":\"Stack\",\"metadata\":{\"name\":\"db\"},\"spec\":{\"realmId\":\"a\","
                     "\"spaceId\":\"sp\",\"stackId\":\"s1\"}}");
    cell_path(f, "s1", "c10", path, sizeof(path));
    write_file(path, "{\"kind\":\"Cell\",\"metadata\":{\"name\":\"c10\"},\"spec\":{\"realmId\":\"b\","
                     "\"spaceId\":\"sp\",\"stackId\":\"s1\"}}");
    kk_ctl_list_keep(keep);
    some = kk_ctl_call(&f->ctl, "ListCells", args);
    kk_ctl_list_keep(NULL);
    whole = kk_ctl_call(&f->ctl, "ListCells", args);
    assert_int_equal(json_array_size(json_object_get(some, "Cells")), 0);
    assert_int_equal(json_array_size(json_object_get(whole, "Cells")), 0);
    json_decref(some);
    json_decref(whole);
    json_decref(args);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_bytes_as_generic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_never_stale, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fresh_versions_not_cached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_see_whole_versions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_in_process, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
