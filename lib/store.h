/*
 * store.h - flowgate's state, kept as commits under refs/flowgate/ and as
 * notes under refs/notes/flowgate (DESIGN.md section 3).
 *
 * PURPOSE
 *   There is no database: every event flowgate records is a commit on a log
 *   ref (refs/flowgate/activity, inbox, envs/<env>, pulls/<n>, ...), whose
 *   tree holds only that record's files, whose parent is the previous
 *   record, whose message a person reads with "git log" and whose trailers
 *   (Flowgate-Kind:, Flowgate-Status:, ...) a program queries.  Facts about
 *   commits of the project (statuses, gate verdicts, deployments) are JSON
 *   notes on them.  This module is the only code that writes either.
 *
 *   An append costs the same whatever the length of the history: a few new
 *   objects (blobs, a one-level tree, a commit) and one compare-and-swap of
 *   the ref, and it deletes no file (see CAVEATS).  A store keeps what its
 *   single appends wrote loose in memory too and writes it as one pack once
 *   a threshold piled up; loose objects others left (a hook's few appends)
 *   are packed when a cheap sample (objects/17, as git gc --auto) finds
 *   many; packs are rolled up geometrically.  So readers and git log read
 *   packs and stay fast too.
 *
 * CALLING SEQUENCE
 *   fg_store_open(&st, path, flags, &err);    by path, never from the env
 *   fg_store_append(&id, st, "refs/flowgate/activity", &rec, &err);
 *   fg_store_append_batch(ids, st, "refs/flowgate/inbox", recs, n, &err);
 *   fg_store_read_file(&buf, st, "refs/flowgate/envs/prod",
 *       "deployment.json", &err);
 *   fg_store_iter_new(&it, st, ref, &query, &err);
 *   while (fg_store_iter_next(&e, it, &err) == 0 && e != NULL) ...;
 *   fg_store_iter_free(it);
 *   fg_store_note_merge(st, &commit, keys, "alice", NULL, &err);
 *   fg_store_free(st);
 *
 *   In a pre-receive hook, open the store on the repository's path (the
 *   plain-path handle ignores GIT_OBJECT_DIRECTORY and writes to the main
 *   object store), and name pushed commits only by hex id in record fields:
 *   records never point at a pushed object, which may still be quarantined
 *   (notes/git-hooks-internals.md section 5).  Notes on pushed commits
 *   belong in post-receive, after the objects migrated.
 *
 * REFS
 *   Every ref name from a caller is checked with fg_refname_is_valid(), and
 *   only refs/flowgate/<...> and refs/notes/flowgate are ever written
 *   (FG_EINVALID otherwise).  Each update is a compare-and-swap on the old
 *   tip, by git's lock-file protocol (<ref>.lock, checked and renamed over
 *   the ref; no reflog).  Flowgate writers of one ref first queue on a lock
 *   the kernel keeps for them (a byte-range lock in <gitdir>/
 *   flowgate-reflocks), so they take turns instead of racing, and a
 *   conflict with git itself (<ref>.lock held, or the ref moved) rewrites
 *   only the commit, after a short randomized backoff, for up to
 *   FG_STORE_RETRY_SECS.  A writer killed while holding <ref>.lock leaves
 *   a marker (its pid) that the next writer finds: the lock is removed at
 *   once once that process is gone.  A <ref>.lock of unknown origin is
 *   removed only when older than the stale-lock age
 *   (FG_STORE_STALE_LOCK_SECS, see fg_store_set_stale_lock_age).  A live
 *   writer's lock is never removed.
 *
 * ERRORS
 *   Functions return 0 or a negative FG_E* code and fill err:
 *   FG_EINVALID   bad ref name or record (unknown kind syntax, bad file
 *                 name, non-object JSON, ...);
 *   FG_ELIMIT     a trailer value, file or batch over its limit;
 *   FG_ENOTFOUND  no such repository, ref, file in a record, or object;
 *   FG_ECONFLICT  fg_store_ref_cas lost its race, or an append gave up
 *                 after FG_STORE_RETRY_SECS of contention;
 *   FG_EIO        libgit2 or the disk failed (its message is kept);
 *   FG_ENOMEM.
 *   A failed append leaves the ref as it was; objects it wrote may remain
 *   unreachable (git gc removes them), never half-visible.
 *
 * DURABILITY
 *   Without FG_STORE_FSYNC a writer killed at any instant (kill -9) leaves
 *   every ref pointing at a complete commit: objects are complete files
 *   before the ref moves, packs are complete before their index appears.
 *   To survive power loss as well, open with FG_STORE_FSYNC (the inbox
 *   does): the objects, packs and refs this store writes and their
 *   directories are synced before the call returns; a batch needs three
 *   disk flushes (pack, index and ref value together; the pack directory;
 *   the ref's directory).  The flag is this store's alone: other stores
 *   of the process do not pay for it, unless it merges notes, whose
 *   objects libgit2 writes: that turns libgit2's process-wide switch on
 *   (GIT_OPT_ENABLE_FSYNC_GITDIR), for good.  The daemon's inbox never
 *   does; a hook may.
 *   FG_STORE_JOURNAL (the daemon's inbox) is FG_STORE_FSYNC with one disk
 *   flush a batch instead of three: the batch's pack, index and ref move
 *   are appended to the repository's journal and synced there (journal.h),
 *   then put in place unsynced; checkpoints sync the rest.  One store
 *   holds the journal at a time; another that asks for it while it is held
 *   (after waiting a second) syncs the git way.  Any store opened with
 *   FG_STORE_FSYNC or FG_STORE_JOURNAL first replays what a crash left in
 *   the journal: packs the disk lost are put back, refs moved to their last
 *   journaled value unless they are there or past it; a ref another writer
 *   moved on since gets the journaled commits it lacks made again on top.
 *   fg_store_free() checkpoints.
 *   Maintenance (fg_store_maintain, automatic roll-ups) syncs the pack it
 *   writes and the pack directory before it deletes what that pack
 *   replaces, whatever the flags: those may be another writer's synced
 *   objects.
 *
 * OWNERSHIP AND THREADS
 *   struct fg_store is the caller's (fg_store_free).  One store is used by
 *   one thread at a time; threads and processes each open their own and
 *   may append to the same refs concurrently: nothing is lost or written
 *   twice.  Pointers in a struct fg_store_entry are borrowed from the
 *   iterator until the next fg_store_iter_next() or fg_store_iter_free().
 *
 * CAVEATS
 *   - A lost compare-and-swap leaves its commit behind unreachable (as any
 *     aborted git write does); git gc prunes such objects, and git fsck
 *     lists them as dangling, which is not an error.
 *   - libgit2 1.5 keeps every pack it has seen open or mapped, even after
 *     maintenance (ours or git gc's) deleted it, and searches them all on
 *     every miss.  A store therefore reopens its object database after its
 *     own roll-ups and every 2048 writes (fg_store_repo() stays the same
 *     handle).  Other long-lived git_repository handles on the same
 *     repository should be reopened now and then for the same reason.
 *   - Appends never delete files.  On ext4 without a journal (this
 *     project's VMs) every file creation scans past the inodes freed in
 *     the last minute or more (recently_deleted() in the kernel), so a
 *     writer that deletes thousands of packed loose objects makes every
 *     later creation slow, its own and everyone's on that disk.  The loose
 *     copies of objects a store packed from memory therefore stay, at a
 *     few KB of disk each, until fg_store_maintain() removes them in bulk
 *     (the daemon's inbox writer calls it every few minutes; git gc and
 *     git prune-packed do it too), or until appends find 512 times the
 *     auto-maintain threshold of loose objects (about 2 GB of disk).
 *     For the same reason a store marks objects/ and refs/ "top of a
 *     directory hierarchy" (chattr +T, ext4 only): the directories made in
 *     them from then on are spread over block groups with many free
 *     inodes, away from the ones freed near the repository.  Loose objects
 *     are created in such fan-out directories, and packs in
 *     objects/fgtmp-<n> (a new one every few seconds; see pack.c), then
 *     renamed into objects/pack: a creation in objects/pack itself took
 *     1-1.6 ms under load here, against 65 us there.
 *
 * RECORDS
 *   Subject: one line a person understands ("deploy prod: 1a2b3c4
 *   succeeded in 42s").  Outside text cannot forge a line: control
 *   characters become \n, \r, \t or \xNN, so do bytes that are not UTF-8;
 *   a subject longer than FG_RECORD_SUBJECT_MAX bytes is cut and ends in
 *   "...".  Body: a few lines; in it, a line that git would read as a
 *   trailer ("Key: value") or as the start of a patch ("---") is indented
 *   by two spaces, so only the last paragraph, written by us, holds
 *   trailers.  A body longer than FG_RECORD_BODY_MAX is cut in the commit;
 *   record.json keeps up to FG_RECORD_TEXT_MAX of it, and of the subject.
 *   Trailers, in this order when set: Flowgate-Kind, -Stage, -Env,
 *   -Commit, -Status, -Run, -Delivery, -Event, then the record's own
 *   Flowgate-* trailers.  A value is trimmed, escaped as the subject is,
 *   and may not exceed FG_RECORD_VALUE_MAX bytes (FG_ELIMIT).
 *   Author: the actor (default "flowgate <flowgate@localhost>"); committer:
 *   "flowgate <flowgate@localhost>"; both at the record's time.
 *   Tree: record.json (schemas/record.schema.json) unless no_record_json,
 *   and the record's files.
 */
