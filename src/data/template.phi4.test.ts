// Phi-4-mini-instruct's chat template, as published in its tokenizer_config.json (the fixture),
// rendered by the studio as transformers renders it: "<|role|>content<|end|>" per message, no BOS,
// "<|assistant|>" to prompt a reply, eos_token closing a finished conversation.

import { describe, expect, it } from 'vitest';
import { ChatTemplate, type ChatMessage } from './template';
import { ModelTokenizer } from './tokenizer';
import { tinyBpeTokenizer } from '../io/testing/bpe-tokenizer';
import PHI4_TEMPLATE from '../io/fixtures/phi-4-mini-instruct.chat_template.json';

describe('Phi-4-mini chat template', () => {
  const t = tinyBpeTokenizer('qwen2', 160);
  const tok = ModelTokenizer.load(t.tokenizerJson, { ...t.tokenizerConfig, eos_token: '<|im_end|>' });
  const tpl = new ChatTemplate(PHI4_TEMPLATE.chat_template, tok);

  it('renders each turn as <|role|>content<|end|> and prompts with <|assistant|>', () => {
    const msgs: ChatMessage[] = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hello' },
      { role: 'assistant', content: 'Hi!' },
    ];
    expect(tpl.render(msgs.slice(0, 2), true)).toBe('<|system|>Be brief.<|end|><|user|>Hello<|end|><|assistant|>');
    expect(tpl.render(msgs, false)).toBe(
      '<|system|>Be brief.<|end|><|user|>Hello<|end|><|assistant|>Hi!<|end|><|im_end|>',
    );
  });
});
