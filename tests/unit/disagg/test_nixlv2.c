/* Unit tests for the connectors through their ops tables: src/disagg/nixlv2.c (prefill body edits
 * for chat and /v1/responses, the answer checks, the decode body), sglang.c (bootstrap fields) and
 * sidecar.c (the x-prefiller-host-port header). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "disagg/internal.h"
#include "unit/sched/sched_helpers.h"

struct fx {
    struct sy_disagg dx;
    struct sy_request req;
    struct sy_config cfg;
    struct sy_sched_result res;
    struct sy_buf out;
};

static void fx_init(struct fx *f, enum sy_api_kind kind, const char *body)
{
    memset(f, 0, sizeof *f);
    f->req.kind = kind;
    f->req.body = body;
    f->req.body_len = strlen(body);
    sy_disagg_config_defaults(&f->cfg.disagg);
    f->dx.h.req = &f->req;
    f->dx.h.cfg = &f->cfg;
    f->dx.res = &f->res;
    f->dx.cached = -1;
    sy_buf_init(&f->out);
}

static void test_prefill_bodies(void **state)
{
    struct fx f;
    char err[128];
    fx_init(&f, SY_API_RESPONSES,
            "{\"model\":\"m\",\"input\":\"hi\",\"stream\":true,\"max_output_tokens\":99}");
    assert_int_equal(sy_disagg_nixlv2.prefill_body(&f.dx, &f.out, err, sizeof err), 0);
    assert_string_equal(
        f.out.data, "{\"model\":\"m\",\"input\":\"hi\",\"stream\":false,\"max_output_tokens\":1,"
                    "\"kv_transfer_params\":{\"do_remote_decode\":true,\"do_remote_prefill\":"
                    "false,\"remote_engine_id\":null,\"remote_block_ids\":null,"
                    "\"remote_host\":null,\"remote_port\":null}}");
    sy_buf_fini(&f.out);
    fx_init(&f, SY_API_COMPLETIONS, "{\"prompt\":\"p\"}");
    assert_int_equal(sy_disagg_nixlv2.prefill_body(&f.dx, &f.out, err, sizeof err), 0);
    assert_non_null(strstr(f.out.data, "\"stream\":false"));
    assert_non_null(strstr(f.out.data, "\"max_tokens\":1"));
    assert_null(strstr(f.out.data, "max_completion_tokens")); /* only where present */
    sy_buf_fini(&f.out);
}

static void test_answers_and_decode_body(void **state)
{
    struct fx f;
    char why[160], err[128];
    fx_init(&f, SY_API_COMPLETIONS, "{\"prompt\":\"p\",\"stream\":true}");
    const char *ok = "{\"choices\":[{\"finish_reason\":\"length\"}],\"usage\":{"
                     "\"prompt_tokens_details\":{\"cached_tokens\":16}},"
                     "\"kv_transfer_params\":{\"remote_block_ids\":[[1]],\"x\":\"y\"}}";
    assert_int_equal(sy_disagg_nixlv2.take_answer(&f.dx, ok, strlen(ok), why, sizeof why), 0);
    assert_int_equal(f.dx.cached, 16);
    struct sy_json_splice s;
    sy_json_splice_init(&s);
    assert_int_equal(sy_disagg_nixlv2.decode_body(&f.dx, &s, err, sizeof err), 0);
    sy_json_splice_flatten(&s, &f.out);
    assert_string_equal(f.out.data, "{\"prompt\":\"p\",\"stream\":true,\"kv_transfer_params\":"
                                    "{\"remote_block_ids\":[[1]],\"x\":\"y\"}}");
    assert_ptr_equal(s.segs[1].p, f.req.body + 1); /* the client's members: a view, not a copy */
    sy_json_splice_fini(&s);
    const char *nop = "{\"choices\":[{\"finish_reason\":\"length\"}],\"kv_transfer_params\":null}";
    assert_int_equal(sy_disagg_nixlv2.take_answer(&f.dx, nop, strlen(nop), why, sizeof why), -1);
    assert_string_equal(why, "the prefill answer has no kv_transfer_params");
    const char *bad = "{\"choices\":[{\"finish_reason\":\"abort\"}],\"kv_transfer_params\":{}}";
    assert_int_equal(sy_disagg_nixlv2.take_answer(&f.dx, bad, strlen(bad), why, sizeof why), -1);
    assert_non_null(strstr(why, "\"abort\""));
    const char *nul = "{\"kv_transfer_params\":{},\"usage\":{\"prompt_tokens_details\":null}}";
    assert_int_equal(sy_disagg_nixlv2.take_answer(&f.dx, nul, strlen(nul), why, sizeof why), 0);
    assert_int_equal(f.dx.cached, 0);
    sy_buf_fini(&f.out);
}

static void test_sglang_and_sidecar(void **state)
{
    struct fx f;
    char err[128];
    fx_init(&f, SY_API_CHAT_COMPLETIONS, "{\"messages\":[]}");
    struct sy_endpoint *ep = fx_ep("10.0.0.7:8000", "switchyard.io/bootstrap-port=9000", 0, 0, 0);
    f.res.prefill_ep = ep;
    assert_int_equal(sy_disagg_sglang.prefill_body(&f.dx, &f.out, err, sizeof err), 0);
    char want[256];
    snprintf(want, sizeof want,
             "{\"messages\":[],\"bootstrap_host\":\"10.0.0.7\",\"bootstrap_port\":9000,"
             "\"bootstrap_room\":%llu}",
             (unsigned long long)f.dx.room);
    assert_string_equal(f.out.data, want);
    assert_true(f.dx.room < (1ULL << 63));
    struct sy_json_splice s;
    sy_json_splice_init(&s);
    assert_int_equal(sy_disagg_sglang.decode_body(&f.dx, &s, err, sizeof err), 0);
    struct sy_buf d;
    sy_buf_init(&d);
    sy_json_splice_flatten(&s, &d);
    assert_int_equal(d.len, f.out.len);
    assert_memory_equal(d.data, f.out.data, d.len); /* the same body to both */
    sy_buf_fini(&d);
    sy_json_splice_fini(&s);
    sy_buf_fini(&f.out);
    assert_false(sy_disagg_sidecar.prefill_leg);
    sy_disagg_sidecar.decode_headers(&f.dx, &f.out);
    assert_string_equal(f.out.data, "x-prefiller-host-port: 10.0.0.7:8000\r\n");
    sy_buf_fini(&f.out);
    sy_endpoint_unref(ep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefill_bodies),
        cmocka_unit_test(test_answers_and_decode_body),
        cmocka_unit_test(test_sglang_and_sidecar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
