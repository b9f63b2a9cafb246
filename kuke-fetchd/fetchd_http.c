/* HTTPS for kuke-fetchd: libcurl's easy interface, one handle per request (connections to the
 * registry are reused across the manifest and blob requests of that request, never across two).
 *
 * Rules kept here: only https:// URLs are ever fetched (CURLOPT_PROTOCOLS_STR), TLS is verified
 * against the CA bundle read into memory before the sandbox (fetchd_init) unless the realm said
 * insecureSkipTLSVerify for the registry's own host — never for a token service or a redirect target
 * elsewhere. Redirects are followed by hand (at most FH_REDIRECTS_MAX) so that the Authorization
 * header goes to the registry's host:port and nowhere else (blob downloads are commonly redirected
 * to a CDN, whose signed URL carries its own authorisation). Credentials go out as Basic only to the
 * host whose challenge asked for them, always over TLS. The password is never put in a message. */
#include "kuke-fetchd/fetchd_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "common/log.h"
#include "common/util.h"
#include "kuke-fetchd/fetchd.h"

#define FH_CA_BUNDLE      "/etc/ssl/certs/ca-certificates.crt"
#define FH_CA_MAX         (8u * 1024u * 1024u)
#define FH_REDIRECTS_MAX  5
#define FH_ERRBODY_MAX    (64u * 1024u)  /* an error reply's body kept for its errors[].message */
#define FH_TOKEN_MAX      (256u * 1024u) /* a token service's reply */
#define FH_CHALLENGE_MAX  2048u
#define FH_URL_MAX        4096u
#define FH_BUFFER_SIZE    (256L * 1024L) /* libcurl's receive buffer */

static struct curl_blob fh_ca; /* the CA bundle, loaded once before the sandbox */

/* ---- sha256 ------------------------------------------------------------------------------------ */

struct fh_sha256 {
    EVP_MD_CTX *ctx;
};

struct fh_sha256 *fh_sha256_new(struct kk_err *err)
{
    struct fh_sha256 *h = calloc(1, sizeof(*h));
    if (h == NULL || (h->ctx = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        fh_sha256_free(h);
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "starting a SHA-256 digest");
        return NULL;
    }
    return h;
}

void fh_sha256_update(struct fh_sha256 *h, const void *data, size_t len)
{
    EVP_DigestUpdate(h->ctx, data, len);
}

void fh_sha256_final(struct fh_sha256 *h, char out[72])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->ctx, md, &n);
    memcpy(out, "sha256:", 7);
    for (unsigned i = 0; i < n && i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
    out[7 + 64] = '\0';
    fh_sha256_free(h);
}

