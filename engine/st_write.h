/* st_write.h - writes safetensors checkpoints tensor by tensor.
 *
 * The caller first declares every tensor (name, dtype, shape) in the order
 * it will stream them; the writer lays them out in shards of at most
 * shard_bytes of data (a tensor never spans two), writes each shard's header
 * when the shard begins, and takes the data in pieces of any size, so a
 * checkpoint of any size is written with only the caller's buffers in
 * memory. One shard is model.safetensors (or the name given); more are
 * PREFIX-00001-of-0000N.safetensors with PREFIX.safetensors.index.json. */
#ifndef UNUM_ST_WRITE_H
#define UNUM_ST_WRITE_H

#include "engine/safetensors.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    char *name;
    DType dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    uint64_t nbytes;
    int shard;
} StwTensor;

typedef struct {
    char *dir, *prefix;   /* output folder; file stem ("model", "adapter_model") */
    uint64_t shard_bytes; /* 0: one file */
    StwTensor *t;
    int n, cap;
    int n_shards;
    int next;         /* the tensor being written */
    uint64_t written; /* bytes of it written so far */
    FILE *f;          /* the open shard */
    char *path;       /* its path */
} StWriter;

/* Starts a checkpoint in dir (which must exist). */
void stw_init(StWriter *w, const char *dir, const char *prefix, uint64_t shard_bytes);
/* Declares the next tensor. */
void stw_add(StWriter *w, const char *name, DType dt, int ndim, const int64_t *shape);
/* Appends n elements of the current tensor, given as float32 and stored in
 * the tensor's dtype (rounded to nearest even). Moves on to the next tensor
 * (and shard) when one is complete. 0, or -1 with the error naming the
 * file. */
int stw_put(StWriter *w, const float *x, size_t n);
/* Checks every tensor was written, closes the last shard and writes the
 * index when sharded. 0, or -1 with the error. Frees w either way. */
int stw_finish(StWriter *w);
/* Frees w without finishing (after an error). */
void stw_abort(StWriter *w);

#endif
