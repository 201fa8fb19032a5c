/*
 * pack.h - write git packfiles (and loose objects) ourselves, and keep the
 * number of packs small.
 *
 * Why this exists.  libgit2 1.5 writes packs through git_packbuilder, which
 * searches for deltas between every object and its ten neighbours (about
 * 60 us per small object here) and cannot be told not to; and every object
 * written through git_odb_write() rescans objects/pack.  This module writes
 * packs directly (zlib for the entries, SHA-1 from libcrypto for the trailer
 * and the .idx), which is what lets a batch of records, or a pile of loose
 * objects, become one pack at a few microseconds an object.  Its only deltas
 * are the ones a caller asks for (fg_pack_writer_add_like): a blob on the
 * last one of its family stored whole in the same pack, such as a forge's
 * payload on the one before, found without any search (delta.h).
 *
 * What it writes is an ordinary version 2 pack and version 2 index, named
 * pack-<checksum> like git's own, made read-only, in objects/pack.  The .pack
 * is renamed into place before the .idx: git and libgit2 only see a pack
 * through its index, so a reader never meets a half-written pack, and a
 * writer killed at any instant leaves at worst a tmp_fg* file behind, which
 * fg_pack_clean_tmp() removes once it is old.
 *
 * Maintenance (fg_pack_loose, fg_pack_geometric) packs loose objects and
 * rolls small packs up into bigger ones so that pack sizes form a geometric
 * progression (git repack --geometric=4): the number of packs grows with the
 * logarithm of the history, and each object is copied a logarithmic number
 * of times.  Roll-ups copy entries verbatim (no inflate, no deflate), so they
 * only touch packs without offset deltas (a delta naming its base by id,
 * which is in the same pack, stays right when copied) and without .keep,
 * .bitmap, .rev,
 * .promisor or .mtimes companions, and nothing at all while a
 * multi-pack-index exists: packs made by git itself are left to git gc.
 *
 * Ownership: a writer is the caller's (fg_pack_writer_free).  Thread-safety:
 * a writer is used by one thread at a time; the maintenance functions keep
 * no state but two of them must not run on one repository at once (the
 * store serializes them with a file lock).
 */
#ifndef FG_PACK_H
#define FG_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <git2.h>

#include "err.h"

/* A pack name: "pack-" is not included, 40 hex digits and a NUL. */
#define FG_PACK_NAME_MAX (GIT_OID_HEXSZ + 1)

struct fg_pack_writer;

/*
 * Start a pack in objdir/pack (objdir is a repository's objects directory).
 * With do_fsync the pack, its index and the directory are fsync()ed before
 * fg_pack_writer_commit() returns.
 */
int fg_pack_writer_new(struct fg_pack_writer **out, const char *objdir,
    bool do_fsync, struct fg_err *err);

/*
 * Add one object; id must be its object id (the caller hashed it).  An id
 * already added is skipped, so a pack never holds an object twice.
 */
int fg_pack_writer_add(struct fg_pack_writer *w, const git_oid *id,
    git_object_t type, const void *data, size_t len, struct fg_err *err);

/*
 * Blob families a writer keeps a delta base for; a blob's family is the
 * caller's to choose: the same for blobs that are alike.
 */
#define FG_PACK_FAMILIES 8

/*
 * fg_pack_writer_add() for an object that is likely much like the last one
 * of its family (0 to FG_PACK_FAMILIES - 1; -1: none) added to this pack.
 * A blob of 512 bytes to 1 MB is written as a delta on that one (by id:
 * git's REF_DELTA) when the delta is smaller than the blob would be whole
 * (under half of a blob stored as it is, an eighth of one deflated); else
 * it is written whole and becomes the family's base.  Readers see the same
 * object either way.
 */
int fg_pack_writer_add_like(struct fg_pack_writer *w, const git_oid *id,
    git_object_t type, const void *data, size_t len, int family,
    struct fg_err *err);

/* How many distinct objects were added. */
size_t fg_pack_writer_count(const struct fg_pack_writer *w);

/*
 * Finish the pack and its index and move both into place, the index last.
 * name (FG_PACK_NAME_MAX bytes, may be NULL) receives the pack's checksum in
 * hex, or "" when nothing was added (then no file is made).  After a
 * successful commit the objects are visible to every reader of the
 * repository; the writer can then only be freed.
 */
