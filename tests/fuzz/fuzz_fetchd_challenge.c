/* libFuzzer target: kuke-fetchd's parser of a registry's WWW-Authenticate parameters (the one piece of
 * a registry's HTTP headers that kuke-fetchd interprets itself: where to get a token, for which
 * service and scope). Input: the parameter list, then a NUL, then the key to look up. Besides not
 * crashing, an answer must keep fh_challenge_param's promises: a found value fits the buffer and is
 * a C string of it, and a lookup with a smaller buffer never finds a longer value. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kuke-fetchd/fetchd_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char *buf = malloc(size + 2);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    buf[size + 1] = '\0';
    const char *params = buf;
    size_t plen = strlen(params);
    const char *key = plen < size ? buf + plen + 1 : "realm";
    char out[256], small[8];
    memset(out, 'x', sizeof(out));
    if (fh_challenge_param(params, key, out, sizeof(out)) == 0) {
        size_t n = strnlen(out, sizeof(out));
        if (n == sizeof(out))
            abort();
        /* the same lookup into a buffer too small for the value must fail, not truncate */
        if (fh_challenge_param(params, key, small, sizeof(small)) == 0 && strcmp(small, out) != 0)
            abort();
    }
    free(buf);
    return 0;
}
