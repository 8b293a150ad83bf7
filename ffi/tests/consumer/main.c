/* A C program against an installed neuneu: a forecast, a sweep decision, and the enum values
 * a C caller can get wrong (an out-of-range backend or policy is an error status, not a crash).
 * Exit status 0 = every check passed. */
#include <neuneu.h>

#include <stdio.h>
#include <string.h>

static int failures = 0;
#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "FAIL %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, neuneu_last_error()); \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

int main(void) {
    CHECK(neuneu_abi_version() == NEUNEU_ABI_VERSION);
    CHECK(strcmp(neuneu_version(), "0.1.0") == 0 && NEUNEU_VERSION_MINOR == 1);

    neuneu_engine *e = (neuneu_engine *)0x1;
    CHECK(neuneu_engine_new(&e, NULL, 0, 42) == NEUNEU_ERR_INVALID_ARGUMENT && e == NULL);
    CHECK(strcmp(neuneu_status_string(NEUNEU_ERR_INVALID_ARGUMENT), "invalid argument") == 0);
    CHECK(neuneu_engine_new(&e, NULL, 0, NEUNEU_BACKEND_CPU) == NEUNEU_OK);

    const double steps[] = {1000, 2000, 4000, 1000, 2000, 4000};
    const double acc[] = {0.31, 0.35, 0.38, 0.20, 0.22, 0.23};
    const size_t ctx[] = {0, 3, 6};
    const double targets[] = {16000, 16000};
    const size_t tgt[] = {0, 1, 2};
    float q[10];
    CHECK(neuneu_forecast(e, 2, steps, acc, ctx, targets, tgt, NULL, NULL, NEUNEU_METRIC_BOUNDED,
                          NEUNEU_MAXIMIZE, q, 10, NULL) == NEUNEU_OK);
    CHECK(q[0] <= q[2] && q[2] <= q[4] && q[2] > 0.3f);

    neuneu_plan_options opts;
    CHECK(neuneu_plan_options_init(&opts, NEUNEU_PLAN_OPTIONS_VERSION) == NEUNEU_OK);
    opts.policy = 42;
    uint8_t keep[2];
    CHECK(neuneu_plan(e, 2, steps, acc, ctx, 16000, NULL, &opts, keep, NULL, NULL, NULL, NULL) ==
          NEUNEU_ERR_INVALID_ARGUMENT);
    opts.policy = NEUNEU_POLICY_KEEP_TOP_K;
    opts.k = 1;
    CHECK(neuneu_plan(e, 2, steps, acc, ctx, 16000, NULL, &opts, keep, NULL, NULL, NULL, NULL) == NEUNEU_OK);
    CHECK(keep[0] == 1 && keep[1] == 0);

    neuneu_sweep_options so;
    neuneu_sweep_options_init(&so, NEUNEU_SWEEP_OPTIONS_VERSION);
    so.policy = -1;
    neuneu_sweep *s = NULL;
    CHECK(neuneu_sweep_new(e, &so, &s) == NEUNEU_ERR_INVALID_ARGUMENT && s == NULL);
    so.policy = NEUNEU_POLICY_KEEP_TOP_K;
    so.k = 1;
    so.end_step = 16000;
    CHECK(neuneu_sweep_new(e, &so, &s) == NEUNEU_OK);
    for (int i = 0; i < 3; i++) {
        CHECK(neuneu_sweep_observe(s, "a", steps[i], acc[i]) == NEUNEU_OK);
        CHECK(neuneu_sweep_observe(s, "b", steps[3 + i], acc[3 + i]) == NEUNEU_OK);
    }
    neuneu_decision *d = NULL;
    CHECK(neuneu_sweep_decide(s, NULL, 0, &d) == NEUNEU_OK && neuneu_decision_len(d) == 2);
    neuneu_arm_verdict v = {.version = NEUNEU_ARM_VERDICT_VERSION};
    CHECK(neuneu_decision_arm(d, 1, &v) == NEUNEU_OK && v.action == NEUNEU_ACTION_STOP);
    neuneu_decision_free(d);
    neuneu_sweep_free(s);
    neuneu_engine_free(e);

    if (failures) return 1;
    printf("consumer: all checks passed\n");
    return 0;
}
