/* Unit tests for registry credentials (kukeond/regcred.h, kukeond/ctl_regcred.c): serverAddress
 * normalisation and refusals, matching a reference's domain to an entry, username and password
 * checks, the realm document's validation (normalised in place, duplicates refused by index, no
 * message showing a password), and, through the controller on a private run path without helpers,
 * ApplyDocuments of a stored realm writing the passwords to the secrets file only (modes, content),
 * unchanged / updated with the field, the lookup a pull makes, GetRealm without passwords, and the
 * removal of the secrets. The daemon path end to end is tests/integration/test_regcred.sh. */
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
#include "kukeond/ctl_regcred.h"
#include "kukeond/doc.h"
#include "kukeond/manifest.h"
#include "kukeond/regcred.h"

#define SECRET "Sup3r-s3cret-unit"

/* ---- normalisation ------------------------------------------------------------------------------ */

static void test_normalize_accepts(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"", "docker.io"},
        {"docker.io", "docker.io"},
        {"index.docker.io", "docker.io"},
        {"registry-1.docker.io", "docker.io"},
        {"https://index.docker.io/v1/", "docker.io"},
        {"https://index.docker.io/v1", "docker.io"},
        {"index.docker.io/v1/", "docker.io"},
        {"  ghcr.io  ", "ghcr.io"},
        {"https://ghcr.io", "ghcr.io"},
        {"HTTPS://GHCR.IO/", "ghcr.io"},
        {"ghcr.io/", "ghcr.io"},
        {"127.0.0.1:5000", "127.0.0.1:5000"},
        {"localhost:5000", "localhost:5000"},
        {"docker.io:443", "docker.io:443"}, /* a port is another registry address, not the hub alias */
        {"[::1]:5000", "[::1]:5000"},
        {"my-registry.example.com", "my-registry.example.com"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[KK_REGCRED_SERVER_MAX];
        struct kk_err err = {0};
        if (kk_regcred_normalize_server(cases[i][0], out, &err) < 0)
            fail_msg("\"%s\" refused: %s", cases[i][0], err.msg);
        if (strcmp(out, cases[i][1]) != 0)
            fail_msg("\"%s\" -> \"%s\", want \"%s\"", cases[i][0], out, cases[i][1]);
    }
}

static void test_normalize_refuses(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"http://ghcr.io", "scheme \"http://\" is not supported"},
        {"ftp://ghcr.io", "scheme \"ftp://\" is not supported"},
        {"ghcr.io/org/repo", "has a path"},
        {"https://ghcr.io/v1/", "has a path"},
        {"https://", "names no registry host"},
        {"/v1/", "names no registry host"},
        {"user:pw@ghcr.io", "without user information"},
        {"ghcr.io?x=1", "without user information"},
        {"ghcr.io:0", "port must be a number from 1 to 65535"},
        {"ghcr.io:65536", "port must be a number from 1 to 65535"},
        {"ghcr.io:http", "port must be a number from 1 to 65535"},
        {"-bad.example", "not a registry host[:port]"},
        {"bad..example", "not a registry host[:port]"},
        {"bad_host", "not a registry host[:port]"},
        {"[::1", "closing ']'"},
        {"ghcr.io\n", "control character"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[KK_REGCRED_SERVER_MAX];
        struct kk_err err = {0};
        if (kk_regcred_normalize_server(cases[i][0], out, &err) == 0)
            fail_msg("\"%s\" accepted as \"%s\"", cases[i][0], out);
        assert_int_equal(err.kind, KK_ERR_INVALID);
        if (strstr(err.msg, cases[i][1]) == NULL)
            fail_msg("\"%s\": message \"%s\" lacks \"%s\"", cases[i][0], err.msg, cases[i][1]);
    }
    /* user:password@host never comes back in the message. */
    char out[KK_REGCRED_SERVER_MAX];
    struct kk_err err = {0};
    assert_int_equal(kk_regcred_normalize_server("https://u:" SECRET "@ghcr.io", out, &err), -1);
    assert_null(strstr(err.msg, SECRET));
}

