/* profiles.c - calibrated engine profiles for the simulator.
 *
 * Step-time model (sy_sim_step_ns, microseconds):
 *
 *   step = base + prefill_us_per_token * prefill_tokens
 *               + decode_us_per_seq * decode_seqs + decode_us_per_ctx_token * decode_context
 *
 * base is the cost of streaming the weights once (the B=1 decode step), decode_us_per_seq is
 * BLIS's per-request overhead, the prefill term is fitted so that one full-budget prefill chunk
 * takes the measured time, and the decode KV-read term is physics: decode attention streams every
 * decoding sequence's whole context from HBM once per step (GQA kernels read each KV head once for
 * its group of query heads), so a context token costs its per-GPU KV bytes at the GPU's achieved
 * HBM bandwidth:
 *
 *   decode_us_per_ctx_token = kv_bytes_per_token / tp_size / (3.35 TB/s x 0.7687)
 *
 *   3.35 TB/s  H100 SXM5 HBM3 peak (NVIDIA datasheet; engine-calibration.md 4.2 and 7). Under TP
 *              every rank reads its own KV heads from its own HBM, so TP2 doubles the bandwidth
 *              and halves the bytes per GPU.
 *   0.7687     achieved fraction of that peak for a long bandwidth-bound stream on H100, measured:
 *              Vidur's H100 profile of CodeLlama-34B at TP2 (the model closest to Qwen3-32B TP2)
 *              runs one decode token's non-attention work in 12.9 ms (engine-calibration.md 4.1),
 *              which streams the layer weights, 48 x (8192 x 10240 + 8192 x 8192 + 3 x 8192 x
 *              22016) = 33.22B parameters x 2 bytes / 2 ranks = 33.22 GB per GPU: 2.575 TB/s. The
 *              KV scan of a decode batch at load (>= 32 sequences x >= 1k tokens: >= 64 MiB per
 *              layer per GPU, in 16-token blocks of 16 KiB per K or V) is the same kind of stream.
 *              The figure includes norm/activation kernels, so it slightly understates the pure
 *              stream rate; the other Vidur H100 points give 0.69 (Llama-2-7B TP1) to 0.81
 *              (CodeLlama-34B TP1).
 *
 * Replaced (issue 19): the KV term used to be BLIS's fitted trained-physics beta2b = 1.947 x the
 * roofline ([4.2], [4.3]: 0.0763 us per token for Qwen3-32B TP2), i.e. KV read at 51% of HBM
 * bandwidth, a coefficient fitted to other models' TTFT/ITL that absorbs whatever its other terms
 * miss. It made long-context decode 1.5x slower than the weight stream's measured rate on the same
 * GPU, and the loaded llm-d fleet (NTPOT 43.9 ms, ~1.9k output tok/s per TP2 pod at a KV-bound
 * batch of ~80 x 7.7k tokens) is faster than even the physical model: `switchyard sim --calibrate`
 * shows both, with the remaining gap flagged (docs/simulator.md, "Calibration report").
 * Sensitivity: FlashAttention-3 decode on H100 at batch 16 x 2-4k tokens, MHA, 8-token pages
 * reached 1.80-1.85 TB/s = 0.54-0.55 (Dao-AILab/flash-attention#1572), the small-batch end where
 * splits and short pages waste bandwidth; at that efficiency the term would be the old one again.
 *
 * Every other figure below names its source in /work/shared/reference/engine-calibration.md
 * (sections in brackets); "derived" means arithmetic on published numbers, shown beside it.
 * tests/unit/sim/test_profiles.c checks that the profiles reproduce the figures (peak prefill
 * throughput, the KV-read formula, capacity) and tests/unit/sim/test_calibrate.c the report.
 *
 * P/D KV transfer (sy_sim_xfer_ns): a decode pulls the prompt's KV from the prefill replica in
 *
 *   pull = kv_xfer_base_us + tokens x kv_bytes_per_token / tp_size / kv_xfer_gbps
 *
 * Each TP rank pulls its own shard over its own NIC in parallel, so the time is one rank's share
 * over one NIC's bandwidth [5]: "transfer bytes = prompt tokens x KV/token (whole model), split
 * over TP ranks". Defaults, shared by both profiles (H100 clusters): 22.96 GB/s, the measured
 * NIXLBench VRAM->VRAM READ bandwidth at 64 MiB blocks on GCP A3-Mega (H100, GPUDirect-TCPXO;
 * NIXL pull mode is a READ) [5], and 600 us fixed cost, the measured NIXLBench average latency
 * of a small (4 KiB) transfer there [5]. InfiniBand NDR would give ~46-48 GB/s per NIC [5]
 * (--kv-transfer-bandwidth 47); BLIS's unmeasured default is 25 GB/s and 0.05 ms [5]. An 8k-token
 * Qwen3-32B TP2 prompt: 1 GiB per rank / 22.96 GB/s + 0.6 ms = 47.4 ms, against 514 ms to
 * prefill it. The lease a prefill holds its blocks for is vLLM's VLLM_NIXL_ABORT_REQUEST_TIMEOUT
 * default, 480 s (vllm/envs.py).
 *
 * Overlap step model (--step-model overlap, issue 19; sy_sim_step_shape_ns in engine.c). A mixed
 * batch is one forward pass, so instead of adding a prefill cost to a decode step it splits the
 * same calibrated figures by what bounds them:
 *
 *   step = F + max(W, linear_us_per_token x (prefill + decode tokens))
 *            + attn_us_per_pair x prefill attention pairs
 *            + decode_us_per_seq x seqs + decode_us_per_ctx_token x decode context
 *
 *   W   weight read: the B=1 step's weight stream, BLIS's beta3 = 1.3625 x the per-GPU weight bytes
 *       / 3.35 TB/s ([4.2], the figure the base above was derived from): Qwen3-32B has 64 layers x
 *       (5120 x 8192 x 2 + 5120 x 1024 x 2 + 3 x 5120 x 25600) = 31.206B linear parameters plus
 *       2 x 151936 x 5120 embedding/LM-head = 32.761B x 2 bytes / 2 ranks = 32.76 GB per GPU ->
 *       13,325 us. A linear layer over n tokens takes max(weight read, FLOPs / achieved rate)
 *       (the roofline; Sarathi-Serve, OSDI'24 section 2: "T = max(T_math, T_mem)", the GEMM is
 *       memory-bound until the batch's tokens cross the device's FLOPs-to-bandwidth ratio, then
 *       linear in tokens); Vidur's measured non-attention time of CodeLlama-34B TP2 on H100 is
 *       flat to ~128-256 tokens and linear after ([4.1]).
 *   F   the rest of the base, paid once per step: base - W = 2,192 us (BLIS's 32.1 us x 64 layers
 *       + 126 us = 2,180 us [4.2]).
 *   linear FLOPs per token per GPU: 2 x 31.206B / 2 ranks = 31.21 GFLOP (the LM head runs only
 *       for sampled tokens, one per sequence, and is left out: < 2.5% of a token's FLOPs).
 *   attention FLOPs per query-key pair per GPU: QK^T and PV, 2 x 2 x 64 q heads x 128 x 64 layers
 *       / 2 ranks = 1.049 MFLOP; a chunk of n tokens after c computed ones has n x c + n(n+1)/2
 *       pairs (causal).
 *   achieved FLOP rate: the measured 8192-token chunk (514.3 ms, llm-d peakPrefillThroughput [1])
 *       is all compute: (8192 x 31.21 GFLOP + 33.56M pairs x 1.049 MFLOP) / (514.3 ms - F) =
 *       568 TFLOP/s = 57% of the H100 SXM's 989.5 TFLOPS dense BF16 (NVIDIA datasheet; BLIS's
 *       roofline constant [4.2]); Vidur's linear layers of CodeLlama-34B TP2 ([4.1], 51.9 us per
 *       token at 4096 tokens for 33.2 GFLOP per GPU) ran at 640 TFLOP/s, 65%, without attention.
 *       -> linear_us_per_token 54.95 us, attn_us_per_pair 0.001846 us, crossover at 242 tokens.
 *   decode attention: the same KV-read term as the additive model (bandwidth-bound, not hidden:
 *       it is its own kernel between the GEMMs, and each KV byte is read once).
 * By construction a pure decode step below the crossover (batch <= 242) and a pure fresh
 * 8192-token chunk take exactly what the additive model gives; a shorter fresh prompt is faster
 * (its chunk carries fewer attention pairs per token: 1,000 tokens 58.1 ms against 76.4 ms), a
 * chunk after a cached prefix costs more per token (its attention spans the prefix: llm-d's
 * 1,200-token question after a 6,000-token system prompt beside 96 decodes of 7.7k context is
 * 126.1 ms against 126.6 ms; six such questions in one step 528.9 against 492.0 ms), and decodes
 * in a compute-bound step cost their linear FLOPs (54.95 us each) instead of the weight read
 * again. `switchyard sim --calibrate` prints these shapes; docs/simulator.md "Step models".
 * Qwen3-8B: 36 x (4096 x 4096 x 2 + 4096 x 1024 x 2 + 3 x 4096 x 12288) = 6.946B linear + 1.245B
 * embedding/LM head = 16.38 GB -> W 6,662 us, F 1,245 us; 0.5898 MFLOP per pair; its 32,000 tok/s
 * prefill prior implies 524 TFLOP/s (53%) -> 26.49 us per token, 0.001125 us per pair.
 *
 * Rejected: BLIS's trained-physics coefficients for prefill (its beta1a implies prefill faster
 * than peak FLOPs and contradicts the 15,928 tok/s measurement, [4.2]); a quadratic prefill
 * attention term (the single measured prefill point cannot separate it from the linear part).
 */
