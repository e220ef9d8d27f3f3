/* fuzz_safetensors.c - libFuzzer target for the safetensors header and for
 * config.json.
 *
 * The input is a whole .safetensors file image. Its 8-byte length is parsed
 * and bound-checked as st_open_file does, the header slice is copied into a
 * buffer of exactly its size and the data into another (so ASan sees any
 * read past either), and st_parse_header runs on them. A header that parses
 * must describe tensors that lie inside the data, whose byte counts match
 * their shapes, that do not overlap and that st_get finds with their own
 * shape; every byte of every tensor is read. The same image also goes
 * through st_open_file (from a memfd) and, NUL-terminated, through
 * qwen2_config_parse, whose accepted configs must be self-consistent.
 * Seeds: tests/fuzz/seeds/fuzz_safetensors/. */
#include "engine/config.h"
#include "engine/safetensors.h"
#include "engine/base/util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void fail(const char *what) {
    fprintf(stderr, "fuzz_safetensors: %s (%s)\n", what, unum_error());
    abort();
}

static int span_cmp(const void *a, const void *b) {
    const STensor *x = *(const STensor *const *)a, *y = *(const STensor *const *)b;
    const char *p = x->data, *q = y->data;
    return p < q ? -1 : p > q;
}

/* The promises st_parse_header makes about what it accepts. */
static void check_model(const STModel *m, const unsigned char *data, size_t data_len) {
    const STensor **v = malloc(sizeof *v * ((size_t)m->n_tensors + 1));
    if (!v) abort();
    unsigned sum = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        const STensor *t = &m->tensors[i];
        if (!t->name || t->ndim < 0 || t->ndim > ST_MAX_DIMS) fail("bad name or rank");
        uint64_t n = 1;
        for (int k = 0; k < t->ndim; k++) {
            if (t->shape[k] < 0) fail("negative dimension");
            if (__builtin_mul_overflow(n, (uint64_t)t->shape[k], &n)) fail("shape overflows");
        }
        if ((uint64_t)t->numel != n || t->nbytes != n * dtype_size(t->dtype))
            fail("numel or nbytes disagree with the shape");
        const unsigned char *p = t->data;
        if (p < data || (size_t)(p - data) > data_len || t->nbytes > data_len - (size_t)(p - data))
            fail("tensor outside the data");
        for (size_t k = 0; k < t->nbytes; k++) sum += p[k];
        if (st_find(m, t->name) != t) fail("st_find misses a tensor or finds a twin");
        if (!strcmp(t->name, "__metadata__")) fail("__metadata__ taken for a tensor");
        if (st_get(m, t->name, t->ndim, t->shape) != t) fail("st_get refuses its own shape");
        int64_t wrong[ST_MAX_DIMS + 1];
        for (int k = 0; k < t->ndim; k++) wrong[k] = t->shape[k];
        wrong[t->ndim] = 1;
        if (t->ndim < ST_MAX_DIMS && st_get(m, t->name, t->ndim + 1, wrong))
            fail("st_get accepts a wrong rank");
        v[i] = t;
    }
    qsort(v, (size_t)m->n_tensors, sizeof *v, span_cmp);
    const unsigned char *far = NULL;
    for (int i = 0; i < m->n_tensors; i++) {
        const unsigned char *b = v[i]->data;
        if (!v[i]->nbytes) continue;
        if (far && b < far) fail("overlapping tensors accepted");
        if (!far || b + v[i]->nbytes > far) far = b + v[i]->nbytes;
    }
    free(v);
    /* keep the reads */
    __asm__ volatile("" : : "r"(sum));
}

static void fuzz_header(const uint8_t *in, size_t size) {
    if (size < 8) return;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | in[i];
    if (hlen > ST_MAX_HEADER || hlen > size - 8) return;
    size_t dlen = size - 8 - (size_t)hlen;
    char *json = malloc(hlen ? hlen : 1);
    unsigned char *data = malloc(dlen ? dlen : 1);
    if (!json || !data) abort();
    memcpy(json, in + 8, hlen);
    memcpy(data, in + 8 + hlen, dlen);
    STModel m = {0};
    if (st_parse_header(&m, json, hlen, data, dlen, "fuzz.safetensors") == 0)
        check_model(&m, data, dlen);
    else if (!strstr(unum_error(), "fuzz.safetensors")) fail("error does not name the file");
    st_close(&m);
    free(json);
    free(data);
}

/* The same image as a file: st_open_file's own framing checks. */
static void fuzz_file(const uint8_t *in, size_t size) {
    static int fd = -1;
    if (fd < 0 && (fd = memfd_create("fuzz.safetensors", 0)) < 0) return;
    if (ftruncate(fd, 0) || pwrite(fd, in, size, 0) != (ssize_t)size) return;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    STModel m = {0};
    if (st_open_file(&m, path) == 0) {
        if (m.n_files != 1) fail("one file, not one mapping");
        const unsigned char *base = m.files[0].map;
        size_t hlen = 0;
        for (int i = 7; i >= 0; i--) hlen = hlen << 8 | base[i];
        check_model(&m, base + 8 + hlen, size - 8 - hlen);
    } else if (!strstr(unum_error(), path)) {
        fail("error does not name the file");
    }
    st_close(&m);
}

static void fuzz_config(const uint8_t *in, size_t size) {
    char *txt = malloc(size + 1);
    if (!txt) abort();
    memcpy(txt, in, size);
    txt[size] = 0;
    Qwen2Config c;
    if (qwen2_config_parse(&c, txt, "fuzz/config.json") == 0) {
        if (c.hidden < 1 || c.intermediate < 1 || c.n_layers < 1 || c.vocab < 1 || c.max_pos < 1 ||
            c.n_heads < 1 || c.n_kv_heads < 1 || c.n_heads % c.n_kv_heads || c.head_dim < 2 ||
            c.head_dim % 2 || !(c.rope_theta > 0) || !(c.rms_eps >= 0) ||
            (c.tied != 0 && c.tied != 1))
            fail("inconsistent config accepted");
    } else if (!strstr(unum_error(), "fuzz/config.json")) {
        fail("config error does not name the file");
    }
    free(txt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_header(data, size);
    fuzz_file(data, size);
    fuzz_config(data, size);
    /* a config.json fed bare (no length prefix) is also tried as a header */
    if (size && data[0] == '{') {
        STModel m = {0};
        char *json = malloc(size);
        if (!json) abort();
        memcpy(json, data, size);
        static const unsigned char none[1];
        if (st_parse_header(&m, json, size, none, 0, "bare.safetensors") == 0)
            check_model(&m, none, 0);
        st_close(&m);
        free(json);
    }
    return 0;
}
