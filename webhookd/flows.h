/*
 * flows.h - the daemon's flow executor and scheduler (issue 7).
 *
 * The engine queues runs (lib/flowexec, on its worker thread) and says so
 * with whd_flows_notify(); a dispatcher thread then looks at that
 * repository's pending runs and starts an executor thread per run, up to
 * WHD_FLOWS_MAX at once, so a long step never holds up the event loop or
 * the engine.  Once a minute (and at start) the dispatcher queues the
 * schedule flows that are due in every repository it knows.  At start,
 * each repository the workers scan is notified, so runs a crash or a
 * restart cut off are resumed.
 *
 * Promotion and deployment flows react to records on the activity log.
 * The daemon's own promotions and deployments (the engine's, the API's,
 * and a flow's promote, deploy, pool and merge steps) mark their
 * repository at once, so those flows start without waiting; every
 * WHD_FLOWS_SCAN_SECS the dispatcher also looks at every repository's
 * activity, the fallback for records written outside the daemon (the
 * CLI).
 *
 * On each minute's tick, a repository whose pools hold a lease past its
 * time gets an executor thread that expires it (lib/flowexec:
 * fg_flowexec_expire): the pool's reset command runs on the freed
 * environment and the next pull request in line is deployed there.
 *
 * HTTP: every run's http, slack and jira steps share one lib/httpc client
 * (curl multi on a libevent loop of its own), started by the first run
 * (libcurl and the TLS libraries it loads are about 6 MB of resident
 * memory a daemon running no flow never needs) and stopped after the
 * last run.
 *
 * Thread-safety: every function may be called from any thread.  State is
 * one static executor per process (the daemon has one).
 */
#ifndef FG_WHD_FLOWS_H
#define FG_WHD_FLOWS_H

#include "err.h"

/* Runs executed at the same time, over all repositories. */
#define WHD_FLOWS_MAX 16

/* How often new activity (promotions, deployments) is looked for. */
#define WHD_FLOWS_SCAN_SECS 2

struct whd_workers;

/*
 * Start the dispatcher.  workers is told about a repository whose inbox
 * has a backlog nobody announced (a manual run the CLI queued), which
 * the dispatcher notices within WHD_FLOWS_SCAN_SECS.
 */
int whd_flows_start(struct whd_workers *workers, struct fg_err *err);

/* repo ("owner/name") at path may have new pending or due runs. */
void whd_flows_notify(const char *repo, const char *path);

/*
 * Stop: no new steps start; steps running finish and are recorded; their
 * runs stay "running" on record and resume at the next start.  Joins
 * every thread.
 */
void whd_flows_stop(void);

#endif
