/* demo.c - `switchyard demo`: the one-command tour.
 *
 * Starts, as child processes of this one (fork + exec of /proc/self/exe):
 *
 *   switchyard sim      N replicas of the calibrated Qwen3-32B TP2 H100 profile, with a KV cache
 *                       sized so the workload's system prompts do not fit in one replica but do
 *                       fit in the fleet (llm-d's reference experiment has the same shape: 150 x
 *                       6000-token prefixes against 275,760 tokens per replica)
 *   switchyard gateway  "round-robin": scheduler = round-robin-picker only (the baseline a plain
 *                       load balancer gives)
 *   switchyard gateway  "switchyard": `scheduler: llm-d-default` = llm-d's default scheduling
 *                       (prefix-cache-scorer 3, queue-scorer 2, kv-cache-utilization-scorer 2),
 *                       the configuration of the documented demo runs and of llm-d's experiment
 *
 * on ephemeral loopback ports, then runs the same shared-prefix workload (same texts, same Poisson
 * schedule) through each gateway with the replicas' prefix caches reset in between, prints the
 * side-by-side table and writes the HTML report and optionally JSON.
 *
 * Cleanup: every child is in its own process group (a terminal's Ctrl-C reaches only the demo,
 * which then stops them in order) and has PR_SET_PDEATHSIG = SIGTERM (if the demo itself is
 * killed, the kernel stops them). On every exit path the demo sends SIGTERM, waits up to 5 s, then
 * SIGKILLs and reaps. SIGINT/SIGTERM during a run stop it with partial results (runner.c); during
 * start-up they abort. Child logs go to a temporary directory, printed on failure and removed
 * on success unless --keep-logs.
 *
 * --pd: the P/D scenario (issue 13). Two fleets of the same size (so the same simulated GPUs):
 * "aggregated" (every replica prefills and decodes, llm-d's default scheduling) and "p/d" (the
 * first half prefill replicas, the second half decode replicas, a mixed fleet in one sim process,
 * behind a gateway running the NixlConnector exchange with llm-d's P/D sample scheduling:
 * prefix-based-pd-decider, nonCachedTokens 16). The workload is the long-prompt one of
 * bench/pd_bench.py: 8k-token prompts, 256 output tokens, Poisson arrivals near the aggregated
 * fleet's saturation; the table adds ITL p99 and the goodput under the SLO TTFT <= 2 s and
 * per-request ITL p99 <= 100 ms. The final line compares goodput and ITL p99.
 *
 * Timing: the simulator runs at --time-scale X (default 1) and the runs use the bench's time-scale
 * conversion with the same X (runner.c, stats.c): --rate is the simulated GPUs' req/s (sent at
 * rate x X per wall second) and every number printed is in simulated seconds, the modelled GPU's,
 * whatever X is (X > 1 finishes sooner, X < 1 eases a loaded machine). The full demo sends 480
 * requests per gateway and takes about 35 s on 2 cores at X = 1, --quick about 10 s.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "cmd/commands.h"
#include "core/alloc.h"
#include "core/err.h"
#include "core/str.h"
#include "core/time.h"

#define MAX_REPLICAS  8  /* --replicas bound */
#define MAX_CHILDREN  5  /* sim(s) + 2 gateways (+ spare) */
#define START_TIMEOUT 30 /* seconds for a child to listen / get ready */

static volatile int g_stop; /* SIGINT/SIGTERM outside a run (int: sig_atomic_t on Linux) */

static void on_stop_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void install_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

struct child {
    pid_t pid;               /* 0 when not running */
    char name[32];           /* for messages */
    char log[PATH_MAX + 40]; /* stdout+stderr */
};

struct demo {
    struct child kids[MAX_CHILDREN]; /* started processes */
    size_t nkids;                    /* used */
    char dir[PATH_MAX];              /* temporary directory */
    bool keep_logs;                  /* keep dir */
};

