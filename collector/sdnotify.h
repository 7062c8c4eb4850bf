/*
 * systemd's readiness protocol without libsystemd: one datagram with
 * "READY=1", "RELOADING=1" or "STOPPING=1" to $NOTIFY_SOCKET (a path, or
 * an abstract name when it starts with '@'). Thread-safe, no state.
 */
#ifndef COLLECTOR_SDNOTIFY_H
#define COLLECTOR_SDNOTIFY_H

/*
 * Sends state (newline-separated assignments). Returns 0 when sent or when
 * NOTIFY_SOCKET is unset (not under systemd), FP_EINVAL for an unusable
 * socket name, FP_EIO when the send fails.
 */
int collector_sd_notify(const char *state);

#endif
