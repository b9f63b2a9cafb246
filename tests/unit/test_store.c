/* Unit tests for kukeond/store.c in a temporary run path (no root needed): refused writes first,
 * corrupt documents reported by path and never replaced, compare-and-swap, generations, modes,
 * listing (reserved names skipped), delete, no temp files left, a lock holder blocking a writer in
 * another process, concurrent writers, and the instance file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kukeond/doc.h"
#include "kukeond/store.h"

struct fixture {
    char run[128];
    struct kk_store s;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    snprintf(f->run, sizeof(f->run), "/tmp/kk-store-test.XXXXXX");
    if (mkdtemp(f->run) == NULL)
        return -1;
    /* A strict umask: the modes the store sets must not depend on the caller's. */
    umask(077);
    struct kk_derive_config cfg = {.run_path = f->run};
    struct kk_err err;
    if (kk_store_init(&f->s, &cfg, &err) < 0)
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
    chmod(f->run, 0700);
    nftw(f->run, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    if (v == NULL)
        fail_msg("bad test JSON (%s): %s", je.text, text);
    return v;
}

static json_t *realm_doc(const char *name)
{
    return json_pack("{s:s, s:{s:s}, s:{}}", "kind", "Realm", "metadata", "name", name, "spec");
}

static json_t *space_doc(const char *realm, const char *name)
{
    return json_pack("{s:s, s:{s:s}, s:{s:s}}", "kind", "Space", "metadata", "name", name, "spec", "realmId",
                     realm);
}

static json_t *stack_doc(const char *realm, const char *space, const char *name)
{
    return json_pack("{s:s, s:{s:s}, s:{s:s, s:s}}", "kind", "Stack", "metadata", "name", name, "spec",
                     "realmId", realm, "spaceId", space);
}

static json_t *cell_doc(const char *realm, const char *space, const char *stack, const char *name)
{
    return json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:s, s:[{s:s, s:s}]}}", "kind", "Cell", "metadata", "name",
                     name, "spec", "realmId", realm, "spaceId", space, "stackId", stack, "containers", "id",
                     "app", "image", "busybox");
}

/* Create a document that does not exist yet; fail the test otherwise. */
static void create(struct fixture *f, json_t *doc)
{
    struct kk_store_token tok = KK_STORE_TOKEN_INIT;
    struct kk_err err;
    if (kk_store_put(&f->s, doc, &tok, &err) < 0)
        fail_msg("create: %s", err.msg);
    kk_store_token_clear(&tok);
    json_decref(doc);
}

