/* Manifests (see manifest.h): the reference's document split, libyaml events turned into jansson
 * values under fixed bounds, validation of every document before any is used, apply order; and
 * the JSON and YAML text of documents. */
#include "kukeond/manifest.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/log.h"
#include "common/util.h"

/* ---- splitting: the reference's (?m)^\s*---\s*$ ---------------------------------------------- */

/* RE2's \s: the separator test is the Go regex's, byte for byte. */
static bool re2_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* strings.TrimSpace, for ASCII: the document is trimmed before it is parsed. (Go also trims the
 * Unicode spaces U+0085 and U+00A0; a manifest that starts with one of those is read differently
 * here, and is a curiosity.) */
static bool trim_space(char c)
{
    return re2_space(c) || c == '\v';
}

static bool line_is_separator(const char *line, size_t len)
{
    size_t s = 0, e = len;
    while (s < e && re2_space(line[s]))
        s++;
    while (e > s && re2_space(line[e - 1]))
        e--;
    return e - s == 3 && memcmp(line + s, "---", 3) == 0;
}

/* ---- YAML events to jansson values ----------------------------------------------------------- */

struct budget {
    size_t nodes; /* values made so far, in the whole stream */
    size_t text;  /* scalar bytes made so far */
};

/* A value an alias may repeat, with what a copy of it costs. */
struct anchor {
    char *name;
    json_t *node;
    size_t nodes, text;
    unsigned height; /* mapping/list levels in it (0 for a scalar) */
};

struct yb {
    yaml_parser_t parser;
    struct kk_err *err;
    const char *part; /* the trimmed document text and its place in the whole input */
    size_t part_len;
    size_t line0, col0;
    size_t index; /* the index this document gets */
    struct budget *budget;
    struct anchor *anchors;
    size_t nanchors, anchors_cap;
};

/* What a subtree cost, to charge an alias that repeats it. */
struct sub {
    size_t nodes, text;
    unsigned height;
};

/* A libyaml mark, relative to the trimmed document, as 1-based line and column in the input. */
static void yb_where(const struct yb *b, size_t mline, size_t mcol, size_t *line, size_t *col)
{
    *line = b->line0 + mline + 1;
    *col = (mline == 0 ? b->col0 + mcol : mcol) + 1;
}