int fg_pack_writer_commit(struct fg_pack_writer *w, char *name,
    struct fg_err *err);

/*
 * fg_pack_writer_commit() in two steps, for callers that sync several
 * files at once: _finish() writes the pack and its index to temporary
 * files and leaves them open (fg_pack_writer_fds() gives their
 * descriptors, none when nothing was added); _publish() syncs them unless
 * synced says the caller did (with do_fsync), closes them and moves them
 * into place as commit does.
 */
int fg_pack_writer_finish(struct fg_pack_writer *w, struct fg_err *err);
size_t fg_pack_writer_fds(const struct fg_pack_writer *w, int fds[2]);
int fg_pack_writer_publish(struct fg_pack_writer *w, char *name, bool synced,
    struct fg_err *err);

/* Free the writer; an uncommitted pack is abandoned and its files removed. */
void fg_pack_writer_free(struct fg_pack_writer *w);

/*
 * Write one loose object (objdir/xx/yyyy...) the way git does: deflated
 * "<type> <size>\0<data>" in a temporary file in objdir/xx, then renamed
 * into place, so a reader sees all of it or nothing.  id must be the object's id.  An
 * object already there is replaced by the same bytes.  With do_fsync the
 * file and its directory are synced before this returns.  This is
 * libgit2's loose backend minus the checks a fresh object does not need:
 * about half the system calls.
 */
int fg_pack_loose_write(const char *objdir, const git_oid *id,
    git_object_t type, const void *data, size_t len, bool do_fsync,
    struct fg_err *err);

/*
 * An estimate of the number of loose objects, from objects/17 as git gc
 * --auto does: cheap (one directory read), accurate to a few hundred.
 */
size_t fg_pack_loose_estimate(const char *objdir);

/*
 * Put every loose object into one new pack, then delete the loose copies.
 * Objects larger than FG_PACK_LOOSE_OBJECT_MAX stay loose (git gc handles
 * those), as does anything that cannot be read or does not hash to its
 * name.  *out (may be NULL) is the
 * number of objects packed.
 */
#define FG_PACK_LOOSE_OBJECT_MAX (16u * 1024 * 1024)

int fg_pack_loose(size_t *out, const char *objdir, bool do_fsync,
    struct fg_err *err);

/*
 * Roll up packs, smallest first, until their sizes (in objects) form a
 * geometric progression with factor 4.  Packs with more than max_objects
 * objects are left alone (0: no limit), which bounds how long one call can
 * take.  So are packs with offset deltas, and packs found damaged (an
 * entry that does not match its CRC in the index, an index that does not
 * match its pack): each of those is named in a warning and the others are
 * merged without it.  *out (may be NULL) is the number of packs that were
 * merged away.
 */
int fg_pack_geometric(size_t *out, const char *objdir, uint32_t max_objects,
    bool do_fsync, struct fg_err *err);

/*
 * Write a complete pack and its index (bytes already made, as a journal
 * keeps them) into objdir/pack as pack-<hex>, synced, read-only, the pack
 * renamed into place before the index, the directory synced after.
 */
int fg_pack_put(const char *objdir, const char *hex, const unsigned char *pack,
    size_t pack_len, const unsigned char *idx, size_t idx_len,
    struct fg_err *err);

/*
 * The object ids a version 2 pack index of len bytes lists: *count of
 * them, 20 bytes each, sorted, from *ids (inside idx).  -1 when idx is too
 * short for the count it claims.
 */
int fg_pack_idx_ids(const unsigned char **ids, uint32_t *count,
    const unsigned char *idx, size_t len);

/* fsync() directory dir (after renames into it); -1 and errno on failure. */
int fg_pack_sync_dir(const char *dir);

/* The number of packs (.idx files) in objdir/pack. */
size_t fg_pack_count(const char *objdir);

/*
 * Remove temporary files that a killed writer left behind: our tmp_fg*
 * files in objects/pack, our tmp_obj_fg* files in objects/xx and
 * libgit2's tmp_object_git2_* files in objects, when they are older than
 * max_age seconds.
 */
void fg_pack_clean_tmp(const char *objdir, time_t max_age);

#endif
