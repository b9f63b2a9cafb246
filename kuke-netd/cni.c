/* Running the CNI plugins as the CNI specification's runtime side does (what libcni does for Go
 * runtimes; there is no C libcni, so this is written here): each plugin of the conflist gets its
 * network configuration on stdin with name, cniVersion and prevResult filled in, and the CNI_*
 * variables in an otherwise empty environment; its stdout is its result or its error. The plugins
 * come from a fixed directory and a fixed list, never from a request or a conflist field. */
#include "kuke-netd/netd.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

/* Where the plugins live: the upstream layout first (a host that installed them by hand, or the Go
 * daemon's image), then Debian's containernetworking-plugins. */
const char *const netd_plugin_dirs[] = {"/opt/cni/bin", "/usr/lib/cni"};
const size_t netd_plugin_dirs_count = KK_ARRAY_SIZE(netd_plugin_dirs);
const char *const netd_plugins[] = {"bridge", "host-local", "loopback", "portmap"};
const size_t netd_plugins_count = KK_ARRAY_SIZE(netd_plugins);

/* The runner's own exit codes, outside what a plugin returns (CNI plugins exit 0 or small codes). */
#define RUNNER_TIMEOUT   124
#define RUNNER_SIGNALLED 125
#define RUNNER_EXEC_FAIL 127
#define NETD_STDERR_MAX  4096

static bool plugin_known(const char *name)
{
    for (size_t i = 0; i < netd_plugins_count; i++)
        if (strcmp(name, netd_plugins[i]) == 0)
            return true;
    return false;
}

int netd_cni_pick_dir(char *buf, size_t size, struct kk_err *err)
{
    for (size_t d = 0; d < netd_plugin_dirs_count; d++) {
        bool all = true;
        for (size_t p = 0; p < netd_plugins_count && all; p++) {
            char path[128];
            snprintf(path, sizeof(path), "%s/%s", netd_plugin_dirs[d], netd_plugins[p]);
            struct stat st;
            all = stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0;
        }
        if (all)
            return kk_strlcpy(buf, netd_plugin_dirs[d], size) < 0
                       ? kk_error(err, KK_ERR_INTERNAL, 0, "plugin dir name too long")
                       : 0;
    }
    buf[0] = '\0';
    return kk_error(err, KK_ERR_UNAVAILABLE, 0,
                    "no CNI plugin directory holds bridge, host-local, loopback and portmap (looked in "
                    "/opt/cni/bin and /usr/lib/cni): install containernetworking-plugins (make deps)");
}

/* ---- one plugin ----------------------------------------------------------------------------------- */

static volatile sig_atomic_t runner_child_done;
static void runner_on_sigchld(int sig)
{
    (void)sig;
    runner_child_done = 1;
}

/* The runner: the plugin's parent, whose only job is the deadline. netd may not signal another
 * process (its filter forbids kill), so the plugin is started with PR_SET_PDEATHSIG(SIGKILL) under
 * this runner, and when the deadline passes the runner simply exits, which kills the plugin. */