static int yb_fail_at(struct yb *b, size_t mline, size_t mcol, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int yb_fail_at(struct yb *b, size_t mline, size_t mcol, const char *fmt, ...)
{
    char msg[KK_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        msg[0] = '\0';
    size_t line, col;
    yb_where(b, mline, mcol, &line, &col);
    return kk_error(b->err, KK_ERR_INVALID, 0, "document %zu: line %zu, column %zu: %s", b->index, line, col,
                    msg);
}

#define yb_fail(b, mark, ...) yb_fail_at((b), (mark).line, (mark).column, __VA_ARGS__)

/* Text from the input for a message: escaped and cut. */
static const char *yb_show(const char *s, size_t len, char *out, size_t size)
{
    char raw[81];
    size_t n = len < 80 ? len : 80;
    memcpy(raw, s, n);
    raw[n] = '\0';
    return kk_log_escape(raw, out, size);
}

static int yb_next(struct yb *b, yaml_event_t *ev)
{
    if (yaml_parser_parse(&b->parser, ev))
        return 0;
    const yaml_parser_t *p = &b->parser;
    if (p->error == YAML_MEMORY_ERROR)
        return kk_error(b->err, KK_ERR_INTERNAL, 0, "document %zu: out of memory reading YAML", b->index);
    const char *problem = p->problem != NULL ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset; turn it into a line and column. */
        size_t off = p->problem_offset < b->part_len ? p->problem_offset : b->part_len;
        size_t mline = 0, line_start = 0;
        for (size_t i = 0; i < off; i++)
            if (b->part[i] == '\n')
                mline++, line_start = i + 1;
        return yb_fail_at(b, mline, off - line_start, "%s", problem);
    }
    if (p->context != NULL) {
        size_t cline, ccol;
        yb_where(b, p->context_mark.line, p->context_mark.column, &cline, &ccol);
        return yb_fail(b, p->problem_mark, "%s (%s at line %zu, column %zu)", problem, p->context, cline,
                       ccol);
    }
    return yb_fail(b, p->problem_mark, "%s", problem);
}

static int yb_charge(struct yb *b, yaml_mark_t mark, size_t nodes, size_t text)
{
    struct budget *bu = b->budget;
    if (nodes > KK_MANIFEST_MAX_NODES - bu->nodes)
        return yb_fail(b, mark, "the manifest holds more than %u values (aliases counted expanded): split it",
                       KK_MANIFEST_MAX_NODES);
    if (text > KK_MANIFEST_MAX_TEXT - bu->text)
        return yb_fail(b, mark,
                       "the manifest holds more than %u bytes of text (aliases counted expanded): split it",
                       KK_MANIFEST_MAX_TEXT);
    bu->nodes += nodes;
    bu->text += text;
    return 0;
}

static int yb_anchor_add(struct yb *b, const char *name, json_t *node, const struct sub *sub)
{
    if (b->nanchors == b->anchors_cap) {
        size_t cap = b->anchors_cap == 0 ? 8 : b->anchors_cap * 2;
        struct anchor *a = realloc(b->anchors, cap * sizeof(*a));
        if (a == NULL)
            return kk_error(b->err, KK_ERR_INTERNAL, 0, "document %zu: out of memory", b->index);
        b->anchors = a;
        b->anchors_cap = cap;
    }
    char *copy = strdup(name);
    if (copy == NULL)
        return kk_error(b->err, KK_ERR_INTERNAL, 0, "document %zu: out of memory", b->index);
    b->anchors[b->nanchors++] = (struct anchor){copy, json_incref(node), sub->nodes, sub->text, sub->height};
    return 0;
}

static void yb_anchors_free(struct yb *b)
{
    for (size_t i = 0; i < b->nanchors; i++) {
        free(b->anchors[i].name);
        json_decref(b->anchors[i].node);
    }
    free(b->anchors);
    b->anchors = NULL;
    b->nanchors = b->anchors_cap = 0;
}

/* Go's strconv.ParseInt(s, 0, 64) after yaml.v3 removed the '_': an optional sign, then 0x / 0o / 0b,
 * a leading 0 for octal, or decimal. */
static bool parse_yaml_int(const char *s, size_t len, int64_t *out)
{
    char digits[72];
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '_')
            continue;
        if (n + 1 >= sizeof(digits))
            return false;
        digits[n++] = s[i];
    }
    digits[n] = '\0';
    const char *p = digits;
    bool neg = false;
    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    unsigned base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        base = 16, p += 2;
    else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
        base = 8, p += 2;
    else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
        base = 2, p += 2;
    else if (p[0] == '0' && p[1] != '\0')
        base = 8, p += 1;
    if (*p == '\0')
        return false;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; *p != '\0'; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9')
            d = (unsigned)(*p - '0');
        else if (*p >= 'a' && *p <= 'f')
            d = (unsigned)(*p - 'a' + 10);
        else if (*p >= 'A' && *p <= 'F')
            d = (unsigned)(*p - 'A' + 10);
        else
            return false;
        if (d >= base || v > (limit - d) / base)
            return false;
        v = v * base + d;
    }
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return true;
}

enum plain_type { PLAIN_STRING, PLAIN_NULL, PLAIN_TRUE, PLAIN_FALSE, PLAIN_INT };

/* How a plain scalar resolves: YAML 1.2's core schema as Go's yaml.v3 applies it, minus floats. */
static enum plain_type resolve_plain(const char *s, size_t len, int64_t *ival)
{
    static const char *const nulls[] = {"~", "null", "Null", "NULL"};
    static const char *const trues[] = {"true", "True", "TRUE"};
    static const char *const falses[] = {"false", "False", "FALSE"};
    if (len == 0)
        return PLAIN_NULL;
    for (size_t i = 0; i < KK_ARRAY_SIZE(nulls); i++)
        if (len == strlen(nulls[i]) && memcmp(s, nulls[i], len) == 0)
            return PLAIN_NULL;
    for (size_t i = 0; i < KK_ARRAY_SIZE(trues); i++) {
        if (len == strlen(trues[i]) && memcmp(s, trues[i], len) == 0)
            return PLAIN_TRUE;
        if (len == strlen(falses[i]) && memcmp(s, falses[i], len) == 0)
            return PLAIN_FALSE;
    }
    /* yaml.v3 only tries a number when the first byte could start one. */
    if (((s[0] >= '0' && s[0] <= '9') || s[0] == '-' || s[0] == '+') && parse_yaml_int(s, len, ival))
        return PLAIN_INT;
    return PLAIN_STRING;
}

#define TAG_PREFIX "tag:yaml.org,2002:"

