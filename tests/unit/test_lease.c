/*
 * test_lease.c - sandbox pools on a real repository: leasing in config
 * order, a full pool queues and hands the next freed environment to the
 * head of its queue, renewals and expiry, concurrent leasers in threads
 * with their own stores never sharing an environment, the reset command
 * and its activity record, bad input, and leases.json against its schema.
 */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <git2.h>

#include "buf.h"
#include "config.h"
#include "lease.h"
#include "log.h"
#include "schema.h"
#include "store.h"
#include "util.h"
#include "unit.h"

#define T0	1800000000	/* 2027-01-15T08:00:00Z */

static char repo_path[PATH_MAX], out_dir[PATH_MAX];
static struct fg_config *cfg;
static struct fg_store *st;

static struct fg_config *
parse(const char *yaml)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_config *c = NULL;

	if (fg_config_parse(&c, yaml, strlen(yaml), "pipeline.yaml", NULL, 0,
	    NULL, &d) < 0 && d.n > 0)
		fprintf(stderr, "%s\n", d.lines[0]);
	fg_diags_release(&d);
	return c;
}

static void
setup(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf y = FG_BUF_INIT;

	if (st != NULL)
		return;
	fg_log_set_level(FG_LOG_WARN);
	snprintf(repo_path, sizeof(repo_path), "%s/repo.git",
	    fg_unit_tmpdir());
	snprintf(out_dir, sizeof(out_dir), "%s/out", fg_unit_tmpdir());
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("set -e; mkdir -p '%s';"
	    "git init -q --bare '%s'", out_dir, repo_path), 0);
	CU_ASSERT_EQUAL_FATAL(fg_buf_printf(&y,
	    "version: 1\n"
	    "template: release\n"
	    "stages:\n"
	    "  integration: {branch: develop, environments: [qa]}\n"
	    "  staging: {branch: staging, environments: [uat]}\n"
	    "  production: {branch: main, environments: [prod]}\n"
	    "  developer: {pool: sandboxes}\n"
	    "environments:\n"
	    "  qa: {deploy: {command: ['true']}}\n"
	    "  uat: {deploy: {command: ['true']}}\n"
	    "  prod: {deploy: {command: ['true']}}\n"
	    "pools:\n"
	    "  sandboxes: {environments: [sb-1, sb-2], lease_minutes: 60,\n"
	    "    reset: [sh, -c, 'env | grep ^FLOWGATE_ | sort > %s/reset;"
	    " pwd > %s/pwd; echo wiped $FLOWGATE_ENV']}\n"
	    "  big: {environments: [b-1, b-2, b-3]}\n"
	    "  broken: {environments: [x-1], reset: [sh, -c, 'echo no; "
	    "exit 4']}\n"
	    "  solo: {environments: [s-1]}\n", out_dir, out_dir), 0);
	cfg = parse(y.ptr);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
	CU_ASSERT_EQUAL_FATAL(fg_store_open(&st, repo_path, 0, &err), 0);
	fg_buf_release(&y);
}

static int
count_commits(const char *ref)
{
	char path[PATH_MAX + 64];
	struct fg_buf b = FG_BUF_INIT;
	long long n = 0;

	snprintf(path, sizeof(path), "%s/count", fg_unit_tmpdir());
	if (fg_unit_sh("git -C '%s' rev-list --count %s > '%s' 2>/dev/null",
	    repo_path, ref, path) != 0)
		return 0;
	fg_read_file(&b, path, 100, NULL);
	if (b.len > 0 && b.ptr[b.len - 1] == '\n')
		b.ptr[--b.len] = '\0';
	fg_parse_int(&n, b.ptr, 0, 1000000, NULL);
	fg_buf_release(&b);
	return (int)n;
}

