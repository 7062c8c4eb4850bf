/*
 * Logging to stderr with syslog priority prefixes ("<3>" …) so journald keeps
 * the level. Thread-safe (one fprintf per line). The agent library calls
 * fp_log_set_level() from its own configuration and never writes to stdout.
 */
#ifndef FP_LOG_H
#define FP_LOG_H

enum fp_log_level {
	FP_LOG_ERR = 3,
	FP_LOG_WARNING = 4,
	FP_LOG_NOTICE = 5,
	FP_LOG_INFO = 6,
	FP_LOG_DEBUG = 7,
};

void fp_log_set_level(int level);
int fp_log_get_level(void);
/* Parses "err", "warning", "notice", "info", "debug" or a digit; -1 if bad. */
int fp_log_parse_level(const char *s);
/* Set the name printed after the priority ("fleetprof-collector"). */
void fp_log_set_ident(const char *ident);

void fp_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define fp_err(...) fp_log(FP_LOG_ERR, __VA_ARGS__)
#define fp_warn(...) fp_log(FP_LOG_WARNING, __VA_ARGS__)
#define fp_notice(...) fp_log(FP_LOG_NOTICE, __VA_ARGS__)
#define fp_info(...) fp_log(FP_LOG_INFO, __VA_ARGS__)
#define fp_debug(...) fp_log(FP_LOG_DEBUG, __VA_ARGS__)

#endif
