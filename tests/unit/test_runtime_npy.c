/* .npy files: round trips of every dtype, files that NumPy itself wrote (in
 * tests/unit/data, from np.save and np.lib.format.write_array), our files read back by a
 * reader independent of ours (Python's ast and struct, no NumPy needed), and the
 * refusals: Fortran order, big-endian data, truncation, wrong magic. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt.h"

#define DATA DLC_SOURCE_DIR "/tests/unit/data/"

static char tmpdir[64];
static void make_tmpdir(void) {
  strcpy(tmpdir, "/tmp/dlc_npy_XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
}
static void remove_tmpdir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  cr_assert_eq(system(cmd), 0);
}
TestSuite(npy, .init = make_tmpdir, .fini = remove_tmpdir);

static const char *tmp_path(const char *name) {
  static char path[128];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  return path;
}

static void round_trip(const dlc_tensor *t, size_t bytes) {
  const char *path = tmp_path("t.npy");
  cr_assert_eq(rt_npy_save(path, t), 0, "%s", dlc_last_error());
  dlc_tensor back;
  cr_assert_eq(rt_npy_load(path, &back), 0, "%s", dlc_last_error());
  cr_assert_eq(back.dtype, t->dtype);
  cr_assert_eq(back.rank, t->rank);
  cr_assert_arr_eq(back.shape, t->shape, sizeof(int64_t) * (size_t)t->rank);
  if (bytes) cr_assert_arr_eq(back.data, t->data, bytes);
  free(back.data);

  /* NumPy's rule: magic, version, header length, and data starting on a 64-byte boundary. */
  FILE *fp = fopen(path, "rb");
  unsigned char pre[10];
  cr_assert_eq(fread(pre, 1, 10, fp), 10u);
  fseek(fp, 0, SEEK_END);
  long size = ftell(fp);
  fclose(fp);
  cr_assert_arr_eq(pre, "\x93NUMPY\x01\x00", 8);
  size_t hlen = pre[8] | pre[9] << 8;
  cr_assert_eq((10 + hlen) % 64, 0u);
  cr_assert_eq((size_t)size, 10 + hlen + bytes);
}

Test(npy, every_dtype_round_trips) {
  float f[6] = {1, -2, 3.5f, 0, 1e-30f, -1e30f};
  round_trip(&(dlc_tensor){.dtype = DLC_F32, .rank = 2, .shape = {2, 3}, .data = f}, sizeof f);
  double d = 3.141592653589793;
  round_trip(&(dlc_tensor){.dtype = DLC_F64, .rank = 0, .data = &d}, sizeof d);
  int32_t i[5] = {-1, 0, 1, 2147483647, -2147483647 - 1};
  round_trip(&(dlc_tensor){.dtype = DLC_I32, .rank = 1, .shape = {5}, .data = i}, sizeof i);
  int64_t l[8] = {1, 2, 3, 4, 5, 6, 7, -(1ll << 50)};
  round_trip(&(dlc_tensor){.dtype = DLC_I64, .rank = 3, .shape = {2, 2, 2}, .data = l}, sizeof l);
  unsigned char b[4] = {1, 0, 0, 1};
  round_trip(&(dlc_tensor){.dtype = DLC_BOOL, .rank = 1, .shape = {4}, .data = b}, sizeof b);
  round_trip(&(dlc_tensor){.dtype = DLC_F32, .rank = 2, .shape = {0, 3}, .data = NULL}, 0);
}

Test(npy, reads_files_numpy_wrote) {
  dlc_tensor t;
  cr_assert_eq(rt_npy_load(DATA "np_f64_2x3.npy", &t), 0, "%s", dlc_last_error());
  cr_assert(t.dtype == DLC_F64 && t.rank == 2 && t.shape[0] == 2 && t.shape[1] == 3);
  const double want[6] = {1.5, -2.0, 3.25, 0.0, 1e-3, -7.0};
  cr_assert_arr_eq(t.data, want, sizeof want);
  free(t.data);

  cr_assert_eq(rt_npy_load(DATA "np_i64_4.npy", &t), 0, "%s", dlc_last_error());
  const int64_t wl[4] = {1, -2, 3, 1ll << 40};
  cr_assert(t.dtype == DLC_I64 && t.rank == 1 && t.shape[0] == 4);
  cr_assert_arr_eq(t.data, wl, sizeof wl);
  free(t.data);

  cr_assert_eq(rt_npy_load(DATA "np_bool_3.npy", &t), 0, "%s", dlc_last_error());
  cr_assert(t.dtype == DLC_BOOL && t.shape[0] == 3);
  cr_assert_arr_eq(t.data, "\1\0\1", 3);
  free(t.data);

  cr_assert_eq(rt_npy_load(DATA "np_i32_v2.npy", &t), 0, "%s", dlc_last_error()); /* format 2.0 */
  cr_assert(t.dtype == DLC_I32 && t.rank == 3 && t.shape[0] == 3 && t.shape[1] == 1 && t.shape[2] == 4);
  for (int k = 0; k < 12; k++) cr_assert_eq(((int32_t *)t.data)[k], k);
  free(t.data);

  cr_assert_eq(rt_npy_load(DATA "np_f32_scalar.npy", &t), 0, "%s", dlc_last_error());
  cr_assert(t.dtype == DLC_F32 && t.rank == 0 && *(float *)t.data == 2.5f);
  free(t.data);
}

