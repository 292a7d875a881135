/* latency_helpers.h - a trained latency model for the scheduler's latency plugin tests
 * (test_latency_plugins.c, test_slo_class_scorer.c). Header-only, like sched_helpers.h; include
 * it after <cmocka.h>.
 */
#ifndef SY_TEST_LATENCY_HELPERS_H
#define SY_TEST_LATENCY_HELPERS_H

#include <stdint.h>

#include "latency/slo.h"

/* Trains the shared model on 3,000 synthetic requests over three endpoints: "slow:1" is 3x
 * slower than "fast:1" and "fast:2" at equal load; TTFT grows with waiting and input length,
 * TPOT with running; a 0-18% spread keeps the quantile fit honest. */
static inline void fx_train_latency_model(struct sy_latency_model *m)
{
    for (int i = 0; i < 3000; i++) {
        const char *ep = i % 3 == 0 ? "slow:1" : i % 3 == 1 ? "fast:1" : "fast:2";
        double speed = i % 3 == 0 ? 3.0 : 1.0;
        struct sy_latency_features f = {.waiting = (uint32_t)(i % 5),
                                        .running = (uint32_t)(i % 7),
                                        .input_tokens = 200 + (uint32_t)(i % 13) * 100};
        f.queued = f.waiting > 0;
        double ttft =
            speed * (0.05 + 0.1 * f.waiting + f.input_tokens * 1e-5) * (1 + (i % 10) / 50.0);
        double tpot = speed * (0.01 + 0.001 * f.running) * (1 + (i % 10) / 50.0);
        sy_latency_observe(m, ep, &f, ttft, tpot);
    }
    assert_int_equal(sy_latency_retrain(m), 0);
}

#endif
