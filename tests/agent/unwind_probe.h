/* See unwind_probe.c. */
#ifndef UNWIND_PROBE_H
#define UNWIND_PROBE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Builds a batch from the calling thread's tree (names resolved). */
int probe_snapshot(void);
int probe_depth(void);
long long probe_repairs(void);
/* Counts of the first function whose name contains needle. */
int probe_counts(const char *needle, long long *ncalls, long long *pcalls);
void probe_free(void);

#ifdef __cplusplus
}
#endif

#endif
