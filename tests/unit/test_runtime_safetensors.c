/* safetensors: round trips with metadata, our files read by an independent reader
 * (Python's json and struct), files from an independent writer read by us, the
 * crash-safe write, and clear messages for mismatched or malformed files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt.h"

static char tmpdir[64];
static void make_tmpdir(void) {
  strcpy(tmpdir, "/tmp/dlc_st_XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir));
}
static void remove_tmpdir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  cr_assert_eq(system(cmd), 0);
}
TestSuite(safetensors, .init = make_tmpdir, .fini = remove_tmpdir);

static char *tmp_path(const char *name) {
  static char path[4][128];
  static int k;
  char *p = path[k++ % 4];
  snprintf(p, 128, "%s/%s", tmpdir, name);
  return p;
}

/* A small model's worth of tensors of every dtype. */
static float w[6] = {0.5f, -1, 2, 3, 4, 5.25f};
static double d[2] = {1e-300, -2.5};
static int32_t i32[3] = {7, -8, 9};
static int64_t i64 = -(1ll << 40);
static unsigned char flags[3] = {1, 0, 1};

static dlc_tensor sample[5];
static void fill_sample(void) {
  sample[0] = (dlc_tensor){.name = "layer.w", .dtype = DLC_F32, .rank = 2, .shape = {3, 2}, .data = w};
  sample[1] = (dlc_tensor){.name = "b", .dtype = DLC_F64, .rank = 1, .shape = {2}, .data = d};
  sample[2] = (dlc_tensor){.name = "count", .dtype = DLC_I32, .rank = 1, .shape = {3}, .data = i32};
  sample[3] = (dlc_tensor){.name = "step", .dtype = DLC_I64, .rank = 0, .data = &i64};
  sample[4] = (dlc_tensor){.name = "mask", .dtype = DLC_BOOL, .rank = 1, .shape = {3}, .data = flags};
}

static const rt_meta sample_meta[] = {
    {"format", "dlc"},
    {"data.normalise", "{\"mean\": [1.5, 2], \"note\": \"tab\\there\"}"}, /* quotes and a backslash */
    {"line\nbreak", "caf\xC3\xA9 \xE2\x82\xAC"},                          /* control char, UTF-8 */
};

Test(safetensors, round_trip_with_metadata) {
  fill_sample();
  const char *path = tmp_path("m.safetensors");
  cr_assert_eq(rt_st_save(path, sample, 5, sample_meta, 3), 0, "%s", dlc_last_error());
  char *tmp = tmp_path("m.safetensors.tmp");
  cr_assert_neq(access(tmp, F_OK), 0, "the temporary file must be gone");

  rt_st_file *f;
  cr_assert_eq(rt_st_open(path, &f), 0, "%s", dlc_last_error());
  cr_assert_eq(rt_st_count(f), 5);
  for (int k = 0; k < 5; k++) {
    int j = rt_st_find(f, sample[k].name);
    cr_assert_geq(j, 0, "%s missing", sample[k].name);
    dlc_tensor t;
    cr_assert_eq(rt_st_info(f, j, &t), 0);
    cr_assert_str_eq(t.name, sample[k].name);
    cr_assert_eq(t.dtype, sample[k].dtype);
    cr_assert_eq(t.rank, sample[k].rank);
    cr_assert_arr_eq(t.shape, sample[k].shape, sizeof(int64_t) * (size_t)t.rank);
    size_t bytes = (size_t)rt_numel(t.rank, t.shape) * rt_dtype_size(t.dtype);
    char buf[64];
    cr_assert_eq(rt_st_read(f, j, buf, bytes), 0, "%s", dlc_last_error());
    cr_assert_arr_eq(buf, sample[k].data, bytes);
  }
  cr_assert_eq(rt_st_meta_count(f), 3);
  for (int k = 0; k < 3; k++) {
    const char *v = rt_st_meta_get(f, sample_meta[k].key);
    cr_assert_not_null(v, "metadata %s missing", sample_meta[k].key);
    cr_assert_str_eq(v, sample_meta[k].value);
  }
  cr_assert_null(rt_st_meta_get(f, "absent"));
  cr_assert_eq(rt_st_find(f, "absent"), -1);
  rt_st_close(f);
}

