/* Unit tests for kukeond/doc.c: refused documents first (kinds, apiVersion, names, the root
 * container rules of kukeon-reference.md 1.4, the container rules of 3.6), then the defaults the
 * validator and the daemon fill, the pause root, and the status helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kukeond/doc.h"

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    if (v == NULL)
        fail_msg("bad test JSON (%s): %s", je.text, text);
    return v;
}

/* A cell in main/blog/default named web, with the given containers and extra spec members. */
static json_t *cell(const char *containers, const char *extra_spec)
{
    char buf[8192];
    snprintf(buf, sizeof(buf),
             "{\"kind\":\"Cell\",\"metadata\":{\"name\":\"web\"},\"spec\":{\"realmId\":\"main\",\"spaceId\":"
             "\"blog\","
             "\"stackId\":\"default\"%s%s,\"containers\":%s}}",
             extra_spec[0] ? "," : "", extra_spec, containers);
    return J(buf);
}

/* One container with an image, plus extra members. */
static json_t *cell1(const char *container_extra)
{
    char buf[4096];
    snprintf(buf, sizeof(buf), "[{\"id\":\"app\",\"image\":\"busybox\"%s%s}]", container_extra[0] ? "," : "",
             container_extra);
    return cell(buf, "");
}

static void expect_invalid(json_t *doc, const char *want)
{
    struct kk_err err;
    kk_err_clear(&err);
    int rc = kk_doc_validate(doc, &err);
    if (rc == 0)
        fail_msg("validated, expected an error containing: %s", want);
    assert_int_equal(err.kind, KK_ERR_INVALID);
    if (strstr(err.msg, want) == NULL)
        fail_msg("error\n  %s\ndoes not contain\n  %s", err.msg, want);
    json_decref(doc);
}

static void expect_valid(json_t *doc)
{
    struct kk_err err;
    kk_err_clear(&err);
    if (kk_doc_validate(doc, &err) < 0)
        fail_msg("expected valid, got: %s", err.msg);
}

/* ---- refusals ------------------------------------------------------------------------------- */

static void test_kinds_refused(void **state)
{
    (void)state;
    expect_invalid(J("{\"metadata\":{\"name\":\"a\"}}"), "kind is required");
    expect_invalid(J("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a\"}}"), "unknown kind: Pod");
    expect_invalid(J("{\"kind\":\"realm\",\"metadata\":{\"name\":\"a\"}}"), "unknown kind: realm");
    expect_invalid(J("{\"kind\":\"CellProfile\",\"metadata\":{\"name\":\"a\"}}"),
                   "unknown kind: CellProfile (the CellProfile kind was removed in #626");
    expect_invalid(J("{\"kind\":\"Real\\u001bm\"}"), "unknown kind: Real\\x1bm");
    expect_invalid(J("[1]"), "a document must be a mapping");
    const char *later[] = {"Secret", "CellBlueprint", "CellConfig", "Volume"};
    for (size_t i = 0; i < 4; i++) {
        char buf[128], want[64];
        snprintf(buf, sizeof(buf), "{\"kind\":\"%s\",\"metadata\":{\"name\":\"a\"}}", later[i]);
        snprintf(want, sizeof(want), "kind %s is not supported yet", later[i]);
        expect_invalid(J(buf), want);
    }
}

static void test_api_version_refused(void **state)
{
    (void)state;
    expect_invalid(J("{\"apiVersion\":\"v2\",\"kind\":\"Realm\",\"metadata\":{\"name\":\"a\"}}"),
                   "unsupported apiVersion: v2 (expected v1beta1)");
    expect_invalid(J("{\"apiVersion\":\"v1\",\"kind\":\"Cell\"}"),
                   "unsupported apiVersion: v1 (expected v1beta1)");
    expect_invalid(J("{\"apiVersion\":1,\"kind\":\"Realm\"}"),
                   "unsupported apiVersion: 1 (expected v1beta1)");
    expect_invalid(J("{\"apiVersion\":{},\"kind\":\"Realm\"}"), "apiVersion must be a string");
}

struct bad_case {
    const char *json;
    const char *want;
};

