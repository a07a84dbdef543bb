// A chat conversation as the record the prompt formats render: the turns so far (user and model,
// alternating, ending with the user's new message) and an empty assistant turn for the model to
// write, so the chat template's generation prompt closes the rendered text. Shared by the worker
// and anything else that samples a conversation.

import type { NormalizedRecord, Turn } from '../data/formats';

export type ChatTurn = Turn;

/**
 * The record whose prompt (PromptFormat.renderPrompt) asks the model for the next answer.
 * Throws, naming the turn, when the turns do not alternate from a user turn to a final user turn
 * or a user turn is empty.
 */
export function chatRecord(turns: readonly ChatTurn[], system?: string): NormalizedRecord {
  if (turns.length === 0) throw new Error('the conversation is empty: type a message');
  turns.forEach((t, i) => {
    const want = i % 2 === 0 ? 'user' : 'assistant';
    if (t.role !== want) throw new Error(`chat turn ${i + 1} is from the ${t.role}; expected the ${want}`);
    if (typeof t.content !== 'string') throw new Error(`chat turn ${i + 1} has no text`);
    if (t.role === 'user' && !t.content.trim()) throw new Error(`chat turn ${i + 1} (the user's) is empty`);
  });
  if (turns.length % 2 === 0) throw new Error('the conversation must end with a user turn for the model to answer');
  const sys = system?.trim();
  return {
    ...(sys ? { system: sys } : {}),
    turns: [...turns.map((t) => ({ role: t.role, content: t.content })), { role: 'assistant', content: '' }],
  };
}
