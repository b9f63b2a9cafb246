/* The daemon group's log under systemd: each line as a native journal entry (systemd.journal-fields(7))
 * with the process that wrote it as its SYSLOG_IDENTIFIER, so that `journalctl -u kukeond
 * SYSLOG_IDENTIFIER=kuke-netd` shows one helper. Outside systemd nothing here is used. */
#ifndef KUKEON_KUKEOND_JOURNAL_H
#define KUKEON_KUKEOND_JOURNAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/log.h"

#define KD_JOURNAL_SOCKET "/run/systemd/journal/socket"

/* Whether stderr is connected to the journal: $JOURNAL_STREAM ("<dev>:<ino>", set by systemd for a
 * unit's stdout/stderr) names the file stderr is. */
bool kd_journal_wanted(void);

/* Send one entry to the journal socket at path (KD_JOURNAL_SOCKET): MESSAGE, PRIORITY from level,
 * SYSLOG_IDENTIFIER and KUKEON_PROCESS = ident, SYSLOG_PID = pid. 0 sent, -1 not (errno set); the
 * caller then writes the line to stderr as usual. */
int kd_journal_send(const char *path, const char *ident, pid_t pid, enum kk_log_level level,
                    const char *message);

/* A line relayed from a member of the group ("... level=WARN prog=kuke-netd msg=..."): its level
 * read from the line (INFO when it has none), sent as above. */
int kd_journal_relay_line(const char *path, const char *ident, pid_t pid, const char *line);

#endif
