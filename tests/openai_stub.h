/* openai_stub.h - tests/openai_server.py (the stand-in OpenAI-compatible
 * server) run for one test on 127.0.0.1: started, its base URL and request
 * log, stopped. */
#ifndef UNUM_OPENAI_STUB_H
#define UNUM_OPENAI_STUB_H

typedef struct {
    char *tmp;               /* its folder (port file, log) */
    char url[128], log[512]; /* "http://127.0.0.1:PORT/v1"; one JSON line per request */
    long pid;
} OpenAIStub;

/* 0 once it listens; -1 (and the case failed) if it did not start. */
int openai_stub_start(OpenAIStub *s);
void openai_stub_stop(OpenAIStub *s);

#endif
