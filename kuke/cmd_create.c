/* kuke create realm|space|stack [NAME] (kukeon-reference.md 2.4): create or reconcile one layer and
 * say, per artifact, whether it was created now, already existed, or is missing; a realm's --allow
 * sets its policy (spec.allow, a Kukeon-in-C extension, docs/security.md). kuke create
 * registry-credential REALM: upsert one entry of the realm's spec.registryCredentials. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/util.h"
#include "kuke/client.h"
#include "kuke/cmds.h"
#include "kuke/resource.h"
#include "kukeond/apply.h"
#include "kukeond/doc.h"
#include "kukeond/regcred.h"

/* The reference's outcome line: created | already existed | missing. */
static void create_outcome(const char *label, const json_t *res, const char *exists_post, const char *created)
{
    bool c = json_is_true(json_object_get(res, created));
    bool post = json_is_true(json_object_get(res, exists_post));
    printf("  - %s: %s\n", label, c ? "created" : post ? "already existed" : "missing");
}

/* --allow w1,w2: the realm's spec.allow (its policy, kept by kuke-ctrd from creation on). The daemon
 * checks the words (kukeond/doc.c), so both paths refuse the same ones. */
static int create_allow(json_t *doc, const char *flag, struct kk_err *err)
{
    json_t *list = json_array();
    char word[KUKE_ARG_MAX];
    for (const char *p = flag; list != NULL;) {
        p += strspn(p, " \t");
        size_t n = strcspn(p, ",");
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n >= sizeof(word)) {
            json_decref(list);
            return kk_error(err, KK_ERR_INVALID, 0, "--allow: a word of %zu bytes is no policy word", n);
        }
        memcpy(word, p, n);
        word[n] = '\0';
        if (n > 0 && json_array_append_new(list, json_string(word)) < 0)
            break;
        p += strcspn(p, ",");
        if (*p == '\0')
            break;
        p++;
    }
    if (list == NULL || json_object_set_new(json_object_get(doc, "spec"), "allow", list) < 0)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "--allow");
    return 0;
}

int kuke_cmd_create(struct kuke_ctx *ctx, struct kk_err *err)
{
    const struct kuke_kind_info *k = kuke_kind_of(ctx);
    char name[KUKE_ARG_MAX], realm[KUKE_ARG_MAX], space[KUKE_ARG_MAX], ns[KUKE_ARG_MAX];
    if (kuke_name_arg(ctx, "CREATE", k, false, name, err) < 0 ||
        kuke_scope(ctx, "realm", "CREATE", k, "REALM", "default", realm, err) < 0 ||
        kuke_scope(ctx, "space", "CREATE", k, "SPACE", "default", space, err) < 0 ||
        kuke_scope(ctx, "namespace", "CREATE", k, "NAMESPACE", NULL, ns, err) < 0)
        return -1;
    if (name[0] == '\0')
        return kk_error(err, KK_ERR_INVALID, 0, "%s name is required (usage: kuke create %s [name] [flags])",
                        k->noun, k->noun);
    json_t *doc = kuke_request_doc(k, name, realm, space);
    if (doc != NULL && k->kind == KUKE_REALM && ns[0] != '\0')
        json_object_set_new(json_object_get(doc, "spec"), "namespace", json_string(ns));
    const char *allow = k->kind == KUKE_REALM ? kuke_flag(ctx, "allow") : NULL;
    if (doc != NULL && allow != NULL && create_allow(doc, allow, err) < 0) {
        json_decref(doc);
        return -1;
    }
    json_t *args = json_pack("{s:o}", "Doc", doc);
    char method[32];
    snprintf(method, sizeof(method), "Create%s", k->title);
    json_t *reply = NULL;
    int rc = kuke_api_call_take(ctx, method, args, &reply, err);
    if (rc < 0)
        return -1;
    json_t *res = json_object_get(reply, "Result");
    json_t *made = json_object_get(res, k->title);
    json_t *spec = kk_doc_spec(made);
    switch (k->kind) {
    case KUKE_REALM:
        printf("Realm \"%s\" (namespace \"%s\")\n", kk_doc_name(made), kk_json_str(spec, "namespace"));
        if (json_array_size(json_object_get(spec, "allow")) > 0) {
            char *words = json_dumps(json_object_get(spec, "allow"), JSON_COMPACT);
            printf("  - policy: allow %s\n", words != NULL ? words : "?");
            free(words);
        }
        create_outcome("metadata", res, "MetadataExistsPost", "Created");
        create_outcome("containerd namespace", res, "ContainerdNamespaceExistsPost",
                       "ContainerdNamespaceCreated");
        break;
    case KUKE_SPACE:
        printf("Space \"%s\" (realm \"%s\", network \"%s-%s\")\n", kk_doc_name(made),
               kk_json_str(spec, "realmId"), kk_json_str(spec, "realmId"), kk_doc_name(made));
        create_outcome("metadata", res, "MetadataExistsPost", "Created");
        create_outcome("network", res, "CNINetworkExistsPost", "CNINetworkCreated");
        break;
    case KUKE_STACK:
        printf("Stack \"%s\" (realm \"%s\", space \"%s\")\n", kk_doc_name(made), kk_json_str(spec, "realmId"),
               kk_json_str(spec, "spaceId"));
        create_outcome("metadata", res, "MetadataExistsPost", "Created");
        break;
    default:
        break;
    }
    create_outcome("cgroup", res, "CgroupExistsPost", "CgroupCreated");
    json_decref(reply);
    return 0;
}

