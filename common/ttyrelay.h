/* The terminal relay protocol between kuketty (the relay that runs as PID 1 of every attachable
 * container, kuketty/main.c) and its attach clients (kuke attach, kuketty attach). One Unix stream
 * socket per container, docs/terminals.md:
 *
 *   client -> relay: frames, a 4-byte header {type, 0, length (big endian, 16 bits)} and the payload:
 *       KK_TTY_DATA     keyboard bytes for the workload's terminal
 *       KK_TTY_WINSIZE  rows and columns (big endian, 16 bits each)
 *   relay -> client: the terminal's output, raw, as the workload writes it. The relay closes the
 *       connection when the workload exits or when the client cannot keep up.
 *
 * Framing only goes one way because only the client has two kinds of things to say; the output is
 * the same bytes the capture file gets. */
#ifndef KUKEON_COMMON_TTYRELAY_H
#define KUKEON_COMMON_TTYRELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define KK_TTY_DATA    1
#define KK_TTY_WINSIZE 2

#define KK_TTY_HDR         4
#define KK_TTY_PAYLOAD_MAX 4096

/* Where the relay keeps its files inside the container, and their names in that directory. */
#define KK_TTY_DIR_IN_CONTAINER   "/run/kukeon/tty"
#define KK_TTY_RELAY_IN_CONTAINER "/.kukeon/bin/kuketty"
#define KK_TTY_SOCKET             "socket"
#define KK_TTY_CAPTURE            "capture"
#define KK_TTY_RELAY_LOG          "kuketty.log"
/* The workload's end, "exited N\n" or "signaled N\n". A relay replaces any previous file with an empty
 * one when it starts, and writes the line, in one write, when the workload ends, before it closes its
 * clients. Only a whole line counts: an empty file (still running, or a relay killed outright) or a
 * partial one is no status. kuke run --rm reads it to keep a failed workload's cell. Not written
 * through a temporary file and a rename: by then the relay has dropped its capabilities and cannot
 * write the directory (the kukeon user's) any more, only the file it opened. */
#define KK_TTY_EXIT     "exit"
#define KK_TTY_EXIT_MAX 32 /* bytes: the longest content, with room to spare */

/* The detach key: two of these in a row (Ctrl-], Ctrl-]). */
#define KK_TTY_DETACH_KEY 0x1d

/* Encode one frame into buf (KK_TTY_HDR + len bytes). */
void kk_tty_frame(uint8_t *buf, uint8_t type, const void *payload, uint16_t len);

/* The exit file's content for a wait status (waitpid's), into buf. Returns its length, or -1 when buf is
 * too small or the status is neither an exit nor a signal. */
int kk_tty_exit_format(int wstatus, char *buf, size_t size);

/* Parse an exit file's content (len bytes, not terminated): *signaled, and *code (the exit code or
 * the signal number). -1 when it is not exactly one such line. */
int kk_tty_exit_parse(const char *buf, size_t len, bool *signaled, int *code);

/* How an attach ended. */
enum kk_tty_end {
    KK_TTY_END_DETACH = 0, /* the user pressed the detach key */
    KK_TTY_END_CLOSED,     /* the relay closed the connection (the workload exited) */
};

/* Attach the terminal on fds in/out to the relay socket at path until the user detaches or the relay
 * closes. A terminal on in is put in raw mode and restored on every way out (also on SIGTERM, SIGHUP
 * and SIGINT, which end the attach); its window size is sent at once and on every SIGWINCH. what
 * names the target in messages ('container "c" in cell "x"'). Returns the end, or -1 with err. */
int kk_tty_attach(const char *path, int in, int out, const char *what, enum kk_tty_end *end,
                  struct kk_err *err);

#endif
