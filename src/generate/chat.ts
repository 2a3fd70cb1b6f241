// Chat: a conversation (system/user/assistant messages) becomes one prompt through the model's own chat
// template (Jinja, from tokenizer_config.json or GGUF metadata), which the model was trained to expect.
import { Template } from '@huggingface/jinja';
import { GlassError } from '../util/errors.js';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** Used when a model ships no template (e.g. base models such as stories260K or GPT-2). */
export const PLAIN_CHAT_TEMPLATE =
  "{% for m in messages %}{% if m.role == 'system' %}{{ m.content }}\n\n{% else %}" +
  '{{ m.role | capitalize }}: {{ m.content }}\n{% endif %}{% endfor %}' +
  '{% if add_generation_prompt %}Assistant:{% endif %}';

/** Stop strings that end the assistant's turn under the plain template. */
export const PLAIN_CHAT_STOPS = ['\nUser:', '\nAssistant:'];

export interface ChatTemplateContext {
  bosToken?: string;
  eosToken?: string;
}

export class ChatFormatter {
  private readonly template: Template;
  constructor(
    readonly source: string,
    private readonly ctx: ChatTemplateContext = {},
    readonly name = 'chat template',
  ) {
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new GlassError('BAD_FILE', `${name}: cannot parse the chat template (${(e as Error).message})`);
    }
  }

  /** The prompt text for `messages`, ending where the assistant's reply should begin. */
  format(messages: ChatMessage[], addGenerationPrompt = true): string {
    try {
      return this.template.render({
        messages,
        add_generation_prompt: addGenerationPrompt,
        bos_token: this.ctx.bosToken ?? '',
        eos_token: this.ctx.eosToken ?? '',
      });
    } catch (e) {
      throw new GlassError('BAD_INPUT', `${this.name}: rendering failed (${(e as Error).message})`);
    }
  }
}

/** How a conversation fits into the model's context for the next reply. */
export type ConversationFit =
  | {
      ok: true;
      prompt: string;
      promptTokens: number;
      /** Most tokens the reply may take: the asked-for maximum, or less when the context is nearly full. */
      maxTokens: number;
      /** Messages (oldest turns) removed from the history to make room; only with `dropOldest`. */
      dropped: number;
    }
  | {
      ok: false;
      /** Tokens the prompt would take with the new message, against the context length. */
      promptTokens: number;
      contextLength: number;
      /** Tokens of the newest message, and how many of them would fit (0 when none). */
      messageTokens: number;
      fits: number;
    };

/**
 * Fits `history` (ending with the user's new message) into `contextLength`, leaving room for a reply of
 * up to `maxTokens`. With `dropOldest`, the oldest turns (after a leading system message) are removed while
 * the reply would not get its full room; otherwise the reply is shortened to what is left. When not even
 * one reply token fits, `history` is left as it was and the caller learns how much is too much.
 */
export function fitConversation(
  history: ChatMessage[],
  formatter: ChatFormatter,
  countTokens: (text: string) => number,
  contextLength: number,
  maxTokens: number,
  dropOldest: boolean,
): ConversationFit {
  const first = history[0]?.role === 'system' ? 1 : 0;
  const kept = history.slice();
  let prompt = formatter.format(kept);
  let promptTokens = countTokens(prompt);
  // Drop whole turns (a user message and its reply) from the oldest on, never the new message itself.
  while (dropOldest && promptTokens + maxTokens > contextLength && kept.length - first > 1) {
    kept.splice(first, kept[first + 1]?.role === 'assistant' && kept.length - first > 2 ? 2 : 1);
    prompt = formatter.format(kept);
    promptTokens = countTokens(prompt);
  }
  const room = contextLength - promptTokens;
  if (room < 1) {
    const messageTokens = countTokens(history[history.length - 1]?.content ?? '');
    const over = promptTokens - contextLength + 1;
    return { ok: false, promptTokens, contextLength, messageTokens, fits: Math.max(0, messageTokens - over) };
  }
  const dropped = history.length - kept.length;
  history.splice(first, dropped);
  return { ok: true, prompt, promptTokens, maxTokens: Math.min(maxTokens, room), dropped };
}