static json_t *yb_scalar(struct yb *b, yaml_event_t *ev)
{
    const char *val = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    char shown[96];
    if (memchr(val, '\0', len) != NULL) {
        yb_fail(b, ev->start_mark, "a value contains a NUL byte");
        return NULL;
    }
    bool resolve = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (tag != NULL) {
        if (strcmp(tag, "!") == 0 || strcmp(tag, TAG_PREFIX "str") == 0) {
            resolve = false;
        } else if (strcmp(tag, TAG_PREFIX "null") == 0 || strcmp(tag, TAG_PREFIX "bool") == 0 ||
                   strcmp(tag, TAG_PREFIX "int") == 0 || strcmp(tag, TAG_PREFIX "float") == 0) {
            resolve = true;
        } else {
            yb_fail(b, ev->start_mark, "tag \"%s\" is not supported (only the YAML core schema's)",
                    yb_show(tag, strlen(tag), shown, sizeof(shown)));
            return NULL;
        }
    }
    int64_t iv = 0;
    json_t *j;
    switch (resolve ? resolve_plain(val, len, &iv) : PLAIN_STRING) {
    case PLAIN_NULL:
        j = json_null();
        break;
    case PLAIN_TRUE:
        j = json_true();
        break;
    case PLAIN_FALSE:
        j = json_false();
        break;
    case PLAIN_INT:
        j = json_integer((json_int_t)iv);
        break;
    default:
        j = json_stringn(val, len);
        break;
    }
    if (j == NULL)
        kk_error(b->err, KK_ERR_INTERNAL, 0, "document %zu: out of memory", b->index);
    return j;
}

static bool collection_tag_ok(const yaml_char_t *tag)
{
    return tag == NULL || strcmp((const char *)tag, TAG_PREFIX "map") == 0 ||
           strcmp((const char *)tag, TAG_PREFIX "seq") == 0;
}

static json_t *yb_node(struct yb *b, yaml_event_t *ev, unsigned depth, struct sub *sub);

static json_t *yb_alias(struct yb *b, yaml_event_t *ev, unsigned depth, struct sub *sub)
{
    const char *name = (const char *)ev->data.alias.anchor;
    char shown[96];
    const struct anchor *a = NULL;
    /* The latest definition of a name wins, as YAML says. */
    for (size_t i = b->nanchors; i > 0 && a == NULL; i--)
        if (strcmp(b->anchors[i - 1].name, name) == 0)
            a = &b->anchors[i - 1];
    if (a == NULL) {
        yb_fail(b, ev->start_mark, "alias *%s names no anchor defined before it",
                yb_show(name, strlen(name), shown, sizeof(shown)));
        return NULL;
    }
    if (depth + a->height > KK_MANIFEST_MAX_DEPTH) {
        yb_fail(b, ev->start_mark, "alias *%s nests deeper than %u levels",
                yb_show(name, strlen(name), shown, sizeof(shown)), KK_MANIFEST_MAX_DEPTH);
        return NULL;
    }
    if (yb_charge(b, ev->start_mark, a->nodes, a->text) < 0)
        return NULL;
    /* A copy, not a shared reference: validation fills defaults in place, and one alias must not
     * change another's value. */
    json_t *copy = json_deep_copy(a->node);
    if (copy == NULL)
        kk_error(b->err, KK_ERR_INTERNAL, 0, "document %zu: out of memory", b->index);
    *sub = (struct sub){a->nodes, a->text, a->height};
    return copy;
}

static json_t *yb_sequence(struct yb *b, unsigned depth, struct sub *sub)
{
    json_t *arr = json_array();
    if (arr == NULL) {
        kk_error(b->err, KK_ERR_INTERNAL, 0, "document %zu: out of memory", b->index);
        return NULL;
    }
    *sub = (struct sub){1, 0, 1};
    for (;;) {
        yaml_event_t ev;
        if (yb_next(b, &ev) < 0)
            break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return arr;
        }
        struct sub csub;
        json_t *item = yb_node(b, &ev, depth + 1, &csub);
        if (item == NULL)
            break;
        if (json_array_append_new(arr, item) < 0) {
            kk_error(b->err, KK_ERR_INTERNAL, 0, "document %zu: out of memory", b->index);
            break;
        }
        sub->nodes += csub.nodes;
        sub->text += csub.text;
        if (csub.height + 1 > sub->height)
            sub->height = csub.height + 1;
    }
    json_decref(arr);
    return NULL;
}