static void test_matches(void **state)
{
    (void)state;
    assert_true(kk_regcred_server_matches("docker.io", "docker.io"));
    assert_true(kk_regcred_server_matches("docker.io", "index.docker.io"));
    assert_true(kk_regcred_server_matches("https://index.docker.io/v1/", "docker.io"));
    assert_true(kk_regcred_server_matches("ghcr.io", "GHCR.io"));
    assert_true(kk_regcred_server_matches("127.0.0.1:5000", "127.0.0.1:5000"));
    assert_false(kk_regcred_server_matches("127.0.0.1:5000", "127.0.0.1:5001"));
    assert_false(kk_regcred_server_matches("127.0.0.1:5000", "127.0.0.1"));
    assert_false(kk_regcred_server_matches("ghcr.io", "docker.io"));
    assert_false(kk_regcred_server_matches("docker.io", ""));
    assert_false(kk_regcred_server_matches("ghcr.io", "http://ghcr.io"));
    assert_false(kk_regcred_server_matches(NULL, "ghcr.io"));
}

static void test_username_password(void **state)
{
    (void)state;
    struct kk_err err = {0};
    assert_int_equal(kk_regcred_check_username("alice", &err), 0);
    assert_int_equal(kk_regcred_check_username("robot$org+bot@example.com", &err), 0);
    assert_int_equal(kk_regcred_check_username("", &err), -1);
    assert_non_null(strstr(err.msg, "is required"));
    assert_int_equal(kk_regcred_check_username("a b", &err), -1);
    assert_int_equal(kk_regcred_check_username("a\tb", &err), -1);
    assert_int_equal(kk_regcred_check_username("a:b", &err), -1);
    assert_non_null(strstr(err.msg, "':'"));
    assert_int_equal(kk_regcred_check_password("p@ss: w0rd with spaces", &err), 0);
    assert_int_equal(kk_regcred_check_password("", &err), -1);
    assert_int_equal(kk_regcred_check_password(SECRET "\n", &err), -1);
    assert_non_null(strstr(err.msg, "control character"));
    assert_null(strstr(err.msg, SECRET));
    assert_int_equal(kk_regcred_check_password(SECRET "\x7f", &err), -1);
    struct kk_regcred c = {.found = true};
    snprintf(c.password, sizeof(c.password), "%s", SECRET);
    kk_regcred_wipe(&c);
    assert_false(c.found);
    assert_int_equal(c.password[0], 0);
}

/* ---- the realm document ------------------------------------------------------------------------- */

static json_t *realm_doc(const char *creds_json)
{
    json_error_t je;
    json_t *creds = json_loads(creds_json, 0, &je);
    if (creds == NULL)
        fail_msg("bad test JSON: %s", je.text);
    return json_pack("{s:s, s:s, s:{s:s}, s:{s:o}}", "apiVersion", "v1beta1", "kind", "Realm", "metadata",
                     "name", "r1", "spec", "registryCredentials", creds);
}

static void test_doc_validation(void **state)
{
    (void)state;
    struct kk_err err = {0};
    json_t *doc = realm_doc("[{\"username\":\"a\",\"password\":\"" SECRET "\"},"
                            "{\"username\":\"b\",\"password\":\"x\",\"serverAddress\":\"https://GHCR.io/\","
                            "\"insecureSkipTLSVerify\":true},"
                            "{\"username\":\"c\",\"serverAddress\":\"127.0.0.1:5000\"}]");
    if (kk_doc_validate(doc, &err) < 0)
        fail_msg("%s", err.msg);
    json_t *creds = json_object_get(kk_doc_spec(doc), "registryCredentials");
    assert_string_equal(kk_json_str(json_array_get(creds, 0), "serverAddress"), "docker.io");
    assert_string_equal(kk_json_str(json_array_get(creds, 1), "serverAddress"), "ghcr.io");
    assert_string_equal(kk_json_str(json_array_get(creds, 0), "password"), SECRET);
    json_decref(doc);

    static const char *const bad[][2] = {
        {"[{\"username\":\"a\",\"password\":\"" SECRET "\",\"serverAddress\":\"docker.io\"},"
         "{\"username\":\"b\",\"password\":\"" SECRET "\",\"serverAddress\":\"index.docker.io\"}]",
         "spec.registryCredentials[1].serverAddress \"docker.io\" repeats entry 0"},
        {"[{\"username\":\"\",\"password\":\"" SECRET "\"}]",
         "spec.registryCredentials[0].username is required"},
        {"[{\"password\":\"" SECRET "\"}]", "spec.registryCredentials[0].username is required"},
        {"[{\"username\":\"a\",\"password\":\"" SECRET "\\u0007\"}]",
         "spec.registryCredentials[0].password holds a control character"},
        {"[{\"username\":\"a\",\"password\":\"\"}]",
         "spec.registryCredentials[0].password must not be empty"},
        {"[{\"username\":\"a\",\"password\":\"" SECRET "\",\"serverAddress\":\"http://x.io\"}]",
         "spec.registryCredentials[0].serverAddress scheme \"http://\""},
        {"[{\"username\":\"a\",\"password\":\"" SECRET "\",\"insecureSkipTLSVerify\":\"yes\"}]",
         "spec.registryCredentials[0].insecureSkipTLSVerify must be true or false"},
        {"[\"" SECRET "\"]", "spec.registryCredentials[0] must be a mapping"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        doc = realm_doc(bad[i][0]);
        if (kk_doc_validate(doc, &err) == 0)
            fail_msg("case %zu accepted", i);
        if (strstr(err.msg, bad[i][1]) == NULL)
            fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, bad[i][1]);
        if (strstr(err.msg, SECRET) != NULL)
            fail_msg("case %zu: the message shows the password: %s", i, err.msg);
        json_decref(doc);
    }
}

