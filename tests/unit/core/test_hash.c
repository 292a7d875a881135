/* Unit tests for src/core/hash.c: FNV-1a 64 against the published test vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/hash.h"

/* (input, FNV-1a 64) pairs from the FNV reference test suite (Fowler, Noll, Vo) */
static const struct {
    const char *in;
    uint64_t h;
} vectors[] = {
    {"", 0xcbf29ce484222325ULL},      {"a", 0xaf63dc4c8601ec8cULL},
    {"b", 0xaf63df4c8601f1a5ULL},     {"c", 0xaf63de4c8601eff2ULL},
    {"foo", 0xdcb27518fed9d577ULL},   {"foob", 0xdd120e790c2512afULL},
    {"fooba", 0xcac165afa2fef40aULL}, {"foobar", 0x85944171f73967e8ULL},
};

static void test_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        assert_int_equal(sy_fnv1a64(vectors[i].in, strlen(vectors[i].in)), vectors[i].h);
        assert_int_equal(sy_fnv1a64_str(vectors[i].in), vectors[i].h);
    }
}

static void test_lengths_and_null(void **state)
{
    (void)state;
    /* the length form hashes exactly n bytes: embedded NULs count, trailing bytes do not */
    assert_int_equal(sy_fnv1a64("foobarXYZ", 6), 0x85944171f73967e8ULL);
    assert_int_not_equal(sy_fnv1a64("a\0b", 3), sy_fnv1a64("a", 1));
    assert_int_equal(sy_fnv1a64(NULL, 0), SY_FNV1A64_BASIS);
    assert_int_equal(sy_fnv1a64_str(NULL), SY_FNV1A64_BASIS);
    /* the basis and prime are FNV's published decimal constants */
    assert_int_equal(SY_FNV1A64_BASIS, 14695981039346656037ULL);
    assert_int_equal(SY_FNV1A64_PRIME, 1099511628211ULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_lengths_and_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