static void test_bad_names_and_fields(void **state)
{
    (void)state;
    const struct bad_case cases[] = {
        {"{\"kind\":\"Realm\"}", "metadata.name is required"},
        {"{\"kind\":\"Realm\",\"metadata\":{\"name\":\"\"}}", "metadata.name is required"},
        {"{\"kind\":\"Realm\",\"metadata\":{\"name\":\"a_b\"}}",
         "metadata.name: realm name \"a_b\" is invalid: it contains '_'"},
        {"{\"kind\":\"Realm\",\"metadata\":{\"name\":\"..\"}}",
         "metadata.name: realm name \"..\" is invalid"},
        {"{\"kind\":\"Realm\",\"metadata\":{\"name\":[]}}", "metadata.name must be a string"},
        {"{\"kind\":\"Realm\",\"metadata\":\"x\"}", "metadata must be a mapping"},
        {"{\"kind\":\"Realm\",\"metadata\":{\"name\":\"a\",\"labels\":[]}}",
         "metadata.labels must be a mapping"},
        {"{\"kind\":\"Realm\",\"metadata\":{\"name\":\"a\",\"labels\":{\"k\":{}}}}",
         "metadata.labels.k must be a string"},
        {"{\"kind\":\"Realm\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"registryCredentials\":[1]}}",
         "spec.registryCredentials[0] must be a mapping"},
        {"{\"kind\":\"Realm\",\"metadata\":{\"name\":\"a\"},\"status\":[]}", "status must be a mapping"},
        {"{\"kind\":\"Space\",\"metadata\":{\"name\":\"s\"}}", "spec.realmId is required"},
        {"{\"kind\":\"Space\",\"metadata\":{\"name\":\"s/x\"},\"spec\":{\"realmId\":\"r\"}}",
         "metadata.name: space name \"s/x\" is invalid: it contains '/'"},
        {"{\"kind\":\"Space\",\"metadata\":{\"name\":\"s\"},\"spec\":{\"realmId\":\"r r\"}}",
         "spec.realmId: realm name \"r r\" is invalid: it contains a space"},
        {"{\"kind\":\"Space\",\"metadata\":{\"name\":\"s\"},\"spec\":{\"realmId\":\"r\",\"network\":{"
         "\"egress\":{"
         "\"default\":\"maybe\"}}}}",
         "spec.network.egress.default must be 'allow' or 'deny', got \"maybe\""},
        {"{\"kind\":\"Space\",\"metadata\":{\"name\":\"s\"},\"spec\":{\"realmId\":\"r\",\"network\":{"
         "\"egress\":{"
         "\"allow\":[{\"ports\":[80]}]}}}}",
         "spec.network.egress.allow[0] requires exactly one of host or cidr"},
        {"{\"kind\":\"Space\",\"metadata\":{\"name\":\"s\"},\"spec\":{\"realmId\":\"r\",\"network\":{"
         "\"egress\":{"
         "\"allow\":[{\"host\":\"a.b\",\"cidr\":\"10.0.0.0/8\"}]}}}}",
         "must not set both host and cidr"},
        {"{\"kind\":\"Space\",\"metadata\":{\"name\":\"s\"},\"spec\":{\"realmId\":\"r\",\"network\":{"
         "\"egress\":{"
         "\"allow\":[{\"cidr\":\"10.0.0.0/33\"}]}}}}",
         "spec.network.egress.allow[0].cidr \"10.0.0.0/33\" is not a valid CIDR"},
        {"{\"kind\":\"Space\",\"metadata\":{\"name\":\"s\"},\"spec\":{\"realmId\":\"r\",\"network\":{"
         "\"egress\":{"
         "\"allow\":[{\"host\":\"a..b\"}]}}}}",
         "spec.network.egress.allow[0].host \"a..b\" is not a valid DNS name"},
        {"{\"kind\":\"Space\",\"metadata\":{\"name\":\"s\"},\"spec\":{\"realmId\":\"r\",\"network\":{"
         "\"egress\":{"
         "\"allow\":[{\"host\":\"a.b\",\"ports\":[0]}]}}}}",
         "spec.network.egress.allow[0].ports[0] must be a port number within [1, 65535]"},
        {"{\"kind\":\"Space\",\"metadata\":{\"name\":\"s\"},\"spec\":{\"realmId\":\"r\",\"defaults\":{"
         "\"container\":{"
         "\"readOnlyRootFilesystem\":\"yes\"}}}}",
         "spec.defaults.container.readOnlyRootFilesystem must be true or false"},
        {"{\"kind\":\"Stack\",\"metadata\":{\"name\":\"t\"},\"spec\":{\"realmId\":\"r\"}}",
         "spec.spaceId is required"},
        {"{\"kind\":\"Stack\",\"metadata\":{\"name\":\"t\"},\"spec\":{\"realmId\":\"r\",\"spaceId\":\"-s\"}}",
         "spec.spaceId: space name \"-s\" is invalid: it starts with '-'"},
        {"{\"kind\":\"Stack\",\"metadata\":{\"name\":\"t\"},\"spec\":{\"id\":\"u\",\"realmId\":\"r\","
         "\"spaceId\":\"s\"}}",
         "spec.id \"u\" differs from metadata.name \"t\""},
        {"{\"kind\":\"Cell\",\"metadata\":{\"name\":\"c\"},\"spec\":{\"realmId\":\"r\",\"spaceId\":\"s\"}}",
         "spec.stackId is required"},
        {"{\"kind\":\"Cell\",\"metadata\":{\"name\":\"c\"},\"spec\":{\"realmId\":\"r\",\"spaceId\":\"s\","
         "\"stackId\":"
         "\"t\"}}",
         "spec.containers is required and cannot be empty"},
        {"{\"kind\":\"Cell\",\"metadata\":{\"name\":\"c\"},\"spec\":{\"realmId\":\"r\",\"spaceId\":\"s\","
         "\"stackId\":"
         "\"t\",\"containers\":[]}}",
         "spec.containers is required and cannot be empty"},
        {"{\"kind\":\"Cell\",\"metadata\":{\"name\":\"c.\"},\"spec\":{\"realmId\":\"r\",\"spaceId\":\"s\","
         "\"stackId\":"
         "\"t\",\"containers\":[{\"id\":\"a\",\"image\":\"i\"}]}}",
         "metadata.name: cell name \"c.\" is invalid: it ends with '.'"},
        {"{\"kind\":\"Cell\",\"metadata\":{\"name\":\"c\"},\"spec\":{\"realmId\":\"r\",\"spaceId\":\"s\","
         "\"stackId\":"
         "\"t\",\"containers\":{}}}",
         "spec.containers must be a list"},
        {"{\"kind\":\"Container\",\"metadata\":{\"name\":\"x\"},\"spec\":{\"realmId\":\"r\",\"spaceId\":"
         "\"s\","
         "\"stackId\":\"t\",\"image\":\"i\"}}",
         "spec.cellId is required"},
        {"{\"kind\":\"Container\",\"metadata\":{\"name\":\"x\"},\"spec\":{\"realmId\":\"r\",\"spaceId\":"
         "\"s\","
         "\"stackId\":\"t\",\"cellId\":\"c\"}}",
         "spec.image is required"},
        {"{\"kind\":\"Container\",\"metadata\":{\"name\":\"x_y\"},\"spec\":{\"realmId\":\"r\",\"spaceId\":"
         "\"s\","
         "\"stackId\":\"t\",\"cellId\":\"c\",\"image\":\"i\"}}",
         "metadata.name: container name \"x_y\" is invalid"},
        {"{\"kind\":\"Container\",\"metadata\":{\"name\":\"root\"},\"spec\":{\"realmId\":\"r\",\"spaceId\":"
         "\"s\","
         "\"stackId\":\"t\",\"cellId\":\"c\",\"image\":\"i\"}}",
         "metadata.name \"root\" is reserved for the cell's pause root container"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_invalid(J(cases[i].json), cases[i].want);
}

/* The longest names pass one by one; together they make a containerd id over 76 characters. */
static void test_containerd_id_limit(void **state)
{
    (void)state;
    char buf[2048], n40[41];
    memset(n40, 'a', 40);
    n40[40] = '\0';
    snprintf(
        buf, sizeof(buf),
        "{\"kind\":\"Cell\",\"metadata\":{\"name\":\"%s\"},\"spec\":{\"realmId\":\"r\",\"spaceId\":\"%s\","
        "\"stackId\":\"t\",\"containers\":[{\"id\":\"a\",\"image\":\"i\"}]}}",
        n40, n40);
    expect_invalid(J(buf), "over containerd's limit of 76");
    snprintf(
        buf, sizeof(buf),
        "{\"kind\":\"Cell\",\"metadata\":{\"name\":\"c\"},\"spec\":{\"realmId\":\"r\",\"spaceId\":\"%s\","
        "\"stackId\":\"t\",\"containers\":[{\"id\":\"%s\",\"image\":\"i\"}]}}",
        n40, n40);
    expect_invalid(J(buf), "spec.containers[0]: containerd id \"");
}

static void test_root_rules(void **state)
{
    (void)state;
    expect_invalid(
        cell("[{\"id\":\"a\",\"image\":\"i\",\"root\":true},{\"id\":\"b\",\"image\":\"i\",\"root\":true}]",
             ""),
        "spec.containers: only one container in a cell may have root: true (\"a\" and \"b\" both do)");
    expect_invalid(cell("[{\"id\":\"a\",\"image\":\"i\"}]", "\"rootContainerId\":\"zz\""),
                   "spec.rootContainerId \"zz\" not found in containers array");
    expect_invalid(
        cell("[{\"id\":\"a\",\"image\":\"i\"},{\"id\":\"b\",\"image\":\"i\",\"root\":true}]",
             "\"rootContainerId\":\"a\""),
        "spec.rootContainerId disagrees with container marked root: true: rootContainerId is \"a\" but "
        "container \"b\" has root: true");
    expect_invalid(cell("[{\"id\":\"a\",\"image\":\"i\",\"root\":true},{\"id\":\"b\",\"image\":\"i\","
                        "\"hostNetwork\":true}]",
                        ""),
                   "spec.rootContainerId: explicit rootContainerId must have hostNetwork: true when any cell "
                   "container has hostNetwork: true: rootContainerId \"a\"");
    expect_invalid(
        cell("[{\"id\":\"a\",\"image\":\"i\"},{\"id\":\"b\",\"image\":\"i\",\"hostNetwork\":true}]",
             "\"rootContainerId\":\"a\""),
        "explicit rootContainerId must have hostNetwork: true");
    expect_invalid(
        cell("[{\"id\":\"a\",\"image\":\"i\"},{\"id\":\"root\",\"image\":\"i\"}]", ""),
        "spec.containers[1] has id \"root\", which is reserved for the cell's pause root container");
    expect_invalid(cell("[{\"id\":\"a\",\"image\":\"i\"},{\"id\":\"a\",\"image\":\"j\"}]", ""),
                   "spec.containers[1].id \"a\" is used by spec.containers[0] too");
    expect_invalid(cell("[{\"id\":\"a\",\"image\":\"i\"}]", "\"tty\":{\"default\":\"b\"}"),
                   "spec.tty.default \"b\" does not match any container in this cell");
    expect_invalid(cell("[{\"id\":\"a\",\"image\":\"i\"}]", "\"tty\":{\"default\":\"a\"}"),
                   "spec.tty.default \"a\" references container that is not attachable");

    /* The single root: true container becomes the root. */
    json_t *c = cell("[{\"id\":\"a\",\"image\":\"i\"},{\"id\":\"b\",\"image\":\"i\",\"root\":true}]", "");
    expect_valid(c);
    assert_string_equal(kk_cell_root_id(c), "b");
    json_decref(c);
    /* An explicit rootContainerId naming a container; a host-network root with host-network peers. */
    c = cell("[{\"id\":\"a\",\"image\":\"i\",\"hostNetwork\":true},{\"id\":\"b\",\"image\":\"i\","
             "\"hostNetwork\":true}]",
             "\"rootContainerId\":\"a\"");
    expect_valid(c);
    assert_string_equal(kk_cell_root_id(c), "a");
    json_decref(c);
    /* A container named root may be the root. */
    c = cell("[{\"id\":\"root\",\"image\":\"i\",\"root\":true},{\"id\":\"b\",\"image\":\"i\"}]", "");
    expect_valid(c);
    assert_string_equal(kk_cell_root_id(c), "root");
    json_decref(c);
    /* No root at all: left for the daemon to synthesize. */
    c = cell1("");
    expect_valid(c);
    assert_string_equal(kk_cell_root_id(c), "");
    json_decref(c);
    c = cell1("\"attachable\":true");
    json_object_set_new(kk_doc_spec(c), "tty", json_pack("{s:s}", "default", "app"));
    expect_valid(c);
    json_decref(c);
}

/* kukeon-reference.md 3.6, one case per rule. */
static void test_container_rules(void **state)
{
    (void)state;
    const struct bad_case cases[] = {
        {"\"image\":\"\"", "spec.containers[0].image is required"},
        {"\"image\":[]", "spec.containers[0].image must be a string"},
        {"\"args\":[{}]", "spec.containers[0].args[0] must be a string"},
        {"\"env\":\"A=1\"", "spec.containers[0].env must be a list"},
        {"\"privileged\":\"true\"", "spec.containers[0].privileged must be true or false"},
        {"\"hostPID\":1", "spec.containers[0].hostPID must be true or false"},
        {"\"realmId\":\"other\"",
         "spec.containers[0].realmId \"other\" differs from the cell's spec.realmId \"main\""},
        {"\"cellId\":\"other\"",
         "spec.containers[0].cellId \"other\" differs from the cell's metadata.name \"web\""},
        {"\"volumes\":[{\"kind\":\"nfs\",\"target\":\"/x\"}]",
         "spec.containers[0].volumes[0].kind \"nfs\" is not recognized; expected \"\", \"bind\", \"tmpfs\" "
         "or \"volume\""},
        {"\"volumes\":[{\"kind\":\"tmpfs\",\"source\":\"/x\",\"target\":\"/y\"}]",
         "spec.containers[0].volumes[0].source must be empty: a tmpfs mount is in memory"},
        {"\"volumes\":[{\"kind\":\"volume\",\"source\":\"v\",\"volumeRef\":{\"name\":\"v\",\"realm\":\"r\"},"
         "\"target\":"
         "\"/d\"}]",
         "spec.containers[0].volumes[0] must set exactly one of source (same-scope name) or volumeRef "
         "(cross-scope)"},
        {"\"volumes\":[{\"kind\":\"volume\",\"target\":\"/d\"}]",
         "spec.containers[0].volumes[0] must set either source (same-scope name) or volumeRef (cross-scope)"},
        {"\"volumes\":[{\"kind\":\"volume\",\"source\":\"/srv\",\"target\":\"/d\"}]",
         "spec.containers[0].volumes[0].source must be a Volume name, not an absolute path"},
        {"\"volumes\":[{\"kind\":\"volume\",\"source\":\"a/../b\",\"target\":\"/d\"}]",
         "spec.containers[0].volumes[0].source \"a/../b\" is unsafe"},
        {"\"volumes\":[{\"kind\":\"volume\",\"source\":\"v\",\"target\":\"d\"}]",
         "spec.containers[0].volumes[0].target must be an absolute container path (got \"d\")"},
        {"\"volumes\":[{\"kind\":\"volume\",\"source\":\"v\"}]",
         "spec.containers[0].volumes[0].target is required"},
        {"\"volumes\":[{\"kind\":\"volume\",\"volumeRef\":{\"name\":\"v\"},\"target\":\"/d\"}]",
         "spec.containers[0].volumes[0].volumeRef.realm is required"},
        {"\"volumes\":[{\"kind\":\"volume\",\"volumeRef\":{\"name\":\"v\",\"realm\":\"r\",\"stack\":\"t\"},"
         "\"target\":"
         "\"/d\"}]",
         "volumeRef scope is incomplete: stack set without space"},
        {"\"volumes\":[{\"source\":\"/a\",\"target\":\"/b\",\"volumeRef\":{\"name\":\"v\",\"realm\":\"r\"}}]",
         "spec.containers[0].volumes[0] volumeRef is only valid on a kind: volume mount"},
        {"\"volumes\":[{\"source\":\"/a\",\"target\":\"/b\",\"mode\":-1}]",
         "spec.containers[0].volumes[0].mode must be between 0 and 4294967295, got -1"},
        {"\"restartPolicy\":\"always\",\"restartBackoffSeconds\":-1",
         "spec.containers[0].restartBackoffSeconds must be >= 0, got -1"},
        {"\"restartBackoffSeconds\":5", "spec.containers[0].restartBackoffSeconds requires restartPolicy "
                                        "\"always\" or \"on-failure\", got \"\""},
        {"\"restartPolicy\":\"never\",\"restartBackoffSeconds\":5",
         "restartBackoffSeconds requires restartPolicy \"always\" or \"on-failure\", got \"never\""},
        {"\"restartPolicy\":\"on-failure\",\"restartMaxRetries\":0",
         "spec.containers[0].restartMaxRetries must be >= 1, got 0"},
        {"\"restartPolicy\":\"always\",\"restartMaxRetries\":3",
         "spec.containers[0].restartMaxRetries requires restartPolicy \"on-failure\", got \"always\""},
        {"\"restartPolicy\":\"always\",\"restartBackoffSeconds\":\"5\"",
         "spec.containers[0].restartBackoffSeconds must be an integer"},
        {"\"tty\":{\"prompt\":\"$ \"}", "spec.containers[0].tty fields require attachable: true"},
        {"\"tty\":{\"onInit\":[{\"script\":\"x\"}]}",
         "spec.containers[0].tty fields require attachable: true"},
        {"\"attachable\":true,\"tty\":{\"logLevel\":\"verbose\"}",
         "spec.containers[0].tty.logLevel \"verbose\": must be one of debug, info, warn, error"},
        {"\"attachable\":true,\"tty\":{\"onInit\":[{\"script\":\"x\",\"runOn\":\"craete\"}]}",
         "spec.containers[0].tty.onInit[0].runOn \"craete\": must be one of \"start\", \"create\" (or "
         "empty)"},
        {"\"attachable\":true,\"tty\":{\"onInit\":[{\"script\":\"x\",\"runOn\":\"create\"}]}",
         "spec.containers[0].tty onInit has runOn: \"create\" stages but the container has no persistent "
         "writable "
         "mount"},
        {"\"attachable\":true,\"tty\":{\"onInit\":[{\"runOn\":\"create\"}]},\"volumes\":[{\"source\":\"/a\","
         "\"target\":\"/b\",\"readOnly\":true},{\"kind\":\"tmpfs\",\"target\":\"/t\"}]",
         "has no persistent writable mount"},
        {"\"repos\":[{\"name\":\"r\",\"target\":\"/src\",\"url\":\"u\",\"branch\":\"main\",\"ref\":\"abc\"}]",
         "spec.containers[0].repos[0] cannot set both branch and ref"},
        {"\"repos\":[{\"name\":\"r\",\"target\":\"src\",\"url\":\"u\"}]",
         "spec.containers[0].repos[0].target must be an absolute container path"},
        {"\"repos\":[{\"name\":\"r\",\"target\":\"/src\"}]", "spec.containers[0].repos[0].url is required"},
        {"\"repos\":[{\"target\":\"/src\",\"url\":\"u\"}]", "spec.containers[0].repos[0].name is required"},
        {"\"secrets\":[{\"name\":\"s\"}]",
         "spec.containers[0].secrets[0] must set exactly one of fromFile, fromEnv, or secretRef"},
        {"\"secrets\":[{\"name\":\"s\",\"fromFile\":\"/f\",\"fromEnv\":\"E\"}]",
         "spec.containers[0].secrets[0] must set exactly one of fromFile, fromEnv, or secretRef"},
        {"\"secrets\":[{\"fromEnv\":\"E\"}]", "spec.containers[0].secrets[0].name is required"},
        {"\"secrets\":[{\"name\":\"s\",\"fromEnv\":\"E\",\"mountPath\":\"run/s\"}]",
         "spec.containers[0].secrets[0].mountPath must be an absolute container path (got \"run/s\")"},
        {"\"secrets\":[{\"name\":\"s\",\"secretRef\":{\"name\":\"x\"}}]",
         "spec.containers[0].secrets[0].secretRef.realm is required"},
        {"\"secrets\":[{\"name\":\"s\",\"secretRef\":{\"name\":\"x\",\"realm\":\"r\",\"cell\":\"c\"}}]",
         "secretRef scope is incomplete: cell set without stack"},
        {"\"secrets\":[{\"name\":\"s\",\"secretRef\":{\"name\":\"..\",\"realm\":\"r\"}}]",
         "spec.containers[0].secrets[0].secretRef.name \"..\" is unsafe"},
        {"\"git\":{\"author\":{\"name\":\"a\"}}",
         "spec.containers[0].git.author requires both name and email"},
        {"\"git\":{\"sign\":[\"everything\"],\"signingKey\":\"k\"}",
         "spec.containers[0].git.sign[0] \"everything\": must be one of \"commits\", \"tags\""},
        {"\"git\":{\"sign\":[\"commits\"]}", "spec.containers[0].git.sign requires git.signingKey to be set"},
        {"\"tmpfs\":[{\"path\":\"tmp\"}]",
         "spec.containers[0].tmpfs[0].path must be an absolute container path"},
        {"\"resources\":{\"pidsLimit\":\"many\"}",
         "spec.containers[0].resources.pidsLimit must be an integer"},
        {"\"capabilities\":{\"add\":\"NET_ADMIN\"}", "spec.containers[0].capabilities.add must be a list"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_invalid(cell1(cases[i].json), cases[i].want);

    /* What the rules allow. */
    const char *fine[] = {
        "\"restartPolicy\":\"on-failure\",\"restartMaxRetries\":1,\"restartBackoffSeconds\":0",
        "\"restartPolicy\":\"whatever\"", /* unknown policies are not refused (reference 3.6) */
        "\"attachable\":true,\"tty\":{\"logLevel\":\"warn\",\"onInit\":[{\"script\":\"x\",\"runOn\":"
        "\"create\"}]},"
        "\"volumes\":[{\"source\":\"/srv\",\"target\":\"/srv\"}]",
        "\"tty\":{\"prompt\":\"\",\"onInit\":[{}]}",                   /* an empty tty is not a tty field */
        "\"volumes\":[{\"source\":\"relative\",\"target\":\"also\"}]", /* bind stays lenient */
        "\"volumes\":[{\"kind\":\"volume\",\"volumeRef\":{\"name\":\"v\",\"realm\":\"r\",\"space\":\"s\"},"
        "\"target\":\"/d\",\"ensure\":true}]",
        "\"secrets\":[{\"name\":\"s\",\"secretRef\":{\"name\":\"x\",\"realm\":\"r\",\"space\":\"s\","
        "\"stack\":\"t\","
        "\"cell\":\"c\"},\"mountPath\":\"/run/s\"}]",
        "\"git\":{\"author\":{\"name\":\"a\",\"email\":\"e\"},\"sign\":[\"commits\",\"tags\"],\"signingKey\":"
        "\"k\"}",
        "\"someFutureField\":{\"kept\":true}",
    };
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        json_t *c = cell1(fine[i]);
        expect_valid(c);
        json_decref(c);
    }
}

/* ---- defaults -------------------------------------------------------------------------------- */

static void test_validate_defaults(void **state)
{
    (void)state;
    json_t *c = cell1("\"args\":[1,true,\"x\"],\"user\":1000");
    json_object_set_new(kk_doc_metadata(c), "labels", json_pack("{s:i}", "n", 5));
    expect_valid(c);
    assert_string_equal(kk_json_str(c, "apiVersion"), "v1beta1");
    json_t *spec = kk_doc_spec(c);
    assert_string_equal(kk_json_str(spec, "id"), "web");
    json_t *app = kk_cell_container(c, "app");
    assert_non_null(app);
    assert_string_equal(kk_json_str(app, "realmId"), "main");
    assert_string_equal(kk_json_str(app, "spaceId"), "blog");
    assert_string_equal(kk_json_str(app, "stackId"), "default");
    assert_string_equal(kk_json_str(app, "cellId"), "web");
    /* Plain YAML scalars in string fields become their text, as Go's decoder does. */
    assert_string_equal(kk_json_str(app, "user"), "1000");
    json_t *args = json_object_get(app, "args");
    assert_string_equal(json_string_value(json_array_get(args, 0)), "1");
    assert_string_equal(json_string_value(json_array_get(args, 1)), "true");
    assert_string_equal(kk_json_str(json_object_get(kk_doc_metadata(c), "labels"), "n"), "5");
    /* Canonical order of the top level. */
    const char *want[] = {"apiVersion", "kind", "metadata", "spec"};
    size_t i = 0;
    const char *key;
    json_t *val;
    json_object_foreach(c, key, val)
    {
        assert_true(i < 4);
        assert_string_equal(key, want[i++]);
    }
    /* Validation is idempotent. */
    json_t *copy = json_deep_copy(c);
    expect_valid(c);
    assert_true(json_equal(c, copy));
    json_decref(copy);
    json_decref(c);

    json_t *stack = J(
        "{\"kind\":\"Stack\",\"metadata\":{\"name\":\"t\"},\"spec\":{\"realmId\":\"r\",\"spaceId\":\"s\"}}");
    expect_valid(stack);
    assert_string_equal(kk_json_str(kk_doc_spec(stack), "id"), "t");
    json_decref(stack);

    json_t *ctr =
        J("{\"kind\":\"Container\",\"metadata\":{\"name\":\"x\"},\"spec\":{\"realmId\":\"r\",\"spaceId\":"
          "\"s\",\"stackId\":\"t\",\"cellId\":\"c\",\"image\":\"i\"}}");
    expect_valid(ctr);
    assert_string_equal(kk_json_str(kk_doc_spec(ctr), "id"), "x");
    struct kk_derive_names names;
    struct kk_err err;
    assert_int_equal(kk_doc_names(ctr, &names, &err), 0);
    assert_string_equal(names.cell, "c");
    assert_string_equal(names.container, "x");
    json_decref(ctr);
}

static void test_complete(void **state)
{
    (void)state;
    struct kk_err err;
    struct kk_derive_config cfg = {.run_path = "/var/lib/kk", .ns_suffix = "test.io"};

    json_t *realm = J("{\"kind\":\"Realm\",\"metadata\":{\"name\":\"main\"}}");
    expect_valid(realm);
    assert_int_equal(kk_doc_complete(realm, &cfg, &err), 0);
    assert_string_equal(kk_json_str(kk_doc_spec(realm), "namespace"), "main.test.io");
    assert_string_equal(kk_json_str(json_object_get(kk_doc_metadata(realm), "labels"), "realm.kukeon.io"),
                        "main.test.io");
    json_decref(realm);

    realm = J("{\"kind\":\"Realm\",\"metadata\":{\"name\":\"main\"},\"spec\":{\"namespace\":\"other.ns\"}}");
    expect_valid(realm);
    assert_int_equal(kk_doc_complete(realm, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "spec.namespace \"other.ns\" is not supported"));
    assert_non_null(strstr(err.msg, "\"main.test.io\""));
    json_decref(realm);

    json_t *space =
        J("{\"kind\":\"Space\",\"metadata\":{\"name\":\"blog\",\"labels\":{\"space.kukeon.io\":\"mine\"}},"
          "\"spec\":{\"realmId\":\"main\"}}");
    expect_valid(space);
    assert_int_equal(kk_doc_complete(space, &cfg, &err), 0);
    assert_string_equal(kk_json_str(kk_doc_spec(space), "cniConfigPath"),
                        "/var/lib/kk/data/main/blog/network.conflist");
    json_t *labels = json_object_get(kk_doc_metadata(space), "labels");
    assert_string_equal(kk_json_str(labels, "realm.kukeon.io"), "main");
    assert_string_equal(kk_json_str(labels, "space.kukeon.io"), "mine"); /* the author's value stays */
    json_decref(space);

    space = J("{\"kind\":\"Space\",\"metadata\":{\"name\":\"blog\"},\"spec\":{\"realmId\":\"main\","
              "\"cniConfigPath\":"
              "\"/etc/cni/net.d/x.conflist\"}}");
    expect_valid(space);
    assert_int_equal(kk_doc_complete(space, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "spec.cniConfigPath \"/etc/cni/net.d/x.conflist\" is not supported"));
    json_decref(space);

    json_t *c = cell1("");
    expect_valid(c);
    assert_int_equal(kk_doc_complete(c, NULL, &err), 0);
    assert_string_equal(kk_json_str(kk_cell_container(c, "app"), "containerdId"), "blog_default_web_app");
    labels = json_object_get(kk_doc_metadata(c), "labels");
    assert_string_equal(kk_json_str(labels, "cell.kukeon.io"), "web");
    assert_string_equal(kk_json_str(labels, "stack.kukeon.io"), "default");
    json_decref(c);

    c = cell1("\"containerdId\":\"x_y_z_w\"");
    expect_valid(c);
    assert_int_equal(kk_doc_complete(c, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "spec.containers[0].containerdId \"x_y_z_w\" is not supported"));
    json_decref(c);
}

static void test_pause_root(void **state)
{
    (void)state;
    struct kk_err err;
    const struct kk_pause_root pause = {"kukeon.internal/pause:v1", "/.kukeon/bin/kukepause",
                                        "/opt/kukeon/bin/kukepause"};
    json_t *c =
        cell("[{\"id\":\"a\",\"image\":\"i\"},{\"id\":\"b\",\"image\":\"i\",\"hostNetwork\":true}]", "");
    expect_valid(c);
    assert_int_equal(kk_cell_add_pause_root(c, NULL, &err), -1);
    assert_int_equal(kk_cell_add_pause_root(c, &pause, &err), 0);
    assert_string_equal(kk_cell_root_id(c), "root");
    json_t *root = kk_cell_container(c, "root");
    assert_non_null(root);
    assert_true(kk_json_bool(root, "root"));
    assert_true(kk_json_bool(root, "hostNetwork"));
    assert_string_equal(kk_json_str(root, "containerdId"), "blog_default_web_root");
    assert_string_equal(kk_json_str(root, "command"), "/.kukeon/bin/kukepause");
    json_t *vol = json_array_get(json_object_get(root, "volumes"), 0);
    assert_string_equal(kk_json_str(vol, "source"), "/opt/kukeon/bin/kukepause");
    assert_true(kk_json_bool(vol, "readOnly"));
    /* The cell with its root is still valid (as stored), and a second call changes nothing. */
    expect_valid(c);
    size_t n = json_array_size(kk_cell_containers(c));
    assert_int_equal(kk_cell_add_pause_root(c, &pause, &err), 0);
    assert_int_equal(json_array_size(kk_cell_containers(c)), n);
    json_decref(c);

    /* An image that carries kukepause: no bind mount. */
    const struct kk_pause_root in_image = {"kukeon.internal/pause:v1", "/kukepause", NULL};
    c = cell1("");
    expect_valid(c);
    assert_int_equal(kk_cell_add_pause_root(c, &in_image, &err), 0);
    assert_null(json_object_get(kk_cell_container(c, "root"), "volumes"));
    assert_null(json_object_get(kk_cell_container(c, "root"), "hostNetwork"));
    json_decref(c);
}

static void test_new_and_names(void **state)
{
    (void)state;
    struct kk_err err;
    struct kk_derive_names names = {"main", "blog", "default", "web", NULL};
    assert_null(kk_doc_new(KK_KIND_SECRET, &names, &err));
    struct kk_derive_names partial = {"main", NULL, NULL, NULL, NULL};
    assert_null(kk_doc_new(KK_KIND_STACK, &partial, &err));
    assert_string_equal(err.msg, "space name is required");
    for (int k = KK_KIND_REALM; k <= KK_KIND_STACK; k++) {
        json_t *d = kk_doc_new((enum kk_kind)k, &names, &err);
        assert_non_null(d);
        expect_valid(d);
        struct kk_derive_names got;
        assert_int_equal(kk_doc_names(d, &got, &err), 0);
        assert_string_equal(got.realm, "main");
        json_decref(d);
    }
    json_t *c = kk_doc_new(KK_KIND_CELL, &names, &err);
    assert_non_null(c);
    assert_string_equal(kk_doc_name(c), "web");
    json_array_append_new(kk_cell_containers(c), json_pack("{s:s, s:s}", "id", "a", "image", "i"));
    expect_valid(c);
    json_decref(c);
}

static void test_status_helpers(void **state)
{
    (void)state;
    json_t *c = J("{\"kind\":\"Cell\",\"status\":{\"state\":7}}");
    assert_string_equal(kk_doc_state(c), "Degraded");
    json_object_set_new(kk_doc_status(c), "state", json_integer(8));
    assert_string_equal(kk_doc_state(c), "");
    json_object_set_new(kk_doc_status(c), "state", json_string("Ready"));
    assert_string_equal(kk_doc_state(c), "Ready");
    json_t *s = json_integer(1);
    assert_string_equal(kk_state_name(KK_KIND_REALM, s), "Creating");
    assert_string_equal(kk_state_name(KK_KIND_SPACE, s), "Ready");
    assert_string_equal(kk_state_name(KK_KIND_CONTAINER, s), "Ready");
    json_decref(s);
    s = json_integer(7);
    assert_string_equal(kk_state_name(KK_KIND_CONTAINER, s), "NotCreated");
    json_decref(s);

    char buf[40];
    struct timespec t = {1795723300, 500000000};
    assert_int_equal(kk_time_format(&t, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2026-11-26T20:01:40.5Z");
    t.tv_nsec = 0;
    assert_int_equal(kk_time_format(&t, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2026-11-26T20:01:40Z");
    t.tv_nsec = 123456789;
    assert_int_equal(kk_time_format(&t, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2026-11-26T20:01:40.123456789Z");

    /* createdAt once, updatedAt always, readyAt once when Ready. */
    json_object_set_new(c, "status",
                        json_pack("{s:s, s:s}", "state", "Pending", "createdAt", "0001-01-01T00:00:00Z"));
    struct timespec t1 = {1795723300, 0}, t2 = {1795723400, 0};
    assert_int_equal(kk_doc_stamp_lifecycle(c, &t1), 0);
    assert_string_equal(kk_json_str(kk_doc_status(c), "createdAt"), "2026-11-26T20:01:40Z");
    assert_null(json_object_get(kk_doc_status(c), "readyAt"));
    json_object_set_new(kk_doc_status(c), "state", json_string("Ready"));
    assert_int_equal(kk_doc_stamp_lifecycle(c, &t2), 0);
    assert_string_equal(kk_json_str(kk_doc_status(c), "createdAt"), "2026-11-26T20:01:40Z");
    assert_string_equal(kk_json_str(kk_doc_status(c), "updatedAt"), "2026-11-26T20:03:20Z");
    assert_string_equal(kk_json_str(kk_doc_status(c), "readyAt"), "2026-11-26T20:03:20Z");
    assert_int_equal(kk_doc_stamp_lifecycle(c, &t1), 0);
    assert_string_equal(kk_json_str(kk_doc_status(c), "readyAt"), "2026-11-26T20:03:20Z");
    json_decref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds_refused),        cmocka_unit_test(test_api_version_refused),
        cmocka_unit_test(test_bad_names_and_fields), cmocka_unit_test(test_containerd_id_limit),
        cmocka_unit_test(test_root_rules),           cmocka_unit_test(test_container_rules),
        cmocka_unit_test(test_validate_defaults),    cmocka_unit_test(test_complete),
        cmocka_unit_test(test_pause_root),           cmocka_unit_test(test_new_and_names),
        cmocka_unit_test(test_status_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
