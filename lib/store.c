/*
 * store.c - records as commits under refs/flowgate/, notes, compare-and-swap
 * and packing (see store.h).
 *
 * How an append is built.  A store holds two views of one repository:
 *   repo    the repository opened by path: refs, reads, notes;
 *   mem     an in-memory repository whose only object database is a
 *           git_mempack backend: record blobs and trees are made there, by
 *           libgit2's own code, which validates every id a tree names.
 * The commit is formatted here (commit_buffer): its tree is the record's,
 * its parent the ref's tip, checked to exist.  A single append writes its
 * blobs and tree loose (fg_pack_loose_write) before it queues for the ref
 * (see "Ref locks"), then, in the queue, the commit, and moves the ref
 * (ref_update: git's lock-file protocol, done here).  It also keeps the
 * objects in memory (pending_add) and writes them as one pack once
 * auto_threshold piled up, leaving the loose copies: deleting files is
 * what makes file creation slow on this project's disks (store.h,
 * CAVEATS).  A batch writes all its objects as one pack while it holds
 * the ref's lock.  Writing around git_odb_write() on repo matters for
 * speed: libgit2 1.5 rescans objects/pack each time it writes an object it
 * does not have, and checks and re-reads what it just wrote.
 *
 * Only the commit depends on the tip, so when git itself wins a race an
 * append rewrites just the commit: the losing commit stays behind
 * unreachable, like any aborted git write, for git gc to prune.
 *
 * Packs come and go under readers.  Maintenance (here or in another
 * process) packs loose objects and rolls packs up, deleting what it merged.
 * libgit2 1.5 looks for an object it misses once more after one rescan of
 * objects/pack, and that rescan can list the old pack (deleted a moment
 * later) yet miss the new one renamed in while readdir() ran: a read then
 * fails for an object that is there.  git itself retries in such cases; so
 * do we (lookup_commit, check_parent, and the note merge loop, which takes
 * a note it could not build for a transient failure a few times), and
 * roll-ups happen only once packs pile up (PACKS_SOFT_MAX), not after every
 * write.
 */
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>

#include <git2.h>
#include <git2/sys/commit.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <git2/sys/repository.h>

#include <openssl/evp.h>

#include "journal.h"
#include "log.h"
#include "pack.h"
#include "record.h"
#include "store.h"
#include "util.h"
#include "banned.h"

#define NOTES_REF	"refs/notes/flowgate"
#define FLOCK_NAME	"flowgate.flock"
/* One single append in this many checks whether loose objects piled up. */
#define CHECK_EVERY	32
/* Temporary files of killed writers older than this are removed. */
#define TMP_MAX_AGE	3600
/*
 * Automatic roll-ups wait until there are more packs than this: the first
 * roll-up then takes many small packs at once, copying each object once
 * where pairwise roll-ups would copy it several times.  git gc --auto
 * starts at 50 (gc.autoPackLimit).
 */
#define PACKS_SOFT_MAX	16
/*
 * libgit2 1.5 never forgets a pack, even a deleted one, so a long-lived
 * store reopens its object database after its own roll-ups and every so
 * many appends (others' roll-ups), keeping lookups as cheap as at first.
 */
#define ODB_REOPEN_EVERY 2048
/* How often a read that missed is retried (see above), and how often a
 * compare-and-swap loop accepts a failure that is not a conflict. */
#define READ_RETRIES	4
#define ODD_FAILURES	3
/*
 * The writers' queue (see "Ref locks" below): one file per repository
 * holding, per slot, a byte-range lock and the marker of its holder.
 */
#define REFLOCK_NAME	"flowgate-reflocks"
#define REFLOCK_SLOTS	4096u
#define REFLOCK_SLOT	32
#define MARKER_MAGIC	0x6667726cu		/* "fgrl" */
/*
 * A dead holder's <ref>.lock was made within this many nanoseconds of its
 * marker; a lock outside that window is someone else's.
 */
#define MARKER_WINDOW_NS (2LL * 1000000000LL)
/*
 * Loose objects of single appends that are also in a pack: the ids among
 * them starting with 17 (what fg_pack_loose_estimate() samples), one per
 * line, so that packed copies do not count as loose objects to pack.
 */
#define PACKED_LOOSE_NAME "flowgate-packed-loose"
/* Appends pack others' loose objects past this many times the threshold. */
#define LOOSE_MARGIN	4
/*
 * Loose copies of packed objects (packed copies included) past this many
 * times the threshold are deleted by fg_store_maintain(), and past the
 * second by appends themselves: a bound on the disk they take when nobody
 * maintains the repository (512 times 1024 objects: about 2 GB).
 */
#define PRUNE_MARGIN	16
#define AUTO_PRUNE_MARGIN 512
/* What a store holds in memory for its next pack, at most (bytes). */
#define PENDING_BYTES_MAX (1024 * 1024)
/* A closing store packs what it holds in memory only from this many up. */
#define PENDING_MIN_PACK 64

/* An object written loose by a single append, kept for the next pack. */
struct pending {
	git_oid id;
	git_object_t type;
	size_t len;
	unsigned char data[];
};

struct fg_store {
	git_repository *repo;
	git_odb *odb;
	git_repository *mem;
	git_odb *mem_odb;
	git_odb_backend *mempack;	/* owned by mem_odb */
	char *gitdir;			/* the common dir, ends in '/' */
	char *objdir;
	unsigned flags;
	size_t auto_threshold;
	unsigned since_reopen;		/* appends since the odb was reopened */
	int stale_lock_age;
	unsigned int seed;
	int lockfd;			/* REFLOCK_NAME, -1 until needed */
	git_oid last;			/* the last commit this store wrote */
	git_oid batch_parent;		/* the parent of the last batch's first */
	bool have_batch_parent;
	struct pending **pend;		/* written loose, not yet packed */
	size_t npend, pend_alloc;
	size_t pend_bytes;		/* their sizes, summed */
	struct fg_store_stats stats;
	struct fg_journal *journal;	/* FG_STORE_JOURNAL's, when held */
};

/* A held slot of REFLOCK_NAME. */
struct reflock {
	uint64_t hash;			/* of the ref name */
	off_t off;			/* the slot */
	bool held;
	bool marked;
};

/* The marker a holder writes in its slot while it may own <ref>.lock. */
struct marker {
	uint32_t magic;
	uint32_t pid;
	uint64_t hash;
	int64_t time_ns;		/* CLOCK_REALTIME, as file times */
	uint64_t unused;
};

/* What a record's commit is made of, but for its parent. */
struct made {
	git_oid tree;
	struct fg_buf msg;
	git_signature *author;
	git_signature *committer;
};

/* A record's objects in mem, before its commit. */
struct built {
	struct made m;
	git_oid objs[FG_RECORD_FILES_MAX + 2];	/* blobs, then the tree */
	size_t nobjs;
};

static void
made_release(struct made *m)
{
	fg_buf_release(&m->msg);
	git_signature_free(m->author);
	git_signature_free(m->committer);
	memset(m, 0, sizeof(*m));
	fg_buf_init(&m->msg);
}

static void
built_release(struct built *b)
{
	made_release(&b->m);
	memset(b, 0, sizeof(*b));
	fg_buf_init(&b->m.msg);
}

/*
 * Mark objects/ (and refs/) as the top of a directory hierarchy (chattr
 * +T), so that ext4 spreads the directories made in it from then on over
 * block groups with many free inodes (the Orlov allocator) instead of
 * keeping them next to the repository.  Loose objects are created in
 * their fan-out directory, pack writers' files in their own directory
 * under objects/ (pack.c, TMPDIR_PREFIX), a new refs/flowgate's lock files
 * in it: their inodes come from those groups, away from the inodes
 * everyone freed near the repository, which every creation must otherwise
 * scan past (see CAVEATS in store.h).  Best effort: other file systems, or
 * a repository this user does not own, simply keep their layout.
 */
static void
spread_fanout(const char *objdir)
{
	int fd, attr = 0;

	fd = open(objdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (ioctl(fd, FS_IOC_GETFLAGS, &attr) == 0 && !(attr & FS_TOPDIR_FL)) {
		attr |= FS_TOPDIR_FL;
		if (ioctl(fd, FS_IOC_SETFLAGS, &attr) < 0)
			fg_log_debug("store: cannot mark '%s' +T: %s", objdir,
			    strerror(errno));
	}
	close(fd);
}

static int journal_start(struct fg_store *st, struct fg_err *err);

int
fg_store_open(struct fg_store **out, const char *repo_path, unsigned flags,
    struct fg_err *err)
{
	struct fg_store *st = NULL;
	struct fg_buf b = FG_BUF_INIT;
	int rc = 0, grc;

	*out = NULL;
	git_libgit2_init();
	if (repo_path == NULL || *repo_path == '\0') {
		rc = fg_err_set(err, FG_EINVALID, "no repository path");
		goto out;
	}
	st = calloc(1, sizeof(*st));
	if (st == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	/* What the journal does not cover is synced as before. */
	st->flags = flags & FG_STORE_JOURNAL ? flags | FG_STORE_FSYNC : flags;
	st->lockfd = -1;
	st->auto_threshold = (flags & FG_STORE_NO_MAINTAIN) ? 0 :
	    FG_STORE_LOOSE_DEFAULT;
	st->stale_lock_age = FG_STORE_STALE_LOCK_SECS;
	st->seed = (unsigned int)getpid() ^ (unsigned int)time(NULL) ^
	    (unsigned int)(uintptr_t)st;
	grc = git_repository_open_ext(&st->repo, repo_path,
	    GIT_REPOSITORY_OPEN_NO_SEARCH, NULL);
	if (grc == GIT_ENOTFOUND) {
		rc = fg_err_set(err, FG_ENOTFOUND, "no git repository at '%s'",
		    repo_path);
		goto out;
	}
	if (grc < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot open '%s'", repo_path);
		goto out;
	}
	if (fg_buf_puts(&b, git_repository_commondir(st->repo)) < 0 ||
	    (b.len > 0 && b.ptr[b.len - 1] != '/' && fg_buf_putc(&b, '/') < 0))
		goto nomem;
	st->gitdir = fg_buf_detach(&b, NULL);
	if (st->gitdir == NULL || fg_buf_printf(&b, "%sobjects",
	    st->gitdir) < 0)
		goto nomem;
	st->objdir = fg_buf_detach(&b, NULL);
	if (st->objdir == NULL)
		goto nomem;
	spread_fanout(st->objdir);
	if (fg_buf_printf(&b, "%srefs", st->gitdir) < 0)
		goto nomem;
	spread_fanout(b.ptr);
	fg_buf_reset(&b);
	if (git_repository_odb(&st->odb, st->repo) < 0 ||
	    git_odb_new(&st->mem_odb) < 0 ||
	    git_mempack_new(&st->mempack) < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot open the object database "
		    "of '%s'", repo_path);
		goto out;
	}
	if (git_odb_add_backend(st->mem_odb, st->mempack, 1) < 0) {
		st->mempack->free(st->mempack);
		st->mempack = NULL;
		rc = fg_err_git(err, FG_EIO, "cannot set up an in-memory odb");
		goto out;
	}
	if (git_repository_new(&st->mem) < 0 ||
	    git_repository_set_odb(st->mem, st->mem_odb) < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot set up an in-memory "
		    "repository");
		goto out;
	}
	if (flags & (FG_STORE_FSYNC | FG_STORE_JOURNAL)) {
		rc = journal_start(st, err);
		if (rc < 0)
			goto out;
	}
	*out = st;
	st = NULL;
	goto out;
nomem:
	rc = fg_err_set(err, FG_ENOMEM, "out of memory");
out:
	fg_buf_release(&b);
	if (st != NULL)
		fg_store_free(st);
	else if (rc < 0)
		git_libgit2_shutdown();
	return rc;
}

static int pending_pack(struct fg_store *st, struct fg_err *err);
static void pending_clear(struct fg_store *st);

void
fg_store_free(struct fg_store *st)
{
	struct fg_err e = FG_ERR_INIT;

	if (st == NULL)
		return;
	if (fg_journal_close(st->journal, &e) < 0)
		fg_log_warnx("store: %s (its records are replayed when the "
		    "store is next opened)", e.msg);
	/* A few objects stay loose, for maintenance: not worth a pack. */
	if (st->npend >= PENDING_MIN_PACK && pending_pack(st, &e) < 0)
		fg_log_warnx("store: cannot pack in '%s': %s", st->gitdir,
		    e.msg);
	pending_clear(st);
	free(st->pend);
	if (st->lockfd >= 0)
		close(st->lockfd);
	git_repository_free(st->mem);
	git_odb_free(st->mem_odb);
	git_odb_free(st->odb);
	git_repository_free(st->repo);
	free(st->gitdir);
	free(st->objdir);
	free(st);
	git_libgit2_shutdown();
}

git_repository *
fg_store_repo(struct fg_store *st)
{
	return st->repo;
}

void
fg_store_set_auto_maintain(struct fg_store *st, size_t threshold)
{
	st->auto_threshold = threshold;
}

void
fg_store_set_stale_lock_age(struct fg_store *st, int seconds)
{
	st->stale_lock_age = seconds < 1 ? 1 : seconds;
}

void
fg_store_get_stats(struct fg_store_stats *out, const struct fg_store *st)
{
	*out = st->stats;
}

/* Refs this module may write: refs/flowgate/<...>, and maybe the notes. */
static int
check_write_ref(const char *ref, bool notes_ok, struct fg_err *err)
{
	if (!fg_refname_is_valid(ref))
		return fg_err_set(err, FG_EINVALID, "bad ref name '%.200s'",
		    ref ? ref : "");
	if (strncmp(ref, "refs/flowgate/", 14) == 0)
		return 0;
	if (notes_ok && strcmp(ref, NOTES_REF) == 0)
		return 0;
	return fg_err_set(err, FG_EINVALID, "'%s' is not under refs/flowgate/: "
	    "the store writes nowhere else", ref);
}

static int
check_read_ref(const char *ref, struct fg_err *err)
{
	if (!fg_refname_is_valid(ref))
		return fg_err_set(err, FG_EINVALID, "bad ref name '%.200s'",
		    ref ? ref : "");
	return 0;
}

