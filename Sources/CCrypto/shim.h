// OpenSSL 3.0 libcrypto (Debian 12 libssl-dev) for Swift: digests (EVP), HMAC, constant-time comparison and the
// CSPRNG. Owned by VigilCrypto: no other target imports CCrypto. Only non-deprecated OpenSSL 3 entry points are used.
#ifndef VIGIL_CCRYPTO_SHIM_H
#define VIGIL_CCRYPTO_SHIM_H
#include <stddef.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#endif
