/**
 * The tokens of a text as strings, aligned one to one with the ids TextEncoder feeds the model (the
 * same tokenizer, the optional BOS token first, the same truncation to maxTokens): what per-token
 * activations are shown against.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { decode as gpt2Decode, encode as gpt2Encode } from 'gpt-tokenizer/encoding/r50k_base';
import type { TextInput } from '../domain/manifest.ts';
import { StimulusError } from './stimulus-error.ts';

export class TokenStrings {
  private readonly pieces: (text: string) => string[];
  private readonly bos: string | null;

  constructor(
    private readonly spec: TextInput,
    modelDir: string,
  ) {
    if (spec.tokenizer.type === 'gpt2') {
      this.pieces = (t) => gpt2Encode(t).map((id) => gpt2Decode([id]));
      this.bos = spec.bosTokenId !== undefined ? (spec.bosTokenId === 50256 ? '<|endoftext|>' : `<${spec.bosTokenId}>`) : null;
      return;
    }
    const file = path.resolve(modelDir, spec.tokenizer.file);
    let tok: Tokenizer;
    try {
      tok = new Tokenizer(JSON.parse(fs.readFileSync(file, 'utf8')) as object, {});
    } catch (e) {
      throw new StimulusError(`tokenizer file '${spec.tokenizer.file}' could not be loaded: ${(e as Error).message}`);
    }
    // Out-of-vocabulary words keep their text here (the model saw the unknown token for them).
    this.pieces = (t) => (tok.encode(t).tokens as unknown[]).map((s) => String(s));
    this.bos = spec.bosTokenId !== undefined ? (tok.id_to_token(spec.bosTokenId) ?? `<${spec.bosTokenId}>`) : null;
  }

  /** One string per model input token, in order. */
  tokens(text: string): string[] {
    let t = this.pieces(text);
    if (this.bos !== null) t = [this.bos, ...t];
    if (t.length > this.spec.maxTokens) t = t.slice(0, this.spec.maxTokens);
    return t;
  }
}
