/* libFuzzer target: kk_ipc_decode on arbitrary records, then the strict unpack of every frame payload
 * type on whatever decodes. Input: one control byte (bit 0: an fd arrived) and the record. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ipc/frame.h"
#include "ipc/proto/helper.pb-c.h"

static const ProtobufCMessageDescriptor *const payload_types[] = {
    &kukeon__ipc__hello__descriptor,          &kukeon__ipc__hello_reply__descriptor,
    &kukeon__ipc__status_request__descriptor, &kukeon__ipc__status_reply__descriptor,
    &kukeon__ipc__denied__descriptor,         &kukeon__ipc__error__descriptor,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool fd_present = data[0] & 1;
    const uint8_t *rec = data + 1;
    size_t len = size - 1;

    static struct kk_ipc_msg m;
    struct kk_err err;
    if (kk_ipc_decode(rec, len, fd_present, &m, &err) < 0) {
        if (m.fd != -1 || m.payload != NULL)
            abort();
        return 0;
    }
    /* What decode accepts must hold every promise of the header. */
    if (m.fd != -1 || m.hdr.version != KK_IPC_VERSION || m.hdr.type == 0 ||
        m.hdr.length > KK_IPC_MAX_PAYLOAD || (size_t)m.hdr.length + KK_IPC_HEADER_SIZE != len ||
        m.payload != rec + KK_IPC_HEADER_SIZE || (m.hdr.flags & KK_IPC_F_RESERVED) != 0 ||
        ((m.hdr.flags & KK_IPC_F_FD) != 0) != fd_present)
        abort();

    for (size_t i = 0; i < sizeof(payload_types) / sizeof(payload_types[0]); i++) {
        ProtobufCMessage *pm;
        if (kk_ipc_unpack(payload_types[i], m.payload, m.hdr.length, &pm, &err) == 0) {
            /* Accepted means canonical: packing it again gives the same size. */
            if (protobuf_c_message_get_packed_size(pm) != m.hdr.length)
                abort();
            protobuf_c_message_free_unpacked(pm, NULL);
        } else if (pm != NULL) {
            abort();
        }
    }
    return 0;
}
