/*
 * auth.c - the AUTH feature: random nonces and HMAC-SHA256 proofs of a
 * pre-shared key (OpenSSL's libcrypto computes the HMAC).
 *
 * Each side proves knowledge of the key over both nonces and the session
 * id, with its role in front: the acceptor's proof can never be replayed
 * as the initiator's, and fresh nonces on every handshake (resumes
 * included) make an old proof worthless.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>
#include <sys/random.h>

#include "session_int.h"

int
lpi_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
lpi_auth_proof(const struct proto_peer *p, const char *role,
    const uint8_t *nonce_i, const uint8_t *nonce_a, const uint8_t *session,
    uint8_t *out)
{
	uint8_t msg[32 + 2 * LPI_NONCE_LEN + LPI_SESSION_LEN];
	size_t rlen = strlen(role), n = 0;
	unsigned int outlen = 0;

	if (rlen > 32)
		return -1;
	memcpy(msg, role, rlen);
	n += rlen;
	memcpy(msg + n, nonce_i, LPI_NONCE_LEN);
	n += LPI_NONCE_LEN;
	memcpy(msg + n, nonce_a, LPI_NONCE_LEN);
	n += LPI_NONCE_LEN;
	memcpy(msg + n, session, LPI_SESSION_LEN);
	n += LPI_SESSION_LEN;
	if (HMAC(EVP_sha256(), p->key, (int)p->keylen, msg, n, out,
	    &outlen) == NULL || outlen != LPI_AUTH_LEN)
		return -1;
	return 0;
}

int
lpi_auth_equal(const uint8_t *a, const uint8_t *b)
{
	uint8_t diff = 0;
	size_t i;

	for (i = 0; i < LPI_AUTH_LEN; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}
