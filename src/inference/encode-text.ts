/**
 * Turning texts into model inputs: right-padded int64 ids (+ attention mask) and the number of real
 * tokens per text. Apart from the image code (encode.ts), so that a tokenizer thread does not load
 * the image library.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { encode as gpt2Encode } from 'gpt-tokenizer/encoding/r50k_base';
import type { TextInput } from '../domain/manifest.ts';
import { StimulusError } from './stimulus-error.ts';
import type { FeedSpec } from './worker-protocol.ts';

/** A right-padded batch: the feeds and each text's number of real tokens. */
export interface PaddedBatch {
  feeds: Record<string, FeedSpec>;
  lengths: Int32Array;
}

export interface TextBatch extends PaddedBatch {
  /** 1 for each text that had more than maxTokens tokens and was cut to its first maxTokens. */
  truncated: Uint8Array;
}

type TokenizeFn = (text: string) => number[];

/** Loads the model's tokenizer once and encodes batches of texts. */
export class TextEncoder {
  private readonly tokenize: TokenizeFn;
  constructor(
    private readonly spec: TextInput,
    modelDir: string,
  ) {
    this.tokenize = loadTokenizer(spec, modelDir);
  }

  /** The token ids fed for a text: BOS if configured, then at most maxTokens ids in all (the rest cut). */
  ids(text: string): { ids: number[]; truncated: boolean } {
    let ids = this.tokenize(text);
    if (this.spec.bosTokenId !== undefined) ids = [this.spec.bosTokenId, ...ids];
    if (ids.length > this.spec.maxTokens) return { ids: ids.slice(0, this.spec.maxTokens), truncated: true };
    return { ids, truncated: false };
  }

  /** `ids(text)`, refusing a text with no tokens (named by `label`). */
  checkedIds(text: string, label: string): { ids: number[]; truncated: boolean } {
    const r = this.ids(text);
    if (r.ids.length === 0) throw new StimulusError(`text ${label} has no tokens after tokenisation: "${text.slice(0, 60)}"`);
    return r;
  }

  encode(texts: string[], labels?: string[]): TextBatch {
    const truncated = new Uint8Array(texts.length);
    const all = texts.map((t, i) => {
      const r = this.checkedIds(t, labels?.[i] ?? `#${i}`);
      if (r.truncated) truncated[i] = 1;
      return r.ids;
    });
    return { ...padIds(this.spec, all), truncated };
  }
}

/** A right-padded batch (ids, attention mask, real lengths) from token id lists: no tokenizer needed. */
export function padIds(spec: TextInput, all: ArrayLike<number>[]): PaddedBatch {
  let T = 0;
  for (const a of all) if (a.length > T) T = a.length;
  const B = all.length;
  const pad = BigInt(spec.padTokenId ?? 0);
  const ids = new BigInt64Array(B * T).fill(pad);
  const mask = new BigInt64Array(B * T);
  const lengths = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const a = all[b];
    lengths[b] = a.length;
    for (let t = 0; t < a.length; t++) {
      ids[b * T + t] = BigInt(a[t]);
      mask[b * T + t] = 1n;
    }
  }
  const feeds: Record<string, FeedSpec> = {
    [spec.idsInput]: { type: 'int64', dims: [B, T], data: ids.buffer as ArrayBuffer },
  };
  if (spec.maskInput) feeds[spec.maskInput] = { type: 'int64', dims: [B, T], data: mask.buffer as ArrayBuffer };
  return { feeds, lengths };
}

/** A bool [batch, T] mask of right-padded texts: true at each text's first `lengths[b]` positions. */
export function tokenMask(lengths: Int32Array, T: number): FeedSpec {
  const B = lengths.length;
  const m = new Uint8Array(B * T);
  for (let b = 0; b < B; b++) m.fill(1, b * T, b * T + Math.min(T, lengths[b]));
  return { type: 'bool', dims: [B, T], data: m.buffer as ArrayBuffer };
}

function loadTokenizer(spec: TextInput, modelDir: string): TokenizeFn {
  if (spec.tokenizer.type === 'gpt2') return (t) => gpt2Encode(t);
  const file = path.resolve(modelDir, spec.tokenizer.file);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new StimulusError(`tokenizer file '${spec.tokenizer.file}' could not be read as JSON: ${(e as Error).message}`);
  }
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, {});
  } catch (e) {
    throw new StimulusError(`tokenizer file '${spec.tokenizer.file}' is not a Hugging Face tokenizer.json: ${(e as Error).message}`);
  }
  // The JS WordLevel model returns `undefined` for out-of-vocabulary words; map them to the unknown token.
  const model = (json.model ?? {}) as { unk_token?: string; vocab?: Record<string, number> };
  const unkId = model.unk_token !== undefined && model.vocab && !Array.isArray(model.vocab) ? model.vocab[model.unk_token] : undefined;
  return (text: string) => {
    const enc = tok.encode(text);
    const ids = enc.ids as (number | undefined)[];
    const out: number[] = new Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id === undefined || id === null) {
        if (unkId === undefined) throw new StimulusError(`token '${enc.tokens[i]}' is not in the tokenizer's vocabulary and it has no unk_token`);
        out[i] = unkId;
      } else out[i] = id;
    }
    return out;
  };
}