static void path_of(struct fixture *f, const char *rel, char *buf, size_t size)
{
    snprintf(buf, size, "%s/data/%s", f->run, rel);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static const struct kk_derive_names realm_a = {"a", NULL, NULL, NULL, NULL};
static const struct kk_derive_names space_s = {"a", "s", NULL, NULL, NULL};
static const struct kk_derive_names cell_w = {"a", "s", "t", "w", NULL};

/* ---- refusals ------------------------------------------------------------------------------- */

static void test_refused_writes(void **state)
{
    struct fixture *f = *state;
    struct kk_err err;
    struct kk_store_token tok = KK_STORE_TOKEN_INIT;

    struct kk_store bad;
    struct kk_derive_config rel = {.run_path = "opt/kukeon"};
    assert_int_equal(kk_store_init(&bad, &rel, &err), -1);
    assert_non_null(strstr(err.msg, "run path \"opt/kukeon\" is invalid: it must be an absolute path"));

    json_t *d = realm_doc("a");
    assert_int_equal(kk_store_put(&f->s, d, NULL, &err), -1);
    json_t *ctr_doc = J("{\"kind\":\"Container\",\"metadata\":{\"name\":\"x\"}}");
    assert_int_equal(kk_store_put(&f->s, ctr_doc, &tok, &err), -1);
    json_decref(ctr_doc);
    assert_non_null(strstr(err.msg, "only Realm, Space, Stack and Cell documents are stored"));
    json_t *bad_name = realm_doc("a_b");
    assert_int_equal(kk_store_put(&f->s, bad_name, &tok, &err), -1);
    assert_string_equal(err.msg,
                        "storing Realm \"a_b\": metadata.name: realm name \"a_b\" is invalid: it contains "
                        "'_' (names are 1-63 characters of A-Z a-z 0-9 '.' '-', starting and ending with a "
                        "letter or digit)");
    json_decref(bad_name);

    /* No orphans: a space needs its realm, a cell its stack. */
    json_t *space = space_doc("a", "s");
    assert_int_equal(kk_store_put(&f->s, space, &tok, &err), -1);
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);
    assert_string_equal(
        err.msg, "cannot store space \"s\" in realm \"a\": its realm does not exist (create it first)");
    create(f, d);
    assert_int_equal(kk_store_put(&f->s, space, &tok, &err), 0);
    kk_store_token_clear(&tok);
    json_decref(space);
    json_t *cell = cell_doc("a", "s", "t", "w");
    assert_int_equal(kk_store_put(&f->s, cell, &tok, &err), -1);
    assert_string_equal(
        err.msg, "cannot store cell \"w\" in stack \"a\"/\"s\"/\"t\": its stack does not exist (create "
                 "it first)");
    /* A directory without a document is not a parent. */
    char p[512];
    path_of(f, "a/s/t", p, sizeof(p));
    assert_int_equal(mkdir(p, 0750), 0);
    assert_int_equal(kk_store_put(&f->s, cell, &tok, &err), -1);
    assert_non_null(strstr(err.msg, "its stack has no document"));
    json_decref(cell);

    /* Names are checked before they become paths; containers have no document. */
    json_t *out;
    struct kk_derive_names evil = {"a", "..", NULL, NULL, NULL};
    assert_int_equal(kk_store_get(&f->s, &evil, &out, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "space name \"..\" is invalid"));
    struct kk_derive_names gap = {"a", NULL, "t", NULL, NULL};
    assert_int_equal(kk_store_get(&f->s, &gap, &out, NULL, &err), -1);
    struct kk_derive_names ctr = {"a", "s", "t", "w", "app"};
    assert_int_equal(kk_store_get(&f->s, &ctr, &out, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "is stored in cell \"w\"'s document"));

    /* A run path that is not there. */
    struct kk_store gone;
    struct kk_derive_config cfg = {.run_path = "/tmp/kk-store-test-does-not-exist"};
    assert_int_equal(kk_store_init(&gone, &cfg, &err), 0);
    d = realm_doc("a");
    assert_int_equal(kk_store_put(&gone, d, &tok, &err), -1);
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "run path /tmp/kk-store-test-does-not-exist is not there"));
    json_decref(d);
    /* Reading from it finds nothing; listing it lists nothing. */
    assert_int_equal(kk_store_get(&gone, &realm_a, &out, &tok, &err), 0);
    assert_false(tok.exists);
    json_t *names;
    assert_int_equal(kk_store_list(&gone, NULL, &names, &err), 0);
    assert_int_equal(json_array_size(names), 0);
    json_decref(names);
}

static void expect_corrupt(struct fixture *f, const char *content, const char *why)
{
    char p[512];
    path_of(f, "a/metadata.json", p, sizeof(p));
    write_text(p, content);
    json_t *out = NULL;
    struct kk_err err;
    struct kk_store_token tok = KK_STORE_TOKEN_INIT;
    assert_int_equal(kk_store_get(&f->s, &realm_a, &out, &tok, &err), -1);
    assert_null(out);
    assert_true(kk_store_err_corrupt(&err));
    if (strstr(err.msg, p) == NULL || strstr(err.msg, why) == NULL)
        fail_msg("message does not name %s and say %s:\n%s", p, why, err.msg);
    /* A status write does not replace it either. */
    json_t *status = json_pack("{s:s}", "state", "Ready");
    assert_int_equal(kk_store_put_status(&f->s, &realm_a, status, 0, NULL, &err), -1);
    assert_true(kk_store_err_corrupt(&err));
    json_decref(status);
    /* Nor does a put: its token cannot match, and the bytes stay. */
    json_t *d = realm_doc("a");
    assert_int_equal(kk_store_put(&f->s, d, &tok, &err), -1);
    assert_true(kk_store_err_stale(&err));
    json_decref(d);
    assert_string_equal(read_text(p), content);
}

