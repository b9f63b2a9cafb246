/* Operator plumbing shared by kuke's verbs: starting kukeond as the systemd service where systemd
 * runs (else as a background process), and the host checks behind `kuke status` and `kuke doctor`. */
#ifndef KUKEON_KUKE_SERVICE_H
#define KUKEON_KUKE_SERVICE_H

#include <stdbool.h>

#include "common/err.h"
#include "kuke/cli.h"

#define KUKEON_SYSTEMD_UNIT "kukeond.service"

/* Whether PID 1 is systemd (sd_booted(3): /run/systemd/system exists). */
bool kuke_systemd_running(void);

/* Whether the unit is installed where systemd looks (systemctl knows it). */
bool kuke_systemd_unit_installed(void);

/* Start kukeond the way this host wants: `systemctl enable --now kukeond.service` when systemd runs,
 * the unit is installed and this invocation uses the default daemon configuration (an explicit
 * --run-path, --host, --socket... means a private daemon the unit does not describe); otherwise
 * `kuke daemon start`. *used_systemd says which, and a line on stdout says it too. Idempotent. */
int kuke_service_start(struct kuke_ctx *ctx, bool *used_systemd, struct kk_err *err);

/* Run argv (argv[0] looked up in PATH) with stdout and stderr to /dev/null unless show_output.
 * Returns its exit status, 127 if it could not run, -1 if killed. */
int kuke_run_quiet(char *const argv[], bool show_output);

/* For `kuke __man`: the root command and global flags the man page generator walks (kuke/cmd_man.c). */
void kuke_man_set_root(const struct kuke_cmd *root, const struct kuke_opt *global_opts);

/* ---- host checks (kuke/cmd_doctor.c) ---------------------------------------------------------- */

enum kuke_check_status { KUKE_CHECK_OK, KUKE_CHECK_WARN, KUKE_CHECK_FAIL };

/* Which sections a report holds. */
enum {
    KUKE_SECTION_DAEMON = 1 << 0,  /* socket, version, service */
    KUKE_SECTION_HOST = 1 << 1,    /* containerd, cgroup v2, CNI plugins, iptables */
    KUKE_SECTION_STATE = 1 << 2,   /* orphaned netns, cgroups, containerd namespaces, sockets */
    KUKE_SECTION_SANDBOX = 1 << 3, /* each process of the group: seccomp, capabilities, user */
    KUKE_SECTION_LOGS = 1 << 4,    /* log directory and audit logs writable */
    KUKE_SECTION_CGROUPS = 1 << 5, /* each controller available and delegated to the cgroup root */
};

/* Run the checks of the given sections and print them (table, or --json as kukeon-reference.md
 * 2.10 describes). Returns -1 with err when any check FAILs (the CLI then exits 1), else 0. */
int kuke_checks_run(struct kuke_ctx *ctx, unsigned sections, struct kk_err *err);

int kuke_cmd_status(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_doctor(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_doctor_cgroups(struct kuke_ctx *ctx, struct kk_err *err);
int kuke_cmd_man(struct kuke_ctx *ctx, struct kk_err *err);

#endif
