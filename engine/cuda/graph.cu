/* graph.cu - recorded decode steps.
 *
 * A decode step (T = 1) is captured from the stream into a CUDA graph the
 * first time it runs and replayed afterwards: one launch for all of a
 * token's blocks. Its kernels read the position from d_pos, which a copy
 * from page-locked h_pos sets before each launch, so one graph serves every
 * position; the attention inside it always splits its keys SPLIT_MAX ways
 * (chunks past the current keys are empty). The graph holds the model's
 * buffer addresses, so it belongs to one model (the key) until step_forget.
 * A recording that fails (an op that cannot be recorded, a driver that
 * refuses) runs nothing: the caller issues the step directly, and the
 * model's later steps run directly too. */
#include "engine/cuda/cuda.cuh"

void graph_drop(Cuda *c) {
    if (c->graph_exec) cudaGraphExecDestroy(c->graph_exec);
    c->graph_exec = NULL;
    c->graph_key = NULL;
}

/* Sets the position and launches the graph. */
static cudaError_t graph_launch(Cuda *c, int pos) {
    cudaError_t e = cudaEventSynchronize(c->pos_copied); /* the last copy has read h_pos */
    if (e != cudaSuccess) return e;
    *c->h_pos = pos;
    e = cudaMemcpyAsync(c->d_pos, c->h_pos, sizeof(int), cudaMemcpyHostToDevice, c->stream);
    if (e == cudaSuccess) e = cudaEventRecord(c->pos_copied, c->stream);
    if (e == cudaSuccess) e = cudaGraphLaunch(c->graph_exec, c->stream);
    return e;
}

/* The graph could not be made or run: forget it, and the error with it. */
static int graph_give_up(Cuda *c, const void *key) {
    graph_drop(c);
    c->graph_failed = key;
    cudaGetLastError();
    return -1;
}

int cu_step_begin(Backend *be, const void *key, int T, int pos0) {
    Cuda *c = (Cuda *)be->impl;
    if (T != 1 || key == c->graph_failed || c->recording) return STEP_DIRECT;
    if (c->graph_exec && c->graph_key == key) {
        if (graph_launch(c, pos0) == cudaSuccess) {
            be->steps_replayed++;
            return STEP_REPLAYED;
        }
        graph_give_up(c, key);
        return STEP_DIRECT;
    }
    graph_drop(c);
    if (cudaStreamBeginCapture(c->stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        graph_give_up(c, key);
        return STEP_DIRECT;
    }
    /* errors noted while recording are about the recording alone */
    c->rec_err_saved = c->err;
    c->rec_where_saved = c->err_where;
    c->err = cudaSuccess;
    c->recording = 1;
    c->graph_key = key;
    c->rec_pos0 = pos0;
    return STEP_RECORDING;
}

int cu_step_end(Backend *be) {
    Cuda *c = (Cuda *)be->impl;
    const void *key = c->graph_key;
    cudaGraph_t g = NULL;
    c->recording = 0;
    cudaError_t e = cudaStreamEndCapture(c->stream, &g);
    if (e == cudaSuccess && (c->err != cudaSuccess || !g)) e = cudaErrorStreamCaptureInvalidated;
    c->err = c->rec_err_saved;
    c->err_where = c->rec_where_saved;
    if (e == cudaSuccess) e = cudaGraphInstantiate(&c->graph_exec, g, 0);
    if (g) cudaGraphDestroy(g);
    if (e != cudaSuccess) {
        c->graph_exec = NULL;
        return graph_give_up(c, key);
    }
    if (graph_launch(c, c->rec_pos0) != cudaSuccess) return graph_give_up(c, key);
    be->steps_recorded++;
    return 0;
}

void cu_step_forget(Backend *be, const void *key) {
    Cuda *c = (Cuda *)be->impl;
    if (c->graph_key == key) graph_drop(c);
    if (c->graph_failed == key) c->graph_failed = NULL;
}
