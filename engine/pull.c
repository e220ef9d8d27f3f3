/* pull.c - see pull.h. */
#include "engine/pull.h"

#include "engine/modeldir.h"
#include "engine/base/sha256.h"
#include "engine/base/util.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_ENDPOINT "https://huggingface.co"
#define MANIFEST ".unum-pull"
#define LISTING_MAX (16u << 20)

/* ---- names and places ----------------------------------------------------- */

static int name_ok(const char *s, size_t n) {
    if (n == 0 || n > 96 || s[0] == '.' || s[0] == '-') return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    for (size_t i = 1; i < n; i++)
        if (s[i] == '.' && s[i - 1] == '.') return 0;
    return 1;
}

int pull_repo_check(const char *repo) {
    const char *slash = repo ? strchr(repo, '/') : NULL;
    if (!slash || !name_ok(repo, (size_t)(slash - repo)) || !name_ok(slash + 1, strlen(slash + 1)))
        return unum_error_set("'%s' is not a repo id of the form ORG/NAME (letters, digits, "
                              "'.', '_' and '-')",
                              repo ? repo : "");
    return 0;
}

char *pull_default_dest(const char *repo) {
    char *models = modeldir_models_dir(), *d = models ? unum_path_join(models, repo) : NULL;
    free(models);
    return d;
}

const char *pull_endpoint(void) {
    const char *e = getenv("HF_ENDPOINT");
    return e && *e ? e : DEFAULT_ENDPOINT;
}

const char *pull_offline_hint(void) {
    return "to use a model you already have, pass its folder with -m DIR, or set model=DIR in "
           "$XDG_CONFIG_HOME/unum/config (default ~/.config/unum/config)";
}

/* ---- which files ---------------------------------------------------------- */

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && !strcmp(s + n - m, tail);
}

/* Top-level files unum reads or that describe the model. Names with a
 * folder, a leading dot or odd characters are never written to disk. */
static int file_wanted(const char *f) {
    if (!f[0] || f[0] == '.' || strchr(f, '/') || strchr(f, '\\') || strlen(f) > 200) return 0;
    for (const char *c = f; *c; c++)
        if ((unsigned char)*c < 0x20) return 0;
    return ends_with(f, ".safetensors") || ends_with(f, ".json") || ends_with(f, ".txt") ||
           !strcmp(f, "README.md") || !strncmp(f, "LICENSE", 7);
}

/* ---- HTTP ----------------------------------------------------------------- */

/* One response's headers (the last one when redirects were followed). */
typedef struct {
    long status;
    char etag[256], linked_etag[256], commit[128], location[2048], content_range[128];
    int64_t content_length, linked_size;
} Headers;

typedef struct {
    CURL *curl;
    struct curl_slist *hdrs;
    char errbuf[CURL_ERROR_SIZE];
    UnumCancel *cancel;
    Headers h;
} Http;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void header_value(char *dst, size_t cap, const char *v, size_t n) {
    while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ')) n--;
    while (n && *v == ' ') v++, n--;
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud) {
    Headers *h = ud;
    size_t n = size * nitems;
    if (n >= 5 && !strncmp(line, "HTTP/", 5)) { /* a new response: forget the last */
        memset(h, 0, sizeof *h);
        h->content_length = h->linked_size = -1;
        const char *sp = memchr(line, ' ', n);
        if (sp) h->status = strtol(sp + 1, NULL, 10);
        return n;
    }
    const char *colon = memchr(line, ':', n);
    if (!colon) return n;
    size_t k = (size_t)(colon - line);
    const char *v = colon + 1;
    size_t vn = n - k - 1;
    char tmp[64];
#define IS(name) (k == strlen(name) && !strncasecmp(line, name, k))
    if (IS("etag")) header_value(h->etag, sizeof h->etag, v, vn);
    else if (IS("x-linked-etag")) header_value(h->linked_etag, sizeof h->linked_etag, v, vn);
    else if (IS("x-repo-commit")) header_value(h->commit, sizeof h->commit, v, vn);
    else if (IS("location")) header_value(h->location, sizeof h->location, v, vn);
    else if (IS("content-range")) header_value(h->content_range, sizeof h->content_range, v, vn);
    else if (IS("content-length") || IS("x-linked-size")) {
        header_value(tmp, sizeof tmp, v, vn);
        char *end;
        long long x = strtoll(tmp, &end, 10);
        if (end != tmp && !*end && x >= 0) {
            if (IS("content-length")) h->content_length = x;
            else h->linked_size = x;
        }
    }
#undef IS
    return n;
}

