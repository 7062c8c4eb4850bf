/*
 * The collector's configuration: defaults, an INI file (libinih), the
 * environment and the command line, in rising precedence, resolved into
 * struct collector_options. Every bad value is reported with where it came
 * from ("file:line: [section] key: …", "--flag: …", "FLEETPROF_X: …").
 * Not thread-safe (libinih's settings are global): call from main only.
 */
#ifndef COLLECTOR_CONFIG_H
#define COLLECTOR_CONFIG_H

#include <stdio.h>

#include "collector.h"

/* Where an option's value came from; later sources win. */
enum collector_source {
	COLLECTOR_SRC_DEFAULT,
	COLLECTOR_SRC_FILE,
	COLLECTOR_SRC_ENV,
	COLLECTOR_SRC_FLAG,
};

#define COLLECTOR_MAX_OPTIONS 32

struct collector_config {
	struct collector_options opt; /* owns its strings and tokens */
	char *path;		      /* config file, NULL when none */
	int help, version, migrate, check_config;
	/* Per option (index into the option table), and for the tokens. */
	unsigned char src[COLLECTOR_MAX_OPTIONS];
	int line[COLLECTOR_MAX_OPTIONS];
	unsigned char tokens_src;
	int max_group_at_start; /* SIGHUP may lower max_group, not raise it */
};

/*
 * Resolves argv (argv[0] is skipped), the environment and the config file
 * (--config, else $FLEETPROF_COLLECTOR_CONFIG) into *cfg, which the caller
 * releases with collector_config_fini() whatever the result. Returns 0, or
 * FP_EINVAL / FP_ESYNTAX / FP_EIO / FP_ENOMEM with a one-line message in err.
 */
int collector_config_load(struct collector_config *cfg, int argc,
			  char *const *argv, char *err, size_t errlen);
void collector_config_fini(struct collector_config *cfg);

/*
 * Writes the effective configuration as an INI file the collector would
 * accept, each value not from the defaults preceded by a comment naming its
 * source; tokens and the database password are replaced by "<redacted>".
 */
void collector_config_print(const struct collector_config *cfg, FILE *f);

/* Where [section] key's value came from (enum collector_source), or -1 for
 * an unknown option. */
int collector_config_source(const struct collector_config *cfg,
			    const char *section, const char *key);

/* The --help text. */
void collector_config_usage(FILE *f);

/*
 * The option table, for reload.c: how many options, the index of
 * [section] key (-1 if none), its names, whether SIGHUP may change it, its
 * value as the file spells it (redact: secrets replaced), and copying a
 * scalar option (FP_EINVAL for strings, which stay with their owner).
 */
int collector_option_count(void);
int collector_option_index(const char *section, const char *key);
const char *collector_option_key(int i, const char **section);
int collector_option_reloadable(int i);
void collector_option_format(const struct collector_options *o, int i,
			     int redact, char *buf, size_t len);
int collector_option_copy(struct collector_options *dst,
			  const struct collector_options *src, int i);

/*
 * SIGHUP (reload.c): loads the configuration again from the same argv and
 * applies what can change at run time (log level, tokens, commit_ms,
 * max_group downwards, max_rows, retention, maintenance interval, drain
 * timeout) to c and cur, logging each change; logs options that need a
 * restart. An invalid configuration changes nothing: returns its error
 * (logged with the reason).
 */
int collector_reload(struct collector *c, struct collector_config *cur,
		     int argc, char *const *argv);

#endif