#include "sim/engine.h"

#include <string.h>

#define H100_HBM_BYTES_PER_US 3.35e6 /* 3.35 TB/s, H100 SXM5 HBM3 peak (datasheet) */
#define H100_STREAM_EFF       0.7687 /* achieved fraction of it, Vidur H100 (see above) */
/* decode KV read per context token (us) of a model with b KV bytes per token at TP tp */
#define H100_KV_US(b, tp) ((double)(b) / (tp) / (H100_HBM_BYTES_PER_US * H100_STREAM_EFF))

/* Overlap step model (design comment above). */
#define BLIS_WEIGHT_FACTOR                                                                         \
    1.3625 /* BLIS trained-physics beta3: weights at 73% of HBM peak [4.2]                         \
            */
/* weight read (us) of w bytes per GPU */
#define W_US(w)  (BLIS_WEIGHT_FACTOR * (w) / H100_HBM_BYTES_PER_US)
#define CHUNK    8192.0 /* the measured peak-prefill chunk */
#define PAIRS(n) ((n) * ((n) + 1.0) / 2.0)
/* achieved FLOPs per us implied by a fresh CHUNK-token chunk taking CHUNK x pf_us + w_us beyond
 * the fixed cost (base + CHUNK x pf - (base - W)), with lin FLOPs per token, attn per pair */
