/*
 * Output helpers (see cli_out.h). Width is counted in code points, which is
 * right for the µ of durations and for ASCII names; wide characters in
 * names may misalign a row, never corrupt it.
 */
#include "cli_out.h"
#include "cli.h"
#include "cli_units.h"
#include "fp/error.h"
#include "fp/timeutil.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_want_color(FILE *out)
{
	const char *no = getenv("NO_COLOR"), *term = getenv("TERM");

	if (no != NULL && no[0] != '\0')
		return 0;
	if (term != NULL && strcmp(term, "dumb") == 0)
		return 0;
	return isatty(fileno(out));
}

void cli_put_safe(FILE *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		fputc(c < 0x20 || c == 0x7f ? '?' : c, out);
	}
}

static void make_safe(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

char *cli_function_label(const char *name, const char *file, int32_t line,
			 const char *module)
{
	size_t len = strlen(name) + strlen(file) + strlen(module) + 24;
	char *s = malloc(len);

	if (s == NULL)
		return NULL;
	if (file[0] != '\0' && line > 0)
		snprintf(s, len, "%s (%s:%d)", name, file, (int)line);
	else if (file[0] != '\0')
		snprintf(s, len, "%s (%s)", name, file);
	else if (module[0] != '\0')
		snprintf(s, len, "%s (%s)", name, module);
	else
		snprintf(s, len, "%s", name);
	make_safe(s);
	return s;
}

void cli_csv_field(FILE *out, const char *s)
{
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

void cli_csv_seconds(FILE *out, double ns)
{
	const char *sign = ns < 0 ? "-" : "";
	double a = ns < 0 ? -ns : ns;

	if (a < 9e18) {
		uint64_t v = (uint64_t)a;
		fprintf(out, "%s%llu.%09llu", sign,
			(unsigned long long)(v / (uint64_t)FP_NS_PER_SEC),
			(unsigned long long)(v % (uint64_t)FP_NS_PER_SEC));
	} else {
		fprintf(out, "%.9f", ns / 1e9);
	}
}

void cli_put_time(FILE *out, int64_t ns)
{
	char buf[40];
	fp_format_time(ns, buf, sizeof(buf));
	fputs(buf, out);
}

json_t *cli_jstr(const char *s)
{
	json_t *j = json_string(s);
	char *copy;

	if (j != NULL)
		return j;
	copy = strdup(s);
	if (copy == NULL)
		return NULL;
	for (char *p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

json_t *cli_jcount(uint64_t v)
{
	return v <= (uint64_t)INT64_MAX ? json_integer((json_int_t)v)
					: json_real((double)v);
}

int cli_jset(json_t *obj, const char *key, json_t *value)
{
	return json_object_set_new(obj, key, value) == 0 ? 0 : -1;
}

int cli_json_write(FILE *out, json_t *j)
{
	int rc = 0;

	if (j == NULL)
		return FP_ENOMEM;
	/* 15 digits: ns-exact below 10^6 s, and 0.1 prints as 0.1. */
	if (json_dumpf(j, out, JSON_INDENT(2) | JSON_REAL_PRECISION(15)) != 0)
		rc = FP_EIO;
	else
		fputc('\n', out);
	json_decref(j);
	return rc;
}

void cli_table_init(struct cli_table *t, size_t ncols, const char *const *heads,
		    unsigned left)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->heads = heads;
	t->left = left;
}

void cli_table_row(struct cli_table *t)
{
	if (t->oom)
		return;
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 16;
		char **c = realloc(t->cells, cap * t->ncols * sizeof(*c));
		int *k;
		if (c == NULL) {
			t->oom = 1;
			return;
		}
		t->cells = c;
		k = realloc(t->colors, cap * t->ncols * sizeof(*k));
		if (k == NULL) {
			t->oom = 1;
			return;
		}
		t->colors = k;
		t->cap = cap;
	}
	for (size_t k = 0; k < t->ncols; k++) {
		t->cells[t->nrows * t->ncols + k] = NULL;
		t->colors[t->nrows * t->ncols + k] = CLI_COLOR_NONE;
	}
	t->nrows++;
}

void cli_table_set(struct cli_table *t, size_t col, const char *text, int color)
{
	size_t i;
	char *s;

	if (t->oom || t->nrows == 0 || col >= t->ncols)
		return;
	i = (t->nrows - 1) * t->ncols + col;
	s = strdup(text);
	if (s == NULL) {
		t->oom = 1;
		return;
	}
	make_safe(s);
	free(t->cells[i]);
	t->cells[i] = s;
	t->colors[i] = color;
}

void cli_table_setf(struct cli_table *t, size_t col, int color, const char *fmt,
		    ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	cli_table_set(t, col, buf, color);
}

static const char *const color_on[] = {
	[CLI_COLOR_NONE] = "",
	[CLI_COLOR_RED] = "\x1b[31m",
	[CLI_COLOR_GREEN] = "\x1b[32m",
	[CLI_COLOR_BOLD] = "\x1b[1m",
};

static void put_cell(FILE *out, const char *s, size_t width, int left, int last,
		     int color)
{
	size_t w = cli_display_width(s), pad = width > w ? width - w : 0;

	if (!left)
		while (pad-- > 0)
			fputc(' ', out);
	if (color != CLI_COLOR_NONE)
		fputs(color_on[color], out);
	fputs(s, out);
	if (color != CLI_COLOR_NONE)
		fputs("\x1b[0m", out);
	if (left && !last)
		while (pad-- > 0)
			fputc(' ', out);
	if (!last)
		fputs("  ", out);
}

int cli_table_print(struct cli_table *t, FILE *out, int color)
{
	size_t *w;

	if (t->oom)
		return FP_ENOMEM;
	w = calloc(t->ncols, sizeof(*w));
	if (w == NULL)
		return FP_ENOMEM;
	for (size_t k = 0; k < t->ncols; k++) {
		w[k] = cli_display_width(t->heads[k]);
		for (size_t i = 0; i < t->nrows; i++) {
			const char *s = t->cells[i * t->ncols + k];
			size_t dw = s != NULL ? cli_display_width(s) : 0;
			if (dw > w[k])
				w[k] = dw;
		}
	}
	for (size_t k = 0; k < t->ncols; k++)
		put_cell(out, t->heads[k], w[k], (t->left >> k) & 1,
			 k + 1 == t->ncols, color ? CLI_COLOR_BOLD : 0);
	fputc('\n', out);
	for (size_t i = 0; i < t->nrows; i++) {
		for (size_t k = 0; k < t->ncols; k++) {
			const char *s = t->cells[i * t->ncols + k];
			put_cell(out, s != NULL ? s : "", w[k],
				 (t->left >> k) & 1, k + 1 == t->ncols,
				 color ? t->colors[i * t->ncols + k] : 0);
		}
		fputc('\n', out);
	}
	free(w);
	return 0;
}

void cli_table_fini(struct cli_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->colors);
	memset(t, 0, sizeof(*t));
}

int cli_output_done(FILE *out, int rc, struct cli_error *e)
{
	if (rc == 0 && (fflush(out) != 0 || ferror(out)))
		rc = FP_EIO;
	if (rc != 0)
		cli_error_set(e, "cannot write the output: %s",
			      fp_strerror(rc));
	return rc;
}
