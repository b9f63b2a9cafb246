/* The typed calls to kuke-fetchd (see fetchd_client.h): fill the request, one kk_ipc_call. */
#include "ipc/fetchd_client.h"

#include "ipc/client.h"

int kk_fetchd_resolve(int sock, const kk_fetchd_source *src, Kukeon__Ipc__Fetchd__Resolved **reply,
                      struct kk_err *err)
{
    return kk_ipc_call(sock, KK_FETCHD_RESOLVE, &src->base, -1, &kukeon__ipc__fetchd__resolved__descriptor,
                       (ProtobufCMessage **)reply, err);
}

int kk_fetchd_fetch(int sock, const kk_fetchd_source *src, const char *manifest_digest, const char *const *skip,
                    size_t n_skip, int out_fd, Kukeon__Ipc__Fetchd__FetchReply **reply, struct kk_err *err)
{
    if (out_fd < 0)
        return kk_error(err, KK_ERR_INVALID, 0, "fetching %s: no output file", src->ref);
    if (n_skip > KK_FETCHD_SKIP_MAX)
        return kk_error(err, KK_ERR_INVALID, 0, "fetching %s: more than %u blobs to skip", src->ref,
                        KK_FETCHD_SKIP_MAX);
    Kukeon__Ipc__Fetchd__Fetch req = KUKEON__IPC__FETCHD__FETCH__INIT;
    req.source = (kk_fetchd_source *)src;
    req.manifest_digest = (char *)manifest_digest;
    req.skip = (char **)skip;
    req.n_skip = n_skip;
    return kk_ipc_call(sock, KK_FETCHD_FETCH, &req.base, out_fd, &kukeon__ipc__fetchd__fetch_reply__descriptor,
                       (ProtobufCMessage **)reply, err);
}