#ifndef FG_STORE_H
#define FG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "buf.h"
#include "err.h"

/* Limits (bytes unless said otherwise). */
#define FG_RECORD_SUBJECT_MAX	200		/* commit subject */
#define FG_RECORD_BODY_MAX	(8 * 1024)	/* commit body */
#define FG_RECORD_TEXT_MAX	(64 * 1024)	/* subject, body in record.json */
#define FG_RECORD_VALUE_MAX	256		/* one trailer value */
#define FG_RECORD_ACTOR_MAX	256		/* actor name or email */
#define FG_RECORD_TRAILERS_MAX	16		/* extra Flowgate-* trailers */
#define FG_RECORD_FILES_MAX	64		/* files in one record */
#define FG_RECORD_FILE_MAX	(64 * 1024 * 1024)	/* one file */
#define FG_STORE_BATCH_MAX	10000		/* records in one batch */
#define FG_STORE_RETRY_SECS	60		/* give up a contended append */
#define FG_STORE_STALE_LOCK_SECS 20		/* a <ref>.lock this old is dead */

/*
 * Objects a store's single appends write loose and keep in memory before
 * writing them as one pack (about 350 appends; loose objects of others are
 * packed at four times as many), and the biggest pack an append's roll-up
 * will copy, which bounds what one append can cost; fg_store_maintain()
 * has no such bound.
 */
