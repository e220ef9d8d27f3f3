/* backend.c - picks a backend by name. */
#include "engine/ops.h"
#include "engine/base/util.h"

#include <stdio.h>
#include <string.h>

#ifdef UNUM_CUDA
Backend *backend_cuda_open(int *no_device);
size_t backend_cuda_memory(void);
#endif

size_t backend_device_memory(const char *name) {
#ifdef UNUM_CUDA
    if (name && (!strcmp(name, "cuda") || !strcmp(name, "auto"))) return backend_cuda_memory();
#endif
    (void)name;
    return 0;
}

Backend *backend_open(const char *name, int n_threads) {
    if (!name || !strcmp(name, "cpu")) return backend_cpu_open(n_threads);
    if (!strcmp(name, "cuda") || !strcmp(name, "auto")) {
#ifdef UNUM_CUDA
        int no_device = 0;
        Backend *be = backend_cuda_open(&no_device);
        if (be) return be;
        if (!no_device || !strcmp(name, "cuda")) {
            unum_error_wrap("--backend %s", name);
            return NULL;
        }
        fprintf(stderr, "unum: %s; running on the CPU\n", unum_error());
        return backend_cpu_open(n_threads);
#else
        if (!strcmp(name, "auto")) return backend_cpu_open(n_threads);
        unum_error_set("--backend cuda: this build of unum has no CUDA support "
                       "(nvcc was not found when it was built)");
        return NULL;
#endif
    }
    unum_error_set("--backend '%s': expected auto, cpu or cuda", name);
    return NULL;
}
