/* The optimizer pass, numerically: @apply run by the reference interpreter for several
 * steps must follow PyTorch's torch.optim.SGD / Adam / AdamW exactly, checked two ways:
 * against those algorithms transcribed here from PyTorch 1.13's _single_tensor_* code
 * (with its control flow: the first-step b = g branch, the step count), and against
 * PyTorch itself, run by /usr/bin/python3 at test time (python3-torch is part of the
 * project's setup, so its absence is a failure, not a skip). @train_step must do what
 * @gradients followed by @apply does. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "interp.h"
#include "passes.h"

#define STEPS 6
#define NW 3 /* w: f32[3]; b: f32[] */
#define NP (NW + 1)

/* The update rule is fed made-up gradients: the update does not care where they come from. */
static const char *const gradients_text =
    "func @gradients(%x: f32[4,3] input, %w: f32[3] param, %b: f32[] param) {\n"
    "  %0 = broadcast %w : f32[4,3]\n"
    "  %1 = mul %x, %0 : f32[4,3]\n"
    "  %2 = reduce_sum %1 axes=[0,1] : f32[]\n"
    "  %3 = mul %b, %b : f32[]\n"
    "  %4 = add %2, %3 : f32[]\n"
    "  %5 = reduce_sum %x axes=[0] : f32[3]\n"
    "  %6 = const 2 : f32[]\n"
    "  %7 = mul %b, %6 : f32[]\n"
    "  output loss = %4\n"
    "  output grad.w = %5\n"
    "  output grad.b = %7\n"
    "}\n";

typedef struct {
  const char *spec; /* the meta entry */
  const char *torch; /* the same optimiser in PyTorch, over [w, b] */
  enum { SGD, ADAM, ADAMW } kind;
  double lr, momentum, dampening, wd, beta1, beta2, eps;
  bool nesterov, amsgrad;
} config;

static const config configs[] = {
    {"sgd(lr=0.03)", "torch.optim.SGD(ps, lr=0.03)", SGD, 0.03, 0, 0, 0, 0, 0, 0, false, false},
    {"sgd(lr=0.1, momentum=0.9)", "torch.optim.SGD(ps, lr=0.1, momentum=0.9)", SGD, 0.1, 0.9, 0, 0,
     0, 0, 0, false, false},
    {"sgd(lr=0.1, momentum=0.9, nesterov=true, weight_decay=1e-4)",
     "torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)", SGD, 0.1, 0.9,
     0, 1e-4, 0, 0, 0, true, false},
    {"sgd(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)",
     "torch.optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)", SGD, 0.05, 0.8,
     0.3, 0.01, 0, 0, 0, false, false},
    {"adam(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0)",
     "torch.optim.Adam(ps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)", ADAM, 1e-3, 0,
     0, 0, 0.9, 0.999, 1e-8, false, false},
    {"adam(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1, amsgrad=true)",
     "torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, amsgrad=True)",
     ADAM, 0.01, 0, 0, 0.1, 0.8, 0.99, 1e-6, false, true},
    {"adamw(lr=0.01)", "torch.optim.AdamW(ps, lr=0.01)", ADAMW, 0.01, 0, 0, 1e-2, 0.9, 0.999, 1e-8,
     false, false},
};
#define NCONFIGS ((int)(sizeof configs / sizeof configs[0]))

/* Initial parameters and the gradient fed at step t: made up, varied in sign and size. */
static double init_param(int i) { return 0.5 - 0.3 * i; }
static double grad_at(int t, int i) { return sin(1.3 * t + 0.7 * i + 0.1) * (1 + 0.5 * t); }

/* ---- PyTorch's algorithms, transcribed ----------------------------------------------------- */

typedef struct {
  double p[NP], buf[NP], m[NP], v[NP], vmax[NP];
  bool has_buf;
  int step;
} ref_state;

static void ref_sgd(const config *c, ref_state *s, const double *grad) {
  for (int i = 0; i < NP; i++) {
    double d = grad[i];
    if (c->wd != 0) d += c->wd * s->p[i];
    if (c->momentum != 0) {
      if (!s->has_buf) s->buf[i] = d; /* torch.clone(d_p).detach() */
      else s->buf[i] = c->momentum * s->buf[i] + (1 - c->dampening) * d;
      d = c->nesterov ? d + c->momentum * s->buf[i] : s->buf[i];
    }
    s->p[i] -= c->lr * d;
  }
  s->has_buf = true;
}

