/* args.c - see args.h. */
#include "tui/core/args.h"

#include "engine/base/termsafe.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int args_flag(Args *a, const char *flag, const char *alt) {
    const char *s = a->argv[a->i];
    if (strcmp(s, flag) && (!alt || strcmp(s, alt))) return 0;
    a->i++;
    return 1;
}

const char *args_value(Args *a) {
    if (a->i >= a->argc) {
        term_printf(stderr, "unum: %s needs a value\n", a->argv[a->i - 1]);
        a->bad = 1;
        return NULL;
    }
    return a->argv[a->i++];
}

int args_int(Args *a, long lo, long hi, int *out) {
    const char *v = args_value(a);
    if (!v) return -1;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < lo || n > hi) {
        term_printf(stderr, "unum: %s: '%s' is not an integer in [%ld, %ld]\n", a->argv[a->i - 2],
                    v, lo, hi);
        a->bad = 1;
        return -1;
    }
    *out = (int)n;
    return 0;
}

int args_float(Args *a, double lo, double hi, float *out) {
    const char *v = args_value(a);
    if (!v) return -1;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || end == v || !(d >= lo && d <= hi)) {
        term_printf(stderr, "unum: %s: '%s' is not a number in [%g, %g]\n", a->argv[a->i - 2], v,
                    lo, hi);
        a->bad = 1;
        return -1;
    }
    *out = (float)d;
    return 0;
}

int args_u64(Args *a, unsigned long long *out) {
    const char *v = args_value(a);
    if (!v) return -1;
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || end == v || v[0] == '-') {
        term_printf(stderr, "unum: %s: '%s' is not a non-negative integer\n", a->argv[a->i - 2], v);
        a->bad = 1;
        return -1;
    }
    *out = n;
    return 0;
}

void args_unknown(Args *a, const char *sub) {
    term_printf(stderr, "unum %s: unknown option '%s' (see unum --help)\n", sub, a->argv[a->i]);
    a->bad = 1;
}

const char *args_backend(Args *a) {
    const char *v = args_value(a);
    if (v && strcmp(v, "auto") && strcmp(v, "cpu") && strcmp(v, "cuda")) {
        term_printf(stderr, "unum: --backend: '%s' is not auto, cpu or cuda\n", v);
        a->bad = 1;
        return NULL;
    }
    return v;
}
