/*
 * journal.h - a store's write-ahead journal: a durable batch commit with
 * one disk flush instead of three.
 *
 * Why this exists.  A batch commit made durable the git way syncs its pack,
 * index and ref value, then the pack directory (the pack's name), then the
 * ref's directory (the ref's move): three disk flushes, each waiting for
 * the one before, since a name must never reach the disk before what it
 * names.  The webhook daemon answers a delivery only once it is on disk,
 * and those three flushes were most of each group commit's time.  With a
 * journal the batch is written as before but synced nowhere; what it wrote
 * (the pack's and index's bytes, and the ref's move) is appended to one
 * file, and that file alone is synced: one flush.  After a power loss, the
 * next writer to open the store puts back from the journal whatever of it
 * the disk lost.  A checkpoint (syncfs(): everything written to that file
 * system is then on disk) makes the records stale, and the journal starts
 * over.  There are two files: when the one taking records passes 8 MB,
 * the other takes them and the full one is checkpointed on a thread of
 * its own.  Closing checkpoints the rest, and closing or
 * fg_journal_trim() shrinks both files back to 1 MB.
 *
 * The files, <gitdir>/flowgate-journal.0 and .1: each a header (magic,
 * generation, CRC-32) at offset 0, then from JOURNAL_DATA the records of
 * that generation, one after the other.  A checkpoint leaves the records
 * in place and marks the generation cleared; generations are never given
 * out twice (they start from the clock and pass every one a header
 * names), so that stale records further on in a file can never continue
 * newer ones.  A record is a header (magic, generation, lengths, the
 * old and new ids, the ref's name, CRC-32), then the pack's bytes and the
 * index's.  It counts only when its CRC holds and the pack and index match
 * their own SHA-1 trailers (and each other): an append cut short by a
 * crash ends the journal there, and it had not been acknowledged.  The
 * files grow in zero-filled steps ahead of the records, so that syncing a
 * record is a flush of its data alone, with no size or block map to write.
 *
 * Locking: the journal is held with flock() for as long as it is open, so
 * it has one appender; a process that finds it held leaves it alone (its
 * holder is alive, and replayed it when it opened it).
 *
 * Ownership: struct fg_journal is the caller's (fg_journal_close).  One
 * thread at a time (plus the checkpointing thread it starts and joins).
 */
#ifndef FG_JOURNAL_H
#define FG_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <git2.h>

#include "err.h"

#define FG_JOURNAL_NAME	"flowgate-journal"

struct fg_journal;

/* One record, borrowed from the journal during the replay's callback. */
struct fg_journal_rec {
	const char *ref;
	bool have_old;			/* the ref existed before */
	git_oid old_id;
	git_oid new_id;
	const unsigned char *pack;	/* the pack file's bytes */
	size_t pack_len;
	const unsigned char *idx;	/* its version 2 index */
	size_t idx_len;
	char name[GIT_OID_HEXSZ + 1];	/* the pack's checksum: pack-<name> */
};

typedef int (*fg_journal_fn)(const struct fg_journal_rec *r, void *arg,
    struct fg_err *err);

/*
 * Open and lock gitdir's journal (gitdir ends with '/'), creating it when
 * create, and replay it: fn for each record of its generation, in order,
 * without a checkpoint (fg_journal_pending() counts them: the caller
 * checkpoints once it has put back what they hold).  FG_ENOTFOUND when
 * there is none and !create; FG_EBUSY when another open file holds it;
 * FG_EDENIED when this user may not write it.  A failing fn stops the
 * replay and the open.
 */
int fg_journal_open(struct fg_journal **out, const char *gitdir, bool create,
    fg_journal_fn fn, void *arg, struct fg_err *err);

/* Whether gitdir (ending with '/') has a journal, without opening it. */
bool fg_journal_exists(const char *gitdir);

/*
 * Append the move of ref from old (NULL: it did not exist) to new_id, with
 * the finished, unpublished pack of pack_fd and index of idx_fd (both
 * readable, read from offset 0), and sync the journal.  A full journal is
 * checkpointed first.  After a failure the journal refuses appends until a
 * checkpoint succeeds (what it holds stays valid).
 */
int fg_journal_append(struct fg_journal *j, const char *ref,
    const git_oid *old, const git_oid *new_id, int pack_fd, int idx_fd,
    struct fg_err *err);

/* Make every record stale: sync the file system, then start over. */
int fg_journal_checkpoint(struct fg_journal *j, struct fg_err *err);

/*
 * When idle: checkpoint if records are pending, then shrink each file back
 * to its first 1 MB (a file grows to 9 MB under load; a server with many
 * repositories would keep 18 MB of journal for each).
 */
int fg_journal_trim(struct fg_journal *j, struct fg_err *err);

/* Records appended since the last checkpoint. */
size_t fg_journal_pending(const struct fg_journal *j);

/* fg_journal_trim(), then close; j may be NULL. */
int fg_journal_close(struct fg_journal *j, struct fg_err *err);

/* Close without a checkpoint: the records stay to be replayed. */
void fg_journal_drop(struct fg_journal *j);

#endif