static void __attribute__((noreturn))
runner_main(pid_t netd, const char *path, char *const argv[], char *const envp[], int in, int out, int errfd,
            unsigned timeout_s)
{
    /* The runner dies with netd, and so (below) the plugin with the runner: a plugin must not go on
     * changing the host after the netd that started it is gone, racing the retry of a new netd. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != netd)
        _exit(RUNNER_EXEC_FAIL);
    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = runner_on_sigchld;
    sigaction(SIGCHLD, &sa, NULL);
    pid_t runner = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* The plugin: stdio on the pipes, no other descriptor (everything netd holds is
         * close-on-exec), the signal mask netd had, and death with its runner. Its capabilities are
         * netd's bounding set (CAP_NET_ADMIN for links, addresses and iptables, CAP_SYS_ADMIN for
         * setns into the cell's namespace), which is exactly what the plugins need; netd's filter
         * and no-new-privs come along and cannot be shed. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != runner)
            _exit(RUNNER_EXEC_FAIL);
        if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
            _exit(RUNNER_EXEC_FAIL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        execve(path, argv, envp);
        _exit(RUNNER_EXEC_FAIL);
    }
    if (pid < 0)
        _exit(RUNNER_EXEC_FAIL);
    close(in);
    close(out);
    close(errfd);
    struct timespec deadline, now;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_s;
    sigset_t waitmask = old;
    sigdelset(&waitmask, SIGCHLD);
    for (;;) {
        int status;
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            if (WIFEXITED(status))
                _exit(WEXITSTATUS(status));
            _exit(RUNNER_SIGNALLED);
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > deadline.tv_sec ||
            (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec))
            _exit(RUNNER_TIMEOUT); /* the plugin dies with us */
        struct timespec left = {.tv_sec = deadline.tv_sec - now.tv_sec,
                                .tv_nsec = deadline.tv_nsec - now.tv_nsec};
        if (left.tv_nsec < 0) {
            left.tv_sec--;
            left.tv_nsec += 1000000000L;
        }
        /* SIGCHLD is blocked except inside ppoll, so an exit between waitpid and here is not
         * missed: it interrupts ppoll at once. */
        runner_child_done = 0;
        ppoll(NULL, 0, &left, &waitmask);
    }
}

void netd_reap_strays(void)
{
    /* netd is a child subreaper (netd_acquire): a plugin killed when its runner gave up, or a
     * daemon a plugin left behind, ends up as netd's child. netd waits for each child it starts
     * synchronously, so any other child that has ended is such a stray: reap it, never block. */
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
}

struct out_buf {
    char *data;
    size_t len, max;
    bool open;
};