/* The file as the format defines it, checked by Python's json and struct alone. */
Test(safetensors, read_back_by_an_independent_reader) {
  fill_sample();
  const char *path = tmp_path("indep.safetensors");
  cr_assert_eq(rt_st_save(path, sample, 5, sample_meta, 3), 0, "%s", dlc_last_error());
  char script[2048];
  snprintf(script, sizeof script,
           "import json, struct, sys\n"
           "b = open('%s', 'rb').read()\n"
           "n = struct.unpack('<Q', b[:8])[0]\n"
           "assert (8 + n) %% 8 == 0, n\n"
           "h = json.loads(b[8:8 + n].decode('utf-8'))\n"
           "data = b[8 + n:]\n"
           "m = h.pop('__metadata__')\n"
           "assert m['data.normalise'] == '{\"mean\": [1.5, 2], \"note\": \"tab\\\\there\"}', m\n"
           "assert m['line\\nbreak'] == 'caf\\u00e9 \\u20ac', m\n"
           "def get(k, fmt):\n"
           "    t = h[k]; s, e = t['data_offsets']\n"
           "    assert s %% struct.calcsize(fmt[-1]) == 0, (k, s)\n"
           "    return t['dtype'], t['shape'], struct.unpack(fmt, data[s:e])\n"
           "assert get('layer.w', '<6f') == ('F32', [3, 2], (0.5, -1.0, 2.0, 3.0, 4.0, 5.25))\n"
           "assert get('b', '<2d') == ('F64', [2], (1e-300, -2.5))\n"
           "assert get('count', '<3i') == ('I32', [3], (7, -8, 9))\n"
           "assert get('step', '<q') == ('I64', [], (-(1 << 40),))\n"
           "assert get('mask', '<3B') == ('BOOL', [3], (1, 0, 1))\n"
           "spans = sorted(t['data_offsets'] for t in h.values())\n"
           "assert spans[0][0] == 0 and spans[-1][1] == len(data)\n"
           "assert all(a[1] == b[0] for a, b in zip(spans, spans[1:])), spans\n",
           path);
  FILE *fp = fopen(tmp_path("check.py"), "w");
  fputs(script, fp);
  fclose(fp);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s", tmp_path("check.py"));
  cr_assert_eq(system(cmd), 0, "the independent reader disagrees (see its output)");
}

/* A file written by Python's json (other key order, spaces, escapes, an unknown key). */
Test(safetensors, reads_a_file_from_an_independent_writer) {
  const char *path = tmp_path("py.safetensors");
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 -c \"import json,struct\n"
           "data = struct.pack('<3f', 1.0, 2.0, 3.0) + struct.pack('<2q', 5, 6)\n"
           "h = {'w\\u00e9': {'shape': [3], 'data_offsets': [0, 12], 'dtype': 'F32', 'extra': {'x': [1, 2]}},\n"
           "     'n': {'dtype': 'I64', 'data_offsets': [12, 28], 'shape': [2, 1]},\n"
           "     '__metadata__': {'who': 'py\\\\\\\\thon'}}\n"
           "s = json.dumps(h, indent=1).encode()\n"
           "open('%s', 'wb').write(struct.pack('<Q', len(s)) + s + data)\"",
           path);
  cr_assert_eq(system(cmd), 0);
  rt_st_file *f;
  cr_assert_eq(rt_st_open(path, &f), 0, "%s", dlc_last_error());
  int j = rt_st_find(f, "w\xC3\xA9");
  cr_assert_geq(j, 0);
  float got[3];
  cr_assert_eq(rt_st_read(f, j, got, sizeof got), 0, "%s", dlc_last_error());
  cr_assert(got[0] == 1 && got[1] == 2 && got[2] == 3);
  int64_t n[2];
  cr_assert_eq(rt_st_read(f, rt_st_find(f, "n"), n, sizeof n), 0, "%s", dlc_last_error());
  cr_assert(n[0] == 5 && n[1] == 6);
  cr_assert_str_eq(rt_st_meta_get(f, "who"), "py\\thon");
  rt_st_close(f);
}

