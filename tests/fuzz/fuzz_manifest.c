/* libFuzzer target: the manifest parser on arbitrary bytes (kuke apply -f, the API's RawYAML).
 * Besides not crashing, what it accepts must keep the promises of manifest.h:
 * - every parsed document is an object, and its YAML text (kk_yaml_text) parses back to the same
 *   values, as does its JSON text (kk_json_text);
 * - a loaded manifest is in apply order, its documents validate again unchanged (validation is
 *   idempotent), and loading their YAML text gives the same documents;
 * - a failure always says why. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kukeond/doc.h"
#include "kukeond/manifest.h"

static void check_error(const struct kk_err *err)
{
    if (err->msg[0] == '\0' || strnlen(err->msg, sizeof(err->msg)) == sizeof(err->msg))
        abort();
}

/* YAML and JSON text of docs read back to the same values. */
static void check_roundtrip(json_t *docs)
{
    struct kk_err err;
    char *y;
    size_t len;
    if (kk_yaml_text(docs, true, &y, &len, &err) < 0)
        abort();
    /* Aliases expanded can make the text longer than an input may be; the trip is then moot. */
    if (len <= KK_MANIFEST_MAX_BYTES) {
        json_t *back;
        if (kk_manifest_parse(y, len, &back, &err) < 0 || !json_equal(docs, back))
            abort();
        json_decref(back);
    }
    free(y);
    char *j = kk_json_text(docs, &len);
    if (j == NULL)
        abort();
    json_t *jback = json_loads(j, 0, NULL);
    if (jback == NULL || !json_equal(docs, jback))
        abort();
    json_decref(jback);
    free(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct kk_err err;
    json_t *docs;
    if (kk_manifest_parse(text, size, &docs, &err) < 0) {
        check_error(&err);
        return 0;
    }
    size_t i;
    json_t *doc;
    json_array_foreach(docs, i, doc)
    {
        if (!json_is_object(doc))
            abort();
    }
    if (json_array_size(docs) == 0)
        abort();
    check_roundtrip(docs);
    json_decref(docs);

    struct kk_manifest m;
    if (kk_manifest_load(text, size, NULL, &m, &err) < 0) {
        check_error(&err);
        if (m.count != 0 || m.docs != NULL)
            abort();
        return 0;
    }
    json_t *loaded = json_array();
    for (i = 0; i < m.count; i++) {
        if (i > 0 && (m.docs[i].kind < m.docs[i - 1].kind ||
                      (m.docs[i].kind == m.docs[i - 1].kind && m.docs[i].index < m.docs[i - 1].index)))
            abort();
        if (!kk_kind_supported(m.docs[i].kind))
            abort();
        json_t *again = json_deep_copy(m.docs[i].doc);
        if (kk_doc_validate(again, &err) < 0 || !json_equal(again, m.docs[i].doc))
            abort();
        /* Completing with the defaults may refuse (a namespace too long for a suffix), never crash. */
        if (kk_doc_complete(again, NULL, &err) < 0)
            check_error(&err);
        json_decref(again);
        json_array_append(loaded, m.docs[i].doc);
    }
    check_roundtrip(loaded);
    char *y;
    size_t len;
    if (kk_yaml_text(loaded, true, &y, &len, &err) < 0)
        abort();
    if (len <= KK_MANIFEST_MAX_BYTES) {
        struct kk_manifest m2;
        if (kk_manifest_load(y, len, NULL, &m2, &err) < 0 || m2.count != m.count)
            abort();
        for (i = 0; i < m.count; i++)
            if (!json_equal(m2.docs[i].doc, m.docs[i].doc))
                abort();
        kk_manifest_free(&m2);
    }
    free(y);
    json_decref(loaded);
    kk_manifest_free(&m);
    return 0;
}
