/* test_optim.c — AdamW and gradient clipping against PyTorch
 * (tests/data/adamw_ref.json, written by tools/torch_optim_ref.py), the
 * slice-wise update equals the whole-vector one, and the learning-rate
 * schedules hit their defined points. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>

#include "sa/optim.h"
#include "sa_test.h"

static float num(json_t *a, size_t i) { return (float)json_number_value(json_array_get(a, i)); }

static void test_adamw_matches_pytorch(sa_test *t) {
    const char *root = getenv("SA_ROOT");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/adamw_ref.json", root ? root : ".");
    json_error_t je;
    json_t *doc = json_load_file(path, 0, &je);
    SA_REQUIRE(t, doc != NULL);
    json_t *cfg = json_object_get(doc, "config"), *p0 = json_object_get(doc, "params0");
    json_t *grads = json_object_get(doc, "grads"), *lrs = json_object_get(doc, "lrs");
    json_t *norms = json_object_get(doc, "norms"), *traj = json_object_get(doc, "params");
    size_t n = json_array_size(p0), steps = json_array_size(grads);
    SA_REQUIRE(t, n == 12 && steps == 8);
    sa_adamw_params hp = {(float)json_number_value(json_object_get(cfg, "beta1")),
                          (float)json_number_value(json_object_get(cfg, "beta2")),
                          (float)json_number_value(json_object_get(cfg, "eps")),
                          (float)json_number_value(json_object_get(cfg, "weight_decay"))};
    float max_norm = (float)json_number_value(json_object_get(cfg, "max_norm"));
    sa_adamw a, b;
    sa_err e = {0};
    SA_REQUIRE_OK(t, sa_adamw_init(&a, n, hp, &e), &e);
    SA_REQUIRE_OK(t, sa_adamw_init(&b, n, hp, &e), &e);
    float pa[12], pb[12], g[12];
    for (size_t i = 0; i < n; i++) pa[i] = pb[i] = num(p0, i);
    double worst = 0;
    for (size_t s = 0; s < steps; s++) {
        for (size_t i = 0; i < n; i++) g[i] = num(json_array_get(grads, s), i);
        float norm = sa_grad_clip(g, n, max_norm);
        SA_CHECKF(t, fabsf(norm - num(norms, s)) <= 1e-5f * num(norms, s), "step %zu: norm %g vs %g", s, norm,
                  num(norms, s));
        float lr = num(lrs, s);
        sa_adamw_step(&a, pa, g, lr);
        /* the same step applied slice by slice */
        sa_adamw_tick(&b);
        sa_adamw_update(&b, pb, g, 0, 5, lr);
        sa_adamw_update(&b, pb + 5, g + 5, 5, n - 5, lr);
        for (size_t i = 0; i < n; i++) {
            /* fp32 on both sides with different operation order: a few ulp */
            double d = fabs((double)pa[i] - num(json_array_get(traj, s), i));
            if (d > worst) worst = d;
            SA_CHECK(t, pa[i] == pb[i]);
        }
    }
    SA_CHECKF(t, worst < 2e-6, "AdamW drifts from PyTorch by %g", worst);
    fprintf(stderr, "  AdamW vs PyTorch: max |diff| %.2e over %zu steps\n", worst, steps);
    sa_adamw_free(&a);
    sa_adamw_free(&b);
    json_decref(doc);
    SA_CHECK_EQ_INT(t, sa_adamw_init(&a, 4, (sa_adamw_params){1.0f, 0.9f, 1e-8f, 0}, &e), SA_ERR_INVALID_ARG);
}

static void test_schedules(sa_test *t) {
    /* the paper: 1e-5 -> 9e-6 linearly */
    sa_lr_schedule s = {.type = SA_LR_LINEAR, .lr = 1e-5f, .lr_final = 9e-6f, .total_steps = 100};
    SA_CHECK(t, sa_lr_at(&s, 0) == 1e-5f);
    SA_CHECK(t, fabsf(sa_lr_at(&s, 50) - 9.5e-6f) < 1e-12f);
    SA_CHECK(t, fabsf(sa_lr_at(&s, 100) - 9e-6f) < 1e-12f && fabsf(sa_lr_at(&s, 500) - 9e-6f) < 1e-12f);
    s = (sa_lr_schedule){.type = SA_LR_COSINE, .lr = 1.0f, .lr_final = 0.0f, .warmup = 10, .total_steps = 110};
    SA_CHECK(t, fabsf(sa_lr_at(&s, 0) - 0.1f) < 1e-7f && sa_lr_at(&s, 9) == 1.0f);
    SA_CHECK(t, fabsf(sa_lr_at(&s, 10) - 1.0f) < 1e-7f && fabsf(sa_lr_at(&s, 60) - 0.5f) < 1e-6f);
    SA_CHECK(t, fabsf(sa_lr_at(&s, 110)) < 1e-7f);
    s.type = SA_LR_CONSTANT;
    SA_CHECK(t, sa_lr_at(&s, 1000) == 1.0f);
    sa_lr_type ty;
    sa_err e = {0};
    SA_CHECK_OK(t, sa_lr_type_parse("cosine", &ty, &e), &e);
    SA_CHECK(t, ty == SA_LR_COSINE);
    SA_CHECK_EQ_INT(t, sa_lr_type_parse("step", &ty, &e), SA_ERR_INVALID_ARG);
    /* clipping leaves small gradients alone */
    float g[2] = {0.3f, 0.4f};
    SA_CHECK(t, fabsf(sa_grad_clip(g, 2, 1.0f) - 0.5f) < 1e-7f && g[0] == 0.3f);
}

static const sa_test_def tests[] = {
    {"adamw_matches_pytorch", test_adamw_matches_pytorch},
    {"schedules", test_schedules},
};
SA_TEST_MAIN(tests)