struct demo_opts {
    bool quick;            /* ~30 s smoke version */
    bool pd;               /* --pd: aggregated vs P/D instead of round-robin vs llm-d */
    unsigned replicas;     /* simulated replicas */
    double rate;           /* req/s offered (simulated time) */
    double time_scale;     /* simulator --time-scale */
    unsigned groups;       /* shared-prefix num_groups */
    unsigned per_group;    /* num_prompts_per_group */
    unsigned system_len;   /* system_prompt_len */
    unsigned question_len; /* question_len */
    unsigned output_len;   /* output_len */
    unsigned kv_blocks;    /* per replica (16 tokens each) */
    uint64_t seed;         /* workload + arrivals */
    const char *report;    /* HTML path */
    const char *json;      /* JSON path or NULL */
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: switchyard demo [--quick] [--report FILE] [--json FILE] [options]\n"
            "\n"
            "Starts a simulated fleet (switchyard sim), a gateway with round-robin and a gateway\n"
            "with llm-d's default scheduling, runs the same shared-prefix workload through each\n"
            "and compares them side by side. Nothing to configure; every process it starts is\n"
            "stopped when it ends (also on error or Ctrl-C).\n"
            "\n"
            "options:\n"
            "  --quick              ~10 s smoke version (fewer, shorter requests)\n"
            "  --pd                 prefill/decode disaggregation instead: an aggregated fleet\n"
            "                       and a P/D fleet (half prefill, half decode replicas) of the\n"
            "                       same size, 8k-token prompts, goodput under TTFT <= 2 s and\n"
            "                       ITL p99 <= 100 ms (about 70 s; --quick about 30 s)\n"
            "  --report FILE        HTML report (default demo-report.html)\n"
            "  --json FILE          results as JSON too\n"
            "  --replicas N         simulated replicas, 2..%d (default 4)\n"
            "  --rate R             Poisson arrivals, req/s of the simulated GPUs (default 40)\n"
            "  --time-scale X       simulated seconds per wall second (default 1; > 1 is faster):\n"
            "                       requests are sent at R x X per wall-clock second and all\n"
            "                       numbers shown are converted back to simulated time (the\n"
            "                       modelled GPUs'), as switchyard bench --time-scale does\n"
            "  --seed N             workload and arrivals (default 1)\n"
            "  --keep-logs          keep the children's logs and configs\n",
            MAX_REPLICAS);
}

/* n distinct free loopback ports (all bound at once while choosing, so they differ). */
static int free_ports(uint16_t *out, size_t n)
{
    int fds[2 * MAX_REPLICAS + 8];
    int rc = 0;
    size_t got = 0;
    for (; got < n; got++) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof a;
        fds[got] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[got] < 0 || bind(fds[got], (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(fds[got], (struct sockaddr *)&a, &al) != 0) {
            if (fds[got] >= 0)
                close(fds[got]);
            rc = SY_EIO;
            break;
        }
        out[got] = ntohs(a.sin_port);
    }
    for (size_t i = 0; i < got; i++)
        close(fds[i]);
    return rc;
}

static bool port_open(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Blocking GET on loopback; returns the HTTP status or -1. */
static int http_status(uint16_t port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int status = -1;
    char req[256], resp[64];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 && write(fd, req, (size_t)n) == n) {
        ssize_t r = read(fd, resp, sizeof resp - 1);
        if (r > 12) {
            resp[r] = '\0';
            if (strncmp(resp, "HTTP/1.", 7) == 0)
                status = atoi(resp + 9);
        }
    }
    close(fd);
    return status;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void print_log_tail(const struct child *c)
{
    FILE *f = fopen(c->log, "r");
    if (!f)
        return;
    static char buf[4096];
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, sz > (long)sizeof buf - 1 ? sz - (long)sizeof buf + 1 : 0, SEEK_SET);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    fprintf(stderr, "--- last lines of %s (%s) ---\n%s\n---\n", c->name, c->log, buf);
}

