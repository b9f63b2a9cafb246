/* Levelled logging to stderr (or a file descriptor), one line per event:
 *   2026-11-29T19:40:00.123Z level=INFO prog=kukeond msg="listening" socket=/run/kukeon/kukeond.sock
 * The level comes from --log-level debug|info|warn|error (-v means debug). */
#ifndef KUKEON_COMMON_LOG_H
#define KUKEON_COMMON_LOG_H

#include <stdbool.h>

enum kk_log_level { KK_LOG_DEBUG = 0, KK_LOG_INFO, KK_LOG_WARN, KK_LOG_ERROR };

void kk_log_init(const char *prog, enum kk_log_level level);
void kk_log_set_level(enum kk_log_level level);
enum kk_log_level kk_log_get_level(void);
void kk_log_set_fd(int fd);
/* Parse "debug", "info", "warn"/"warning", "error" (case-insensitive). */
int kk_log_parse_level(const char *s, enum kk_log_level *out);
const char *kk_log_level_name(enum kk_log_level level);

void kk_log(enum kk_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define kk_debug(...) kk_log(KK_LOG_DEBUG, __VA_ARGS__)
#define kk_info(...)  kk_log(KK_LOG_INFO, __VA_ARGS__)
#define kk_warn(...)  kk_log(KK_LOG_WARN, __VA_ARGS__)
#define kk_errorf(...) kk_log(KK_LOG_ERROR, __VA_ARGS__)

/* Escape untrusted text for a log line: printable ASCII kept, '"' and '\\' escaped, every other
 * byte as \xHH, so no caller-supplied string can forge a line. Always NUL-terminates; truncates
 * with "..." when out is too small. Returns out. */
char *kk_log_escape(const char *in, char *out, unsigned long out_size);

#endif
