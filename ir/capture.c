/* What the process writes on stderr between two points: for messages that come from
 * libraries (LLVM's warnings) or from many processes (ranks that all fail alike), which
 * their caller reads before it decides what the user sees. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ir.h"

bool ir_capture_begin(ir_capture *c) {
  c->saved_fd = -1;
  c->file = NULL;
  fflush(stderr);
  FILE *f = tmpfile();
  if (!f) return false;
  int saved = dup(STDERR_FILENO);
  if (saved < 0 || dup2(fileno(f), STDERR_FILENO) < 0) {
    if (saved >= 0) close(saved);
    fclose(f);
    return false;
  }
  c->saved_fd = saved;
  c->file = f;
  return true;
}

char *ir_capture_end(ir_capture *c) {
  if (c->saved_fd < 0) return NULL;
  fflush(stderr);
  dup2(c->saved_fd, STDERR_FILENO);
  close(c->saved_fd);
  c->saved_fd = -1;
  FILE *f = c->file;
  c->file = NULL;
  /* Written through the descriptor, not the FILE: read it back the same way. */
  int fd = fileno(f);
  off_t n = lseek(fd, 0, SEEK_END);
  char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (text) {
    ssize_t got = pread(fd, text, (size_t)n, 0);
    text[got > 0 ? got : 0] = '\0';
  }
  fclose(f);
  return text;
}
