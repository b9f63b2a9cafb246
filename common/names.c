/* Hierarchy name validation (see names.h). Stricter than the Go Kukeon, which only refused '_' and '/':
 * a name here is safe as a path component, a containerd identifier part, a hostname and a log field. */
#include "common/names.h"

#include <stdio.h>
#include <string.h>

#include "common/log.h"

#define KK_NAME_RULE                                                                                         \
    "names are 1-63 characters of A-Z a-z 0-9 '.' '-', starting and ending with a letter or digit"
/* containerd identifiers are alphanumeric runs joined by single separators; a name with two in a row
 * would pass here and fail later, deep inside a create, so it is refused up front. */
#define KK_NAME_RULE_SEPARATORS                                                                              \
    "'.' and '-' must each stand between letters or digits, as containerd identifiers require"

/* How much of a refused name a message quotes: all of any name that is merely too long by a little,
 * and never an unbounded amount of someone else's bytes. */
#define KK_NAME_SHOW_MAX 80

enum kk_name_problem {
    KK_NAME_OK = 0,
    KK_NAME_EMPTY,
    KK_NAME_TOO_LONG,
    KK_NAME_BAD_BYTE,
    KK_NAME_BAD_START,
    KK_NAME_BAD_END,
    KK_NAME_DOUBLE_SEPARATOR,
};

static const char *const kk_name_kind_names[KK_NAME_KIND_COUNT] = {
    [KK_NAME_REALM] = "realm", [KK_NAME_SPACE] = "space",         [KK_NAME_STACK] = "stack",
    [KK_NAME_CELL] = "cell",   [KK_NAME_CONTAINER] = "container",
};

const char *kk_name_kind_str(enum kk_name_kind kind)
{
    if ((unsigned)kind < KK_NAME_KIND_COUNT)
        return kk_name_kind_names[kind];
    return "name";
}

static bool name_is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool name_is_separator(unsigned char c)
{
    return c == '.' || c == '-';
}

/* The first problem of len bytes at name, and where it is. Bytes are judged one by one, in order, so
 * the message names the first offending byte, whatever the locale. */
static enum kk_name_problem name_scan(const char *name, size_t len, size_t *pos)
{
    *pos = 0;
    if (name == NULL || len == 0)
        return KK_NAME_EMPTY;
    if (len > KK_NAME_MAX)
        return KK_NAME_TOO_LONG;
    const unsigned char *p = (const unsigned char *)name;
    for (size_t i = 0; i < len; i++) {
        *pos = i;
        if (name_is_alnum(p[i]))
            continue;
        if (!name_is_separator(p[i]))
            return KK_NAME_BAD_BYTE;
        if (i == 0)
            return KK_NAME_BAD_START;
        if (i == len - 1)
            return KK_NAME_BAD_END;
        if (name_is_separator(p[i + 1]))
            return KK_NAME_DOUBLE_SEPARATOR;
    }
    return KK_NAME_OK;
}

/* A byte as a reader should see it in "it contains <byte>". */
static void name_describe_byte(unsigned char c, char *out, size_t size)
{
    if (c == '\0')
        snprintf(out, size, "a NUL byte");
    else if (c == ' ')
        snprintf(out, size, "a space");
    else if (c < 0x20 || c == 0x7f)
        snprintf(out, size, "a control byte (\\x%02x)", c);
    else if (c >= 0x80)
        snprintf(out, size, "a non-ASCII byte (\\x%02x)", c);
    else if (c == '\'' || c == '\\')
        snprintf(out, size, "'\\%c'", c);
    else
        snprintf(out, size, "'%c'", c);
}

/* The refused name, escaped and cut to KK_NAME_SHOW_MAX bytes: it goes into messages that the CLI
 * prints and the helpers log, so it must not be able to forge a line or a terminal sequence. */
static void name_show(const char *name, size_t len, char *out, size_t size)
{
    char raw[KK_NAME_SHOW_MAX + 1];
    size_t n = len < KK_NAME_SHOW_MAX ? len : KK_NAME_SHOW_MAX;
    memcpy(raw, name, n);
    raw[n] = '\0';
    kk_log_escape(raw, out, size - 3);
    if (len > n) {
        size_t o = strnlen(out, size - 3);
        memcpy(out + o, "...", 4);
    }
}

