/* Registry credentials, the parts without state: a serverAddress normalised to the registry host it
 * names, the matching of a reference's domain to an entry, and wiping a password from memory. The
 * storage and the lookup are the controller's (kukeond/ctl_regcred.c). */
#include "kukeond/regcred.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "kukeond/doc.h"

/* The names Docker's own tools give the Docker Hub: one entry serves them all. */
static const char *const docker_hub_aliases[] = {"docker.io", "index.docker.io", "registry-1.docker.io",
                                                 "registry.hub.docker.com"};
#define DOCKER_HUB "docker.io"

static bool has_control(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return true;
    return false;
}

/* A DNS name (letters, digits, '-' and '.', no empty label, no label starting or ending in '-'). */
static bool host_name_valid(const char *h, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = h[i];
        if (c == '.') {
            if (label == 0 || h[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!isalnum((unsigned char)c) && c != '-')
            return false;
        if (c == '-' && label == 0)
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0 && h[len - 1] != '-';
}

/* "[v6]" as written in a URL: hex digits, ':' and '.' between the brackets. */
static bool host_v6_valid(const char *h, size_t len)
{
    if (len < 4 || h[0] != '[' || h[len - 1] != ']')
        return false;
    for (size_t i = 1; i + 1 < len; i++)
        if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.')
            return false;
    return true;
}

int kk_regcred_normalize_server(const char *in, char out[KK_REGCRED_SERVER_MAX], struct kk_err *err)
{
    out[0] = '\0';
    if (in == NULL)
        in = "";
    if (has_control(in))
        return kk_error(
            err, KK_ERR_INVALID, 0,
            "must be a registry host[:port] such as ghcr.io or 127.0.0.1:5000; it holds a control "
            "character");
    /* White space around it is the manifest's, not the address's. */
    while (*in == ' ' || *in == '\t')
        in++;
    size_t len = strlen(in);
    while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t'))
        len--;
    if (len >= KK_REGCRED_SERVER_MAX + 16)
        return kk_error(err, KK_ERR_INVALID, 0, "must be a registry host[:port] of at most %d bytes",
                        KK_REGCRED_SERVER_MAX - 1);
    char buf[KK_REGCRED_SERVER_MAX + 16];
    memcpy(buf, in, len);
    buf[len] = '\0';
    const char *s = buf;
    char *sep = strstr(buf, "://");
    if (sep != NULL) {
        *sep = '\0';
        if (strcasecmp(buf, "https") != 0)
            return kk_error(err, KK_ERR_INVALID, 0,
                            "scheme \"%s://\" is not supported: registries are reached over https; write the "
                            "host[:port] alone (e.g. \"ghcr.io\"), and set insecureSkipTLSVerify for a "
                            "registry with a self-signed certificate",
                            buf);
        s = sep + 3;
    }
    if (strpbrk(s, "@?# ") != NULL)
        /* Not shown: "user:password@host" would put a password in the message. */
        return kk_error(err, KK_ERR_INVALID, 0,
                        "must be a registry host[:port] such as ghcr.io or 127.0.0.1:5000, without user "
                        "information ('@'), query or spaces: the user name and password have fields of their "
                        "own");
    size_t hostlen = strcspn(s, "/");
    const char *path = s + hostlen;
    char host[KK_REGCRED_SERVER_MAX];
    if (hostlen >= sizeof(host))
        return kk_error(err, KK_ERR_INVALID, 0, "must be a registry host[:port] of at most %d bytes",
                        KK_REGCRED_SERVER_MAX - 1);
    for (size_t i = 0; i < hostlen; i++)
        host[i] = (char)tolower((unsigned char)s[i]);
    host[hostlen] = '\0';
    if (hostlen == 0) {
        if (sep != NULL || path[0] != '\0')
            return kk_error(err, KK_ERR_INVALID, 0,
                            "names no registry host: write a host[:port] such as ghcr.io, or leave it empty "
                            "for docker.io");
        return kk_strlcpy(out, DOCKER_HUB, KK_REGCRED_SERVER_MAX) < 0 ? -1 : 0;
    }
    /* host and port */
    const char *port = NULL;
    size_t namelen = hostlen;
    if (host[0] == '[') {
        char *close = strchr(host, ']');
        if (close == NULL)
            return kk_error(err, KK_ERR_INVALID, 0, "\"%s\": an IPv6 address needs its closing ']'", host);
        namelen = (size_t)(close - host) + 1;
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return kk_error(err, KK_ERR_INVALID, 0, "\"%s\" is not a host[:port]", host);
    } else {
        char *colon = strchr(host, ':');
        if (colon != NULL) {
            namelen = (size_t)(colon - host);
            port = colon + 1;
        }
    }
    bool v6 = host[0] == '[';
    if (v6 ? !host_v6_valid(host, namelen) : !host_name_valid(host, namelen))
        return kk_error(
            err, KK_ERR_INVALID, 0,
            "\"%s\" is not a registry host[:port]: the host must be a DNS name, an IPv4 address or "
            "a bracketed IPv6 address",
            host);
    if (port != NULL) {
        uint64_t p;
        bool digits = port[0] != '\0' && strspn(port, "0123456789") == strlen(port);
        if (!digits || kk_parse_u64(port, 1, 65535, &p) < 0)
            return kk_error(err, KK_ERR_INVALID, 0, "\"%s\": the port must be a number from 1 to 65535",
                            host);
    }
    bool hub = false;
    if (port == NULL)
        for (size_t i = 0; i < KK_ARRAY_SIZE(docker_hub_aliases) && !hub; i++)
            hub = strcmp(host, docker_hub_aliases[i]) == 0;
    /* Only docker's own legacy address keeps a path: "https://index.docker.io/v1/". */
    bool path_ok = path[0] == '\0' || strcmp(path, "/") == 0 ||
                   (hub && (strcmp(path, "/v1/") == 0 || strcmp(path, "/v1") == 0));
    if (!path_ok)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "\"%s\" has a path (\"%s\"): a credential is per registry host; write \"%s\" alone",
                        buf, path, host);
    return kk_strlcpy(out, hub ? DOCKER_HUB : host, KK_REGCRED_SERVER_MAX) < 0
               ? kk_error(err, KK_ERR_INVALID, 0, "registry host is too long")
               : 0;
}

bool kk_regcred_server_matches(const char *entry, const char *server)
{
    char a[KK_REGCRED_SERVER_MAX], b[KK_REGCRED_SERVER_MAX];
    if (entry == NULL || server == NULL || server[0] == '\0')
        return false;
    if (kk_regcred_normalize_server(entry, a, NULL) < 0 || kk_regcred_normalize_server(server, b, NULL) < 0)
        return false;
    return strcmp(a, b) == 0;
}

int kk_regcred_check_username(const char *u, struct kk_err *err)
{
    if (u == NULL || u[0] == '\0')
        return kk_error(err, KK_ERR_INVALID, 0, "is required: the user name to log in to the registry with");
    if (strlen(u) >= KK_REGCRED_USERNAME_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "is longer than %d bytes", KK_REGCRED_USERNAME_MAX - 1);
    for (const unsigned char *p = (const unsigned char *)u; *p != '\0'; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == ' ')
            return kk_error(err, KK_ERR_INVALID, 0,
                            "must be printable, without spaces or control characters");
        /* Basic authentication sends "user:password": a colon would end the name early. */
        if (*p == ':')
            return kk_error(err, KK_ERR_INVALID, 0, "must not contain ':' (HTTP basic authentication)");
    }
    return 0;
}

/* Never says what the password is, only what is wrong with it. */
int kk_regcred_check_password(const char *p, struct kk_err *err)
{
    if (p == NULL || p[0] == '\0')
        return kk_error(err, KK_ERR_INVALID, 0, "must not be empty");
    if (strlen(p) >= KK_REGCRED_PASSWORD_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "is longer than %d bytes", KK_REGCRED_PASSWORD_MAX - 1);
    if (has_control(p))
        return kk_error(err, KK_ERR_INVALID, 0,
                        "holds a control character (a trailing newline from a file or a pipe?): remove it");
    return 0;
}

void kk_regcred_wipe(struct kk_regcred *c)
{
    if (c != NULL)
        explicit_bzero(c, sizeof(*c));
}

void kk_regcred_redact(json_t *realm_doc)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(kk_doc_spec(realm_doc), "registryCredentials"), i, c)
    {
        json_t *pw = json_object_get(c, "password");
        if (json_is_string(pw))
            explicit_bzero((char *)json_string_value(pw), json_string_length(pw));
        json_object_del(c, "password");
    }
}
