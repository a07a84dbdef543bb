import { describe, expect, it } from 'vitest';
import { chatRecord } from './chat';

describe('chatRecord', () => {
  it('appends the empty answer the model writes, with the system prompt when there is one', () => {
    const turns = [
      { role: 'user', content: 'List customers.' },
      { role: 'assistant', content: 'SELECT * FROM customers;' },
      { role: 'user', content: 'Only from Berlin.' },
    ] as const;
    expect(chatRecord(turns, '  You write SQL. ')).toEqual({
      system: 'You write SQL.',
      turns: [...turns, { role: 'assistant', content: '' }],
    });
    expect(chatRecord(turns.slice(0, 1), '  ')).toEqual({
      turns: [turns[0], { role: 'assistant', content: '' }],
    });
  });

  it('names the turn that breaks the conversation', () => {
    expect(() => chatRecord([])).toThrow('the conversation is empty');
    expect(() => chatRecord([{ role: 'assistant', content: 'hi' }])).toThrow(
      'chat turn 1 is from the assistant; expected the user',
    );
    expect(() =>
      chatRecord([
        { role: 'user', content: 'a' },
        { role: 'user', content: 'b' },
      ]),
    ).toThrow('chat turn 2 is from the user; expected the assistant');
    expect(() =>
      chatRecord([
        { role: 'user', content: 'a' },
        { role: 'assistant', content: 'b' },
      ]),
    ).toThrow('must end with a user turn');
    expect(() => chatRecord([{ role: 'user', content: '  ' }])).toThrow("chat turn 1 (the user's) is empty");
  });
});
