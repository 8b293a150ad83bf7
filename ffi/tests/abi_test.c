/* Exercises every function of include/neuneu.h, each error path, and 8 threads sharing one
 * engine. Built and run by ffi/tests/c_abi.rs (also under valgrind when it is installed).
 * Exit status 0 = every check passed. */
#include "check.h"
#include "neuneu.h"

#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef NEUNEU_TEST_HOOKS
int neuneu_test_panic(void); /* test hook (feature test_hooks), deliberately not in the header */
#endif

/* The metric arguments of an accuracy: bounded, maximized. */
#define ACCURACY NEUNEU_METRIC_BOUNDED, NEUNEU_MAXIMIZE

/* Three runs: two valid, the middle one with accuracy NaN. */
static const double STEPS[] = {1000, 2000, 4000, 8000, 1000, 2000, 1000, 3000, 9000};
static const double ACC[] = {0.30, 0.33, 0.36, 0.38, 0.5, NAN, 0.25, 0.27, 0.31};
static const size_t CTX[] = {0, 4, 6, 9};
static const double TARGETS[] = {16000, 64000, 4000, 27000};
static const size_t TGT[] = {0, 2, 3, 4};

static neuneu_engine *shared_engine;
static float reference[4 * 5];

static void *worker(void *arg) {
    (void)arg;
    static const size_t ctx[] = {0, 4};
    static const size_t tgt[] = {0, 2};
    for (int i = 0; i < 50; i++) {
        float out[2 * 5];
        int rc = neuneu_forecast(shared_engine, 1, STEPS, ACC, ctx, TARGETS, tgt, NULL, NULL, ACCURACY, out, 10, NULL);
        if (rc != NEUNEU_OK || memcmp(out, reference, sizeof out) != 0) {
            return (void *)1;
        }
    }
    return NULL;
}