static void test_corrupt_documents(void **state)
{
    struct fixture *f = *state;
    create(f, realm_doc("a"));
    expect_corrupt(f, "", "is empty");
    expect_corrupt(f, "{\"kind\": \"Realm\", \"metadata\": {\"name\": \"a\"", "is not JSON (line 1");
    expect_corrupt(f, "[]", "does not hold a JSON object");
    expect_corrupt(f, "{\"kind\":\"Space\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"realmId\":\"a\"}}",
                   "holds another kind of document");
    expect_corrupt(f, "{\"kind\":\"Realm\",\"metadata\":{\"name\":\"b\"}}",
                   "names another resource than the directory it lies in");
    char p[512];
    path_of(f, "a/metadata.json", p, sizeof(p));
    unlink(p);
    assert_int_equal(mkdir(p, 0700), 0);
    json_t *out;
    struct kk_err err;
    assert_int_equal(kk_store_get(&f->s, &realm_a, &out, NULL, &err), -1);
    assert_true(kk_store_err_corrupt(&err));
    assert_non_null(strstr(err.msg, "is not a regular file"));
    rmdir(p);
    /* The corrupt-document message says what to do. */
    write_text(p, "nonsense");
    assert_int_equal(kk_store_get(&f->s, &realm_a, &out, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "metadata of realm \"a\" is corrupt: "));
    assert_non_null(strstr(err.msg, "it was left as it is: restore it from a backup"));
}

static void test_compare_and_swap(void **state)
{
    struct fixture *f = *state;
    struct kk_err err;
    struct kk_store_token absent = KK_STORE_TOKEN_INIT, t1 = KK_STORE_TOKEN_INIT, t2 = KK_STORE_TOKEN_INIT;
    json_t *doc;

    assert_int_equal(kk_store_get(&f->s, &realm_a, &doc, &absent, &err), 0);
    assert_null(doc);
    assert_false(absent.exists);
    json_t *d = realm_doc("a");
    assert_int_equal(kk_store_put(&f->s, d, &t1, &err), 0);
    json_decref(d);
    /* A second create from the same "absent" read loses. */
    d = realm_doc("a");
    assert_int_equal(kk_store_put(&f->s, d, &absent, &err), -1);
    assert_true(kk_store_err_stale(&err));
    assert_int_equal(err.kind, KK_ERR_EXISTS);
    assert_non_null(strstr(err.msg, "realm \"a\" already exists: it was created after it was read"));
    json_decref(d);

    /* Two readers of the same version: the first writer wins, the second is told to re-read. */
    assert_int_equal(kk_store_get(&f->s, &realm_a, &doc, &t1, &err), 1);
    json_decref(doc);
    assert_int_equal(kk_store_get(&f->s, &realm_a, &doc, &t2, &err), 1);
    json_object_set_new(kk_doc_spec(doc), "registryCredentials",
                        json_pack("[{s:s, s:s}]", "username", "u", "password", "p"));
    assert_int_equal(kk_store_put(&f->s, doc, &t1, &err), 0);
    assert_int_equal(kk_store_put(&f->s, doc, &t2, &err), -1);
    assert_true(kk_store_err_stale(&err));
    assert_non_null(strstr(err.msg, "realm \"a\" changed after it was read"));
    /* The winner's token is current: it writes again without reading. */
    json_object_set_new(kk_doc_metadata(doc), "labels", json_pack("{s:s}", "x", "y"));
    assert_int_equal(kk_store_put(&f->s, doc, &t1, &err), 0);

    /* Delete with a stale token loses; with the current one wins; a write after it is stale. */
    assert_int_equal(kk_store_delete(&f->s, &realm_a, &t2, &err), -1);
    assert_true(kk_store_err_stale(&err));
    assert_int_equal(kk_store_delete(&f->s, &realm_a, &t1, &err), 1);
    assert_int_equal(kk_store_put(&f->s, doc, &t1, &err), -1);
    assert_true(kk_store_err_stale(&err));
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "realm \"a\" was deleted after it was read"));
    assert_int_equal(kk_store_delete(&f->s, &realm_a, NULL, &err), 0);
    json_decref(doc);
    kk_store_token_clear(&absent);
    kk_store_token_clear(&t1);
    kk_store_token_clear(&t2);
}

/* ---- writes and reads ------------------------------------------------------------------------- */