/* leases.json at the pool's tip, checked against its schema. */
static cJSON *
tip_json(const char *pool)
{
	struct fg_diags d = FG_DIAGS_INIT;
	struct fg_buf b = FG_BUF_INIT;
	cJSON *schema = NULL, *inst = NULL;
	char ref[256];

	snprintf(ref, sizeof(ref), FG_LEASE_REF_PREFIX "%s", pool);
	CU_ASSERT_EQUAL_FATAL(fg_store_read_file(&b, st, ref, FG_LEASE_FILE,
	    NULL), 0);
	CU_ASSERT_EQUAL_FATAL(fg_schema_load(&schema, "leases.schema.json",
	    NULL), 0);
	CU_ASSERT_EQUAL_FATAL(fg_json_parse(&inst, b.ptr, b.len, NULL), 0);
	CU_ASSERT_EQUAL(fg_schema_validate(schema, inst, NULL, "leases.json",
	    &d), 0);
	if (d.n > 0)
		fprintf(stderr, "%s\n", d.lines[0]);
	fg_diags_release(&d);
	cJSON_Delete(schema);
	fg_buf_release(&b);
	return inst;
}

static void
test_lease_gives_free_environments_in_config_order(void)
{
	struct fg_lease_result r;
	struct fg_err err = FG_ERR_INIT;
	cJSON *j;

	setup();
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "big", "pull/1",
	    "alice", T0, &err), 0);
	CU_ASSERT_EQUAL(r.outcome, FG_LEASE_LEASED);
	CU_ASSERT_STRING_EQUAL(r.env, "b-1");
	CU_ASSERT_EQUAL(r.expires, T0 + 1440 * 60);
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "big", "pull/2",
	    "bob", T0, &err), 0);
	CU_ASSERT_STRING_EQUAL(r.env, "b-2");
	CU_ASSERT_EQUAL(count_commits("refs/flowgate/pools/big"), 2);
	/* Asking again changes nothing and writes nothing. */
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "big", "pull/1",
	    "alice", T0 + 5, &err), 0);
	CU_ASSERT_EQUAL(r.outcome, FG_LEASE_HELD);
	CU_ASSERT_STRING_EQUAL(r.env, "b-1");
	CU_ASSERT_EQUAL(r.expires, T0 + 1440 * 60);
	CU_ASSERT_EQUAL(count_commits("refs/flowgate/pools/big"), 2);
	j = tip_json("big");
	CU_ASSERT_EQUAL(cJSON_GetArraySize(cJSON_GetObjectItem(j, "leases")),
	    2);
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(j, "leases"), 0),
	    "since")), "2027-01-15T08:00:00Z");
	cJSON_Delete(j);
	/* The commit reads well in git log, authored by the actor. */
	CU_ASSERT_EQUAL(fg_unit_sh("git -C '%s' log -1 --format='%%s|%%an' "
	    "refs/flowgate/pools/big | grep -qx 'pool big: b-2 leased to "
	    "pull/2|bob' && git -C '%s' log -1 --format=%%B "
	    "refs/flowgate/pools/big | grep -qx 'Flowgate-Kind: pool.lease'",
	    repo_path, repo_path), 0);
}