#define RATE(lin, attn, pf_us, w_us)                                                               \
    ((CHUNK * (lin) + PAIRS(CHUNK) * (attn)) / (CHUNK * (pf_us) + (w_us)))

/* Qwen3-32B TP2: parameters per rank and FLOPs per GPU (design comment above) */
#define Q32_LINEAR (64.0 * (5120.0 * 8192 * 2 + 5120.0 * 1024 * 2 + 3.0 * 5120 * 25600))
#define Q32_PARAMS (Q32_LINEAR + 2.0 * 151936 * 5120)
#define Q32_W      W_US(Q32_PARAMS * 2.0 / 2) /* BF16, 2 ranks */
#define Q32_LIN_F  (2.0 * Q32_LINEAR / 2)
#define Q32_ATTN_F (4.0 * 64 * 128 * 64 / 2)
#define Q32_PF     60.888
#define Q32_RATE   RATE(Q32_LIN_F, Q32_ATTN_F, Q32_PF, Q32_W)
/* Qwen3-8B, one GPU */
#define Q8_LINEAR (36.0 * (4096.0 * 4096 * 2 + 4096.0 * 1024 * 2 + 3.0 * 4096 * 12288))
#define Q8_PARAMS (Q8_LINEAR + 2.0 * 151936 * 4096)
#define Q8_W      W_US(Q8_PARAMS * 2.0)
#define Q8_LIN_F  (2.0 * Q8_LINEAR)
#define Q8_ATTN_F (4.0 * 32 * 128 * 36)
#define Q8_PF     30.285
#define Q8_RATE   RATE(Q8_LIN_F, Q8_ATTN_F, Q8_PF, Q8_W)

