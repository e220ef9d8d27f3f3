/* pull.h - downloads a model repository from the Hugging Face hub.
 *
 * pull_run() fetches the files unum reads from one repo id (ORG/NAME) at one
 * revision into a local folder, by default unum's models folder
 * ($XDG_DATA_HOME/unum/models/ORG/NAME), where -m ORG/NAME finds it.
 *
 * The hub protocol, as the hub serves it:
 *   - GET {endpoint}/api/models/ORG/NAME/revision/REV lists the files
 *     ("siblings": [{"rfilename"}]) and names the commit ("sha"); every file
 *     is then taken from that commit, so one pull never mixes revisions.
 *   - HEAD {endpoint}/ORG/NAME/resolve/COMMIT/FILE, redirects not followed,
 *     gives each file's size and ETag. Large (LFS) files answer with a
 *     redirect to their storage and carry X-Linked-Size and X-Linked-Etag,
 *     whose value is the file's sha256; small files carry a git blob id.
 *   - GET on the same URL, redirects followed, fetches the bytes.
 * The endpoint is $HF_ENDPOINT, else https://huggingface.co; $HF_TOKEN, when
 * set, is sent as "Authorization: Bearer" (libcurl keeps it off other hosts).
 *
 * Which files: top-level *.safetensors (the repo must have some), *.json,
 * *.txt, README.md and LICENSE*; never other weight formats (.bin, .h5,
 * .msgpack, .onnx, .gguf, ...) nor subfolders. config.json comes last, so
 * the folder only looks like a model once everything else is in place.
 *
 * Each file is written to FILE.part, hashed (sha256) as it arrives, and
 * renamed into place only when whole and verified. An interrupted transfer
 * leaves the .part, and the next pull resumes it with an HTTP Range request
 * (hashing the bytes already there first; a file without a sha256 to check
 * the kept bytes against starts again). A file whose ETag is a sha256 is
 * checked against it; a mismatch deletes the .part and fails, naming the
 * file and both digests. Files already complete are skipped: the folder's
 * .unum-pull manifest records the ETag and size each was fetched with.
 *
 * Bounds and links: a body longer than the size the HEAD announced is cut
 * off at that size, the .part deleted and the pull failed; a file the hub
 * gives neither a size nor a sha256 for is fetched up to max_unverified
 * bytes (failing past that) and named in PullResult.unverified. FILE.part is
 * opened without following a symbolic link (a new one is created
 * exclusively), and a symbolic link in the file's place is never read: the
 * fetched file replaces it.
 *
 * No printing: progress goes to a callback, and a cancel flag (set from any
 * thread or a signal handler) stops the transfer at the next chunk, keeping
 * the .part for a later resume. Errors go to unum_error() and name the URL
 * or file and the problem (HTTP status, curl's reason, the digests). */
#ifndef UNUM_PULL_H
#define UNUM_PULL_H

#include "engine/base/cancel.h"

#include <stdint.h>

/* The result of pull_run. */
enum {
    PULL_OK = 0,
    PULL_FAILED = -1,    /* the error names what failed */
    PULL_OFFLINE = -2,   /* the endpoint could not be reached at all */
    PULL_CANCELLED = UNUM_CANCELLED, /* *cancel was set; .part files stay for a resume */
};

typedef struct {
    const char *file;     /* repo-relative name of the file in flight */
    int index, n_files;   /* its place among the files to fetch (0-based) */
    uint64_t file_done;   /* bytes of it on disk, resumed bytes included */
    uint64_t file_total;  /* its size; 0 when the server did not say */
    uint64_t done, total; /* the same over all files of this pull (done steps
                           * back when a file has to start over) */
    int verifying;        /* hashing a file already on disk, not fetching */
} PullProgress;

/* The default bound on a file of unknown size and digest (256 MiB). */
#define PULL_MAX_UNVERIFIED (256ull << 20)

typedef void (*pull_progress_fn)(const PullProgress *p, void *user);

typedef struct {
    const char *repo;          /* ORG/NAME (required) */
    const char *revision;      /* branch, tag or commit; NULL: "main" */
    const char *endpoint;      /* NULL: $HF_ENDPOINT, else https://huggingface.co */
    const char *token;         /* NULL: $HF_TOKEN, if set */
    const char *dest;          /* NULL: pull_default_dest(repo) */
    pull_progress_fn progress; /* may be NULL; called often, keep it cheap */
    void *user;
    UnumCancel *cancel; /* may be NULL; set (from anywhere) to stop the pull */
    uint64_t max_unverified; /* 0: PULL_MAX_UNVERIFIED */
} PullOptions;

typedef struct {
    char *dir;      /* the model folder */
    char *commit;   /* the commit the files came from */
    int n_files;    /* files in the folder for this pull */
    int n_fetched;  /* of those, fetched (or resumed) this time */
    uint64_t bytes; /* bytes transferred this time */
    int n_unverified; /* files fetched with neither a size nor a sha256 */
    char *unverified; /* their names, ", "-separated; NULL when none */
} PullResult;

/* 0 when repo is ORG/NAME with hub-safe names (letters, digits, . _ -, not
 * starting with . or -), else -1 with the error naming it. */
int pull_repo_check(const char *repo);

/* A new string: $XDG_DATA_HOME/unum/models/REPO (default ~/.local/share);
 * NULL with the error set when neither XDG_DATA_HOME nor HOME is set. */
char *pull_default_dest(const char *repo);

/* The endpoint pull_run uses when none is given (a static string). */
const char *pull_endpoint(void);

/* Runs the pull; returns PULL_OK or one of the failures above, with the
 * error set. *res is filled on PULL_OK (release it with pull_result_free);
 * it may be NULL. */
int pull_run(const PullOptions *o, PullResult *res);
void pull_result_free(PullResult *r);

/* What to say when the hub cannot be reached: how to use a model that is
 * already on the machine (a static string, one sentence). */
const char *pull_offline_hint(void);

#endif