void fh_sha256_free(struct fh_sha256 *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

bool fh_digest_valid(const char *d)
{
    if (d == NULL || strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
        return false;
    for (const char *p = d + 7; *p != '\0'; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* ---- global ------------------------------------------------------------------------------------ */

int fh_global_init(struct kk_err *err)
{
    CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK)
        return kk_error(err, KK_ERR_INTERNAL, 0, "libcurl did not initialise: %s", curl_easy_strerror(rc));
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    if (v->version_num < 0x074b00) /* 7.75: CURLOPT_CAINFO_BLOB (7.77), CURLOPT_PROTOCOLS_STR (7.85) */
        kk_warn("libcurl %s is old; kuke-fetchd was built for 7.85 or newer", v->version);
    FILE *f = fopen(FH_CA_BUNDLE, "re");
    if (f == NULL) {
        kk_warn("cannot read the CA bundle %s (%s): registries will only be reachable with "
                "insecureSkipTLSVerify; install ca-certificates",
                FH_CA_BUNDLE, strerror(errno));
        return 0;
    }
    char *buf = malloc(FH_CA_MAX);
    size_t n = buf != NULL ? fread(buf, 1, FH_CA_MAX, f) : 0;
    bool bad = ferror(f) || n == 0 || n == FH_CA_MAX;
    fclose(f);
    if (buf == NULL || bad) {
        free(buf);
        return kk_error(err, KK_ERR_UNAVAILABLE, 0, "the CA bundle %s is unreadable, empty or over %u bytes",
                        FH_CA_BUNDLE, FH_CA_MAX);
    }
    fh_ca.data = buf;
    fh_ca.len = n;
    fh_ca.flags = CURL_BLOB_NOCOPY;
    return 0;
}

/* ---- session ----------------------------------------------------------------------------------- */

int fh_session_open(struct fh_session *s, const char *endpoint, const char *path, const char *image,
                    const char *username, const char *password, bool insecure, struct kk_err *err)
{
    memset(s, 0, sizeof(*s));
    if (kk_strlcpy(s->endpoint, endpoint, sizeof(s->endpoint)) < 0 || kk_strlcpy(s->path, path, sizeof(s->path)) < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "image %s: registry or repository name too long", image);
    s->image = image;
    s->username = username != NULL ? username : "";
    s->password = password != NULL ? password : "";
    s->insecure = insecure;
    CURL *c = curl_easy_init();
    if (c == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "starting an HTTPS session for image %s", image);
    s->curl = c;
    return 0;
}

void fh_session_close(struct fh_session *s)
{
    if (s->curl != NULL)
        curl_easy_cleanup(s->curl);
    s->curl = NULL;
    if (s->auth != NULL) {
        explicit_bzero(s->auth, strlen(s->auth));
        free(s->auth);
        s->auth = NULL;
    }
}

/* ---- one HTTP exchange -------------------------------------------------------------------------- */

/* What the callbacks of one perform see. */
struct fh_xfer {
    CURL *curl;
    fh_sink_fn sink;         /* for a 200 body; NULL: into mem (bounded by mem_max) */
    void *opaque;
    char *mem;               /* non-200 bodies and mem sinks */
    size_t mem_len, mem_max;
    bool mem_over;
    struct kk_err *err;
    bool sink_failed;
    char content_type[128];
    char digest[80];
    char challenge[FH_CHALLENGE_MAX];
    char location[FH_URL_MAX];
};

static size_t fh_header_cb(char *buf, size_t size, size_t n, void *opaque)
{
    struct fh_xfer *x = opaque;
    size_t len = size * n;
    /* A new status line (after a 100 Continue, say) starts the headers afresh. */
    if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
        x->content_type[0] = x->digest[0] = x->challenge[0] = '\0';
        return len;
    }
    const char *colon = memchr(buf, ':', len);
    if (colon == NULL)
        return len;
    size_t klen = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vlen = len - klen - 1;
    while (vlen > 0 && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    char *dst = NULL;
    size_t dsize = 0;
    if (klen == 12 && strncasecmp(buf, "Content-Type", 12) == 0)
        dst = x->content_type, dsize = sizeof(x->content_type);
    else if (klen == 21 && strncasecmp(buf, "Docker-Content-Digest", 21) == 0)
        dst = x->digest, dsize = sizeof(x->digest);
    else if (klen == 16 && strncasecmp(buf, "WWW-Authenticate", 16) == 0 && x->challenge[0] == '\0')
        dst = x->challenge, dsize = sizeof(x->challenge);
    if (dst != NULL) {
        size_t m = vlen < dsize - 1 ? vlen : dsize - 1;
        memcpy(dst, v, m);
        dst[m] = '\0';
        /* media types may carry parameters ("; charset=utf-8") */
        if (dst == x->content_type) {
            char *semi = strchr(dst, ';');
            if (semi != NULL)
                *semi = '\0';
            while (m > 0 && dst[m - 1] == ' ')
                dst[--m] = '\0';
        }
    }
    return len;
}

static int fh_mem_add(struct fh_xfer *x, const void *data, size_t len)
{
    if (x->mem_over || x->mem_len + len > x->mem_max) {
        x->mem_over = true;
        return -1;
    }
    if (x->mem == NULL && (x->mem = malloc(x->mem_max + 1)) == NULL)
        return -1;
    memcpy(x->mem + x->mem_len, data, len);
    x->mem_len += len;
    x->mem[x->mem_len] = '\0';
    return 0;
}

static size_t fh_write_cb(char *buf, size_t size, size_t n, void *opaque)
{
    struct fh_xfer *x = opaque;
    size_t len = size * n;
    long code = 0;
    curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code == 200 && x->sink != NULL) {
        if (x->sink(x->opaque, buf, len, x->err) < 0) {
            x->sink_failed = true;
            return CURL_WRITEFUNC_ERROR;
        }
        return len;
    }
    if (code == 200) {
        if (fh_mem_add(x, buf, len) < 0)
            return CURL_WRITEFUNC_ERROR; /* too big: the caller reports mem_over */
        return len;
    }
    /* An error or redirect body: keep its start for errors[].message, drop the rest. */
    if (x->mem_len < x->mem_max) {
        size_t room = x->mem_max - x->mem_len;
        (void)fh_mem_add(x, buf, len < room ? len : room);
    }
    return len;
}

/* "host:port" of an https URL, for the same-host test; -1 when it does not parse or is not https. */
static int fh_url_authority(const char *url, char *out, size_t size)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int ret = -1;
    if (u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK && strcasecmp(scheme, "https") == 0 &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        ret = snprintf(out, size, "%s:%s", host, port) < (int)size ? 0 : -1;
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ret;
}

bool fh_same_authority(const char *a, const char *b)
{
    char x[320], y[320];
    return fh_url_authority(a, x, sizeof(x)) == 0 && fh_url_authority(b, y, sizeof(y)) == 0 &&
           strcasecmp(x, y) == 0;
}

/* The registry's errors[].message (and code) of an error body, "" when there is none. */
static void fh_registry_message(const char *body, size_t len, char *out, size_t size)
{
    out[0] = '\0';
    if (body == NULL || len == 0)
        return;
    json_t *j = json_loadb(body, len, 0, NULL);
    const json_t *errs = json_object_get(j, "errors");
    size_t i;
    const json_t *e;
    size_t used = 0;
    json_array_foreach(errs, i, e)
    {
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        if (msg == NULL && code == NULL)
            continue;
        char esc[256];
        kk_log_escape(msg != NULL ? msg : code, esc, sizeof(esc));
        int k = snprintf(out + used, size - used, "%s%s%s%s", used > 0 ? "; " : "", code != NULL ? code : "",
                         code != NULL && msg != NULL ? ": " : "", msg != NULL ? esc : "");
        if (k < 0 || (size_t)k >= size - used)
            break;
        used += (size_t)k;
    }
    json_decref(j);
}

/* A registry's error code, to tell NAME_UNKNOWN from an unknown blob and the like. */
static bool fh_registry_code(const char *body, size_t len, const char *code)
{
    bool found = false;
    json_t *j = json_loadb(body != NULL ? body : "", body != NULL ? len : 0, 0, NULL);
    size_t i;
    const json_t *e;
    json_array_foreach(json_object_get(j, "errors"), i, e)
    {
        const char *c = json_string_value(json_object_get(e, "code"));
        if (c != NULL && strcmp(c, code) == 0)
            found = true;
    }
    json_decref(j);
    return found;
}

/* A transport failure (no HTTP status): kind UNAVAILABLE, with curl's words and, for a certificate
 * the bundle does not vouch for, what the realm can do about it. */
static int fh_transport_error(struct fh_session *s, CURLcode rc, const char *url, const char *what,
                              struct kk_err *err)
{
    char host[320] = "";
    if (fh_url_authority(url, host, sizeof(host)) < 0)
        kk_strlcpy(host, s->endpoint, sizeof(host));
    const char *detail = s->errbuf[0] != '\0' ? s->errbuf : curl_easy_strerror(rc);
    char esc[300];
    kk_log_escape(detail, esc, sizeof(esc));
    bool cert = rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE ||
                rc == CURLE_SSL_ISSUER_ERROR || rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
    if (rc == CURLE_UNSUPPORTED_PROTOCOL)
        return kk_error(err, KK_ERR_UNAVAILABLE, 0, "%s: %s is not an https URL; kuke-fetchd speaks only HTTPS",
                        what, host);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return kk_error(err, KK_ERR_UNAVAILABLE, 0, "%s: registry %s timed out (%s)", what, host, esc);
    if (cert)
        return kk_error(err, KK_ERR_UNAVAILABLE, 0,
                        "%s: TLS verification of %s failed (%s); give the registry a certificate from a CA "
                        "this host trusts, or set insecureSkipTLSVerify for this server in the realm's "
                        "registryCredentials",
                        what, host, esc);
    return kk_error(err, KK_ERR_UNAVAILABLE, 0, "%s: cannot reach registry %s: %s", what, host, esc);
}

static int fh_headers(struct curl_slist **hdrs, const char *accept, const char *auth)
{
    char acc[512];
    struct curl_slist *tmp;
    if (accept != NULL) {
        snprintf(acc, sizeof(acc), "Accept: %s", accept);
        if ((tmp = curl_slist_append(*hdrs, acc)) == NULL)
            goto nomem;
        *hdrs = tmp;
    }
    if (auth != NULL) {
        if ((tmp = curl_slist_append(*hdrs, auth)) == NULL)
            goto nomem;
        *hdrs = tmp;
    }
    return 0;
nomem:
    curl_slist_free_all(*hdrs);
    *hdrs = NULL;
    return -1;
}

/* One GET of url, following redirects by hand. auth (an "Authorization: ..." line) and insecure apply
 * only while the URL is on url's own host and port. Fills x (status in *status); 0 when an HTTP reply came back (any status),
 * -1 with err set on a transport failure or a failing sink. */
static int fh_perform(struct fh_session *s, const char *url, const char *accept, const char *auth,
                      bool insecure, struct fh_xfer *x, long *status, const char *what, struct kk_err *err)
{
    CURL *c = s->curl;
    char cur[FH_URL_MAX];
    if (kk_strlcpy(cur, url, sizeof(cur)) < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "%s: URL too long", what);
    for (int hop = 0;; hop++) {
        bool same = fh_same_authority(cur, url);
        struct curl_slist *hdrs = NULL;
        if (fh_headers(&hdrs, accept, same ? auth : NULL) < 0)
            return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "%s", what);
        curl_easy_reset(c);
        s->errbuf[0] = '\0';
        x->content_type[0] = x->digest[0] = x->challenge[0] = '\0';
        x->mem_len = 0;
        x->mem_over = false;
        x->curl = c;
        curl_easy_setopt(c, CURLOPT_URL, cur);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "kukeon/" KUKEON_VERSION);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 30L);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, fh_header_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fh_write_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
        /* Layers arrive in bigger pieces: fewer writes into the tarball and hash updates. */
        curl_easy_setopt(c, CURLOPT_BUFFERSIZE, FH_BUFFER_SIZE);
        curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, NULL); /* bytes as stored: digests are of them */
        curl_easy_setopt(c, CURLOPT_CAINFO, NULL);
        curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
        if (fh_ca.data != NULL)
            curl_easy_setopt(c, CURLOPT_CAINFO_BLOB, &fh_ca);
        bool skip_verify = insecure && same;
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, skip_verify ? 0L : 1L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, skip_verify ? 0L : 2L);
        CURLcode rc = curl_easy_perform(c);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(hdrs);
        if (x->sink_failed)
            return -1; /* the sink set err */
        if (rc == CURLE_WRITE_ERROR && x->mem_over)
            return kk_error(err, KK_ERR_INVALID, 0, "%s: the registry sent more than %zu bytes", what,
                            x->mem_max);
        if (rc != CURLE_OK)
            return fh_transport_error(s, rc, cur, what, err);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        if (*status < 300 || *status >= 400 || *status == 304)
            return 0;
        char *loc = NULL;
        curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &loc);
        if (loc == NULL)
            return kk_error(err, KK_ERR_UNAVAILABLE, 0, "%s: the registry answered %ld without a Location", what,
                            *status);
        if (hop >= FH_REDIRECTS_MAX)
            return kk_error(err, KK_ERR_UNAVAILABLE, 0, "%s: more than %d redirects", what, FH_REDIRECTS_MAX);
        if (kk_strlcpy(cur, loc, sizeof(cur)) < 0)
            return kk_error(err, KK_ERR_UNAVAILABLE, 0, "%s: the registry redirected to an over-long URL", what);
        if (strncasecmp(cur, "https://", 8) != 0)
            return kk_error(err, KK_ERR_UNAVAILABLE, 0,
                            "%s: the registry redirected to a URL that is not https; kuke-fetchd speaks only HTTPS",
                            what);
    }
}

