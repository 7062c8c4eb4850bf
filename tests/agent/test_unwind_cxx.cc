// C++ exceptions through timed frames, three ways in: the RAII scope
// (fleetprof.hpp), FP_FUNCTION's cleanup attribute (runs during unwinding
// in C++), and -finstrument-functions (auto_unwind.cc, whose exit hooks GCC
// calls while unwinding). Every count must be exact and no frame may need
// repair: unwinding runs the exits.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

extern "C" {
#include <cmocka.h>
}
#include "fleetprof/fleetprof.hpp"
#include "unwind_probe.h"

#define ROUNDS 500

int auto_catcher(int n); // auto_unwind.cc, built with -finstrument-functions

namespace
{
volatile int sink;

__attribute__((noinline)) void raii_thrower(int i)
{
	FP_CXX_FUNCTION();
	if (i >= 0)
		throw std::runtime_error("boom");
}

__attribute__((noinline)) void raii_middle(int i)
{
	FP_CXX_FUNCTION();
	raii_thrower(i);
	sink++;
}

__attribute__((noinline)) void c_thrower(int i)
{
	FP_FUNCTION();
	if (i >= 0)
		throw std::logic_error("bang");
}

__attribute__((noinline)) void c_middle(int i)
{
	FP_FUNCTION();
	c_thrower(i);
	sink++;
}

__attribute__((noinline)) void catcher()
{
	FP_CXX_FUNCTION();
	try {
		raii_middle(1);
	} catch (const std::exception &) {
		sink++;
	}
	try {
		c_middle(1);
	} catch (const std::exception &) {
		sink++;
	}
}

void expect(const char *needle, long long ncalls, long long pcalls)
{
	long long n = -1, p = -1;
	if (probe_counts(needle, &n, &p) != 0)
		fail_msg("%s not in batch", needle);
	assert_int_equal(n, ncalls);
	assert_int_equal(p, pcalls);
}
} // namespace

static void test_exceptions(void **state)
{
	(void)state;
	for (int i = 0; i < ROUNDS; i++) {
		catcher();
		sink += auto_catcher(3);
	}
	assert_int_equal(probe_depth(), 0);
	assert_int_equal(probe_repairs(), 0);
	assert_int_equal(probe_snapshot(), 0);
	expect("catcher()", ROUNDS, ROUNDS);
	expect("raii_middle", ROUNDS, ROUNDS);
	expect("raii_thrower", ROUNDS, ROUNDS);
	expect("c_middle", ROUNDS, ROUNDS);
	expect("c_thrower", ROUNDS, ROUNDS);
	// auto_catcher(3) -> auto_rethrow(3..1), recursive -> auto_throw
	expect("auto_catcher(int)", ROUNDS, ROUNDS);
	expect("auto_rethrow(int)", 3 * ROUNDS, ROUNDS);
	expect("auto_throw()", ROUNDS, ROUNDS);
	probe_free();
}

int main()
{
	const CMUnitTest tests[] = {
		cmocka_unit_test(test_exceptions),
	};
	return cmocka_run_group_tests(tests, nullptr, nullptr);
}
