/* log.c - leveled logging. One fprintf per line (stdio locks the stream), so lines from
 * different threads never interleave. */
#include "core/log.h"
#include "core/err.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic int g_level = SY_LOG_INFO;
static _Atomic bool g_pinned; /* set from the command line: configurations do not change it */

void sy_log_set_level(enum sy_log_level lvl)
{
    atomic_store(&g_level, (int)lvl);
}

void sy_log_pin_level(enum sy_log_level lvl)
{
    atomic_store(&g_level, (int)lvl);
    atomic_store(&g_pinned, true);
}

bool sy_log_level_pinned(void)
{
    return atomic_load(&g_pinned);
}

void sy_log_config_level(const char *name)
{
    enum sy_log_level lvl = SY_LOG_INFO; /* a config without logLevel: the default again */
    if (atomic_load(&g_pinned) || (name && sy_log_parse_level(name, &lvl) != 0))
        return;
    atomic_store(&g_level, (int)lvl);
}

enum sy_log_level sy_log_get_level(void)
{
    return (enum sy_log_level)atomic_load(&g_level);
}

int sy_log_parse_level(const char *s, enum sy_log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (enum sy_log_level)i;
            return 0;
        }
    }
    return SY_EINVAL;
}

void sy_log(enum sy_log_level lvl, const char *fmt, ...)
{
    static const char *tags[] = {"debug", "info", "warn", "error"};
    if ((int)lvl < atomic_load(&g_level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            tags[lvl], msg);
}
