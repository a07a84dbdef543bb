import { describe, expect, it } from 'vitest';
import { chatConversation } from './sample';

describe('chatConversation', () => {
  it('keeps the turns (the template adds the generation prompt), with the system prompt when there is one', () => {
    const turns = [
      { role: 'user', content: 'List customers.' },
      { role: 'assistant', content: 'SELECT * FROM customers;' },
      { role: 'user', content: 'Only from Berlin.' },
    ] as const;
    expect(chatConversation(turns, '  You write SQL. ')).toEqual({
      system: 'You write SQL.',
      turns: [...turns],
    });
    expect(chatConversation(turns.slice(0, 1), '  ')).toEqual({
      turns: [turns[0]],
    });
  });

  it('names the turn that breaks the conversation', () => {
    expect(() => chatConversation([])).toThrow('the conversation is empty');
    expect(() => chatConversation([{ role: 'assistant', content: 'hi' }])).toThrow(
      'chat turn 1 is from the assistant; expected the user',
    );
    expect(() =>
      chatConversation([
        { role: 'user', content: 'a' },
        { role: 'user', content: 'b' },
      ]),
    ).toThrow('chat turn 2 is from the user; expected the assistant');
    expect(() =>
      chatConversation([
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
      ]),
    ).toThrow('must end with a user turn');
    expect(() => chatConversation([{ role: 'user', content: '  ' }])).toThrow("chat turn 1 (the user's) is empty");
  });
});
