/* Unit tests for src/metrics/metrics.c: registry, atomic updates, text rendering, promtool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/buf.h"
#include "metrics/metrics.h"

static char *render(struct sy_metrics *m)
{
    struct sy_buf b;
    sy_buf_init(&b);
    sy_metrics_render(m, &b);
    size_t len;
    char *s = sy_buf_steal(&b, &len);
    return s ? s : calloc(1, 1);
}

static void test_counter_gauge_render(void **state)
{
    struct sy_metrics *m = sy_metrics_new();
    const char *labels[] = {"model_name", "target_model_name", NULL};
    struct sy_metric_family *req =
        sy_metrics_family(m, "inference_objective_request_total", "Counter of requests.",
                          SY_METRIC_COUNTER, labels, NULL, 0);
    struct sy_metric_family *g =
        sy_metrics_family(m, "inference_pool_ready_pods", "Ready pods.\nSecond \\ line",
                          SY_METRIC_GAUGE, NULL, NULL, 0);
    /* a labelled family never used renders nothing */
    sy_metrics_family(m, "unused_total", "Unused.", SY_METRIC_COUNTER, labels, NULL, 0);
    const char *v1[] = {"llama", "llama-8b"};
    const char *v2[] = {"q\"x\\y\nz", ""};
    struct sy_metric *c1 = sy_metric_get(req, v1);
    assert_ptr_equal(sy_metric_get(req, v1), c1);
    struct sy_metric *c2 = sy_metric_get(req, v2);
    assert_ptr_not_equal(c1, c2);
    sy_metric_inc(c1);
    sy_metric_inc(c1);
    sy_metric_add(c1, 0.5);
    sy_metric_add(c1, -3);  /* counters never go down: ignored */
    sy_metric_add(c1, NAN); /* ignored */
    sy_metric_inc(c2);
    struct sy_metric *gg = sy_metric_get(g, NULL);
    sy_metric_set(gg, 3);
    sy_metric_add(gg, -1.25);
    sy_metric_observe(gg, 1); /* wrong type: ignored */
    char *out = render(m);
    assert_string_equal(out, "# HELP inference_objective_request_total Counter of requests.\n"
                             "# TYPE inference_objective_request_total counter\n"
                             "inference_objective_request_total{model_name=\"llama\","
                             "target_model_name=\"llama-8b\"} 2.5\n"
                             "inference_objective_request_total{model_name=\"q\\\"x\\\\y\\nz\","
                             "target_model_name=\"\"} 1\n"
                             "# HELP inference_pool_ready_pods Ready pods.\\nSecond \\\\ line\n"
                             "# TYPE inference_pool_ready_pods gauge\n"
                             "inference_pool_ready_pods 1.75\n");
    free(out);
    /* registering again returns the same family */
    assert_ptr_equal(sy_metrics_family(m, "inference_objective_request_total", "x",
                                       SY_METRIC_COUNTER, labels, NULL, 0),
                     req);
    sy_metrics_free(m);
}

static void test_gauge_special_values(void **state)
{
    struct sy_metrics *m = sy_metrics_new();
    const char *l[] = {"k", NULL};
    struct sy_metric_family *g = sy_metrics_family(m, "g", "G.", SY_METRIC_GAUGE, l, NULL, 0);
    const char *a[] = {"a"}, *b[] = {"b"}, *c[] = {"c"}, *d[] = {"d"}, *e[] = {"e"};
    sy_metric_set(sy_metric_get(g, a), INFINITY);
    sy_metric_set(sy_metric_get(g, b), -INFINITY);
    sy_metric_set(sy_metric_get(g, c), NAN);
    sy_metric_set(sy_metric_get(g, d), 0.1);
    sy_metric_set(sy_metric_get(g, e), 1e-7);
    char *out = render(m);
    assert_string_equal(out, "# HELP g G.\n# TYPE g gauge\n"
                             "g{k=\"a\"} +Inf\ng{k=\"b\"} -Inf\ng{k=\"c\"} NaN\ng{k=\"d\"} 0.1\n"
                             "g{k=\"e\"} 1e-07\n");
    free(out);
    sy_metrics_free(m);
}

