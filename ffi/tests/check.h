/* The C test programs' check: a failed condition is counted and printed with its place and the
 * library's last error; main() returns non-zero when any failed. */
#pragma once

#include <stdio.h>

#include "neuneu.h"

static int failures = 0;
#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "FAIL %s:%d: %s (last error: %s)\n", __FILE__, __LINE__, #cond, \
                    neuneu_last_error());                                             \
            failures++;                                                               \
        }                                                                             \
    } while (0)
