/*
 * print_hex.c - bytes as hex and ASCII, as tcpdump -X shows them:
 *
 *	0x0000:  0000 0000 0000 0000 0100 0000 0100 6000  ..............`.
 */
#include <stdio.h>

#include "printer.h"
#include "value.h"

#define HEX_ROW	16

static void
hex_row(FILE *f, const uint8_t *p, size_t off, size_t n)
{
	size_t i;

	fprintf(f, "\t0x%04zx:  ", off);
	for (i = 0; i < HEX_ROW; i++) {
		if (i < n)
			value_put_hexbytes(f, p + i, 1);
		else
			fputs_unlocked("  ", f);
		if (i % 2 == 1)
			putc_unlocked(' ', f);
	}
	putc_unlocked(' ', f);
	for (i = 0; i < n; i++)
		putc_unlocked(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.', f);
	putc_unlocked('\n', f);
}

void
print_hex(FILE *f, const uint8_t *p, size_t n)
{
	size_t off;

	for (off = 0; off < n; off += HEX_ROW)
		hex_row(f, p + off, off, n - off < HEX_ROW ? n - off : HEX_ROW);
}
