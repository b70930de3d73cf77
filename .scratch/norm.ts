import { normaliseInto } from '../src/inference/encode.ts';
const spec:any = { size:[64,64], channels:3, mean:[0.5,0.5,0.5], std:[0.25,0.25,0.25] };
const px = { data: new Uint8Array(64*64*3).map((_,i)=>i*7), height:64, width:64, channels:3 };
const out = new Float32Array(32*3*64*64);
const lut32 = new Float32Array(3*256); for (let c=0;c<3;c++) for(let v=0;v<256;v++) lut32[c*256+v]=(v/255-0.5)/0.25;
function fast(px:any, out:Float32Array, o:number) {
  const raw = px.data, plane = 4096;
  const l0 = lut32.subarray(0,256), l1 = lut32.subarray(256,512), l2 = lut32.subarray(512,768);
  for (let i = 0, j = 0; i < plane; i++, j += 3) { out[o+i] = l0[raw[j]]; out[o+plane+i] = l1[raw[j+1]]; out[o+2*plane+i] = l2[raw[j+2]]; }
}
for (const [name,f] of [['cur',(o:number)=>normaliseInto(px,spec,out,o)],['fast',(o:number)=>fast(px,out,o)]] as const) {
  for (let rep=0;rep<3;rep++){ const t0=performance.now(); for (let k=0;k<1024;k++) f((k%32)*12288); console.log(name,(performance.now()-t0).toFixed(1)); }
}