static void test_generation_and_format(void **state)
{
    struct fixture *f = *state;
    struct kk_err err;
    struct kk_store_token tok = KK_STORE_TOKEN_INIT;
    json_t *d = realm_doc("a");
    assert_int_equal(kk_store_put(&f->s, d, &tok, &err), 0);
    assert_int_equal(kk_doc_generation(d), 1); /* set in the caller's document too */
    assert_int_equal(tok.generation, 1);

    /* Status and metadata changes keep the generation; a spec change bumps it. */
    json_object_set_new(d, "status", json_pack("{s:s}", "state", "Ready"));
    json_object_set_new(kk_doc_metadata(d), "labels", json_pack("{s:s}", "team", "web"));
    assert_int_equal(kk_store_put(&f->s, d, &tok, &err), 0);
    assert_int_equal(tok.generation, 1);
    json_object_set_new(kk_doc_spec(d), "registryCredentials",
                        json_pack("[{s:s, s:s}]", "username", "u", "password", "p"));
    assert_int_equal(kk_store_put(&f->s, d, &tok, &err), 0);
    assert_int_equal(tok.generation, 2);
    /* A caller's own generation is not trusted. */
    kk_doc_set_generation(d, 99);
    assert_int_equal(kk_store_put(&f->s, d, &tok, &err), 0);
    assert_int_equal(kk_doc_generation(d), 2);

    /* put_status: generation stays; a stale expected generation loses. */
    json_t *status = json_pack("{s:s, s:b}", "state", "Failed", "cgroupReady", 0);
    assert_int_equal(kk_store_put_status(&f->s, &realm_a, status, 1, NULL, &err), -1);
    assert_true(kk_store_err_stale(&err));
    assert_non_null(strstr(err.msg, "generation 1 read, 2 stored"));
    assert_int_equal(kk_store_put_status(&f->s, &realm_a, status, 2, &tok, &err), 0);
    assert_int_equal(tok.generation, 2);
    json_t *back;
    assert_int_equal(kk_store_get(&f->s, &realm_a, &back, NULL, &err), 1);
    assert_true(json_equal(kk_doc_status(back), status));
    assert_true(json_equal(kk_doc_spec(back), kk_doc_spec(d)));
    assert_int_equal(kk_doc_generation(back), 2);
    json_decref(back);
    json_decref(status);
    struct kk_derive_names nobody = {"nobody", NULL, NULL, NULL, NULL};
    status = json_object();
    assert_int_equal(kk_store_put_status(&f->s, &nobody, status, 0, NULL, &err), -1);
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);
    assert_string_equal(err.msg, "realm \"nobody\" not found");
    json_decref(status);
    json_decref(d);

    /* On disk: the external document, 2-space JSON and a newline, 0644 in a 2750 directory, with its
     * lock sidecar, whatever the umask. */
    char p[512], dir[512];
    path_of(f, "a/metadata.json", p, sizeof(p));
    path_of(f, "a", dir, sizeof(dir));
    const char *text = read_text(p);
    assert_non_null(text);
    assert_true(strncmp(text,
                        "{\n  \"apiVersion\": \"v1beta1\",\n  \"kind\": \"Realm\",\n  \"metadata\": {\n",
                        63) == 0);
    assert_int_equal(text[strlen(text) - 1], '\n');
    assert_int_equal(text[strlen(text) - 2], '}');
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 02750);
    path_of(f, "", dir, sizeof(dir));
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 02750);
    path_of(f, "a/metadata.json.lock", p, sizeof(p));
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    kk_store_token_clear(&tok);
}

static void test_cell_document(void **state)
{
    struct fixture *f = *state;
    struct kk_err err;
    create(f, realm_doc("a"));
    create(f, space_doc("a", "s"));
    create(f, stack_doc("a", "s", "t"));
    json_t *c = cell_doc("a", "s", "t", "w");
    json_object_set_new(kk_doc_spec(c), "runtimeEnv", json_pack("[s]", "A=1"));
    json_object_set_new(kk_doc_spec(c), "ignoreDiskPressure", json_true());
    struct kk_store_token tok = KK_STORE_TOKEN_INIT;
    assert_int_equal(kk_store_put(&f->s, c, &tok, &err), 0);
    /* Transport-only fields stay with the caller and never reach the disk. */
    assert_non_null(json_object_get(kk_doc_spec(c), "runtimeEnv"));
    json_t *back;
    assert_int_equal(kk_store_get(&f->s, &cell_w, &back, NULL, &err), 1);
    assert_null(json_object_get(kk_doc_spec(back), "runtimeEnv"));
    assert_null(json_object_get(kk_doc_spec(back), "ignoreDiskPressure"));
    assert_string_equal(kk_json_str(kk_cell_container(back, "app"), "image"), "busybox");
    json_decref(back);
    /* The containers live in the cell document: no file of their own. */
    char p[512];
    path_of(f, "a/s/t/w/metadata.json", p, sizeof(p));
    assert_true(exists(p));
    assert_int_equal(kk_store_doc_path(&f->s, &cell_w, p, sizeof(p), &err), 0);
    char want[512];
    path_of(f, "a/s/t/w/metadata.json", want, sizeof(want));
    assert_string_equal(p, want);
    json_decref(c);
    kk_store_token_clear(&tok);
}

