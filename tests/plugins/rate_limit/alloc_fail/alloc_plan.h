/*
 * alloc_plan.h - allocation failure injection for the rate_limit plugin.
 *
 * The test copy of the plugin (this folder's meson.build) is linked with
 * -Wl,--wrap for malloc, calloc, realloc, strdup and strndup, so every
 * allocation of the plugin and of the SDK linked into it goes through
 * alloc_wrap.c - and only those: the host, jansson and hiredis allocate
 * as usual. The wrappers read the plan below from the test executable
 * (exported with export_dynamic; a weak reference in the plugin, so the
 * copy also runs, failing nothing, without it).
 */
#ifndef RL_ALLOC_PLAN_H
#define RL_ALLOC_PLAN_H

enum {
    RL_ALLOC_MALLOC = 1 << 0,
    RL_ALLOC_CALLOC = 1 << 1,
    RL_ALLOC_REALLOC = 1 << 2,
    RL_ALLOC_STRDUP = 1 << 3, /* strdup and strndup */
    RL_ALLOC_ANY = 0xf
};

typedef struct rl_alloc_plan {
    unsigned kinds; /* the calls that count; 0: none (disarmed) */
    long fail_at;   /* fail the fail_at-th counted call, 1-based */
    long calls;     /* counted calls so far */
    long failed;    /* failures injected */
} rl_alloc_plan;

/* Defined by the test executable. */
extern rl_alloc_plan rl_alloc_plan_now;

#endif