/* ---- through the controller --------------------------------------------------------------------- */

struct fixture {
    char run[128];
    struct kk_ctl ctl;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    const char *tmp = getenv("KUKEON_TEST_TMP");
    snprintf(f->run, sizeof(f->run), "%s/kk-regcred-test.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(f->run) == NULL)
        return -1;
    umask(022);
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

static json_t *apply(struct fixture *f, const char *yaml)
{
    char *b64 = kk_base64_encode(yaml, strlen(yaml));
    json_t *args = json_pack("{s:s}", "RawYAML", b64);
    free(b64);
    json_t *reply = kk_ctl_call(&f->ctl, "ApplyDocuments", args);
    json_decref(args);
    assert_non_null(reply);
    if (!json_is_null(json_object_get(reply, "Err")))
        fail_msg("Err: %s", json_dumps(json_object_get(reply, "Err"), 0));
    return reply;
}

static json_t *resource(json_t *reply)
{
    return json_array_get(json_object_get(json_object_get(reply, "Result"), "Resources"), 0);
}

/* A realm as a finished create leaves it: stored, Ready, no credentials. */
static void store_ready_realm(struct fixture *f)
{
    struct kk_err err = {0};
    json_t *doc = json_pack("{s:s, s:s, s:{s:s}, s:{}, s:{s:s}}", "apiVersion", "v1beta1", "kind", "Realm",
                            "metadata", "name", "r1", "spec", "status", "state", "Ready");
    assert_int_equal(kk_store_instance(&f->ctl.store, true, &err), 1);
    if (kk_doc_validate(doc, &err) < 0 || kk_doc_complete(doc, &f->ctl.dcfg, &err) < 0)
        fail_msg("%s", err.msg);
    struct kk_store_token tok = KK_STORE_TOKEN_INIT;
    if (kk_store_put(&f->ctl.store, doc, &tok, &err) < 0)
        fail_msg("%s", err.msg);
    kk_store_token_clear(&tok);
    json_decref(doc);
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return NULL;
    char *buf = calloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

#define MANIFEST(pw1)                                                                                        \
    "kind: Realm\nmetadata: {name: r1}\nspec:\n  registryCredentials:\n"                                     \
    "    - {username: alice, password: \"" pw1 "\", serverAddress: \"https://index.docker.io/v1/\"}\n"       \
    "    - {username: bob, password: \"other-" SECRET "\", serverAddress: \"127.0.0.1:5000\", "              \
    "insecureSkipTLSVerify: true}\n"

static void test_apply_lookup_get_remove(void **state)
{
    struct fixture *f = *state;
    store_ready_realm(f);
    char meta[256], sdir[256], sfile[300];
    snprintf(meta, sizeof(meta), "%s/data/r1/metadata.json", f->run);
    snprintf(sdir, sizeof(sdir), "%s/data/r1/secrets", f->run);
    snprintf(sfile, sizeof(sfile), "%s/registry-credentials.json", sdir);

    /* A stored realm gets credentials: updated; passwords in the secrets only. */
    json_t *reply = apply(f, MANIFEST(SECRET));
    assert_string_equal(kk_json_str(resource(reply), "action"), "updated");
    char *text = json_dumps(reply, 0);
    assert_null(strstr(text, SECRET));
    free(text);
    json_decref(reply);
    char *m = slurp(meta), *s = slurp(sfile);
    assert_non_null(m);
    assert_non_null(s);
    assert_null(strstr(m, SECRET));
    assert_null(strstr(m, "password"));
    assert_non_null(strstr(m, "\"serverAddress\": \"docker.io\""));
    assert_non_null(strstr(s, SECRET));
    free(m);
    free(s);
    struct stat st;
    assert_int_equal(stat(sdir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(stat(sfile, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);

    /* The lookup a pull makes: by the reference's domain, docker.io's aliases included. */
    struct kk_regcred c;
    struct kk_err err = {0};
    assert_int_equal(kk_ctl_regcred_lookup(&f->ctl, "r1", "index.docker.io", &c, &err), 0);
    assert_true(c.found);
    assert_string_equal(c.username, "alice");
    assert_string_equal(c.password, SECRET);
    assert_false(c.insecure_skip_tls_verify);
    assert_int_equal(kk_ctl_regcred_lookup(&f->ctl, "r1", "127.0.0.1:5000", &c, &err), 0);
    assert_true(c.found && c.insecure_skip_tls_verify);
    assert_string_equal(c.password, "other-" SECRET);
    kk_regcred_wipe(&c);
    assert_int_equal(kk_ctl_regcred_lookup(&f->ctl, "r1", "ghcr.io", &c, &err), 0);
    assert_false(c.found);
    assert_int_equal(kk_ctl_regcred_lookup(&f->ctl, "nosuch", "ghcr.io", &c, &err), -1);
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);
    assert_int_equal(kk_ctl_regcred_lookup(&f->ctl, "r1", "http://ghcr.io", &c, &err), -1);
    assert_int_equal(err.kind, KK_ERR_INVALID);

    /* Again: unchanged. Without the passwords (what get shows): unchanged, the stored ones kept. */
    reply = apply(f, MANIFEST(SECRET));
    assert_string_equal(kk_json_str(resource(reply), "action"), "unchanged");
    json_decref(reply);
    reply =
        apply(f, "kind: Realm\nmetadata: {name: r1}\nspec:\n  registryCredentials:\n"
                 "    - {username: alice, serverAddress: docker.io}\n"
                 "    - {username: bob, serverAddress: \"127.0.0.1:5000\", insecureSkipTLSVerify: true}\n");
    assert_string_equal(kk_json_str(resource(reply), "action"), "unchanged");
    json_decref(reply);

    /* A new password: updated, the field named, not the value. */
    reply = apply(f, MANIFEST("new-" SECRET));
    json_t *r = resource(reply);
    assert_string_equal(kk_json_str(r, "action"), "updated");
    char *changes = json_dumps(json_object_get(r, "changes"), JSON_COMPACT);
    assert_string_equal(changes, "[\"spec.registryCredentials[docker.io].password\"]");
    free(changes);
    json_decref(reply);
    assert_int_equal(kk_ctl_regcred_lookup(&f->ctl, "r1", "docker.io", &c, &err), 0);
    assert_string_equal(c.password, "new-" SECRET);
    kk_regcred_wipe(&c);

    /* A new entry with no password anywhere: refused, nothing changed. */
    reply = apply(f, "kind: Realm\nmetadata: {name: r1}\nspec:\n  registryCredentials:\n"
                     "    - {username: carol, serverAddress: quay.io}\n");
    r = resource(reply);
    assert_string_equal(kk_json_str(r, "action"), "failed");
    assert_non_null(strstr(kk_json_str(r, "error"), "spec.registryCredentials[0].password is required"));
    json_decref(reply);
    assert_int_equal(kk_ctl_regcred_lookup(&f->ctl, "r1", "docker.io", &c, &err), 0);
    assert_true(c.found);
    kk_regcred_wipe(&c);

    /* GetRealm: the entries, never a password. */
    json_t *args = json_pack("{s:{s:s, s:s, s:{s:s}}}", "Doc", "apiVersion", "v1beta1", "kind", "Realm",
                             "metadata", "name", "r1");
    reply = kk_ctl_call(&f->ctl, "GetRealm", args);
    json_decref(args);
    text = json_dumps(reply, 0);
    assert_non_null(strstr(text, "alice"));
    assert_null(strstr(text, SECRET));
    assert_null(strstr(text, "password"));
    free(text);
    json_decref(reply);

    /* Removing every entry removes the file; the realm's delete removes the rest. */
    reply = apply(f, "kind: Realm\nmetadata: {name: r1}\nspec: {}\n");
    assert_string_equal(kk_json_str(resource(reply), "action"), "updated");
    json_decref(reply);
    assert_int_equal(stat(sfile, &st), -1);
    assert_int_equal(kk_ctl_regcred_lookup(&f->ctl, "r1", "docker.io", &c, &err), 0);
    assert_false(c.found);
    reply = apply(f, MANIFEST(SECRET));
    json_decref(reply);
    assert_int_equal(stat(sfile, &st), 0);
    struct ctl_op op = {.ctl = &f->ctl, .kind = "Unknown"};
    assert_int_equal(ctl_regcred_remove(&op, "r1", &err), 1);
    assert_int_equal(stat(sdir, &st), -1);
    assert_int_equal(ctl_regcred_remove(&op, "r1", &err), 0);
    /* The document still lists them: the lookup says the password is missing, and how to fix it. */
    assert_int_equal(kk_ctl_regcred_lookup(&f->ctl, "r1", "docker.io", &c, &err), -1);
    assert_non_null(strstr(err.msg, "holds no password"));
}

/* CreateRealm with credentials: the secrets and the intent are written before the effects (which
 * need kuke-cgd, absent here, so the create then fails and records it): no password in the
 * document or the reply. */
static void test_create_realm(void **state)
{
    struct fixture *f = *state;
    struct kk_err err = {0};
    assert_int_equal(kk_store_instance(&f->ctl.store, true, &err), 1);
    json_t *args =
        json_pack("{s:{s:s, s:s, s:{s:s}, s:{s:[{s:s, s:s, s:s}]}}}", "Doc", "apiVersion", "v1beta1", "kind",
                  "Realm", "metadata", "name", "r2", "spec", "registryCredentials", "username", "u",
                  "password", SECRET, "serverAddress", "ghcr.io");
    json_t *reply = kk_ctl_call(&f->ctl, "CreateRealm", args);
    json_decref(args);
    char *text = json_dumps(reply, 0);
    assert_null(strstr(text, SECRET));
    free(text);
    json_decref(reply);
    char meta[256], sfile[300];
    snprintf(meta, sizeof(meta), "%s/data/r2/metadata.json", f->run);
    snprintf(sfile, sizeof(sfile), "%s/data/r2/secrets/registry-credentials.json", f->run);
    char *m = slurp(meta), *s = slurp(sfile);
    assert_non_null(m);
    assert_non_null(s);
    assert_null(strstr(m, SECRET));
    assert_non_null(strstr(m, "\"username\": \"u\""));
    assert_non_null(strstr(s, SECRET));
    free(m);
    free(s);
    struct kk_regcred c;
    assert_int_equal(kk_ctl_regcred_lookup(&f->ctl, "r2", "ghcr.io", &c, &err), 0);
    assert_true(c.found);
    assert_string_equal(c.password, SECRET);
    kk_regcred_wipe(&c);
}

static void test_redact(void **state)
{
    (void)state;
    json_t *doc = realm_doc("[{\"username\":\"a\",\"password\":\"" SECRET "\"}]");
    kk_regcred_redact(doc);
    char *text = json_dumps(doc, 0);
    assert_null(strstr(text, "password"));
    assert_non_null(strstr(text, "\"username\": \"a\""));
    free(text);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize_accepts),
        cmocka_unit_test(test_normalize_refuses),
        cmocka_unit_test(test_matches),
        cmocka_unit_test(test_username_password),
        cmocka_unit_test(test_doc_validation),
        cmocka_unit_test(test_redact),
        cmocka_unit_test_setup_teardown(test_apply_lookup_get_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_realm, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