static void
test_lease_full_pool_queues_and_release_hands_over(void)
{
	struct fg_lease_result r;
	struct fg_lease_release rel;
	struct fg_err err = FG_ERR_INIT;
	struct fg_pool_state s;

	setup();
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "sandboxes", "pull/10",
	    "alice", T0, &err), 0);
	CU_ASSERT_STRING_EQUAL(r.env, "sb-1");
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "sandboxes", "pull/11",
	    "bob", T0, &err), 0);
	CU_ASSERT_STRING_EQUAL(r.env, "sb-2");
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "sandboxes", "pull/12",
	    "carol", T0 + 10, &err), 0);
	CU_ASSERT_EQUAL(r.outcome, FG_LEASE_QUEUED);
	CU_ASSERT_EQUAL(r.position, 1);
	CU_ASSERT_STRING_EQUAL(r.env, "");
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "sandboxes", "pull/13",
	    "dave", T0 + 20, &err), 0);
	CU_ASSERT_EQUAL(r.outcome, FG_LEASE_QUEUED);
	CU_ASSERT_EQUAL(r.position, 2);
	/* Asking again keeps the place in line. */
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "sandboxes", "pull/12",
	    "carol", T0 + 30, &err), 0);
	CU_ASSERT_EQUAL(r.position, 1);
	CU_ASSERT_EQUAL(fg_lease_lookup(&r, st, cfg, "sandboxes", "pull/13",
	    &err), 0);
	CU_ASSERT_EQUAL(r.outcome, FG_LEASE_QUEUED);
	CU_ASSERT_EQUAL(r.position, 2);

	/* Releasing sb-1 gives it to pull/12 in the same commit. */
	CU_ASSERT_EQUAL(fg_lease_release(&rel, st, cfg, "sandboxes",
	    "pull/10", "alice", T0 + 100, &err), 0);
	CU_ASSERT_STRING_EQUAL(rel.env, "sb-1");
	CU_ASSERT_STRING_EQUAL(rel.holder, "pull/10");
	CU_ASSERT_TRUE(rel.reset);
	CU_ASSERT_STRING_EQUAL(rel.next_holder, "pull/12");
	CU_ASSERT_STRING_EQUAL(rel.next_actor, "carol");
	CU_ASSERT_EQUAL(rel.next_expires, T0 + 100 + 60 * 60);
	CU_ASSERT_EQUAL(fg_lease_lookup(&r, st, cfg, "sandboxes", "pull/12",
	    &err), 0);
	CU_ASSERT_EQUAL(r.outcome, FG_LEASE_HELD);
	CU_ASSERT_STRING_EQUAL(r.env, "sb-1");
	CU_ASSERT_EQUAL(fg_lease_lookup(&r, st, cfg, "sandboxes", "pull/13",
	    &err), 0);
	CU_ASSERT_EQUAL(r.position, 1);
	CU_ASSERT_EQUAL(fg_lease_lookup(&r, st, cfg, "sandboxes", "pull/10",
	    &err), FG_ENOTFOUND);

	/* A waiter that gives up leaves the line; nothing is freed. */
	CU_ASSERT_EQUAL(fg_lease_release(&rel, st, cfg, "sandboxes",
	    "pull/13", "dave", T0 + 110, &err), 0);
	CU_ASSERT_STRING_EQUAL(rel.env, "");
	CU_ASSERT_STRING_EQUAL(rel.next_holder, "");
	CU_ASSERT_EQUAL(fg_lease_release(&rel, st, cfg, "sandboxes",
	    "pull/13", "dave", T0 + 120, &err), FG_ENOTFOUND);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "'pull/13' holds no"));

	/* With nobody waiting, a release frees the environment. */
	CU_ASSERT_EQUAL(fg_lease_release(&rel, st, cfg, "sandboxes",
	    "pull/11", "bob", T0 + 130, &err), 0);
	CU_ASSERT_STRING_EQUAL(rel.env, "sb-2");
	CU_ASSERT_STRING_EQUAL(rel.next_holder, "");
	CU_ASSERT_EQUAL(fg_lease_state(&s, st, cfg, "sandboxes", &err), 0);
	CU_ASSERT_EQUAL(s.nleases, 1);
	CU_ASSERT_STRING_EQUAL(s.leases[0].holder, "pull/12");
	CU_ASSERT_EQUAL(s.nqueue, 0);
	CU_ASSERT_EQUAL(s.nfree, 1);
	CU_ASSERT_STRING_EQUAL(s.free_envs[0], "sb-2");
	fg_pool_state_release(&s);
	CU_ASSERT_EQUAL(fg_lease_release(NULL, st, cfg, "sandboxes",
	    "pull/12", "carol", T0 + 140, &err), 0);
	cJSON_Delete(tip_json("sandboxes"));
}