/* *have is false when ref does not exist. */
static int
read_tip(git_oid *out, bool *have, struct fg_store *st, const char *ref,
    struct fg_err *err)
{
	int rc;

	*have = false;
	rc = git_reference_name_to_id(out, st->repo, ref);
	if (rc == GIT_ENOTFOUND)
		return 0;
	if (rc < 0)
		return fg_err_git(err, FG_EIO, "cannot read '%s'", ref);
	*have = true;
	return 0;
}

static void
backoff(struct fg_store *st, unsigned attempt)
{
	unsigned cap = attempt < 8 ? 100u << attempt : 25600u;
	unsigned us = 20 + (unsigned)rand_r(&st->seed) % cap;
	struct timespec ts = { 0, (long)us * 1000L };

	nanosleep(&ts, NULL);
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * git_odb_exists(), retried when packs were replaced meanwhile: a miss can
 * be a roll-up or a loose-object pack of another process (see the top of
 * this file), so the odb is refreshed and asked again a few times.
 */
static bool
object_exists(struct fg_store *st, const git_oid *id)
{
	unsigned i;

	for (i = 0;; i++) {
		if (git_odb_exists(st->odb, id))
			return true;
		if (i == READ_RETRIES)
			return false;
		git_odb_refresh(st->odb);
		sleep_ms(i + 1);
	}
}

/* git_commit_lookup(), retried when packs were replaced meanwhile. */
static int
lookup_commit(git_commit **out, struct fg_store *st, const git_oid *id)
{
	unsigned i;
	int rc;

	for (i = 0;; i++) {
		rc = git_commit_lookup(out, st->repo, id);
		if (rc != GIT_ENOTFOUND || i == READ_RETRIES)
			return rc;
		git_odb_refresh(st->odb);
		sleep_ms(i + 1);
	}
}

/*
 * Remove <ref>.lock if it is older than the stale-lock age: its writer was
 * killed.  Under a file lock, and only if the file is still the same old
 * one, so two processes cannot both decide and the second remove the
 * first one's fresh lock.  git never removes a lock; only flowgate does.
 * This is the slow path, for locks whose origin is unknown; a flowgate
 * writer's orphan is found at once (reflock_break_orphan).
 */
static void
break_stale_lock(struct fg_store *st, const char *ref)
{
	struct fg_buf path = FG_BUF_INIT, lk = FG_BUF_INIT;
	struct stat a, b;
	time_t now = time(NULL);
	int fd = -1;

	if (fg_buf_printf(&path, "%s%s.lock", st->gitdir, ref) < 0 ||
	    fg_buf_printf(&lk, "%s%s", st->gitdir, FLOCK_NAME) < 0)
		goto out;
	if (lstat(path.ptr, &a) < 0 || now - a.st_mtime < st->stale_lock_age)
		goto out;
	fd = open(lk.ptr, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0 || flock(fd, LOCK_EX) < 0)
		goto out;
	if (lstat(path.ptr, &b) == 0 && b.st_ino == a.st_ino &&
	    b.st_mtime == a.st_mtime && unlink(path.ptr) == 0) {
		st->stats.stale_locks++;
		fg_log_warnx("store: removed stale lock '%s' (%lld s old)",
		    path.ptr, (long long)(now - a.st_mtime));
	}
out:
	if (fd >= 0)
		close(fd);
	fg_buf_release(&path);
	fg_buf_release(&lk);
}

/*
 * Ref locks.  git's protocol is <ref>.lock, created O_EXCL and renamed
 * over the ref: a writer that finds it taken can only sleep and retry,
 * and one that is killed leaves it behind, where nobody can tell it from
 * a live one.  Flowgate writers therefore first queue on a byte-range
 * lock in REFLOCK_NAME (an open file description lock: the kernel
 * releases it when its holder dies), one slot per ref (by hash; two refs
 * that share a slot merely wait for each other), and only then take
 * <ref>.lock.  Writers of one ref form a queue instead of a retry storm;
 * the critical section is reading the tip, writing one commit and moving
 * the ref, and only git itself can still win a race against it.
 *
 * While it may own <ref>.lock, the holder keeps a marker (pid, the ref's
 * hash, the time) in its slot.  The next holder that finds <ref>.lock
 * taken and the marker of a process that no longer exists knows that the
 * lock made at the marker's time is an orphan, and removes it at once
 * rather than after the stale-lock age.  A lock of any other origin (git,
 * a live writer) is never removed that way.  Where the file system has no
 * such locks, writers fall back to sleeping and retrying.
 */
static uint64_t
ref_hash(const char *ref)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *ref != '\0'; ref++) {
		h ^= (unsigned char)*ref;
		h *= 1099511628211ULL;
	}
	return h;
}

static int64_t
real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int
reflock_fcntl(struct fg_store *st, const struct reflock *lk, short type,
    int cmd)
{
	struct flock fl;

	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	fl.l_start = lk->off;
	fl.l_len = REFLOCK_SLOT;
	return fcntl(st->lockfd, cmd, &fl);
}

static void
marker_write(struct fg_store *st, struct reflock *lk, bool set)
{
	struct marker m;

	if (!lk->held || lk->marked == set)
		return;
	memset(&m, 0, sizeof(m));
	if (set) {
		m.magic = MARKER_MAGIC;
		m.pid = (uint32_t)getpid();
		m.hash = lk->hash;
		m.time_ns = real_ns();
	}
	/* Without its marker a lock is only found stale by its age. */
	if (pwrite(st->lockfd, &m, sizeof(m), lk->off) == (ssize_t)sizeof(m))
		lk->marked = set;
}

static bool reflock_break_orphan(struct fg_store *st, struct reflock *lk,
    const char *ref);

/*
 * Wait for ref's slot, then clear up after its last holder if it died
 * there.  Without lock support, lk->held stays false.
 */
static int
reflock_take(struct reflock *lk, struct fg_store *st, const char *ref,
    struct fg_err *err)
{
	struct fg_buf path = FG_BUF_INIT;
	int rc = 0;

	memset(lk, 0, sizeof(*lk));
	lk->hash = ref_hash(ref);
	lk->off = (off_t)(lk->hash % REFLOCK_SLOTS) * REFLOCK_SLOT;
	if (st->lockfd < 0) {
		if (fg_buf_printf(&path, "%s%s", st->gitdir, REFLOCK_NAME) < 0) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		st->lockfd = open(path.ptr, O_RDWR | O_CREAT | O_CLOEXEC,
		    0666);
		if (st->lockfd < 0) {
			rc = fg_err_set(err, FG_EIO, "cannot open '%s': %s",
			    path.ptr, strerror(errno));
			goto out;
		}
	}
	for (;;) {
		if (reflock_fcntl(st, lk, F_WRLCK, F_OFD_SETLKW) == 0) {
			lk->held = true;
			reflock_break_orphan(st, lk, ref);
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EINVAL && errno != ENOLCK && errno != EOPNOTSUPP)
			rc = fg_err_set(err, FG_EIO, "cannot lock '%s%s': %s",
			    st->gitdir, REFLOCK_NAME, strerror(errno));
		break;
	}
out:
	fg_buf_release(&path);
	return rc;
}

static void
reflock_drop(struct fg_store *st, struct reflock *lk)
{
	marker_write(st, lk, false);
	if (lk->held)
		reflock_fcntl(st, lk, F_UNLCK, F_OFD_SETLK);
	lk->held = false;
}

