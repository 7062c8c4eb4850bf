/*
 * Address -> name, file:line, module for the flush thread. Modules come from
 * dl_iterate_phdr (rescanned on an unknown address or a dlopen/dlclose, which
 * drops the unloaded ones' cache). Files are read lazily with libelf/libdw
 * after a build-id check; at most SYM_MAX_OPEN stay mapped, idle ones are
 * closed, no fd stays open. Strings live until destroy. One thread at a time.
 */
#define _GNU_SOURCE
#include "symbols.h"
#include "ptrmap.h"
#include "fp/error.h"
#include "fp/hash.h"
#include "fp/log.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <limits.h>
#include <link.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SYM_MAX_OPEN 4	     /* ELF files mapped at once */
#define SYM_CHUNK_SIZE 65536 /* string arena chunk */
#define SYM_BUILD_ID_MAX 64  /* longer build ids are not compared */
#define SYM_CONTAIN_SCAN 64  /* symbols looked back for a containing one */
#define SYM_IDLE_NS (30 * UINT64_C(1000000000)) /* then a file is closed */
#define SYM_IDLE_EVERY 1024 /* cache hits between checks for idle files */

typedef char *(*sym_demangle_fn)(const char *mangled, char *buf, size_t *len,
				 int *status);

struct sym_func {
	uint64_t lo;	  /* st_value: file address of the entry */
	uint64_t size;	  /* st_size, 0 if unknown */
	const char *name; /* in the mapped string table */
	unsigned rank;	  /* binding preference, lower wins */
};

enum sym_state { MOD_CLOSED, MOD_OPEN, MOD_FAILED };

struct sym_module {
	uintptr_t lo, hi;      /* hull of the PT_LOAD segments, absolute */
	uintptr_t bias;	       /* dlpi_addr: absolute = file address + bias */
	const char *raw_name;  /* dlpi_name (arena), "" for the executable */
	const char *path;      /* reported path (arena) */
	const char *open_path; /* file to read (arena), NULL if none */
	uint8_t build_id[SYM_BUILD_ID_MAX];
	size_t build_id_len; /* 0: the image has none, skip the check */
	enum sym_state state;
	uint64_t last_use; /* s->tick, for the LRU */
	uint64_t used_ns;  /* coarse monotonic time of the last use */
	bool kept;	   /* scratch for the rescan */
	/* MOD_OPEN only */
	Elf *elf;
	Dwarf *dw; /* NULL without DWARF */
	struct sym_func *funcs;
	size_t nfuncs;
};

struct sym_result {
	uintptr_t addr;
	struct agent_symbol sym;
};

struct sym_chunk {
	struct sym_chunk *next;
	size_t used;
	size_t cap;
	char data[];
};

struct agent_symtab {
	struct sym_module *mods;
	size_t nmods;
	unsigned nopen;
	uint64_t tick;
	uint32_t hits; /* since the last idle check */
	bool have_elf; /* elf_version() accepted EV_CURRENT */
	const char *exe_path;
	/* dlpi_adds, dlpi_subs when the modules were scanned; 0 if unknown */
	unsigned long long adds, subs;

	struct sym_result *results;
	uint32_t nresults;
	uint32_t results_cap;
	uint32_t nunmapped;  /* results in no module (hex names) */
	struct ptrmap cache; /* address -> results index + 1 */

	struct sym_chunk *arena;
	const char **strs; /* interned strings, for strmap */
	uint32_t nstrs;
	uint32_t strs_cap;
	struct ptrmap strmap; /* hash -> strs index + 1 */

	sym_demangle_fn demangle;
	void *demangle_lib; /* dlopen handle pinning the demangler */
	bool demangle_missing;
	unsigned long long demangle_adds; /* s->adds when it was missing */
};

/* One loaded object as dl_iterate_phdr saw it. */
struct sym_seen {
	uintptr_t lo, hi, bias;
	char *name; /* copy of dlpi_name; NULL for the executable */
	uint8_t build_id[SYM_BUILD_ID_MAX];
	size_t build_id_len;
};

