#!/usr/bin/env node
'use strict';
// Kiln and ONNX Runtime on the same models, on this machine, back to back.
//
//   node bench/compare.js [--rounds R] [--iterations N] [--models a,b,...] [--threads 1,2]
//
// For each model of ../shared/bench/ort/models.json and each thread count, runs `kiln bench` and
// ONNX Runtime's ort_bench.js alternately R times (interleaved, since the second core's speed drifts),
// and prints a table of median latencies (the median of the rounds' medians) and Kiln/ORT ratios,
// plus start-up cost (load + context/session creation + first run - one steady-state run, warm
// process) and memory (Kiln: arena + constants; ORT: peak RSS growth from session creation on, with
// its memory pattern off). One thread: Kiln's local-sync device; two: local-task with 2 threads.
// ONNX Runtime's harness is copied to bench/ort-work and installed with `npm ci` on first use.

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const repo = path.resolve(__dirname, '..');
const shared = process.env.KILN_SHARED || path.resolve(repo, '..', 'shared');
const work = path.join(repo, 'bench', 'ort-work');

const args = { rounds: 3, iterations: 50, models: null, threads: [1, 2] };
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i], v = process.argv[i + 1];
  if (a === '--rounds') { args.rounds = +v; i++; }
  else if (a === '--iterations') { args.iterations = +v; i++; }
  else if (a === '--models') { args.models = v.split(','); i++; }
  else if (a === '--threads') { args.threads = v.split(',').map(Number); i++; }
  else { console.error(`unknown option ${a}`); process.exit(2); }
}

function setupOrt() {
  const src = path.join(shared, 'bench', 'ort');
  if (!fs.existsSync(path.join(work, 'node_modules', 'onnxruntime-node'))) {
    fs.mkdirSync(work, { recursive: true });
    for (const f of ['package.json', 'package-lock.json', '.npmrc', 'ort_bench.js', 'onnx_pb.js']) fs.copyFileSync(path.join(src, f), path.join(work, f));
    console.error('installing onnxruntime-node (npm ci) in bench/ort-work ...');
    execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: work, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  return JSON.parse(fs.readFileSync(path.join(src, 'models.json'), 'utf8')).models;
}

const run = (cmd, argv, cwd) => execFileSync(cmd, argv, { cwd, encoding: 'utf8', maxBuffer: 64 << 20 });
const field = (text, name) => { const m = text.match(new RegExp(`${name}=([0-9.]+)`)); return m ? +m[1] : NaN; };
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2; };

function kiln(model, shapeArgs, threads) {
  const dev = threads === 1 ? ['--device', 'sync'] : ['--device', 'task', '--threads', String(threads)];
  const out = run(path.join(repo, 'kiln'), ['bench', model, ...dev, '--iterations', String(args.iterations), ...shapeArgs], repo);
  return { median: field(out, 'median_ms'), startup: field(out, 'startup_ms'), memory: field(out, 'memory_bytes') / 1048576 };
}

function ort(model, ortArgs, threads, extra = []) {
  const json = path.join(work, 'last.json');
  if (fs.existsSync(json)) fs.unlinkSync(json);
  run('node', ['ort_bench.js', model, '--threads', String(threads), '--iters', String(args.iterations), '--quiet', '--json', json, ...ortArgs, ...extra], work);
  const r = JSON.parse(fs.readFileSync(json, 'utf8').trim().split('\n').pop());
  return { median: r.latency_ms.median, startup: r.create_ms + r.first_run_ms - r.latency_ms.median, memory: r.peak_rss_mib - r.maxrss_before_session_mib };
}

const models = setupOrt().filter((m) => !args.models || args.models.some((x) => m.path.includes(x)));
execFileSync(path.join(repo, 'kiln'), ['--help'], { stdio: 'ignore' }); // build once, untimed
const rows = [];
for (const m of models) {
  const model = path.join(shared, 'models', m.path);
  const shapeArgs = m.args; // --shape NAME=DIMS is understood by both tools
  for (const threads of args.threads) {
    const k = [], o = [];
    for (let r = 0; r < args.rounds; r++) { k.push(kiln(model, shapeArgs, threads)); o.push(ort(model, m.args, threads)); }
    const ortMem = threads === 1 ? ort(model, m.args, 1, ['--no-mem-pattern']).memory : NaN;
    const row = {
      model: path.dirname(m.path), threads,
      kiln_ms: median(k.map((x) => x.median)), ort_ms: median(o.map((x) => x.median)),
      kiln_startup_ms: median(k.map((x) => x.startup)), ort_startup_ms: median(o.map((x) => x.startup)),
      kiln_mib: k[0].memory, ort_mib: ortMem,
    };
    rows.push(row);
    console.error(`${row.model} threads=${threads}: kiln ${row.kiln_ms} ms, ort ${row.ort_ms} ms`);
  }
}

const f = (x, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.log('| model | threads | Kiln ms | ORT ms | Kiln/ORT | Kiln start-up ms | ORT start-up ms | ORT/Kiln start-up | Kiln MiB | ORT MiB (no mem pattern) |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows)
  console.log(`| ${r.model} | ${r.threads} | ${f(r.kiln_ms, 4)} | ${f(r.ort_ms, 4)} | ${f(r.kiln_ms / r.ort_ms, 2)} | ${f(r.kiln_startup_ms)} | ${f(r.ort_startup_ms)} | ${f(r.ort_startup_ms / r.kiln_startup_ms, 1)} | ${f(r.kiln_mib, 1)} | ${f(r.ort_mib, 1)} |`);