#define FG_STORE_LOOSE_DEFAULT	1024
#define FG_STORE_AUTO_MERGE_MAX	(32u * 1024)

struct fg_store;

/* A trailer: key ("Flowgate-Gate") and single-line value. */
struct fg_trailer {
	const char *key;
	const char *value;
};

/*
 * A file in a record's tree: a plain name (no '/', not "." or "..", not
 * ".git", not "record.json" unless no_record_json), any bytes.
 */
struct fg_file {
	const char *name;
	const void *data;
	size_t len;
};

/*
 * What to record.  All pointers are borrowed for the call; NULL or "" means
 * absent.  kind is required ([a-z][a-z0-9._-]*, at most 64 bytes: push,
 * gate, promote, deploy, delivery, ...), and so is subject.
 */
struct fg_record {
	const char *kind;
	const char *subject;
	const char *body;
	const char *stage, *env, *commit, *status, *run, *delivery, *event;
	const char *actor_name, *actor_email;
	int64_t time;			/* seconds since the epoch; 0: fg_now() */
	const cJSON *data;		/* an object: record.json's "data" */
	const struct fg_trailer *trailers;	/* extra Flowgate-* trailers */
	size_t ntrailers;
	const struct fg_file *files;
	size_t nfiles;
	bool no_record_json;		/* the tree holds only files */
};

/* fg_store_open() flags. */
#define FG_STORE_FSYNC		0x1	/* fsync everything (process-wide!) */
#define FG_STORE_NO_MAINTAIN	0x2	/* appends never pack loose objects */
#define FG_STORE_JOURNAL	0x4	/* FSYNC; batches through the journal */