static int name_check_syntax(enum kk_name_kind kind, const char *name, size_t len, struct kk_err *err)
{
    size_t pos;
    enum kk_name_problem problem = name_scan(name, len, &pos);
    if (problem == KK_NAME_OK)
        return 0;
    const char *kind_str = kk_name_kind_str(kind);
    if (problem == KK_NAME_EMPTY)
        return kk_error(err, KK_ERR_INVALID, 0, "%s name is required", kind_str);
    if (err == NULL)
        return -1;

    char shown[4 * KK_NAME_SHOW_MAX + 8];
    name_show(name, len, shown, sizeof(shown));
    const unsigned char *p = (const unsigned char *)name;
    char what[48];
    const char *rule = KK_NAME_RULE;
    switch (problem) {
    case KK_NAME_TOO_LONG:
        snprintf(what, sizeof(what), "it is longer than %d characters", KK_NAME_MAX);
        break;
    case KK_NAME_BAD_BYTE: {
        char byte[32];
        name_describe_byte(p[pos], byte, sizeof(byte));
        snprintf(what, sizeof(what), "it contains %s", byte);
        break;
    }
    case KK_NAME_BAD_START:
        snprintf(what, sizeof(what), "it starts with '%c'", p[pos]);
        break;
    case KK_NAME_BAD_END:
        snprintf(what, sizeof(what), "it ends with '%c'", p[pos]);
        break;
    case KK_NAME_DOUBLE_SEPARATOR:
        snprintf(what, sizeof(what), "it contains \"%c%c\"", p[pos], p[pos + 1]);
        rule = KK_NAME_RULE_SEPARATORS;
        break;
    case KK_NAME_OK:
    case KK_NAME_EMPTY:
        break;
    }
    return kk_error(err, KK_ERR_INVALID, 0, "%s name \"%s\" is invalid: %s (%s)", kind_str, shown, what,
                    rule);
}

/* Directories the store keeps inside a scope's directory, beside its children (kukeon-reference.md 5.1):
 * a realm, space, stack or cell of one of these names would share a path with them. */
static const char *const kk_name_reserved[] = {"secrets", "blueprints", "configs", "volumes", "volume-meta"};

static bool name_reserved_len(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof(kk_name_reserved) / sizeof(kk_name_reserved[0]); i++)
        if (len == strlen(kk_name_reserved[i]) && memcmp(name, kk_name_reserved[i], len) == 0)
            return true;
    return false;
}

bool kk_name_is_reserved(const char *name)
{
    return name != NULL && name_reserved_len(name, strnlen(name, KK_NAME_MAX + 1));
}

int kk_name_check_len(enum kk_name_kind kind, const char *name, size_t len, struct kk_err *err)
{
    if (name_check_syntax(kind, name, len, err) < 0)
        return -1;
    /* A container is a field of its cell's document, not a directory: only the scopes are refused. */
    if (kind != KK_NAME_CONTAINER && name_reserved_len(name, len)) {
        if (err == NULL)
            return -1;
        return kk_error(err, KK_ERR_INVALID, 0,
                        "%s name \"%.*s\" is reserved: the store keeps its secrets, blueprints, configs, "
                        "volumes and volume-meta directories beside a scope's children; choose another name",
                        kk_name_kind_str(kind), (int)len, name);
    }
    return 0;
}

int kk_name_check(enum kk_name_kind kind, const char *name, struct kk_err *err)
{
    /* One byte past what a message quotes is enough to know "too long" and to add "...". */
    size_t len = name == NULL ? 0 : strnlen(name, KK_NAME_SHOW_MAX + 1);
    return kk_name_check_len(kind, name, len, err);
}

bool kk_name_is_valid(const char *name)
{
    size_t pos;
    size_t len = name == NULL ? 0 : strnlen(name, KK_NAME_MAX + 1);
    return name_scan(name, len, &pos) == KK_NAME_OK;
}
