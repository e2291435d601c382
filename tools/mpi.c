/* MPI for the dlc driver (see mpi.h). With DLC_HAVE_MPI this wraps MPI_COMM_WORLD;
 * without it, dist_init refuses a multi-process launch with a message that says how to
 * get a dlc that has MPI. The stderr capture is plain POSIX and the same in both. */
#include "mpi.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

#ifdef DLC_HAVE_MPI
#include <mpi.h>
#endif

bool dist_built_with_mpi(void) {
#ifdef DLC_HAVE_MPI
  return true;
#else
  return false;
#endif
}

/* The variables OpenMPI, MPICH/Hydra, PMIx and Slurm set in every process they start. */
int dist_launched_size(void) {
  static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
    const char *v = getenv(vars[i]);
    if (v && *v) {
      long n = strtol(v, NULL, 10);
      if (n >= 1 && n <= INT_MAX) return (int)n;
    }
  }
  return 1;
}

#ifdef DLC_HAVE_MPI
static bool launched(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}
#endif

bool dist_init(const char *cmd, dist_world *w) {
  *w = (dist_world){.rank = 0, .size = 1};
#ifdef DLC_HAVE_MPI
  if (!launched()) return true;
  int provided;
  if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    fprintf(stderr, "dlc %s: error: MPI_Init failed\n", cmd);
    return false;
  }
  w->initialized = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &w->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &w->size);
  return true;
#else
  int n = dist_launched_size();
  if (n > 1) {
    if (getenv("OMPI_COMM_WORLD_RANK") && strcmp(getenv("OMPI_COMM_WORLD_RANK"), "0")) return false;
    fprintf(stderr,
            "dlc %s: error: started as one of %d processes, but this dlc was built without MPI\n"
            "note: install MPI (apt-get install libopenmpi-dev openmpi-bin, or scripts/setup.sh) and\n"
            "      rebuild dlc (cmake -DDLC_MPI=ON) to train across processes\n",
            cmd, n);
    return false;
  }
  return true;
#endif
}

void dist_finalize(dist_world *w) {
#ifdef DLC_HAVE_MPI
  if (w->initialized) MPI_Finalize();
#endif
  w->initialized = false;
}

int dist_allreduce_sum(void *ctx, float *data, int64_t n) {
  dist_world *w = ctx;
  if (w->size <= 1) return 0;
#ifdef DLC_HAVE_MPI
  for (int64_t at = 0; at < n;) {
    int chunk = n - at > INT_MAX / 2 ? INT_MAX / 2 : (int)(n - at);
    int rc = MPI_Allreduce(MPI_IN_PLACE, data + at, chunk, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
      rt_set_error("MPI_Allreduce failed (error %d)", rc);
      return -1;
    }
    at += chunk;
  }
  return 0;
#else
  (void)data, (void)n;
  rt_set_error("this dlc was built without MPI");
  return -1;
#endif
}

int dist_broadcast(dist_world *w, void *buf, size_t bytes, int root) {
  if (w->size <= 1) return 0;
#ifdef DLC_HAVE_MPI
  for (size_t at = 0; at < bytes;) {
    int chunk = bytes - at > INT_MAX / 2 ? INT_MAX / 2 : (int)(bytes - at);
    int rc = MPI_Bcast((char *)buf + at, chunk, MPI_BYTE, root, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
      rt_set_error("MPI_Bcast failed (error %d)", rc);
      return -1;
    }
    at += (size_t)chunk;
  }
  return 0;
#else
  (void)buf, (void)bytes, (void)root;
  rt_set_error("this dlc was built without MPI");
  return -1;
#endif
}

static char *dup_or_empty(const char *s) {
  char *d = strdup(s ? s : "");
  if (!d) abort(); /* a few bytes: nothing sensible remains to be done without them */
  return d;
}

bool dist_agree(dist_world *w, bool ok, const char *why, int *rank, char **msg) {
  *rank = ok ? -1 : w->rank;
  *msg = NULL;
  if (w->size <= 1) {
    if (!ok) *msg = dup_or_empty(why);
    return ok;
  }
#ifdef DLC_HAVE_MPI
  /* The lowest failing rank (size when none failed), then its message from it. */
  int mine = ok ? w->size : w->rank, first;
  MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (first == w->size) return true;
  int len = first == w->rank ? (int)strlen(why ? why : "") : 0;
  MPI_Bcast(&len, 1, MPI_INT, first, MPI_COMM_WORLD);
  char *text = malloc((size_t)len + 1);
  if (!text) abort();
  if (first == w->rank) memcpy(text, why ? why : "", (size_t)len);
  MPI_Bcast(text, len, MPI_CHAR, first, MPI_COMM_WORLD);
  text[len] = '\0';
  *rank = first;
  *msg = text;
  return false;
#else
  if (!ok) *msg = dup_or_empty(why);
  return ok;
#endif
}

void dist_abort(dist_world *w, int status) {
#ifdef DLC_HAVE_MPI
  if (w->initialized && w->size > 1) MPI_Abort(MPI_COMM_WORLD, status);
#endif
  (void)w;
  exit(status);
}

