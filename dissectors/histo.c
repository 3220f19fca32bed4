/*
 * histo.c - latency percentiles in fixed memory (histo.h).
 */
#include <stdlib.h>
#include <string.h>

#include "histo.h"

static size_t
bucket_of(uint64_t v)
{
	unsigned pow;

	if (v < HISTO_SUB)
		return (size_t)v;
	pow = 63u - (unsigned)__builtin_clzll(v);	/* v >= 16: pow >= 4 */
	if (pow >= HISTO_POW)
		return HISTO_BUCKETS - 1;
	/* The HISTO_SUB steps between 2^pow and 2^(pow+1). */
	return (size_t)(pow - 3) * HISTO_SUB +
	    (size_t)((v >> (pow - 4)) & (HISTO_SUB - 1));
}

/* The largest value a bucket holds: percentiles err on the high side. */
static uint64_t
bucket_top(size_t i)
{
	unsigned pow;

	if (i < HISTO_SUB)
		return i;
	pow = (unsigned)(i / HISTO_SUB) + 3;
	return ((uint64_t)(HISTO_SUB + i % HISTO_SUB + 1) << (pow - 4)) - 1;
}

void
histo_add(struct histo *h, uint64_t v)
{
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	if (h->count < HISTO_EXACT)
		h->exact[h->count] = v;
	h->count++;
	h->sum += v;
	h->bucket[bucket_of(v)]++;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with pct% of them at or below it. */
uint64_t
histo_percentile(const struct histo *h, unsigned pct)
{
	uint64_t want = (h->count * pct + 99) / 100, seen = 0, v;
	uint64_t sorted[HISTO_EXACT];
	size_t i;

	if (h->count == 0)
		return 0;
	if (want == 0)
		want = 1;
	if (h->count <= HISTO_EXACT) {
		memcpy(sorted, h->exact, h->count * sizeof(sorted[0]));
		qsort(sorted, h->count, sizeof(sorted[0]), cmp_u64);
		return sorted[want - 1];
	}
	for (i = 0; i < HISTO_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= want && seen > 0) {
			v = bucket_top(i);
			return v > h->max ? h->max : v < h->min ? h->min : v;
		}
	}
	return h->max;
}
