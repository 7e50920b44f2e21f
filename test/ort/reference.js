// Runs an ONNX model with ONNX Runtime (one thread) and writes its inputs
// and outputs as .npy files: the reference qopt's compiled models are
// compared against.
//
//   node reference.js model.onnx outdir [--shape name=1x3x48x320]...
//        [--input name=file.npy]... [--ids ids.npy --seq N] [--seed S]
//        [--time N]   (also print ORT's median latency over N runs)
//        [--opt disabled|basic|extended|all]   (graph optimizations, default all)
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(__dirname, '../../build/npm/node_modules/onnxruntime-node'));

const DTYPES = {
  float32: ['<f4', Float32Array], int64: ['<i8', BigInt64Array],
  int32: ['<i4', Int32Array], float64: ['<f8', Float64Array],
  uint8: ['|u1', Uint8Array], int8: ['|i1', Int8Array], bool: ['|b1', Uint8Array],
};
const FROM_DESCR = Object.fromEntries(Object.entries(DTYPES).map(([k, v]) => [v[0], k]));

function writeNpy(file, data, dims, dtype) {
  const descr = DTYPES[dtype][0];
  const shape = '(' + dims.join(', ') + (dims.length === 1 ? ',' : '') + ')';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  header += ' '.repeat((64 - ((header.length + 11) % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

function readNpy(file) {
  const buf = fs.readFileSync(file);
  const len = buf.readUInt16LE(8);
  const header = buf.toString('latin1', 10, 10 + len);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(',')
    .map(s => s.trim()).filter(s => s).map(Number);
  const dtype = FROM_DESCR[descr];
  if (!dtype) throw new Error(`${file}: unsupported dtype ${descr}`);
  const Ctor = DTYPES[dtype][1];
  const bytes = buf.subarray(10 + len);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return { dtype, shape, data: new Ctor(copy.buffer) };
}

function lcg(seed) {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
}

async function main() {
  const args = process.argv.slice(2);
  const [modelPath, outDir] = args;
  const shapes = {}, given = {};
  let ids = null, seq = 0, seed = 1, time = 0, opt = 'all';
  for (let i = 2; i < args.length; i++) {
    const a = args[i];
    if (a === '--shape') { const [n, s] = args[++i].split('='); shapes[n] = s.split('x').map(Number); }
    else if (a === '--input') { const [n, f] = args[++i].split('='); given[n] = readNpy(f); }
    else if (a === '--ids') ids = readNpy(args[++i]);
    else if (a === '--seq') seq = Number(args[++i]);
    else if (a === '--seed') seed = Number(args[++i]);
    else if (a === '--time') time = Number(args[++i]);
    else if (a === '--opt') opt = args[++i];
    else throw new Error('unknown argument ' + a);
  }
  fs.mkdirSync(outDir, { recursive: true });
  const session = await ort.InferenceSession.create(modelPath,
    { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential',
      graphOptimizationLevel: opt });
  const rand = lcg(seed);
  const feeds = {};
  for (const name of session.inputNames) {
    let t;
    if (given[name]) {
      t = given[name];
    } else if (ids && name === 'input_ids') {
      const data = new BigInt64Array(seq);
      for (let k = 0; k < seq; k++) data[k] = BigInt(ids.data[k % ids.data.length]);
      t = { dtype: 'int64', shape: [1, seq], data };
    } else {
      const meta = session.inputMetadata ? session.inputMetadata.find(m => m.name === name) : null;
      const dims = shapes[name];
      if (!dims) throw new Error(`give --shape ${name}=... for input ${name}`);
      const type = meta && meta.type ? meta.type : 'float32';
      const n = dims.reduce((x, y) => x * y, 1);
      const Ctor = DTYPES[type][1];
      const data = new Ctor(n);
      for (let k = 0; k < n; k++)
        data[k] = type === 'int64' ? BigInt(Math.floor(rand() * 10)) : (type === 'float32' ? rand() * 2 - 1 : Math.floor(rand() * 10));
      t = { dtype: type, shape: dims, data };
    }
    feeds[name] = new ort.Tensor(t.dtype, t.data, t.shape);
    writeNpy(path.join(outDir, name.replace(/[^A-Za-z0-9.-]/g, '_') + '.npy'), t.data, t.shape, t.dtype);
  }
  const result = await session.run(feeds);
  for (const name of session.outputNames) {
    const r = result[name];
    writeNpy(path.join(outDir, name.replace(/[^A-Za-z0-9.-]/g, '_') + '.npy'), r.data, r.dims, r.type);
  }
  if (time > 0) {
    const times = [];
    for (let k = 0; k < time; k++) {
      const t0 = process.hrtime.bigint();
      await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    console.log(`ort latency: median ${times[times.length >> 1].toFixed(3)} ms, min ${times[0].toFixed(3)} ms over ${time} runs`);
  }
}
module.exports = { readNpy, writeNpy };
if (require.main === module)
  main().catch(e => { console.error('reference.js: ' + (e.stack || e)); process.exit(1); });
