// `glasslm chat`: a multi-turn conversation through the model's chat template, streamed.
// Ctrl-C stops the current reply (not the session); at the prompt a Ctrl-C asks for a second one (or
// Ctrl-D, or /exit) before the session ends, so a Ctrl-C meant for a reply that just finished loses nothing.
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { GlassError } from '../util/errors.js';
import {
  ChatFormatter,
  fitConversation,
  PLAIN_CHAT_STOPS,
  PLAIN_CHAT_TEMPLATE,
  type ChatMessage,
} from '../generate/chat.js';
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
  dropOldest?: boolean;
}

const SESSION_HELP = [
  'Commands:',
  '  /help    this list',
  '  /reset   forget the conversation (keeps --system)',
  '  /exit    quit (also Ctrl-D, or Ctrl-C twice at the prompt)',
  'Ctrl-C during a reply stops the reply. A line starting with "//" is sent as text beginning with "/".',
].join('\n');

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
      .option('-s, --seed <n>', 'random seed', intOption('seed', 0))
      .option(
        '--drop-oldest',
        'when the conversation fills the context, forget its oldest turns (default: shorten the reply, ' +
          'and refuse a message that does not fit at all)',
      ),
  )
    .addHelpText('after', `\nIn the session:\n${SESSION_HELP}`)
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
      let quitAsked = false;
      // One handler for Ctrl-C: readline reports it on a terminal, the process gets SIGINT otherwise.
      const onInterrupt = () => {
        if (reply) return reply.abort();
        if (quitAsked) {
          process.exitCode = 130; // ended by Ctrl-C, as every command that Ctrl-C ends
          return rl.close();
        }
        quitAsked = true;
        process.stdout.write('\n(press Ctrl-C again, or Ctrl-D, to quit; /help lists the commands)\n');
        rl.prompt();
      };
      rl.on('SIGINT', onInterrupt);
      process.on('SIGINT', onInterrupt);
      rl.setPrompt('> ');
      rl.prompt();
      for await (const line of rl) {
        quitAsked = false;
        const text = line.trim();
        const command = /^\/[a-z]+$/i.test(text) ? text.toLowerCase() : null;
        if (command === '/exit' || command === '/quit') break;
        if (command === '/help') process.stdout.write(`${SESSION_HELP}\n`);
        else if (command === '/reset') {
          history.splice(opts.system ? 1 : 0);
          process.stdout.write('(conversation cleared)\n');
        } else if (command) {
          process.stdout.write(`(unknown command ${command}; /help lists the commands)\n`);
        } else if (text) {
          history.push({ role: 'user', content: text.startsWith('//') ? text.slice(1) : text });
          const fit = fitConversation(
            history,
            formatter,
            (s) => tok.encode(s).length,
            model.contextLength,
            opts.maxTokens,
            opts.dropOldest === true,
          );
          if (!fit.ok) {
            history.pop();
            process.stderr.write(
              `glasslm: that message is ${fit.messageTokens} tokens and only ${fit.fits} fit ` +
                `(the prompt would be ${fit.promptTokens} tokens; the model's context is ${fit.contextLength}). ` +
                'It was not sent: shorten it, /reset the conversation' +
                (opts.dropOldest ? '.\n' : ', or start the chat with --drop-oldest.\n'),
            );
            rl.prompt();
            continue;
          }
          if (fit.dropped > 0)
            process.stderr.write(
              `glasslm: (the ${fit.dropped} oldest message${fit.dropped > 1 ? 's' : ''} no longer fit ` +
                'in the context and were forgotten)\n',
            );
          else if (fit.maxTokens < opts.maxTokens)
            process.stderr.write(
              `glasslm: (the context is nearly full: this reply can take at most ${fit.maxTokens} tokens; ` +
                '/reset, or --drop-oldest, makes room)\n',
            );
          reply = new AbortController();
          try {
            const gen = model.generate(fit.prompt, {
              maxTokens: fit.maxTokens,
              temperature: opts.temperature,
              topK: opts.topK,
              topP: opts.topP,
              seed: opts.seed,
              stop: plain ? PLAIN_CHAT_STOPS : [],
              signal: reply.signal,
            });
            for await (const piece of gen) process.stdout.write(piece);
            const r = await gen.result;
            process.stdout.write(r.stopReason === 'aborted' ? ' [stopped]\n' : '\n');
            history.push({ role: 'assistant', content: r.text.trim() });
          } catch (e) {
            // A reply that fails costs that turn only, never the session.
            if (!(e instanceof GlassError)) throw e;
            history.pop();
            process.stderr.write(`\nglasslm: ${e.message} (the message was not kept; the session goes on)\n`);
          } finally {
            reply = null;
          }
        }
        rl.prompt();
      }
      process.off('SIGINT', onInterrupt);
      rl.close();
    });
}
