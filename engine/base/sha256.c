/* sha256.c - see sha256.h. */
#include "engine/base/sha256.h"

#include "engine/base/util.h"

#include <openssl/evp.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int sha256_init(Sha256 *c) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        c->ctx = NULL;
        return unum_error_set("sha256: libcrypto could not start a digest");
    }
    c->ctx = ctx;
    return 0;
}

void sha256_update(Sha256 *c, const void *data, size_t n) {
    if (c->ctx) EVP_DigestUpdate(c->ctx, data, n);
}

void sha256_final_hex(Sha256 *c, char hex[65]) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    hex[0] = 0;
    if (c->ctx && EVP_DigestFinal_ex(c->ctx, md, &len) == 1)
        for (unsigned i = 0; i < len && i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(c->ctx);
    c->ctx = NULL;
}

int sha256_fd_hex(int fd, const char *name, char hex[65]) {
    Sha256 c;
    if (sha256_init(&c)) return unum_error_wrap("%s", name);
    uint8_t buf[1 << 16];
    off_t at = 0;
    for (;;) {
        ssize_t r = pread(fd, buf, sizeof buf, at);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            sha256_final_hex(&c, hex); /* frees the context */
            return unum_error_set("%s: %s", name, strerror(errno));
        }
        if (r == 0) break;
        sha256_update(&c, buf, (size_t)r);
        at += r;
    }
    sha256_final_hex(&c, hex);
    return 0;
}
