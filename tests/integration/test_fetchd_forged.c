/* kuke-fetchd against forged requests, driven the way the API worker drives it: the real binary started by
 * kk_helper_launch (its identity drop and sandbox included), this test on the other end of its socket.
 * Every malformed field is refused (DENIED, with a reason the caller can act on), audited, and nothing is
 * fetched: a TCP listener on 127.0.0.1 stands in for the registry every request names, and it must never
 * see a connection; the files handed over stay empty. Protocol violations (a FETCH without its fd, a
 * RESOLVE with one, an unknown request type) end the helper, as for every helper (fail-stop), with a
 * fatal audit line. The password of a request never appears in a reply or an audit line. And the running
 * helper is what its profile says: user kukeon-fetchd, no capability, no-new-privs, Seccomp 2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/config.h"
#include "common/util.h"
#include "ipc/client.h"
#include "ipc/fetchd_client.h"
#include "ipc/launch.h"
#include "security/sandbox.h"

#define D64      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define PASSWORD "s3cr3t-Forged-Pa55word"

struct fetchd_run {
    struct kk_helper_proc p;
    char *audit;
    size_t audit_len;
};

static struct {
    const char *skip;
    char tmp[512];
    int listener;      /* the "registry": must never see a connection */
    char registry[64]; /* "127.0.0.1:<port>" */
    struct fetchd_run main;
} T = {.listener = -1};

#define SKIP_UNLESS_READY()                                                                                  \
    do {                                                                                                     \
        if (T.skip != NULL) {                                                                                \
            printf("# SKIP %s\n", T.skip);                                                                   \
            fflush(stdout);                                                                                  \
            skip();                                                                                          \
        }                                                                                                    \
    } while (0)

static void audit_drain(struct fetchd_run *r)
{
    for (;;) {
        char buf[4096];
        ssize_t n = read(r->p.audit_fd, buf, sizeof(buf));
        if (n <= 0)
            return;
        char *a = realloc(r->audit, r->audit_len + (size_t)n + 1);
        if (a == NULL)
            return;
        r->audit = a;
        memcpy(r->audit + r->audit_len, buf, (size_t)n);
        r->audit_len += (size_t)n;
        r->audit[r->audit_len] = '\0';
    }
}

/* The last audit line, waiting up to a second for it to arrive. */
static const char *audit_last(struct fetchd_run *r, const char *must_contain)
{
    for (int i = 0; i < 100; i++) {
        audit_drain(r);
        if (r->audit != NULL && strstr(r->audit, must_contain) != NULL)
            break;
        usleep(10000);
    }
    if (r->audit == NULL)
        return "";
    size_t end = r->audit_len;
    while (end > 0 && r->audit[end - 1] == '\n')
        end--;
    size_t start = end;
    while (start > 0 && r->audit[start - 1] != '\n')
        start--;
    return r->audit + start;
}

static int fetchd_start(struct fetchd_run *r, struct kk_err *err)
{
    memset(r, 0, sizeof(*r));
    r->p.pid = -1;
    struct kk_config cfg;
    kk_config_defaults(&cfg);
    int cfd = kk_config_memfd(&cfg, err);
    if (cfd < 0)
        return -1;
    char path[700];
    snprintf(path, sizeof(path), "%s/libexec/kuke-fetchd", getenv("BUILD"));
    int rc = kk_helper_launch(path, cfd, -1, false, &r->p, err);
    close(cfd);
    if (rc < 0)
        return -1;
    char name[64];
    if (kk_ipc_hello(r->p.sock, "api", name, sizeof(name), err) < 0)
        return -1;
    if (strcmp(name, "kuke-fetchd") != 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "HELLO answered as %s", name);
    return 0;
}

/* Stop it and return its wait status. */
static int fetchd_stop(struct fetchd_run *r)
{
    int status = -1;
    if (r->p.pid > 0) {
        audit_drain(r);
        status = kk_helper_stop(&r->p, 5000);
    }
    free(r->audit);
    memset(r, 0, sizeof(*r));
    return status;
}

static bool listener_untouched(void)
{
    struct pollfd pfd = {.fd = T.listener, .events = POLLIN};
    return poll(&pfd, 1, 0) == 0;
}

