import { describe, expect, it } from 'vitest';
import { detectRecordFormat, firstUserContent, normalizeRecord, type DatasetFormat } from './formats';

const ok = (raw: unknown, f: DatasetFormat) => {
  const r = normalizeRecord(raw, f, 3, 4);
  if (!r.ok) throw new Error(r.error.message);
  return r.record;
};
const err = (raw: unknown, f: DatasetFormat) => {
  const r = normalizeRecord(raw, f, 3, 4);
  if (r.ok) throw new Error('expected an error');
  return r.error;
};

describe('detectRecordFormat', () => {
  it('recognizes each format by its fields', () => {
    expect(detectRecordFormat({ instruction: 'a', output: 'b' })).toBe('alpaca');
    expect(detectRecordFormat({ output: 'b' })).toBe('alpaca');
    expect(detectRecordFormat({ messages: [] })).toBe('chat');
    expect(detectRecordFormat({ conversations: [] })).toBe('sharegpt');
    expect(detectRecordFormat({ text: 'x' })).toBeNull();
    expect(detectRecordFormat([1])).toBeNull();
    expect(detectRecordFormat('x')).toBeNull();
  });
});

describe('normalizeRecord', () => {
  it('normalizes Alpaca, keeping input apart and dropping empty input/system', () => {
    expect(ok({ instruction: 'Q', input: 'ctx', output: 'A', system: 'S' }, 'alpaca')).toEqual({
      system: 'S',
      input: 'ctx',
      turns: [
        { role: 'user', content: 'Q' },
        { role: 'assistant', content: 'A' },
      ],
    });
    const r = ok({ instruction: 'Q', input: '', output: 'A', system: '  ' }, 'alpaca');
    expect(r).toEqual({
      turns: [
        { role: 'user', content: 'Q' },
        { role: 'assistant', content: 'A' },
      ],
    });
    expect(firstUserContent(ok({ instruction: 'Q', input: 'ctx', output: 'A' }, 'alpaca'))).toBe('Q\n\nctx');
  });

  it('names the Alpaca field that is missing, empty or of the wrong type', () => {
    expect(err({ instruction: 'Q', input: '' }, 'alpaca')).toMatchObject({
      record: 3,
      line: 4,
      field: 'output',
      message: 'record #3 (line 4): field "output" is missing',
    });
    expect(err({ instruction: ' ', output: 'A' }, 'alpaca')).toMatchObject({
      field: 'instruction',
      message: expect.stringContaining('is empty'),
    });
    expect(err({ instruction: 42, output: 'A' }, 'alpaca')).toMatchObject({
      field: 'instruction',
      message: expect.stringContaining('must be a string, not a number'),
    });
    expect(err({ instruction: 'Q', input: ['x'], output: 'A' }, 'alpaca')).toMatchObject({ field: 'input' });
  });

  it('normalizes chat messages with a system message and several turns', () => {
    const r = ok(
      {
        messages: [
          { role: 'system', content: 'S' },
          { role: 'user', content: 'u1' },
          { role: 'assistant', content: 'a1' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'u' },
              { type: 'text', text: '2' },
            ],
          },
          { role: 'assistant', content: 'a2' },
        ],
      },
      'chat',
    );
    expect(r.system).toBe('S');
    expect(r.turns.map((t) => `${t.role}:${t.content}`)).toEqual([
      'user:u1',
      'assistant:a1',
      'user:u2',
      'assistant:a2',
    ]);
  });

  it('rejects chats that do not alternate, end with the user, or use unknown roles, naming the message', () => {
    const u = { role: 'user', content: 'q' };
    const a = { role: 'assistant', content: 'a' };
    expect(err({ messages: [u, a, u] }, 'chat')).toMatchObject({
      field: 'messages[2]',
      message: expect.stringContaining('must end with an assistant turn'),
    });
    expect(err({ messages: [u, u, a] }, 'chat')).toMatchObject({
      field: 'messages[1].role',
      message: expect.stringContaining('assistant turn was expected'),
    });
    expect(err({ messages: [{ role: 'tool', content: 'x' }, a] }, 'chat')).toMatchObject({ field: 'messages[0].role' });
    expect(err({ messages: [u, a, { role: 'system', content: 's' }] }, 'chat')).toMatchObject({
      field: 'messages[2].role',
    });
    expect(err({ messages: [u, { role: 'assistant', content: '' }] }, 'chat')).toMatchObject({
      field: 'messages[1].content',
    });
    expect(err({ messages: [u, { role: 'assistant' }] }, 'chat')).toMatchObject({
      field: 'messages[1].content',
      message: expect.stringContaining('missing'),
    });
    expect(err({ messages: [] }, 'chat')).toMatchObject({
      field: 'messages',
      message: expect.stringContaining('empty'),
    });
    expect(err({ messages: 'hi' }, 'chat')).toMatchObject({
      field: 'messages',
      message: expect.stringContaining('must be a list'),
    });
    expect(err({ messages: [u, 'a'] }, 'chat')).toMatchObject({ field: 'messages[1]' });
    expect(err({ messages: [{ role: 'system', content: 's' }] }, 'chat')).toMatchObject({ field: 'messages' });
  });

  it('normalizes ShareGPT and maps human/gpt/system', () => {
    const r = ok(
      {
        conversations: [
          { from: 'system', value: 'S' },
          { from: 'human', value: 'q' },
          { from: 'gpt', value: 'a' },
        ],
      },
      'sharegpt',
    );
    expect(r).toEqual({
      system: 'S',
      turns: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: 'a' },
      ],
    });
    expect(err({ conversations: [{ from: 'bot', value: 'q' }] }, 'sharegpt')).toMatchObject({
      field: 'conversations[0].from',
      message: expect.stringContaining('expected human, gpt, system, function_call or observation'),
    });
    expect(
      err(
        {
          conversations: [
            { from: 'human', value: 3 },
            { from: 'gpt', value: 'a' },
          ],
        },
        'sharegpt',
      ),
    ).toMatchObject({
      field: 'conversations[0].value',
    });
  });

  it('rejects non-objects and records of another format', () => {
    expect(err([1, 2], 'alpaca')).toMatchObject({
      field: null,
      message: 'record #3 (line 4): must be a JSON object, not an array',
    });
    expect(err(null, 'chat').message).toContain('not null');
    expect(err({ messages: [] }, 'alpaca').message).toContain('looks like chat');
  });
});
