// pm_queue next to the Node queues PenguinMails' services would otherwise use, run by
// tests/bench/queue_node.sh (which starts the cluster and installs the packages).
//
// Every system moves the same jobs ({"email_id": n}) through its own API, `workers`
// concurrent loops, each loop: enqueue `batch` jobs, fetch them, complete them.
//   pm_queue      node-postgres (named prepared statements) calling pm_queue.enqueue / claim /
//                 complete (batch 1) or enqueue_many / claim(.., n) / complete_many
//   pm_queue+rl   the same, every job with rate_key 'mailbox:<one of 1000>' and a
//                 pm_queue.rate_limits budget per mailbox (consulted and consumed per claim,
//                 never exhausted): neither Node queue has per-key send limits
//   pg-boss       boss.send / boss.insert, boss.fetch(name, { batchSize }), boss.complete(name, ids)
//   graphile      workerUtils.addJob / addJobs; a runner (concurrency = workers) whose task
//                 handler acknowledges the job; each loop waits for its jobs' handlers (the
//                 runner fetches and completes them itself; batch 100 turns on its
//                 localQueue of that size, its documented batching)
// A job counts when its completion returned (graphile: when its handler ran; its
// completion query follows, so graphile is counted slightly early).  Each system gets a
// pool of workers + 2 connections, opened and closed around each run, so the server CPU
// of the run is what its backends used (read from the postmaster's children times).

import { readFileSync } from 'node:fs';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { run as runGraphile, makeWorkerUtils } from 'graphile-worker';

const opt = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const i = a.indexOf('=');
    return [a.slice(2, i), a.slice(i + 1)];
  }),
);
const conn = opt.conn;
const rounds = Number(opt.rounds ?? 3);
const seconds = Number(opt.seconds ?? 5);
const workerCounts = (opt.workers ?? '1,4,16').split(',').map(Number);
const batches = (opt.batches ?? '1,100').split(',').map(Number);
const postmasterPid = opt.postmaster;
const systems = (opt.systems ?? 'pm_queue,pm_queue+rl,pg-boss,graphile').split(',');
const tenant = 'b0000000-0000-0000-0000-000000000001';
const mailboxes = Array.from({ length: 1000 }, (_, i) => `mailbox:${uuidOf(i + 1)}`);
const silentLogger = { scope: () => silentLogger, error() {}, warn() {}, info() {}, debug() {} };

function uuidOf(n) {
  return `c0000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
}

function childTicks() {
  if (!postmasterPid) return 0;
  const fields = readFileSync(`/proc/${postmasterPid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[13]) + Number(fields[14]); // cutime + cstime (fields 16 and 17)
}

// Each statement its own query (VACUUM cannot run in a multi-statement one).
async function admin(...statements) {
  const c = new pg.Client({ connectionString: conn });
  await c.connect();
  try {
    for (const sql of statements) await c.query(sql);
  } finally {
    await c.end();
  }
}

async function setup() {
  await admin(`
    SET client_min_messages = warning;
    CREATE EXTENSION IF NOT EXISTS pm_queue CASCADE;
    INSERT INTO pm_queue.job_queues (name, timeout_seconds) VALUES ('bench', 60), ('bench_rl', 60)
        ON CONFLICT DO NOTHING;
    INSERT INTO pm_queue.rate_limits (key, max_per_window, window_len)
    SELECT 'mailbox:' || ('c0000000-0000-4000-8000-' || lpad(to_hex(g), 12, '0')), 1000000000, interval '1 day'
      FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING;`);
  const boss = new PgBoss({ connectionString: conn, max: 2, schedule: false, supervise: false });
  boss.on('error', (e) => console.error('pg-boss:', e.message));
  await boss.start();
  if (!(await boss.getQueue('bench'))) await boss.createQueue('bench');
  await boss.stop({ graceful: false, wait: true });
  const utils = await makeWorkerUtils({ connectionString: conn, logger: silentLogger });
  await utils.migrate();
  await utils.release();
}

