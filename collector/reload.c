/*
 * SIGHUP: the configuration is resolved again, from scratch, with the same
 * argv; what may change at run time is copied into the running collector
 * (under c->lock, tokens under c->auth_lock), the rest is reported as
 * needing a restart. Runs on the main thread; an invalid configuration
 * changes nothing. Token values are never logged, only their names.
 */
#include "auth.h"
#include "config.h"
#include "fp/error.h"
#include "fp/log.h"

#include <stdbool.h>
#include <string.h>

/* Logs token changes by name; true if anything changed. */
static bool tokens_changed(const struct collector_tokens *a,
			   const struct collector_tokens *b)
{
	size_t na = a ? a->n : 0, nb = b ? b->n : 0;
	bool changed = na != nb;

	for (size_t i = 0; i < na; i++) {
		int j = collector_tokens_find(b, a->v[i].name);
		if (j < 0) {
			fp_notice("reload: token '%s' removed", a->v[i].name);
			changed = true;
		} else if (a->v[i].len != b->v[j].len ||
			   memcmp(a->v[i].pad, b->v[j].pad, a->v[i].len) != 0) {
			fp_notice("reload: token '%s' changed", a->v[i].name);
			changed = true;
		}
	}
	for (size_t j = 0; j < nb; j++) {
		if (collector_tokens_find(a, b->v[j].name) < 0) {
			fp_notice("reload: token '%s' added", b->v[j].name);
			changed = true;
		}
	}
	return changed;
}

/* Applies option i of next if it may change; 1 if applied. */
static int apply_option(struct collector *c, struct collector_config *cur,
			const struct collector_config *next, int i)
{
	const int max_group = collector_option_index("collector", "max_group");
	const int log_level = collector_option_index("collector", "log_level");
	const char *section, *key = collector_option_key(i, &section);
	char a[1024], b[1024];

	collector_option_format(&cur->opt, i, 0, a, sizeof(a));
	collector_option_format(&next->opt, i, 0, b, sizeof(b));
	if (strcmp(a, b) == 0)
		return 0;
	collector_option_format(&cur->opt, i, 1, a, sizeof(a));
	collector_option_format(&next->opt, i, 1, b, sizeof(b));
	if (!collector_option_reloadable(i)) {
		fp_warn("reload: [%s] %s changed (%s -> %s) but needs a "
			"restart; keeping %s",
			section, key, a, b, a);
		return 0;
	}
	if (i == max_group && next->opt.max_group > cur->max_group_at_start) {
		/* The writer sized its arrays with the value at start. */
		fp_warn("reload: [collector] max_group %s is above its value "
			"at "
			"start (%d) and needs a restart; keeping %s",
			b, cur->max_group_at_start, a);
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	collector_option_copy(&cur->opt, &next->opt, i);
	collector_option_copy(&c->opt, &next->opt, i);
	pthread_mutex_unlock(&c->lock);
	if (i == log_level)
		fp_log_set_level(cur->opt.log_level);
	fp_notice("reload: [%s] %s: %s -> %s", section, key, a, b);
	return 1;
}

int collector_reload(struct collector *c, struct collector_config *cur,
		     int argc, char *const *argv)
{
	struct collector_config next;
	char err[1024];
	int rc, changes = 0;

	rc = collector_config_load(&next, argc, argv, err, sizeof(err));
	if (rc != 0) {
		fp_err("reload refused, configuration unchanged: %s", err);
		collector_config_fini(&next);
		return rc;
	}
	for (int i = 0; i < collector_option_count(); i++)
		changes += apply_option(c, cur, &next, i);
	if (tokens_changed(cur->opt.tokens, next.opt.tokens)) {
		struct collector_tokens *old = cur->opt.tokens;
		pthread_mutex_lock(&c->auth_lock);
		c->opt.tokens = next.opt.tokens;
		pthread_mutex_unlock(&c->auth_lock);
		cur->opt.tokens = next.opt.tokens;
		cur->tokens_src = next.tokens_src;
		next.opt.tokens = old; /* freed with next */
		if (cur->opt.tokens != NULL && cur->opt.tokens->n > 0)
			fp_notice("reload: %zu token(s) accepted",
				  cur->opt.tokens->n);
		else
			fp_notice("reload: no token configured: any sender "
				  "is accepted");
		changes++;
	}
	if (changes == 0)
		fp_notice("reload: configuration unchanged");
	else
		fp_notice("reload: %d change(s) applied", changes);
	collector_config_fini(&next);
	return 0;
}
