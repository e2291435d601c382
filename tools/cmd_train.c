/* dlc train MODEL.def: compile the model's training step with the JIT and train it on
 * its data: progress while it runs, evaluation after every epoch, a summary at the end,
 * checkpoints in safetensors. The loop itself is the runtime's (rt_train); this file is
 * the command line around it: options, data, progress, metrics, checkpoints, messages.
 *
 * Started by mpirun as one of N processes (and built with MPI), it trains data-parallel:
 * --batch is the global batch, each rank compiles the model for B / N rows and takes its
 * slice of every global batch; the ranks agree on success before training starts (one
 * message, the failing rank's, never a hang), start from rank 0's parameters, and only
 * rank 0 prints, writes metrics and checkpoints. See docs/distributed.md. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "data.h"
#include "driver.h"
#include "mpi.h"
#include "pipeline.h"
#include "rt_threads.h"
#include "rt_train.h"

typedef struct {
  const char *model, *data, *test, *save, *load, *metrics, *lr;
  double test_split;
  int64_t epochs, batch, seed, save_every, checkpoint_every, threads;
  bool has_seed, quiet, no_shuffle, standardize, time_passes;
} train_args;

static void usage(FILE *out) {
  fprintf(out,
          "usage: dlc train MODEL.def [options]\n"
          "Compiles the model's training step and trains it on the model's data source.\n"
          "  --data FILE           training data: a .csv file, or .npy files (comma-separated, one per\n"
          "                        model input); replaces the model's `data` source, keeps its columns\n"
          "  --test FILE           evaluate on this file after every epoch\n"
          "  --test-split F        hold out a seeded fraction F of the data for evaluation instead\n"
          "  --epochs N            passes over the data (default: the model's, else 10)\n"
          "  --batch B             batch size (default: the model's `batch = B`)\n"
          "  --lr X                learning rate (replaces the optimizer's lr)\n"
          "  --seed S              seeds initialisation, shuffling, splitting, synthetic data\n"
          "                        (default: the model's, else 0)\n"
          "  --standardize         scale features to mean 0, deviation 1 (training split's statistics,\n"
          "                        saved in the checkpoint for `dlc predict`)\n"
          "  --no-shuffle          batches in file order\n"
          "  --load FILE           start from a checkpoint (.safetensors): parameters and optimiser state\n"
          "  --save FILE           write the checkpoint (.safetensors) at the end\n"
          "  --save-every N        ... and after every N epochs (default: also every 60 s)\n"
          "  --checkpoint-every N  ... and after every N steps, with the run's position: the same\n"
          "                        command with --load FILE resumes where it stopped\n"
          "  --metrics FILE        one JSON object per epoch (JSON Lines)\n"
          "  --threads N           threads the compiled step runs on (default 1, or $DLC_THREADS);\n"
          "                        results are the same for any N\n"
          "  --time-passes         how long each compilation stage took\n"
          "  --quiet               print errors only\n"
          "Under mpirun -np N (dlc built with MPI), it trains data-parallel on N processes: --batch\n"
          "is the global batch and must divide by N; only rank 0 prints and writes files.\n");
}

#define CMD "train"
/* Checkpoint metadata of an unfinished run: how many of its steps were taken. */
#define META_STEP "dlc.step"

