// Times an ONNX model in ONNX Runtime (npm onnxruntime-node, CPU).
// usage: node ort_bench.js MODEL.onnx INPUTS.safetensors THREADS ITERATIONS WARMUP [WARMUP_MS]
// Untimed warm-up: at least WARMUP runs, and runs until WARMUP_MS (default 0) have passed.
// Prints one JSON line: {"median_ms":..,"p10_ms":..,"p90_ms":..}.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '..', '.npm', 'node_modules', 'onnxruntime-node'));

const kTypes = {F32: ['float32', Float32Array], F64: ['float64', Float64Array],
                I64: ['int64', BigInt64Array], I32: ['int32', Int32Array],
                I8: ['int8', Int8Array], U8: ['uint8', Uint8Array], BOOL: ['bool', Uint8Array]};

function readSafetensors(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const feeds = {};
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [type, Ctor] = kTypes[e.dtype] || [];
    if (!type) throw new Error(`${file}: tensor '${name}' has unsupported dtype ${e.dtype}`);
    const [b, end] = e.data_offsets;
    const bytes = Uint8Array.prototype.slice.call(buf, 8 + n + b, 8 + n + end);
    const data = type === 'bool' ? bytes : new Ctor(bytes.buffer, 0, (end - b) / Ctor.BYTES_PER_ELEMENT);
    feeds[name] = new ort.Tensor(type, data, e.shape);
  }
  return feeds;
}

function percentile(sorted, p) {
  const pos = p * (sorted.length - 1), lo = Math.floor(pos), hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

async function main() {
  const [model, inputs, threads, iterations, warmup, warmupMs = '0'] = process.argv.slice(2);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1, graphOptimizationLevel: 'all'});
  const feeds = readSafetensors(inputs);
  const times = [];
  const first = process.hrtime.bigint();
  let warmupRuns = 0;
  while (times.length < Number(iterations)) {
    const t0 = process.hrtime.bigint();
    const timed = warmupRuns >= Number(warmup) && Number(t0 - first) / 1e6 >= Number(warmupMs);
    await session.run(feeds);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (timed) times.push(ms); else ++warmupRuns;
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({median_ms: percentile(times, 0.5), p10_ms: percentile(times, 0.1),
                              p90_ms: percentile(times, 0.9)}));
}
module.exports = {readSafetensors};
if (require.main === module) {
  main().catch((e) => { console.error(`ort_bench: ${e.message}`); process.exit(1); });
}