static void test_list_children(void **state)
{
    struct fixture *f = *state;
    struct kk_err err;
    json_t *names;
    assert_int_equal(kk_store_list(&f->s, NULL, &names, &err), 0);
    assert_int_equal(json_array_size(names), 0);
    json_decref(names);

    create(f, realm_doc("b"));
    create(f, realm_doc("a"));
    create(f, realm_doc("a-2"));
    create(f, space_doc("a", "s"));
    create(f, space_doc("a", "r"));
    /* Things that are not realms: reserved scope dirs (even with a metadata.json), hidden entries,
     * plain files, dirs without a document, names this implementation refuses, symlinks. */
    const char *dirs[] = {"secrets", "volumes", "volume-meta", "blueprints",
                          "configs", ".hidden", "bad_name",    "empty"};
    char p[512];
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        path_of(f, dirs[i], p, sizeof(p));
        assert_int_equal(mkdir(p, 0750), 0);
        if (strcmp(dirs[i], "empty") != 0) {
            char m[600];
            snprintf(m, sizeof(m), "%s/metadata.json", p);
            write_text(m, "{}");
        }
    }
    path_of(f, "file", p, sizeof(p));
    write_text(p, "x");
    char target[512];
    path_of(f, "a", target, sizeof(target));
    path_of(f, "link", p, sizeof(p));
    assert_int_equal(symlink(target, p), 0);
    path_of(f, "a/secrets", p, sizeof(p));
    assert_int_equal(mkdir(p, 0700), 0);

    assert_int_equal(kk_store_list(&f->s, NULL, &names, &err), 0);
    json_t *want = json_pack("[s, s, s]", "a", "a-2", "b");
    assert_true(json_equal(names, want));
    json_decref(want);
    json_decref(names);
    assert_int_equal(kk_store_list(&f->s, &realm_a, &names, &err), 0);
    want = json_pack("[s, s]", "r", "s");
    assert_true(json_equal(names, want));
    json_decref(want);
    json_decref(names);
    assert_int_equal(kk_store_list(&f->s, &space_s, &names, &err), 0);
    assert_int_equal(json_array_size(names), 0);
    json_decref(names);

    struct kk_derive_names missing = {"zz", NULL, NULL, NULL, NULL};
    assert_int_equal(kk_store_list(&f->s, &missing, &names, &err), -1);
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);
    assert_string_equal(err.msg, "realm \"zz\" not found");
    path_of(f, "empty", p, sizeof(p));
    struct kk_derive_names empty = {"empty", NULL, NULL, NULL, NULL};
    assert_int_equal(kk_store_list(&f->s, &empty, &names, &err), -1);
    assert_int_equal(kk_store_list(&f->s, &cell_w, &names, &err), -1);
    assert_non_null(strstr(err.msg, "are in its document"));
}

