/* The tar writer of the OCI image layout FETCH produces: ustar members (common/tar.h: one 512-byte
 * header each, no pax or GNU extension headers), data padded to 512, two zero blocks at the end. One
 * header per member is part of the contract: the caller works out a pull's progress from the file's
 * size (fetchd.proto). */
#include "kuke-fetchd/fetchd_http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/tar.h"

#define FL_BLOCK KK_TAR_BLOCK

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
    unsigned char h[KK_TAR_BLOCK];
    if (kk_tar_header(h, name, 0644, size) < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "tar member name \"%.120s\" does not fit a ustar header", name);
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
