/*
 * loop.c — a poll(2) event loop with one-shot timers and cross-thread posts.
 *
 * Fd watches live in a dense array so that building the pollfd set is one
 * linear pass; cancelling swaps the last watch into the hole. Timers live
 * in a binary min-heap ordered by (deadline, id); since ids only grow,
 * equal deadlines fire in start order. Both are found by id through an
 * open-addressing id -> slot map, so cancel is O(1) for watches and
 * O(log n) for timers.
 *
 * Dispatch never holds a pointer into these arrays across a callback: a
 * callback may add or cancel anything, which moves entries and may
 * reallocate the arrays. Instead each round remembers the ids it polled
 * and looks every one up again just before calling it, which is also what
 * keeps a watch cancelled earlier in the round from being called. Timers
 * are popped off the heap before their callback runs; only timers that
 * existed when the round began (id below the round's watermark) run in it,
 * so a callback that restarts itself with a zero delay cannot spin one
 * round forever.
 *
 * Posts are the only thread-safe entry point: a mutex-protected FIFO list
 * plus an eventfd that wakes poll. The loop drains the eventfd before it
 * takes the list, so a post that races with a round is either taken by
 * that round or leaves the eventfd readable for the next one; no wake-up
 * is lost.
 *
 * The pollfd buffers grow together with the watch array, so run_once
 * never allocates and cannot fail for lack of memory.
 */
#define _GNU_SOURCE
#include <gwf/loop.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define REQUESTABLE_EVENTS (GWF_LOOP_READ | GWF_LOOP_WRITE)
#define KNOWN_EVENTS (REQUESTABLE_EVENTS | GWF_LOOP_ERROR)

/* Maps a watch or timer id to its index in the owning array. Linear
 * probing, load factor at most 1/2, key 0 marks an empty slot (ids start at
 * 1), deletion by backward shift so there are no tombstones to clean. */
struct id_map {
    uint64_t *keys;
    size_t *slots;
    size_t capacity; /* 0 or a power of two */
    size_t count;
};

struct watch {
    uint64_t id;
    int fd;
    uint32_t events;
    gwf_loop_fd_cb cb;
    void *arg;
};

struct timer {
    uint64_t deadline;
    uint64_t id;
    gwf_loop_cb cb;
    void *arg;
};

struct post {
    struct post *next;
    gwf_loop_cb cb;
    gwf_loop_cb release;
    void *arg;
};

struct gwf_loop {
    uint64_t next_id;
    bool manual_clock;
    uint64_t manual_now;
    bool dispatching;

    struct watch *watches;
    size_t watch_count;
    size_t watch_capacity;
    struct id_map watch_slots;

    /* Entry 0 is the wake eventfd; entry i + 1 mirrors watch i as it was
     * when the round started. Capacity is watch_capacity + 1. */
    struct pollfd *pollfds;
    uint64_t *polled_ids;

    struct timer *timers;
    size_t timer_count;
    size_t timer_capacity;
    struct id_map timer_slots;

    int wake_fd;
    pthread_mutex_t post_lock;
    struct post *post_head;
    struct post *post_tail;
    size_t post_count;
};

/* ---- id map ------------------------------------------------------------ */

static size_t
id_hash(uint64_t id)
{
    /* splitmix64 finalizer: sequential ids spread over the whole table. */
    id ^= id >> 30;
    id *= 0xbf58476d1ce4e5b9ULL;
    id ^= id >> 27;
    id *= 0x94d049bb133111ebULL;
    id ^= id >> 31;
    return (size_t)id;
}

static void
id_map_free(struct id_map *map)
{
    free(map->keys);
    free(map->slots);
    memset(map, 0, sizeof(*map));
}

/* Inserts or overwrites; the table must have room (see id_map_reserve). */
static void
id_map_put(struct id_map *map, uint64_t id, size_t slot)
{
    size_t mask = map->capacity - 1;
    size_t i = id_hash(id) & mask;
    while (map->keys[i] != 0 && map->keys[i] != id)
        i = (i + 1) & mask;
    if (map->keys[i] == 0)
        map->count++;
    map->keys[i] = id;
    map->slots[i] = slot;
}

