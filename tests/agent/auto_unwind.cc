// Built with -finstrument-functions: C++ functions that throw through
// recursive frames, for test_unwind_cxx.cc.
#include <stdexcept>

__attribute__((noinline)) void auto_throw()
{
	throw std::out_of_range("auto");
}

__attribute__((noinline)) int auto_rethrow(int n)
{
	if (n <= 1)
		auto_throw();
	return auto_rethrow(n - 1) + 1;
}

__attribute__((noinline)) int auto_catcher(int n)
{
	try {
		return auto_rethrow(n);
	} catch (const std::out_of_range &) {
		return -1;
	}
}