static json_t *yb_mapping(struct yb *b, unsigned depth, struct sub *sub)
{
    json_t *obj = json_object();
    if (obj == NULL) {
        kk_error(b->err, KK_ERR_INTERNAL, 0, "document %zu: out of memory", b->index);
        return NULL;
    }
    *sub = (struct sub){1, 0, 1};
    char shown[96];
    for (;;) {
        yaml_event_t kev;
        if (yb_next(b, &kev) < 0)
            break;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return obj;
        }
        if (kev.type != YAML_SCALAR_EVENT) {
            yb_fail(b, kev.start_mark, "a mapping key must be a plain string, not %s",
                    kev.type == YAML_ALIAS_EVENT ? "an alias" : "a mapping or a list");
            yaml_event_delete(&kev);
            break;
        }
        const char *key = (const char *)kev.data.scalar.value;
        size_t klen = kev.data.scalar.length;
        int bad = 0;
        if (memchr(key, '\0', klen) != NULL)
            bad = yb_fail(b, kev.start_mark, "a key contains a NUL byte");
        else if (kev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && klen == 2 && memcmp(key, "<<", 2) == 0)
            bad = yb_fail(b, kev.start_mark, "merge keys (<<) are not supported: write the keys out");
        else if (json_object_getn(obj, key, klen) != NULL)
            bad = yb_fail(b, kev.start_mark, "key \"%s\" appears twice in one mapping",
                          yb_show(key, klen, shown, sizeof(shown)));
        else
            bad = yb_charge(b, kev.start_mark, 0, klen);
        if (bad < 0) {
            yaml_event_delete(&kev);
            break;
        }
        yaml_event_t vev;
        if (yb_next(b, &vev) < 0) {
            yaml_event_delete(&kev);
            break;
        }
        struct sub csub;
        json_t *val = yb_node(b, &vev, depth + 1, &csub);
        if (val == NULL) {
            yaml_event_delete(&kev);
            break;
        }
        int rc = json_object_setn_new(obj, key, klen, val);
        yaml_event_delete(&kev);
        if (rc < 0) {
            kk_error(b->err, KK_ERR_INTERNAL, 0, "document %zu: out of memory", b->index);
            break;
        }
        sub->nodes += csub.nodes;
        sub->text += csub.text + klen;
        if (csub.height + 1 > sub->height)
            sub->height = csub.height + 1;
    }
    json_decref(obj);
    return NULL;
}

/* The value that starts with ev (consumed), at nesting depth (the document's top is 0). */
static json_t *yb_node(struct yb *b, yaml_event_t *ev, unsigned depth, struct sub *sub)
{
    json_t *node = NULL;
    char *anchor = NULL;
    const yaml_char_t *anchor_in = NULL;
    *sub = (struct sub){0, 0, 0};
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        node = yb_alias(b, ev, depth, sub);
        yaml_event_delete(ev);
        return node;
    case YAML_SCALAR_EVENT:
        if (yb_charge(b, ev->start_mark, 1, ev->data.scalar.length) == 0 && (node = yb_scalar(b, ev)) != NULL)
            *sub = (struct sub){1, ev->data.scalar.length, 0};
        anchor_in = ev->data.scalar.anchor;
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
        const yaml_char_t *tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
        anchor_in = seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
        char shown[96];
        if (depth >= KK_MANIFEST_MAX_DEPTH) {
            yb_fail(b, ev->start_mark, "mappings and lists nest deeper than %u levels",
                    KK_MANIFEST_MAX_DEPTH);
            break;
        }
        if (!collection_tag_ok(tag)) {
            yb_fail(b, ev->start_mark, "tag \"%s\" is not supported (only the YAML core schema's)",
                    yb_show((const char *)tag, strlen((const char *)tag), shown, sizeof(shown)));
            break;
        }
        if (yb_charge(b, ev->start_mark, 1, 0) < 0)
            break;
        /* The children's events come after this one: keep what is needed of it, then free it. */
        if (anchor_in != NULL && (anchor = strdup((const char *)anchor_in)) == NULL) {
            kk_error(b->err, KK_ERR_INTERNAL, 0, "document %zu: out of memory", b->index);
            break;
        }
        anchor_in = NULL;
        node = seq ? yb_sequence(b, depth, sub) : yb_mapping(b, depth, sub);
        break;
    }
    default:
        yb_fail(b, ev->start_mark, "unexpected YAML event");
        break;
    }
    if (node != NULL && anchor_in != NULL)
        anchor = strdup((const char *)anchor_in);
    yaml_event_delete(ev);
    if (node != NULL && anchor != NULL && yb_anchor_add(b, anchor, node, sub) < 0) {
        json_decref(node);
        node = NULL;
    }
    free(anchor);
    return node;
}

