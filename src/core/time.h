/* time.h - monotonic and wall clocks. */
#ifndef SY_CORE_TIME_H
#define SY_CORE_TIME_H

#include <stdint.h>

uint64_t sy_now_ns(void);     /* CLOCK_MONOTONIC in nanoseconds */
double sy_wall_seconds(void); /* CLOCK_REALTIME in seconds since the epoch */

#define SY_NS_PER_MS 1000000ULL    /* nanoseconds per millisecond */
#define SY_NS_PER_S  1000000000ULL /* nanoseconds per second */

#endif
