/* safetensors.h - a paranoid reader for .safetensors files.
 *
 * A file is an 8-byte little-endian header length, a JSON header mapping
 * tensor names to {dtype, shape, data_offsets}, then the data. Files are
 * mmapped read-only and tensors point straight into the mapping; nothing is
 * copied. A model may be one file or several shards listed by
 * model.safetensors.index.json. Every header is checked against the file
 * before any pointer is handed out: header length against the file size and a
 * cap, JSON well-formed, dtypes known, shape products overflow-checked and
 * equal to the byte span, spans inside the data and non-overlapping. */
#ifndef UNUM_SAFETENSORS_H
#define UNUM_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

/* I32 holds packed quantized weights (quant.h); the float types hold values. */
typedef enum { DT_F32, DT_F16, DT_BF16, DT_I32 } DType;
#define ST_MAX_DIMS 4
#define ST_MAX_HEADER (100u << 20) /* 100 MiB of JSON is already absurd */
#define ST_MAX_TENSORS 65536

static inline size_t dtype_size(DType t) { return t == DT_F32 || t == DT_I32 ? 4 : 2; }
static inline int dtype_is_float(DType t) { return t != DT_I32; }
const char *dtype_name(DType t);

typedef struct {
    char *name;
    DType dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const void *data; /* inside the mapping of file */
    size_t nbytes;
    const char *file; /* path of the file holding it */
} STensor;

typedef struct {
    char *path;
    void *map;
    size_t size;
} STFile;

typedef struct {
    STFile *files;
    int n_files;
    STensor *tensors;
    int n_tensors;
    int *by_name; /* indices of the first n_sorted tensors sorted by name */
    int n_sorted;
} STModel;

/* Opens one .safetensors file. Returns 0, or -1 with the error naming the
 * file, the tensor and the problem. */
int st_open_file(STModel *m, const char *path);
/* Opens a model directory: model.safetensors.index.json when present (every
 * shard it lists, each tensor in the shard the index says), else
 * model.safetensors. */
int st_open_dir(STModel *m, const char *dir);
/* Parses a header from memory against a data section of data_len bytes;
 * exposed for the fuzzer and tests. Tensors are appended to m with data
 * pointing into data. */
int st_parse_header(STModel *m, const char *json, size_t json_len, const void *data,
                    size_t data_len, const char *path);
void st_close(STModel *m);

/* Finds a tensor by name, NULL when absent. */
const STensor *st_find(const STModel *m, const char *name);
/* Finds a tensor and checks its rank and shape (dims; -1 matches any).
 * Missing or mis-shaped: NULL with an error naming the tensor. */
const STensor *st_get(const STModel *m, const char *name, int ndim, const int64_t *shape);

#endif
