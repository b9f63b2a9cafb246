/* Unit tests for kuke-netd's pure parts and its files (no root, no network): pod subnet checks, the
 * lowest-free /24, the conflist netd writes and how it is repaired, the subnet record and its
 * release, the state directory (made 0700, proven, held by descriptor, never the run path), the
 * subnet scan that counts only real directories, the realm/space collision of "<realm>-<space>",
 * CNI result parsing, and host-local's store as netd purges it. Files go to a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/derive.h"
#include "kuke-netd/netd.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/kk-netd-unit.XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct kk_config cfg_for(const char *pod, const char *state)
{
    struct kk_config cfg;
    struct kk_err err = {0};
    kk_config_defaults(&cfg);
    char run[300], conf[300], st[300];
    snprintf(run, sizeof(run), "%s/opt", tmpdir);
    snprintf(conf, sizeof(conf), "%s/net.d", tmpdir);
    snprintf(st, sizeof(st), "%s/%s", tmpdir, state);
    assert_int_equal(kk_config_set(&cfg, "runPath", run, "test", &err), 0);
    assert_int_equal(kk_config_set(&cfg, "cniConfDir", conf, "test", &err), 0);
    assert_int_equal(kk_config_set(&cfg, "netdStateDir", st, "test", &err), 0);
    assert_int_equal(kk_config_set(&cfg, "podSubnetCIDR", pod, "test", &err), 0);
    return cfg;
}

/* A context as acquire leaves it for the file work: configuration checked, state directory open. */
static void ctx_for_state(struct netd_ctx *c, const char *pod, const char *state)
{
    struct kk_config cfg = cfg_for(pod, state);
    struct kk_err err = {0};
    if (netd_ctx_init(c, &cfg, &err) < 0 || netd_state_open(c, &err) < 0)
        fail_msg("ctx: %s", err.msg);
}

static void ctx_for(struct netd_ctx *c, const char *pod)
{
    ctx_for_state(c, pod, "lib/netd");
}

/* The absolute path of a file in c's state directory. */
static const char *state_path(const struct netd_ctx *c, const char *rel, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", c->cfg.netd_state_dir, rel);
    return buf;
}

static void derive_space(struct netd_ctx *c, const char *realm, const char *space, struct kk_derived *d)
{
    struct kk_derive_names n = {.realm = realm, .space = space};
    struct kk_err err;
    if (kk_derive(&n, &c->dcfg, d, &err) < 0)
        fail_msg("derive: %s", err.msg);
}

static void test_pod_subnet_check(void **state)
{
    (void)state;
    struct netd_ipv4_net n;
    struct kk_err err;
    assert_int_equal(netd_pod_subnet_check("10.88.0.0/16", &n, &err), 0);
    assert_int_equal(n.addr, 0x0a580000u);
    assert_int_equal(n.prefix, 16);
    static const char *const bad[] = {"10.88.0.0",   "10.88.0.0/25", "10.88.0.0/7",    "10.88.1.0/16",
                                      "10.88.0.0/x", "::1/64",       "10.88.0.256/24", "10.88.0.0/016x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (netd_pod_subnet_check(bad[i], &n, &err) != -1)
            fail_msg("%s accepted", bad[i]);
        assert_int_equal(err.kind, KK_ERR_INVALID);
        assert_non_null(strstr(err.msg, "podSubnetCIDR"));
    }
}

static void test_subnet_pick(void **state)
{
    (void)state;
    struct netd_ipv4_net pod = {0x0a580000u, 16}, out;
    struct kk_err err;
    assert_int_equal(netd_subnet_pick(&pod, NULL, 0, &out, &err), 0);
    assert_int_equal(out.addr, 0x0a580000u);
    assert_int_equal(out.prefix, 24);
    /* The lowest free one, whatever the order of the records; a wider record takes its room. */
    struct netd_ipv4_net used[] = {{0x0a580200u, 24}, {0x0a580000u, 24}, {0x0a580400u, 23}};
    assert_int_equal(netd_subnet_pick(&pod, used, 3, &out, &err), 0);
    assert_int_equal(out.addr, 0x0a580100u);
    used[1].addr = 0x0a580100u; /* 10.88.0.0 freed */
    assert_int_equal(netd_subnet_pick(&pod, used, 3, &out, &err), 0);
    assert_int_equal(out.addr, 0x0a580000u);
    /* A /24 pod subnet holds one space; a second one is told what to do. */
    struct netd_ipv4_net small = {0x0af40500u, 24}, one = {0x0af40500u, 24};
    assert_int_equal(netd_subnet_pick(&small, &one, 1, &out, &err), -1);
    assert_non_null(strstr(err.msg, "no free /24 left in podSubnetCIDR 10.244.5.0/24"));
    assert_non_null(strstr(err.msg, "delete a space"));
}

