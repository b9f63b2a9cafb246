/* Readiness for systemd (Type=notify): the sd_notify datagram protocol, written by hand so that the
 * daemon group needs no libsystemd. Outside systemd ($NOTIFY_SOCKET unset) every call is a no-op. */
#ifndef KUKEON_KUKEOND_NOTIFY_H
#define KUKEON_KUKEOND_NOTIFY_H

/* Send state ("READY=1", "STOPPING=1", "STATUS=...", newline-separated) to $NOTIFY_SOCKET.
 * Returns 1 if sent, 0 if not under systemd, -1 if the socket refused it (errno set). */
int kd_sd_notify(const char *state);

/* Fork a child that pings the API at api_socket until it answers (at most timeout_ms), then sends
 * READY=1 with the supervisor as MAINPID, and exits. The supervisor's loop reaps it like any
 * stranger; the unit needs NotifyAccess=all because the datagram comes from the child. Does nothing
 * outside systemd. */
void kd_sd_notify_ready_async(const char *api_socket, int timeout_ms);

#endif