struct sym_scan {
	struct sym_seen *v;
	size_t n;
	size_t cap;
	unsigned calls;
	bool oom;
	unsigned long long adds, subs;
};

/* The loader's load and unload counters (glibc), from its first object. */
static int gen_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct sym_scan *sc = arg;

	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) +
			    sizeof(info->dlpi_subs)) {
		sc->adds = info->dlpi_adds;
		sc->subs = info->dlpi_subs;
	}
	return 1;
}

/* ---- strings ------------------------------------------------------------ */

/* Bytes from the arena; NULL when out of memory. Never moves or frees. */
static char *arena_alloc(struct agent_symtab *s, size_t len)
{
	struct sym_chunk *c = s->arena;

	if (c == NULL || c->cap - c->used < len) {
		size_t cap = len > SYM_CHUNK_SIZE / 4 ? len : SYM_CHUNK_SIZE;
		struct sym_chunk *n;

		if (cap > SIZE_MAX - sizeof(*n))
			return NULL;
		n = malloc(sizeof(*n) + cap);
		if (n == NULL)
			return NULL;
		n->used = 0;
		n->cap = cap;
		if (c != NULL && cap != SYM_CHUNK_SIZE) {
			/* A big string: keep filling the current chunk. */
			n->next = c->next;
			c->next = n;
		} else {
			n->next = c;
			s->arena = n;
		}
		c = n;
	}
	c->used += len;
	return c->data + c->used - len;
}

/* A copy of str[0..len) owned by the symtab, shared between equal strings. */
static const char *intern_len(struct agent_symtab *s, const char *str,
			      size_t len)
{
	uint64_t h = fp_hash64(str, len, 0);
	uint32_t i;
	char *copy;

	if (h == 0)
		h = 1;
	i = ptrmap_get(&s->strmap, h);
	if (i != 0 && strncmp(s->strs[i - 1], str, len) == 0 &&
	    s->strs[i - 1][len] == '\0')
		return s->strs[i - 1];
	if (len == SIZE_MAX)
		return NULL;
	copy = arena_alloc(s, len + 1);
	if (copy == NULL)
		return NULL;
	memcpy(copy, str, len);
	copy[len] = '\0';
	if (i != 0)
		return copy; /* hash collision: keep the first in the map */
	if (s->nstrs == s->strs_cap) {
		uint32_t cap = s->strs_cap ? s->strs_cap * 2 : 256;
		const char **v = realloc(s->strs, cap * sizeof(*v));
		if (v == NULL)
			return copy; /* not shared, still valid */
		s->strs = v;
		s->strs_cap = cap;
	}
	if (ptrmap_put(&s->strmap, h, s->nstrs + 1) == 0)
		s->strs[s->nstrs++] = copy;
	return copy;
}

static const char *intern(struct agent_symtab *s, const char *str)
{
	return intern_len(s, str, strlen(str));
}

/* ---- C++ names ---------------------------------------------------------- */

/*
 * __cxa_demangle of the C++ runtime the host already has (the agent must not
 * pull in libstdc++): the global one, else that of a libstdc++ loaded
 * RTLD_LOCAL by a plugin. Its library is pinned (RTLD_NOLOAD, so never
 * loaded by us) so that a dlclose cannot unmap it; when there is none, looked
 * up again only after the loader has loaded something.
 */
static sym_demangle_fn demangler(struct agent_symtab *s)
{
	void *lib = NULL;
	void *fn;
	Dl_info info;

	if (s->demangle != NULL)
		return s->demangle;
	if (s->demangle_missing && s->demangle_adds == s->adds)
		return NULL;
	fn = dlsym(RTLD_DEFAULT, "__cxa_demangle");
	if (fn != NULL) {
		if (dladdr(fn, &info) != 0 && info.dli_fname != NULL)
			lib = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
	} else {
		lib = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD);
		fn = lib != NULL ? dlsym(lib, "__cxa_demangle") : NULL;
	}
	if (fn == NULL) {
		if (lib != NULL)
			dlclose(lib);
		s->demangle_missing = true;
		s->demangle_adds = s->adds;
		return NULL;
	}
	s->demangle_lib = lib;
	/* POSIX: dlsym results convert to function pointers. */
	s->demangle = (sym_demangle_fn)fn;
	return s->demangle;
}

