/*
 * The shared library test_symbols dlopen's by path (symlib.c): its functions
 * are found with dlsym, and it reports the lines where they are defined. It
 * is built twice; the SYMLIB_ALT build moves the code (another build id).
 */
#ifndef TEST_SYMLIB_H
#define TEST_SYMLIB_H

typedef int (*symlib_fn)(int);

int symlib_global(int x);
int symlib_global_line(void);
/* The address of a static (local symbol) function of the library. */
symlib_fn symlib_static_addr(void);
int symlib_static_line(void);

#endif
