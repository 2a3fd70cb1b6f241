// `glasslm chat`: a multi-turn conversation through the model's chat template, streamed.
// Ctrl-C stops the current reply (not the session); Ctrl-C at the prompt, Ctrl-D or /exit ends it.
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { ChatFormatter, PLAIN_CHAT_STOPS, PLAIN_CHAT_TEMPLATE, type ChatMessage } from '../generate/chat.js';
import {
  floatOption,
  intOption,
  addEngineOptions,
  loadCliModel,
  modelOption,
  type EngineCliOptions,
} from './common.js';

interface ChatCliOptions extends EngineCliOptions {
  model?: string;
  tokenizer?: string;
  system?: string;
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed?: number;
}

export function register(program: Command): void {
  addEngineOptions(
    program
      .command('chat')
      .description("talk with a model, turn by turn, using the model's chat template")
      .addOption(modelOption('the model to chat with'))
      .option('--tokenizer <file>', 'tokenizer file for a llama2.c checkpoint')
      .option('--system <text>', 'a system message that starts the conversation')
      .option('-n, --max-tokens <n>', 'most tokens per reply', intOption('max-tokens', 1), 256)
      .option(
        '-t, --temperature <t>',
        'sampling temperature (0 = greedy)',
        floatOption('temperature', 0),
        0.7,
      )
      .option('-k, --top-k <k>', 'sample from the k most likely tokens (0 = all)', intOption('top-k', 0), 40)
      .option('-p, --top-p <p>', 'nucleus sampling mass', floatOption('top-p', 0, 1), 0.95)
      .option('-s, --seed <n>', 'random seed', intOption('seed', 0)),
  )
    .addHelpText(
      'after',
      '\nIn the session: /reset forgets the conversation, /exit (or Ctrl-D) quits, Ctrl-C stops a reply.',
    )
    .action(async (opts: ChatCliOptions) => {
      const model = await loadCliModel({ model: opts.model, tokenizer: opts.tokenizer }, opts);
      const tok = model.tokenizer;
      const special = tok.specialTokens;
      const plain = model.chatTemplate === undefined;
      if (plain)
        process.stderr.write(
          'glasslm: this model has no chat template; using a plain "User:/Assistant:" format\n',
        );
      const formatter = new ChatFormatter(model.chatTemplate ?? PLAIN_CHAT_TEMPLATE, {
        bosToken: special.bos !== undefined ? tok.idToToken(special.bos) : undefined,
        eosToken: special.eos !== undefined ? tok.idToToken(special.eos) : undefined,
      });
      const history: ChatMessage[] = opts.system ? [{ role: 'system', content: opts.system }] : [];
      const rl = createInterface({
        input: process.stdin,
        output: process.stdout,
        terminal: process.stdin.isTTY,
      });
      let reply: AbortController | null = null;
      rl.on('SIGINT', () => {
        if (reply) reply.abort();
        else rl.close();
      });
      rl.setPrompt('> ');
      rl.prompt();
      for await (const line of rl) {
        const text = line.trim();
        if (text === '/exit') break;
        if (text === '/reset') {
          history.splice(opts.system ? 1 : 0);
          process.stdout.write('(conversation cleared)\n');
        } else if (text) {
          history.push({ role: 'user', content: text });
          // Drop the oldest turns (keeping a system message) until the prompt leaves room for a reply.
          let prompt = formatter.format(history);
          while (
            tok.encode(prompt).length + opts.maxTokens > model.contextLength &&
            history.length > (opts.system ? 2 : 1)
          ) {
            history.splice(opts.system ? 1 : 0, 2);
            process.stderr.write(
              'glasslm: (the oldest turn no longer fits in the context and was dropped)\n',
            );
            prompt = formatter.format(history);
          }
          reply = new AbortController();
          const gen = model.generate(prompt, {
            maxTokens: Math.min(opts.maxTokens, model.contextLength - tok.encode(prompt).length - 1),
            temperature: opts.temperature,
            topK: opts.topK,
            topP: opts.topP,
            seed: opts.seed,
            stop: plain ? PLAIN_CHAT_STOPS : [],
            signal: reply.signal,
          });
          for await (const piece of gen) process.stdout.write(piece);
          const r = await gen.result;
          reply = null;
          process.stdout.write(r.stopReason === 'aborted' ? ' [stopped]\n' : '\n');
          history.push({ role: 'assistant', content: r.text.trim() });
        }
        rl.prompt();
      }
      rl.close();
    });
}