/* Whether process pid is gone (a zombie counts as gone). */
static bool
process_is_gone(pid_t pid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	if (kill(pid, 0) < 0)
		return errno == ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/*
 * With ref's slot just taken: if the slot's marker names a process that is
 * gone, it died holding the slot, and a <ref>.lock made around the
 * marker's time is its orphan: remove it.  True when it did.
 */
static bool
reflock_break_orphan(struct fg_store *st, struct reflock *lk,
    const char *ref)
{
	struct fg_buf path = FG_BUF_INIT;
	struct marker m;
	struct stat sb;
	int64_t t;
	bool broke = false;

	if (!lk->held || pread(st->lockfd, &m, sizeof(m), lk->off) !=
	    (ssize_t)sizeof(m) || m.magic != MARKER_MAGIC ||
	    m.hash != lk->hash || m.pid == 0 ||
	    m.pid == (uint32_t)getpid() || !process_is_gone((pid_t)m.pid))
		return false;
	if (fg_buf_printf(&path, "%s%s.lock", st->gitdir, ref) == 0 &&
	    lstat(path.ptr, &sb) == 0) {
		t = (int64_t)sb.st_mtim.tv_sec * 1000000000LL +
		    sb.st_mtim.tv_nsec;
		if (t >= m.time_ns - MARKER_WINDOW_NS &&
		    t <= m.time_ns + MARKER_WINDOW_NS && unlink(path.ptr) == 0) {
			st->stats.stale_locks++;
			fg_log_warnx("store: removed '%s', left by writer %u, "
			    "which died", path.ptr, m.pid);
			broke = true;
		}
	}
	/* The dead writer's marker has served. */
	memset(&m, 0, sizeof(m));
	if (pwrite(st->lockfd, &m, sizeof(m), lk->off) < 0)
		fg_log_debug("store: cannot clear a marker: %s",
		    strerror(errno));
	fg_buf_release(&path);
	return broke;
}

/*
 * Ref updates, git's way: create <ref>.lock exclusively, read the ref's
 * value under it, write the new one into the lock and rename it over the
 * ref (git's refs/files-backend.c, libgit2's refdb_fs.c).  Done here, not
 * by git_reference_create_matching(), for three reasons: libgit2 reads the
 * ref four times and the new object back once per update; it writes
 * through a process-wide fsync switch (GIT_OPT_ENABLE_FSYNC_GITDIR), which
 * would make every other store of the process (the daemon's engine) pay
 * for the inbox's durability; and a batch must hold the lock while its pack
 * is written.  No reflog is written: flowgate refs have none.
 *
 * ref_lock() returns 0 with u holding <ref>.lock and *cur the ref's value
 * (*have false: no such ref), GIT_ELOCKED when the lock is taken, or an
 * FG_E* code with err set; ref_commit() moves the ref to new_id and
 * releases; ref_unlock() releases without moving.  ref_update() does all
 * three, GIT_EMODIFIED when the ref is not at old (NULL: when it exists).
 */
struct refupdate {
	struct fg_buf path;		/* <gitdir><ref> */
	struct fg_buf lock;		/* ... ".lock" */
	int fd;
	bool written;			/* the new value is in the lock */
};

static void
ref_unlock(struct refupdate *u)
{
	if (u->fd >= 0) {
		close(u->fd);
		unlink(u->lock.ptr);
	}
	u->fd = -1;
	fg_buf_release(&u->path);
	fg_buf_release(&u->lock);
}

/* mkdir -p the directories of path below st->gitdir. */
static int
make_leading_dirs(struct fg_store *st, const char *path)
{
	struct fg_buf d = FG_BUF_INIT;
	const char *p;
	int rc = 0;

	for (p = path + strlen(st->gitdir); rc == 0; p++) {
		p = strchr(p, '/');
		if (p == NULL)
			break;
		fg_buf_reset(&d);
		if (fg_buf_add(&d, path, (size_t)(p - path)) < 0)
			rc = -1;
		else if (mkdir(d.ptr, 0777) < 0 && errno != EEXIST)
			rc = -1;
	}
	fg_buf_release(&d);
	return rc;
}

static int
ref_lock(struct refupdate *u, git_oid *cur, bool *have, struct fg_store *st,
    const char *ref, struct fg_err *err)
{
	int grc, tries;

	fg_buf_init(&u->path);
	fg_buf_init(&u->lock);
	u->fd = -1;
	u->written = false;
	if (fg_buf_printf(&u->path, "%s%s", st->gitdir, ref) < 0 ||
	    fg_buf_printf(&u->lock, "%s.lock", u->path.ptr) < 0) {
		ref_unlock(u);
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	}
	for (tries = 0; u->fd < 0; tries++) {
		u->fd = open(u->lock.ptr, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, 0666);
		if (u->fd >= 0)
			break;
		if (errno == EEXIST) {
			ref_unlock(u);
			return GIT_ELOCKED;
		}
		if (errno != ENOENT || tries > 0 ||
		    make_leading_dirs(st, u->lock.ptr) < 0) {
			grc = fg_err_set(err, FG_EIO, "cannot create '%s': %s",
			    u->lock.ptr, strerror(errno));
			ref_unlock(u);
			return grc;
		}
	}
	/* Under the lock the ref holds still (for everyone who locks). */
	grc = git_reference_name_to_id(cur, st->repo, ref);
	*have = grc == 0;
	if (grc < 0 && grc != GIT_ENOTFOUND) {
		ref_unlock(u);
		return fg_err_git(err, FG_EIO, "cannot read '%s'", ref);
	}
	return 0;
}

/* Write new_id into the lock (ref_commit does it when not done yet). */
static int
ref_write_value(struct refupdate *u, const git_oid *new_id,
    struct fg_err *err)
{
	char line[GIT_OID_HEXSZ + 2];

	git_oid_tostr(line, sizeof(line), new_id);
	line[GIT_OID_HEXSZ] = '\n';
	if (write(u->fd, line, sizeof(line) - 1) != (ssize_t)sizeof(line) - 1)
		return fg_err_set(err, FG_EIO, "cannot write '%s': %s",
		    u->lock.ptr, strerror(errno));
	u->written = true;
	return 0;
}

/*
 * Move the ref to new_id and release the lock.  With FG_STORE_FSYNC the
 * lock's data is synced first, unless synced says the caller did, and the
 * directory after the rename.  st NULL: nothing is synced (the notes ref
 * of a noted batch).
 */
static int
ref_commit(struct refupdate *u, struct fg_store *st, const git_oid *new_id,
    bool synced, struct fg_err *err)
{
	bool do_fsync = st != NULL && (st->flags & FG_STORE_FSYNC) != 0;
	char *slash;
	int rc = 0;

	if (!u->written) {
		rc = ref_write_value(u, new_id, err);
		if (rc < 0)
			goto out;
	}
	if (do_fsync && !synced && fdatasync(u->fd) < 0) {
		rc = fg_err_set(err, FG_EIO, "cannot sync '%s': %s",
		    u->lock.ptr, strerror(errno));
		goto out;
	}
	if (close(u->fd) < 0) {
		u->fd = -1;
		unlink(u->lock.ptr);
		rc = fg_err_set(err, FG_EIO, "cannot write '%s': %s",
		    u->lock.ptr, strerror(errno));
		goto out;
	}
	u->fd = -1;
	if (rename(u->lock.ptr, u->path.ptr) < 0) {
		rc = fg_err_set(err, FG_EIO, "cannot rename '%s': %s",
		    u->lock.ptr, strerror(errno));
		unlink(u->lock.ptr);
		goto out;
	}
	slash = strrchr(u->path.ptr, '/');
	if (do_fsync && slash != NULL) {
		*slash = '\0';
		if (fg_pack_sync_dir(u->path.ptr) < 0)
			rc = fg_err_set(err, FG_EIO, "cannot sync '%s': %s",
			    u->path.ptr, strerror(errno));
		*slash = '/';
	}
out:
	ref_unlock(u);
	return rc;
}

struct sync_job {
	int fd;
	int err;			/* errno, 0 when synced */
	bool taken;			/* a thread is on it */
	bool done;
	struct sync_job *next;		/* in the queue */
};

/*
 * fdatasync() fds[0..n) at once: the caller syncs the first, helper
 * threads the others.  The cost of a sync here is the disk's cache flush,
 * and flushes asked for together are served together: three files cost
 * little more than one (about 2.7 ms against 7 ms one after the other on
 * this project's VM).  The helpers are started once and wait for work:
 * a thread made and joined for each sync cost two clone()s, their stacks'
 * mappings and the TLB shootdowns of unmapping them, for every group
 * commit of the webhook daemon's inbox (about a hundred a second).
 */
#define SYNC_MAX 4

static struct {
	pthread_mutex_t mu;
	pthread_cond_t work;		/* a job was queued */
	pthread_cond_t done;		/* a job was done */
	struct sync_job *head;
	pthread_once_t once;
	int helpers;			/* started, 0 to SYNC_MAX - 1 */
} syncers = {
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	PTHREAD_COND_INITIALIZER, NULL, PTHREAD_ONCE_INIT, 0
};

/* Take the first job of the queue, if any.  syncers.mu held. */
static struct sync_job *
sync_take(void)
{
	struct sync_job *j = syncers.head;

	if (j != NULL) {
		syncers.head = j->next;
		j->taken = true;
	}
	return j;
}

static void
sync_run(struct sync_job *j)
{
	int e = fdatasync(j->fd) < 0 ? errno : 0;

	pthread_mutex_lock(&syncers.mu);
	j->err = e;
	j->done = true;
	pthread_cond_broadcast(&syncers.done);
	pthread_mutex_unlock(&syncers.mu);
}

static void *
sync_helper(void *arg)
{
	struct sync_job *j;
	sigset_t all;

	(void)arg;
	/* Signals are for the program's own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		pthread_mutex_lock(&syncers.mu);
		while ((j = sync_take()) == NULL)
			pthread_cond_wait(&syncers.work, &syncers.mu);
		pthread_mutex_unlock(&syncers.mu);
		sync_run(j);
	}
	return NULL;
}

static void
sync_start(void)
{
	pthread_attr_t a;
	pthread_t th;
	int i;

	if (pthread_attr_init(&a) != 0)
		return;
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	/* They only call fdatasync(). */
	pthread_attr_setstacksize(&a, 64 * 1024);
	for (i = 0; i < SYNC_MAX - 1; i++) {
		if (pthread_create(&th, &a, sync_helper, NULL) != 0)
			break;
		syncers.helpers++;
	}
	pthread_attr_destroy(&a);
}

static int
sync_together(const int *fds, size_t n)
{
	struct sync_job jobs[SYNC_MAX];
	size_t i;
	int e = 0;

	assert(n <= SYNC_MAX);
	pthread_once(&syncers.once, sync_start);
	memset(jobs, 0, sizeof(jobs));
	pthread_mutex_lock(&syncers.mu);
	for (i = 0; i < n; i++) {
		jobs[i].fd = fds[i];
		if (i > 0 && syncers.helpers > 0) {
			jobs[i].next = syncers.head;
			syncers.head = &jobs[i];
		}
	}
	if (syncers.head != NULL)
		pthread_cond_broadcast(&syncers.work);
	pthread_mutex_unlock(&syncers.mu);
	for (i = 0; i < n; i++)
		if (i == 0 || syncers.helpers == 0)
			sync_run(&jobs[i]);
	/*
	 * Wait for the helpers; a job of ours none of them has taken yet
	 * (they are busy, or gone after a fork) is run here.
	 */
	pthread_mutex_lock(&syncers.mu);
	for (i = 0; i < n; i++) {
		while (!jobs[i].done) {
			if (!jobs[i].taken) {
				struct sync_job **pp = &syncers.head;

				while (*pp != NULL && *pp != &jobs[i])
					pp = &(*pp)->next;
				if (*pp != NULL)
					*pp = jobs[i].next;
				jobs[i].taken = true;
				pthread_mutex_unlock(&syncers.mu);
				sync_run(&jobs[i]);
				pthread_mutex_lock(&syncers.mu);
				continue;
			}
			pthread_cond_wait(&syncers.done, &syncers.mu);
		}
		if (e == 0)
			e = jobs[i].err;
	}
	pthread_mutex_unlock(&syncers.mu);
	return e;
}

/* ref_lock() and ref_commit() in one. */
static int
ref_update(struct fg_store *st, const char *ref, const git_oid *old,
    const git_oid *new_id, struct fg_err *err)
{
	struct refupdate u;
	git_oid cur;
	bool have;
	int rc;

	rc = ref_lock(&u, &cur, &have, st, ref, err);
	if (rc != 0)
		return rc;
	if (old == NULL ? have : !have || !git_oid_equal(&cur, old)) {
		ref_unlock(&u);
		return GIT_EMODIFIED;
	}
	return ref_commit(&u, st, new_id, false, err);
}

/*
 * After a ref update lost (ref_update, ref_lock): clear up
 * what a dead writer left, then wait a little, outside the queue.
 * FG_ECONFLICT once the deadline has passed.
 */
static int
lost_race(struct fg_store *st, struct reflock *lk, const char *ref,
    int grc, unsigned attempt, int64_t deadline, struct fg_err *err)
{
	int rc;

	st->stats.retries++;
	if (grc == GIT_ELOCKED)
		break_stale_lock(st, ref);
	else if (grc != GIT_EMODIFIED && grc != GIT_EEXISTS)
		git_odb_refresh(st->odb);
	if (mono_ms() > deadline)
		return fg_err_git(err, FG_ECONFLICT, "gave up waiting for '%s' "
		    "after %u attempts", ref, attempt + 1);
	reflock_drop(st, lk);
	backoff(st, attempt);
	rc = reflock_take(lk, st, ref, err);
	return rc;
}

/*
 * Read object id back from mem, straight from the mempack backend: through
 * git_odb_read() libgit2 would hash it again (strict hash verification)
 * and cache a copy, for an object it made a moment ago.  *data is freed
 * with git_odb_backend_data_free().
 */
static int
read_mem(void **data, size_t *len, git_object_t *type, struct fg_store *st,
    const git_oid *id, struct fg_err *err)
{
	if (st->mempack->read(data, len, type, st->mempack, id) < 0)
		return fg_err_git(err, FG_EIO, "lost an object in memory");
	return 0;
}

/*
 * Keep a copy of an object a single append wrote loose, for the pack
 * written once enough piled up (pending_pack).  Best effort: an object not
 * kept stays loose, for maintenance to pack.
 */
static void
pending_add(struct fg_store *st, const git_oid *id, git_object_t type,
    const void *data, size_t len)
{
	struct pending *p, **v;
	size_t alloc;

	if (st->auto_threshold == 0 || len > FG_PACK_LOOSE_OBJECT_MAX)
		return;
	if (st->npend == st->pend_alloc) {
		alloc = st->pend_alloc ? st->pend_alloc * 2 : 256;
		v = realloc(st->pend, alloc * sizeof(*v));
		if (v == NULL)
			return;
		st->pend = v;
		st->pend_alloc = alloc;
	}
	p = malloc(sizeof(*p) + len);
	if (p == NULL)
		return;
	git_oid_cpy(&p->id, id);
	p->type = type;
	p->len = len;
	memcpy(p->data, data, len);
	st->pend[st->npend++] = p;
	st->pend_bytes += len;
}

static void
pending_clear(struct fg_store *st)
{
	size_t i;

	for (i = 0; i < st->npend; i++)
		free(st->pend[i]);
	st->npend = 0;
	st->pend_bytes = 0;
}

/* Write objects from mem as loose objects, in order, keeping copies. */
static int
write_loose(struct fg_store *st, const git_oid *ids, size_t n,
    struct fg_err *err)
{
	git_object_t type;
	void *data;
	size_t i, len;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		rc = read_mem(&data, &len, &type, st, &ids[i], err);
		if (rc < 0)
			return rc;
		rc = fg_pack_loose_write(st->objdir, &ids[i], type, data, len,
		    (st->flags & FG_STORE_FSYNC) != 0, err);
		if (rc == 0)
			pending_add(st, &ids[i], type, data, len);
		git_odb_backend_data_free(st->mempack, data);
	}
	return rc;
}

/*
 * The message and signatures of rec's commit (rec already checked); *t is
 * the record's time.
 */
static int
record_head(struct made *m, int64_t *t, const struct fg_record *rec,
    struct fg_err *err)
{
	char *name = NULL, *email = NULL;
	int rc;

	*t = rec->time != 0 ? rec->time : fg_now();
	rc = fg_record_message(&m->msg, rec, err);
	if (rc < 0)
		goto out;
	rc = fg_record_author(&name, &email, rec, err);
	if (rc < 0)
		goto out;
	if (git_signature_new(&m->author, name, email, (git_time_t)*t,
	    0) < 0 || git_signature_new(&m->committer, FG_RECORD_COMMITTER,
	    FG_RECORD_COMMITTER_EMAIL, (git_time_t)*t, 0) < 0)
		rc = fg_err_git(err, FG_EINVALID, "bad actor '%s <%s>'", name,
		    email);
out:
	free(name);
	free(email);
	return rc;
}

/* Make rec's blobs and tree in mem, its message and signatures. */
static int
build_record(struct built *b, struct fg_store *st, const struct fg_record *rec,
    struct fg_err *err)
{
	struct fg_buf json = FG_BUF_INIT;
	git_treebuilder *tb = NULL;
	int64_t t;
	size_t i;
	int rc;

	rc = fg_record_check(rec, err);
	if (rc < 0)
		return rc;
	rc = record_head(&b->m, &t, rec, err);
	if (rc < 0)
		goto out;
	if (git_treebuilder_new(&tb, st->mem, NULL) < 0)
		goto gitfail;
	if (!rec->no_record_json) {
		rc = fg_record_json(&json, rec, t, err);
		if (rc < 0)
			goto out;
		if (git_blob_create_from_buffer(&b->objs[b->nobjs], st->mem,
		    json.ptr, json.len) < 0 ||
		    git_treebuilder_insert(NULL, tb, "record.json",
		    &b->objs[b->nobjs], GIT_FILEMODE_BLOB) < 0)
			goto gitfail;
		b->nobjs++;
	}
	for (i = 0; i < rec->nfiles; i++) {
		if (git_blob_create_from_buffer(&b->objs[b->nobjs], st->mem,
		    rec->files[i].len ? rec->files[i].data : "",
		    rec->files[i].len) < 0 ||
		    git_treebuilder_insert(NULL, tb, rec->files[i].name,
		    &b->objs[b->nobjs], GIT_FILEMODE_BLOB) < 0)
			goto gitfail;
		b->nobjs++;
	}
	if (git_treebuilder_write(&b->m.tree, tb) < 0)
		goto gitfail;
	git_oid_cpy(&b->objs[b->nobjs++], &b->m.tree);
	goto out;
gitfail:
	rc = fg_err_git(err, FG_EIO, "cannot build record '%s'", rec->kind);
out:
	git_treebuilder_free(tb);
	fg_buf_release(&json);
	return rc;
}

static int
put_signature(struct fg_buf *out, const char *header, const git_signature *s)
{
	int off = s->when.offset, a = off < 0 ? -off : off;

	return fg_buf_printf(out, "%s %s <%s> %lld %c%02d%02d\n", header,
	    s->name, s->email, (long long)s->when.time,
	    off < 0 ? '-' : '+', a / 60, a % 60);
}

/*
 * The commit of b with parent (or none), formatted as libgit2 and git
 * format it; *out is its id.  Made here rather than by
 * git_commit_create_from_ids() in mem, which would insist on the parent
 * being in mem: that meant reading the tip back from disk on every
 * append, and missing it when another handle had just packed it.  The
 * tree is b's own, checked by the treebuilder; the parent is a ref's tip,
 * whose existence the caller checks.
 */
static int
commit_text(struct fg_buf *buf, const struct made *b, const git_oid *parent,
    struct fg_err *err)
{
	char hex[GIT_OID_HEXSZ + 1];

	fg_buf_reset(buf);
	git_oid_tostr(hex, sizeof(hex), &b->tree);
	if (fg_buf_printf(buf, "tree %s\n", hex) < 0)
		goto nomem;
	if (parent != NULL) {
		git_oid_tostr(hex, sizeof(hex), parent);
		if (fg_buf_printf(buf, "parent %s\n", hex) < 0)
			goto nomem;
	}
	if (put_signature(buf, "author", b->author) < 0 ||
	    put_signature(buf, "committer", b->committer) < 0 ||
	    fg_buf_putc(buf, '\n') < 0 || fg_buf_add(buf, b->msg.ptr,
	    b->msg.len) < 0)
		goto nomem;
	return 0;
nomem:
	return fg_err_set(err, FG_ENOMEM, "out of memory");
}