/* ---- authentication ---------------------------------------------------------------------------- */

int fh_challenge_param(const char *params, const char *key, char *out, size_t size)
{
    const char *p = params;
    size_t klen = strlen(key);
    while (*p != '\0') {
        while (*p == ' ' || *p == ',' || *p == '\t')
            p++;
        const char *k = p;
        while (*p != '\0' && *p != '=' && *p != ',' && *p != ' ')
            p++;
        size_t kl = (size_t)(p - k);
        if (*p != '=')
            continue;
        p++;
        size_t o = 0;
        bool overflow = false;
        if (*p == '"') {
            p++;
            while (*p != '\0' && *p != '"') {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                if (o + 1 < size)
                    out[o++] = *p;
                else
                    overflow = true;
                p++;
            }
            if (*p == '"')
                p++;
        } else {
            while (*p != '\0' && *p != ',' && *p != ' ') {
                if (o + 1 < size)
                    out[o++] = *p;
                else
                    overflow = true;
                p++;
            }
        }
        out[o] = '\0';
        if (kl == klen && strncasecmp(k, key, klen) == 0)
            return overflow ? -1 : 0;
    }
    out[0] = '\0';
    return -1;
}

static char *fh_basic_header(const char *user, const char *pass)
{
    size_t ul = strlen(user), pl = strlen(pass);
    size_t rawlen = ul + 1 + pl;
    char *raw = malloc(rawlen + 1);
    size_t enclen = 4 * ((rawlen + 2) / 3);
    char *hdr = malloc(sizeof("Authorization: Basic ") + enclen + 1);
    if (raw == NULL || hdr == NULL) {
        free(raw);
        free(hdr);
        return NULL;
    }
    memcpy(raw, user, ul);
    raw[ul] = ':';
    memcpy(raw + ul + 1, pass, pl);
    strcpy(hdr, "Authorization: Basic ");
    EVP_EncodeBlock((unsigned char *)hdr + strlen(hdr), (const unsigned char *)raw, (int)rawlen);
    explicit_bzero(raw, rawlen);
    free(raw);
    return hdr;
}

