/* The thread pool that compiled code calls into: a matmul kernel is split into a fixed set of
 * tasks (chosen at compile time from its shapes alone), and the pool runs them on as many
 * threads as it was told to use. Each task writes its own part of the result with the same
 * arithmetic whichever thread runs it, so results are bit-identical for any thread count.
 *
 * One pool per process, sized by rt_threads_set (default: the DLC_THREADS environment
 * variable, else 1). With one thread no worker exists and tasks run on the caller, in order.
 * The pool runs one job at a time; a job started while another runs (another caller thread,
 * or a task that starts a job of its own) runs on its caller alone, so nothing deadlocks.
 *
 * This header includes nothing of the compiler: the generated code declares the same
 * signatures itself (backend/be_matmul.c). */
#ifndef DLC_RT_THREADS_H
#define DLC_RT_THREADS_H

#include <stddef.h>
#include <stdint.h>

/* A task: ctx is the caller's, index in [0, ntasks). */
typedef void (*rt_task_fn)(void *ctx, int64_t index);

/* Threads the pool uses from now on, the caller included (clamped to [1, 256]). Starts or
 * stops workers; must not be called while a job runs. Returns 0, or -1 with the error set
 * when a worker cannot be started (the pool then keeps the threads it has). */
int rt_threads_set(int n);
/* Threads the pool uses (1 until set, unless DLC_THREADS says otherwise). */
int rt_threads_get(void);

/* Runs fn(ctx, i) for every i in [0, ntasks) and returns when all have finished. */
void rt_parallel_for(int64_t ntasks, rt_task_fn fn, void *ctx);

/* Inside a task: the slot of the calling thread in the current job, in [0, ntasks). Threads
 * running tasks of one job at the same time have distinct slots, and one thread keeps its
 * slot for the whole job: a task packs into its slot's share of its kernel's scratch, so one
 * thread reuses one share (it stays in cache) and two threads never share one. 0 outside. */
int rt_task_slot(void);

#endif