async function reset(system) {
  if (system.startsWith('pm_queue'))
    await admin('TRUNCATE pm_queue.jobs, pm_queue.job_logs, pm_queue.rate_windows',
      'VACUUM ANALYZE pm_queue.jobs, pm_queue.rate_windows');
  else if (system === 'pg-boss') await admin('TRUNCATE pgboss.job, pgboss.archive', 'VACUUM ANALYZE pgboss.job');
  else
    await admin('TRUNCATE graphile_worker._private_jobs, graphile_worker._private_job_queues CASCADE',
      'VACUUM ANALYZE graphile_worker._private_jobs');
}

const payloads = (batch, base) => Array.from({ length: batch }, (_, i) => ({ email_id: base + i }));

// Runs `workers` loops of `step` until the deadline; returns jobs completed.
async function loops(workers, step) {
  const deadline = Date.now() + seconds * 1000;
  const counts = await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      let done = 0;
      for (let i = 0; Date.now() < deadline; i++) done += await step(w, i);
      return done;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

async function runPmQueue(workers, batch, limited) {
  const pool = new pg.Pool({ connectionString: conn, max: workers + 2 });
  const clients = await Promise.all(Array.from({ length: workers }, () => pool.connect()));
  const queue = limited ? 'bench_rl' : 'bench';
  try {
    return await loops(workers, async (w, i) => {
      const c = clients[w];
      const worker = `node-${w}`;
      const key = (k) => (limited ? mailboxes[(w * 7919 + i * batch + k) % 1000] : null);
      if (batch === 1) {
        await c.query({
          name: 'pmq_enqueue',
          text: 'SELECT pm_queue.enqueue($1, $2, tenant_id => $3, rate_key => $4)',
          values: [queue, payloads(1, i)[0], tenant, key(0)],
        });
        const got = await c.query({
          name: 'pmq_claim',
          text: 'SELECT id, payload FROM pm_queue.claim(ARRAY[$1], $2, 1)',
          values: [queue, worker],
        });
        if (got.rows.length === 0) return 0;
        await c.query({ name: 'pmq_complete', text: 'SELECT pm_queue.complete($1, $2)', values: [got.rows[0].id, worker] });
        return 1;
      }
      await c.query({
        name: 'pmq_enqueue_many',
        text: 'SELECT count(*) FROM pm_queue.enqueue_many($1, $2::jsonb[], tenant_id => $3, rate_keys => $4::text[])',
        values: [queue, payloads(batch, i * batch).map((p) => JSON.stringify(p)), tenant,
          limited ? Array.from({ length: batch }, (_, k) => key(k)) : null],
      });
      const got = await c.query({
        name: 'pmq_claim_many',
        text: 'SELECT id, payload FROM pm_queue.claim(ARRAY[$1], $2, $3)',
        values: [queue, worker, batch],
      });
      if (got.rows.length === 0) return 0;
      const done = await c.query({
        name: 'pmq_complete_many',
        text: 'SELECT count(*)::int AS n FROM pm_queue.complete_many($1::uuid[], $2)',
        values: [got.rows.map((r) => r.id), worker],
      });
      return done.rows[0].n;
    });
  } finally {
    clients.forEach((c) => c.release());
    await pool.end();
  }
}

async function runPgBoss(workers, batch) {
  const boss = new PgBoss({ connectionString: conn, max: workers + 2, schedule: false, supervise: false, migrate: false });
  boss.on('error', (e) => console.error('pg-boss:', e.message));
  await boss.start();
  try {
    return await loops(workers, async (w, i) => {
      if (batch === 1) await boss.send('bench', payloads(1, i)[0]);
      else await boss.insert(payloads(batch, i * batch).map((data) => ({ name: 'bench', data })));
      const jobs = await boss.fetch('bench', { batchSize: batch });
      if (jobs.length === 0) return 0;
      await boss.complete('bench', jobs.map((j) => j.id));
      return jobs.length;
    });
  } finally {
    await boss.stop({ graceful: false, wait: true, close: true });
  }
}

async function runGraphileWorker(workers, batch) {
  const waiting = new Map(); // job key -> resolve
  let seq = 0;
  const preset = batch > 1 ? { worker: { localQueue: { size: batch } } } : undefined;
  const runner = await runGraphile({
    connectionString: conn,
    concurrency: workers,
    maxPoolSize: workers + 2,
    noHandleSignals: true,
    pollInterval: 1000,
    logger: silentLogger,
    ...(preset ? { preset } : {}),
    taskList: {
      bench: async (payload) => {
        const resolve = waiting.get(payload.k);
        waiting.delete(payload.k);
        if (resolve) resolve();
      },
    },
  });
  const utils = await makeWorkerUtils({ connectionString: conn, logger: silentLogger });
  try {
    return await loops(workers, async (w, i) => {
      const specs = payloads(batch, i * batch).map((p) => ({ ...p, k: seq++ }));
      const done = specs.map((p) => new Promise((resolve) => waiting.set(p.k, resolve)));
      if (batch === 1) await utils.addJob('bench', specs[0]);
      else await utils.addJobs(specs.map((payload) => ({ identifier: 'bench', payload })));
      await Promise.all(done);
      return batch;
    });
  } finally {
    await utils.release();
    await runner.stop();
  }
}

async function measure(system, workers, batch) {
  await reset(system);
  await new Promise((r) => setTimeout(r, 200));
  const t0 = childTicks();
  const started = process.hrtime.bigint();
  let jobs;
  if (system === 'pm_queue') jobs = await runPmQueue(workers, batch, false);
  else if (system === 'pm_queue+rl') jobs = await runPmQueue(workers, batch, true);
  else if (system === 'pg-boss') jobs = await runPgBoss(workers, batch);
  else jobs = await runGraphileWorker(workers, batch);
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  await new Promise((r) => setTimeout(r, 300)); // let the closed connections' backends exit
  const ticks = childTicks() - t0;
  return { rate: jobs / elapsed, cpuUs: postmasterPid ? (ticks / 100) * 1e6 / jobs : NaN };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

await setup();
const results = {};
const started = Date.now();
for (let r = 0; r < rounds; r++) {
  for (const batch of batches) {
    for (const workers of workerCounts) {
      for (let k = 0; k < systems.length; k++) {
        const system = systems[(k + r + workers) % systems.length]; // the order rotates
        const m = await measure(system, workers, batch);
        (results[`${system}|${workers}|${batch}`] ??= []).push(m);
      }
    }
  }
  console.log(`  round ${r + 1}/${rounds} done (${Math.round((Date.now() - started) / 1000)} s)`);
}

const pad = (s, n) => String(s).padStart(n);
console.log('\njobs/s (median of %d rounds x %d s), server CPU-us per job in brackets', rounds, seconds);
console.log(`${'workers'.padEnd(7)} ${'batch'.padEnd(5)} | ${systems.map((s) => pad(s, 17)).join(' ')} | ${pad('pmq/pg-boss', 11)} ${pad('pmq/graphile', 12)} ${pad('rl/pmq', 7)}`);
for (const batch of batches) {
  for (const workers of workerCounts) {
    const med = {};
    const cells = systems.map((s) => {
      const ms = results[`${s}|${workers}|${batch}`];
      med[s] = median(ms.map((m) => m.rate));
      return pad(`${med[s].toFixed(0)} (${median(ms.map((m) => m.cpuUs)).toFixed(0)})`, 17);
    });
    const ratio = (a, b) => (med[a] && med[b] ? `${(med[a] / med[b]).toFixed(2)}x` : '-');
    const rl = med['pm_queue+rl'] && med.pm_queue ? `${((100 * med['pm_queue+rl']) / med.pm_queue).toFixed(0)}%` : '-';
    console.log(`${String(workers).padEnd(7)} ${String(batch).padEnd(5)} | ${cells.join(' ')} | ${pad(ratio('pm_queue', 'pg-boss'), 11)} ${pad(ratio('pm_queue', 'graphile'), 12)} ${pad(rl, 7)}`);
  }
}
console.log('targets: pm_queue >= 2x each Node queue; pm_queue+rl >= 80% of pm_queue');
console.log('raw jobs/s per round:');
for (const [key, ms] of Object.entries(results).sort())
  console.log(`  ${key.padEnd(22)} ${ms.map((m) => m.rate.toFixed(0)).join(' ')}`);
