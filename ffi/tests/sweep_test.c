/* The online sweep handle from C: a scheduler's life with it (arms arriving, young, live,
 * finished and stopped; decisions; a save and a reload that decides the same; every error
 * path). Built and run by ffi/tests/c_abi.rs, also under valgrind. Exit status 0 = every check
 * passed. */
#include "check.h"
#include "neuneu.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Four arms of a validation loss (minimized), one point per step of 1000. */
static const char *ARMS[] = {"lr=1e-3", "lr=3e-3", "lr=1e-2", "lr=3e-2"};
static double loss(int arm, int t) { return 1.2 + 0.4 * arm + 2.0 / (1.0 + t); }
/* A loss that drops by 0.4 at the 6th point (t = 5): a learning-rate decay, say. */
static double dropping(int arm, int t) { return 1.0 + 0.05 * arm + 1.0 / (1.0 + t) - (t >= 5 ? 0.4 : 0.0); }

/* Copies a decision's verdicts into a string, to compare two decisions exactly. */
static void describe(const neuneu_decision *d, char *out, size_t cap) {
    out[0] = 0;
    neuneu_arm_verdict v = {.version = NEUNEU_ARM_VERDICT_VERSION};
    for (size_t i = 0; i < neuneu_decision_len(d); i++) {
        CHECK(neuneu_decision_arm(d, i, &v) == NEUNEU_OK);
        char line[512];
        snprintf(line, sizeof line, "%s %d %.17g %.17g %s\n", v.id, v.action, v.p_top_k, v.median, v.reason);
        strncat(out, line, cap - strlen(out) - 1);
    }
}

