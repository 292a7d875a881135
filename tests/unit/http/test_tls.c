/* Unit tests for src/http/tls.c: a client and a server connection talking through their memory
 * BIOs in process (a P-256 key and a self-signed certificate for "localhost" and 127.0.0.1 are
 * made per run), the certificate name check, and the errors a bad pair gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "http/tls.h"

static char cert_path[64], key_path[64], key2_path[64];

static EVP_PKEY *write_key(const char *path)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    assert_non_null(k);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    return k;
}

static int setup(void **state)
{
    (void)state;
    snprintf(cert_path, sizeof cert_path, "/tmp/sy-tls-test-%d.crt", (int)getpid());
    snprintf(key_path, sizeof key_path, "/tmp/sy-tls-test-%d.key", (int)getpid());
    snprintf(key2_path, sizeof key2_path, "/tmp/sy-tls-test-%d-2.key", (int)getpid());
    EVP_PKEY *k = write_key(key_path);
    EVP_PKEY_free(write_key(key2_path));
    X509 *x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, n);
    X509V3_CTX v3;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    X509_EXTENSION *san =
        X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
    X509_add_ext(x, san, -1);
    X509_EXTENSION_free(san);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    FILE *f = fopen(cert_path, "w");
    PEM_write_X509(f, x);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(k);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(cert_path);
    unlink(key_path);
    unlink(key2_path);
    return 0;
}

/* Moves records both ways until neither side has anything to send; plaintext each side received
 * is appended to the given buffers. Returns the first error. */
static int pump(struct sy_tls_conn *cl, struct sy_tls_conn *sv, struct sy_buf *to_sv,
                struct sy_buf *to_cl, struct sy_buf *plain_cl, struct sy_buf *plain_sv)
{
    for (int i = 0; i < 20 && (to_sv->len || to_cl->len); i++) {
        struct sy_buf out;
        sy_buf_init(&out);
        int rc = sy_tls_feed(sv, to_sv->data, to_sv->len, plain_sv, &out);
        sy_buf_reset(to_sv);
        sy_buf_append(to_cl, out.data, out.len);
        sy_buf_fini(&out);
        if (rc)
            return rc;
        sy_buf_init(&out);
        rc = sy_tls_feed(cl, to_cl->data, to_cl->len, plain_cl, &out);
        sy_buf_reset(to_cl);
        sy_buf_append(to_sv, out.data, out.len);
        sy_buf_fini(&out);
        if (rc)
            return rc;
    }
    return 0;
}

/* A handshake from a client verifying name; returns the client's result. */
static int connect_pair(const char *name, struct sy_tls_conn **cl_out, struct sy_tls_conn **sv_out)
{
    char err[256];
    struct sy_tls_ctx *sctx = sy_tls_server_ctx_new(cert_path, key_path, err, sizeof err);
    assert_non_null(sctx);
    struct sy_tls_ctx *cctx = sy_tls_client_ctx_new(cert_path, true, err, sizeof err);
    assert_non_null(cctx);
    struct sy_tls_conn *sv = sy_tls_conn_new_server(sctx);
    struct sy_tls_conn *cl = sy_tls_conn_new_client(cctx, name);
    sy_tls_ctx_unref(sctx); /* the connections keep what they need */
    sy_tls_ctx_unref(cctx);
    struct sy_buf to_sv, to_cl, pc, ps;
    sy_buf_init(&to_sv);
    sy_buf_init(&to_cl);
    sy_buf_init(&pc);
    sy_buf_init(&ps);
    int rc = sy_tls_feed(cl, NULL, 0, &pc, &to_sv); /* ClientHello */
    if (rc == 0)
        rc = pump(cl, sv, &to_sv, &to_cl, &pc, &ps);
    sy_buf_fini(&to_sv);
    sy_buf_fini(&to_cl);
    sy_buf_fini(&pc);
    sy_buf_fini(&ps);
    *cl_out = cl;
    *sv_out = sv;
    return rc;
}

static void test_round_trip(void **state)
{
    (void)state;
    static const char *names[] = {"localhost", "127.0.0.1"};
    for (size_t i = 0; i < 2; i++) {
        struct sy_tls_conn *cl, *sv;
        assert_int_equal(connect_pair(names[i], &cl, &sv), 0);
        assert_true(sy_tls_established(cl));
        assert_true(sy_tls_established(sv));
        /* a request one way, a larger response the other */
        struct sy_buf c1, plain;
        sy_buf_init(&c1);
        sy_buf_init(&plain);
        uv_buf_t req[2] = {uv_buf_init("GET / HTTP/1.1\r\n", 16), uv_buf_init("\r\n", 2)};
        assert_int_equal(sy_tls_encrypt(cl, req, 2, &c1), 0);
        struct sy_buf back;
        sy_buf_init(&back);
        assert_int_equal(sy_tls_feed(sv, c1.data, c1.len, &plain, &back), 0);
        assert_int_equal(plain.len, 18);
        assert_memory_equal(plain.data, "GET / HTTP/1.1\r\n\r\n", 18);
        static char big[100000];
        memset(big, 'x', sizeof big);
        uv_buf_t resp = uv_buf_init(big, sizeof big);
        sy_buf_reset(&c1);
        assert_int_equal(sy_tls_encrypt(sv, &resp, 1, &c1), 0);
        sy_buf_reset(&plain);
        /* delivered in odd pieces, as reads do */
        for (size_t at = 0; at < c1.len; at += 997) {
            size_t n = c1.len - at < 997 ? c1.len - at : 997;
            assert_int_equal(sy_tls_feed(cl, c1.data + at, n, &plain, &back), 0);
        }
        assert_int_equal(plain.len, sizeof big);
        sy_buf_fini(&c1);
        sy_buf_fini(&plain);
        sy_buf_fini(&back);
        sy_tls_conn_free(cl);
        sy_tls_conn_free(sv);
    }
}

static void test_name_checked(void **state)
{
    (void)state;
    struct sy_tls_conn *cl, *sv;
    assert_int_equal(connect_pair("wrong.example", &cl, &sv), SY_EIO);
    assert_false(sy_tls_established(cl));
    assert_non_null(strstr(sy_tls_error(cl), "hostname mismatch"));
    sy_tls_conn_free(cl);
    sy_tls_conn_free(sv);
}

static void test_bad_pairs(void **state)
{
    (void)state;
    char err[512];
    assert_null(sy_tls_server_ctx_new(cert_path, key2_path, err, sizeof err));
    assert_non_null(strstr(err, "mismatch"));
    assert_null(sy_tls_server_ctx_new("/nonexistent.crt", key_path, err, sizeof err));
    assert_non_null(strstr(err, "certFile /nonexistent.crt"));
    assert_null(sy_tls_client_ctx_new("/nonexistent.pem", true, err, sizeof err));
    assert_non_null(strstr(err, "caFile /nonexistent.pem"));
    /* garbage instead of a ClientHello: an error, never a crash */
    struct sy_tls_ctx *sctx = sy_tls_server_ctx_new(cert_path, key_path, err, sizeof err);
    assert_non_null(sctx);
    struct sy_tls_conn *sv = sy_tls_conn_new_server(sctx);
    struct sy_buf plain, out;
    sy_buf_init(&plain);
    sy_buf_init(&out);
    const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(sy_tls_feed(sv, junk, sizeof junk - 1, &plain, &out), SY_EIO);
    assert_int_equal(plain.len, 0);
    sy_buf_fini(&plain);
    sy_buf_fini(&out);
    sy_tls_conn_free(sv);
    sy_tls_ctx_unref(sctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_name_checked),
        cmocka_unit_test(test_bad_pairs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
