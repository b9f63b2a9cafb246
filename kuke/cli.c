/* The kuke command framework (see cli.h). */
#include "kuke/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

const char *kuke_flag(const struct kuke_ctx *ctx, const char *name)
{
    for (int i = ctx->nset - 1; i >= 0; i--)
        if (strcmp(ctx->set[i].name, name) == 0)
            return ctx->set[i].value;
    return NULL;
}

bool kuke_flag_bool(const struct kuke_ctx *ctx, const char *name)
{
    const char *v = kuke_flag(ctx, name);
    return v != NULL && strcmp(v, "false") != 0;
}

const char *kuke_flag_or(const struct kuke_ctx *ctx, const char *name, const char *env, const char *def)
{
    const char *v = kuke_flag(ctx, name);
    if (v != NULL)
        return v;
    if (env != NULL) {
        const char *e = getenv(env);
        if (e != NULL && *e != '\0')
            return e;
    }
    return def;
}

static const struct kuke_cmd *kuke_find_sub(const struct kuke_cmd *cmd, const char *word)
{
    for (const struct kuke_cmd *c = cmd->subs; c != NULL && c->name != NULL; c++) {
        if (strcmp(c->name, word) == 0)
            return c;
        for (int i = 0; i < 4 && c->aliases[i] != NULL; i++)
            if (strcmp(c->aliases[i], word) == 0)
                return c;
    }
    return NULL;
}

static const struct kuke_opt *kuke_find_opt(const struct kuke_opt *opts, const char *name, char shorthand)
{
    for (const struct kuke_opt *o = opts; o != NULL && o->name != NULL; o++)
        if ((name != NULL && strcmp(o->name, name) == 0) || (shorthand != 0 && o->shorthand == shorthand))
            return o;
    return NULL;
}

static void kuke_print_opts(FILE *out, const struct kuke_opt *opts)
{
    for (const struct kuke_opt *o = opts; o != NULL && o->name != NULL; o++) {
        char lhs[64];
        if (o->shorthand)
            snprintf(lhs, sizeof(lhs), "-%c, --%s%s", o->shorthand, o->name,
                     o->type == KUKE_OPT_STRING ? " string" : "");
        else
            snprintf(lhs, sizeof(lhs), "    --%s%s", o->name, o->type == KUKE_OPT_STRING ? " string" : "");
        if (o->def != NULL && *o->def != '\0')
            fprintf(out, "  %-34s %s (default \"%s\")\n", lhs, o->help, o->def);
        else
            fprintf(out, "  %-34s %s\n", lhs, o->help);
    }
}

static void kuke_help(FILE *out, const struct kuke_cmd *cmd, const struct kuke_opt *global_opts)
{
    fprintf(out, "%s\n\nUsage:\n  %s\n", cmd->summary, cmd->usage);
    if (cmd->aliases[0] != NULL) {
        fprintf(out, "\nAliases:\n  %s", cmd->name);
        for (int i = 0; i < 4 && cmd->aliases[i] != NULL; i++)
            fprintf(out, ", %s", cmd->aliases[i]);
        fprintf(out, "\n");
    }
    if (cmd->subs != NULL) {
        fprintf(out, "\nAvailable Commands:\n");
        /* The names column is as wide as the longest name ("registry-credential"), at least 12. */
        int width = 12;
        for (const struct kuke_cmd *c = cmd->subs; c->name != NULL; c++)
            if ((int)strlen(c->name) > width)
                width = (int)strlen(c->name);
        for (const struct kuke_cmd *c = cmd->subs; c->name != NULL; c++)
            if (strncmp(c->name, "__", 2) != 0) /* the build's own (kuke __man), not the user's */
                fprintf(out, "  %-*s %s\n", width, c->name, c->summary);
    }
    if (cmd->opts != NULL && cmd->opts[0].name != NULL) {
        fprintf(out, "\nFlags:\n");
        kuke_print_opts(out, cmd->opts);
    }
    fprintf(out, "\nGlobal Flags:\n");
    kuke_print_opts(out, global_opts);
    fprintf(out, "  -h, --help                         help for %s\n", cmd->name);
}

static const struct kuke_cmd *kuke_the_root;
static const struct kuke_opt *kuke_the_globals;

const struct kuke_cmd *kuke_root_cmd(const struct kuke_opt **global_opts)
{
    if (global_opts != NULL)
        *global_opts = kuke_the_globals;
    return kuke_the_root;
}

