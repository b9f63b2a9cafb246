/* The tar writer of the OCI image layout FETCH produces: ustar members, one 512-byte header each (no
 * pax or GNU extension headers: every name is short), data padded to 512, two zero blocks at the end.
 * One header per member is part of the contract: the caller works out a pull's progress from the
 * file's size (fetchd.proto). Sizes beyond ustar's 11 octal digits (8 GiB) use the base-256 form
 * that GNU tar and kuke-ctrd's reader (ctrd_tar.c) accept. */
#include "kuke-fetchd/fetchd_http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define FL_BLOCK 512u

int fl_write(struct fl_writer *w, const void *data, size_t len, struct kk_err *err)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(w->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return kk_error(err, KK_ERR_UNAVAILABLE, n < 0 ? errno : ENOSPC,
                            "writing the image tarball at offset %llu", (unsigned long long)w->offset);
        p += n;
        len -= (size_t)n;
        w->offset += (uint64_t)n;
    }
    return 0;
}

int fl_pad(struct fl_writer *w, struct kk_err *err)
{
    static const unsigned char zero[FL_BLOCK];
    size_t pad = (FL_BLOCK - w->offset % FL_BLOCK) % FL_BLOCK;
    return pad > 0 ? fl_write(w, zero, pad, err) : 0;
}

int fl_header(struct fl_writer *w, const char *name, uint64_t size, struct kk_err *err)
{
    unsigned char h[FL_BLOCK];
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen >= 100)
        return kk_error(err, KK_ERR_INTERNAL, 0, "tar member name \"%.120s\" does not fit a ustar header", name);
    memset(h, 0, sizeof(h));
    memcpy(h, name, nlen);
    snprintf((char *)h + 100, 8, "%07o", 0644);
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
    for (size_t i = 0; i < sizeof(h); i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    if (w->offset % FL_BLOCK != 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "tar member %s would start off a block boundary", name);
    return fl_write(w, h, sizeof(h), err);
}

int fl_file(struct fl_writer *w, const char *name, const void *data, size_t len, struct kk_err *err)
{
    if (fl_header(w, name, len, err) < 0 || fl_write(w, data, len, err) < 0 || fl_pad(w, err) < 0)
        return kk_error_wrap(err, "image tarball member %s", name);
    return 0;
}

int fl_end(struct fl_writer *w, struct kk_err *err)
{
    static const unsigned char zero[2 * FL_BLOCK];
    return fl_write(w, zero, sizeof(zero), err);
}
