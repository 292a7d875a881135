/* Unit tests for src/kvevents/subscriber.c over real ZMQ sockets on loopback: the bound-socket
 * mode (publishers connect in), sequence gaps and restarts without replay (the endpoint's entries
 * are purged), malformed frames counted and skipped, publishers outside the synced pool ignored,
 * and the per-endpoint mode with a replay ROUTER answering in both reply shapes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "kvevents/subscriber.h"
#include "pool/pool.h"
#include "prefix/hash.h"
#include "prefix/precise_index.h"
#include "sim/kv_publisher.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A base port P with P..P+1 free a moment ago (the kernel's choice for P, P+1 checked). */
static int base_port(void)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t al = sizeof a;
        if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
            getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
            close(fd);
            continue;
        }
        int port = ntohs(a.sin_port);
        int fd2 = socket(AF_INET, SOCK_STREAM, 0);
        a.sin_port = htons((uint16_t)(port + 1));
        bool ok = port < 65000 && bind(fd2, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd2);
        close(fd);
        if (ok)
            return port;
    }
    return 21000 + (int)(getpid() % 20000);
}

/* A batch with one BlockStored of tokens t[0..nt) at block size 4 (hashes = hbase + i). */
static void batch_stored(struct sy_buf *out, const uint32_t *t, size_t nt, uint64_t hbase, bool map)
{
    uint64_t h[16];
    for (size_t i = 0; i < nt / 4; i++)
        h[i] = hbase + i;
    struct sy_sim_kv_event ev = {.kind = SY_SIM_KV_STORED,
                                 .hashes = h,
                                 .nhashes = nt / 4,
                                 .tokens = t,
                                 .ntokens = nt,
                                 .block_size = 4};
    struct sy_buf e;
    sy_buf_init(&e);
    sy_sim_kv_encode_event(&e, &ev, map);
    sy_buf_reset(out);
    sy_sim_kv_encode_batch(out, 1.0, e.data, e.len, 1, 0);
    sy_buf_fini(&e);
}

static void send3(void *pub, const char *topic, uint64_t seq, const void *p, size_t n)
{
    uint8_t be[8];
    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(seq >> (56 - 8 * i));
    zmq_send(pub, topic, strlen(topic), ZMQ_SNDMORE);
    zmq_send(pub, be, 8, ZMQ_SNDMORE);
    zmq_send(pub, p, n, 0);
}

/* Blocks matched by endpoint ep for tokens t (model "m"). */
static uint32_t matched(struct sy_precise_index *idx, const char *ep, const uint32_t *t, size_t nt)
{
    uint64_t k[16];
    size_t n =
        sy_prefix_hash_tokens(sy_precise_index_seed(idx, SY_STR_LIT("m")), t, nt, 4, 16, k, 16);
    struct sy_str e = sy_str_c(ep);
    uint32_t b = 0;
    sy_precise_index_score(idx, k, n, &e, 1, 0, &b, NULL);
    return b;
}

/* Waits up to ms milliseconds for matched() == want. */
static bool wait_ms(struct sy_precise_index *idx, const char *ep, const uint32_t *t, size_t nt,
                    uint32_t want, int ms)
{
    for (int i = 0; i < ms / 10; i++) {
        if (matched(idx, ep, t, nt) == want)
            return true;
        sleep_ms(10);
    }
    return false;
}

static bool wait_matched(struct sy_precise_index *idx, const char *ep, const uint32_t *t, size_t nt,
                         uint32_t want)
{
    return wait_ms(idx, ep, t, nt, want, 5000);
}

static const uint32_t TA[] = {1, 2, 3, 4, 5, 6, 7, 8};
static const uint32_t TB[] = {9, 9, 9, 9};

