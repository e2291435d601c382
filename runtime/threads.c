/* The process's thread pool (see rt_threads.h).
 *
 * A job is published through a generation counter, odd while the caller writes the job's
 * fields and even once they are ready. Workers spin on it for a while (a training step
 * starts kernels back to back, and a wake-up through the kernel costs tens of microseconds)
 * and then sleep on a condition variable. A worker that sees a new even generation counts
 * itself active and checks the generation again before it reads the job; the caller makes
 * the generation odd and waits for active workers to leave before it rewrites the fields.
 * So the caller never waits for a worker that is asleep or descheduled: it runs the tasks
 * nobody took and waits only for tasks that were taken. Tasks are handed out by an atomic
 * counter; which thread runs a task changes nothing in what it computes. */
#include <sched.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#include "rt_threads.h"

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

enum { MAX_THREADS = 256, SPIN_ROUNDS = 200000 };

typedef struct {
  pthread_mutex_t lock;        /* one job at a time; also guards resizing */
  pthread_mutex_t sleep_lock;  /* with wake: sleeping workers */
  pthread_cond_t wake;
  int nthreads;                /* caller included */
  int nworkers;
  pthread_t workers[MAX_THREADS];
  bool configured;             /* rt_threads_set called, or DLC_THREADS read */
  /* the job */
  _Atomic uint64_t generation; /* odd: a job being written; even: the job is ready */
  uint64_t start_generation;   /* the generation when the workers were started */
  _Atomic int active;          /* workers reading the current job */
  _Atomic int64_t finished;    /* tasks of the current job done */
  _Atomic int quit;            /* workers whose index is >= quit leave */
  rt_task_fn fn;
  void *ctx;
  int64_t ntasks;
  _Atomic int64_t next;        /* next task to hand out */
  _Atomic int slots;           /* threads that took a task of the current job */
} pool;

static pool P = {.lock = PTHREAD_MUTEX_INITIALIZER,
                 .sleep_lock = PTHREAD_MUTEX_INITIALIZER,
                 .wake = PTHREAD_COND_INITIALIZER,
                 .nthreads = 1};

/* Marks threads that are running a task, so a nested job runs inline. */
static _Thread_local bool in_task;
/* The calling thread's slot in the job it runs tasks of (rt_task_slot). */
static _Thread_local int task_slot;

static void run_tasks(void) {
  bool joined = false;
  for (;;) {
    int64_t i = atomic_fetch_add_explicit(&P.next, 1, memory_order_relaxed);
    if (i >= P.ntasks) break;
    /* A slot is taken with the first task, so slots stay below the number of tasks. */
    if (!joined) task_slot = atomic_fetch_add_explicit(&P.slots, 1, memory_order_relaxed), joined = true;
    P.fn(P.ctx, i);
    atomic_fetch_add_explicit(&P.finished, 1, memory_order_release);
  }
}

int rt_task_slot(void) { return task_slot; }

static void *worker_main(void *arg) {
  int self = (int)(intptr_t)arg;
  in_task = true;
  /* Not the current generation: a job may have been published before this thread ran. */
  uint64_t seen = P.start_generation;
  for (;;) {
    /* Spin a while for the next job, then sleep until one is published. */
    uint64_t g;
    int spins = 0;
    while (((g = atomic_load_explicit(&P.generation, memory_order_acquire)) == seen || (g & 1)) &&
           atomic_load_explicit(&P.quit, memory_order_relaxed) > self) {
      if (++spins < SPIN_ROUNDS) {
        CPU_RELAX();
        continue;
      }
      pthread_mutex_lock(&P.sleep_lock);
      while ((atomic_load_explicit(&P.generation, memory_order_acquire) == seen ||
              (atomic_load_explicit(&P.generation, memory_order_acquire) & 1)) &&
             atomic_load_explicit(&P.quit, memory_order_relaxed) > self)
        pthread_cond_wait(&P.wake, &P.sleep_lock);
      pthread_mutex_unlock(&P.sleep_lock);
      spins = 0;
    }
    if (atomic_load_explicit(&P.quit, memory_order_relaxed) <= self) break;
    seen = g;
    atomic_fetch_add_explicit(&P.active, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&P.generation, memory_order_seq_cst) == g) run_tasks();
    atomic_fetch_sub_explicit(&P.active, 1, memory_order_release);
  }
  return NULL;
}

