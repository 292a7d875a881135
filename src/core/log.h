/* log.h - leveled logging to stderr, safe from any thread. */
#ifndef SY_CORE_LOG_H
#define SY_CORE_LOG_H

#include <stdbool.h>

enum sy_log_level {
    SY_LOG_DEBUG, /* verbose tracing */
    SY_LOG_INFO,  /* lifecycle events */
    SY_LOG_WARN,  /* recoverable problems */
    SY_LOG_ERROR  /* failures */
};

void sy_log_set_level(enum sy_log_level lvl);
enum sy_log_level sy_log_get_level(void);
/* Sets the level and pins it: sy_log_config_level no longer changes it (a level given on the
 * command line outranks the configuration's logLevel, across reloads too). */
void sy_log_pin_level(enum sy_log_level lvl);
/* Applies a configuration's level name ("debug|info|warn|error"; NULL, a config without
 * logLevel: info, the default; unknown: no change) unless a level is pinned. */
void sy_log_config_level(const char *name);
/* True once sy_log_pin_level ran (--log-level given). */
bool sy_log_level_pinned(void);
/* Parses "debug|info|warn|error"; returns 0 or SY_EINVAL. */
int sy_log_parse_level(const char *s, enum sy_log_level *out);
void sy_log(enum sy_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define sy_debug(...) sy_log(SY_LOG_DEBUG, __VA_ARGS__)
#define sy_info(...)  sy_log(SY_LOG_INFO, __VA_ARGS__)
#define sy_warn(...)  sy_log(SY_LOG_WARN, __VA_ARGS__)
#define sy_error(...) sy_log(SY_LOG_ERROR, __VA_ARGS__)

#endif