static void test_conflist_shape(void **state)
{
    (void)state;
    struct netd_ctx c;
    ctx_for(&c, "10.244.0.0/16");
    struct kk_derived d;
    derive_space(&c, "default", "blog", &d);
    struct netd_ipv4_net sub = {0x0af40300u, 24};
    struct kk_err err;
    json_t *j = netd_conflist_build(&d, &sub, "/x/ipam", &err);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "default-blog");
    assert_string_equal(json_string_value(json_object_get(j, "cniVersion")), NETD_CNI_VERSION);
    json_t *plugins = json_object_get(j, "plugins");
    assert_int_equal(json_array_size(plugins), 3);
    json_t *br = json_array_get(plugins, 0);
    assert_string_equal(json_string_value(json_object_get(br, "type")), "bridge");
    assert_string_equal(json_string_value(json_object_get(br, "bridge")), d.bridge_name);
    assert_true(json_is_true(json_object_get(br, "isGateway")));
    assert_true(json_is_true(json_object_get(br, "ipMasq")));
    json_t *ipam = json_object_get(br, "ipam");
    assert_string_equal(json_string_value(json_object_get(ipam, "type")), "host-local");
    assert_string_equal(json_string_value(json_object_get(ipam, "dataDir")), "/x/ipam");
    assert_string_equal(
        json_string_value(json_object_get(
            json_array_get(json_array_get(json_object_get(ipam, "ranges"), 0), 0), "gateway")),
        "10.244.3.1");
    assert_string_equal(json_string_value(json_object_get(json_array_get(plugins, 1), "type")), "loopback");
    assert_string_equal(json_string_value(json_object_get(json_array_get(plugins, 2), "type")), "portmap");
    struct netd_ipv4_net back;
    char bridge[16];
    assert_int_equal(netd_conflist_subnet(j, &back, bridge, sizeof(bridge)), 0);
    assert_int_equal(back.addr, sub.addr);
    assert_string_equal(bridge, d.bridge_name);
    json_decref(j);
    netd_state_close(&c);
}