/* Our file, read by Python's standard library alone: the header is a Python literal. */
Test(npy, our_files_read_back_by_an_independent_reader) {
  const char *path = tmp_path("indep.npy");
  float f[6] = {0.5f, -1, 2, 3, 4, 5.25f};
  cr_assert_eq(rt_npy_save(path, &(dlc_tensor){.dtype = DLC_F32, .rank = 2, .shape = {3, 2}, .data = f}), 0);
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c \"import ast,struct,sys\n"
           "b=open('%s','rb').read()\n"
           "assert b[:8]==b'\\x93NUMPY\\x01\\x00'\n"
           "n=struct.unpack('<H',b[8:10])[0]\n"
           "h=ast.literal_eval(b[10:10+n].decode('latin1'))\n"
           "assert h=={'descr':'<f4','fortran_order':False,'shape':(3,2)}, h\n"
           "v=struct.unpack('<6f',b[10+n:])\n"
           "sys.exit(0 if v==(0.5,-1.0,2.0,3.0,4.0,5.25) else 1)\"",
           path);
  cr_assert_eq(system(cmd), 0, "the independent reader disagrees");
  cr_assert_eq(rt_npy_save(path, &(dlc_tensor){.dtype = DLC_I64, .rank = 1, .shape = {1}, .data = &(int64_t){7}}), 0);
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c \"import ast,struct,sys\n"
           "b=open('%s','rb').read()\n"
           "n=struct.unpack('<H',b[8:10])[0]\n"
           "h=ast.literal_eval(b[10:10+n].decode('latin1'))\n"
           "sys.exit(0 if h['shape']==(1,) and h['descr']=='<i8' and struct.unpack('<q',b[10+n:])==(7,) else 1)\"",
           path);
  cr_assert_eq(system(cmd), 0, "a 1-tuple shape must be written as (1,)");
}

static void expect_error(const char *path, const char *want) {
  dlc_tensor t;
  cr_assert_neq(rt_npy_load(path, &t), 0, "%s should be refused", path);
  cr_assert(strstr(dlc_last_error(), want), "message \"%s\" lacks \"%s\"", dlc_last_error(), want);
  cr_assert_null(t.data);
}

static const char *write_bytes(const char *name, const void *data, size_t n) {
  const char *path = tmp_path(name);
  FILE *fp = fopen(path, "wb");
  fwrite(data, 1, n, fp);
  fclose(fp);
  return path;
}

Test(npy, refuses_what_it_cannot_read_faithfully) {
  expect_error(DATA "np_f32_fortran.npy", "Fortran order");
  expect_error(DATA "np_f4_bigendian.npy", "unsupported .npy dtype '>f4'");
  expect_error("/nonexistent/x.npy", "/nonexistent/x.npy: cannot open");
  expect_error(write_bytes("magic.npy", "PK\3\4 not numpy", 15), "not a .npy file");

  /* The f64 file from NumPy, cut short by 8 bytes. */
  char *buf;
  size_t len;
  cr_assert_eq(rt_read_file(DATA "np_f64_2x3.npy", &buf, &len), 0);
  expect_error(write_bytes("short.npy", buf, len - 8), "expected 48 bytes of data for shape [2, 3], the file has 40");
  free(buf);
  const char hdr[] = "\x93NUMPY\x01\x00\x3a\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1), }\n";
  expect_error(write_bytes("neg.npy", hdr, sizeof hdr - 1), "malformed .npy header");
}