static void test_delete(void **state)
{
    struct fixture *f = *state;
    struct kk_err err;
    char p[512];
    create(f, realm_doc("a"));
    create(f, space_doc("a", "s"));
    create(f, stack_doc("a", "s", "t"));
    create(f, cell_doc("a", "s", "t", "w"));

    /* A cell with a container directory keeps its directory; the document and lock go. */
    path_of(f, "a/s/t/w/app", p, sizeof(p));
    assert_int_equal(mkdir(p, 0750), 0);
    assert_int_equal(kk_store_delete(&f->s, &cell_w, NULL, &err), 1);
    path_of(f, "a/s/t/w/metadata.json", p, sizeof(p));
    assert_false(exists(p));
    path_of(f, "a/s/t/w/metadata.json.lock", p, sizeof(p));
    assert_false(exists(p));
    path_of(f, "a/s/t/w", p, sizeof(p));
    assert_true(exists(p));
    json_t *names;
    struct kk_derive_names stack_t = {"a", "s", "t", NULL, NULL};
    assert_int_equal(kk_store_list(&f->s, &stack_t, &names, &err), 0);
    assert_int_equal(json_array_size(names), 0);
    json_decref(names);

    /* An empty directory goes with its document. */
    assert_int_equal(kk_store_delete(&f->s, &stack_t, NULL, &err), 1);
    path_of(f, "a/s/t", p, sizeof(p));
    assert_true(exists(p)); /* it still holds w/ */
    path_of(f, "a/s/t/w/app", p, sizeof(p));
    rmdir(p);
    path_of(f, "a/s/t/w", p, sizeof(p));
    rmdir(p);
    path_of(f, "a/s/t", p, sizeof(p));
    rmdir(p);
    assert_int_equal(kk_store_delete(&f->s, &space_s, NULL, &err), 1);
    path_of(f, "a/s", p, sizeof(p));
    assert_false(exists(p));
    assert_int_equal(kk_store_delete(&f->s, &space_s, NULL, &err), 0);
    assert_int_equal(kk_store_delete(&f->s, &realm_a, NULL, &err), 1);
    path_of(f, "a", p, sizeof(p));
    assert_false(exists(p));
    /* And the name is free again. */
    create(f, realm_doc("a"));
}

/* Every entry of dir must be one of allowed. */
static void only_entries(const char *dir, const char *const *allowed, size_t n)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        bool ok = false;
        for (size_t i = 0; i < n; i++)
            ok = ok || strcmp(e->d_name, allowed[i]) == 0;
        if (!ok)
            fail_msg("unexpected %s in %s", e->d_name, dir);
    }
    closedir(d);
}

static void test_no_temp_files_left(void **state)
{
    struct fixture *f = *state;
    struct kk_err err;
    char dir[512], p[600];
    create(f, realm_doc("a"));
    path_of(f, "a", dir, sizeof(dir));
    /* What a writer that crashed between create and rename leaves: removed by the next writer. */
    snprintf(p, sizeof(p), "%s/.meta-0123456789abcdef.tmp", dir);
    write_text(p, "{half");
    struct kk_store_token tok = KK_STORE_TOKEN_INIT;
    json_t *d;
    assert_int_equal(kk_store_get(&f->s, &realm_a, &d, &tok, &err), 1);
    for (int i = 0; i < 50; i++) {
        json_object_set_new(kk_doc_spec(d), "n", json_integer(i));
        assert_int_equal(kk_store_put(&f->s, d, &tok, &err), 0);
    }
    const char *allowed[] = {"metadata.json", "metadata.json.lock"};
    only_entries(dir, allowed, 2);
    assert_int_equal(tok.generation, 51);
    json_t *status = json_object();
    assert_int_equal(kk_store_put_status(&f->s, &realm_a, status, 0, NULL, &err), 0);
    only_entries(dir, allowed, 2);
    json_decref(status);
    json_decref(d);
    kk_store_token_clear(&tok);
    /* The instance file's writer leaves no temp file either. */
    assert_int_equal(kk_store_instance(&f->s, true, &err), 1);
    const char *top[] = {"data", ".kukeon-instance.json"};
    only_entries(f->run, top, 2);
}

/* A document written before sidecars existed (or by hand) is read, and gets its sidecar. */
static void test_document_without_sidecar(void **state)
{
    struct fixture *f = *state;
    struct kk_err err;
    char p[512];
    create(f, realm_doc("a"));
    path_of(f, "a/metadata.json.lock", p, sizeof(p));
    assert_int_equal(unlink(p), 0);
    json_t *d;
    assert_int_equal(kk_store_get(&f->s, &realm_a, &d, NULL, &err), 1);
    assert_string_equal(kk_doc_name(d), "a");
    json_decref(d);
    assert_true(exists(p));
}