/*
 * Open the repository at repo_path (a bare repository, a .git directory or
 * a work tree; no search upwards, environment ignored).  FG_ENOTFOUND when
 * there is none.
 */
int fg_store_open(struct fg_store **out, const char *repo_path,
    unsigned flags, struct fg_err *err);

void fg_store_free(struct fg_store *st);

/* The repository, borrowed from st for its lifetime. */
git_repository *fg_store_repo(struct fg_store *st);

/*
 * Open st's repository afresh, as closing and opening the store would,
 * but keeping its journal: the packs the old handle had open or mapped,
 * deleted since by roll-ups, are let go (see CAVEATS).  A long-lived store
 * calls it now and then.  fg_store_repo()'s handle changes.
 */
void fg_store_refresh(struct fg_store *st);

/*
 * Replay what a crash left in the journal of the bare repository (or git
 * directory) at repo_path, if it has one, as opening a store that syncs
 * does (see DURABILITY): for a daemon's start, before anything reads the
 * inbox.  A repository without a journal is not opened.  0 when there was
 * nothing to do or it is done.
 */
int fg_store_replay(const char *repo_path, struct fg_err *err);

/*
 * Single appends write a pack of their objects every threshold objects,
 * and appends pack others' loose objects once about four times threshold
 * of them exist (0: never; nothing is kept in memory then).  Default
 * FG_STORE_LOOSE_DEFAULT, or 0 with FG_STORE_NO_MAINTAIN.
 */
void fg_store_set_auto_maintain(struct fg_store *st, size_t threshold);

/*
 * A <ref>.lock of unknown origin (not marked by a flowgate writer that
 * died, which is removed at once) older than this many seconds (at least
 * 1) is taken for the leftover of a killed writer and removed.  Too small
 * a value lets a live git process that stalled that long lose its update;
 * the default is FG_STORE_STALE_LOCK_SECS.
 */
void fg_store_set_stale_lock_age(struct fg_store *st, int seconds);

/*
 * Append rec to ref (refs/flowgate/...): blobs, a tree of this record's
 * files only (written loose before queueing for the ref), a commit whose
 * parent is the ref's tip (none for a new ref), then a compare-and-swap of
 * the ref; a conflict rewrites only the commit.  *out is the new commit's
 * id.
 */
int fg_store_append(git_oid *out, struct fg_store *st, const char *ref,
    const struct fg_record *rec, struct fg_err *err);

/*
 * Append n records (1 to FG_STORE_BATCH_MAX) as a chain of n commits with
 * one ref update: group commit.  Their objects are built in memory
 * (git_mempack; blobs and trees before the ref is locked) and written as
 * one pack, so nothing goes loose; the ref is locked while the commits and
 * the pack are written, then moved.  out receives n ids, in order
 * (out[n - 1] is the new tip); it may be NULL.
 */
int fg_store_append_batch(git_oid *out, struct fg_store *st, const char *ref,
    const struct fg_record *recs, size_t n, struct fg_err *err);

/* Notes one fg_store_append_batch_noted() call merges at most. */
#define FG_STORE_NOTES_MAX	100

/* A note to merge: keys as for fg_store_note_merge(), on target. */
struct fg_store_note {
	git_oid target;
	cJSON *keys;
};

/*
 * Called by fg_store_append_batch_noted() once the batch's commits are
 * known (ids[0..n), as out receives them) and the notes ref is locked, so
 * that it may read the current notes (fg_store_note_get) and name the new
 * records in them.  It fills notes[0..*nnotes) (at most max); the store
 * takes each keys object over, even on failure.  0 or a negative FG_E*.
 */
typedef int (*fg_store_notes_fn)(struct fg_store_note *notes, size_t *nnotes,
    size_t max, const git_oid *ids, size_t n, void *arg, struct fg_err *err);

/*
 * fg_store_append_batch(), and the notes fn gives merged as
 * fg_store_note_merge() would (actor_name the notes' author), with all
 * the objects of both in the one pack: one pack, one set of disk flushes
 * (with FG_STORE_FSYNC), two ref updates (ref, then refs/notes/flowgate,
 * which is never synced: a crash can lose the notes, not the batch).
 * Made for post-receive, which otherwise wrote the notes loose, a file
 * and a pack rescan per object.  Notes never cost the batch: one that
 * cannot be made (a note that is not JSON, an object that is not there)
 * is logged (fg_log_warnx) and the batch is written without the notes.
 * A notes tree that git notes fanned out into subtrees is left to
 * fg_store_note_merge(), after the batch.  With fn NULL (arg and
 * actor_name unused) it is fg_store_append_batch(), which calls it so.
 */
