/*
 * errbuf.h - the tools' error messages, "NAME: reason", kept in a
 * caller's buffer for main() to print: library code never prints.
 */
#ifndef ERRBUF_H
#define ERRBUF_H

#include <stdarg.h>
#include <stddef.h>

/* buf = "name: " + the formatted reason, cut to len. */
void errbuf_vset(char *buf, size_t len, const char *name, const char *fmt,
    va_list ap);

#endif
