/* Native journal protocol (see journal.h): one datagram of "FIELD=value\n" lines to the journal's
 * socket. Written by hand so that the group needs no libsystemd; values here never hold a newline
 * (log lines are escaped), so the binary field form is not needed and is refused. */
#include "kukeond/journal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"

bool kd_journal_wanted(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    if (js == NULL || js[0] == '\0')
        return false;
    unsigned long long dev, ino;
    if (sscanf(js, "%llu:%llu", &dev, &ino) != 2)
        return false;
    struct stat st;
    return fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
           (unsigned long long)st.st_ino == ino;
}

/* syslog(3) priorities. */
static int kd_journal_priority(enum kk_log_level level)
{
    switch (level) {
    case KK_LOG_DEBUG:
        return 7;
    case KK_LOG_INFO:
        return 6;
    case KK_LOG_WARN:
        return 4;
    case KK_LOG_ERROR:
        return 3;
    }
    return 6;
}

int kd_journal_send(const char *path, const char *ident, pid_t pid, enum kk_log_level level,
                    const char *message)
{
    if (strchr(message, '\n') != NULL || strchr(ident, '\n') != NULL) {
        errno = EINVAL;
        return -1;
    }
    char buf[4096];
    int n = snprintf(buf, sizeof(buf),
                     "PRIORITY=%d\nSYSLOG_IDENTIFIER=%s\nKUKEON_PROCESS=%s\nSYSLOG_PID=%d\nMESSAGE=%s\n",
                     kd_journal_priority(level), ident, ident, (int)pid, message);
    if (n < 0 || (size_t)n >= sizeof(buf)) {
        errno = EMSGSIZE;
        return -1;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path));
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (sendto(fd, buf, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -1;
    return 0;
}

int kd_journal_relay_line(const char *path, const char *ident, pid_t pid, const char *line)
{
    enum kk_log_level level = KK_LOG_INFO;
    const char *lv = strstr(line, " level=");
    if (lv != NULL) {
        char name[8] = "";
        size_t i = 0;
        for (lv += 7; i < sizeof(name) - 1 && lv[i] != '\0' && lv[i] != ' '; i++)
            name[i] = lv[i];
        name[i] = '\0';
        if (kk_log_parse_level(name, &level) < 0)
            level = KK_LOG_INFO;
    }
    return kd_journal_send(path, ident, pid, level, line);
}
