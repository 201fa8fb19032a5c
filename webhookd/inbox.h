/*
 * inbox.h - durable intake: deliveries go to their repository's
 * refs/flowgate/inbox in group commits, and only then are answered.
 *
 * The loop thread submits a delivery (whd_inbox_submit) and goes on
 * serving.  One writer thread takes deliveries as they arrive (up to the
 * batch limit), drops delivery ids its repository has seen before, stages
 * the rest (their objects built and written at once, while the loop reads
 * the next), commits each repository's deliveries as one inbox commit
 * written with one fsync, and hands every delivery back to the loop with
 * its result (whd_loop_post), where its request is answered: 202 only
 * once the commit is on disk.  Per-request durability costs an fsync
 * each (~780 a second here); a group commit costs three disk flushes per
 * batch (store.h, DURABILITY), and the batch grows by itself with the
 * load: what arrives while one batch is being written is the next.
 *
 * Duplicates.  Each repository keeps the ids of its recent deliveries
 * (FG_INBOX_SEEN_MAX), loaded from the inbox's Flowgate-Delivery trailers
 * the first time the writer meets the repository, so a restart does not
 * forget them.  The writer alone reads and updates the set, in order, so
 * two copies of a delivery arriving together are recorded once.
 *
 * The delivery id and the event header are not signed: only the body is.
 * So each repository also keeps the keys of its recent signed bodies
 * (body_key below, up to FG_INBOX_SEEN_MAX of them, in a set of their
 * own), loaded from the Flowgate-Signed-Body trailers: a body signed and
 * seen before is a duplicate whatever delivery id or event it comes
 * with, so a captured delivery replayed under a fresh id or another event
 * is recorded once.  The key is the SHA-256 of the verified HMAC, not the
 * HMAC: the inbox keeps the payload, and the pair would be a delivery
 * anyone who can read the repository could send again.  GitLab signs
 * nothing (its token is the secret itself): its deliveries have no key,
 * and are deduplicated by their event UUID alone.
 *
 * Memory.  Deliveries waiting for the disk are bounded in bytes
 * (queue_max): past it, submit refuses with FG_ELIMIT and the daemon
 * answers 503, so overload never queues without limit.  The two seen
 * sets of a repository (lib/keyset.h) hold 16 bytes per key and 8 of
 * table: 1.5 MB each once full, and no allocation per key.
 *
 * The store.  inbox.c reaches the repository only through the
 * whd_store_* functions below (inbox_store.c), so the store library
 * behind them can change without touching the batching.
 */
#ifndef FG_WHD_INBOX_H
#define FG_WHD_INBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "whd.h"

struct whd;

/*
 * Longest wait, in microseconds, for the rest of a batch (see round_open()
 * in inbox.c): an upper bound on the latency it adds.  Each group commit
 * is a pack the engine must open and later roll up; at 5 ms rather than
 * 2 ms, under wrk -c32, batches grew from 18 to 25 deliveries, the
 * writer's CPU per delivery fell by a fifth and the engine's by a quarter
 * (it kept up: a backlog of 74-513 after 8 s instead of 1,935-8,057), for
 * the same p99.  Deliveries arriving during the wait are staged as they
 * come, so the wait is not idle.
 */
#define FG_INBOX_LINGER_US 5000

/* While a round waits, the writer is woken when this many have arrived. */
#define FG_INBOX_WAKE_STEP 4

/* Least time between two maintenance runs of one repository. */
#ifndef FG_INBOX_MAINTAIN_SECS
#define FG_INBOX_MAINTAIN_SECS 300
#endif

/*
 * Delivery ids remembered per repository for deduplication, and as many
 * signed body keys.
 */
#define FG_INBOX_SEEN_MAX 65536

/* Length of a signed body key: hex SHA-256. */
#define FG_INBOX_BODY_KEY_LEN 64

enum whd_result {
	WHD_PENDING = 0,
	WHD_ACCEPTED,		/* in the inbox, on disk */
	WHD_DUPLICATE,		/* seen before; not appended again */
	WHD_FAILED,		/* not written: err says why */
};

/*
 * One delivery.  The loop fills the first block and submits it; the
 * writer fills the result; the loop gets it back through done(d, arg)
 * and frees it with whd_delivery_free.
 */
struct whd_delivery {
	struct whd_delivery *next;	/* the writer's queue */
	char *repo;			/* "owner/name" */
	char *path;			/* the bare repository */
	char *id;			/* delivery id */
	char *kind;			/* event kind name, for the subject */
	char *event_json;		/* event.json */
	char *body;			/* the raw payload */
	size_t len;
	/*
	 * Hex SHA-256 of the body's verified HMAC-SHA256 signature, or ""
	 * when no HMAC covers the body (GitLab): the second duplicate key.
	 */
	char body_key[FG_INBOX_BODY_KEY_LEN + 1];
	int64_t time;			/* when it arrived */
	void (*done)(struct whd_delivery *d, void *arg);
	void *arg;
	struct whd_post post;		/* how the writer hands it back */

