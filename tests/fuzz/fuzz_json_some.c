/* libFuzzer target: the partial JSON decoder kuke reads large replies and stored documents with
 * (ipc/jsonrpc.h kk_json_load_some). Besides not crashing or leaking, it checks its promise: what
 * json_loadb accepts, it accepts too, and the members it keeps are the ones json_loadb makes — the
 * whole document with "*", and exactly the pruned tree with a partial set of paths (inputs without
 * NUL bytes, which jansson reads its own way). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ipc/jsonrpc.h"

/* An element of "b" as "b/ * /c" keeps it: an object's "c", nothing of an array, a scalar whole. */
static json_t *pruned_element(json_t *e)
{
    if (json_is_array(e))
        return json_array();
    if (!json_is_object(e))
        return json_deep_copy(e);
    json_t *ne = json_object();
    if (json_object_get(e, "c") != NULL)
        json_object_set_new(ne, "c", json_deep_copy(json_object_get(e, "c")));
    return ne;
}

/* v as the paths {"a", "b/ * /c"} would keep it, from the whole tree: the top's "a" whole, and of its
 * "b" every element's (or member's) "c"; nothing of a top that is an array. */
static json_t *pruned(json_t *v)
{
    if (!json_is_object(v))
        return json_array();
    json_t *out = json_object();
    json_t *a = json_object_get(v, "a"), *b = json_object_get(v, "b");
    if (a != NULL)
        json_object_set_new(out, "a", json_deep_copy(a));
    if (b != NULL) {
        json_t *nb;
        if (json_is_object(b) || json_is_array(b)) {
            nb = json_is_object(b) ? json_object() : json_array();
            size_t i;
            const char *k;
            json_t *e;
            if (json_is_array(b)) {
                json_array_foreach(b, i, e) json_array_append_new(nb, pruned_element(e));
            } else {
                json_object_foreach(b, k, e) json_object_set_new(nb, k, pruned_element(e));
            }
        } else {
            nb = json_deep_copy(b);
        }
        json_object_set_new(out, "b", nb);
    }
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t jerr;
    json_t *full = json_loadb((const char *)data, size, 0, &jerr);
    static const char *const all[] = {"*", NULL};
    static const char *const some[] = {"a", "b/*/c", NULL};
    struct kk_err err = {0};
    json_t *got_all = kk_json_load_some((const char *)data, size, all, &err);
    if (got_all == NULL && (err.msg[0] == '\0' || strnlen(err.msg, sizeof(err.msg)) == sizeof(err.msg)))
        abort();
    bool too_deep = got_all == NULL && strstr(err.msg, "nested too deep") != NULL;
    struct kk_err err2 = {0};
    json_t *got_some = kk_json_load_some((const char *)data, size, some, &err2);
    /* jansson takes a NUL byte for the end of some inputs ("[12\0]" is [12] to it): compared only
     * without one, where both read the same text. */
    bool nul = memchr(data, '\0', size) != NULL;
    if (full != NULL && !too_deep && !nul) {
        if (got_all == NULL || !json_equal(full, got_all))
            abort();
        json_t *want = pruned(full);
        if (got_some == NULL || !json_equal(want, got_some))
            abort();
        json_decref(want);
    }
    json_decref(full);
    json_decref(got_all);
    json_decref(got_some);
    return 0;
}
