/*
 * Unit tests of the agent's symbolizer (agent/src/symbols.c): exact name,
 * file, line and module for static and global functions of this executable,
 * of a library dlopen'ed after the symtab was made, of C++ code; and the
 * fallbacks for stripped, deleted and replaced libraries and wild addresses.
 * Built with -g -O0; prints the measured cost of a first and a cached resolve.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>

#include "symbols.h"
#include "fp/error.h"
#include "symcpp.h"
#include "symlib.h"

static struct agent_symtab *tab;
static char exe[PATH_MAX];
static char tmpdir[] = "/tmp/fp_test_symbols.XXXXXX";

int sym_global_fn(int x);

enum { STATIC_LINE = __LINE__ + 1 };
static int __attribute__((noinline)) sym_static_fn(int x)
{
	return x * 3 + 1;
}

enum { GLOBAL_LINE = __LINE__ + 1 };
int sym_global_fn(int x)
{
	return x * 7 - 2;
}

static void assert_ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	if (n < m || strcmp(s + n - m, suffix) != 0)
		fail_msg("'%s' does not end with '%s'", s, suffix);
}

static void hex(const void *addr, char *buf, size_t len)
{
	snprintf(buf, len, "0x%" PRIxPTR, (uintptr_t)addr);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void copy_file(const char *from, const char *to, size_t limit)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	size_t total = 0;
	ssize_t n;

	assert_true(in >= 0);
	assert_true(out >= 0);
	while (total < limit && (n = read(in, buf, sizeof(buf))) > 0) {
		if ((size_t)n > limit - total)
			n = (ssize_t)(limit - total);
		assert_int_equal(write(out, buf, (size_t)n), n);
		total += (size_t)n;
	}
	close(in);
	close(out);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static int setup(void **state)
{
	(void)state;
	if (realpath("/proc/self/exe", exe) == NULL)
		return -1;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	return agent_symtab_create(&tab);
}

static int teardown(void **state)
{
	static const char *names[] = {"deleted.so", "garbage.so",
				      "truncated.so", "other.so"};
	char path[PATH_MAX];

	(void)state;
	agent_symtab_destroy(tab);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		tmp_path(path, sizeof(path), names[i]);
		unlink(path);
	}
	rmdir(tmpdir);
	return 0;
}

static void test_static_fn(void **state)
{
	struct agent_symbol s;

	(void)state;
	agent_symtab_resolve(tab, (const void *)sym_static_fn, &s);
	assert_string_equal(s.name, "sym_static_fn");
	assert_ends_with(s.file, "/tests/agent/test_symbols.c");
	assert_int_equal(s.line, STATIC_LINE);
	assert_string_equal(s.module, exe);
	assert_int_equal(sym_static_fn(1), 4);
}

static void test_global_fn(void **state)
{
	struct agent_symbol s;

	(void)state;
	agent_symtab_resolve(tab, (const void *)sym_global_fn, &s);
	assert_string_equal(s.name, "sym_global_fn");
	assert_ends_with(s.file, "/tests/agent/test_symbols.c");
	assert_int_equal(s.line, GLOBAL_LINE);
	assert_string_equal(s.module, exe);
}

/* An address inside a function names that function. */
static void test_inside_fn(void **state)
{
	struct agent_symbol s;

	(void)state;
	agent_symtab_resolve(tab, (const char *)sym_global_fn + 4, &s);
	assert_string_equal(s.name, "sym_global_fn");
	assert_int_equal(s.line, GLOBAL_LINE);
	assert_string_equal(s.module, exe);
}

static void test_cache_hit(void **state)
{
	struct agent_symbol a, b;

	(void)state;
	agent_symtab_resolve(tab, (const void *)sym_static_fn, &a);
	agent_symtab_resolve(tab, (const void *)sym_static_fn, &b);
	assert_ptr_equal(a.name, b.name);
	assert_ptr_equal(a.file, b.file);
	assert_ptr_equal(a.module, b.module);
	assert_int_equal(a.line, b.line);
	/* Equal strings are shared: both functions are in one file. */
	agent_symtab_resolve(tab, (const void *)sym_global_fn, &b);
	assert_ptr_equal(a.file, b.file);
	assert_ptr_equal(a.module, b.module);
}

static void test_cpp(void **state)
{
	struct agent_symbol s;

	(void)state;
	agent_symtab_resolve(tab, symcpp_add_addr(), &s);
	assert_string_equal(s.name, "ns::add(int, int)");
	assert_ends_with(s.file, "/tests/agent/symcpp.cc");
	assert_int_equal(s.line, symcpp_add_line());
	assert_string_equal(s.module, exe);
}

