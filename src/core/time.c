/* time.c - clocks. */
#include "core/time.h"

#include <time.h>

uint64_t sy_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * SY_NS_PER_S + (uint64_t)ts.tv_nsec;
}

double sy_wall_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