static void
test_lease_expires_after_its_time_and_renew_extends(void)
{
	struct fg_lease_result r;
	struct fg_lease_release *v = NULL;
	struct fg_lease l;
	struct fg_err err = FG_ERR_INIT;
	size_t i, n = 99;

	setup();
	/* solo: one environment, default lease time (1440 minutes). */
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "solo", "pull/20",
	    "alice", T0, &err), 0);
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "solo", "pull/21",
	    "bob", T0 + 60, &err), 0);
	CU_ASSERT_EQUAL(r.outcome, FG_LEASE_QUEUED);
	/* A renewal a day later moves the expiry a day on. */
	CU_ASSERT_EQUAL(fg_lease_renew(&l, st, cfg, "solo", "pull/20",
	    "alice", T0 + 86000, &err), 0);
	CU_ASSERT_EQUAL(l.expires, T0 + 86000 + 86400);
	CU_ASSERT_EQUAL(fg_lease_renew(&l, st, cfg, "solo", "pull/21",
	    "bob", T0 + 86000, &err), FG_ENOTFOUND);
	/*
	 * Not yet expired at the old expiry (big's leases from the first
	 * test, taken at T0 for a day, are).
	 */
	CU_ASSERT_EQUAL(fg_lease_expire(&v, &n, st, cfg, T0 + 86400, &err),
	    0);
	for (i = 0; i < n; i++)
		CU_ASSERT_STRING_NOT_EQUAL(v[i].pool, "solo");
	free(v);
	v = NULL;
	/* ...expired at the new one, and handed to the waiter. */
	CU_ASSERT_EQUAL(fg_lease_expire(&v, &n, st, cfg, T0 + 86000 + 86400,
	    &err), 0);
	CU_ASSERT_EQUAL_FATAL(n, 1);
	CU_ASSERT_STRING_EQUAL(v[0].pool, "solo");
	CU_ASSERT_STRING_EQUAL(v[0].env, "s-1");
	CU_ASSERT_STRING_EQUAL(v[0].holder, "pull/20");
	CU_ASSERT_STRING_EQUAL(v[0].next_holder, "pull/21");
	CU_ASSERT_FALSE(v[0].reset);
	free(v);
	v = NULL;
	CU_ASSERT_EQUAL(fg_lease_lookup(&r, st, cfg, "solo", "pull/21",
	    &err), 0);
	CU_ASSERT_STRING_EQUAL(r.env, "s-1");
	CU_ASSERT_EQUAL(fg_unit_sh("git -C '%s' log -2 --format=%%s "
	    "refs/flowgate/pools/solo | head -1 | grep -qx 'pool solo: s-1 "
	    "expired by pull/20, leased to pull/21'", repo_path), 0);
	/* pull/21's lease runs from the hand-over; expire everything. */
	CU_ASSERT_EQUAL(fg_lease_expire(&v, &n, st, cfg, T0 + 10000000,
	    &err), 0);
	CU_ASSERT_TRUE(n >= 1);
	free(v);
	CU_ASSERT_EQUAL(fg_lease_lookup(&r, st, cfg, "solo", "pull/21",
	    &err), FG_ENOTFOUND);
}

struct racer {
	int i;
	int rc;
	struct fg_lease_result r;
	struct fg_err err;
};

static void *
race(void *arg)
{
	struct racer *rc = arg;
	struct fg_store *s = NULL;
	char holder[32];

	snprintf(holder, sizeof(holder), "race/%d", rc->i);
	rc->rc = fg_store_open(&s, repo_path, 0, &rc->err);
	if (rc->rc == 0)
		rc->rc = fg_lease_acquire(&rc->r, s, cfg, "big", holder,
		    "racer", T0, &rc->err);
	fg_store_free(s);
	return NULL;
}

static void
test_lease_concurrent_leasers_never_share_an_environment(void)
{
	struct racer rs[8];
	pthread_t th[8];
	struct fg_pool_state s;
	struct fg_err err = FG_ERR_INIT;
	int i, j, leased = 0, queued = 0;

	setup();
	/* The expiry test released big's leases: all three are free. */
	CU_ASSERT_EQUAL(fg_lease_state(&s, st, cfg, "big", &err), 0);
	CU_ASSERT_EQUAL_FATAL(s.nfree, 3);
	fg_pool_state_release(&s);
	for (i = 0; i < 8; i++) {
		memset(&rs[i], 0, sizeof(rs[i]));
		rs[i].i = i;
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, race,
		    &rs[i]), 0);
	}
	for (i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < 8; i++) {
		CU_ASSERT_EQUAL(rs[i].rc, 0);
		if (rs[i].rc != 0)
			fprintf(stderr, "racer %d: %s\n", i, rs[i].err.msg);
		if (rs[i].r.outcome == FG_LEASE_LEASED)
			leased++;
		else if (rs[i].r.outcome == FG_LEASE_QUEUED)
			queued++;
		for (j = 0; j < i; j++)
			if (rs[i].r.outcome == FG_LEASE_LEASED &&
			    rs[j].r.outcome == FG_LEASE_LEASED)
				CU_ASSERT_STRING_NOT_EQUAL(rs[i].r.env,
				    rs[j].r.env);
	}
	CU_ASSERT_EQUAL(leased, 3);
	CU_ASSERT_EQUAL(queued, 5);
	CU_ASSERT_EQUAL(fg_lease_state(&s, st, cfg, "big", &err), 0);
	CU_ASSERT_EQUAL(s.nleases, 3);
	CU_ASSERT_EQUAL(s.nqueue, 5);
	CU_ASSERT_EQUAL(s.nfree, 0);
	/* Queue positions were handed out once each. */
	for (i = 0; i < 8; i++)
		for (j = 0; j < i; j++)
			if (rs[i].r.outcome == FG_LEASE_QUEUED &&
			    rs[j].r.outcome == FG_LEASE_QUEUED)
				CU_ASSERT_NOT_EQUAL(rs[i].r.position,
				    rs[j].r.position);
	fg_pool_state_release(&s);
	/* 4 earlier commits (2 leases, 2 expiries), then one per racer. */
	CU_ASSERT_EQUAL(count_commits("refs/flowgate/pools/big"), 4 + 8);
}