int fg_store_append_batch_noted(git_oid *out, struct fg_store *st,
    const char *ref, const struct fg_record *recs, size_t n,
    fg_store_notes_fn fn, void *arg, const char *actor_name,
    struct fg_err *err);

/*
 * The same batch built a record at a time, for a caller whose records
 * arrive one by one (the webhook daemon's inbox writer, which builds each
 * delivery's objects while the next is still being read): new opens it,
 * add packs a record's blobs and tree (checked as fg_store_append_batch
 * checks them; at most FG_STORE_BATCH_MAX), commit locks ref, chains the
 * commits on its tip and writes, syncs and publishes everything as
 * fg_store_append_batch_noted() does (fn, arg and actor_name as there,
 * fn may be NULL).  A record add refuses is not in the batch.  free drops
 * a batch, committed or not; one that was not committed leaves nothing.
 * A batch is one thread's, and st must outlive it.
 */
struct fg_store_batch;

int fg_store_batch_new(struct fg_store_batch **out, struct fg_store *st,
    struct fg_err *err);
int fg_store_batch_add(struct fg_store_batch *b, const struct fg_record *rec,
    struct fg_err *err);
size_t fg_store_batch_count(const struct fg_store_batch *b);
int fg_store_batch_commit(git_oid *out, struct fg_store_batch *b,
    const char *ref, fg_store_notes_fn fn, void *arg, const char *actor_name,
    struct fg_err *err);
void fg_store_batch_free(struct fg_store_batch *b);

/*
 * The parent of the first commit of the last batch st appended (what the
 * ref pointed at, under its lock): false when the ref was new or st has
 * appended no batch.  Lets a caller tell that a batch directly follows a
 * commit it knows without reading anything back.
 */
bool fg_store_batch_parent(git_oid *out, const struct fg_store *st);

/*
 * The commits from tip back by first parents to stop (not included; NULL:
 * to the root, included), newest first: *n of them in *out (malloc'd, the
 * caller's).  FG_ENOTFOUND, with nothing in *out, when they are not one
 * chain there (a merge, a root before stop) or number more than max.
 * Records refs are such chains: the inbox's reader and the journal's
 * replay walk them without a revwalk.
 */
int fg_store_first_parents(git_oid **out, size_t *n, git_repository *repo,
    const git_oid *tip, const git_oid *stop, size_t max, struct fg_err *err);

/* The tip of ref; FG_ENOTFOUND when it does not exist. */
int fg_store_tip(git_oid *out, struct fg_store *st, const char *ref,
    struct fg_err *err);

/*
 * Append to out the file name (a path in the tree, "a/b" allowed) of the
 * commit ref points at (fg_store_read_file) or of commit (..._at).
 * FG_ENOTFOUND when the ref, commit or file does not exist.
 */
int fg_store_read_file(struct fg_buf *out, struct fg_store *st,
    const char *ref, const char *name, struct fg_err *err);
int fg_store_read_file_at(struct fg_buf *out, struct fg_store *st,
    const git_oid *commit, const char *name, struct fg_err *err);

/*
 * Compare-and-swap a cursor ref (refs/flowgate/inbox-done): set ref to
 * new_id if it points at old_id, or if it does not exist when old_id is
 * NULL.  FG_ECONFLICT when it moved (nothing is retried but a held lock).
 * new_id must exist in the repository.
 */
int fg_store_ref_cas(struct fg_store *st, const char *ref,
    const git_oid *old_id, const git_oid *new_id, struct fg_err *err);

/*
 * Walking a log, newest first.  Filters compare trailer values exactly,
 * except commit, which matches a prefix of Flowgate-Commit; NULL or ""
 * matches anything.  limit 0 means no limit.  Commits are read one by one
 * as fg_store_iter_next() asks for them: a walk with limit N and no filter
 * parses N commits.
 */