static int
commit_buffer(struct fg_buf *buf, git_oid *out, const struct made *b,
    const git_oid *parent, struct fg_err *err)
{
	int rc;

	rc = commit_text(buf, b, parent, err);
	if (rc == 0 && git_odb_hash(out, buf->ptr, buf->len,
	    GIT_OBJECT_COMMIT) < 0)
		rc = fg_err_git(err, FG_EIO, "cannot hash a commit");
	return rc;
}

/* The tip a new commit will name must be there (after a refresh). */
static int
check_parent(struct fg_store *st, const char *ref, const git_oid *tip,
    struct fg_err *err)
{
	char hex[GIT_OID_HEXSZ + 1];

	/* Ours, usually: known to be there, and not yet in the odb's list. */
	if (git_oid_equal(tip, &st->last) || object_exists(st, tip))
		return 0;
	git_oid_tostr(hex, sizeof(hex), tip);
	return fg_err_set(err, FG_EIO, "'%s' points at %s, which is not in "
	    "the repository", ref, hex);
}

static int maintain(struct fg_store *st, unsigned what, size_t threshold,
    uint32_t merge_max, struct fg_err *err);

/* What maintain() does. */
#define MAINT_LOOSE	0x1	/* pack and delete loose objects */
#define MAINT_ROLLUP	0x2	/* roll packs up */
#define MAINT_AUTO	0x4	/* roll up only once packs pile up */

/*
 * Give repo a fresh object database (see ODB_REOPEN_EVERY).  The
 * repository handle callers may hold stays the same; on failure the old
 * database simply stays.
 */
static void
reopen_odb(struct fg_store *st)
{
	git_odb *odb = NULL;

	st->since_reopen = 0;
	if (git_odb_open(&odb, st->objdir) < 0 ||
	    git_repository_set_odb(st->repo, odb) < 0) {
		fg_log_warnx("store: cannot reopen '%s': %s", st->objdir,
		    git_error_last() ? git_error_last()->message : "");
		git_odb_free(odb);
		return;
	}
	git_odb_free(st->odb);
	st->odb = odb;
}

void
fg_store_refresh(struct fg_store *st)
{
	git_repository *repo = NULL;
	git_odb *odb = NULL;

	if (git_repository_open_ext(&repo, st->gitdir,
	    GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0 ||
	    git_repository_odb(&odb, repo) < 0) {
		fg_log_warnx("store: cannot reopen '%s': %s", st->gitdir,
		    git_error_last() ? git_error_last()->message : "");
		git_repository_free(repo);
		return;
	}
	git_odb_free(st->odb);
	git_repository_free(st->repo);
	st->repo = repo;
	st->odb = odb;
	st->since_reopen = 0;
}

/*
 * Note in PACKED_LOOSE_NAME the packed objects whose loose copies count
 * in fg_pack_loose_estimate() (those in objects/17).
 */
static void
note_packed_loose(struct fg_store *st, struct pending **v, size_t n)
{
	struct fg_buf path = FG_BUF_INIT, lines = FG_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	size_t i;
	int fd = -1;

	for (i = 0; i < n; i++) {
		if (v[i]->id.id[0] != 0x17)
			continue;
		git_oid_tostr(hex, sizeof(hex), &v[i]->id);
		if (fg_buf_printf(&lines, "%s\n", hex) < 0)
			goto out;
	}
	if (lines.len == 0 ||
	    fg_buf_printf(&path, "%s%s", st->gitdir, PACKED_LOOSE_NAME) < 0)
		goto out;
	fd = open(path.ptr, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0 || write(fd, lines.ptr, lines.len) != (ssize_t)lines.len)
		fg_log_warn("store: cannot append to '%s'", path.ptr);
out:
	if (fd >= 0)
		close(fd);
	fg_buf_release(&path);
	fg_buf_release(&lines);
}

/*
 * Loose objects not known to be in a pack, estimated as git gc --auto
 * does, less the packed copies single appends left and the ones this
 * store holds in memory for its next pack.
 */
static size_t
loose_unpacked(struct fg_store *st)
{
	struct fg_buf path = FG_BUF_INIT;
	struct stat sb;
	size_t n, i, known = 0;

	n = fg_pack_loose_estimate(st->objdir);
	if (n > 0 && fg_buf_printf(&path, "%s%s", st->gitdir,
	    PACKED_LOOSE_NAME) == 0 && stat(path.ptr, &sb) == 0)
		known = (size_t)sb.st_size / (GIT_OID_HEXSZ + 1) * 256;
	for (i = 0; n > 0 && i < st->npend; i++)
		if (st->pend[i]->id.id[0] == 0x17)
			known += 256;
	fg_buf_release(&path);
	return n > known ? n - known : 0;
}

/*
 * Write the objects single appends kept (pending_add) as one pack.  Their
 * loose copies stay: deleting thousands of files is what made appends
 * slow (see CAVEATS in store.h); maintenance removes them in bulk.
 */
static int
pending_pack(struct fg_store *st, struct fg_err *err)
{
	struct fg_pack_writer *w = NULL;
	size_t i;
	int rc;

	if (st->npend == 0)
		return 0;
	rc = fg_pack_writer_new(&w, st->objdir,
	    (st->flags & FG_STORE_FSYNC) != 0, err);
	for (i = 0; rc == 0 && i < st->npend; i++)
		rc = fg_pack_writer_add(w, &st->pend[i]->id,
		    st->pend[i]->type, st->pend[i]->data, st->pend[i]->len,
		    err);
	if (rc == 0)
		rc = fg_pack_writer_commit(w, NULL, err);
	fg_pack_writer_free(w);
	if (rc == 0) {
		st->stats.packs_written++;
		st->stats.loose_packed += st->npend;
		note_packed_loose(st, st->pend, st->npend);
	}
	pending_clear(st);
	return rc;
}

/*
 * After a write: pack what single appends kept, pack loose objects that
 * others left, roll packs up; never failing the write.
 */
static void
auto_maintain(struct fg_store *st, bool batch)
{
	struct fg_err e = FG_ERR_INIT;
	unsigned what = MAINT_AUTO;

	if (st->auto_threshold == 0)
		return;
	if (st->npend >= st->auto_threshold ||
	    st->pend_bytes >= PENDING_BYTES_MAX) {
		if (pending_pack(st, &e) < 0)
			fg_log_warnx("store: cannot pack in '%s': %s",
			    st->gitdir, e.msg);
		what |= MAINT_ROLLUP;
	} else if (batch) {
		what |= MAINT_ROLLUP;
	}
	/*
	 * Loose objects of others (hooks, the CLI: a few appends each) are
	 * packed once they pile up.  Writers like this one hold up to a
	 * threshold each in memory, and the estimate is coarse: hence the
	 * margin.
	 */
	if ((unsigned)rand_r(&st->seed) % CHECK_EVERY == 0 &&
	    (loose_unpacked(st) >= LOOSE_MARGIN * st->auto_threshold ||
	    fg_pack_loose_estimate(st->objdir) >= AUTO_PRUNE_MARGIN *
	    st->auto_threshold))
		what |= MAINT_LOOSE;
	if (!(what & (MAINT_LOOSE | MAINT_ROLLUP)))
		return;
	if (maintain(st, what, 0, FG_STORE_AUTO_MERGE_MAX, &e) < 0)
		fg_log_warnx("store: maintenance of '%s' failed: %s",
		    st->gitdir, e.msg);
}

/* After each successful write. */
static void
after_write(struct fg_store *st, bool batch)
{
	if (++st->since_reopen >= ODB_REOPEN_EVERY)
		reopen_odb(st);
	auto_maintain(st, batch);
}

/*
 * A single append.  Its blobs and tree go loose first, outside the queue
 * (writers build in parallel); then, with ref's slot held, the tip is
 * read, the commit made and written, and the ref moved.  Losing a race
 * (to git) rewrites only the commit.  Nothing here deletes a file.
 */
int
fg_store_append(git_oid *out, struct fg_store *st, const char *ref,
    const struct fg_record *rec, struct fg_err *err)
{
	struct built b;
	struct reflock lk;
	struct fg_buf cbuf = FG_BUF_INIT;
	git_oid tip, commit;
	bool have;
	int64_t deadline;
	unsigned attempt;
	int rc, grc;

	memset(&b, 0, sizeof(b));
	memset(&lk, 0, sizeof(lk));
	fg_buf_init(&b.m.msg);
	rc = check_write_ref(ref, false, err);
	if (rc < 0)
		return rc;
	rc = build_record(&b, st, rec, err);
	if (rc < 0)
		goto out;
	rc = write_loose(st, b.objs, b.nobjs, err);
	if (rc < 0)
		goto out;
	deadline = mono_ms() + FG_STORE_RETRY_SECS * 1000;
	rc = reflock_take(&lk, st, ref, err);
	if (rc < 0)
		goto out;
	for (attempt = 0;; attempt++) {
		rc = read_tip(&tip, &have, st, ref, err);
		if (rc == 0 && have)
			rc = check_parent(st, ref, &tip, err);
		if (rc == 0)
			rc = commit_buffer(&cbuf, &commit, &b.m, have ? &tip :
			    NULL, err);
		if (rc == 0)
			rc = fg_pack_loose_write(st->objdir, &commit,
			    GIT_OBJECT_COMMIT, cbuf.ptr, cbuf.len,
			    (st->flags & FG_STORE_FSYNC) != 0, err);
		if (rc < 0)
			goto out;
		marker_write(st, &lk, true);
		grc = ref_update(st, ref, have ? &tip : NULL, &commit, err);
		marker_write(st, &lk, false);
		if (grc == 0)
			break;
		if (grc != GIT_EMODIFIED && grc != GIT_ELOCKED) {
			rc = grc;
			goto out;
		}
		rc = lost_race(st, &lk, ref, grc, attempt, deadline, err);
		if (rc < 0)
			goto out;
	}
	pending_add(st, &commit, GIT_OBJECT_COMMIT, cbuf.ptr, cbuf.len);
	git_oid_cpy(&st->last, &commit);
	git_oid_cpy(out, &commit);
	st->stats.appends++;
out:
	reflock_drop(st, &lk);
	git_mempack_reset(st->mempack);
	built_release(&b);
	fg_buf_release(&cbuf);
	if (rc == 0)
		after_write(st, false);
	return rc;
}

/*
 * Lock ref for a batch: its slot, then <ref>.lock; *tip and *have are the
 * ref's value.  u and lk are the caller's (ref_unlock or ref_commit, and
 * reflock_drop).
 */
static int
lock_ref(struct refupdate *u, struct reflock *lk, git_oid *tip, bool *have,
    struct fg_store *st, const char *ref, struct fg_err *err)
{
	int64_t deadline = mono_ms() + FG_STORE_RETRY_SECS * 1000;
	unsigned attempt;
	int grc, rc;

	rc = reflock_take(lk, st, ref, err);
	if (rc < 0)
		return rc;
	for (attempt = 0;; attempt++) {
		marker_write(st, lk, true);
		grc = ref_lock(u, tip, have, st, ref, err);
		if (grc == 0)
			return 0;
		marker_write(st, lk, false);
		if (grc != GIT_ELOCKED)
			return grc;
		rc = lost_race(st, lk, ref, grc, attempt, deadline, err);
		if (rc < 0)
			return rc;
	}
}

/*
 * The batch path makes its objects itself, straight into the pack, rather
 * than in mem: libgit2 1.5 hashes with its collision-detecting SHA-1
 * (several times slower than libcrypto's) and a mempack copies each object
 * in and out again.  The objects are the same, byte for byte: a blob is its
 * data, a tree its entries sorted by name as "100644 <name>\0<id>" (file
 * names were checked by fg_record_check()), a commit commit_text()'s; git
 * fsck --strict checks them in test_store.
 */
struct tree_entry {
	const char *name;
	git_oid id;
};

static int
tree_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tree_entry *)a)->name,
	    ((const struct tree_entry *)b)->name);
}

/* Hash an object (git's "<type> <len>\0" header, then data) into *out. */
static int
hash_object(git_oid *out, EVP_MD_CTX *ctx, const EVP_MD *sha1,
    git_object_t type, const void *data, size_t len, struct fg_err *err)
{
	char hdr[64];
	unsigned int outlen = 0;
	int n;

	n = snprintf(hdr, sizeof(hdr), "%s %zu", git_object_type2string(type),
	    len);
	if (n < 0 || (size_t)n >= sizeof(hdr) ||
	    EVP_DigestInit_ex(ctx, sha1, NULL) != 1 ||
	    EVP_DigestUpdate(ctx, hdr, (size_t)n + 1) != 1 ||
	    (len > 0 && EVP_DigestUpdate(ctx, data, len) != 1) ||
	    EVP_DigestFinal_ex(ctx, out->id, &outlen) != 1 ||
	    outlen != GIT_OID_RAWSZ)
		return fg_err_set(err, FG_EIO, "cannot hash an object");
	return 0;
}

/*
 * Hash an object and add it to the pack w, of family (-1: none; see
 * fg_pack_writer_add_like); *out is its id.
 */
static int
pack_object_like(git_oid *out, struct fg_pack_writer *w, EVP_MD_CTX *ctx,
    const EVP_MD *sha1, git_object_t type, const void *data, size_t len,
    int family, struct fg_err *err)
{
	int rc;

	rc = hash_object(out, ctx, sha1, type, data, len, err);
	if (rc == 0)
		rc = fg_pack_writer_add_like(w, out, type, data, len, family,
		    err);
	return rc;
}

static int
pack_object(git_oid *out, struct fg_pack_writer *w, EVP_MD_CTX *ctx,
    const EVP_MD *sha1, git_object_t type, const void *data, size_t len,
    struct fg_err *err)
{
	return pack_object_like(out, w, ctx, sha1, type, data, len, -1, err);
}

/*
 * rec's blobs and tree into the pack w; m gets the tree, the message and
 * the signatures.  rec was checked.  Records of a batch are alike (a
 * forge's deliveries, the engine's records of them): each blob may go in
 * as a delta on the blob at the same place in an earlier record.
 */
