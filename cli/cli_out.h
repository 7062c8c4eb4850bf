/*
 * Output helpers shared by the commands: strings from the database are
 * untrusted, so control characters never reach a terminal, JSON is built by
 * jansson and CSV fields are quoted as RFC 4180 says. A small aligned-table
 * builder, and color only on a terminal without NO_COLOR. No global state.
 */
#ifndef CLI_CLI_OUT_H
#define CLI_CLI_OUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct cli_error;

enum cli_color {
	CLI_COLOR_NONE = 0,
	CLI_COLOR_RED,
	CLI_COLOR_GREEN,
	CLI_COLOR_BOLD,
};

/* 1 if out is a terminal, NO_COLOR is unset or empty and TERM is not dumb. */
int cli_want_color(FILE *out);

/* Writes s with control characters (escape sequences…) shown as '?'. */
void cli_put_safe(FILE *out, const char *s);

/*
 * "name (file:line)", "name (file)", "name (module)" or "name", as a new
 * string (control characters as '?'); NULL when out of memory.
 */
char *cli_function_label(const char *name, const char *file, int32_t line,
			 const char *module);

/* One CSV field: quoted (quotes doubled) if it holds , " CR or LF. */
void cli_csv_field(FILE *out, const char *s);
/* Exact decimal seconds from integral ns: -1500000000 -> "-1.500000000". */
void cli_csv_seconds(FILE *out, double ns);
/* RFC 3339 UTC, as in the table header. */
void cli_put_time(FILE *out, int64_t ns);

/* A JSON string; text that is not UTF-8 gets '?' for every non-ASCII byte. */
json_t *cli_jstr(const char *s);
/* json_int_t is signed 64-bit; a larger count becomes a real. */
json_t *cli_jcount(uint64_t v);
/* obj[key] = value; takes value even on failure. Returns 0 or -1. */
int cli_jset(json_t *obj, const char *key, json_t *value);
/* Dumps j (indent 2, 15 significant digits) and a newline; decrefs j.
 * Returns 0, FP_ENOMEM (j NULL) or FP_EIO. */
int cli_json_write(FILE *out, json_t *j);

/* An aligned text table; cells are copied. */
struct cli_table {
	size_t ncols;
	const char *const *heads;
	unsigned left; /* bit k: column k is left-aligned */
	char **cells;  /* nrows * ncols */
	int *colors;   /* enum cli_color per cell */
	size_t nrows, cap;
	int oom;
};

void cli_table_init(struct cli_table *t, size_t ncols, const char *const *heads,
		    unsigned left);
/* Appends a row of empty cells; later cli_table_set fill it. */
void cli_table_row(struct cli_table *t);
/* Sets cell col of the last row (text copied; control chars as '?'). */
void cli_table_set(struct cli_table *t, size_t col, const char *text,
		   int color);
void cli_table_setf(struct cli_table *t, size_t col, int color, const char *fmt,
		    ...) __attribute__((format(printf, 4, 5)));
/* Prints heads and rows, columns two spaces apart, no trailing blanks
 * after a left-aligned last column. Returns 0 or FP_ENOMEM. */
int cli_table_print(struct cli_table *t, FILE *out, int color);
void cli_table_fini(struct cli_table *t);

/*
 * Ends a command's output: rc is the writer's result; the stream is flushed
 * and checked. On any failure fills e ("cannot write the output: …") and
 * returns the FP_E* code; 0 otherwise.
 */
int cli_output_done(FILE *out, int rc, struct cli_error *e);

#endif