struct fg_store_query {
	const char *kind, *stage, *env, *commit, *status, *run, *delivery,
	    *event;
	size_t limit;
};

struct fg_store_entry {
	git_oid id;
	int64_t time;			/* author time, seconds since epoch */
	const char *subject;		/* first line of the message */
	const char *body;		/* between subject and trailers; "" */
	const char *author_name;
	const char *author_email;
	const struct fg_trailer *trailers;	/* the last paragraph */
	size_t ntrailers;
};

struct fg_store_iter;

/*
 * Start a walk of ref.  A ref that does not exist gives an empty walk; a
 * bad ref name is FG_EINVALID.
 */
int fg_store_iter_new(struct fg_store_iter **out, struct fg_store *st,
    const char *ref, const struct fg_store_query *q, struct fg_err *err);

/* *out is the next matching record, or NULL at the end (returning 0). */
int fg_store_iter_next(const struct fg_store_entry **out,
    struct fg_store_iter *it, struct fg_err *err);

/* How many commits the walk has parsed so far. */
size_t fg_store_iter_scanned(const struct fg_store_iter *it);

void fg_store_iter_free(struct fg_store_iter *it);

/* The value of trailer key ("Flowgate-Status") in e, or NULL. */
const char *fg_store_entry_get(const struct fg_store_entry *e,
    const char *key);

/*
 * Notes: a JSON object per annotated object under refs/notes/flowgate
 * (read with git log --notes=flowgate).  fg_store_note_merge merges keys
 * (an object) into the note on target, deep, under the notes ref's lock
 * on the tip it read: where both keys and the note hold an object under
 * one name, the two objects merge, recursively; any other value (string,
 * number, array, an object where the note has none) replaces the note's;
 * a null removes the member, at any depth.  So a writer names only what
 * it changes, {"deployments": {"prod": {...}}}, and what others wrote
 * meanwhile (deployments.uat) stays; to replace an entry's members
 * exactly, name the ones to drop with null.  The notes ref moves by
 * compare-and-swap, retried, as appends do; writing what the note already
 * says changes nothing.  actor_name/actor_email (may be NULL) author the
 * notes commit.  FG_ENOTFOUND when target is not in the repository,
 * FG_EINVALID when keys is not an object or the note is not one.
 *
 * Cost: libgit2 keeps notes in one flat tree, so a merge rewrites a tree
 * of one entry per annotated object.
 */
int fg_store_note_merge(struct fg_store *st, const git_oid *target,
    const cJSON *keys, const char *actor_name, const char *actor_email,
    struct fg_err *err);

/* The note on target as a JSON object (cJSON_Delete); FG_ENOTFOUND. */
int fg_store_note_get(cJSON **out, struct fg_store *st, const git_oid *target,
    struct fg_err *err);

/*
 * Maintenance: write what this store keeps in memory as a pack; when about
 * loose_threshold loose objects not yet in a pack exist, or 16 times as
 * many loose objects in all (0: always), put every loose object in one
 * pack and delete them all, the copies appends left of packed objects
 * included (many deletions: see CAVEATS); then roll
 * small packs up into bigger ones (a geometric progression, factor 4);
 * remove temporary files killed writers left; checkpoint the journal and
 * shrink its files back to 1 MB.  Packs with offset deltas are not
 * rolled up (git repack's; git gc's business); ours, whose deltas name
 * their base by id, are.  Returns 0 at once
 * when another process is maintaining the repository.  Appends do the
 * cheap parts themselves (see fg_store_set_auto_maintain); a daemon calls
 * this from a timer.
 */
int fg_store_maintain(struct fg_store *st, size_t loose_threshold,
    struct fg_err *err);

/* Counters since open, for tests and benchmarks. */
struct fg_store_stats {
	uint64_t appends;		/* records appended */
	uint64_t retries;		/* compare-and-swap attempts lost */
	uint64_t stale_locks;		/* dead <ref>.lock files removed */
	uint64_t packs_written;		/* by batches and maintenance */
	uint64_t loose_packed;		/* loose objects moved into packs */
	uint64_t packs_merged;		/* packs rolled up into others */
};

void fg_store_get_stats(struct fg_store_stats *out,
    const struct fg_store *st);

#endif