/* ---- processes ------------------------------------------------------------------------------- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void test_lock_holder_blocks_writer(void **state)
{
    struct fixture *f = *state;
    struct kk_err err;
    create(f, realm_doc("a"));
    struct kk_store_token tok = KK_STORE_TOKEN_INIT;
    json_t *d;
    assert_int_equal(kk_store_get(&f->s, &realm_a, &d, &tok, &err), 1);
    char meta[512], lock[512];
    path_of(f, "a/metadata.json", meta, sizeof(meta));
    path_of(f, "a/metadata.json.lock", lock, sizeof(lock));

    /* The child takes the lock as any writer does, changes the document while holding it, and
     * reports when it let go. */
    int locked[2], released[2];
    assert_int_equal(pipe(locked), 0);
    assert_int_equal(pipe(released), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(lock, O_RDWR);
        if (fd < 0 || flock(fd, LOCK_EX) < 0)
            _exit(1);
        if (write(locked[1], "L", 1) != 1)
            _exit(1);
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);
        FILE *fp = fopen(meta, "w");
        if (fp == NULL)
            _exit(1);
        fputs("{\"apiVersion\":\"v1beta1\",\"kind\":\"Realm\",\"metadata\":{\"name\":\"a\",\"generation\":5},"
              "\"spec\":{}}\n",
              fp);
        fclose(fp);
        int64_t t = now_ns();
        close(fd);
        if (write(released[1], &t, sizeof(t)) != sizeof(t))
            _exit(1);
        _exit(0);
    }
    char c;
    assert_int_equal(read(locked[0], &c, 1), 1);
    json_object_set_new(kk_doc_spec(d), "n", json_integer(1));
    int rc = kk_store_put(&f->s, d, &tok, &err);
    int64_t returned = now_ns();
    int64_t released_at;
    assert_int_equal(read(released[0], &released_at, sizeof(released_at)), sizeof(released_at));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* It waited for the child, then saw the child's write and refused to overwrite it. */
    assert_true(returned >= released_at);
    assert_int_equal(rc, -1);
    assert_true(kk_store_err_stale(&err));
    json_t *back;
    assert_int_equal(kk_store_get(&f->s, &realm_a, &back, &tok, &err), 1);
    assert_int_equal(kk_doc_generation(back), 5);
    json_decref(back);

    /* A holder that does not let go: readers and writers give up after the timeout, saying why. */
    assert_int_equal(pipe(locked) == 0 ? 0 : -1, 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(lock, O_RDWR);
        if (fd < 0 || flock(fd, LOCK_EX) < 0 || write(locked[1], "L", 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    assert_int_equal(read(locked[0], &c, 1), 1);
    f->s.lock_timeout_ms = 100;
    rc = kk_store_get(&f->s, &realm_a, &back, NULL, &err);
    int e1 = kk_store_err_busy(&err);
    char msg[KK_ERR_MSG_MAX];
    memcpy(msg, err.msg, sizeof(msg));
    int rc2 = kk_store_put(&f->s, d, &tok, &err);
    int e2 = kk_store_err_busy(&err);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    assert_int_equal(rc, -1);
    assert_true(e1);
    assert_int_equal(rc2, -1);
    assert_true(e2);
    assert_non_null(strstr(msg, "realm \"a\" is locked by another kukeond or kuke process"));
    assert_non_null(strstr(msg, lock));
    /* Killed, its lock is gone with it. */
    assert_int_equal(kk_store_put(&f->s, d, &tok, &err), 0);
    json_decref(d);
    kk_store_token_clear(&tok);
    close(locked[0]);
    close(locked[1]);
    close(released[0]);
    close(released[1]);
}

/* Two processes increment a counter in the spec with read-modify-write and retry on stale: no
 * update is lost, and every one of them bumped the generation. */
static void test_concurrent_writers(void **state)
{
    struct fixture *f = *state;
    enum { ROUNDS = 60 };
    json_t *d = realm_doc("a");
    json_object_set_new(kk_doc_spec(d), "n", json_integer(0));
    create(f, d);
    pid_t pids[2];
    for (int k = 0; k < 2; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            struct kk_err err;
            for (int i = 0; i < ROUNDS; i++) {
                for (;;) {
                    struct kk_store_token tok = KK_STORE_TOKEN_INIT;
                    json_t *doc;
                    if (kk_store_get(&f->s, &realm_a, &doc, &tok, &err) != 1)
                        _exit(2);
                    json_t *n = json_object_get(kk_doc_spec(doc), "n");
                    json_object_set_new(kk_doc_spec(doc), "n", json_integer(json_integer_value(n) + 1));
                    int rc = kk_store_put(&f->s, doc, &tok, &err);
                    json_decref(doc);
                    kk_store_token_clear(&tok);
                    if (rc == 0)
                        break;
                    if (!kk_store_err_stale(&err))
                        _exit(3);
                }
            }
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status;
        assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    struct kk_err err;
    json_t *back;
    assert_int_equal(kk_store_get(&f->s, &realm_a, &back, NULL, &err), 1);
    assert_int_equal(json_integer_value(json_object_get(kk_doc_spec(back), "n")), 2 * ROUNDS);
    assert_int_equal(kk_doc_generation(back), 2 * ROUNDS + 1);
    json_decref(back);
}

/* ---- the instance file ----------------------------------------------------------------------- */

static void test_instance_file(void **state)
{
    struct fixture *f = *state;
    struct kk_err err;
    char p[512];
    snprintf(p, sizeof(p), "%s/.kukeon-instance.json", f->run);

    struct kk_store gone;
    struct kk_derive_config nowhere = {.run_path = "/tmp/kk-store-test-does-not-exist"};
    assert_int_equal(kk_store_init(&gone, &nowhere, &err), 0);
    assert_int_equal(kk_store_instance(&gone, true, &err), -1);
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);

    /* A different configuration on a run path made with another: a hard error that says both. */
    write_text(p, "{\"containerdNamespaceSuffix\": \"other.io\", \"cgroupRoot\": \"/kukeon\"}");
    assert_int_equal(kk_store_instance(&f->s, true, &err), -1);
    assert_int_equal(err.kind, KK_ERR_INVALID);
    char want[1024];
    snprintf(
        want, sizeof(want),
        "run path %s was bootstrapped with containerdNamespaceSuffix=\"other.io\" cgroupRoot=\"/kukeon\" but "
        "this configuration requests containerdNamespaceSuffix=\"kukeon.io\" cgroupRoot=\"/kukeon\": use the "
        "configuration it was made with, or another run path",
        f->run);
    assert_string_equal(err.msg, want);
    write_text(p, "{\"containerdNamespaceSuffix\": \"kukeon.io\", \"cgroupRoot\": \"/elsewhere\"}");
    assert_int_equal(kk_store_instance(&f->s, false, &err), -1);
    assert_non_null(strstr(err.msg, "cgroupRoot=\"/elsewhere\""));
    write_text(p, "{\"containerdNamespaceSuffix\": 5}");
    assert_int_equal(kk_store_instance(&f->s, true, &err), -1);
    assert_true(kk_store_err_corrupt(&err));
    write_text(p, "not json");
    assert_int_equal(kk_store_instance(&f->s, true, &err), -1);
    assert_non_null(strstr(err.msg, "was left as it is"));
    assert_string_equal(read_text(p), "not json");

    /* Absent: reported, or written. */
    unlink(p);
    assert_int_equal(kk_store_instance(&f->s, false, &err), 0);
    assert_false(exists(p));
    assert_int_equal(kk_store_instance(&f->s, true, &err), 1);
    assert_string_equal(
        read_text(p),
        "{\n  \"containerdNamespaceSuffix\": \"kukeon.io\",\n  \"cgroupRoot\": \"/kukeon\"\n}\n");
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(kk_store_instance(&f->s, true, &err), 1);
    assert_int_equal(kk_store_instance(&f->s, false, &err), 1);
    /* A trailing '/' on the cgroup root is the same root (as the Go daemon compares). */
    write_text(p, "{\"containerdNamespaceSuffix\": \"kukeon.io\", \"cgroupRoot\": \"/kukeon/\"}");
    assert_int_equal(kk_store_instance(&f->s, false, &err), 1);
    /* Another configuration, matching what it wrote. */
    struct kk_store other;
    struct kk_derive_config cfg = {.run_path = f->run, .ns_suffix = "test.io", .cgroup_root = "/kt"};
    assert_int_equal(kk_store_init(&other, &cfg, &err), 0);
    assert_int_equal(kk_store_instance(&other, true, &err), -1);
    unlink(p);
    assert_int_equal(kk_store_instance(&other, true, &err), 1);
    assert_string_equal(read_text(p),
                        "{\n  \"containerdNamespaceSuffix\": \"test.io\",\n  \"cgroupRoot\": \"/kt\"\n}\n");
    assert_int_equal(kk_store_instance(&f->s, false, &err), -1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_refused_writes),
        T(test_corrupt_documents),
        T(test_compare_and_swap),
        T(test_generation_and_format),
        T(test_cell_document),
        T(test_list_children),
        T(test_delete),
        T(test_no_temp_files_left),
        T(test_document_without_sidecar),
        T(test_lock_holder_blocks_writer),
        T(test_concurrent_writers),
        T(test_instance_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
