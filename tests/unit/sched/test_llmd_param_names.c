/* Every parameter name llm-d's plugin parameter structs declare (llm-d-router at ebab687, the json
 * tags under pkg/epp/framework/plugins/) is accepted by Switchyard's plugin of that type: a
 * config written for llm-d must not be refused with "unknown parameter" (llm-d decodes strictly,
 * so these are exactly the names it accepts). Values are the simplest valid ones. Parameters
 * Switchyard refuses on purpose (documented in docs/scheduler.md: encode disaggregation,
 * attribute session sources, other endpoint-attribute producers) are not listed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "unit/sched/sched_helpers.h"

struct named {
    const char *type;   /* plugin type */
    const char *params; /* YAML parameters */
};

static const struct named cases[] = {
    {"active-request-scorer", "idleThreshold: 1\nmaxBusyScore: 0.5\nrequestTimeout: 2m\n"
                              "inFlightLoadProducerName: inflight-load-producer\n"},
    {"token-load-scorer",
     "queueThresholdTokens: 1000\ninFlightLoadProducerName: inflight-load-producer\n"},
    {"prefix-cache-scorer", "matchLengthWeight: 0.5\nmatchLengthScaleTokens: 100\n"
                            "prefixMatchInfoProducerName: approx-prefix-cache-producer\n"},
    {"no-hit-lru-scorer", "lruSize: 16\nprefixPluginType: prefix-cache-scorer\n"
                          "prefixPluginName: prefix-cache-scorer\n"
                          "prefixMatchInfoProducerName: approx-prefix-cache-producer\n"},
    {"load-aware-scorer", "threshold: 10\n"},
    {"context-length-aware", "label: ctx\nenableFiltering: true\n"},
    {"header-label-affinity-scorer", "headerName: x-slice\nlabelKey: slice\n"},
    {"session-affinity-scorer", "strategy: session_id\nprofileName: decode\n"
                                "sessionIdConfig: {sources: [{header: x-s}], "
                                "evictionTtlSeconds: 60, evictionSweepSeconds: 5}\n"},
    {"session-affinity-filter",
     "strategy: encoded_endpoint_header\n"
     "encodedEndpointHeaderConfig: {header: x-t}\nprofileName: decode\n"},
    {"by-label", "label: tier\nvalidValues: [a]\nallowsNoLabel: true\n"},
    {"prefix-cache-affinity-filter",
     "affinityThreshold: 0.9\nexplorationProbability: 0.1\nmaxTTFTPenaltyMs: 100\n"
     "ttftSource: prefillThroughput\npeakPrefillThroughput: 1000\n"
     "prefixMatchInfoProducerName: approx-prefix-cache-producer\n"
     "inFlightLoadProducerName: inflight-load-producer\n"
     "latencyPredictionInfoProducerName: predicted-latency-producer\n"},
    {"utilization-filter",
     "conditions: [{metric: waiting-queue, maxValue: 5}]\n"
     "fallbackOnEmpty: true\ninFlightLoadProducerName: inflight-load-producer\n"},
    {"slo-headroom-tier-filter", "epsilonExploreNeg: 0.1\n"
                                 "latencyPredictionInfoProducerName: predicted-latency-producer\n"},
    {"latency-slo-admitter", "latencyPredictionInfoProducerName: predicted-latency-producer\n"},
    {"max-score-picker", "maxNumOfEndpoints: 2\n"},
    {"random-picker", "maxNumOfEndpoints: 2\n"},
    {"weighted-random-picker", "maxNumOfEndpoints: 2\n"},
    {"header-profile-handler", "headerName: x-p\ndefaultProfile: decode\n"},
    /* dp_profile_handler_test.go: "primaryPort = 0 is allowed" */
    {"data-parallel-profile-handler", "primaryPort: 0\n"},
    {"prefix-based-pd-decider", "nonCachedTokens: 16\npromptTokens: 32\n"},
    {"approx-prefix-cache-producer", "blockSizeTokens: 16\nmaxPrefixBlocksToMatch: 64\n"
                                     "lruCapacityPerServer: 1000\nautoTune: false\n"},
    {"approx-prefix-cache-producer", "blockSize: 64\nmaxPrefixTokensToMatch: 1024\n"},
    {"inflight-load-producer", "addEstimatedOutputTokens: true\noutputRatio: 1.5\n"
                               "maxEstimatedOutputTokens: 512\n"
                               "prefixMatchInfoProducerName: approx-prefix-cache-producer\n"
                               "syncCrossReplicaState: false\n"},
    {"burst-prefix-cache-producer", "balanceBy: tokens\nblockSizeTokens: 16\nmaxBatchSize: 8\n"
                                    "maxPerReplica: 2\nmaxPrefixTokensToMatch: 1024\n"
                                    "minColocateBlocks: 2\nwindowDurationMs: 50\n"},
};

static void test_llmd_parameter_names_accepted(void **state)
{
    int failed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fx_plugin fp;
        char err[512];
        if (fx_plugin_new(&fp, cases[i].type, cases[i].params, err, sizeof err) != 0) {
            fprintf(stderr, "%s refused: %s\n", cases[i].type, err);
            failed++;
            continue;
        }
        fx_plugin_free(&fp);
    }
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llmd_parameter_names_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