/* Makes room for `extra` more ids. 0 ok, -1 out of memory (map intact). */
static int
id_map_reserve(struct id_map *map, size_t extra)
{
    size_t need = map->count + extra;
    if (need <= map->capacity / 2)
        return 0;
    if (need > SIZE_MAX / 4)
        return -1;
    size_t capacity = map->capacity ? map->capacity : 16;
    while (capacity / 2 < need)
        capacity *= 2;

    struct id_map bigger = {0};
    bigger.keys = calloc(capacity, sizeof(*bigger.keys));
    bigger.slots = calloc(capacity, sizeof(*bigger.slots));
    if (!bigger.keys || !bigger.slots) {
        id_map_free(&bigger);
        return -1;
    }
    bigger.capacity = capacity;
    for (size_t i = 0; i < map->capacity; i++) {
        if (map->keys[i] != 0)
            id_map_put(&bigger, map->keys[i], map->slots[i]);
    }
    id_map_free(map);
    *map = bigger;
    return 0;
}

/* Returns the slot stored for id, or NULL. The pointer is valid until the
 * map is next changed. */
static size_t *
id_map_find(const struct id_map *map, uint64_t id)
{
    if (map->capacity == 0 || id == 0)
        return NULL;
    size_t mask = map->capacity - 1;
    for (size_t i = id_hash(id) & mask; map->keys[i] != 0; i = (i + 1) & mask) {
        if (map->keys[i] == id)
            return &map->slots[i];
    }
    return NULL;
}

static void
id_map_remove(struct id_map *map, uint64_t id)
{
    size_t *found = id_map_find(map, id);
    if (!found)
        return;
    size_t mask = map->capacity - 1;
    size_t hole = (size_t)(found - map->slots);
    /* Backward shift: pull later members of the probe run into the hole
     * unless their home slot lies cyclically after the hole. */
    for (size_t next = (hole + 1) & mask; map->keys[next] != 0;
         next = (next + 1) & mask) {
        size_t home = id_hash(map->keys[next]) & mask;
        bool stays = hole <= next ? (hole < home && home <= next)
                                  : (hole < home || home <= next);
        if (stays)
            continue;
        map->keys[hole] = map->keys[next];
        map->slots[hole] = map->slots[next];
        hole = next;
    }
    map->keys[hole] = 0;
    map->count--;
}

/* ---- clock ------------------------------------------------------------- */

static uint64_t
real_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
gwf_loop_now(const gwf_loop *loop)
{
    return loop->manual_clock ? loop->manual_now : real_now();
}

static uint64_t
add_saturating(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ---- lifetime ---------------------------------------------------------- */

gwf_loop *
gwf_loop_new(void)
{
    gwf_loop *loop = calloc(1, sizeof(*loop));
    if (!loop)
        return NULL;
    loop->next_id = 1;
    loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wake_fd < 0)
        goto fail;
    /* Room for the wake fd alone, so a loop without watches can poll. */
    loop->pollfds = calloc(1, sizeof(*loop->pollfds));
    loop->polled_ids = calloc(1, sizeof(*loop->polled_ids));
    if (!loop->pollfds || !loop->polled_ids)
        goto fail;
    if (pthread_mutex_init(&loop->post_lock, NULL) != 0)
        goto fail;
    return loop;

fail:
    if (loop->wake_fd >= 0)
        close(loop->wake_fd);
    free(loop->pollfds);
    free(loop->polled_ids);
    free(loop);
    return NULL;
}

void
gwf_loop_free(gwf_loop *loop)
{
    if (!loop)
        return;
    struct post *post = loop->post_head;
    while (post) {
        struct post *next = post->next;
        if (post->release)
            post->release(post->arg);
        free(post);
        post = next;
    }
    pthread_mutex_destroy(&loop->post_lock);
    close(loop->wake_fd);
    free(loop->watches);
    free(loop->pollfds);
    free(loop->polled_ids);
    id_map_free(&loop->watch_slots);
    free(loop->timers);
    id_map_free(&loop->timer_slots);
    free(loop);
}

size_t
gwf_loop_active(const gwf_loop *loop)
{
    /* The lock is part of the loop, not of what callers see as const. */
    pthread_mutex_t *lock = (pthread_mutex_t *)&loop->post_lock;
    pthread_mutex_lock(lock);
    size_t posts = loop->post_count;
    pthread_mutex_unlock(lock);
    return loop->watch_count + loop->timer_count + posts;
}

/* ---- fd watches -------------------------------------------------------- */

static bool
events_valid(uint32_t events)
{
    return (events & ~KNOWN_EVENTS) == 0;
}

static short
poll_events_for(uint32_t events)
{
    short wanted = 0;
    if (events & GWF_LOOP_READ)
        wanted |= POLLIN;
    if (events & GWF_LOOP_WRITE)
        wanted |= POLLOUT;
    return wanted;
}

