/* kukeond internals: the supervisor (root) and the API worker (user kukeon). */
#ifndef KUKEON_KUKEOND_H
#define KUKEON_KUKEOND_H

#include <stdbool.h>

#include "common/config.h"
#include "common/err.h"

/* File descriptors a child of the supervisor receives, after 0/1/2. */
enum {
    KD_FD_REQUEST = 3, /* helpers: the request socket; API worker: the listening socket */
    KD_FD_CONFIG = 4,  /* every child: sealed memfd with the effective configuration */
    KD_FD_AUDIT = 5,   /* helpers: their audit log, opened O_APPEND by the supervisor */
    KD_FD_API_CGD = 5, /* API worker: its ends of the helper socketpairs */
    KD_FD_API_NETD = 6,
    KD_FD_API_CTRD = 7,
    KD_FD_API_FETCHD = 8,
};

int kukeond_config_load_yaml(struct kk_config *cfg, const char *path, bool must_exist, struct kk_err *err);

/* Run the supervisor in the foreground until SIGTERM/SIGINT. Returns the exit code. */
int kukeond_supervise(const struct kk_config *cfg, struct kk_err *err);

/* The API worker's main, exec'd by the supervisor as "kukeond api". Returns the exit code. */
int kukeond_api_main(void);

#endif
