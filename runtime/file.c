/* Whole-file reading and crash-safe writing. A checkpoint is written to "<path>.tmp",
 * flushed, fsync'ed and only then renamed over the old file: rename() within a
 * directory is atomic on POSIX, so a reader (or a crash) sees the old file or the new
 * one, never half of one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt.h"

int rt_read_file(const char *path, char **data, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    rt_set_error("%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  /* Size the buffer from the file's size so a large file is read in one go; grow
   * anyway in case it is not a regular file or is growing. */
  struct stat st;
  size_t cap = 1 << 16, n = 0;
  if (fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) cap = (size_t)st.st_size + 1;
  char *buf = malloc(cap + 1);
  for (;;) {
    if (!buf) {
      fclose(fp);
      rt_set_error("%s: out of memory reading the file", path);
      return -1;
    }
    n += fread(buf + n, 1, cap - n, fp);
    if (n < cap) break;
    char *bigger = realloc(buf, cap * 2 + 1);
    if (!bigger) free(buf);
    buf = bigger;
    cap *= 2;
  }
  if (ferror(fp)) {
    int e = errno;
    fclose(fp);
    free(buf);
    rt_set_error("%s: read error: %s", path, strerror(e));
    return -1;
  }
  fclose(fp);
  buf[n] = '\0';
  *data = buf;
  *len = n;
  return 0;
}

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

int rt_atomic_open(rt_atomic_file *f, const char *path) {
  memset(f, 0, sizeof *f);
  f->path = dup_str(path);
  f->tmp_path = malloc(strlen(path) + 5);
  if (!f->path || !f->tmp_path) {
    free(f->path);
    free(f->tmp_path);
    rt_set_error("%s: out of memory", path);
    return -1;
  }
  sprintf(f->tmp_path, "%s.tmp", path);
  f->fp = fopen(f->tmp_path, "wb");
  if (!f->fp) {
    rt_set_error("%s: cannot write: %s", f->tmp_path, strerror(errno));
    free(f->path);
    free(f->tmp_path);
    f->path = f->tmp_path = NULL;
    return -1;
  }
  return 0;
}

int rt_atomic_write(rt_atomic_file *f, const void *data, size_t len) {
  if (f->failed) return -1;
  if (len && fwrite(data, 1, len, f->fp) != len) {
    rt_set_error("%s: write failed: %s", f->tmp_path, strerror(errno));
    f->failed = 1;
    return -1;
  }
  return 0;
}

static void release(rt_atomic_file *f) {
  free(f->path);
  free(f->tmp_path);
  f->path = f->tmp_path = NULL;
  f->fp = NULL;
}

void rt_atomic_abort(rt_atomic_file *f) {
  if (f->fp) fclose(f->fp);
  if (f->tmp_path) remove(f->tmp_path);
  release(f);
}

/* Syncs the directory holding path, so that the rename itself survives a power cut. */
static void sync_parent_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char dir[4096];
  if (!slash) snprintf(dir, sizeof dir, ".");
  else if (slash == path) snprintf(dir, sizeof dir, "/");
  else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  int fd = open(dir, O_RDONLY);
  if (fd >= 0) {
    fsync(fd); /* best effort: some file systems refuse to sync a directory */
    close(fd);
  }
}

int rt_atomic_commit(rt_atomic_file *f) {
  if (!f->fp) return -1;
  FILE *fp = f->fp;
  int ok = !f->failed;
  if (ok && fflush(fp) != 0) {
    rt_set_error("%s: write failed: %s", f->tmp_path, strerror(errno));
    ok = 0;
  }
  if (ok && fsync(fileno(fp)) != 0 && errno != EINVAL && errno != EROFS) {
    rt_set_error("%s: sync failed: %s", f->tmp_path, strerror(errno));
    ok = 0;
  }
  f->fp = NULL;
  if (fclose(fp) != 0 && ok) {
    rt_set_error("%s: write failed: %s", f->tmp_path, strerror(errno));
    ok = 0;
  }
  if (ok && rename(f->tmp_path, f->path) != 0) {
    rt_set_error("%s: cannot replace with %s: %s", f->path, f->tmp_path, strerror(errno));
    ok = 0;
  }
  if (!ok) {
    remove(f->tmp_path);
    release(f);
    return -1;
  }
  sync_parent_dir(f->path);
  release(f);
  return 0;
}