/* Grows the watch array and the pollfd buffers that mirror it together.
 * realloc keeps the old contents, which dispatch relies on: a callback that
 * adds a watch mid-round must not lose the round's poll results. */
static int
watches_reserve_one(gwf_loop *loop)
{
    if (loop->watch_count < loop->watch_capacity)
        return 0;
    size_t capacity = loop->watch_capacity ? loop->watch_capacity * 2 : 8;
    if (capacity > SIZE_MAX / sizeof(struct watch) - 1)
        return -1;

    struct watch *watches = realloc(loop->watches, capacity * sizeof(*watches));
    if (!watches)
        return -1;
    loop->watches = watches;
    struct pollfd *pollfds =
        realloc(loop->pollfds, (capacity + 1) * sizeof(*pollfds));
    if (!pollfds)
        return -1;
    loop->pollfds = pollfds;
    uint64_t *polled_ids =
        realloc(loop->polled_ids, (capacity + 1) * sizeof(*polled_ids));
    if (!polled_ids)
        return -1;
    loop->polled_ids = polled_ids;
    loop->watch_capacity = capacity;
    return 0;
}

uint64_t
gwf_loop_fd_watch(gwf_loop *loop, int fd, uint32_t events, gwf_loop_fd_cb cb,
                  void *arg)
{
    if (fd < 0 || !cb || !events_valid(events))
        return 0;
    if (fcntl(fd, F_GETFD) == -1)
        return 0;
    if (watches_reserve_one(loop) != 0)
        return 0;
    if (id_map_reserve(&loop->watch_slots, 1) != 0)
        return 0;

    uint64_t id = loop->next_id++;
    loop->watches[loop->watch_count] = (struct watch){
        .id = id,
        .fd = fd,
        .events = events & REQUESTABLE_EVENTS,
        .cb = cb,
        .arg = arg,
    };
    id_map_put(&loop->watch_slots, id, loop->watch_count);
    loop->watch_count++;
    return id;
}

int
gwf_loop_fd_update(gwf_loop *loop, uint64_t id, uint32_t events)
{
    size_t *slot = id_map_find(&loop->watch_slots, id);
    if (!slot || !events_valid(events))
        return -1;
    loop->watches[*slot].events = events & REQUESTABLE_EVENTS;
    return 0;
}

int
gwf_loop_fd_cancel(gwf_loop *loop, uint64_t id)
{
    size_t *found = id_map_find(&loop->watch_slots, id);
    if (!found)
        return -1;
    size_t slot = *found;
    id_map_remove(&loop->watch_slots, id);
    size_t last = loop->watch_count - 1;
    if (slot != last) {
        loop->watches[slot] = loop->watches[last];
        id_map_put(&loop->watch_slots, loop->watches[slot].id, slot);
    }
    loop->watch_count--;
    return 0;
}

/* ---- timers ------------------------------------------------------------ */

static bool
timer_before(const struct timer *a, const struct timer *b)
{
    if (a->deadline != b->deadline)
        return a->deadline < b->deadline;
    return a->id < b->id;
}

/* Writes a timer into a heap slot and records the slot in the id map. */
static void
heap_place(gwf_loop *loop, size_t index, const struct timer *timer)
{
    loop->timers[index] = *timer;
    id_map_put(&loop->timer_slots, timer->id, index);
}

static void
heap_sift_up(gwf_loop *loop, size_t index)
{
    struct timer moving = loop->timers[index];
    while (index > 0) {
        size_t parent = (index - 1) / 2;
        if (!timer_before(&moving, &loop->timers[parent]))
            break;
        heap_place(loop, index, &loop->timers[parent]);
        index = parent;
    }
    heap_place(loop, index, &moving);
}

static void
heap_sift_down(gwf_loop *loop, size_t index)
{
    struct timer moving = loop->timers[index];
    size_t count = loop->timer_count;
    for (;;) {
        size_t child = 2 * index + 1;
        if (child >= count)
            break;
        if (child + 1 < count &&
            timer_before(&loop->timers[child + 1], &loop->timers[child]))
            child++;
        if (!timer_before(&loop->timers[child], &moving))
            break;
        heap_place(loop, index, &loop->timers[child]);
        index = child;
    }
    heap_place(loop, index, &moving);
}

static void
heap_remove_at(gwf_loop *loop, size_t index)
{
    id_map_remove(&loop->timer_slots, loop->timers[index].id);
    size_t last = --loop->timer_count;
    if (index == last)
        return;
    loop->timers[index] = loop->timers[last];
    if (index > 0 &&
        timer_before(&loop->timers[index], &loop->timers[(index - 1) / 2]))
        heap_sift_up(loop, index);
    else
        heap_sift_down(loop, index);
}