static void test_histogram_render(void **state)
{
    struct sy_metrics *m = sy_metrics_new();
    const double bk[] = {0.005, 0.1, 1, 2.5};
    const char *labels[] = {"model_name", NULL};
    struct sy_metric_family *h = sy_metrics_family(m, "req_duration_seconds", "Latency.",
                                                   SY_METRIC_HISTOGRAM, labels, bk, 4);
    const char *v[] = {"m"};
    struct sy_metric *c = sy_metric_get(h, v);
    sy_metric_observe(c, 0.005); /* le is inclusive: first bucket */
    sy_metric_observe(c, 0.001);
    sy_metric_observe(c, 0.05);
    sy_metric_observe(c, 1.0);
    sy_metric_observe(c, 3);
    sy_metric_observe(c, 1000);
    sy_metric_observe(c, NAN); /* dropped */
    sy_metric_inc(c);          /* wrong type: ignored */
    char *out = render(m);
    assert_string_equal(out, "# HELP req_duration_seconds Latency.\n"
                             "# TYPE req_duration_seconds histogram\n"
                             "req_duration_seconds_bucket{model_name=\"m\",le=\"0.005\"} 2\n"
                             "req_duration_seconds_bucket{model_name=\"m\",le=\"0.1\"} 3\n"
                             "req_duration_seconds_bucket{model_name=\"m\",le=\"1\"} 4\n"
                             "req_duration_seconds_bucket{model_name=\"m\",le=\"2.5\"} 4\n"
                             "req_duration_seconds_bucket{model_name=\"m\",le=\"+Inf\"} 6\n"
                             "req_duration_seconds_sum{model_name=\"m\"} 1004.056\n"
                             "req_duration_seconds_count{model_name=\"m\"} 6\n");
    free(out);

    /* no labels, no buckets: only +Inf */
    struct sy_metric_family *h2 =
        sy_metrics_family(m, "x_seconds", "X.", SY_METRIC_HISTOGRAM, NULL, NULL, 0);
    sy_metric_observe(sy_metric_get(h2, NULL), 2);
    out = render(m);
    assert_non_null(strstr(out, "# TYPE x_seconds histogram\nx_seconds_bucket{le=\"+Inf\"} 1\n"
                                "x_seconds_sum 2\nx_seconds_count 1\n"));
    free(out);
    sy_metrics_free(m);
}

static void collect_a(void *ud, struct sy_buf *out)
{
    sy_buf_printf(out, "# HELP pool_avg Avg.\n# TYPE pool_avg gauge\npool_avg %d\n", *(int *)ud);
}

static void test_order_and_collectors(void **state)
{
    struct sy_metrics *m = sy_metrics_new();
    int v = 7;
    sy_metrics_add_collector(m, collect_a, &v);
    sy_metrics_family(m, "zz_total", "Z.", SY_METRIC_COUNTER, NULL, NULL, 0);
    sy_metrics_family(m, "aa", "A.", SY_METRIC_GAUGE, NULL, NULL, 0);
    char *out = render(m);
    assert_string_equal(out, "# HELP zz_total Z.\n# TYPE zz_total counter\nzz_total 0\n"
                             "# HELP aa A.\n# TYPE aa gauge\naa 0\n"
                             "# HELP pool_avg Avg.\n# TYPE pool_avg gauge\npool_avg 7\n");
    free(out);
    sy_metrics_free(m);
}

static void test_buckets(void **state)
{
    assert_int_equal(sy_buckets_latency_n, 35);
    assert_true(sy_buckets_latency[0] == 0.005);
    assert_true(sy_buckets_latency[12] == 3);
    assert_true(sy_buckets_latency[sy_buckets_latency_n - 1] == 3600);
    assert_true(sy_buckets_fast[0] == 1e-5);
    assert_true(sy_buckets_fast[sy_buckets_fast_n - 1] == 1);
    assert_int_equal(sy_buckets_tokens_n, 18);
    for (size_t i = 0; i < sy_buckets_tokens_n; i++)
        assert_true(sy_buckets_tokens[i] == (double)(1u << i));
    const double *all[] = {sy_buckets_latency, sy_buckets_fast, sy_buckets_tokens};
    const size_t n[] = {sy_buckets_latency_n, sy_buckets_fast_n, sy_buckets_tokens_n};
    for (size_t k = 0; k < 3; k++) {
        assert_true(n[k] <= SY_METRICS_MAX_BUCKETS);
        for (size_t i = 1; i < n[k]; i++)
            assert_true(all[k][i] > all[k][i - 1]);
    }
    /* registering each layout works (it aborts on unsorted or oversize layouts) */
    struct sy_metrics *m = sy_metrics_new();
    sy_metrics_family(m, "a_seconds", "A.", SY_METRIC_HISTOGRAM, NULL, sy_buckets_latency,
                      sy_buckets_latency_n);
    sy_metrics_family(m, "b_seconds", "B.", SY_METRIC_HISTOGRAM, NULL, sy_buckets_fast,
                      sy_buckets_fast_n);
    sy_metrics_family(m, "c_tokens", "C.", SY_METRIC_HISTOGRAM, NULL, sy_buckets_tokens,
                      sy_buckets_tokens_n);
    char *out = render(m);
    assert_non_null(strstr(out, "a_seconds_bucket{le=\"3600\"} 0\n"));
    assert_non_null(strstr(out, "b_seconds_bucket{le=\"1e-05\"} 0\n"));
    assert_non_null(strstr(out, "c_tokens_bucket{le=\"131072\"} 0\n"));
    free(out);
    sy_metrics_free(m);
}

