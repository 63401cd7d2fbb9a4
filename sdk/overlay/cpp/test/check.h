// Hand-written (sdk/overlay/cpp): the one assertion of the ctest programs (smoke.cpp, events.cpp).
// CHECK counts a failure and goes on, so one run reports every broken check; main returns
// non-zero when `failures` is.
#pragma once

#include <iostream>

static int failures = 0;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            std::cerr << __FILE__ << ":" << __LINE__ << ": CHECK failed: " #cond "\n"; \
            ++failures;                                                              \
        }                                                                            \
    } while (0)