static void test_bind_mode(void **state)
{
    (void)state;
    char url[64], err[256];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", base_port());
    struct sy_kvevents_opts o = {.block_tokens = 4, .bind = url, .topic_filter = "kv@"};
    struct sy_precise_index *idx = sy_kvevents_acquire(&o, err, sizeof err);
    assert_non_null(idx);
    void *ctx = zmq_ctx_new();
    void *pub = zmq_socket(ctx, ZMQ_PUB);
    assert_int_equal(zmq_connect(pub, url), 0);
    struct sy_buf b;
    sy_buf_init(&b);
    batch_stored(&b, TA, 8, 100, false);
    /* PUB/SUB joins asynchronously: resend seq 0 until it lands (duplicates are harmless). */
    bool ok = false;
    for (int i = 0; i < 100 && !ok; i++) {
        send3(pub, "kv@a:1@m", 0, b.data, b.len);
        ok = wait_ms(idx, "a:1", TA, 8, 2, 100);
    }
    assert_true(ok);
    struct sy_kvevents_stats st0, st;
    sy_kvevents_stats(&st0);
    /* malformed payload with the next seq: counted, skipped */
    send3(pub, "kv@a:1@m", 1, "\xc1", 1);
    /* a message with two frames and one with a bad topic */
    zmq_send(pub, "kv@a:1@m", 8, ZMQ_SNDMORE);
    zmq_send(pub, "x", 1, 0);
    send3(pub, "kv@nomodel", 2, b.data, b.len);
    for (int i = 0; i < 300; i++) {
        sy_kvevents_stats(&st);
        if (st.malformed >= st0.malformed + 2)
            break;
        sleep_ms(10);
    }
    assert_true(st.malformed >= st0.malformed + 2);
    assert_int_equal(matched(idx, "a:1", TA, 8), 2);
    /* gap (seq 1 -> 7) without replay: a:1's entries are purged, then the new batch applies */
    batch_stored(&b, TB, 4, 200, true);
    send3(pub, "kv@a:1@m", 7, b.data, b.len);
    assert_true(wait_matched(idx, "a:1", TB, 4, 1));
    assert_int_equal(matched(idx, "a:1", TA, 8), 0);
    sy_kvevents_stats(&st);
    assert_true(st.gaps >= 1);
    /* restart (seq back to 0): purge again, apply */
    batch_stored(&b, TA, 8, 100, false);
    send3(pub, "kv@a:1@m", 0, b.data, b.len);
    assert_true(wait_matched(idx, "a:1", TA, 8, 2));
    assert_int_equal(matched(idx, "a:1", TB, 4), 0);
    sy_kvevents_stats(&st);
    assert_true(st.restarts >= 1);
    /* after a sync with a pool that lacks a:1, its events are ignored and its entries purged */
    struct sy_endpoint e1 = {.address = "z:9"};
    struct sy_endpoint *eps[] = {&e1};
    struct sy_pool pool = {.eps = eps, .n = 1};
    sy_kvevents_sync(&pool);
    assert_true(wait_matched(idx, "a:1", TA, 8, 0));
    send3(pub, "kv@a:1@m", 1, b.data, b.len);
    sleep_ms(300);
    assert_int_equal(matched(idx, "a:1", TA, 8), 0);
    sy_buf_fini(&b);
    zmq_close(pub);
    zmq_ctx_term(ctx);
    sy_kvevents_release(idx);
    sy_kvevents_shutdown();
}

/* A replay ROUTER holding batches seq 0..2 (TA's two blocks, then TB chained), answering once. */
struct router {
    void *ctx;
    char url[64];
    bool old_shape;
    int served;
};