static int on_xferinfo(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un) {
    Http *http = ud;
    return unum_cancelled(http->cancel); /* nonzero aborts the transfer */
}

static int http_open(Http *http, const char *token, UnumCancel *cancel) {
    memset(http, 0, sizeof *http);
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return unum_error_set("libcurl could not start: %s", curl_easy_strerror(curl_init_rc));
    http->curl = curl_easy_init();
    if (!http->curl) return unum_error_set("libcurl could not start a transfer");
    http->cancel = cancel;
    if (token && *token) {
        size_t n = strlen(token) + 32;
        char *auth = xmalloc(n);
        snprintf(auth, n, "Authorization: Bearer %s", token);
        http->hdrs = curl_slist_append(http->hdrs, auth);
        free(auth);
    }
    return 0;
}

static void http_close(Http *http) {
    if (http->curl) curl_easy_cleanup(http->curl);
    curl_slist_free_all(http->hdrs);
    memset(http, 0, sizeof *http);
}

/* Options every request shares; the handle keeps its connections between
 * requests, so the files of one pull reuse one connection to the hub. */
static void http_reset(Http *http, const char *url) {
    CURL *c = http->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "unum-pull/1");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L); /* under 1 B/s for 60 s: give up */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, http->errbuf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &http->h);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, http);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, http->hdrs);
    http->errbuf[0] = 0;
    memset(&http->h, 0, sizeof http->h);
    http->h.content_length = http->h.linked_size = -1;
}

static int is_offline(CURLcode rc) {
    return rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY ||
           rc == CURLE_COULDNT_CONNECT;
}

/* Turns a failed perform into the error and the pull status. */
static int http_fail(Http *http, CURLcode rc, const char *url) {
    if ((rc == CURLE_ABORTED_BY_CALLBACK || rc == CURLE_WRITE_ERROR) &&
        unum_cancelled(http->cancel)) {
        unum_error_set("%s: interrupted", url);
        return PULL_CANCELLED;
    }
    const char *why = http->errbuf[0] ? http->errbuf : curl_easy_strerror(rc);
    if (is_offline(rc)) {
        unum_error_set("cannot reach %s: %s", url, why);
        return PULL_OFFLINE;
    }
    unum_error_set("%s: %s", url, why);
    return PULL_FAILED;
}

typedef struct {
    char *p;
    size_t n, cap, max;
} Buf;

static size_t on_body_mem(char *data, size_t size, size_t nitems, void *ud) {
    Buf *b = ud;
    size_t n = size * nitems;
    if (b->n + n + 1 > b->max) return 0; /* too big: CURLE_WRITE_ERROR */
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = 0;
    return n;
}

/* "W/\"abc\"" -> "abc" (the hub's ETags are quoted; weak ones are marked). */
static void etag_normalize(char *dst, size_t cap, const char *raw) {
    if (!strncmp(raw, "W/", 2)) raw += 2;
    size_t n = strlen(raw);
    if (n >= 2 && raw[0] == '"' && raw[n - 1] == '"') raw++, n -= 2;
    if (n >= cap) n = cap - 1;
    memcpy(dst, raw, n);
    dst[n] = 0;
}

static int is_sha256_hex(const char *s) {
    if (strlen(s) != 64) return 0;
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* ---- the file list -------------------------------------------------------- */

typedef struct {
    char *name, *url;
    char etag[256]; /* normalized; "" when the server gave none */
    int64_t size;   /* -1 when unknown */
    int skip;       /* already complete on disk */
} RemoteFile;

static char *str_printf(const char *fmt, ...) UNUM_PRINTF(1, 2);
static char *str_printf(const char *fmt, ...) {
    va_list ap, aq;
    va_start(ap, fmt);
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, aq);
    va_end(aq);
    return s;
}

/* GET the listing; fills the wanted names (config.json moved last) and the
 * commit. Returns a pull status. */
