/*
 * proto.h - everything libproto offers, by layer (msgproto(7)):
 *
 *	proto_wire.h	fixed numbers and little-endian accessors
 *	proto_numbers.h	command and item numbers (generated)
 *	proto_error.h	reasons and offsets of refusals
 *	proto_encode.h	the message builder
 *	proto_decode.h	zero-copy views, iterators, validation
 *	proto_framer.h	byte stream to messages
 *	proto_crc32c.h	the CRC feature's checksum
 *	proto_loop.h	the event loop: descriptors, timers, deferred calls
 *	proto_transport.h	addresses, listeners, dials, streams
 *	proto_session.h	peers, sessions, links, commands, services
 */
#ifndef PROTO_H
#define PROTO_H

#include "proto_wire.h"
#include "proto_numbers.h"
#include "proto_error.h"
#include "proto_encode.h"
#include "proto_decode.h"
#include "proto_framer.h"
#include "proto_crc32c.h"
#include "proto_loop.h"
#include "proto_transport.h"
#include "proto_session.h"

#endif