static int parse_args(int argc, char **argv, train_args *a) {
  for (int i = 1; i < argc; i++) {
    const char *v;
    const char *arg = argv[i];
    if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
      usage(stdout);
      return -1;
    } else if (drv_option(argc, argv, &i, "--data", &v)) {
      a->data = v;
    } else if (drv_option(argc, argv, &i, "--test", &v)) {
      a->test = v;
    } else if (drv_option(argc, argv, &i, "--test-split", &v)) {
      if (!drv_parse_double(CMD, "--test-split", v, 1e-9, 1 - 1e-9, &a->test_split)) return 2;
    } else if (drv_option(argc, argv, &i, "--epochs", &v)) {
      if (!drv_parse_int(CMD, "--epochs", v, 1, 1000000000, &a->epochs)) return 2;
    } else if (drv_option(argc, argv, &i, "--batch", &v)) {
      if (!drv_parse_int(CMD, "--batch", v, 1, 1 << 30, &a->batch)) return 2;
    } else if (drv_option(argc, argv, &i, "--lr", &v)) {
      double lr;
      if (!drv_parse_double(CMD, "--lr", v, 1e-30, 1e30, &lr)) return 2;
      a->lr = v;
    } else if (drv_option(argc, argv, &i, "--seed", &v)) {
      if (!drv_parse_int(CMD, "--seed", v, 0, INT64_C(9007199254740992), &a->seed)) return 2;
      a->has_seed = true;
    } else if (drv_option(argc, argv, &i, "--save", &v)) {
      a->save = v;
    } else if (drv_option(argc, argv, &i, "--save-every", &v)) {
      if (!drv_parse_int(CMD, "--save-every", v, 1, 1000000000, &a->save_every)) return 2;
    } else if (drv_option(argc, argv, &i, "--checkpoint-every", &v)) {
      if (!drv_parse_int(CMD, "--checkpoint-every", v, 1, INT64_C(1) << 50, &a->checkpoint_every)) return 2;
    } else if (drv_option(argc, argv, &i, "--load", &v)) {
      a->load = v;
    } else if (drv_option(argc, argv, &i, "--threads", &v)) {
      if (!drv_parse_int(CMD, "--threads", v, 1, DRV_MAX_THREADS, &a->threads)) return 2;
    } else if (drv_option(argc, argv, &i, "--metrics", &v)) {
      a->metrics = v;
    } else if (!strcmp(arg, "--quiet") || !strcmp(arg, "-q")) {
      a->quiet = true;
    } else if (!strcmp(arg, "--no-shuffle")) {
      a->no_shuffle = true;
    } else if (!strcmp(arg, "--standardize") || !strcmp(arg, "--standardise")) {
      a->standardize = true;
    } else if (!strcmp(arg, "--time-passes")) {
      a->time_passes = true;
    } else if (!drv_input("dlc train", arg, &a->model, usage)) {
      return 2;
    }
  }
  if (!a->model) {
    usage(stderr);
    return 2;
  }
  if (a->test && a->test_split > 0) {
    fprintf(stderr, "dlc train: error: --test and --test-split both choose the test data; give one\n");
    return 2;
  }
  if (a->checkpoint_every && !a->save) {
    fprintf(stderr, "dlc train: error: --checkpoint-every needs --save FILE (where the checkpoints go)\n");
    return 2;
  }
  return 0;
}

/* ---- state of a run, shared with the hooks ----------------------------------------- */

typedef struct {
  const train_args *a;
  dlc_model *model;
  pl_variants *variants;
  const char *model_name;
  bool tty, classifier, standardized, has_test;
  FILE *metrics;
  /* progress */
  double started, last_draw, trained_seconds;
  int64_t rows;
  int epochs;
  /* checkpoints */
  rt_meta meta[9];
  int nmeta;
  char epoch_text[24], step_text[24];
  int saved_epoch;
  double last_save;
  /* distributed */
  dist_world *world;
  int64_t global_batch;
} run;

/* Whether a checkpoint can be written to path (its temporary file created, then removed):
 * found out before training, not after it, with the weights it would have kept. */
static bool can_save(const char *path) {
  rt_atomic_file f;
  if (rt_atomic_open(&f, path)) {
    fprintf(stderr, "dlc train: error: cannot save the checkpoint: %s\n", dlc_last_error());
    return false;
  }
  rt_atomic_abort(&f);
  return true;
}

/* Only rank 0 prints progress and writes metrics and checkpoints. */
static bool lead(const run *r) { return r->world->rank == 0; }

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_rate(char *buf, size_t n, double v) {
  if (v >= 1e6)
    snprintf(buf, n, "%.1fM", v / 1e6);
  else if (v >= 1e3)
    snprintf(buf, n, "%.1fk", v / 1e3);
  else
    snprintf(buf, n, "%.0f", v);
}