static void
test_lease_reset_runs_with_facts_and_is_recorded(void)
{
	struct fg_err err = FG_ERR_INIT;
	struct fg_buf b = FG_BUF_INIT;
	char path[PATH_MAX + 64];
	bool ok = false;

	setup();
	CU_ASSERT_EQUAL(fg_lease_reset(&ok, st, cfg, "sandboxes", "sb-1",
	    "pull/10", "alice", &err), 0);
	CU_ASSERT_TRUE(ok);
	snprintf(path, sizeof(path), "%s/reset", out_dir);
	CU_ASSERT_EQUAL_FATAL(fg_read_file(&b, path, 4096, NULL), 0);
	CU_ASSERT_STRING_EQUAL(b.ptr, "FLOWGATE_ACTOR=alice\n"
	    "FLOWGATE_ENV=sb-1\nFLOWGATE_HOLDER=pull/10\n"
	    "FLOWGATE_POOL=sandboxes\n");
	fg_buf_release(&b);
	CU_ASSERT_EQUAL(fg_unit_sh("git -C '%s' log -1 --format=%%s "
	    "refs/flowgate/activity | grep -qx 'pool sandboxes: reset sb-1 "
	    "after pull/10 succeeded' && git -C '%s' show "
	    "refs/flowgate/activity:log | grep -qx 'wiped sb-1'",
	    repo_path, repo_path), 0);
	/* A failing reset is recorded as failed, with its reason. */
	CU_ASSERT_EQUAL(fg_lease_reset(&ok, st, cfg, "broken", "x-1",
	    "pull/5", NULL, &err), 0);
	CU_ASSERT_FALSE(ok);
	CU_ASSERT_STRING_EQUAL(err.msg, "exit 4");
	CU_ASSERT_EQUAL(fg_unit_sh("git -C '%s' log -1 --format=%%B "
	    "refs/flowgate/activity | grep -qx 'Flowgate-Status: failed'",
	    repo_path), 0);
	/* No reset command: nothing runs, nothing is recorded. */
	CU_ASSERT_EQUAL(fg_lease_reset(&ok, st, cfg, "solo", "s-1", "pull/5",
	    NULL, &err), 0);
	CU_ASSERT_TRUE(ok);
	CU_ASSERT_EQUAL(fg_unit_sh("git -C '%s' log -1 --format=%%s "
	    "refs/flowgate/activity | grep -q 'x-1'", repo_path), 0);
}

static void
test_lease_refuses_bad_input_and_writes_nothing(void)
{
	struct fg_lease_result r;
	struct fg_err err = FG_ERR_INIT;
	int before;

	setup();
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "nope", "pull/1", NULL,
	    T0, &err), FG_ENOTFOUND);
	CU_ASSERT_STRING_EQUAL(err.msg, "no pool 'nope' in the config");
	before = count_commits("refs/flowgate/pools/solo");
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "solo", "../x", NULL,
	    T0, &err), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "solo", "pull 1", NULL,
	    T0, &err), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "solo", "", NULL,
	    T0, &err), FG_EINVALID);
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "solo", "a\nb", NULL,
	    T0, &err), FG_EINVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "bad holder"));
	CU_ASSERT_PTR_NULL(strchr(err.msg, '\n'));
	CU_ASSERT_EQUAL(count_commits("refs/flowgate/pools/solo"), before);
	CU_ASSERT_TRUE(fg_lease_holder_is_valid("pull/42"));
	CU_ASSERT_TRUE(fg_lease_holder_is_valid("gitlab:mr/7"));
	CU_ASSERT_FALSE(fg_lease_holder_is_valid("/pull"));
}

