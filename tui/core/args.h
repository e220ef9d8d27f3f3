/* args.h - small helpers for parsing subcommand flags. A bad value prints
 * "unum: FLAG: problem" and makes the subcommand exit 2. */
#ifndef UNUM_ARGS_H
#define UNUM_ARGS_H

#define EXIT_USAGE 2

typedef struct {
    int argc, i;
    char **argv;
    int bad; /* a usage error was printed */
} Args;

/* Nonzero when argv[i] is flag (or one of two spellings); advances. */
int args_flag(Args *a, const char *flag, const char *alt);
/* For a flag taking a value: returns the value and advances, or NULL
 * (printing the error) when it is missing. */
const char *args_value(Args *a);
int args_int(Args *a, long lo, long hi, int *out);
int args_float(Args *a, double lo, double hi, float *out);
int args_u64(Args *a, unsigned long long *out);
/* --backend's value: auto, cpu or cuda (anything else is a usage error). */
const char *args_backend(Args *a);
/* Prints "unum: unknown option X for SUB" and marks the args bad. */
void args_unknown(Args *a, const char *sub);

#endif