/* ---- registry-credential ----------------------------------------------------------------------- */

/* Read at most KK_REGCRED_PASSWORD_MAX bytes of fd into pw; one trailing newline (a file's, echo's)
 * is not part of the password. */
static int regcred_read_password(int fd, const char *what, char pw[KK_REGCRED_PASSWORD_MAX],
                                 struct kk_err *err)
{
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, pw + n, KK_REGCRED_PASSWORD_MAX - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return kk_error(err, KK_ERR_INVALID, errno, "reading the password from %s", what);
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == KK_REGCRED_PASSWORD_MAX) {
            explicit_bzero(pw, KK_REGCRED_PASSWORD_MAX);
            return kk_error(err, KK_ERR_INVALID, 0, "the password from %s is longer than %d bytes", what,
                            KK_REGCRED_PASSWORD_MAX - 1);
        }
    }
    if (n > 0 && pw[n - 1] == '\n')
        n--;
    if (n > 0 && pw[n - 1] == '\r')
        n--;
    pw[n] = '\0';
    if (memchr(pw, '\0', n) != NULL) {
        explicit_bzero(pw, KK_REGCRED_PASSWORD_MAX);
        return kk_error(err, KK_ERR_INVALID, 0, "the password from %s holds a NUL byte", what);
    }
    return 0;
}

/* --password-stdin on a terminal: ask, without echo. */
static int regcred_prompt_password(char pw[KK_REGCRED_PASSWORD_MAX], struct kk_err *err)
{
    struct termios old, quiet;
    if (tcgetattr(STDIN_FILENO, &old) < 0)
        return kk_error(err, KK_ERR_INVALID, errno, "reading the password from the terminal");
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    fputs("Password: ", stderr);
    fflush(stderr);
    if (tcsetattr(STDIN_FILENO, TCSANOW, &quiet) < 0)
        return kk_error(err, KK_ERR_INVALID, errno, "turning off the terminal's echo");
    int rc = -1;
    size_t n = 0;
    for (;;) {
        char c;
        ssize_t r = read(STDIN_FILENO, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            kk_error(err, KK_ERR_INVALID, errno, "reading the password from the terminal");
            break;
        }
        if (r == 0 || c == '\n') {
            pw[n] = '\0';
            rc = 0;
            break;
        }
        if (n + 1 >= KK_REGCRED_PASSWORD_MAX) {
            kk_error(err, KK_ERR_INVALID, 0, "the password is longer than %d bytes",
                     KK_REGCRED_PASSWORD_MAX - 1);
            break;
        }
        pw[n++] = c;
    }
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    if (rc < 0)
        explicit_bzero(pw, KK_REGCRED_PASSWORD_MAX);
    return rc;
}

static int regcred_password(struct kuke_ctx *ctx, char pw[KK_REGCRED_PASSWORD_MAX], struct kk_err *err)
{
    const char *file = kuke_flag(ctx, "from-file");
    bool from_stdin = kuke_flag_bool(ctx, "password-stdin");
    if ((file != NULL) == from_stdin)
        return kk_error(
            err, KK_ERR_INVALID, 0,
            "give the password with exactly one of --password-stdin or --from-file PATH (it is never "
            "a command-line argument)");
    int rc;
    if (file != NULL) {
        int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            return kk_error(err, KK_ERR_INVALID, errno, "--from-file %s", file);
        rc = regcred_read_password(fd, file, pw, err);
        close(fd);
    } else if (isatty(STDIN_FILENO)) {
        rc = regcred_prompt_password(pw, err);
    } else {
        rc = regcred_read_password(STDIN_FILENO, "stdin", pw, err);
    }
    if (rc < 0)
        return -1;
    struct kk_err e = {0};
    if (kk_regcred_check_password(pw, &e) < 0) {
        explicit_bzero(pw, KK_REGCRED_PASSWORD_MAX);
        return kk_error(err, KK_ERR_INVALID, 0, "the password %s", e.msg);
    }
    return 0;
}

/* The realm's document to apply: the stored one (metadata and spec, as the user owns them) with the
 * entry of server replaced or added. The other entries carry no password: apply keeps theirs. */