static char *slurp(const char *path, size_t *len) {
  char *buf;
  cr_assert_eq(rt_read_file(path, &buf, len), 0, "%s", dlc_last_error());
  return buf;
}

Test(safetensors, a_failed_save_leaves_the_old_file) {
  fill_sample();
  const char *path = tmp_path("keep.safetensors");
  cr_assert_eq(rt_st_save(path, sample, 2, NULL, 0), 0, "%s", dlc_last_error());
  size_t len0;
  char *before = slurp(path, &len0);

  /* The temporary file cannot be created: a directory sits where it would go. */
  char *tmp = tmp_path("keep.safetensors.tmp");
  cr_assert_eq(mkdir(tmp, 0700), 0);
  w[0] = 99;
  cr_assert_neq(rt_st_save(path, sample, 5, NULL, 0), 0);
  cr_assert(strstr(dlc_last_error(), "keep.safetensors.tmp: cannot write"), "%s", dlc_last_error());
  rmdir(tmp);

  /* A tensor that cannot be saved is found before anything is written. */
  dlc_tensor bad[2] = {sample[0], {.name = "layer.w", .dtype = DLC_F32, .rank = 1, .shape = {1}, .data = w}};
  cr_assert_neq(rt_st_save(path, bad, 2, NULL, 0), 0);
  cr_assert(strstr(dlc_last_error(), "two tensors are called 'layer.w'"), "%s", dlc_last_error());

  size_t len1;
  char *after = slurp(path, &len1);
  cr_assert_eq(len0, len1);
  cr_assert_arr_eq(before, after, len0);
  cr_assert_neq(access(tmp, F_OK), 0);
  free(before);
  free(after);
  w[0] = 0.5f;
}

Test(safetensors, a_mismatch_lists_every_difference) {
  fill_sample();
  const char *path = tmp_path("x.safetensors");
  cr_assert_eq(rt_st_save(path, sample, 3, NULL, 0), 0, "%s", dlc_last_error());
  float w2[4];
  float b2[2];
  int32_t c2[3];
  dlc_tensor expected[4] = {
      {.name = "layer.w", .dtype = DLC_F32, .rank = 2, .shape = {2, 2}, .data = w2}, /* shape differs */
      {.name = "b", .dtype = DLC_F32, .rank = 1, .shape = {2}, .data = b2},          /* dtype differs */
      {.name = "gamma", .dtype = DLC_F32, .rank = 1, .shape = {2}, .data = b2},      /* not in the file */
      {.name = "count", .dtype = DLC_I32, .rank = 1, .shape = {3}, .data = c2},      /* fine */
  };
  rt_st_file *f;
  cr_assert_eq(rt_st_open(path, &f), 0, "%s", dlc_last_error());
  cr_assert_neq(rt_st_load_into(f, expected, 4), 0);
  const char *msg = dlc_last_error();
  cr_assert(strstr(msg, "x.safetensors does not match the model"), "%s", msg);
  cr_assert(strstr(msg, "tensor 'layer.w' has shape [3, 2] in the file but [2, 2] in the model"), "%s", msg);
  cr_assert(strstr(msg, "tensor 'b' is F64 in the file but F32 in the model"), "%s", msg);
  cr_assert(strstr(msg, "missing tensor 'gamma'"), "%s", msg);
  cr_assert_null(strstr(msg, "'count'"), "%s", msg);
  /* count matches; layer.w is in the file but another shape: it is not "unexpected". */
  cr_assert_eq(rt_st_load_into(f, &expected[3], 1), -1);
  cr_assert(strstr(dlc_last_error(), "unexpected tensor 'b'"), "%s", dlc_last_error());
  rt_st_close(f);
}

