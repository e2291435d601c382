/* One reader for the call-and-value text that data sources (`csv(path=..., features=[...])`)
 * and preparation settings (`missing = fill(mean, alley = "None")`) are written in, whether
 * they come from a model's metadata or from the command line:
 *
 *   value = STRING | NUMBER | WORD | WORD "(" [arg {"," arg}] ")" | "[" [value {"," value}] "]"
 *           | WORD ".." WORD                     (a range of columns: c0..c9 names c0, ..., c9)
 *   arg   = [NAME "="] value
 *
 * A word is what the frontend writes without quotes ([A-Za-z0-9_./+-]); a word that reads as a
 * number (rt_parse_number) is a NUMBER. A range inside a list contributes its names. Not part
 * of the runtime's interface. */
#ifndef DLC_RT_SETTINGS_H
#define DLC_RT_SETTINGS_H

typedef enum { RT_VAL_WORD, RT_VAL_STRING, RT_VAL_NUMBER, RT_VAL_CALL, RT_VAL_LIST } rt_val_kind;

typedef struct rt_val rt_val;
struct rt_val {
  rt_val_kind kind;
  char *text;              /* WORD, STRING (unescaped), NUMBER (as written), CALL (its name) */
  double num;              /* NUMBER */
  int n;                   /* CALL: arguments, LIST: items */
  rt_val *items;
  char **keys;             /* CALL: each argument's keyword, or NULL when positional */
  const char *start, *end; /* the value's text in the source */
};

/* Reads the whole of `text` as one value. On failure sets the error
 * `WHAT "TEXT": MESSAGE at column N` and returns -1 with *out empty. */
int rt_val_parse(const char *what, const char *text, rt_val *out);
void rt_val_free(rt_val *v);
/* Sets the error `WHAT "TEXT": MESSAGE at column N` for the place `at` in text; returns -1. */
int rt_val_error(const char *what, const char *text, const char *at, const char *message);

#endif
