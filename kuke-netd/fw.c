/* The KUKEON-FORWARD chain (kukeon-reference.md section 8.2): in the filter table, jumped to from
 * FORWARD, it lets replies back in and lets traffic into the kukeon bridges, so cells reach each
 * other and, through the bridge plugin's masquerade, the outside, even on hosts whose FORWARD policy
 * is DROP (Docker's). Asserted at start and on request, each piece only when missing. iptables is
 * run as a program (Debian's is iptables-nft) under netd's runner, with a fixed argv. */
#include "kuke-netd/netd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

#define FW_CHAIN "KUKEON-FORWARD"
/* An argv tail; at most this many words. */
#define FW_ARGS_MAX 24

void netd_fw_pick_iptables(char *buf, size_t size)
{
    static const char *const candidates[] = {"/usr/sbin/iptables", "/sbin/iptables"};
    for (size_t i = 0; i < KK_ARRAY_SIZE(candidates); i++) {
        if (access(candidates[i], X_OK) == 0) {
            kk_strlcpy(buf, candidates[i], size);
            return;
        }
    }
    buf[0] = '\0';
}

int netd_fw_iptables(struct netd_ctx *c, const char *const *args, struct kk_err *err)
{
    if (c->iptables[0] == '\0')
        return kk_error(err, KK_ERR_UNAVAILABLE, 0, "iptables is not installed: install it (make deps)");
    /* -w 5: wait for the xtables lock a while, never forever (a plugin may hold it). */
    const char *argv[FW_ARGS_MAX + 4] = {"iptables", "-w", "5"};
    size_t n = 3;
    for (size_t i = 0; args[i] != NULL; i++) {
        if (n >= FW_ARGS_MAX + 3)
            return kk_error(err, KK_ERR_INTERNAL, 0, "iptables command too long");
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    char errtext[512];
    int code;
    _cleanup_free_ char *out = NULL;
    if (netd_run_program(c, c->iptables, (char *const *)argv, envp, NULL, &out, errtext, sizeof(errtext),
                         &code, err) < 0)
        return -1;
    return code;
}

/* The chain's rules, in order; each is checked with -C and appended with -A when missing. */
static const char *const fw_rules[][12] = {
    /* Replies to connections the cells (or the host) opened. */
    {"-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-m", "comment", "--comment",
     "kukeon-forward:established", "-j", "ACCEPT", NULL},
    /* From elsewhere into a kukeon bridge: the host's published traffic, another space's cells. */
    {"!", "-i", "k-+", "-o", "k-+", "-m", "comment", "--comment", "kukeon-forward:ingress", "-j", "ACCEPT",
     NULL},
    /* Out of a kukeon bridge: to another cell or to the outside (masqueraded by the bridge plugin).
     * This stands in for the per-space egress chains of reference 8.2, which come later and are
     * jumped to before this chain, so a space's deny policy will still win. */
    {"-i", "k-+", "-m", "comment", "--comment", "kukeon-forward:egress", "-j", "ACCEPT", NULL},
};

static int fw_with(struct netd_ctx *c, const char *op, const char *chain, const char *const *rule,
                   struct kk_err *err)
{
    const char *args[FW_ARGS_MAX];
    size_t n = 0;
    args[n++] = "-t";
    args[n++] = "filter";
    args[n++] = op;
    args[n++] = chain;
    if (strcmp(op, "-I") == 0)
        args[n++] = "1";
    for (size_t i = 0; rule != NULL && rule[i] != NULL && n < FW_ARGS_MAX - 1; i++)
        args[n++] = rule[i];
    args[n] = NULL;
    return netd_fw_iptables(c, args, err);
}

int netd_fw_ensure(struct netd_ctx *c, struct kk_err *err)
{
    int added = 0;
    int rc = fw_with(c, "-S", FW_CHAIN, NULL, err);
    if (rc < 0)
        return -1;
    if (rc != 0) {
        if ((rc = fw_with(c, "-N", FW_CHAIN, NULL, err)) != 0)
            return rc < 0
                       ? -1
                       : kk_error(err, KK_ERR_INTERNAL, 0, "iptables -N %s failed (exit %d)", FW_CHAIN, rc);
        added = 1;
    }
    for (size_t i = 0; i < KK_ARRAY_SIZE(fw_rules); i++) {
        rc = fw_with(c, "-C", FW_CHAIN, fw_rules[i], err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            continue;
        if ((rc = fw_with(c, "-A", FW_CHAIN, fw_rules[i], err)) != 0)
            return rc < 0 ? -1
                          : kk_error(err, KK_ERR_INTERNAL, 0, "iptables -A %s (rule %zu) failed (exit %d)",
                                     FW_CHAIN, i + 1, rc);
        added = 1;
    }
    static const char *const jump[] = {"-j", FW_CHAIN, NULL};
    rc = fw_with(c, "-C", "FORWARD", jump, err);
    if (rc < 0)
        return -1;
    if (rc != 0) {
        /* First, so that a DROP rule someone appended to FORWARD does not shadow it. */
        if ((rc = fw_with(c, "-I", "FORWARD", jump, err)) != 0)
            return rc < 0 ? -1
                          : kk_error(err, KK_ERR_INTERNAL, 0, "iptables -I FORWARD -j %s failed (exit %d)",
                                     FW_CHAIN, rc);
        added = 1;
    }
    return added;
}
