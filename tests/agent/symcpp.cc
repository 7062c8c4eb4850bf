/*
 * C++ for test_symbols: a namespaced function with a mangled symbol, linked
 * into the test executable (which thereby has libstdc++ and __cxa_demangle).
 */
#include "symcpp.h"

#include <string>

namespace ns
{
int add(int a, int b);

enum { ADD_LINE = __LINE__ + 1 };
int add(int a, int b)
{
	return a + b;
}
} // namespace ns

const void *symcpp_add_addr(void)
{
	return reinterpret_cast<const void *>(&ns::add);
}

int symcpp_add_line(void)
{
	/* A libstdc++ call, so the executable needs it as C++ programs do. */
	return std::stoi(std::to_string(ns::ADD_LINE));
}
