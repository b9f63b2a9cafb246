/* The state store: one metadata.json per realm, space, stack and cell under <runPath>/data, in the
 * layout of kukeon-reference.md 5.1 (containers live inside their cell's document), written
 * atomically and durably, one writer at a time per document, compare-and-swap against what was
 * read, metadata.generation bumped when the spec changes. docs/state.md tells the whole protocol. */
#ifndef KUKEON_KUKEOND_STORE_H
#define KUKEON_KUKEOND_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/derive.h"
#include "common/err.h"

/* A metadata.json larger than this is refused on read and write: a cell with a hundred containers
 * is well under 1 MiB. */
#define KK_STORE_DOC_MAX (8u * 1024 * 1024)
/* How long a read or write waits for another process's lock on the same document. Writers hold it
 * for milliseconds; a longer wait means a stuck process, and the caller is told so. */
#define KK_STORE_LOCK_TIMEOUT_MS 10000

struct kk_store {
    /* The configuration, copied and checked (kk_derive_config_check); "" fields hold defaults. */
    char run_path[KK_DERIVE_CONFIG_PATH_MAX + 1];
    char ns_suffix[KK_DERIVE_CONFIG_PATH_MAX + 1];
    char cgroup_root[KK_DERIVE_CONFIG_PATH_MAX + 1];
    char netns_dir[KK_DERIVE_CONFIG_PATH_MAX + 1];
    unsigned lock_timeout_ms; /* KK_STORE_LOCK_TIMEOUT_MS; tests shorten it */
};

/* Copy and check cfg (NULL: all defaults). Touches nothing on disk. */
int kk_store_init(struct kk_store *s, const struct kk_derive_config *cfg, struct kk_err *err);

/* What a read saw: the exact bytes of the document (the compare-and-swap token) and its
 * generation. A token that says "absent" makes the next write a create. */
struct kk_store_token {
    bool exists;
    int64_t generation;
    unsigned char *bytes; /* malloc'd, len bytes */
    size_t len;
};
#define KK_STORE_TOKEN_INIT                                                                                  \
    {                                                                                                        \
        false, 0, NULL, 0                                                                                    \
    }
void kk_store_token_clear(struct kk_store_token *tok);

/* The document at names: {realm} a Realm, {realm, space} a Space, ... {realm, space, stack, cell} a
 * Cell. Paths come from kk_derive (metadata_dir), never from the caller. Shared lock on the sidecar.
 * 1 found (*doc a new reference), 0 absent (*doc NULL; that is not an error: the API answers
 * MetadataExists false), -1 error. tok may be NULL; else it is filled either way.
 * A document that does not parse, is not an object, or names another kind or place than where it
 * lies is reported as corrupt, by path, and left as it is. */
int kk_store_get(const struct kk_store *s, const struct kk_derive_names *names, json_t **doc,
                 struct kk_store_token *tok, struct kk_err *err);

/* kk_store_get for a reader of a few fields: the document decoded only in the members on the paths
 * of keep (NULL-terminated, as ipc/jsonrpc.h kk_json_load_some takes them) and the ones it is
 * checked by (kind, metadata.name, spec's realmId, spaceId, stackId); the rest is stepped over,
 * checked only for its syntax's balance. For listings whose reader says what it reads. */
int kk_store_get_some(const struct kk_store *s, const struct kk_derive_names *names, const char *const *keep,
                      json_t **doc, struct kk_err *err);

/* Write doc (a Realm, Space, Stack or Cell; validated here with kk_doc_validate) at the place its
 * own names say, under the exclusive lock, if the bytes on disk are still those tok holds (tok
 * from kk_store_get, or KK_STORE_TOKEN_INIT to create). metadata.generation is set by the store,
 * in doc too: 1 on create, +1 when spec differs from the stored spec, unchanged otherwise. A
 * cell's transport-only spec.runtimeEnv and spec.ignoreDiskPressure are not written. A Space,
 * Stack or Cell needs its parent's document to exist. On success tok holds the new bytes, so a
 * second write needs no read in between. */
int kk_store_put(const struct kk_store *s, json_t *doc, struct kk_store_token *tok, struct kk_err *err);

/* Replace only the status of the stored document at names (borrowed `status`), keeping its spec and
 * generation: the reconcile loop's write. expect_generation > 0 makes it conditional on the stored
 * generation (a spec changed since the status was derived makes the write stale); 0 writes
 * whatever the spec. tok (optional) receives the new bytes. The document must exist (NotFound). */