/* The demangled (C++) or plain name, interned; NULL when out of memory. */
static const char *sym_name(struct agent_symtab *s, const char *raw)
{
	sym_demangle_fn fn;
	const char *r;
	char *d;
	int status = -1;

	if (raw[0] != '_' || raw[1] != 'Z' || (fn = demangler(s)) == NULL)
		return intern(s, raw);
	d = fn(raw, NULL, NULL, &status);
	if (d == NULL || status != 0) {
		free(d);
		return intern(s, raw);
	}
	r = intern(s, d);
	free(d);
	return r;
}

/* ---- modules ------------------------------------------------------------ */

static bool in_readable_load(const struct dl_phdr_info *info, uintptr_t vaddr,
			     uintptr_t len)
{
	for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];

		if (p->p_type != PT_LOAD || !(p->p_flags & PF_R))
			continue;
		if (vaddr >= p->p_vaddr && len <= p->p_filesz &&
		    vaddr - p->p_vaddr <= p->p_filesz - len)
			return true;
	}
	return false;
}

/* The NT_GNU_BUILD_ID of the loaded image, read from its PT_NOTE segments. */
static void image_build_id(const struct dl_phdr_info *info, struct sym_seen *e)
{
	for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];
		size_t align = p->p_align == 8 ? 8 : 4;
		const unsigned char *q;
		size_t left;

		if (p->p_type != PT_NOTE ||
		    !in_readable_load(info, p->p_vaddr, p->p_memsz))
			continue;
		q = (const unsigned char *)(info->dlpi_addr + p->p_vaddr);
		left = p->p_memsz;
		while (left >= sizeof(ElfW(Nhdr))) {
			ElfW(Nhdr) nh;
			size_t namesz, descsz;

			memcpy(&nh, q, sizeof(nh));
			namesz = ((size_t)nh.n_namesz + align - 1) &
				 ~(align - 1);
			descsz = ((size_t)nh.n_descsz + align - 1) &
				 ~(align - 1);
			if (namesz > left - sizeof(nh) ||
			    descsz > left - sizeof(nh) - namesz)
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    memcmp(q + sizeof(nh), "GNU", 4) == 0 &&
			    nh.n_descsz > 0 &&
			    nh.n_descsz <= SYM_BUILD_ID_MAX) {
				memcpy(e->build_id, q + sizeof(nh) + namesz,
				       nh.n_descsz);
				e->build_id_len = nh.n_descsz;
				return;
			}
			q += sizeof(nh) + namesz + descsz;
			left -= sizeof(nh) + namesz + descsz;
		}
	}
}

/* Runs under the loader's lock: copies what it needs, nothing more. */
static int scan_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct sym_scan *sc = arg;
	bool first = sc->calls++ == 0, is_exe;
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	struct sym_seen *e;

	if (size < offsetof(struct dl_phdr_info, dlpi_phnum) +
			   sizeof(info->dlpi_phnum))
		return 1;
	if (first)
		gen_cb(info, size, arg);
	if (info->dlpi_name == NULL)
		return 0;
	/* The executable is first and unnamed; skip other unnamed ones. */
	is_exe = first && info->dlpi_name[0] == '\0';
	if (!is_exe && info->dlpi_name[0] == '\0')
		return 0;
	for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];

		if (p->p_type != PT_LOAD || p->p_memsz == 0)
			continue;
		if (info->dlpi_addr + p->p_vaddr < lo)
			lo = info->dlpi_addr + p->p_vaddr;
		if (info->dlpi_addr + p->p_vaddr + p->p_memsz > hi)
			hi = info->dlpi_addr + p->p_vaddr + p->p_memsz;
	}
	if (lo >= hi)
		return 0;
	if (sc->n == sc->cap) {
		size_t cap = sc->cap ? sc->cap * 2 : 32;
		struct sym_seen *v = realloc(sc->v, cap * sizeof(*v));
		if (v == NULL) {
			sc->oom = true;
			return 1;
		}
		sc->v = v;
		sc->cap = cap;
	}
	e = &sc->v[sc->n];
	memset(e, 0, sizeof(*e));
	e->lo = lo;
	e->hi = hi;
	e->bias = info->dlpi_addr;
	if (!is_exe) {
		e->name = strdup(info->dlpi_name);
		if (e->name == NULL) {
			sc->oom = true;
			return 1;
		}
	}
	image_build_id(info, e);
	sc->n++;
	return 0;
}