static void drain(int fd, struct out_buf *b)
{
    char chunk[4096];
    ssize_t r = read(fd, chunk, sizeof(chunk));
    if (r < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (r <= 0) {
        b->open = false;
        return;
    }
    size_t take = (size_t)r;
    if (b->len + take > b->max)
        take = b->max - b->len; /* cut, but keep reading so the plugin never blocks on a full pipe */
    memcpy(b->data + b->len, chunk, take);
    b->len += take;
    b->data[b->len] = '\0';
}

/* The message of a CNI error result ({"code", "msg", "details"}), or the plugin's stderr. */
static void plugin_failure(const char *out, const char *errtext, char *msg, size_t size)
{
    json_t *j = json_loads(out, 0, NULL);
    const char *m = json_string_value(json_object_get(j, "msg"));
    const char *det = json_string_value(json_object_get(j, "details"));
    char raw[KK_ERR_MSG_MAX / 2];
    if (m != NULL)
        snprintf(raw, sizeof(raw), "%s%s%s (CNI code %lld)", m, det != NULL && det[0] ? ": " : "",
                 det != NULL ? det : "", (long long)json_integer_value(json_object_get(j, "code")));
    else {
        /* Cut to what a message can hold: stderr is the plugin's, and unbounded in principle. */
        const char *t = errtext[0] != '\0' ? errtext : "no error message";
        size_t n = strnlen(t, sizeof(raw) - 1);
        memcpy(raw, t, n);
        raw[n] = '\0';
    }
    json_decref(j);
    kk_log_escape(raw, msg, size);
}

int netd_run_program(struct netd_ctx *c, const char *path, char *const argv[], char *const envp[],
                     const char *stdin_data, char **stdout_data, char *errbuf, size_t errsize, int *code,
                     struct kk_err *err)
{
    *stdout_data = NULL;
    *code = -1;
    if (errsize > 0)
        errbuf[0] = '\0';
    int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0) {
        int e = errno;
        for (int i = 0; i < 2; i++) {
            kk_closep(&in[i]);
            kk_closep(&out[i]);
            kk_closep(&er[i]);
        }
        return kk_error(err, KK_ERR_INTERNAL, e, "creating pipes for %s", path);
    }
    pid_t self = getpid();
    pid_t runner = fork();
    if (runner == 0) {
        close(in[1]);
        close(out[0]);
        close(er[0]);
        runner_main(self, path, argv, envp, in[0], out[1], er[1], c->plugin_timeout_s);
    }
    int fork_errno = errno;
    close(in[0]);
    close(out[1]);
    close(er[1]);
    if (runner < 0) {
        close(in[1]);
        close(out[0]);
        close(er[0]);
        return kk_error(err, KK_ERR_INTERNAL, fork_errno, "starting %s", path);
    }

    /* The input is a few KiB, well under a pipe's buffer: write it, then EOF. */
    size_t len = stdin_data != NULL ? strlen(stdin_data) : 0;
    const char *p = stdin_data;
    while (len > 0) {
        ssize_t w = write(in[1], p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* the program died early; its status says why */
        p += w;
        len -= (size_t)w;
    }
    close(in[1]);

    _cleanup_free_ char *obuf = malloc(NETD_PLUGIN_OUTPUT_MAX + 1);
    _cleanup_free_ char *ebuf = malloc(NETD_STDERR_MAX + 1);
    if (obuf == NULL || ebuf == NULL) {
        close(out[0]);
        close(er[0]);
        waitpid(runner, NULL, 0);
        return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "reading %s", path);
    }
    obuf[0] = ebuf[0] = '\0';
    struct out_buf ob = {obuf, 0, NETD_PLUGIN_OUTPUT_MAX, true}, eb = {ebuf, 0, NETD_STDERR_MAX, true};
    /* The runner enforces the deadline; this one only guards against a descendant of the program
     * that kept its stdout open after the program died. */
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (ob.open || eb.open) {
        struct pollfd pfd[2] = {{.fd = ob.open ? out[0] : -1, .events = POLLIN},
                                {.fd = eb.open ? er[0] : -1, .events = POLLIN}};
        int n = poll(pfd, 2, 1000);
        if (n < 0 && errno != EINTR)
            break;
        if (pfd[0].revents)
            drain(out[0], &ob);
        if (pfd[1].revents)
            drain(er[0], &eb);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec > (time_t)c->plugin_timeout_s + 5)
            break;
    }
    close(out[0]);
    close(er[0]);
    int status = 0;
    while (waitpid(runner, &status, 0) < 0) {
        if (errno != EINTR) {
            status = -1;
            break;
        }
    }
    *code = WIFEXITED(status) ? WEXITSTATUS(status) : RUNNER_SIGNALLED;
    netd_reap_strays();
    if (errsize > 0)
        snprintf(errbuf, errsize, "%s", ebuf);
    *stdout_data = KK_STEAL(obuf);
    return 0;
}