int kuke_main(const struct kuke_cmd *root, const struct kuke_opt *global_opts, int argc, char **argv)
{
    kuke_the_root = root;
    kuke_the_globals = global_opts;
    static struct kuke_ctx ctx;
    memset(&ctx, 0, sizeof(ctx));
    const struct kuke_cmd *cmd = root;
    ctx.path[ctx.npath++] = root->name;
    bool want_help = false, flags_done = false;

    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!flags_done && strcmp(a, "--") == 0) {
            flags_done = true;
            continue;
        }
        if (!flags_done && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                want_help = true;
                continue;
            }
            const char *name = NULL, *value = NULL;
            char shorthand = 0;
            char namebuf[64];
            if (a[1] == '-') {
                const char *eq = strchr(a + 2, '=');
                size_t n = eq != NULL ? (size_t)(eq - (a + 2)) : strlen(a + 2);
                if (n >= sizeof(namebuf)) {
                    fprintf(stderr, "Error: unknown flag: %s\n", a);
                    return 1;
                }
                memcpy(namebuf, a + 2, n);
                namebuf[n] = '\0';
                name = namebuf;
                value = eq != NULL ? eq + 1 : NULL;
            } else {
                shorthand = a[1];
                value = a[2] != '\0' ? a + 2 : NULL;
            }
            const struct kuke_opt *o = kuke_find_opt(cmd->opts, name, shorthand);
            if (o == NULL)
                o = kuke_find_opt(global_opts, name, shorthand);
            if (o == NULL) {
                if (name != NULL)
                    fprintf(stderr, "Error: unknown flag: --%s\n", name);
                else
                    fprintf(stderr, "Error: unknown shorthand flag: '%c' in %s\n", shorthand, a);
                fprintf(stderr, "Run '%s %s--help' for usage.\n", root->name,
                        cmd == root ? "" : "<command> ");
                return 1;
            }
            if (o->type == KUKE_OPT_BOOL) {
                if (value == NULL)
                    value = "true";
                else if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
                    fprintf(stderr,
                            "Error: invalid argument \"%s\" for \"--%s\" flag: expected true or false\n",
                            value, o->name);
                    return 1;
                }
            } else if (value == NULL) {
                if (i + 1 >= argc) {
                    fprintf(stderr, "Error: flag needs an argument: --%s\n", o->name);
                    return 1;
                }
                value = argv[++i];
            }
            if (ctx.nset >= KUKE_MAX_SET) {
                fprintf(stderr, "Error: too many flags\n");
                return 1;
            }
            ctx.set[ctx.nset].name = o->name;
            ctx.set[ctx.nset].value = value;
            ctx.nset++;
            continue;
        }
        /* A word: a subcommand while the current command has them, else a positional argument. */
        if (ctx.nargs == 0 && cmd->subs != NULL) {
            const struct kuke_cmd *sub = kuke_find_sub(cmd, a);
            if (sub == NULL) {
                fprintf(stderr, "Error: unknown command \"%s\" for \"%s\"\n", a, ctx.path[ctx.npath - 1]);
                fprintf(stderr, "Run '");
                for (int k = 0; k < ctx.npath; k++)
                    fprintf(stderr, "%s ", ctx.path[k]);
                fprintf(stderr, "--help' for usage.\n");
                return 1;
            }
            cmd = sub;
            if (ctx.npath < 4)
                ctx.path[ctx.npath++] = sub->name;
            continue;
        }
        if (ctx.nargs >= KUKE_MAX_ARGS) {
            fprintf(stderr, "Error: too many arguments\n");
            return 1;
        }
        ctx.args[ctx.nargs++] = a;
    }

    ctx.cmd = cmd;
    if (want_help) {
        kuke_help(stdout, cmd, global_opts);
        return 0;
    }
    if (cmd->run == NULL) {
        kuke_help(cmd == root ? stdout : stderr, cmd, global_opts);
        return cmd == root ? 0 : 1;
    }

    enum kk_log_level lvl = KK_LOG_WARN;
    const char *ls = kuke_flag_or(&ctx, "log-level", "KUKEON_LOG_LEVEL", NULL);
    if (ls != NULL && kk_log_parse_level(ls, &lvl) < 0) {
        fprintf(stderr, "Error: invalid --log-level \"%s\": use debug, info, warn or error\n", ls);
        return 1;
    }
    if (kuke_flag_bool(&ctx, "verbose"))
        lvl = KK_LOG_DEBUG;
    kk_log_init("kuke", lvl);

    struct kk_err err = {0};
    if (cmd->run(&ctx, &err) < 0) {
        fprintf(stderr, "Error: %s\n", err.msg[0] != '\0' ? err.msg : "command failed");
        return 1;
    }
    return 0;
}
