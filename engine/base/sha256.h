/* sha256.h - SHA-256 of recordings, through OpenSSL's libcrypto. */
#ifndef UNUM_SHA256_H
#define UNUM_SHA256_H

#include <stddef.h>

typedef struct {
    void *ctx; /* EVP_MD_CTX */
} Sha256;

/* Returns 0, or -1 with the error set when libcrypto cannot start one. */
int sha256_init(Sha256 *c);
void sha256_update(Sha256 *c, const void *data, size_t n);
/* Writes 64 lowercase hex digits and a NUL into hex, and frees the context. */
void sha256_final_hex(Sha256 *c, char hex[65]);

/* The hex digest of everything in the open file fd from offset 0 (read with
 * pread, so the file position is untouched); name is for errors. 0, or -1
 * with the error set. */
int sha256_fd_hex(int fd, const char *name, char hex[65]);

#endif