	enum whd_result result;
	char commit[41];		/* the inbox commit (ACCEPTED) */
	struct fg_err err;		/* why (FAILED) */
};

void whd_delivery_free(struct whd_delivery *d);

/*
 * Answer the API request r for what the inbox did with dl, and free dl:
 * 202 {"status":"accepted", <fields>} or 200 {"status":"duplicate",
 * <fields>}, fields being JSON members without braces ("\"id\":\"x\"");
 * else 500 "cannot record the <what>: <why>".
 */
struct whd_req;
void whd_reply_queued(struct whd_req *r, struct whd_delivery *dl,
    const char *what, const char *fields);

/*
 * Start the writer thread.  batch_max bounds the deliveries per commit,
 * queue_max the bytes waiting.  Every group commit is fsync'd
 * (inbox_store.c opens the store with FG_STORE_FSYNC).
 */
int whd_inbox_new(struct whd_inbox **out, struct whd *d, int batch_max,
    uint64_t queue_max, struct fg_err *err);

/* Change the limits (SIGHUP). */
void whd_inbox_set_limits(struct whd_inbox *in, int batch_max,
    uint64_t queue_max);

/*
 * Queue d for the writer.  FG_ELIMIT when the queue is over its byte
 * limit, FG_EIO when the inbox is stopping; the caller keeps d then.
 * On success d belongs to the inbox until done() hands it back.
 */
int whd_inbox_submit(struct whd_inbox *in, struct whd_delivery *d);

/* Bytes and deliveries waiting for the disk. */
void whd_inbox_queued(struct whd_inbox *in, uint64_t *bytes, size_t *n);

/* Group commits written, and deliveries in them, since start. */
void whd_inbox_stats(struct whd_inbox *in, uint64_t *commits,
    uint64_t *deliveries);

/*
 * Stop: the writer finishes what is queued (each delivery's done() still
 * runs, on the loop), then exits; joins it and frees everything.  Call it
 * after the loop has answered everything, or from the loop's last turn.
 */
void whd_inbox_free(struct whd_inbox *in);

/*
 * The store, as the inbox uses it (inbox_store.c).  All run on the writer
 * thread.  *cache is an open handle on the repository, kept between
 * calls (NULL at first); whd_store_close frees it.
 *
 * whd_store_begin: open a batch of deliveries to path's
 * refs/flowgate/inbox (*batch), whd_store_stage adds one to it (the
 * delivery's blobs and tree are built and written at once), and
 * whd_store_commit writes them: one commit per delivery, in the order
 * staged, whose tree holds event.json and payload and whose message
 * carries Flowgate-Delivery, Flowgate-Event (the kind) and, for a signed
 * body, Flowgate-Signed-Body (its body_key); objects written as one pack,
 * the ref moved once under its lock, on disk before it returns: the
 * handle keeps the repository's journal (journal.h), where the pack, its
 * index and the ref's move are synced as one record, one disk flush.
 * Staging while more deliveries are still being read is the point: their
 * hashing and compression no longer wait for the batch to close.  commit
 * frees the batch whatever happens, and gets the new inbox tip; h, when
 * not NULL, the commit ids (h->ids, one per staged delivery, allocated)
 * and the commit they follow.  whd_store_abort drops a batch
 * that was not committed.  A batch must be committed or dropped before
 * its handle (*cache) is closed.
 *
 * whd_store_seen: call fn(id, body_key, payload) for the newest inbox
 * commits, at most max of them, newest first: id is the delivery id,
 * body_key the signed body key; either may be NULL (an older record has
 * no body key).  An inbox that does not exist yet has none; a repository
 * that does not exist is FG_ENOTFOUND.
 *
 * whd_store_maintain: fg_store_maintain() on the repository: packs loose
 * objects, deletes the loose copies of packed ones (which appends leave,
 * see store.h), rolls packs up.  The writer calls it for each repository
 * at most every FG_INBOX_MAINTAIN_SECS, when no delivery is waiting.
 *
 * whd_store_refresh: fg_store_refresh() on the handle.
 *
 * whd_store_replay: a whd_repos_each() callback for the daemon's start:
 * fg_store_replay() on the repository, which puts back what a power loss
 * took of its last group commits, before anything reads its inbox.
 */
struct whd_handoff;
int whd_store_begin(void **batch, void **cache, const char *path,
    struct fg_err *err);
int whd_store_stage(void *batch, const struct whd_delivery *d,
    struct fg_err *err);
int whd_store_commit(char commit[41], struct whd_handoff *h, void *batch,
    void **cache, struct fg_err *err);
void whd_store_abort(void *batch);
int whd_store_seen(void **cache, const char *path, size_t max,
    void (*fn)(const char *id, const char *body_key, void *payload),
    void *payload,
    struct fg_err *err);
int whd_store_maintain(void **cache, const char *path, struct fg_err *err);
void whd_store_refresh(void *cache);
void whd_store_close(void *cache);
void whd_store_replay(const char *repo, const char *path, void *arg);

#endif