static json_t *regcred_realm_doc(const json_t *stored, const char *server, const char *user, const char *pw,
                                 bool insecure, bool *existed)
{
    json_t *md = kk_doc_metadata(stored);
    json_t *spec = json_deep_copy(kk_doc_spec(stored));
    json_t *doc = spec == NULL ? NULL
                               : json_pack("{s:s, s:s, s:{s:s, s:O?}, s:o}", "apiVersion", KK_API_VERSION,
                                           "kind", "Realm", "metadata", "name", kk_doc_name(stored), "labels",
                                           json_object_get(md, "labels"), "spec", spec);
    json_t *entry = json_pack("{s:s, s:s, s:s}", "username", user, "password", pw, "serverAddress", server);
    if (doc == NULL || entry == NULL ||
        (insecure && json_object_set_new(entry, "insecureSkipTLSVerify", json_true()) < 0)) {
        json_decref(doc);
        json_decref(entry);
        return NULL;
    }
    json_t *list = json_object_get(spec, "registryCredentials");
    if (!json_is_array(list)) {
        list = json_array();
        if (list == NULL || json_object_set_new(spec, "registryCredentials", list) < 0) {
            json_decref(doc);
            json_decref(entry);
            return NULL;
        }
    }
    *existed = false;
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        if (kk_regcred_server_matches(kk_json_str(c, "serverAddress"), server)) {
            *existed = true;
            break;
        }
    }
    int rc = *existed ? json_array_set_new(list, i, entry) : json_array_append_new(list, entry);
    if (rc < 0) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* Wipe the password out of the text and the JSON holding it, then free them. */
static void regcred_forget(json_t *doc, char *text)
{
    kk_regcred_redact(doc);
    json_decref(doc);
    if (text != NULL) {
        explicit_bzero(text, strlen(text));
        free(text);
    }
}

int kuke_cmd_create_regcred(struct kuke_ctx *ctx, struct kk_err *err)
{
    const struct kuke_kind_info *k = kuke_kind(KUKE_REALM);
    if (ctx->nargs != 1)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "accepts 1 arg(s), received %d (usage: kuke create "
                        "registry-credential REALM --username U --password-stdin [--server H])",
                        ctx->nargs);
    const char *realm = ctx->args[0];
    const char *user = kuke_flag(ctx, "username");
    char server[KK_REGCRED_SERVER_MAX];
    struct kk_err e = {0};
    if (user == NULL || kk_regcred_check_username(user, &e) < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "--username %s", user == NULL ? "is required" : e.msg);
    if (kk_regcred_normalize_server(kuke_flag_or(ctx, "server", NULL, ""), server, &e) < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "--server %s", e.msg);
    /* The realm must exist before the password is asked for. */
    json_t *reply = NULL;
    if (kuke_api_call_take(ctx, "GetRealm", json_pack("{s:o}", "Doc", kuke_request_doc(k, realm, realm, "")),
                           &reply, err) < 0)
        return -1;
    json_t *res = json_object_get(reply, "Result");
    if (!json_is_true(json_object_get(res, "MetadataExists"))) {
        json_decref(reply);
        return kk_error(err, KK_ERR_NOT_FOUND, 0, "realm \"%s\" not found", realm);
    }
    char pw[KK_REGCRED_PASSWORD_MAX];
    if (regcred_password(ctx, pw, err) < 0) {
        json_decref(reply);
        return -1;
    }
    bool existed = false;
    json_t *doc = regcred_realm_doc(json_object_get(res, "Realm"), server, user, pw,
                                    kuke_flag_bool(ctx, "insecure-skip-tls-verify"), &existed);
    explicit_bzero(pw, sizeof(pw));
    json_decref(reply);
    char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    char *b64 = text != NULL ? kk_base64_encode(text, strlen(text)) : NULL;
    regcred_forget(doc, text);
    if (b64 == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "out of memory");
    /* JSON is YAML; ASCII with \u escapes, so that no character YAML folds (U+2028) reaches the
     * parser raw. Through ApplyDocuments: the realm's compatible update, the passwords compared with its
     * secrets, written there and never in its document. */
    json_t *args = json_pack("{s:s, s:s}", "RawYAML", b64, "Team", "");
    explicit_bzero(b64, strlen(b64));
    free(b64);
    if (kuke_api_call_take(ctx, "ApplyDocuments", args, &reply, err) < 0)
        return -1;
    json_t *r = json_array_get(json_object_get(json_object_get(reply, "Result"), "Resources"), 0);
    const char *action = kk_json_str(r, "action");
    int rc = 0;
    if (strcmp(action, "failed") == 0 || action[0] == '\0') {
        rc = kk_error(err, KK_ERR_INVALID, 0, "registry credential \"%s\" of realm \"%s\": %s", server, realm,
                      kk_json_str(r, "error")[0] != '\0' ? kk_json_str(r, "error")
                                                         : "the daemon did not apply it");
    } else {
        printf("Registry credential \"%s\" (realm \"%s\", username \"%s\")\n", server, realm, user);
        printf("  - credential: %s\n", strcmp(action, "unchanged") == 0 ? "unchanged"
                                       : existed                        ? "updated"
                                                                        : "created");
    }
    json_decref(reply);
    return rc;
}
