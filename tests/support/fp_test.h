/*
 * Helpers shared by integration and end-to-end tests: a fresh PostgreSQL
 * database per test (from the admin URL in FLEETPROF_TEST_DB), child
 * processes (spawn, kill, wait), free TCP ports and running a command to
 * capture its output. Tests that need a database skip when it is not set.
 */
#ifndef FP_TEST_H
#define FP_TEST_H

#include <stddef.h>
#include <sys/types.h>

/* Creates database fp_test_<name>_<pid>; writes its URL to url. Returns 0,
 * or -1 if FLEETPROF_TEST_DB is not set (the caller skips). Fails the test
 * on any other error. */
int fp_test_db_create(const char *name, char *url, size_t len);
void fp_test_db_drop(void);

/* For main(): 0 when FLEETPROF_TEST_DB is set; otherwise prints why and
 * returns the exit code: 77 (ctest SKIP) normally, 1 when CI is set, where a
 * skipped integration test would hide a broken set-up. */
int fp_test_need_db(const char *test);

/* Path of a built binary: $FP_BIN_DIR/name. */
const char *fp_test_bin(const char *name);

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int fp_test_free_port(void);

/* fork+exec argv with extra "K=V" environment entries (NULL-terminated,
 * may be NULL); stdout/stderr go to log_path if not NULL. */
pid_t fp_test_spawn(char *const argv[], char *const env[],
		    const char *log_path);
/* Waits up to timeout_ms; returns the exit status (WEXITSTATUS), 128+sig
 * if killed, or -1 on timeout (the child is then killed). */
int fp_test_wait(pid_t pid, int timeout_ms);

/* Runs a shell command, returns its stdout (malloc'd, caller frees) and
 * writes its exit status. */
char *fp_test_run(const char *cmd, int *status);

/* A shell command's exit status, stdout and stderr, each read whole. */
struct fp_test_output {
	int status;
	char *out;
	char *err;
};
/* Runs cmd under sh with stderr to a temporary file; fails the test if it
 * cannot run or is killed by a signal. Free with fp_test_output_free. */
void fp_test_capture(const char *cmd, struct fp_test_output *r);
void fp_test_output_free(struct fp_test_output *r);

/* Waits until something accepts on 127.0.0.1:port (timeout_ms). */
int fp_test_wait_port(int port, int timeout_ms);

/* Applies the schema to url with `fleetprof-collector --migrate`; 0 or -1. */
int fp_test_migrate(const char *url);

/* Makes url's database (fp_test_db_create) and migrates it: 0, -1 when
 * FLEETPROF_TEST_DB is unset, a test failure otherwise. */
int fp_test_db_ready(const char *name, char *url, size_t len);

/* Runs one SQL statement on url, returns the first column of the first row
 * (malloc'd) or NULL. */
char *fp_test_sql(const char *url, const char *sql);

#endif