static void fmt_duration(char *buf, size_t n, double s) {
  long t = s < 0 ? 0 : s > 359999 ? 359999 : (long)(s + 0.5); /* at most 99:59:59 */
  if (t >= 3600)
    snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

/* Digits of n: epoch numbers line up under each other. */
static int digits(int n) {
  int d = 1;
  while (n >= 10) n /= 10, d++;
  return d;
}

static void fmt_seconds(char *buf, size_t n, double s) {
  if (s < 0.1)
    snprintf(buf, n, "%.3g ms", s * 1e3);
  else
    snprintf(buf, n, "%.2f s", s);
}

/* The bar, redrawn in place with \r at most 20 times a second. */
static int on_step(void *ctx, const rt_train_progress *p) {
  run *r = ctx;
  if (interrupted) return 1;
  if (r->a->checkpoint_every && p->run_step % r->a->checkpoint_every == 0 && lead(r)) {
    /* The run's position goes with it, so --load resumes at the next step. */
    snprintf(r->epoch_text, sizeof r->epoch_text, "%d", p->epoch);
    snprintf(r->step_text, sizeof r->step_text, "%lld", (long long)p->run_step);
    r->meta[r->nmeta] = (rt_meta){META_STEP, r->step_text};
    if (rt_model_save(r->model, r->a->save, r->meta, r->nmeta + 1)) {
      rt_prefix_error("cannot save the checkpoint: ");
      return -1;
    }
    r->last_save = now();
  }
  if (!r->tty) return 0;
  double t = now();
  if (t - r->last_draw < 0.05 && p->step != p->steps) return 0;
  r->last_draw = t;
  double elapsed = r->trained_seconds + p->seconds;
  double done = (double)(p->epoch - 1) * (double)p->epoch_samples + (double)p->samples;
  double rate = elapsed > 0 ? done / elapsed : 0;
  double left = rate > 0 ? ((double)p->epochs * (double)p->epoch_samples - done) / rate : 0;
  enum { W = 24 };
  char bar[W + 1], rs[32], eta[48];
  int filled = (int)((double)W * (double)p->samples / (double)p->epoch_samples);
  for (int i = 0; i < W; i++) bar[i] = i < filled ? '=' : i == filled ? '>' : ' ';
  bar[W] = '\0';
  fmt_rate(rs, sizeof rs, rate);
  fmt_duration(eta, sizeof eta, left);
  printf("\repoch %*d/%d [%s] %lld/%lld  loss %.6g  %s samples/s  ETA %s\033[K", digits(p->epochs),
         p->epoch, p->epochs, bar, (long long)p->samples, (long long)p->epoch_samples, p->loss, rs, eta);
  fflush(stdout);
  return 0;
}

/* JSON has no infinity or NaN: such a value is written as the string "inf", "-inf" or
 * "nan", so that null keeps meaning that there is no value (no test set). */
static void json_number(FILE *f, const char *key, double v, bool present) {
  if (!present)
    fprintf(f, ", \"%s\": null", key);
  else if (isfinite(v))
    fprintf(f, ", \"%s\": %.9g", key, v);
  else
    fprintf(f, ", \"%s\": \"%s\"", key, isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
}

static int save_checkpoint(run *r, int epoch) {
  snprintf(r->epoch_text, sizeof r->epoch_text, "%d", epoch);
  if (rt_model_save(r->model, r->a->save, r->meta, r->nmeta)) {
    rt_prefix_error("cannot save the checkpoint: ");
    return -1;
  }
  r->saved_epoch = epoch;
  r->last_save = now();
  return 0;
}

static int on_epoch(void *ctx, const rt_epoch_stats *s) {
  run *r = ctx;
  r->trained_seconds += s->seconds;
  if (!lead(r)) return 0;
  if (!r->a->quiet) {
    char rs[32], secs[32];
    fmt_rate(rs, sizeof rs, s->samples_per_s);
    fmt_seconds(secs, sizeof secs, s->seconds);
    printf(r->tty ? "\repoch %*d/%d: train loss %.6g" : "epoch %*d/%d: train loss %.6g", digits(r->epochs),
           s->epoch, r->epochs, s->train_loss);
    if (!isnan(s->train_accuracy)) printf(", train accuracy %.4f", s->train_accuracy);
    if (r->has_test) printf(", test loss %.6g", s->test_loss);
    if (!isnan(s->test_accuracy)) printf(", test accuracy %.4f", s->test_accuracy);
    printf(", %s, %s samples/s%s\n", secs, rs, r->tty ? "\033[K" : "");
    fflush(stdout);
  }
  if (r->metrics) {
    FILE *f = r->metrics;
    fprintf(f, "{\"epoch\": %d", s->epoch);
    json_number(f, "train_loss", s->train_loss, true);
    json_number(f, "test_loss", s->test_loss, r->has_test);
    if (r->classifier) {
      double accuracy = isnan(s->test_accuracy) ? s->train_accuracy : s->test_accuracy;
      json_number(f, "accuracy", accuracy, !isnan(accuracy));
      json_number(f, "train_accuracy", s->train_accuracy, !isnan(s->train_accuracy));
      json_number(f, "test_accuracy", s->test_accuracy, !isnan(s->test_accuracy));
    }
    json_number(f, "seconds", s->seconds, true);
    json_number(f, "samples_per_s", s->samples_per_s, true);
    fprintf(f, ", \"steps\": %lld}\n", (long long)s->steps);
    if (fflush(f)) {
      rt_set_error("cannot write the metrics to %s", r->a->metrics);
      return -1;
    }
  }
  /* Periodic checkpoints: every --save-every epochs, else every minute of training. */
  if (r->a->save && s->epoch < r->epochs &&
      (r->a->save_every ? s->epoch % r->a->save_every == 0 : now() - r->last_save >= 60))
    if (save_checkpoint(r, s->epoch)) return -1;
  return 0;
}

/* ---- the summary --------------------------------------------------------------------- */

static void print_param(const dlc_tensor *t) {
  int64_t n = rt_numel(t->rank, t->shape);
  if (t->dtype == DLC_F32) drv_print_values(stdout, t->data, n, 8);
}

/* For the synthetic source, the learned weights beside the true ones: the parameter with
 * as many elements as w is w, a one-element parameter is b. */
static void print_synthetic(const dlc_model *m, const rt_data_spec *spec) {
  bool w_done = false, b_done = false;
  for (int i = 0; i < dlc_num_params(m); i++) {
    dlc_tensor t;
    if (dlc_param(m, i, &t) || t.dtype != DLC_F32) continue;
    int64_t n = rt_numel(t.rank, t.shape);
    if (!w_done && n == spec->nw && n > 1) {
      printf("learned %s = ", t.name);
      print_param(&t);
      printf("   true w = [");
      for (int j = 0; j < spec->nw; j++) printf("%s%g", j ? ", " : "", spec->w[j]);
      printf("]\n");
      w_done = true;
    } else if (!b_done && n == 1) {
      printf("learned %s = ", t.name);
      print_param(&t);
      printf("   true b = %g\n", spec->b);
      b_done = true;
    }
  }
}

/* The learning rate the optimiser setting holds, for the divergence hint. */
static double current_lr(const ir_module *m) {
  const char *opt = ir_module_get_meta(m, "optimizer");
  const char *p = opt ? strstr(opt, "lr=") : NULL;
  return p ? strtod(p + 3, NULL) : NAN;
}

static void print_summary(run *r, const rt_train_result *res, const rt_dataset *train, const rt_dataset *test,
                          const rt_data_spec *spec) {
  double loss, acc, tloss = NAN, tacc = NAN;
  if (rt_evaluate(r->model, pl_variant, r->variants, train, &loss, &acc) ||
      (test && rt_evaluate(r->model, pl_variant, r->variants, test, &tloss, &tacc))) {
    fprintf(stderr, "dlc train: error: evaluation failed: %s\n", dlc_last_error());
    return;
  }
  char rs[32], secs[32], wall[32];
  fmt_rate(rs, sizeof rs, res->seconds > 0 ? (double)res->steps / res->seconds : 0);
  fmt_seconds(secs, sizeof secs, res->seconds);
  fmt_seconds(wall, sizeof wall, now() - r->started);
  printf("trained %d epoch%s (%lld steps) in %s: %s steps/s; wall time %s (compiling and evaluating included)\n",
         res->epochs_done, res->epochs_done == 1 ? "" : "s", (long long)res->steps, secs, rs, wall);
  printf("final train loss %.6g", loss);
  if (test) printf(", test loss %.6g", tloss);
  printf("\n");
  if (!isnan(acc)) {
    printf("train accuracy %.4f", acc);
    if (!isnan(tacc)) printf(", test accuracy %.4f", tacc);
    printf("\n");
  }
  if (spec->kind == RT_SOURCE_SYNTHETIC) {
    print_synthetic(r->model, spec);
    if (r->standardized) printf("(weights of standardised features: they differ from the true ones by the scale)\n");
  }
}

/* ---- the command -------------------------------------------------------------------- */

/* ---- distributed runs ------------------------------------------------------------------ */

/* The end of the set-up, collectively: every rank says whether its set-up went well. What
 * the ranks wrote on stderr meanwhile was captured; rank 0 shows its own when all went
 * well, else the message of the lowest rank that failed, once. */
typedef struct {
  dist_world *w;
  ir_capture cap;
  bool capturing, agreed;
} setup_gate;

static bool gate_pass(setup_gate *g, bool ok) {
  if (g->agreed) return ok;
  g->agreed = true;
  char *mine = g->capturing ? ir_capture_end(&g->cap) : NULL;
  if (g->w->size <= 1) {
    if (mine) fputs(mine, stderr);
    free(mine);
    return ok;
  }
  if (!ok && (!mine || !*mine)) {
    free(mine);
    mine = strdup("dlc train: error: set-up failed\n");
  }
  int first;
  char *msg;
  bool all = dist_agree(g->w, ok, mine, &first, &msg);
  if (g->w->rank == 0) {
    if (all && mine) fputs(mine, stderr);
    if (!all) {
      fputs(msg, stderr);
      fprintf(stderr, "note: on rank %d of %d; every rank stops\n", first, g->w->size);
    }
    fflush(stderr);
  }
  free(mine);
  free(msg);
  return all;
}

/* Rank 0's parameters and optimiser state (with Adam's step counter) to every rank: the
 * same seed already gives the same start, but after --load this makes sure of it. */
static int broadcast_model(dist_world *w, dlc_model *m) {
  const dlc_model_desc *d = rt_model_desc(m);
  for (int i = 0; i < d->nparams + d->nstate; i++) {
    dlc_tensor t;
    if (i < d->nparams ? dlc_param(m, i, &t) : rt_model_state(m, i - d->nparams, &t)) return -1;
    size_t bytes = (size_t)rt_numel(t.rank, t.shape) * rt_dtype_size(t.dtype);
    if (dist_broadcast(w, t.data, bytes, 0)) return -1;
  }
  if (d->step_counter_offset >= 0 && d->nstate > 0) {
    dlc_tensor t;
    if (rt_model_state(m, 0, &t)) return -1;
    char *base = (char *)t.data - d->state[0].offset;
    if (dist_broadcast(w, base + d->step_counter_offset, sizeof(float), 0)) return -1;
  }
  return 0;
}

/* Meta text of a train setting as an integer, or `def`. */
static int64_t meta_int(const ir_module *m, const char *key, int64_t def) {
  const char *v = ir_module_get_meta(m, key);
  double d;
  return v && rt_parse_number(v, strlen(v), &d) == 0 && d >= 0 ? (int64_t)d : def;
}

int cmd_train(int argc, char **argv) {
  train_args a = {0};
  int status = parse_args(argc, argv, &a);
  if (status) return status < 0 ? 0 : status;
  status = 1;
  dist_world world;
  if (!dist_init(CMD, &world)) return 1;
  bool distributed = world.size > 1;
  if (distributed && world.rank != 0) {
    a.quiet = true;
    a.metrics = NULL;
    a.time_passes = false;
  }
  setup_gate gate = {.w = &world};
  gate.capturing = distributed && ir_capture_begin(&gate.cap);

  be_options bo = be_options_default();
  bo.threads = (int)a.threads; /* 0: the pool as it is (1 thread, or DLC_THREADS) */
  /* What the loop calls: a step (its halves, with the allreduce between them, when
   * distributed), and the loss and predictions for evaluation. */
  bo.entries = DLC_ENTRY_EVAL_LOSS | DLC_ENTRY_FORWARD |
               (distributed ? DLC_ENTRY_GRADIENTS | DLC_ENTRY_APPLY : DLC_ENTRY_TRAIN_STEP);
  pl_options po = {.path = a.model, .batch = a.batch, .lr = a.lr, .backend = &bo};
  pl_model pm = {0};
  pl_variants variants = {0};
  rt_data_spec spec = {0}, test_spec = {0};
  rt_dataset all = {0}, train = {0}, test = {0};
  rt_standardizer stdz = {0};
  rt_prep *prep = NULL;
  rt_st_file *loaded = NULL;
  dlc_model *model = NULL;
  char *mean_json = NULL, *std_json = NULL, *prep_json = NULL, *features_json = NULL;
  run r = {.a = &a, .tty = !a.quiet && isatty(STDOUT_FILENO), .world = &world};
  bool have_test = false;
  int64_t skip_steps = 0;

  double t0 = r.started = now();
  /* Distributed, --batch (else the model's batch) is the global batch: each rank's model
   * is compiled for its slice. */
  r.global_batch = a.batch;
  if (distributed) {
    if (!r.global_batch) {
      if (!pl_frontend(&po, &pm)) goto done;
      r.global_batch = meta_int(pm.module, "batch", 0);
      pl_free(&pm);
      memset(&pm, 0, sizeof pm);
      if (r.global_batch < 1) {
        fprintf(stderr, "dlc train: error: %s declares no batch size; give the global batch with --batch\n", a.model);
        goto done;
      }
    }
    if (r.global_batch % world.size) {
      fprintf(stderr,
              "dlc train: error: the global batch of %lld rows does not divide among %d processes; give --batch "
              "a multiple of %d\n",
              (long long)r.global_batch, world.size, world.size);
      goto done;
    }
    po.batch = r.global_batch / world.size;
  }
  if (!pl_compile(&po, &pm)) goto done;
  double compile_seconds = now() - t0;
  const dlc_model_desc *desc = pm.desc;
  if (!distributed) r.global_batch = desc->batch;
  uint64_t seed = a.has_seed ? (uint64_t)a.seed : (uint64_t)meta_int(pm.module, "seed", 0);
  r.epochs = (int)(a.epochs ? a.epochs : meta_int(pm.module, "epochs", 10));
  pl_variants_init(&variants, &po, seed);
  r.variants = &variants;

  /* Data: the source, the test set, standardisation. */
  if (!drv_data_spec(CMD, pm.module, a.model, a.data, &spec, &prep)) goto done;
  if (a.load && rt_st_open(a.load, &loaded)) {
    fprintf(stderr, "dlc train: error: cannot resume from %s: %s\n", a.load, dlc_last_error());
    goto done;
  }
  /* The preparation a checkpoint learned is kept when resuming, as its standardisation
   * is below: the weights were trained on those columns. Else it is fitted on the
   * training rows only (the rows --test-split keeps), in rt_prep_read_csv. */
  if (loaded) {
    rt_prep *saved = rt_prep_new();
    int has = saved ? rt_prep_from_file(saved, loaded) : -1;
    if (has < 0) {
      fprintf(stderr, "dlc train: error: %s: %s\n", a.load, saved ? dlc_last_error() : "out of memory");
      rt_prep_free(saved);
      goto done;
    }
    if (has) {
      rt_prep_free(prep);
      prep = saved;
      spec.prep = prep;
    } else {
      rt_prep_free(saved);
    }
  } else if (spec.prep) {
    if ((a.standardize && rt_prep_set(prep, "standardize", "true")) ||
        (a.test_split > 0 && rt_prep_hold_out(prep, a.test_split, seed))) {
      fprintf(stderr, "dlc train: error: %s\n", dlc_last_error());
      goto done;
    }
  }
  if (!drv_recorded_columns(CMD, a.load, loaded, &spec) || !drv_data_load(CMD, &spec, desc, seed, false, &all) ||
      !drv_read_columns(CMD, &all, &spec))
    goto done;
  /* Which columns were read, for programs that prepare new rows (dlc_prepare_csv). */
  if (!spec.prep && all.feature_names && rt_columns_to_json(all.feature_names, all.nfeatures, &features_json)) {
    fprintf(stderr, "dlc train: error: %s\n", dlc_last_error());
    goto done;
  }
  if (a.test) {
    if (rt_data_spec_for_file(a.test, &spec, &test_spec) ||
        rt_data_load(&test_spec, desc, seed, false, &test)) {
      fprintf(stderr, "dlc train: error: %s\n", dlc_last_error());
      goto done;
    }
    train = all;
    memset(&all, 0, sizeof all);
    have_test = true;
  } else if (a.test_split > 0) {
    if (rt_data_split(&all, a.test_split, seed, &train, &test)) {
      fprintf(stderr, "dlc train: error: %s\n", dlc_last_error());
      goto done;
    }
    have_test = true;
  } else {
    train = all;
    memset(&all, 0, sizeof all);
  }

  if (!(model = dlc_create_from(desc, seed))) {
    fprintf(stderr, "dlc train: error: %s\n", dlc_last_error());
    goto done;
  }
  bool fine_tune = false;
  if (a.load && dlc_load(model, a.load)) {
    /* The parameters without the rest: another optimiser trained them. */
    char why[RT_ERR_MAX];
    snprintf(why, sizeof why, "%s", dlc_last_error());
    if (rt_model_load_params(model, a.load)) {
      fprintf(stderr, "dlc train: error: cannot resume from %s: %s\n", a.load, why);
      goto done;
    }
    const char *was = rt_st_meta_get(loaded, "dlc.optimizer"), *now = ir_module_get_meta(pm.module, "optimizer");
    fprintf(stderr,
            "note: %s holds no state of %s (it was written by %s): its parameters are loaded, and the optimiser "
            "starts afresh\n",
            a.load, now ? now : "the model's optimiser", was ? was : "an unrecorded optimiser");
    fine_tune = true;
  }
  if (a.load && !fine_tune) {
    /* A checkpoint of an unfinished run (--checkpoint-every) says where it stopped. */
    const char *step = rt_st_meta_get(loaded, META_STEP);
    double d;
    if (step && (rt_parse_number(step, strlen(step), &d) || d < 0 || d != floor(d))) {
      fprintf(stderr, "dlc train: error: %s: %s is '%s', not a step count\n", a.load, META_STEP, step);
      goto done;
    }
    skip_steps = step ? (int64_t)d : 0;
  }
  /* A checkpoint's standardisation is kept when resuming, so the weights keep their meaning. */
  const char *lm = loaded ? rt_st_meta_get(loaded, RT_META_MEAN) : NULL;
  const char *ls = loaded ? rt_st_meta_get(loaded, RT_META_STD) : NULL;
  if (lm && ls) {
    if (rt_standardizer_from_meta(lm, ls, &stdz)) {
      fprintf(stderr, "dlc train: error: %s: %s\n", a.load, dlc_last_error());
      goto done;
    }
  } else if (!spec.prep && (a.standardize || spec.standardize)) { /* a preparation scales itself */
    if (rt_standardizer_fit(&train, &stdz)) {
      fprintf(stderr, "dlc train: error: %s\n", dlc_last_error());
      goto done;
    }
  }
  if (stdz.width && (rt_standardizer_apply(&stdz, &train) || (have_test && rt_standardizer_apply(&stdz, &test)))) {
    fprintf(stderr, "dlc train: error: %s\n", dlc_last_error());
    goto done;
  }

  /* Checkpoint metadata: where it came from, and what prediction must redo. */
  r.model = model;
  r.classifier = rt_is_classifier(desc, &train);
  r.has_test = have_test;
  r.standardized = stdz.width > 0 || (spec.prep && (a.standardize || spec.standardize));
  r.meta[r.nmeta++] = (rt_meta){"dlc.model", a.model};
  r.meta[r.nmeta++] = (rt_meta){"dlc.epoch", r.epoch_text};
  const char *opt = ir_module_get_meta(pm.module, "optimizer");
  if (opt) r.meta[r.nmeta++] = (rt_meta){"dlc.optimizer", opt};
  if (stdz.width) {
    if (rt_standardizer_to_meta(&stdz, &mean_json, &std_json)) {
      fprintf(stderr, "dlc train: error: %s\n", dlc_last_error());
      goto done;
    }
    r.meta[r.nmeta++] = (rt_meta){RT_META_MEAN, mean_json};
    r.meta[r.nmeta++] = (rt_meta){RT_META_STD, std_json};
  }
  if (spec.prep) {
    if (rt_prep_to_json(spec.prep, &prep_json)) {
      fprintf(stderr, "dlc train: error: %s\n", dlc_last_error());
      goto done;
    }
    r.meta[r.nmeta++] = (rt_meta){RT_META_PREP, prep_json};
  }
  if (features_json) r.meta[r.nmeta++] = (rt_meta){RT_META_FEATURES, features_json};
  if (a.save && world.rank == 0 && !can_save(a.save)) goto done;
  if (a.metrics && !(r.metrics = fopen(a.metrics, "w"))) {
    fprintf(stderr, "dlc train: error: cannot write the metrics file '%s'\n", a.metrics);
    goto done;
  }

  /* Every rank got here, or every rank stops with the failing rank's message. */
  if (!gate_pass(&gate, true)) goto done;
  if (distributed && broadcast_model(&world, model)) {
    fprintf(stderr, "dlc train: error: rank %d of %d: %s\n", world.rank, world.size, dlc_last_error());
    dist_abort(&world, 1);
  }

  if (!a.quiet) {
    printf("training %s: %lld rows", a.model, (long long)train.rows);
    if (have_test) printf(" (+ %lld for testing)", (long long)test.rows);
    char secs[32];
    fmt_seconds(secs, sizeof secs, compile_seconds);
    printf(", batch %lld", (long long)r.global_batch);
    if (distributed) printf(" (%d processes of %d rows)", world.size, desc->batch);
    printf(", %d epoch%s, %s", r.epochs, r.epochs == 1 ? "" : "s", opt ? opt : "the model's optimizer");
    if (rt_threads_get() > 1) printf(", %d threads", rt_threads_get());
    printf("; compiled in %s\n", secs);
    if (skip_steps) printf("resuming from %s after step %lld of the run\n", a.load, (long long)skip_steps);
  }
  fflush(stdout); /* before anything on stderr, so that a log of both reads in order */
  if (a.time_passes)
    fprintf(stderr, "compile time: read %.4f s, frontend %.4f s, passes %.4f s, codegen %.4f s, LLVM %.4f s, JIT %.4f s\n",
            pm.time.read, pm.time.frontend, pm.time.passes, pm.time.backend.codegen, pm.time.backend.optimize,
            pm.time.backend.jit);

  rt_dist dist = {.rank = world.rank, .size = world.size, .allreduce_sum = dist_allreduce_sum, .ctx = &world};
  rt_train_config cfg = {.epochs = r.epochs, .seed = seed, .shuffle = !a.no_shuffle, .evaluate_train = 1,
                         .dist = distributed ? &dist : NULL, .skip_steps = skip_steps};
  rt_train_hooks hooks = {.on_step = on_step, .on_epoch = on_epoch, .ctx = &r};
  rt_train_result res;
  r.last_save = now();
  void (*old)(int) = signal(SIGINT, on_sigint);
  int rc = rt_train(model, pl_variant, &variants, &train, have_test ? &test : NULL, &cfg, &hooks, &res);
  signal(SIGINT, old);
  if (r.tty && res.status != RT_TRAIN_DONE) printf("\n");
  fflush(stdout);

  if (rc || res.status == RT_TRAIN_FAILED) {
    if (!distributed) {
      fprintf(stderr, "dlc train: error: %s\n", dlc_last_error());
      goto done;
    }
    /* The other ranks may be waiting for this one in a sum: end them all. */
    fprintf(stderr, "dlc train: error: rank %d of %d: %s\n", world.rank, world.size, dlc_last_error());
    fflush(stderr);
    dist_abort(&world, 1);
  }
  if (res.status == RT_TRAIN_DIVERGED && !lead(&r)) goto done;
  if (res.status == RT_TRAIN_DIVERGED) {
    double lr = current_lr(pm.module);
    fprintf(stderr, "dlc train: error: the loss became %g at epoch %d, step %lld of %lld; training stopped\n",
            res.bad_loss, res.bad_epoch, (long long)res.bad_step,
            (long long)((train.rows + r.global_batch - 1) / r.global_batch));
    if (isfinite(lr))
      fprintf(stderr, "note: the learning rate may be too large: try a smaller one, e.g. --lr %g (now %g)\n", lr / 10,
              lr);
    else
      fprintf(stderr, "note: the learning rate may be too large: try a smaller one with --lr\n");
    if (a.save && r.saved_epoch)
      fprintf(stderr, "note: %s holds the checkpoint of epoch %d, untouched\n", a.save, r.saved_epoch);
    else if (a.save)
      fprintf(stderr, "note: nothing was saved (%s, if it exists, is untouched)\n", a.save);
    goto done;
  }
  if (res.status == RT_TRAIN_STOPPED && !a.quiet) printf("interrupted after %d epoch%s\n", res.epochs_done,
                                                         res.epochs_done == 1 ? "" : "s");
  if (a.save && lead(&r) && save_checkpoint(&r, res.epochs_done)) {
    fprintf(stderr, "dlc train: error: %s\n", dlc_last_error());
    goto done;
  }
  if (!a.quiet) {
    print_summary(&r, &res, &train, have_test ? &test : NULL, &spec);
    if (distributed)
      printf("data-parallel on %d processes: allreduce %.3f s of %.3f s training (%.1f%%)\n", world.size,
             dist.allreduce_seconds, res.seconds,
             res.seconds > 0 ? 100 * dist.allreduce_seconds / res.seconds : 0.0);
    if (a.save)
      printf("weights saved to %s\n", a.save);
    else
      printf("weights not saved (--save FILE.safetensors keeps them)\n");
  }
  status = res.status == RT_TRAIN_DONE ? 0 : 130;

done:
  if (!gate.agreed) gate_pass(&gate, false); /* a set-up failure: tell the other ranks */
  if (r.metrics && fclose(r.metrics) && status == 0) {
    fprintf(stderr, "dlc train: error: cannot write the metrics file '%s'\n", a.metrics);
    status = 1;
  }
  free(mean_json);
  free(std_json);
  free(prep_json);
  free(features_json);
  rt_st_close(loaded);
  dlc_destroy(model);
  rt_standardizer_free(&stdz);
  rt_data_free(&all);
  rt_data_free(&train);
  rt_data_free(&test);
  rt_data_spec_free(&spec);
  rt_data_spec_free(&test_spec);
  rt_prep_free(prep); /* after the specs that point at it */
  pl_variants_free(&variants);
  pl_free(&pm);
  dist_finalize(&world);
  return status;
}