static void mod_close(struct agent_symtab *s, struct sym_module *m)
{
	if (m->state != MOD_OPEN)
		return;
	if (m->dw != NULL)
		dwarf_end(m->dw);
	elf_end(m->elf);
	free(m->funcs);
	m->dw = NULL;
	m->elf = NULL;
	m->funcs = NULL;
	m->nfuncs = 0;
	m->state = MOD_CLOSED;
	s->nopen--;
}

/* The executable's path; stays "(deleted)"-suffixed if it was removed. */
static const char *exe_path(struct agent_symtab *s)
{
	char buf[PATH_MAX];
	char *rp;
	ssize_t n;

	if (s->exe_path != NULL)
		return s->exe_path;
	rp = realpath("/proc/self/exe", NULL);
	if (rp != NULL) {
		s->exe_path = intern(s, rp);
		free(rp);
		return s->exe_path;
	}
	n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return intern(s, "/proc/self/exe");
	s->exe_path = intern_len(s, buf, (size_t)n);
	return s->exe_path;
}

/* Fills a new module from a scan entry; false when out of memory. */
static bool mod_init(struct agent_symtab *s, struct sym_module *m,
		     const struct sym_seen *e, const char *raw)
{
	char *rp;

	memset(m, 0, sizeof(*m));
	m->lo = e->lo;
	m->hi = e->hi;
	m->bias = e->bias;
	m->raw_name = raw;
	memcpy(m->build_id, e->build_id, e->build_id_len);
	m->build_id_len = e->build_id_len;
	if (e->name == NULL) {
		m->path = exe_path(s);
		m->open_path = intern(s, "/proc/self/exe");
		return m->path != NULL && m->open_path != NULL;
	}
	rp = realpath(e->name, NULL);
	m->path = intern(s, rp != NULL ? rp : e->name);
	free(rp);
	if (m->path == NULL)
		return false;
	/* Relative names (the vdso's) are not opened from the cwd. */
	m->open_path = m->path[0] == '/' ? m->path : NULL;
	if (m->open_path == NULL)
		m->state = MOD_FAILED;
	return true;
}

static struct sym_module *mod_find(struct agent_symtab *s, uintptr_t a)
{
	for (size_t i = 0; i < s->nmods; i++)
		if (a >= s->mods[i].lo && a < s->mods[i].hi)
			return &s->mods[i];
	return NULL;
}

/*
 * Keeps the cached results of modules that survived a rescan (kept), so that
 * code loaded where an unloaded object was is resolved again.
 */
static void cache_prune(struct agent_symtab *s)
{
	uint32_t n = 0;

	ptrmap_fini(&s->cache);
	s->nunmapped = 0;
	for (uint32_t i = 0; i < s->nresults; i++) {
		struct sym_module *m = mod_find(s, s->results[i].addr);

		if (m == NULL || !m->kept)
			continue;
		if (ptrmap_put(&s->cache, s->results[i].addr, n + 1) != 0)
			break; /* out of memory: forget the rest */
		s->results[n++] = s->results[i];
	}
	s->nresults = n;
}

/*
 * Rescans the loaded objects. Modules still loaded at the same place keep
 * their state; others are closed and their cached results dropped. On
 * failure the old list stays.
 */
