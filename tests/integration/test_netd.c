/* kuke-netd for real, played from the API side as kukeond would (kk_helper_launch, netd_client):
 * space networks and their /24s, cell namespaces that ping each other over the bridge, idempotent
 * attach across a kill of netd, deletes that leave nothing behind, and forged requests (the host's
 * namespace, a pin that leads outside /run/netns, a link netd did not make, names that smuggle a
 * path or a plugin) refused with DENIED, changing nothing, audited. Needs root, the CNI plugins and
 * iptables. Everything lives under KUKEON_TEST_TMP (netd's state dir, conf dir, and a run path as
 * the API worker owns it, which netd must leave untouched) or carries names derived from
 * KUKEON_TEST_PREFIX, and is removed at the end; the last test proves the host is as before. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"
#include "common/derive.h"
#include "ipc/client.h"
#include "ipc/launch.h"
#include "ipc/netd_client.h"

#define SNAP_MAX  (256 * 1024)
#define AUDIT_MAX (256 * 1024)

static struct {
    const char *skip;
    char skip_buf[1200];
    char tmp[1024];
    char run[1100];
    char conf[1100];
    char state[1100]; /* netdStateDir */
    char netd[1024];
    char prefix[32];
    char realm[64];
    char space_a[64], space_b[64], space_d[64], space_e[64], space_f[64];
    const char *stack;
    struct kk_helper_proc hp;
    bool up;
    char *before;
    bool fwd_before;
    char audit[AUDIT_MAX];
    size_t audit_len;
    char addr[8][64]; /* by cell number */
} g;

static const char *const cells[] = {"c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7"};

/* ---- small tools ---------------------------------------------------------------------------------- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* stdout of a shell command, into a new buffer. */
static char *sh_out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh_out(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    FILE *f = popen(cmd, "r");
    char *buf = calloc(1, SNAP_MAX + 1);
    if (f == NULL || buf == NULL) {
        if (f != NULL)
            pclose(f);
        free(buf);
        return strdup("");
    }
    size_t n = fread(buf, 1, SNAP_MAX, f);
    buf[n] = '\0';
    pclose(f);
    return buf;
}

static void derive_cell(const char *space, const char *cell, struct kk_derived *d)
{
    struct kk_derive_names n = {.realm = g.realm, .space = space, .stack = g.stack, .cell = cell};
    struct kk_derive_config cfg = {.run_path = g.run};
    struct kk_err err;
    if (kk_derive(&n, &cfg, d, &err) < 0)
        fail_msg("derive %s/%s: %s", space, cell, err.msg);
}

static void derive_space(const char *space, struct kk_derived *d)
{
    struct kk_derive_names n = {.realm = g.realm, .space = space};
    struct kk_derive_config cfg = {.run_path = g.run};
    struct kk_err err;
    if (kk_derive(&n, &cfg, d, &err) < 0)
        fail_msg("derive %s: %s", space, err.msg);
}

static void audit_drain(void)
{
    if (!g.up)
        return;
    for (;;) {
        if (g.audit_len >= AUDIT_MAX - 1)
            g.audit_len = 0; /* keep the newest lines */
        ssize_t r = read(g.hp.audit_fd, g.audit + g.audit_len, AUDIT_MAX - 1 - g.audit_len);
        if (r <= 0)
            break;
        g.audit_len += (size_t)r;
    }
    g.audit[g.audit_len] = '\0';
}

/* Where the audit text ends now: lines after this mark belong to requests made after it. */
static size_t audit_mark(void)
{
    audit_drain();
    return g.audit_len;
}

/* The first audit line after mark naming op and holding want, waiting for it up to two seconds
 * (netd writes the line just after its answer), or "". */
static const char *audit_after(size_t mark, const char *op, const char *want, char *line, size_t size)
{
    char key[64];
    snprintf(key, sizeof(key), " op=%s ", op);
    line[0] = '\0';
    for (int tries = 0; tries < 100; tries++) {
        audit_drain();
        const char *p = g.audit + (mark <= g.audit_len ? mark : 0);
        while ((p = strstr(p, key)) != NULL) {
            const char *start = p;
            while (start > g.audit && start[-1] != '\n')
                start--;
            size_t n = strcspn(start, "\n");
            if (n >= size)
                n = size - 1;
            memcpy(line, start, n);
            line[n] = '\0';
            if (strstr(line, want) != NULL)
                return line;
            p++;
        }
        usleep(20000);
    }
    return line;
}