int main(void) {
    neuneu_engine *engine = NULL;
    CHECK(neuneu_engine_new(&engine, NULL, 0, NEUNEU_BACKEND_CPU) == NEUNEU_OK);

    neuneu_sweep_options options;
    CHECK(neuneu_sweep_options_init(&options, NEUNEU_SWEEP_OPTIONS_VERSION) == NEUNEU_OK);
    options.metric_kind = NEUNEU_METRIC_LOSS;
    options.direction = NEUNEU_MINIMIZE;
    options.k = 2;
    options.end_step = 20000;
    options.seed = 7;
    neuneu_sweep *sweep = NULL;
    CHECK(neuneu_sweep_new(engine, &options, &sweep) == NEUNEU_OK && sweep != NULL);
    /* The sweep shares the model: the engine handle may go first. */
    neuneu_engine_free(engine);
    engine = NULL;

    /* Arm 3 has one point (young); the others four. */
    for (int a = 0; a < 4; a++)
        for (int t = 0; t < (a == 3 ? 1 : 4); t++)
            CHECK(neuneu_sweep_observe(sweep, ARMS[a], 1000.0 * (t + 1), loss(a, t)) == NEUNEU_OK);
    /* A repeated point is a no-op; a step back, a conflicting value, a negative loss are
     * errors for that arm only, naming it. */
    CHECK(neuneu_sweep_observe(sweep, ARMS[0], 4000, loss(0, 3)) == NEUNEU_OK);
    CHECK(neuneu_sweep_observe(sweep, ARMS[0], 2000, 1.0) == NEUNEU_ERR_INVALID_INPUT);
    CHECK(strstr(neuneu_last_error(), "lr=1e-3") != NULL);
    CHECK(neuneu_sweep_observe(sweep, ARMS[0], 4000, 9.0) == NEUNEU_ERR_INVALID_INPUT);
    CHECK(neuneu_sweep_observe(sweep, "new", 1000, -0.5) == NEUNEU_ERR_INVALID_INPUT);
    CHECK(neuneu_sweep_observe(sweep, ARMS[1], NAN, 1.0) == NEUNEU_ERR_INVALID_INPUT);
    CHECK(neuneu_sweep_observe(NULL, ARMS[1], 5000, 1.0) == NEUNEU_ERR_NULL_POINTER);
    CHECK(neuneu_sweep_observe(sweep, NULL, 5000, 1.0) == NEUNEU_ERR_NULL_POINTER);
    CHECK(neuneu_sweep_observe(sweep, "\xff", 5000, 1.0) == NEUNEU_ERR_INVALID_ARGUMENT);
    CHECK(neuneu_sweep_set_end(sweep, ARMS[2], 12000) == NEUNEU_OK);
    CHECK(neuneu_sweep_set_end(sweep, ARMS[2], -1) == NEUNEU_ERR_INVALID_INPUT);

    /* A decision over every live arm: the young one is kept with its reason; the lowest
     * losses are the likeliest; forecasts are losses with q10 <= median <= q90. */
    neuneu_decision *first = NULL;
    CHECK(neuneu_sweep_decide(sweep, NULL, 0, &first) == NEUNEU_OK && first != NULL);
    CHECK(neuneu_decision_len(first) == 4 && neuneu_decision_k(first) == 2 && neuneu_decision_index(first) == 0);
    neuneu_arm_verdict v = {.version = NEUNEU_ARM_VERDICT_VERSION};
    double p[4];
    for (size_t i = 0; i < 4; i++) {
        CHECK(neuneu_decision_arm(first, i, &v) == NEUNEU_OK);
        CHECK(strcmp(v.id, ARMS[i]) == 0);
        p[i] = v.p_top_k;
        if (i == 3) {
            CHECK(v.action == NEUNEU_ACTION_CONTINUE && isnan(v.p_top_k) && strstr(v.reason, "needs 2 points") != NULL);
        } else {
            CHECK(v.q10 <= v.median && v.median <= v.q90 && v.median > 0 && v.median < 3);
            CHECK(v.end_step == (i == 2 ? 12000 : 20000));
        }
    }
    CHECK(p[0] > p[2] && fabs(p[0] + p[1] + p[2] - 2.0) < 1e-9);
    CHECK(neuneu_decision_arm(first, 4, &v) == NEUNEU_ERR_INVALID_ARGUMENT);
    v.version = 0;
    CHECK(neuneu_decision_arm(first, 0, &v) == NEUNEU_ERR_INVALID_ARGUMENT);
    v.version = NEUNEU_ARM_VERDICT_VERSION;
    neuneu_decision_free(first);

    /* The sweep's forecast of one arm, in loss units. */
    const double at[] = {10000, 20000};
    double q[10];
    CHECK(neuneu_sweep_forecast(sweep, ARMS[0], at, 2, q, 10) == NEUNEU_OK);
    CHECK(q[0] <= q[2] && q[2] <= q[4] && q[7] <= q[2] + 0.5);
    CHECK(neuneu_sweep_forecast(sweep, ARMS[0], at, 2, q, 9) == NEUNEU_ERR_BUFFER_TOO_SMALL);
    CHECK(neuneu_sweep_forecast(sweep, "nobody", at, 2, q, 10) == NEUNEU_ERR_INVALID_INPUT);

    /* Token losses of an arm's last checkpoint reach its forecast (its band: the default
       model's median is its trees', which read no losses); refusals name what is wrong. */
    float tokens[64];
    for (int i = 0; i < 64; i++) tokens[i] = 0.5f + 0.1f * (float)(i % 9);
    double r[10];
    CHECK(neuneu_sweep_observe_losses(sweep, ARMS[0], 4000, tokens, 64) == NEUNEU_OK);
    CHECK(neuneu_sweep_forecast(sweep, ARMS[0], at, 2, r, 10) == NEUNEU_OK);
    CHECK(memcmp(q, r, sizeof q) != 0);
    CHECK(neuneu_sweep_observe_losses(sweep, ARMS[0], 3500, tokens, 64) == NEUNEU_ERR_INVALID_INPUT);
    CHECK(strstr(neuneu_last_error(), "no value observed at step 3500") != NULL);
    CHECK(neuneu_sweep_observe_losses(sweep, ARMS[0], 4000, NULL, 64) == NEUNEU_ERR_NULL_POINTER);
    CHECK(neuneu_sweep_observe_losses(sweep, ARMS[0], 4000, tokens, 0) == NEUNEU_ERR_INVALID_INPUT);
    tokens[3] = -1.0f;
    CHECK(neuneu_sweep_observe_losses(sweep, ARMS[0], 4000, tokens, 64) == NEUNEU_ERR_INVALID_INPUT);
    CHECK(strstr(neuneu_last_error(), "negative") != NULL);

    /* Save; go on with the original; load the copy; both make the same next decisions. */
    size_t need = 0;
    CHECK(neuneu_sweep_save(sweep, NULL, 0, &need) == NEUNEU_ERR_BUFFER_TOO_SMALL && need > 100);
    char *saved = malloc(need);
    CHECK(neuneu_sweep_save(sweep, saved, need, NULL) == NEUNEU_OK && strlen(saved) + 1 == need);
    engine = NULL;
    CHECK(neuneu_engine_new_default(&engine) == NEUNEU_OK);
    neuneu_sweep *copy = NULL;
    CHECK(neuneu_sweep_load(engine, (const uint8_t *)"{}", 2, &copy) == NEUNEU_ERR_INVALID_ARGUMENT && copy == NULL);
    CHECK(neuneu_sweep_load(engine, (const uint8_t *)saved, need, &copy) == NEUNEU_OK && copy != NULL);
    free(saved);

    char a[4096], b[4096];
    neuneu_sweep *both[2] = {sweep, copy};
    char *text[2] = {a, b};
    for (int s = 0; s < 2; s++) {
        CHECK(neuneu_sweep_observe(both[s], ARMS[3], 2000, loss(3, 1)) == NEUNEU_OK);
        CHECK(neuneu_sweep_finish(both[s], ARMS[1]) == NEUNEU_OK);
        CHECK(neuneu_sweep_stop(both[s], ARMS[2]) == NEUNEU_OK);
        const char *rung[] = {ARMS[0], ARMS[3], ARMS[1]};
        neuneu_decision *d = NULL;
        CHECK(neuneu_sweep_decide(both[s], rung, 3, &d) == NEUNEU_OK);
        CHECK(neuneu_decision_index(d) == 1 && neuneu_decision_len(d) == 3);
        describe(d, text[s], sizeof a);
        neuneu_decision_free(d);
    }
    CHECK(strcmp(a, b) == 0);
    CHECK(strstr(a, "lr=3e-3 2 ") != NULL); /* the finished arm's action */

    /* Finished and stopped arms refuse what no longer applies; unknown arms are named. */
    CHECK(neuneu_sweep_observe(sweep, ARMS[1], 9000, 1.0) == NEUNEU_ERR_INVALID_INPUT);
    CHECK(neuneu_sweep_stop(sweep, ARMS[1]) == NEUNEU_ERR_INVALID_INPUT);
    CHECK(neuneu_sweep_finish(sweep, ARMS[2]) == NEUNEU_ERR_INVALID_INPUT);
    CHECK(neuneu_sweep_finish(sweep, "nobody") == NEUNEU_ERR_INVALID_INPUT);
    const char *unknown[] = {"nobody"};
    neuneu_decision *none = (neuneu_decision *)0x1;
    CHECK(neuneu_sweep_decide(sweep, unknown, 1, &none) == NEUNEU_ERR_INVALID_INPUT && none == NULL);
    CHECK(strstr(neuneu_last_error(), "nobody") != NULL);
    CHECK(neuneu_sweep_decide(sweep, NULL, 2, &none) == NEUNEU_ERR_NULL_POINTER);

    /* Bad options: each refused with a message, never a crash. */
    neuneu_sweep *bad = (neuneu_sweep *)0x1;
    neuneu_sweep_options o;
    neuneu_sweep_options_init(&o, NEUNEU_SWEEP_OPTIONS_VERSION);
    o.policy = 17;
    CHECK(neuneu_sweep_new(engine, &o, &bad) == NEUNEU_ERR_INVALID_ARGUMENT && bad == NULL);
    neuneu_sweep_options_init(&o, NEUNEU_SWEEP_OPTIONS_VERSION);
    o.metric_kind = 9;
    CHECK(neuneu_sweep_new(engine, &o, &bad) == NEUNEU_ERR_INVALID_ARGUMENT);
    neuneu_sweep_options_init(&o, NEUNEU_SWEEP_OPTIONS_VERSION);
    o.k = 0;
    CHECK(neuneu_sweep_new(engine, &o, &bad) == NEUNEU_ERR_INVALID_ARGUMENT);
    neuneu_sweep_options_init(&o, NEUNEU_SWEEP_OPTIONS_VERSION);
    o.end_step = -5;
    CHECK(neuneu_sweep_new(engine, &o, &bad) == NEUNEU_ERR_INVALID_ARGUMENT);
    o.version = 0;
    CHECK(neuneu_sweep_new(engine, &o, &bad) == NEUNEU_ERR_INVALID_ARGUMENT);
    CHECK(neuneu_sweep_new(NULL, &o, &bad) == NEUNEU_ERR_NULL_POINTER);
    CHECK(neuneu_sweep_new(engine, NULL, &bad) == NEUNEU_ERR_NULL_POINTER);
    neuneu_sweep_options_init(&o, NEUNEU_SWEEP_OPTIONS_VERSION);
    o.calibrate = 2;
    CHECK(neuneu_sweep_new(engine, &o, &bad) == NEUNEU_ERR_INVALID_ARGUMENT);
    CHECK(strstr(neuneu_last_error(), "calibrate") != NULL);

    /* A version-1 caller allocated the struct without `calibrate`: it is never read past. */
    neuneu_sweep_options *v1 = malloc(offsetof(neuneu_sweep_options, calibrate));
    CHECK(neuneu_sweep_options_init(v1, 1) == NEUNEU_OK && v1->version == 1 && v1->k == 3);
    neuneu_sweep *old = NULL;
    CHECK(neuneu_sweep_new(engine, v1, &old) == NEUNEU_OK && old != NULL);
    neuneu_sweep_free(old);
    free(v1);

    /* Calibrated on the finished arms: once 5 have finished, an arm with one point is judged
     * from how they went on (an uncalibrated sweep keeps it, "needs 2 points"). Their losses
     * differ by a constant, so in the model's space (exp(-loss)) by a factor: each grew by the
     * same factor from the cut, and their growth is what forecasts them best. */
    neuneu_sweep_options_init(&o, NEUNEU_SWEEP_OPTIONS_VERSION);
    o.metric_kind = NEUNEU_METRIC_LOSS;
    o.direction = NEUNEU_MINIMIZE;
    o.k = 1;
    o.end_step = 8000;
    o.calibrate = 1;
    neuneu_sweep *calibrated = NULL;
    CHECK(neuneu_sweep_new(engine, &o, &calibrated) == NEUNEU_OK);
    for (int a = 0; a < 5; a++) {
        char id[16];
        snprintf(id, sizeof id, "done-%d", a);
        for (int t = 0; t < 8; t++)
            CHECK(neuneu_sweep_observe(calibrated, id, 1000.0 * (t + 1), 1.0 + 0.1 * a + 2.0 / (1.0 + t)) == NEUNEU_OK);
        CHECK(neuneu_sweep_finish(calibrated, id) == NEUNEU_OK);
    }
    CHECK(neuneu_sweep_observe(calibrated, "young", 1000, 3.9) == NEUNEU_OK);
    const char *young[] = {"young"};
    neuneu_decision *judged = NULL;
    CHECK(neuneu_sweep_decide(calibrated, young, 1, &judged) == NEUNEU_OK);
    CHECK(neuneu_decision_arm(judged, 0, &v) == NEUNEU_OK);
    CHECK(!isnan(v.p_top_k) && strstr(v.reason, "growth of 5 finished arms") != NULL);
    /* Its final loss, forecast from the others' growth, is far above the best finished one. */
    CHECK(v.action == NEUNEU_ACTION_STOP && v.median > 1.5);
    CHECK(neuneu_decision_k_requested(judged) == 1 && neuneu_decision_k_requested(NULL) == 0);
    neuneu_decision_free(judged);
    neuneu_sweep_free(calibrated);

    /* Adapted to its finished arms: ten runs whose loss drops by 0.4 at their 6th point, which
     * nothing in their first five announces; a live arm five points in is then forecast with
     * the drop. */
    neuneu_sweep *learning = NULL;
    o.calibrate = 0;
    CHECK(neuneu_sweep_new(engine, &o, &learning) == NEUNEU_OK);
    for (int a = 0; a < 10; a++) {
        char id[16];
        snprintf(id, sizeof id, "done-%d", a);
        for (int t = 0; t < 8; t++)
            CHECK(neuneu_sweep_observe(learning, id, 1000.0 * (t + 1), dropping(a, t)) == NEUNEU_OK);
        CHECK(neuneu_sweep_finish(learning, id) == NEUNEU_OK);
    }
    for (int t = 0; t < 5; t++)
        CHECK(neuneu_sweep_observe(learning, "live", 1000.0 * (t + 1), dropping(3, t)) == NEUNEU_OK);
    const double end[] = {8000};
    double before[16], after[16];
    size_t levels = neuneu_engine_num_levels(engine), median = levels / 2;
    CHECK(neuneu_sweep_forecast(learning, "live", end, 1, before, levels) == NEUNEU_OK);
    neuneu_adapt_options ao;
    CHECK(neuneu_adapt_options_init(&ao, NEUNEU_ADAPT_OPTIONS_VERSION) == NEUNEU_OK);
    CHECK(ao.holdout == 0.2 && ao.loss_summary == NEUNEU_LOSS_SUMMARY_MEAN_P);
    neuneu_adapted *adapted = NULL;
    CHECK(neuneu_sweep_adapt(learning, NULL, 0, &ao, &adapted) == NEUNEU_OK && adapted != NULL);
    CHECK(neuneu_adapted_runs_fitted(adapted) + neuneu_adapted_runs_held_out(adapted) == 10);
    double mae_adapted = NAN, mae_base = NAN;
    CHECK(neuneu_adapted_held_out_mae(adapted, &mae_adapted, &mae_base, NULL) == NEUNEU_OK);
    CHECK(mae_adapted < mae_base);
    /* Its bytes are a bundle an engine loads; the sweep goes on with it. */
    const uint8_t *bytes = NULL;
    size_t n_bytes = 0;
    CHECK(neuneu_adapted_bundle(adapted, &bytes, &n_bytes) == NEUNEU_OK && n_bytes > 0);
    neuneu_engine *reloaded = NULL;
    CHECK(neuneu_engine_new_from_memory(&reloaded, bytes, n_bytes) == NEUNEU_OK);
    neuneu_engine_free(reloaded);
    neuneu_engine *tuned = NULL;
    CHECK(neuneu_adapted_engine(adapted, NEUNEU_BACKEND_CPU, &tuned) == NEUNEU_OK);
    CHECK(neuneu_sweep_set_engine(learning, tuned) == NEUNEU_OK);
    neuneu_engine_free(tuned);
    neuneu_adapted_free(adapted);
    CHECK(neuneu_sweep_forecast(learning, "live", end, 1, after, levels) == NEUNEU_OK);
    double truth = dropping(3, 7);
    CHECK(fabs(after[median] - truth) < 0.5 * fabs(before[median] - truth));
    /* Bad input: NULL handles, an unknown version or summary, a corrupt base, too few arms. */
    CHECK(neuneu_sweep_adapt(NULL, NULL, 0, NULL, &adapted) == NEUNEU_ERR_NULL_POINTER && adapted == NULL);
    CHECK(neuneu_sweep_adapt(learning, NULL, 0, NULL, NULL) == NEUNEU_ERR_NULL_POINTER);
    CHECK(neuneu_adapt_options_init(&ao, 99) == NEUNEU_ERR_INVALID_ARGUMENT);
    CHECK(neuneu_adapt_options_init(&ao, NEUNEU_ADAPT_OPTIONS_VERSION) == NEUNEU_OK);
    ao.loss_summary = 7;
    CHECK(neuneu_sweep_adapt(learning, NULL, 0, &ao, &adapted) == NEUNEU_ERR_INVALID_ARGUMENT);
    CHECK(strstr(neuneu_last_error(), "loss_summary") != NULL);
    ao.loss_summary = NEUNEU_LOSS_SUMMARY_MEAN_P;
    ao.holdout = 1.5;
    CHECK(neuneu_sweep_adapt(learning, NULL, 0, &ao, &adapted) == NEUNEU_ERR_INVALID_ARGUMENT);
    CHECK(strstr(neuneu_last_error(), "holdout") != NULL);
    const uint8_t junk[] = {1, 2, 3};
    CHECK(neuneu_sweep_adapt(learning, junk, sizeof junk, NULL, &adapted) == NEUNEU_ERR_BUNDLE);
    CHECK(neuneu_sweep_set_engine(learning, NULL) == NEUNEU_ERR_NULL_POINTER);
    CHECK(neuneu_adapted_bundle(NULL, &bytes, &n_bytes) == NEUNEU_ERR_NULL_POINTER);
    CHECK(neuneu_adapted_runs_fitted(NULL) == 0);
    neuneu_adapted_free(NULL);
    neuneu_sweep *few = NULL;
    CHECK(neuneu_sweep_new(engine, &o, &few) == NEUNEU_OK);
    for (int t = 0; t < 8; t++)
        CHECK(neuneu_sweep_observe(few, "only", 1000.0 * (t + 1), dropping(0, t)) == NEUNEU_OK);
    CHECK(neuneu_sweep_finish(few, "only") == NEUNEU_OK);
    CHECK(neuneu_sweep_adapt(few, NULL, 0, NULL, &adapted) == NEUNEU_ERR_INVALID_ARGUMENT && adapted == NULL);
    CHECK(strstr(neuneu_last_error(), "1 finished arm(s)") != NULL);
    neuneu_sweep_free(few);
    neuneu_sweep_free(learning);

    CHECK(neuneu_decision_len(NULL) == 0 && neuneu_decision_k(NULL) == 0);
    neuneu_decision_free(NULL);
    neuneu_sweep_free(NULL);
    neuneu_sweep_free(sweep);
    neuneu_sweep_free(copy);
    neuneu_engine_free(engine);

    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("sweep_test: all checks passed\n");
    return 0;
}
