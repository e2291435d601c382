/* What the dlc driver's subcommands share: their entry points and small helpers for
 * reading files and reporting errors the way a compiler does. */
#ifndef DLC_DRIVER_H
#define DLC_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ir.h"

#define COMMAND(name, fn, summary) int fn(int argc, char **argv);
#include "commands.def"
int cmd_compile(int argc, char **argv);

/* Whole file (or stdin for "-") into a malloc'd, NUL-terminated buffer; NULL and a
 * message on stderr if it cannot be read. */
char *drv_read_file(const char *path, size_t *len);
/* "file:line:col: error: msg" (position left out when unknown). */
void drv_report(const char *file, const ir_error *err);
/* Whether `arg` is `--name=VALUE` (VALUE into *value) or `--name` followed by a value
 * (consumed from argv, *i advanced). */
bool drv_option(int argc, char **argv, int *i, const char *name, const char **value);
/* The end of every subcommand's option loop: `arg` is no known option, so it is the input
 * file, or an error: an unknown option (printed with the usage) or a second input (`cmd` names
 * the command in the message: "dlc train"). Returns false on an error. */
bool drv_input(const char *cmd, const char *arg, const char **input, void (*usage)(FILE *));

#endif