/* Qwen3-32B, 2 x H100-80GB, TP=2 (llm-d's benchmark and router-calibration setup). */
static const struct sy_sim_profile qwen3_32b_tp2_h100 = {
    .name = "qwen3-32b-tp2-h100",
    .model = "Qwen/Qwen3-32B",
    /* 275,760 tokens of KV at gpu-memory-utilization 0.9 (LMCache FAQ "KV Cache Sizes for
     * Popular Models": 0.2441 GiB/1k tokens, 33.66 GiB x 2 spare) / 16 = 17,235 blocks [0, 3] */
    .num_gpu_blocks = 17235,
    .block_size = 16,               /* vLLM CacheConfig.DEFAULT_BLOCK_SIZE [2] */
    .max_num_seqs = 1024,           /* vLLM default on H100-class GPUs (arg_utils) [2] */
    .max_num_batched_tokens = 8192, /* vLLM `serve` default on GPUs >= 70 GiB [2]; llm-d's
                                       calibration CHUNK_SIZE [1] */
    .max_model_len = 40960,         /* Qwen3-32B config.json max_position_embeddings */
    /* decode B=1 at 1k context = 15.6 ms (derived, [4.3]) minus BLIS's per-seq and KV terms:
     * 15,600 - 4.42 - 1024 x 0.0763 = 15,517 us: BLIS's 1.3625 x 32.8 GB / 3.35 TB/s weight
     * stream (13.3 ms, 73% of peak) + 32.1 us x 64 layers + 126 us. Kept: it matches Vidur's
     * measured 12.9 ms non-attention time of CodeLlama-34B TP2 [4.1] plus TP2 all-reduce
     * (2 x 64 x 0.02-0.03 ms [4.1]) within 5%. */
    .step_base_us = 15517.0,
    /* one 8192-token prefill chunk = 8192 / 15,928 tok/s = 514.3 ms (llm-d measured
     * peakPrefillThroughput, vLLM, TP2 H100 [1]): (514,314 - 15,517) / 8192 = 60.888 us/token */
    .prefill_us_per_token = Q32_PF,
    .decode_us_per_seq = 4.42, /* BLIS trained-physics beta6 = 4.42 us/request [4.2] */
    /* 128 KiB of KV per token per GPU at 2.575 TB/s = 0.05090 us (design comment above; was
     * BLIS's 0.0763, replaced in issue 19) */
    .decode_us_per_ctx_token = H100_KV_US(262144, 2),
    /* overlap model: 13,325 us, 54.95 us/token, 0.001846 us/pair (design comment above) */
    .weight_read_us = Q32_W,
    .linear_us_per_token = Q32_LIN_F / Q32_RATE,
    .attn_us_per_pair = Q32_ATTN_F / Q32_RATE,
    .tp_size = 2,
    /* 2 (K,V) x 64 layers x 8 KV heads x 128 head dim x 2 bytes (BF16) = 262,144 B [3] */
    .kv_bytes_per_token = 262144,
    .kv_xfer_gbps = 22.96,  /* NIXLBench READ, A3-Mega H100, 64 MiB blocks [5] */
    .kv_xfer_base_us = 600, /* NIXLBench average latency, 4 KiB blocks [5] */
    .kv_lease_s = 480,      /* VLLM_NIXL_ABORT_REQUEST_TIMEOUT default */
};

