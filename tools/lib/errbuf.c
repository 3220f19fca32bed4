/*
 * errbuf.c - "NAME: reason" messages for the capture layer.
 */
#include <stdarg.h>
#include <stdio.h>

#include "errbuf.h"

void
errbuf_vset(char *buf, size_t len, const char *name, const char *fmt,
    va_list ap)
{
	int n;

	n = snprintf(buf, len, "%s: ", name);
	if (n < 0 || (size_t)n >= len)
		return;
	vsnprintf(buf + n, len - (size_t)n, fmt, ap);
}
