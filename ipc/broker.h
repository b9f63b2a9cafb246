/* The containerd connection broker. kuke-ctrd runs as its own unprivileged user and cannot connect
 * to containerd's socket (root:root 0660) by itself. It connects once as root before dropping its
 * identity; when containerd restarts, it asks the supervisor for a fresh connection over a
 * dedicated socketpair (fd 6 of kuke-ctrd). The supervisor reads one byte, nothing else: it connects
 * to the containerd socket of its own configuration (never a path from the helper) and passes the
 * connected descriptor back. A request that is not exactly the one byte ends the channel. */
#ifndef KUKEON_IPC_BROKER_H
#define KUKEON_IPC_BROKER_H

#include "common/err.h"

enum { KK_BROKER_FD = 6 }; /* kuke-ctrd's end of the broker socketpair */

/* Connect to a unix stream socket (as the caller's identity). Returns the fd or -1. */
int kk_connect_unix(const char *path, struct kk_err *err);

/* ctrd side: ask for a new connection; returns the connected fd (O_CLOEXEC) or -1 with err. */
int kk_broker_request(int sock, int timeout_ms, struct kk_err *err);

/* Supervisor side: serve one request from sock. Returns 0 when served (even if the connect failed:
 * the failure is reported to the helper), -1 when the channel must be closed (EOF or a malformed
 * request). */
int kk_broker_serve_one(int sock, const char *containerd_socket, struct kk_err *err);

#endif