int kk_store_put_status(const struct kk_store *s, const struct kk_derive_names *names, json_t *status,
                        int64_t expect_generation, struct kk_store_token *tok, struct kk_err *err);

/* Remove the document at names, then its lock sidecar, then its directory if that is now empty
 * (a realm with spaces, or a cell with container directories, keeps its directory). expect
 * (optional) makes it conditional on the bytes read. 1 deleted, 0 was absent, -1 error. */
int kk_store_delete(const struct kk_store *s, const struct kk_derive_names *names,
                    const struct kk_store_token *expect, struct kk_err *err);

/* A growing text: data NUL-terminated, len bytes. Start from {0}; free(data) when done. */
struct kk_store_text {
    char *data;
    size_t len, cap;
};
int kk_store_text_append(struct kk_store_text *out, const char *data, size_t len);

/* The document at names as its compact JSON text — the bytes json_dumps(doc, JSON_COMPACT) makes
 * of what kk_store_get returns — appended to out. 1 appended, 0 absent, -1 error (as kk_store_get).
 * For listings: a version of a file already seen is not read, parsed or checked again but taken
 * from a cache of texts shared by the threads of the process, keyed by path and checked against
 * the file's identity (device, inode, size, mtime, ctime) on every call; see store.c. */
int kk_store_get_text(const struct kk_store *s, const struct kk_derive_names *names,
                      struct kk_store_text *out, struct kk_err *err);
/* The texts of the children of parent (realm, space or stack; the ones kk_store_list names, in its
 * order), each as kk_store_get_text appends it, separated by ',' (also from what out held when
 * *count > 0 on entry); *count is raised by how many. A child that cannot be read is logged and
 * left out, as a listing does. Errors as kk_store_list (a missing parent is NotFound). */
int kk_store_list_texts(const struct kk_store *s, const struct kk_derive_names *parent,
                        struct kk_store_text *out, size_t *count, struct kk_err *err);
/* For tests: empty the cache; how many texts it holds, and (hits, optional) how many times one was
 * served since it was last emptied. */
void kk_store_text_cache_clear(void);
size_t kk_store_text_cache_count(size_t *hits);

/* The names of the children of parent, sorted: parent NULL (or no realm) lists realms, {realm}
 * its spaces, {realm, space} its stacks, {realm, space, stack} its cells. A child is a directory
 * holding a metadata.json; the reserved scope directories (secrets blueprints configs volumes
 * volume-meta), hidden entries, symlinks, and directories whose name is not a valid name (logged)
 * are skipped. *names is a new JSON array of strings. A missing parent is NotFound; a missing
 * <run>/data is an empty list. */
int kk_store_list(const struct kk_store *s, const struct kk_derive_names *parent, json_t **names,
                  struct kk_err *err);

/* <runPath>/.kukeon-instance.json: {"containerdNamespaceSuffix":"kukeon.io","cgroupRoot":"/kukeon"}.
 * Present: it must match this store's configuration, else a hard error (KK_ERR_INVALID) that says
 * what the run path was made with. Absent: written (mode 0640) when create, else 0.
 * 1 present and matching (or just written), 0 absent, -1 error. The run path must exist. */
int kk_store_instance(const struct kk_store *s, bool create, struct kk_err *err);

/* Replace name in dirfd with len bytes of data, atomically and durably, as every file of the run
 * path (docs/state.md): a temporary file beside it (prefix, 16 random hex digits, ".tmp"), given
 * mode whatever the umask (fchmod only when the umask took bits away), written, fsync'd, renamed
 * over name, then the directory fsync'd. A reader
 * sees the old bytes or the new ones, never a mix. path names the file in errors. */
int kk_store_write_file(int dirfd, const char *name, const char *path, const char *prefix, mode_t mode,
                        const char *data, size_t len, struct kk_err *err);

/* The metadata.json path of names, for messages and tests. */
int kk_store_doc_path(const struct kk_store *s, const struct kk_derive_names *names, char *buf, size_t size,
                      struct kk_err *err);

/* Which failure it was. common/err.h has no kinds for these yet, so the store tags err->errnum
 * (without adding strerror text): ESTALE for a lost compare-and-swap (kind KK_ERR_EXISTS, or
 * KK_ERR_NOT_FOUND when the document was deleted meanwhile), EBADMSG for a corrupt document
 * (KK_ERR_INTERNAL), EWOULDBLOCK when the lock wait timed out (KK_ERR_UNAVAILABLE). */
bool kk_store_err_stale(const struct kk_err *err);
bool kk_store_err_corrupt(const struct kk_err *err);
bool kk_store_err_busy(const struct kk_err *err);

#endif