static void mods_rescan(struct agent_symtab *s)
{
	struct sym_scan sc = {0};
	struct sym_module *mods = NULL;
	bool added = false, dropped = false;
	size_t i, j;

	dl_iterate_phdr(scan_cb, &sc);
	if (sc.oom || sc.n == 0)
		goto out;
	mods = calloc(sc.n, sizeof(*mods));
	if (mods == NULL)
		goto out;
	for (j = 0; j < s->nmods; j++)
		s->mods[j].kept = false;
	for (i = 0; i < sc.n; i++) {
		const struct sym_seen *e = &sc.v[i];
		const char *raw = intern(s, e->name ? e->name : "");

		if (raw == NULL)
			goto err_free_mods;
		for (j = 0; j < s->nmods; j++) {
			struct sym_module *o = &s->mods[j];
			if (!o->kept && o->raw_name == raw && o->lo == e->lo &&
			    o->hi == e->hi && o->bias == e->bias)
				break;
		}
		if (j < s->nmods) {
			mods[i] = s->mods[j];
			s->mods[j].kept = true;
			mods[i].kept = true;
		} else if (!mod_init(s, &mods[i], e, raw)) {
			goto err_free_mods;
		} else {
			added = true;
		}
	}
	for (j = 0; j < s->nmods; j++) {
		if (!s->mods[j].kept) {
			mod_close(s, &s->mods[j]);
			dropped = true;
		}
	}
	free(s->mods);
	s->mods = mods;
	s->nmods = sc.n;
	s->adds = sc.adds;
	s->subs = sc.subs;
	if (dropped || (added && s->nunmapped > 0))
		cache_prune(s);
	goto out;

err_free_mods:
	/* Only new entries were made here; the kept ones still belong to s. */
	free(mods);
out:
	for (i = 0; i < sc.n; i++)
		free(sc.v[i].name);
	free(sc.v);
}

/* ---- ELF symbol tables -------------------------------------------------- */

static int func_cmp(const void *pa, const void *pb)
{
	const struct sym_func *a = pa, *b = pb;

	if (a->lo != b->lo)
		return a->lo < b->lo ? -1 : 1;
	/* Among aliases: sized first, then global before weak before local. */
	if ((a->size == 0) != (b->size == 0))
		return a->size == 0 ? 1 : -1;
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	/* getpid before __getpid; then any fixed order. */
	size_t ua = strspn(a->name, "_"), ub = strspn(b->name, "_");
	if (ua != ub)
		return ua < ub ? -1 : 1;
	return strcmp(a->name, b->name);
}

static unsigned bind_rank(unsigned char bind)
{
	switch (bind) {
	case STB_GLOBAL:
		return 0;
	case STB_WEAK:
		return 1;
	case STB_LOCAL:
		return 2;
	default:
		return 3;
	}
}

/* The section of type `type`, or NULL. */
static Elf_Scn *find_section(Elf *elf, Elf64_Word type, GElf_Shdr *shdr)
{
	Elf_Scn *scn = NULL;

	while ((scn = elf_nextscn(elf, scn)) != NULL)
		if (gelf_getshdr(scn, shdr) != NULL && shdr->sh_type == type)
			return scn;
	return NULL;
}

/*
 * Collects the defined functions of .symtab (or .dynsym when stripped),
 * sorted by address. Names point into the mapped file. Returns 0 (possibly
 * with no functions) or FP_ENOMEM.
 */
static int load_funcs(Elf *elf, struct sym_func **out, size_t *nout)
{
	GElf_Shdr shdr;
	Elf_Scn *scn = find_section(elf, SHT_SYMTAB, &shdr);
	Elf_Data *data;
	struct sym_func *v;
	size_t n, k = 0, entsize = gelf_fsize(elf, ELF_T_SYM, 1, EV_CURRENT);

	*out = NULL;
	*nout = 0;
	if (scn == NULL)
		scn = find_section(elf, SHT_DYNSYM, &shdr);
	if (scn == NULL || entsize == 0)
		return 0;
	data = elf_getdata(scn, NULL);
	if (data == NULL || data->d_size < entsize)
		return 0;
	n = data->d_size / entsize;
	if (n > INT_MAX)
		n = INT_MAX; /* gelf_getsym takes an int */
	v = calloc(n, sizeof(*v));
	if (v == NULL)
		return FP_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;
		int type;

		if (gelf_getsym(data, (int)i, &sym) == NULL)
			break;
		type = GELF_ST_TYPE(sym.st_info);
		if ((type != STT_FUNC && type != STT_GNU_IFUNC) ||
		    sym.st_shndx == SHN_UNDEF || sym.st_value == 0)
			continue;
		name = elf_strptr(elf, shdr.sh_link, sym.st_name);
		if (name == NULL || name[0] == '\0')
			continue;
		v[k].lo = sym.st_value;
		v[k].size = sym.st_size;
		v[k].name = name;
		v[k].rank = bind_rank(GELF_ST_BIND(sym.st_info));
		k++;
	}
	if (k == 0) {
		free(v);
		return 0;
	}
	qsort(v, k, sizeof(*v), func_cmp);
	*out = v;
	*nout = k;
	return 0;
}