static struct timer
heap_pop(gwf_loop *loop)
{
    struct timer first = loop->timers[0];
    heap_remove_at(loop, 0);
    return first;
}

uint64_t
gwf_loop_timer_start(gwf_loop *loop, uint64_t delay_ns, gwf_loop_cb cb,
                     void *arg)
{
    if (!cb)
        return 0;
    if (loop->timer_count == loop->timer_capacity) {
        size_t capacity = loop->timer_capacity ? loop->timer_capacity * 2 : 8;
        if (capacity > SIZE_MAX / sizeof(struct timer))
            return 0;
        struct timer *timers =
            realloc(loop->timers, capacity * sizeof(*timers));
        if (!timers)
            return 0;
        loop->timers = timers;
        loop->timer_capacity = capacity;
    }
    if (id_map_reserve(&loop->timer_slots, 1) != 0)
        return 0;

    struct timer timer = {
        .deadline = add_saturating(gwf_loop_now(loop), delay_ns),
        .id = loop->next_id++,
        .cb = cb,
        .arg = arg,
    };
    size_t index = loop->timer_count++;
    heap_place(loop, index, &timer);
    heap_sift_up(loop, index);
    return timer.id;
}

int
gwf_loop_timer_cancel(gwf_loop *loop, uint64_t id)
{
    size_t *slot = id_map_find(&loop->timer_slots, id);
    if (!slot)
        return -1;
    heap_remove_at(loop, *slot);
    return 0;
}

void
gwf_loop_set_manual_clock(gwf_loop *loop, uint64_t start_ns)
{
    /* Rebase every deadline onto the new clock, keeping the time left.
     * The mapping never reorders two deadlines, so the heap stays valid. */
    uint64_t old_now = gwf_loop_now(loop);
    for (size_t i = 0; i < loop->timer_count; i++) {
        uint64_t deadline = loop->timers[i].deadline;
        uint64_t left = deadline > old_now ? deadline - old_now : 0;
        loop->timers[i].deadline = add_saturating(start_ns, left);
    }
    loop->manual_clock = true;
    loop->manual_now = start_ns;
}

void
gwf_loop_advance(gwf_loop *loop, uint64_t ns)
{
    if (!loop->manual_clock)
        return;
    uint64_t target = add_saturating(loop->manual_now, ns);
    while (loop->timer_count > 0 && loop->timers[0].deadline <= target) {
        struct timer due = heap_pop(loop);
        if (due.deadline > loop->manual_now)
            loop->manual_now = due.deadline;
        due.cb(due.arg);
    }
    if (loop->manual_now < target)
        loop->manual_now = target;
}

/* ---- posts ------------------------------------------------------------- */

int
gwf_loop_post(gwf_loop *loop, gwf_loop_cb cb, gwf_loop_cb release, void *arg)
{
    if (!cb)
        return -1;
    struct post *post = malloc(sizeof(*post));
    if (!post)
        return -1;
    *post = (struct post){.cb = cb, .release = release, .arg = arg};

    /* The wake-up is written under the lock: the loop thread cannot take
     * this post (and so cannot run it, after which its owner may free the
     * loop) until this thread is done touching the loop. The counter
     * cannot realistically saturate, and EAGAIN would leave it readable. */
    pthread_mutex_lock(&loop->post_lock);
    if (loop->post_tail)
        loop->post_tail->next = post;
    else
        loop->post_head = post;
    loop->post_tail = post;
    loop->post_count++;
    uint64_t one = 1;
    ssize_t written = write(loop->wake_fd, &one, sizeof(one));
    (void)written;
    pthread_mutex_unlock(&loop->post_lock);
    return 0;
}

static void
drain_wake_fd(gwf_loop *loop)
{
    uint64_t count;
    ssize_t got = read(loop->wake_fd, &count, sizeof(count));
    (void)got;
}

/* ---- dispatch ---------------------------------------------------------- */

/* Snapshot of the watches for this round. Paused watches get fd -1 so
 * that poll skips them entirely, including POLLHUP. */
static size_t
build_pollfds(gwf_loop *loop)
{
    loop->pollfds[0] = (struct pollfd){.fd = loop->wake_fd, .events = POLLIN};
    loop->polled_ids[0] = 0;
    for (size_t i = 0; i < loop->watch_count; i++) {
        const struct watch *w = &loop->watches[i];
        loop->pollfds[i + 1] = (struct pollfd){
            .fd = w->events ? w->fd : -1,
            .events = poll_events_for(w->events),
        };
        loop->polled_ids[i + 1] = w->id;
    }
    return loop->watch_count + 1;
}

