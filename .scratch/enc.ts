import fs from 'node:fs'; import path from 'node:path'; import crypto from 'node:crypto';
import { encodeImageItems } from '../src/inference/encode.ts';
import { DecodeCache } from '../src/inference/decode-cache.ts';
const m = JSON.parse(fs.readFileSync('fixtures/models/topo-cnn/manifest.json','utf8'));
const spec = m.input.image;
const files = [...fs.readdirSync('bench/.cache/images/faces').map(f=>'bench/.cache/images/faces/'+f), ...fs.readdirSync('bench/.cache/images/objects').map(f=>'bench/.cache/images/objects/'+f)].filter(f=>f.endsWith('.png'));
const items = files.map(f=>{const b=fs.readFileSync(f); return {sha256: crypto.createHash('sha256').update(b).digest('hex'), read: ()=>b};});
const dir = '/tmp/enc-cache'; fs.rmSync(dir,{recursive:true,force:true});
const cache = new DecodeCache(dir, 1e9);
for (let pass=0; pass<3; pass++) {
  const t0=performance.now();
  for (let i=0;i<items.length;i+=32) await encodeImageItems(items.slice(i,i+32), spec, cache);
  await cache.flush();
  console.log(pass, items.length, (performance.now()-t0).toFixed(1),'ms');
}
