/*
 * histo.h - latency percentiles in fixed memory.
 *
 * A log-linear histogram: 16 steps per power of two (about 6% apart)
 * from 1 ns to 2^48 ns, whatever the number of samples; the first
 * HISTO_EXACT samples are also kept as they are, so a small run gets
 * exact percentiles.
 */
#ifndef HISTO_H
#define HISTO_H

#include <stdint.h>

#define HISTO_SUB	16
#define HISTO_POW	48
#define HISTO_BUCKETS	(HISTO_POW * HISTO_SUB)
#define HISTO_EXACT	256

struct histo {
	uint64_t count;
	uint64_t min, max;
	uint64_t sum;
	uint32_t bucket[HISTO_BUCKETS];
	uint64_t exact[HISTO_EXACT];
};

void histo_add(struct histo *h, uint64_t v);
/* The pct-th percentile (nearest rank); 0 when empty. */
uint64_t histo_percentile(const struct histo *h, unsigned pct);

#endif