/* Starts /proc/self/exe with argv (argv[0] = subcommand). */
static int spawn(struct demo *d, const char *name, char *const *argv)
{
    if (d->nkids == MAX_CHILDREN)
        return SY_EINVAL;
    struct child *c = &d->kids[d->nkids];
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->log, sizeof c->log, "%s/%s.log", d->dir, name);
    char exe[PATH_MAX];
    ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (l <= 0)
        return SY_EIO;
    exe[l] = '\0';
    int fd = open(c->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return SY_EIO;
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd);
        return SY_EIO;
    }
    if (pid == 0) {
        setpgid(0, 0); /* the terminal's Ctrl-C goes to the demo only */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(127); /* the demo died before prctl took effect */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        int nullfd = open("/dev/null", O_RDONLY);
        if (nullfd >= 0)
            dup2(nullfd, STDIN_FILENO);
        size_t n = 0;
        while (argv[n])
            n++;
        char **args = calloc(n + 2, sizeof *args);
        if (!args)
            _exit(127);
        args[0] = (char *)"switchyard";
        for (size_t i = 0; i < n; i++)
            args[i + 1] = argv[i];
        execv(exe, args);
        _exit(127);
    }
    close(fd);
    c->pid = pid;
    d->nkids++;
    return 0;
}

static bool child_alive(struct child *c)
{
    if (c->pid <= 0)
        return false;
    int st;
    pid_t r = waitpid(c->pid, &st, WNOHANG);
    if (r == c->pid) {
        c->pid = 0;
        return false;
    }
    return true;
}

/* Waits until every port accepts connections (and, if ready_path, answers it with 200). */
static int wait_ready(struct demo *d, struct child *c, const uint16_t *ports, size_t n,
                      uint16_t admin, const char *ready_path)
{
    uint64_t deadline = sy_now_ns() + (uint64_t)START_TIMEOUT * SY_NS_PER_S;
    (void)d;
    while (sy_now_ns() < deadline) {
        if (g_stop)
            return SY_EBUSY;
        if (!child_alive(c)) {
            fprintf(stderr, "switchyard demo: %s exited during start-up\n", c->name);
            print_log_tail(c);
            return SY_EIO;
        }
        size_t ok = 0;
        for (size_t i = 0; i < n; i++)
            ok += port_open(ports[i]);
        if (ok == n && (!ready_path || http_status(admin, ready_path) == 200))
            return 0;
        sleep_ms(50);
    }
    fprintf(stderr, "switchyard demo: %s not ready after %d s\n", c->name, START_TIMEOUT);
    print_log_tail(c);
    return SY_ETIMEDOUT;
}

static void stop_children(struct demo *d)
{
    for (size_t i = d->nkids; i-- > 0;)
        if (d->kids[i].pid > 0)
            kill(d->kids[i].pid, SIGTERM);
    uint64_t deadline = sy_now_ns() + 5 * SY_NS_PER_S;
    for (size_t i = 0; i < d->nkids; i++) {
        struct child *c = &d->kids[i];
        while (c->pid > 0) {
            int st;
            pid_t r = waitpid(c->pid, &st, WNOHANG);
            if (r == c->pid || (r < 0 && errno == ECHILD)) {
                c->pid = 0;
                break;
            }
            if (sy_now_ns() > deadline) {
                kill(c->pid, SIGKILL);
                waitpid(c->pid, &st, 0);
                c->pid = 0;
                break;
            }
            sleep_ms(20);
        }
    }
}

