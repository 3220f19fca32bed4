/*
 * error.c - names of the reasons a message or stream is refused.
 */
#include <inttypes.h>
#include <stdio.h>

#include "proto_error.h"

struct reason_info {
	const char *text;
	const char *field;
};

/* Indexed by enum proto_reason. */
static const struct reason_info reasons[PROTO_REASON_COUNT] = {
	[PROTO_OK] = { "no error", "" },
	[PROTO_E_SHORT_HEADER] = { "short header", "header" },
	[PROTO_E_LENGTH] = { "length < 16", "length" },
	[PROTO_E_MSG_PAD] = { "nonzero pad after a message", "pad" },
	[PROTO_E_TRUNCATED] =
	    { "message cut off by the end of the stream", "length" },
	[PROTO_E_ITEM_OVERRUN] = { "item overruns the message", "itemlen" },
	[PROTO_E_ITEMLEN] = { "itemlen < 4, or < 8 for NEST", "itemlen" },
	[PROTO_E_ITEM_PAD] =
	    { "nonzero pad between or inside items", "pad" },
	[PROTO_E_ITEMS_END] = { "items do not end at length", "length" },
	[PROTO_E_DEPTH] = { "nesting too deep", "itemid" },
	[PROTO_E_REF_LEN] = { "REF with itemlen other than 28", "itemlen" },
	[PROTO_E_REF_NEST] = { "REF and NEST together", "itemid" },
	[PROTO_E_LINK_LEN] =
	    { "leaf LINK whose data is not a multiple of 8", "itemlen" },
	[PROTO_E_ITEM_SIZE] =
	    { "fixed-size item of the wrong size", "itemlen" },
	[PROTO_E_UTF8] = { "string is not UTF-8", "data" },
	[PROTO_E_NUL] = { "string holds NUL", "data" },
	[PROTO_E_ITEM_KIND] =
	    { "item flags disagree with its type", "itemid" },
	[PROTO_E_NEST_LINK] =
	    { "NEST without LINK holds LINK or REF items", "itemid" },
	[PROTO_E_CRC] = { "CRC item missing or wrong", "data" },
	[PROTO_E_RESYNC] = { "resynchronised", "" },
	[PROTO_E_TOO_BIG] =
	    { "message would exceed 65535 bytes", "length" },
	[PROTO_E_TOO_DEEP] =
	    { "nesting would exceed 8 levels", "itemid" },
	[PROTO_E_MISUSE] = { "builder calls out of order", "" },
	[PROTO_E_NOMEM] = { "out of buffer space", "" },
};

const char *
proto_reason_str(enum proto_reason reason)
{
	if ((unsigned)reason >= PROTO_REASON_COUNT)
		return "unknown reason";
	return reasons[reason].text;
}

const char *
proto_reason_field(enum proto_reason reason)
{
	if ((unsigned)reason >= PROTO_REASON_COUNT)
		return "";
	return reasons[reason].field;
}

int
proto_reason_is_framing(enum proto_reason reason)
{
	return reason >= PROTO_E_SHORT_HEADER && reason <= PROTO_E_TRUNCATED;
}

int
proto_error_set(struct proto_error *err, enum proto_reason reason,
    uint64_t offset, uint16_t itemid, uint64_t got, uint64_t want)
{
	if (err == NULL)
		return -1;
	err->reason = reason;
	err->offset = offset;
	err->itemid = itemid;
	err->got = got;
	err->want = want;
	return -1;
}

int
proto_error_format(const struct proto_error *err, char *buf, size_t len)
{
	char item[24] = "";
	char nums[48] = "";

	if (err->itemid != 0)
		snprintf(item, sizeof(item), "itemid 0x%04x: ", err->itemid);
	if (err->reason == PROTO_E_RESYNC)
		snprintf(nums, sizeof(nums), " after skipping %" PRIu64
		    " bytes", err->got);
	else if (err->got != 0 || err->want != 0)
		snprintf(nums, sizeof(nums), " (got %" PRIu64 ", want %" PRIu64
		    ")", err->got, err->want);
	return snprintf(buf, len, "offset %" PRIu64 ": %s%s%s", err->offset,
	    item, proto_reason_str(err->reason), nums);
}