int netd_cni_exec(struct netd_ctx *c, const char *plugin, const char *command, const char *container_id,
                  const char *netns, const char *ifname, const char *stdin_data, char **stdout_data,
                  struct kk_err *err)
{
    *stdout_data = NULL;
    if (!plugin_known(plugin))
        return kk_error(err, KK_ERR_INTERNAL, 0, "CNI plugin \"%s\" is not one kuke-netd runs", plugin);
    if (c->plugin_dir[0] == '\0' && netd_cni_pick_dir(c->plugin_dir, sizeof(c->plugin_dir), err) < 0)
        return -1;
    char path[128];
    if (kk_snprintf(path, sizeof(path), err, "plugin path", "%s/%s", c->plugin_dir, plugin) < 0)
        return -1;
    /* The CNI protocol's environment, nothing else. PATH because the plugins run iptables (and the
     * bridge plugin finds host-local through CNI_PATH). */
    char e_cmd[32], e_id[128], e_ns[KK_DERIVE_PATH_SIZE + 16], e_if[32], e_path[96];
    if (kk_snprintf(e_cmd, sizeof(e_cmd), err, "CNI_COMMAND", "CNI_COMMAND=%s", command) < 0 ||
        kk_snprintf(e_id, sizeof(e_id), err, "CNI_CONTAINERID", "CNI_CONTAINERID=%s", container_id) < 0 ||
        kk_snprintf(e_ns, sizeof(e_ns), err, "CNI_NETNS", "CNI_NETNS=%s", netns) < 0 ||
        kk_snprintf(e_if, sizeof(e_if), err, "CNI_IFNAME", "CNI_IFNAME=%s", ifname) < 0 ||
        kk_snprintf(e_path, sizeof(e_path), err, "CNI_PATH", "CNI_PATH=%s", c->plugin_dir) < 0)
        return -1;
    char *envp[] = {e_cmd, e_id, e_ns, e_if, "CNI_ARGS=", e_path, "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    char *argv[] = {(char *)plugin, NULL};
    char errtext[NETD_STDERR_MAX + 1];
    int code;
    _cleanup_free_ char *out = NULL;
    if (netd_run_program(c, path, argv, envp, stdin_data, &out, errtext, sizeof(errtext), &code, err) < 0)
        return kk_error_wrap(err, "CNI plugin %s %s", plugin, command);
    if (code == 0) {
        *stdout_data = KK_STEAL(out);
        return 0;
    }
    char why[KK_ERR_MSG_MAX / 2];
    if (code == RUNNER_TIMEOUT)
        snprintf(why, sizeof(why), "it ran longer than %u s and was killed", c->plugin_timeout_s);
    else if (code == RUNNER_EXEC_FAIL)
        snprintf(why, sizeof(why), "it could not be started from %s", path);
    else if (code == RUNNER_SIGNALLED)
        snprintf(why, sizeof(why),
                 "it was killed by a signal (a seccomp violation shows as SIGSYS in the "
                 "kernel log)");
    else
        plugin_failure(out, errtext, why, sizeof(why));
    return kk_error(err, KK_ERR_INTERNAL, 0, "CNI plugin %s %s for container %s failed: %s", plugin, command,
                    container_id, why);
}

/* ---- the chain ------------------------------------------------------------------------------------ */

static const char *cmd_name(enum netd_cni_cmd cmd)
{
    return cmd == NETD_CNI_ADD ? "ADD" : cmd == NETD_CNI_CHECK ? "CHECK" : "DEL";
}

/* Plugins of the chain whose ADD and DEL would change nothing here, so netd does not start them
 * (each is a Go program: 5-50 ms of a cold attach or detach, measured in bench/RESULTS.md):
 * - loopback: netd brought lo up itself when it made the namespace (netns.c), and a DEL only sets
 *   it down in a namespace netd removes right after (or attaches again at once);
 * - portmap: it acts on the portMappings capability argument only, which netd never passes (no
 *   cell publishes ports); without it ADD hands prevResult through and DEL returns at once.
 * CHECK still runs the whole chain. The conflist keeps both, as the reference writes it. */
static bool plugin_idle(enum netd_cni_cmd cmd, const char *type)
{
    return cmd != NETD_CNI_CHECK && (strcmp(type, "loopback") == 0 || strcmp(type, "portmap") == 0);
}

int netd_cni_run(struct netd_ctx *c, enum netd_cni_cmd cmd, const json_t *conflist, const char *container_id,
                 const char *netns, const json_t *prev, json_t **result, struct kk_err *err)
{
    if (result != NULL)
        *result = NULL;
    const json_t *plugins = json_object_get(conflist, "plugins");
    const char *name = json_string_value(json_object_get(conflist, "name"));
    const char *version = json_string_value(json_object_get(conflist, "cniVersion"));
    size_t n = json_array_size(plugins);
    if (name == NULL || version == NULL || n == 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "conflist without name, cniVersion or plugins");
    json_t *carried = prev != NULL ? json_deep_copy(prev) : NULL;
    for (size_t k = 0; k < n; k++) {
        size_t i = cmd == NETD_CNI_DEL ? n - 1 - k : k;
        const json_t *plugin = json_array_get(plugins, i);
        const char *type = json_string_value(json_object_get(plugin, "type"));
        if (type == NULL || !plugin_known(type)) {
            json_decref(carried);
            return kk_error(err, KK_ERR_INTERNAL, 0,
                            "conflist %s names plugin \"%s\", which netd does not run", name,
                            type != NULL ? type : "(none)");
        }
        if (plugin_idle(cmd, type))
            continue;
        json_t *conf = json_deep_copy(plugin);
        if (conf == NULL || json_object_set_new(conf, "name", json_string(name)) < 0 ||
            json_object_set_new(conf, "cniVersion", json_string(version)) < 0 ||
            (carried != NULL && json_object_set(conf, "prevResult", carried) < 0)) {
            json_decref(conf);
            json_decref(carried);
            return kk_error(err, KK_ERR_INTERNAL, ENOMEM, "building the configuration of plugin %s", type);
        }
        char *text = json_dumps(conf, JSON_COMPACT);
        json_decref(conf);
        char *out = NULL;
        int rc = text == NULL ? kk_error(err, KK_ERR_INTERNAL, ENOMEM, "encoding plugin configuration")
                              : netd_cni_exec(c, type, cmd_name(cmd), container_id, netns, NETD_IFNAME, text,
                                              &out, err);
        free(text);
        if (rc < 0) {
            json_decref(carried);
            return -1;
        }
        if (cmd == NETD_CNI_ADD) {
            json_error_t jerr;
            json_t *r = json_loads(out, JSON_REJECT_DUPLICATES, &jerr);
            if (!json_is_object(r)) {
                json_decref(r);
                json_decref(carried);
                free(out);
                return kk_error(err, KK_ERR_INTERNAL, 0, "CNI plugin %s ADD printed no JSON result: %s", type,
                                jerr.text);
            }
            json_decref(carried);
            carried = r;
        }
        free(out);
    }
    if (cmd == NETD_CNI_ADD && result != NULL)
        *result = carried;
    else
        json_decref(carried);
    return 0;
}

/* ---- results ------------------------------------------------------------------------------------- */

static int copy_field(char *dst, size_t size, const char *src, const char *what, struct kk_err *err)
{
    if (src == NULL || kk_strlcpy(dst, src, size) < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "CNI result: %s is missing or too long", what);
    return 0;
}

int netd_cni_result_parse(const json_t *result, const char *netns, struct netd_cni_addr *out,
                          struct kk_err *err)
{
    memset(out, 0, sizeof(*out));
    const json_t *ifaces = json_object_get(result, "interfaces");
    const json_t *ips = json_object_get(result, "ips");
    /* The container's interface: eth0 in the cell's namespace. */
    long cont = -1;
    const json_t *iface;
    size_t i;
    json_array_foreach(ifaces, i, iface)
    {
        const char *name = json_string_value(json_object_get(iface, "name"));
        const char *sandbox = json_string_value(json_object_get(iface, "sandbox"));
        if (name != NULL && strcmp(name, NETD_IFNAME) == 0 && sandbox != NULL && strcmp(sandbox, netns) == 0)
            cont = (long)i;
    }
    if (cont < 0)
        return kk_error(err, KK_ERR_INTERNAL, 0, "CNI result has no %s in %s", NETD_IFNAME, netns);
    const json_t *ip;
    json_array_foreach(ips, i, ip)
    {
        const json_t *idx = json_object_get(ip, "interface");
        const char *addr = json_string_value(json_object_get(ip, "address"));
        if (idx != NULL && json_integer_value(idx) != cont)
            continue;
        if (addr == NULL || strchr(addr, ':') != NULL)
            continue; /* IPv4 only (reference 8.3: no IPv6) */
        if (copy_field(out->address, sizeof(out->address), addr, "address", err) < 0)
            return -1;
        const char *gw = json_string_value(json_object_get(ip, "gateway"));
        if (gw != NULL && copy_field(out->gateway, sizeof(out->gateway), gw, "gateway", err) < 0)
            return -1;
        break;
    }
    if (out->address[0] == '\0')
        return kk_error(err, KK_ERR_INTERNAL, 0, "CNI result has no IPv4 address for %s", NETD_IFNAME);
    if (copy_field(out->mac, sizeof(out->mac),
                   json_string_value(json_object_get(json_array_get(ifaces, (size_t)cont), "mac")), "mac",
                   err) < 0)
        return -1;
    /* The host end: the interface outside any sandbox that is not the bridge (the bridge plugin
     * lists the bridge first). */
    json_array_foreach(ifaces, i, iface)
    {
        const char *sandbox = json_string_value(json_object_get(iface, "sandbox"));
        if (i == 0 || (sandbox != NULL && sandbox[0] != '\0'))
            continue;
        if (copy_field(out->host_veth, sizeof(out->host_veth),
                       json_string_value(json_object_get(iface, "name")), "host veth name", err) < 0)
            return -1;
        break;
    }
    if (out->host_veth[0] == '\0')
        return kk_error(err, KK_ERR_INTERNAL, 0, "CNI result names no host veth");
    return 0;
}

int netd_cni_result_rename_host(json_t *result, const char *from, const char *to, struct kk_err *err)
{
    const json_t *ifaces = json_object_get(result, "interfaces");
    json_t *iface;
    size_t i;
    json_array_foreach(ifaces, i, iface)
    {
        const char *name = json_string_value(json_object_get(iface, "name"));
        const char *sandbox = json_string_value(json_object_get(iface, "sandbox"));
        if (name != NULL && strcmp(name, from) == 0 && (sandbox == NULL || sandbox[0] == '\0'))
            return json_object_set_new(iface, "name", json_string(to)) < 0
                       ? kk_error(err, KK_ERR_INTERNAL, ENOMEM, "updating the CNI result")
                       : 0;
    }
    return kk_error(err, KK_ERR_INTERNAL, 0, "CNI result has no host interface %s", from);
}

/* ---- host-local's store ---------------------------------------------------------------------------- */

static bool is_ipv4_name(const char *s)
{
    struct in_addr a;
    return inet_pton(AF_INET, s, &a) == 1;
}

/* Count the reservation files of the network, and remove those of match_id when asked. */
static int ipam_walk(const struct netd_dir *at, const char *ipam_dir, const char *network,
                     const char *match_id, bool unlink_matches, struct kk_err *err)
{
    char dir[KK_DERIVE_PATH_SIZE], shown[KK_DERIVE_PATH_SIZE + 300];
    if (kk_snprintf(dir, sizeof(dir), err, "IPAM dir", "%s/%s", ipam_dir, network) < 0)
        return -1;
    DIR *d = NULL;
    int rc = netd_open_dir(at, dir, &d, err);
    if (rc <= 0)
        return rc;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_ipv4_name(de->d_name))
            continue;
        if (match_id == NULL) {
            n++;
            continue;
        }
        int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue;
        char owner[256];
        ssize_t r = read(fd, owner, sizeof(owner) - 1);
        close(fd);
        if (r <= 0)
            continue;
        owner[r] = '\0';
        owner[strcspn(owner, "\r\n")] = '\0';
        if (strcmp(owner, match_id) != 0)
            continue;
        if (unlink_matches && unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT) {
            int e = errno;
            closedir(d);
            return kk_error(err, KK_ERR_INTERNAL, e, "removing stale reservation %s/%s",
                            netd_path_shown(at, dir, shown, sizeof(shown)), de->d_name);
        }
        n++;
    }
    closedir(d);
    return n;
}

int netd_ipam_purge(const struct netd_dir *at, const char *ipam_dir, const char *network,
                    const char *container_id, struct kk_err *err)
{
    return ipam_walk(at, ipam_dir, network, container_id, true, err);
}

int netd_ipam_count(const struct netd_dir *at, const char *ipam_dir, const char *network, struct kk_err *err)
{
    return ipam_walk(at, ipam_dir, network, NULL, false, err);
}
