/*
 * Flush-then-die on SIGTERM (see pyexit.h). The handler only writes a byte
 * to a pipe (async-signal-safe); a thread created with every signal blocked
 * waits on it, flushes outside the signal context, and re-raises SIGTERM with
 * its default action, so the exit status the killer sees is unchanged. It
 * does not depend on the main thread running Python code, so a worker stuck
 * in C still dies, at most the exit timeout later. Fork: the child has no
 * such thread, so it gets SIGTERM's default back and a fresh lock.
 */
#include "pyexit.h"

#include "fleetprof/fleetprof.h"
#include "fp/error.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int wake[2] = {-1, -1};
static pid_t installed_in; /* pid whose SIGTERM handler is ours, or 0 */

int pyexit_flush(void)
{
	int rc;
	pthread_mutex_lock(&flush_lock);
	rc = fp_shutdown();
	pthread_mutex_unlock(&flush_lock);
	return rc;
}

static void set_default(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
}

static void on_sigterm(int sig)
{
	int saved = errno;
	char c = (char)sig;
	if (write(wake[1], &c, 1) < 0) {
		/* full pipe: a wake-up is pending already */
	}
	errno = saved;
}

static void *sigterm_thread(void *arg)
{
	sigset_t term;
	ssize_t n;
	char c;
	(void)arg;

	do
		n = read(wake[0], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		return NULL;
	pyexit_flush();
	set_default();
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_UNBLOCK, &term, NULL);
	kill(getpid(), SIGTERM); /* delivered before kill returns */
	return NULL;
}

static void close_wake(void)
{
	for (int i = 0; i < 2; i++) {
		if (wake[i] >= 0)
			close(wake[i]);
		wake[i] = -1;
	}
}

static void atfork_child(void)
{
	struct sigaction cur;
	pthread_mutex_init(&flush_lock, NULL);
	if (installed_in == 0)
		return;
	if (sigaction(SIGTERM, NULL, &cur) == 0 &&
	    !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == on_sigterm)
		set_default();
	close_wake();
	installed_in = 0;
}

static void register_atfork(void)
{
	pthread_atfork(NULL, NULL, atfork_child);
}

int pyexit_sigterm_install(void)
{
	struct sigaction old, sa;
	sigset_t all, prev;
	pthread_t th;
	int rc;

	pthread_once(&atfork_once, register_atfork);
	if (installed_in == getpid())
		return 0;
	if (sigaction(SIGTERM, NULL, &old) != 0)
		return FP_EINVAL;
	if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)
		return 0; /* the host handles SIGTERM itself */
	if (pipe(wake) != 0)
		return FP_EIO;
	if (fcntl(wake[0], F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(wake[1], F_SETFD, FD_CLOEXEC) != 0 ||
	    fcntl(wake[1], F_SETFL, O_NONBLOCK) != 0) {
		close_wake();
		return FP_EIO;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &prev);
	rc = pthread_create(&th, NULL, sigterm_thread, NULL);
	pthread_sigmask(SIG_SETMASK, &prev, NULL);
	if (rc != 0) {
		close_wake();
		return FP_ENOMEM;
	}
	pthread_detach(th);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigterm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	installed_in = getpid();
	return 1;
}