static int fh_no_credentials(struct fh_session *s, struct kk_err *err)
{
    return kk_error(err, KK_ERR_PERMISSION, 0,
                    "registry %s needs credentials for %s; add them to the realm's registryCredentials "
                    "(kuke create registry-credential)",
                    s->endpoint, s->image);
}

static int fh_refused(struct fh_session *s, const char *detail, struct kk_err *err)
{
    char user[160];
    kk_log_escape(s->username, user, sizeof(user));
    if (s->username[0] == '\0')
        return kk_error(err, KK_ERR_PERMISSION, 0,
                        "registry %s refused anonymous access to %s%s%s; the repository does not exist or needs "
                        "credentials (add them to the realm's registryCredentials: kuke create registry-credential)",
                        s->endpoint, s->image, detail[0] != '\0' ? ": " : "", detail);
    return kk_error(err, KK_ERR_PERMISSION, 0, "registry %s refused the credentials of user %s for %s%s%s",
                    s->endpoint, user, s->image, detail[0] != '\0' ? ": " : "", detail);
}

/* A Bearer challenge: GET realm?service=&scope=repository:<path>:pull, with the credentials as Basic
 * when the realm has some; the token goes into s->auth. */
static int fh_bearer(struct fh_session *s, const char *params, struct kk_err *err)
{
    char realm[1024], service[512];
    if (fh_challenge_param(params, "realm", realm, sizeof(realm)) < 0 || realm[0] == '\0')
        return kk_error(err, KK_ERR_UNAVAILABLE, 0, "registry %s asked for a Bearer token without a usable realm",
                        s->endpoint);
    if (strncasecmp(realm, "https://", 8) != 0)
        return kk_error(err, KK_ERR_UNAVAILABLE, 0,
                        "registry %s names a token service that is not https; kuke-fetchd speaks only HTTPS",
                        s->endpoint);
    bool has_service = fh_challenge_param(params, "service", service, sizeof(service)) == 0;
    char scope[320];
    snprintf(scope, sizeof(scope), "repository:%s:pull", s->path);
    char *esc_scope = curl_easy_escape(s->curl, scope, 0);
    char *esc_service = has_service ? curl_easy_escape(s->curl, service, 0) : NULL;
    char url[FH_URL_MAX];
    int n = snprintf(url, sizeof(url), "%s%s%s%s&scope=%s", realm, strchr(realm, '?') != NULL ? "&" : "?",
                     has_service ? "service=" : "", has_service && esc_service != NULL ? esc_service : "",
                     esc_scope != NULL ? esc_scope : "");
    curl_free(esc_scope);
    curl_free(esc_service);
    if (n < 0 || (size_t)n >= sizeof(url))
        return kk_error(err, KK_ERR_UNAVAILABLE, 0, "registry %s names an over-long token service URL", s->endpoint);
    char *basic = NULL;
    if (s->username[0] != '\0' && (basic = fh_basic_header(s->username, s->password)) == NULL)
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "token request for %s", s->image);
    struct fh_xfer x = {.mem_max = FH_TOKEN_MAX, .err = err};
    long status = 0;
    char what[400];
    snprintf(what, sizeof(what), "token for %s", s->image);
    /* The token service is trusted as far as its own certificate goes: insecure only on the registry's
     * own host. */
    char reg_url[400];
    snprintf(reg_url, sizeof(reg_url), "https://%s/", s->endpoint);
    bool insecure = s->insecure && fh_same_authority(url, reg_url);
    int rc = fh_perform(s, url, "application/json", basic, insecure, &x, &status, what, err);
    if (basic != NULL) {
        explicit_bzero(basic, strlen(basic));
        free(basic);
    }
    int ret = -1;
    if (rc < 0)
        goto out;
    if (status == 401 || status == 403) {
        char detail[512];
        fh_registry_message(x.mem, x.mem_len, detail, sizeof(detail));
        if (s->username[0] == '\0' && status == 401)
            fh_no_credentials(s, err);
        else
            fh_refused(s, detail, err);
        goto out;
    }
    if (status != 200) {
        kk_error(err, KK_ERR_UNAVAILABLE, 0, "the token service of registry %s answered %ld for %s", s->endpoint,
                 status, s->image);
        goto out;
    }
    json_t *j = json_loadb(x.mem != NULL ? x.mem : "", x.mem_len, 0, NULL);
    const char *tok = json_string_value(json_object_get(j, "token"));
    if (tok == NULL || tok[0] == '\0')
        tok = json_string_value(json_object_get(j, "access_token"));
    bool tok_ok = tok != NULL && tok[0] != '\0';
    for (const char *p = tok_ok ? tok : ""; *p != '\0'; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            tok_ok = false;
    if (!tok_ok) {
        json_decref(j);
        kk_error(err, KK_ERR_UNAVAILABLE, 0, "the token service of registry %s sent no usable token for %s",
                 s->endpoint, s->image);
        goto out;
    }
    size_t need = sizeof("Authorization: Bearer ") + strlen(tok);
    free(s->auth);
    s->auth = malloc(need);
    if (s->auth != NULL)
        snprintf(s->auth, need, "Authorization: Bearer %s", tok);
    json_decref(j);
    if (s->auth == NULL) {
        kk_error(err, KK_ERR_INTERNAL, ENOMEM, "token for %s", s->image);
        goto out;
    }
    ret = 0;
out:
    if (x.mem != NULL) {
        explicit_bzero(x.mem, x.mem_len);
        free(x.mem);
    }
    return ret;
}

