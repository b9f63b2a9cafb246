/* Load a ServerConfiguration YAML file into a kk_config (kukeon-reference.md 2.15). libyaml does
 * the parsing; this file walks its events: a mapping with apiVersion, kind and a flat spec mapping.
 * Unknown spec keys are reported, not ignored silently, so a typo does not pass unnoticed. */
#include "kukeond/kukeond.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "common/util.h"

static int kd_yaml_scalar(yaml_parser_t *p, yaml_event_t *ev, char *out, size_t size, const char *path,
                          struct kk_err *err)
{
    if (!yaml_parser_parse(p, ev))
        return kk_error(err, KK_ERR_INVALID, 0, "%s: line %zu: %s", path, p->problem_mark.line + 1,
                        p->problem != NULL ? p->problem : "malformed YAML");
    if (ev->type != YAML_SCALAR_EVENT) {
        size_t line = ev->start_mark.line + 1;
        yaml_event_delete(ev);
        return kk_error(err, KK_ERR_INVALID, 0, "%s: line %zu: expected a plain value", path, line);
    }
    size_t n = ev->data.scalar.length;
    if (n >= size || memchr(ev->data.scalar.value, '\0', n) != NULL) {
        yaml_event_delete(ev);
        return kk_error(err, KK_ERR_INVALID, 0, "%s: value too long or contains NUL", path);
    }
    memcpy(out, ev->data.scalar.value, n);
    out[n] = '\0';
    yaml_event_delete(ev);
    return 0;
}

int kukeond_config_load_yaml(struct kk_config *cfg, const char *path, bool must_exist, struct kk_err *err)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (f == NULL) {
        if (errno == ENOENT && !must_exist)
            return 0; /* absent file = defaults */
        return kk_error(err, KK_ERR_NOT_FOUND, errno, "reading server configuration %s", path);
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p))
        return kk_error(err, KK_ERR_INTERNAL, 0, "initializing the YAML parser");
    yaml_parser_set_input_file(&p, f);
    int rc = -1, depth = 0;
    bool in_spec = false, saw_kind = false;
    char key[128], value[512];
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            kk_error(err, KK_ERR_INVALID, 0, "%s: line %zu: %s", path, p.problem_mark.line + 1,
                     p.problem != NULL ? p.problem : "malformed YAML");
            break;
        }
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            if (!saw_kind && depth == 0)
                rc = 0; /* an empty file is the defaults */
            else
                rc = 0;
            break;
        }
        if (t == YAML_MAPPING_START_EVENT) {
            depth++;
        } else if (t == YAML_MAPPING_END_EVENT) {
            depth--;
            in_spec = false;
        } else if (t == YAML_SEQUENCE_START_EVENT || t == YAML_ALIAS_EVENT) {
            size_t line = ev.start_mark.line + 1;
            yaml_event_delete(&ev);
            kk_error(err, KK_ERR_INVALID, 0, "%s: line %zu: lists and aliases have no place in a ServerConfiguration",
                     path, line);
            break;
        } else if (t == YAML_SCALAR_EVENT) {
            size_t n = ev.data.scalar.length;
            size_t line = ev.start_mark.line + 1;
            if (n >= sizeof(key)) {
                yaml_event_delete(&ev);
                kk_error(err, KK_ERR_INVALID, 0, "%s: line %zu: key too long", path, line);
                break;
            }
            memcpy(key, ev.data.scalar.value, n);
            key[n] = '\0';
            yaml_event_delete(&ev);
            if (depth == 1 && strcmp(key, "spec") == 0) {
                yaml_event_t m;
                if (!yaml_parser_parse(&p, &m) || m.type != YAML_MAPPING_START_EVENT) {
                    yaml_event_delete(&m);
                    kk_error(err, KK_ERR_INVALID, 0, "%s: line %zu: spec must be a mapping", path, line);
                    break;
                }
                yaml_event_delete(&m);
                depth++;
                in_spec = true;
                continue;
            }
            if (kd_yaml_scalar(&p, &ev, value, sizeof(value), path, err) < 0)
                break;
            if (depth == 1) {
                if (strcmp(key, "kind") == 0) {
                    saw_kind = true;
                    if (strcmp(value, "ServerConfiguration") != 0) {
                        kk_error(err, KK_ERR_INVALID, 0, "%s: kind is \"%s\", expected ServerConfiguration", path,
                                 value);
                        break;
                    }
                } else if (strcmp(key, "apiVersion") == 0 && value[0] != '\0' && strcmp(value, "v1beta1") != 0) {
                    kk_error(err, KK_ERR_INVALID, 0, "%s: unsupported apiVersion: %s (expected v1beta1)", path, value);
                    break;
                }
            } else if (in_spec && depth == 2) {
                if (value[0] == '\0')
                    continue; /* an empty value keeps the default */
                /* Fields of the Go ServerConfiguration that this implementation has no use for. */
                if (strcmp(key, "kukeondImage") == 0 || strcmp(key, "kukettyLogLevel") == 0)
                    continue;
                char source[600];
                snprintf(source, sizeof(source), "%s: line %zu", path, line);
                if (kk_config_set(cfg, key, value, source, err) < 0)
                    break;
            }
            continue;
        } else {
            /* stream/document start and end */
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}
