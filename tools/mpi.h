/* dlc's one door to MPI, for `mpirun -np N dlc train ...`. tools/mpi.c is the only file
 * that includes <mpi.h>, and only when dlc is built with MPI (CMake's DLC_MPI, which
 * defines DLC_HAVE_MPI); built without it, the same functions say so clearly when dlc
 * finds itself started by mpirun with more than one process.
 *
 * The runtime's training loop links no MPI: dist_allreduce_sum is the `allreduce_sum`
 * callback it is given (rt_dist in rt_train.h). */
#ifndef DLC_TOOLS_MPI_H
#define DLC_TOOLS_MPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
  int rank, size;     /* 0 and 1 when not distributed */
  bool initialized;   /* MPI_Init was called (and MPI_Finalize is due) */
} dist_world;

/* Whether this dlc was built with MPI. */
bool dist_built_with_mpi(void);

/* How many processes the launcher (mpirun, srun) says this job has, from its
 * environment; 1 when dlc was not started by one. */
int dist_launched_size(void);

/* Joins the job when dlc was started by a launcher: MPI_Init, then rank and size. Not
 * started by one: rank 0 of 1, MPI untouched. Built without MPI but started as one of
 * several processes: false after printing why (on stderr, as `dlc CMD: error: ...`). */
bool dist_init(const char *cmd, dist_world *w);
void dist_finalize(dist_world *w);

/* rt_dist's allreduce_sum: sums n floats in place across every rank (MPI_Allreduce,
 * MPI_IN_PLACE, in chunks below INT_MAX elements). ctx is the dist_world. */
int dist_allreduce_sum(void *ctx, float *data, int64_t n);

/* Rank `root`'s bytes into every rank's buf. 0, or -1 with dlc_last_error() set. */
int dist_broadcast(dist_world *w, void *buf, size_t bytes, int root);

/* Collective: every rank says whether its part went well and, if not, why (`why` may
 * be NULL). All ok: true. Otherwise false on every rank, with *rank the lowest rank
 * that failed and *msg (malloc'd, never NULL) its message. */
bool dist_agree(dist_world *w, bool ok, const char *why, int *rank, char **msg);

/* Ends every process of the job with this status (MPI_Abort): for a failure on one rank
 * after training started, when the others would wait for it in a sum forever. */
void dist_abort(dist_world *w, int status);


#endif