static void test_space_files(void **state)
{
    (void)state;
    struct netd_ctx c;
    ctx_for(&c, "10.244.0.0/23"); /* room for two spaces */
    struct kk_derived a, b, e;
    derive_space(&c, "r1", "a", &a);
    derive_space(&c, "r1", "b", &b);
    derive_space(&c, "r1", "e", &e);
    struct netd_network_info ia, ib, ie;
    struct kk_err err;
    if (netd_space_ensure_files(&c, &a, &ia, &err) < 0 || netd_space_ensure_files(&c, &b, &ib, &err) < 0)
        fail_msg("ensure: %s", err.msg);
    assert_true(ia.created && ia.regenerated);
    assert_int_equal(ia.subnet.addr, 0x0af40000u);
    assert_int_equal(ib.subnet.addr, 0x0af40100u);
    struct netd_space_paths p;
    assert_int_equal(netd_space_paths(&c, &a, &p, &err), 0);
    /* netd's records are in its state directory, keyed by the names; the run path stays untouched
     * (it is the API worker's), and the conflist's dataDir is the space's own IPAM dir. */
    char rec[2048], want[2048];
    assert_string_equal(p.network_json, "r1/a/network.json");
    snprintf(want, sizeof(want), "%s/r1/a/ipam", c.cfg.netd_state_dir);
    assert_string_equal(p.ipam_dir, want);
    struct stat st;
    assert_int_equal(stat(state_path(&c, p.network_json, rec, sizeof(rec)), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(state_path(&c, p.dir, rec, sizeof(rec)), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(access(c.cfg.run_path, F_OK), -1);
    assert_int_equal(stat(p.conflist, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    /* Full. */
    assert_int_equal(netd_space_ensure_files(&c, &e, &ie, &err), -1);
    assert_non_null(strstr(err.msg, "no free /24"));
    /* Stable, and repaired when wrong. */
    assert_int_equal(netd_space_ensure_files(&c, &a, &ia, &err), 0);
    assert_false(ia.created);
    assert_false(ia.regenerated);
    FILE *f = fopen(p.conflist, "w");
    fputs(
        "{\"cniVersion\":\"1.0.0\",\"name\":\"r1-a\",\"plugins\":[{\"type\":\"bridge\",\"bridge\":\"k-0\"}]}",
        f);
    fclose(f);
    assert_int_equal(netd_space_ensure_files(&c, &a, &ia, &err), 0);
    assert_true(ia.regenerated);
    assert_int_equal(ia.subnet.addr, 0x0af40000u);
    /* A corrupt record is reported by name, never replaced. */
    f = fopen(state_path(&c, p.network_json, rec, sizeof(rec)), "w");
    fputs("{\"version\":\"v1\"", f);
    fclose(f);
    assert_int_equal(netd_space_ensure_files(&c, &a, &ia, &err), -1);
    assert_non_null(strstr(err.msg, rec));
    assert_non_null(strstr(err.msg, "corrupt"));
    /* Without its record, the space keeps the subnet of its conflist (netd's, in the CNI conf
     * dir), not a new one. */
    unlink(rec);
    assert_int_equal(netd_space_ensure_files(&c, &a, &ia, &err), 0);
    assert_false(ia.created);
    assert_int_equal(ia.subnet.addr, 0x0af40000u);
    /* Removing a releases its /24 to e, and leaves nothing of a behind. */
    assert_int_equal(netd_space_remove_files(&c, &a, &err), 1);
    assert_int_equal(access(rec, F_OK), -1);
    assert_int_equal(access(p.conflist, F_OK), -1);
    assert_int_equal(access(state_path(&c, p.dir, rec, sizeof(rec)), F_OK), -1);
    assert_int_equal(access(state_path(&c, p.realm_dir, rec, sizeof(rec)), F_OK), 0); /* b is still in r1 */
    assert_int_equal(netd_space_remove_files(&c, &a, &err), 0);
    assert_int_equal(netd_space_ensure_files(&c, &e, &ie, &err), 0);
    assert_int_equal(ie.subnet.addr, 0x0af40000u);
    /* The last space of a realm takes the realm's directory with it. */
    assert_int_equal(netd_space_remove_files(&c, &b, &err), 1);
    assert_int_equal(netd_space_remove_files(&c, &e, &err), 1);
    assert_int_equal(access(state_path(&c, p.realm_dir, rec, sizeof(rec)), F_OK), -1);
    netd_state_close(&c);
}

/* The scan for recorded subnets counts only real directories of valid names: files such as a
 * realm's metadata.json and its .lock sidecar (the run path's layout, which an earlier netd
 * scanned) are neither spaces nor errors, and a link is never followed to a record elsewhere. */
static void test_subnet_scan_only_dirs(void **state)
{
    (void)state;
    struct netd_ctx c;
    ctx_for_state(&c, "10.246.0.0/16", "scan");
    char cmd[2000];
    snprintf(
        cmd, sizeof(cmd),
        "cd %s && mkdir -p r9/elsewhere-x ../scan-target/s && "
        "printf '{}' > r9/metadata.json && : > r9/metadata.json.lock && : > r9/notadir && "
        "printf '{\"version\":\"v1\",\"subnetCIDR\":\"10.246.0.0/24\"}' > ../scan-target/s/network.json && "
        "ln -s ../../scan-target/s r9/linked && ln -s ../scan-target r8 && : > metadata.json",
        c.cfg.netd_state_dir);
    assert_int_equal(system(cmd), 0);
    struct kk_derived d;
    derive_space(&c, "r9", "sp", &d);
    struct netd_network_info info;
    struct kk_err err;
    if (netd_space_ensure_files(&c, &d, &info, &err) < 0)
        fail_msg("ensure beside files and links: %s", err.msg);
    assert_int_equal(info.subnet.addr, 0x0af60000u);
    assert_int_equal(netd_space_remove_files(&c, &d, &err), 1);
    netd_state_close(&c);
}

/* The state directory: made 0700 with its way there, refused when anyone else could write or swap
 * it, never in the run path or the CNI conf dir, and used through its descriptor: a rename of the
 * path after netd opened it does not move netd's writes. */
static void test_state_dir(void **state)
{
    (void)state;
    struct netd_ctx c;
    struct kk_err err;
    ctx_for_state(&c, "10.247.0.0/16", "sd/a/b");
    struct stat st;
    char path[2048];
    snprintf(path, sizeof(path), "%s/sd/a", tmpdir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0755);
    assert_int_equal(stat(c.cfg.netd_state_dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(st.st_uid, geteuid());
    assert_true(c.state.fd >= 0);
    assert_int_equal(fcntl(c.state.fd, F_GETFL) & O_PATH, O_PATH);

    /* Renamed away, and something else put at the old path: netd still writes where it opened. */
    char moved[600], cmd[4096];
    snprintf(moved, sizeof(moved), "%s/sd/a/moved", tmpdir);
    assert_int_equal(rename(c.cfg.netd_state_dir, moved), 0);
    assert_int_equal(mkdir(c.cfg.netd_state_dir, 0700), 0);
    struct kk_derived d;
    derive_space(&c, "rr", "ss", &d);
    struct netd_network_info info;
    if (netd_space_ensure_files(&c, &d, &info, &err) < 0)
        fail_msg("ensure after rename: %s", err.msg);
    snprintf(path, sizeof(path), "%s/rr/ss/network.json", moved);
    assert_int_equal(access(path, F_OK), 0);
    snprintf(path, sizeof(path), "%s/rr", c.cfg.netd_state_dir);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(netd_space_remove_files(&c, &d, &err), 1);
    netd_state_close(&c);
    snprintf(cmd, sizeof(cmd), "rmdir %s && mv %s %s", c.cfg.netd_state_dir, moved, c.cfg.netd_state_dir);
    assert_int_equal(system(cmd), 0);

    /* Open to others: refused, with the fix. */
    chmod(c.cfg.netd_state_dir, 0755);
    struct kk_config cfg = cfg_for("10.247.0.0/16", "sd/a/b");
    struct netd_ctx c2;
    assert_int_equal(netd_ctx_init(&c2, &cfg, &err), 0);
    assert_int_equal(netd_state_open(&c2, &err), -1);
    assert_non_null(strstr(err.msg, "must be 0700"));
    assert_int_equal(c2.state.fd, -1);
    chmod(c.cfg.netd_state_dir, 0700);
    /* A directory on the way that others may write (and that is not sticky). */
    snprintf(path, sizeof(path), "%s/sd", tmpdir);
    chmod(path, 0777);
    assert_int_equal(netd_state_open(&c2, &err), -1);
    assert_non_null(strstr(err.msg, "writable by others"));
    chmod(path, 01777); /* sticky, as /tmp: others cannot rename root's entries */
    assert_int_equal(netd_state_open(&c2, &err), 0);
    netd_state_close(&c2);
    chmod(path, 0755);
    /* Owned by somebody else (needs root to arrange). */
    if (geteuid() == 0) {
        assert_int_equal(chown(path, 65534, 65534), 0);
        assert_int_equal(netd_state_open(&c2, &err), -1);
        assert_non_null(strstr(err.msg, "belongs to uid 65534"));
        assert_int_equal(chown(path, 0, 0), 0);
    }
    /* A link where the directory should be. */
    snprintf(cmd, sizeof(cmd), "ln -s %s %s/sd/link", c.cfg.netd_state_dir, tmpdir);
    assert_int_equal(system(cmd), 0);
    cfg = cfg_for("10.247.0.0/16", "sd/link");
    assert_int_equal(netd_ctx_init(&c2, &cfg, &err), 0);
    assert_int_equal(netd_state_open(&c2, &err), -1);
    assert_non_null(strstr(err.msg, "not a link"));

    /* Never the run path (the API worker's) or the CNI conf dir, in either direction, nor /. */
    static const struct {
        const char *key, *under_tmp; /* under_tmp NULL: the value is "/" */
    } bad[] = {
        {"netdStateDir", "opt/data/netd"}, {"netdStateDir", "opt"},     {"runPath", "sd/a/b/opt"},
        {"netdStateDir", "net.d"},         {"netdStateDir", "net.d/x"}, {"netdStateDir", NULL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cfg = cfg_for("10.247.0.0/16", "sd/a/b");
        if (bad[i].under_tmp != NULL)
            snprintf(path, sizeof(path), "%s/%s", tmpdir, bad[i].under_tmp);
        else
            snprintf(path, sizeof(path), "/");
        assert_int_equal(kk_config_set(&cfg, bad[i].key, path, "test", &err), 0);
        if (netd_ctx_init(&c2, &cfg, &err) != -1)
            fail_msg("%s=%s accepted", bad[i].key, path);
        assert_non_null(strstr(err.msg, "netdStateDir"));
    }
    /* The default is root's own place, outside the run path. */
    kk_config_defaults(&cfg);
    assert_string_equal(cfg.netd_state_dir, "/var/lib/kukeon/netd");
    assert_int_equal(kk_config_set(&cfg, "netd-state-dir", "/srv/netd", "flag", &err), 0);
    assert_string_equal(cfg.netd_state_dir, "/srv/netd");
    assert_int_equal(kk_config_set(&cfg, "netdStateDir", "relative/x", "test", &err), -1);
    assert_int_equal(kk_config_set(&cfg, "netdStateDir", "/a/../b", "test", &err), -1);
}

static void test_network_name_collision(void **state)
{
    (void)state;
    struct netd_ctx c;
    ctx_for(&c, "10.245.0.0/16");
    struct kk_derived x, y;
    derive_space(&c, "a", "b-c", &x);
    derive_space(&c, "a-b", "c", &y);
    assert_string_equal(x.network_name, y.network_name);
    assert_string_not_equal(x.bridge_name, y.bridge_name);
    struct netd_network_info info;
    struct kk_err err;
    assert_int_equal(netd_space_ensure_files(&c, &x, &info, &err), 0);
    assert_int_equal(netd_space_ensure_files(&c, &y, &info, &err), -1);
    assert_int_equal(err.kind, KK_ERR_EXISTS);
    assert_non_null(strstr(err.msg, "rename one of them"));
    assert_int_equal(netd_space_remove_files(&c, &x, &err), 1);
    netd_state_close(&c);
}

static const char *const result_text =
    "{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"k-1a2b3c4d\",\"mac\":\"aa:bb:cc:00:00:01\"},"
    "{\"name\":\"veth12345678\",\"mac\":\"aa:bb:cc:00:00:02\"},"
    "{\"name\":\"eth0\",\"mac\":\"0a:58:0a:f4:00:02\",\"sandbox\":\"/run/netns/kk-1\"}],"
    "\"ips\":[{\"interface\":2,\"address\":\"10.244.0.2/24\",\"gateway\":\"10.244.0.1\"}],"
    "\"routes\":[{\"dst\":\"0.0.0.0/0\"}],\"dns\":{}}";

static void test_result_parse(void **state)
{
    (void)state;
    json_t *r = json_loads(result_text, 0, NULL);
    assert_non_null(r);
    struct netd_cni_addr a;
    struct kk_err err;
    assert_int_equal(netd_cni_result_parse(r, "/run/netns/kk-1", &a, &err), 0);
    assert_string_equal(a.address, "10.244.0.2/24");
    assert_string_equal(a.gateway, "10.244.0.1");
    assert_string_equal(a.mac, "0a:58:0a:f4:00:02");
    assert_string_equal(a.host_veth, "veth12345678");
    assert_int_equal(netd_cni_result_rename_host(r, "veth12345678", "kv0123456789ab", &err), 0);
    assert_int_equal(netd_cni_result_parse(r, "/run/netns/kk-1", &a, &err), 0);
    assert_string_equal(a.host_veth, "kv0123456789ab");
    /* Another namespace's result is not this cell's. */
    assert_int_equal(netd_cni_result_parse(r, "/run/netns/kk-2", &a, &err), -1);
    json_decref(r);
    r = json_loads("{\"interfaces\":[],\"ips\":[]}", 0, NULL);
    assert_int_equal(netd_cni_result_parse(r, "/run/netns/kk-1", &a, &err), -1);
    json_decref(r);
}

static void test_ipam_purge(void **state)
{
    (void)state;
    char dir[300], cmd[3000];
    snprintf(dir, sizeof(dir), "%s/ipam/net1", tmpdir);
    snprintf(cmd, sizeof(cmd),
             "mkdir -p %s && printf 'sp_st_c1_root\\r\\neth0' > %s/10.244.0.2 && printf "
             "'sp_st_c2_root\\r\\neth0' > "
             "%s/10.244.0.3 && printf 'sp_st_c1_root' > %s/10.244.0.4 && echo 10.244.0.4 > "
             "%s/last_reserved_ip.0 && "
             ": > %s/lock",
             dir, dir, dir, dir, dir, dir);
    assert_int_equal(system(cmd), 0);
    char ipam[400];
    snprintf(ipam, sizeof(ipam), "%s/ipam", tmpdir);
    struct kk_err err;
    const struct netd_dir at = {AT_FDCWD, ""};
    assert_int_equal(netd_ipam_count(&at, ipam, "net1", &err), 3);
    assert_int_equal(netd_ipam_purge(&at, ipam, "net1", "sp_st_c1_root", &err), 2);
    assert_int_equal(netd_ipam_count(&at, ipam, "net1", &err), 1);
    assert_int_equal(netd_ipam_purge(&at, ipam, "net1", "sp_st_c1_root", &err), 0);
    assert_int_equal(netd_ipam_count(&at, ipam, "nothere", &err), 0);
    /* The same, relative to a directory descriptor (as netd reaches its state directory). */
    int dfd = open(tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    const struct netd_dir rel = {dfd, tmpdir};
    assert_int_equal(netd_ipam_count(&rel, "ipam", "net1", &err), 1);
    assert_int_equal(netd_ipam_purge(&rel, "ipam", "net1", "sp_st_c2_root", &err), 1);
    assert_int_equal(netd_ipam_count(&rel, "ipam", "net1", &err), 0);
    close(dfd);
}

static void test_atomic_write(void **state)
{
    (void)state;
    char path[400];
    snprintf(path, sizeof(path), "%s/doc.json", tmpdir);
    struct kk_err err;
    const struct netd_dir at = {AT_FDCWD, ""};
    assert_int_equal(netd_write_file_atomic(&at, path, "{}\n", 3, 0600, &err), 0);
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(netd_read_file(&at, path, 16, &text, &len, &err), 1);
    assert_string_equal(text, "{}\n");
    free(text);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(netd_read_file(&at, path, 2, &text, &len, &err), -1);
    assert_non_null(strstr(err.msg, "more than"));
    snprintf(path, sizeof(path), "%s/missing", tmpdir);
    assert_int_equal(netd_read_file(&at, path, 16, &text, &len, &err), 0);
    assert_null(text);
    /* Relative to a descriptor, named in messages by the directory it stands for. */
    int dfd = open(tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    assert_true(dfd >= 0);
    const struct netd_dir rel = {dfd, "/shown/dir"};
    assert_int_equal(netd_mkdir_p(&rel, "x/y", 0700, &err), 0);
    assert_int_equal(netd_write_file_atomic(&rel, "x/y/doc.json", "[]\n", 3, 0600, &err), 0);
    snprintf(path, sizeof(path), "%s/x/y/doc.json", tmpdir);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(netd_exists(&rel, "x/y/doc.json", &err), 1);
    assert_int_equal(netd_read_file(&rel, "x/y/doc.json", 2, &text, &len, &err), -1);
    assert_non_null(strstr(err.msg, "/shown/dir/x/y/doc.json"));
    assert_int_equal(netd_remove_tree(&rel, "x", &err), 1);
    assert_int_equal(netd_exists(&rel, "x", &err), 0);
    assert_int_equal(netd_remove_tree(&rel, "x", &err), 0);
    close(dfd);
}

/* The runner that every plugin and iptables run goes through: stdin in, stdout and stderr out, the
 * exit code, and the deadline, after which the program is gone (killed with its runner). */
static void test_runner(void **state)
{
    (void)state;
    struct netd_ctx c;
    ctx_for(&c, "10.244.0.0/16");
    c.plugin_timeout_s = 1;
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    char errbuf[256];
    char *out = NULL;
    int code;
    struct kk_err err;
    char *cat[] = {"cat", NULL};
    assert_int_equal(
        netd_run_program(&c, "/bin/cat", cat, envp, "{\"a\":1}", &out, errbuf, sizeof(errbuf), &code, &err),
        0);
    assert_int_equal(code, 0);
    assert_string_equal(out, "{\"a\":1}");
    free(out);
    char *fails[] = {"sh", "-c", "echo oops >&2; echo partial; exit 3", NULL};
    assert_int_equal(
        netd_run_program(&c, "/bin/sh", fails, envp, NULL, &out, errbuf, sizeof(errbuf), &code, &err), 0);
    assert_int_equal(code, 3);
    assert_string_equal(out, "partial\n");
    assert_string_equal(errbuf, "oops\n");
    free(out);
    /* The environment is exactly what was given. */
    char *env[] = {"sh", "-c", "env | sort", NULL};
    assert_int_equal(
        netd_run_program(&c, "/bin/sh", env, envp, NULL, &out, errbuf, sizeof(errbuf), &code, &err), 0);
    assert_non_null(strstr(out, "PATH=/usr/bin:/bin\n"));
    assert_null(strstr(out, "HOME="));
    free(out);
    /* Past the deadline: killed, and reported as such. The program prints its pid first. */
    char *hang[] = {"sh", "-c", "echo $$; exec sleep 30", NULL};
    time_t t0 = time(NULL);
    assert_int_equal(
        netd_run_program(&c, "/bin/sh", hang, envp, NULL, &out, errbuf, sizeof(errbuf), &code, &err), 0);
    assert_int_equal(code, 124);
    assert_true(time(NULL) - t0 <= 3);
    /* Killed with its runner: gone, or a zombie waiting for its new parent (netd is a subreaper
     * and reaps it; this test process is not, so init does). */
    char stat[64];
    snprintf(stat, sizeof(stat), "/proc/%ld/stat", strtol(out, NULL, 10));
    free(out);
    char state_char = 'R';
    for (int i = 0; i < 50; i++) {
        FILE *f = fopen(stat, "r");
        if (f == NULL) {
            state_char = 'X';
            break;
        }
        int r = fscanf(f, "%*d %*s %c", &state_char);
        fclose(f);
        if (r == 1 && state_char == 'Z')
            break;
        usleep(20000);
    }
    assert_true(state_char == 'X' || state_char == 'Z');
    char *missing[] = {"nothere", NULL};
    assert_int_equal(netd_run_program(&c, "/nonexistent/nothere", missing, envp, NULL, &out, errbuf,
                                      sizeof(errbuf), &code, &err),
                     0);
    assert_int_equal(code, 127);
    free(out);
    netd_state_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pod_subnet_check),
        cmocka_unit_test(test_subnet_pick),
        cmocka_unit_test(test_conflist_shape),
        cmocka_unit_test(test_space_files),
        cmocka_unit_test(test_subnet_scan_only_dirs),
        cmocka_unit_test(test_state_dir),
        cmocka_unit_test(test_network_name_collision),
        cmocka_unit_test(test_result_parse),
        cmocka_unit_test(test_ipam_purge),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_runner),
    };
    return cmocka_run_group_tests_name("kuke-netd units", tests, setup, teardown);
}
