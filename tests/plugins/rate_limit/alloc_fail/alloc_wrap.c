/*
 * alloc_wrap.c - the allocation wrappers of the rate_limit plugin's test
 * copy: each counts itself against the test's plan (alloc_plan.h) and
 * fails the planned call; every other call goes to libc.
 */
#include "alloc_plan.h"

#include <stddef.h>
#include <string.h>

/* Weak: resolved at dlopen against the test executable, if it has one. */
extern rl_alloc_plan rl_alloc_plan_now __attribute__((weak));

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *ptr, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

/* 1 if this call of `kind` is the one to fail. */
static int
planned_failure(unsigned kind)
{
    rl_alloc_plan *plan = &rl_alloc_plan_now;

    if (!plan || !(plan->kinds & kind))
        return 0;
    if (++plan->calls != plan->fail_at)
        return 0;
    plan->failed++;
    return 1;
}

void *
__wrap_malloc(size_t size)
{
    return planned_failure(RL_ALLOC_MALLOC) ? NULL : __real_malloc(size);
}

void *
__wrap_calloc(size_t n, size_t size)
{
    return planned_failure(RL_ALLOC_CALLOC) ? NULL : __real_calloc(n, size);
}

void *
__wrap_realloc(void *ptr, size_t size)
{
    return planned_failure(RL_ALLOC_REALLOC) ? NULL : __real_realloc(ptr, size);
}

/* The plugin's strdup and strndup, on the wrapped malloc's terms. */
static char *
copy_string(const char *s, size_t len)
{
    char *copy;

    if (planned_failure(RL_ALLOC_STRDUP))
        return NULL;
    copy = __real_malloc(len + 1);
    if (!copy)
        return NULL;
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}

char *
__wrap_strdup(const char *s)
{
    return copy_string(s, strlen(s));
}

char *
__wrap_strndup(const char *s, size_t n)
{
    return copy_string(s, strnlen(s, n));
}
