// Per-node times of an ONNX model in ONNX Runtime (npm onnxruntime-node, CPU), from ORT's own
// profiler: runs untimed for WARMUP_MS, then profiles runs for PROFILE_MS.
// usage: node ort_profile.js MODEL.onnx INPUTS.safetensors THREADS WARMUP_MS PROFILE_MS
// Prints one JSON object: {"runs": N, "nodes": [{"name", "op", "median_us"}, ...]} in the order
// ORT first ran them.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const ort = require(path.join(__dirname, '..', '.npm', 'node_modules', 'onnxruntime-node'));
const {readSafetensors} = require('./ort_bench.js');

async function main() {
  const [model, inputs, threads, warmupMs, profileMs] = process.argv.slice(2);
  const feeds = readSafetensors(inputs);
  const options = {intraOpNumThreads: Number(threads), interOpNumThreads: 1,
                   graphOptimizationLevel: 'all'};
  // The warm-up runs in a session of its own: ORT's profiler cannot start late.
  const warm = await ort.InferenceSession.create(model, options);
  for (const t0 = Date.now(); Date.now() - t0 < Number(warmupMs);) await warm.run(feeds);
  await warm.release();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort_profile_'));
  const session = await ort.InferenceSession.create(
      model, {...options, enableProfiling: true, profileFilePrefix: path.join(dir, 'profile')});
  let runs = 0;
  for (const t0 = Date.now(); Date.now() - t0 < Number(profileMs); ++runs) await session.run(feeds);
  session.endProfiling();
  await session.release();
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
  const events = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  fs.rmSync(dir, {recursive: true, force: true});
  const times = new Map();  // node name -> {op, us: []}, in first-run order
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const name = e.name.slice(0, -'_kernel_time'.length);
    if (!times.has(name)) times.set(name, {op: e.args.op_name, us: []});
    times.get(name).us.push(e.dur);
  }
  const nodes = [];
  for (const [name, {op, us}] of times) {
    us.sort((a, b) => a - b);
    nodes.push({name, op, median_us: us[Math.floor(us.length / 2)]});
  }
  console.log(JSON.stringify({runs, nodes}));
}
main().catch((e) => { console.error(`ort_profile: ${e.message}`); process.exit(1); });
