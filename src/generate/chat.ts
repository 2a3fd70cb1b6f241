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
