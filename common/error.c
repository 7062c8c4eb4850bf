/*
 * fp_strerror()/fp_errname(): the text side of the error table in fp/error.h.
 * Pure functions over static data; safe from any thread.
 */
#include "fp/error.h"

const char *fp_strerror(int err)
{
	switch (err) {
	case FP_OK:
		return "success";
#define FP_ERR_TEXT(name, num, msg) \
	case FP_E##name:            \
		return msg;
		FP_ERRNO_MAP(FP_ERR_TEXT)
#undef FP_ERR_TEXT
	default:
		return "unknown error";
	}
}

const char *fp_errname(int err)
{
	switch (err) {
	case FP_OK:
		return "FP_OK";
#define FP_ERR_NAME(name, num, msg) \
	case FP_E##name:            \
		return "FP_E" #name;
		FP_ERRNO_MAP(FP_ERR_NAME)
#undef FP_ERR_NAME
	default:
		return "FP_EUNKNOWN";
	}
}