static void
test_lease_refuses_a_corrupt_state(void)
{
	struct fg_lease_result r;
	struct fg_err err = FG_ERR_INIT;

	setup();
	/* Someone forced a leases.json that breaks the schema. */
	CU_ASSERT_EQUAL_FATAL(fg_unit_sh("set -e; cd '%s';"
	    "b=$(printf '{\"version\":1,\"pool\":\"broken\",\"leases\":"
	    "[{\"env\":\"x-1\"}],\"queue\":[]}' | git hash-object -w --stdin);"
	    "t=$(printf '100644 blob %%s\\tleases.json\\n' $b | git mktree);"
	    "c=$(git commit-tree -m bad $t);"
	    "git update-ref refs/flowgate/pools/broken $c", repo_path), 0);
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "broken", "pull/1",
	    NULL, T0, &err), FG_EINVALID);
	CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "leases.json"));
	CU_ASSERT_EQUAL(count_commits("refs/flowgate/pools/broken"), 1);
}

static void
test_lease_state_json_lists_every_pool(void)
{
	struct fg_lease_result r;
	struct fg_err err = FG_ERR_INIT;
	cJSON *a = NULL, *p;

	setup();
	CU_ASSERT_EQUAL(fg_lease_acquire(&r, st, cfg, "sandboxes", "pull/77",
	    "erin", T0, &err), 0);
	CU_ASSERT_EQUAL_FATAL(fg_lease_list_json(&a, st, cfg, &err), 0);
	CU_ASSERT_EQUAL(cJSON_GetArraySize(a), 4);
	p = cJSON_GetArrayItem(a, 0);
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(p,
	    "pool")), "sandboxes");
	CU_ASSERT_EQUAL(cJSON_GetObjectItem(p, "lease_minutes")->valueint,
	    60);
	CU_ASSERT_TRUE(cJSON_IsTrue(cJSON_GetObjectItem(p, "reset")));
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(
	    cJSON_GetArrayItem(cJSON_GetObjectItem(p, "leases"), 0),
	    "holder")), "pull/77");
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetArrayItem(
	    cJSON_GetObjectItem(p, "free"), 0)), "sb-2");
	/* The corrupt pool shows its error; the others are still listed. */
	p = cJSON_GetArrayItem(a, 2);
	CU_ASSERT_STRING_EQUAL(cJSON_GetStringValue(cJSON_GetObjectItem(p,
	    "pool")), "broken");
	CU_ASSERT_PTR_NOT_NULL(strstr(cJSON_GetStringValue(
	    cJSON_GetObjectItem(p, "error")), "leases.json"));
	cJSON_Delete(a);
}

static CU_TestInfo tests[] = {
	{ "leases free environments in config order",
	    test_lease_gives_free_environments_in_config_order },
	{ "a full pool queues; release hands over to the queue's head",
	    test_lease_full_pool_queues_and_release_hands_over },
	{ "leases expire after their time; renew extends",
	    test_lease_expires_after_its_time_and_renew_extends },
	{ "concurrent leasers never share an environment",
	    test_lease_concurrent_leasers_never_share_an_environment },
	{ "the reset command runs with the facts and is recorded",
	    test_lease_reset_runs_with_facts_and_is_recorded },
	{ "bad input is refused and writes nothing",
	    test_lease_refuses_bad_input_and_writes_nothing },
	{ "a corrupt leases.json is refused",
	    test_lease_refuses_a_corrupt_state },
	{ "the state as JSON lists every pool",
	    test_lease_state_json_lists_every_pool },
	CU_TEST_INFO_NULL
};

FG_UNIT_MAIN("lease", tests)