static int
pack_record(struct made *m, struct fg_pack_writer *w, EVP_MD_CTX *ctx,
    const EVP_MD *sha1, const struct fg_record *rec, struct fg_err *err)
{
	struct tree_entry ents[FG_RECORD_FILES_MAX + 1];
	struct fg_buf json = FG_BUF_INIT, tree = FG_BUF_INIT;
	size_t i, n = 0;
	int64_t t;
	int rc;

	rc = record_head(m, &t, rec, err);
	if (rc < 0)
		goto out;
	if (!rec->no_record_json) {
		rc = fg_record_json(&json, rec, t, err);
		if (rc < 0)
			goto out;
		ents[n].name = "record.json";
		rc = pack_object_like(&ents[n++].id, w, ctx, sha1,
		    GIT_OBJECT_BLOB, json.ptr, json.len, 0, err);
		if (rc < 0)
			goto out;
	}
	for (i = 0; i < rec->nfiles; i++) {
		ents[n].name = rec->files[i].name;
		rc = pack_object_like(&ents[n++].id, w, ctx, sha1,
		    GIT_OBJECT_BLOB, rec->files[i].data, rec->files[i].len,
		    i + 1 < FG_PACK_FAMILIES ? (int)i + 1 : -1, err);
		if (rc < 0)
			goto out;
	}
	qsort(ents, n, sizeof(*ents), tree_entry_cmp);
	for (i = 0; i < n; i++) {
		if (fg_buf_printf(&tree, "100644 %s", ents[i].name) < 0 ||
		    fg_buf_putc(&tree, '\0') < 0 ||
		    fg_buf_add(&tree, ents[i].id.id, GIT_OID_RAWSZ) < 0) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
	}
	rc = pack_object(&m->tree, w, ctx, sha1, GIT_OBJECT_TREE,
	    tree.ptr, tree.len, err);
out:
	fg_buf_release(&json);
	fg_buf_release(&tree);
	return rc;
}

/*
 * A batch: every record's blobs and tree go into one new pack before the
 * ref is locked; with the lock held, the commits (a chain on the tip) are
 * added, the pack finished, and pack, index and the ref's new value synced
 * together, then moved into place, the ref last.
 */
int
fg_store_append_batch(git_oid *out, struct fg_store *st, const char *ref,
    const struct fg_record *recs, size_t n, struct fg_err *err)
{
	return fg_store_append_batch_noted(out, st, ref, recs, n, NULL, NULL,
	    NULL, err);
}

static cJSON *note_apply(const cJSON *cur, const cJSON *keys);
static int note_message(struct fg_buf *out, const cJSON *keys,
    const git_oid *target);

/* A blob entry of the notes tree being rewritten by a noted batch. */
struct nentry {
	char name[GIT_OID_HEXSZ + 1];	/* the annotated object, in hex */
	git_oid blob;
	cJSON *json;			/* set once this batch changed it */
};

