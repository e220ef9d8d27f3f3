/* cancel.c - see cancel.h. */
#include "engine/base/cancel.h"

#include "engine/base/util.h"

int unum_cancelled_status(void) {
    unum_error_set("cancelled");
    return UNUM_CANCELLED;
}