static void ref_adam(const config *c, ref_state *s, const double *grad) {
  s->step++;
  double bc1 = 1 - pow(c->beta1, s->step), bc2 = 1 - pow(c->beta2, s->step);
  double step_size = c->lr / bc1, bc2_sqrt = sqrt(bc2);
  for (int i = 0; i < NP; i++) {
    double g = grad[i];
    if (c->kind == ADAMW) s->p[i] *= 1 - c->lr * c->wd;
    else if (c->wd != 0) g += c->wd * s->p[i];
    s->m[i] = s->m[i] * c->beta1 + (1 - c->beta1) * g;
    s->v[i] = s->v[i] * c->beta2 + (1 - c->beta2) * g * g;
    double v = s->v[i];
    if (c->amsgrad) v = s->vmax[i] = fmax(s->vmax[i], s->v[i]);
    s->p[i] -= step_size * s->m[i] / (sqrt(v) / bc2_sqrt + c->eps);
  }
}

/* want[t][i]: parameter i after step t, by the transcription. */
static void reference_trajectory(const config *c, double want[STEPS][NP]) {
  ref_state s = {0};
  for (int i = 0; i < NP; i++) s.p[i] = init_param(i);
  for (int t = 0; t < STEPS; t++) {
    double g[NP];
    for (int i = 0; i < NP; i++) g[i] = grad_at(t, i);
    if (c->kind == SGD) ref_sgd(c, &s, g);
    else ref_adam(c, &s, g);
    memcpy(want[t], s.p, sizeof s.p);
  }
}

/* want[k][t][i] for every config k from PyTorch itself, in float64: one Python run for
 * all of them, because importing torch takes seconds. */
static void torch_trajectories(double want[NCONFIGS][STEPS][NP]) {
  char path[] = "/tmp/dlc_test_optimizer_XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  FILE *py = fdopen(fd, "w");
  fprintf(py, "import torch\ntorch.set_default_dtype(torch.float64)\n");
  for (int k = 0; k < NCONFIGS; k++) {
    fprintf(py, "w = torch.tensor([");
    for (int i = 0; i < NW; i++) fprintf(py, "%.17g,", init_param(i));
    fprintf(py, "], requires_grad=True)\nb = torch.tensor(%.17g, requires_grad=True)\n", init_param(NW));
    fprintf(py, "ps = [w, b]\nopt = %s\n", configs[k].torch);
    for (int t = 0; t < STEPS; t++) {
      fprintf(py, "w.grad = torch.tensor([");
      for (int i = 0; i < NW; i++) fprintf(py, "%.17g,", grad_at(t, i));
      fprintf(py, "])\nb.grad = torch.tensor(%.17g)\nopt.step()\n", grad_at(t, NW));
      fprintf(py, "print(' '.join(repr(float(v)) for v in list(w.detach()) + [b.detach()]))\n");
    }
  }
  fclose(py);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s 2>&1", path);
  FILE *out = popen(cmd, "r");
  cr_assert_not_null(out);
  char line[4096];
  int lines = 0;
  while (lines < NCONFIGS * STEPS && fgets(line, sizeof line, out)) {
    char *s = line, *end;
    for (int i = 0; i < NP; i++, s = end) {
      want[lines / STEPS][lines % STEPS][i] = strtod(s, &end);
      cr_assert(end != s, "PyTorch did not run (python3-torch is part of scripts/setup.sh): %s", line);
    }
    lines++;
  }
  int status = pclose(out);
  remove(path);
  cr_assert(status == 0 && lines == NCONFIGS * STEPS, "PyTorch did not run (install python3-torch)");
}

/* ---- dlc's update rule -------------------------------------------------------------------- */

static ir_module *optimised(const char *spec) {
  char text[2048];
  snprintf(text, sizeof text, "meta optimizer = \"%s\"\n%s", spec, gradients_text);
  ir_error err = {0};
  ir_module *m = ir_parse(text, strlen(text), &err);
  cr_assert_not_null(m, "%s", err.msg);
  cr_assert(pass_run_pipeline(m, "optimizer", NULL, &err), "%s: %s", spec, err.msg);
  return m;
}