/* Look name up in v[0..n), sorted by name; its index, or -1. */
static ssize_t
nentry_find(const struct nentry *v, size_t n, const char *name)
{
	size_t lo = 0, hi = n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(v[mid].name, name);
		if (c == 0)
			return (ssize_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/*
 * The blob entries of the notes commit c's tree, sorted by name, in *v.
 * *flat is false when the tree holds anything but 40-hex blob names (git
 * notes fans out subtrees once notes pile up): such a tree is left to
 * fg_store_note_merge, which libgit2's notes code writes.
 */
static int
nentries_read(struct nentry **v, size_t *n, bool *flat, git_commit *c,
    struct fg_err *err)
{
	git_tree *t = NULL;
	const git_tree_entry *e;
	size_t i, cnt;
	int rc = 0;

	*v = NULL;
	*n = 0;
	*flat = true;
	if (c != NULL && git_commit_tree(&t, c) < 0)
		return fg_err_git(err, FG_EIO, "cannot read %s", NOTES_REF);
	cnt = t != NULL ? git_tree_entrycount(t) : 0;
	/* Room for one new entry per note. */
	*v = calloc(cnt + FG_STORE_NOTES_MAX, sizeof(**v));
	if (*v == NULL) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < cnt; i++) {
		e = git_tree_entry_byindex(t, i);
		if (git_tree_entry_type(e) != GIT_OBJECT_BLOB ||
		    strlen(git_tree_entry_name(e)) != GIT_OID_HEXSZ) {
			*flat = false;
			goto out;
		}
		memcpy((*v)[i].name, git_tree_entry_name(e), GIT_OID_HEXSZ + 1);
		git_oid_cpy(&(*v)[i].blob, git_tree_entry_id(e));
	}
	*n = cnt;
out:
	git_tree_free(t);
	return rc;
}

/* The tree object's text for v[0..n) (sorted: plain names, all blobs). */
static int
nentries_tree(struct fg_buf *b, const struct nentry *v, size_t n)
{
	size_t i;

	fg_buf_reset(b);
	for (i = 0; i < n; i++) {
		if (fg_buf_printf(b, "100644 %s", v[i].name) < 0 ||
		    fg_buf_putc(b, '\0') < 0 ||
		    fg_buf_add(b, v[i].blob.id, GIT_OID_RAWSZ) < 0)
			return FG_ENOMEM;
	}
	return 0;
}

/*
 * Under the notes lock, add to w the objects of one notes commit per note
 * (blob, tree, commit, each commit on the one before, the first on tip),
 * as fg_store_note_merge would write them; *last gets the last commit,
 * *made how many were made (0: nothing changed), *flat false when the
 * notes tree is fanned out (nothing was added then).
 */
static int
pack_notes(git_oid *last, size_t *made, bool *flat, struct fg_store *st,
    struct fg_pack_writer *w, EVP_MD_CTX *ctx, const EVP_MD *sha1,
    const git_oid *tip, bool have, const struct fg_store_note *notes,
    size_t nnotes, const char *actor, struct fg_err *err)
{
	struct fg_record who;
	struct made m;
	struct nentry *v = NULL;
	struct fg_buf buf = FG_BUF_INIT;
	git_commit *parent = NULL;
	git_blob *blob = NULL;
	char *name = NULL, *email = NULL, *text = NULL;
	cJSON *cur = NULL, *next = NULL;
	git_oid prev;
	size_t n = 0, i, k;
	ssize_t at;
	int64_t t = fg_now();
	int rc = 0;

	*made = 0;
	memset(&m, 0, sizeof(m));
	fg_buf_init(&m.msg);
	memset(&who, 0, sizeof(who));
	who.actor_name = actor;
	if (have && lookup_commit(&parent, st, tip) < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot read %s", NOTES_REF);
		goto out;
	}
	rc = nentries_read(&v, &n, flat, parent, err);
	if (rc < 0 || !*flat)
		goto out;
	rc = fg_record_author(&name, &email, &who, err);
	if (rc < 0)
		goto out;
	if (git_signature_new(&m.author, name, email, (git_time_t)t, 0) < 0 ||
	    git_signature_new(&m.committer, FG_RECORD_COMMITTER,
	    FG_RECORD_COMMITTER_EMAIL, (git_time_t)t, 0) < 0) {
		rc = fg_err_git(err, FG_EINVALID, "bad actor");
		goto out;
	}
	if (have)
		git_oid_cpy(&prev, tip);
	for (i = 0; i < nnotes; i++) {
		char hex[GIT_OID_HEXSZ + 1];

		git_oid_tostr(hex, sizeof(hex), &notes[i].target);
		if (!object_exists(st, &notes[i].target)) {
			rc = fg_err_set(err, FG_ENOTFOUND, "no object %s to "
			    "annotate", hex);
			goto out;
		}
		cJSON_Delete(next);
		next = NULL;
		cur = NULL;
		at = nentry_find(v, n, hex);
		if (at >= 0 && v[at].json != NULL) {
			cur = v[at].json;
		} else if (at >= 0) {
			if (git_blob_lookup(&blob, st->repo, &v[at].blob) < 0) {
				rc = fg_err_git(err, FG_EIO, "cannot read the "
				    "note on %s", hex);
				goto out;
			}
			rc = fg_json_parse(&v[at].json,
			    git_blob_rawcontent(blob),
			    (size_t)git_blob_rawsize(blob), err);
			git_blob_free(blob);
			blob = NULL;
			if (rc < 0 || !cJSON_IsObject(v[at].json)) {
				rc = fg_err_set(err, FG_EINVALID, "the note on "
				    "%s in %s is not a JSON object", hex,
				    NOTES_REF);
				goto out;
			}
			cur = v[at].json;
		}
		next = note_apply(cur, notes[i].keys);
		if (next == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		if (cur != NULL && cJSON_Compare(cur, next, 1))
			continue;
		cJSON_free(text);
		text = cJSON_Print(next);
		if (text == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		if (at < 0) {
			for (k = n; k > 0 && strcmp(v[k - 1].name, hex) > 0;
			    k--)
				v[k] = v[k - 1];
			memset(&v[k], 0, sizeof(v[k]));
			memcpy(v[k].name, hex, sizeof(hex));
			at = (ssize_t)k;
			n++;
		}
		cJSON_Delete(v[at].json);
		v[at].json = next;
		next = NULL;
		rc = pack_object(&v[at].blob, w, ctx, sha1, GIT_OBJECT_BLOB,
		    text, strlen(text), err);
		if (rc == 0 && nentries_tree(&buf, v, n) < 0)
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		if (rc == 0)
			rc = pack_object(&m.tree, w, ctx, sha1,
			    GIT_OBJECT_TREE, buf.ptr, buf.len, err);
		fg_buf_reset(&m.msg);
		if (rc == 0 && note_message(&m.msg, notes[i].keys,
		    &notes[i].target) < 0)
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		if (rc == 0)
			rc = commit_text(&buf, &m, have || *made > 0 ? &prev :
			    NULL, err);
		if (rc == 0)
			rc = pack_object(&prev, w, ctx, sha1,
			    GIT_OBJECT_COMMIT, buf.ptr, buf.len, err);
		if (rc < 0)
			goto out;
		(*made)++;
	}
	if (*made > 0)
		git_oid_cpy(last, &prev);
out:
	if (v != NULL) {
		for (i = 0; i < n; i++)
			cJSON_Delete(v[i].json);
		free(v);
	}
	cJSON_Delete(next);
	cJSON_free(text);
	git_commit_free(parent);
	made_release(&m);
	fg_buf_release(&buf);
	free(name);
	free(email);
	return rc;
}

/*
 * An open batch: the records' blobs and trees already in the pack writer,
 * their commits to come (see fg_store_batch_new in store.h).
 */
struct fg_store_batch {
	struct fg_store *st;
	struct fg_pack_writer *w;
	EVP_MD_CTX *ctx;
	EVP_MD *sha1;
	struct made *mc;
	size_t n, alloc;
};

void
fg_store_batch_free(struct fg_store_batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	fg_pack_writer_free(b->w);
	for (i = 0; i < b->n; i++)
		made_release(&b->mc[i]);
	EVP_MD_free(b->sha1);
	EVP_MD_CTX_free(b->ctx);
	free(b->mc);
	free(b);
}

int
fg_store_batch_new(struct fg_store_batch **out, struct fg_store *st,
    struct fg_err *err)
{
	struct fg_store_batch *b;
	int rc;

	*out = NULL;
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	b->st = st;
	b->ctx = EVP_MD_CTX_new();
	b->sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
	if (b->ctx == NULL || b->sha1 == NULL) {
		fg_store_batch_free(b);
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	}
	rc = fg_pack_writer_new(&b->w, st->objdir, st->journal == NULL &&
	    (st->flags & FG_STORE_FSYNC) != 0, err);
	if (rc < 0) {
		fg_store_batch_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

int
fg_store_batch_add(struct fg_store_batch *b, const struct fg_record *rec,
    struct fg_err *err)
{
	struct made *mc;
	size_t alloc;
	int rc;

	if (b->n == FG_STORE_BATCH_MAX)
		return fg_err_set(err, FG_ELIMIT, "a batch holds at most %d "
		    "records", FG_STORE_BATCH_MAX);
	rc = fg_record_check(rec, err);
	if (rc < 0)
		return rc;
	if (b->n == b->alloc) {
		alloc = b->alloc > 0 ? 2 * b->alloc : 32;
		mc = realloc(b->mc, alloc * sizeof(*mc));
		if (mc == NULL)
			return fg_err_set(err, FG_ENOMEM, "out of memory");
		b->mc = mc;
		b->alloc = alloc;
	}
	memset(&b->mc[b->n], 0, sizeof(b->mc[b->n]));
	fg_buf_init(&b->mc[b->n].msg);
	/* A record that fails leaves objects nothing names: harmless. */
	rc = pack_record(&b->mc[b->n], b->w, b->ctx, b->sha1, rec, err);
	if (rc < 0) {
		made_release(&b->mc[b->n]);
		return rc;
	}
	b->n++;
	return 0;
}

size_t
fg_store_batch_count(const struct fg_store_batch *b)
{
	return b->n;
}

int
fg_store_batch_commit(git_oid *out, struct fg_store_batch *b,
    const char *ref, fg_store_notes_fn fn, void *arg,
    const char *note_actor, struct fg_err *err)
{
	struct fg_store *st = b->st;
	struct fg_pack_writer *w = b->w;
	struct refupdate u, nu;
	bool locked = false, nlocked = false, nhave = false, flat = true;
	struct reflock lk, nlk;
	struct fg_store_note *notes = NULL;
	struct fg_err nerr = FG_ERR_INIT;
	int fds[3], e;
	size_t nfds, nnotes = 0, nmade = 0, n = b->n;
	struct fg_buf cbuf = FG_BUF_INIT;
	git_oid *commits = NULL, tip, ntip, nlast;
	size_t i;
	bool have;
	int rc;

	memset(&lk, 0, sizeof(lk));
	memset(&nlk, 0, sizeof(nlk));
	rc = check_write_ref(ref, false, err);
	if (rc < 0)
		return rc;
	if (n == 0)
		return fg_err_set(err, FG_EINVALID, "a batch holds 1 to %d "
		    "records, not 0", FG_STORE_BATCH_MAX);
	commits = calloc(n, sizeof(*commits));
	if (fn != NULL)
		notes = calloc(FG_STORE_NOTES_MAX, sizeof(*notes));
	if (commits == NULL || (fn != NULL && notes == NULL)) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	rc = lock_ref(&u, &lk, &tip, &have, st, ref, err);
	if (rc < 0)
		goto out;
	locked = true;
	if (have) {
		rc = check_parent(st, ref, &tip, err);
		if (rc < 0)
			goto out;
	}
	for (i = 0; i < n; i++) {
		rc = commit_text(&cbuf, &b->mc[i], i > 0 ? &commits[i - 1] :
		    have ? &tip : NULL, err);
		if (rc == 0)
			rc = pack_object(&commits[i], w, b->ctx, b->sha1,
			    GIT_OBJECT_COMMIT, cbuf.ptr, cbuf.len, err);
		if (rc < 0)
			goto out;
	}
	/*
	 * The notes, if any, under the notes ref's lock (taken after the
	 * batch's: nothing takes them the other way round), into the same
	 * pack.  A note that cannot be made (its ref held by another writer
	 * past FG_STORE_RETRY_SECS, a note that is not JSON) must not cost
	 * the batch: it is told, and the batch goes on without notes (objects
	 * already added for them stay unreachable in the pack).
	 */
	if (fn != NULL) {
		rc = lock_ref(&nu, &nlk, &ntip, &nhave, st, NOTES_REF, &nerr);
		if (rc == 0) {
			nlocked = true;
			rc = fn(notes, &nnotes, FG_STORE_NOTES_MAX, commits, n,
			    arg, &nerr);
		}
	}
	if (rc == 0 && nnotes > 0)
		rc = pack_notes(&nlast, &nmade, &flat, st, w, b->ctx, b->sha1,
		    &ntip, nhave, notes, nnotes, note_actor, &nerr);
	if (rc < 0) {
		fg_log_warnx("store: the notes were not written: %s",
		    nerr.msg);
		nmade = 0;
		flat = true;
		rc = 0;
	}
	rc = fg_pack_writer_finish(w, err);
	if (rc == 0)
		rc = ref_write_value(&u, &commits[n - 1], err);
	if (rc < 0)
		goto out;
	/*
	 * With a journal, the pack, its index and the ref's move are synced
	 * there, as one record: one disk flush.  They are then put in place
	 * unsynced; a power loss undoes at worst what the journal holds.
	 */
	if (st->journal != NULL) {
		nfds = fg_pack_writer_fds(w, fds);
		rc = nfds == 2 ? fg_journal_append(st->journal, ref, have ?
		    &tip : NULL, &commits[n - 1], fds[0], fds[1], err) :
		    fg_err_set(err, FG_EINVALID, "pack not finished");
		if (rc < 0)
			goto out;
	} else if (st->flags & FG_STORE_FSYNC) {
		nfds = fg_pack_writer_fds(w, fds);
		fds[nfds++] = u.fd;
		e = sync_together(fds, nfds);
		if (e != 0) {
			rc = fg_err_set(err, FG_EIO, "cannot sync a batch for "
			    "'%s': %s", ref, strerror(e));
			goto out;
		}
	}
	rc = fg_pack_writer_publish(w, NULL, true, err);
	if (rc < 0)
		goto out;
	st->stats.packs_written++;
	locked = false;
	rc = ref_commit(&u, st->journal != NULL ? NULL : st, &commits[n - 1],
	    true, err);
	if (rc < 0)
		goto out;
	git_oid_cpy(&st->last, &commits[n - 1]);
	st->have_batch_parent = have;
	if (have)
		git_oid_cpy(&st->batch_parent, &tip);
	if (out != NULL)
		memcpy(out, commits, n * sizeof(*commits));
	st->stats.appends += n;
	/*
	 * The notes repeat what the batch holds: their ref is not synced (a
	 * crash may lose it; their objects are in the synced pack).
	 */
	if (nmade > 0) {
		nlocked = false;
		if (ref_commit(&nu, NULL, &nlast, false, &nerr) < 0)
			fg_log_warnx("store: the notes were not written: %s",
			    nerr.msg);
	}
	if (nlocked) {
		ref_unlock(&nu);
		nlocked = false;
	}
	reflock_drop(st, &nlk);
	/* A fanned-out notes tree: libgit2's notes code writes those. */
	for (i = 0; !flat && i < nnotes; i++) {
		if (fg_store_note_merge(st, &notes[i].target, notes[i].keys,
		    note_actor, NULL, &nerr) < 0)
			fg_log_warnx("store: the notes were not written: %s",
			    nerr.msg);
	}
out:
	if (nlocked)
		ref_unlock(&nu);
	reflock_drop(st, &nlk);
	if (locked)
		ref_unlock(&u);
	reflock_drop(st, &lk);
	for (i = 0; notes != NULL && i < nnotes; i++)
		cJSON_Delete(notes[i].keys);
	fg_buf_release(&cbuf);
	free(notes);
	free(commits);
	if (rc == 0)
		after_write(st, true);
	return rc;
}

int
fg_store_append_batch_noted(git_oid *out, struct fg_store *st,
    const char *ref, const struct fg_record *recs, size_t n,
    fg_store_notes_fn fn, void *arg, const char *note_actor,
    struct fg_err *err)
{
	struct fg_store_batch *b = NULL;
	size_t i;
	int rc;

	rc = check_write_ref(ref, false, err);
	if (rc < 0)
		return rc;
	if (n == 0 || n > FG_STORE_BATCH_MAX)
		return fg_err_set(err, n ? FG_ELIMIT : FG_EINVALID, "a batch "
		    "holds 1 to %d records, not %zu", FG_STORE_BATCH_MAX, n);
	rc = fg_store_batch_new(&b, st, err);
	for (i = 0; rc == 0 && i < n; i++)
		rc = fg_store_batch_add(b, &recs[i], err);
	if (rc == 0)
		rc = fg_store_batch_commit(out, b, ref, fn, arg, note_actor,
		    err);
	fg_store_batch_free(b);
	return rc;
}

bool
fg_store_batch_parent(git_oid *out, const struct fg_store *st)
{
	if (!st->have_batch_parent)
		return false;
	git_oid_cpy(out, &st->batch_parent);
	return true;
}

int
fg_store_tip(git_oid *out, struct fg_store *st, const char *ref,
    struct fg_err *err)
{
	bool have;
	int rc;

	rc = check_read_ref(ref, err);
	if (rc < 0)
		return rc;
	rc = read_tip(out, &have, st, ref, err);
	if (rc == 0 && !have)
		return fg_err_set(err, FG_ENOTFOUND, "no ref '%s'", ref);
	return rc;
}

int
fg_store_read_file_at(struct fg_buf *out, struct fg_store *st,
    const git_oid *commit, const char *name, struct fg_err *err)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_commit *c = NULL;
	git_tree *tree = NULL;
	git_tree_entry *e = NULL;
	git_blob *blob = NULL;
	int rc = 0, grc;

	git_oid_tostr(hex, sizeof(hex), commit);
	grc = lookup_commit(&c, st, commit);
	if (grc == GIT_ENOTFOUND)
		return fg_err_set(err, FG_ENOTFOUND, "no commit %s", hex);
	if (grc < 0)
		return fg_err_git(err, FG_EIO, "cannot read commit %s", hex);
	if (git_commit_tree(&tree, c) < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot read the tree of %s", hex);
		goto out;
	}
	grc = git_tree_entry_bypath(&e, tree, name);
	if (grc == GIT_ENOTFOUND || (grc == 0 &&
	    git_tree_entry_type(e) != GIT_OBJECT_BLOB)) {
		rc = fg_err_set(err, FG_ENOTFOUND, "no file '%s' in %.7s",
		    name, hex);
		goto out;
	}
	if (grc < 0 || git_blob_lookup(&blob, st->repo,
	    git_tree_entry_id(e)) < 0) {
		rc = fg_err_git(err, FG_EIO, "cannot read '%s' in %.7s", name,
		    hex);
		goto out;
	}
	if (fg_buf_add(out, git_blob_rawcontent(blob),
	    (size_t)git_blob_rawsize(blob)) < 0)
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
out:
	git_blob_free(blob);
	git_tree_entry_free(e);
	git_tree_free(tree);
	git_commit_free(c);
	return rc;
}

int
fg_store_read_file(struct fg_buf *out, struct fg_store *st, const char *ref,
    const char *name, struct fg_err *err)
{
	git_oid tip;
	int rc;

	rc = fg_store_tip(&tip, st, ref, err);
	if (rc < 0)
		return rc;
	return fg_store_read_file_at(out, st, &tip, name, err);
}

int
fg_store_ref_cas(struct fg_store *st, const char *ref, const git_oid *old_id,
    const git_oid *new_id, struct fg_err *err)
{
	char hex[GIT_OID_HEXSZ + 1];
	struct reflock lk;
	int64_t deadline;
	unsigned attempt;
	int rc, grc;

	memset(&lk, 0, sizeof(lk));
	rc = check_write_ref(ref, true, err);
	if (rc < 0)
		return rc;
	if (!object_exists(st, new_id)) {
		git_oid_tostr(hex, sizeof(hex), new_id);
		return fg_err_set(err, FG_ENOTFOUND, "no object %s", hex);
	}
	deadline = mono_ms() + FG_STORE_RETRY_SECS * 1000;
	rc = reflock_take(&lk, st, ref, err);
	for (attempt = 0; rc == 0; attempt++) {
		marker_write(st, &lk, true);
		grc = ref_update(st, ref, old_id, new_id, err);
		marker_write(st, &lk, false);
		if (grc == 0)
			break;
		if (grc == GIT_EMODIFIED)
			rc = fg_err_set(err, FG_ECONFLICT, "'%s' moved", ref);
		else if (grc != GIT_ELOCKED)
			rc = grc;
		else
			rc = lost_race(st, &lk, ref, grc, attempt, deadline,
			    err);
	}
	reflock_drop(st, &lk);
	return rc;
}

/*
 * The journal (journal.h).  Opening a store that syncs replays what a
 * crash left there: each record's pack is put back when the disk lost it
 * (its file missing, short or different, and its objects nowhere else),
 * then each ref journaled is moved to the last value journaled for it,
 * unless it is there already or past it.  A ref another writer moved
 * since gets the journaled commits it lacks made again on top
 * (replay_rebase).
 */
struct replay {
	struct fg_store *st;
	struct move {
		char *ref;
		bool have_old;		/* of the first record */
		git_oid old_id;
		git_oid new_id;		/* of the last */
	} *moves;
	size_t n;
};

/* Whether the file at path holds exactly len bytes, those of p. */
static bool
file_holds(const char *path, const unsigned char *p, size_t len)
{
	unsigned char buf[16384];
	struct stat sb;
	bool same = false;
	size_t at = 0;
	ssize_t got;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &sb) == 0 && (uint64_t)sb.st_size == len) {
		while (at < len) {
			got = read(fd, buf, len - at < sizeof(buf) ? len - at :
			    sizeof(buf));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0 || memcmp(buf, p + at, (size_t)got) != 0)
				break;
			at += (size_t)got;
		}
		same = at == len;
	}
	close(fd);
	return same;
}

/* Whether every object of r's index is in the object database. */
static bool
objects_present(struct fg_store *st, const struct fg_journal_rec *r)
{
	const unsigned char *ids;
	uint32_t i, count;
	git_oid id;

	if (fg_pack_idx_ids(&ids, &count, r->idx, r->idx_len) < 0)
		return false;
	for (i = 0; i < count; i++) {
		memcpy(id.id, ids + (size_t)i * GIT_OID_RAWSZ, GIT_OID_RAWSZ);
		if (!git_odb_exists(st->odb, &id))
			return false;
	}
	return true;
}

static int
replay_record(const struct fg_journal_rec *r, void *arg, struct fg_err *err)
{
	struct replay *rp = arg;
	struct fg_store *st = rp->st;
	struct fg_buf pack = FG_BUF_INIT, idx = FG_BUF_INIT;
	struct move *m;
	size_t i;
	int rc = 0;

	if (fg_buf_printf(&pack, "%s/pack/pack-%s.pack", st->objdir, r->name)
	    < 0 || fg_buf_printf(&idx, "%s/pack/pack-%s.idx", st->objdir,
	    r->name) < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	if (file_holds(pack.ptr, r->pack, r->pack_len) &&
	    file_holds(idx.ptr, r->idx, r->idx_len))
		goto refs;
	/*
	 * Both gone: rolled up into another pack (its objects are there) or
	 * lost.  Anything else (one file, or different bytes under the
	 * name: the disk kept a name without its data) is written again.
	 */
	if (access(pack.ptr, F_OK) < 0 && access(idx.ptr, F_OK) < 0) {
		git_odb_refresh(st->odb);
		if (objects_present(st, r))
			goto refs;
	}
	fg_log_warnx("store: putting pack-%s back from the journal in '%s'",
	    r->name, st->gitdir);
	rc = fg_pack_put(st->objdir, r->name, r->pack, r->pack_len, r->idx,
	    r->idx_len, err);
	if (rc < 0)
		goto out;
	git_odb_refresh(st->odb);
refs:
	for (i = 0; i < rp->n && strcmp(rp->moves[i].ref, r->ref) != 0; i++)
		;
	if (i == rp->n) {
		m = realloc(rp->moves, (rp->n + 1) * sizeof(*m));
		if (m == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		rp->moves = m;
		m = &m[rp->n];
		memset(m, 0, sizeof(*m));
		m->ref = strdup(r->ref);
		if (m->ref == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		rp->n++;
		m->have_old = r->have_old;
		git_oid_cpy(&m->old_id, &r->old_id);
	}
	git_oid_cpy(&rp->moves[i].new_id, &r->new_id);
out:
	fg_buf_release(&pack);
	fg_buf_release(&idx);
	return rc;
}

int
fg_store_first_parents(git_oid **out, size_t *n, git_repository *repo,
    const git_oid *tip, const git_oid *stop, size_t max, struct fg_err *err)
{
	git_oid *v = NULL, *grown, id;
	git_commit *c = NULL;
	size_t cap = 0;
	unsigned np;
	int rc = 0;

	*out = NULL;
	*n = 0;
	git_oid_cpy(&id, tip);
	while (stop == NULL || !git_oid_equal(&id, stop)) {
		if (*n == max) {
			rc = FG_ENOTFOUND;
			goto out;
		}
		if (*n == cap) {
			cap = cap > 0 ? 2 * cap : 64;
			grown = reallocarray(v, cap, sizeof(*v));
			if (grown == NULL) {
				rc = fg_err_set(err, FG_ENOMEM, "out of memory");
				goto out;
			}
			v = grown;
		}
		git_oid_cpy(&v[(*n)++], &id);
		if (git_commit_lookup(&c, repo, &id) < 0) {
			rc = fg_err_git(err, FG_EIO, "cannot read commit %s",
			    git_oid_tostr_s(&id));
			goto out;
		}
		np = git_commit_parentcount(c);
		if (np == 1)
			git_oid_cpy(&id, git_commit_parent_id(c, 0));
		git_commit_free(c);
		c = NULL;
		if (np == 0 && stop == NULL)
			break;
		if (np != 1) {
			rc = FG_ENOTFOUND;
			goto out;
		}
	}
out:
	if (rc < 0) {
		free(v);
		v = NULL;
		*n = 0;
	}
	*out = v;
	return rc;
}

/* Longest chain of journaled commits replay_rebase() makes again. */
#define REBASE_MAX	(1u << 20)

/*
 * The journaled commits of m that cur lacks (from its merge base with
 * m->new_id, or from the root when they share none), made again in order
 * on top of cur: after the crash a writer that could not replay the
 * journal (a hook run by another user than the daemon) moved the ref, and
 * without this they would be left off it.  Their trees, authors and
 * messages stay; only their parents change.  *out gets the new tip,
 * *count how many were made.  FG_ENOTFOUND when they are not one chain,
 * or share no history with a ref that had one: then nothing can tell what
 * belongs where.
 */
static int
replay_rebase(git_oid *out, size_t *count, struct fg_store *st,
    const struct move *m, const git_oid *cur, struct fg_err *err)
{
	git_oid *chain = NULL, id, base, parent;
	const git_oid *parents[1];
	git_commit *c = NULL;
	size_t n = 0;
	bool have_base;
	int rc = 0;

	*count = 0;
	rc = git_merge_base(&base, st->repo, cur, &m->new_id);
	if (rc < 0 && rc != GIT_ENOTFOUND)
		return fg_err_git(err, FG_EIO, "cannot compare '%s' with the "
		    "journal", m->ref);
	have_base = rc == 0;
	if (!have_base && m->have_old)
		return FG_ENOTFOUND;
	rc = fg_store_first_parents(&chain, &n, st->repo, &m->new_id,
	    have_base ? &base : NULL, REBASE_MAX, err);
	if (rc < 0)
		goto out;
	git_oid_cpy(&parent, cur);
	parents[0] = &parent;
	while (n > 0) {
		if (git_commit_lookup(&c, st->repo, &chain[--n]) < 0 ||
		    git_commit_create_from_ids(&id, st->repo, NULL,
		    git_commit_author(c), git_commit_committer(c),
		    git_commit_message_encoding(c), git_commit_message_raw(c),
		    git_commit_tree_id(c), 1, parents) < 0) {
			rc = fg_err_git(err, FG_EIO, "cannot write '%s' again "
			    "from the journal", m->ref);
			goto out;
		}
		git_commit_free(c);
		c = NULL;
		git_oid_cpy(&parent, &id);
		(*count)++;
	}
	git_oid_cpy(out, &parent);
out:
	git_commit_free(c);
	free(chain);
	return rc;
}

/* Move m->ref to m->new_id if a crash lost that. */
static int
replay_move(struct fg_store *st, const struct move *m, struct fg_err *err)
{
	char hex[GIT_OID_HEXSZ + 1], at[GIT_OID_HEXSZ + 1];
	git_oid cur, tip;
	size_t made;
	bool have;
	int rc;

	rc = read_tip(&cur, &have, st, m->ref, err);
	if (rc < 0)
		return rc;
	if (have && (git_oid_equal(&cur, &m->new_id) ||
	    git_graph_descendant_of(st->repo, &cur, &m->new_id) == 1))
		return 0;
	git_oid_tostr(hex, sizeof(hex), &m->new_id);
	if (have && !(m->have_old && git_oid_equal(&cur, &m->old_id)) &&
	    git_graph_descendant_of(st->repo, &m->new_id, &cur) != 1) {
		/* Written over since: the journal's commits go on top. */
		git_oid_tostr(at, sizeof(at), &cur);
		rc = replay_rebase(&tip, &made, st, m, &cur, err);
		if (rc == FG_ENOTFOUND) {
			fg_log_warnx("store: '%s' in '%s' is at %s, which does "
			    "not hold %s of the journal: left as it is",
			    m->ref, st->gitdir, at, hex);
			return 0;
		}
		if (rc < 0)
			return rc;
		fg_log_warnx("store: '%s' in '%s' was written over since the "
		    "crash (at %s): the journal's %zu commits up to %s are "
		    "made again on top", m->ref, st->gitdir, at, made, hex);
		return fg_store_ref_cas(st, m->ref, &cur, &tip, err);
	}
	fg_log_warnx("store: moving '%s' in '%s' to %s from the journal",
	    m->ref, st->gitdir, hex);
	return fg_store_ref_cas(st, m->ref, have ? &cur : NULL, &m->new_id,
	    err);
}

int
fg_store_replay(const char *repo_path, struct fg_err *err)
{
	struct fg_buf gitdir = FG_BUF_INIT;
	struct fg_store *st = NULL;
	bool there;
	int rc;

	if (fg_buf_printf(&gitdir, "%s%s", repo_path, repo_path[0] != '\0' &&
	    repo_path[strlen(repo_path) - 1] == '/' ? "" : "/") < 0)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	there = fg_journal_exists(gitdir.ptr);
	fg_buf_release(&gitdir);
	if (!there)
		return 0;
	rc = fg_store_open(&st, repo_path, FG_STORE_FSYNC |
	    FG_STORE_NO_MAINTAIN, err);
	fg_store_free(st);
	return rc;
}

static int
journal_start(struct fg_store *st, struct fg_err *err)
{
	bool create = (st->flags & FG_STORE_JOURNAL) != 0;
	struct replay rp = { st, NULL, 0 };
	struct fg_journal *j = NULL;
	size_t i;
	int rc, tries = 0;

	for (;;) {
		rc = fg_journal_open(&j, st->gitdir, create, replay_record, &rp,
		    err);
		/* Held: its holder is alive, and replayed it when it began. */
		if (rc != FG_EBUSY || !create || ++tries > 50)
			break;
		sleep_ms(20);
	}
	for (i = 0; rc == 0 && i < rp.n; i++)
		rc = replay_move(st, &rp.moves[i], err);
	if (rc == 0 && fg_journal_pending(j) > 0)
		rc = fg_journal_checkpoint(j, err);
	for (i = 0; i < rp.n; i++)
		free(rp.moves[i].ref);
	free(rp.moves);
	if (rc == FG_ENOTFOUND || (rc == FG_EBUSY && !create))
		return 0;
	if (rc == FG_EDENIED && !create) {
		/* Another user's daemon: its start replays it. */
		fg_log_warnx("store: %s; not replayed", err->msg);
		return 0;
	}
	if (rc == FG_EBUSY) {
		/* Another process appends through it: sync the git way. */
		fg_log_warnx("store: %s; syncing each write instead", err->msg);
		return 0;
	}
	if (rc < 0) {
		/* Kept for the next attempt. */
		fg_journal_drop(j);
		return rc;
	}
	if (!create)
		return fg_journal_close(j, err);
	st->journal = j;
	return 0;
}

/*
 * Walking.  The iterator owns the current commit and its trailers; the
 * entry's pointers point into them.
 */
struct fg_store_iter {
	struct fg_store *st;
	char *want[FG_FIELD_COUNT];	/* copies of the query's filters */
	size_t limit;
	git_oid next;
	bool have_next;
	size_t returned;
	size_t scanned;
	git_commit *cur;
	git_message_trailer_array tarr;
	bool have_tarr;
	struct fg_trailer *trailers;
	struct fg_buf subject;
	struct fg_buf body;
	struct fg_store_entry entry;
};

int
fg_store_iter_new(struct fg_store_iter **out, struct fg_store *st,
    const char *ref, const struct fg_store_query *q, struct fg_err *err)
{
	struct fg_store_iter *it;
	const char *v;
	int f, rc;

	*out = NULL;
	rc = check_read_ref(ref, err);
	if (rc < 0)
		return rc;
	it = calloc(1, sizeof(*it));
	if (it == NULL)
		return fg_err_set(err, FG_ENOMEM, "out of memory");
	it->st = st;
	fg_buf_init(&it->subject);
	fg_buf_init(&it->body);
	for (f = 0; q != NULL && f < FG_FIELD_COUNT; f++) {
		v = fg_record_query_value(q, (enum fg_record_field)f);
		if (v == NULL || *v == '\0')
			continue;
		it->want[f] = strdup(v);
		if (it->want[f] == NULL) {
			fg_store_iter_free(it);
			return fg_err_set(err, FG_ENOMEM, "out of memory");
		}
	}
	it->limit = q != NULL ? q->limit : 0;
	rc = read_tip(&it->next, &it->have_next, st, ref, err);
	if (rc < 0) {
		fg_store_iter_free(it);
		return rc;
	}
	*out = it;
	return 0;
}

static void
iter_drop_current(struct fg_store_iter *it)
{
	if (it->have_tarr)
		git_message_trailer_array_free(&it->tarr);
	it->have_tarr = false;
	git_commit_free(it->cur);
	it->cur = NULL;
	free(it->trailers);
	it->trailers = NULL;
}

static const char *
tarr_get(const git_message_trailer_array *a, const char *key)
{
	size_t i;

	for (i = 0; i < a->count; i++)
		if (strcasecmp(a->trailers[i].key, key) == 0)
			return a->trailers[i].value;
	return NULL;
}

static bool
iter_matches(const struct fg_store_iter *it)
{
	const char *v;
	int f;

	for (f = 0; f < FG_FIELD_COUNT; f++) {
		if (it->want[f] == NULL)
			continue;
		v = tarr_get(&it->tarr,
		    fg_record_field_trailer((enum fg_record_field)f));
		if (v == NULL)
			return false;
		if (f == FG_FIELD_COMMIT) {
			if (strncasecmp(v, it->want[f],
			    strlen(it->want[f])) != 0)
				return false;
		} else if (strcmp(v, it->want[f]) != 0) {
			return false;
		}
	}
	return true;
}

/* Subject and body of the current commit, trailers excluded. */
static int
iter_fill(struct fg_store_iter *it)
{
	const char *msg = git_commit_message(it->cur), *nl, *body, *last;
	const git_signature *a = git_commit_author(it->cur);
	size_t i, len, blen;

	fg_buf_reset(&it->subject);
	fg_buf_reset(&it->body);
	nl = strchr(msg, '\n');
	len = nl != NULL ? (size_t)(nl - msg) : strlen(msg);
	if (fg_buf_add(&it->subject, msg, len) < 0)
		return FG_ENOMEM;
	body = nl != NULL ? nl + 1 : msg + len;
	while (*body == '\n')
		body++;
	blen = strlen(body);
	/* The last paragraph holds the trailers, when there are any. */
	if (it->tarr.count > 0) {
		last = NULL;
		for (i = 0; i + 1 < blen; i++)
			if (body[i] == '\n' && body[i + 1] == '\n')
				last = body + i;
		blen = last != NULL ? (size_t)(last - body) : 0;
	}
	while (blen > 0 && body[blen - 1] == '\n')
		blen--;
	if (fg_buf_add(&it->body, body, blen) < 0)
		return FG_ENOMEM;
	if (it->tarr.count > 0) {
		it->trailers = calloc(it->tarr.count, sizeof(*it->trailers));
		if (it->trailers == NULL)
			return FG_ENOMEM;
		for (i = 0; i < it->tarr.count; i++) {
			it->trailers[i].key = it->tarr.trailers[i].key;
			it->trailers[i].value = it->tarr.trailers[i].value;
		}
	}
	git_oid_cpy(&it->entry.id, git_commit_id(it->cur));
	it->entry.time = (int64_t)a->when.time;
	it->entry.subject = it->subject.ptr;
	it->entry.body = it->body.ptr;
	it->entry.author_name = a->name;
	it->entry.author_email = a->email;
	it->entry.trailers = it->trailers;
	it->entry.ntrailers = it->tarr.count;
	return 0;
}

int
fg_store_iter_next(const struct fg_store_entry **out, struct fg_store_iter *it,
    struct fg_err *err)
{
	char hex[GIT_OID_HEXSZ + 1];

	*out = NULL;
	iter_drop_current(it);
	while (it->have_next && (it->limit == 0 || it->returned < it->limit)) {
		if (lookup_commit(&it->cur, it->st, &it->next) < 0) {
			git_oid_tostr(hex, sizeof(hex), &it->next);
			it->have_next = false;
			return fg_err_git(err, FG_EIO, "cannot read commit %s",
			    hex);
		}
		it->scanned++;
		if (git_commit_parentcount(it->cur) > 0)
			git_oid_cpy(&it->next, git_commit_parent_id(it->cur, 0));
		else
			it->have_next = false;
		if (git_message_trailers(&it->tarr,
		    git_commit_message(it->cur)) < 0) {
			iter_drop_current(it);
			return fg_err_git(err, FG_ENOMEM, "cannot parse a "
			    "message");
		}
		it->have_tarr = true;
		if (!iter_matches(it)) {
			iter_drop_current(it);
			continue;
		}
		if (iter_fill(it) < 0) {
			iter_drop_current(it);
			return fg_err_set(err, FG_ENOMEM, "out of memory");
		}
		it->returned++;
		*out = &it->entry;
		return 0;
	}
	return 0;
}

size_t
fg_store_iter_scanned(const struct fg_store_iter *it)
{
	return it->scanned;
}

void
fg_store_iter_free(struct fg_store_iter *it)
{
	int f;

	if (it == NULL)
		return;
	iter_drop_current(it);
	for (f = 0; f < FG_FIELD_COUNT; f++)
		free(it->want[f]);
	fg_buf_release(&it->subject);
	fg_buf_release(&it->body);
	free(it);
}

const char *
fg_store_entry_get(const struct fg_store_entry *e, const char *key)
{
	size_t i;

	for (i = 0; i < e->ntrailers; i++)
		if (strcasecmp(e->trailers[i].key, key) == 0)
			return e->trailers[i].value;
	return NULL;
}

/* The note on target in the notes commit c, as an object; NULL if none. */
static int
note_read(cJSON **out, struct fg_store *st, git_commit *c,
    const git_oid *target, struct fg_err *err)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_note *note = NULL;
	const char *msg;
	int rc, grc;

	*out = NULL;
	git_oid_tostr(hex, sizeof(hex), target);
	grc = git_note_commit_read(&note, st->repo, c, target);
	if (grc == GIT_ENOTFOUND)
		return 0;
	if (grc < 0)
		return fg_err_git(err, FG_EIO, "cannot read the note on %s",
		    hex);
	msg = git_note_message(note);
	rc = fg_json_parse(out, msg, strlen(msg), err);
	if (rc == 0 && !cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		rc = FG_EINVALID;
	}
	if (rc < 0)
		rc = fg_err_set(err, FG_EINVALID, "the note on %s in %s is not "
		    "a JSON object", hex, NOTES_REF);
	git_note_free(note);
	return rc;
}

int
fg_store_note_get(cJSON **out, struct fg_store *st, const git_oid *target,
    struct fg_err *err)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_commit *c = NULL;
	git_oid tip;
	bool have;
	int rc;

	*out = NULL;
	git_oid_tostr(hex, sizeof(hex), target);
	rc = read_tip(&tip, &have, st, NOTES_REF, err);
	if (rc < 0)
		return rc;
	if (!have)
		return fg_err_set(err, FG_ENOTFOUND, "no note on %s", hex);
	if (lookup_commit(&c, st, &tip) < 0)
		return fg_err_git(err, FG_EIO, "cannot read %s", NOTES_REF);
	rc = note_read(out, st, c, target, err);
	git_commit_free(c);
	if (rc == 0 && *out == NULL)
		return fg_err_set(err, FG_ENOTFOUND, "no note on %s", hex);
	return rc;
}

/* Remove the null members of object o, at every depth of objects. */
static void
drop_nulls(cJSON *o)
{
	cJSON *k, *next;

	for (k = o->child; k != NULL; k = next) {
		next = k->next;
		if (cJSON_IsNull(k))
			cJSON_Delete(cJSON_DetachItemViaPointer(o, k));
		else if (cJSON_IsObject(k))
			drop_nulls(k);
	}
}

/*
 * Apply keys to res in place, deep: a key whose value is an object and
 * whose current value is an object merges into it, recursively; any
 * other value replaces the current one; null removes the key.  So a
 * caller names only the entry it changes ({"deployments": {"prod":
 * {...}}}) and entries that other writers added meanwhile stay, since
 * this runs under the notes lock on the tip it read.
 */
static int
note_apply_into(cJSON *res, const cJSON *keys)
{
	const cJSON *k;
	cJSON *have, *dup;

	cJSON_ArrayForEach(k, keys) {
		if (k->string == NULL)
			continue;
		have = cJSON_GetObjectItemCaseSensitive(res, k->string);
		if (cJSON_IsObject(k) && cJSON_IsObject(have)) {
			if (note_apply_into(have, k) < 0)
				return FG_ENOMEM;
			continue;
		}
		if (cJSON_IsNull(k)) {
			cJSON_DeleteItemFromObjectCaseSensitive(res, k->string);
			continue;
		}
		dup = cJSON_Duplicate(k, 1);
		if (dup == NULL)
			return FG_ENOMEM;
		if (cJSON_IsObject(dup))
			drop_nulls(dup);
		/* In place: the note keeps its members' order. */
		if (have != NULL)
			cJSON_ReplaceItemViaPointer(res, have, dup);
		else
			cJSON_AddItemToObject(res, k->string, dup);
	}
	return 0;
}

/* cur with keys applied (see note_apply_into); a new tree, the caller's. */
static cJSON *
note_apply(const cJSON *cur, const cJSON *keys)
{
	cJSON *res;

	res = cur != NULL ? cJSON_Duplicate(cur, 1) : cJSON_CreateObject();
	if (res == NULL)
		return NULL;
	if (note_apply_into(res, keys) < 0) {
		cJSON_Delete(res);
		return NULL;
	}
	return res;
}

/* "notes: set a, b on 1a2b3c4" with its trailers. */
static int
note_message(struct fg_buf *out, const cJSON *keys, const git_oid *target)
{
	struct fg_buf list = FG_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	const cJSON *k;
	int rc = 0;

	git_oid_tostr(hex, sizeof(hex), target);
	cJSON_ArrayForEach(k, keys) {
		if (k->string == NULL)
			continue;
		if ((list.len > 0 && fg_buf_puts(&list, ", ") < 0) ||
		    fg_buf_puts(&list, k->string) < 0) {
			rc = FG_ENOMEM;
			goto out;
		}
	}
	if (fg_buf_puts(out, "notes: set ") < 0 ||
	    fg_record_escape_line(out, list.ptr, 120) < 0 ||
	    fg_buf_printf(out, " on %.7s\n\nFlowgate-Kind: note\n"
	    "Flowgate-Commit: %s\n", hex, hex) < 0)
		rc = FG_ENOMEM;
out:
	fg_buf_release(&list);
	return rc;
}

/* A note commit could not be made (maybe a pack moved): retried. */
#define NOTE_UNBUILT	(-1000)

int
fg_store_note_merge(struct fg_store *st, const git_oid *target,
    const cJSON *keys, const char *actor_name, const char *actor_email,
    struct fg_err *err)
{
	struct fg_record who;
	struct fg_buf msg = FG_BUF_INIT;
	git_signature *author = NULL, *committer = NULL;
	git_commit *parent = NULL, *made = NULL;
	struct reflock lk;
	cJSON *cur = NULL, *next = NULL;
	char *name = NULL, *email = NULL, *text = NULL;
	char hex[GIT_OID_HEXSZ + 1];
	git_oid tip, ncommit, commit;
	const git_oid *parents[1] = { &tip };
	int64_t deadline, t = fg_now();
	unsigned attempt, odd = 0;
	bool have;
	int rc, grc;

	memset(&who, 0, sizeof(who));
	memset(&lk, 0, sizeof(lk));
	git_oid_tostr(hex, sizeof(hex), target);
	if (!cJSON_IsObject(keys))
		return fg_err_set(err, FG_EINVALID, "note keys must be a JSON "
		    "object");
	if (!object_exists(st, target))
		return fg_err_set(err, FG_ENOTFOUND, "no object %s to annotate",
		    hex);
	/*
	 * libgit2 writes the note's objects, and syncs them only under its
	 * process-wide switch: turned on (for good) only here, by a store
	 * that must sync and writes notes (a hook), never by the inbox.
	 */
	if ((st->flags & FG_STORE_FSYNC) &&
	    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1) < 0)
		return fg_err_git(err, FG_EIO, "cannot turn fsync on");
	who.actor_name = actor_name;
	who.actor_email = actor_email;
	rc = fg_record_author(&name, &email, &who, err);
	if (rc < 0)
		return rc;
	if (git_signature_new(&author, name, email, (git_time_t)t, 0) < 0 ||
	    git_signature_new(&committer, FG_RECORD_COMMITTER,
	    FG_RECORD_COMMITTER_EMAIL, (git_time_t)t, 0) < 0) {
		rc = fg_err_git(err, FG_EINVALID, "bad actor");
		goto out;
	}
	if (note_message(&msg, keys, target) < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	deadline = mono_ms() + FG_STORE_RETRY_SECS * 1000;
	rc = reflock_take(&lk, st, NOTES_REF, err);
	if (rc < 0)
		goto out;
	for (attempt = 0;; attempt++) {
		git_commit_free(parent);
		parent = NULL;
		cJSON_Delete(cur);
		cJSON_Delete(next);
		cJSON_free(text);
		cur = next = NULL;
		text = NULL;
		rc = read_tip(&tip, &have, st, NOTES_REF, err);
		if (rc < 0)
			goto out;
		if (have && lookup_commit(&parent, st, &tip) < 0) {
			rc = fg_err_git(err, FG_EIO, "cannot read %s",
			    NOTES_REF);
			goto out;
		}
		if (parent != NULL) {
			rc = note_read(&cur, st, parent, target, err);
			if (rc < 0)
				goto out;
		}
		next = note_apply(cur, keys);
		if (next == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		if (cur != NULL && cJSON_Compare(cur, next, 1))
			break;
		text = cJSON_Print(next);
		if (text == NULL) {
			rc = fg_err_set(err, FG_ENOMEM, "out of memory");
			goto out;
		}
		/*
		 * libgit2 builds the notes tree (fan-out included) in a commit
		 * of its own; ours reuses the tree with a readable message.
		 */
		if (git_note_commit_create(&ncommit, NULL, st->repo, parent,
		    author, committer, target, text, 1) < 0 ||
		    lookup_commit(&made, st, &ncommit) < 0 ||
		    git_commit_create_from_ids(&commit, st->repo, NULL, author,
		    committer, NULL, msg.ptr, git_commit_tree_id(made),
		    have ? 1 : 0, parents) < 0) {
			grc = NOTE_UNBUILT;
		} else {
			marker_write(st, &lk, true);
			grc = ref_update(st, NOTES_REF, have ? &tip : NULL,
			    &commit, err);
			marker_write(st, &lk, false);
		}
		git_commit_free(made);
		made = NULL;
		if (grc == 0)
			break;
		if (grc == NOTE_UNBUILT && ++odd > ODD_FAILURES) {
			rc = fg_err_git(err, FG_EIO, "cannot write the note on "
			    "%s", hex);
			goto out;
		}
		if (grc != NOTE_UNBUILT && grc != GIT_EMODIFIED &&
		    grc != GIT_ELOCKED) {
			rc = grc;
			goto out;
		}
		rc = lost_race(st, &lk, NOTES_REF, grc, attempt, deadline,
		    err);
		if (rc < 0)
			goto out;
	}
out:
	reflock_drop(st, &lk);
	git_commit_free(parent);
	git_commit_free(made);
	git_signature_free(author);
	git_signature_free(committer);
	cJSON_Delete(cur);
	cJSON_Delete(next);
	cJSON_free(text);
	fg_buf_release(&msg);
	free(name);
	free(email);
	return rc;
}

/*
 * What (MAINT_*): pack loose objects when about threshold of them are not
 * in a pack yet (0: any) and delete them, with the packed copies single
 * appends left (PACKED_LOOSE_NAME); roll packs up (with MAINT_AUTO only
 * once they pile up, and none bigger than merge_max objects).  Skipped,
 * returning 0, when another process holds the maintenance lock.
 *
 * The new pack is synced before anything is deleted, whatever this
 * store's flags: the objects deleted may be another writer's that it
 * synced (the daemon's engine rolls up the inbox's packs), and a power
 * loss must not take them with an unsynced copy.
 */
static int
maintain(struct fg_store *st, unsigned what, size_t threshold,
    uint32_t merge_max, struct fg_err *err)
{
	struct fg_buf lk = FG_BUF_INIT, list = FG_BUF_INIT;
	size_t packed = 0, merged = 0;
	int fd = -1, rc = 0;

	if ((what & MAINT_LOOSE) && threshold > 0 &&
	    loose_unpacked(st) < threshold &&
	    fg_pack_loose_estimate(st->objdir) < PRUNE_MARGIN * threshold)
		what &= ~(unsigned)MAINT_LOOSE;
	if (!(what & (MAINT_LOOSE | MAINT_ROLLUP)))
		return 0;
	if (fg_buf_printf(&lk, "%s%s", st->gitdir, FLOCK_NAME) < 0 ||
	    fg_buf_printf(&list, "%s%s", st->gitdir, PACKED_LOOSE_NAME) < 0) {
		rc = fg_err_set(err, FG_ENOMEM, "out of memory");
		goto out;
	}
	fd = open(lk.ptr, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0) {
		rc = fg_err_set(err, FG_EIO, "cannot open '%s': %s", lk.ptr,
		    strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK)
			rc = fg_err_set(err, FG_EIO, "cannot lock '%s': %s",
			    lk.ptr, strerror(errno));
		goto out;
	}
	if (what & MAINT_LOOSE) {
		fg_pack_clean_tmp(st->objdir, TMP_MAX_AGE);
		rc = fg_pack_loose(&packed, st->objdir, true, err);
		if (rc < 0)
			goto out;
		/* Every loose copy is gone, packed ones included. */
		if (truncate(list.ptr, 0) < 0 && errno != ENOENT)
			fg_log_warn("store: cannot empty '%s'", list.ptr);
		st->stats.loose_packed += packed;
		if (packed > 0)
			st->stats.packs_written++;
	}
	if (((what & MAINT_ROLLUP) || packed > 0) && (!(what & MAINT_AUTO) ||
	    fg_pack_count(st->objdir) > PACKS_SOFT_MAX)) {
		rc = fg_pack_geometric(&merged, st->objdir, merge_max, true,
		    err);
		if (rc < 0)
			goto out;
		st->stats.packs_merged += merged;
		if (merged > 0) {
			st->stats.packs_written++;
			reopen_odb(st);
		}
	}
	if (packed > 0 || merged > 0)
		fg_log_debug("store: maintenance repo=%s loose_packed=%zu "
		    "packs_merged=%zu", st->gitdir, packed, merged);
out:
	if (fd >= 0)
		close(fd);
	fg_buf_release(&lk);
	fg_buf_release(&list);
	return rc;
}

int
fg_store_maintain(struct fg_store *st, size_t loose_threshold,
    struct fg_err *err)
{
	struct fg_err e = FG_ERR_INIT;

	/* What this store kept in memory is packed first, as one pack. */
	if (pending_pack(st, &e) < 0)
		fg_log_warnx("store: cannot pack in '%s': %s", st->gitdir,
		    e.msg);
	if (st->journal != NULL && fg_journal_trim(st->journal, &e) < 0)
		fg_log_warnx("store: %s", e.msg);
	return maintain(st, MAINT_LOOSE | MAINT_ROLLUP, loose_threshold, 0,
	    err);
}
