/* ustar headers (see tar.h). */
#include "common/tar.h"

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
