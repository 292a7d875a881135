/* Unit tests for src/core/keytab.c: claim and find, collision chains, a full table, and keys
 * told apart by their string when their hashes are equal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/hash.h"
#include "core/keytab.h"

struct payload {
    double x; /* a value the test writes */
    int id;   /* which key it belongs to */
};

/* Writes n distinct keys "ep-K:8000" whose probes all start at slot `start` of a cap-slot table
 * into keys[i] (each 32 bytes). */
static void colliding_keys(size_t cap, size_t start, size_t n, char (*keys)[32])
{
    size_t got = 0;
    for (int k = 0; got < n && k < 1000000; k++) {
        snprintf(keys[got], 32, "ep-%d:8000", k);
        if (sy_fnv1a64_str(keys[got]) % cap == start)
            got++;
    }
    assert_int_equal(got, n);
}

static void test_claim_find(void **state)
{
    (void)state;
    struct sy_keytab t;
    sy_keytab_init(&t, 8, sizeof(struct payload));
    assert_null(sy_keytab_find(&t, "10.0.0.1:8000"));
    struct payload *a = sy_keytab_claim(&t, "10.0.0.1:8000");
    assert_non_null(a);
    assert_true(a->x == 0 && a->id == 0); /* zeroed when claimed */
    a->x = 1.5;
    a->id = 7;
    assert_ptr_equal(sy_keytab_find(&t, "10.0.0.1:8000"), a);
    assert_ptr_equal(sy_keytab_claim(&t, "10.0.0.1:8000"), a); /* claiming again finds it */
    assert_int_equal(t.n, 1);
    struct payload *b = sy_keytab_claim(&t, "10.0.0.2:8000");
    assert_non_null(b);
    assert_ptr_not_equal(a, b);
    assert_true(b->x == 0 && b->id == 0);
    assert_int_equal(a->id, 7);
    assert_null(sy_keytab_find(&t, "10.0.0.3:8000"));
    assert_null(sy_keytab_find(&t, "10.0.0.1:800")); /* a prefix is another key */
    assert_null(sy_keytab_find(&t, NULL));
    assert_null(sy_keytab_claim(&t, NULL));
    assert_int_equal(t.n, 2);
    sy_keytab_fini(&t);

    sy_keytab_init(&t, 0, sizeof(struct payload)); /* 0 slots counts as 1 */
    assert_non_null(sy_keytab_claim(&t, "a"));
    assert_null(sy_keytab_claim(&t, "b"));
    sy_keytab_fini(&t);
}

static void test_collision_chain(void **state)
{
    (void)state;
    char keys[4][32];
    colliding_keys(16, 5, 4, keys);
    struct sy_keytab t;
    sy_keytab_init(&t, 16, sizeof(struct payload));
    struct payload *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = sy_keytab_claim(&t, keys[i]);
        assert_non_null(p[i]);
        p[i]->id = i + 1;
    }
    /* linear probing: the chain takes slots 5, 6, 7 in claim order */
    for (int i = 0; i < 3; i++) {
        assert_string_equal(t.slots[5 + i].key, keys[i]);
        assert_ptr_equal(sy_keytab_find(&t, keys[i]), p[i]);
        assert_int_equal(p[i]->id, i + 1);
    }
    /* a fourth key with the same start walks the chain to the hole at 8 and stops */
    assert_null(sy_keytab_find(&t, keys[3]));
    struct payload *q = sy_keytab_claim(&t, keys[3]);
    assert_ptr_equal(q, (struct payload *)t.vals + 8);
    assert_int_equal(q->id, 0);
    sy_keytab_fini(&t);

    /* the chain wraps past the last slot to the first */
    colliding_keys(4, 3, 2, keys);
    sy_keytab_init(&t, 4, sizeof(struct payload));
    assert_non_null(sy_keytab_claim(&t, keys[0]));
    assert_non_null(sy_keytab_claim(&t, keys[1]));
    assert_string_equal(t.slots[3].key, keys[0]);
    assert_string_equal(t.slots[0].key, keys[1]);
    assert_non_null(sy_keytab_find(&t, keys[1]));
    sy_keytab_fini(&t);
}

static void test_full_table(void **state)
{
    (void)state;
    struct sy_keytab t;
    sy_keytab_init(&t, 4, sizeof(struct payload));
    char keys[6][32];
    for (int i = 0; i < 6; i++)
        snprintf(keys[i], sizeof keys[i], "127.0.0.1:%d", 9000 + i);
    for (int i = 0; i < 4; i++) {
        struct payload *p = sy_keytab_claim(&t, keys[i]);
        assert_non_null(p);
        p->id = 100 + i;
    }
    assert_int_equal(t.n, 4);
    /* full: a new key is refused, by claim and by find, and takes nothing */
    assert_null(sy_keytab_claim(&t, keys[4]));
    assert_null(sy_keytab_find(&t, keys[5]));
    assert_int_equal(t.n, 4);
    /* the keys already held are still found, payloads intact */
    for (int i = 0; i < 4; i++) {
        struct payload *p = sy_keytab_find(&t, keys[i]);
        assert_non_null(p);
        assert_int_equal(p->id, 100 + i);
        assert_ptr_equal(sy_keytab_claim(&t, keys[i]), p);
    }
    sy_keytab_fini(&t);
}

static void test_equal_hash_other_key(void **state)
{
    (void)state;
    /* a 64-bit collision, made by hand: one slot holding "x" under the hash of "y" */
    struct sy_keytab t;
    sy_keytab_init(&t, 2, sizeof(struct payload));
    size_t ys = (size_t)(sy_fnv1a64_str("y") % 2);
    struct payload *x = sy_keytab_claim(&t, "x");
    assert_non_null(x);
    size_t xs = (size_t)(x - (struct payload *)t.vals);
    if (xs != ys) { /* move "x" to where the probe of "y" starts */
        t.slots[ys] = t.slots[xs];
        t.slots[xs] = (struct sy_keytab_slot){0};
        x = (struct payload *)t.vals + ys;
    }
    t.slots[ys].hash = sy_fnv1a64_str("y");
    x->id = 1;
    assert_null(sy_keytab_find(&t, "y")); /* same hash, other string: not this slot */
    struct payload *y = sy_keytab_claim(&t, "y");
    assert_non_null(y);
    assert_ptr_not_equal(x, y);
    assert_int_equal(y->id, 0);
    assert_int_equal(x->id, 1);
    sy_keytab_fini(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claim_find),
        cmocka_unit_test(test_collision_chain),
        cmocka_unit_test(test_full_table),
        cmocka_unit_test(test_equal_hash_other_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
