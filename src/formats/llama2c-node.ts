// Node adapter for llama2.c checkpoints: open a file by path.
import { fileSource } from '../util/bytes-node.js';
import { openLlama2c, type Llama2cFile } from './llama2c.js';

export async function openLlama2cFile(path: string): Promise<Llama2cFile> {
  const src = await fileSource(path);
  try {
    return await openLlama2c(src);
  } catch (e) {
    await src.close?.();
    throw e;
  }
}
