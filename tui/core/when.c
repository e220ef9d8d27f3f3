/* when.c - see when.h. */
#include "tui/core/when.h"

#include <stdio.h>
#include <time.h>

char *when_local(const char *iso, char *out, size_t cap) {
    struct tm tm = {0};
    char sep;
    int n = 0;
    if (sscanf(iso, "%4d-%2d-%2d%c%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &sep,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 7 ||
        (sep != 'T' && sep != ' ')) {
        snprintf(out, cap, "%s", iso);
        return out;
    }
    tm.tm_year -= 1900, tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    struct tm lt;
    if (t == (time_t)-1 || !localtime_r(&t, &lt) || !strftime(out, cap, "%Y-%m-%d %H:%M", &lt))
        snprintf(out, cap, "%s", iso);
    return out;
}
