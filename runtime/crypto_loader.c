/* crypto_loader.c: libcrypto (OpenSSL 3), loaded at its first use instead of at start-up.
 *
 * Debian's libcrypto is bound at load time (BIND_NOW): its 21,000 relocations were about half of
 * the instructions starting opsrun cost, for chunks that sign nothing (`opsrun -e ''`, --help, a
 * REPL before its first call). So the runtime does not link it: it defines the libcrypto
 * functions it calls, each of which finds the real one in libcrypto.so.3 (lazy_library.h) and
 * calls it; libcurl, once loaded, shares the same copy. Wiping memory needs no libcrypto:
 * OPENSSL_cleanse and OPENSSL_clear_free use explicit_bzero(3), which the compiler may not drop
 * either. */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/lazy_library.h"

/* OpenSSL 3's ABI keeps this name for the 3.x series. */
static struct ops_lazy_library s_crypto = {.soname = "libcrypto.so.3", .package = "libssl3"};

#define S_FORWARD(ret, name, params, args) OPS_LAZY_FORWARD(s_crypto, ret, name, params, args)
#define S_RELEASE(name, params, args)      OPS_LAZY_RELEASE(s_crypto, name, params, args)

/* HMAC (SigV4's signing keys and signatures) */
S_FORWARD(EVP_MAC *, EVP_MAC_fetch, (OSSL_LIB_CTX * context, const char *name, const char *props),
          (context, name, props))
S_FORWARD(EVP_MAC_CTX *, EVP_MAC_CTX_new, (EVP_MAC * mac), (mac))
S_FORWARD(int, EVP_MAC_CTX_set_params, (EVP_MAC_CTX * ctx, const OSSL_PARAM params[]),
          (ctx, params))
S_FORWARD(int, EVP_MAC_init,
          (EVP_MAC_CTX * ctx, const unsigned char *key, size_t length, const OSSL_PARAM params[]),
          (ctx, key, length, params))
S_FORWARD(int, EVP_MAC_update, (EVP_MAC_CTX * ctx, const unsigned char *data, size_t length),
          (ctx, data, length))
S_FORWARD(int, EVP_MAC_final, (EVP_MAC_CTX * ctx, unsigned char *out, size_t *length, size_t size),
          (ctx, out, length, size))
S_RELEASE(EVP_MAC_CTX_free, (EVP_MAC_CTX * ctx), (ctx))
S_RELEASE(EVP_MAC_free, (EVP_MAC * mac), (mac))
S_FORWARD(OSSL_PARAM, OSSL_PARAM_construct_utf8_string, (const char *key, char *value, size_t size),
          (key, value, size))
S_FORWARD(OSSL_PARAM, OSSL_PARAM_construct_end, (void), ())

/* digests (SHA-256 of payloads, SHA-1 of the SSO cache file's name) */
S_FORWARD(int, EVP_Digest,
          (const void *data, size_t length, unsigned char *md, unsigned int *size,
           const EVP_MD *type, ENGINE *engine),
          (data, length, md, size, type, engine))
S_FORWARD(EVP_MD_CTX *, EVP_MD_CTX_new, (void), ())
S_FORWARD(int, EVP_DigestInit_ex2,
          (EVP_MD_CTX * ctx, const EVP_MD *type, const OSSL_PARAM params[]), (ctx, type, params))
S_FORWARD(int, EVP_DigestUpdate, (EVP_MD_CTX * ctx, const void *data, size_t length),
          (ctx, data, length))
S_FORWARD(int, EVP_DigestFinal_ex, (EVP_MD_CTX * ctx, unsigned char *md, unsigned int *size),
          (ctx, md, size))
S_RELEASE(EVP_MD_CTX_free, (EVP_MD_CTX * ctx), (ctx))
S_FORWARD(EVP_MD *, EVP_MD_fetch, (OSSL_LIB_CTX * context, const char *name, const char *props),
          (context, name, props))
S_RELEASE(EVP_MD_free, (EVP_MD * md), (md))
S_FORWARD(const EVP_MD *, EVP_sha1, (void), ())

/* base64, random bytes, the version */
S_FORWARD(int, EVP_EncodeBlock, (unsigned char *out, const unsigned char *in, int length),
          (out, in, length))
S_FORWARD(int, RAND_bytes, (unsigned char *out, int length), (out, length))
S_FORWARD(const char *, OpenSSL_version, (int type), (type))

/* the CA bundle's check (runtime/http.c) */
S_FORWARD(STACK_OF(X509_INFO) *, PEM_X509_INFO_read,
          (FILE * file, STACK_OF(X509_INFO) * stack, pem_password_cb *password, void *ud),
          (file, stack, password, ud))
S_FORWARD(int, OPENSSL_sk_num, (const OPENSSL_STACK *stack), (stack))
S_FORWARD(void *, OPENSSL_sk_value, (const OPENSSL_STACK *stack, int i), (stack, i))
S_RELEASE(OPENSSL_sk_pop_free, (OPENSSL_STACK * stack, void (*free_item)(void *)),
          (stack, free_item))
S_RELEASE(X509_INFO_free, (X509_INFO * info), (info))
S_RELEASE(ERR_clear_error, (void), ())

void OPENSSL_cleanse(void *memory, size_t length)
{
  explicit_bzero(memory, length);
}

/* OPENSSL_clear_free's function; what opsrun frees with it came from malloc, as OpenSSL's own
 * allocations do by default. */
void CRYPTO_clear_free(void *memory, size_t length, const char *file, int line)
{
  (void)file;
  (void)line;
  if (memory)
    explicit_bzero(memory, length);
  free(memory);
}