/* One trimmed document: *out is its mapping, or NULL when it holds nothing (comments, a null). */
static int yb_document(struct yb *b, json_t **out)
{
    *out = NULL;
    yaml_event_t ev;
    if (yb_next(b, &ev) < 0)
        return -1;
    yaml_event_delete(&ev); /* stream start */
    if (yb_next(b, &ev) < 0)
        return -1;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return 0;
    }
    yaml_event_delete(&ev); /* document start */
    if (yb_next(b, &ev) < 0)
        return -1;
    yaml_mark_t root_mark = ev.start_mark;
    struct sub sub;
    json_t *root = yb_node(b, &ev, 0, &sub);
    if (root == NULL)
        return -1;
    int rc = 0;
    if (yb_next(b, &ev) < 0) { /* document end */
        rc = -1;
    } else {
        yaml_event_delete(&ev);
        if (yb_next(b, &ev) < 0) {
            rc = -1;
        } else {
            if (ev.type != YAML_STREAM_END_EVENT)
                rc = yb_fail(b, ev.start_mark,
                             "a second YAML document starts here: separate documents with a line of ---");
            yaml_event_delete(&ev);
        }
    }
    if (rc == 0 && !json_is_object(root) && !json_is_null(root))
        rc = yb_fail(b, root_mark, "a document must be a mapping (apiVersion, kind, metadata, spec), not %s",
                     json_is_array(root) ? "a list" : "a single value");
    if (rc == 0 && json_is_object(root))
        *out = json_incref(root);
    json_decref(root);
    return rc;
}

static int parse_part(const char *buf, size_t start, size_t end, json_t *docs, struct budget *budget,
                      struct kk_err *err)
{
    while (start < end && trim_space(buf[start]))
        start++;
    while (end > start && trim_space(buf[end - 1]))
        end--;
    if (start == end)
        return 0;
    if (json_array_size(docs) >= KK_MANIFEST_MAX_DOCS)
        return kk_error(err, KK_ERR_INVALID, 0, "the manifest holds more than %u documents: split it",
                        KK_MANIFEST_MAX_DOCS);
    struct yb b = {.err = err,
                   .part = buf + start,
                   .part_len = end - start,
                   .index = json_array_size(docs),
                   .budget = budget};
    size_t line_start = 0;
    for (size_t i = 0; i < start; i++)
        if (buf[i] == '\n')
            b.line0++, line_start = i + 1;
    b.col0 = start - line_start;
    if (!yaml_parser_initialize(&b.parser))
        return kk_error(err, KK_ERR_INTERNAL, 0, "initializing the YAML parser: out of memory");
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)b.part, b.part_len);
    /* Parts are cut from the input by bytes: UTF-8 always, never guessed from a part's first bytes. */
    yaml_parser_set_encoding(&b.parser, YAML_UTF8_ENCODING);
    json_t *doc;
    int rc = yb_document(&b, &doc);
    yb_anchors_free(&b);
    yaml_parser_delete(&b.parser);
    if (rc < 0)
        return -1;
    if (doc != NULL && json_array_append_new(docs, doc) < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "reading the manifest: out of memory");
    return 0;
}

int kk_manifest_parse(const char *buf, size_t len, json_t **docs_out, struct kk_err *err)
{
    *docs_out = NULL;
    if (buf == NULL)
        len = 0;
    if (len > KK_MANIFEST_MAX_BYTES)
        return kk_error(err, KK_ERR_INVALID, 0,
                        "the manifest is %zu bytes, more than the limit of %u: split it into several files",
                        len, KK_MANIFEST_MAX_BYTES);
    /* A UTF-8 byte-order mark is not content (editors on some systems write one). libyaml would skip
     * it only when it guesses the encoding, which the parts do not let it do. */
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
        buf += 3;
        len -= 3;
    }
    json_t *docs = json_array();
    if (docs == NULL)
        return kk_error(err, KK_ERR_INTERNAL, 0, "reading the manifest: out of memory");
    struct budget budget = {0, 0};
    size_t part = 0, line = 0;
    int rc = 0;
    while (rc == 0) {
        const char *nl = len > line ? memchr(buf + line, '\n', len - line) : NULL;
        size_t eol = nl != NULL ? (size_t)(nl - buf) : len;
        if (line_is_separator(buf + line, eol - line)) {
            rc = parse_part(buf, part, line, docs, &budget, err);
            part = nl != NULL ? eol + 1 : len;
        }
        if (nl == NULL) {
            if (rc == 0)
                rc = parse_part(buf, part, len, docs, &budget, err);
            break;
        }
        line = eol + 1;
    }
    if (rc == 0 && json_array_size(docs) == 0)
        rc = kk_error(err, KK_ERR_INVALID, 0, "no documents found in input");
    if (rc < 0) {
        json_decref(docs);
        return -1;
    }
    *docs_out = docs;
    return 0;
}

