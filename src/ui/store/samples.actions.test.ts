import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setStudioWorker, type StudioRemote } from '../../worker/client';
import type { SampleOutput, SampleRequest, SampleResult, SampleToken } from '../../worker/api';
import { useStudio } from './store';
import { EMPTY_CHAT } from './samples';
import { IDLE } from './training';
import { sendChatMessage, stopGeneration } from './samples.actions';

const out = (text: string, reply = text): SampleOutput => ({ text, reply, tokens: 3, stoppedBy: 'stop_token', ms: 5 });

/** A worker that answers "answer N" (N = the user turns so far) and records each request. */
function fakeWorker(o: { stream?: (emit: SampleToken) => Promise<void> } = {}) {
  const requests: SampleRequest[] = [];
  let cancelled = 0;
  const w = {
    sample: async (req: SampleRequest, onToken?: SampleToken): Promise<SampleResult> => {
      requests.push(structuredClone(req));
      if (o.stream && onToken) await o.stream(onToken);
      const n = (req.turns ?? []).filter((t) => t.role === 'user').length;
      const answer = out(`answer ${n}<|eot|>`, `answer ${n}`);
      return {
        prompt: req.turns!.at(-1)!.content,
        rendered: (req.turns ?? []).map((t) => `<${t.role}>${t.content}`).join(''),
        reference: null,
        base: req.models === 'adapter' ? null : answer,
        tuned: req.models === 'base' ? null : answer,
        adapterLabel: req.models === 'base' ? null : 'step 6',
      };
    },
    cancelSample: async () => {
      cancelled++;
    },
  };
  setStudioWorker(w as unknown as StudioRemote);
  return { requests, cancelled: () => cancelled };
}

const chat = () => useStudio.getState().samples.chat;

beforeEach(() => {
  useStudio.setState((s) => ({
    samples: { ...s.samples, mode: 'chat', running: false, error: null, chat: EMPTY_CHAT },
    adapter: { ...s.adapter, imported: null },
    training: IDLE,
  }));
});
afterEach(() => setStudioWorker(null));

describe('chat', () => {
  it('keeps the conversation: the second request carries the first exchange', async () => {
    const w = fakeWorker();
    const st = useStudio.getState();
    st.setChatSystem('You write SQL.');
    st.setChatDraft('  List all customers.  ');
    await sendChatMessage();
    expect(chat().draft).toBe('');
    st.setChatDraft('Only from Berlin.');
    await sendChatMessage();
    // No adapter in this tab: the base model answers, whatever the toggle says.
    expect(w.requests.map((r) => r.models)).toEqual(['base', 'base']);
    expect(w.requests[0].turns).toEqual([{ role: 'user', content: 'List all customers.' }]);
    expect(w.requests[1].turns).toEqual([
      { role: 'user', content: 'List all customers.' },
      { role: 'assistant', content: 'answer 1' },
      { role: 'user', content: 'Only from Berlin.' },
    ]);
    expect(w.requests[1].system).toBe('You write SQL.');
    expect(chat().messages.map((m) => [m.role, m.content, m.model ?? null])).toEqual([
      ['user', 'List all customers.', null],
      ['assistant', 'answer 1', 'Base model'],
      ['user', 'Only from Berlin.', null],
      ['assistant', 'answer 2', 'Base model'],
    ]);
    expect(chat().messages[3].out?.text).toBe('answer 2<|eot|>');
    expect(chat().rendered).toBe('<user>List all customers.<assistant>answer 1<user>Only from Berlin.');
    expect(useStudio.getState().samples.running).toBe(false);
  });

  it('answers with the adapter when there is one and the toggle is on, and labels the answer', async () => {
    const w = fakeWorker();
    useStudio.setState((s) => ({ training: { ...s.training, status: 'finished' as typeof s.training.status } }));
    useStudio.getState().setChatDraft('hi');
    await sendChatMessage();
    useStudio.getState().setChatAdapter(false);
    useStudio.getState().setChatDraft('again');
    await sendChatMessage();
    expect(w.requests.map((r) => r.models)).toEqual(['adapter', 'base']);
    expect(
      chat()
        .messages.filter((m) => m.role === 'assistant')
        .map((m) => m.model),
    ).toEqual(['With the adapter (step 6)', 'Base model']);
  });

  it('streams the partial answer while it is generated, then keeps the final one', async () => {
    const seen: string[] = [];
    fakeWorker({
      stream: async (emit) => {
        emit('base', 'ans');
        seen.push(useStudio.getState().samples.streaming.base);
        expect(useStudio.getState().samples.running).toBe(true);
        expect(chat().messages.at(-1)).toEqual({ role: 'user', content: 'hello' });
        emit('base', 'answer');
        seen.push(useStudio.getState().samples.streaming.base);
      },
    });
    useStudio.getState().setChatDraft('hello');
    await sendChatMessage();
    expect(seen).toEqual(['ans', 'answer']);
    expect(chat().messages.at(-1)?.content).toBe('answer 1');
  });

  it('a failed answer leaves the conversation as it was and gives the message back', async () => {
    setStudioWorker({
      sample: async () => {
        throw new Error('the prompt has 600 tokens; the model reads at most 511');
      },
    } as unknown as StudioRemote);
    useStudio.getState().setChatDraft('a very long question');
    await sendChatMessage();
    expect(chat().messages).toEqual([]);
    expect(chat().draft).toBe('a very long question');
    expect(useStudio.getState().samples.error).toBe('the prompt has 600 tokens; the model reads at most 511');
    expect(useStudio.getState().samples.running).toBe(false);
  });

  it('a new conversation drops the messages and keeps the system prompt and the toggle', async () => {
    fakeWorker();
    const st = useStudio.getState();
    st.setChatSystem('Be brief.');
    st.setChatAdapter(false);
    st.setChatDraft('one');
    await sendChatMessage();
    expect(chat().messages).toHaveLength(2);
    st.resetChat();
    expect(chat()).toEqual({ ...EMPTY_CHAT, system: 'Be brief.', adapter: false });
  });

  it('sends nothing for an empty message; Stop reaches the worker only while generating', async () => {
    const w = fakeWorker();
    useStudio.getState().setChatDraft('   ');
    await sendChatMessage();
    expect(w.requests).toHaveLength(0);
    await stopGeneration();
    expect(w.cancelled()).toBe(0);
    useStudio.setState((s) => ({ samples: { ...s.samples, running: true } }));
    await stopGeneration();
    expect(w.cancelled()).toBe(1);
  });
});