/* Makes every update of f's last run the new value of its target. */
static void commit_updates(const ir_func *f, ir_interp *in) {
  for (int u = 0; u < f->nupdates; u++) {
    const char *name = f->updates[u].target->name;
    memcpy(ir_interp_arg(in, name), ir_interp_update(in, name, NULL),
           (size_t)ir_type_numel(&f->updates[u].target->type) * sizeof(double));
  }
}

/* got[t][i] from @apply run by the interpreter after `pipeline` (after optimizer). */
static void dlc_trajectory(const config *c, const char *pipeline, double got[STEPS][NP]) {
  ir_module *m = optimised(c->spec);
  ir_error err = {0};
  if (pipeline) cr_assert(pass_run_pipeline(m, pipeline, NULL, &err), "%s", err.msg);
  ir_func *apply = ir_module_find_func(m, "apply");
  cr_assert_not_null(apply);
  ir_interp *in = ir_interp_create(apply);
  for (int i = 0; i < NW; i++) ir_interp_arg(in, "w")[i] = init_param(i);
  ir_interp_arg(in, "b")[0] = init_param(NW);
  for (int t = 0; t < STEPS; t++) {
    for (int i = 0; i < NW; i++) ir_interp_arg(in, "grad.w")[i] = grad_at(t, i);
    ir_interp_arg(in, "grad.b")[0] = grad_at(t, NW);
    cr_assert(ir_interp_run(in, &err), "%s", err.msg);
    commit_updates(apply, in);
    memcpy(got[t], ir_interp_arg(in, "w"), NW * sizeof(double));
    got[t][NW] = ir_interp_arg(in, "b")[0];
  }
  ir_interp_destroy(in);
  ir_module_destroy(m);
}

static void expect_trajectory(const double got[STEPS][NP], const double want[STEPS][NP],
                              const char *spec, const char *against) {
  for (int t = 0; t < STEPS; t++)
    for (int i = 0; i < NP; i++)
      cr_expect(fabs(got[t][i] - want[t][i]) <= 1e-12 * fmax(1, fabs(want[t][i])),
                "%s vs %s: step %d param %d: dlc %.17g, want %.17g", spec, against, t + 1, i,
                got[t][i], want[t][i]);
}

Test(optimizer, apply_follows_pytorch_algorithms) {
  for (int k = 0; k < NCONFIGS; k++) {
    double got[STEPS][NP], want[STEPS][NP];
    dlc_trajectory(&configs[k], NULL, got);
    reference_trajectory(&configs[k], want);
    expect_trajectory(got, want, configs[k].spec, "the transcription");
  }
}

Test(optimizer, apply_matches_pytorch) {
  static double want[NCONFIGS][STEPS][NP];
  torch_trajectories(want);
  for (int k = 0; k < NCONFIGS; k++) {
    double got[STEPS][NP];
    dlc_trajectory(&configs[k], NULL, got);
    expect_trajectory(got, want[k], configs[k].spec, "PyTorch");
  }
}

Test(optimizer, simplified_apply_is_the_same_rule) {
  for (int k = 0; k < NCONFIGS; k++) {
    double got[STEPS][NP], want[STEPS][NP];
    dlc_trajectory(&configs[k], "simplify,verify", got);
    reference_trajectory(&configs[k], want);
    expect_trajectory(got, want, configs[k].spec, "the transcription, after simplify");
  }
}

