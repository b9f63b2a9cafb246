/* Registry credentials of a realm (spec.registryCredentials). The realm document keeps each entry's
 * username, serverAddress and insecureSkipTLSVerify; the passwords live only in
 * <realm dir>/secrets/registry-credentials.json (directory 0700, file 0600, owned by the store's
 * user), because store documents are readable by every member of group kukeon. A pull asks
 * kk_ctl_regcred_lookup for the entry of the registry it talks to and passes it to kuke-fetchd in
 * the request; nothing else reads the secrets. */
#ifndef KUKEON_KUKEOND_REGCRED_H
#define KUKEON_KUKEOND_REGCRED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

struct kk_ctl;

#define KK_REGCRED_SERVER_MAX   256 /* a normalised host[:port], NUL included */
#define KK_REGCRED_USERNAME_MAX 256 /* NUL included */
#define KK_REGCRED_PASSWORD_MAX 1024

struct kk_regcred {
    bool found; /* false: the realm has no entry for that server (pull anonymously) */
    char username[KK_REGCRED_USERNAME_MAX];
    char password[KK_REGCRED_PASSWORD_MAX];
    bool insecure_skip_tls_verify;
};

/* The credentials of realm for registry server ("docker.io", "ghcr.io", "127.0.0.1:5000": the
 * domain of a reference as common/imageref.h gives it; it is normalised like an entry's
 * serverAddress, so "index.docker.io" finds the docker.io entry). 0 with out->found true or false;
 * -1 with err when the realm does not exist (KK_ERR_NOT_FOUND) or its secrets cannot be read.
 * out->password is wiped by the caller with kk_regcred_wipe once it is sent. */
int kk_ctl_regcred_lookup(struct kk_ctl *ctl, const char *realm, const char *server, struct kk_regcred *out,
                          struct kk_err *err);

/* An entry's username: non-empty, printable, no spaces, no ':' (basic authentication). An entry's
 * password: non-empty, no control bytes; the message never shows it. Both KK_ERR_INVALID with a
 * message that completes "<field> ...". */
int kk_regcred_check_username(const char *u, struct kk_err *err);
int kk_regcred_check_password(const char *p, struct kk_err *err);

/* Wipe and drop every password member of a Realm document's spec.registryCredentials: what
 * leaves the daemon never holds one (get redacts, whatever an older store held), and a client
 * forgets the one it sent. */
void kk_regcred_redact(json_t *realm_doc);

/* Zero out (explicit_bzero) every byte of c. */
void kk_regcred_wipe(struct kk_regcred *c);

/* serverAddress as written in a manifest -> the registry host[:port] it names, lower-cased:
 * "", "docker.io", "index.docker.io", "registry-1.docker.io", "https://index.docker.io/v1/" ->
 * "docker.io"; "https://ghcr.io" or "ghcr.io/" -> "ghcr.io"; "127.0.0.1:5000" as it is. Refused
 * (KK_ERR_INVALID, saying why): a scheme other than https://, a path (other than docker's /v1/),
 * user info, query, control bytes, an empty or malformed host or port. */
int kk_regcred_normalize_server(const char *in, char out[KK_REGCRED_SERVER_MAX], struct kk_err *err);

/* Whether an entry whose normalised server is entry serves registry server (normalised first;
 * false when server does not normalise). */
bool kk_regcred_server_matches(const char *entry, const char *server);

#endif