static void remove_dir(const char *dir)
{
    static const char *const files[] = {
        "sim.log",    "round-robin.log", "switchyard.log", "round-robin.yaml", "switchyard.yaml",
        "sim-pd.log", "aggregated.log",  "p-d.log",        "aggregated.yaml",  "p-d.yaml"};
    char p[PATH_MAX + 32];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* The gateways read the replicas' metrics every 50 ms of simulated time (llm-d's refresh
 * interval), i.e. 50 / X wall ms, kept within 10 ms (the config's minimum) .. 1 s; staleness 40
 * scrape intervals (2 s simulated, the default). */
enum gw_kind { GW_ROUND_ROBIN, GW_DEFAULT, GW_PD };

static int write_gateway_config(const char *path, uint16_t listen, uint16_t admin,
                                const uint16_t *eps, size_t n, enum gw_kind kind, double time_scale)
{
    double scrape_ms = 50.0 / time_scale;
    if (scrape_ms < 10)
        scrape_ms = 10;
    if (scrape_ms > 1000)
        scrape_ms = 1000;
    FILE *f = fopen(path, "w");
    if (!f)
        return SY_EIO;
    fprintf(f,
            "# written by switchyard demo\n"
            "listen: 127.0.0.1:%u\nadmin: 127.0.0.1:%u\nworkers: 1\nlogLevel: warn\n"
            "pool:\n  engine: vllm\n  scrapeInterval: %.0fms\n  metricsStalenessThreshold: %.0fms\n"
            "  endpoints:\n",
            listen, admin, scrape_ms, 40 * scrape_ms);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "    - address: 127.0.0.1:%u\n", eps[i]);
        if (kind == GW_PD) /* the first half prefill, the rest decode (the sim's mixed fleet) */
            fprintf(f, "      labels: {llm-d.ai/role: %s}\n", i < n / 2 ? "prefill" : "decode");
    }
    if (kind == GW_PD)
        fprintf(f, "  disaggregation: {connector: nixlv2, prefillTimeout: 600s}\n"
                   "timeouts: {connect: 2s, request: 900s}\n"
                   "# llm-d's P/D sample (router-v0.9_pd-epp-config.yaml)\n"
                   "scheduler:\n"
                   "  apiVersion: llm-d.ai/v1alpha1\n"
                   "  kind: EndpointPickerConfig\n"
                   "  plugins:\n"
                   "  - type: prefix-cache-scorer\n"
                   "  - type: queue-scorer\n"
                   "  - type: prefill-filter\n"
                   "  - type: decode-filter\n"
                   "  - type: max-score-picker\n"
                   "  - type: disagg-profile-handler\n"
                   "    parameters: {deciders: {prefill: prefix-based-pd-decider}}\n"
                   "  - type: prefix-based-pd-decider\n"
                   "    parameters: {nonCachedTokens: 16}\n"
                   "  schedulingProfiles:\n"
                   "  - name: prefill\n"
                   "    plugins: [{pluginRef: prefill-filter}, {pluginRef: max-score-picker},\n"
                   "              {pluginRef: prefix-cache-scorer, weight: 2}, "
                   "{pluginRef: queue-scorer}]\n"
                   "  - name: decode\n"
                   "    plugins: [{pluginRef: decode-filter}, {pluginRef: max-score-picker},\n"
                   "              {pluginRef: prefix-cache-scorer, weight: 2}, "
                   "{pluginRef: queue-scorer}]\n");
    else if (kind == GW_DEFAULT)
        fprintf(f, "# llm-d's default scheduling, by name (no section: Switchyard's default)\n"
                   "scheduler: llm-d-default\n");
    else if (kind == GW_ROUND_ROBIN)
        fprintf(f, "scheduler:\n"
                   "  apiVersion: llm-d.ai/v1alpha1\n"
                   "  kind: EndpointPickerConfig\n"
                   "  plugins:\n"
                   "    - type: round-robin-picker\n"
                   "  schedulingProfiles:\n"
                   "    - name: default\n"
                   "      plugins:\n"
                   "        - pluginRef: round-robin-picker\n");
    return fclose(f) == 0 ? 0 : SY_EIO;
}

/* "switchyard demo: --flag: 'value': expected WHAT" (or "needs a value"); status 2. */
static int bad_value(const char *flag, const char *v, const char *what, int *status)
{
    if (v)
        fprintf(stderr, "switchyard demo: %s: '%s': expected %s (see --help)\n", flag, v, what);
    else
        fprintf(stderr, "switchyard demo: %s needs a value: %s (see --help)\n", flag, what);
    *status = 2;
    return SY_EINVAL;
}