/* ---- load: validate all, then sort ----------------------------------------------------------- */

/* What a manifest may not set: the daemon owns status, the store owns the generation, and a cell's
 * runtimeEnv and ignoreDiskPressure are per-request flags that YAML cannot carry (yaml:"-"). */
static void strip_input_only(json_t *doc)
{
    json_object_del(doc, "status");
    json_t *md = kk_doc_metadata(doc);
    if (md != NULL)
        json_object_del(md, "generation");
    json_t *spec = kk_doc_spec(doc);
    if (spec != NULL && strcmp(kk_json_str(doc, "kind"), "Cell") == 0) {
        json_object_del(spec, "runtimeEnv");
        json_object_del(spec, "ignoreDiskPressure");
    }
}

/* "validation failed:" and one line per bad document, as many as fit the error, then a count. */
struct failures {
    char text[KK_ERR_MSG_MAX];
    size_t len;
    size_t count, omitted;
};

/* Room kept for the "... and N more" tail. */
#define FAILURES_TAIL 64

static void failures_add(struct failures *f, size_t index, const json_t *doc, const char *reason)
{
    char kind[4 * 32 + 8], name[4 * 64 + 8], line[KK_ERR_MSG_MAX];
    const char *k = kk_json_str(doc, "kind"), *n = kk_doc_name(doc);
    yb_show(k, strnlen(k, 32), kind, sizeof(kind));
    yb_show(n, strnlen(n, 64), name, sizeof(name));
    int w;
    if (kind[0] == '\0')
        w = snprintf(line, sizeof(line), "\n  document %zu: %s", index, reason);
    else if (name[0] == '\0')
        w = snprintf(line, sizeof(line), "\n  document %zu (%s): %s", index, kind, reason);
    else
        w = snprintf(line, sizeof(line), "\n  document %zu (%s \"%s\"): %s", index, kind, name, reason);
    f->count++;
    if (w < 0 || f->omitted > 0 || f->len + (size_t)w + FAILURES_TAIL >= sizeof(f->text)) {
        f->omitted++;
        return;
    }
    memcpy(f->text + f->len, line, (size_t)w + 1);
    f->len += (size_t)w;
}

static int manifest_doc_cmp(const void *a, const void *b)
{
    const struct kk_manifest_doc *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

void kk_manifest_free(struct kk_manifest *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->count; i++)
        json_decref(m->docs[i].doc);
    free(m->docs);
    m->docs = NULL;
    m->count = 0;
}

int kk_manifest_load(const char *buf, size_t len, const struct kk_derive_config *cfg, struct kk_manifest *out,
                     struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    json_t *docs;
    if (kk_manifest_parse(buf, len, &docs, err) < 0)
        return -1;
    size_t n = json_array_size(docs);
    struct kk_manifest m = {.count = 0, .docs = calloc(n, sizeof(*m.docs))};
    if (m.docs == NULL) {
        json_decref(docs);
        return kk_error(err, KK_ERR_INTERNAL, 0, "reading the manifest: out of memory");
    }
    struct failures f = {.len = 0};
    memcpy(f.text, "validation failed:", sizeof("validation failed:"));
    f.len = strlen(f.text);
    for (size_t i = 0; i < n; i++) {
        json_t *doc = json_array_get(docs, i);
        strip_input_only(doc);
        struct kk_err derr;
        if (kk_doc_validate(doc, &derr) < 0 || (cfg != NULL && kk_doc_complete(doc, cfg, &derr) < 0)) {
            failures_add(&f, i, doc, derr.msg);
            continue;
        }
        enum kk_kind kind = KK_KIND_REALM;
        kk_doc_kind(doc, &kind);
        m.docs[m.count++] = (struct kk_manifest_doc){i, kind, json_incref(doc)};
    }
    json_decref(docs);
    if (f.count > 0) {
        kk_manifest_free(&m);
        if (f.omitted > 0)
            snprintf(f.text + f.len, sizeof(f.text) - f.len, "\n  ... and %zu more invalid document%s",
                     f.omitted, f.omitted == 1 ? "" : "s");
        return kk_error(err, KK_ERR_INVALID, 0, "%s", f.text);
    }
    qsort(m.docs, m.count, sizeof(*m.docs), manifest_doc_cmp);
    *out = m;
    return 0;
}

/* ---- JSON text ------------------------------------------------------------------------------- */

