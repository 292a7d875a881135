/* turns.c - the order in which a run takes the workload's items, and sessions that wait.
 *
 * A run of N requests takes run positions 0 .. N-1; position k is workload item k mod n. Without
 * session wait (bench --no-session-wait, and always for workloads without sessions) the positions
 * leave in order, whatever is in flight, so a multi-turn chat user's or an agent's turn k+1 can
 * leave while its turn k is still streaming.
 *
 * With session wait (bench's default for multi-turn and agentic items, whose group is the chat
 * user or the agent) a
 * position whose session has a request in flight is passed over: it joins t->held, in run order,
 * and the caller gets the next position whose session is idle. Held positions go before any later
 * one once their session frees, the oldest first; the first held position of an idle session is
 * that session's earliest (an earlier one of the same session would be idle too and come
 * first), so each session's turns still leave in order, one at a time. sy_turns_next() returns
 * false when nothing can leave now; the caller leaves its slot empty until a request ends
 * (sy_turns_done). That cannot deadlock: with nothing in flight every session is idle.
 *
 * Memory is bounded: t->held holds at most n positions (one lap of the workload); when it is full
 * later positions are not looked at until a held one leaves. Cost: O(held) per call.
 *
 * Ownership: t borrows the workload (it must outlive t) and owns busy[] and held[].
 */
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "core/alloc.h"

void sy_turns_init(struct sy_turns *t, const struct sy_workload *w, size_t limit, bool wait)
{
    memset(t, 0, sizeof *t);
    t->w = w;
    t->limit = limit;
    t->wait = wait && w && w->n && (w->kind == SY_WL_MULTI_TURN || w->kind == SY_WL_AGENTIC);
    if (!t->wait)
        return;
    unsigned ng = 0;
    for (size_t i = 0; i < w->n; i++)
        if (w->items[i].group >= ng)
            ng = w->items[i].group + 1;
    t->busy = sy_xcalloc(ng ? ng : 1, 1);
    t->held = sy_xcalloc(w->n, sizeof *t->held);
}

void sy_turns_fini(struct sy_turns *t)
{
    free(t->busy);
    free(t->held);
    memset(t, 0, sizeof *t);
}

static bool busy(const struct sy_turns *t, size_t pos)
{
    return t->busy[t->w->items[pos % t->w->n].group] != 0;
}

static void take(struct sy_turns *t, size_t pos, size_t *out)
{
    t->busy[t->w->items[pos % t->w->n].group] = 1;
    t->inflight++;
    *out = pos;
}

bool sy_turns_next(struct sy_turns *t, size_t *pos)
{
    if (!t->wait) {
        if (t->next >= t->limit)
            return false;
        *pos = t->next++;
        t->inflight++;
        return true;
    }
    for (size_t i = 0; i < t->nheld; i++) {
        if (!busy(t, t->held[i])) {
            size_t p = t->held[i];
            memmove(t->held + i, t->held + i + 1, (t->nheld - i - 1) * sizeof *t->held);
            t->nheld--;
            take(t, p, pos);
            return true;
        }
    }
    while (t->next < t->limit) {
        size_t p = t->next;
        if (!busy(t, p)) {
            t->next++;
            take(t, p, pos);
            return true;
        }
        if (t->nheld == t->w->n)
            return false; /* a full lap held: wait for a session to free */
        t->held[t->nheld++] = p;
        t->passed++;
        t->next++;
    }
    return false;
}

void sy_turns_done(struct sy_turns *t, size_t pos)
{
    if (t->inflight > 0)
        t->inflight--;
    if (t->wait)
        t->busy[t->w->items[pos % t->w->n].group] = 0;
}

size_t sy_turns_left(const struct sy_turns *t)
{
    return t->nheld + (t->limit - t->next);
}