static int group_setup(void **state)
{
    if (geteuid() != 0) {
        T.skip = "kuke-fetchd drops to user kukeon-fetchd: needs root (sudo make check)";
        return 0;
    }
    if (getenv("BUILD") == NULL) {
        T.skip = "BUILD is not set; run through tests/run.sh";
        return 0;
    }
    struct kk_err err = {0};
    if (kk_accounts_ensure(&err) < 0) {
        fprintf(stderr, "creating the system accounts: %s\n", err.msg);
        return -1;
    }
    const char *tmp = getenv("KUKEON_TEST_TMP");
    snprintf(T.tmp, sizeof(T.tmp), "%s/fetchd-forged.XXXXXX", tmp != NULL && tmp[0] ? tmp : "/var/tmp");
    if (mkdtemp(T.tmp) == NULL)
        return -1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    T.listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (T.listener < 0 || bind(T.listener, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(T.listener, 8) < 0 || getsockname(T.listener, (struct sockaddr *)&sa, &len) < 0)
        return -1;
    snprintf(T.registry, sizeof(T.registry), "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));
    if (fetchd_start(&T.main, &err) < 0) {
        fprintf(stderr, "starting kuke-fetchd: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    if (T.main.p.pid > 0)
        fetchd_stop(&T.main);
    if (T.listener >= 0)
        close(T.listener);
    if (T.tmp[0] != '\0') {
        char path[600];
        snprintf(path, sizeof(path), "%s/full", T.tmp);
        unlink(path);
        snprintf(path, sizeof(path), "%s/empty", T.tmp);
        unlink(path);
        rmdir(T.tmp);
    }
    return 0;
}

/* A valid source naming the stand-in registry; each case breaks one field. */
static void source_init(kk_fetchd_source *s, char *ref, size_t size)
{
    kukeon__ipc__fetchd__source__init(s);
    snprintf(ref, size, "%s/team/app:1.0", T.registry);
    s->ref = ref;
}

/* The request was refused with a reason containing want, audited as denied on op, and the password
 * shows up nowhere. */
static void expect_denied(int rc, const struct kk_err *err, const char *op, const char *want)
{
    if (rc == 0)
        fail_msg("%s: accepted; wanted a refusal containing \"%s\"", op, want);
    if (err->kind != KK_ERR_DENIED || strstr(err->msg, want) == NULL)
        fail_msg("%s: %s (%s); wanted DENIED containing \"%s\"", op, err->msg, kk_err_kind_name(err->kind),
                 want);
    assert_null(strstr(err->msg, PASSWORD));
    char key[64];
    snprintf(key, sizeof(key), "op=%s ", op);
    const char *line = audit_last(&T.main, "decision=denied");
    if (strstr(line, key) == NULL || strstr(line, "decision=denied") == NULL ||
        strstr(line, "reason=\"invalid-value: ") == NULL)
        fail_msg("%s: last audit line is \"%s\"", op, line);
    /* one line per decision: consume it so the next case reads its own */
    free(T.main.audit);
    T.main.audit = NULL;
    T.main.audit_len = 0;
    assert_true(kill(T.main.p.pid, 0) == 0); /* lives on */
}

static void test_resolve_refusals(void **state)
{
    SKIP_UNLESS_READY();
    struct {
        const char *field, *value, *want;
    } cases[] = {
        {"ref", "Team/App", "image reference"},
        {"ref", "a//b", "empty repository component"},
        {"ref", "nginx:", "tag after ':' is empty"},
        {"ref", "nginx@sha256:abc", "digest"},
        {"ref", "nginx\x01", "control"},
        {"ref", "kukeon.internal/kukepause:v1", "never pulled"},
        {"ref", "", "empty"},
        {"password-only", PASSWORD, "without a user name"},
        {"username", "us\x01er", "user name"},
        {"username", "us:er", "user name"},
        {"username", "user name", "user name"},
        {"password", "line\nbreak" PASSWORD, "password"},
        {"os", "Linux", "platform"},
        {"architecture", "amd64;rm", "platform"},
        {"variant", "v8v8v8v8v8v8v8v8v8v8v8v8v8v8v8v8v8", "platform"},
    };
    char big_user[400];
    memset(big_user, 'u', sizeof(big_user) - 1);
    big_user[sizeof(big_user) - 1] = '\0';
    for (size_t i = 0; i < KK_ARRAY_SIZE(cases) + 1; i++) {
        kk_fetchd_source s;
        char ref[128];
        source_init(&s, ref, sizeof(ref));
        const char *want;
        if (i == KK_ARRAY_SIZE(cases)) {
            s.username = big_user;
            want = "at most 256 bytes";
        } else {
            const char *f = cases[i].field;
            want = cases[i].want;
            if (strcmp(f, "ref") == 0) {
                s.ref = (char *)cases[i].value;
            } else if (strcmp(f, "password-only") == 0) {
                s.password = (char *)cases[i].value;
            } else if (strcmp(f, "username") == 0) {
                s.username = (char *)cases[i].value;
                s.password = PASSWORD;
            } else if (strcmp(f, "password") == 0) {
                s.username = "robot";
                s.password = (char *)cases[i].value;
            } else {
                s.username = "robot";
                s.password = PASSWORD;
                if (strcmp(f, "os") == 0)
                    s.os = (char *)cases[i].value;
                else if (strcmp(f, "architecture") == 0)
                    s.architecture = (char *)cases[i].value;
                else
                    s.variant = (char *)cases[i].value;
            }
        }
        Kukeon__Ipc__Fetchd__Resolved *reply = NULL;
        struct kk_err err = {0};
        int rc = kk_fetchd_resolve(T.main.p.sock, &s, &reply, &err);
        if (reply != NULL)
            protobuf_c_message_free_unpacked(&reply->base, NULL);
        expect_denied(rc, &err, "image.resolve", want);
    }
    assert_true(listener_untouched());
}

/* A FETCH as the API worker would send it, with any number of skip entries and any fd. */
static int raw_fetch(const kk_fetchd_source *s, const char *digest, char **skip, size_t n_skip, int fd,
                     struct kk_err *err)
{
    Kukeon__Ipc__Fetchd__Fetch req = KUKEON__IPC__FETCHD__FETCH__INIT;
    req.source = (kk_fetchd_source *)s;
    req.manifest_digest = (char *)digest;
    req.skip = skip;
    req.n_skip = n_skip;
    ProtobufCMessage *reply = NULL;
    int rc = kk_ipc_call(T.main.p.sock, KK_FETCHD_FETCH, &req.base, fd,
                         &kukeon__ipc__fetchd__fetch_reply__descriptor, &reply, err);
    if (reply != NULL)
        protobuf_c_message_free_unpacked(reply, NULL);
    return rc;
}

static void test_fetch_refusals(void **state)
{
    SKIP_UNLESS_READY();
    char path[600];
    snprintf(path, sizeof(path), "%s/empty", T.tmp);
    int out = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(out >= 0);
    kk_fetchd_source s;
    char ref[128];
    source_init(&s, ref, sizeof(ref));
    s.username = "robot";
    s.password = PASSWORD;
    struct kk_err err = {0};

    /* a manifest digest that is not sha256:<64 hex> */
    expect_denied(raw_fetch(&s, "sha256:xyz", NULL, 0, out, &err), &err, "image.fetch", "manifest digest");
    expect_denied(raw_fetch(&s, "sha512:" D64, NULL, 0, out, &err), &err, "image.fetch", "manifest digest");

    /* 300 skip entries, each valid: more than the bound */
    char **skip = calloc(300, sizeof(char *));
    assert_non_null(skip);
    for (size_t i = 0; i < 300; i++)
        skip[i] = "sha256:" D64;
    expect_denied(raw_fetch(&s, "sha256:" D64, skip, 300, out, &err), &err, "image.fetch", "at most 256");
    /* one bad entry among valid ones */
    skip[3] = "sha256:" D64 "/../x";
    expect_denied(raw_fetch(&s, "sha256:" D64, skip, 5, out, &err), &err, "image.fetch", "skip entry 3");
    free(skip);

    /* a bad source in a FETCH is refused the same way */
    s.ref = "UPPER/case";
    expect_denied(raw_fetch(&s, "sha256:" D64, NULL, 0, out, &err), &err, "image.fetch", "image reference");
    s.ref = ref;

    /* the descriptor: a directory, a file open read-only, a file that is not empty, a pipe */
    int dir = open(T.tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dir >= 0);
    expect_denied(raw_fetch(&s, "sha256:" D64, NULL, 0, dir, &err), &err, "image.fetch",
                  "not a regular file (it is a directory)");
    close(dir);
    int ro = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(ro >= 0);
    expect_denied(raw_fetch(&s, "sha256:" D64, NULL, 0, ro, &err), &err, "image.fetch",
                  "not open for writing");
    close(ro);
    char full_path[600];
    snprintf(full_path, sizeof(full_path), "%s/full", T.tmp);
    int full = open(full_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    assert_true(full >= 0);
    assert_int_equal(write(full, "old", 3), 3);
    expect_denied(raw_fetch(&s, "sha256:" D64, NULL, 0, full, &err), &err, "image.fetch", "not empty");
    close(full);
    int pfd[2];
    assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
    expect_denied(raw_fetch(&s, "sha256:" D64, NULL, 0, pfd[1], &err), &err, "image.fetch",
                  "not a regular file (it is a pipe)");
    close(pfd[0]);
    close(pfd[1]);

    /* nothing was fetched: no connection, nothing written */
    struct stat st;
    assert_int_equal(fstat(out, &st), 0);
    assert_int_equal(st.st_size, 0);
    close(out);
    assert_true(listener_untouched());
    /* and the password is in no audit line of this run */
    audit_drain(&T.main);
    if (T.main.audit != NULL)
        assert_null(strstr(T.main.audit, PASSWORD));
}

static void test_status_counts_denials(void **state)
{
    SKIP_UNLESS_READY();
    Kukeon__Ipc__StatusReply *st = NULL;
    struct kk_err err = {0};
    assert_int_equal(kk_ipc_status(T.main.p.sock, &st, &err), 0);
    assert_string_equal(st->helper, "kuke-fetchd");
    assert_true(st->uid != 0);
    /* 16 RESOLVE and 9 FETCH refusals above; none got as far as failing */
    assert_int_equal(st->requests_denied, 16 + 9);
    assert_int_equal(st->requests_failed, 0);
    protobuf_c_message_free_unpacked(&st->base, NULL);
}

/* The value of a /proc/PID/status field ("Uid:\t993\t993\t993\t993" -> "993\t993\t993\t993"). */
static bool proc_status(pid_t pid, const char *key, char *out, size_t size)
{
    char path[64], line[512];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    bool found = false;
    size_t klen = strlen(key);
    while (!found && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            const char *v = line + klen + 1;
            v += strspn(v, "\t ");
            snprintf(out, size, "%.*s", (int)strcspn(v, "\n"), v);
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* The running helper, as the kernel sees it: its own account (never root, not in group kukeon), no
 * capability, no-new-privs, a seccomp filter. */
static void test_running_identity(void **state)
{
    SKIP_UNLESS_READY();
    uid_t uid;
    gid_t gid;
    struct kk_err err = {0};
    assert_int_equal(kk_role_resolve_ids(KK_ROLE_FETCHD, &uid, &gid, &err), 0);
    assert_true(uid != 0 && gid != 0);
    char want[64], got[256];
    snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)uid, uid, uid, uid);
    assert_true(proc_status(T.main.p.pid, "Uid", got, sizeof(got)));
    assert_string_equal(got, want);
    snprintf(want, sizeof(want), "%u\t%u\t%u\t%u", (unsigned)gid, gid, gid, gid);
    assert_true(proc_status(T.main.p.pid, "Gid", got, sizeof(got)));
    assert_string_equal(got, want);
    assert_true(proc_status(T.main.p.pid, "Groups", got, sizeof(got)));
    assert_string_equal(got, "");
    static const char *const zero[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"};
    for (size_t i = 0; i < KK_ARRAY_SIZE(zero); i++) {
        assert_true(proc_status(T.main.p.pid, zero[i], got, sizeof(got)));
        assert_string_equal(got, "0000000000000000");
    }
    assert_true(proc_status(T.main.p.pid, "NoNewPrivs", got, sizeof(got)));
    assert_string_equal(got, "1");
    assert_true(proc_status(T.main.p.pid, "Seccomp", got, sizeof(got)));
    assert_string_equal(got, "2");
}

/* A protocol violation ends the helper with a fatal audit line, before anything is fetched. */
static void expect_fatal(const char *what, uint16_t type, const ProtobufCMessage *req, int fd)
{
    struct fetchd_run r;
    struct kk_err err = {0};
    if (fetchd_start(&r, &err) < 0)
        fail_msg("starting kuke-fetchd for %s: %s", what, err.msg);
    ProtobufCMessage *reply = NULL;
    int rc = kk_ipc_call(r.p.sock, type, req, fd, NULL, &reply, &err);
    assert_int_equal(rc, -1);
    const char *line = audit_last(&r, "decision=fatal");
    if (strstr(line, "decision=fatal") == NULL)
        fail_msg("%s: no fatal audit line; last: \"%s\"", what, line);
    int status = fetchd_stop(&r);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 1))
        fail_msg("%s: kuke-fetchd ended with status 0x%x, want exit 1", what, status);
}

static void test_protocol_violations_are_fatal(void **state)
{
    SKIP_UNLESS_READY();
    kk_fetchd_source s;
    char ref[128];
    source_init(&s, ref, sizeof(ref));
    Kukeon__Ipc__Fetchd__Fetch req = KUKEON__IPC__FETCHD__FETCH__INIT;
    req.source = &s;
    req.manifest_digest = "sha256:" D64;
    expect_fatal("a FETCH without its fd", KK_FETCHD_FETCH, &req.base, -1);
    char path[600];
    snprintf(path, sizeof(path), "%s/empty", T.tmp);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    expect_fatal("a RESOLVE with an fd", KK_FETCHD_RESOLVE, &s.base, fd);
    close(fd);
    expect_fatal("an unknown request type", 0x0403, &s.base, -1);
    assert_true(listener_untouched());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_running_identity),
        cmocka_unit_test(test_resolve_refusals),
        cmocka_unit_test(test_fetch_refusals),
        cmocka_unit_test(test_status_counts_denials),
        cmocka_unit_test(test_protocol_violations_are_fatal),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