/* How long poll may block: the caller's bound, cut to the next deadline
 * on the real clock, zero if a timer is already due. Negative: forever. */
static int64_t
poll_wait_ns(const gwf_loop *loop, int64_t max_wait_ns)
{
    if (loop->timer_count == 0)
        return max_wait_ns;
    uint64_t now = gwf_loop_now(loop);
    uint64_t deadline = loop->timers[0].deadline;
    if (deadline <= now)
        return 0;
    if (loop->manual_clock)
        return max_wait_ns;
    uint64_t left = deadline - now;
    if (left > INT64_MAX)
        left = INT64_MAX;
    if (max_wait_ns < 0 || (int64_t)left < max_wait_ns)
        return (int64_t)left;
    return max_wait_ns;
}

static uint32_t
ready_events(short revents, uint32_t wanted)
{
    uint32_t ready = 0;
    if ((revents & POLLIN) && (wanted & GWF_LOOP_READ))
        ready |= GWF_LOOP_READ;
    if ((revents & POLLOUT) && (wanted & GWF_LOOP_WRITE))
        ready |= GWF_LOOP_WRITE;
    if (revents & (POLLERR | POLLHUP | POLLNVAL))
        ready |= GWF_LOOP_ERROR;
    return ready;
}

static size_t
dispatch_fds(gwf_loop *loop, size_t polled)
{
    size_t ran = 0;
    /* Read through loop-> every time: a callback may have reallocated the
     * buffers (contents are kept) or moved watches around. */
    for (size_t i = 1; i < polled; i++) {
        short revents = loop->pollfds[i].revents;
        if (revents == 0)
            continue;
        size_t *slot = id_map_find(&loop->watch_slots, loop->polled_ids[i]);
        if (!slot)
            continue; /* cancelled earlier in this round */
        struct watch w = loop->watches[*slot];
        if (w.events == 0)
            continue; /* paused earlier in this round */
        uint32_t ready = ready_events(revents, w.events);
        if (ready == 0)
            continue;
        w.cb(w.arg, w.fd, ready);
        ran++;
    }
    return ran;
}

static size_t
dispatch_timers(gwf_loop *loop, uint64_t now, uint64_t watermark)
{
    size_t ran = 0;
    while (loop->timer_count > 0 && loop->timers[0].deadline <= now &&
           loop->timers[0].id < watermark) {
        struct timer due = heap_pop(loop);
        due.cb(due.arg);
        ran++;
    }
    return ran;
}

static size_t
dispatch_posts(gwf_loop *loop)
{
    pthread_mutex_lock(&loop->post_lock);
    struct post *post = loop->post_head;
    loop->post_head = NULL;
    loop->post_tail = NULL;
    loop->post_count = 0;
    pthread_mutex_unlock(&loop->post_lock);

    size_t ran = 0;
    while (post) {
        struct post *next = post->next;
        post->cb(post->arg);
        free(post);
        post = next;
        ran++;
    }
    return ran;
}

int
gwf_loop_run_once(gwf_loop *loop, int64_t max_wait_ns)
{
    if (loop->dispatching)
        return -1;

    size_t polled = build_pollfds(loop);
    int64_t wait_ns = poll_wait_ns(loop, max_wait_ns);
    struct timespec timeout = {
        .tv_sec = (time_t)(wait_ns / 1000000000),
        .tv_nsec = (long)(wait_ns % 1000000000),
    };
    int ready = ppoll(loop->pollfds, (nfds_t)polled,
                      wait_ns < 0 ? NULL : &timeout, NULL);
    if (ready < 0) {
        if (errno != EINTR)
            return -1;
        ready = 0; /* a signal: still run whatever timers are due */
    }

    loop->dispatching = true;
    /* Taken before any callback runs, so every timer started during the
     * round is due no earlier than `now` and sorts after the due ones. */
    uint64_t now = gwf_loop_now(loop);
    uint64_t watermark = loop->next_id;
    size_t ran = 0;

    if (ready > 0) {
        if (loop->pollfds[0].revents & POLLIN)
            drain_wake_fd(loop);
        ran += dispatch_fds(loop, polled);
    }
    ran += dispatch_timers(loop, now, watermark);
    ran += dispatch_posts(loop);
    loop->dispatching = false;
    return ran > INT_MAX ? INT_MAX : (int)ran;
}
