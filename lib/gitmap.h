/*
 * gitmap.h - let go of the pages of the pack indexes libgit2 has mapped.
 *
 * Why this exists.  libgit2 maps each pack's .idx whole, for as long as
 * any object database of the process has the pack open, and looking an
 * object up in it touches a page of every index it searches (a miss
 * searches them all).  A daemon that writes and reads thousands of
 * objects a second touches every page of every index within seconds:
 * its resident size grew by the size of all the repository's indexes, about
 * 28 bytes an object ever written (14 MB after 90,000 webhook deliveries).
 * The pages are the page cache's; only the process's mappings of them
 * count as its own.  fg_gitmap_trim() drops those mappings
 * (MADV_DONTNEED; the files stay mapped, and the next lookup faults back
 * in, from the page cache, the few pages it reads).
 *
 * How: the Makefile links the programs with --wrap=p_mmap and
 * --wrap=p_munmap when libgit2 is linked in (STATIC=1): the wrappers keep
 * the list of mapped indexes (read-only maps that begin with an index's
 * magic number).  With libgit2 shared, those calls cannot be reached and
 * fg_gitmap_trim() does nothing.  Linked into the programs, not into
 * lib/libflowgate.a, as nocerts.c is.
 *
 * Thread-safety: any thread may call it, while others use libgit2.
 */
#ifndef FG_GITMAP_H
#define FG_GITMAP_H

#include <stddef.h>

/* Drop the process's mappings of index pages; how many indexes. */
size_t fg_gitmap_trim(void);

#endif
