/*
 * Symbolization of code addresses for the flush thread: automatic
 * instrumentation records raw function addresses, and this turns each one
 * into a name, a source file:line and the module (executable or shared
 * object) that holds it. One thread at a time; returned strings are owned by
 * the symtab and stay valid until agent_symtab_destroy().
 */
#ifndef AGENT_SYMBOLS_H
#define AGENT_SYMBOLS_H

#include <stdint.h>

struct agent_symbol {
	const char *name;   /* demangled for C++; "0x7f…" hex if unknown */
	const char *file;   /* source file from DWARF, "" if unknown */
	uint32_t line;	    /* 0 if unknown */
	const char *module; /* path of the ELF object, "" if in none */
};

struct agent_symtab;

/*
 * Makes an empty symtab; modules are discovered and read on first use.
 * Returns 0 and sets *out, or FP_ENOMEM (and *out is untouched).
 */
int agent_symtab_create(struct agent_symtab **out);

/*
 * Resolves a function entry address (an address inside a function gets that
 * function's name). Never fails: an unknown address gets a hex name, "" file,
 * line 0. Strings are owned by the symtab, valid until destroy (also after
 * the object is unloaded). Results are cached per address, and resolved
 * again once the object that held the address has been dlclose'd. Called by
 * one thread at a time (the flush thread); briefly takes the loader's lock.
 */
void agent_symtab_resolve(struct agent_symtab *s, const void *addr,
			  struct agent_symbol *out);

/* Frees the symtab and every string it returned; NULL is a no-op. */
void agent_symtab_destroy(struct agent_symtab *s);

#endif
