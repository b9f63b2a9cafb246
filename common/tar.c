/* ustar headers (see tar.h). */
#include "common/tar.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int kk_tar_header(unsigned char h[KK_TAR_BLOCK], const char *name, unsigned mode, uint64_t size)
{
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen >= 100)
        return -1;
    memset(h, 0, KK_TAR_BLOCK);
    memcpy(h, name, nlen);
    snprintf((char *)h + 100, 8, "%07o", mode & 07777);
    snprintf((char *)h + 108, 8, "%07o", 0);
    snprintf((char *)h + 116, 8, "%07o", 0);
    if (size <= 077777777777ull) {
        snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
    } else {
        h[124] = 0x80;
        for (int i = 11; i >= 4; i--) {
            h[124 + i] = (unsigned char)(size & 0xff);
            size >>= 8;
        }
    }
    snprintf((char *)h + 136, 12, "%011o", 0);
    memset(h + 148, ' ', 8);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6); /* magic "ustar\0", version "00" */
    memcpy(h + 263, "00", 2);
    unsigned sum = 0;
    for (size_t i = 0; i < KK_TAR_BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    return 0;
}

int kk_tar_number(const unsigned char *f, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (f[0] & 0x80) {
        if (f[0] != 0x80)
            return -1; /* negative or too big */
        for (size_t i = 1; i < len; i++) {
            if (v > (UINT64_MAX >> 8))
                return -1;
            v = (v << 8) | f[i];
        }
        *out = v;
        return 0;
    }
    size_t i = 0;
    while (i < len && f[i] == ' ')
        i++;
    bool any = false;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v > (UINT64_MAX >> 3))
            return -1;
        v = (v << 3) | (uint64_t)(f[i] - '0');
        any = true;
    }
    if (i < len && f[i] != ' ' && f[i] != '\0')
        return -1;
    if (!any)
        v = 0;
    *out = v;
    return 0;
}