/* Qwen3-8B on one H100-80GB. */
static const struct sy_sim_profile qwen3_8b_h100 = {
    .name = "qwen3-8b-h100",
    .model = "Qwen/Qwen3-8B",
    /* 366,400 tokens of KV (LMCache FAQ: 0.1373 GiB/1k tokens, 50.32 GiB spare) / 16 [0, 3] */
    .num_gpu_blocks = 22900,
    .block_size = 16,               /* [2] */
    .max_num_seqs = 1024,           /* [2] */
    .max_num_batched_tokens = 8192, /* [2] */
    .max_model_len = 40960,         /* Qwen3-8B config.json max_position_embeddings */
    /* decode B=1 at 1k context = 8.0 ms (derived, [4.3]) minus BLIS's per-seq and KV terms:
     * 8,000 - 4.42 - 1024 x 0.08596 */
    .step_base_us = 7907.6,
    /* peak prefill ~30-35k tok/s (derived at 60% MFU, [0]); the midpoint 32,000 tok/s gives an
     * 8192-token chunk 256.0 ms: (256,000 - 7,907.6) / 8192 = 30.285 us/token. A derived prior,
     * not a measurement: replace with a calibrate.sh run when one is published. */
    .prefill_us_per_token = Q8_PF,
    .decode_us_per_seq = 4.42, /* BLIS beta6 [4.2] */
    /* 144 KiB of KV per token at 2.575 TB/s = 0.05726 us (was BLIS's 0.08596) */
    .decode_us_per_ctx_token = H100_KV_US(147456, 1),
    /* overlap model: 6,662 us, 26.49 us/token, 0.001125 us/pair (design comment above) */
    .weight_read_us = Q8_W,
    .linear_us_per_token = Q8_LIN_F / Q8_RATE,
    .attn_us_per_pair = Q8_ATTN_F / Q8_RATE,
    .tp_size = 1,
    /* 2 x 36 layers x 8 KV heads x 128 x 2 bytes = 147,456 B [3] */
    .kv_bytes_per_token = 147456,
    .kv_xfer_gbps = 22.96,  /* [5], as above */
    .kv_xfer_base_us = 600, /* [5] */
    .kv_lease_s = 480,      /* VLLM_NIXL_ABORT_REQUEST_TIMEOUT default */
};

/* DeepSeek-R1 (same architecture as DeepSeek-V3) with wide expert parallelism on H200-141GB:
 * one engine = one data-parallel rank (one GPU, TP=1) of a DP=EP=16 group (llm-d's wide-EP guide:
 * 2 pods x 8 GPUs for prefill and for decode; vllm-kv-events-and-simulator.md SE). The per-rank
 * terms are this GPU's own attention and dense work; moe_* and a2a_* are the group's coupled
 * terms (src/sim/lockstep.h). Sources:
 *   [DS]   DeepSeek-V3 technical report (arXiv 2412.19437) and deepseek-ai/DeepSeek-R1
 *          config.json: 61 layers (3 dense + 58 MoE), hidden 7168, 256 routed experts + 1 shared,
 *          8 routed per token, moe_intermediate_size 2048, MLA kv_lora_rank 512 +
 *          qk_rope_head_dim 64, 671B parameters (37B active), FP8 weights, 163,840 positions.
 *   [H200] NVIDIA H200 datasheet: 141 GB HBM3e at 4.8 TB/s, FP8 dense 1,979 TFLOPS.
 *   [DEEP] DeepEP README (H800, ConnectX-7 400 Gb/s InfiniBand): low-latency kernels at 128
 *          tokens per rank, hidden 7168, top-8, FP8 dispatch / BF16 combine, EP16: dispatch
 *          118 us, combine 195 us per MoE layer; normal (high-throughput) kernels internode EP16:
 *          ~43 GB/s RDMA bottleneck bandwidth.
 *   [MLA]  vLLM MLA backends use KV block size 64 (vllm-kv-events-and-simulator.md, block size).
 *   [5]    as above (engine-calibration.md): InfiniBand NDR ~46-48 GB/s per NIC, 600 us pull cost.
 * Assumed, not measured (change them when a measurement is published): 80% of HBM bandwidth and
 * 50% of FP8 peak achieved; half of the all-to-all time hidden behind compute by dual-batch
 * overlap (decode: --enable-dbo; prefill: two micro-batches); 8 GB per GPU for activations,
 * CUDA graphs and DeepEP buffers.
 * Derived figures (per rank):
 *   weights: routed experts 58 x 256 x 3 x 7168 x 2048 = 653.9B params / 16 ranks = 40.9 GB FP8,
 *            plus the replicated rest 671 - 653.9 = 17.1 GB -> 58.0 GB per GPU
 *   KV:      (512 + 64) x 61 layers x 2 bytes (BF16) = 70,272 bytes per token
 *   blocks:  141 x 0.9 - 58.0 - 8 = 60.9 GB / 70,272 = 866,600 tokens / 64 = 13,540 blocks
 *   base:    58.0 GB streamed per step / (4.8 TB/s x 0.8) = 15.1 ms (at a batch that touches
 *            every local expert, as a decode batch of a 16-rank group does)
 *   dense:   2 x 17.1B = 34.2 GFLOP per token / (1,979 TFLOPS x 0.5) = 34.6 us
 *   experts: 8 x 3 x 7168 x 2048 x 2 x 58 = 40.9 GFLOP per token / (1,979 x 0.5) = 41.3 us,
 *            spread over the group's ranks
 *   KV read: 70,272 B / (4.8 TB/s x 0.8) = 0.0183 us per context token
 *   decode all-to-all: (118 + 195) us x 58 layers = 18.15 ms at 128 tokens = 141.8 us per token
 *            of the busiest rank, half hidden -> 70.9 us
 *   prefill all-to-all: per token and MoE layer ~4 destination nodes x (7.2 KB FP8 dispatch +
 *            14.3 KB BF16 combine) = 86 KB / 43 GB/s = 2.0 us x 58 = 116 us, half hidden -> 58 us
 * Calibration (tests/unit/sim/test_lockstep.c): a decode group at 128 sequences per rank and the
 * 1k/1k mean context (1,536 tokens) steps in 37.5 ms -> 3,413 output tokens/s per GPU, 10% above
 * the guide's ~3.1k (measured on B200 per llm-d-2026-updates.md, so the comparison is loose). */
