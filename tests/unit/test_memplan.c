/* The memplan pass: its report is the plan the backend compiles with (the planned scratch
 * is the descriptor's), peak bytes never fall below the lower bound, buffers whose
 * lifetimes overlap never overlap in memory, and running the pass changes no result. */
#include <inttypes.h>
#include <stdio.h>

#include "test_backend_util.h"

#define PIPELINE "shape-infer,autodiff,optimizer,simplify,fuse"

static const char *const models[] = {"linreg.dlir", "linreg_step.dlir", "mlp.dlir"};
static const char *const entries[] = {"train_step", "eval_loss", "forward", "gradients", "apply"};

static ir_module *load(const char *name, bool memplan) {
  char path[512];
  snprintf(path, sizeof path, "%s/tests/backend/Inputs/%s", DLC_SOURCE_DIR, name);
  ir_module *m = tb_parse_file(path);
  /* A module that already has its step only needs kernels. */
  const char *pl = ir_module_find_func(m, "train_step") ? "fuse" : PIPELINE;
  tb_passes(m, pl);
  if (memplan) {
    pass_options opts = {.verify_each = true,
                         .extra = &(pass_info){"memplan", be_memplan_annotate, ""}, .nextra = 1};
    ir_error err = {0};
    cr_assert(pass_run_pipeline(m, "memplan", &opts, &err), "memplan: %s", err.msg);
  }
  return m;
}

typedef struct {
  size_t bytes, offset;
  int start, end;
} buffer;

/* "... N bytes at OFF, kernels A..B" (A may be "start" for a snapshot: -1). */
static buffer parse_buffer(const char *s) {
  buffer b = {0};
  const char *p = strstr(s, " bytes at ");
  cr_assert_not_null(p, "%s", s);
  while (p > s && p[-1] != ' ') p--;
  cr_assert(sscanf(p, "%zu bytes at %zu, kernels %d..%d", &b.bytes, &b.offset, &b.start, &b.end) == 4 ||
                (sscanf(p, "%zu bytes at %zu, kernels start..%d", &b.bytes, &b.offset, &b.end) == 3 &&
                 (b.start = -1, true)),
            "%s", s);
  return b;
}

Test(memplan, peak_is_at_least_the_lower_bound_and_buffers_never_collide) {
  for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
    ir_module *m = load(models[k], true);
    const dlc_model_desc *d;
    be_jit *j = tb_jit(m, &d);
    size_t max_scratch = 0;
    int reported = 0;
    for (size_t e = 0; e < sizeof entries / sizeof entries[0]; e++) {
      char key[128];
      snprintf(key, sizeof key, "memplan.%s", entries[e]);
      const char *summary = ir_module_get_meta(m, key);
      if (!summary) continue;
      reported++;
      size_t peak, params, grads, state, scratch, bound, live;
      cr_assert(sscanf(summary,
                       "peak %zu bytes = params %zu + grads %zu + state %zu + scratch %zu; lower bound %zu = "
                       "params + grads + state + %zu live at once",
                       &peak, &params, &grads, &state, &scratch, &bound, &live) == 7,
                "%s: %s", models[k], summary);
      cr_expect_eq(params, d->param_bytes, "%s %s", models[k], entries[e]);
      cr_expect_eq(state, d->state_bytes, "%s %s", models[k], entries[e]);
      cr_expect_eq(peak, params + grads + state + scratch);
      cr_expect_eq(bound, params + grads + state + live);
      cr_expect_geq(peak, bound, "%s %s: peak %zu below the lower bound %zu", models[k], entries[e], peak, bound);
      if (scratch > max_scratch) max_scratch = scratch;
      /* Every buffer inside the scratch; two buffers live at once never share a byte. */
      buffer bufs[256];
      int n = 0;
      for (; n < 256; n++) {
        snprintf(key, sizeof key, "memplan.%s.b%02d", entries[e], n);
        const char *b = ir_module_get_meta(m, key);
        if (!b) break;
        bufs[n] = parse_buffer(b);
        cr_expect_leq(bufs[n].offset + bufs[n].bytes, scratch, "%s %s: %s", models[k], entries[e], b);
      }
      cr_expect_gt(n + (int)(scratch == 0), 0, "%s %s: no buffers listed", models[k], entries[e]);
      for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++) {
          bool live_together = bufs[a].start <= bufs[b].end && bufs[b].start <= bufs[a].end;
          bool overlap = bufs[a].offset < bufs[b].offset + bufs[b].bytes &&
                         bufs[b].offset < bufs[a].offset + bufs[a].bytes;
          cr_expect(!(live_together && overlap), "%s %s: buffers %d and %d collide", models[k], entries[e], a, b);
        }
    }
    cr_expect_geq(reported, 3, "%s: entries reported", models[k]);
    /* The backend allocates what the report says: one planner. */
    cr_expect_eq(max_scratch, d->scratch_bytes, "%s: report %zu, descriptor %zu", models[k], max_scratch,
                 d->scratch_bytes);
    be_jit_destroy(j);
    ir_module_destroy(m);
  }
}

/* Same inputs, same parameters: three training steps give bit-identical losses and
 * parameters with and without the pass (it only adds meta entries). */
Test(memplan, compiled_results_are_unchanged) {
  for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
    float losses[2][3];
    void *params[2];
    size_t pbytes = 0;
    for (int with = 0; with < 2; with++) {
      ir_module *m = load(models[k], with);
      const dlc_model_desc *d;
      be_jit *j = tb_jit(m, &d);
      tb_model tm;
      tb_model_init(&tm, d);
      uint64_t seed = 7;
      for (size_t i = 0; i < d->param_bytes / 4; i++) ((float *)tm.params)[i] = (float)tb_rand(&seed, -0.5, 0.5);
      void *in[8];
      for (int i = 0; i < d->ninputs; i++) {
        size_t bytes = tb_bytes(&d->inputs[i]);
        in[i] = tb_alloc(bytes);
        for (size_t e = 0; e < bytes / 4; e++) {
          if (d->inputs[i].dtype == DLC_I32)
            ((int32_t *)in[i])[e] = (int32_t)(e % (size_t)(d->prediction.rank > 1 ? d->prediction.shape[1] : 1));
          else
            ((float *)in[i])[e] = (float)tb_rand(&seed, -1, 1);
        }
      }
      for (int s = 0; s < 3; s++) losses[with][s] = tb_call(&tm, d->train_step, (const void *const *)in);
      pbytes = d->param_bytes;
      params[with] = tb_alloc(pbytes);
      memcpy(params[with], tm.params, pbytes);
      for (int i = 0; i < d->ninputs; i++) free(in[i]);
      tb_model_free(&tm);
      be_jit_destroy(j);
      ir_module_destroy(m);
    }
    for (int s = 0; s < 3; s++)
      cr_expect(memcmp(&losses[0][s], &losses[1][s], sizeof(float)) == 0, "%s step %d: %g vs %g", models[k], s,
                losses[0][s], losses[1][s]);
    cr_expect(memcmp(params[0], params[1], pbytes) == 0, "%s: parameters differ", models[k]);
    cr_expect(isfinite(losses[0][2]), "%s: loss %g", models[k], losses[0][2]);
    free(params[0]);
    free(params[1]);
  }
}