static int parse_args(int argc, char **argv, struct demo_opts *o, bool *keep, int *status)
{
    o->quick = false;
    o->pd = false;
    o->replicas = 4;
    o->rate = 40;
    o->time_scale = 1;
    o->seed = 1;
    o->report = "demo-report.html";
    o->json = NULL;
    bool rate_set = false;
    char what[64];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t u;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            *status = 0;
            return SY_EINVAL;
        } else if (strcmp(a, "--quick") == 0) {
            o->quick = true;
        } else if (strcmp(a, "--pd") == 0) {
            o->pd = true;
        } else if (strcmp(a, "--keep-logs") == 0) {
            *keep = true;
        } else if (strcmp(a, "--report") == 0 || strcmp(a, "--json") == 0) {
            if (!v || !*v)
                return bad_value(a, v, "a file name", status);
            if (strcmp(a, "--report") == 0)
                o->report = v;
            else
                o->json = v;
            i++;
        } else if (strcmp(a, "--replicas") == 0) {
            snprintf(what, sizeof what, "an integer from 2 to %d", MAX_REPLICAS);
            if (!v || sy_parse_u64(v, 2, MAX_REPLICAS, &u) != 0)
                return bad_value(a, v, what, status);
            o->replicas = (unsigned)u;
            i++;
        } else if (strcmp(a, "--rate") == 0) {
            if (!v || sy_parse_double(v, &o->rate) != 0 || !(o->rate > 0 && o->rate <= 10000))
                return bad_value(a, v, "req/s above 0, at most 10000", status);
            rate_set = true;
            i++;
        } else if (strcmp(a, "--time-scale") == 0) {
            if (!v || sy_parse_double(v, &o->time_scale) != 0 ||
                !(o->time_scale > 0 && o->time_scale <= 1000))
                return bad_value(a, v, "a factor above 0, at most 1000", status);
            i++;
        } else if (strcmp(a, "--seed") == 0) {
            if (!v || sy_parse_u64(v, 0, UINT64_MAX, &o->seed) != 0)
                return bad_value(a, v, "a non-negative integer", status);
            i++;
        } else {
            fprintf(stderr, "switchyard demo: unknown argument '%s' (see --help)\n", a);
            *status = 2;
            return SY_EINVAL;
        }
    }
    /* Workload: 4 replicas x kv_blocks*16 tokens must hold < groups*system_len (round-robin
     * sends every group to every replica and thrashes) but > groups*system_len/replicas (prefix
     * routing partitions the groups). The rate overloads round-robin's prefill capacity
     * (replicas x ~16k tok/s at time scale 1) and leaves prefix routing headroom. */
    if (o->quick) {
        o->groups = 16;
        o->per_group = 6;
        o->system_len = 2000;
        o->question_len = 64;
        o->output_len = 32;
    } else {
        o->groups = 48;
        o->per_group = 10;
        o->system_len = 2000;
        o->question_len = 128;
        o->output_len = 64;
    }
    uint64_t total = (uint64_t)o->groups * o->system_len;
    uint64_t per = total / o->replicas;
    /* room for the replica's share of prefixes + ~50% for running requests, but well below
     * the whole set */
    uint64_t cap = per * 3 / 2;
    if (cap > total * 2 / 3)
        cap = total * 2 / 3;
    o->kv_blocks = (unsigned)(cap / 16);
    if (!rate_set)
        o->rate = 40; /* in simulated-GPU req/s; sent at rate x time_scale wall-clock */
    if (o->pd) {
        if (o->replicas % 2) {
            fprintf(stderr, "switchyard demo: --pd needs an even --replicas (half prefill, half "
                            "decode)\n");
            *status = 2;
            return SY_EINVAL;
        }
        /* 8k-token prompts at 0.9 req/s per replica: the aggregated fleet's burst capacity is
         * ~0.95 req/s per replica (bench/pd_bench.py measures it), so this is near saturation */
        o->system_len = 8192;
        o->output_len = 256;
        o->groups = o->quick ? 30 : 100; /* prompts */
        o->kv_blocks = 0;                /* the profile's */
        if (!rate_set)
            o->rate = 0.9 * o->replicas;
    }
    return 0;
}