char *kk_json_text(const json_t *value, size_t *len)
{
    /* JSON_INDENT(2) writes what Go's json.MarshalIndent(v, "", "  ") writes, key order as held. */
    char *s = json_dumps(value, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *out = malloc(n + 2);
    if (out != NULL) {
        memcpy(out, s, n);
        out[n] = '\n';
        out[n + 1] = '\0';
        if (len != NULL)
            *len = n + 1;
    }
    free(s);
    return out;
}

/* ---- YAML text ------------------------------------------------------------------------------- */

/* The output buffer of the emitter. The bound is generous: documents come from the store. */
#define YAML_OUT_MAX (64u * 1024 * 1024)
/* Deeper than any document the store writes; a bound so that emitting cannot recurse without end. */
#define YAML_EMIT_MAX_DEPTH 256

struct ybuf {
    char *data;
    size_t len, cap;
};

static int ybuf_write(void *ctx, unsigned char *buffer, size_t size)
{
    struct ybuf *o = ctx;
    if (size > YAML_OUT_MAX - o->len)
        return 0;
    if (o->len + size + 1 > o->cap) {
        size_t cap = o->cap == 0 ? 4096 : o->cap;
        while (cap < o->len + size + 1)
            cap *= 2;
        char *d = realloc(o->data, cap);
        if (d == NULL)
            return 0;
        o->data = d;
        o->cap = cap;
    }
    memcpy(o->data + o->len, buffer, size);
    o->len += size;
    o->data[o->len] = '\0';
    return 1;
}

/* A float as YAML 1.1 or 1.2 would read it: [-+]?(.N|N[.N])([eE][-+]?N)?, .inf, .nan. */
static bool looks_like_float(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && (s[i] == '+' || s[i] == '-'))
        i++;
    const char *rest = s + i;
    size_t rlen = len - i;
    static const char *const specials[] = {".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"};
    for (size_t k = 0; k < KK_ARRAY_SIZE(specials); k++)
        if (rlen == 4 && memcmp(rest, specials[k], 4) == 0)
            return true;
    size_t digits = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return false;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t exp = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, exp++;
        if (exp == 0)
            return false;
    }
    return i == len;
}

/* A string that must be quoted to read back as a string: what resolve_plain makes into another
 * type, and what other YAML readers would (floats, YAML 1.1 booleans, dates, the merge key). */
static bool yaml_needs_quotes(const char *s, size_t len)
{
    int64_t iv;
    if (resolve_plain(s, len, &iv) != PLAIN_STRING || looks_like_float(s, len))
        return true;
    static const char *const yaml11[] = {"y",  "Y",  "yes", "Yes", "YES", "n",   "N",   "no", "No",
                                         "NO", "on", "On",  "ON",  "off", "Off", "OFF", "<<", "="};
    for (size_t k = 0; k < KK_ARRAY_SIZE(yaml11); k++)
        if (len == strlen(yaml11[k]) && memcmp(s, yaml11[k], len) == 0)
            return true;
    if (len >= 5 && s[4] == '-' && s[0] >= '0' && s[0] <= '9' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' &&
        s[2] <= '9' && s[3] >= '0' && s[3] <= '9')
        return true;
    return false;
}

/* Line breaks as libyaml knows them (\r, \n, NEL, LS, PS): a string holding one is written
 * double-quoted, where breaks are escapes, so no raw line of it can look like a "---" separator. */
static bool has_line_break(const char *s, size_t len)
{
    return memchr(s, '\n', len) != NULL || memchr(s, '\r', len) != NULL ||
           memmem(s, len, "\xc2\x85", 2) != NULL || memmem(s, len, "\xe2\x80\xa8", 3) != NULL ||
           memmem(s, len, "\xe2\x80\xa9", 3) != NULL;
}

static int emit(yaml_emitter_t *e, yaml_event_t *ev, struct kk_err *err)
{
    /* yaml_emitter_emit owns the event from here, on failure too. */
    if (yaml_emitter_emit(e, ev))
        return 0;
    return kk_error(err, KK_ERR_INTERNAL, 0, "writing YAML: %s",
                    e->problem != NULL ? e->problem : "out of memory");
}

static int emit_scalar(yaml_emitter_t *e, const char *s, size_t len, bool is_string, struct kk_err *err)
{
    yaml_event_t ev;
    yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
    int plain_implicit = 1;
    if (is_string) {
        if (has_line_break(s, len) || yaml_needs_quotes(s, len)) {
            style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
            plain_implicit = 0;
        } else {
            style = YAML_ANY_SCALAR_STYLE;
        }
    }
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)(uintptr_t)s, (int)len, plain_implicit,
                                      1, style))
        return kk_error(err, KK_ERR_INTERNAL, 0, "writing YAML: out of memory");
    return emit(e, &ev, err);
}