/* A library loaded after the symtab saw the module list. */
static void test_dlopen(void **state)
{
	char lib[PATH_MAX];
	struct agent_symbol s, st;
	void *h;
	int (*line)(void);
	symlib_fn (*getter)(void);
	symlib_fn global;

	(void)state;
	agent_symtab_resolve(tab, (const void *)sym_global_fn, &s);
	assert_non_null(realpath(SYMLIB_PATH, lib));
	h = dlopen(SYMLIB_PATH, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	*(void **)&global = dlsym(h, "symlib_global");
	assert_non_null(global);
	agent_symtab_resolve(tab, (const void *)global, &s);
	assert_string_equal(s.name, "symlib_global");
	assert_ends_with(s.file, "/tests/agent/symlib.c");
	*(void **)&line = dlsym(h, "symlib_global_line");
	assert_int_equal(s.line, line());
	assert_string_equal(s.module, lib);

	*(void **)&getter = dlsym(h, "symlib_static_addr");
	agent_symtab_resolve(tab, (const void *)getter(), &st);
	assert_string_equal(st.name, "symlib_static");
	assert_ends_with(st.file, "/tests/agent/symlib.c");
	*(void **)&line = dlsym(h, "symlib_static_line");
	assert_int_equal(st.line, line());
	assert_ptr_equal(st.module, s.module);

	/* Results outlive the library. */
	assert_int_equal(dlclose(h), 0);
	assert_string_equal(s.name, "symlib_global");
	assert_string_equal(st.module, lib);
}

/* No .symtab, no DWARF: .dynsym names the exported function only. */
static void test_stripped(void **state)
{
	char lib[PATH_MAX], want[32];
	struct agent_symbol s;
	void *h;
	symlib_fn (*getter)(void);
	const void *fn;

	(void)state;
	assert_non_null(realpath(SYMLIB_STRIPPED_PATH, lib));
	h = dlopen(SYMLIB_STRIPPED_PATH, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	fn = dlsym(h, "symlib_global");
	agent_symtab_resolve(tab, fn, &s);
	assert_string_equal(s.name, "symlib_global");
	assert_string_equal(s.file, "");
	assert_int_equal(s.line, 0);
	assert_string_equal(s.module, lib);

	*(void **)&getter = dlsym(h, "symlib_static_addr");
	fn = (const void *)getter();
	agent_symtab_resolve(tab, fn, &s);
	hex(fn, want, sizeof(want));
	assert_string_equal(s.name, want);
	assert_string_equal(s.file, "");
	assert_int_equal(s.line, 0);
	assert_string_equal(s.module, lib);
	dlclose(h);
}

/*
 * Loads a copy of `src` from the temporary folder, then replaces the file on
 * disk: `with` == NULL deletes it, else it is a file whose first `limit`
 * bytes are written in its place. The exported function must still be named
 * (by the loader's dynamic symbols), nothing may come from the new file.
 */
static void check_replaced(const char *name, const char *src, const char *with,
			   size_t limit)
{
	char path[PATH_MAX], want[32];
	struct agent_symbol s;
	void *h;
	symlib_fn (*getter)(void);
	const void *fn;

	tmp_path(path, sizeof(path), name);
	copy_file(src, path, SIZE_MAX);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	assert_int_equal(unlink(path), 0);
	if (with != NULL)
		copy_file(with, path, limit);

	fn = dlsym(h, "symlib_global");
	agent_symtab_resolve(tab, fn, &s);
	assert_string_equal(s.name, "symlib_global");
	assert_string_equal(s.file, "");
	assert_int_equal(s.line, 0);
	assert_string_equal(s.module, path);

	*(void **)&getter = dlsym(h, "symlib_static_addr");
	fn = (const void *)getter();
	agent_symtab_resolve(tab, fn, &s);
	hex(fn, want, sizeof(want));
	assert_string_equal(s.name, want);
	assert_string_equal(s.file, "");
	assert_int_equal(s.line, 0);
	assert_string_equal(s.module, path);
	dlclose(h);
}

static void test_deleted_lib(void **state)
{
	(void)state;
	check_replaced("deleted.so", SYMLIB_PATH, NULL, 0);
}

static void test_garbage_lib(void **state)
{
	char junk[PATH_MAX];
	FILE *f;

	(void)state;
	tmp_path(junk, sizeof(junk), "junk");
	f = fopen(junk, "w");
	assert_non_null(f);
	for (int i = 0; i < 5000; i++)
		fputc((i * 131 + 7) & 0xff, f);
	fclose(f);
	check_replaced("garbage.so", SYMLIB_PATH, junk, SIZE_MAX);
	unlink(junk);
}

/* Headers intact, section headers past the end of the file. */
static void test_truncated_lib(void **state)
{
	(void)state;
	check_replaced("truncated.so", SYMLIB_PATH, SYMLIB_PATH, 1500);
}

/* A valid ELF file with another build id must not be read. */
static void test_other_build_id(void **state)
{
	(void)state;
	check_replaced("other.so", SYMLIB_PATH, SYMLIB_ALT_PATH, SIZE_MAX);
}

static void test_unknown(void **state)
{
	struct agent_symbol s, again;

	(void)state;
	agent_symtab_resolve(tab, (const void *)0x10, &s);
	assert_string_equal(s.name, "0x10");
	assert_string_equal(s.file, "");
	assert_int_equal(s.line, 0);
	assert_string_equal(s.module, "");
	agent_symtab_resolve(tab, (const void *)0x10, &again);
	assert_ptr_equal(again.name, s.name);

	agent_symtab_resolve(tab, NULL, &s);
	assert_string_equal(s.name, "0x0");
	assert_string_equal(s.module, "");

	agent_symtab_resolve(tab, (const void *)UINTPTR_MAX, &s);
	assert_string_equal(s.name, "0xffffffffffffffff");
	assert_int_equal(s.line, 0);
}

/*
 * More modules than the symtab keeps open: libc, cmocka, libelf and libdw
 * from the loader, then this executable again (an address not cached yet).
 * No file descriptor stays open.
 */
static void test_many_modules(void **state)
{
	static const struct {
		const char *lib, *sym, *module;
	} libs[] = {
		{"libc.so.6", "getppid", "/libc.so.6"},
		{"libcmocka.so.0", "_cmocka_run_group_tests", "/libcmocka.so"},
		{"libelf.so.1", "elf_version", "/libelf"},
		{"libdw.so.1", "dwarf_begin_elf", "/libdw"},
	};
	struct agent_symtab *t;
	struct agent_symbol s;
	int fds = count_fds();

	(void)state;
	assert_int_equal(agent_symtab_create(&t), 0);
	agent_symtab_resolve(t, (const void *)sym_static_fn, &s);
	assert_string_equal(s.name, "sym_static_fn");
	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		void *h = dlopen(libs[i].lib, RTLD_LAZY | RTLD_NOLOAD);
		assert_non_null(h);
		agent_symtab_resolve(t, dlsym(h, libs[i].sym), &s);
		assert_string_equal(s.name, libs[i].sym);
		if (strstr(s.module, libs[i].module) == NULL)
			fail_msg("module %s for %s", s.module, libs[i].sym);
		dlclose(h);
	}
	agent_symtab_resolve(t, symcpp_add_addr(), &s);
	assert_string_equal(s.name, "ns::add(int, int)");
	agent_symtab_resolve(t, (const char *)sym_static_fn + 2, &s);
	assert_string_equal(s.name, "sym_static_fn");
	assert_int_equal(s.line, STATIC_LINE);
	assert_string_equal(s.module, exe);
	assert_int_equal(count_fds(), fds);
	agent_symtab_destroy(t);
	agent_symtab_destroy(NULL);
}

static void test_cost(void **state)
{
	enum { LOOPS = 1000000 };
	struct agent_symtab *t;
	struct agent_symbol s;
	uint64_t t0, first, second, cached;

	(void)state;
	assert_int_equal(agent_symtab_create(&t), 0);
	t0 = now_ns();
	agent_symtab_resolve(t, (const void *)sym_static_fn, &s);
	first = now_ns() - t0;
	assert_string_equal(s.name, "sym_static_fn");
	t0 = now_ns();
	agent_symtab_resolve(t, (const void *)sym_global_fn, &s);
	second = now_ns() - t0;
	assert_string_equal(s.name, "sym_global_fn");
	t0 = now_ns();
	for (int i = 0; i < LOOPS; i++)
		agent_symtab_resolve(t, (const void *)sym_static_fn, &s);
	cached = (now_ns() - t0) / LOOPS;
	assert_string_equal(s.name, "sym_static_fn");
	printf("symbols: first resolve (module load) %" PRIu64
	       " ns, first in a loaded module %" PRIu64 " ns, cached %" PRIu64
	       " ns\n",
	       first, second, cached);
	agent_symtab_destroy(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_static_fn),
		cmocka_unit_test(test_global_fn),
		cmocka_unit_test(test_inside_fn),
		cmocka_unit_test(test_cache_hit),
		cmocka_unit_test(test_cpp),
		cmocka_unit_test(test_dlopen),
		cmocka_unit_test(test_stripped),
		cmocka_unit_test(test_deleted_lib),
		cmocka_unit_test(test_garbage_lib),
		cmocka_unit_test(test_truncated_lib),
		cmocka_unit_test(test_other_build_id),
		cmocka_unit_test(test_unknown),
		cmocka_unit_test(test_many_modules),
		cmocka_unit_test(test_cost),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