int sy_demo_main(int argc, char **argv)
{
    struct demo_opts o;
    struct demo d;
    memset(&d, 0, sizeof d);
    int status = 1;
    if (parse_args(argc, argv, &o, &d.keep_logs, &status) != 0)
        return status;
    status = 1;

    struct sy_workload w = {0};
    struct sy_bench_run runs[2];
    struct sy_bench_run *rp[2];
    size_t nruns = 0;
    char err[512];
    uint16_t ports[2 * MAX_REPLICAS + 4];
    /* the fleet, --pd's P/D fleet, then rr (or aggregated) listen, admin, sy (or pd) l, a */
    unsigned nfleet = o.pd ? 2 * o.replicas : o.replicas;
    size_t nports = nfleet + 4;
    uint16_t *sim_ports = ports, *pd_ports = ports + o.replicas, *gw = ports + nfleet;

    install_handlers();
    snprintf(d.dir, sizeof d.dir, "%s/switchyard-demo-XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(d.dir)) {
        fprintf(stderr, "switchyard demo: cannot create a temporary directory: %m\n");
        return 1;
    }
    if (free_ports(ports, nports) != 0) {
        fprintf(stderr, "switchyard demo: cannot find free loopback ports: %m\n");
        goto out;
    }

    /* 1. the fleet */
    char portlist[MAX_REPLICAS * 8], pdlist[MAX_REPLICAS * 8], kvb[32], ts[32], seed[32];
    char half[16];
    portlist[0] = '\0';
    for (unsigned i = 0; i < o.replicas; i++)
        snprintf(portlist + strlen(portlist), sizeof portlist - strlen(portlist), "%s%u",
                 i ? "," : "", sim_ports[i]);
    pdlist[0] = '\0';
    for (unsigned i = 0; o.pd && i < o.replicas; i++)
        snprintf(pdlist + strlen(pdlist), sizeof pdlist - strlen(pdlist), "%s%u", i ? "," : "",
                 pd_ports[i]);
    snprintf(half, sizeof half, "%u", o.replicas / 2);
    snprintf(kvb, sizeof kvb, "%u", o.kv_blocks);
    snprintf(ts, sizeof ts, "%g", o.time_scale);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o.seed);
    char *sim_argv[] = {
        "sim",     "--ports",        portlist,      "--profile",   "qwen3-32b-tp2-h100",
        "--model", "Qwen/Qwen3-32B", "--kv-blocks", kvb,           "--time-scale",
        ts,        "--seed",         seed,          "--log-level", "warn",
        NULL};
    if (o.pd) /* the profile's KV cache: no --kv-blocks */
        memmove(&sim_argv[7], &sim_argv[9], 7 * sizeof sim_argv[0]);
    if (o.pd)
        printf("switchyard demo: aggregated fleet: %u simulated replicas (qwen3-32b-tp2-h100, 2 "
               "GPUs each, time scale %s) on 127.0.0.1:%s\n",
               o.replicas, ts, portlist);
    else
        printf("switchyard demo: %u simulated replicas (qwen3-32b-tp2-h100, %u KV tokens each, "
               "time scale %s) on 127.0.0.1:%s\n",
               o.replicas, o.kv_blocks * 16, ts, portlist);
    fflush(stdout);
    if (spawn(&d, "sim", sim_argv) != 0 ||
        wait_ready(&d, &d.kids[d.nkids - 1], sim_ports, o.replicas, 0, NULL) != 0)
        goto fail;
    if (o.pd) {
        char *pd_argv[] = {"sim",
                           "--ports",
                           pdlist,
                           "--prefill-replicas",
                           half,
                           "--decode-replicas",
                           half,
                           "--profile",
                           "qwen3-32b-tp2-h100",
                           "--model",
                           "Qwen/Qwen3-32B",
                           "--time-scale",
                           ts,
                           "--seed",
                           seed,
                           "--log-level",
                           "warn",
                           NULL};
        printf("switchyard demo: P/D fleet: %s prefill + %s decode replicas (the same GPUs, "
               "NixlConnector KV pulls) on 127.0.0.1:%s\n",
               half, half, pdlist);
        fflush(stdout);
        if (spawn(&d, "sim-pd", pd_argv) != 0 ||
            wait_ready(&d, &d.kids[d.nkids - 1], pd_ports, o.replicas, 0, NULL) != 0)
            goto fail;
    }

    /* 2. the gateways */
    static const char *const demo_names[2] = {"round-robin", "switchyard"};
    static const char *const pd_names[2] = {"aggregated", "p-d"};
    const char *const *names = o.pd ? pd_names : demo_names;
    for (int g = 0; g < 2; g++) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/%s.yaml", d.dir, names[g]);
        enum gw_kind kind =
            o.pd ? (g == 0 ? GW_DEFAULT : GW_PD) : (g == 0 ? GW_ROUND_ROBIN : GW_DEFAULT);
        if (write_gateway_config(path, gw[2 * g], gw[2 * g + 1], g && o.pd ? pd_ports : sim_ports,
                                 o.replicas, kind, o.time_scale)) {
            fprintf(stderr, "switchyard demo: cannot write %s: %m\n", path);
            goto fail;
        }
        char *gw_argv[] = {"gateway", "--config", path, NULL};
        static const char *const what[2][2] = {
            {"round-robin-picker", "llm-d default scheduling"},
            {"llm-d default scheduling", "P/D exchange, llm-d's prefix-based-pd-decider"}};
        printf("switchyard demo: gateway %-11s on 127.0.0.1:%u (%s)\n", names[g], gw[2 * g],
               what[o.pd][g]);
        fflush(stdout);
        if (spawn(&d, names[g], gw_argv) != 0 ||
            wait_ready(&d, &d.kids[d.nkids - 1], &gw[2 * g], 1, gw[2 * g + 1], "/ready") != 0)
            goto fail;
    }

    /* 3. the workload */
    struct sy_wl_params wp;
    sy_wl_params_defaults(&wp);
    wp.kind = SY_WL_SHARED_PREFIX;
    wp.seed = o.seed;
    if (o.pd) {
        wp.kind = SY_WL_RANDOM;
        wp.num_prompts = o.groups;
        wp.input_len = o.system_len;
        wp.ignore_eos = true;
    }
    wp.num_groups = o.groups;
    wp.num_prompts_per_group = o.per_group;
    wp.system_prompt_len = o.system_len;
    wp.question_len = o.question_len;
    wp.output_len = o.output_len;
    if (sy_workload_build(&wp, &w, err, sizeof err) != 0) {
        fprintf(stderr, "switchyard demo: %s\n", err);
        goto fail;
    }
    struct sy_bench_opts bo;
    memset(&bo, 0, sizeof bo);
    sy_arrival_init_rate(&bo.arrival, o.rate, true, o.seed); /* simulated req/s */
    bo.time_scale = o.time_scale;
    bo.timeout_s = 300; /* simulated seconds */
    bo.progress = isatty(STDERR_FILENO);
    bo.reset_prefix_cache = !o.pd; /* --pd: separate fleets, prompts share nothing */
    bo.stop = &g_stop;
    if (o.pd) {
        bo.slo_ttft_s = 2;
        bo.slo_itl_p99_s = 0.1;
        bo.timeout_s = 900;
    }
    char murls[MAX_REPLICAS][64];
    for (unsigned i = 0; !o.pd && i < o.replicas; i++) {
        snprintf(murls[i], sizeof murls[i], "http://127.0.0.1:%u/metrics", sim_ports[i]);
        bo.metrics_urls[bo.nmetrics++] = murls[i];
    }
    struct sy_buf wdesc, ldesc;
    sy_buf_init(&wdesc);
    sy_buf_init(&ldesc);
    sy_wl_describe(&wp, &wdesc);
    sy_arrival_describe(&bo.arrival, &ldesc);
    sy_buf_printf(&ldesc, ", %zu requests per gateway, %u replicas, time scale %s", w.n, o.replicas,
                  ts);
    printf("switchyard demo: workload %s\nswitchyard demo: load %s\n", wdesc.data, ldesc.data);
    fflush(stdout);

    bool interrupted = g_stop != 0;
    for (int g = 0; g < 2 && !interrupted; g++) {
        char url[64];
        snprintf(url, sizeof url, "http://127.0.0.1:%u", gw[2 * g]);
        const char *label = o.pd && g == 1 ? "P/D" : names[g]; /* names[] are file names */
        sy_bench_run_init(&runs[nruns], label, url);
        printf("switchyard demo: running %s ...\n", label);
        fflush(stdout);
        int rc = sy_bench_execute(&bo, &w, url, &runs[nruns], err, sizeof err);
        install_handlers(); /* libuv restored the default dispositions */
        if (rc != 0) {
            fprintf(stderr, "switchyard demo: %s\n", err);
            sy_bench_run_fini(&runs[nruns]);
            sy_buf_fini(&wdesc);
            sy_buf_fini(&ldesc);
            goto fail;
        }
        rp[nruns] = &runs[nruns];
        interrupted = runs[nruns].interrupted || g_stop;
        nruns++;
    }
    printf("\n");
    sy_bench_print_table(stdout, rp, nruns);
    struct sy_bench_meta meta = {.title = o.pd ? "switchyard demo: aggregated vs P/D "
                                                 "disaggregation (same simulated GPUs)"
                                               : "switchyard demo: round-robin vs llm-d scheduling",
                                 .workload = wdesc.data,
                                 .load = ldesc.data,
                                 .time_scale = o.time_scale};
    status = interrupted ? 130 : 0;
    if (o.report && sy_bench_write_html(o.report, &meta, rp, nruns, err, sizeof err) != 0) {
        fprintf(stderr, "switchyard demo: %s\n", err);
        status = 1;
    } else if (o.report) {
        printf("\nswitchyard demo: report written to %s\n", o.report);
    }
    if (o.json && sy_bench_write_json(o.json, &meta, rp, nruns, err, sizeof err) != 0) {
        fprintf(stderr, "switchyard demo: %s\n", err);
        status = 1;
    } else if (o.json) {
        printf("switchyard demo: JSON written to %s\n", o.json);
    }
    if (o.pd && nruns == 2 && rp[0]->itl_sum.n && rp[1]->itl_sum.n)
        printf("switchyard demo: ITL p99 %.0f ms -> %.0f ms, TTFT mean %.3f s -> %.3f s, goodput "
               "(TTFT <= 2 s, ITL p99 <= 100 ms) %.2f -> %.2f req/s (%zu -> %zu of %zu "
               "requests)\n",
               rp[0]->itl_sum.p99 * 1000, rp[1]->itl_sum.p99 * 1000, rp[0]->ttft.mean,
               rp[1]->ttft.mean, rp[0]->goodput_per_s, rp[1]->goodput_per_s, rp[0]->good,
               rp[1]->good, w.n);
    else if (nruns == 2 && rp[0]->ttft.n && rp[1]->ttft.n && rp[1]->ttft.mean > 0)
        printf("switchyard demo: TTFT mean %.3f s -> %.3f s (%.1fx lower), req/s %.2f -> %.2f\n",
               rp[0]->ttft.mean, rp[1]->ttft.mean, rp[0]->ttft.mean / rp[1]->ttft.mean,
               rp[0]->req_per_s, rp[1]->req_per_s);
    fflush(stdout);
    sy_buf_fini(&wdesc);
    sy_buf_fini(&ldesc);
    goto out;
fail:
    if (g_stop) {
        fprintf(stderr, "switchyard demo: interrupted\n");
        status = 130;
    }
    d.keep_logs = true;
out:
    stop_children(&d);
    for (size_t i = 0; i < nruns; i++)
        sy_bench_run_fini(&runs[i]);
    sy_workload_fini(&w);
    if (d.keep_logs)
        fprintf(stderr, "switchyard demo: logs and configs kept in %s\n", d.dir);
    else
        remove_dir(d.dir);
    return status;
}
