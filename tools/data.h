/* What `dlc train` and `dlc predict` share about data: which source a run reads (the
 * model's `data` entry or a file named on the command line), loading it for a compiled
 * model, and the standardisation a checkpoint carries. Driver code: errors are printed
 * to stderr ("dlc train: error: ...") and the functions return false. */
#ifndef DLC_TOOLS_DATA_H
#define DLC_TOOLS_DATA_H

#include <stdbool.h>
#include <stdio.h>

#include "ir.h"
#include "rt_prep.h"
#include "rt_train.h"

/* The data source of a run: `data_arg` (a file, relative to the working directory) when
 * given, with the model's column choice; else the model's own `data` entry, whose
 * relative paths are taken from the model file's folder (or, when no file is there, from
 * the working directory). `cmd` names the command in messages.
 * The data preparation the entry declares (missing, categorical, dummy_na, unseen) goes
 * to *prep (the caller's to rt_prep_free(), also on failure) and out->prep points at it;
 * without one both stay NULL. */
bool drv_data_spec(const char *cmd, const ir_module *m, const char *model_path, const char *data_arg,
                   rt_data_spec *out, rt_prep **prep);

/* A CSV source that names no feature columns (every column but the label, in file order)
 * reads the columns a checkpoint records training read (RT_META_FEATURES), by name: a file
 * with its columns in another order, or with others besides, gives the same features. No
 * change for other sources, or a checkpoint (ck, opened from `checkpoint`) without them. */
bool drv_recorded_columns(const char *cmd, const char *checkpoint, rt_st_file *ck, rt_data_spec *spec);

/* The same for the columns a dataset was read from (a --test file read as the training
 * file was). */
bool drv_read_columns(const char *cmd, const rt_dataset *read, rt_data_spec *spec);

/* Loads `spec` for `desc`; `what` says which data in messages ("training data"). */
bool drv_data_load(const char *cmd, const rt_data_spec *spec, const dlc_model_desc *desc, uint64_t seed,
                   bool allow_no_label, rt_dataset *out);

/* A parameter's values as "[1.99, -3.4]" (at most `max` shown, then "..."). */
void drv_print_values(FILE *out, const float *v, int64_t n, int64_t max);

/* The most threads --threads accepts: the thread pool's own bound (rt_threads_set). */
#define DRV_MAX_THREADS 256

/* Strict numbers for options: the whole text, in range; false after printing why. */
bool drv_parse_int(const char *cmd, const char *opt, const char *text, int64_t lo, int64_t hi, int64_t *out);
bool drv_parse_double(const char *cmd, const char *opt, const char *text, double lo, double hi, double *out);

#endif