/* Wakes sleeping workers after the generation or quit changed. */
static void wake_all(void) {
  pthread_mutex_lock(&P.sleep_lock);
  pthread_cond_broadcast(&P.wake);
  pthread_mutex_unlock(&P.sleep_lock);
}

/* Stops workers [keep, nworkers). Called with P.lock held and no job running. */
static void stop_workers(int keep) {
  atomic_store_explicit(&P.quit, keep, memory_order_release);
  wake_all();
  for (int i = keep; i < P.nworkers; i++) pthread_join(P.workers[i], NULL);
  P.nworkers = keep;
}

static int resize(int n) {
  if (n < 1) n = 1;
  if (n > MAX_THREADS) n = MAX_THREADS;
  int want = n - 1, rc = 0;
  if (want < P.nworkers) stop_workers(want);
  atomic_store_explicit(&P.quit, MAX_THREADS, memory_order_release);
  P.start_generation = atomic_load_explicit(&P.generation, memory_order_relaxed);
  while (P.nworkers < want) {
    int e = pthread_create(&P.workers[P.nworkers], NULL, worker_main, (void *)(intptr_t)P.nworkers);
    if (e != 0) {
      rt_set_error("cannot start a worker thread: %s", strerror(e));
      rc = -1;
      break;
    }
    P.nworkers++;
  }
  P.nthreads = P.nworkers + 1;
  P.configured = true;
  return rc;
}

/* The first use reads DLC_THREADS. Called with P.lock held. */
static void configure_once(void) {
  if (P.configured) return;
  const char *env = getenv("DLC_THREADS");
  int n = env ? atoi(env) : 1;
  resize(n > 0 ? n : 1);
}

int rt_threads_set(int n) {
  pthread_mutex_lock(&P.lock);
  int rc = resize(n);
  pthread_mutex_unlock(&P.lock);
  return rc;
}

int rt_threads_get(void) {
  pthread_mutex_lock(&P.lock);
  configure_once();
  int n = P.nthreads;
  pthread_mutex_unlock(&P.lock);
  return n;
}

/* Waits for a counter to drop to zero, yielding the core when it takes long (the thread
 * being waited for may need this core to run). */
static void wait_until_zero(_Atomic int *counter) {
  for (int spins = 0; atomic_load_explicit(counter, memory_order_acquire) != 0; spins++)
    if (spins > 1000) sched_yield(); else CPU_RELAX();
}

static void run_inline(int64_t ntasks, rt_task_fn fn, void *ctx) {
  int saved = task_slot;
  task_slot = 0;
  for (int64_t i = 0; i < ntasks; i++) fn(ctx, i);
  task_slot = saved;
}

void rt_parallel_for(int64_t ntasks, rt_task_fn fn, void *ctx) {
  if (ntasks <= 0) return;
  /* Nested jobs, and jobs while another caller's job runs, run here. */
  if (ntasks == 1 || in_task || pthread_mutex_trylock(&P.lock) != 0) {
    run_inline(ntasks, fn, ctx);
    return;
  }
  configure_once();
  if (P.nworkers == 0) {
    pthread_mutex_unlock(&P.lock);
    run_inline(ntasks, fn, ctx);
    return;
  }
  /* Odd: workers that see it stay away; those still inside the last job leave it. */
  atomic_fetch_add_explicit(&P.generation, 1, memory_order_seq_cst);
  wait_until_zero(&P.active);
  P.fn = fn;
  P.ctx = ctx;
  P.ntasks = ntasks;
  atomic_store_explicit(&P.next, 0, memory_order_relaxed);
  atomic_store_explicit(&P.finished, 0, memory_order_relaxed);
  atomic_store_explicit(&P.slots, 0, memory_order_relaxed);
  atomic_fetch_add_explicit(&P.generation, 1, memory_order_seq_cst);
  wake_all();
  /* This thread's slot is the job's only while the job runs: outside one it is 0 again. */
  int saved = task_slot;
  in_task = true;
  run_tasks();
  in_task = false;
  task_slot = saved;
  /* Tasks that workers took are finished before their results are used. */
  for (int spins = 0; atomic_load_explicit(&P.finished, memory_order_acquire) < ntasks; spins++)
    if (spins > 1000) sched_yield(); else CPU_RELAX();
  pthread_mutex_unlock(&P.lock);
}