static int netd_start(void)
{
    struct kk_config cfg;
    struct kk_err err = {0};
    kk_config_defaults(&cfg);
    char log[PATH_MAX];
    snprintf(log, sizeof(log), "%s/log", g.tmp);
    if (kk_config_set(&cfg, "runPath", g.run, "test", &err) < 0 ||
        kk_config_set(&cfg, "cniConfDir", g.conf, "test", &err) < 0 ||
        kk_config_set(&cfg, "netdStateDir", g.state, "test", &err) < 0 ||
        kk_config_set(&cfg, "logDir", log, "test", &err) < 0 ||
        kk_config_set(&cfg, "podSubnetCIDR", "10.244.0.0/16", "test", &err) < 0) {
        fprintf(stderr, "# config: %s\n", err.msg);
        return -1;
    }
    int cfd = kk_config_memfd(&cfg, &err);
    if (cfd < 0 || kk_helper_launch(g.netd, cfd, -1, false, &g.hp, &err) < 0) {
        fprintf(stderr, "# launch: %s\n", err.msg);
        if (cfd >= 0)
            close(cfd);
        return -1;
    }
    close(cfd);
    g.up = true;
    char name[64];
    if (kk_ipc_hello(g.hp.sock, "api", name, sizeof(name), &err) < 0) {
        fprintf(stderr, "# hello: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static void netd_kill(void)
{
    if (!g.up)
        return;
    audit_drain();
    kill(g.hp.pid, SIGKILL);
    waitpid(g.hp.pid, NULL, 0);
    close(g.hp.sock);
    close(g.hp.audit_fd);
    g.up = false;
}

static void netd_stop(void)
{
    if (!g.up)
        return;
    audit_drain();
    int st = kk_helper_stop(&g.hp, 5000);
    close(g.hp.audit_fd);
    g.up = false;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        fprintf(stderr, "# kuke-netd ended with status 0x%x\n", st);
}

/* What the acceptance compares: kukeon-shaped links, named namespaces, the host's CNI dirs, and every
 * iptables rule of the filter and nat tables. */
static char *host_snapshot(void)
{
    return sh_out(
        "{ ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^(k-|kv|veth)' | sort;"
        "  echo ==; ip netns list | awk '{print $1}' | sort;"
        "  echo ==; ls -1 /var/lib/cni/networks 2>/dev/null;"
        "  echo ==; ls -1 /etc/cni/net.d 2>/dev/null;"
        "  echo ==; iptables -w 5 -S; echo ==; iptables -w 5 -t nat -S; } 2>&1");
}

/* A space's directory in netd's state dir. */
static const char *space_state(const char *space, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s/%s", g.state, g.realm, space);
    return buf;
}

static int ipam_entries(const char *space, const char *cell)
{
    struct kk_derived ds, dc;
    derive_space(space, &ds);
    char dir[1300];
    space_state(space, dir, sizeof(dir));
    char *out;
    if (cell != NULL) {
        derive_cell(space, cell, &dc);
        out = sh_out("grep -l -s -F '%s' %s/ipam/%s/[0-9]* 2>/dev/null | wc -l", dc.ctrd_root_id, dir,
                     ds.network_name);
    } else {
        out = sh_out("ls -1 %s/ipam/%s 2>/dev/null | grep -c '^[0-9]'", dir, ds.network_name);
    }
    int n = (int)strtol(out, NULL, 10);
    free(out);
    return n;
}

static bool link_exists(const char *name)
{
    return sh("ip link show dev %s >/dev/null 2>&1", name) == 0;
}

static bool netns_listed(const char *name)
{
    return sh("ip netns list | awk '{print $1}' | grep -qx '%s'", name) == 0;
}

#define SKIP_IF_NEEDED()                                                                                     \
    do {                                                                                                     \
        if (g.skip != NULL) {                                                                                \
            print_message("# SKIP kuke-netd: %s\n", g.skip);                                                 \
            skip();                                                                                          \
        }                                                                                                    \
        if (!g.up && netd_start() < 0)                                                                       \
            fail_msg("kuke-netd did not start");                                                             \
    } while (0)

static void attach_ok(const char *space, int cell, struct kk_netd_cell *out)
{
    struct kk_err err = {0};
    if (kk_netd_cell_attach(g.hp.sock, g.realm, space, g.stack, cells[cell], out, &err) < 0)
        fail_msg("attach %s/%s: %s", space, cells[cell], err.msg);
}

static bool in_subnet(const char *addr, const char *prefix3)
{
    return strncmp(addr, prefix3, strlen(prefix3)) == 0 && strstr(addr, "/24") != NULL;
}

/* ---- setup -------------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    const char *build = getenv("BUILD");
    const char *tmp = getenv("KUKEON_TEST_TMP");
    const char *prefix = getenv("KUKEON_TEST_PREFIX");
    if (getenv("KUKEON_TEST_SKIP_REASON") != NULL && geteuid() != 0) {
        g.skip = getenv("KUKEON_TEST_SKIP_REASON");
        return 0;
    }
    if (geteuid() != 0) {
        g.skip = "needs root (network namespaces, links, iptables); run 'sudo make check'";
        return 0;
    }
    if (build == NULL || tmp == NULL || prefix == NULL) {
        g.skip = "run through tests/run.sh (BUILD, KUKEON_TEST_TMP and KUKEON_TEST_PREFIX are not set)";
        return 0;
    }
    if (strlen(build) > 900 || strlen(tmp) > 900) {
        g.skip = "BUILD or KUKEON_TEST_TMP is longer than this test allows";
        return 0;
    }
    snprintf(g.netd, sizeof(g.netd), "%s/libexec/kuke-netd", build);
    if (access(g.netd, X_OK) != 0) {
        snprintf(g.skip_buf, sizeof(g.skip_buf), "%s is missing; run make check-build", g.netd);
        g.skip = g.skip_buf;
        return 0;
    }
    if (sh("test -x /opt/cni/bin/bridge -o -x /usr/lib/cni/bridge") != 0) {
        g.skip = "the CNI plugins are missing; install containernetworking-plugins (make deps)";
        return 0;
    }
    if (sh("command -v iptables >/dev/null && command -v busybox >/dev/null") != 0) {
        g.skip = "iptables or busybox (for ping) is missing; run make deps";
        return 0;
    }
    snprintf(g.prefix, sizeof(g.prefix), "%s", prefix);
    snprintf(g.tmp, sizeof(g.tmp), "%s/netd", tmp);
    snprintf(g.run, sizeof(g.run), "%s/opt", g.tmp);
    snprintf(g.conf, sizeof(g.conf), "%s/cni/net.d", g.tmp);
    snprintf(g.state, sizeof(g.state), "%s/lib/netd", g.tmp);
    snprintf(g.realm, sizeof(g.realm), "%s-r", prefix);
    snprintf(g.space_a, sizeof(g.space_a), "%s-a", prefix);
    snprintf(g.space_b, sizeof(g.space_b), "%s-b", prefix);
    snprintf(g.space_d, sizeof(g.space_d), "%s-d", prefix);
    snprintf(g.space_e, sizeof(g.space_e), "%s-e", prefix);
    snprintf(g.space_f, sizeof(g.space_f), "%s-f", prefix);
    g.stack = "st";
    /* The run path as kuke init leaves it: another user's (kukeon's, here nobody's), 2750. netd
     * runs as root without CAP_DAC_OVERRIDE and must neither need nor touch it. */
    if (sh("mkdir -p %s/log %s && chown 65534:65534 %s && chmod 2750 %s", g.tmp, g.run, g.run, g.run) != 0) {
        g.skip = "cannot create the test directory";
        return 0;
    }
    if (sh("ip route | grep -q '^10\\.244\\.'") == 0) {
        g.skip = "the host already routes 10.244.0.0/16, the pod subnet this test uses";
        return 0;
    }
    g.fwd_before = sh("iptables -w 5 -S KUKEON-FORWARD >/dev/null 2>&1") == 0;
    g.before = host_snapshot();
    return 0;
}

/* Remove whatever a failed run left, netd's way first and by hand after. */
static int group_teardown(void **state)
{
    (void)state;
    if (g.skip != NULL)
        return 0;
    const char *spaces[] = {g.space_a, g.space_b, g.space_d, g.space_e, g.space_f};
    if (g.up || netd_start() == 0) {
        struct kk_err err;
        for (size_t s = 0; s < 5; s++) {
            for (size_t c = 0; c < 8; c++)
                kk_netd_cell_delete(g.hp.sock, g.realm, spaces[s], g.stack, cells[c], NULL, &err);
            kk_netd_network_delete(g.hp.sock, g.realm, spaces[s], NULL, &err);
        }
        netd_stop();
    }
    for (size_t s = 0; s < 5; s++) {
        struct kk_derived ds;
        derive_space(spaces[s], &ds);
        for (size_t c = 0; c < 8; c++) {
            struct kk_derived dc;
            derive_cell(spaces[s], cells[c], &dc);
            sh("umount -l %s 2>/dev/null; rm -f %s; ip link del %s 2>/dev/null", dc.netns_path, dc.netns_path,
               dc.veth_host);
        }
        sh("ip link del %s 2>/dev/null", ds.bridge_name);
        /* The bridge plugin's masquerade chains carry the network name in their comments. */
        sh("lines=$(iptables -w 5 -t nat -S | grep -F '\"%s\"'); "
           "echo \"$lines\" | grep '^-A POSTROUTING' | sed 's/^-A/-D/' | while read -r l; do eval iptables "
           "-w 5 -t nat $l; done; "
           "for ch in $(echo \"$lines\" | grep -o 'CNI-[0-9a-f]*' | sort -u); do iptables -w 5 -t nat -F "
           "$ch; "
           "iptables -w 5 -t nat -X $ch; done 2>/dev/null",
           ds.network_name);
    }
    if (!g.fwd_before)
        sh("iptables -w 5 -D FORWARD -j KUKEON-FORWARD 2>/dev/null; iptables -w 5 -F KUKEON-FORWARD "
           "2>/dev/null; "
           "iptables -w 5 -X KUKEON-FORWARD 2>/dev/null");
    free(g.before);
    return 0;
}

/* ---- tests -------------------------------------------------------------------------------------- */

static void test_status_and_forward(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct kk_err err = {0};
    Kukeon__Ipc__StatusReply *st = NULL;
    if (kk_ipc_status(g.hp.sock, &st, &err) < 0)
        fail_msg("STATUS: %s", err.msg);
    assert_int_equal(st->uid, 0);
    bool plugin_dir = false, state_dir = false;
    for (size_t i = 0; i < st->n_details; i++) {
        if (strcmp(st->details[i]->key, "cni_plugin_dir") == 0 && st->details[i]->value[0] == '/')
            plugin_dir = true;
        if (strcmp(st->details[i]->key, "state_dir") == 0 && strcmp(st->details[i]->value, g.state) == 0)
            state_dir = true;
    }
    protobuf_c_message_free_unpacked(&st->base, NULL);
    assert_true(plugin_dir);
    assert_true(state_dir);
    /* netd made its state dir at start: root's, 0700, and nothing else can write the way there. */
    char *mode = sh_out("stat -c '%%a %%U' %s", g.state);
    assert_string_equal(mode, "700 root\n");
    free(mode);
    if (kk_netd_forward_ensure(g.hp.sock, &err) < 0)
        fail_msg("forward.ensure: %s", err.msg);
    assert_int_equal(sh("iptables -w 5 -C FORWARD -j KUKEON-FORWARD"), 0);
    char *rules = sh_out("iptables -w 5 -S KUKEON-FORWARD");
    bool ok = strstr(rules, "kukeon-forward:established") && strstr(rules, "kukeon-forward:ingress");
    if (!ok)
        fail_msg("KUKEON-FORWARD: %s", rules);
    free(rules);
    /* A second time changes nothing. */
    if (kk_netd_forward_ensure(g.hp.sock, &err) < 0)
        fail_msg("forward.ensure again: %s", err.msg);
    char line[1024];
    assert_non_null(
        strstr(audit_after(0, "forward.ensure", "changed=\"no\"", line, sizeof(line)), "changed=\"no\""));
}

static void test_space_network(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct kk_err err = {0};
    struct kk_netd_network n;
    if (kk_netd_network_ensure(g.hp.sock, g.realm, g.space_a, &n, &err) < 0)
        fail_msg("ensure %s: %s", g.space_a, err.msg);
    struct kk_derived ds;
    derive_space(g.space_a, &ds);
    assert_string_equal(n.subnet, "10.244.0.0/24");
    assert_string_equal(n.gateway, "10.244.0.1");
    assert_string_equal(n.bridge, ds.bridge_name);
    assert_string_equal(n.network, ds.network_name);
    assert_true(n.created);
    char want[PATH_MAX], dir[1300];
    snprintf(want, sizeof(want), "%s/%s.conflist", g.conf, ds.network_name);
    space_state(g.space_a, dir, sizeof(dir));
    assert_string_equal(n.conflist_path, want);
    /* The conflist in the CNI conf dir, the subnet record in netd's state dir; nothing in the run
     * path (the controller copies the conflist there, as the run path's owner). */
    assert_int_equal(sh("test -s %s && test \"$(stat -c %%a %s)\" = 644", want, want), 0);
    assert_int_equal(sh("grep -q '\"subnetCIDR\": \"10.244.0.0/24\"' %s/network.json", dir), 0);
    assert_int_equal(sh("test \"$(stat -c %%a %s/network.json)\" = 600", dir), 0);
    assert_int_equal(sh("grep -q '\"dataDir\": \"%s/ipam\"' %s", dir, want), 0);
    assert_int_equal(sh("test -z \"$(ls -A %s)\"", g.run), 0);
    assert_int_equal(sh("grep -q '\"type\": \"portmap\"' %s && grep -q '\"ipMasq\": true' %s", want, want),
                     0);
    assert_true(link_exists(ds.bridge_name));

    /* Again: the same subnet, nothing rewritten. */
    struct kk_netd_network again;
    if (kk_netd_network_ensure(g.hp.sock, g.realm, g.space_a, &again, &err) < 0)
        fail_msg("ensure again: %s", err.msg);
    assert_string_equal(again.subnet, n.subnet);
    assert_false(again.created);
    assert_false(again.regenerated);

    /* Missing, then wrong: regenerated both times. */
    sh("rm -f %s", want);
    if (kk_netd_network_ensure(g.hp.sock, g.realm, g.space_a, &again, &err) < 0)
        fail_msg("ensure after rm: %s", err.msg);
    assert_true(again.regenerated);
    assert_int_equal(sh("test -s %s", want), 0);
    sh("echo '{\"cniVersion\":\"1.0.0\",\"name\":\"x\",\"plugins\":[]}' > %s", want);
    if (kk_netd_network_ensure(g.hp.sock, g.realm, g.space_a, &again, &err) < 0)
        fail_msg("ensure after corruption: %s", err.msg);
    assert_true(again.regenerated);
    assert_int_equal(sh("grep -q %s %s", ds.bridge_name, want), 0);
    assert_string_equal(again.subnet, "10.244.0.0/24");
    /* Without its record, the space keeps its subnet (from its conflist), and gets the record back. */
    sh("rm -f %s/network.json", dir);
    if (kk_netd_network_ensure(g.hp.sock, g.realm, g.space_a, &again, &err) < 0)
        fail_msg("ensure after losing the record: %s", err.msg);
    assert_string_equal(again.subnet, "10.244.0.0/24");
    assert_false(again.created);
    assert_int_equal(sh("grep -q '\"subnetCIDR\": \"10.244.0.0/24\"' %s/network.json", dir), 0);
}

static void test_two_cells_ping(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct kk_netd_cell c1, c2;
    attach_ok(g.space_a, 1, &c1);
    attach_ok(g.space_a, 2, &c2);
    struct kk_derived d1, d2;
    derive_cell(g.space_a, cells[1], &d1);
    derive_cell(g.space_a, cells[2], &d2);
    assert_true(in_subnet(c1.address, "10.244.0."));
    assert_true(in_subnet(c2.address, "10.244.0."));
    assert_string_not_equal(c1.address, c2.address);
    assert_string_equal(c1.gateway, "10.244.0.1");
    assert_string_equal(c1.interface, "eth0");
    assert_string_equal(c1.netns_path, d1.netns_path);
    assert_string_equal(c1.host_veth, d1.veth_host);
    assert_int_equal(strlen(c1.mac), 17);
    assert_false(c1.reused);
    assert_true(netns_listed(d1.netns_name));
    assert_true(link_exists(d1.veth_host));
    snprintf(g.addr[1], sizeof(g.addr[1]), "%s", c1.address);
    snprintf(g.addr[2], sizeof(g.addr[2]), "%s", c2.address);

    char ip2[64];
    snprintf(ip2, sizeof(ip2), "%s", c2.address);
    *strchr(ip2, '/') = '\0';
    if (sh("ip netns exec %s busybox ping -c 1 -W 3 %s >/dev/null 2>&1", d1.netns_name, ip2) != 0)
        fail_msg("%s (%s) cannot ping %s over bridge", cells[1], c1.address, ip2);
    /* Loopback is up inside (netd brought it up; the loopback plugin keeps it so). */
    assert_int_equal(sh("ip netns exec %s busybox ping -c 1 -W 2 127.0.0.1 >/dev/null 2>&1", d2.netns_name),
                     0);

    /* ADD twice gives one address. */
    size_t mark = audit_mark();
    struct kk_netd_cell again;
    attach_ok(g.space_a, 1, &again);
    assert_true(again.reused);
    assert_string_equal(again.address, c1.address);
    assert_int_equal(ipam_entries(g.space_a, NULL), 2);
    assert_int_equal(ipam_entries(g.space_a, cells[1]), 1);
    char line[1024];
    const char *l = audit_after(mark, "cell.attach", "decision=ok", line, sizeof(line));
    if (strstr(l, "decision=ok") == NULL || strstr(l, d1.netns_name) == NULL)
        fail_msg("audit line: %s", l);
}

static void test_check_and_status(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct kk_err err = {0};
    struct kk_netd_cell c;
    if (kk_netd_cell_check(g.hp.sock, g.realm, g.space_a, g.stack, cells[1], &c, &err) < 0)
        fail_msg("check: %s", err.msg);
    assert_string_equal(c.address, g.addr[1]);
    if (kk_netd_cell_status(g.hp.sock, g.realm, g.space_a, g.stack, cells[1], &c, &err) < 0)
        fail_msg("status: %s", err.msg);
    bool eth0 = false, lo = false;
    for (size_t i = 0; i < c.n_links; i++) {
        if (strcmp(c.links[i].name, "eth0") == 0 && c.links[i].up && c.links[i].n_addresses == 1 &&
            strcmp(c.links[i].addresses[0], g.addr[1]) == 0)
            eth0 = true;
        if (strcmp(c.links[i].name, "lo") == 0 && c.links[i].up)
            lo = true;
    }
    assert_true(eth0);
    assert_true(lo);
    /* A cell that was never attached. */
    assert_int_equal(kk_netd_cell_check(g.hp.sock, g.realm, g.space_a, g.stack, cells[7], &c, &err), -1);
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);
}

static void test_other_space(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct kk_err err = {0};
    struct kk_netd_network n;
    if (kk_netd_network_ensure(g.hp.sock, g.realm, g.space_b, &n, &err) < 0)
        fail_msg("ensure %s: %s", g.space_b, err.msg);
    assert_string_equal(n.subnet, "10.244.1.0/24");
    struct kk_netd_cell c3;
    attach_ok(g.space_b, 3, &c3);
    assert_true(in_subnet(c3.address, "10.244.1."));
    /* Attaching to a space without a network is an error, not a silent create. */
    struct kk_netd_cell c;
    assert_int_equal(kk_netd_cell_attach(g.hp.sock, g.realm, g.space_e, g.stack, cells[1], &c, &err), -1);
    assert_int_equal(err.kind, KK_ERR_NOT_FOUND);
}

/* The denial, its audit line, and the state unchanged (IPAM entries, cell record, links). */
static void expect_denied(int rc, const struct kk_err *err, const char *reason, const char *op, size_t mark)
{
    if (rc == 0)
        fail_msg("%s was served; it should be DENIED (%s)", op, reason);
    if (err->kind != KK_ERR_DENIED || strstr(err->msg, reason) == NULL)
        fail_msg("%s: want DENIED (%s), got %s: %s", op, reason, kk_err_kind_name(err->kind), err->msg);
    char want[128];
    snprintf(want, sizeof(want), "decision=denied reason=\"%s", reason);
    char line[2048];
    const char *l = audit_after(mark, op, want, line, sizeof(line));
    if (strstr(l, want) == NULL)
        fail_msg("%s: no audit line for the denial (last: %s)", op, l);
}

static void test_forged_host_namespace(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct kk_derived d;
    derive_cell(g.space_a, cells[5], &d);
    int before = ipam_entries(g.space_a, NULL);
    /* The host's own namespace, mounted where cell c5's pin belongs. */
    if (sh("touch %s && mount --bind /proc/self/ns/net %s", d.netns_path, d.netns_path) != 0)
        fail_msg("cannot bind the host namespace onto %s", d.netns_path);
    struct kk_err err = {0};
    struct kk_netd_cell c;
    size_t mark = audit_mark();
    int rc = kk_netd_cell_attach(g.hp.sock, g.realm, g.space_a, g.stack, cells[5], &c, &err);
    struct kk_err err2 = {0};
    bool existed;
    int rc2 = kk_netd_cell_delete(g.hp.sock, g.realm, g.space_a, g.stack, cells[5], &existed, &err2);
    bool still = sh("mountpoint -q %s", d.netns_path) == 0;
    sh("umount %s; rm -f %s", d.netns_path, d.netns_path);
    expect_denied(rc, &err, "outside-root", "cell.attach", mark);
    expect_denied(rc2, &err2, "outside-root", "cell.delete", mark);
    assert_true(still);
    assert_int_equal(ipam_entries(g.space_a, NULL), before);
    assert_int_equal(sh("ip link show | grep -q eth0"), 0); /* the host's own eth0 is still there */
    struct kk_derived ds;
    derive_space(g.space_a, &ds);
    assert_int_equal(sh("test -e %s/_network/cells/%s.json", ds.metadata_dir, d.netns_name), 1);
}

static void test_forged_link_outside(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct kk_derived d;
    derive_cell(g.space_a, cells[6], &d);
    /* A pin that is a symbolic link out of the netns dir. */
    if (sh("ln -s /proc/1/ns/net %s", d.netns_path) != 0)
        fail_msg("cannot make the link %s", d.netns_path);
    struct kk_err err = {0}, err2 = {0};
    struct kk_netd_cell c;
    size_t mark = audit_mark();
    int rc = kk_netd_cell_attach(g.hp.sock, g.realm, g.space_a, g.stack, cells[6], &c, &err);
    int rc2 = kk_netd_cell_delete(g.hp.sock, g.realm, g.space_a, g.stack, cells[6], NULL, &err2);
    bool still = sh("test -L %s", d.netns_path) == 0;
    sh("rm -f %s", d.netns_path);
    expect_denied(rc, &err, "outside-root", "cell.attach", mark);
    expect_denied(rc2, &err2, "outside-root", "cell.delete", mark);
    assert_true(still);
}

static void test_forged_foreign_bridge(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct kk_derived ds;
    derive_space(g.space_d, &ds);
    /* A bridge netd did not make (no mark), under the name space d's bridge would have. */
    if (sh("ip link add %s type bridge", ds.bridge_name) != 0)
        fail_msg("cannot add bridge %s", ds.bridge_name);
    struct kk_err err = {0}, err2 = {0};
    struct kk_netd_network n;
    size_t mark = audit_mark();
    int rc = kk_netd_network_ensure(g.hp.sock, g.realm, g.space_d, &n, &err);
    bool existed;
    int rc2 = kk_netd_network_delete(g.hp.sock, g.realm, g.space_d, &existed, &err2);
    bool still = link_exists(ds.bridge_name);
    char dir[1300];
    bool wrote = sh("test -e %s/network.json", space_state(g.space_d, dir, sizeof(dir))) == 0;
    sh("ip link del %s", ds.bridge_name);
    expect_denied(rc, &err, "not-owned", "network.ensure", mark);
    expect_denied(rc2, &err2, "not-owned", "network.delete", mark);
    assert_true(still);
    assert_false(wrote);
}

static void test_forged_names(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    /* No request field can carry a path, a plugin or an interface: what a hostile API worker can do
     * is put one where a name goes. */
    static const struct {
        const char *space, *stack, *cell;
    } bad[] = {
        {"../../../usr/lib/cni", "st", "bridge"}, {NULL, "st", "/usr/lib/cni/portmap"},
        {NULL, "../../run/netns", "x"},           {NULL, "st", "eth0 lo"},
        {NULL, "st", "c1;iptables -F"},           {NULL, "", "c1"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kk_err err = {0};
        struct kk_netd_cell c;
        size_t mark = audit_mark();
        int rc = kk_netd_cell_attach(g.hp.sock, g.realm, bad[i].space != NULL ? bad[i].space : g.space_a,
                                     bad[i].stack, bad[i].cell, &c, &err);
        expect_denied(rc, &err, "invalid-name", "cell.attach", mark);
    }
    struct kk_err err = {0};
    struct kk_netd_network n;
    size_t mark = audit_mark();
    expect_denied(kk_netd_network_ensure(g.hp.sock, "default", "a/../../etc", &n, &err), &err, "invalid-name",
                  "network.ensure", mark);
    assert_int_equal(ipam_entries(g.space_a, NULL), 2);
}

static void test_forged_field_is_fatal(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    /* A NetdCell with a field the schema does not have (a "plugin" in field 9): the strict unpack
     * refuses it, and that is fatal (fail-stop): the sender is not speaking netd's protocol. */
    Kukeon__Ipc__NetdCell req = KUKEON__IPC__NETD_CELL__INIT;
    req.realm = g.realm;
    req.space = g.space_a;
    req.stack = (char *)g.stack;
    req.cell = "c1";
    uint8_t buf[512];
    size_t n = protobuf_c_message_pack(&req.base, buf);
    const char extra[] = "\x4a\x06"
                         "bridge"; /* field 9, length-delimited */
    memcpy(buf + n, extra, sizeof(extra) - 1);
    n += sizeof(extra) - 1;
    uint8_t frame[600];
    struct kk_ipc_header h = {
        .length = (uint32_t)n, .version = KK_IPC_VERSION, .type = KK_NETD_CELL_ATTACH, .request_id = 4242};
    kk_ipc_header_encode(&h, frame);
    memcpy(frame + KK_IPC_HEADER_SIZE, buf, n);
    assert_int_equal(write(g.hp.sock, frame, KK_IPC_HEADER_SIZE + n), (ssize_t)(KK_IPC_HEADER_SIZE + n));
    int st = 0;
    for (int i = 0; i < 50; i++) {
        if (waitpid(g.hp.pid, &st, WNOHANG) == g.hp.pid)
            break;
        usleep(100000);
    }
    audit_drain();
    close(g.hp.sock);
    close(g.hp.audit_fd);
    g.up = false;
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    assert_non_null(strstr(g.audit, "decision=fatal"));
    /* Nothing was attached for it: still two addresses in space a. */
    assert_int_equal(ipam_entries(g.space_a, NULL), 2);
}

static void test_kill_between_add_and_reply(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    /* ATTACH of c4, and netd killed once its answer is on the socket, before the caller reads it:
     * the caller never recorded the result. The retry must report one address, not make two. */
    Kukeon__Ipc__NetdCell req = KUKEON__IPC__NETD_CELL__INIT;
    req.realm = g.realm;
    req.space = g.space_a;
    req.stack = (char *)g.stack;
    req.cell = (char *)cells[4];
    struct kk_err err = {0};
    if (kk_ipc_send(g.hp.sock, KK_NETD_CELL_ATTACH, 777, &req.base, -1, &err) < 0)
        fail_msg("send: %s", err.msg);
    struct pollfd p = {.fd = g.hp.sock, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 60000), 1);
    netd_kill();
    assert_int_equal(netd_start(), 0);
    struct kk_netd_cell c4;
    attach_ok(g.space_a, 4, &c4);
    assert_true(c4.reused);
    assert_int_equal(ipam_entries(g.space_a, cells[4]), 1);
    assert_int_equal(ipam_entries(g.space_a, NULL), 3);
    snprintf(g.addr[4], sizeof(g.addr[4]), "%s", c4.address);

    /* And killed in the middle of an attach (netns, DEL, ADD and the rename take some tens of
     * milliseconds), at several moments: whatever the moment, the retry leaves exactly one
     * reservation and one address for the cell. The cell is deleted between rounds so each one
     * starts from nothing. */
    static const useconds_t delays_us[] = {2000, 10000, 20000, 35000, 50000, 80000};
    struct kk_derived d0;
    derive_cell(g.space_a, cells[0], &d0);
    req.cell = (char *)cells[0];
    for (size_t i = 0; i < sizeof(delays_us) / sizeof(delays_us[0]); i++) {
        if (kk_ipc_send(g.hp.sock, KK_NETD_CELL_ATTACH, 778, &req.base, -1, &err) < 0)
            fail_msg("send: %s", err.msg);
        usleep(delays_us[i]);
        netd_kill();
        /* What the kill interrupted, for the log: pin made? eth0 there? reservation taken? */
        print_message("# killed after %u us: pin %d, eth0 %d, reservations %d\n", delays_us[i],
                      netns_listed(d0.netns_name),
                      sh("ip -n %s link show eth0 >/dev/null 2>&1", d0.netns_name) == 0,
                      ipam_entries(g.space_a, cells[0]));
        assert_int_equal(netd_start(), 0);
        struct kk_netd_cell c0;
        attach_ok(g.space_a, 0, &c0);
        if (ipam_entries(g.space_a, cells[0]) != 1 || ipam_entries(g.space_a, NULL) != 4)
            fail_msg("killed after %u us: %d reservations for %s, %d in all (want 1 and 4)", delays_us[i],
                     ipam_entries(g.space_a, cells[0]), cells[0], ipam_entries(g.space_a, NULL));
        char *addrs = sh_out("ip -n %s -4 -o addr show | awk '$2 != \"lo\" {print $4}'", d0.netns_name);
        char want[80];
        snprintf(want, sizeof(want), "%s\n", c0.address);
        if (strcmp(addrs, want) != 0)
            fail_msg("killed after %u us: addresses in %s: '%s', want '%s'", delays_us[i], d0.netns_name,
                     addrs, c0.address);
        free(addrs);
        if (kk_netd_cell_delete(g.hp.sock, g.realm, g.space_a, g.stack, cells[0], NULL, &err) < 0)
            fail_msg("delete %s: %s", cells[0], err.msg);
    }
    struct kk_netd_cell c0;
    attach_ok(g.space_a, 0, &c0);
}

static void test_delete_cell(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct kk_derived d1;
    derive_cell(g.space_a, cells[1], &d1);
    struct kk_err err = {0};
    bool existed = false;
    if (kk_netd_cell_delete(g.hp.sock, g.realm, g.space_a, g.stack, cells[1], &existed, &err) < 0)
        fail_msg("delete: %s", err.msg);
    assert_true(existed);
    assert_false(link_exists(d1.veth_host));
    assert_false(netns_listed(d1.netns_name));
    assert_int_equal(sh("test -e %s", d1.netns_path), 1);
    assert_int_equal(ipam_entries(g.space_a, cells[1]), 0);
    /* Deleting what is already gone succeeds. */
    if (kk_netd_cell_delete(g.hp.sock, g.realm, g.space_a, g.stack, cells[1], &existed, &err) < 0)
        fail_msg("delete again: %s", err.msg);
    assert_false(existed);
}

static void test_delete_space(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct kk_err err = {0};
    bool existed;
    /* Cells still attached: refused, nothing removed. */
    size_t mark = audit_mark();
    int rc = kk_netd_network_delete(g.hp.sock, g.realm, g.space_a, &existed, &err);
    expect_denied(rc, &err, "state", "network.delete", mark);
    for (int c = 0; c < 8; c++)
        if (kk_netd_cell_delete(g.hp.sock, g.realm, g.space_a, g.stack, cells[c], NULL, &err) < 0)
            fail_msg("delete %s: %s", cells[c], err.msg);
    struct kk_derived ds;
    derive_space(g.space_a, &ds);
    if (kk_netd_network_delete(g.hp.sock, g.realm, g.space_a, &existed, &err) < 0)
        fail_msg("delete space: %s", err.msg);
    assert_true(existed);
    assert_false(link_exists(ds.bridge_name));
    char dir[1300];
    assert_int_equal(sh("test -e %s/%s.conflist", g.conf, ds.network_name), 1);
    assert_int_equal(sh("test -e %s", space_state(g.space_a, dir, sizeof(dir))), 1);
    /* Again: nothing to do, and fine. */
    if (kk_netd_network_delete(g.hp.sock, g.realm, g.space_a, &existed, &err) < 0)
        fail_msg("delete space again: %s", err.msg);
    assert_false(existed);
    /* The freed /24 goes to the next space. */
    struct kk_netd_network n;
    if (kk_netd_network_ensure(g.hp.sock, g.realm, g.space_e, &n, &err) < 0)
        fail_msg("ensure %s: %s", g.space_e, err.msg);
    assert_string_equal(n.subnet, "10.244.0.0/24");
}

static void test_delete_space_with_leftovers(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct kk_err err = {0};
    struct kk_netd_network n;
    if (kk_netd_network_ensure(g.hp.sock, g.realm, g.space_d, &n, &err) < 0)
        fail_msg("ensure %s: %s", g.space_d, err.msg);
    struct kk_derived ds, dc;
    derive_space(g.space_d, &ds);
    derive_cell(g.space_d, cells[7], &dc);
    /* A host veth netd marked for a cell whose record is gone (a crash), and one it never made. */
    /* The alias of a link of this netd instance: its state directory is not the default one
     * (kuke-netd/netd.h, netd_alias_instance). */
    if (sh("ip link add %s type veth peer name %sp && ip link set %s alias 'kukeon@%08x:%s/%s:%s' master %s && "
           "ip link add %s-x type veth peer name %s-y && ip link set %s-x master %s",
           dc.veth_host, dc.veth_host, dc.veth_host, (unsigned)kk_fnv1a32(g.state, strlen(g.state)), g.realm,
           g.space_d, dc.netns_name, ds.bridge_name,
           g.prefix, g.prefix, g.prefix, ds.bridge_name) != 0)
        fail_msg("cannot add the test veths");
    size_t mark = audit_mark();
    bool existed;
    int rc = kk_netd_network_delete(g.hp.sock, g.realm, g.space_d, &existed, &err);
    bool marked_gone = !link_exists(dc.veth_host);
    bool foreign_kept = link_exists(ds.bridge_name) && sh("ip link show %s-x >/dev/null 2>&1", g.prefix) == 0;
    sh("ip link del %s-x 2>/dev/null; ip link del %s 2>/dev/null", g.prefix, dc.veth_host);
    expect_denied(rc, &err, "state", "network.delete", mark);
    assert_true(marked_gone);
    assert_true(foreign_kept);
    if (kk_netd_network_delete(g.hp.sock, g.realm, g.space_d, &existed, &err) < 0)
        fail_msg("delete %s: %s", g.space_d, err.msg);
    assert_true(existed);
    assert_false(link_exists(ds.bridge_name));
}

static void test_gc(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct kk_err err = {0};
    struct kk_netd_network n;
    if (kk_netd_network_ensure(g.hp.sock, g.realm, g.space_f, &n, &err) < 0)
        fail_msg("ensure %s: %s", g.space_f, err.msg);
    struct kk_derived ds;
    derive_space(g.space_f, &ds);
    /* Its record lost (a crash of the controller's delete half-way): the bridge is netd's and used
     * by nothing, so gc removes it; space b's bridge, in use, stays. */
    char dir[1300];
    sh("rm -f %s/network.json", space_state(g.space_f, dir, sizeof(dir)));
    size_t removed = 0;
    if (kk_netd_gc(g.hp.sock, &removed, &err) < 0)
        fail_msg("gc: %s", err.msg);
    assert_true(removed >= 1);
    assert_false(link_exists(ds.bridge_name));
    struct kk_derived db;
    derive_space(g.space_b, &db);
    assert_true(link_exists(db.bridge_name));
    kk_netd_network_delete(g.hp.sock, g.realm, g.space_f, NULL, &err);
}

static void test_host_as_before(void **state)
{
    (void)state;
    SKIP_IF_NEEDED();
    struct kk_err err = {0};
    const char *spaces[] = {g.space_b, g.space_e};
    for (int s = 0; s < 2; s++) {
        for (int c = 0; c < 8; c++)
            if (kk_netd_cell_delete(g.hp.sock, g.realm, spaces[s], g.stack, cells[c], NULL, &err) < 0)
                fail_msg("delete %s/%s: %s", spaces[s], cells[c], err.msg);
        if (kk_netd_network_delete(g.hp.sock, g.realm, spaces[s], NULL, &err) < 0)
            fail_msg("delete %s: %s", spaces[s], err.msg);
    }
    netd_stop();
    if (!g.fwd_before)
        sh("iptables -w 5 -D FORWARD -j KUKEON-FORWARD; iptables -w 5 -F KUKEON-FORWARD; iptables -w 5 -X "
           "KUKEON-FORWARD");
    char *after = host_snapshot();
    if (strcmp(after, g.before) != 0) {
        char path_b[PATH_MAX], path_a[PATH_MAX];
        snprintf(path_b, sizeof(path_b), "%s/host.before", g.tmp);
        snprintf(path_a, sizeof(path_a), "%s/host.after", g.tmp);
        FILE *fb = fopen(path_b, "w"), *fa = fopen(path_a, "w");
        if (fb != NULL) {
            fputs(g.before, fb);
            fclose(fb);
        }
        if (fa != NULL) {
            fputs(after, fa);
            fclose(fa);
        }
        char *diff = sh_out("diff %s %s | head -20", path_b, path_a);
        print_message("# host changed:\n%s", diff);
        free(diff);
        free(after);
        fail_msg("the host's links, namespaces, CNI dirs or iptables differ from before the test");
    }
    free(after);
    /* And everything netd made for the spaces is gone: its state dir holds only the allocation
     * lock, and the run path (the API worker's) was never written. */
    assert_int_equal(sh("find %s -name 'network.json' -o -name '*.conflist' | grep -q .", g.tmp), 1);
    char *left = sh_out("ls -A %s; echo ==; ls -A %s", g.state, g.run);
    assert_string_equal(left, ".network.lock\n==\n");
    free(left);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_forward),
        cmocka_unit_test(test_space_network),
        cmocka_unit_test(test_two_cells_ping),
        cmocka_unit_test(test_check_and_status),
        cmocka_unit_test(test_other_space),
        cmocka_unit_test(test_forged_host_namespace),
        cmocka_unit_test(test_forged_link_outside),
        cmocka_unit_test(test_forged_foreign_bridge),
        cmocka_unit_test(test_forged_names),
        cmocka_unit_test(test_forged_field_is_fatal),
        cmocka_unit_test(test_kill_between_add_and_reply),
        cmocka_unit_test(test_delete_cell),
        cmocka_unit_test(test_delete_space),
        cmocka_unit_test(test_delete_space_with_leftovers),
        cmocka_unit_test(test_gc),
        cmocka_unit_test(test_host_as_before),
    };
    return cmocka_run_group_tests_name("kuke-netd", tests, group_setup, group_teardown);
}