int main(void) {
    CHECK(neuneu_abi_version() == NEUNEU_ABI_VERSION);
    CHECK(strlen(neuneu_version()) > 0);

    neuneu_engine *e = NULL;
    CHECK(neuneu_engine_new_default(&e) == NEUNEU_OK && e != NULL);
    size_t q = neuneu_engine_num_levels(e);
    CHECK(q == 5);
    float levels[5];
    CHECK(neuneu_engine_levels(e, levels, 5) == NEUNEU_OK && fabsf(levels[2] - 0.5f) < 1e-6f);
    CHECK(neuneu_engine_levels(e, levels, 4) == NEUNEU_ERR_BUFFER_TOO_SMALL);

    size_t need = 0;
    CHECK(neuneu_engine_manifest_json(e, NULL, 0, &need) == NEUNEU_ERR_BUFFER_TOO_SMALL && need > 100);
    char *json = malloc(need);
    CHECK(neuneu_engine_manifest_json(e, json, need, NULL) == NEUNEU_OK && json[0] == '{' && strlen(json) + 1 == need);
    free(json);

    /* Batched forecast with one bad run: the others are still answered. */
    size_t n_out = neuneu_forecast_output_len(e, TGT[3]);
    CHECK(n_out == 4 * 5);
    float *out = malloc(n_out * sizeof(float));
    int32_t status[3];
    int rc = neuneu_forecast(e, 3, STEPS, ACC, CTX, TARGETS, TGT, NULL, NULL, ACCURACY, out, n_out, status);
    CHECK(rc == NEUNEU_ERR_INVALID_INPUT);
    CHECK(strstr(neuneu_last_error(), "run 1") != NULL && strstr(neuneu_last_error(), "accuracy") != NULL);
    CHECK(status[0] == NEUNEU_OK && status[1] == NEUNEU_ERR_INVALID_INPUT && status[2] == NEUNEU_OK);
    for (size_t t = 0; t < 4; t++) {
        for (size_t j = 0; j < q; j++) {
            float v = out[t * q + j];
            if (t == 2) {
                CHECK(isnan(v));
            } else {
                CHECK(v >= 0.0f && v <= 1.0f);
                if (j > 0) CHECK(out[t * q + j - 1] <= v);
            }
        }
    }
    memcpy(reference, out, 2 * 5 * sizeof(float));

    /* Throughput row batching: the same forecasts within 1e-5; unknown modes are refused. */
    float *fast = malloc(n_out * sizeof(float));
    CHECK(neuneu_engine_set_row_batching(e, NEUNEU_ROW_BATCHING_THROUGHPUT) == NEUNEU_OK);
    CHECK(neuneu_forecast(e, 3, STEPS, ACC, CTX, TARGETS, TGT, NULL, NULL, ACCURACY, fast, n_out, status) == NEUNEU_ERR_INVALID_INPUT);
    for (size_t i = 0; i < n_out; i++) CHECK(isnan(out[i]) ? isnan(fast[i]) : fabsf(out[i] - fast[i]) < 1e-5f);
    CHECK(neuneu_engine_set_row_batching(e, NEUNEU_ROW_BATCHING_EXACT) == NEUNEU_OK);
    CHECK(neuneu_engine_set_row_batching(e, 7) == NEUNEU_ERR_INVALID_ARGUMENT);
    CHECK(strstr(neuneu_last_error(), "row batching 7 is unknown") != NULL);
    CHECK(neuneu_engine_set_row_batching(NULL, 0) == NEUNEU_ERR_NULL_POINTER);
    free(fast);

    /* Token losses for the first run only (an empty range for the others). */
    float losses[300];
    for (int i = 0; i < 300; i++) losses[i] = (float)(i % 17) * 0.2f;
    size_t loss_off[] = {0, 300, 300, 300};
    CHECK(neuneu_forecast(e, 3, STEPS, ACC, CTX, TARGETS, TGT, losses, loss_off, ACCURACY, out, n_out, status) == NEUNEU_ERR_INVALID_INPUT);
    CHECK(status[0] == NEUNEU_OK);

    /* Error paths. */
    CHECK(neuneu_forecast(NULL, 3, STEPS, ACC, CTX, TARGETS, TGT, NULL, NULL, ACCURACY, out, n_out, NULL) == NEUNEU_ERR_NULL_POINTER);
    CHECK(neuneu_forecast(e, 3, NULL, ACC, CTX, TARGETS, TGT, NULL, NULL, ACCURACY, out, n_out, NULL) == NEUNEU_ERR_NULL_POINTER);
    CHECK(neuneu_forecast(e, 3, STEPS, ACC, CTX, TARGETS, TGT, NULL, NULL, ACCURACY, out, n_out - 1, NULL) == NEUNEU_ERR_BUFFER_TOO_SMALL);
    size_t bad_ctx[] = {0, 4, 3, 9};
    CHECK(neuneu_forecast(e, 3, STEPS, ACC, bad_ctx, TARGETS, TGT, NULL, NULL, ACCURACY, out, n_out, NULL) == NEUNEU_ERR_INVALID_ARGUMENT);
    size_t bad_start[] = {1, 4, 6, 9};
    CHECK(neuneu_forecast(e, 3, STEPS, ACC, bad_start, TARGETS, TGT, NULL, NULL, ACCURACY, out, n_out, NULL) == NEUNEU_ERR_INVALID_ARGUMENT);
    const double down[] = {4000, 2000};
    const double acc2[] = {0.3, 0.4};
    const size_t c2[] = {0, 2}, t2[] = {0, 1};
    const double tg2[] = {9000};
    CHECK(neuneu_forecast(e, 1, down, acc2, c2, tg2, t2, NULL, NULL, ACCURACY, out, n_out, NULL) == NEUNEU_ERR_INVALID_INPUT);
    CHECK(strstr(neuneu_last_error(), "steps") != NULL);
    const float neg[] = {0.5f, -1.0f};
    const size_t l2[] = {0, 2};
    CHECK(neuneu_forecast(e, 1, STEPS, ACC, c2, tg2, t2, neg, l2, ACCURACY, out, n_out, NULL) == NEUNEU_ERR_INVALID_INPUT);
    CHECK(neuneu_forecast(e, 0, NULL, NULL, TGT, NULL, TGT, NULL, NULL, ACCURACY, NULL, 0, NULL) == NEUNEU_OK);
    free(out);

    neuneu_engine *bad = (neuneu_engine *)0x1;
    CHECK(neuneu_engine_new_from_path(&bad, "/nonexistent/model.nnb") == NEUNEU_ERR_IO && bad == NULL);
    CHECK(neuneu_engine_new_from_path(NULL, "x") == NEUNEU_ERR_NULL_POINTER);
    CHECK(neuneu_engine_new_from_path(&bad, NULL) == NEUNEU_ERR_NULL_POINTER);
    const uint8_t garbage[] = "not a bundle";
    CHECK(neuneu_engine_new_from_memory(&bad, garbage, sizeof garbage) == NEUNEU_ERR_BUNDLE && bad == NULL);
    CHECK(neuneu_engine_new_from_memory(&bad, NULL, 10) == NEUNEU_ERR_NULL_POINTER);
    neuneu_engine *cpu = NULL;
    CHECK(neuneu_engine_new(&cpu, NULL, 0, NEUNEU_BACKEND_CPU) == NEUNEU_OK);
    neuneu_engine_free(cpu);
    neuneu_engine_free(NULL);
    CHECK(neuneu_engine_num_levels(NULL) == 0);

    /* Ranking runs 0 and 2 (valid) plus run 0 again at a later target. */
    const size_t rc_ctx[] = {0, 4, 7, 11};
    const double r_steps[] = {1000, 2000, 4000, 8000, 1000, 3000, 9000, 1000, 2000, 4000, 8000};
    const double r_acc[] = {0.30, 0.33, 0.36, 0.38, 0.25, 0.27, 0.31, 0.50, 0.55, 0.60, 0.62};
    const double r_tg[] = {64000, 27000, 64000};
    const size_t r_t[] = {0, 1, 2, 3};
    double prob[9];
    size_t order[3];
    CHECK(neuneu_rank(e, 3, r_steps, r_acc, rc_ctx, r_tg, r_t, ACCURACY, prob, order) == NEUNEU_OK);
    for (int i = 0; i < 3; i++) {
        CHECK(isnan(prob[i * 3 + i]));
        for (int j = 0; j < 3; j++)
            if (i != j) CHECK(fabs(prob[i * 3 + j] + prob[j * 3 + i] - 1.0) < 1e-12);
    }
    CHECK(order[0] == 2 && order[2] == 1);
    CHECK(neuneu_rank(e, 3, r_steps, r_acc, rc_ctx, r_tg, r_t, ACCURACY, NULL, NULL) == NEUNEU_OK);

    /* A kill plan: keep the top 2 of 3 arms. */
    neuneu_plan_options opts = neuneu_plan_options_default();
    opts.k = 2;
    uint8_t keep[3];
    double p[3], med[3], lo[3], hi[3];
    CHECK(neuneu_plan(e, 3, r_steps, r_acc, rc_ctx, 64000, NULL, &opts, keep, p, med, lo, hi) == NEUNEU_OK);
    CHECK(keep[0] + keep[1] + keep[2] == 2 && keep[2] == 1 && keep[1] == 0);
    CHECK(fabs(p[0] + p[1] + p[2] - 2.0) < 1e-9);
    for (int i = 0; i < 3; i++) CHECK(lo[i] <= med[i] && med[i] <= hi[i]);
    opts.version = 99;
    CHECK(neuneu_plan(e, 3, r_steps, r_acc, rc_ctx, 64000, NULL, &opts, keep, p, med, lo, hi) == NEUNEU_ERR_INVALID_ARGUMENT);
    opts = neuneu_plan_options_default();
    opts.k = 0;
    CHECK(neuneu_plan(e, 3, r_steps, r_acc, rc_ctx, 64000, NULL, &opts, keep, NULL, NULL, NULL, NULL) == NEUNEU_ERR_INVALID_ARGUMENT);
    CHECK(neuneu_plan(e, 3, r_steps, r_acc, rc_ctx, 64000, NULL, NULL, keep, NULL, NULL, NULL, NULL) == NEUNEU_ERR_NULL_POINTER);

    /* A plan handle with the reasons behind each decision. */
    opts = neuneu_plan_options_default();
    CHECK(opts.version == NEUNEU_PLAN_OPTIONS_VERSION && opts.version == 3 && opts.budget == 0.1);
    opts.k = 2;
    neuneu_plan_result *plan = (neuneu_plan_result *)0x1;
    CHECK(neuneu_plan_new(e, 3, r_steps, r_acc, rc_ctx, 64000, NULL, &opts, &plan) == NEUNEU_OK && plan != NULL);
    CHECK(neuneu_plan_len(plan) == 3 && neuneu_plan_k(plan) == 2);
    neuneu_arm_decision d = {.version = NEUNEU_ARM_DECISION_VERSION};
    for (size_t i = 0; i < 3; i++) {
        CHECK(neuneu_plan_arm(plan, i, &d) == NEUNEU_OK);
        CHECK(d.keep == keep[i] && d.p_top_k == p[i] && d.median == med[i] && d.q10 == lo[i] && d.q90 == hi[i]);
        CHECK(d.reason != NULL && strncmp(d.reason, d.keep ? "keep: " : "stop: ", 6) == 0);
    }
    CHECK(neuneu_plan_arm(plan, 1, &d) == NEUNEU_OK && strstr(d.reason, "top 2") != NULL);
    d.keep = 7;
    CHECK(neuneu_plan_arm(plan, 3, &d) == NEUNEU_ERR_INVALID_ARGUMENT && d.keep == 7);
    CHECK(strstr(neuneu_last_error(), "out of range") != NULL);
    CHECK(neuneu_plan_arm(NULL, 0, &d) == NEUNEU_ERR_NULL_POINTER);
    CHECK(neuneu_plan_arm(plan, 0, NULL) == NEUNEU_ERR_NULL_POINTER);
    CHECK(neuneu_plan_len(NULL) == 0 && neuneu_plan_k(NULL) == 0);
    neuneu_plan_free(plan);
    neuneu_plan_free(NULL);
    plan = (neuneu_plan_result *)0x1;
    CHECK(neuneu_plan_new(NULL, 3, r_steps, r_acc, rc_ctx, 64000, NULL, &opts, &plan) == NEUNEU_ERR_NULL_POINTER && plan == NULL);
    CHECK(neuneu_plan_new(e, 3, r_steps, r_acc, rc_ctx, 64000, NULL, &opts, NULL) == NEUNEU_ERR_NULL_POINTER);

    /* Stop within budget: 0.2 expected top-1 arms may be lost; the likeliest arm is kept. */
    opts = neuneu_plan_options_default();
    opts.policy = NEUNEU_POLICY_STOP_WITHIN_BUDGET;
    opts.k = 1;
    opts.budget = 0.2;
    CHECK(neuneu_plan_new(e, 3, r_steps, r_acc, rc_ctx, 64000, NULL, &opts, &plan) == NEUNEU_OK);
    double spent = 0;
    for (size_t i = 0; i < 3; i++) {
        CHECK(neuneu_plan_arm(plan, i, &d) == NEUNEU_OK);
        if (!d.keep) spent += d.p_top_k;
        if (!d.keep) CHECK(strstr(d.reason, "budget of 0.2") != NULL);
    }
    CHECK(spent <= 0.2);
    CHECK(neuneu_plan_arm(plan, 2, &d) == NEUNEU_OK && d.keep == 1);
    neuneu_plan_free(plan);
    opts.budget = 1.0;
    CHECK(neuneu_plan_new(e, 3, r_steps, r_acc, rc_ctx, 64000, NULL, &opts, &plan) == NEUNEU_ERR_INVALID_ARGUMENT && plan == NULL);
    CHECK(strstr(neuneu_last_error(), "budget") != NULL);
    opts.budget = NAN;
    CHECK(neuneu_plan(e, 3, r_steps, r_acc, rc_ctx, 64000, NULL, &opts, keep, NULL, NULL, NULL, NULL) == NEUNEU_ERR_INVALID_ARGUMENT);

    /* A policy value outside the enum is an error, not undefined behaviour. */
    opts = neuneu_plan_options_default();
    opts.policy = 42;
    CHECK(neuneu_plan(e, 3, r_steps, r_acc, rc_ctx, 64000, NULL, &opts, keep, NULL, NULL, NULL, NULL) == NEUNEU_ERR_INVALID_ARGUMENT);
    CHECK(strstr(neuneu_last_error(), "policy 42") != NULL);

    /* Enums arrive as plain ints and are checked: a backend, metric kind or direction out
     * of range is an error, not undefined behaviour. */
    neuneu_engine *odd = (neuneu_engine *)0x1;
    CHECK(neuneu_engine_new(&odd, NULL, 0, 7) == NEUNEU_ERR_INVALID_ARGUMENT && odd == NULL);
    CHECK(strstr(neuneu_last_error(), "backend 7") != NULL);
    CHECK(neuneu_engine_new(&odd, NULL, 0, -1) == NEUNEU_ERR_INVALID_ARGUMENT && odd == NULL);
    CHECK(neuneu_rank(e, 3, r_steps, r_acc, rc_ctx, r_tg, r_t, 3, NEUNEU_MAXIMIZE, NULL, NULL) == NEUNEU_ERR_INVALID_ARGUMENT);
    CHECK(neuneu_rank(e, 3, r_steps, r_acc, rc_ctx, r_tg, r_t, NEUNEU_METRIC_LOSS, 5, NULL, NULL) == NEUNEU_ERR_INVALID_ARGUMENT);
    opts = neuneu_plan_options_default();
    opts.direction = -3;
    CHECK(neuneu_plan(e, 3, r_steps, r_acc, rc_ctx, 64000, NULL, &opts, keep, NULL, NULL, NULL, NULL) == NEUNEU_ERR_INVALID_ARGUMENT);
    CHECK(strstr(neuneu_last_error(), "direction -3") != NULL);

    /* Status strings, the minimum context. */
    CHECK(strcmp(neuneu_status_string(NEUNEU_OK), "ok") == 0);
    CHECK(strcmp(neuneu_status_string(NEUNEU_ERR_INVALID_INPUT), "invalid input") == 0);
    CHECK(strcmp(neuneu_status_string(12345), "unknown status") == 0);
    CHECK(neuneu_engine_min_context(e) == 2 && neuneu_engine_min_context(NULL) == 0);

    /* Options initialised through a pointer, for each version a caller may have been built
     * with; a version-1 init writes nothing past the version-1 struct (valgrind checks the
     * malloc'd block). */
    neuneu_plan_options init;
    memset(&init, 0xAB, sizeof init);
    CHECK(neuneu_plan_options_init(&init, NEUNEU_PLAN_OPTIONS_VERSION) == NEUNEU_OK);
    CHECK(init.version == 3 && init.policy == NEUNEU_POLICY_KEEP_TOP_K && init.k == 3 && init.budget == 0.1);
    CHECK(init.metric_kind == NEUNEU_METRIC_BOUNDED && init.direction == NEUNEU_MAXIMIZE && init.samples == 4000);
    CHECK(neuneu_plan_options_init(&init, 99) == NEUNEU_ERR_INVALID_ARGUMENT);
    CHECK(neuneu_plan_options_init(NULL, 3) == NEUNEU_ERR_NULL_POINTER);
    const size_t v1_size = offsetof(neuneu_plan_options, budget);
    neuneu_plan_options *small = malloc(v1_size);
    CHECK(neuneu_plan_options_init(small, 1) == NEUNEU_OK && small->version == 1 && small->k == 3);
    small->k = 2;
    CHECK(neuneu_plan(e, 3, r_steps, r_acc, rc_ctx, 64000, NULL, small, keep, NULL, NULL, NULL, NULL) == NEUNEU_OK);
    free(small);
    neuneu_plan_options *v2 = malloc(offsetof(neuneu_plan_options, metric_kind));
    CHECK(neuneu_plan_options_init(v2, 2) == NEUNEU_OK && v2->version == 2 && v2->budget == 0.1);
    free(v2);
    neuneu_sweep_options sweep_init;
    CHECK(neuneu_sweep_options_init(&sweep_init, NEUNEU_SWEEP_OPTIONS_VERSION) == NEUNEU_OK);
    CHECK(sweep_init.version == 2 && sweep_init.end_step == 0 && sweep_init.k == 3 && sweep_init.calibrate == 0);
    CHECK(neuneu_sweep_options_init(&sweep_init, 3) == NEUNEU_ERR_INVALID_ARGUMENT);

    /* A loss, minimized: forecast in loss units, quantiles increasing with the level. */
    {
        const double l_steps[] = {1000, 2000, 4000, 8000};
        const double loss[] = {3.0, 2.5, 2.2, 2.0};
        const size_t l_ctx[] = {0, 4};
        const double l_tg[] = {32000};
        const size_t l_t[] = {0, 1};
        float lq[5];
        int32_t st = 1;
        CHECK(neuneu_forecast(e, 1, l_steps, loss, l_ctx, l_tg, l_t, NULL, NULL, NEUNEU_METRIC_LOSS, NEUNEU_MINIMIZE, lq, 5, &st) == NEUNEU_OK && st == NEUNEU_OK);
        for (int l = 0; l < 5; l++) CHECK(lq[l] > 0.5f && lq[l] < 3.0f && (l == 0 || lq[l - 1] <= lq[l]));
        /* As a bounded metric these values are refused, naming the run and the value. */
        CHECK(neuneu_forecast(e, 1, l_steps, loss, l_ctx, l_tg, l_t, NULL, NULL, ACCURACY, lq, 5, &st) == NEUNEU_ERR_INVALID_INPUT);
        const double negative[] = {3.0, 2.5, -2.2, 2.0};
        CHECK(neuneu_forecast(e, 1, l_steps, negative, l_ctx, l_tg, l_t, NULL, NULL, NEUNEU_METRIC_LOSS, NEUNEU_MINIMIZE, lq, 5, &st) == NEUNEU_ERR_INVALID_INPUT);
        CHECK(st == NEUNEU_ERR_INVALID_INPUT && strstr(neuneu_last_error(), "values[2]") != NULL);
        /* The loss negated and maximized (a neg_loss): the same forecast, negated, in reverse. */
        const double negated[] = {-3.0, -2.5, -2.2, -2.0};
        float nq[5];
        CHECK(neuneu_forecast(e, 1, l_steps, loss, l_ctx, l_tg, l_t, NULL, NULL, NEUNEU_METRIC_LOSS, NEUNEU_MINIMIZE, lq, 5, &st) == NEUNEU_OK);
        CHECK(neuneu_forecast(e, 1, l_steps, negated, l_ctx, l_tg, l_t, NULL, NULL, NEUNEU_METRIC_NEG_LOSS, NEUNEU_MAXIMIZE, nq, 5, &st) == NEUNEU_OK && st == NEUNEU_OK);
        for (int l = 0; l < 5; l++) CHECK(nq[l] == -lq[4 - l]);
        CHECK(neuneu_forecast(e, 1, l_steps, loss, l_ctx, l_tg, l_t, NULL, NULL, NEUNEU_METRIC_NEG_LOSS, NEUNEU_MAXIMIZE, nq, 5, &st) == NEUNEU_ERR_INVALID_INPUT);
        CHECK(strstr(neuneu_last_error(), "is positive") != NULL);
    }

    /* A plan over a young arm (one point), per-arm end steps, and k larger than the arms
     * judged: nothing fails; the young arm is kept, k is capped and says so. */
    {
        const double y_steps[] = {1000, 2000, 4000, 1000, 1000, 2000, 4000};
        const double y_acc[] = {0.30, 0.33, 0.36, 0.5, 0.25, 0.27, 0.31};
        const size_t y_ctx[] = {0, 3, 4, 7};
        const double ends[] = {64000, 64000, 16000};
        neuneu_plan_options_init(&opts, NEUNEU_PLAN_OPTIONS_VERSION);
        opts.k = 5;
        CHECK(neuneu_plan_new(e, 3, y_steps, y_acc, y_ctx, NAN, ends, &opts, &plan) == NEUNEU_OK);
        CHECK(neuneu_plan_k(plan) == 2 && neuneu_plan_k_requested(plan) == 5);
        CHECK(neuneu_plan_arm(plan, 1, &d) == NEUNEU_OK && d.keep == 1 && isnan(d.p_top_k) && isnan(d.median));
        CHECK(strstr(d.reason, "needs 2 points") != NULL);
        CHECK(neuneu_plan_arm(plan, 0, &d) == NEUNEU_OK && strstr(d.reason, "k capped at 2") != NULL);
        d.version = 9;
        CHECK(neuneu_plan_arm(plan, 0, &d) == NEUNEU_ERR_INVALID_ARGUMENT && d.version == 9);
        d.version = NEUNEU_ARM_DECISION_VERSION;
        neuneu_plan_free(plan);
        /* Arm 2's own end, 16000, against every arm at 16000: the same forecast. */
        double m_own[3], m_all[3];
        CHECK(neuneu_plan(e, 3, y_steps, y_acc, y_ctx, NAN, ends, &opts, NULL, NULL, m_own, NULL, NULL) == NEUNEU_OK);
        CHECK(neuneu_plan(e, 3, y_steps, y_acc, y_ctx, 16000, NULL, &opts, NULL, NULL, m_all, NULL, NULL) == NEUNEU_OK);
        CHECK(m_own[2] == m_all[2] && m_own[0] != m_all[0]);
    }

    /* A caller built against options version 1 (no budget field) is still read, and only its
     * fields: the struct below ends where version 1 ended. */
    struct options_v1 {
        uint32_t version;
        int32_t policy;
        size_t k;
        double fraction, threshold;
        size_t min_observations, samples;
        uint64_t seed;
    } *v1 = malloc(sizeof *v1);
    v1->version = 1;
    v1->policy = NEUNEU_POLICY_KEEP_TOP_K;
    v1->k = 2;
    v1->fraction = 0.5;
    v1->threshold = 0.05;
    v1->min_observations = 0;
    v1->samples = 4000;
    v1->seed = 0;
    uint8_t keep_v1[3];
    CHECK(neuneu_plan(e, 3, r_steps, r_acc, rc_ctx, 64000, NULL, (const neuneu_plan_options *)v1, keep_v1, NULL, NULL, NULL, NULL) == NEUNEU_OK);
    CHECK(memcmp(keep_v1, keep, 3) == 0);
    v1->policy = NEUNEU_POLICY_STOP_WITHIN_BUDGET;
    CHECK(neuneu_plan(e, 3, r_steps, r_acc, rc_ctx, 64000, NULL, (const neuneu_plan_options *)v1, keep_v1, NULL, NULL, NULL, NULL) == NEUNEU_ERR_INVALID_ARGUMENT);
    free(v1);

    /* A panic inside the library becomes a status, and the engine keeps working. */
#ifdef NEUNEU_TEST_HOOKS
    CHECK(neuneu_test_panic() == NEUNEU_ERR_PANIC && strstr(neuneu_last_error(), "panic") != NULL);
#endif

    /* 8 threads share one engine; every result equals the single-threaded one. */
    shared_engine = e;
    pthread_t threads[8];
    for (int i = 0; i < 8; i++) pthread_create(&threads[i], NULL, worker, NULL);
    for (int i = 0; i < 8; i++) {
        void *r = NULL;
        pthread_join(threads[i], &r);
        CHECK(r == NULL);
    }
    neuneu_engine_free(e);

    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("abi_test: all checks passed\n");
    return 0;
}