static void *router_main(void *arg)
{
    struct router *r = arg;
    void *z = zmq_socket(r->ctx, ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(z, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_bind(z, r->url) != 0)
        return NULL;
    struct sy_buf b[3];
    const uint32_t t0[] = {1, 2, 3, 4}, t1[] = {5, 6, 7, 8}, t2[] = {42, 42, 42, 42};
    for (int i = 0; i < 3; i++)
        sy_buf_init(&b[i]);
    batch_stored(&b[0], t0, 4, 100, false);
    batch_stored(&b[1], t0, 4, 100, false); /* re-store (idempotent) */
    batch_stored(&b[2], t2, 4, 300, true);
    (void)t1;
    zmq_pollitem_t it = {.socket = z, .events = ZMQ_POLLIN};
    for (int round = 0; round < 100 && r->served == 0; round++) {
        if (zmq_poll(&it, 1, 100) <= 0)
            continue;
        zmq_msg_t id, d, s;
        zmq_msg_init(&id);
        zmq_msg_init(&d);
        zmq_msg_init(&s);
        zmq_msg_recv(&id, z, 0);
        zmq_msg_recv(&d, z, 0);
        zmq_msg_recv(&s, z, 0);
        const uint8_t *sp = zmq_msg_data(&s);
        uint64_t start = 0;
        for (int i = 0; i < 8 && zmq_msg_size(&s) == 8; i++)
            start = (start << 8) | sp[i];
        for (uint64_t q = start; q < 3; q++) {
            uint8_t be[8] = {0, 0, 0, 0, 0, 0, 0, (uint8_t)q};
            zmq_send(z, zmq_msg_data(&id), zmq_msg_size(&id), ZMQ_SNDMORE);
            zmq_send(z, "", 0, ZMQ_SNDMORE);
            if (!r->old_shape)
                zmq_send(z, "kv@e:1@m", 8, ZMQ_SNDMORE);
            zmq_send(z, be, 8, ZMQ_SNDMORE);
            zmq_send(z, b[q].data, b[q].len, 0);
        }
        uint8_t end[8];
        memset(end, 0xff, 8);
        zmq_send(z, zmq_msg_data(&id), zmq_msg_size(&id), ZMQ_SNDMORE);
        zmq_send(z, "", 0, ZMQ_SNDMORE);
        if (!r->old_shape)
            zmq_send(z, "", 0, ZMQ_SNDMORE);
        zmq_send(z, end, 8, ZMQ_SNDMORE);
        zmq_send(z, "", 0, 0);
        r->served++;
        zmq_msg_close(&id);
        zmq_msg_close(&d);
        zmq_msg_close(&s);
    }
    for (int i = 0; i < 3; i++)
        sy_buf_fini(&b[i]);
    zmq_close(z);
    return NULL;
}

static void run_replay(bool old_shape, int port)
{
    char pub_url[64], err[256];
    snprintf(pub_url, sizeof pub_url, "tcp://127.0.0.1:%d", port);
    void *ctx = zmq_ctx_new();
    struct router r = {.ctx = ctx, .old_shape = old_shape};
    snprintf(r.url, sizeof r.url, "tcp://127.0.0.1:%d", port + 1);
    pthread_t th;
    pthread_create(&th, NULL, router_main, &r);
    void *pub = zmq_socket(ctx, ZMQ_PUB);
    int zero = 0;
    zmq_setsockopt(pub, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_bind(pub, pub_url), 0);

    struct sy_kvevents_opts o = {.block_tokens = 4, .topic_filter = "kv@", .replay_port_offset = 1};
    struct sy_precise_index *idx = sy_kvevents_acquire(&o, err, sizeof err);
    assert_non_null(idx);
    struct sy_endpoint e1 = {.address = "e:1", .kv_events = pub_url};
    struct sy_endpoint *eps[] = {&e1};
    struct sy_pool pool = {.eps = eps, .n = 1};
    sy_kvevents_sync(&pool);
    /* Live seq 3 arrives first: the subscriber replays 0..2 from the ROUTER, then applies 3. */
    struct sy_buf b;
    sy_buf_init(&b);
    const uint32_t t3[] = {77, 77, 77, 77};
    batch_stored(&b, t3, 4, 400, false);
    bool ok = false;
    for (int i = 0; i < 100 && !ok; i++) {
        send3(pub, "kv@e:1@m", 3, b.data, b.len);
        ok = wait_ms(idx, "e:1", t3, 4, 1, 300);
    }
    assert_true(ok);
    const uint32_t t0[] = {1, 2, 3, 4}, t2[] = {42, 42, 42, 42};
    assert_true(wait_matched(idx, "e:1", t0, 4, 1));
    assert_true(wait_matched(idx, "e:1", t2, 4, 1));
    struct sy_kvevents_stats st;
    sy_kvevents_stats(&st);
    assert_true(st.replays >= 1);
    assert_true(st.replayed >= 3);
    assert_int_equal(st.sources, 1);
    /* The endpoint leaves the pool: its socket closes and its entries are purged. */
    sy_kvevents_sync(NULL);
    assert_true(wait_matched(idx, "e:1", t0, 4, 0));
    sy_buf_fini(&b);
    pthread_join(th, NULL);
    zmq_close(pub);
    sy_kvevents_release(idx);
    sy_kvevents_shutdown();
    zmq_ctx_term(ctx);
}

static void test_replay_new_shape(void **state)
{
    (void)state;
    run_replay(false, base_port());
}

static void test_replay_old_shape(void **state)
{
    (void)state;
    run_replay(true, base_port());
}

static void test_bad_bind(void **state)
{
    (void)state;
    char err[256] = "";
    struct sy_kvevents_opts o = {.block_tokens = 4, .bind = "tcp://256.1.1.1:1"};
    assert_null(sy_kvevents_acquire(&o, err, sizeof err));
    assert_non_null(strstr(err, "zmqEndpoint"));
    sy_kvevents_shutdown();
}

/* A reload with other options makes a new index current; the old one is freed on release; the
 * same options share the current index. */
static void test_reload_options(void **state)
{
    (void)state;
    char err[256];
    struct sy_kvevents_opts o4 = {.block_tokens = 4}, o8 = {.block_tokens = 8, .hash_seed = "x"};
    struct sy_precise_index *a = sy_kvevents_acquire(&o4, err, sizeof err);
    struct sy_precise_index *b = sy_kvevents_acquire(&o8, err, sizeof err);
    assert_non_null(a);
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_int_equal(sy_precise_index_block_tokens(b), 8);
    sy_kvevents_release(a); /* not current: freed once the thread has moved on */
    struct sy_precise_index *c = sy_kvevents_acquire(&o8, err, sizeof err);
    assert_ptr_equal(b, c);
    sy_kvevents_release(b);
    sy_kvevents_release(c);
    sy_kvevents_shutdown();
}

/* A source exists once an endpoint names a publisher or a socket is bound; neither -> none. */
static void test_has_source(void **state)
{
    (void)state;
    char url[64], err[256];
    struct sy_endpoint plain = {.address = "a:1"},
                       pub = {.address = "b:1", .kv_events = "tcp://b:5557"};
    struct sy_endpoint *eps[] = {&plain, &pub};
    struct sy_pool none = {.eps = eps, .n = 1}, some = {.eps = eps, .n = 2};
    assert_false(sy_kvevents_has_source(NULL));
    assert_false(sy_kvevents_has_source(&none));
    assert_true(sy_kvevents_has_source(&some));
    struct sy_kvevents_opts o4 = {.block_tokens = 4}; /* per-endpoint mode: binds nothing */
    struct sy_precise_index *a = sy_kvevents_acquire(&o4, err, sizeof err);
    assert_non_null(a);
    assert_false(sy_kvevents_has_source(&none));
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", base_port());
    struct sy_kvevents_opts ob = {.block_tokens = 4, .bind = url};
    struct sy_precise_index *b = sy_kvevents_acquire(&ob, err, sizeof err);
    assert_non_null(b);
    assert_true(sy_kvevents_has_source(&none));
    assert_true(sy_kvevents_has_source(NULL));
    sy_kvevents_release(a);
    sy_kvevents_release(b);
    sy_kvevents_shutdown();
    assert_false(sy_kvevents_has_source(&none)); /* shutdown closed the bound socket */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind_mode),        cmocka_unit_test(test_replay_new_shape),
        cmocka_unit_test(test_replay_old_shape), cmocka_unit_test(test_bad_bind),
        cmocka_unit_test(test_reload_options),   cmocka_unit_test(test_has_source),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
