/*
 * Small helpers shared by storage's files (private to storage/).
 */
#ifndef STORAGE_PGUTIL_H
#define STORAGE_PGUTIL_H

#include <stddef.h>

/* Copies libpq's (multi-line) message into buf as one line: newlines and
 * tabs become spaces, runs of spaces collapse, trailing space is cut. */
void storage_one_line(char *buf, size_t len, const char *msg);

#endif
