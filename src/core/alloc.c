/* alloc.c - allocation wrappers that abort on out-of-memory (see alloc.h). */
#include "core/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "switchyard: out of memory allocating %zu bytes\n", n);
    abort();
}

void *sy_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *sy_xcalloc(size_t nmemb, size_t n)
{
    void *p = calloc(nmemb ? nmemb : 1, n ? n : 1);
    if (!p)
        oom(nmemb * n);
    return p;
}

void *sy_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *sy_xstrdup(const char *s)
{
    return sy_xstrndup(s, strlen(s));
}

char *sy_xstrndup(const char *s, size_t n)
{
    char *p = sy_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
