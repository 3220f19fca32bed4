/*
 * auth_proof.h - the AUTH proof of msgproto(7), HMAC-SHA256(K, role ||
 * Ni || Na || S), computed by hand for the test programs: they check
 * libproto's proofs against one written apart from libproto/auth.c.
 * Header-only (static), so that each test program, built from its one
 * source file, can include it.
 */
#ifndef TESTS_AUTH_PROOF_H
#define TESTS_AUTH_PROOF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* 0, or -1 when HMAC fails; out gets 32 bytes. */
static inline int
auth_proof(const uint8_t *key, size_t keylen, const char *role,
    const uint8_t *ni, const uint8_t *na, const uint8_t *session,
    uint8_t *out)
{
	uint8_t msg[32 + 32 + 32 + 16];
	size_t n = strlen(role);
	unsigned int outlen = 0;

	if (n > 32)
		return -1;
	memcpy(msg, role, n);
	memcpy(msg + n, ni, 32);
	memcpy(msg + n + 32, na, 32);
	memcpy(msg + n + 64, session, 16);
	if (HMAC(EVP_sha256(), key, (int)keylen, msg, n + 80, out,
	    &outlen) == NULL || outlen != 32)
		return -1;
	return 0;
}

#endif