static int emit_value(yaml_emitter_t *e, const json_t *v, unsigned depth, struct kk_err *err)
{
    yaml_event_t ev;
    char buf[64];
    if (depth > YAML_EMIT_MAX_DEPTH)
        return kk_error(err, KK_ERR_INVALID, 0, "writing YAML: the value nests deeper than %u levels",
                        YAML_EMIT_MAX_DEPTH);
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        if (!yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) ||
            emit(e, &ev, err) < 0)
            return kk_error(err, KK_ERR_INTERNAL, 0, "writing YAML: out of memory");
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val)
        {
            if (emit_scalar(e, key, strlen(key), true, err) < 0 || emit_value(e, val, depth + 1, err) < 0)
                return -1;
        }
        if (!yaml_mapping_end_event_initialize(&ev))
            return kk_error(err, KK_ERR_INTERNAL, 0, "writing YAML: out of memory");
        return emit(e, &ev, err);
    }
    case JSON_ARRAY: {
        if (!yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE) ||
            emit(e, &ev, err) < 0)
            return kk_error(err, KK_ERR_INTERNAL, 0, "writing YAML: out of memory");
        size_t i;
        json_t *val;
        json_array_foreach(v, i, val)
        {
            if (emit_value(e, val, depth + 1, err) < 0)
                return -1;
        }
        if (!yaml_sequence_end_event_initialize(&ev))
            return kk_error(err, KK_ERR_INTERNAL, 0, "writing YAML: out of memory");
        return emit(e, &ev, err);
    }
    case JSON_STRING:
        return emit_scalar(e, json_string_value(v), json_string_length(v), true, err);
    case JSON_INTEGER:
        snprintf(buf, sizeof(buf), "%" PRId64, (int64_t)json_integer_value(v));
        return emit_scalar(e, buf, strlen(buf), false, err);
    case JSON_REAL:
        snprintf(buf, sizeof(buf), "%.17g", json_real_value(v));
        return emit_scalar(e, buf, strlen(buf), false, err);
    case JSON_TRUE:
        return emit_scalar(e, "true", 4, false, err);
    case JSON_FALSE:
        return emit_scalar(e, "false", 5, false, err);
    default:
        return emit_scalar(e, "null", 4, false, err);
    }
}

int kk_yaml_text(const json_t *value, bool as_list, char **out, size_t *len, struct kk_err *err)
{
    *out = NULL;
    if (len != NULL)
        *len = 0;
    yaml_emitter_t e;
    if (!yaml_emitter_initialize(&e))
        return kk_error(err, KK_ERR_INTERNAL, 0, "initializing the YAML emitter: out of memory");
    struct ybuf o = {NULL, 0, 0};
    yaml_emitter_set_output(&e, ybuf_write, &o);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_indent(&e, 2);
    /* No folding of long strings: one value, one line, as Go's yaml.v3 writes. */
    yaml_emitter_set_width(&e, -1);
    yaml_event_t ev;
    int rc = 0;
    if (!yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) || emit(&e, &ev, err) < 0)
        rc = -1;
    size_t n = as_list && json_is_array(value) ? json_array_size(value) : 1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const json_t *doc = as_list && json_is_array(value) ? json_array_get(value, i) : value;
        /* The first document needs no "---"; every later one starts with it. */
        if (!yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, i == 0) || emit(&e, &ev, err) < 0 ||
            emit_value(&e, doc, 0, err) < 0 || !yaml_document_end_event_initialize(&ev, 1) ||
            emit(&e, &ev, err) < 0)
            rc = -1;
    }
    if (rc == 0 &&
        (!yaml_stream_end_event_initialize(&ev) || emit(&e, &ev, err) < 0 || !yaml_emitter_flush(&e)))
        rc = kk_error(err, KK_ERR_INTERNAL, 0, "writing YAML: %s",
                      e.problem != NULL ? e.problem : "out of memory");
    yaml_emitter_delete(&e);
    if (rc < 0) {
        free(o.data);
        return -1;
    }
    if (o.data == NULL && ybuf_write(&o, (unsigned char *)"", 0) == 0) {
        free(o.data);
        return kk_error(err, KK_ERR_INTERNAL, 0, "writing YAML: out of memory");
    }
    *out = o.data;
    if (len != NULL)
        *len = o.len;
    return 0;
}
