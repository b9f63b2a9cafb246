/* Unit tests for common/derive.c: refused inputs and configurations first, then the exact names
 * derived for known inputs, containerd's 76-character limit, and the hashed names' shape and
 * uniqueness. Expected hashes were computed independently (Python) from the FNV-1a definition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/derive.h"

static char rep_buf[8][128];
/* A name of n copies of c (n < 128); up to eight live at once. */
static const char *rep(int slot, char c, size_t n)
{
    memset(rep_buf[slot], c, n);
    rep_buf[slot][n] = '\0';
    return rep_buf[slot];
}

/* ---- refusals ------------------------------------------------------------------------------- */

struct bad_names_case {
    struct kk_derive_names names;
    const char *want_part;
};

static void test_bad_names_refused(void **state)
{
    (void)state;
    const struct bad_names_case cases[] = {
        {{NULL, NULL, NULL, NULL, NULL}, "realm name is required"},
        {{"", NULL, NULL, NULL, NULL}, "realm name is required"},
        {{"", "default", NULL, NULL, NULL}, "realm name is required"},
        {{"a_b", NULL, NULL, NULL, NULL}, "realm name \"a_b\" is invalid: it contains '_'"},
        {{"default", "..", NULL, NULL, NULL}, "space name \"..\" is invalid"},
        {{"default", "default", "a/b", NULL, NULL}, "stack name \"a/b\" is invalid: it contains '/'"},
        {{"default", "default", "default", "we b", NULL},
         "cell name \"we b\" is invalid: it contains a space"},
        {{"default", "default", "default", "web", "ng\ninx"}, "container name \"ng\\x0ainx\" is invalid"},
        {{"default", "default", "default", "web", "-x"},
         "container name \"-x\" is invalid: it starts with '-'"},
        /* gaps: a deeper level without the one above it */
        {{"default", NULL, "default", NULL, NULL}, "space name is required"},
        {{"default", "default", "", "web", NULL}, "stack name is required"},
        {{"default", "default", "default", NULL, "nginx"}, "cell name is required"},
        {{"default", "", "", "", "nginx"}, "space name is required"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kk_derived d;
        struct kk_err err;
        kk_err_clear(&err);
        memset(&d, 0x5a, sizeof(d));
        if (kk_derive(&cases[i].names, NULL, &d, &err) != -1)
            fail_msg("row %zu: accepted", i);
        if (err.kind != KK_ERR_INVALID)
            fail_msg("row %zu: kind %s, want Invalid", i, kk_err_kind_name(err.kind));
        if (strstr(err.msg, cases[i].want_part) == NULL)
            fail_msg("row %zu: message \"%s\" lacks \"%s\"", i, err.msg, cases[i].want_part);
        /* nothing half-derived is left behind */
        assert_string_equal(d.ctrd_namespace, "");
        assert_string_equal(d.cgroup_path, "");
        assert_string_equal(d.realm, "");
    }
    struct kk_err err;
    struct kk_derived d;
    assert_int_equal(kk_derive(NULL, NULL, &d, &err), -1);
    assert_string_equal(err.msg, "realm name is required");
}

struct bad_config_case {
    struct kk_derive_config cfg;
    const char *message;
};

static void test_bad_config_refused(void **state)
{
    (void)state;
    const struct bad_config_case cases[] = {
        /* namespace suffix */
        {{".io", NULL, NULL, NULL},
         "containerd namespace suffix \".io\" is invalid: it must start and end with a letter or digit "
         "(like \"kukeon.io\")"},
        {{"kukeon.", NULL, NULL, NULL},
         "containerd namespace suffix \"kukeon.\" is invalid: it must start and end "
         "with a letter or digit (like \"kukeon.io\")"},
        {{"kukeon..io", NULL, NULL, NULL},
         "containerd namespace suffix \"kukeon..io\" is invalid: '.' and '-' "
         "must each stand between letters or digits (like \"kukeon.io\")"},
        {{"kukeon_io", NULL, NULL, NULL},
         "containerd namespace suffix \"kukeon_io\" is invalid: it may only "
         "contain A-Z a-z 0-9 '.' '-' (like \"kukeon.io\")"},
        {{"kukeon/io", NULL, NULL, NULL},
         "containerd namespace suffix \"kukeon/io\" is invalid: it may only "
         "contain A-Z a-z 0-9 '.' '-' (like \"kukeon.io\")"},
        {{"a\nb", NULL, NULL, NULL},
         "containerd namespace suffix \"a\\x0ab\" is invalid: it may only contain "
         "A-Z a-z 0-9 '.' '-' (like \"kukeon.io\")"},
        {{rep(0, 's', 75), NULL, NULL, NULL}, NULL},
        /* cgroup root */
        {{NULL, "kukeon", NULL, NULL}, "cgroup root \"kukeon\" is invalid: it must be an absolute path"},
        {{NULL, "/", NULL, NULL},
         "cgroup root \"/\" is invalid: it must name a directory below '/', not '/' "
         "itself"},
        {{NULL, "/kukeon/", NULL, NULL}, "cgroup root \"/kukeon/\" is invalid: it must not end with '/'"},
        {{NULL, "//kukeon", NULL, NULL}, "cgroup root \"//kukeon\" is invalid: it contains \"//\""},
        {{NULL, "/a//kukeon", NULL, NULL}, "cgroup root \"/a//kukeon\" is invalid: it contains \"//\""},
        {{NULL, "/kukeon/..", NULL, NULL},
         "cgroup root \"/kukeon/..\" is invalid: it contains a \"..\" "
         "component"},
        {{NULL, "/../kukeon", NULL, NULL},
         "cgroup root \"/../kukeon\" is invalid: it contains a \"..\" "
         "component"},
        {{NULL, "/a/./kukeon", NULL, NULL},
         "cgroup root \"/a/./kukeon\" is invalid: it contains a \".\" "
         "component"},
        {{NULL, "/ku keon", NULL, NULL},
         "cgroup root \"/ku keon\" is invalid: it contains a space, a control byte "
         "or a non-ASCII byte"},
        {{NULL, "/kukeon\t", NULL, NULL},
         "cgroup root \"/kukeon\\x09\" is invalid: it contains a space, a "
         "control byte or a non-ASCII byte"},
        {{NULL, "/k\xc3\xbc", NULL, NULL},
         "cgroup root \"/k\\xc3\\xbc\" is invalid: it contains a space, a "
         "control byte or a non-ASCII byte"},
        /* run path and netns dir follow the same rule */
        {{NULL, NULL, "opt/kukeon", NULL}, "run path \"opt/kukeon\" is invalid: it must be an absolute path"},
        {{NULL, NULL, "/opt/../etc", NULL},
         "run path \"/opt/../etc\" is invalid: it contains a \"..\" component"},
        {{NULL, NULL, NULL, "/run/netns/"}, "netns dir \"/run/netns/\" is invalid: it must not end with '/'"},
        {{NULL, NULL, NULL, "/run//netns"}, "netns dir \"/run//netns\" is invalid: it contains \"//\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct kk_err err;
        kk_err_clear(&err);
        if (kk_derive_config_check(&cases[i].cfg, &err) != -1)
            fail_msg("row %zu: configuration accepted", i);
        if (err.kind != KK_ERR_INVALID)
            fail_msg("row %zu: kind %s, want Invalid", i, kk_err_kind_name(err.kind));
        if (cases[i].message != NULL && strcmp(err.msg, cases[i].message) != 0)
            fail_msg("row %zu: message\n  got  %s\n  want %s", i, err.msg, cases[i].message);
        /* and kk_derive refuses it too, before looking at names */
        struct kk_derived d;
        struct kk_derive_names names = {"default", NULL, NULL, NULL, NULL};
        if (kk_derive(&names, &cases[i].cfg, &d, &err) != -1)
            fail_msg("row %zu: kk_derive accepted the configuration", i);
    }
    struct kk_err err;
    /* a 74-character suffix is allowed, 75 is not */
    struct kk_derive_config cfg = {rep(1, 's', 74), NULL, NULL, NULL};
    assert_int_equal(kk_derive_config_check(&cfg, &err), 0);
    cfg.ns_suffix = rep(1, 's', 75);
    assert_int_equal(kk_derive_config_check(&cfg, &err), -1);
    assert_non_null(strstr(err.msg, "it is longer than 74 characters"));
    /* a configured path of 255 bytes is allowed, 256 is not */
    char path[300];
    memset(path, 'p', sizeof(path));
    path[0] = '/';
    path[255] = '\0';
    struct kk_derive_config pcfg = {NULL, NULL, path, NULL};
    assert_int_equal(kk_derive_config_check(&pcfg, &err), 0);
    path[255] = 'p';
    path[256] = '\0';
    assert_int_equal(kk_derive_config_check(&pcfg, &err), -1);
    assert_non_null(strstr(err.msg, "it is longer than 255 bytes"));
    assert_non_null(strstr(err.msg, "ppp...\""));
    /* NULL configuration and empty fields mean the defaults */
    assert_int_equal(kk_derive_config_check(NULL, &err), 0);
    struct kk_derive_config empty = {"", "", "", ""};
    assert_int_equal(kk_derive_config_check(&empty, &err), 0);
}

/* ---- known values --------------------------------------------------------------------------- */

static void test_reference_container(void **state)
{
    (void)state;
    struct kk_derive_names names = {"default", "default", "default", "web", "nginx"};
    struct kk_derived d;
    struct kk_err err;
    kk_err_clear(&err);
    assert_int_equal(kk_derive(&names, NULL, &d, &err), 0);
    assert_int_equal(d.depth, KK_NAME_CONTAINER);
    assert_string_equal(d.realm, "default");
    assert_string_equal(d.cell, "web");
    assert_string_equal(d.container, "nginx");
    assert_string_equal(d.ctrd_namespace, "default.kukeon.io");
    assert_string_equal(d.ctrd_id, "default_default_web_nginx");
    assert_string_equal(d.ctrd_root_id, "default_default_web_root");
    assert_string_equal(d.cgroup_path, "/kukeon/default/default/default/web/default_default_web_nginx");
    assert_string_equal(d.metadata_dir, "/opt/kukeon/data/default/default/default/web");
    assert_string_equal(d.container_dir, "/opt/kukeon/data/default/default/default/web/nginx");
    assert_string_equal(d.network_name, "default-default");
    assert_string_equal(d.bridge_name, "k-af3172d4"); /* FNV-1a 32 of "default/default" */
    assert_string_equal(d.egress_chain, "KUKE-EGR-af3172d4");
    assert_string_equal(d.netns_name, "kk-109d7a3d724385d7"); /* FNV-1a 64 of "default/default/default/web" */
    assert_string_equal(d.netns_path, "/run/netns/kk-109d7a3d724385d7");
    assert_string_equal(d.veth_host, "kv109d7a3d7243");
}

static void test_system_cell(void **state)
{
    (void)state;
    struct kk_derive_names names = {"kuke-system", "kukeon", "kukeon", "kukeond", "kukeond"};
    struct kk_derived d;
    struct kk_err err;
    assert_int_equal(kk_derive(&names, NULL, &d, &err), 0);
    assert_string_equal(d.ctrd_namespace, "kuke-system.kukeon.io");
    assert_string_equal(d.ctrd_id, "kukeon_kukeon_kukeond_kukeond");
    assert_string_equal(d.ctrd_root_id, "kukeon_kukeon_kukeond_root");
    assert_string_equal(d.cgroup_path,
                        "/kukeon/kuke-system/kukeon/kukeon/kukeond/kukeon_kukeon_kukeond_kukeond");
    assert_string_equal(d.container_dir, "/opt/kukeon/data/kuke-system/kukeon/kukeon/kukeond/kukeond");
    assert_string_equal(d.network_name, "kuke-system-kukeon");
    assert_string_equal(d.bridge_name, "k-0ed0463b");
    assert_string_equal(d.netns_name, "kk-1e5c7135aa714279");
    assert_string_equal(d.veth_host, "kv1e5c7135aa71");
}

/* Each level derives what it has and leaves the rest empty. */
static void test_levels(void **state)
{
    (void)state;
    struct kk_derived d;
    struct kk_err err;

    struct kk_derive_names realm = {"default", NULL, NULL, NULL, NULL};
    assert_int_equal(kk_derive(&realm, NULL, &d, &err), 0);
    assert_int_equal(d.depth, KK_NAME_REALM);
    assert_string_equal(d.ctrd_namespace, "default.kukeon.io");
    assert_string_equal(d.cgroup_path, "/kukeon/default");
    assert_string_equal(d.metadata_dir, "/opt/kukeon/data/default");
    assert_string_equal(d.space, "");
    assert_string_equal(d.network_name, "");
    assert_string_equal(d.bridge_name, "");
    assert_string_equal(d.egress_chain, "");
    assert_string_equal(d.ctrd_root_id, "");
    assert_string_equal(d.netns_name, "");
    assert_string_equal(d.netns_path, "");
    assert_string_equal(d.veth_host, "");
    assert_string_equal(d.ctrd_id, "");
    assert_string_equal(d.container_dir, "");

    struct kk_derive_names space = {"default", "default", "", "", ""};
    assert_int_equal(kk_derive(&space, NULL, &d, &err), 0);
    assert_int_equal(d.depth, KK_NAME_SPACE);
    assert_string_equal(d.cgroup_path, "/kukeon/default/default");
    assert_string_equal(d.metadata_dir, "/opt/kukeon/data/default/default");
    assert_string_equal(d.network_name, "default-default");
    assert_string_equal(d.bridge_name, "k-af3172d4");
    assert_string_equal(d.egress_chain, "KUKE-EGR-af3172d4");
    assert_string_equal(d.netns_name, "");
    assert_string_equal(d.ctrd_root_id, "");

    struct kk_derive_names stack = {"default", "default", "default", NULL, NULL};
    assert_int_equal(kk_derive(&stack, NULL, &d, &err), 0);
    assert_int_equal(d.depth, KK_NAME_STACK);
    assert_string_equal(d.cgroup_path, "/kukeon/default/default/default");
    assert_string_equal(d.metadata_dir, "/opt/kukeon/data/default/default/default");
    assert_string_equal(d.netns_name, "");

    struct kk_derive_names cell = {"default", "default", "default", "web", NULL};
    assert_int_equal(kk_derive(&cell, NULL, &d, &err), 0);
    assert_int_equal(d.depth, KK_NAME_CELL);
    assert_string_equal(d.cgroup_path, "/kukeon/default/default/default/web");
    assert_string_equal(d.metadata_dir, "/opt/kukeon/data/default/default/default/web");
    assert_string_equal(d.ctrd_root_id, "default_default_web_root");
    assert_string_equal(d.netns_name, "kk-109d7a3d724385d7");
    assert_string_equal(d.netns_path, "/run/netns/kk-109d7a3d724385d7");
    assert_string_equal(d.veth_host, "kv109d7a3d7243");
    assert_string_equal(d.ctrd_id, "");
    assert_string_equal(d.container_dir, "");
}

static void test_configured_paths(void **state)
{
    (void)state;
    struct kk_derive_config cfg = {"example.org", "/system.slice/kukeon.service/kk", "/var/lib/kukeon-test",
                                   "/tmp/kk-test/netns"};
    struct kk_derive_names names = {"r1", "s1", "t1", "c1", "k1"};
    struct kk_derived d;
    struct kk_err err;
    assert_int_equal(kk_derive(&names, &cfg, &d, &err), 0);
    assert_string_equal(d.ctrd_namespace, "r1.example.org");
    assert_string_equal(d.ctrd_id, "s1_t1_c1_k1");
    assert_string_equal(d.cgroup_path, "/system.slice/kukeon.service/kk/r1/s1/t1/c1/s1_t1_c1_k1");
    assert_string_equal(d.metadata_dir, "/var/lib/kukeon-test/data/r1/s1/t1/c1");
    assert_string_equal(d.container_dir, "/var/lib/kukeon-test/data/r1/s1/t1/c1/k1");
    assert_non_null(strstr(d.netns_path, "/tmp/kk-test/netns/kk-"));
    assert_string_equal(d.netns_path + strlen("/tmp/kk-test/netns/"), d.netns_name);
    /* Suffix, cgroup root and netns dir move paths, never the hashed names... */
    struct kk_derived dflt, same;
    assert_int_equal(kk_derive(&names, NULL, &dflt, &err), 0);
    struct kk_derive_config at_default = cfg;
    at_default.run_path = "/opt/kukeon";
    assert_int_equal(kk_derive(&names, &at_default, &same, &err), 0);
    assert_string_equal(same.bridge_name, dflt.bridge_name);
    assert_string_equal(same.netns_name, dflt.netns_name);
    assert_string_equal(same.veth_host, dflt.veth_host);
    /* ...but another run path is another installation: its host-wide names (bridge, egress chain,
     * netns, veth) are salted with it, so two installations on one host never share one. */
    assert_string_not_equal(d.bridge_name, dflt.bridge_name);
    assert_string_not_equal(d.egress_chain, dflt.egress_chain);
    assert_string_not_equal(d.netns_name, dflt.netns_name);
    assert_string_not_equal(d.veth_host, dflt.veth_host);
    assert_string_equal(d.bridge_name, "k-a16160cc"); /* FNV-1a 32 of "/var/lib/kukeon-test\nr1/s1" */
    assert_string_equal(d.bridge_name + 2, d.egress_chain + strlen("KUKE-EGR-"));
    assert_int_equal(strncmp(d.veth_host + 2, d.netns_name + 3, 12), 0);
}

/* The longest names of every level still fit every buffer. */
static void test_longest_names(void **state)
{
    (void)state;
    char path[256];
    memset(path, 'p', sizeof(path));
    path[0] = '/';
    path[255] = '\0';
    struct kk_derive_config cfg = {NULL, path, path, path};
    struct kk_derive_names names = {rep(0, 'r', 63), rep(1, 's', 63), rep(2, 't', 3), rep(3, 'c', 3),
                                    rep(4, 'n', 4)};
    struct kk_derived d;
    struct kk_err err;
    kk_err_clear(&err);
    assert_int_equal(kk_derive(&names, &cfg, &d, &err), 0);
    assert_int_equal(strlen(d.ctrd_namespace), 63 + 1 + 9);
    assert_int_equal(strlen(d.network_name), 63 + 1 + 63);
    assert_int_equal(strlen(d.cgroup_path), 255 + 1 + 63 + 1 + 63 + 1 + 3 + 1 + 3 + 1 + (63 + 3 + 3 + 4 + 3));
    assert_int_equal(strlen(d.container_dir), 255 + 5 + 1 + 63 + 1 + 63 + 1 + 3 + 1 + 3 + 1 + 4);

    /* five 63-character names: every path still fits, only containerd's limit refuses */
    struct kk_derive_names huge = {rep(0, 'r', 63), rep(1, 's', 63), rep(2, 't', 63), rep(3, 'c', 63),
                                   rep(4, 'n', 63)};
    assert_int_equal(kk_derive(&huge, &cfg, &d, &err), -1);
    assert_non_null(strstr(err.msg, "containerd's limit of 76"));
    struct kk_derive_names huge_stack = {rep(0, 'r', 63), rep(1, 's', 63), rep(2, 't', 63), NULL, NULL};
    assert_int_equal(kk_derive(&huge_stack, &cfg, &d, &err), 0);
    assert_int_equal(strlen(d.metadata_dir), 255 + 5 + 3 * 64);
}

/* ---- containerd's 76-character limit --------------------------------------------------------- */

static void test_ctrd_id_limit(void **state)
{
    (void)state;
    struct kk_derived d;
    struct kk_err err;
    /* space 63 + stack 1 + cell 1 + 3 separators = 68; the container name sets the rest */
    const char *space = rep(0, 's', 63);
    const struct {
        size_t container_len;
        int want;
    } rows[] = {{7, 0}, {8, 0}, {9, -1}, {20, -1}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct kk_derive_names names = {"default", space, "t", "c", rep(1, 'n', rows[i].container_len)};
        kk_err_clear(&err);
        int rc = kk_derive(&names, NULL, &d, &err);
        if (rc != rows[i].want)
            fail_msg("container of %zu: rc %d, want %d (%s)", rows[i].container_len, rc, rows[i].want,
                     err.msg);
        if (rc == 0)
            assert_int_equal(strlen(d.ctrd_id), 68 + rows[i].container_len);
    }
    struct kk_derive_names names75 = {"default", space, "t", "c", rep(1, 'n', 7)};
    assert_int_equal(kk_derive(&names75, NULL, &d, &err), 0);
    assert_int_equal(strlen(d.ctrd_id), 75);
    struct kk_derive_names names76 = {"default", space, "t", "c", rep(1, 'n', 8)};
    assert_int_equal(kk_derive(&names76, NULL, &d, &err), 0);
    assert_int_equal(strlen(d.ctrd_id), 76);

    /* 77: refused, naming every name with its length and by how much to shorten */
    struct kk_derive_names names77 = {"default", space, "t", "c", rep(1, 'n', 9)};
    assert_int_equal(kk_derive(&names77, NULL, &d, &err), -1);
    assert_int_equal(err.kind, KK_ERR_INVALID);
    char want[1024];
    snprintf(
        want, sizeof(want),
        "containerd id \"%s_t_c_nnnnnnnnn\" of container \"nnnnnnnnn\" would be 77 characters, 1 over "
        "containerd's limit of 76: shorten space \"%s\" (63), stack \"t\" (1), cell \"c\" (1) or container "
        "\"nnnnnnnnn\" (9) by 1 character in total",
        space, space);
    assert_string_equal(err.msg, want);

    struct kk_derive_names names80 = {"default", space, "t", "c", rep(1, 'n', 12)};
    assert_int_equal(kk_derive(&names80, NULL, &d, &err), -1);
    assert_non_null(strstr(err.msg, "would be 80 characters, 4 over"));
    assert_non_null(strstr(err.msg, "by 4 characters in total"));

    /* A cell whose pause root id "<space>_<stack>_<cell>_root" cannot fit is refused at the cell level,
     * before any container is named. 63 + 5 + 4 + "root" + 3 = 79. */
    struct kk_derive_names cell = {"default", space, rep(2, 't', 5), rep(3, 'c', 4), NULL};
    assert_int_equal(kk_derive(&cell, NULL, &d, &err), -1);
    assert_non_null(strstr(err.msg, "the pause root container id"));
    assert_non_null(strstr(err.msg, "would be 79 characters, 3 over containerd's limit of 76"));
    assert_non_null(strstr(err.msg, "stack \"ttttt\" (5) or cell \"cccc\" (4) by 3 characters in total"));
    cell.cell = rep(3, 'c', 1); /* 63 + 5 + 1 + 4 + 3 = 76 */
    assert_int_equal(kk_derive(&cell, NULL, &d, &err), 0);
    assert_int_equal(strlen(d.ctrd_root_id), 76);
}

static void test_namespace_limit(void **state)
{
    (void)state;
    struct kk_derived d;
    struct kk_err err;
    struct kk_derive_names names = {rep(0, 'r', 63), NULL, NULL, NULL, NULL};
    /* 63 + '.' + 12 = 76 fits; 13 does not */
    struct kk_derive_config cfg = {rep(1, 'x', 12), NULL, NULL, NULL};
    assert_int_equal(kk_derive(&names, &cfg, &d, &err), 0);
    assert_int_equal(strlen(d.ctrd_namespace), 76);
    cfg.ns_suffix = rep(1, 'x', 13);
    assert_int_equal(kk_derive(&names, &cfg, &d, &err), -1);
    assert_non_null(strstr(err.msg, "would be 77 characters, 1 over containerd's limit of 76"));
    assert_non_null(strstr(err.msg, "shorten realm \"rrrr"));
    assert_non_null(
        strstr(err.msg, "or the namespace suffix \"xxxxxxxxxxxxx\" (13) by 1 character in total"));

    /* never another tool's namespace */
    struct kk_derive_names k8s = {"k8s", NULL, NULL, NULL, NULL};
    struct kk_derive_config io = {"io", NULL, NULL, NULL};
    assert_int_equal(kk_derive(&k8s, &io, &d, &err), -1);
    assert_string_equal(err.msg, "containerd namespace \"k8s.io\" of realm \"k8s\" belongs to another tool: "
                                 "choose another realm name or namespace suffix");
}

/* ---- hashed names ----------------------------------------------------------------------------- */

static void test_fnv1a_vectors(void **state)
{
    (void)state;
    /* the reference vectors of the FNV authors */
    assert_int_equal(kk_fnv1a32("", 0), 0x811c9dc5u);
    assert_int_equal(kk_fnv1a32("a", 1), 0xe40c292cu);
    assert_int_equal(kk_fnv1a32("foobar", 6), 0xbf9cf968u);
    assert_true(kk_fnv1a64("", 0) == 0xcbf29ce484222325u);
    assert_true(kk_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cu);
    assert_true(kk_fnv1a64("foobar", 6) == 0x85944171f73967e8u);
    /* the Go bridge hash of the network name, for the record: differs from ours */
    assert_int_equal(kk_fnv1a32("default-default", 15), 0x703e8b3au);
}

static void test_bridge_names_do_not_collide(void **state)
{
    (void)state;
    struct kk_derived d1, d2;
    struct kk_err err;
    struct kk_derive_names a = {"a", "b-c", NULL, NULL, NULL};
    struct kk_derive_names b = {"a-b", "c", NULL, NULL, NULL};
    assert_int_equal(kk_derive(&a, NULL, &d1, &err), 0);
    assert_int_equal(kk_derive(&b, NULL, &d2, &err), 0);
    /* the Go network name is the same for both ... */
    assert_string_equal(d1.network_name, "a-b-c");
    assert_string_equal(d2.network_name, "a-b-c");
    /* ... but bridges and chains are not */
    assert_string_equal(d1.bridge_name, "k-3f7971a5");
    assert_string_equal(d2.bridge_name, "k-508f0545");
    assert_string_not_equal(d1.egress_chain, d2.egress_chain);

    /* the same holds one level down, for netns and veth names */
    struct kk_derive_names c1 = {"a", "b", "c-d", "e", NULL};
    struct kk_derive_names c2 = {"a", "b-c", "d", "e", NULL};
    assert_int_equal(kk_derive(&c1, NULL, &d1, &err), 0);
    assert_int_equal(kk_derive(&c2, NULL, &d2, &err), 0);
    assert_string_not_equal(d1.netns_name, d2.netns_name);
    assert_string_not_equal(d1.veth_host, d2.veth_host);
}

static bool all_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[n] == '\0';
}

/* Shapes, for many inputs: bridge and veth within IFNAMSIZ, chain within iptables' limit. */
static void test_hashed_name_shapes(void **state)
{
    (void)state;
    char realm[32], cell[32];
    for (int i = 0; i < 300; i++) {
        snprintf(realm, sizeof(realm), "r%d", i % 17);
        snprintf(cell, sizeof(cell), "cell-%d", i);
        struct kk_derive_names names = {realm, rep(0, 's', 40), "t", cell, NULL};
        struct kk_derived d;
        struct kk_err err;
        assert_int_equal(kk_derive(&names, NULL, &d, &err), 0);
        assert_int_equal(strlen(d.bridge_name), 10);
        assert_true(strncmp(d.bridge_name, "k-", 2) == 0 && all_lower_hex(d.bridge_name + 2, 8));
        assert_true(strlen(d.veth_host) <= 15);
        assert_true(strncmp(d.veth_host, "kv", 2) == 0 && all_lower_hex(d.veth_host + 2, 12));
        assert_true(strncmp(d.netns_name, "kk-", 3) == 0 && all_lower_hex(d.netns_name + 3, 16));
        assert_true(strlen(d.egress_chain) <= 28);
        assert_true(strncmp(d.egress_chain, "KUKE-EGR-", 9) == 0 && all_lower_hex(d.egress_chain + 9, 8));
        assert_string_equal(d.egress_chain + 9, d.bridge_name + 2);
        /* the veth is the netns hash's top 48 bits */
        assert_memory_equal(d.veth_host + 2, d.netns_name + 3, 12);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_names_refused),
        cmocka_unit_test(test_bad_config_refused),
        cmocka_unit_test(test_reference_container),
        cmocka_unit_test(test_system_cell),
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_configured_paths),
        cmocka_unit_test(test_longest_names),
        cmocka_unit_test(test_ctrd_id_limit),
        cmocka_unit_test(test_namespace_limit),
        cmocka_unit_test(test_fnv1a_vectors),
        cmocka_unit_test(test_bridge_names_do_not_collide),
        cmocka_unit_test(test_hashed_name_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