static const struct sy_sim_profile deepseek_r1_wideep_decode_h200 = {
    .name = "deepseek-r1-wideep-decode-h200",
    .model = "deepseek-ai/DeepSeek-R1",
    .num_gpu_blocks = 13540,        /* derived above */
    .block_size = 64,               /* [MLA] */
    .max_num_seqs = 128,            /* the batch the DeepEP low-latency figures were taken at */
    .max_num_batched_tokens = 8192, /* vLLM default on large GPUs [2] */
    .max_model_len = 163840,        /* [DS] */
    .step_base_us = 15100.0,
    .prefill_us_per_token = 34.6, /* a local prefill (P/D fallback): dense work per token */
    .decode_us_per_seq = 34.6,
    .decode_us_per_ctx_token = 0.0183,
    .tp_size = 1,
    .kv_bytes_per_token = 70272,
    .kv_xfer_gbps = 47.0,   /* [5] InfiniBand NDR per NIC */
    .kv_xfer_base_us = 600, /* [5] */
    .kv_lease_s = 480,      /* VLLM_NIXL_ABORT_REQUEST_TIMEOUT default */
    .ep_size = 16,
    .moe_us_per_token = 41.3,
    .a2a_base_us = 0,
    .a2a_us_per_token = 70.9,
};

/* The prefill side of the same deployment (DeepEP high-throughput kernels). Balanced and
 * saturated it computes 34.6 + 41.3 + 58 = 133.9 us per token per GPU = 7.5k input tokens/s per
 * GPU (DeepSeek reports 73.7k/s per 8 x H800 node with cache hits, 9.2k per GPU). */
static const struct sy_sim_profile deepseek_r1_wideep_prefill_h200 = {
    .name = "deepseek-r1-wideep-prefill-h200",
    .model = "deepseek-ai/DeepSeek-R1",
    .num_gpu_blocks = 13540,
    .block_size = 64,
    .max_num_seqs = 256,
    .max_num_batched_tokens = 8192,
    .max_model_len = 163840,
    .step_base_us = 15100.0,
    .prefill_us_per_token = 34.6,
    .decode_us_per_seq = 34.6,
    .decode_us_per_ctx_token = 0.0183,
    .tp_size = 1,
    .kv_bytes_per_token = 70272,
    .kv_xfer_gbps = 47.0,
    .kv_xfer_base_us = 600,
    .kv_lease_s = 480,
    .ep_size = 16,
    .moe_us_per_token = 41.3,
    .a2a_base_us = 0,
    .a2a_us_per_token = 58.0,
};

const struct sy_sim_profile *const sy_sim_profiles[] = {
    &qwen3_32b_tp2_h100,
    &qwen3_8b_h100,
    &deepseek_r1_wideep_decode_h200,
    &deepseek_r1_wideep_prefill_h200,
    NULL,
};

const struct sy_sim_profile *sy_sim_profile_find(const char *name)
{
    for (size_t i = 0; name && sy_sim_profiles[i]; i++) {
        if (strcmp(sy_sim_profiles[i]->name, name) == 0)
            return sy_sim_profiles[i];
    }
    return NULL;
}
