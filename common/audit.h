/* The audit log of every helper: one line per decision, caller-supplied text escaped so no line can
 * be forged, written with one write() so lines never tear or interleave:
 *   2026-11-29T19:40:00.123Z helper=kuke-cgd request=42 op=cgroup.write realm="main" knob="memory.max"
 * decision=denied reason="not-in-table: ..."
 *
 * Who rotates. A sandboxed helper may not open() or rename() once its seccomp filter is loaded, and
 * its uid need not be able to write in /var/log/kukeon. So the helper only ever write()s to an fd it
 * was given before the sandbox (kk_audit_use_fd): in the daemon, the write end of a pipe whose reader
 * is the supervisor, which appends the lines to the file with its own struct kk_audit opened by path
 * (kk_audit_open, kk_audit_append) and so rotates freely. A process that opens the log by path
 * itself (the supervisor, the in-process launcher, a helper before its sandbox) owns the file: it
 * rotates when a write would take the file over max_bytes (rename to <path>.1, replacing the older
 * one, and open a fresh file), and at open. If rotation fails (no rights any more) it keeps writing
 * to the fd it has: a line is never dropped for the sake of rotation. */
#ifndef KUKEON_COMMON_AUDIT_H
#define KUKEON_COMMON_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "common/err.h"

#define KK_AUDIT_DEFAULT_DIR       "/var/log/kukeon"
#define KK_AUDIT_DEFAULT_MAX_BYTES (10u * 1024u * 1024u)
/* One line is one write(); PIPE_BUF (4096 on Linux) keeps it atomic on a pipe. The field bounds
 * below keep a full line under it, so nothing but the "..." of an over-long value is ever cut. */
#define KK_AUDIT_LINE_MAX   4096
#define KK_AUDIT_HELPER_MAX 32   /* program name, e.g. "kuke-netd" */
#define KK_AUDIT_OP_MAX     48   /* operation, e.g. "cgroup.write" */
#define KK_AUDIT_KEY_MAX    24   /* name key, [A-Za-z0-9_.-] */
#define KK_AUDIT_VALUE_MAX  256  /* one escaped value, "..." included */
#define KK_AUDIT_REASON_MAX 1024 /* the escaped reason */
#define KK_AUDIT_NAMES_MAX  8
#define KK_AUDIT_PATH_MAX   256

enum kk_audit_decision {
    KK_AUDIT_OK = 0, /* done */
    KK_AUDIT_DENIED, /* refused, well-formed: the helper lives on */
    KK_AUDIT_ERROR,  /* allowed but failed */
    KK_AUDIT_FATAL,  /* protocol violation: the helper ends */
};
const char *kk_audit_decision_name(enum kk_audit_decision d);

/* A validated name; keys are written by code, values may come from the caller and are escaped. */
struct kk_audit_kv {
    const char *key;
    const char *value;
};

struct kk_audit_event {
    uint32_t request_id;
    const char *operation;
    const struct kk_audit_kv *names;
    size_t n_names; /* at most KK_AUDIT_NAMES_MAX are written */
    enum kk_audit_decision decision;
    const char *reason; /* NULL or "" for none */
};

struct kk_audit {
    int fd;
    bool owns_path;     /* opened by path here: this process rotates */
    uint64_t max_bytes; /* rotate threshold when owns_path; 0: never */
    char helper[KK_AUDIT_HELPER_MAX];
    char path[KK_AUDIT_PATH_MAX];
};

/* "/var/log/kukeon/<helper>.log" into buf. */
int kk_audit_default_path(const char *helper, char *buf, size_t size, struct kk_err *err);

/* Open path (NULL: the default path) with O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC|O_NOFOLLOW, mode
 * 0640, rotating it first when it is over max_bytes (0: never rotate). Call before any sandbox. */
int kk_audit_open(struct kk_audit *a, const char *helper, const char *path, uint64_t max_bytes,
                  struct kk_err *err);
/* Write lines to fd (a pipe to the supervisor, or a file someone else rotates); takes ownership. */
int kk_audit_use_fd(struct kk_audit *a, const char *helper, int fd, struct kk_err *err);
void kk_audit_close(struct kk_audit *a);

/* Format ev as one line ending in '\n' into buf (at least KK_AUDIT_LINE_MAX bytes for a full line).
 * Pure: the caller gives the time. Returns the length, or -1 when buf is too small. */
int kk_audit_format(char *buf, size_t size, const char *helper, const struct timespec *now,
                    const struct kk_audit_event *ev, struct kk_err *err);
/* Format ev with the current time and write it (rotating first when this process owns the path). */
int kk_audit_log(struct kk_audit *a, const struct kk_audit_event *ev, struct kk_err *err);
/* Append already formatted lines (the supervisor relaying a helper's pipe): one write, rotating first. */
int kk_audit_append(struct kk_audit *a, const char *data, size_t len, struct kk_err *err);

/* RFC 3339 UTC with milliseconds ("2026-11-29T19:40:00.123Z", 24 bytes + NUL) computed by arithmetic:
 * glibc's gmtime_r may open /etc/localtime on first use, which a sandboxed helper may not do. */
int kk_audit_timestamp(const struct timespec *ts, char *buf, size_t size);

#endif
