/*
 * Test helpers (see fp_test.h). Failures here are test failures: they
 * print the reason and abort the test through cmocka's fail_msg.
 */
#include "fp_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

static char admin_url[512];
static char db_name[128];

static PGconn *connect_or_fail(const char *url)
{
	PGconn *c = PQconnectdb(url);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "cannot connect to %s: %s\n", url,
			PQerrorMessage(c));
		PQfinish(c);
		fail_msg("database connection failed");
	}
	PQclear(PQexec(c, "SET client_min_messages = warning"));
	return c;
}

static void exec_or_fail(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(r));
		PQclear(r);
		fail_msg("SQL failed");
	}
	PQclear(r);
}

/* Replaces the database part of a URI (after the last '/'). */
static void url_with_db(const char *base, const char *db, char *out, size_t len)
{
	const char *slash = strrchr(base, '/');
	const char *q = strchr(base, '?');
	size_t prefix;
	if (slash == NULL || slash < strstr(base, "//") + 2) {
		snprintf(out, len, "%s/%s", base, db);
		return;
	}
	prefix = (size_t)(slash - base) + 1;
	snprintf(out, len, "%.*s%s%s", (int)prefix, base, db, q ? q : "");
}

int fp_test_db_create(const char *name, char *url, size_t len)
{
	const char *admin = getenv("FLEETPROF_TEST_DB");
	char sql[256];
	PGconn *c;

	if (admin == NULL || admin[0] == '\0')
		return -1;
	snprintf(admin_url, sizeof(admin_url), "%s", admin);
	snprintf(db_name, sizeof(db_name), "fp_test_%s_%d", name,
		 (int)getpid());
	c = connect_or_fail(admin_url);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", db_name);
	exec_or_fail(c, sql);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db_name);
	exec_or_fail(c, sql);
	PQfinish(c);
	url_with_db(admin_url, db_name, url, len);
	return 0;
}

int fp_test_need_db(const char *test)
{
	const char *db = getenv("FLEETPROF_TEST_DB");
	const char *ci = getenv("CI");
	if (db != NULL && db[0] != '\0')
		return 0;
	if (ci != NULL && ci[0] != '\0' && strcmp(ci, "false") != 0) {
		printf("FAIL: %s needs FLEETPROF_TEST_DB (make test sets it)\n",
		       test);
		return 1;
	}
	printf("SKIP: %s needs FLEETPROF_TEST_DB (make test sets it)\n", test);
	return 77;
}

void fp_test_db_drop(void)
{
	char sql[256];
	PGconn *c;
	if (db_name[0] == '\0')
		return;
	c = connect_or_fail(admin_url);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
		 db_name);
	exec_or_fail(c, sql);
	PQfinish(c);
	db_name[0] = '\0';
}

const char *fp_test_bin(const char *name)
{
	static char path[8][1024];
	static int next;
	const char *dir = getenv("FP_BIN_DIR");
	char *p = path[next++ % 8];
	snprintf(p, 1024, "%s/%s", dir ? dir : "build/bin", name);
	return p;
}

int fp_test_free_port(void)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
		fail_msg("cannot find a free port: %s", strerror(errno));
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

pid_t fp_test_spawn(char *const argv[], char *const env[], const char *log_path)
{
	pid_t pid = fork();
	if (pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		if (log_path != NULL) {
			int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND,
				      0644);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
				close(fd);
			}
		}
		for (int i = 0; env != NULL && env[i] != NULL; i++)
			putenv(env[i]);
		execv(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return pid;
}

/* A hung child: print every thread's stack (gdb, when present) to stderr,
 * so a hang in CI says where it is. */
static void dump_stacks(pid_t pid)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd),
		 "command -v gdb >/dev/null && gdb -p %d -batch -nx -q "
		 "-ex 'thread apply all bt' 1>&2 2>/dev/null",
		 (int)pid);
	fprintf(stderr, "---- process %d did not exit in time; stacks:\n",
		(int)pid);
	if (system(cmd) != 0)
		fprintf(stderr, "(no stacks: gdb missing or failed)\n");
}

int fp_test_wait(pid_t pid, int timeout_ms)
{
	int status;
	for (int waited = 0;; waited += 10) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0)
			return -1;
		if (waited >= timeout_ms) {
			dump_stacks(pid);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(10000);
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + WTERMSIG(status);
}

/* The whole of f, NUL-terminated; fails the test on allocation failure. */
static char *slurp(FILE *f)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	if (buf == NULL)
		fail_msg("out of memory");
	for (;;) {
		size_t n;
		if (len + 1024 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			if (buf == NULL)
				fail_msg("out of memory");
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	return buf;
}

char *fp_test_run(const char *cmd, int *status)
{
	FILE *f = popen(cmd, "r");
	char *buf;
	int st;
	if (f == NULL)
		fail_msg("popen %s failed", cmd);
	buf = slurp(f);
	st = pclose(f);
	*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
	return buf;
}

void fp_test_capture(const char *cmd, struct fp_test_output *r)
{
	char errpath[] = "/tmp/fp_test_capture_XXXXXX";
	char full[8192];
	int fd = mkstemp(errpath), st;
	FILE *p, *ef;

	if (fd < 0)
		fail_msg("mkstemp: %s", strerror(errno));
	close(fd);
	snprintf(full, sizeof(full), "%s 2>'%s'", cmd, errpath);
	p = popen(full, "r");
	if (p == NULL)
		fail_msg("popen %s failed", full);
	r->out = slurp(p);
	st = pclose(p);
	if (!WIFEXITED(st))
		fail_msg("%s: did not exit (status %d)", cmd, st);
	r->status = WEXITSTATUS(st);
	ef = fopen(errpath, "r");
	if (ef == NULL)
		fail_msg("cannot read %s", errpath);
	r->err = slurp(ef);
	fclose(ef);
	unlink(errpath);
}

void fp_test_output_free(struct fp_test_output *r)
{
	free(r->out);
	free(r->err);
}

int fp_test_wait_port(int port, int timeout_ms)
{
	struct sockaddr_in sa;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	for (int waited = 0; waited < timeout_ms; waited += 20) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
		if (ok)
			return 0;
		usleep(20000);
	}
	return -1;
}

char *fp_test_sql(const char *url, const char *sql)
{
	PGconn *c = connect_or_fail(url);
	PGresult *r = PQexec(c, sql);
	char *out = NULL;
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0)
		out = strdup(PQgetvalue(r, 0, 0));
	else if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fprintf(stderr, "%s: %s\n", sql, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	return out;
}

int fp_test_migrate(const char *url)
{
	char cmd[2048];
	char *out;
	int st;
	snprintf(cmd, sizeof(cmd), "%s --migrate --db '%s' 2>&1",
		 fp_test_bin("fleetprof-collector"), url);
	out = fp_test_run(cmd, &st);
	if (st != 0)
		fprintf(stderr, "migration failed:\n%s\n", out);
	free(out);
	return st == 0 ? 0 : -1;
}

int fp_test_db_ready(const char *name, char *url, size_t len)
{
	if (fp_test_db_create(name, url, len) != 0)
		return -1;
	if (fp_test_migrate(url) != 0)
		fail_msg("cannot migrate %s", url);
	return 0;
}
