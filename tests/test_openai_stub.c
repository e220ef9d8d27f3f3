/* test_openai_stub.c - see openai_stub.h (no cases of its own). */
#include "tests/openai_stub.h"

#include "engine/base/util.h"
#include "tests/test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int openai_stub_start(OpenAIStub *s) {
    memset(s, 0, sizeof *s);
    s->tmp = test_tmpdir();
    if (!s->tmp) return -1;
    snprintf(s->log, sizeof s->log, "%s/requests.log", s->tmp);
    char cmd[2048], *out = NULL;
    snprintf(cmd, sizeof cmd,
             "python3 %s/tests/openai_server.py --port-file %s/port --log %s --lifetime 60 "
             ">/dev/null 2>&1 & echo $!",
             test_root(), s->tmp, s->log);
    test_shell(":", cmd, &out, NULL);
    s->pid = out ? atol(out) : 0;
    free(out);
    char *pf = unum_path_join(s->tmp, "port"), *port = NULL;
    for (int i = 0; i < 200 && !port; i++) { /* up to 10 s */
        if (unum_file_exists(pf)) port = unum_read_file(pf, 64, NULL);
        else usleep(50000);
    }
    free(pf);
    if (!port || s->pid <= 0) {
        free(port);
        test_fail(__FILE__, __LINE__, "tests/openai_server.py did not start");
        return -1;
    }
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d/v1", atoi(port));
    free(port);
    return 0;
}

void openai_stub_stop(OpenAIStub *s) {
    if (s->pid > 0) kill((pid_t)s->pid, SIGTERM);
    test_tmp_remove(s->tmp);
}
