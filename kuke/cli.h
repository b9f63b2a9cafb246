/* The kuke command framework: a table of verbs, each with its flags, aliases and help, parsed
 * the way cobra users expect (flags anywhere, --flag=value or --flag value, -- ends flags). */
#ifndef KUKEON_KUKE_CLI_H
#define KUKEON_KUKE_CLI_H

#include <stdbool.h>

#include "common/err.h"

enum kuke_opt_type { KUKE_OPT_BOOL, KUKE_OPT_STRING };

struct kuke_opt {
    const char *name;  /* long name, without "--" */
    char shorthand;    /* 0 if none */
    enum kuke_opt_type type;
    const char *def;   /* default shown in help (string options) */
    const char *help;
};

#define KUKE_MAX_ARGS 64
#define KUKE_MAX_SET  32

struct kuke_ctx;
typedef int (*kuke_run_fn)(struct kuke_ctx *ctx, struct kk_err *err);

struct kuke_cmd {
    const char *name;
    const char *aliases[4];
    const char *summary;
    const char *usage;            /* e.g. "kuke daemon start [flags]" */
    const struct kuke_opt *opts;  /* terminated by {0} */
    kuke_run_fn run;              /* NULL for a group of subcommands */
    const struct kuke_cmd *subs;  /* terminated by {0} */
};

struct kuke_ctx {
    const struct kuke_cmd *cmd;       /* the verb being run */
    const char *path[4];              /* "kuke", "daemon", "start" */
    int npath;
    char *args[KUKE_MAX_ARGS];        /* positional arguments after the verb */
    int nargs;
    struct {
        const char *name;
        const char *value;            /* "true" for a bool flag */
    } set[KUKE_MAX_SET];
    int nset;
};

/* Flag value if given on the command line, else NULL. */
const char *kuke_flag(const struct kuke_ctx *ctx, const char *name);
bool kuke_flag_bool(const struct kuke_ctx *ctx, const char *name);
/* The flag, else the environment variable env (if not NULL), else def. */
const char *kuke_flag_or(const struct kuke_ctx *ctx, const char *name, const char *env, const char *def);

/* Parse argv against the root command and run the verb. Returns the process exit code. */
int kuke_main(const struct kuke_cmd *root, const struct kuke_opt *global_opts, int argc, char **argv);

/* The command table kuke_main runs (and its global flags), for kuke autocomplete. */
const struct kuke_cmd *kuke_root_cmd(const struct kuke_opt **global_opts);

#endif
