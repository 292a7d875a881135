/* alloc.h - the one allocation layer.
 *
 * sy_xmalloc and friends abort on out-of-memory: use them for small, bounded objects. Sizes that
 * come from the network must be checked against a configured limit before they get here.
 */
#ifndef SY_CORE_ALLOC_H
#define SY_CORE_ALLOC_H

#include <stddef.h>

void *sy_xmalloc(size_t n);                 /* never NULL; aborts on OOM */
void *sy_xcalloc(size_t nmemb, size_t n);   /* zeroed; never NULL */
void *sy_xrealloc(void *p, size_t n);       /* never NULL */
char *sy_xstrdup(const char *s);            /* caller frees */
char *sy_xstrndup(const char *s, size_t n); /* NUL-terminated copy of n bytes; caller frees */

#define SY_NEW(type) ((type *)sy_xcalloc(1, sizeof(type))) /* zeroed object */

#endif