struct thr {
    struct sy_metric_family *f;
    struct sy_metric_family *h;
    struct sy_metric *got;
};

#define THREADS 4
#define ITERS   50000

static void *worker(void *arg)
{
    struct thr *t = arg;
    const char *v[] = {"shared"};
    t->got = sy_metric_get(t->f, v);
    struct sy_metric *h = sy_metric_get(t->h, NULL);
    for (int i = 0; i < ITERS; i++) {
        sy_metric_inc(t->got);
        sy_metric_observe(h, (i % 4) * 0.5); /* 0, 0.5, 1, 1.5 */
    }
    return NULL;
}

static void test_concurrency(void **state)
{
    struct sy_metrics *m = sy_metrics_new();
    const char *l[] = {"k", NULL};
    const double bk[] = {0.5, 1};
    struct thr t[THREADS];
    pthread_t th[THREADS];
    struct sy_metric_family *f =
        sy_metrics_family(m, "c_total", "C.", SY_METRIC_COUNTER, l, NULL, 0);
    struct sy_metric_family *h =
        sy_metrics_family(m, "h_seconds", "H.", SY_METRIC_HISTOGRAM, NULL, bk, 2);
    for (int i = 0; i < THREADS; i++) {
        t[i].f = f;
        t[i].h = h;
        pthread_create(&th[i], NULL, worker, &t[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 1; i < THREADS; i++)
        assert_ptr_equal(t[i].got, t[0].got); /* one child per tuple, whoever created it */
    char *out = render(m);
    char want[256];
    snprintf(want, sizeof want, "c_total{k=\"shared\"} %d\n", THREADS * ITERS);
    assert_non_null(strstr(out, want));
    /* per thread: 12500 each of 0, 0.5, 1, 1.5; sum = 12500 * 3 = 37500 */
    snprintf(want, sizeof want,
             "h_seconds_bucket{le=\"0.5\"} %d\nh_seconds_bucket{le=\"1\"} %d\n"
             "h_seconds_bucket{le=\"+Inf\"} %d\nh_seconds_sum %d\nh_seconds_count %d\n",
             THREADS * ITERS / 2, THREADS * ITERS * 3 / 4, THREADS * ITERS, THREADS * 37500,
             THREADS * ITERS);
    assert_non_null(strstr(out, want));
    free(out);
    sy_metrics_free(m);
}

static void test_cardinality_cap(void **state)
{
    struct sy_metrics *m = sy_metrics_new();
    const char *l[] = {"model_name", NULL};
    struct sy_metric_family *f =
        sy_metrics_family(m, "r_total", "R.", SY_METRIC_COUNTER, l, NULL, 0);
    char name[32];
    const char *v[] = {name};
    for (int i = 0; i < 4096 + 100; i++) {
        snprintf(name, sizeof name, "model-%d", i);
        sy_metric_inc(sy_metric_get(f, v));
    }
    snprintf(name, sizeof name, "model-5");
    sy_metric_inc(sy_metric_get(f, v)); /* an existing tuple still finds its own child */
    char *out = render(m);
    assert_non_null(strstr(out, "r_total{model_name=\"model-5\"} 2\n"));
    assert_non_null(strstr(out, "r_total{model_name=\"model-4095\"} 1\n"));
    assert_null(strstr(out, "model-4096"));
    assert_non_null(strstr(out, "r_total{model_name=\"other\"} 100\n"));
    free(out);
    sy_metrics_free(m);
}

static int child_status(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        fn();
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return st;
}

static void bad_name(void)
{
    struct sy_metrics *m = sy_metrics_new();
    sy_metrics_family(m, "1bad", "x", SY_METRIC_GAUGE, NULL, NULL, 0);
}

static void bad_retype(void)
{
    struct sy_metrics *m = sy_metrics_new();
    sy_metrics_family(m, "a", "x", SY_METRIC_GAUGE, NULL, NULL, 0);
    sy_metrics_family(m, "a", "x", SY_METRIC_COUNTER, NULL, NULL, 0);
}

static void bad_buckets(void)
{
    struct sy_metrics *m = sy_metrics_new();
    const double b[] = {1, 0.5};
    sy_metrics_family(m, "a", "x", SY_METRIC_HISTOGRAM, NULL, b, 2);
}

static void bad_le_label(void)
{
    struct sy_metrics *m = sy_metrics_new();
    const char *l[] = {"le", NULL};
    sy_metrics_family(m, "a", "x", SY_METRIC_HISTOGRAM, l, NULL, 0);
}

static void good_family(void)
{
    struct sy_metrics *m = sy_metrics_new();
    const char *l[] = {"le", NULL}; /* "le" is fine on a gauge */
    sy_metrics_family(m, "a:b_c", "x", SY_METRIC_GAUGE, l, NULL, 0);
    sy_metrics_free(m);
}

static void test_misuse_aborts(void **state)
{
    int st;
    st = child_status(bad_name);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    st = child_status(bad_retype);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    st = child_status(bad_buckets);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    st = child_status(bad_le_label);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    st = child_status(good_family);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Renders a gateway-like registry and runs `promtool check metrics` on it: the format must pass
 * Prometheus' own parser and linter without a single complaint. */
static void test_promtool(void **state)
{
    if (access("/usr/bin/promtool", X_OK) != 0) {
        print_message("promtool not installed (Debian package prometheus): skipped\n");
        skip();
    }
    struct sy_metrics *m = sy_metrics_new();
    const char *ml[] = {"model_name", "target_model_name", NULL};
    const char *el[] = {"model_name", "target_model_name", "error_code", NULL};
    const char *pl[] = {"name", NULL};
    const char *mv[] = {"llama \"3\"\\8b\n", "llama"};
    const char *ev[] = {"llama", "llama", "BadRequest"};
    const char *pv[] = {"pool"};
    struct sy_metric_family *f;
    f = sy_metrics_family(m, "inference_objective_request_total", "Counter of requests.",
                          SY_METRIC_COUNTER, ml, NULL, 0);
    sy_metric_add(sy_metric_get(f, mv), 12);
    f = sy_metrics_family(m, "inference_objective_request_error_total",
                          "Counter of request errors.", SY_METRIC_COUNTER, el, NULL, 0);
    sy_metric_inc(sy_metric_get(f, ev));
    f = sy_metrics_family(m, "inference_objective_request_duration_seconds",
                          "Request latency distribution in seconds.", SY_METRIC_HISTOGRAM, ml,
                          sy_buckets_latency, sy_buckets_latency_n);
    sy_metric_observe(sy_metric_get(f, mv), 0.3);
    sy_metric_observe(sy_metric_get(f, mv), 4000);
    f = sy_metrics_family(m, "inference_objective_input_tokens", "Input token count distribution.",
                          SY_METRIC_HISTOGRAM, ml, sy_buckets_tokens, sy_buckets_tokens_n);
    sy_metric_observe(sy_metric_get(f, mv), 300);
    f = sy_metrics_family(m, "inference_pool_ready_pods", "Number of ready pods.", SY_METRIC_GAUGE,
                          pl, NULL, 0);
    sy_metric_set(sy_metric_get(f, pv), 3);
    f = sy_metrics_family(m, "inference_pool_average_kv_cache_utilization",
                          "Average KV cache utilization.", SY_METRIC_GAUGE, pl, NULL, 0);
    sy_metric_set(sy_metric_get(f, pv), 0.42);
    f = sy_metrics_family(m, "inference_extension_scheduler_e2e_duration_seconds",
                          "Scheduler end-to-end latency in seconds.", SY_METRIC_HISTOGRAM, NULL,
                          sy_buckets_fast, sy_buckets_fast_n);
    sy_metric_observe(sy_metric_get(f, NULL), 0.00012);
    char *out = render(m);
    char path[] = "/tmp/sy-metrics-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, out, strlen(out)), (ssize_t)strlen(out));
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char msg[4096];
    size_t n = fread(msg, 1, sizeof msg - 1, p);
    msg[n] = '\0';
    int st = pclose(p);
    unlink(path);
    if (st != 0 || n != 0)
        fail_msg("promtool complained (status %d):\n%s\n--- input ---\n%s", st, msg, out);
    free(out);
    sy_metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_gauge_render),
        cmocka_unit_test(test_gauge_special_values),
        cmocka_unit_test(test_histogram_render),
        cmocka_unit_test(test_order_and_collectors),
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_cardinality_cap),
        cmocka_unit_test(test_misuse_aborts),
        cmocka_unit_test(test_promtool),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
