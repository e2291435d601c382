/* What the runtime's fuzz targets (fuzz_csv.c, fuzz_npy.c, fuzz_safetensors.c) share. The
 * readers take a path, so each input is written to a file of a private temporary folder
 * first: on /dev/shm where there is one, so that millions of runs write nothing to disk;
 * the folder goes at exit. And a reader that fails must say why: a message in
 * dlc_last_error(), which each check clears before it calls. */
#ifndef DLC_FUZZ_FILE_H
#define DLC_FUZZ_FILE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt.h"
#include "rt_train.h"

enum { FUZZ_MAX_FILES = 8 };

static char fuzz_dir[64];
static char fuzz_paths[FUZZ_MAX_FILES][128];
static int fuzz_npaths;
static char fuzz_why[640]; /* what fuzz_failed() says; static, as the checks return it */

static void fuzz_remove_files(void) {
  for (int i = 0; i < fuzz_npaths; i++) remove(fuzz_paths[i]);
  if (fuzz_dir[0]) rmdir(fuzz_dir);
}

/* The path of file `name` in the folder, made on first use; NULL if it cannot be. */
static const char *fuzz_path(const char *name) {
  if (!fuzz_dir[0]) {
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/dlc_fuzz_XXXXXX", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(fuzz_dir)) {
      fuzz_dir[0] = '\0';
      return NULL;
    }
    atexit(fuzz_remove_files);
  }
  for (int i = 0; i < fuzz_npaths; i++)
    if (!strcmp(strrchr(fuzz_paths[i], '/') + 1, name)) return fuzz_paths[i];
  if (fuzz_npaths == FUZZ_MAX_FILES) return NULL;
  snprintf(fuzz_paths[fuzz_npaths], sizeof fuzz_paths[0], "%s/%s", fuzz_dir, name);
  return fuzz_paths[fuzz_npaths++];
}

/* Writes data[0..size) to the folder's file `name`; its path, or NULL. */
static const char *fuzz_write(const char *name, const void *data, size_t size) {
  const char *path = fuzz_path(name);
  FILE *fp = path ? fopen(path, "wb") : NULL;
  if (!fp) return NULL;
  int ok = fwrite(data, 1, size, fp) == size;
  return fclose(fp) == 0 && ok ? path : NULL;
}

/* NULL when the failed call left a message, else what is wrong. */
static const char *fuzz_failed(const char *call) {
  if (dlc_last_error()[0]) return NULL;
  snprintf(fuzz_why, sizeof fuzz_why, "%s failed without a message", call);
  return fuzz_why;
}

/* The broken property as a message (in fuzz_why, which the checks return). */
static const char *fuzz_bad(const char *call, const char *what) {
  snprintf(fuzz_why, sizeof fuzz_why, "%s: %s", call, what);
  return fuzz_why;
}

/* s saved as metadata and loaded back into u (the caller frees u): NULL when u holds the same
 * floats, else what is wrong (`call` names the step, should saving or loading fail). */
static inline const char *fuzz_standardizer_round_trip(const rt_standardizer *s, rt_standardizer *u,
                                                       const char *call) {
  char *mean = NULL, *sd = NULL;
  const char *bad = NULL;
  if (rt_standardizer_to_meta(s, &mean, &sd) || rt_standardizer_from_meta(mean, sd, u))
    bad = fuzz_bad(call, dlc_last_error());
  else if (u->width != s->width || memcmp(u->mean, s->mean, (size_t)s->width * sizeof *s->mean) ||
           memcmp(u->std, s->std, (size_t)s->width * sizeof *s->std))
    bad = "a saved standardisation loads back to other floats";
  free(mean);
  free(sd);
  return bad;
}

#endif