/* Answer a 401's challenge: set s->auth. */
static int fh_answer(struct fh_session *s, const char *challenge, struct kk_err *err)
{
    if (strncasecmp(challenge, "Bearer ", 7) == 0)
        return fh_bearer(s, challenge + 7, err);
    if (strncasecmp(challenge, "Basic", 5) == 0 && (challenge[5] == ' ' || challenge[5] == '\0')) {
        if (s->username[0] == '\0')
            return fh_no_credentials(s, err);
        free(s->auth);
        if ((s->auth = fh_basic_header(s->username, s->password)) == NULL)
            return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "credentials for %s", s->image);
        return 0;
    }
    char esc[120];
    kk_log_escape(challenge, esc, sizeof(esc));
    return kk_error(err, KK_ERR_UNAVAILABLE, 0,
                    "registry %s asks for an authentication scheme kuke-fetchd does not speak (%s) for %s",
                    s->endpoint, challenge[0] != '\0' ? esc : "no WWW-Authenticate", s->image);
}

/* ---- registry GET ------------------------------------------------------------------------------ */

int fh_registry_get(struct fh_session *s, const char *rest, const char *accept, fh_sink_fn sink, void *opaque,
                    struct fh_reply *reply, const char *what, struct kk_err *err)
{
    char url[FH_URL_MAX];
    if (snprintf(url, sizeof(url), "https://%s/v2/%s/%s", s->endpoint, s->path, rest) >= (int)sizeof(url))
        return kk_error(err, KK_ERR_INVALID, 0, "%s: URL too long", what);
    struct fh_xfer x = {.sink = sink, .opaque = opaque, .mem_max = FH_ERRBODY_MAX, .err = err};
    int ret = -1;
    long status = 0;
    for (int attempt = 0;; attempt++) {
        if (fh_perform(s, url, accept, s->auth, s->insecure, &x, &status, what, err) < 0)
            goto out;
        if (status != 401 || attempt > 0)
            break;
        /* No (usable) credentials yet: answer the challenge once and ask again. */
        char challenge[FH_CHALLENGE_MAX];
        kk_strlcpy(challenge, x.challenge, sizeof(challenge));
        if (s->auth != NULL && strncasecmp(challenge, "Bearer ", 7) != 0) {
            char detail[512];
            fh_registry_message(x.mem, x.mem_len, detail, sizeof(detail));
            fh_refused(s, detail, err);
            goto out;
        }
        if (fh_answer(s, challenge, err) < 0)
            goto out;
    }
    reply->status = status;
    kk_strlcpy(reply->content_type, x.content_type, sizeof(reply->content_type));
    kk_strlcpy(reply->digest, x.digest, sizeof(reply->digest));
    if (status == 200) {
        ret = 0;
        goto out;
    }
    char detail[600];
    fh_registry_message(x.mem, x.mem_len, detail, sizeof(detail));
    const char *sep = detail[0] != '\0' ? ": " : "";
    if (status == 401 || status == 403) {
        /* Anonymous with no token: nothing was tried. With an anonymous token (Docker Hub hands one to
         * anybody), the repository is private or does not exist; the registry does not say which. */
        if (s->username[0] == '\0' && status == 401 && s->auth == NULL)
            fh_no_credentials(s, err);
        else
            fh_refused(s, detail, err);
    } else if (status == 404 || fh_registry_code(x.mem, x.mem_len, "NAME_UNKNOWN") ||
               fh_registry_code(x.mem, x.mem_len, "MANIFEST_UNKNOWN")) {
        kk_error(err, KK_ERR_NOT_FOUND, 0, "%s: not found in registry %s%s%s", what, s->endpoint, sep, detail);
    } else if (status == 429 || status >= 500) {
        kk_error(err, KK_ERR_UNAVAILABLE, 0, "%s: registry %s answered %ld%s%s", what, s->endpoint, status, sep,
                 detail);
    } else {
        kk_error(err, KK_ERR_INVALID, 0, "%s: registry %s answered %ld%s%s", what, s->endpoint, status, sep, detail);
    }
out:
    free(x.mem);
    return ret;
}