static int list_files(Http *http, const char *endpoint, const char *repo, const char *rev,
                      int has_token, RemoteFile **files_out, int *n_out, char **commit_out) {
    char *erev = curl_easy_escape(http->curl, rev, 0);
    char *url = str_printf("%s/api/models/%s/revision/%s", endpoint, repo, erev);
    curl_free(erev);
    Buf body = {.max = LISTING_MAX};
    http_reset(http, url);
    curl_easy_setopt(http->curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(http->curl, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(http->curl, CURLOPT_WRITEFUNCTION, on_body_mem);
    curl_easy_setopt(http->curl, CURLOPT_WRITEDATA, &body);
    CURLcode rc = curl_easy_perform(http->curl);
    int st = PULL_FAILED;
    cJSON *js = NULL;
    if (rc != CURLE_OK) {
        st = http_fail(http, rc, url);
        goto out;
    }
    long code = http->h.status;
    if (code == 401 || code == 403 || code == 404) {
        unum_error_set("%s: repository or revision '%s' not found (HTTP %ld from %s); check the "
                       "name%s",
                       repo, rev, code, url,
                       has_token ? "" : ", or set HF_TOKEN for a gated or private repo");
        goto out;
    }
    if (code != 200) {
        unum_error_set("%s: HTTP %ld", url, code);
        goto out;
    }
    js = body.p ? cJSON_Parse(body.p) : NULL;
    cJSON *sib = js ? cJSON_GetObjectItemCaseSensitive(js, "siblings") : NULL;
    if (!cJSON_IsArray(sib)) {
        unum_error_set("%s: not a model listing (no \"siblings\" array)", url);
        goto out;
    }
    cJSON *sha = cJSON_GetObjectItemCaseSensitive(js, "sha");
    *commit_out = xstrdup(cJSON_IsString(sha) && name_ok(sha->valuestring, strlen(sha->valuestring))
                              ? sha->valuestring
                              : rev);
    int n = 0, cap = cJSON_GetArraySize(sib), weights = 0;
    RemoteFile *f = xcalloc((size_t)cap + 1, sizeof *f);
    cJSON *it;
    cJSON_ArrayForEach(it, sib) {
        cJSON *rf = cJSON_GetObjectItemCaseSensitive(it, "rfilename");
        if (!cJSON_IsString(rf) || !file_wanted(rf->valuestring)) continue;
        weights += ends_with(rf->valuestring, ".safetensors");
        f[n].name = xstrdup(rf->valuestring);
        f[n].size = -1;
        n++;
    }
    if (!weights) {
        for (int i = 0; i < n; i++) free(f[i].name);
        free(f);
        free(*commit_out);
        *commit_out = NULL;
        unum_error_set("%s: no .safetensors weights in the repository at '%s' (unum reads "
                       "safetensors only)",
                       repo, rev);
        goto out;
    }
    for (int i = 0; i < n - 1; i++) /* config.json last: see pull.h */
        if (!strcmp(f[i].name, "config.json")) {
            RemoteFile t = f[i];
            memmove(f + i, f + i + 1, (size_t)(n - 1 - i) * sizeof *f);
            f[n - 1] = t;
            break;
        }
    *files_out = f;
    *n_out = n;
    st = PULL_OK;
out:
    cJSON_Delete(js);
    free(body.p);
    free(url);
    return st;
}

/* HEAD one file without following redirects (except relative ones, which
 * the hub uses for renamed repos): size and ETag, the linked ones of an LFS
 * redirect first. */
static int head_file(Http *http, const char *endpoint, RemoteFile *f) {
    char *url = xstrdup(f->url);
    int st = PULL_FAILED;
    for (int hop = 0;; hop++) {
        http_reset(http, url);
        curl_easy_setopt(http->curl, CURLOPT_NOBODY, 1L);
        CURLcode rc = curl_easy_perform(http->curl);
        if (rc != CURLE_OK) {
            st = http_fail(http, rc, url);
            break;
        }
        Headers *h = &http->h;
        if (h->status >= 300 && h->status < 400 && h->location[0] == '/' && hop < 5 &&
            !h->linked_etag[0]) {
            free(url);
            url = str_printf("%s%s", endpoint, h->location);
            continue;
        }
        if (h->status == 401 || h->status == 403) {
            unum_error_set("%s: HTTP %ld (a gated or private repo: accept its terms on the hub "
                           "and set HF_TOKEN)",
                           url, h->status);
            break;
        }
        if (h->status >= 400 || (h->status >= 300 && !h->location[0]) || h->status < 200) {
            unum_error_set("%s: HTTP %ld", url, h->status);
            break;
        }
        const char *raw = h->linked_etag[0] ? h->linked_etag : h->etag;
        etag_normalize(f->etag, sizeof f->etag, raw);
        f->size = h->linked_size >= 0 ? h->linked_size : h->status < 300 ? h->content_length : -1;
        st = PULL_OK;
        break;
    }
    free(url);
    return st;
}

/* ---- the manifest --------------------------------------------------------- */

/* dest/.unum-pull: one line per complete file, "ETAG SIZE NAME", written
 * after each file lands, so a later pull can skip it without hashing. */
typedef struct {
    char *path, *text;
} Manifest;

static int manifest_has(const Manifest *m, const RemoteFile *f) {
    if (!m->text || !f->etag[0] || f->size < 0) return 0;
    char line[600];
    snprintf(line, sizeof line, "%s %" PRId64 " %s\n", f->etag, f->size, f->name);
    for (const char *p = m->text; (p = strstr(p, line)); p++)
        if (p == m->text || p[-1] == '\n') return 1;
    return 0;
}

static int manifest_add(Manifest *m, const RemoteFile *f) {
    if (!f->etag[0] || f->size < 0) return 0;
    /* drop the file's old line, then append the new one */
    size_t old = m->text ? strlen(m->text) : 0, nl = strlen(f->name);
    char *out = xmalloc(old + 600), *o = out;
    for (const char *p = m->text; p && *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        /* the name follows the second space */
        const char *name = memchr(p, ' ', n);
        if (name) name = memchr(name + 1, ' ', n - (size_t)(name + 1 - p));
        int same = name && (size_t)(p + n - (name + 1)) == nl && !memcmp(name + 1, f->name, nl);
        if (!same && n) {
            memcpy(o, p, n);
            o += n;
            *o++ = '\n';
        }
        p += n + (e != NULL);
    }
    o += snprintf(o, 600, "%s %" PRId64 " %s\n", f->etag, f->size, f->name);
    free(m->text);
    m->text = out;
    return unum_write_file_atomic(m->path, out, (size_t)(o - out));
}

/* ---- one file ------------------------------------------------------------- */

typedef struct {
    const PullOptions *o;
    PullProgress pr;
} Progress;

static void report(Progress *p) {
    if (p->o->progress) p->o->progress(&p->pr, p->o->user);
}

/* Hashes the first n bytes of fd into h, reporting progress. */
static int hash_fd(int fd, uint64_t n, Sha256 *h, const char *path, Progress *p) {
    static const size_t CHUNK = 1 << 20;
    char *buf = malloc(CHUNK);
    if (!buf) return unum_error_set("%s: out of memory", path);
    uint64_t off = 0;
    int rc = 0;
    while (off < n) {
        if (unum_cancelled(p->o->cancel)) {
            rc = unum_error_set("%s: interrupted", path);
            break;
        }
        size_t want = n - off < CHUNK ? (size_t)(n - off) : CHUNK;
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got <= 0) {
            rc = unum_error_set("%s: read failed: %s", path, got < 0 ? strerror(errno) : "short");
            break;
        }
        sha256_update(h, buf, (size_t)got);
        off += (uint64_t)got;
        p->pr.file_done += (uint64_t)got;
        p->pr.done += (uint64_t)got;
        report(p);
    }
    free(buf);
    return rc;
}

/* The state of one GET into FILE.part. */
typedef struct {
    Http *http;
    Progress *prog;
    int fd;
    const char *part;
    uint64_t have;  /* bytes in the .part */
    uint64_t start; /* where this transfer began */
    Sha256 sha;
    int checked;   /* the response status was looked at */
    int restarted; /* the server ignored the Range: starting over */
    int bad_range; /* a 206 that does not start where we asked */
    uint64_t limit; /* the most bytes the file may have: its size, or the
                     * bound for a file of unknown size */
    int over;       /* the body went past limit */
    int io_error;  /* errno of a failed write */
    Buf errbody;   /* an error response's body (discarded) */
} Transfer;

static size_t on_body_file(char *data, size_t size, size_t nitems, void *ud) {
    Transfer *t = ud;
    size_t n = size * nitems;
    long code = t->http->h.status;
    if (unum_cancelled(t->http->cancel)) return 0; /* stop at this chunk */
    if (!t->checked) {
        t->checked = 1;
        if (code == 206) {
            unsigned long long a = 0;
            if (sscanf(t->http->h.content_range, "bytes %llu-", &a) != 1 || a != t->have) {
                t->bad_range = 1;
                return 0;
            }
        } else if (code == 200 && t->have > 0) {
            /* the server sent the whole file (no Range support, or If-Range
             * saw a different version): start again from byte 0 */
            if (ftruncate(t->fd, 0) != 0) {
                t->io_error = errno;
                return 0;
            }
            t->prog->pr.file_done -= t->have;
            t->prog->pr.done -= t->have;
            t->have = t->start = 0;
            sha256_final_hex(&t->sha, (char[65]){0});
            sha256_init(&t->sha);
            t->restarted = 1;
        }
    }
    if (code < 200 || code >= 300) return on_body_mem(data, size, nitems, &t->errbody);
    if (n > t->limit - t->have) { /* stop at once: a body longer than promised */
        t->over = 1;
        return 0;
    }
    for (size_t off = 0; off < n;) {
        ssize_t w = pwrite(t->fd, data + off, n - off, (off_t)(t->have + off));
        if (w < 0) {
            if (errno == EINTR) continue;
            t->io_error = errno;
            return 0;
        }
        off += (size_t)w;
    }
    sha256_update(&t->sha, data, n);
    t->have += n;
    t->prog->pr.file_done += n;
    t->prog->pr.done += n;
    report(t->prog);
    return n;
}

/* Fetches f into dir/NAME through dir/NAME.part, resuming and verifying as
 * pull.h says. Returns a pull status; *fetched is the bytes transferred. */
static int fetch_file(Http *http, const char *dir, RemoteFile *f, Progress *prog, uint64_t *fetched,
                      int may_retry) {
    char *final = unum_path_join(dir, f->name);
    char *part = str_printf("%s.part", final);
    int st = PULL_FAILED;
    /* never through a symbolic link: an existing .part is opened as itself,
     * a new one created exclusively */
    int fd = open(part, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        fd = open(part, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    uint64_t max = prog->o->max_unverified ? prog->o->max_unverified : PULL_MAX_UNVERIFIED;
    Transfer t = {.http = http,
                  .prog = prog,
                  .fd = fd,
                  .part = part,
                  .errbody = {.max = 1 << 16},
                  .limit = f->size >= 0 ? (uint64_t)f->size : max};
    uint64_t file_base = prog->pr.file_done; /* 0 */
    if (fd < 0) {
        unum_error_set("%s: cannot create: %s", part,
                       errno == ELOOP ? "it is a symbolic link, which unum does not follow"
                                      : strerror(errno));
        goto out;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        unum_error_set("%s: another pull is writing it", part);
        goto out;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        unum_error_set("%s: %s", part, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        unum_error_set("%s: not a regular file", part);
        goto out;
    }
    t.have = (uint64_t)sb.st_size;
    /* Resume only what the sha256 will vouch for: the bytes a .part holds
     * may be another version's, and only that check would notice. Files
     * without one (small, git-stored) start again from zero. */
    if (t.have > 0 && ((f->size >= 0 && t.have > (uint64_t)f->size) || !is_sha256_hex(f->etag))) {
        if (ftruncate(fd, 0) != 0) {
            unum_error_set("%s: cannot truncate: %s", part, strerror(errno));
            goto out;
        }
        t.have = 0;
    }
    if (sha256_init(&t.sha) != 0) goto out;
    int resumed = t.have > 0;
    if (resumed && hash_fd(fd, t.have, &t.sha, part, prog) != 0) {
        st = unum_cancelled(prog->o->cancel) ? PULL_CANCELLED : PULL_FAILED;
        goto out;
    }
    t.start = t.have;
    if (f->size < 0 || t.have < (uint64_t)f->size) {
        http_reset(http, f->url);
        curl_easy_setopt(http->curl, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(http->curl, CURLOPT_MAXREDIRS, 10L);
        curl_easy_setopt(http->curl, CURLOPT_BUFFERSIZE, 256L << 10);
        curl_easy_setopt(http->curl, CURLOPT_WRITEFUNCTION, on_body_file);
        curl_easy_setopt(http->curl, CURLOPT_WRITEDATA, &t);
        char range[32];
        snprintf(range, sizeof range, "%" PRIu64 "-", t.have);
        if (t.have > 0) curl_easy_setopt(http->curl, CURLOPT_RANGE, range);
        CURLcode rc = curl_easy_perform(http->curl);
        *fetched += t.have - t.start;
        long code = http->h.status;
        if (t.io_error) {
            unum_error_set("%s: write failed: %s", part, strerror(t.io_error));
            goto out;
        }
        if (t.over) {
            unlink(part);
            if (f->size >= 0)
                unum_error_set("%s: the server sent more than the %" PRId64 " bytes it announced "
                               "(%s); the download was deleted",
                               f->name, f->size, f->url);
            else
                unum_error_set("%s: the hub gave neither its size nor its sha256, and it grew past "
                               "%" PRIu64 " bytes (%s); the download was deleted (unum pull "
                               "--max-unverified SIZE allows more)",
                               f->name, max, f->url);
            goto out;
        }
        if (t.bad_range) {
            unum_error_set("%s: the server answered the range request from byte %" PRIu64
                           " with '%s'",
                           f->url, t.start, http->h.content_range);
            goto out;
        }
        if (rc == CURLE_OK && (code < 200 || code >= 300)) {
            unum_error_set("%s: HTTP %ld", f->url, code);
            goto out;
        }
        if (rc != CURLE_OK) {
            st = http_fail(http, rc, f->url);
            if (st != PULL_CANCELLED && t.have > 0) {
                char total[32] = "?";
                if (f->size >= 0) snprintf(total, sizeof total, "%" PRId64, f->size);
                char *why = xstrdup(unum_error());
                unum_error_set("%s; %s.part keeps %" PRIu64 " of %s bytes, and running unum pull "
                               "again resumes it",
                               why, f->name, t.have, total);
                free(why);
            }
            goto out;
        }
    }
    if (f->size >= 0 && t.have != (uint64_t)f->size) {
        unum_error_set("%s: got %" PRIu64 " bytes, expected %" PRId64 " (%s)", f->name, t.have,
                       f->size, f->url);
        goto out;
    }
    char got[65];
    sha256_final_hex(&t.sha, got);
    if (is_sha256_hex(f->etag) && strcmp(got, f->etag)) {
        unlink(part);
        if (resumed && !t.restarted && may_retry) {
            /* the kept bytes may be another version's: once more from zero */
            close(fd);
            fd = -1;
            prog->pr.done -= prog->pr.file_done - file_base;
            prog->pr.file_done = file_base;
            st = fetch_file(http, dir, f, prog, fetched, 0);
            goto out;
        }
        unum_error_set("%s: sha256 mismatch: expected %s, got %s (from %s); the download was "
                       "deleted",
                       f->name, f->etag, got, f->url);
        goto out;
    }
    if (fsync(fd) != 0 || rename(part, final) != 0) {
        unum_error_set("%s: cannot finish the file: %s", final, strerror(errno));
        goto out;
    }
    st = PULL_OK;
out:
    if (t.sha.ctx) sha256_final_hex(&t.sha, (char[65]){0});
    if (fd >= 0) close(fd);
    free(t.errbody.p);
    free(final);
    free(part);
    return st;
}

/* A file already in place counts as complete when the manifest knows its
 * ETag and size, or when its sha256 equals the ETag. */
static int already_there(const char *dir, RemoteFile *f, const Manifest *m, Progress *prog) {
    char *final = unum_path_join(dir, f->name);
    struct stat sb;
    int ok = 0;
    /* a symbolic link in the file's place is never followed: it does not
     * count as the file, and the fetched file replaces it (rename) */
    if (f->size >= 0 && lstat(final, &sb) == 0 && S_ISREG(sb.st_mode) &&
        (uint64_t)sb.st_size == (uint64_t)f->size) {
        if (manifest_has(m, f)) ok = 1;
        else if (is_sha256_hex(f->etag)) {
            int fd = open(final, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            Sha256 h;
            char got[65] = "";
            if (fd >= 0 && sha256_init(&h) == 0) {
                prog->pr.verifying = 1;
                if (hash_fd(fd, (uint64_t)f->size, &h, final, prog) == 0) {
                    sha256_final_hex(&h, got);
                    ok = !strcmp(got, f->etag);
                } else {
                    sha256_final_hex(&h, got);
                }
                prog->pr.verifying = 0;
                if (!ok) { /* to be fetched: those bytes were not progress */
                    prog->pr.done -= prog->pr.file_done;
                    prog->pr.file_done = 0;
                }
            }
            if (fd >= 0) close(fd);
        }
    }
    free(final);
    return ok;
}

/* ---- the pull ------------------------------------------------------------- */

int pull_run(const PullOptions *o, PullResult *res) {
    if (res) memset(res, 0, sizeof *res);
    if (pull_repo_check(o->repo) != 0) return PULL_FAILED;
    const char *rev = o->revision && *o->revision ? o->revision : "main";
    const char *token = o->token ? o->token : getenv("HF_TOKEN");
    char *endpoint = xstrdup(o->endpoint && *o->endpoint ? o->endpoint : pull_endpoint());
    for (size_t n = strlen(endpoint); n > 1 && endpoint[n - 1] == '/';) endpoint[--n] = 0;
    char *dir = o->dest ? xstrdup(o->dest) : pull_default_dest(o->repo);
    if (!dir) {
        free(endpoint);
        return PULL_FAILED;
    }
    char *commit = NULL;
    RemoteFile *files = NULL;
    int n = 0, st;
    Manifest man = {0};
    Progress prog = {.o = o};
    uint64_t fetched = 0;
    int n_fetched = 0, n_unverified = 0;
    char *unverified = NULL; /* names of the files fetched unverified */
    Http http;
    if (http_open(&http, token, o->cancel) != 0) {
        st = PULL_FAILED;
        goto out;
    }

    st = list_files(&http, endpoint, o->repo, rev, token && *token, &files, &n, &commit);
    if (st == PULL_OFFLINE) /* name the hub, not the API route */
        unum_error_set("cannot reach %s: %s", endpoint,
                       http.errbuf[0] ? http.errbuf : "no connection");
    if (st != PULL_OK) goto out;
    char *ecommit = curl_easy_escape(http.curl, commit, 0);
    for (int i = 0; i < n && st == PULL_OK; i++) {
        char *ename = curl_easy_escape(http.curl, files[i].name, 0);
        files[i].url = str_printf("%s/%s/resolve/%s/%s", endpoint, o->repo, ecommit, ename);
        curl_free(ename);
        st = head_file(&http, endpoint, &files[i]);
        if (files[i].size > 0) prog.pr.total += (uint64_t)files[i].size;
    }
    curl_free(ecommit);
    if (st != PULL_OK) goto out;

    if (unum_mkdir_p(dir, 0700) != 0) {
        st = PULL_FAILED;
        goto out;
    }
    man.path = unum_path_join(dir, MANIFEST);
    man.text = unum_file_exists(man.path) ? unum_read_file(man.path, 1 << 20, NULL) : NULL;
    prog.pr.n_files = n;
    for (int i = 0; i < n; i++) {
        RemoteFile *f = &files[i];
        prog.pr.file = f->name;
        prog.pr.index = i;
        prog.pr.file_done = 0;
        prog.pr.file_total = f->size > 0 ? (uint64_t)f->size : 0;
        report(&prog);
        if (already_there(dir, f, &man, &prog)) {
            f->skip = 1;
        } else {
            if (unum_cancelled(o->cancel)) {
                unum_error_set("%s: interrupted", f->name);
                st = PULL_CANCELLED;
                goto out;
            }
            st = fetch_file(&http, dir, f, &prog, &fetched, 1);
            if (st != PULL_OK) goto out;
            n_fetched++;
            if (f->size < 0 && !is_sha256_hex(f->etag)) {
                char *u = unverified ? str_printf("%s, %s", unverified, f->name) : xstrdup(f->name);
                free(unverified);
                unverified = u;
                n_unverified++;
            }
        }
        if (manifest_add(&man, f) != 0) {
            st = PULL_FAILED;
            goto out;
        }
        prog.pr.done += prog.pr.file_total - prog.pr.file_done; /* skipped bytes count as done */
        prog.pr.file_done = prog.pr.file_total;
        report(&prog);
    }
    st = PULL_OK;
    if (res) {
        res->dir = dir;
        res->commit = commit;
        res->n_files = n;
        res->n_fetched = n_fetched;
        res->bytes = fetched;
        res->n_unverified = n_unverified;
        res->unverified = unverified;
        dir = commit = unverified = NULL;
    }
out:
    for (int i = 0; i < n; i++) free(files[i].name), free(files[i].url);
    free(files);
    free(man.path);
    free(man.text);
    free(commit);
    free(unverified);
    free(dir);
    free(endpoint);
    http_close(&http);
    return st;
}

void pull_result_free(PullResult *r) {
    free(r->dir);
    free(r->commit);
    free(r->unverified);
    memset(r, 0, sizeof *r);
}