/* Writes an 8-byte length, a header and data bytes as given. */
static const char *write_raw(const char *name, uint64_t hlen, const char *header, const void *data, size_t n) {
  const char *path = tmp_path(name);
  FILE *fp = fopen(path, "wb");
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(hlen >> (8 * i));
  fwrite(len8, 1, 8, fp);
  fwrite(header, 1, strlen(header), fp);
  if (n) fwrite(data, 1, n, fp);
  fclose(fp);
  return path;
}

static void open_fails(const char *path, const char *want) {
  rt_st_file *f = (rt_st_file *)1;
  cr_assert_neq(rt_st_open(path, &f), 0, "%s should be refused", path);
  cr_assert_null(f);
  cr_assert(strstr(dlc_last_error(), want), "message \"%s\" lacks \"%s\"", dlc_last_error(), want);
}

Test(safetensors, malformed_files_are_refused_with_a_reason) {
  const char zeros[16] = {0};
  const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  open_fails(write_raw("ok_but_short.st", strlen(h), h, zeros, 4), "tensor 'a' ends at byte 8 but the file holds 4");
  open_fails(write_raw("huge.st", 1ull << 40, h, zeros, 8), "not a safetensors file (header length");
  const char *bad_json = "{\"a\":{\"dtype\":\"F32\" \"shape\":[2]}}";
  open_fails(write_raw("json.st", strlen(bad_json), bad_json, zeros, 8), "malformed safetensors header at byte 20");
  const char *bf16 = "{\"a\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]}}";
  open_fails(write_raw("bf16.st", strlen(bf16), bf16, zeros, 4), "tensor 'a' has dtype BF16, which dlc does not support");
  const char *misfit = "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}";
  open_fails(write_raw("misfit.st", strlen(misfit), misfit, zeros, 8), "data_offsets [0, 8] do not fit F32 [3]");
  const char *overlap = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
  open_fails(write_raw("overlap.st", strlen(overlap), overlap, zeros, 12), "tensors 'a' and 'b' overlap");
  const char *twice = "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]}}";
  open_fails(write_raw("twice.st", strlen(twice), twice, zeros, 8), "tensor 'a' appears twice");
  const char *meta = "{\"__metadata__\":{\"k\":3}}";
  open_fails(write_raw("meta.st", strlen(meta), meta, zeros, 0), "'__metadata__' values must be strings");
  open_fails(write_raw("short.st", 0, "", NULL, 0), "does not start with '{'");
  open_fails("/nonexistent/x.safetensors", "/nonexistent/x.safetensors: cannot open");
}

Test(safetensors, empty_and_zero_sized_tensors) {
  dlc_tensor t[2] = {{.name = "empty", .dtype = DLC_F32, .rank = 2, .shape = {0, 4}},
                     {.name = "s", .dtype = DLC_F32, .rank = 0, .data = &(float){1.5f}}};
  const char *path = tmp_path("e.safetensors");
  cr_assert_eq(rt_st_save(path, t, 2, NULL, 0), 0, "%s", dlc_last_error());
  rt_st_file *f;
  cr_assert_eq(rt_st_open(path, &f), 0, "%s", dlc_last_error());
  float s = 0;
  dlc_tensor want[2] = {{.name = "s", .dtype = DLC_F32, .rank = 0, .data = &s},
                        {.name = "empty", .dtype = DLC_F32, .rank = 2, .shape = {0, 4}}};
  cr_assert_eq(rt_st_load_into(f, want, 2), 0, "%s", dlc_last_error());
  cr_assert_eq(s, 1.5f);
  rt_st_close(f);
  cr_assert_eq(rt_st_save(path, NULL, 0, NULL, 0), 0, "%s", dlc_last_error());
  cr_assert_eq(rt_st_open(path, &f), 0, "%s", dlc_last_error());
  cr_assert_eq(rt_st_count(f), 0);
  rt_st_close(f);
}