/*
 * The function at file address pc: one starting exactly there (sized, best
 * binding) or else one whose size covers it. NULL if none.
 */
static const struct sym_func *func_find(const struct sym_module *m, uint64_t pc)
{
	const struct sym_func *f = m->funcs;
	size_t lo = 0, hi = m->nfuncs, i;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (f[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	i = lo - 1;
	if (f[i].lo == pc) {
		while (i > 0 && f[i - 1].lo == pc)
			i--;
		return &f[i];
	}
	for (size_t k = 0; k < SYM_CONTAIN_SCAN; k++, i--) {
		if (f[i].size != 0 && pc - f[i].lo < f[i].size) {
			while (i > 0 && f[i - 1].lo == f[i].lo &&
			       f[i - 1].size != 0)
				i--;
			return &f[i];
		}
		if (i == 0)
			break;
	}
	return NULL;
}

static bool build_id_matches(const struct sym_module *m, Elf *elf)
{
	const void *id = NULL;
	ssize_t n;

	if (m->build_id_len == 0)
		return true;
	n = dwelf_elf_gnu_build_id(elf, &id);
	return n > 0 && (size_t)n == m->build_id_len &&
	       memcmp(id, m->build_id, m->build_id_len) == 0;
}

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Unmaps files not used for SYM_IDLE_NS, with libdw's caches of them. */
static void close_idle(struct agent_symtab *s)
{
	uint64_t now = coarse_ns();

	s->hits = 0;
	if (now == 0)
		return;
	for (size_t i = 0; i < s->nmods && s->nopen > 0; i++) {
		struct sym_module *m = &s->mods[i];
		if (m->state == MOD_OPEN && now - m->used_ns > SYM_IDLE_NS)
			mod_close(s, m);
	}
}

static void evict_lru(struct agent_symtab *s)
{
	struct sym_module *lru = NULL;

	for (size_t i = 0; i < s->nmods; i++) {
		struct sym_module *m = &s->mods[i];
		if (m->state == MOD_OPEN &&
		    (lru == NULL || m->last_use < lru->last_use))
			lru = m;
	}
	if (lru != NULL)
		mod_close(s, lru);
}

/*
 * Maps the module's file and reads its symbol table and DWARF. The fd is
 * closed before returning. FP_EIO (file missing or replaced, not ELF: the
 * module is marked failed for good) or FP_ENOMEM (retried next time).
 */
static int mod_open(struct agent_symtab *s, struct sym_module *m)
{
	GElf_Ehdr ehdr;
	Elf *elf;
	int fd, rc;

	if (s->nopen >= SYM_MAX_OPEN)
		evict_lru(s);
	fd = open(m->open_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fp_debug("agent: symbols: cannot open %s: %s", m->open_path,
			 strerror(errno));
		m->state = MOD_FAILED;
		return FP_EIO;
	}
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (elf == NULL || elf_kind(elf) != ELF_K_ELF ||
	    gelf_getehdr(elf, &ehdr) == NULL ||
	    (ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN) ||
	    elf_cntl(elf, ELF_C_FDREAD) != 0) {
		fp_debug("agent: symbols: %s: not a usable ELF file: %s",
			 m->path, elf_errmsg(-1));
		rc = FP_EIO;
		goto err_end;
	}
	close(fd);
	fd = -1;
	if (!build_id_matches(m, elf)) {
		fp_debug("agent: symbols: %s: build id differs from the "
			 "loaded image",
			 m->path);
		rc = FP_EIO;
		goto err_end;
	}
	rc = load_funcs(elf, &m->funcs, &m->nfuncs);
	if (rc != 0)
		goto err_end;
	m->dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
	m->elf = elf;
	m->state = MOD_OPEN;
	s->nopen++;
	return 0;

err_end:
	elf_end(elf);
	if (fd >= 0)
		close(fd);
	if (rc == FP_EIO)
		m->state = MOD_FAILED;
	return rc;
}

/* ---- DWARF -------------------------------------------------------------- */

struct func_search {
	Dwarf_Addr pc;
	Dwarf_Die die;
	int found; /* 0 none, 1 covers pc, 2 starts at pc */
};

static int func_cb(Dwarf_Die *die, void *arg)
{
	struct func_search *fs = arg;
	Dwarf_Addr low;

	if (dwarf_lowpc(die, &low) == 0 && low == fs->pc) {
		fs->die = *die;
		fs->found = 2;
		return DWARF_CB_ABORT;
	}
	if (fs->found == 0 && dwarf_haspc(die, fs->pc) > 0) {
		fs->die = *die;
		fs->found = 1;
	}
	return DWARF_CB_OK;
}

/* The compile unit covering pc, scanning all units without .debug_aranges. */
static bool cu_find(Dwarf *dw, Dwarf_Addr pc, Dwarf_Die *cu)
{
	Dwarf_Off off = 0, next;
	size_t hsize;

	if (dwarf_addrdie(dw, pc, cu) != NULL)
		return true;
	while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		if (dwarf_offdie(dw, off + hsize, cu) != NULL &&
		    dwarf_haspc(cu, pc) > 0)
			return true;
		off = next;
	}
	return false;
}

/*
 * Source file and line of the function at pc: the declaration of the
 * subprogram (where its name is written), else the line table. Also its
 * linkage name, for objects whose symbol table lacks it.
 */
static void dwarf_lookup(struct agent_symtab *s, Dwarf *dw, Dwarf_Addr pc,
			 struct agent_symbol *r, const char **linkage)
{
	struct func_search fs = {.pc = pc};
	Dwarf_Attribute attr;
	Dwarf_Die cu;
	Dwarf_Line *ln;
	const char *file = NULL;
	int line = 0;

	*linkage = NULL;
	if (!cu_find(dw, pc, &cu))
		return;
	if (dwarf_getfuncs(&cu, func_cb, &fs, 0) >= 0 && fs.found != 0) {
		file = dwarf_decl_file(&fs.die);
		if (file != NULL && dwarf_decl_line(&fs.die, &line) != 0)
			file = NULL;
		if (dwarf_attr_integrate(&fs.die, DW_AT_linkage_name, &attr) ||
		    dwarf_attr_integrate(&fs.die, DW_AT_MIPS_linkage_name,
					 &attr))
			*linkage = dwarf_formstring(&attr);
		if (*linkage == NULL)
			*linkage = dwarf_diename(&fs.die);
	}
	if (file == NULL && (ln = dwarf_getsrc_die(&cu, pc)) != NULL) {
		file = dwarf_linesrc(ln, NULL, NULL);
		if (file != NULL && dwarf_lineno(ln, &line) != 0)
			file = NULL;
	}
	if (file == NULL || line <= 0)
		return;
	r->file = intern(s, file);
	if (r->file == NULL)
		r->file = "";
	else
		r->line = (uint32_t)line;
}

/* ---- resolution --------------------------------------------------------- */

/* Fills name (if found) and file:line from the module's own file. */
static void mod_lookup(struct agent_symtab *s, struct sym_module *m,
		       uintptr_t a, struct agent_symbol *r)
{
	uint64_t pc = (uint64_t)(a - m->bias);
	const struct sym_func *f;
	const char *linkage = NULL;

	if (m->state == MOD_CLOSED && s->have_elf)
		mod_open(s, m);
	if (m->state != MOD_OPEN)
		return;
	m->last_use = ++s->tick;
	m->used_ns = coarse_ns();
	f = func_find(m, pc);
	if (m->dw != NULL)
		dwarf_lookup(s, m->dw, f != NULL ? f->lo : pc, r, &linkage);
	if (f != NULL)
		r->name = sym_name(s, f->name);
	else if (linkage != NULL)
		r->name = sym_name(s, linkage);
}

static void hex_name(struct agent_symtab *s, uintptr_t a,
		     struct agent_symbol *r)
{
	char buf[2 + 2 * sizeof(uintptr_t) + 1];

	snprintf(buf, sizeof(buf), "0x%" PRIxPTR, a);
	r->name = intern(s, buf);
}

static void cache_put(struct agent_symtab *s, uintptr_t a,
		      const struct agent_symbol *r, bool unmapped)
{
	if (a == 0 || s->nresults == UINT32_MAX - 1)
		return;
	if (s->nresults == s->results_cap) {
		uint32_t cap = s->results_cap ? s->results_cap * 2 : 256;
		struct sym_result *v = realloc(s->results, cap * sizeof(*v));
		if (v == NULL)
			return;
		s->results = v;
		s->results_cap = cap;
	}
	if (ptrmap_put(&s->cache, a, s->nresults + 1) != 0)
		return;
	s->results[s->nresults].addr = a;
	s->results[s->nresults].sym = *r;
	s->nresults++;
	if (unmapped)
		s->nunmapped++;
}

/* True when objects were loaded or unloaded since the last scan. */
static bool loader_changed(const struct agent_symtab *s)
{
	struct sym_scan sc = {0};

	dl_iterate_phdr(gen_cb, &sc);
	return sc.adds != s->adds || sc.subs != s->subs;
}

void agent_symtab_resolve(struct agent_symtab *s, const void *addr,
			  struct agent_symbol *out)
{
	uintptr_t a = (uintptr_t)addr;
	struct agent_symbol r = {NULL, "", 0, ""};
	struct sym_module *m;
	Dl_info info;
	uint32_t i;

	if (s->nmods != 0 && loader_changed(s))
		mods_rescan(s);
	if (a != 0 && (i = ptrmap_get(&s->cache, a)) != 0) {
		*out = s->results[i - 1].sym;
		if (s->nopen > 0 && ++s->hits >= SYM_IDLE_EVERY)
			close_idle(s);
		return;
	}
	if (s->nopen > 0)
		close_idle(s);
	m = mod_find(s, a);
	if (m == NULL && a != 0) {
		mods_rescan(s);
		m = mod_find(s, a);
	}
	if (m != NULL) {
		r.module = m->path;
		mod_lookup(s, m, a, &r);
	}
	/* No usable file: the dynamic symbol the loader knows, if any. */
	if (r.name == NULL && a != 0 && dladdr(addr, &info) != 0) {
		if (info.dli_sname != NULL)
			r.name = sym_name(s, info.dli_sname);
		if (m == NULL && info.dli_fname != NULL) {
			r.module = intern(s, info.dli_fname);
			if (r.module == NULL)
				r.module = "";
		}
	}
	if (r.name == NULL)
		hex_name(s, a, &r);
	if (r.name == NULL)
		r.name = "[unknown]"; /* out of memory */
	cache_put(s, a, &r, m == NULL);
	*out = r;
}

int agent_symtab_create(struct agent_symtab **out)
{
	struct agent_symtab *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return FP_ENOMEM;
	s->have_elf = elf_version(EV_CURRENT) != EV_NONE;
	*out = s;
	return 0;
}

void agent_symtab_destroy(struct agent_symtab *s)
{
	struct sym_chunk *c, *next;

	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nmods; i++)
		mod_close(s, &s->mods[i]);
	free(s->mods);
	free(s->results);
	ptrmap_fini(&s->cache);
	ptrmap_fini(&s->strmap);
	free(s->strs);
	for (c = s->arena; c != NULL; c = next) {
		next = c->next;
		free(c);
	}
	if (s->demangle_lib != NULL)
		dlclose(s->demangle_lib);
	free(s);
}
