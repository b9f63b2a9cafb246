/* Levelled logging (see log.h). */
#include "common/log.h"

#include "common/audit.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static enum kk_log_level kk_log_level_cur = KK_LOG_INFO;
static char kk_log_prog[32] = "kukeon";
static int kk_log_fd = STDERR_FILENO;

void kk_log_init(const char *prog, enum kk_log_level level)
{
    snprintf(kk_log_prog, sizeof(kk_log_prog), "%s", prog);
    kk_log_level_cur = level;
}

void kk_log_set_level(enum kk_log_level level)
{
    kk_log_level_cur = level;
}

enum kk_log_level kk_log_get_level(void)
{
    return kk_log_level_cur;
}

void kk_log_set_fd(int fd)
{
    kk_log_fd = fd;
}

int kk_log_parse_level(const char *s, enum kk_log_level *out)
{
    static const struct {
        const char *name;
        enum kk_log_level level;
    } names[] = {
        {"debug", KK_LOG_DEBUG}, {"info", KK_LOG_INFO},   {"warn", KK_LOG_WARN},
        {"warning", KK_LOG_WARN}, {"error", KK_LOG_ERROR},
    };
    for (size_t i = 0; s != NULL && i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -1;
}

const char *kk_log_level_name(enum kk_log_level level)
{
    switch (level) {
    case KK_LOG_DEBUG:
        return "DEBUG";
    case KK_LOG_INFO:
        return "INFO";
    case KK_LOG_WARN:
        return "WARN";
    case KK_LOG_ERROR:
        return "ERROR";
    }
    return "?";
}

void kk_log(enum kk_log_level level, const char *fmt, ...)
{
    if (level < kk_log_level_cur)
        return;
    char line[2048];
    /* Our own date arithmetic: gmtime_r may open /etc/localtime, which a sandboxed helper may not. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char stamp[40];
    if (kk_audit_timestamp(&ts, stamp, sizeof(stamp)) < 0)
        stamp[0] = '\0';
    int n = snprintf(line, sizeof(line), "%s level=%s prog=%s msg=", stamp, kk_log_level_name(level), kk_log_prog);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = strnlen(line, sizeof(line) - 1);
    /* A message never spans lines: a newline inside it would let one event pose as two. */
    for (size_t i = (size_t)n; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';
    ssize_t w = write(kk_log_fd, line, len);
    (void)w;
}

/* One input byte as it appears escaped; returns its length (at most 4). */
static unsigned long log_escape_byte(unsigned char c, char tmp[4])
{
    static const char hex[] = "0123456789abcdef";
    if (c == '"' || c == '\\') {
        tmp[0] = '\\';
        tmp[1] = (char)c;
        return 2;
    }
    if (c >= 0x20 && c < 0x7f) {
        tmp[0] = (char)c;
        return 1;
    }
    tmp[0] = '\\';
    tmp[1] = 'x';
    tmp[2] = hex[c >> 4];
    tmp[3] = hex[c & 0xf];
    return 4;
}

char *kk_log_escape(const char *in, char *out, unsigned long out_size)
{
    if (out_size == 0)
        return out;
    const unsigned char *text = (const unsigned char *)(in != NULL ? in : "");
    char tmp[4];
    /* Measure first, stopping once it cannot fit: "..." is added only when something was cut, and
     * then the kept part ends on a whole escape, never half of one. */
    unsigned long total = 0;
    for (const unsigned char *p = text; *p != '\0' && total < out_size; p++)
        total += log_escape_byte(*p, tmp);
    bool fits = total < out_size;
    unsigned long budget = fits ? out_size - 1 : (out_size >= 4 ? out_size - 4 : 0);
    unsigned long o = 0;
    for (const unsigned char *p = text; *p != '\0'; p++) {
        unsigned long k = log_escape_byte(*p, tmp);
        if (o + k > budget)
            break;
        memcpy(out + o, tmp, k);
        o += k;
    }
    if (!fits && out_size >= 4) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}