/* @train_step = @gradients then @apply, step after step, state included. */
Test(optimizer, train_step_is_gradients_then_apply) {
  for (int k = 0; k < NCONFIGS; k++) {
    ir_module *m = optimised(configs[k].spec);
    ir_func *grads = ir_module_find_func(m, "gradients"), *apply = ir_module_find_func(m, "apply"),
            *step = ir_module_find_func(m, "train_step");
    cr_assert(grads && apply && step);
    cr_expect_eq(step->noutputs, 1);
    cr_expect_str_eq(step->outputs[0].name, "loss");
    cr_expect_eq(step->nupdates, apply->nupdates);
    ir_interp *ig = ir_interp_create(grads), *ia = ir_interp_create(apply),
              *is = ir_interp_create(step);
    ir_error err = {0};
    for (int i = 0; i < NW; i++) ir_interp_arg(ia, "w")[i] = ir_interp_arg(is, "w")[i] = init_param(i);
    ir_interp_arg(ia, "b")[0] = ir_interp_arg(is, "b")[0] = init_param(NW);
    for (int t = 0; t < STEPS; t++) {
      for (int i = 0; i < 12; i++) ir_interp_arg(ig, "x")[i] = ir_interp_arg(is, "x")[i] = grad_at(t, i);
      memcpy(ir_interp_arg(ig, "w"), ir_interp_arg(ia, "w"), NW * sizeof(double));
      ir_interp_arg(ig, "b")[0] = ir_interp_arg(ia, "b")[0];
      cr_assert(ir_interp_run(ig, &err) && ir_interp_run(is, &err), "%s", err.msg);
      cr_expect_float_eq(ir_interp_output(is, "loss", NULL)[0], ir_interp_output(ig, "loss", NULL)[0], 1e-12);
      memcpy(ir_interp_arg(ia, "grad.w"), ir_interp_output(ig, "grad.w", NULL), NW * sizeof(double));
      ir_interp_arg(ia, "grad.b")[0] = ir_interp_output(ig, "grad.b", NULL)[0];
      cr_assert(ir_interp_run(ia, &err), "%s", err.msg);
      for (int u = 0; u < apply->nupdates; u++) {
        const ir_node *target = apply->updates[u].target;
        const double *a = ir_interp_update(ia, target->name, NULL);
        const double *s = ir_interp_update(is, target->name, NULL);
        cr_assert_not_null(s, "%s: @train_step does not update %%%s", configs[k].spec, target->name);
        for (int64_t i = 0; i < ir_type_numel(&target->type); i++)
          cr_expect(fabs(a[i] - s[i]) <= 1e-12 * fmax(1, fabs(a[i])), "%s: step %d %%%s[%lld]",
                    configs[k].spec, t + 1, target->name, (long long)i);
      }
      commit_updates(apply, ia);
      commit_updates(step, is);
    }
    ir_interp_destroy(ig);
    ir_interp_destroy(ia);
    ir_interp_destroy(is);
    ir_module_destroy(m);
  }
}

/* Every STATE argument starts at zero, says the module, and @apply and @train_step agree
 * on the state they carry. */
Test(optimizer, state_is_declared_and_zero_initialised) {
  ir_module *m = optimised("adam(amsgrad=true)");
  const ir_func *apply = ir_module_find_func(m, "apply"), *step = ir_module_find_func(m, "train_step");
  const char *names[] = {"optimizer.m.w", "optimizer.m.b", "optimizer.v.w", "optimizer.v.b", "optimizer.vmax.w", "optimizer.vmax.b", IR_STEP_COUNTER};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char key[64];
    snprintf(key, sizeof key, "init.%s", names[i]);
    const char *init = ir_module_get_meta(m, key);
    cr_expect(init && strcmp(init, "zeros") == 0, "%s is %s", key, init ? init : "missing");
    const ir_node *a = ir_func_find_arg(apply, names[i]), *s = ir_func_find_arg(step, names[i]);
    cr_assert(a && s, "state %s missing", names[i]);
    cr_expect(a->op == IR_OP_STATE && s->op == IR_OP_STATE);
    cr_expect(ir_type_equal(&a->type, &s->type));
  }
  const ir_node *count = ir_func_find_arg(apply, IR_STEP_COUNTER);
  cr_expect(count->type.rank == 0 && count->type.dtype == IR_F32, "the step count is an f32 scalar");
  ir_error err = {0};
  cr_expect(ir_verify_module(m, &err), "%s", err.msg);
  ir_module_destroy(m);
}

/* Plain SGD and momentum without dampening need no step count; dampening does. */
Test(optimizer, step_count_only_where_needed) {
  const struct {
    const char *spec;
    bool has_step;
    int nstate;
  } cases[] = {
      {"sgd(lr=1)", false, 0},
      {"sgd(lr=1, momentum=0.5)", false, 2},
      {"sgd(lr=1, momentum=0.5, dampening=0.1)", true, 3},
      {"adam", true, 5},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    ir_module *m = optimised(cases[k].spec);
    const ir_func *apply = ir_module_find_func(m, "apply");
    int nstate = 0;
    for (int i = 0; i < apply->nargs; i++) nstate += apply->args[i]->op == IR_OP_STATE;
    cr_expect_eq(nstate, cases[k].nstate, "%s", cases[k].spec);
    cr_expect_eq(ir_func_find_arg(apply, IR_STEP_COUNTER) != NULL, cases[k].has_step, "%s", cases[k].spec);
    ir_module_destroy(m);
  }
}
