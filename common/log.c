/*
 * stderr logger with syslog priority prefixes. The level is a relaxed atomic
 * so any thread may log or change it; each line is formatted into a local
 * buffer and written with one fputs, so lines from threads never interleave.
 */
#include "fp/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_int log_level = FP_LOG_NOTICE;
static const char *log_ident = "fleetprof";

void fp_log_set_level(int level)
{
	atomic_store_explicit(&log_level, level, memory_order_relaxed);
}

int fp_log_get_level(void)
{
	return atomic_load_explicit(&log_level, memory_order_relaxed);
}

void fp_log_set_ident(const char *ident)
{
	log_ident = ident;
}

int fp_log_parse_level(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
		{"err", FP_LOG_ERR},	     {"error", FP_LOG_ERR},
		{"warning", FP_LOG_WARNING}, {"warn", FP_LOG_WARNING},
		{"notice", FP_LOG_NOTICE},   {"info", FP_LOG_INFO},
		{"debug", FP_LOG_DEBUG},
	};
	if (s == NULL)
		return -1;
	if (s[0] >= '0' && s[0] <= '7' && s[1] == '\0')
		return s[0] - '0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i].name) == 0)
			return names[i].level;
	return -1;
}

void fp_log(int level, const char *fmt, ...)
{
	char line[1024];
	int n;
	va_list ap;

	if (level > fp_log_get_level())
		return;
	n = snprintf(line, sizeof(line), "<%d>%s: ", level, log_ident);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n] = '\n';
	line[n + 1] = '\0';
	fputs(line, stderr);
}
