/*
 * A shared library for test_symbols, dlopen'ed at run time: one exported and
 * one static function, each with the line of its definition. Built with -g
 * -O0 so DWARF exists; SYMLIB_ALT shifts the code to get another build id.
 */
#include "symlib.h"

#ifdef SYMLIB_ALT
static volatile int symlib_pad_sink;

/* Only here to move the functions below to other addresses. */
int symlib_pad(int x);
int symlib_pad(int x)
{
	for (int i = 0; i < x; i++)
		symlib_pad_sink += i * 7 + x;
	return symlib_pad_sink;
}
#endif

enum { GLOBAL_LINE = __LINE__ + 1 };
int symlib_global(int x)
{
	return x * 2 + 1;
}

int symlib_global_line(void)
{
	return GLOBAL_LINE;
}

enum { STATIC_LINE = __LINE__ + 1 };
static int symlib_static(int x)
{
	return x * 5 - 3;
}

symlib_fn symlib_static_addr(void)
{
	return symlib_static;
}

int symlib_static_line(void)
{
	return STATIC_LINE;
}
