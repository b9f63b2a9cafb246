/* ustar, once: the header writer for the tarballs Kukeon makes itself (the pause image,
 * kukeond/pause_image.c; the OCI layout kuke-fetchd writes for a pull, kuke-fetchd/fetchd_layout.c)
 * and the reader of numeric fields for those it reads. Written members are regular files, owner
 * 0:0, mtime 0 (deterministic), names under 100 bytes (no pax or GNU long name headers: one
 * 512-byte header per member, which a pull's progress relies on), sizes beyond ustar's 11 octal
 * digits (8 GiB) in the base-256 form GNU tar and kuke-ctrd's reader accept. */
#ifndef KUKEON_COMMON_TAR_H
#define KUKEON_COMMON_TAR_H

#include <stddef.h>
#include <stdint.h>

#define KK_TAR_BLOCK 512u

/* Fill h with the header of a regular file name (mode's permission bits, size bytes). -1 when name
 * is empty or does not fit (100 bytes or more). */
int kk_tar_header(unsigned char h[KK_TAR_BLOCK], const char *name, unsigned mode, uint64_t size);

/* A numeric header field of len bytes (size at 124/12, checksum at 148/8): octal, NUL or space
 * terminated, leading spaces allowed, or GNU base-256. -1 for anything else, or a value beyond 64
 * bits: a reader of a tarball it did not write (kuke-ctrd's image load, the pull's progress) stops
 * there rather than trusting it. */
int kk_tar_number(const unsigned char *f, size_t len, uint64_t *out);

#endif
